package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Log is the coordinator's view of the __transaction_state partitions;
// the broker implements it over its partition logs.
type Log interface {
	// Append writes one record batch (base offset 0) to partition p and
	// returns once it is as durable as an acks=all produce.
	Append(p int32, batch []byte) error
	// Replay calls fn with every batch of partition p, in offset order.
	Replay(p int32, fn func(batch []byte) error) error
}

// Markers writes transaction markers to the partitions of a transaction,
// through their leaders.
type Markers interface {
	// WriteMarkers writes a COMMIT (commit) or ABORT marker of the
	// producer to each partition, and returns the partitions it could
	// not write (they are tried again).
	WriteMarkers(producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool, parts []TopicPartition) []TopicPartition
}

// ProducerIDs hands out producer ids no other broker hands out.
type ProducerIDs interface {
	Next(ctx context.Context) (int64, error)
}

// Topics tells the partition count of a topic, to check the partitions a
// transaction adds.
type Topics interface {
	Partitions(topic string) (int32, bool)
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Config is the coordinator's configuration; the comments name the Kafka
// broker properties the fields come from. Zero fields take Kafka's
// defaults.
type Config struct {
	NumPartitions   int32         // transaction.state.log.num.partitions (50)
	MaxTimeout      time.Duration // transaction.max.timeout.ms (900000)
	IDExpiration    time.Duration // transactional.id.expiration.ms (604800000)
	AbortInterval   time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms (10000)
	ExpiryInterval  time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms (3600000)
	MarkerRetry     time.Duration // backoff between attempts to write markers (100 ms)
	MaxBatchBytes   int           // max.message.bytes of __transaction_state
	Now             func() time.Time
	Logger          *slog.Logger
	DisableSchedule bool // no background aborts and expiry (tests drive them)
}

func (c Config) withDefaults() Config {
	if c.NumPartitions <= 0 {
		c.NumPartitions = 50
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = 15 * time.Minute
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = 7 * 24 * time.Hour
	}
	if c.AbortInterval <= 0 {
		c.AbortInterval = 10 * time.Second
	}
	if c.ExpiryInterval <= 0 {
		c.ExpiryInterval = time.Hour
	}
	if c.MarkerRetry <= 0 {
		c.MarkerRetry = 100 * time.Millisecond
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 1048588
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Coordinator is the transaction coordinator of one broker: the
// transactional ids of the __transaction_state partitions it leads. Each
// partition's state is a shard with its own mutex; markers are written
// without it, by goroutines the coordinator owns.
type Coordinator struct {
	cfg     Config
	log     Log
	markers Markers
	pids    ProducerIDs
	topics  Topics
	logger  *slog.Logger
	shards  []*shard

	closed atomic.Bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// New returns a coordinator that leads no partition yet; Load makes it
// serve one. Unless cfg.DisableSchedule, it aborts timed-out
// transactions and expires idle transactional ids in the background
// until Close.
func New(cfg Config, log Log, markers Markers, pids ProducerIDs, topics Topics) *Coordinator {
	cfg = cfg.withDefaults()
	c := &Coordinator{cfg: cfg, log: log, markers: markers, pids: pids, topics: topics, logger: cfg.Logger, stop: make(chan struct{})}
	c.shards = make([]*shard, cfg.NumPartitions)
	for i := range c.shards {
		c.shards[i] = &shard{c: c, id: int32(i), txns: map[string]*txnMeta{}}
	}
	if !cfg.DisableSchedule {
		c.wg.Add(2)
		go c.every(cfg.AbortInterval, c.AbortTimedOut)
		go c.every(cfg.ExpiryInterval, c.ExpireIDs)
	}
	return c
}

func (c *Coordinator) every(d time.Duration, fn func()) {
	defer c.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// Close stops the background work and the marker writers, and unloads
// every partition.
func (c *Coordinator) Close() {
	if c.closed.Swap(true) {
		return
	}
	close(c.stop)
	for _, s := range c.shards {
		s.unload()
	}
	c.wg.Wait()
}

// NumPartitions is the number of __transaction_state partitions.
func (c *Coordinator) NumPartitions() int32 { return c.cfg.NumPartitions }

// PartitionFor is the __transaction_state partition of a transactional
// id: abs(hashCode(id)) % partitions, with Java's String.hashCode.
func PartitionFor(transactionalID string, partitions int32) int32 {
	var h int32
	for _, r := range utf16Units(transactionalID) {
		h = 31*h + int32(r)
	}
	if h == math.MinInt32 {
		return 0 // Kafka's Utils.abs maps MinValue to 0
	}
	if h < 0 {
		h = -h
	}
	return h % partitions
}

// utf16Units are the UTF-16 code units of s, which Java's hashCode sums.
func utf16Units(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}

// txnMeta is the state of one transactional id (Kafka's
// TransactionMetadata).
type txnMeta struct {
	id string
	// producerID and epoch are current; prevProducerID and prevEpoch
	// are the producer's before the last bump (of InitProducerId, a
	// transactions v2 EndTxn, or an epoch overflow that gave a new id),
	// so a client retrying InitProducerId (KIP-360) or EndTxn (KIP-890)
	// after a lost response is recognised. nextProducerID is the id a
	// prepared transactions v2 end moves to when the epoch overflowed,
	// -1 otherwise.
	producerID     int64
	prevProducerID int64
	nextProducerID int64
	epoch          int16
	prevEpoch      int16
	// clientVersion is the transaction version of the EndTxn that
	// prepared the transaction: 2 when it bumped the epoch (KIP-890 part
	// 2), 0 for transactions v1 and for aborts the coordinator starts.
	clientVersion int16
	timeoutMs     int32
	state         kmsg.TransactionState
	parts         map[TopicPartition]struct{}
	startMs       int64 // when the ongoing transaction began, -1 if none
	updateMs      int64
	// done is closed when the markers of the prepared transaction are
	// written; nil when none was started by this leadership.
	done chan struct{}
}

func (m *txnMeta) clone() *txnMeta {
	n := *m
	n.parts = make(map[TopicPartition]struct{}, len(m.parts))
	for tp := range m.parts {
		n.parts[tp] = struct{}{}
	}
	return &n
}

func (m *txnMeta) sortedParts() []TopicPartition {
	out := make([]TopicPartition, 0, len(m.parts))
	for tp := range m.parts {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

type shardStatus uint8

const (
	shardUnowned shardStatus = iota
	shardLoading
	shardActive
)

// shard owns the transactional ids of one __transaction_state partition.
// mu guards every field; writes to the log happen with it held, so the
// log's order is the order of the state changes.
type shard struct {
	c  *Coordinator
	id int32

	mu     sync.Mutex
	status shardStatus
	// coordEpoch is the leader epoch of the partition this broker loaded
	// it in; markers carry it.
	coordEpoch int32
	// gen changes at every load and unload, so a marker writer of an
	// earlier leadership stops.
	gen  uint64
	txns map[string]*txnMeta
	// completion is closed when the markers of the transaction prepared
	// last are written.
	completion chan struct{}
}

// shardFor returns the shard of a transactional id, locked, or the error
// that answers the request.
func (c *Coordinator) shardFor(id string) (*shard, *kerr.Error) {
	s := c.shards[PartitionFor(id, c.cfg.NumPartitions)]
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

// Load replays partition p of __transaction_state, led in leader epoch
// coordEpoch, and then serves its transactional ids; transactions found
// prepared get their markers written again.
func (c *Coordinator) Load(p int32, coordEpoch int32) error {
	if p < 0 || int(p) >= len(c.shards) {
		return fmt.Errorf("__transaction_state partition %d out of range", p)
	}
	s := c.shards[p]
	s.mu.Lock()
	if c.closed.Load() || s.status != shardUnowned {
		s.mu.Unlock()
		return nil
	}
	s.status = shardLoading
	s.gen++
	gen := s.gen
	s.mu.Unlock()

	txns := map[string]*txnMeta{}
	err := c.log.Replay(p, func(batch []byte) error {
		return eachRecord(batch, func(id string, m *txnMeta) {
			if m == nil {
				delete(txns, id)
			} else {
				txns[id] = m
			}
		})
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != shardLoading || s.gen != gen {
		return errors.New("partition unloaded while loading")
	}
	if err != nil {
		s.status = shardUnowned
		return fmt.Errorf("loading __transaction_state-%d: %w", p, err)
	}
	s.txns, s.coordEpoch, s.status = txns, coordEpoch, shardActive
	for _, m := range txns {
		if m.state == kmsg.TransactionStatePrepareCommit || m.state == kmsg.TransactionStatePrepareAbort {
			s.startCompletion(m)
		}
	}
	return nil
}

// Unload stops serving partition p.
func (c *Coordinator) Unload(p int32) {
	if p >= 0 && int(p) < len(c.shards) {
		c.shards[p].unload()
	}
}

func (s *shard) unload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = shardUnowned
	s.gen++
	s.txns = map[string]*txnMeta{}
}

// write persists m's new state. REQUIRES: s.mu held.
func (s *shard) write(m *txnMeta) error {
	b, err := buildBatch(m.id, m, s.c.cfg.Now().UnixMilli())
	if err != nil {
		return err
	}
	if len(b) > s.c.cfg.MaxBatchBytes {
		return fmt.Errorf("transaction state of %d bytes exceeds the %d bytes of a batch", len(b), s.c.cfg.MaxBatchBytes)
	}
	return s.c.log.Append(s.id, b)
}

// writeError is what a request whose write failed is answered: the
// coordinator may have lost the partition; the client finds it again.
func writeError(err error) *kerr.Error {
	var ke *kerr.Error
	if errors.As(err, &ke) && (ke == kerr.NotLeaderForPartition || ke == kerr.NotCoordinator) {
		return kerr.NotCoordinator
	}
	return kerr.CoordinatorNotAvailable
}

// fencedError is the error for a stale producer epoch: PRODUCER_FENCED
// (KIP-588) for clients that know it, INVALID_PRODUCER_EPOCH before.
func fencedError(knowsFenced bool) *kerr.Error {
	if knowsFenced {
		return kerr.ProducerFenced
	}
	return kerr.InvalidProducerEpoch
}

// InitProducerIDResult is InitProducerId's answer.
type InitProducerIDResult struct {
	ProducerID int64
	Epoch      int16
}

// InitProducerID serves InitProducerId with a transactional id: a new id
// gets a producer id; a known one gets its epoch bumped, which fences any
// older producer with the same transactional id. An ongoing transaction
// is aborted first (CONCURRENT_TRANSACTIONS until its markers are
// written). pid and epoch are the producer's current ones (-1 if none,
// KIP-360); knowsFenced is set for request versions that have
// PRODUCER_FENCED.
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeoutMs int32, pid int64, epoch int16, knowsFenced bool) (InitProducerIDResult, *kerr.Error) {
	none := InitProducerIDResult{ProducerID: -1, Epoch: -1}
	if timeoutMs <= 0 || time.Duration(timeoutMs)*time.Millisecond > c.cfg.MaxTimeout {
		return none, kerr.InvalidTransactionTimeout
	}
	s, kerrv := c.shardFor(id)
	if kerrv != nil {
		return none, kerrv
	}
	m := s.txns[id]
	if m == nil {
		s.mu.Unlock()
		// Allocation talks to the metadata store: not under the lock.
		newID, err := c.pids.Next(ctx)
		if err != nil {
			return none, kerr.CoordinatorNotAvailable
		}
		if s, kerrv = c.shardFor(id); kerrv != nil {
			return none, kerrv
		}
		if m = s.txns[id]; m == nil {
			now := c.cfg.Now().UnixMilli()
			n := &txnMeta{id: id, producerID: newID, prevProducerID: -1, nextProducerID: -1, epoch: 0, prevEpoch: -1, timeoutMs: timeoutMs,
				state: kmsg.TransactionStateEmpty, parts: map[TopicPartition]struct{}{}, startMs: -1, updateMs: now}
			if err := s.write(n); err != nil {
				s.mu.Unlock()
				return none, writeError(err)
			}
			s.txns[id] = n
			s.mu.Unlock()
			return InitProducerIDResult{ProducerID: newID, Epoch: 0}, nil
		}
	}
	defer s.mu.Unlock()
	if pid >= 0 {
		switch {
		case pid == m.producerID && (epoch == m.epoch || epoch == m.prevEpoch):
		case pid == m.prevProducerID && epoch == m.prevEpoch:
		case pid != m.producerID && pid != m.prevProducerID:
			return none, kerr.InvalidProducerIDMapping
		default:
			return none, fencedError(knowsFenced)
		}
	}
	switch m.state {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		return none, kerr.ConcurrentTransactions
	case kmsg.TransactionStateOngoing:
		// Fence the current producer and abort its transaction; the
		// client retries once the markers are written.
		if err := s.prepareEnd(m, false, true); err != nil {
			return none, err
		}
		return none, kerr.ConcurrentTransactions
	}
	n := m.clone()
	n.prevProducerID, n.prevEpoch = m.producerID, m.epoch
	if m.epoch >= math.MaxInt16-1 {
		// The epoch would overflow: a new producer id, epoch 0.
		s.mu.Unlock()
		newID, err := c.pids.Next(ctx)
		s.mu.Lock()
		if err != nil {
			return none, kerr.CoordinatorNotAvailable
		}
		if s.txns[id] != m {
			return none, kerr.ConcurrentTransactions
		}
		n.producerID, n.epoch = newID, 0
	} else {
		n.epoch = m.epoch + 1
	}
	n.timeoutMs, n.state, n.parts, n.startMs = timeoutMs, kmsg.TransactionStateEmpty, map[TopicPartition]struct{}{}, -1
	n.updateMs = c.cfg.Now().UnixMilli()
	if err := s.write(n); err != nil {
		return none, writeError(err)
	}
	s.txns[id] = n
	return InitProducerIDResult{ProducerID: n.producerID, Epoch: n.epoch}, nil
}

// checkProducer checks a request's producer id and epoch against the
// transactional id's. REQUIRES: s.mu held.
func (s *shard) checkProducer(id string, pid int64, epoch int16, knowsFenced bool) (*txnMeta, *kerr.Error) {
	m := s.txns[id]
	switch {
	case m == nil || m.producerID != pid:
		return nil, kerr.InvalidProducerIDMapping
	case m.epoch != epoch:
		return nil, fencedError(knowsFenced)
	}
	return m, nil
}

// AddPartitions serves AddPartitionsToTxn (and AddOffsetsToTxn, whose
// partition is the group's __consumer_offsets partition): the partitions
// join the producer's transaction, which starts if none is ongoing. It
// returns an error for the whole request, or per partition (partitions
// of unknown topics get UNKNOWN_TOPIC_OR_PARTITION, the others
// OPERATION_NOT_ATTEMPTED).
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, parts []TopicPartition, knowsFenced bool) (map[TopicPartition]*kerr.Error, *kerr.Error) {
	var unknown []TopicPartition
	for _, tp := range parts {
		if n, ok := c.topics.Partitions(tp.Topic); !ok || tp.Partition < 0 || tp.Partition >= n {
			unknown = append(unknown, tp)
		}
	}
	if len(unknown) > 0 {
		errs := map[TopicPartition]*kerr.Error{}
		for _, tp := range parts {
			errs[tp] = kerr.OperationNotAttempted
		}
		for _, tp := range unknown {
			errs[tp] = kerr.UnknownTopicOrPartition
		}
		return errs, nil
	}
	s, kerrv := c.shardFor(id)
	if kerrv != nil {
		return nil, kerrv
	}
	defer s.mu.Unlock()
	m, kerrv := s.checkProducer(id, pid, epoch, knowsFenced)
	if kerrv != nil {
		return nil, kerrv
	}
	switch m.state {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		return nil, kerr.ConcurrentTransactions
	case kmsg.TransactionStateOngoing:
		all := true
		for _, tp := range parts {
			if _, ok := m.parts[tp]; !ok {
				all = false
			}
		}
		if all {
			return nil, nil
		}
	}
	n := m.clone()
	if n.state != kmsg.TransactionStateOngoing {
		n.state, n.startMs, n.parts = kmsg.TransactionStateOngoing, c.cfg.Now().UnixMilli(), map[TopicPartition]struct{}{}
	}
	for _, tp := range parts {
		n.parts[tp] = struct{}{}
	}
	n.updateMs = c.cfg.Now().UnixMilli()
	if err := s.write(n); err != nil {
		return nil, writeError(err)
	}
	s.txns[id] = n
	return nil, nil
}

// Verify reports whether every partition is in the producer's ongoing
// transaction, as a partition leader asks before taking the first
// transactional batch of a producer (KIP-890 part 1).
func (c *Coordinator) Verify(id string, pid int64, epoch int16, parts []TopicPartition) *kerr.Error {
	s, kerrv := c.shardFor(id)
	if kerrv != nil {
		return kerrv
	}
	defer s.mu.Unlock()
	m, kerrv := s.checkProducer(id, pid, epoch, true)
	if kerrv != nil {
		return kerrv
	}
	if m.state != kmsg.TransactionStateOngoing {
		return kerr.InvalidTxnState
	}
	for _, tp := range parts {
		if _, ok := m.parts[tp]; !ok {
			return kerr.InvalidTxnState
		}
	}
	return nil
}

// EndTxn serves EndTxn: the transaction is prepared (PrepareCommit or
// PrepareAbort written), its markers are written to every partition, and
// it completes (CompleteCommit or CompleteAbort). The call returns once
// the markers are written, or after wait if they could not be yet: they
// are then retried in the background, and the transactional id answers
// CONCURRENT_TRANSACTIONS until they are.
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit, knowsFenced bool, wait time.Duration) *kerr.Error {
	s, kerrv := c.shardFor(id)
	if kerrv != nil {
		return kerrv
	}
	m, kerrv := s.checkProducer(id, pid, epoch, knowsFenced)
	if kerrv != nil {
		s.mu.Unlock()
		return kerrv
	}
	switch m.state {
	case kmsg.TransactionStateOngoing:
	case kmsg.TransactionStateCompleteCommit:
		s.mu.Unlock()
		if commit {
			return nil // a retry of a commit that completed
		}
		return kerr.InvalidTxnState
	case kmsg.TransactionStateCompleteAbort:
		s.mu.Unlock()
		if !commit {
			return nil
		}
		return kerr.InvalidTxnState
	case kmsg.TransactionStatePrepareCommit:
		s.mu.Unlock()
		if commit {
			return kerr.ConcurrentTransactions
		}
		return kerr.InvalidTxnState
	case kmsg.TransactionStatePrepareAbort:
		s.mu.Unlock()
		if !commit {
			return kerr.ConcurrentTransactions
		}
		return kerr.InvalidTxnState
	default:
		s.mu.Unlock()
		return kerr.InvalidTxnState
	}
	if err := s.prepareEnd(m, commit, false); err != nil {
		s.mu.Unlock()
		return err
	}
	done := s.completion
	s.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-c.stop:
	}
	return nil
}

// EndResult is the producer id and epoch a transactions v2 EndTxn
// answers: those of the producer's next transaction.
type EndResult struct {
	ProducerID int64
	Epoch      int16
}

// EndTxnV2 serves EndTxn v5 (transactions v2, KIP-890 part 2): as EndTxn,
// but preparing the transaction bumps the producer epoch, the markers
// carry the bumped epoch so that nothing the producer sent at its old
// epoch can join a later transaction, and the answer is the producer's
// new id and epoch. At the epoch's limit (MaxInt16-1) the producer gets a
// new producer id with epoch 0. A request at the epoch before the bump,
// for the same outcome, is a retry of an end whose answer was lost: it
// gets that end's answer. Aborting with no transaction open is allowed
// and bumps the epoch too.
func (c *Coordinator) EndTxnV2(ctx context.Context, id string, pid int64, epoch int16, commit bool, wait time.Duration) (EndResult, *kerr.Error) {
	none := EndResult{ProducerID: -1, Epoch: -1}
	s, kerrv := c.shardFor(id)
	if kerrv != nil {
		return none, kerrv
	}
	m := s.txns[id]
	if m != nil && m.endedBy(pid, epoch) {
		if m.committed() != commit {
			s.mu.Unlock()
			return none, kerr.InvalidTxnState
		}
		return s.awaitEnd(m, wait)
	}
	m, kerrv = s.checkProducer(id, pid, epoch, true)
	if kerrv != nil {
		s.mu.Unlock()
		return none, kerrv
	}
	switch m.state {
	case kmsg.TransactionStateOngoing:
	case kmsg.TransactionStateEmpty, kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
		if commit {
			s.mu.Unlock()
			return none, kerr.InvalidTxnState
		}
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		// The client already has the bumped epoch and ends again
		// before the previous end completed.
		s.mu.Unlock()
		return none, kerr.ConcurrentTransactions
	default:
		s.mu.Unlock()
		return none, kerr.InvalidTxnState
	}
	nextID := int64(-1)
	if m.epoch >= math.MaxInt16-1 {
		// Allocation talks to the metadata store: not under the lock.
		s.mu.Unlock()
		newID, err := c.pids.Next(ctx)
		if err != nil {
			return none, kerr.CoordinatorNotAvailable
		}
		if s, kerrv = c.shardFor(id); kerrv != nil {
			return none, kerrv
		}
		if s.txns[id] != m {
			s.mu.Unlock()
			return none, kerr.ConcurrentTransactions
		}
		nextID = newID
	}
	n := m.clone()
	n.prevProducerID, n.prevEpoch, n.nextProducerID, n.clientVersion = m.producerID, m.epoch, nextID, 2
	n.epoch = min(m.epoch, math.MaxInt16-1) + 1
	n.state = kmsg.TransactionStatePrepareAbort
	if commit {
		n.state = kmsg.TransactionStatePrepareCommit
	}
	if m.state != kmsg.TransactionStateOngoing {
		n.parts, n.startMs = map[TopicPartition]struct{}{}, c.cfg.Now().UnixMilli()
	}
	n.updateMs = c.cfg.Now().UnixMilli()
	if err := s.write(n); err != nil {
		s.mu.Unlock()
		return none, writeError(err)
	}
	s.txns[id] = n
	s.startCompletion(n)
	return s.awaitEnd(n, wait)
}

// awaitEnd waits, up to wait, for the markers of m's end, which is
// prepared or complete, and answers the producer's next id and epoch.
// REQUIRES: s.mu held; it is released.
func (s *shard) awaitEnd(m *txnMeta, wait time.Duration) (EndResult, *kerr.Error) {
	res := EndResult{ProducerID: m.producerID, Epoch: m.epoch}
	if m.clientVersion >= 2 && m.nextProducerID >= 0 {
		res = EndResult{ProducerID: m.nextProducerID, Epoch: 0}
	}
	var done chan struct{}
	if m.state == kmsg.TransactionStatePrepareCommit || m.state == kmsg.TransactionStatePrepareAbort {
		done = m.done
	}
	s.mu.Unlock()
	if done == nil {
		return res, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-s.c.stop:
	}
	return res, nil
}

// endedBy reports whether m's transaction was prepared by a transactions
// v2 EndTxn of producer pid at epoch, the one before the bump, and is
// prepared or complete: a request with them retries that end.
func (m *txnMeta) endedBy(pid int64, epoch int16) bool {
	switch m.state {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort,
		kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
	default:
		return false
	}
	return m.clientVersion >= 2 && pid == m.prevProducerID && epoch == m.prevEpoch && pid >= 0
}

// committed reports whether m's prepared or completed transaction
// commits.
func (m *txnMeta) committed() bool {
	return m.state == kmsg.TransactionStatePrepareCommit || m.state == kmsg.TransactionStateCompleteCommit
}

// prepareEnd writes PrepareCommit or PrepareAbort (with fence, the epoch
// is bumped first so the current producer is fenced) and starts writing
// the markers; s.completion is closed when they are done.
// REQUIRES: s.mu held.
func (s *shard) prepareEnd(m *txnMeta, commit, fence bool) *kerr.Error {
	n := m.clone()
	if fence {
		if m.epoch == math.MaxInt16 {
			return kerr.InvalidProducerEpoch
		}
		n.prevEpoch, n.epoch = m.epoch, m.epoch+1
	}
	n.state = kmsg.TransactionStatePrepareAbort
	if commit {
		n.state = kmsg.TransactionStatePrepareCommit
	}
	n.clientVersion, n.nextProducerID = 0, -1
	n.updateMs = s.c.cfg.Now().UnixMilli()
	if err := s.write(n); err != nil {
		return writeError(err)
	}
	s.txns[m.id] = n
	s.startCompletion(n)
	return nil
}

// startCompletion starts the goroutine that writes m's markers and then
// completes it. REQUIRES: s.mu held.
func (s *shard) startCompletion(m *txnMeta) {
	done := make(chan struct{})
	s.completion, m.done = done, done
	gen, coordEpoch := s.gen, s.coordEpoch
	commit := m.state == kmsg.TransactionStatePrepareCommit
	parts := m.sortedParts()
	s.c.wg.Add(1)
	go func() {
		defer s.c.wg.Done()
		defer close(done)
		s.complete(m.id, m.producerID, m.epoch, coordEpoch, commit, parts, gen)
	}()
}

// complete writes the markers, retrying until every partition has one
// or this leadership ends, then writes the completed state.
func (s *shard) complete(id string, pid int64, epoch int16, coordEpoch int32, commit bool, parts []TopicPartition, gen uint64) {
	c := s.c
	for len(parts) > 0 {
		parts = c.markers.WriteMarkers(pid, epoch, coordEpoch, commit, parts)
		if len(parts) == 0 {
			break
		}
		c.logger.Warn("writing transaction markers failed; retrying", "transactional_id", id, "partitions", len(parts))
		select {
		case <-c.stop:
			return
		case <-time.After(c.cfg.MarkerRetry):
		}
		s.mu.Lock()
		stale := s.gen != gen
		s.mu.Unlock()
		if stale {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.txns[id]
	if s.gen != gen || m == nil || m.producerID != pid || m.epoch != epoch {
		return
	}
	want := kmsg.TransactionStatePrepareAbort
	if commit {
		want = kmsg.TransactionStatePrepareCommit
	}
	if m.state != want {
		return
	}
	n := m.clone()
	n.state = kmsg.TransactionStateCompleteAbort
	if commit {
		n.state = kmsg.TransactionStateCompleteCommit
	}
	if m.clientVersion >= 2 && m.nextProducerID >= 0 {
		// A transactions v2 end that overflowed the epoch: the
		// producer continues under the id allocated at prepare.
		n.producerID, n.epoch, n.nextProducerID = m.nextProducerID, 0, -1
	}
	n.parts, n.startMs, n.updateMs = map[TopicPartition]struct{}{}, -1, c.cfg.Now().UnixMilli()
	if err := s.write(n); err != nil {
		// The transaction is decided and its markers written; a new
		// leader of the partition completes it from the prepared state.
		c.logger.Warn("writing a completed transaction failed", "transactional_id", id, "err", err)
		return
	}
	s.txns[id] = n
}

// AbortTimedOut aborts every ongoing transaction older than its timeout,
// bumping the producer's epoch so that the producer is fenced, as Kafka's
// coordinator does every
// transaction.abort.timed.out.transaction.cleanup.interval.ms.
func (c *Coordinator) AbortTimedOut() {
	now := c.cfg.Now().UnixMilli()
	for _, s := range c.shards {
		s.mu.Lock()
		if s.status == shardActive {
			for _, m := range s.txns {
				if m.state == kmsg.TransactionStateOngoing && now-m.startMs > int64(m.timeoutMs) {
					c.logger.Info("aborting a timed-out transaction", "transactional_id", m.id, "producer_id", m.producerID)
					if err := s.prepareEnd(m, false, true); err != nil {
						c.logger.Warn("aborting a timed-out transaction failed", "transactional_id", m.id, "err", err)
					}
				}
			}
		}
		s.mu.Unlock()
	}
}

// ExpireIDs forgets transactional ids without a transaction for
// transactional.id.expiration.ms, writing a tombstone for each.
func (c *Coordinator) ExpireIDs() {
	now := c.cfg.Now().UnixMilli()
	expiry := c.cfg.IDExpiration.Milliseconds()
	for _, s := range c.shards {
		s.mu.Lock()
		if s.status == shardActive {
			for id, m := range s.txns {
				switch m.state {
				case kmsg.TransactionStateEmpty, kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
				default:
					continue
				}
				if now-m.updateMs < expiry {
					continue
				}
				b, err := buildBatch(id, nil, now)
				if err == nil {
					err = c.log.Append(s.id, b)
				}
				if err != nil {
					c.logger.Warn("expiring a transactional id failed", "transactional_id", id, "err", err)
					continue
				}
				delete(s.txns, id)
			}
		}
		s.mu.Unlock()
	}
}

// Description is a transactional id's state, for DescribeTransactions and
// ListTransactions.
type Description struct {
	ID         string
	State      kmsg.TransactionState
	ProducerID int64
	Epoch      int16
	TimeoutMs  int32
	StartMs    int64
	Partitions []TopicPartition
}

func describe(m *txnMeta) Description {
	return Description{ID: m.id, State: m.state, ProducerID: m.producerID, Epoch: m.epoch,
		TimeoutMs: m.timeoutMs, StartMs: m.startMs, Partitions: m.sortedParts()}
}

// Describe returns a transactional id's state: NOT_COORDINATOR (or
// loading) when this broker does not hold it, TRANSACTIONAL_ID_NOT_FOUND
// when no such id exists.
func (c *Coordinator) Describe(id string) (Description, *kerr.Error) {
	s, kerrv := c.shardFor(id)
	if kerrv != nil {
		return Description{}, kerrv
	}
	defer s.mu.Unlock()
	m := s.txns[id]
	if m == nil {
		return Description{}, kerr.TransactionalIDNotFound
	}
	return describe(m), nil
}

// List returns the transactional ids of every loaded partition that pass
// the filter, sorted by id.
func (c *Coordinator) List(keep func(Description) bool) []Description {
	var out []Description
	for _, s := range c.shards {
		s.mu.Lock()
		if s.status == shardActive {
			for _, m := range s.txns {
				if d := describe(m); keep(d) {
					out = append(out, d)
				}
			}
		}
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Now is the coordinator's clock.
func (c *Coordinator) Now() time.Time { return c.cfg.Now() }
