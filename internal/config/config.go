// Package config holds the tables of broker and topic properties Samsa
// understands, by Kafka's names and with Kafka's defaults, and parses and
// validates values against them. Loading a server.properties file and
// resolving a topic's effective configuration over the broker's log.*
// defaults both live here.
package config

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Type is the type of a property's value.
type Type int

// Property types, as Kafka's ConfigDef names them.
const (
	String Type = iota
	Int
	Long
	Bool
	Double
	List
)

func (t Type) String() string {
	return [...]string{"STRING", "INT", "LONG", "BOOLEAN", "DOUBLE", "LIST"}[t]
}

// Def defines one property.
type Def struct {
	Name    string
	Type    Type
	Default string // "" with Nullable means null
	// Min and Max bound numeric values (inclusive) when Max > Min.
	Min, Max float64
	// OneOf lists the allowed values of a string or each element of a list.
	OneOf []string
	// Nullable allows an empty value.
	Nullable bool
	Doc      string
}

// Check validates a value against the definition.
func (d *Def) Check(v string) error {
	if v == "" && (d.Nullable || d.Type == List || (d.Type == String && len(d.OneOf) == 0)) {
		return nil
	}
	switch d.Type {
	case Int, Long:
		bits := 32
		if d.Type == Long {
			bits = 64
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, bits)
		if err != nil {
			return fmt.Errorf("%s: %q is not a valid %s", d.Name, v, strings.ToLower(d.Type.String()))
		}
		if d.Max > d.Min && (float64(n) < d.Min || float64(n) > d.Max) {
			return fmt.Errorf("%s: %d is out of range [%s, %s]", d.Name, n, fmtBound(d.Min), fmtBound(d.Max))
		}
	case Double:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("%s: %q is not a valid number", d.Name, v)
		}
		if d.Max > d.Min && (f < d.Min || f > d.Max) {
			return fmt.Errorf("%s: %v is out of range [%v, %v]", d.Name, f, d.Min, d.Max)
		}
	case Bool:
		if _, err := parseBool(v); err != nil {
			return fmt.Errorf("%s: %q is not true or false", d.Name, v)
		}
	case String:
		if len(d.OneOf) > 0 && !slices.Contains(d.OneOf, strings.TrimSpace(v)) {
			return fmt.Errorf("%s: %q is not one of %s", d.Name, v, strings.Join(d.OneOf, ", "))
		}
	case List:
		if len(d.OneOf) > 0 {
			for _, e := range SplitList(v) {
				if !slices.Contains(d.OneOf, e) {
					return fmt.Errorf("%s: %q is not one of %s", d.Name, e, strings.Join(d.OneOf, ", "))
				}
			}
		}
	}
	return nil
}

func fmtBound(f float64) string {
	switch f {
	case math.MaxInt64:
		return "9223372036854775807"
	case math.MaxInt32:
		return "2147483647"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", v)
}

// SplitList splits a comma-separated list value, trimming spaces and
// dropping empty elements.
func SplitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// ParseProperties reads a Java .properties file: key=value or key: value
// lines, # and ! comments, backslash line continuations.
func ParseProperties(r io.Reader) (map[string]string, error) {
	props := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var pending string
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if pending == "" && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		if strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) {
			pending += line[:len(line)-1]
			continue
		}
		line = pending + line
		pending = ""
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			return nil, fmt.Errorf("line %d: expected key=value, got %q", lineNo, line)
		}
		k := strings.TrimSpace(line[:i])
		v := strings.TrimSpace(line[i+1:])
		if k == "" {
			return nil, fmt.Errorf("line %d: empty key", lineNo)
		}
		props[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return props, nil
}

// LoadProperties reads a .properties file.
func LoadProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	props, err := ParseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return props, nil
}
