package kafka

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/samsa-io/samsa/internal/record"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// pendingRecord is a serialized record waiting in a batch for its answer.
type pendingRecord struct {
	key, value []byte
	headers    []record.RecordHeader
	timestamp  int64 // ms since the epoch
	keySize    int   // -1 for a null key
	valueSize  int   // -1 for a null value
	size       int   // estimated bytes, held in buffer.memory
	// offsetDelta is the record's position in its batch.
	offsetDelta int32
	// complete delivers the outcome: interceptors, callback, future.
	complete func(RecordMetadata, error)
}

type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s-%d", tp.topic, tp.partition) }

// batch is one partition's record batch, from its first append to its
// answer (Java's ProducerBatch). While it sits in its partition's queue it
// belongs to the accumulator (mutex held); once drained into a request it
// belongs to that node's sender until the response is handled.
type batch struct {
	tp      topicPartition
	builder *record.Builder
	recs    []*pendingRecord
	memory  int64 // bytes held in buffer.memory
	created time.Time
	// full batches take no more records (batch.size reached, or a record
	// did not fit and started the next batch).
	full bool

	attempts int       // retries so far
	retryAt  time.Time // not sent again before this (retry.backoff.ms)

	// Idempotence: the producer id, epoch and base sequence the batch is
	// built with; seq is -1 until the batch is first drained.
	pid   int64
	epoch int16
	seq   int32
	// wire is the encoded batch, built when first drained and reused by
	// retries so that a retry carries the same bytes and sequence.
	wire []byte

	inRequest bool // in a produce request not answered yet
	finished  bool // its records have their outcome
	done      chan struct{}
	// onDone, if set, runs after done is closed: a batch split in two
	// closes its own done once both halves are done.
	onDone func()
}

// completion is a finished batch whose records still need their outcome
// delivered, which happens outside the accumulator's lock.
type completion struct {
	b          *batch
	baseOffset int64
	appendTime int64 // LogAppendTime, or -1
	err        error
}

// partitionState is the accumulator's state for one partition.
type partitionState struct {
	tp    topicPartition
	queue []*batch // oldest first; the last one may still take records

	// inFlight are the batches of the partition in unanswered requests.
	inFlight []*batch
	// Idempotence (Java's TxnPartitionEntry): the next sequence to assign,
	// and the batches with a sequence from the oldest one without an
	// outcome on, in sequence order (sent, waiting to be retried, or done
	// but after one that is not). sequenced[0] is never finished. Keeping
	// the finished ones bounds how many batches are written after the
	// oldest unresolved one: the broker recognises a retry as a duplicate
	// only among the last 5 batches it wrote.
	nextSeq   int32
	sequenced []*batch
}

// memoryPool bounds the bytes of records waiting to be sent
// (buffer.memory, Java's BufferPool). Sends that do not fit wait in FIFO
// order for up to max.block.ms. Its mutex is a leaf.
type memoryPool struct {
	mu      sync.Mutex
	total   int64
	avail   int64        // REQUIRES: mu held
	waiters []*memWaiter // REQUIRES: mu held
	// onWait is called when a Send starts waiting: Java's accumulator
	// then sends every batch at once, lingering or not, to free memory.
	onWait func()
}

type memWaiter struct {
	n       int64
	granted bool
	ch      chan struct{}
}

func (m *memoryPool) acquire(ctx context.Context, closing <-chan struct{}, n int64, deadline time.Time, maxBlock time.Duration) error {
	m.mu.Lock()
	if len(m.waiters) == 0 && m.avail >= n {
		m.avail -= n
		m.mu.Unlock()
		return nil
	}
	w := &memWaiter{n: n, ch: make(chan struct{})}
	m.waiters = append(m.waiters, w)
	m.mu.Unlock()
	if m.onWait != nil {
		m.onWait()
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var err error
	select {
	case <-w.ch:
		return nil
	case <-timer.C:
		err = nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-closing:
		err = ErrProducerClosed
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.granted {
		return nil
	}
	if err == nil {
		err = wrapErr(ErrBufferExhausted,
			"failed to allocate %d bytes within max.block.ms (%v): buffer.memory (%d bytes) is full of records waiting to be sent (%d bytes free); raise buffer.memory or max.block.ms, or send less",
			n, maxBlock, m.total, m.avail)
	}
	if i := slices.Index(m.waiters, w); i >= 0 {
		m.waiters = slices.Delete(m.waiters, i, i+1)
	}
	m.grantLocked()
	return err
}

func (m *memoryPool) release(n int64) {
	if n == 0 {
		return
	}
	m.mu.Lock()
	m.avail += n
	m.grantLocked()
	m.mu.Unlock()
}

// REQUIRES: m.mu held.
func (m *memoryPool) grantLocked() {
	for len(m.waiters) > 0 && m.avail >= m.waiters[0].n {
		w := m.waiters[0]
		m.waiters = m.waiters[1:]
		m.avail -= w.n
		w.granted = true
		close(w.ch)
	}
}

func (m *memoryPool) exhausted() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters) > 0
}

// accumulator holds the batches of every partition until senders drain
// them (Java's RecordAccumulator), and the idempotent producer's state
// (Java's TransactionManager, for producer ids and sequences).
//
// Lock order: accumulator.mu, then memoryPool.mu. Nothing is called with
// mu held that takes another lock of the producer, and no network I/O or
// user code runs with it held.
type accumulator struct {
	cfg  *producerConfig
	pool *memoryPool
	// batchLimit is batch.size, but no more than max.request.size.
	batchLimit int

	wakeNode    func(node int32) // wakes one broker's sender, or all for -1
	wakeManager func()
	onNewBatch  func()

	mu         sync.Mutex
	parts      map[topicPartition]*partitionState // REQUIRES: mu held
	sticky     map[string]*stickyState            // REQUIRES: mu held
	rng        *rand.Rand                         // REQUIRES: mu held
	incomplete int                                // unfinished batches; REQUIRES: mu held
	idle       chan struct{}                      // closed when incomplete reaches 0; REQUIRES: mu held
	flushing   int                                // Flush calls in progress; REQUIRES: mu held
	closing    bool                               // Close: send everything now; REQUIRES: mu held
	closed     bool                               // Close: take no more records; REQUIRES: mu held
	// lastAccepted is, per broker, when it last accepted a produce
	// (partitioner.availability.timeout.ms). REQUIRES: mu held
	lastAccepted map[int32]time.Time

	// Idempotent producer state. REQUIRES: mu held
	idempotent       bool
	pid              int64
	epoch            int16
	pidReady         bool
	bumpNeeded       bool
	fatal            error
	requestsInFlight int
}

func newAccumulator(cfg *producerConfig, pool *memoryPool) *accumulator {
	return &accumulator{
		cfg:          cfg,
		pool:         pool,
		batchLimit:   min(cfg.batchSize, cfg.maxRequest),
		parts:        map[topicPartition]*partitionState{},
		sticky:       map[string]*stickyState{},
		rng:          rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		lastAccepted: map[int32]time.Time{},
		idempotent:   cfg.idempotent,
		pid:          -1,
		epoch:        -1,
	}
}

// recordOverhead is the most a record adds beyond its key, value and
// headers: length, attributes, timestamp and offset deltas, key and value
// lengths, header count (Java's DefaultRecord.MAX_RECORD_OVERHEAD).
const recordOverhead = 21

// estimateSize is an upper bound of a record's bytes in a batch, plus the
// batch header, as Java's AbstractRecords.estimateSizeInBytesUpperBound;
// it is checked against max.request.size and buffer.memory.
func estimateSize(key, value []byte, headers []record.RecordHeader) int {
	n := record.HeaderSize + recordOverhead + len(key) + len(value)
	for _, h := range headers {
		n += record.VarintLen(int64(len(h.Key))) + len(h.Key) + record.VarintLen(int64(len(h.Value))) + len(h.Value)
	}
	return n
}

// REQUIRES: a.mu held.
func (a *accumulator) partition(tp topicPartition) *partitionState {
	ps := a.parts[tp]
	if ps == nil {
		ps = &partitionState{tp: tp}
		a.parts[tp] = ps
	}
	return ps
}

// append adds a record to its partition's open batch or a new one and
// returns the partition. partition < 0 lets the uniform sticky partitioner
// choose (records without a key, or partitioner.ignore.keys).
func (a *accumulator) append(topic string, partition int32, rec *pendingRecord, size int, cl *Cluster) (int32, error) {
	now := time.Now()
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return partition, wrapErr(ErrProducerClosed, "cannot send after the producer is closed")
	}
	if a.fatal != nil {
		err := a.fatal
		a.mu.Unlock()
		return partition, err
	}
	var st *stickyState
	if partition < 0 {
		st = a.stickyFor(topic, cl, now)
		partition = st.partition
	}
	ps := a.partition(topicPartition{topic, partition})
	var b *batch
	newBatch := false
	if n := len(ps.queue); n > 0 {
		last := ps.queue[n-1]
		if !last.full && last.builder.UncompressedSize()+size-record.HeaderSize <= a.batchLimit {
			b = last
		} else {
			last.full = true
		}
	}
	if b == nil {
		b = &batch{
			tp:      ps.tp,
			builder: record.NewBuilder(a.cfg.codec),
			created: now,
			pid:     -1,
			epoch:   -1,
			seq:     -1,
			done:    make(chan struct{}),
		}
		ps.queue = append(ps.queue, b)
		a.incomplete++
		newBatch = true
	}
	rec.offsetDelta = int32(b.builder.Len())
	b.builder.Add(rec.timestamp, record.Record{Key: rec.key, Value: rec.value, Headers: rec.headers})
	b.recs = append(b.recs, rec)
	b.memory += int64(size)
	if b.builder.UncompressedSize() >= a.batchLimit {
		b.full = true
	}
	if st != nil {
		// KIP-794: move on after batch.size bytes, once the batch is
		// full (so we do not leave a half-filled batch behind), or after
		// twice that regardless.
		st.producedBytes += size
		if st.producedBytes >= a.cfg.batchSize && (b.full || st.producedBytes >= 2*a.cfg.batchSize) {
			st.partition = -1
		}
	}
	leader := cl.leaderID(topic, partition)
	full := b.full
	a.mu.Unlock()
	if newBatch || full {
		a.wakeNode(leader)
	}
	if newBatch {
		a.onNewBatch()
	}
	return partition, nil
}

// stickyFor returns the topic's sticky partition, choosing a new one if
// needed (KIP-794's uniform sticky partitioner).
// REQUIRES: a.mu held.
func (a *accumulator) stickyFor(topic string, cl *Cluster, now time.Time) *stickyState {
	st := a.sticky[topic]
	if st == nil {
		st = &stickyState{partition: -1}
		a.sticky[topic] = st
	}
	tm := cl.topic(topic)
	n := 0
	if tm != nil {
		n = len(tm.partitions)
	}
	if st.partition >= 0 && int(st.partition) < n {
		return st
	}
	st.producedBytes = 0
	if n == 0 {
		st.partition = 0
		return st
	}
	candidates := tm.available
	var loads []int
	if a.cfg.adaptivePartitioning {
		// Weighted toward shorter queues, skipping partitions whose broker
		// has not taken a produce for partitioner.availability.timeout.ms.
		var unavailable map[int32]bool
		if a.cfg.availabilityTimeout > 0 {
			unavailable = a.unavailableNodes(cl, now)
		}
		var kept []int32
		for _, p := range candidates {
			if unavailable[tm.partitions[p].Leader.ID] {
				continue
			}
			kept = append(kept, p)
			queue := 0
			if ps := a.parts[topicPartition{topic, p}]; ps != nil {
				queue = len(ps.queue)
			}
			loads = append(loads, queue)
		}
		if len(kept) > 0 {
			candidates = kept
		} else {
			loads = nil
		}
	}
	st.partition = pickSticky(a.rng, candidates, loads, n)
	return st
}

// unavailableNodes lists brokers that have had a batch ready to send for
// longer than partitioner.availability.timeout.ms without accepting a
// produce in that time.
// REQUIRES: a.mu held.
func (a *accumulator) unavailableNodes(cl *Cluster, now time.Time) map[int32]bool {
	out := map[int32]bool{}
	limit := a.cfg.availabilityTimeout
	for tp, ps := range a.parts {
		if len(ps.queue) == 0 && len(ps.inFlight) == 0 {
			continue
		}
		node := cl.leaderID(tp.topic, tp.partition)
		if node < 0 || out[node] {
			continue
		}
		var waiting time.Time
		if len(ps.inFlight) > 0 {
			waiting = ps.inFlight[0].created
		} else {
			waiting = ps.queue[0].created.Add(a.cfg.linger)
		}
		if now.Sub(waiting) > limit && now.Sub(a.lastAccepted[node]) > limit {
			out[node] = true
		}
	}
	return out
}

// hasDataFor reports whether any partition led by node has batches
// queued.
func (a *accumulator) hasDataFor(node int32, cl *Cluster) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for tp, ps := range a.parts {
		if len(ps.queue) > 0 && cl.leaderID(tp.topic, tp.partition) == node {
			return true
		}
	}
	return false
}

// drain takes the sendable batches of the partitions node leads, at most
// one per partition and maxBytes in all (max.request.size), and assigns
// sequences to new batches of an idempotent producer (Java's
// RecordAccumulator.ready and drain). It returns when next to look again
// if some batches are lingering or backing off.
func (a *accumulator) drain(node int32, cl *Cluster, now time.Time, maxBytes int) ([]*batch, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.idempotent && a.fatal == nil && (!a.pidReady || a.bumpNeeded) {
		return nil, time.Time{} // the manager wakes us with a producer id
	}
	var (
		out   []*batch
		total int
		next  time.Time
	)
	soon := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	exhausted := a.pool.exhausted()
	for tp, ps := range a.parts {
		if len(ps.queue) == 0 || cl.leaderID(tp.topic, tp.partition) != node {
			continue
		}
		b := ps.queue[0]
		if b.attempts > 0 && now.Before(b.retryAt) {
			soon(b.retryAt)
			continue
		}
		lingerEnd := b.created.Add(a.cfg.linger)
		ready := b.full || len(ps.queue) > 1 || !now.Before(lingerEnd) || a.flushing > 0 || a.closing || exhausted || b.attempts > 0
		if !ready {
			soon(lingerEnd)
			continue
		}
		if a.idempotent {
			// A batch with a sequence (a retry) goes only once every
			// earlier sequence is resolved, so that the broker sees the
			// partition's batches in order; a new batch goes only while
			// fewer than 5 batches have been sent since the oldest
			// unresolved one, the window the broker remembers.
			if b.seq >= 0 && ps.sequenced[0] != b {
				continue
			}
			if b.seq < 0 && len(ps.sequenced) >= 5 {
				continue
			}
		} else if a.cfg.maxInFlight == 1 && len(ps.inFlight) > 0 {
			// max.in.flight.requests.per.connection=1 promises order
			// across retries: one batch per partition at a time.
			continue
		}
		size := len(b.wire)
		if size == 0 {
			size = b.builder.UncompressedSize()
		}
		if len(out) > 0 && total+size > maxBytes {
			soon(now)
			break
		}
		total += size
		ps.queue = ps.queue[1:]
		b.full = true
		if a.idempotent && b.seq < 0 {
			b.pid, b.epoch, b.seq = a.pid, a.epoch, ps.nextSeq
			ps.nextSeq = record.IncrementSequence(ps.nextSeq, int32(len(b.recs)))
			ps.sequenced = append(ps.sequenced, b)
		}
		b.inRequest = true
		ps.inFlight = append(ps.inFlight, b)
		out = append(out, b)
	}
	if len(out) > 0 {
		a.requestsInFlight++
	}
	return out, next
}

// undrain puts back batches that were drained but could not be sent, as
// if they had never left.
func (a *accumulator) undrain(bs []*batch) {
	a.mu.Lock()
	for _, b := range bs {
		ps := a.parts[b.tp]
		b.inRequest = false
		ps.inFlight = slices.DeleteFunc(ps.inFlight, func(x *batch) bool { return x == b })
		if !b.finished {
			a.requeue(ps, b)
		}
	}
	a.requestsInFlight--
	wake := a.bumpNeeded && a.requestsInFlight == 0
	a.mu.Unlock()
	if wake {
		a.wakeManager()
	}
}

// failDrained fails drained batches that could not be encoded. whole
// says none of the request's batches is left, so the request is not sent.
func (a *accumulator) failDrained(bs []*batch, err error, whole bool) []completion {
	var done []completion
	a.mu.Lock()
	for _, b := range bs {
		ps := a.parts[b.tp]
		b.inRequest = false
		ps.inFlight = slices.DeleteFunc(ps.inFlight, func(x *batch) bool { return x == b })
		a.failSequenced(b, err, &done)
	}
	if whole {
		a.requestsInFlight--
	}
	wake := a.bumpNeeded && a.requestsInFlight == 0
	a.mu.Unlock()
	if wake {
		a.wakeManager()
	}
	return done
}

// requeue puts a batch back at the front of its queue, in sequence order
// among the other retries (Java's insertInSequenceOrder).
// REQUIRES: a.mu held.
func (a *accumulator) requeue(ps *partitionState, b *batch) {
	i := 0
	if b.seq >= 0 {
		for i < len(ps.queue) && ps.queue[i].seq >= 0 && seqBefore(ps.queue[i].seq, b.seq) {
			i++
		}
	}
	ps.queue = slices.Insert(ps.queue, i, b)
}

// seqBefore orders sequences that may have wrapped past MaxInt32.
func seqBefore(a, b int32) bool { return b-a > 0 }

// finish records a batch's outcome.
// REQUIRES: a.mu held.
func (a *accumulator) finish(b *batch, baseOffset, appendTime int64, err error, out *[]completion) {
	if b.finished {
		return
	}
	b.finished = true
	if ps := a.parts[b.tp]; ps != nil {
		for len(ps.sequenced) > 0 && ps.sequenced[0].finished {
			ps.sequenced[0] = nil
			ps.sequenced = ps.sequenced[1:]
		}
	}
	a.incomplete--
	if a.incomplete == 0 && a.idle != nil {
		close(a.idle)
		a.idle = nil
	}
	*out = append(*out, completion{b: b, baseOffset: baseOffset, appendTime: appendTime, err: err})
}

// failSequenced fails a batch that has a sequence the broker may or may
// not have seen; an idempotent producer then bumps its epoch and restarts
// every partition's sequences at 0, as Java's TransactionManager does for
// an idempotent (not transactional) producer, because later batches would
// otherwise wait forever for the missing sequence.
// REQUIRES: a.mu held.
func (a *accumulator) failSequenced(b *batch, err error, out *[]completion) {
	hadSeq := b.seq >= 0 && !b.finished
	a.finish(b, -1, -1, err, out)
	if a.idempotent && hadSeq {
		a.bumpNeeded = true
	}
}

// handleResponse applies a produce response (or the failure of the whole
// request) to its batches: success, retry, or failure. It reports whether
// metadata should be refreshed.
func (a *accumulator) handleResponse(node int32, bs []*batch, resp *kmsg.ProduceResponse, reqErr error, now time.Time) ([]completion, bool) {
	results := map[topicPartition]*kmsg.ProduceResponseTopicPartition{}
	if resp != nil {
		for ti := range resp.Topics {
			t := &resp.Topics[ti]
			for pi := range t.Partitions {
				p := &t.Partitions[pi]
				results[topicPartition{t.Topic, p.Partition}] = p
			}
		}
	}
	var (
		done     []completion
		needMeta bool
	)
	a.mu.Lock()
	a.requestsInFlight--
	for _, b := range bs {
		ps := a.parts[b.tp]
		b.inRequest = false
		ps.inFlight = slices.DeleteFunc(ps.inFlight, func(x *batch) bool { return x == b })
		if b.finished {
			continue // expired or aborted while in flight
		}
		var (
			err    error
			code   int16
			result *kmsg.ProduceResponseTopicPartition
		)
		switch {
		case reqErr != nil:
			err = reqErr
			needMeta = true
		case resp == nil: // acks=0: no answer, no offsets
			a.finish(b, -1, -1, nil, &done)
			continue
		default:
			result = results[b.tp]
			if result == nil {
				err = wrapErr(ErrNetwork, "produce response from broker %d lacks %s", node, b.tp)
			} else {
				code = result.ErrorCode
				err = brokerErr(code, result.ErrorMessage)
			}
		}
		if err == nil || code == 46 { // DUPLICATE_SEQUENCE_NUMBER: already written
			a.lastAccepted[node] = now
			a.finish(b, result.BaseOffset, result.LogAppendTime, nil, &done)
			continue
		}
		if isMetadataError(code) {
			needMeta = true
		}
		if code == 10 && len(b.recs) > 1 { // MESSAGE_TOO_LARGE
			a.split(ps, b)
			continue
		}
		if a.canRetry(ps, b, code, err, now) {
			b.attempts++
			b.retryAt = now.Add(expBackoff(a.cfg.retryBackoff, a.cfg.retryBackoffM, b.attempts))
			a.requeue(ps, b)
			continue
		}
		if !Retriable(err) || b.attempts >= a.cfg.retries {
			a.failSequenced(b, err, &done)
		} else {
			a.failSequenced(b, a.expiryErr(b, now, err), &done)
		}
	}
	wake := a.bumpNeeded && a.requestsInFlight == 0
	a.mu.Unlock()
	if wake {
		a.wakeManager()
	}
	return done, needMeta
}

// split replaces a batch the broker refused as larger than its
// message.max.bytes by two halves, sent again at once, as Java's
// Sender splits such batches (splitAndReenqueue); halves too large are
// split again, down to single records, which then fail. An idempotent
// producer's halves take the refused batch's sequence range in order: the
// broker wrote none of it.
// REQUIRES: a.mu held.
func (a *accumulator) split(ps *partitionState, b *batch) {
	k := len(b.recs) / 2
	halves := [2]*batch{}
	for i, recs := range [2][]*pendingRecord{b.recs[:k], b.recs[k:]} {
		h := &batch{
			tp:       b.tp,
			builder:  record.NewBuilder(a.cfg.codec),
			created:  b.created,
			full:     true,
			attempts: b.attempts,
			pid:      b.pid,
			epoch:    b.epoch,
			seq:      -1,
			done:     make(chan struct{}),
		}
		for _, r := range recs {
			r.offsetDelta = int32(h.builder.Len())
			h.builder.Add(r.timestamp, record.Record{Key: r.key, Value: r.value, Headers: r.headers})
			h.recs = append(h.recs, r)
			h.memory += int64(r.size)
		}
		halves[i] = h
	}
	left := 2
	for _, h := range halves {
		h.onDone = func() {
			a.mu.Lock()
			left--
			last := left == 0
			a.mu.Unlock()
			if last {
				close(b.done)
				if b.onDone != nil {
					b.onDone()
				}
			}
		}
	}
	// The parent leaves without an outcome of its own.
	b.finished = true
	a.incomplete++
	if b.seq >= 0 {
		halves[0].seq = b.seq
		halves[1].seq = record.IncrementSequence(b.seq, int32(k))
		i := slices.Index(ps.sequenced, b)
		ps.sequenced = slices.Replace(ps.sequenced, i, i+1, halves[0], halves[1])
		a.requeue(ps, halves[1])
		a.requeue(ps, halves[0])
		return
	}
	// Unsequenced: both go to the front, first half first.
	a.requeue(ps, halves[1])
	a.requeue(ps, halves[0])
}

// canRetry decides whether a failed batch is sent again: retriable errors
// while retries and delivery.timeout.ms allow; for an idempotent producer
// also OUT_OF_ORDER_SEQUENCE_NUMBER behind an unresolved earlier batch and
// UNKNOWN_PRODUCER_ID, bumping the epoch where Java's
// TransactionManager.canRetry does.
// REQUIRES: a.mu held.
func (a *accumulator) canRetry(ps *partitionState, b *batch, code int16, err error, now time.Time) bool {
	if b.attempts >= a.cfg.retries || !now.Before(b.created.Add(a.cfg.deliveryTO)) {
		return false
	}
	if a.idempotent && b.seq >= 0 {
		switch code {
		case 59: // UNKNOWN_PRODUCER_ID: the broker lost our state
			if b.epoch == a.epoch && b.pid == a.pid {
				a.bumpNeeded = true
			}
			return true
		case 45: // OUT_OF_ORDER_SEQUENCE_NUMBER
			// Behind an earlier batch that is still unresolved, the gap is
			// expected and resolves when that one is retried. As the
			// first unresolved batch, the broker lost a sequence: bump.
			if len(ps.sequenced) > 0 && ps.sequenced[0] == b && b.epoch == a.epoch && b.pid == a.pid {
				a.bumpNeeded = true
			}
			return true
		}
	}
	return Retriable(err)
}

// isMetadataError reports codes after which Java refreshes metadata
// (InvalidMetadataException and its kin).
func isMetadataError(code int16) bool {
	switch code {
	case 3, 5, 6, 56, 74, 75, 100: // UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_ID
		return true
	}
	return false
}

func (a *accumulator) expiryErr(b *batch, now time.Time, cause error) error {
	msg := fmt.Sprintf("expiring %d record(s) for %s: %v has passed since batch creation (delivery.timeout.ms is %v)",
		len(b.recs), b.tp, now.Sub(b.created).Round(time.Millisecond), a.cfg.deliveryTO)
	if cause != nil {
		return fmt.Errorf("%w: %s; last error: %w", ErrTimeout, msg, cause)
	}
	return fmt.Errorf("%w: %s", ErrTimeout, msg)
}

// expire fails every batch older than delivery.timeout.ms, queued or in
// flight (Java expires in-flight batches too, KIP-91; a late answer to one
// is ignored). It returns the next expiry time.
func (a *accumulator) expire(now time.Time) ([]completion, time.Time) {
	var (
		done []completion
		next time.Time
	)
	a.mu.Lock()
	for _, ps := range a.parts {
		keep := ps.queue[:0]
		for _, b := range ps.queue {
			deadline := b.created.Add(a.cfg.deliveryTO)
			if !now.Before(deadline) {
				a.failSequenced(b, a.expiryErr(b, now, nil), &done)
				continue
			}
			keep = append(keep, b)
			if next.IsZero() || deadline.Before(next) {
				next = deadline
			}
		}
		clear(ps.queue[len(keep):])
		ps.queue = keep
		for _, b := range ps.inFlight {
			if b.finished {
				continue
			}
			deadline := b.created.Add(a.cfg.deliveryTO)
			if !now.Before(deadline) {
				a.failSequenced(b, a.expiryErr(b, now, nil), &done)
			} else if next.IsZero() || deadline.Before(next) {
				next = deadline
			}
		}
		if len(ps.queue) == 0 && len(ps.inFlight) == 0 && len(ps.sequenced) == 0 && !a.idempotent {
			delete(a.parts, ps.tp)
		}
	}
	a.mu.Unlock()
	return done, next
}

// abortAll fails every unfinished batch with err (Close whose context
// ended, or a fatal idempotence error).
// REQUIRES: a.mu held.
func (a *accumulator) abortAll(err error) []completion {
	var done []completion
	for _, ps := range a.parts {
		for _, b := range ps.queue {
			a.finish(b, -1, -1, err, &done)
		}
		clear(ps.queue)
		ps.queue = ps.queue[:0]
		for _, b := range ps.inFlight {
			a.finish(b, -1, -1, err, &done)
		}
	}
	return done
}

// unfinished returns the done channels of every batch without an outcome
// (Flush waits for them).
// REQUIRES: a.mu held.
func (a *accumulator) unfinished() []chan struct{} {
	var out []chan struct{}
	for _, ps := range a.parts {
		for _, b := range ps.queue {
			out = append(out, b.done)
		}
		for _, b := range ps.inFlight {
			if !b.finished {
				out = append(out, b.done)
			}
		}
	}
	return out
}

// waitIdle waits until no batch lacks an outcome.
func (a *accumulator) waitIdle(ctx context.Context) error {
	a.mu.Lock()
	if a.incomplete == 0 {
		a.mu.Unlock()
		return nil
	}
	if a.idle == nil {
		a.idle = make(chan struct{})
	}
	ch := a.idle
	a.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// needProducerID reports whether the manager should ask for a producer id
// now: none yet, or an epoch bump is due and no produce is outstanding.
func (a *accumulator) needProducerID() (need, bump bool, pid int64, epoch int16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.idempotent || a.fatal != nil {
		return false, false, 0, 0
	}
	if !a.pidReady {
		return true, false, -1, -1
	}
	if a.bumpNeeded && a.requestsInFlight == 0 {
		if a.epoch == math.MaxInt16 {
			return true, false, -1, -1
		}
		return true, true, a.pid, a.epoch
	}
	return false, false, 0, 0
}

// setProducerID installs a new producer id and epoch and restarts every
// partition's sequences at 0, renumbering the batches awaiting a retry in
// their order. No produce request is outstanding when it is called.
func (a *accumulator) setProducerID(pid int64, epoch int16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pid, a.epoch, a.pidReady, a.bumpNeeded = pid, epoch, true, false
	for _, ps := range a.parts {
		ps.nextSeq = 0
		keep := ps.sequenced[:0]
		for _, b := range ps.sequenced {
			if b.finished {
				continue
			}
			b.pid, b.epoch, b.seq = pid, epoch, ps.nextSeq
			b.wire = nil
			ps.nextSeq = record.IncrementSequence(ps.nextSeq, int32(len(b.recs)))
			keep = append(keep, b)
		}
		clear(ps.sequenced[len(keep):])
		ps.sequenced = keep
	}
}

// disableIdempotence turns idempotence off when the broker cannot grant a
// producer id and the user did not ask for idempotence explicitly.
func (a *accumulator) disableIdempotence() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.idempotent = false
	a.bumpNeeded = false
}

// setFatal fails every pending batch, and every later Send, with err.
func (a *accumulator) setFatal(err error) []completion {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fatal = err
	return a.abortAll(err)
}

// beginClose stops new records and makes every batch ready at once.
func (a *accumulator) beginClose() {
	a.mu.Lock()
	a.closed, a.closing = true, true
	a.mu.Unlock()
}

// beginFlush makes every batch ready at once and returns what to wait for.
func (a *accumulator) beginFlush() []chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushing++
	return a.unfinished()
}

func (a *accumulator) endFlush() {
	a.mu.Lock()
	a.flushing--
	a.mu.Unlock()
}
