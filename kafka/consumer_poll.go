package kafka

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// subscribe starts or changes a group subscription.
func (c *consumerCore) subscribe(mode subMode, topics []string, re *regexp.Regexp, regex string, l RebalanceListener) error {
	if c.coord == nil {
		return wrapErr(ErrInvalidGroupID, "to use the group management or offset commit APIs, you must provide a valid group.id in the consumer configuration")
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return wrapErr(ErrConsumerClosed, "this consumer has already been closed")
	}
	if c.mode == subAssigned {
		c.mu.Unlock()
		return fmt.Errorf("%w: subscription to topics, partitions and pattern are mutually exclusive", ErrIllegalState)
	}
	c.mode, c.topics, c.pattern, c.regex, c.listener = mode, topics, re, regex, l
	g := c.group
	started := g == nil
	if started {
		g = newGroupMember(c)
		c.group = g
	}
	c.mu.Unlock()
	c.updateInterest()
	if started {
		// max.poll.interval.ms counts from here until the first Poll.
		c.lastPollEnd.Store(time.Now().UnixNano())
		g.start()
	} else {
		g.poke()
	}
	return nil
}

// assign sets a manual assignment.
func (c *consumerCore) assign(tps []TopicPartition) error {
	for _, tp := range tps {
		if tp.Topic == "" {
			return fmt.Errorf("%w: topic partitions to assign to cannot have null or empty topic", ErrInvalidTopic)
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return wrapErr(ErrConsumerClosed, "this consumer has already been closed")
	}
	if c.mode == subTopics || c.mode == subPattern || c.mode == subRegex {
		c.mu.Unlock()
		return fmt.Errorf("%w: subscription to topics, partitions and pattern are mutually exclusive", ErrIllegalState)
	}
	c.mu.Unlock()
	// Java commits what was consumed before the assignment changes.
	if c.cfg.autoCommit {
		if offsets := c.consumed(nil); len(offsets) > 0 {
			c.commitAsync(offsets, nil, true)
		}
	}
	c.mu.Lock()
	if len(tps) == 0 {
		c.mode = subNone
	} else {
		c.mode = subAssigned
	}
	c.setAssignment(slices.Compact(sortTPs(slices.Clone(tps))))
	c.signalLocked()
	c.mu.Unlock()
	c.updateInterest()
	return nil
}

// unsubscribe ends the subscription: the listener hears of the partitions
// going (revoked, or lost if the member is no longer in the group), the
// member leaves, and the assignment is cleared.
// REQUIRES: c.pollMu held.
func (c *consumerCore) unsubscribe(ctx context.Context, reason string) {
	c.mu.Lock()
	g, l := c.group, c.listener
	owned := c.assignedLocked()
	c.mu.Unlock()
	if g != nil {
		if l == nil {
			l = RebalanceListenerFuncs{}
		}
		if len(owned) > 0 {
			if _, gen := g.identity(); gen < 0 {
				l.OnPartitionsLost(owned)
			} else {
				l.OnPartitionsRevoked(owned)
			}
		}
		c.log.Info("kafka: leaving the group", "group", c.cfg.groupID, "reason", reason)
		g.close(ctx, true)
	}
	c.mu.Lock()
	c.group, c.mode, c.topics, c.pattern, c.regex, c.listener, c.extra = nil, subNone, nil, nil, "", nil, nil
	c.steps = nil
	c.setAssignment(nil)
	c.mu.Unlock()
	c.updateInterest()
}

// close implements Consumer.Close.
// REQUIRES: c.pollMu held.
func (c *consumerCore) close(ctx context.Context) error {
	var errs []error
	if c.coord != nil {
		offsets := map[TopicPartition]OffsetAndMetadata{}
		if c.cfg.autoCommit {
			offsets = c.consumed(nil)
		}
		// With no offsets this only waits for the async commits.
		cctx, cancel := context.WithTimeout(ctx, c.cfg.apiTimeout)
		if err := c.commitSync(cctx, offsets); err != nil {
			errs = append(errs, fmt.Errorf("committing on close: %w", err))
		}
		cancel()
	}
	c.unsubscribe(ctx, "the consumer is being closed")
	c.mu.Lock()
	c.closed = true
	c.signalLocked()
	c.mu.Unlock()
	c.wake.fire()
	c.cancel()
	c.cl.close()
	c.wg.Wait()
	c.runCommitCallbacks()
	if len(errs) > 0 {
		return fmt.Errorf("closing consumer: %w", joinErrs(errs))
	}
	return nil
}

func joinErrs(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("%w; %w", errs[0], joinErrs(errs[1:]))
}

// startPoll checks that Poll has something to read and tells the group
// member the application is polling.
func (c *consumerCore) startPoll() error {
	c.mu.Lock()
	mode, g := c.mode, c.group
	c.mu.Unlock()
	if mode == subNone {
		return fmt.Errorf("%w: consumer is not subscribed to any topics or assigned any partitions", ErrIllegalState)
	}
	if g != nil {
		g.poke()
	}
	return nil
}

// watch returns the channels that tell Poll something changed, taken
// before it looks, so that no change is missed.
func (c *consumerCore) watch() (changed, metaUpdated chan struct{}) {
	c.mu.Lock()
	changed = c.changed
	c.mu.Unlock()
	return changed, c.cl.meta.Load().updated
}

// prepare runs what Poll owes before it returns records: rebalance steps
// and their callbacks, commit callbacks, leader checks, auto-commit and
// position lookups; then it returns the errors the application must see.
func (c *consumerCore) prepare() error {
	for st := c.takeStep(); st != nil; st = c.takeStep() {
		c.runStep(st)
	}
	c.runCommitCallbacks()
	c.mu.Lock()
	c.checkLeaderChanges(c.cl.cluster())
	c.mu.Unlock()
	c.maybeAutoCommit(time.Now())
	c.startLookups()

	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.fatal; err != nil {
		c.fatal = nil
		return err
	}
	if len(c.posErrs) > 0 {
		err := &OffsetOutOfRangeError{Offsets: c.posErrs}
		c.posErrs = map[TopicPartition]int64{}
		return err
	}
	if len(c.noOffset) > 0 {
		err := fmt.Errorf("%w: undefined offset with no reset policy (auto.offset.reset=none) for partitions %v; Seek them", ErrNoOffset, c.noOffset)
		c.noOffset = nil
		return err
	}
	return nil
}

// wait blocks Poll until something changes, a timer of the consumer's
// is due (auto-commit, a retry), or ctx ends.
func (c *consumerCore) wait(ctx context.Context, changed, metaUpdated chan struct{}) error {
	next := c.nextDue()
	var timerC <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(max(0, time.Until(next)))
		defer t.Stop()
		timerC = t.C
	}
	select {
	case <-changed:
	case <-metaUpdated:
	case <-timerC:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// nextDue is the earliest time Poll has work without being woken: the
// next auto-commit, the end of a retry backoff.
func (c *consumerCore) nextDue() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if c.cfg.autoCommit {
		consider(c.nextAutoCommit)
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ps := range c.parts {
		if ps.retryAt.After(now) {
			consider(ps.retryAt)
		}
	}
	for _, nf := range c.nodes {
		if nf.retryAt.After(now) {
			consider(nf.retryAt)
		}
	}
	return next
}

// chunk is a run of decoded records of one partition that Poll is
// deserializing.
type chunk struct {
	ps        *partState
	startPos  int64
	cf        *completedFetch // what recs come from
	recs      []rawRecord
	endPos    int64 // the position after recs (and any batches skipped)
	endEpoch  int32
	exhausted bool
	err       error
}

// bufferedRecords counts the records Poll could return without fetching.
func (c *consumerCore) bufferedRecords() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tp := range c.readyQ {
		if ps := c.parts[tp]; ps != nil && ps.buf != nil && !ps.paused {
			n += ps.buf.buffered()
		}
	}
	return n
}

// nextChunk takes up to limit records from the first partition with
// buffered records that is not paused.
func (c *consumerCore) nextChunk(limit int) *chunk {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < len(c.readyQ); {
		tp := c.readyQ[i]
		ps := c.parts[tp]
		if ps == nil || ps.buf == nil || ps.state != stateFetching {
			c.readyQ = slices.Delete(c.readyQ, i, i+1)
			continue
		}
		if ps.paused {
			i++
			continue
		}
		cf := ps.buf
		recs, more, err := cf.next(ps.position, limit)
		ch := &chunk{ps: ps, startPos: ps.position, cf: cf, recs: recs, endPos: cf.nextOffset, endEpoch: cf.nextEpoch, exhausted: !more, err: err}
		if err != nil {
			// The bad batch stays, so every Poll reports it until the
			// application seeks past it.
			ps.retryAt = time.Now().Add(c.cfg.retryBackoff)
			if len(recs) > 0 {
				ch.err = nil
				ch.exhausted = false
			}
		}
		return ch
	}
	return nil
}

// finishChunk moves the partition's position past the records Poll
// accepted: all, or those before failed (a record that did not
// deserialize, which the position then points at). It returns false if
// the partition was reassigned or sought meanwhile, in which case Poll
// drops the chunk. Once the chunk's fetch is no longer buffered, its
// record array is recycled: ch.recs must not be used after.
func (c *consumerCore) finishChunk(ch *chunk, failed int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := ch.ps
	defer func() {
		// Only Poll's goroutine reads a filed fetch, and once dropped
		// from its partition only through this chunk.
		if ps.buf != ch.cf {
			ch.cf.release()
		}
	}()
	if c.parts[ps.tp] != ps || ps.position != ch.startPos || ps.state != stateFetching {
		return false
	}
	if ch.err != nil {
		return true
	}
	if failed >= 0 {
		ps.position = ch.recs[failed].offset
		if failed > 0 {
			ps.posEpoch = ch.cf.leaderEpoch(&ch.recs[failed-1])
		}
		ps.buf = nil
		return true
	}
	ps.position, ps.posEpoch = ch.endPos, ch.endEpoch
	if ch.exhausted {
		ps.buf = nil
	}
	now := time.Now()
	if n := float64(len(ch.recs)); n > 0 {
		c.metrics.consumed.record(now, n, 1, n)
	}
	if lag, ok := c.lagLocked(ps); ok {
		c.metrics.lag.record(now, float64(lag), 1, float64(lag))
	}
	return true
}

// withParts applies fn to the named assigned partitions (all of them if
// none are named), or fails if one is not assigned.
func (c *consumerCore) withParts(tps []TopicPartition, op string, fn func(ps *partState)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return wrapErr(ErrConsumerClosed, "this consumer has already been closed")
	}
	if len(tps) == 0 {
		for _, tp := range c.order {
			fn(c.parts[tp])
		}
		c.signalLocked()
		return nil
	}
	for _, tp := range tps {
		if c.parts[tp] == nil {
			return fmt.Errorf("%w: no current assignment for partition %s (%s)", ErrIllegalState, tp, op)
		}
	}
	for _, tp := range tps {
		fn(c.parts[tp])
	}
	c.signalLocked()
	return nil
}
