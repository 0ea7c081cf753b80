package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Commits, as the Java consumer makes them: CommitSync retries until the
// commit succeeds, fails for good or its time runs out; CommitAsync sends
// once and reports to a callback, run later on the application's
// goroutine in commit order; auto-commit is an asynchronous commit of the
// positions at the start of Poll, that is after the records earlier Polls
// returned, never of records not yet returned.

// asyncCommit is one asynchronous commit.
type asyncCommit struct {
	offsets map[TopicPartition]OffsetAndMetadata
	cb      OffsetCommitCallback
	auto    bool
	done    bool  // REQUIRES: commitMu held
	err     error // REQUIRES: commitMu held
}

// consumed returns the positions of the assigned partitions with a valid
// position: what CommitSync and auto-commit commit (Java's
// SubscriptionState.allConsumed). only, if not nil, limits it to those
// partitions.
func (c *consumerCore) consumed(only []TopicPartition) map[TopicPartition]OffsetAndMetadata {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[TopicPartition]OffsetAndMetadata{}
	add := func(ps *partState) {
		if ps != nil && ps.state == stateFetching {
			out[ps.tp] = OffsetAndMetadata{Offset: ps.position, LeaderEpoch: epochPtr(ps.posEpoch)}
		}
	}
	if only != nil {
		for _, tp := range only {
			add(c.parts[tp])
		}
		return out
	}
	for _, ps := range c.parts {
		add(ps)
	}
	return out
}

// identity is who commits: the member and its generation (or KIP-848
// member epoch), or -1 and "" for a consumer outside a group.
func (c *consumerCore) identity() (memberID string, generation int32) {
	c.mu.Lock()
	g := c.group
	c.mu.Unlock()
	if g == nil {
		return "", -1
	}
	return g.identity()
}

// buildCommit makes an OffsetCommit request.
func (c *consumerCore) buildCommit(offsets map[TopicPartition]OffsetAndMetadata) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = c.cfg.groupID
	req.MemberID, req.Generation = c.identity()
	if req.Generation < 0 {
		// Outside the group: a simple commit, with no member.
		req.MemberID, req.Generation = "", -1
	} else if c.cfg.instanceID != "" {
		req.InstanceID = kmsg.StringPtr(c.cfg.instanceID)
	}
	req.RetentionTimeMillis = -1
	req.Topics = commitTopics(offsets)
	return req
}

// commitTopics lays offsets out as an OffsetCommit request's topics.
func commitTopics(offsets map[TopicPartition]OffsetAndMetadata) []kmsg.OffsetCommitRequestTopic {
	var out []kmsg.OffsetCommitRequestTopic
	eachTopic(keysOf(offsets), func(topic string, parts []TopicPartition) {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		for _, tp := range parts {
			om := offsets[tp]
			p := kmsg.NewOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset, p.LeaderEpoch = tp.Partition, om.Offset, epochOf(om.LeaderEpoch)
			p.Metadata = kmsg.StringPtr(om.Metadata)
			rt.Partitions = append(rt.Partitions, p)
		}
		out = append(out, rt)
	})
	return out
}

// commitOutcome reads an OffsetCommit response: the partitions to retry
// (retriable errors) and the first non-retriable error.
func (c *consumerCore) commitOutcome(req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, offsets map[TopicPartition]OffsetAndMetadata) (map[TopicPartition]OffsetAndMetadata, error) {
	retry := map[TopicPartition]OffsetAndMetadata{}
	var lastRetriable error
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode == 0 {
				continue
			}
			tp := TopicPartition{rt.Topic, rp.Partition}
			err := brokerErr(rp.ErrorCode, nil)
			switch rp.ErrorCode {
			case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code:
				c.coord.invalidate(nil)
			case kerr.UnknownMemberID.Code, kerr.IllegalGeneration.Code:
				c.membershipLost(req, rp.ErrorCode)
				return nil, fmt.Errorf("%w (%w): the commit cannot be completed since the group has already rebalanced and assigned the partitions to another member; "+
					"if this member did not call Poll within max.poll.interval.ms, raise that or lower max.poll.records", ErrCommitFailed, err)
			case kerr.RebalanceInProgress.Code:
				return nil, fmt.Errorf("the offset commit cannot be completed since the consumer is undergoing a rebalance; "+
					"complete it by calling Poll, then commit again: %w", err)
			case kerr.StaleMemberEpoch.Code:
				// The group's epoch moved on; the heartbeat brings the
				// new one.
			}
			if !Retriable(err) && rp.ErrorCode != kerr.StaleMemberEpoch.Code {
				return nil, fmt.Errorf("committing offsets of %s: %w", tp, err)
			}
			retry[tp] = offsets[tp]
			lastRetriable = err
		}
	}
	if len(retry) > 0 {
		return retry, lastRetriable
	}
	return nil, nil
}

// membershipLost tells the group member that a commit found it out of
// the group, unless the member moved on to another generation since the
// commit was sent (Java's check as well).
func (c *consumerCore) membershipLost(req *kmsg.OffsetCommitRequest, code int16) {
	c.mu.Lock()
	g := c.group
	c.mu.Unlock()
	if g == nil {
		return
	}
	if member, gen := g.identity(); member == req.MemberID && gen == req.Generation && gen >= 0 {
		g.requestRejoin("commit answered "+brokerErr(code, nil).(*BrokerError).Name, code == kerr.UnknownMemberID.Code, gen)
	}
}

// commitSync commits offsets, retrying retriable failures with backoff
// until ctx ends. Async commits made before go first, so that an older
// one never lands after it; their callbacks run here.
func (c *consumerCore) commitSync(ctx context.Context, offsets map[TopicPartition]OffsetAndMetadata) error {
	if c.coord == nil {
		return wrapErr(ErrInvalidGroupID, "to use the group management or offset commit APIs, you must provide a valid group.id in the consumer configuration")
	}
	if err := c.waitAsyncCommits(ctx); err != nil {
		return err
	}
	if len(offsets) == 0 {
		return nil
	}
	all := offsets
	var lastErr error
	for attempt := 1; ; attempt++ {
		req := c.buildCommit(offsets)
		start := time.Now()
		kresp, err := c.coord.groupRequestOnce(ctx, req, c.cfg.requestTO)
		if err == nil {
			c.metrics.recordCommit(time.Since(start))
			var retry map[TopicPartition]OffsetAndMetadata
			if retry, err = c.commitOutcome(req, kresp.(*kmsg.OffsetCommitResponse), offsets); err == nil {
				if c.onCommit != nil {
					c.onCommit(all)
				}
				return nil
			}
			if retry != nil {
				offsets = retry
			}
		}
		if !Retriable(err) && !isStaleEpoch(err) {
			return err
		}
		lastErr = err
		c.log.Debug("kafka: commit failed, retrying", "err", err)
		if err := sleepCtx(ctx, expBackoff(c.cfg.retryBackoff, c.cfg.retryBackoffM, attempt)); err != nil {
			return fmt.Errorf("%w: commit did not succeed before the time ran out: %w", err, lastErr)
		}
	}
}

func isStaleEpoch(err error) bool {
	be, ok := err.(*BrokerError)
	return ok && be.Code == kerr.StaleMemberEpoch.Code
}

// commitAsync queues a commit for the committer goroutine.
func (c *consumerCore) commitAsync(offsets map[TopicPartition]OffsetAndMetadata, cb OffsetCommitCallback, auto bool) {
	ac := &asyncCommit{offsets: offsets, cb: cb, auto: auto}
	c.commitMu.Lock()
	c.asyncQ = append(c.asyncQ, ac)
	c.toSend = append(c.toSend, ac)
	c.commitMu.Unlock()
	select {
	case c.sendWake <- struct{}{}:
	default:
	}
}

// runCommitter sends asynchronous commits in the order they were made, all
// on the coordinator connection, so the broker applies them in order.
func (c *consumerCore) runCommitter() {
	for {
		select {
		case <-c.ctx.Done():
			c.commitMu.Lock()
			pending := c.toSend
			c.toSend = nil
			c.commitMu.Unlock()
			for _, ac := range pending {
				c.finishAsync(ac, wrapErr(ErrConsumerClosed, "the consumer closed before the commit was sent"))
			}
			return
		case <-c.sendWake:
		}
		c.commitMu.Lock()
		batch := c.toSend
		c.toSend = nil
		c.commitMu.Unlock()
		for _, ac := range batch {
			c.sendAsync(ac)
		}
	}
}

// sendAsync sends one commit without retrying it.
func (c *consumerCore) sendAsync(ac *asyncCommit) {
	if len(ac.offsets) == 0 {
		c.finishAsync(ac, nil)
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.requestTO)
	defer cancel()
	conn, err := c.coord.conn(ctx)
	if err != nil {
		c.finishAsync(ac, err)
		return
	}
	req := c.buildCommit(ac.offsets)
	start := time.Now()
	err = conn.send(req, false, func(r kmsg.Response, err error) {
		if err != nil {
			c.coord.invalidate(conn)
			c.finishAsync(ac, err)
			return
		}
		c.metrics.recordCommit(time.Since(start))
		_, err = c.commitOutcome(req, r.(*kmsg.OffsetCommitResponse), ac.offsets)
		c.finishAsync(ac, err)
	})
	if err != nil {
		c.coord.invalidate(conn)
		c.finishAsync(ac, err)
	}
}

func (c *consumerCore) finishAsync(ac *asyncCommit, err error) {
	c.commitMu.Lock()
	ac.done, ac.err = true, err
	c.commitMu.Unlock()
	select {
	case c.commitDone <- struct{}{}:
	default:
	}
}

// runCommitCallbacks runs the callbacks of finished async commits, in
// commit order, on the calling (application) goroutine.
func (c *consumerCore) runCommitCallbacks() {
	c.commitMu.Lock()
	n := 0
	for n < len(c.asyncQ) && c.asyncQ[n].done {
		n++
	}
	finished := c.asyncQ[:n:n]
	c.asyncQ = c.asyncQ[n:]
	c.commitMu.Unlock()
	for _, ac := range finished {
		if ac.err == nil && len(ac.offsets) > 0 && c.onCommit != nil {
			c.onCommit(ac.offsets)
		}
		switch {
		case ac.cb != nil:
			ac.cb(ac.offsets, ac.err)
		case ac.auto && ac.err != nil:
			c.log.Warn("kafka: asynchronous auto-commit failed", "offsets", len(ac.offsets), "err", ac.err)
		}
	}
}

// waitAsyncCommits waits until every async commit made so far has its
// outcome, then runs the callbacks: CommitSync and Close do, so that the
// last commit wins and callbacks keep commit order.
func (c *consumerCore) waitAsyncCommits(ctx context.Context) error {
	for {
		c.commitMu.Lock()
		pending := false
		for _, ac := range c.asyncQ {
			if !ac.done {
				pending = true
				break
			}
		}
		c.commitMu.Unlock()
		c.runCommitCallbacks()
		if !pending {
			return nil
		}
		select {
		case <-c.commitDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// maybeAutoCommit commits the consumed positions asynchronously every
// auto.commit.interval.ms. Poll calls it before returning new records.
func (c *consumerCore) maybeAutoCommit(now time.Time) {
	if !c.cfg.autoCommit || now.Before(c.nextAutoCommit) {
		return
	}
	c.nextAutoCommit = now.Add(c.cfg.autoCommitInterval)
	if offsets := c.consumed(nil); len(offsets) > 0 {
		c.commitAsync(offsets, nil, true)
	}
}
