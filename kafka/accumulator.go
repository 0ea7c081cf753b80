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
)

// recMeta is what a batch keeps of each record until its outcome; the
// record itself is encoded in the batch's buffer.
type recMeta struct {
	callback  func(RecordMetadata, error) // nil for Send
	future    *Future                     // nil for SendWithCallback
	timestamp int64                       // ms since the epoch
	keySize   int32                       // -1 for a null key
	valueSize int32                       // -1 for a null value
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
	tp topicPartition
	// buf holds room for the batch header, then the encoded records. It
	// comes from the buffer pool and goes back once the batch has its
	// outcome and is in no request.
	buf   []byte
	limit int // the records stop at this length (cap of buf)
	alloc int // bytes charged to buffer.memory; 0 for split halves
	// recs is each record's metadata, until its outcome is delivered;
	// then it is recycled, possibly while the batch is still in a request
	// (expired in flight), so a sender reads count instead.
	recs  []recMeta
	count int32
	// recsHolder is recs' home in recsPool.
	recsHolder *[]recMeta

	baseTimestamp int64
	maxTimestamp  int64
	maxRecord     int // largest encoded record (record-size-max)
	created       time.Time
	// full batches take no more records (batch.size reached, or a record
	// did not fit and started the next batch).
	full bool

	attempts int       // retries so far
	retryAt  time.Time // not sent again before this (retry.backoff.ms)

	// Idempotence: the producer id, epoch and base sequence the batch is
	// sent with; seq is -1 until the batch is first drained.
	pid   int64
	epoch int16
	seq   int32
	// wire is the encoded batch, built by the sender when the batch is
	// first drained and sent again as it is by retries (with the producer
	// fields rewritten after an epoch bump). Uncompressed it is buf itself.
	wire []byte

	inRequest bool // in a produce request not answered yet
	finished  bool // its records have their outcome
	released  bool // buf went back to the pool
	done      chan struct{}
	// onDone, if set, runs after done is closed: a batch split in two
	// closes its own done once both halves are done.
	onDone func()
}

// recsPool recycles the per-record metadata slices of finished batches.
var recsPool = sync.Pool{New: func() any { return new([]recMeta) }}

// tryAppend encodes a record at the end of the batch if it fits and
// returns its encoded size, or 0 if it does not fit.
// REQUIRES: the accumulator's mutex held, or the batch not shared yet.
func (b *batch) tryAppend(ts int64, key, value []byte, headers Headers, meta recMeta) int {
	n := int32(len(b.recs))
	var delta int64
	if n > 0 {
		delta = ts - b.baseTimestamp
	}
	body := recordBodyLen(delta, n, key, value, headers)
	size := varintLen(int64(body)) + body
	if len(b.buf)+size > b.limit {
		return 0
	}
	if n == 0 {
		b.baseTimestamp, b.maxTimestamp = ts, ts
	} else if ts > b.maxTimestamp {
		b.maxTimestamp = ts
	}
	b.buf = appendRecord(b.buf, body, delta, n, key, value, headers)
	b.recs = append(b.recs, meta)
	b.count++
	b.maxRecord = max(b.maxRecord, size)
	if len(b.buf) >= b.limit {
		b.full = true
	}
	return size
}

// firstRecordSize is the encoded size of a record alone in a new batch.
func firstRecordSize(key, value []byte, headers Headers) int {
	body := recordBodyLen(0, 0, key, value, headers)
	return varintLen(int64(body)) + body
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
	// txn is the partition's place in the current transaction of a
	// transactional producer: AddPartitionsToTxn must name it before its
	// batches are sent.
	txn txnPartState
}

// topicState is the accumulator's state for one topic: its partitions by
// number, so that a record costs one map lookup, and the uniform sticky
// partitioner's state.
type topicState struct {
	parts  []*partitionState // by partition number; nil until used
	sticky stickyState
}

// accumulator holds the batches of every partition until senders drain
// them (Java's RecordAccumulator), and the idempotent producer's state
// (Java's TransactionManager, for producer ids and sequences).
//
// Lock order: accumulator.mu, then bufferPool.mu. Nothing is called with
// mu held that takes another lock of the producer, and no network I/O or
// user code runs with it held.
type accumulator struct {
	cfg  *producerConfig
	pool *bufferPool
	// batchLimit is batch.size, but no more than max.request.size (nor
	// buffer.memory): the size of a batch buffer.
	batchLimit int

	wakeNode    func(node int32) // wakes one broker's sender, or all for -1
	wakeManager func()
	onNewBatch  func()
	cluster     func() *Cluster // the current metadata

	mu         sync.Mutex
	topics     map[string]*topicState // REQUIRES: mu held
	all        []*partitionState      // every partition with state; REQUIRES: mu held
	rng        *rand.Rand             // REQUIRES: mu held
	incomplete int                    // unfinished batches; REQUIRES: mu held
	idle       chan struct{}          // closed when incomplete reaches 0; REQUIRES: mu held
	flushing   int                    // Flush calls in progress; REQUIRES: mu held
	closing    bool                   // Close: send everything now; REQUIRES: mu held
	closed     bool                   // Close: take no more records; REQUIRES: mu held
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

	// tx is the transactional producer's state, nil without a
	// transactional.id. REQUIRES: mu held
	tx *txnStatus
	// onTxnPartition is called (without mu) when a partition joins the
	// current transaction, so that AddPartitionsToTxn names it.
	onTxnPartition func()

	metrics *producerMetrics
}

func newAccumulator(cfg *producerConfig, pool *bufferPool, m *producerMetrics) *accumulator {
	a := &accumulator{
		cfg:          cfg,
		pool:         pool,
		batchLimit:   pool.poolable,
		topics:       map[string]*topicState{},
		rng:          rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		lastAccepted: map[int32]time.Time{},
		idempotent:   cfg.idempotent,
		pid:          -1,
		epoch:        -1,
		metrics:      m,
	}
	if cfg.transactionalID != "" {
		a.tx = &txnStatus{}
	}
	return a
}

// batchBufferSize is the size of the batch buffers: batch.size, capped
// by max.request.size (a larger batch could not be sent) and by
// buffer.memory (Java fails every send when batch.size exceeds
// buffer.memory; a smaller batch is friendlier).
func batchBufferSize(cfg *producerConfig) int {
	n := int64(min(cfg.batchSize, cfg.maxRequest))
	n = min(n, cfg.bufferMemory)
	return max(int(n), record.HeaderSize+1)
}

// recordOverhead is the most a record adds beyond its key, value and
// headers: length, attributes, timestamp and offset deltas, key and value
// lengths, header count (Java's DefaultRecord.MAX_RECORD_OVERHEAD).
const recordOverhead = 21

// estimateSize is an upper bound of a record's bytes in a batch, plus the
// batch header, as Java's AbstractRecords.estimateSizeInBytesUpperBound;
// it is checked against max.request.size and buffer.memory.
func estimateSize(key, value []byte, headers Headers) int {
	n := record.HeaderSize + recordOverhead + len(key) + len(value)
	for i := range headers {
		h := &headers[i]
		n += varintLen(int64(len(h.Key))) + len(h.Key) + varintLen(int64(len(h.Value))) + len(h.Value)
	}
	return n
}

// topicState returns the state of a topic, creating it.
// REQUIRES: a.mu held.
func (a *accumulator) topicState(topic string) *topicState {
	ts := a.topics[topic]
	if ts == nil {
		ts = &topicState{sticky: stickyState{partition: -1}}
		a.topics[topic] = ts
	}
	return ts
}

// partitionOf returns the state of a partition of ts, creating it.
// REQUIRES: a.mu held.
func (a *accumulator) partitionOf(topic string, ts *topicState, partition int32) *partitionState {
	if int(partition) < len(ts.parts) {
		if ps := ts.parts[partition]; ps != nil {
			return ps
		}
	} else {
		ts.parts = append(ts.parts, make([]*partitionState, int(partition)+1-len(ts.parts))...)
	}
	ps := &partitionState{tp: topicPartition{topic, partition}}
	ts.parts[partition] = ps
	a.all = append(a.all, ps)
	return ps
}

// lookup returns the state of a partition, or nil.
// REQUIRES: a.mu held.
func (a *accumulator) lookup(tp topicPartition) *partitionState {
	ts := a.topics[tp.topic]
	if ts == nil || int(tp.partition) >= len(ts.parts) {
		return nil
	}
	return ts.parts[tp.partition]
}

// appendReq is one serialized record on its way into a batch.
type appendReq struct {
	topic string
	tm    *topicMeta // the topic's metadata
	// partition is the record's partition, or -1 to let the uniform
	// sticky partitioner choose (no key, or partitioner.ignore.keys).
	partition  int32
	key, value []byte
	headers    Headers
	meta       recMeta
	// buf is a buffer for a new batch, charged alloc bytes, or nil.
	buf   []byte
	alloc int
}

// append adds a record to its partition's open batch, or to a new batch
// made with req.buf. When a new batch is needed and req.buf is nil, it
// returns the size of buffer the caller must allocate (need > 0; the
// allocation may block, so it happens outside the lock) before calling
// again. A buffer it does not use goes back to the pool.
func (a *accumulator) append(req *appendReq) (partition int32, need int, err error) {
	partition = req.partition
	a.mu.Lock()
	if a.closed || a.fatal != nil {
		err = a.fatal
		if a.closed {
			err = wrapErr(ErrProducerClosed, "cannot send after the producer is closed")
		}
		a.mu.Unlock()
		a.returnUnused(req)
		return partition, 0, err
	}
	if a.tx != nil {
		if err = a.txnSendErr(); err != nil {
			a.mu.Unlock()
			a.returnUnused(req)
			return partition, 0, err
		}
	}
	ts := a.topicState(req.topic)
	var st *stickyState
	if partition < 0 {
		st = a.stickyFor(ts, req.tm)
		partition = st.partition
	}
	ps := a.partitionOf(req.topic, ts, partition)
	newTxnPart := a.tx != nil && ps.txn == txnPartNone
	if newTxnPart {
		a.txnAddPartition(ps)
	}
	var (
		b        *batch
		size     int
		newBatch bool
	)
	if n := len(ps.queue); n > 0 && !ps.queue[n-1].full {
		b = ps.queue[n-1]
		if size = b.tryAppend(req.meta.timestamp, req.key, req.value, req.headers, req.meta); size == 0 {
			b.full = true
			b = nil
		}
	}
	if b == nil {
		need := max(record.HeaderSize+firstRecordSize(req.key, req.value, req.headers), a.batchLimit)
		if req.buf == nil || cap(req.buf) < need {
			a.mu.Unlock()
			a.returnUnused(req)
			if newTxnPart {
				a.onTxnPartition()
			}
			return partition, need, nil
		}
		b = a.newBatch(ps, req.buf, req.alloc)
		req.buf = nil
		newBatch = true
		// A new batch counts its header too, as in Java.
		size = record.HeaderSize + b.tryAppend(req.meta.timestamp, req.key, req.value, req.headers, req.meta)
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
	full := b.full
	a.mu.Unlock()
	a.returnUnused(req)
	if newTxnPart {
		a.onTxnPartition()
	}
	if newBatch || full {
		leader := int32(-1)
		if p := req.tm.partitions[partition].Leader; p != nil {
			leader = p.ID
		}
		a.wakeNode(leader)
	}
	if newBatch {
		a.onNewBatch()
	}
	return partition, 0, nil
}

// returnUnused gives back a buffer append did not use.
func (a *accumulator) returnUnused(req *appendReq) {
	if req.buf != nil {
		a.pool.deallocate(req.buf, req.alloc)
		req.buf = nil
	}
}

// newBatch starts a batch in buf at the end of the partition's queue.
// REQUIRES: a.mu held.
func (a *accumulator) newBatch(ps *partitionState, buf []byte, alloc int) *batch {
	holder := recsPool.Get().(*[]recMeta)
	b := &batch{
		tp:         ps.tp,
		buf:        buf[:record.HeaderSize],
		limit:      cap(buf),
		alloc:      alloc,
		recs:       (*holder)[:0],
		recsHolder: holder,
		created:    time.Now(),
		pid:        -1,
		epoch:      -1,
		seq:        -1,
		done:       make(chan struct{}),
	}
	ps.queue = append(ps.queue, b)
	a.incomplete++
	return b
}

// stickyFor returns the topic's sticky partition, choosing a new one if
// needed (KIP-794's uniform sticky partitioner).
// REQUIRES: a.mu held.
func (a *accumulator) stickyFor(ts *topicState, tm *topicMeta) *stickyState {
	st := &ts.sticky
	n := len(tm.partitions)
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
			unavailable = a.unavailableNodes(time.Now())
		}
		var kept []int32
		for _, p := range candidates {
			if unavailable[tm.partitions[p].Leader.ID] {
				continue
			}
			kept = append(kept, p)
			queue := 0
			if int(p) < len(ts.parts) && ts.parts[p] != nil {
				queue = len(ts.parts[p].queue)
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
// produce in that time. It uses the metadata the batches were sent with.
// REQUIRES: a.mu held.
func (a *accumulator) unavailableNodes(now time.Time) map[int32]bool {
	out := map[int32]bool{}
	limit := a.cfg.availabilityTimeout
	for _, ps := range a.all {
		if len(ps.queue) == 0 && len(ps.inFlight) == 0 {
			continue
		}
		node := a.leaderOf(ps.tp)
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

// leaderOf returns the current leader of a partition, or -1.
func (a *accumulator) leaderOf(tp topicPartition) int32 {
	if a.cluster == nil {
		return -1
	}
	return a.cluster().leaderID(tp.topic, tp.partition)
}

// hasDataFor reports whether any partition led by node has batches
// queued.
func (a *accumulator) hasDataFor(node int32, cl *Cluster) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ps := range a.all {
		if len(ps.queue) > 0 && cl.leaderID(ps.tp.topic, ps.tp.partition) == node {
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
	// Start at a different partition each time, so that when
	// max.request.size cuts a request short no partition always waits.
	start := 0
	if len(a.all) > 0 {
		start = a.rng.IntN(len(a.all))
	}
	for i := range a.all {
		ps := a.all[(start+i)%len(a.all)]
		if len(ps.queue) == 0 || cl.leaderID(ps.tp.topic, ps.tp.partition) != node {
			continue
		}
		if a.tx != nil && ps.txn != txnPartAdded {
			continue // AddPartitionsToTxn first; its answer wakes us
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
			size = len(b.buf)
		}
		if len(out) > 0 && total+size > maxBytes {
			soon(now)
			break
		}
		total += size
		ps.queue[0] = nil
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

// leaveRequest takes a batch out of its request; a batch that got its
// outcome meanwhile (expired, aborted) can now give its buffer back.
// REQUIRES: a.mu held.
func (a *accumulator) leaveRequest(ps *partitionState, b *batch) {
	b.inRequest = false
	ps.inFlight = slices.DeleteFunc(ps.inFlight, func(x *batch) bool { return x == b })
	if b.finished {
		a.release(b)
	}
}

// release gives a batch's buffer back to the pool. The buffer may be
// reused at once, so this happens only once the batch is in no request:
// a sender may still be writing it.
// REQUIRES: a.mu held.
func (a *accumulator) release(b *batch) {
	if b.released {
		return
	}
	b.released = true
	a.pool.deallocate(b.buf, b.alloc)
	b.buf, b.wire = nil, nil
}

// undrain puts back batches that were drained but could not be sent, as
// if they had never left.
func (a *accumulator) undrain(bs []*batch) {
	a.mu.Lock()
	for _, b := range bs {
		ps := a.lookup(b.tp)
		a.leaveRequest(ps, b)
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
		ps := a.lookup(b.tp)
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
	if ps := a.lookup(b.tp); ps != nil {
		for len(ps.sequenced) > 0 && ps.sequenced[0].finished {
			ps.sequenced[0] = nil
			ps.sequenced = ps.sequenced[1:]
		}
	}
	if !b.inRequest {
		a.release(b)
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
	if a.tx != nil {
		// A transactional producer does not bump its epoch itself: the
		// transaction must abort (or the producer close).
		a.txnBatchFailed(err, hadSeq, out)
		return
	}
	if a.idempotent && hadSeq {
		a.bumpNeeded = true
	}
}

// responseCodes are broker error codes the accumulator acts on.
const (
	codeMessageTooLarge    = 10
	codeOutOfOrderSequence = 45
	codeDuplicateSequence  = 46
	codeUnknownProducerID  = 59
)

// handleResponse applies a produce response (or the failure of the whole
// request) to its batches: success, retry, or failure. results holds the
// response's partitions. It reports whether metadata should be refreshed.
func (a *accumulator) handleResponse(node int32, bs []*batch, results map[topicPartition]*partitionResult, acks0 bool, reqErr error, now time.Time) ([]completion, bool) {
	var (
		done     []completion
		needMeta bool
	)
	a.mu.Lock()
	a.requestsInFlight--
	for _, b := range bs {
		ps := a.lookup(b.tp)
		a.leaveRequest(ps, b)
		if b.finished {
			continue // expired or aborted while in flight
		}
		var (
			err    error
			code   int16
			result *partitionResult
		)
		switch {
		case reqErr != nil:
			err = reqErr
			needMeta = true
		case acks0: // no answer, no offsets
			a.finish(b, -1, -1, nil, &done)
			continue
		default:
			result = results[b.tp]
			if result == nil {
				err = wrapErr(ErrNetwork, "produce response from broker %d lacks %s", node, b.tp)
			} else {
				code = result.code
				err = brokerErr(code, result.message)
			}
		}
		if err == nil || code == codeDuplicateSequence { // already written
			a.lastAccepted[node] = now
			a.finish(b, result.baseOffset, result.appendTime, nil, &done)
			continue
		}
		if isMetadataError(code) {
			needMeta = true
		}
		if code == codeMessageTooLarge && len(b.recs) > 1 {
			if a.split(ps, b) == nil {
				continue
			}
		}
		if a.canRetry(ps, b, code, err, now) {
			b.attempts++
			b.retryAt = now.Add(expBackoff(a.cfg.retryBackoff, a.cfg.retryBackoffM, b.attempts))
			a.requeue(ps, b)
			a.metrics.recordRetries(b.tp.topic, len(b.recs))
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

// partitionResult is one partition's answer in a produce response.
type partitionResult struct {
	code       int16
	message    *string
	baseOffset int64
	appendTime int64
}

// split replaces a batch the broker refused as larger than its
// message.max.bytes by two halves, sent again at once, as Java's
// Sender splits such batches (splitAndReenqueue); halves too large are
// split again, down to single records, which then fail. An idempotent
// producer's halves take the refused batch's sequence range in order: the
// broker wrote none of it. The halves' buffers are not charged to
// buffer.memory, as in Java; the refused batch's goes back.
// REQUIRES: a.mu held.
func (a *accumulator) split(ps *partitionState, b *batch) error {
	recs, err := b.decodeRecords()
	if err != nil {
		return err
	}
	k := len(b.recs) / 2
	halves := [2]*batch{}
	for i, r := range [2][2]int{{0, k}, {k, len(b.recs)}} {
		size := record.HeaderSize
		for _, dr := range recs[r[0]:r[1]] {
			size += dr.size + 15 // the deltas change with the base: room for the widest
		}
		holder := recsPool.Get().(*[]recMeta)
		h := &batch{
			tp:         b.tp,
			buf:        make([]byte, record.HeaderSize, size),
			limit:      size,
			recs:       (*holder)[:0],
			recsHolder: holder,
			created:    b.created,
			full:       true,
			attempts:   b.attempts,
			pid:        b.pid,
			epoch:      b.epoch,
			seq:        -1,
			done:       make(chan struct{}),
		}
		for j := r[0]; j < r[1]; j++ {
			dr := &recs[j]
			if h.tryAppend(b.recs[j].timestamp, dr.key, dr.value, dr.headers, b.recs[j]) == 0 {
				return fmt.Errorf("split: record %d does not fit", j)
			}
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
	a.release(b)
	a.incomplete++
	if b.seq >= 0 {
		halves[0].seq = b.seq
		halves[1].seq = record.IncrementSequence(b.seq, int32(k))
		i := slices.Index(ps.sequenced, b)
		ps.sequenced = slices.Replace(ps.sequenced, i, i+1, halves[0], halves[1])
	}
	a.requeue(ps, halves[1])
	a.requeue(ps, halves[0])
	a.metrics.recordSplit()
	return nil
}

// decodedRecord is a record read back from a batch's wire form.
type decodedRecord struct {
	key, value []byte
	headers    Headers
	size       int // encoded, length prefix included
}

// decodeRecords reads the records back from the batch's encoded form
// (decompressing it), for a split.
func (b *batch) decodeRecords() ([]decodedRecord, error) {
	data := b.buf[record.HeaderSize:]
	if b.wire != nil {
		h, err := record.ParseHeader(b.wire)
		if err != nil {
			return nil, err
		}
		if data, err = record.RecordsOf(&h, b.wire, math.MaxInt32); err != nil {
			return nil, err
		}
	}
	out := make([]decodedRecord, 0, len(b.recs))
	for len(data) > 0 {
		r, n, err := record.ReadRecord(data)
		if err != nil {
			return nil, err
		}
		dr := decodedRecord{key: r.Key, value: r.Value, size: n}
		for _, rh := range r.Headers {
			dr.headers = append(dr.headers, Header{Key: rh.Key, Value: rh.Value})
		}
		out = append(out, dr)
		data = data[n:]
	}
	if len(out) != len(b.recs) {
		return nil, fmt.Errorf("batch holds %d records, expected %d", len(out), len(b.recs))
	}
	return out, nil
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
	if a.tx != nil && b.seq >= 0 {
		switch code {
		case codeUnknownProducerID: // the transaction must abort
			return false
		case codeOutOfOrderSequence:
			// Behind an earlier unresolved batch the gap is expected; as
			// the first unresolved batch, the sequence is lost.
			return len(ps.sequenced) == 0 || ps.sequenced[0] != b || b.epoch != a.epoch || b.pid != a.pid
		}
	} else if a.idempotent && b.seq >= 0 {
		switch code {
		case codeUnknownProducerID: // the broker lost our state
			if b.epoch == a.epoch && b.pid == a.pid {
				a.bumpNeeded = true
			}
			return true
		case codeOutOfOrderSequence:
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
	defer a.mu.Unlock()
	for _, ps := range a.all {
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
	}
	if !a.idempotent {
		a.dropIdle()
	}
	return done, next
}

// dropIdle forgets partitions with nothing queued or in flight, so that
// state does not grow with every topic ever written to. An idempotent
// producer keeps them: their sequence numbers must go on.
// REQUIRES: a.mu held.
func (a *accumulator) dropIdle() {
	keep := a.all[:0]
	for _, ps := range a.all {
		if len(ps.queue) > 0 || len(ps.inFlight) > 0 || len(ps.sequenced) > 0 {
			keep = append(keep, ps)
			continue
		}
		ts := a.topics[ps.tp.topic]
		ts.parts[ps.tp.partition] = nil
		if !slices.ContainsFunc(ts.parts, func(p *partitionState) bool { return p != nil }) && ts.sticky.partition < 0 {
			delete(a.topics, ps.tp.topic)
		}
	}
	clear(a.all[len(keep):])
	a.all = keep
}

// abortAll fails every unfinished batch with err (Close whose context
// ended, or a fatal idempotence error).
// REQUIRES: a.mu held.
func (a *accumulator) abortAll(err error) []completion {
	var done []completion
	for _, ps := range a.all {
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
	for _, ps := range a.all {
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
	if !a.idempotent || a.fatal != nil || a.tx != nil {
		// A transactional producer gets its id in InitTransactions.
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
// their order (their encoded form is rewritten when next sent). No produce
// request is outstanding when it is called.
func (a *accumulator) setProducerID(pid int64, epoch int16) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pid, a.epoch, a.pidReady, a.bumpNeeded = pid, epoch, true, false
	for _, ps := range a.all {
		ps.nextSeq = 0
		keep := ps.sequenced[:0]
		for _, b := range ps.sequenced {
			if b.finished {
				continue
			}
			b.pid, b.epoch, b.seq = pid, epoch, ps.nextSeq
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
