package kafka

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/record"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// core is the non-generic part of a producer: network client,
// accumulator, one sender goroutine per broker and a manager goroutine.
//
// Goroutines: manager (expiry, producer ids, starting senders), one
// nodeSender per broker, one producer-id request at a time; all stop when
// stop is closed and are waited for by Close.
type core struct {
	cfg     *producerConfig
	log     *slog.Logger
	client  *client
	pool    *bufferPool
	acc     *accumulator
	metrics *producerMetrics
	// onAck runs the interceptors' OnAcknowledgement, or is nil.
	onAck func(RecordMetadata, error)
	// txn runs the transactions of a producer with a transactional.id;
	// nil otherwise.
	txn *txnManager

	closing chan struct{}   // closed when Close begins: blocked Sends give up
	ctx     context.Context // canceled when Close ends: goroutines exit
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	managerWake chan struct{} // cap 1
	// expiryArmed is set while the manager has a timer for the next batch
	// expiry; while it is, new batches need not wake it.
	expiryArmed atomic.Bool

	sendersMu sync.Mutex
	senders   map[int32]*nodeSender // REQUIRES: sendersMu held
}

func newCore(cfg *producerConfig, log *slog.Logger, dial dialFunc, onAck func(RecordMetadata, error)) *core {
	c := &core{
		cfg:         cfg,
		log:         log,
		onAck:       onAck,
		closing:     make(chan struct{}),
		managerWake: make(chan struct{}, 1),
		senders:     map[int32]*nodeSender{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.pool = newBufferPool(cfg.bufferMemory, batchBufferSize(cfg))
	c.pool.onWait = func() { c.wakeNode(-1) }
	c.client = newClient(&cfg.netConfig, log, dial, ErrProducerClosed)
	c.metrics = newProducerMetrics(cfg, c.pool, c.client)
	c.acc = newAccumulator(cfg, c.pool, c.metrics)
	c.acc.wakeNode = c.wakeNode
	c.acc.wakeManager = c.wakeManagerNow
	c.acc.onNewBatch = c.onNewBatch
	c.acc.cluster = c.client.cluster
	if cfg.transactionalID != "" {
		c.txn = newTxnManager(c)
	}
	c.wg.Add(1)
	go c.manage()
	return c
}

func (c *core) wakeManagerNow() {
	select {
	case c.managerWake <- struct{}{}:
	default:
	}
}

// onNewBatch wakes the manager for a new batch's expiry unless it already
// has a timer for an earlier one (every older batch expires first).
func (c *core) onNewBatch() {
	if !c.expiryArmed.Load() {
		c.wakeManagerNow()
	}
}

// wakeNode wakes the sender of one broker, or of all for -1.
func (c *core) wakeNode(node int32) {
	c.sendersMu.Lock()
	defer c.sendersMu.Unlock()
	if node >= 0 {
		if s := c.senders[node]; s != nil {
			s.poke()
		}
		return
	}
	for _, s := range c.senders {
		s.poke()
	}
}

// runCompletions delivers the outcomes of finished batches' records:
// interceptors, callbacks, futures, in record order. (Their buffers went
// back to the pool when they finished.)
func (c *core) runCompletions(done []completion) {
	for _, d := range done {
		b := d.b
		if d.err != nil {
			c.metrics.recordErrors(b.tp.topic, len(b.recs))
		}
		for i := range b.recs {
			r := &b.recs[i]
			md := RecordMetadata{
				Topic:               b.tp.topic,
				Partition:           b.tp.partition,
				Offset:              -1,
				SerializedKeySize:   int(r.keySize),
				SerializedValueSize: int(r.valueSize),
			}
			if d.err == nil {
				if d.baseOffset >= 0 {
					md.Offset = d.baseOffset + int64(i)
				}
				ts := r.timestamp
				if d.appendTime >= 0 {
					ts = d.appendTime
				}
				md.Timestamp = time.UnixMilli(ts)
			}
			c.deliver(r.callback, r.future, md, d.err)
		}
		recs := b.recs
		b.recs = nil
		clear(recs)
		*b.recsHolder = recs[:0]
		recsPool.Put(b.recsHolder)
		b.recsHolder = nil
		close(b.done)
		if b.onDone != nil {
			b.onDone()
		}
	}
}

// deliver gives one record its outcome.
func (c *core) deliver(cb func(RecordMetadata, error), fut *Future, md RecordMetadata, err error) {
	if c.onAck != nil {
		c.onAck(md, err)
	}
	if cb != nil {
		cb(md, err)
	}
	if fut != nil {
		fut.complete(md, err)
	}
}

// failRecord fails a record before it reached a batch.
func (c *core) failRecord(topic string, partition int32, cb func(RecordMetadata, error), fut *Future, err error) {
	c.metrics.recordErrors(topic, 1)
	c.deliver(cb, fut, RecordMetadata{Topic: topic, Partition: partition, Offset: -1, SerializedKeySize: -1, SerializedValueSize: -1}, err)
}

// manage is the manager goroutine: it expires batches past
// delivery.timeout.ms, obtains and bumps the idempotent producer id, and
// starts a sender for every broker in the metadata.
func (c *core) manage() {
	defer c.wg.Done()
	type pidResult struct {
		pid   int64
		epoch int16
		err   error
	}
	var (
		pidCh      = make(chan pidResult, 1)
		pidBusy    bool
		pidFails   int
		pidRetryAt time.Time
		timer      = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	for {
		// Disarm before scanning: a batch created from here on either is
		// seen by expire or wakes us.
		c.expiryArmed.Store(false)
		now := time.Now()
		done, next := c.acc.expire(now)
		c.expiryArmed.Store(!next.IsZero())
		c.runCompletions(done)

		need, bump, pid, epoch := c.acc.needProducerID()
		if need && bump && epoch < math.MaxInt16 {
			// An idempotent (not transactional) producer bumps its epoch
			// itself, as Java's bumpIdempotentProducerEpoch does; the
			// broker takes a higher epoch starting at sequence 0. Only an
			// exhausted epoch needs a new producer id.
			c.acc.setProducerID(pid, epoch+1)
			c.log.Debug("kafka: producer epoch bumped", "id", pid, "epoch", epoch+1)
			c.wakeNode(-1)
			need = false
		}
		if need && !pidBusy {
			if now.Before(pidRetryAt) {
				next = earliest(next, pidRetryAt)
			} else {
				pidBusy = true
				c.wg.Add(1)
				go func() {
					defer c.wg.Done()
					p, e, err := c.initProducerID(c.ctx)
					pidCh <- pidResult{p, e, err}
				}()
			}
		}

		if c.txn != nil {
			c.txn.maybeAddPartitions()
		}

		st := c.client.meta.Load()
		c.ensureSenders(st.cluster)

		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-c.ctx.Done():
			return
		case <-c.managerWake:
		case <-timer.C:
		case <-st.updated:
			// Leaders may have moved: every sender looks again.
			c.ensureSenders(c.client.cluster())
			c.wakeNode(-1)
		case r := <-pidCh:
			pidBusy = false
			if r.err == nil {
				pidFails = 0
				c.acc.setProducerID(r.pid, r.epoch)
				c.log.Debug("kafka: producer id", "id", r.pid, "epoch", r.epoch)
				c.wakeNode(-1)
				continue
			}
			if c.pidFailed(r.err) {
				continue
			}
			pidFails++
			pidRetryAt = time.Now().Add(expBackoff(c.cfg.retryBackoff, c.cfg.retryBackoffM, pidFails))
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// pidFailed handles a failed InitProducerId. Errors that retrying will not
// fix disable idempotence when it was only on by default (the broker does
// not support it, or the principal may not use it), and are fatal when the
// user set enable.idempotence=true. It reports whether the error was final.
func (c *core) pidFailed(err error) bool {
	if errors.Is(err, ErrUnsupportedVersion) || errors.Is(err, ErrAuthorization) {
		if _, explicit := c.cfg.raw["enable.idempotence"]; !explicit {
			c.log.Warn("kafka: idempotence disabled: the cluster cannot grant a producer id; set enable.idempotence=false to silence this", "err", err)
			c.acc.disableIdempotence()
			c.wakeNode(-1)
			return true
		}
	} else if Retriable(err) {
		c.log.Debug("kafka: InitProducerId failed, retrying", "err", err)
		return false
	}
	c.log.Error("kafka: idempotent producer failed", "err", err)
	c.runCompletions(c.acc.setFatal(wrapErr(err, "the idempotent producer (enable.idempotence) could not get a producer id from the cluster")))
	return true
}

// initProducerID asks any broker for a new producer id (InitProducerId
// without a transactional id).
func (c *core) initProducerID(ctx context.Context) (int64, int16, error) {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = c.cfg.txnTimeoutMs
	rctx, cancel := context.WithTimeout(ctx, c.cfg.requestTO)
	kresp, err := c.client.requestAny(rctx, req)
	cancel()
	if err != nil {
		return 0, 0, err
	}
	resp := kresp.(*kmsg.InitProducerIDResponse)
	if err := brokerErr(resp.ErrorCode, nil); err != nil {
		return 0, 0, err
	}
	return resp.ProducerID, resp.ProducerEpoch, nil
}

// ensureSenders starts a sender for every broker in the snapshot.
func (c *core) ensureSenders(cl *Cluster) {
	c.sendersMu.Lock()
	defer c.sendersMu.Unlock()
	if c.ctx.Err() != nil {
		return
	}
	for id := range cl.nodes {
		if _, ok := c.senders[id]; ok {
			continue
		}
		s := &nodeSender{
			c:       c,
			node:    id,
			wake:    make(chan struct{}, 1),
			results: make(chan produceResult, c.cfg.maxInFlight+1),
		}
		c.senders[id] = s
		c.wg.Add(1)
		go s.run()
	}
}

// produceResult is the outcome of one produce request.
type produceResult struct {
	conn    *brokerConn
	batches []*batch
	sent    time.Time
	resp    kmsg.Response
	err     error
}

// nodeSender drains the batches of the partitions one broker leads into
// produce requests on its own connection to it, keeping up to
// max.in.flight.requests.per.connection requests outstanding, and handles
// the responses. Its fields are owned by its goroutine.
type nodeSender struct {
	c       *core
	node    int32
	wake    chan struct{} // cap 1
	results chan produceResult

	conn          *brokerConn
	inFlight      int
	throttleUntil time.Time
	connFails     int
	// compressed is scratch space for compressing one batch.
	compressed []byte
}

func (s *nodeSender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *nodeSender) run() {
	defer s.c.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer func() {
		if s.conn != nil {
			s.conn.close()
		}
	}()
	for {
		next := s.sendReady()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-s.c.ctx.Done():
			return
		case r := <-s.results:
			s.handle(r)
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// sendReady sends produce requests while there is room in flight and
// batches are ready. It returns when to look again (zero: when woken).
func (s *nodeSender) sendReady() time.Time {
	c := s.c
	for s.inFlight < c.cfg.maxInFlight {
		now := time.Now()
		if now.Before(s.throttleUntil) {
			return s.throttleUntil
		}
		cl := c.client.cluster()
		if !c.acc.hasDataFor(s.node, cl) {
			return time.Time{}
		}
		if s.conn == nil || !s.conn.alive() {
			conn, err := c.client.nodeConn(c.ctx, s.node, connProduce)
			if err != nil {
				s.connFails++
				c.client.requestUpdate(false)
				return time.Now().Add(expBackoff(c.cfg.reconnect, c.cfg.reconnectMax, s.connFails))
			}
			s.connFails = 0
			s.conn = conn
		}
		batches, next := c.acc.drain(s.node, cl, now, c.cfg.maxRequest)
		if len(batches) == 0 {
			return next
		}
		req, failed := s.buildRequest(batches, now)
		if len(failed) > 0 {
			c.runCompletions(failed)
		}
		if req == nil {
			continue
		}
		conn := s.conn
		s.inFlight++
		c.metrics.inFlight.Add(1)
		err := conn.send(req, c.cfg.acks == 0, func(resp kmsg.Response, err error) {
			s.results <- produceResult{conn: conn, batches: batches, sent: now, resp: resp, err: err}
		})
		if err != nil {
			s.inFlight--
			c.metrics.inFlight.Add(-1)
			c.acc.undrain(batches)
			s.conn = nil
			return time.Now().Add(jitter(c.cfg.reconnect))
		}
	}
	return time.Time{}
}

// buildRequest encodes the batches (outside the accumulator's lock: they
// belong to this sender now) into a produce request. Batches that fail to
// encode are finished with the error.
func (s *nodeSender) buildRequest(batches []*batch, now time.Time) (*produceRequest, []completion) {
	c := s.c
	req := &produceRequest{ProduceRequest: kmsg.NewPtrProduceRequest()}
	req.Acks = c.cfg.acks
	req.TimeoutMillis = int32(c.cfg.requestTO / time.Millisecond)
	if c.txn != nil {
		req.TransactionID = &c.cfg.transactionalID
	}
	var (
		failed  []*batch
		failErr error
		records int
		bytes   int
	)
	for _, b := range batches {
		if err := s.encode(b, now); err != nil {
			failed = append(failed, b)
			failErr = wrapErr(ErrCorruptRecord, "encoding batch for %s: %v", b.tp, err)
			continue
		}
		records += int(b.count)
		bytes += len(b.wire)
		i := len(req.topics) - 1
		if i < 0 || req.topics[i].name != b.tp.topic {
			i = slices.IndexFunc(req.topics, func(t produceTopic) bool { return t.name == b.tp.topic })
			if i < 0 {
				req.topics = append(req.topics, produceTopic{name: b.tp.topic})
				i = len(req.topics) - 1
			}
		}
		req.topics[i].partitions = append(req.topics[i].partitions, producePartition{partition: b.tp.partition, records: b.wire})
	}
	if len(failed) < len(batches) {
		c.metrics.recordRequest(records, bytes)
	}
	if len(failed) == 0 {
		return req, nil
	}
	done := c.acc.failDrained(failed, failErr, len(failed) == len(batches))
	if len(failed) == len(batches) {
		return nil, done
	}
	return req, done
}

// encode builds a batch's wire form the first time it is sent: the header
// filled in and, with compression.type, the records compressed into the
// batch's own buffer (through the sender's scratch buffer), so that memory
// stays within buffer.memory. A retry after an epoch bump rewrites the
// producer fields only.
func (s *nodeSender) encode(b *batch, now time.Time) error {
	c := s.c
	if b.wire != nil {
		if pid, epoch, seq := batchProducer(b.wire); pid != b.pid || epoch != b.epoch || seq != b.seq {
			setBatchProducer(b.wire, b.pid, b.epoch, b.seq)
		}
		c.metrics.recordBatch(b, len(b.wire), 0, false, now)
		return nil
	}
	h := batchHeader{
		codec:           c.cfg.codec,
		lastOffsetDelta: b.count - 1,
		baseTimestamp:   b.baseTimestamp,
		maxTimestamp:    b.maxTimestamp,
		producerID:      b.pid,
		producerEpoch:   b.epoch,
		baseSequence:    b.seq,
		count:           b.count,
		transactional:   c.txn != nil,
	}
	uncompressed := len(b.buf)
	if c.cfg.codec == record.None {
		b.wire = b.buf
	} else {
		out, err := compressRecords(c.cfg, append(s.compressed[:0], b.buf[:record.HeaderSize]...), b.buf[record.HeaderSize:])
		if err != nil {
			return err
		}
		if len(out) <= b.limit {
			b.wire = append(b.buf[:0], out...)
		} else {
			b.wire = slices.Clone(out)
		}
		// Keep the scratch space unless one odd batch made it huge.
		if cap(out) <= 2*b.limit {
			s.compressed = out[:0]
		}
	}
	writeBatchHeader(b.wire, &h)
	c.metrics.recordCompression(b.tp.topic, len(b.wire), uncompressed)
	c.metrics.recordBatch(b, len(b.wire), uncompressed-record.HeaderSize, true, now)
	return nil
}

// handle applies a produce response.
func (s *nodeSender) handle(r produceResult) {
	c := s.c
	s.inFlight--
	c.metrics.inFlight.Add(-1)
	if r.err != nil && r.conn == s.conn {
		s.conn = nil
	}
	now := time.Now()
	var results map[topicPartition]*partitionResult
	if r.resp != nil {
		resp := r.resp.(*kmsg.ProduceResponse)
		c.metrics.recordResponse(now.Sub(r.sent), resp.ThrottleMillis)
		if resp.ThrottleMillis > 0 {
			// KIP-219: the broker answered at once but asks us to hold
			// back for the quota's sake.
			s.throttleUntil = now.Add(time.Duration(resp.ThrottleMillis) * time.Millisecond)
		}
		results = make(map[topicPartition]*partitionResult, len(r.batches))
		for ti := range resp.Topics {
			t := &resp.Topics[ti]
			for pi := range t.Partitions {
				p := &t.Partitions[pi]
				results[topicPartition{t.Topic, p.Partition}] = &partitionResult{
					code: p.ErrorCode, message: p.ErrorMessage, baseOffset: p.BaseOffset, appendTime: p.LogAppendTime,
				}
			}
		}
	}
	acks0 := r.err == nil && r.resp == nil
	done, needMeta := c.acc.handleResponse(s.node, r.batches, results, acks0, r.err, now)
	if needMeta {
		c.client.requestUpdate(false)
	}
	c.runCompletions(done)
}
