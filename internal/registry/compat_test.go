package registry

import (
	"strings"
	"testing"
)

func mustAvro(t *testing.T, s string) *avroType {
	t.Helper()
	a, err := newAvroParser().parse(s)
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return a
}

func rec(fields string) string {
	return `{"type":"record","name":"R","namespace":"ns","fields":[` + fields + `]}`
}

// TestAvroResolution checks Avro's resolution rules: can a reader read
// what a writer wrote.
func TestAvroResolution(t *testing.T) {
	for _, c := range []struct {
		name, reader, writer string
		ok                   bool
		mention              string
	}{
		{"same", `"int"`, `"int"`, true, ""},
		{"int to long", `"long"`, `"int"`, true, ""},
		{"int to float", `"float"`, `"int"`, true, ""},
		{"long to double", `"double"`, `"long"`, true, ""},
		{"float to double", `"double"`, `"float"`, true, ""},
		{"long to int", `"int"`, `"long"`, false, "TYPE_MISMATCH"},
		{"double to float", `"float"`, `"double"`, false, "TYPE_MISMATCH"},
		{"string to bytes", `"bytes"`, `"string"`, true, ""},
		{"bytes to string", `"string"`, `"bytes"`, true, ""},
		{"added field with default", rec(`{"name":"a","type":"int"},{"name":"b","type":"string","default":""}`), rec(`{"name":"a","type":"int"}`), true, ""},
		{"added field without default", rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`), rec(`{"name":"a","type":"int"}`), false, "'b'"},
		{"removed field", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`), true, ""},
		{"field type changed", rec(`{"name":"a","type":"string"}`), rec(`{"name":"a","type":"int"}`), false, "Field 'a'"},
		{"field promoted", rec(`{"name":"a","type":"long"}`), rec(`{"name":"a","type":"int"}`), true, ""},
		{"field alias", rec(`{"name":"b","aliases":["a"],"type":"int"}`), rec(`{"name":"a","type":"int"}`), true, ""},
		{"record renamed", `{"type":"record","name":"S","fields":[]}`, `{"type":"record","name":"R","fields":[]}`, false, "NAME_MISMATCH"},
		{"record alias", `{"type":"record","name":"S","aliases":["R"],"fields":[]}`, `{"type":"record","name":"R","fields":[]}`, true, ""},
		{"namespace changed", `{"type":"record","name":"R","namespace":"a","fields":[]}`, `{"type":"record","name":"R","namespace":"b","fields":[]}`, true, ""},
		{"enum symbol added", `{"type":"enum","name":"E","symbols":["A","B","C"]}`, `{"type":"enum","name":"E","symbols":["A","B"]}`, true, ""},
		{"enum symbol removed", `{"type":"enum","name":"E","symbols":["A"]}`, `{"type":"enum","name":"E","symbols":["A","B"]}`, false, "MISSING_ENUM_SYMBOLS"},
		{"enum symbol removed with default", `{"type":"enum","name":"E","symbols":["A","U"],"default":"U"}`, `{"type":"enum","name":"E","symbols":["A","B"]}`, true, ""},
		{"fixed size", `{"type":"fixed","name":"F","size":4}`, `{"type":"fixed","name":"F","size":8}`, false, "FIXED_SIZE_MISMATCH"},
		{"union gains branch", `["null","string","int"]`, `["null","string"]`, true, ""},
		{"union loses branch", `["null","string"]`, `["null","string","int"]`, false, "MISSING_UNION_BRANCH"},
		{"value into union", `["null","long"]`, `"int"`, true, ""},
		{"union into value", `"string"`, `["null","string"]`, false, "MISSING_UNION_BRANCH"},
		{"single-branch union into value", `"string"`, `["string"]`, true, ""},
		{"array items promoted", `{"type":"array","items":"long"}`, `{"type":"array","items":"int"}`, true, ""},
		{"map values changed", `{"type":"map","values":"int"}`, `{"type":"map","values":"string"}`, false, "TYPE_MISMATCH"},
		{"recursive", `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`, `{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			msgs := avroReads(mustAvro(t, c.reader), mustAvro(t, c.writer), "new", "old")
			if (len(msgs) == 0) != c.ok {
				t.Fatalf("compatible = %v, want %v: %v", len(msgs) == 0, c.ok, msgs)
			}
			if c.mention != "" && !strings.Contains(strings.Join(msgs, " "), c.mention) {
				t.Errorf("messages %v do not mention %s", msgs, c.mention)
			}
		})
	}
}

// TestLevels checks which directions each level checks, on the Customer
// schemas: v1 -> bad is backward-incompatible but forward-compatible.
func TestLevels(t *testing.T) {
	r := NewMemory(nil)
	old := []*version{{Version: 1, Schema: customerV1}}
	p, err := r.parse(&registerRequest{Schema: customerBad})
	if err != nil {
		t.Fatal(err)
	}
	for level, ok := range map[string]bool{
		compatNone: true, compatBackward: false, compatBackwardTransitive: false,
		compatForward: true, compatForwardTransitive: true, compatFull: false, compatFullTransitive: false,
	} {
		if got := len(r.incompatibilities(p, old, level)) == 0; got != ok {
			t.Errorf("%s: compatible = %v, want %v", level, got, ok)
		}
	}
	// Transitive levels look past the latest version.
	vs := []*version{{Version: 1, Schema: customerV1}, {Version: 2, Schema: customerBad}}
	if len(checkTargets(vs, compatBackward)) != 1 || len(checkTargets(vs, compatFullTransitive)) != 2 {
		t.Error("checkTargets")
	}
}

func TestInvalidAvro(t *testing.T) {
	for _, s := range []string{
		`{"type":"record","name":"1x","fields":[]}`,
		`{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]}`,
		`{"type":"enum","name":"E","symbols":["A","A"]}`,
		`{"type":"enum","name":"E","symbols":["A"],"default":"B"}`,
		`{"type":"fixed","name":"F"}`,
		`["int","int"]`,
		`[["int"]]`,
		`{"type":"array"}`,
		`{"type":"record","name":"R","fields":[]} trailing`,
		strings.Repeat("[", 1000) + `"int"` + strings.Repeat("]", 1000),
	} {
		if _, err := newAvroParser().parse(s); err == nil {
			t.Errorf("%.60s: parsed", s)
		}
	}
}
