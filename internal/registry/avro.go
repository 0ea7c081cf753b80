package registry

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// The registry's own model of an Avro schema, made for the compatibility
// checks of compat.go. It is lenient where Confluent's registry is: field
// defaults are kept but not checked against the field's type (so the
// widespread `"type": ["null","string"], "default": "null"` registers, as
// it does with Confluent), and unknown attributes are ignored. Structure,
// names and type references are checked.

// avroType is one node of a parsed Avro schema. Named types (record, enum,
// fixed) are shared: a recursive record points back to itself.
type avroType struct {
	kind     string // a primitive type name, or record, enum, fixed, array, map, union
	name     string // full name of a named type
	aliases  []string
	fields   []*avroField // record
	symbols  []string     // enum
	enumDef  string       // enum default, "" if none
	size     int          // fixed
	items    *avroType    // array items, map values
	branches []*avroType  // union
}

type avroField struct {
	name       string
	aliases    []string
	typ        *avroType
	hasDefault bool
}

var avroPrimitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true, "float": true,
	"double": true, "bytes": true, "string": true,
}

var avroNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// maxAvroDepth bounds the nesting of a schema, so that a hostile one
// cannot exhaust the stack.
const maxAvroDepth = 256

// avroParser parses schemas into a table of named types that schema
// references share.
type avroParser struct {
	named map[string]*avroType
	depth int
}

func newAvroParser() *avroParser { return &avroParser{named: map[string]*avroType{}} }

// parse parses one schema text; named types it defines join the table.
func (p *avroParser) parse(text string) (*avroType, error) {
	var v any
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if d.More() {
		return nil, fmt.Errorf("invalid JSON: data after the schema")
	}
	return p.node(v, "")
}

func (p *avroParser) node(v any, ns string) (*avroType, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxAvroDepth {
		return nil, fmt.Errorf("schema nested deeper than %d", maxAvroDepth)
	}
	switch x := v.(type) {
	case string:
		return p.ref(x, ns)
	case []any:
		return p.union(x, ns)
	case map[string]any:
		return p.complex(x, ns)
	}
	return nil, fmt.Errorf("%v is not a schema: expected a type name, an object or a union array", v)
}

func (p *avroParser) ref(name, ns string) (*avroType, error) {
	if avroPrimitives[name] {
		return &avroType{kind: name}, nil
	}
	if t := p.named[fullName(name, ns)]; t != nil {
		return t, nil
	}
	if t := p.named[name]; t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("unknown type %q", name)
}

func (p *avroParser) union(x []any, ns string) (*avroType, error) {
	u := &avroType{kind: "union"}
	seen := map[string]bool{}
	for _, b := range x {
		t, err := p.node(b, ns)
		if err != nil {
			return nil, err
		}
		if t.kind == "union" {
			return nil, fmt.Errorf("a union may not directly contain a union")
		}
		key := t.kind
		if t.name != "" {
			key = t.name
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate %s in union", key)
		}
		seen[key] = true
		u.branches = append(u.branches, t)
	}
	return u, nil
}

func (p *avroParser) complex(x map[string]any, ns string) (*avroType, error) {
	typ, ok := x["type"]
	if !ok {
		return nil, fmt.Errorf("no \"type\" in %s", short(x))
	}
	name, isName := typ.(string)
	if !isName {
		return p.node(typ, ns)
	}
	switch name {
	case "record", "error", "enum", "fixed":
		return p.named1(name, x, ns)
	case "array":
		items, ok := x["items"]
		if !ok {
			return nil, fmt.Errorf("array without \"items\"")
		}
		t, err := p.node(items, ns)
		if err != nil {
			return nil, err
		}
		return &avroType{kind: "array", items: t}, nil
	case "map":
		values, ok := x["values"]
		if !ok {
			return nil, fmt.Errorf("map without \"values\"")
		}
		t, err := p.node(values, ns)
		if err != nil {
			return nil, err
		}
		return &avroType{kind: "map", items: t}, nil
	}
	// A primitive with attributes (logicalType, ...) or a named type
	// written as {"type": "Name"}.
	return p.ref(name, ns)
}

// named1 parses a record, enum or fixed.
func (p *avroParser) named1(kind string, x map[string]any, ns string) (*avroType, error) {
	name, _ := x["name"].(string)
	if name == "" {
		return nil, fmt.Errorf("%s without a \"name\"", kind)
	}
	if n, ok := x["namespace"].(string); ok && !strings.Contains(name, ".") {
		ns = n
	}
	full := fullName(name, ns)
	if err := checkFullName(full); err != nil {
		return nil, err
	}
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		ns = full[:i]
	} else {
		ns = ""
	}
	if p.named[full] != nil {
		return nil, fmt.Errorf("type %q is defined twice", full)
	}
	t := &avroType{kind: kind, name: full}
	if kind == "error" {
		t.kind = "record"
	}
	aliases, err := stringList(x["aliases"], "aliases")
	if err != nil {
		return nil, err
	}
	for _, a := range aliases {
		t.aliases = append(t.aliases, fullName(a, ns))
	}
	p.named[full] = t
	switch kind {
	case "enum":
		return t, p.enum(t, x)
	case "fixed":
		n, ok := x["size"].(json.Number)
		size, err := n.Int64()
		if !ok || err != nil || size < 0 || size > 1<<31-1 {
			return nil, fmt.Errorf("fixed %s: \"size\" must be a non-negative integer", full)
		}
		t.size = int(size)
		return t, nil
	}
	return t, p.fields(t, x, ns)
}

func (p *avroParser) enum(t *avroType, x map[string]any) error {
	syms, err := stringList(x["symbols"], "symbols")
	if err != nil || x["symbols"] == nil {
		return fmt.Errorf("enum %s: \"symbols\" must be an array of names", t.name)
	}
	seen := map[string]bool{}
	for _, s := range syms {
		if !avroNameRE.MatchString(s) {
			return fmt.Errorf("enum %s: invalid symbol %q", t.name, s)
		}
		if seen[s] {
			return fmt.Errorf("enum %s: duplicate symbol %q", t.name, s)
		}
		seen[s] = true
	}
	t.symbols = syms
	if d, ok := x["default"]; ok {
		s, _ := d.(string)
		if !seen[s] {
			return fmt.Errorf("enum %s: default %v is not one of its symbols", t.name, d)
		}
		t.enumDef = s
	}
	return nil
}

func (p *avroParser) fields(t *avroType, x map[string]any, ns string) error {
	fs, ok := x["fields"].([]any)
	if !ok {
		return fmt.Errorf("record %s: \"fields\" must be an array", t.name)
	}
	seen := map[string]bool{}
	for _, f := range fs {
		fm, ok := f.(map[string]any)
		if !ok {
			return fmt.Errorf("record %s: a field must be an object", t.name)
		}
		name, _ := fm["name"].(string)
		if !avroNameRE.MatchString(name) {
			return fmt.Errorf("record %s: invalid field name %q", t.name, name)
		}
		if seen[name] {
			return fmt.Errorf("record %s: duplicate field %q", t.name, name)
		}
		seen[name] = true
		ft, ok := fm["type"]
		if !ok {
			return fmt.Errorf("record %s: field %q has no type", t.name, name)
		}
		typ, err := p.node(ft, ns)
		if err != nil {
			return fmt.Errorf("record %s, field %s: %w", t.name, name, err)
		}
		aliases, err := stringList(fm["aliases"], "aliases")
		if err != nil {
			return fmt.Errorf("record %s, field %s: %w", t.name, name, err)
		}
		_, hasDef := fm["default"]
		t.fields = append(t.fields, &avroField{name: name, aliases: aliases, typ: typ, hasDefault: hasDef})
	}
	return nil
}

func fullName(name, ns string) string {
	if strings.Contains(name, ".") || ns == "" {
		return name
	}
	return ns + "." + name
}

func checkFullName(full string) error {
	for _, part := range strings.Split(full, ".") {
		if !avroNameRE.MatchString(part) {
			return fmt.Errorf("invalid name %q", full)
		}
	}
	return nil
}

func stringList(v any, what string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%q must be an array of strings", what)
	}
	out := make([]string, 0, len(arr))
	for _, a := range arr {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("%q must be an array of strings", what)
		}
		out = append(out, s)
	}
	return out, nil
}

// short renders a JSON value for an error message, cut to a readable
// length.
func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// simpleName is a full name without its namespace.
func simpleName(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[i+1:]
	}
	return full
}
