package group

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Log is the coordinator's view of the __consumer_offsets partitions.
// The broker implements it over its partition logs; tests use a fake.
type Log interface {
	// Append writes one record batch (built by the coordinator, base
	// offset 0) to partition p and returns once it is as durable as an
	// acks=all produce.
	Append(p int32, batch []byte) error
	// Replay calls fn with every batch of partition p, from the start of
	// the log, in offset order.
	Replay(p int32, fn func(batch []byte) error) error
}

// Topics is the topic metadata the coordinator needs: to check the
// partitions of offset commits, and to assign partitions to KIP-848
// groups.
type Topics interface {
	// TopicByName returns a topic's id and partition count.
	TopicByName(name string) (id [16]byte, partitions int32, ok bool)
	// TopicByID returns a topic's name and partition count.
	TopicByID(id [16]byte) (name string, partitions int32, ok bool)
	// TopicNames lists every topic, for regular expression subscriptions.
	TopicNames() []string
}

// Config is the coordinator's configuration; the field comments name the
// Kafka broker properties they come from. Zero fields take Kafka's
// defaults (see withDefaults).
type Config struct {
	NumPartitions int32 // offsets.topic.num.partitions (50)

	MinSessionTimeout     time.Duration // group.min.session.timeout.ms (6000)
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms (1800000)
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms (3000); negative means none
	MaxGroupSize          int           // group.max.size (MaxInt32)
	// NewMemberJoinTimeout bounds how long a new member may wait in a
	// JoinGroup (Kafka's fixed 5 minutes), so clients that gave up do not
	// pile up in a long rebalance.
	NewMemberJoinTimeout time.Duration

	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms (45000)
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms (5000)
	ConsumerMaxSize           int           // group.consumer.max.size (MaxInt32)
	// ConsumerAssignors are the server-side assignors of KIP-848 groups,
	// the first being the default (group.consumer.assignors: uniform,
	// range).
	ConsumerAssignors []string
	// GroupConfigs returns a consumer group's own configs (KIP-848 group
	// configs, set with IncrementalAlterConfigs); nil means none.
	GroupConfigs func(groupID string) GroupConfig

	OffsetMetadataMaxBytes   int           // offset.metadata.max.bytes (4096)
	OffsetsRetention         time.Duration // offsets.retention.minutes (7 days)
	OffsetsRetentionInterval time.Duration // offsets.retention.check.interval.ms (600000)
	// MaxBatchBytes bounds one write to __consumer_offsets (its
	// max.message.bytes, 1048588 by default); a larger group metadata
	// record fails the write as Kafka's does.
	MaxBatchBytes int

	Clock  Clock
	Logger *slog.Logger
}

// GroupConfig is one consumer group's own settings; a zero field takes
// the coordinator's default.
type GroupConfig struct {
	SessionTimeout    time.Duration // consumer.session.timeout.ms
	HeartbeatInterval time.Duration // consumer.heartbeat.interval.ms
}

// consumerTimeouts returns the session timeout and heartbeat interval of
// a consumer group's members: the group's configs, else the defaults.
// They are read at every heartbeat, so a change reaches each member at
// its next one.
func (c *Coordinator) consumerTimeouts(groupID string) (session, heartbeat time.Duration) {
	session, heartbeat = c.cfg.ConsumerSessionTimeout, c.cfg.ConsumerHeartbeatInterval
	if c.cfg.GroupConfigs == nil {
		return session, heartbeat
	}
	gc := c.cfg.GroupConfigs(groupID)
	if gc.SessionTimeout > 0 {
		session = gc.SessionTimeout
	}
	if gc.HeartbeatInterval > 0 {
		heartbeat = gc.HeartbeatInterval
	}
	return session, heartbeat
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.NumPartitions <= 0 {
		c.NumPartitions = 50
	}
	def(&c.MinSessionTimeout, 6*time.Second)
	def(&c.MaxSessionTimeout, 30*time.Minute)
	def(&c.InitialRebalanceDelay, 3*time.Second)
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	def(&c.NewMemberJoinTimeout, 5*time.Minute)
	def(&c.ConsumerSessionTimeout, 45*time.Second)
	def(&c.ConsumerHeartbeatInterval, 5*time.Second)
	def(&c.OffsetsRetention, 7*24*time.Hour)
	def(&c.OffsetsRetentionInterval, 10*time.Minute)
	if c.MaxGroupSize <= 0 {
		c.MaxGroupSize = 1<<31 - 1
	}
	if c.ConsumerMaxSize <= 0 {
		c.ConsumerMaxSize = 1<<31 - 1
	}
	if len(c.ConsumerAssignors) == 0 {
		c.ConsumerAssignors = []string{assignorUniform, assignorRange}
	}
	if c.OffsetMetadataMaxBytes <= 0 {
		c.OffsetMetadataMaxBytes = 4096
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 1048588
	}
	if c.Clock == nil {
		c.Clock = SystemClock
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// RequestContext is what the coordinator needs to know of the request's
// connection.
type RequestContext struct {
	ClientID   string
	ClientHost string
}

// Coordinator is the group coordinator of one broker: the groups and
// committed offsets of the __consumer_offsets partitions it leads. Each
// partition's state is owned by a shard with its own mutex; requests for
// different partitions do not contend.
type Coordinator struct {
	cfg    Config
	log    Log
	topics Topics
	clock  Clock
	logger *slog.Logger
	shards []*shard
	closed atomic.Bool
	// rebalances feeds the broker's metrics (stats.go).
	rebalances rebalanceCounts
}

// New returns a coordinator that leads no partition yet; Load makes it
// serve one.
func New(cfg Config, log Log, topics Topics) *Coordinator {
	cfg = cfg.withDefaults()
	c := &Coordinator{cfg: cfg, log: log, topics: topics, clock: cfg.Clock, logger: cfg.Logger}
	c.shards = make([]*shard, cfg.NumPartitions)
	for i := range c.shards {
		c.shards[i] = newShard(c, int32(i))
	}
	return c
}

// NumPartitions is the number of __consumer_offsets partitions.
func (c *Coordinator) NumPartitions() int32 { return c.cfg.NumPartitions }

// PartitionFor returns the __consumer_offsets partition of a group.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	return PartitionFor(groupID, c.cfg.NumPartitions)
}

// Load replays partition p of __consumer_offsets and then serves the
// groups it holds. Until it returns, their requests are answered with
// COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) Load(p int32) error {
	if p < 0 || int(p) >= len(c.shards) {
		return fmt.Errorf("__consumer_offsets partition %d out of range", p)
	}
	return c.shards[p].load()
}

// Unload stops serving partition p and drops its state; waiting JoinGroup
// and SyncGroup requests are answered with NOT_COORDINATOR.
func (c *Coordinator) Unload(p int32) {
	if p >= 0 && int(p) < len(c.shards) {
		c.shards[p].unload()
	}
}

// Close unloads every partition and stops every timer.
func (c *Coordinator) Close() {
	if c.closed.Swap(true) {
		return
	}
	for _, s := range c.shards {
		s.unload()
	}
}

// shardFor returns the shard of a group, locked, or the error that
// answers the request: NOT_COORDINATOR when this broker does not lead the
// partition, COORDINATOR_LOAD_IN_PROGRESS while it is loading.
func (c *Coordinator) shardFor(groupID string) (*shard, *kerr.Error) {
	s := c.shards[c.PartitionFor(groupID)]
	s.mu.Lock()
	switch s.status {
	case shardActive:
		return s, nil
	case shardLoading:
		s.mu.Unlock()
		return nil, kerr.CoordinatorLoadInProgress
	default:
		s.mu.Unlock()
		return nil, kerr.NotCoordinator
	}
}

type shardStatus uint8

const (
	shardUnowned shardStatus = iota
	shardLoading
	shardActive
)

// shard owns the state of one __consumer_offsets partition: its groups and
// offsets, its timers, and the order of its writes. Every field is guarded
// by mu; writes to the log happen with mu held, so the log's order is the
// order in which the state changed.
type shard struct {
	c  *Coordinator
	id int32

	mu       sync.Mutex
	status   shardStatus
	classic  map[string]*classicGroup
	consumer map[string]*consumerGroup
	// offsets: group -> topic -> partition.
	offsets map[string]map[string]map[int32]*offsetEntry
	// pendingTxn holds transactional offsets until their marker, by
	// producer id (txn_offsets.go).
	pendingTxn map[int64]pendingOffsets
	timers     map[timerKey]*shardTimer
	timerSeq   uint64
}

func newShard(c *Coordinator, id int32) *shard {
	s := &shard{c: c, id: id}
	s.reset()
	return s
}

// reset drops all state. REQUIRES: s.mu held (or s not yet shared).
func (s *shard) reset() {
	s.classic = map[string]*classicGroup{}
	s.consumer = map[string]*consumerGroup{}
	s.offsets = map[string]map[string]map[int32]*offsetEntry{}
	s.pendingTxn = map[int64]pendingOffsets{}
	for _, t := range s.timers {
		t.t.Stop()
	}
	s.timers = map[timerKey]*shardTimer{}
}

func (s *shard) load() error {
	s.mu.Lock()
	if s.c.closed.Load() || s.status != shardUnowned {
		st := s.status
		s.mu.Unlock()
		if st == shardUnowned {
			return errors.New("group coordinator is closed")
		}
		return nil
	}
	s.status = shardLoading
	s.mu.Unlock()

	// Replay into a private shard, without s.mu, so requests meanwhile
	// are answered COORDINATOR_LOAD_IN_PROGRESS instead of waiting.
	tmp := newShard(s.c, s.id)
	err := s.c.log.Replay(s.id, tmp.replayBatch)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != shardLoading {
		// Unloaded (or the coordinator closed) while loading.
		return errors.New("partition unloaded while loading")
	}
	if err != nil {
		s.status = shardUnowned
		return fmt.Errorf("loading __consumer_offsets-%d: %w", s.id, err)
	}
	s.reset()
	s.classic, s.consumer, s.offsets, s.pendingTxn = tmp.classic, tmp.consumer, tmp.offsets, tmp.pendingTxn
	s.onLoaded()
	s.status = shardActive
	return nil
}

func (s *shard) unload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWaiters(kerr.NotCoordinator)
	s.reset()
	s.status = shardUnowned
}

func (s *shard) now() time.Time { return s.c.clock.Now() }
func (s *shard) nowMs() int64   { return s.c.clock.Now().UnixMilli() }

// write appends records to the partition as one batch. It does not
// change the state: callers apply what was written once it succeeded.
// REQUIRES: s.mu held.
func (s *shard) write(recs []coordRecord) error {
	if len(recs) == 0 {
		return nil
	}
	batch, err := buildBatch(recs, s.nowMs())
	if err != nil {
		return err
	}
	if len(batch) > s.c.cfg.MaxBatchBytes {
		return fmt.Errorf("%w: %d-byte batch is larger than %d bytes", errBatchTooLarge, len(batch), s.c.cfg.MaxBatchBytes)
	}
	return s.c.log.Append(s.id, batch)
}

var errBatchTooLarge = errors.New("__consumer_offsets write too large")

// commit writes records and applies them to the state, the same way a
// load replays them. REQUIRES: s.mu held.
func (s *shard) commit(recs []coordRecord) error {
	if err := s.write(recs); err != nil {
		s.c.logger.Warn("writing to __consumer_offsets failed", "partition", s.id, "records", len(recs), "err", err)
		return err
	}
	for _, r := range recs {
		s.replay(r)
	}
	return nil
}

// writeError is the error code a request gets when its write failed, as
// Kafka's appendGroupMetadataErrorToResponseError maps them: a record too
// large for the log is UNKNOWN_SERVER_ERROR, anything else
// COORDINATOR_NOT_AVAILABLE (retriable: the client finds the coordinator
// again).
func writeError(err error) *kerr.Error {
	if errors.Is(err, errBatchTooLarge) {
		return kerr.UnknownServerError
	}
	return kerr.CoordinatorNotAvailable
}

// timerKind names what a timer is for; with the group and member it keys
// the timer, and scheduling a key again replaces the previous timer.
type timerKind uint8

const (
	timerJoin       timerKind = iota // classic: end of the join phase
	timerHeartbeat                   // classic: a member's session
	timerSync                        // classic: members that did not sync
	timerSession                     // consumer: a member's session
	timerRevocation                  // consumer: a member's rebalance timeout
	timerExpiry                      // the periodic offset expiry
)

type timerKey struct {
	kind   timerKind
	group  string
	member string
}

type shardTimer struct {
	seq uint64
	t   Timer
}

// schedule runs fn with s.mu held after d, unless the key is scheduled
// again or cancelled first. REQUIRES: s.mu held.
func (s *shard) schedule(k timerKey, d time.Duration, fn func()) {
	s.cancel(k)
	s.timerSeq++
	seq := s.timerSeq
	st := &shardTimer{seq: seq}
	s.timers[k] = st
	st.t = s.c.clock.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		// A timer that fired while being replaced or cancelled finds a
		// different entry (or none) and does nothing.
		if cur := s.timers[k]; cur == nil || cur.seq != seq || s.status != shardActive {
			return
		}
		delete(s.timers, k)
		fn()
	})
}

// cancel stops a timer. REQUIRES: s.mu held.
func (s *shard) cancel(k timerKey) {
	if t := s.timers[k]; t != nil {
		t.t.Stop()
		delete(s.timers, k)
	}
}

// cancelGroupTimers stops every timer of a group. REQUIRES: s.mu held.
func (s *shard) cancelGroupTimers(group string) {
	for k, t := range s.timers {
		if k.group == group && k.kind != timerExpiry {
			t.t.Stop()
			delete(s.timers, k)
		}
	}
}

// onLoaded starts what a loaded partition runs: member sessions, and the
// periodic offset expiry. REQUIRES: s.mu held.
func (s *shard) onLoaded() {
	for _, g := range s.classic {
		for _, m := range g.members {
			s.rescheduleHeartbeat(g, m, 0)
		}
	}
	for _, g := range s.consumer {
		for _, m := range g.members {
			s.scheduleSessionTimeout(g, m)
			if m.state == memberUnrevokedPartitions {
				s.scheduleRevocationTimeout(g, m)
			}
		}
	}
	s.scheduleExpiry()
}

// newMemberID returns Kafka's form of a member id: the client id (or the
// group instance id of a static member), a dash and a random UUID.
func newMemberID(prefix string) string {
	return prefix + "-" + randomUUID()
}

func randomUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
