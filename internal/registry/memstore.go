package registry

import (
	"context"
	"log/slog"
	"sync"
)

// memStore keeps the log in memory, for tests: a single instance that is
// always the primary.
type memStore struct {
	mu   sync.Mutex // guards recs; held while applying, so records apply in order
	recs []record
	st   *state
}

func (m *memStore) append(_ context.Context, recs []record) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		off := int64(len(m.recs))
		m.recs = append(m.recs, r)
		m.st.apply(off, r.key, r.value)
	}
	return int64(len(m.recs)), nil
}

func (m *memStore) end(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.recs)), nil
}

func (m *memStore) primary(context.Context) (bool, string, error) { return true, "", nil }

func (m *memStore) close() error { return nil }

// NewMemory returns a registry that keeps its records in memory: one
// instance, nothing shared, nothing durable. It serves tests of code that
// uses a registry.
func NewMemory(logger *slog.Logger) *Registry {
	st := newState()
	return newRegistry(st, &memStore{st: st}, logger)
}
