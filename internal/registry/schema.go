package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Schema types.
const (
	typeAvro     = "AVRO"
	typeJSON     = "JSON"
	typeProtobuf = "PROTOBUF"
)

// schemaTypes is the answer of GET /schemas/types.
var schemaTypes = []string{typeJSON, typeProtobuf, typeAvro}

// Reference names another subject's schema version that a schema uses
// (for Avro, the named types it defines).
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// normalizeType maps "" to AVRO, the default type, and reports whether
// the type is known.
func normalizeType(t string) (string, bool) {
	switch strings.ToUpper(t) {
	case "", typeAvro:
		return typeAvro, true
	case typeJSON:
		return typeJSON, true
	case typeProtobuf:
		return typeProtobuf, true
	}
	return t, false
}

// canonicalText is the form in which a schema is stored and compared:
// JSON schemas (Avro, JSON Schema) without insignificant white space,
// Protobuf as given less surrounding space. Two registrations whose
// schemas have the same canonical text and references are the same
// schema and get the same id.
func canonicalText(schemaType, text string) string {
	if schemaType == typeProtobuf {
		return strings.TrimSpace(text)
	}
	var b bytes.Buffer
	if json.Compact(&b, []byte(text)) != nil {
		return text
	}
	return b.String()
}

// sameSchemaKey is what two schemas of a type must share to be the same
// schema. For JSON-based types, the order of object keys does not matter.
// For Avro it also ignores what Avro's own printing of a schema (which
// Confluent's registry compares) does not keep: {"type":"string"} is
// "string", and a named type's namespace may be given in its name or
// apart, or inherited from the enclosing type. Text that is not JSON is
// its own key.
func sameSchemaKey(schemaType, text string) string {
	if schemaType == typeProtobuf {
		return strings.TrimSpace(text)
	}
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return text
	}
	if schemaType == typeAvro {
		v = avroSameForm(v, "")
	}
	b, err := json.Marshal(v) // object keys sorted
	if err != nil {
		return text
	}
	return string(b)
}

// avroSameForm rewrites a decoded Avro schema, in namespace ns, into the
// form sameSchemaKey compares: primitive types as bare names, and named
// types and references to them by full name without a namespace key.
func avroSameForm(v any, ns string) any {
	switch t := v.(type) {
	case string:
		if avroPrimitives[t] || strings.Contains(t, ".") || ns == "" {
			return t
		}
		return ns + "." + t
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = avroSameForm(x, ns)
		}
		return out
	case map[string]any:
		typ, _ := t["type"].(string)
		if len(t) == 1 && avroPrimitives[typ] {
			return typ
		}
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = x
		}
		switch typ {
		case "record", "error", "enum", "fixed":
			name, _ := t["name"].(string)
			inner := ns
			if i := strings.LastIndexByte(name, '.'); i >= 0 {
				inner = name[:i]
			} else if n, ok := t["namespace"].(string); ok {
				inner = n
			}
			delete(out, "namespace")
			if !strings.Contains(name, ".") && inner != "" {
				out["name"] = inner + "." + name
			}
			if fields, ok := t["fields"].([]any); ok {
				nf := make([]any, len(fields))
				for i, f := range fields {
					fm, ok := f.(map[string]any)
					if !ok {
						nf[i] = f
						continue
					}
					c := make(map[string]any, len(fm))
					for k, x := range fm {
						c[k] = x
					}
					if ft, ok := fm["type"]; ok {
						c["type"] = avroSameForm(ft, inner)
					}
					nf[i] = c
				}
				out["fields"] = nf
			}
		case "array":
			if items, ok := t["items"]; ok {
				out["items"] = avroSameForm(items, ns)
			}
		case "map":
			if values, ok := t["values"]; ok {
				out["values"] = avroSameForm(values, ns)
			}
		default:
			if x, ok := t["type"]; ok && typ == "" {
				out["type"] = avroSameForm(x, ns) // {"type": {...}} or {"type": [...]}
			} else if typ != "" && !avroPrimitives[typ] {
				out["type"] = avroSameForm(typ, ns) // a named type by reference
			}
		}
		return out
	}
	return v
}

// maxReferenceDepth bounds chains of schema references.
const maxReferenceDepth = 32

// resolveRef returns a referenced schema version, or an error.
type resolveRef func(ref Reference) (*version, error)

// validateSchema checks a schema of its type, with its references
// resolved through lookup. For Avro it returns the parsed schema, with
// the named types of the references (and theirs, depth first) defined
// before it.
func validateSchema(schemaType, text string, refs []Reference, lookup resolveRef) (*avroType, error) {
	switch schemaType {
	case typeAvro:
		p := newAvroParser()
		if err := p.parseRefs(refs, lookup, 0, map[string]bool{}); err != nil {
			return nil, err
		}
		t, err := p.parse(text)
		if err != nil {
			return nil, errInvalidSchema("Invalid schema %s: %v", short(text), err)
		}
		return t, nil
	case typeJSON:
		for _, r := range refs {
			if _, err := lookup(r); err != nil {
				return nil, err
			}
		}
		var v any
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			return nil, errInvalidSchema("Invalid schema: not a JSON document: %v", err)
		}
		switch v.(type) {
		case map[string]any, bool:
			return nil, nil
		}
		return nil, errInvalidSchema("Invalid schema: a JSON Schema is an object or a boolean")
	case typeProtobuf:
		for _, r := range refs {
			if _, err := lookup(r); err != nil {
				return nil, err
			}
		}
		if err := checkProtobuf(text); err != nil {
			return nil, errInvalidSchema("Invalid schema: %v", err)
		}
		return nil, nil
	}
	return nil, errInvalidSchema("Invalid schema type %s", schemaType)
}

func (p *avroParser) parseRefs(refs []Reference, lookup resolveRef, depth int, done map[string]bool) error {
	if depth > maxReferenceDepth {
		return fmt.Errorf("schema references nested deeper than %d", maxReferenceDepth)
	}
	for _, r := range refs {
		key := fmt.Sprintf("%s\x00%d", r.Subject, r.Version)
		if done[key] {
			continue
		}
		done[key] = true
		v, err := lookup(r)
		if err != nil {
			return err
		}
		if err := p.parseRefs(v.References, lookup, depth+1, done); err != nil {
			return err
		}
		if _, err := p.parse(v.Schema); err != nil {
			return errInvalidSchema("Invalid schema: reference %s (subject %s version %d): %v", r.Name, r.Subject, r.Version, err)
		}
	}
	return nil
}

// checkProtobuf is a minimal syntax check of a .proto file: comments and
// string literals are skipped, braces and brackets must balance, and at
// least one message, enum or service must be declared, or a syntax line
// present.
func checkProtobuf(text string) error {
	var stack []byte
	decl := false
	words := []string{"message", "enum", "service", "syntax", "edition"}
	for i := 0; i < len(text); i++ {
		ch := text[i]
		switch {
		case ch == '/' && i+1 < len(text) && text[i+1] == '/':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case ch == '/' && i+1 < len(text) && text[i+1] == '*':
			end := strings.Index(text[i+2:], "*/")
			if end < 0 {
				return fmt.Errorf("unterminated comment")
			}
			i += end + 3
		case ch == '"' || ch == '\'':
			j := i + 1
			for j < len(text) && text[j] != ch {
				if text[j] == '\\' {
					j++
				}
				if j < len(text) && text[j] == '\n' {
					return fmt.Errorf("unterminated string")
				}
				j++
			}
			if j >= len(text) {
				return fmt.Errorf("unterminated string")
			}
			i = j
		case ch == '{' || ch == '(' || ch == '[' || ch == '<':
			stack = append(stack, ch)
		case ch == '}' || ch == ')' || ch == ']' || ch == '>':
			open := map[byte]byte{'}': '{', ')': '(', ']': '[', '>': '<'}[ch]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return fmt.Errorf("unbalanced %q", ch)
			}
			stack = stack[:len(stack)-1]
		default:
			if (i == 0 || !isIdent(text[i-1])) && isIdent(ch) {
				for _, w := range words {
					if strings.HasPrefix(text[i:], w) && (i+len(w) == len(text) || !isIdent(text[i+len(w)])) {
						decl = true
					}
				}
			}
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("unbalanced %q", stack[len(stack)-1])
	}
	if !decl {
		return fmt.Errorf("no syntax, message, enum or service declaration")
	}
	return nil
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
