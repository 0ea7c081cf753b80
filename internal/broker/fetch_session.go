package broker

import (
	"container/list"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227). A client that opens a session sends its whole
// partition list once; later (incremental) fetches name only partitions
// whose fetch position changed, and the response carries only partitions
// with news: records, an error, or a moved high watermark or log start
// offset.
//
// Session epochs: 0 opens a session, -1 (final) fetches without one; a
// session's fetches count up from 1, and any other epoch is
// INVALID_FETCH_SESSION_EPOCH.

const (
	sessionEpochInitial = 0
	sessionEpochFinal   = -1
)

// sessionKey names a partition in a session. Topics are kept by name for
// versions before 13 and by id from 13 on; one session only ever sees one.
type sessionKey struct {
	topic     string
	id        [16]byte
	partition int32
}

// sessionPart is a partition's state in a session: what the client asked
// for and what it was last told.
type sessionPart struct {
	key          sessionKey
	fetchOffset  int64
	maxBytes     int32
	leaderEpoch  int32
	sentHW       int64
	sentLogStart int64
}

type fetchSession struct {
	id    int32
	epoch int32 // the epoch the next fetch must carry
	parts map[sessionKey]*sessionPart
	order []sessionKey // fetch order: request order, new partitions last
	elem  *list.Element
	inUse bool // a fetch of this session is in progress
}

// fetchSessions is the broker's session cache, bounded by count with the
// least recently used session evicted.
type fetchSessions struct {
	mu     sync.Mutex // guards everything below
	max    int
	nextID int32
	byID   map[int32]*fetchSession
	lru    *list.List // front = most recently used
}

func newFetchSessions(max int) *fetchSessions {
	return &fetchSessions{max: max, nextID: 1, byID: map[int32]*fetchSession{}, lru: list.New()}
}

// open creates a session, evicting the least recently used one if full.
func (s *fetchSessions) open() *fetchSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= s.max {
		oldest := s.lru.Back()
		old := oldest.Value.(*fetchSession)
		s.lru.Remove(oldest)
		delete(s.byID, old.id)
	}
	for s.byID[s.nextID] != nil || s.nextID <= 0 {
		s.nextID++
		if s.nextID <= 0 {
			s.nextID = 1
		}
	}
	// The opening fetch is epoch 0; release moves the session to 1, the
	// epoch of the client's first incremental fetch.
	fs := &fetchSession{id: s.nextID, epoch: sessionEpochInitial, parts: map[sessionKey]*sessionPart{}}
	s.nextID++
	fs.elem = s.lru.PushFront(fs)
	s.byID[fs.id] = fs
	fs.inUse = true
	return fs
}

// acquire finds a session for an incremental fetch and checks its epoch.
func (s *fetchSessions) acquire(id, epoch int32) (*fetchSession, *kerr.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.byID[id]
	if fs == nil {
		return nil, kerr.FetchSessionIDNotFound
	}
	if fs.epoch != epoch || fs.inUse {
		return nil, kerr.InvalidFetchSessionEpoch
	}
	fs.inUse = true
	s.lru.MoveToFront(fs.elem)
	return fs, nil
}

// release ends a fetch of the session and advances its epoch.
func (s *fetchSessions) release(fs *fetchSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs.inUse = false
	fs.epoch++
	if fs.epoch <= 0 {
		fs.epoch = 1
	}
}

// close removes a session.
func (s *fetchSessions) close(id int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fs := s.byID[id]; fs != nil {
		s.lru.Remove(fs.elem)
		delete(s.byID, id)
	}
}

func keyOf(version int16, t *kmsg.FetchRequestTopic, p int32) sessionKey {
	if version >= 13 {
		return sessionKey{id: t.TopicID, partition: p}
	}
	return sessionKey{topic: t.Topic, partition: p}
}

// update applies an incremental (or initial) request to the session.
// REQUIRES: the caller acquired fs.
func (fs *fetchSession) update(req *kmsg.FetchRequest) {
	for i := range req.ForgottenTopics {
		ft := &req.ForgottenTopics[i]
		for _, p := range ft.Partitions {
			k := sessionKey{topic: ft.Topic, partition: p}
			if req.Version >= 13 {
				k = sessionKey{id: ft.TopicID, partition: p}
			}
			if _, ok := fs.parts[k]; ok {
				delete(fs.parts, k)
				fs.order = removeKey(fs.order, k)
			}
		}
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			k := keyOf(req.Version, rt, rp.Partition)
			sp := fs.parts[k]
			if sp == nil {
				sp = &sessionPart{key: k, sentHW: -1, sentLogStart: -1}
				fs.parts[k] = sp
				fs.order = append(fs.order, k)
			}
			sp.fetchOffset, sp.maxBytes, sp.leaderEpoch = rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch
		}
	}
}

func removeKey(keys []sessionKey, k sessionKey) []sessionKey {
	for i, e := range keys {
		if e == k {
			return append(keys[:i], keys[i+1:]...)
		}
	}
	return keys
}
