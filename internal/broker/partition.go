package broker

// A partition this broker holds a replica of, and the replica's role as
// the cluster metadata assigns it: leader (it takes produce requests,
// serves consumers and followers, tracks the followers' progress, moves
// the high watermark and keeps the ISR) or follower (its replica fetcher
// copies the leader's log). Roles change only in the metadata applier
// (metadata.go); ISR changes the leader asks for go to the metadata store
// (isr.go).

import (
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/storage"
)

// partition is one partition replica on this broker. It lives from when
// the metadata first places a replica here until the replica is removed
// (topic deleted or replica moved), across any number of role changes.
type partition struct {
	tp      storage.TopicPartition
	topicID cluster.TopicID
	log     *storage.Log
	nodeID  int32
	// stats are the topic's traffic counters (metrics.go).
	stats *topicStats

	// mu guards the replica state below. Appends, as leader or as
	// follower, hold it for reading, so a role change, which holds it
	// for writing, never overlaps one. Lock order: mu, then replicaMu,
	// then the storage.Log's own lock, then waitMu.
	mu sync.RWMutex
	// state is the partition's state as last applied from the metadata
	// (or as returned by this leader's last ISR change).
	state       cluster.PartitionState
	isLeader    bool
	leaderEpoch int32 // the leader epoch this replica acts in
	// epochStart is, while leading, the log end offset when this leader
	// epoch began: a follower that reached it has every record of the
	// previous epochs the leader kept.
	epochStart int64

	// replicaMu guards followers, pendingISR and the advance of the high
	// watermark, which fetches of several followers update concurrently
	// under mu's read lock.
	replicaMu sync.Mutex
	followers map[int32]*followerState
	// pendingISR is the ISR this leader asked the metadata store for and
	// has no answer to yet (nil if none). Until the answer comes, the
	// high watermark waits for the union of it and the current ISR,
	// Kafka's "maximal ISR".
	pendingISR []int32
	// isrRetryAt holds back the next ISR change request after one failed.
	isrRetryAt time.Time

	// waitMu guards waiters: fetches and acks=all produces parked until
	// this partition changes (an append, a high watermark move, a role
	// change).
	waitMu  sync.Mutex
	waiters map[chan struct{}]struct{}
}

// followerState is what a leader knows of one follower.
type followerState struct {
	// logEnd is the follower's log end offset as its last fetch said
	// (the fetch offset), -1 until it fetches from this leader.
	logEnd int64
	// lastFetch and leaderEndAtLastFetch are the time of its last fetch
	// and the leader's log end offset then.
	lastFetch            time.Time
	leaderEndAtLastFetch int64
	// lastCaughtUp is the last time the follower had everything the
	// leader had (Kafka's lastCaughtUpTimeMs): a fetch at or past the
	// leader's log end, or past the leader's log end at the previous
	// fetch, counts as caught up at that previous fetch's time.
	lastCaughtUp time.Time
}

func newPartition(tp storage.TopicPartition, id cluster.TopicID, l *storage.Log, nodeID int32) *partition {
	return &partition{tp: tp, topicID: id, log: l, nodeID: nodeID, leaderEpoch: -1}
}

// errNotLeader answers a request for a partition this broker holds but
// does not lead.
var errNotLeader = errorf(kerr.NotLeaderForPartition, "this broker is not the leader of the partition")

// checkLeaderEpoch compares a request's current leader epoch (KIP-320)
// with the replica's: -1 skips the check, an older epoch is fenced, a
// newer one unknown (the client knows of a leader election this broker
// has not applied yet).
func checkLeaderEpoch(requested, current int32) error {
	switch {
	case requested == anyLeaderEpoch:
		return nil
	case requested > current:
		return kerr.UnknownLeaderEpoch
	case requested < current:
		return kerr.FencedLeaderEpoch
	}
	return nil
}

// asLeader checks a request against the replica's role as Kafka does: the
// leader epoch first, then leadership. It returns the current leader
// epoch.
func (p *partition) asLeader(requestedEpoch int32) (int32, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.asLeaderLocked(requestedEpoch)
}

// REQUIRES: p.mu held.
func (p *partition) asLeaderLocked(requestedEpoch int32) (int32, error) {
	if err := checkLeaderEpoch(requestedEpoch, p.leaderEpoch); err != nil {
		return 0, err
	}
	if !p.isLeader {
		return 0, errNotLeader
	}
	return p.leaderEpoch, nil
}

// role returns whether this replica leads, its leader epoch and the
// partition state it acts on.
func (p *partition) role() (leader bool, epoch int32, state cluster.PartitionState) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.isLeader, p.leaderEpoch, p.state
}

// highWatermark is the offset below which records are committed: copied
// to every in-sync replica. Consumers read only below it.
func (p *partition) highWatermark() int64 { return p.log.HighWatermark() }

// appendResult is a leader append's outcome.
type appendResult struct {
	storage.AppendResult
	leaderEpoch int32
}

// appendAsLeader appends validated batches in the current leader epoch.
// With acks=all (requireISR) it first checks that the ISR has at least
// minISR members (NOT_ENOUGH_REPLICAS otherwise, as Kafka refuses before
// writing).
func (p *partition) appendAsLeader(batches []byte, appendTime int64, requireISR bool, minISR int) (appendResult, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeader {
		return appendResult{}, errNotLeader
	}
	if requireISR && len(p.state.ISR) < minISR {
		return appendResult{}, errorf(kerr.NotEnoughReplicas, "the ISR %v has fewer than min.insync.replicas=%d members", p.state.ISR, minISR)
	}
	res, err := p.log.Append(batches, p.leaderEpoch, appendTime)
	if err != nil {
		return appendResult{}, err
	}
	p.replicaMu.Lock()
	p.advanceHighWatermarkLocked()
	p.replicaMu.Unlock()
	p.notify()
	return appendResult{AppendResult: res, leaderEpoch: p.leaderEpoch}, nil
}

// committed reports, for an acks=all produce appended in leader epoch
// epoch, whether the high watermark has reached offset, and the error to
// answer if it never will here: the replica lost the leadership, or the
// ISR shrank below minISR meanwhile (Kafka's
// NOT_ENOUGH_REPLICAS_AFTER_APPEND).
func (p *partition) committed(epoch int32, offset int64, minISR int) (bool, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeader || p.leaderEpoch != epoch {
		return false, errorf(kerr.NotLeaderForPartition, "leadership changed before the records were replicated")
	}
	if p.highWatermark() < offset {
		return false, nil
	}
	if len(p.state.ISR) < minISR {
		return true, errorf(kerr.NotEnoughReplicasAfterAppend, "the ISR %v shrank below min.insync.replicas=%d", p.state.ISR, minISR)
	}
	return true, nil
}

// maximalISRLocked is the ISR the high watermark waits for: the current
// one, plus members of a requested change not yet confirmed.
// REQUIRES: p.mu and p.replicaMu held.
func (p *partition) maximalISRLocked() []int32 {
	isr := p.state.ISR
	for _, id := range p.pendingISR {
		if !slices.Contains(isr, id) {
			isr = append(slices.Clone(isr), id)
		}
	}
	return isr
}

// advanceHighWatermarkLocked moves the leader's high watermark to the
// smallest log end offset among the in-sync replicas, if that is higher,
// and reports whether it moved. It never moves back.
// REQUIRES: p.mu and p.replicaMu held, p.isLeader.
func (p *partition) advanceHighWatermarkLocked() bool {
	if !p.isLeader {
		return false
	}
	hw := p.log.LogEndOffset()
	for _, id := range p.maximalISRLocked() {
		if id == p.nodeID {
			continue
		}
		f := p.followers[id]
		if f == nil || f.logEnd < 0 {
			return false // not heard from since this leader started
		}
		hw = min(hw, f.logEnd)
	}
	if hw <= p.log.HighWatermark() {
		return false
	}
	p.log.SetHighWatermark(hw)
	return true
}

// followerFetchedLocked records a follower's fetch at fetchOffset (its log
// end offset) and moves the high watermark if it can. It returns the ISR
// to ask for if the follower is out of the ISR and has caught up: it has
// everything below the high watermark and since the start of this leader
// epoch (Kafka's isFollowerInSync); the change is then marked pending.
// REQUIRES: p.mu held, p.isLeader.
func (p *partition) followerFetchedLocked(id int32, fetchOffset int64, now time.Time) (expandTo []int32, hwMoved bool) {
	p.replicaMu.Lock()
	defer p.replicaMu.Unlock()
	f := p.followers[id]
	if f == nil {
		return nil, false
	}
	leaderEnd := p.log.LogEndOffset()
	switch {
	case fetchOffset >= leaderEnd:
		f.lastCaughtUp = now
	case !f.lastFetch.IsZero() && fetchOffset >= f.leaderEndAtLastFetch && f.lastFetch.After(f.lastCaughtUp):
		// It now has what the leader had at its previous fetch.
		f.lastCaughtUp = f.lastFetch
	}
	f.logEnd, f.lastFetch, f.leaderEndAtLastFetch = fetchOffset, now, leaderEnd
	hwMoved = p.advanceHighWatermarkLocked()
	if !p.state.InISR(id) && p.pendingISR == nil && !now.Before(p.isrRetryAt) &&
		fetchOffset >= p.log.HighWatermark() && fetchOffset >= p.epochStart {
		p.pendingISR = append(slices.Clone(p.state.ISR), id)
		return p.pendingISR, hwMoved
	}
	return nil, hwMoved
}

// becomeLeaderLocked makes this replica the leader in state's leader
// epoch: the epoch starts at the log end (recorded in the leader epoch
// cache, so that followers truncate against it), every follower's
// progress is unknown, and those in the ISR count as caught up now, as
// Kafka's new leader does.
// REQUIRES: p.mu held for writing.
func (p *partition) becomeLeaderLocked(state cluster.PartitionState) error {
	if err := p.log.AssignEpochStart(state.LeaderEpoch); err != nil {
		return err
	}
	p.isLeader, p.leaderEpoch = true, state.LeaderEpoch
	p.epochStart = p.log.LogEndOffset()
	now := time.Now()
	p.replicaMu.Lock()
	defer p.replicaMu.Unlock()
	p.followers = make(map[int32]*followerState, len(state.Replicas))
	for _, id := range state.Replicas {
		if id == p.nodeID {
			continue
		}
		f := &followerState{logEnd: -1, leaderEndAtLastFetch: -1}
		if state.InISR(id) {
			f.lastCaughtUp = now
		}
		p.followers[id] = f
	}
	p.pendingISR = nil
	p.advanceHighWatermarkLocked()
	return nil
}

// syncFollowersLocked makes a leader's followers those of replicas, when
// a reassignment adds or removes replicas within a leader epoch: an added
// follower's progress is unknown until it fetches, and it joins the ISR
// once it has caught up; a removed one is forgotten.
// REQUIRES: p.mu held for writing, p.replicaMu held, p.isLeader.
func (p *partition) syncFollowersLocked(replicas []int32) {
	for _, id := range replicas {
		if id != p.nodeID && p.followers[id] == nil {
			p.followers[id] = &followerState{logEnd: -1, leaderEndAtLastFetch: -1}
		}
	}
	for id := range p.followers {
		if !slices.Contains(replicas, id) {
			delete(p.followers, id)
		}
	}
}

// becomeFollowerLocked makes this replica a follower in state's leader
// epoch.
// REQUIRES: p.mu held for writing.
func (p *partition) becomeFollowerLocked(state cluster.PartitionState) {
	p.isLeader, p.leaderEpoch = false, state.LeaderEpoch
	p.replicaMu.Lock()
	p.followers, p.pendingISR = nil, nil
	p.replicaMu.Unlock()
}

// wait registers ch to be signalled at the partition's next change.
func (p *partition) wait(ch chan struct{}) {
	p.waitMu.Lock()
	if p.waiters == nil {
		p.waiters = map[chan struct{}]struct{}{}
	}
	p.waiters[ch] = struct{}{}
	p.waitMu.Unlock()
}

func (p *partition) unwait(ch chan struct{}) {
	p.waitMu.Lock()
	delete(p.waiters, ch)
	p.waitMu.Unlock()
}

// notify wakes everything parked on the partition.
func (p *partition) notify() {
	p.waitMu.Lock()
	for ch := range p.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.waitMu.Unlock()
}
