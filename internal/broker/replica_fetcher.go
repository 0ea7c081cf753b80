package broker

// A replica fetcher copies the logs of the partitions this broker follows
// from one leader broker, with Kafka's own Fetch request carrying this
// broker's id as the replica id: the leader then reads up to its log end
// rather than its high watermark, records how far each follower has got,
// and answers with its high watermark, which the follower keeps.
//
// When a replica starts following (a new leader or leader epoch), the
// fetcher first finds where its log diverged from the leader's with
// OffsetForLeaderEpoch (KIP-101, KIP-279): the leader's end offset of the
// follower's latest epoch; the follower truncates to it and asks again
// until their epochs agree. A fetch out of the leader's range truncates to
// the leader's log end (the follower is ahead of an unclean leader) or
// restarts the log at the leader's log start (the follower is behind
// retention). Records are appended with their leader's offsets and leader
// epochs, checksums checked.

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/storage"
)

// Request versions the fetchers send: Fetch v12 (flexible, topics by name,
// replica id in the body), OffsetForLeaderEpoch v4 (with the replica id
// and current leader epoch), ListOffsets v7.
const (
	replicaFetchVersion       = 12
	replicaEpochQueryVersion  = 4
	replicaListOffsetsVersion = 7
)

// replicaFetcher fetches the partitions this broker follows from one
// leader.
type replicaFetcher struct {
	m      *replicaManager
	leader int32
	log    *slog.Logger

	mu    sync.Mutex // guards parts, conn, stopped
	parts map[*partition]*followState
	conn  *brokerConn
	// stopped is set by stop; the run loop exits at its next turn.
	stopped bool
	wake    chan struct{}
}

// followState is a followed partition as its fetcher sees it.
type followState struct {
	epoch int32 // the leader epoch it follows in
	// truncating: the divergence from the leader's log is not settled.
	truncating bool
	// backoffUntil delays the partition after an error.
	backoffUntil time.Time
	// refusals counts the leader's refusals in a row (see delayRefused).
	refusals int
}

// firstRefusalBackoff is the wait after a leader first refuses a
// partition because it has not yet applied the metadata this follower
// acts on; it doubles with each refusal in a row up to
// replica.fetch.backoff.ms.
const firstRefusalBackoff = 20 * time.Millisecond

func newReplicaFetcher(m *replicaManager, leader int32) *replicaFetcher {
	return &replicaFetcher{
		m: m, leader: leader,
		log:   m.b.log.With("component", "replica-fetcher", "leader", leader),
		parts: map[*partition]*followState{},
		wake:  make(chan struct{}, 1),
	}
}

// add starts fetching p in leader epoch epoch, truncation first.
func (f *replicaFetcher) add(p *partition, epoch int32) {
	f.mu.Lock()
	f.parts[p] = &followState{epoch: epoch, truncating: true}
	f.mu.Unlock()
	f.kick()
}

// remove stops fetching p and returns how many partitions are left.
func (f *replicaFetcher) remove(p *partition) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.parts, p)
	return len(f.parts)
}

// stop ends the fetcher; a request in flight is cut short.
func (f *replicaFetcher) stop() {
	f.mu.Lock()
	f.stopped = true
	if f.conn != nil {
		f.conn.close()
	}
	f.mu.Unlock()
	f.kick()
}

func (f *replicaFetcher) kick() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// fetchTarget is one partition of a request, with the leader epoch it
// was sent in.
type fetchTarget struct {
	p     *partition
	epoch int32
}

func (f *replicaFetcher) run() {
	defer f.m.wg.Done()
	defer func() {
		f.mu.Lock()
		if f.conn != nil {
			f.conn.close()
			f.conn = nil
		}
		f.mu.Unlock()
	}()
	backoff := time.Duration(f.m.b.cfg.Int64("replica.fetch.backoff.ms")) * time.Millisecond
	for {
		f.mu.Lock()
		if f.stopped {
			f.mu.Unlock()
			return
		}
		now := time.Now()
		var truncate, fetch []fetchTarget
		next := now.Add(time.Second)
		for p, st := range f.parts {
			switch {
			case now.Before(st.backoffUntil):
				next = minTime(next, st.backoffUntil)
			case st.truncating:
				truncate = append(truncate, fetchTarget{p, st.epoch})
			default:
				fetch = append(fetch, fetchTarget{p, st.epoch})
			}
		}
		f.mu.Unlock()
		if len(truncate)+len(fetch) == 0 {
			f.sleep(time.Until(next))
			continue
		}
		conn, err := f.connect()
		if err == nil && len(truncate) > 0 {
			err = f.truncate(conn, truncate)
		}
		if err == nil && len(fetch) > 0 {
			err = f.fetch(conn, fetch)
		}
		if err != nil {
			f.mu.Lock()
			stopped := f.stopped
			if f.conn != nil {
				f.conn.close()
				f.conn = nil
			}
			f.mu.Unlock()
			if stopped {
				return
			}
			f.log.Debug("fetching from the leader failed", "err", err)
			f.sleep(backoff)
		}
	}
}

// sleep waits for d, a kick or stop.
func (f *replicaFetcher) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.wake:
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// connect returns the connection to the leader, dialing its advertised
// listener if there is none.
func (f *replicaFetcher) connect() (*brokerConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return nil, errors.New("fetcher stopped")
	}
	if f.conn != nil {
		return f.conn, nil
	}
	b := f.m.b
	ep, ok := b.clientEndpoint(b.snapshot(), f.leader)
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered", f.leader)
	}
	addr := fmt.Sprintf("%s:%d", ep.Host, ep.Port)
	maxFrame := b.cfg.Int("replica.fetch.response.max.bytes") + b.cfg.Int("replica.fetch.max.bytes") + 1<<20
	c, err := dialBroker(addr, fmt.Sprintf("samsa-replica-fetcher-%d", b.nodeID), b.requestTimeout(), maxFrame)
	if err != nil {
		return nil, err
	}
	f.conn = c
	return c, nil
}

// requestTimeout is replica.socket.timeout.ms.
func (b *Broker) requestTimeout() time.Duration {
	return time.Duration(b.cfg.Int64("replica.socket.timeout.ms")) * time.Millisecond
}

// stillFollowing reports whether p is still fetched in epoch, and if so
// returns its state.
func (f *replicaFetcher) stillFollowing(t fetchTarget) (*followState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.parts[t.p]
	if !ok || st.epoch != t.epoch {
		return nil, false
	}
	return st, true
}

// delay backs off a partition after an error.
func (f *replicaFetcher) delay(t fetchTarget) {
	f.mu.Lock()
	if st, ok := f.parts[t.p]; ok && st.epoch == t.epoch {
		st.backoffUntil = time.Now().Add(time.Duration(f.m.b.cfg.Int64("replica.fetch.backoff.ms")) * time.Millisecond)
	}
	f.mu.Unlock()
}

// delayRefused backs off a partition the leader refused: NOT_LEADER,
// UNKNOWN_TOPIC_OR_PARTITION or an epoch it does not know yet. That is
// mostly a leader a moment behind in applying the same metadata (a new
// topic, a new leader epoch), so the first retries come soon.
func (f *replicaFetcher) delayRefused(t fetchTarget) {
	limit := time.Duration(f.m.b.cfg.Int64("replica.fetch.backoff.ms")) * time.Millisecond
	f.mu.Lock()
	if st, ok := f.parts[t.p]; ok && st.epoch == t.epoch {
		d := min(limit, firstRefusalBackoff<<min(st.refusals, 16))
		st.refusals++
		st.backoffUntil = time.Now().Add(d)
	}
	f.mu.Unlock()
}

// accepted ends a partition's run of refusals.
func (f *replicaFetcher) accepted(t fetchTarget) {
	f.mu.Lock()
	if st, ok := f.parts[t.p]; ok {
		st.refusals = 0
	}
	f.mu.Unlock()
}

// truncated marks a partition's divergence settled.
func (f *replicaFetcher) truncated(t fetchTarget) {
	f.mu.Lock()
	if st, ok := f.parts[t.p]; ok && st.epoch == t.epoch {
		st.truncating = false
	}
	f.mu.Unlock()
}

// asFollower runs fn with p's read lock held if p still follows in epoch,
// so that a role change cannot overlap what fn does to the log.
func asFollower(t fetchTarget, fn func()) bool {
	t.p.mu.RLock()
	defer t.p.mu.RUnlock()
	if t.p.isLeader || t.p.leaderEpoch != t.epoch {
		return false
	}
	fn()
	return true
}

// truncate settles where each partition's log diverged from the leader's.
func (f *replicaFetcher) truncate(conn *brokerConn, targets []fetchTarget) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.SetVersion(replicaEpochQueryVersion)
	req.ReplicaID = f.m.b.nodeID
	byTopic := map[string]int{}
	asked := map[storage.TopicPartition]fetchTarget{}
	for _, t := range targets {
		latest := t.p.log.LatestEpoch()
		if latest < 0 {
			// An empty log (or one without epochs) has nothing that could
			// have diverged.
			f.truncated(t)
			continue
		}
		i, ok := byTopic[t.p.tp.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[t.p.tp.Topic] = i
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = t.p.tp.Topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = t.p.tp.Partition, t.epoch, latest
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked[t.p.tp] = t
	}
	if len(asked) == 0 {
		return nil
	}
	r, err := conn.roundTrip(req, f.m.b.requestTimeout())
	if err != nil {
		return err
	}
	resp := r.(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			t, ok := asked[storage.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}]
			if !ok {
				continue
			}
			if _, ok := f.stillFollowing(t); !ok {
				continue
			}
			if rp.ErrorCode != 0 {
				f.log.Debug("leader epoch query refused", "topic", rt.Topic, "partition", rp.Partition, "err", kerr.ErrorForCode(rp.ErrorCode))
				f.delayRefused(t)
				continue
			}
			f.truncateTo(t, rp.LeaderEpoch, rp.EndOffset)
		}
	}
	return nil
}

// truncateTo applies the leader's answer for a follower's latest epoch:
// leaderEpoch is the largest epoch the leader has at or below it, and
// leaderEnd where that epoch ends in the leader's log (Kafka's
// AbstractFetcherThread.getOffsetTruncationState).
func (f *replicaFetcher) truncateTo(t fetchTarget, leaderEpoch int32, leaderEnd int64) {
	settled := true
	var err error
	var to int64 = -1
	asFollower(t, func() {
		l := t.p.log
		end := l.LogEndOffset()
		switch {
		case leaderEnd < 0:
			// The leader knows no epoch at or below ours: keep what is
			// committed, and let the fetch settle the rest.
			to = l.HighWatermark()
		default:
			fEpoch, fEnd := l.EndOffsetForEpoch(leaderEpoch)
			switch {
			case fEnd < 0:
				to = min(leaderEnd, end)
			case fEpoch != leaderEpoch:
				// We do not have the leader's epoch: cut to the end of our
				// largest epoch below it and ask again.
				to, settled = min(fEnd, end), false
			default:
				to = min(leaderEnd, end)
			}
		}
		if to < end {
			_, err = l.TruncateTo(to)
		}
	})
	if err != nil {
		f.log.Warn("truncating a follower's log failed", "topic", t.p.tp.Topic, "partition", t.p.tp.Partition, "offset", to, "err", err)
		f.delay(t)
		return
	}
	if settled {
		f.truncated(t)
	}
}

// fetch sends one Fetch for targets and applies the answer.
func (f *replicaFetcher) fetch(conn *brokerConn, targets []fetchTarget) error {
	b := f.m.b
	sort.Slice(targets, func(i, j int) bool {
		a, c := targets[i].p.tp, targets[j].p.tp
		return a.Topic < c.Topic || a.Topic == c.Topic && a.Partition < c.Partition
	})
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(replicaFetchVersion)
	req.ReplicaID = b.nodeID
	req.MaxWaitMillis = int32(b.cfg.Int("replica.fetch.wait.max.ms"))
	req.MinBytes = int32(b.cfg.Int("replica.fetch.min.bytes"))
	req.MaxBytes = int32(b.cfg.Int("replica.fetch.response.max.bytes"))
	partMax := int32(b.cfg.Int("replica.fetch.max.bytes"))
	sent := map[storage.TopicPartition]fetchTarget{}
	for _, t := range targets {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != t.p.tp.Topic {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = t.p.tp.Topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = t.p.tp.Partition
		rp.CurrentLeaderEpoch = t.epoch
		rp.FetchOffset = t.p.log.LogEndOffset()
		rp.LogStartOffset = t.p.log.LogStartOffset()
		rp.PartitionMaxBytes = partMax
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, rp)
		sent[t.p.tp] = t
	}
	r, err := conn.roundTrip(req, f.m.b.requestTimeout()+time.Duration(req.MaxWaitMillis)*time.Millisecond)
	if err != nil {
		return err
	}
	resp := r.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return fmt.Errorf("fetch: %w", kerr.ErrorForCode(resp.ErrorCode))
	}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			t, ok := sent[storage.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}]
			if !ok {
				continue
			}
			if _, ok := f.stillFollowing(t); !ok {
				continue
			}
			f.apply(conn, t, rp)
		}
	}
	return nil
}

// apply appends what the leader sent for one partition and takes its high
// watermark and log start offset.
func (f *replicaFetcher) apply(conn *brokerConn, t fetchTarget, rp *kmsg.FetchResponseTopicPartition) {
	switch err := kerr.ErrorForCode(rp.ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		f.outOfRange(conn, t)
		return
	default:
		// NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH,
		// UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION: the leader
		// and this broker see different metadata for now.
		f.log.Debug("leader refused a partition", "topic", t.p.tp.Topic, "partition", t.p.tp.Partition, "err", err)
		f.delayRefused(t)
		return
	}
	f.accepted(t)
	data := rp.RecordBatches
	// A response may end with part of a batch cut by the byte limits.
	whole, err := record.Batches(data, func(record.Header, []byte) error { return nil })
	var appendErr error
	asFollower(t, func() {
		l := t.p.log
		if err == nil && whole > 0 {
			if _, appendErr = l.AppendAsFollower(data[:whole]); appendErr != nil {
				return
			}
			f.m.b.metrics.replicationBytesIn.Add(uint64(whole))
		}
		if hw := min(rp.HighWatermark, l.LogEndOffset()); hw > l.HighWatermark() {
			l.SetHighWatermark(hw)
		}
		if rp.LogStartOffset > l.LogStartOffset() && rp.LogStartOffset <= l.HighWatermark() {
			// The leader deleted records (retention, DeleteRecords).
			if _, err := l.DeleteRecordsBefore(rp.LogStartOffset); err != nil {
				f.log.Warn("moving a follower's log start", "topic", t.p.tp.Topic, "partition", t.p.tp.Partition, "err", err)
			}
		}
	})
	if err != nil {
		appendErr = err
	}
	if appendErr != nil {
		// A bad batch, or a log that moved under the fetch: settle the
		// divergence again before fetching on.
		f.log.Warn("appending fetched records failed", "topic", t.p.tp.Topic, "partition", t.p.tp.Partition, "err", appendErr)
		f.mu.Lock()
		if st, ok := f.parts[t.p]; ok && st.epoch == t.epoch {
			st.truncating = true
		}
		f.mu.Unlock()
		f.delay(t)
	}
}

// outOfRange handles a fetch offset outside the leader's log: the
// follower is ahead of the leader's log end (it held records an unclean
// leader never had) and truncates to it, or behind the leader's log start
// and starts over there.
func (f *replicaFetcher) outOfRange(conn *brokerConn, t fetchTarget) {
	start, end, err := f.leaderOffsets(conn, t)
	if err != nil {
		f.log.Debug("listing the leader's offsets failed", "topic", t.p.tp.Topic, "partition", t.p.tp.Partition, "err", err)
		f.delay(t)
		return
	}
	asFollower(t, func() {
		l := t.p.log
		switch leo := l.LogEndOffset(); {
		case leo > end:
			f.log.Warn("follower is ahead of its leader; truncating to the leader's log end",
				"topic", t.p.tp.Topic, "partition", t.p.tp.Partition, "logEndOffset", leo, "leaderLogEndOffset", end)
			_, err = l.TruncateTo(end)
		case leo < start:
			f.log.Info("follower is behind its leader's log start; starting over there",
				"topic", t.p.tp.Topic, "partition", t.p.tp.Partition, "logEndOffset", leo, "leaderLogStartOffset", start)
			err = l.TruncateFullyAndStartAt(start)
		}
	})
	if err != nil {
		f.log.Warn("resetting a follower's log failed", "topic", t.p.tp.Topic, "partition", t.p.tp.Partition, "err", err)
		f.delay(t)
	}
}

// leaderOffsets asks the leader for its log start and end offsets (one
// request each: a partition named twice in one request is refused).
func (f *replicaFetcher) leaderOffsets(conn *brokerConn, t fetchTarget) (start, end int64, err error) {
	list := func(ts int64) (int64, error) {
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(replicaListOffsetsVersion)
		req.ReplicaID = f.m.b.nodeID
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = t.p.tp.Topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = t.p.tp.Partition, t.epoch, ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		r, err := conn.roundTrip(req, f.m.b.requestTimeout())
		if err != nil {
			return 0, err
		}
		resp := r.(*kmsg.ListOffsetsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return 0, errors.New("malformed ListOffsets response")
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			return 0, kerr.ErrorForCode(p.ErrorCode)
		}
		return p.Offset, nil
	}
	if start, err = list(listEarliest); err != nil {
		return 0, 0, err
	}
	end, err = list(listLatest)
	return start, end, err
}
