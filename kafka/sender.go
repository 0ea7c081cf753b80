package kafka

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// core is the non-generic part of a producer: network client,
// accumulator, one sender goroutine per broker and a manager goroutine.
//
// Goroutines: manager (expiry, producer ids, starting senders), one
// nodeSender per broker, one producer-id request at a time; all stop when
// stop is closed and are waited for by Close.
type core struct {
	cfg    *producerConfig
	log    *slog.Logger
	client *client
	pool   *memoryPool
	acc    *accumulator

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

func newCore(cfg *producerConfig, log *slog.Logger, dial dialFunc) *core {
	c := &core{
		cfg:         cfg,
		log:         log,
		closing:     make(chan struct{}),
		managerWake: make(chan struct{}, 1),
		senders:     map[int32]*nodeSender{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.pool = &memoryPool{total: cfg.bufferMemory, avail: cfg.bufferMemory, onWait: func() { c.wakeNode(-1) }}
	c.acc = newAccumulator(cfg, c.pool)
	c.acc.wakeNode = c.wakeNode
	c.acc.wakeManager = c.wakeManagerNow
	c.acc.onNewBatch = c.onNewBatch
	c.client = newClient(cfg, log, dial)
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

// runCompletions frees the memory of finished batches and delivers their
// records' outcomes: interceptors, callbacks, futures, in record order.
func (c *core) runCompletions(done []completion) {
	for _, d := range done {
		c.pool.release(d.b.memory)
	}
	for _, d := range done {
		b := d.b
		for _, r := range b.recs {
			md := RecordMetadata{
				Topic:               b.tp.topic,
				Partition:           b.tp.partition,
				Offset:              -1,
				SerializedKeySize:   r.keySize,
				SerializedValueSize: r.valueSize,
			}
			if d.err == nil {
				if d.baseOffset >= 0 {
					md.Offset = d.baseOffset + int64(r.offsetDelta)
				}
				ts := r.timestamp
				if d.appendTime >= 0 {
					ts = d.appendTime
				}
				md.Timestamp = time.UnixMilli(ts)
			}
			r.complete(md, d.err)
		}
		close(b.done)
		if b.onDone != nil {
			b.onDone()
		}
	}
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
		req, failed := s.buildRequest(batches)
		if len(failed) > 0 {
			c.runCompletions(failed)
		}
		if req == nil {
			continue
		}
		conn := s.conn
		s.inFlight++
		err := conn.send(req, c.cfg.acks == 0, func(resp kmsg.Response, err error) {
			s.results <- produceResult{conn: conn, batches: batches, resp: resp, err: err}
		})
		if err != nil {
			s.inFlight--
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
func (s *nodeSender) buildRequest(batches []*batch) (*kmsg.ProduceRequest, []completion) {
	c := s.c
	req := kmsg.NewPtrProduceRequest()
	req.Acks = c.cfg.acks
	req.TimeoutMillis = int32(c.cfg.requestTO / time.Millisecond)
	topicIdx := map[string]int{}
	var failed []*batch
	var failErr error
	for _, b := range batches {
		if b.wire == nil {
			b.builder.ProducerID, b.builder.ProducerEpoch, b.builder.BaseSequence = b.pid, b.epoch, b.seq
			wire, err := b.builder.Build(nil)
			if err != nil {
				failed = append(failed, b)
				failErr = wrapErr(ErrCorruptRecord, "encoding batch for %s: %v", b.tp, err)
				continue
			}
			b.wire = wire
		}
		i, ok := topicIdx[b.tp.topic]
		if !ok {
			i = len(req.Topics)
			topicIdx[b.tp.topic] = i
			t := kmsg.NewProduceRequestTopic()
			t.Topic = b.tp.topic
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewProduceRequestTopicPartition()
		p.Partition = b.tp.partition
		p.Records = b.wire
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
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

// handle applies a produce response.
func (s *nodeSender) handle(r produceResult) {
	c := s.c
	s.inFlight--
	if r.err != nil && r.conn == s.conn {
		s.conn = nil
	}
	var resp *kmsg.ProduceResponse
	if r.resp != nil {
		resp = r.resp.(*kmsg.ProduceResponse)
		if resp.ThrottleMillis > 0 {
			// KIP-219: the broker answered at once but asks us to hold
			// back for the quota's sake.
			s.throttleUntil = time.Now().Add(time.Duration(resp.ThrottleMillis) * time.Millisecond)
		}
	}
	done, needMeta := c.acc.handleResponse(s.node, r.batches, resp, r.err, time.Now())
	if needMeta {
		c.client.requestUpdate(false)
	}
	c.runCompletions(done)
}
