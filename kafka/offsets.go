package kafka

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Offsets: where a partition's position comes from (the group's committed
// offset, auto.offset.reset through ListOffsets, validation through
// OffsetForLeaderEpoch after a leader change) and the offset lookups the
// application asks for.

// epochPtr returns nil for an unknown (negative) epoch.
func epochPtr(e int32) *int32 {
	if e < 0 {
		return nil
	}
	return &e
}

func epochOf(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}

// startLookups sends the requests that partitions without a valid
// position need, each kind on its own goroutine; results arrive while
// Poll waits.
func (c *consumerCore) startLookups() {
	now := time.Now()
	var committed, resets, validations []*partState
	c.mu.Lock()
	for _, tp := range c.order {
		ps := c.parts[tp]
		if ps.lookup || now.Before(ps.retryAt) {
			continue
		}
		switch ps.state {
		case stateInitializing:
			committed = append(committed, ps)
		case stateAwaitReset:
			if ps.reset.kind == resetNone {
				if !containsTP(c.noOffset, tp) {
					c.noOffset = append(c.noOffset, tp)
				}
				continue
			}
			resets = append(resets, ps)
		case stateAwaitValidation:
			validations = append(validations, ps)
		default:
			continue
		}
		ps.lookup = true
	}
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return
	}
	if len(committed) > 0 {
		c.wg.Go(func() { c.initFromCommitted(committed) })
	}
	if len(resets) > 0 {
		c.wg.Go(func() { c.resetPositions(resets) })
	}
	if len(validations) > 0 {
		c.wg.Go(func() { c.validatePositions(validations) })
	}
}

func containsTP(tps []TopicPartition, tp TopicPartition) bool {
	for _, x := range tps {
		if x == tp {
			return true
		}
	}
	return false
}

// lookupCtx bounds a background lookup by request.timeout.ms.
func (c *consumerCore) lookupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, c.cfg.requestTO)
}

// finishLookups applies results to the partitions that are still assigned
// to the same state and still in the state the lookup was for; the
// others' results are stale. Failed lookups are retried after
// retry.backoff.ms.
func (c *consumerCore) finishLookups(pss []*partState, state fetchState, err error, apply func(ps *partState) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ps := range pss {
		ps.lookup = false
		if c.parts[ps.tp] != ps || ps.state != state {
			continue
		}
		if err != nil || !apply(ps) {
			ps.retryAt = time.Now().Add(c.cfg.retryBackoff)
		}
	}
	if err != nil && !Retriable(err) && c.ctx.Err() == nil {
		c.setFatal(err)
	}
	c.signalLocked()
}

// seekTo sets a valid position.
// REQUIRES: c.mu held.
func (c *consumerCore) seekTo(ps *partState, offset int64, epoch int32) {
	ps.position, ps.posEpoch = offset, epoch
	ps.state = stateFetching
	ps.buf = nil
	ps.retryAt = time.Time{}
}

// requestReset asks for a position by strategy.
// REQUIRES: c.mu held.
func (c *consumerCore) requestReset(ps *partState, r offsetReset) {
	ps.state, ps.reset = stateAwaitReset, r
	ps.buf = nil
}

// initFromCommitted sets positions from the group's committed offsets, or
// asks for a reset where there is none.
func (c *consumerCore) initFromCommitted(pss []*partState) {
	ctx, cancel := c.lookupCtx()
	defer cancel()
	tps := make([]TopicPartition, len(pss))
	for i, ps := range pss {
		tps[i] = ps.tp
	}
	committed, err := c.fetchCommitted(ctx, tps)
	if err != nil {
		c.log.Debug("kafka: fetching committed offsets failed", "err", err)
	}
	cl := c.cl.cluster()
	c.finishLookups(pss, stateInitializing, err, func(ps *partState) bool {
		om, ok := committed[ps.tp]
		if !ok {
			c.requestReset(ps, c.cfg.reset)
			return true
		}
		c.seekTo(ps, om.Offset, epochOf(om.LeaderEpoch))
		c.maybeValidate(cl, ps)
		return true
	})
}

// maybeValidate moves a position read from an older leader epoch than the
// current one into validation.
// REQUIRES: c.mu held.
func (c *consumerCore) maybeValidate(cl *Cluster, ps *partState) {
	if ps.posEpoch < 0 {
		return
	}
	m := cl.topic(ps.tp.Topic)
	if m != nil && int(ps.tp.Partition) < len(m.partitions) && m.partitions[ps.tp.Partition].LeaderEpoch > ps.posEpoch {
		ps.state = stateAwaitValidation
	}
}

// resetTimestamp is the ListOffsets timestamp of a reset strategy.
func resetTimestamp(r offsetReset, now time.Time) int64 {
	switch r.kind {
	case resetEarliest:
		return -2
	case resetByDuration:
		return now.Add(-r.dur).UnixMilli()
	}
	return -1
}

// resetPositions looks up positions by each partition's reset strategy.
func (c *consumerCore) resetPositions(pss []*partState) {
	ctx, cancel := c.lookupCtx()
	defer cancel()
	now := time.Now()
	ts := map[TopicPartition]int64{}
	c.mu.Lock()
	for _, ps := range pss {
		ts[ps.tp] = resetTimestamp(ps.reset, now)
	}
	c.mu.Unlock()
	res, err := c.listOffsets(ctx, ts)
	// by_duration finds nothing newer than the duration: start at the
	// end, as Java does.
	if err == nil {
		latest := map[TopicPartition]int64{}
		for tp, t := range ts {
			if t >= 0 && res[tp].offset < 0 {
				latest[tp] = -1
			}
		}
		if len(latest) > 0 {
			var more map[TopicPartition]listedOffset
			if more, err = c.listOffsets(ctx, latest); err == nil {
				for tp, r := range more {
					res[tp] = r
				}
			}
		}
	}
	if err != nil {
		c.log.Debug("kafka: resetting offsets failed", "err", err)
	}
	c.finishLookups(pss, stateAwaitReset, err, func(ps *partState) bool {
		r, ok := res[ps.tp]
		if !ok || r.offset < 0 {
			return false
		}
		c.log.Info("kafka: resetting offset", "partition", ps.tp, "offset", r.offset, "strategy", ps.reset.String())
		c.seekTo(ps, r.offset, r.epoch)
		return true
	})
}

// validatePositions asks the leaders where the epochs of our positions end
// (OffsetForLeaderEpoch, KIP-320); a position past that end was truncated
// away.
func (c *consumerCore) validatePositions(pss []*partState) {
	ctx, cancel := c.lookupCtx()
	defer cancel()
	epochs := map[TopicPartition]int32{}
	c.mu.Lock()
	for _, ps := range pss {
		epochs[ps.tp] = ps.posEpoch
	}
	c.mu.Unlock()
	res, err := perLeader(ctx, c.cl, keysOf(epochs), func(ctx context.Context, conn *brokerConn, cur map[TopicPartition]int32, tps []TopicPartition) (map[TopicPartition]listedOffset, error) {
		return c.offsetForLeaderEpoch(ctx, conn, cur, epochs, tps)
	})
	c.finishLookups(pss, stateAwaitValidation, err, func(ps *partState) bool {
		r, ok := res[ps.tp]
		if !ok {
			return false
		}
		if ps.posEpoch != epochs[ps.tp] {
			return false
		}
		if r.epoch < 0 || r.offset < 0 {
			// The leader knows no such epoch: nothing to compare with.
			c.resetOrFail(ps, -1)
			return true
		}
		if r.offset < ps.position {
			c.truncated(ps, r.epoch, r.offset)
			return true
		}
		ps.state = stateFetching
		return true
	})
}

// truncated handles a position past the end of its epoch in the leader's
// log: the records after endOffset were truncated when leadership moved.
// REQUIRES: c.mu held.
func (c *consumerCore) truncated(ps *partState, epoch int32, endOffset int64) {
	if endOffset >= ps.position {
		return
	}
	if c.cfg.reset.kind == resetNone {
		c.setFatal(fmt.Errorf("%w: partition %s: fetch position %d is past the end %d of leader epoch %d; the log was truncated (auto.offset.reset=none)",
			ErrLogTruncation, ps.tp, ps.position, endOffset, epoch))
		ps.retryAt = time.Now().Add(c.cfg.retryBackoff)
		return
	}
	c.log.Warn("kafka: log truncation detected; resetting to the first offset known to diverge",
		"partition", ps.tp, "position", ps.position, "offset", endOffset, "epoch", epoch)
	c.seekTo(ps, endOffset, epoch)
}

// resetOrFail resets a partition by auto.offset.reset, or reports its
// truncation when that is none.
// REQUIRES: c.mu held.
func (c *consumerCore) resetOrFail(ps *partState, endOffset int64) {
	if c.cfg.reset.kind == resetNone {
		c.truncated(ps, -1, endOffset)
		return
	}
	c.requestReset(ps, c.cfg.reset)
}

// offsetOutOfRange handles OFFSET_OUT_OF_RANGE from a fetch.
// REQUIRES: c.mu held.
func (c *consumerCore) offsetOutOfRange(ps *partState) {
	if c.cfg.reset.kind == resetNone {
		c.posErrs[ps.tp] = ps.position
		ps.retryAt = time.Now().Add(c.cfg.retryBackoff)
		return
	}
	c.log.Info("kafka: fetch position out of range; resetting", "partition", ps.tp, "position", ps.position, "strategy", c.cfg.reset.String())
	c.requestReset(ps, c.cfg.reset)
}

func keysOf[V any](m map[TopicPartition]V) []TopicPartition {
	out := make([]TopicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	return sortTPs(out)
}

// listedOffset is one answer of ListOffsets or OffsetForLeaderEpoch.
type listedOffset struct {
	offset    int64
	timestamp int64
	epoch     int32
}

// perLeader runs send for the partitions of each leader and retries the
// partitions left without an answer (leader moved or not ready) after a
// metadata refresh, until all have one or ctx ends. send gets the leader
// epochs the metadata has, to fence stale leaders.
func perLeader[T any](ctx context.Context, c *client, tps []TopicPartition,
	send func(ctx context.Context, conn *brokerConn, cur map[TopicPartition]int32, tps []TopicPartition) (map[TopicPartition]T, error),
) (map[TopicPartition]T, error) {
	out := make(map[TopicPartition]T, len(tps))
	left := tps
	var lastErr error
	for attempt := 1; ; attempt++ {
		cl := c.cluster()
		if missing := partitionsWithoutLeader(cl, left); len(missing) > 0 {
			if fresh, err := c.metadataFor(ctx, topicsOf(missing), false); err == nil {
				cl = fresh
			} else {
				lastErr = err
			}
		}
		groups := map[int32][]TopicPartition{}
		nodes := map[int32]*Node{}
		cur := map[TopicPartition]int32{}
		for _, tp := range left {
			m := cl.topic(tp.Topic)
			if m == nil || int(tp.Partition) >= len(m.partitions) || m.partitions[tp.Partition].Leader == nil {
				lastErr = fmt.Errorf("%w: no leader known for %s", ErrUnknownTopicOrPartition, tp)
				continue
			}
			pi := m.partitions[tp.Partition]
			groups[pi.Leader.ID] = append(groups[pi.Leader.ID], tp)
			nodes[pi.Leader.ID] = pi.Leader
			cur[tp] = pi.LeaderEpoch
		}
		for id, g := range groups {
			conn, err := c.conn(ctx, nodeAddr(nodes[id]), connAdmin)
			if err != nil {
				lastErr = err
				continue
			}
			res, err := send(ctx, conn, cur, g)
			if err != nil {
				if !Retriable(err) {
					return out, err
				}
				lastErr = err
				continue
			}
			for tp, v := range res {
				out[tp] = v
			}
		}
		var next []TopicPartition
		for _, tp := range left {
			if _, ok := out[tp]; !ok {
				next = append(next, tp)
			}
		}
		if left = next; len(left) == 0 {
			return out, nil
		}
		c.requestUpdate(false)
		if err := sleepCtx(ctx, expBackoff(c.cfg.retryBackoff, c.cfg.retryBackoffM, attempt)); err != nil {
			if lastErr == nil {
				lastErr = err
			}
			return out, fmt.Errorf("%w (%w)", err, lastErr)
		}
	}
}

func partitionsWithoutLeader(cl *Cluster, tps []TopicPartition) []TopicPartition {
	var out []TopicPartition
	for _, tp := range tps {
		if cl.leaderID(tp.Topic, tp.Partition) < 0 {
			out = append(out, tp)
		}
	}
	return out
}

func topicsOf(tps []TopicPartition) []string {
	seen := map[string]bool{}
	var out []string
	for _, tp := range tps {
		if !seen[tp.Topic] {
			seen[tp.Topic] = true
			out = append(out, tp.Topic)
		}
	}
	sort.Strings(out)
	return out
}

// metadataFor asks any broker for the metadata of topics (all topics for
// nil), without changing what the metadata loop follows.
func (c *consumerCore) metadataFor(ctx context.Context, topics []string) (*Cluster, error) {
	return c.cl.metadataFor(ctx, topics, c.cfg.autoCreateTopics)
}

// partitionAnswer classifies a per-partition error code of ListOffsets or
// OffsetForLeaderEpoch: nil to use the answer, errRetryPartition to ask
// again after a metadata refresh, or a non-retriable error.
func partitionAnswer(tp TopicPartition, code int16) error {
	if code == 0 {
		return nil
	}
	err := brokerErr(code, nil)
	if kerr.IsRetriable(kerr.ErrorForCode(code)) {
		return errRetryPartition
	}
	return fmt.Errorf("%s: %w", tp, err)
}

// errRetryPartition marks a partition to ask about again.
var errRetryPartition = wrapErr(ErrLeaderNotAvailable, "retry")

// answer files one partition's answer in out if code is 0, leaves it out
// (to be asked again) if code is retriable, and returns the error
// otherwise.
func answer(out map[TopicPartition]listedOffset, tp TopicPartition, code int16, v listedOffset) error {
	switch err := partitionAnswer(tp, code); err {
	case nil:
		out[tp] = v
	case errRetryPartition:
	default:
		return err
	}
	return nil
}

// eachTopic calls fn with each topic of tps and its partitions, topics in
// order.
func eachTopic(tps []TopicPartition, fn func(topic string, parts []TopicPartition)) {
	for _, topic := range topicsOf(tps) {
		var parts []TopicPartition
		for _, tp := range tps {
			if tp.Topic == topic {
				parts = append(parts, tp)
			}
		}
		fn(topic, parts)
	}
}

// listOffsets looks up offsets by timestamp (-1 latest, -2 earliest) at
// the partitions' leaders, with the consumer's isolation level.
func (c *consumerCore) listOffsets(ctx context.Context, ts map[TopicPartition]int64) (map[TopicPartition]listedOffset, error) {
	return listOffsets(ctx, c.cl, c.cfg.readCommitted, ts)
}

// listOffsets looks up offsets by timestamp at the partitions' leaders.
func listOffsets(ctx context.Context, c *client, readCommitted bool, ts map[TopicPartition]int64) (map[TopicPartition]listedOffset, error) {
	return perLeader(ctx, c, keysOf(ts), func(ctx context.Context, conn *brokerConn, cur map[TopicPartition]int32, tps []TopicPartition) (map[TopicPartition]listedOffset, error) {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		if readCommitted {
			req.IsolationLevel = 1
		}
		eachTopic(tps, func(topic string, parts []TopicPartition) {
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = topic
			for _, tp := range parts {
				p := kmsg.NewListOffsetsRequestTopicPartition()
				p.Partition, p.Timestamp, p.CurrentLeaderEpoch, p.MaxNumOffsets = tp.Partition, ts[tp], cur[tp], 1
				rt.Partitions = append(rt.Partitions, p)
			}
			req.Topics = append(req.Topics, rt)
		})
		kresp, err := conn.request(ctx, req)
		if err != nil {
			return nil, err
		}
		out := map[TopicPartition]listedOffset{}
		for _, rt := range kresp.(*kmsg.ListOffsetsResponse).Topics {
			for _, rp := range rt.Partitions {
				tp := TopicPartition{rt.Topic, rp.Partition}
				if rp.ErrorCode == kerr.UnsupportedForMessageFormat.Code {
					out[tp] = listedOffset{offset: -1, timestamp: -1, epoch: -1}
					continue
				}
				if err := answer(out, tp, rp.ErrorCode, listedOffset{offset: rp.Offset, timestamp: rp.Timestamp, epoch: rp.LeaderEpoch}); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	})
}

// offsetForLeaderEpoch asks one leader where epochs end.
func (c *consumerCore) offsetForLeaderEpoch(ctx context.Context, conn *brokerConn, cur, epochs map[TopicPartition]int32, tps []TopicPartition) (map[TopicPartition]listedOffset, error) {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	eachTopic(tps, func(topic string, parts []TopicPartition) {
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		for _, tp := range parts {
			p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch = tp.Partition, cur[tp], epochs[tp]
			rt.Partitions = append(rt.Partitions, p)
		}
		req.Topics = append(req.Topics, rt)
	})
	kresp, err := conn.request(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[TopicPartition]listedOffset{}
	for _, rt := range kresp.(*kmsg.OffsetForLeaderEpochResponse).Topics {
		for _, rp := range rt.Partitions {
			tp := TopicPartition{rt.Topic, rp.Partition}
			if err := answer(out, tp, rp.ErrorCode, listedOffset{offset: rp.EndOffset, epoch: rp.LeaderEpoch}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// fetchCommitted reads the group's committed offsets (OffsetFetch); a
// partition without one is absent. It retries what a moving coordinator
// or a pending transactional commit (UNSTABLE_OFFSET_COMMIT) answers.
func (c *consumerCore) fetchCommitted(ctx context.Context, tps []TopicPartition) (map[TopicPartition]OffsetAndMetadata, error) {
	if c.coord == nil {
		return nil, wrapErr(ErrInvalidGroupID, "to use the group management or offset commit APIs, you must provide a valid group.id in the consumer configuration")
	}
	req := offsetFetchRequest(c.cfg.groupID, tps)
	backoff := func(n int) time.Duration { return expBackoff(c.cfg.retryBackoff, c.cfg.retryBackoffM, n) }
	for attempt := 1; ; attempt++ {
		kresp, err := c.coord.groupRequest(ctx, req, c.cfg.requestTO, backoff, offsetFetchCode)
		if err != nil {
			return nil, err
		}
		out, retry, err := parseOffsetFetch(kresp.(*kmsg.OffsetFetchResponse))
		if err != nil || !retry {
			return out, err
		}
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return nil, err
		}
	}
}

// offsetFetchRequest asks for a group's committed offsets of tps (all of
// them if tps is empty), waiting for transactional commits to settle
// (require_stable, KIP-447).
func offsetFetchRequest(group string, tps []TopicPartition) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	req.RequireStable = true
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = group
	g.MemberEpoch = -1
	eachTopic(tps, func(topic string, parts []TopicPartition) {
		rt := kmsg.NewOffsetFetchRequestTopic()
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, gt.Topic = topic, topic
		for _, tp := range parts {
			rt.Partitions = append(rt.Partitions, tp.Partition)
		}
		gt.Partitions = rt.Partitions
		req.Topics = append(req.Topics, rt)
		g.Topics = append(g.Topics, gt)
	})
	// Both layouts: v8 batches groups (KIP-709).
	req.Groups = []kmsg.OffsetFetchRequestGroup{g}
	return req
}

// offsetFetchCode is the group-level error of an OffsetFetch response.
func offsetFetchCode(r kmsg.Response) int16 {
	resp := r.(*kmsg.OffsetFetchResponse)
	if len(resp.Groups) > 0 {
		return resp.Groups[0].ErrorCode
	}
	return resp.ErrorCode
}

// parseOffsetFetch reads an OffsetFetch response of either layout; retry
// reports offsets not yet stable.
func parseOffsetFetch(resp *kmsg.OffsetFetchResponse) (map[TopicPartition]OffsetAndMetadata, bool, error) {
	type part struct {
		topic string
		p     kmsg.OffsetFetchResponseTopicPartition
	}
	var parts []part
	code := resp.ErrorCode
	if len(resp.Groups) > 0 {
		code = resp.Groups[0].ErrorCode
		for _, t := range resp.Groups[0].Topics {
			for _, p := range t.Partitions {
				parts = append(parts, part{t.Topic, kmsg.OffsetFetchResponseTopicPartition{
					Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: p.Metadata, ErrorCode: p.ErrorCode,
				}})
			}
		}
	} else {
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, part{t.Topic, p})
			}
		}
	}
	switch code {
	case kerr.UnstableOffsetCommit.Code:
		return nil, true, nil
	case kerr.GroupIDNotFound.Code:
		// A group nobody joined or committed to yet has no offsets.
		return map[TopicPartition]OffsetAndMetadata{}, false, nil
	}
	if err := brokerErr(code, nil); err != nil {
		return nil, false, fmt.Errorf("fetching committed offsets: %w", err)
	}
	out := map[TopicPartition]OffsetAndMetadata{}
	for _, x := range parts {
		tp := TopicPartition{x.topic, x.p.Partition}
		switch x.p.ErrorCode {
		case 0:
		case kerr.UnstableOffsetCommit.Code:
			return nil, true, nil
		case kerr.UnknownTopicOrPartition.Code:
			continue
		default:
			return nil, false, fmt.Errorf("fetching the committed offset of %s: %w", tp, brokerErr(x.p.ErrorCode, nil))
		}
		if x.p.Offset < 0 {
			continue
		}
		om := OffsetAndMetadata{Offset: x.p.Offset, LeaderEpoch: epochPtr(x.p.LeaderEpoch)}
		if x.p.Metadata != nil {
			om.Metadata = *x.p.Metadata
		}
		out[tp] = om
	}
	return out, false, nil
}
