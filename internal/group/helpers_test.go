package group

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
)

// fakeClock is a Clock that moves only when told to. Timers due by the
// new time run in Advance, in the caller's goroutine, in deadline order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	id   int
	when time.Time
	f    func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), timers: map[int]*fakeTimer{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, id: c.seq, when: c.now.Add(d), f: f}
	c.timers[t.id] = t
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t.id]
	delete(t.c.timers, t.id)
	return ok
}

// Advance moves the clock by d, running every timer that comes due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.when.After(end) && (next == nil || t.when.Before(next.when) || t.when.Equal(next.when) && t.id < next.id) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		delete(c.timers, next.id)
		if next.when.After(c.now) {
			c.now = next.when
		}
		c.mu.Unlock()
		next.f()
	}
}

// memLog is an in-memory __consumer_offsets: the batches appended to each
// partition, with offsets assigned as a broker would.
type memLog struct {
	mu      sync.Mutex
	parts   map[int32][][]byte
	next    map[int32]int64
	failErr error
	// block, if set, makes Replay wait for it to be closed.
	block chan struct{}
}

func newMemLog() *memLog {
	return &memLog{parts: map[int32][][]byte{}, next: map[int32]int64{}}
}

func (l *memLog) Append(p int32, batch []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failErr != nil {
		return l.failErr
	}
	h, err := record.ParseHeader(batch)
	if err != nil {
		return err
	}
	b := append([]byte(nil), batch...)
	record.SetBaseOffset(b, l.next[p])
	l.next[p] += int64(h.LastOffsetDelta) + 1
	l.parts[p] = append(l.parts[p], b)
	return nil
}

func (l *memLog) Replay(p int32, fn func([]byte) error) error {
	if l.block != nil {
		<-l.block
	}
	l.mu.Lock()
	batches := append([][]byte(nil), l.parts[p]...)
	l.mu.Unlock()
	for _, b := range batches {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func (l *memLog) setFail(err error) {
	l.mu.Lock()
	l.failErr = err
	l.mu.Unlock()
}

var errAppendFailed = errors.New("append failed")

type fakeTopic struct {
	id         [16]byte
	partitions int32
}

// fakeTopics is the cluster's topics.
type fakeTopics struct {
	mu     sync.Mutex
	topics map[string]fakeTopic
}

func newFakeTopics() *fakeTopics { return &fakeTopics{topics: map[string]fakeTopic{}} }

func (f *fakeTopics) add(name string, partitions int32) [16]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var id [16]byte
	copy(id[:], fmt.Sprintf("%-16s", name))
	f.topics[name] = fakeTopic{id: id, partitions: partitions}
	return id
}

func (f *fakeTopics) TopicByName(name string) ([16]byte, int32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.topics[name]
	return t.id, t.partitions, ok
}

func (f *fakeTopics) TopicByID(id [16]byte) (string, int32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, t := range f.topics {
		if t.id == id {
			return n, t.partitions, true
		}
	}
	return "", 0, false
}

func (f *fakeTopics) TopicNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.topics {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// env is a coordinator under test with its fakes.
type env struct {
	t      *testing.T
	c      *Coordinator
	clock  *fakeClock
	log    *memLog
	topics *fakeTopics
	cfg    Config
}

const testPartitions = 4

func testConfig(clock *fakeClock) Config {
	return Config{
		NumPartitions:             testPartitions,
		MinSessionTimeout:         time.Second,
		MaxSessionTimeout:         time.Minute,
		InitialRebalanceDelay:     3 * time.Second,
		ConsumerSessionTimeout:    45 * time.Second,
		ConsumerHeartbeatInterval: 5 * time.Second,
		Clock:                     clock,
		Logger:                    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// newEnv starts a coordinator with every partition loaded; mod adjusts the
// configuration first.
func newEnv(t *testing.T, mod ...func(*Config)) *env {
	t.Helper()
	clock := newFakeClock()
	e := &env{t: t, clock: clock, log: newMemLog(), topics: newFakeTopics()}
	e.cfg = testConfig(clock)
	for _, m := range mod {
		m(&e.cfg)
	}
	e.start()
	t.Cleanup(func() { e.c.Close() })
	return e
}

func (e *env) start() {
	e.t.Helper()
	e.c = New(e.cfg, e.log, e.topics)
	for p := int32(0); p < e.cfg.NumPartitions; p++ {
		if err := e.c.Load(p); err != nil {
			e.t.Fatal(err)
		}
	}
}

// restart replaces the coordinator by one that loads the same log.
func (e *env) restart() {
	e.t.Helper()
	e.c.Close()
	e.start()
}

var rc = RequestContext{ClientID: "client", ClientHost: "/127.0.0.1"}

// consumerMetadata is a consumer protocol subscription to topics.
func consumerMetadata(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

func joinReq(group, member string, protocols ...string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group = group
	r.MemberID = member
	r.SessionTimeoutMillis = 10000
	r.RebalanceTimeoutMillis = 20000
	r.ProtocolType = "consumer"
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	for _, p := range protocols {
		r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: consumerMetadata("t")})
	}
	return r
}

// recv returns what a channel has, failing if it has nothing yet.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	default:
		t.Fatal("no response yet")
		panic("unreachable")
	}
}

func pending[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected response %+v", v)
	default:
	}
}

// joinNew does the two JoinGroup round trips of KIP-394 and returns the
// channel of the second.
func (e *env) joinNew(group string, protocols ...string) (string, <-chan *kmsg.JoinGroupResponse) {
	e.t.Helper()
	r := recv(e.t, e.c.joinGroup(rc, joinReq(group, "", protocols...)))
	if r.ErrorCode != kerr.MemberIDRequired.Code {
		e.t.Fatalf("first join: error %d, want MEMBER_ID_REQUIRED", r.ErrorCode)
	}
	return r.MemberID, e.c.joinGroup(rc, joinReq(group, r.MemberID, protocols...))
}

func (e *env) sync(group, member string, generation int32, assignments map[string][]byte) <-chan *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.Generation = group, member, generation
	for id, a := range assignments {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: a})
	}
	return e.c.syncGroup(r)
}

func (e *env) heartbeat(group, member string, generation int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group, r.MemberID, r.Generation = group, member, generation
	return e.c.Heartbeat(rc, r).ErrorCode
}

// withShard runs fn with the group's shard locked.
func (e *env) withShard(group string, fn func(s *shard)) {
	s := e.c.shards[e.c.PartitionFor(group)]
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

func (e *env) classicState(group string) string {
	var st string
	e.withShard(group, func(s *shard) {
		if g := s.classic[group]; g != nil {
			st = g.state.String()
		}
	})
	return st
}
