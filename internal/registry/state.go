package registry

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Modes, as Confluent names them.
const (
	modeReadWrite        = "READWRITE"
	modeReadOnly         = "READONLY"
	modeReadOnlyOverride = "READONLY_OVERRIDE"
	modeImport           = "IMPORT"
)

func validMode(m string) bool {
	switch m {
	case modeReadWrite, modeReadOnly, modeReadOnlyOverride, modeImport:
		return true
	}
	return false
}

// state is an instance's cache of the _schemas topic: everything the
// records applied so far say. Every instance builds its own from the
// topic; reads are served from it.
type state struct {
	mu sync.RWMutex // guards every field below

	subjects map[string]map[int]*version // subject -> version -> entry
	ids      map[int]*idEntry            // schema id -> schema
	bySchema map[string]int              // schemaIdentity -> id
	maxID    int                         // highest id ever seen; ids are never reused
	compat   map[string]string           // subject ("" global) -> level
	mode     map[string]string           // subject ("" global) -> mode

	applied int64         // offset of the next record to apply
	moved   chan struct{} // closed (and replaced) whenever applied grows
}

// idEntry is a schema under an id, with how many subject versions
// (deleted ones included) use it.
type idEntry struct {
	schemaType string
	schema     string
	refs       []Reference
	uses       int
}

func newState() *state {
	return &state{
		subjects: map[string]map[int]*version{},
		ids:      map[int]*idEntry{},
		bySchema: map[string]int{},
		compat:   map[string]string{},
		mode:     map[string]string{},
		moved:    make(chan struct{}),
	}
}

// schemaIdentity is the key under which equal schemas share an id: the
// same type, the same schema up to what its type's rules say does not
// matter (sameSchemaKey), and the same references.
func schemaIdentity(schemaType, canonical string, refs []Reference) string {
	t, _ := normalizeType(schemaType)
	b, _ := json.Marshal(refs)
	return t + "\x00" + sameSchemaKey(t, canonical) + "\x00" + string(b)
}

// apply applies the record at offset; a record that cannot be parsed is
// skipped, and the error returned for the log.
func (s *state) apply(offset int64, key, value []byte) error {
	c, err := parseRecord(key, value)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.applyChange(c)
	}
	if offset+1 > s.applied {
		s.applied = offset + 1
		close(s.moved)
		s.moved = make(chan struct{})
	}
	if err == errSkip {
		return nil
	}
	return err
}

// REQUIRES: s.mu held.
func (s *state) applyChange(c change) {
	switch c.key.KeyType {
	case keySchema:
		vs := s.subjects[c.subject]
		if old := vs[c.key.Version]; old != nil {
			s.release(old.ID)
			delete(vs, c.key.Version)
		}
		if c.tomb {
			if len(vs) == 0 {
				delete(s.subjects, c.subject)
			}
			return
		}
		if vs == nil {
			vs = map[int]*version{}
			s.subjects[c.subject] = vs
		}
		v := c.schema
		vs[v.Version] = v
		e := s.ids[v.ID]
		if e == nil {
			e = &idEntry{schemaType: v.SchemaType, schema: v.Schema, refs: v.References}
			s.ids[v.ID] = e
			s.bySchema[schemaIdentity(v.SchemaType, canonicalText(v.SchemaType, v.Schema), v.References)] = v.ID
		}
		e.uses++
		s.maxID = max(s.maxID, v.ID)
	case keyConfig:
		if c.tomb {
			delete(s.compat, c.subject)
		} else {
			s.compat[c.subject] = c.config
		}
	case keyMode:
		if c.tomb {
			delete(s.mode, c.subject)
		} else {
			s.mode[c.subject] = c.mode
		}
	case keyDeleteSubject:
		for n, v := range s.subjects[c.subject] {
			if n <= c.upTo && !v.Deleted {
				cp := *v
				cp.Deleted = true
				s.subjects[c.subject][n] = &cp
			}
		}
	case keyClearSubject:
		for n, v := range s.subjects[c.subject] {
			if v.Deleted {
				s.release(v.ID)
				delete(s.subjects[c.subject], n)
			}
		}
		if len(s.subjects[c.subject]) == 0 {
			delete(s.subjects, c.subject)
		}
	}
}

// release drops one use of an id; an id no version uses is forgotten
// (but maxID keeps it from being handed out again).
//
// REQUIRES: s.mu held.
func (s *state) release(id int) {
	e := s.ids[id]
	if e == nil {
		return
	}
	if e.uses--; e.uses <= 0 {
		delete(s.ids, id)
		delete(s.bySchema, schemaIdentity(e.schemaType, canonicalText(e.schemaType, e.schema), e.refs))
	}
}

// waitApplied waits until every record before offset is applied.
func (s *state) waitApplied(ctx context.Context, offset int64) error {
	for {
		s.mu.RLock()
		done, moved := s.applied >= offset, s.moved
		s.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// The read side. Each takes the read lock itself.

// versions returns a subject's version entries in order.
func (s *state) versions(subject string, deleted bool) []*version {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.versionsLocked(subject, deleted)
}

// REQUIRES: s.mu held.
func (s *state) versionsLocked(subject string, deleted bool) []*version {
	var out []*version
	for _, v := range s.subjects[subject] {
		if deleted || !v.Deleted {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}

func (s *state) subjectNames(deleted bool, prefix string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []string{}
	for name, vs := range s.subjects {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		for _, v := range vs {
			if deleted || !v.Deleted {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func (s *state) byID(id int) *idEntry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ids[id]
}

// idUses returns the subject versions that use an id.
func (s *state) idUses(id int, deleted bool) []*version {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*version
	for _, vs := range s.subjects {
		for _, v := range vs {
			if v.ID == id && (deleted || !v.Deleted) {
				out = append(out, v)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// referencedBy returns the ids of schemas whose references name the
// subject version.
func (s *state) referencedBy(subject string, ver int) []int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []int
	for _, vs := range s.subjects {
		for _, v := range vs {
			if v.Deleted {
				continue
			}
			for _, r := range v.References {
				if r.Subject == subject && r.Version == ver && !slices.Contains(out, v.ID) {
					out = append(out, v.ID)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// compatibility returns the level of a subject ("" for the global one),
// and whether it is set there.
func (s *state) compatibility(subject string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.compat[subject]
	return l, ok
}

// effectiveCompatibility is the subject's level, else the global one,
// else the default.
func (s *state) effectiveCompatibility(subject string) string {
	if l, ok := s.compatibility(subject); ok {
		return l
	}
	if l, ok := s.compatibility(""); ok {
		return l
	}
	return defaultCompatibility
}

func (s *state) modeOf(subject string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.mode[subject]
	return m, ok
}

func (s *state) effectiveMode(subject string) string {
	if m, ok := s.modeOf(subject); ok && subject != "" {
		return m
	}
	if m, ok := s.modeOf(""); ok {
		return m
	}
	return modeReadWrite
}

// advance records that the reader's position passed offset pos without
// records to apply.
func (s *state) advance(pos int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pos > s.applied {
		s.applied = pos
		close(s.moved)
		s.moved = make(chan struct{})
	}
}
