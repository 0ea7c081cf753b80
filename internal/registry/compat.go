package registry

import (
	"fmt"
	"slices"
	"strings"
)

// Compatibility levels, as Confluent names them.
const (
	compatNone               = "NONE"
	compatBackward           = "BACKWARD"
	compatBackwardTransitive = "BACKWARD_TRANSITIVE"
	compatForward            = "FORWARD"
	compatForwardTransitive  = "FORWARD_TRANSITIVE"
	compatFull               = "FULL"
	compatFullTransitive     = "FULL_TRANSITIVE"
)

// defaultCompatibility is the level when neither the subject nor the
// registry sets one (Confluent's default).
const defaultCompatibility = compatBackward

func validCompatibility(s string) bool {
	switch s {
	case compatNone, compatBackward, compatBackwardTransitive, compatForward,
		compatForwardTransitive, compatFull, compatFullTransitive:
		return true
	}
	return false
}

// levelChecks says, for a level, whether the new schema must read data of
// the old ones (backward), the old ones data of the new one (forward), and
// whether every earlier version counts or only the latest.
func levelChecks(level string) (backward, forward, transitive bool) {
	switch level {
	case compatBackward:
		return true, false, false
	case compatBackwardTransitive:
		return true, false, true
	case compatForward:
		return false, true, false
	case compatForwardTransitive:
		return false, true, true
	case compatFull:
		return true, true, false
	case compatFullTransitive:
		return true, true, true
	}
	return false, false, false
}

// avroReads checks Avro's schema resolution rules: whether data written
// with writer can be read with reader. It returns one message per problem,
// naming the field at fault; none means compatible. The roles ("new",
// "old") name the two schemas in the messages.
func avroReads(reader, writer *avroType, readerRole, writerRole string) []string {
	c := &resolver{readerRole: readerRole, writerRole: writerRole, seen: map[[2]*avroType]bool{}}
	c.check(reader, writer, "")
	return c.msgs
}

type resolver struct {
	readerRole, writerRole string
	// seen holds the pairs of named types being compared, so that
	// recursive types end: a pair met again is assumed compatible.
	seen map[[2]*avroType]bool
	msgs []string
}

// maxCompatMessages bounds the messages of one check.
const maxCompatMessages = 50

func (c *resolver) fail(errType, path, additional, format string, args ...any) {
	if len(c.msgs) >= maxCompatMessages {
		return
	}
	if path == "" {
		path = "/"
	}
	c.msgs = append(c.msgs, fmt.Sprintf("{errorType:'%s', description:'%s', additionalInfo:'%s'}",
		errType, fmt.Sprintf(format, args...)+" at path '"+path+"'", additional))
}

func (c *resolver) check(r, w *avroType, path string) {
	if w.kind == "union" {
		for i, b := range w.branches {
			if !c.quiet(r, b) {
				c.fail("MISSING_UNION_BRANCH", path+fmt.Sprintf("/%d", i), describe(b),
					"The %s schema is missing a type inside a union field: %s, found in the %s schema", c.readerRole, describe(b), c.writerRole)
			}
		}
		return
	}
	if r.kind == "union" {
		for _, b := range r.branches {
			if c.quiet(b, w) {
				return
			}
		}
		c.fail("MISSING_UNION_BRANCH", path, describe(w),
			"The %s schema's union has no branch for type %s of the %s schema", c.readerRole, describe(w), c.writerRole)
		return
	}
	if r.kind != w.kind {
		if !promotes(w.kind, r.kind) {
			c.fail("TYPE_MISMATCH", path, r.kind,
				"The type of a field in the %s schema (%s) does not match the %s schema (%s)", c.readerRole, describe(r), c.writerRole, describe(w))
		}
		return
	}
	switch r.kind {
	case "record", "enum", "fixed":
		if !namesMatch(r, w) {
			c.fail("NAME_MISMATCH", path+"/name", w.name,
				"The type name %s in the %s schema does not match %s in the %s schema", r.name, c.readerRole, w.name, c.writerRole)
			return
		}
	}
	switch r.kind {
	case "record":
		c.record(r, w, path)
	case "enum":
		var missing []string
		for _, s := range w.symbols {
			if !slices.Contains(r.symbols, s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 && r.enumDef == "" {
			c.fail("MISSING_ENUM_SYMBOLS", path+"/symbols", "["+strings.Join(missing, ", ")+"]",
				"The %s schema is missing enum symbols '[%s]' at enum %s, found in the %s schema, and has no default", c.readerRole, strings.Join(missing, ", "), r.name, c.writerRole)
		}
	case "fixed":
		if r.size != w.size {
			c.fail("FIXED_SIZE_MISMATCH", path+"/size", fmt.Sprintf("expected: %d, found: %d", w.size, r.size),
				"The size of fixed %s is %d in the %s schema and %d in the %s schema", r.name, r.size, c.readerRole, w.size, c.writerRole)
		}
	case "array":
		c.check(r.items, w.items, path+"/items")
	case "map":
		c.check(r.items, w.items, path+"/values")
	}
}

func (c *resolver) record(r, w *avroType, path string) {
	pair := [2]*avroType{r, w}
	if c.seen[pair] {
		return
	}
	c.seen[pair] = true
	for i, rf := range r.fields {
		fpath := fmt.Sprintf("%s/fields/%d", path, i)
		wf := writerField(rf, w)
		if wf == nil {
			if !rf.hasDefault {
				c.fail("READER_FIELD_MISSING_DEFAULT_VALUE", fpath, rf.name,
					"The field '%s' in the %s schema has no default value and is missing in the %s schema", rf.name, c.readerRole, c.writerRole)
			}
			continue
		}
		before := len(c.msgs)
		c.check(rf.typ, wf.typ, fpath+"/type")
		for j := before; j < len(c.msgs); j++ {
			c.msgs[j] = strings.Replace(c.msgs[j], "description:'", "description:'Field '"+rf.name+"': ", 1)
		}
	}
}

// writerField finds the writer's field a reader field reads: same name,
// or one of the reader field's aliases.
func writerField(rf *avroField, w *avroType) *avroField {
	for _, wf := range w.fields {
		if wf.name == rf.name {
			return wf
		}
	}
	for _, wf := range w.fields {
		if slices.Contains(rf.aliases, wf.name) {
			return wf
		}
	}
	return nil
}

// quiet reports whether r reads w, without recording messages.
func (c *resolver) quiet(r, w *avroType) bool {
	sub := &resolver{readerRole: c.readerRole, writerRole: c.writerRole, seen: c.seen}
	sub.check(r, w, "")
	return len(sub.msgs) == 0
}

// namesMatch: a reader's named type reads a writer's of the same
// unqualified name (Avro ignores namespaces here), or whose name is one of
// the reader's aliases.
func namesMatch(r, w *avroType) bool {
	if simpleName(r.name) == simpleName(w.name) {
		return true
	}
	for _, a := range r.aliases {
		if a == w.name || simpleName(a) == simpleName(w.name) {
			return true
		}
	}
	return false
}

// promotes lists Avro's promotions of a written type to a reader's.
func promotes(writer, reader string) bool {
	switch writer {
	case "int":
		return reader == "long" || reader == "float" || reader == "double"
	case "long":
		return reader == "float" || reader == "double"
	case "float":
		return reader == "double"
	case "string":
		return reader == "bytes"
	case "bytes":
		return reader == "string"
	}
	return false
}

func describe(t *avroType) string {
	if t.name != "" {
		return t.name
	}
	return t.kind
}
