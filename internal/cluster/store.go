package cluster

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// fileStoreName is the single-node store's file in the first log
// directory.
const fileStoreName = "samsa-metadata.json"

// ProducerIDBlockSize is how many producer ids one store write reserves.
const ProducerIDBlockSize = 1000

// TopicID is Kafka's 16-byte topic id.
type TopicID [16]byte

// String is the id in Kafka's base64url form (no padding).
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// MarshalText implements encoding.TextMarshaler.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *TopicID) UnmarshalText(b []byte) error {
	raw, err := base64.RawURLEncoding.DecodeString(string(b))
	if err != nil || len(raw) != 16 {
		return fmt.Errorf("bad topic id %q", b)
	}
	copy(id[:], raw)
	return nil
}

// Topic is a topic's metadata.
type Topic struct {
	ID         TopicID           `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

// Errors of the store.
var (
	ErrTopicExists  = errors.New("topic already exists")
	ErrNoSuchTopic  = errors.New("topic does not exist")
	ErrStoreFailure = errors.New("metadata store write failed")
)

type fileState struct {
	Version        int              `json:"version"`
	NextProducerID int64            `json:"nextProducerId"`
	Topics         map[string]Topic `json:"topics"`
}

// FileStore is the single-node metadata store: one JSON file, replaced
// atomically on every change. Its methods are safe for concurrent use.
type FileStore struct {
	path string

	mu    sync.Mutex // guards state, pidNext, pidEnd and the file
	state fileState
	// Producer ids pidNext..pidEnd-1 are reserved in the file and unused.
	pidNext, pidEnd int64
}

// OpenFileStore loads (or creates) the store in dir.
func OpenFileStore(dir string) (*FileStore, error) {
	s := &FileStore{path: filepath.Join(dir, fileStoreName)}
	s.state = fileState{Version: 1, Topics: map[string]Topic{}}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &s.state); err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		if s.state.Topics == nil {
			s.state.Topics = map[string]Topic{}
		}
	}
	s.pidNext, s.pidEnd = s.state.NextProducerID, s.state.NextProducerID
	return s, nil
}

// REQUIRES: s.mu held.
func (s *FileStore) save() error {
	b, err := json.MarshalIndent(&s.state, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStoreFailure, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.path))
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStoreFailure, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Topics returns a copy of every topic.
func (s *FileStore) Topics() map[string]Topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Topic, len(s.state.Topics))
	for name, t := range s.state.Topics {
		out[name] = copyTopic(t)
	}
	return out
}

func copyTopic(t Topic) Topic {
	if t.Configs != nil {
		c := make(map[string]string, len(t.Configs))
		for k, v := range t.Configs {
			c[k] = v
		}
		t.Configs = c
	}
	return t
}

// CreateTopic records a new topic.
func (s *FileStore) CreateTopic(name string, t Topic) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.state.Topics[name]; ok {
		return ErrTopicExists
	}
	s.state.Topics[name] = copyTopic(t)
	if err := s.save(); err != nil {
		delete(s.state.Topics, name)
		return err
	}
	return nil
}

// DeleteTopic removes a topic.
func (s *FileStore) DeleteTopic(name string) error {
	return s.update(name, func(*Topic) bool { return false })
}

// SetPartitions records a topic's new partition count.
func (s *FileStore) SetPartitions(name string, n int32) error {
	return s.update(name, func(t *Topic) bool { t.Partitions = n; return true })
}

// SetConfigs replaces a topic's config overrides.
func (s *FileStore) SetConfigs(name string, configs map[string]string) error {
	return s.update(name, func(t *Topic) bool { t.Configs = configs; return true })
}

// update applies fn to a topic and saves; fn returning false deletes it.
func (s *FileStore) update(name string, fn func(*Topic) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.state.Topics[name]
	if !ok {
		return ErrNoSuchTopic
	}
	t := copyTopic(old)
	if fn(&t) {
		s.state.Topics[name] = t
	} else {
		delete(s.state.Topics, name)
	}
	if err := s.save(); err != nil {
		s.state.Topics[name] = old
		return err
	}
	return nil
}

// NextProducerID returns a producer id never handed out before.
func (s *FileStore) NextProducerID() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pidNext == s.pidEnd {
		s.state.NextProducerID = s.pidEnd + ProducerIDBlockSize
		if err := s.save(); err != nil {
			s.state.NextProducerID = s.pidEnd
			return 0, err
		}
		s.pidEnd = s.state.NextProducerID
	}
	id := s.pidNext
	s.pidNext++
	return id, nil
}
