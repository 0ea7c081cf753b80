package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// subMode is how the consumer got its partitions; the modes exclude each
// other, as in Java's SubscriptionState.
type subMode int8

const (
	subNone subMode = iota
	subTopics
	subPattern
	subRegex // a regular expression the group coordinator resolves (KIP-848)
	subAssigned
)

// fetchState is where a partition's position comes from.
type fetchState int8

const (
	// stateInitializing waits for the group's committed offset.
	stateInitializing fetchState = iota
	// stateAwaitReset waits for a ListOffsets (auto.offset.reset, or a
	// SeekToBeginning/End).
	stateAwaitReset
	// stateAwaitValidation waits for OffsetForLeaderEpoch after a leader
	// change, to detect log truncation (KIP-320).
	stateAwaitValidation
	// stateFetching has a valid position.
	stateFetching
)

// partState is one assigned partition (Java's TopicPartitionState).
// REQUIRES: consumerCore.mu held for every field.
type partState struct {
	tp    TopicPartition
	state fetchState
	// reset is the strategy of stateAwaitReset.
	reset offsetReset
	// position is the offset of the next record Poll returns, and
	// posEpoch the leader epoch of the record before it (-1 if unknown).
	position int64
	posEpoch int32
	paused   bool
	// buf holds fetched records not yet returned.
	buf *completedFetch
	// lookup is set while a committed-offset, reset or validation
	// request for the partition is in flight.
	lookup bool
	// retryAt delays fetches and lookups after an error.
	retryAt time.Time
	// From fetch responses, for lag.
	hw, lso, logStart int64
	// preferred is a read replica the leader named (KIP-392), or -1.
	preferred      int32
	preferredUntil time.Time
}

// consumerCore is the non-generic part of a consumer: subscription state,
// fetcher, offsets, commits and the group member.
//
// Goroutines: the metadata loop (client); the group goroutine while
// subscribed (group.go); the async committer (commit.go); short-lived
// goroutines that dial and send a fetch or look up offsets, tracked by
// wg; response callbacks on connection readers. Close stops all of them.
//
// Locks, in order: pollMu (one application call that runs callbacks at a
// time) before mu; mu guards the subscription state below and is never
// held during network I/O or while calling user code; commitMu is a leaf.
type consumerCore struct {
	cfg     *consumerConfig
	log     *slog.Logger
	cl      *client
	coord   *coordinator // nil without group.id
	metrics *consumerMetrics

	pollMu sync.Mutex

	mu       sync.Mutex
	mode     subMode                         // REQUIRES: mu held
	topics   []string                        // subscribed names (subTopics); REQUIRES: mu held
	pattern  *regexp.Regexp                  // subPattern; REQUIRES: mu held
	regex    string                          // subRegex; REQUIRES: mu held
	listener RebalanceListener               // REQUIRES: mu held
	parts    map[TopicPartition]*partState   // the assignment; REQUIRES: mu held
	order    []TopicPartition                // fetch order of parts; REQUIRES: mu held
	readyQ   []TopicPartition                // partitions with buf, in arrival order; REQUIRES: mu held
	nodes    map[int32]*nodeFetcher          // REQUIRES: mu held
	steps    []*rebalanceStep                // posted by the group, run in order by Poll; REQUIRES: mu held
	fatal    error                           // returned once by the next Poll; REQUIRES: mu held
	posErrs  map[TopicPartition]int64        // out of range under reset none; REQUIRES: mu held
	noOffset []TopicPartition                // no committed offset under reset none; REQUIRES: mu held
	closed   bool                            // REQUIRES: mu held
	group    *groupMember                    // non-nil while subscribed; REQUIRES: mu held
	extra    map[string]bool                 // topics the group leader needs metadata of; REQUIRES: mu held
	lastMeta map[TopicPartition]partitionKey // leader epochs seen; REQUIRES: mu held

	// changed is closed, and replaced, whenever something a waiting Poll
	// or Position may want arrives: records, a rebalance step, a finished
	// lookup. REQUIRES: mu held.
	changed chan struct{}

	// onCommit, if set, hears of every successful commit (consumer
	// interceptors); set before the core is shared.
	onCommit func(map[TopicPartition]OffsetAndMetadata)

	commitMu   sync.Mutex
	asyncQ     []*asyncCommit // every async commit whose callback has not run, in order; REQUIRES: commitMu held
	toSend     []*asyncCommit // REQUIRES: commitMu held
	sendWake   chan struct{}  // cap 1: toSend grew
	commitDone chan struct{}  // cap 1: an async commit finished

	wake wakeup
	// closing is set when Close begins, so that Polls stop.
	closing atomic.Bool

	// lastPollEnd (unix ns) and inPoll drive max.poll.interval.ms: the
	// time between Polls counts, the time inside one does not.
	lastPollEnd atomic.Int64
	inPoll      atomic.Bool
	// nextAutoCommit is owned by Poll's goroutine.
	nextAutoCommit time.Time

	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// partitionKey is a partition's leader as of a metadata snapshot.
type partitionKey struct {
	leader int32
	epoch  int32
}

func newConsumerCore(cfg *consumerConfig, log *slog.Logger, dial dialFunc) *consumerCore {
	c := &consumerCore{
		cfg:        cfg,
		log:        log,
		parts:      map[TopicPartition]*partState{},
		nodes:      map[int32]*nodeFetcher{},
		posErrs:    map[TopicPartition]int64{},
		lastMeta:   map[TopicPartition]partitionKey{},
		changed:    make(chan struct{}),
		sendWake:   make(chan struct{}, 1),
		commitDone: make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.metrics = newConsumerMetrics(cfg)
	c.cl = newClient(&cfg.netConfig, log, dial, ErrConsumerClosed)
	if cfg.groupID != "" {
		c.coord = &coordinator{cl: c.cl, group: cfg.groupID}
		c.wg.Go(c.runCommitter)
	}
	c.lastPollEnd.Store(time.Now().UnixNano())
	return c
}

// signal wakes whoever waits for a change (Poll, Position).
func (c *consumerCore) signal() {
	c.mu.Lock()
	c.signalLocked()
	c.mu.Unlock()
}

// REQUIRES: c.mu held.
func (c *consumerCore) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// setFatal makes the next Poll return err.
// REQUIRES: c.mu held.
func (c *consumerCore) setFatal(err error) {
	if c.fatal == nil {
		c.fatal = err
	}
}

// errIfClosed fails calls on a closed consumer.
func (c *consumerCore) errIfClosed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return wrapErr(ErrConsumerClosed, "this consumer has already been closed")
	}
	return nil
}

// newPart returns the state of a newly assigned partition.
func (c *consumerCore) newPart(tp TopicPartition) *partState {
	ps := &partState{tp: tp, posEpoch: -1, hw: -1, lso: -1, logStart: -1, preferred: -1}
	if c.coord != nil {
		ps.state = stateInitializing
	} else {
		ps.state, ps.reset = stateAwaitReset, c.cfg.reset
	}
	return ps
}

// setAssignment replaces the assignment with tps, keeping the state of
// partitions that stay.
// REQUIRES: c.mu held.
func (c *consumerCore) setAssignment(tps []TopicPartition) {
	keep := make(map[TopicPartition]bool, len(tps))
	for _, tp := range tps {
		keep[tp] = true
	}
	var gone []TopicPartition
	for tp := range c.parts {
		if !keep[tp] {
			gone = append(gone, tp)
		}
	}
	c.removeParts(gone)
	c.addParts(tps)
}

// addParts assigns partitions not yet assigned.
// REQUIRES: c.mu held.
func (c *consumerCore) addParts(tps []TopicPartition) {
	for _, tp := range tps {
		if _, ok := c.parts[tp]; !ok {
			c.parts[tp] = c.newPart(tp)
			c.order = append(c.order, tp)
		}
	}
}

// removeParts unassigns partitions, dropping their buffered records.
// REQUIRES: c.mu held.
func (c *consumerCore) removeParts(tps []TopicPartition) {
	if len(tps) == 0 {
		return
	}
	drop := make(map[TopicPartition]bool, len(tps))
	for _, tp := range tps {
		drop[tp] = true
		delete(c.parts, tp)
		delete(c.posErrs, tp)
		delete(c.lastMeta, tp)
	}
	c.order = slices.DeleteFunc(c.order, func(tp TopicPartition) bool { return drop[tp] })
	c.readyQ = slices.DeleteFunc(c.readyQ, func(tp TopicPartition) bool { return drop[tp] })
	c.noOffset = slices.DeleteFunc(c.noOffset, func(tp TopicPartition) bool { return drop[tp] })
}

// assignment returns the assigned partitions, sorted.
func (c *consumerCore) assignment() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.assignedLocked()
}

// REQUIRES: c.mu held.
func (c *consumerCore) assignedLocked() []TopicPartition {
	out := make([]TopicPartition, 0, len(c.parts))
	for tp := range c.parts {
		out = append(out, tp)
	}
	return sortTPs(out)
}

// updateInterest tells the metadata loop which topics to follow: the
// subscription, the assignment and, on a group leader, every member's
// topics.
func (c *consumerCore) updateInterest() {
	c.mu.Lock()
	set := map[string]bool{}
	for _, t := range c.topics {
		set[t] = true
	}
	for tp := range c.parts {
		set[tp.Topic] = true
	}
	for t := range c.extra {
		set[t] = true
	}
	all := c.mode == subPattern
	c.mu.Unlock()
	topics := make([]string, 0, len(set))
	for t := range set {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	c.cl.setInterest(topics, all)
}

// checkLeaderChanges moves partitions whose leader epoch went up into
// validation, when their position's epoch is older: the new leader may
// have truncated what we read (KIP-320).
// REQUIRES: c.mu held.
func (c *consumerCore) checkLeaderChanges(cl *Cluster) {
	for tp, ps := range c.parts {
		m := cl.topic(tp.Topic)
		if m == nil || int(tp.Partition) >= len(m.partitions) || m.partitions[tp.Partition].Leader == nil {
			continue
		}
		pi := m.partitions[tp.Partition]
		key := partitionKey{pi.Leader.ID, pi.LeaderEpoch}
		if old, ok := c.lastMeta[tp]; ok && old == key {
			continue
		}
		c.lastMeta[tp] = key
		if ps.state == stateFetching && ps.posEpoch >= 0 && pi.LeaderEpoch > ps.posEpoch {
			ps.state = stateAwaitValidation
			ps.buf = nil
		}
	}
}

// wakeup implements Wakeup: it cancels the blocking call in progress, or
// the next one if none is.
type wakeup struct {
	mu      sync.Mutex
	pending bool
	cancels map[*int]context.CancelCauseFunc
}

// begin returns a context that Wakeup cancels with ErrWakeup, and a
// function to call when the blocking call ends.
func (w *wakeup) begin(ctx context.Context) (context.Context, func(), error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending {
		w.pending = false
		return nil, nil, wrapErr(ErrWakeup, "woken up by Wakeup")
	}
	wctx, cancel := context.WithCancelCause(ctx)
	key := new(int)
	if w.cancels == nil {
		w.cancels = map[*int]context.CancelCauseFunc{}
	}
	w.cancels[key] = cancel
	return wctx, func() {
		w.mu.Lock()
		delete(w.cancels, key)
		w.mu.Unlock()
		cancel(nil)
	}, nil
}

// fire wakes the blocking calls in progress, or marks the next one.
func (w *wakeup) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.cancels) == 0 {
		w.pending = true
		return
	}
	w.cancelAll(ErrWakeup)
}

// cancelAll ends the blocking calls in progress with cause.
// REQUIRES: w.mu held.
func (w *wakeup) cancelAll(cause error) {
	for k, cancel := range w.cancels {
		cancel(cause)
		delete(w.cancels, k)
	}
}

// closing ends the blocking calls in progress: the consumer is closing.
func (w *wakeup) closing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancelAll(ErrConsumerClosed)
}

// ctxErr turns the end of a blocking call's context into its error:
// ErrWakeup after Wakeup, ErrConsumerClosed when Close interrupted it,
// otherwise the context's error.
func ctxErr(ctx context.Context) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrWakeup):
		return wrapErr(ErrWakeup, "woken up by Wakeup")
	case errors.Is(cause, ErrConsumerClosed):
		return wrapErr(ErrConsumerClosed, "the consumer was closed")
	}
	return ctx.Err()
}

// blocking wraps a blocking call: Wakeup interrupts it, and it gives up
// after default.api.timeout.ms if ctx has no earlier deadline.
func (c *consumerCore) blocking(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := c.errIfClosed(); err != nil {
		return err
	}
	wctx, done, err := c.wake.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	tctx, cancel := context.WithTimeout(wctx, c.cfg.apiTimeout)
	defer cancel()
	err = fn(tctx)
	if err != nil && tctx.Err() != nil {
		if wctx.Err() != nil {
			return ctxErr(wctx)
		}
		if ctx.Err() == nil {
			return fmt.Errorf("%w: gave up after default.api.timeout.ms (%v): %w", ErrTimeout, c.cfg.apiTimeout, err)
		}
	}
	return err
}
