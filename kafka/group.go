package kafka

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A subscribed consumer is a member of its group. The membership protocol
// (classic JoinGroup/SyncGroup/Heartbeat, group_classic.go, or KIP-848's
// ConsumerGroupHeartbeat, group_consumer.go) runs on one goroutine per
// subscription, which owns the membership state: member id, generation or
// epoch, the partitions the member owns as far as the group knows.
//
// The assignment the application sees changes only inside Poll (or Close
// or Unsubscribe), on the application's goroutine, as Java's does: the
// group goroutine posts a rebalanceStep (partitions lost, revoked,
// assigned) and waits while Poll runs it, with the listener's callbacks
// between the changes, so that a callback may commit while its partitions
// are still the member's. While it waits the goroutine keeps the
// membership alive with heartbeats, and gives it up (LeaveGroup) if the
// application does not call Poll within max.poll.interval.ms.

// rebalanceStep is a change of assignment that Poll applies.
type rebalanceStep struct {
	lost, revoked, assigned []TopicPartition
	// callRevoked and callAssigned call the listener even with no
	// partitions: eager rebalances always revoke, and every rebalance
	// ends with OnPartitionsAssigned.
	callRevoked  bool
	callAssigned bool
	// commit auto-commits the consumed positions of the member's
	// partitions (all of them, or only the revoked ones) first.
	commit        bool
	commitRevoked bool

	taken bool // Poll started it; REQUIRES: consumerCore.mu held
	done  chan struct{}
}

// postStep hands st to Poll.
func (c *consumerCore) postStep(st *rebalanceStep) {
	c.mu.Lock()
	c.steps = append(c.steps, st)
	c.signalLocked()
	c.mu.Unlock()
}

// abandonStep withdraws st if Poll has not started it, and reports
// whether it did.
func (c *consumerCore) abandonStep(st *rebalanceStep) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.taken {
		return false
	}
	c.steps = slices.DeleteFunc(c.steps, func(x *rebalanceStep) bool { return x == st })
	return true
}

// takeStep returns the oldest posted step, if any.
func (c *consumerCore) takeStep() *rebalanceStep {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.steps) == 0 {
		return nil
	}
	st := c.steps[0]
	c.steps = c.steps[1:]
	st.taken = true
	return st
}

// runStep applies a rebalance step and calls the listener, on Poll's
// goroutine.
func (c *consumerCore) runStep(st *rebalanceStep) {
	defer close(st.done)
	c.mu.Lock()
	l := c.listener
	c.mu.Unlock()
	if l == nil {
		l = RebalanceListenerFuncs{}
	}
	if len(st.lost) > 0 {
		c.log.Info("kafka: partitions lost", "partitions", st.lost)
		l.OnPartitionsLost(st.lost)
		c.mu.Lock()
		c.removeParts(st.lost)
		c.mu.Unlock()
	}
	if st.commit && c.cfg.autoCommit {
		var only []TopicPartition
		if st.commitRevoked {
			only = st.revoked
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.apiTimeout)
		if err := c.commitSync(ctx, c.consumed(only)); err != nil {
			c.log.Warn("kafka: auto-commit before rebalance failed", "err", err)
		}
		cancel()
	}
	if len(st.revoked) > 0 || st.callRevoked {
		c.log.Info("kafka: revoking partitions", "partitions", st.revoked)
		l.OnPartitionsRevoked(st.revoked)
		c.mu.Lock()
		c.removeParts(st.revoked)
		c.mu.Unlock()
	}
	if len(st.assigned) > 0 || st.callAssigned {
		c.metrics.rebalances.Add(1)
		c.metrics.lastRebalance.Store(time.Now().UnixNano())
		c.log.Info("kafka: partitions assigned", "partitions", st.assigned)
		c.mu.Lock()
		c.addParts(st.assigned)
		c.mu.Unlock()
		c.updateInterest()
		l.OnPartitionsAssigned(st.assigned)
	}
}

// groupMember is a consumer's membership of its group.
type groupMember struct {
	c   *consumerCore
	cfg *consumerConfig
	log *slog.Logger
	co  *coordinator

	idMu       sync.Mutex
	memberID   string // REQUIRES: idMu held
	generation int32  // generation or member epoch, -1 outside; REQUIRES: idMu held

	// Owned by the group goroutine.
	owned        []TopicPartition
	joinedTopics []string
	joinedCounts map[string]int
	needJoin     bool
	// stalled is set after leaving for max.poll.interval.ms: the member
	// rejoins at the next Poll.
	stalled bool

	classic classicState
	kip848  consumerState

	wake chan struct{} // cap 1: subscription changed, Poll called, rejoin requested
	// rejoin holds a rejoin request from another goroutine.
	rejoinMu     sync.Mutex
	rejoinReason string // REQUIRES: rejoinMu held
	rejoinReset  bool   // REQUIRES: rejoinMu held
	// rejoinGen is the generation the request is about, -1 for any: a
	// request about a generation the member has left is stale.
	rejoinGen int32 // REQUIRES: rejoinMu held

	quit  chan struct{} // closed to stop
	leave bool          // send LeaveGroup when stopping; written before quit closes
	done  chan struct{}
	ctx   context.Context // canceled with quit: ends blocking requests
	stop  context.CancelFunc
}

func newGroupMember(c *consumerCore) *groupMember {
	g := &groupMember{
		c:          c,
		cfg:        c.cfg,
		log:        c.log,
		co:         c.coord,
		generation: -1,
		wake:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
		needJoin:   true,
	}
	g.ctx, g.stop = context.WithCancel(c.ctx)
	return g
}

// start runs the membership on its goroutine.
func (g *groupMember) start() {
	if g.cfg.protocol848 {
		g.c.wg.Go(g.runConsumerProtocol)
	} else {
		g.c.wg.Go(g.runClassic)
	}
}

// close stops the goroutine, leaving the group first if leave, and waits
// for it, at most until ctx ends.
func (g *groupMember) close(ctx context.Context, leave bool) {
	g.leave = leave
	close(g.quit)
	g.stop()
	select {
	case <-g.done:
	case <-ctx.Done():
	}
}

// poke wakes the goroutine to look at the subscription and the poll
// timer.
func (g *groupMember) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// requestRejoin asks for a rebalance of generation gen (-1: whatever the
// current one); reset also forgets the member id (the coordinator no
// longer knows it).
func (g *groupMember) requestRejoin(reason string, reset bool, gen int32) {
	g.rejoinMu.Lock()
	g.rejoinReason, g.rejoinGen = reason, gen
	g.rejoinReset = g.rejoinReset || reset
	g.rejoinMu.Unlock()
	g.poke()
}

// takeRejoin returns a pending rejoin request, unless it is about a
// generation the member has already left.
func (g *groupMember) takeRejoin() (reason string, reset, ok bool) {
	g.rejoinMu.Lock()
	defer g.rejoinMu.Unlock()
	reason, reset, ok = g.rejoinReason, g.rejoinReset, g.rejoinReason != ""
	if _, gen := g.identity(); g.rejoinGen >= 0 && g.rejoinGen != gen {
		ok = false
	}
	g.rejoinReason, g.rejoinReset = "", false
	return reason, reset, ok
}

// identity returns the member id and generation (or epoch) commits carry.
func (g *groupMember) identity() (string, int32) {
	g.idMu.Lock()
	defer g.idMu.Unlock()
	return g.memberID, g.generation
}

func (g *groupMember) setIdentity(memberID string, generation int32) {
	g.idMu.Lock()
	g.memberID, g.generation = memberID, generation
	g.idMu.Unlock()
}

// stopped reports whether the member is stopping.
func (g *groupMember) stopped() bool {
	select {
	case <-g.quit:
		return true
	default:
		return false
	}
}

// backoff waits retry.backoff.ms (growing with attempts), or until the
// member stops; it returns false if it stopped.
func (g *groupMember) backoff(attempt int) bool {
	return sleepCtx(g.ctx, expBackoff(g.cfg.retryBackoff, g.cfg.retryBackoffM, attempt)) == nil
}

// pollExpiry is when max.poll.interval.ms runs out if Poll is not called,
// and whether it already has.
func (g *groupMember) pollExpiry() (time.Time, bool) {
	if g.c.inPoll.Load() {
		return time.Now().Add(g.cfg.maxPollInterval), false
	}
	at := time.Unix(0, g.c.lastPollEnd.Load()).Add(g.cfg.maxPollInterval)
	return at, !time.Now().Before(at)
}

// waitForPoll waits, after the member left for max.poll.interval.ms,
// until the application polls again. It returns false if the member
// stopped.
func (g *groupMember) waitForPoll() bool {
	for {
		if _, expired := g.pollExpiry(); !expired {
			g.stalled = false
			return true
		}
		select {
		case <-g.quit:
			return false
		case <-g.wake:
		}
	}
}

// subscription resolves the consumer's subscription to topic names: the
// names given, or the topics of cl matching the pattern (without internal
// topics under exclude.internal.topics).
func (g *groupMember) subscription(cl *Cluster) []string {
	c := g.c
	c.mu.Lock()
	mode, topics, re := c.mode, slices.Clone(c.topics), c.pattern
	c.mu.Unlock()
	if mode != subPattern {
		slices.Sort(topics)
		return topics
	}
	var out []string
	for name, m := range cl.topics {
		if m.err != nil || (m.internal && g.cfg.excludeInternal) || !re.MatchString(name) {
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// partitionCounts returns the partition count of each topic, 0 for topics
// the metadata does not have.
func partitionCounts(cl *Cluster, topics []string) map[string]int {
	out := make(map[string]int, len(topics))
	for _, t := range topics {
		n, _ := cl.PartitionCountForTopic(t)
		out[t] = n
	}
	return out
}

// metadataChanged reports whether the subscription resolves to other
// topics, or a topic of interest changed its partition count, since the
// member joined: both need a rebalance.
func (g *groupMember) metadataChanged(cl *Cluster) bool {
	if !slices.Equal(g.subscription(cl), g.joinedTopics) {
		return true
	}
	for t, n := range g.joinedCounts {
		if m, ok := cl.PartitionCountForTopic(t); ok && m != n {
			return true
		}
	}
	return false
}

// await posts st for Poll and waits until Poll has run it, calling beat
// when the heartbeat timer fires. It returns false if the wait was
// abandoned because the member stopped or the application stopped polling
// (the caller then treats the step's partitions as gone).
func (g *groupMember) await(st *rebalanceStep, heartbeat func() time.Duration) bool {
	g.c.postStep(st)
	var hb *time.Timer
	var hbC <-chan time.Time
	if heartbeat != nil {
		hb = time.NewTimer(heartbeat())
		defer hb.Stop()
		hbC = hb.C
	}
	for {
		at, expired := g.pollExpiry()
		if expired && g.c.abandonStep(st) {
			g.pollTimeout()
			return false
		}
		pt := time.NewTimer(time.Until(at) + time.Millisecond)
		select {
		case <-st.done:
			pt.Stop()
			return true
		case <-g.quit:
			pt.Stop()
			if g.c.abandonStep(st) {
				return false
			}
			<-st.done
			return true
		case <-hbC:
			hb.Reset(heartbeat())
		case <-g.wake:
		case <-pt.C:
		}
		pt.Stop()
	}
}

// expired handles max.poll.interval.ms running out. Java joins only from
// Poll: a member that is not polling leaves; one that is not in the group
// waits for the next Poll.
func (g *groupMember) expired(member bool) {
	if member {
		g.pollTimeout()
	} else {
		g.stalled = true
	}
}

// pollTimeout leaves the group because the application did not call Poll
// within max.poll.interval.ms, as Java's heartbeat thread does; the
// partitions are lost, and the member rejoins at the next Poll.
func (g *groupMember) pollTimeout() {
	g.log.Warn("kafka: consumer poll timeout has expired: the time between calls to Poll was longer than max.poll.interval.ms, "+
		"which typically implies that the poll loop spends too much time processing records; raise max.poll.interval.ms or lower max.poll.records",
		"group", g.cfg.groupID, "max.poll.interval.ms", g.cfg.maxPollInterval)
	if g.cfg.protocol848 {
		g.leaveConsumerGroup()
	} else {
		g.leaveClassic("consumer poll timeout has expired")
	}
	g.stalled, g.needJoin = true, true
	if len(g.owned) > 0 {
		g.c.postStep(&rebalanceStep{lost: g.owned, done: make(chan struct{})})
		g.owned = nil
	}
}

// ownedByTopic groups partitions by topic, topics and partitions sorted.
func ownedByTopic(tps []TopicPartition) []kmsg.ConsumerMemberMetadataOwnedPartition {
	var out []kmsg.ConsumerMemberMetadataOwnedPartition
	for _, tp := range sortTPs(slices.Clone(tps)) {
		if n := len(out); n == 0 || out[n-1].Topic != tp.Topic {
			out = append(out, kmsg.ConsumerMemberMetadataOwnedPartition{Topic: tp.Topic})
		}
		out[len(out)-1].Partitions = append(out[len(out)-1].Partitions, tp.Partition)
	}
	return out
}

// minus returns the partitions of a not in b.
func minus(a, b []TopicPartition) []TopicPartition {
	in := make(map[TopicPartition]bool, len(b))
	for _, tp := range b {
		in[tp] = true
	}
	var out []TopicPartition
	for _, tp := range a {
		if !in[tp] {
			out = append(out, tp)
		}
	}
	return out
}
