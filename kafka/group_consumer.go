package kafka

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The consumer group protocol of KIP-848 (group.protocol=consumer): the
// member heartbeats its subscription and the partitions it owns with
// ConsumerGroupHeartbeat; the coordinator computes the assignment
// (group.remote.assignor, or its default) and hands each member its
// target, revoking partitions from one member before giving them to
// another. The member reconciles: revokes what it no longer has (after
// committing it, with auto-commit), takes what it got, and acknowledges
// with its next heartbeat.

// consumerState is KIP-848's part of the membership, owned by the group
// goroutine.
type consumerState struct {
	epoch    int32
	interval time.Duration
	// target is an assignment that names topic ids the metadata does not
	// know yet.
	target *kmsg.ConsumerGroupHeartbeatResponseAssignment
	// sendNow asks for a heartbeat at once: after reconciling, or when the
	// subscription changed.
	sendNow bool
	// seenTopics and seenRegex are the subscription as last looked at: a
	// change asks for a heartbeat at once (one that fails still backs
	// off, and the next carries the subscription anyway).
	seenTopics []string
	seenRegex  string
	// lastRegex is the regular expression the coordinator last took; ""
	// once it took none or a clearing one.
	lastRegex string
	failures  int
	// wasFenced is set when the coordinator fenced the member; the loop
	// then gives up its partitions.
	wasFenced bool
	// assigning are the partitions of an assignment waiting for Poll to
	// take them. Heartbeats meanwhile report them as owned: reported
	// missing, the coordinator could give them to another member before
	// this one's listener is told it has them.
	assigning []TopicPartition
}

// newMemberID makes a member id as Java's Uuid.randomUuid().toString()
// does: 16 random bytes, base64url without padding (KIP-1082).
func newMemberID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (g *groupMember) runConsumerProtocol() {
	defer close(g.done)
	s := &g.kip848
	s.interval = g.cfg.heartbeat
	g.setIdentity(newMemberID(), -1)
	s.sendNow = true
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := time.Now()
	for !g.stopped() {
		if g.stalled && !g.waitForPoll() {
			break
		}
		if _, _, ok := g.takeRejoin(); ok {
			s.sendNow = true
		}
		at, expired := g.pollExpiry()
		if expired {
			g.expired(s.epoch > 0)
			continue
		}
		if s.wasFenced {
			g.fenced()
			continue
		}
		meta := g.c.cl.meta.Load()
		if s.target != nil {
			g.reconcile(s.target)
			continue
		}
		if topics, re := g.subscription(meta.cluster), g.regex(); !slices.Equal(topics, s.seenTopics) || re != s.seenRegex {
			s.seenTopics, s.seenRegex = topics, re
			s.sendNow = true
		}
		if s.sendNow {
			next = time.Now()
		}
		timer.Reset(max(0, min(time.Until(next), time.Until(at))))
		select {
		case <-g.quit:
			continue
		case <-timer.C:
		case <-g.wake:
			continue
		case <-meta.updated:
			continue
		}
		if time.Now().Before(next) {
			continue
		}
		s.sendNow = false
		next = time.Now().Add(g.heartbeatConsumer())
	}
	if g.leave && g.cfg.leaveOnClose {
		g.leaveConsumerGroup()
	}
}

// heartbeatConsumer sends one ConsumerGroupHeartbeat, acts on the answer
// and returns the time to the next.
func (g *groupMember) heartbeatConsumer() time.Duration {
	s := &g.kip848
	cl := g.c.cl.cluster()
	topics := g.subscription(cl)
	memberID, _ := g.identity()
	req := g.consumerHeartbeat(memberID, s.epoch, topics, cl)
	kresp, err := g.co.groupRequestOnce(g.ctx, req, g.cfg.requestTO)
	if err != nil {
		if g.stopped() {
			return 0
		}
		s.failures++
		g.log.Debug("kafka: consumer group heartbeat failed", "group", g.cfg.groupID, "err", err)
		return expBackoff(g.cfg.retryBackoff, g.cfg.retryBackoffM, s.failures)
	}
	resp := kresp.(*kmsg.ConsumerGroupHeartbeatResponse)
	switch resp.ErrorCode {
	case 0:
	case kerr.FencedMemberEpoch.Code, kerr.UnknownMemberID.Code:
		// The coordinator gave our partitions away: they are lost, and
		// the member joins again from epoch 0.
		g.log.Info("kafka: member fenced; rejoining", "group", g.cfg.groupID, "err", brokerErr(resp.ErrorCode, resp.ErrorMessage))
		s.wasFenced, s.epoch, s.target = true, 0, nil
		memberID, _ := g.identity()
		g.setIdentity(memberID, -1)
		return 0
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code:
		g.co.invalidate(nil)
		s.failures++
		return expBackoff(g.cfg.retryBackoff, g.cfg.retryBackoffM, s.failures)
	default:
		err := brokerErr(resp.ErrorCode, resp.ErrorMessage)
		s.failures++
		if !Retriable(err) {
			g.fatal(fmt.Errorf("consumer group heartbeat of group %s: %w", g.cfg.groupID, err))
			return g.cfg.retryBackoffM
		}
		return expBackoff(g.cfg.retryBackoff, g.cfg.retryBackoffM, s.failures)
	}
	s.failures = 0
	if req.SubscribedTopicRegex != nil {
		s.lastRegex = *req.SubscribedTopicRegex
	}
	if resp.MemberID != nil && *resp.MemberID != "" {
		memberID = *resp.MemberID
	}
	s.epoch = resp.MemberEpoch
	g.setIdentity(memberID, s.epoch)
	if resp.HeartbeatIntervalMillis > 0 {
		s.interval = time.Duration(resp.HeartbeatIntervalMillis) * time.Millisecond
	}
	if resp.Assignment != nil {
		s.target = resp.Assignment
	}
	if s.sendNow {
		return 0
	}
	return s.interval
}

// consumerHeartbeat builds a full heartbeat: every field, so that a lost
// response never leaves the coordinator with a stale view.
func (g *groupMember) consumerHeartbeat(memberID string, epoch int32, topics []string, cl *Cluster) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = g.cfg.groupID, memberID, epoch
	if g.cfg.instanceID != "" {
		req.InstanceID = kmsg.StringPtr(g.cfg.instanceID)
	}
	if g.cfg.rack != "" {
		req.RackID = kmsg.StringPtr(g.cfg.rack)
	}
	req.RebalanceTimeoutMillis = int32(g.cfg.maxPollInterval / time.Millisecond)
	req.SubscribedTopicNames = topics
	if re := g.regex(); re != "" {
		// The coordinator resolves the regular expression; the names
		// are none.
		req.SubscribedTopicRegex = kmsg.StringPtr(re)
		req.SubscribedTopicNames = []string{}
	} else if g.kip848.lastRegex != "" {
		// Clear the regular expression sent before.
		req.SubscribedTopicRegex = kmsg.StringPtr("")
	}
	if g.cfg.remoteAssignor != "" {
		req.ServerAssignor = kmsg.StringPtr(g.cfg.remoteAssignor)
	}
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	owned := g.owned
	if len(g.kip848.assigning) > 0 {
		owned = sortTPs(append(slices.Clone(g.owned), g.kip848.assigning...))
	}
	for _, o := range ownedByTopic(owned) {
		m := cl.topic(o.Topic)
		if m == nil {
			continue
		}
		t := kmsg.NewConsumerGroupHeartbeatRequestTopic()
		t.TopicID, t.Partitions = m.id, o.Partitions
		req.Topics = append(req.Topics, t)
	}
	return req
}

// reconcile moves the member's partitions to target once the metadata
// names all its topics: revoke first (auto-committing them), then assign,
// then acknowledge with a heartbeat at once.
func (g *groupMember) reconcile(target *kmsg.ConsumerGroupHeartbeatResponseAssignment) {
	s := &g.kip848
	cl := g.c.cl.cluster()
	var want []TopicPartition
	for _, t := range target.Topics {
		name, ok := cl.topicByID(t.TopicID)
		if !ok {
			// A topic we have no metadata for yet: ask for every
			// topic's, and reconcile when it comes.
			g.c.cl.allTopics.Store(true)
			g.c.cl.requestUpdate(true)
			return
		}
		for _, p := range t.Partitions {
			want = append(want, TopicPartition{name, p})
		}
	}
	s.target = nil
	want = sortTPs(want)
	revoked, added := minus(g.owned, want), minus(want, g.owned)
	if len(revoked) == 0 && len(added) == 0 {
		return
	}
	if len(revoked) > 0 {
		st := &rebalanceStep{revoked: revoked, commit: true, commitRevoked: true, done: make(chan struct{})}
		if !g.await(st, g.consumerBeat) || s.wasFenced {
			return
		}
		g.owned = minus(g.owned, revoked)
	}
	st := &rebalanceStep{assigned: added, callAssigned: true, done: make(chan struct{})}
	s.assigning = added
	ok := g.await(st, g.consumerBeat)
	s.assigning = nil
	if !ok || s.wasFenced {
		return
	}
	g.owned = want
	s.sendNow = true
}

// consumerBeat heartbeats while a reconciliation waits for Poll.
func (g *groupMember) consumerBeat() time.Duration {
	if g.kip848.epoch <= 0 {
		return g.kip848.interval
	}
	return max(time.Millisecond, g.heartbeatConsumer())
}

// fenced gives up the member's partitions as lost and rejoins from epoch
// 0 with the same member id.
func (g *groupMember) fenced() {
	s := &g.kip848
	s.wasFenced = false
	if len(g.owned) > 0 {
		st := &rebalanceStep{lost: g.owned, done: make(chan struct{})}
		g.owned = nil
		g.await(st, nil)
	}
	s.sendNow = true
}

// leaveConsumerGroup sends the leaving heartbeat: epoch -1, or -2 for a
// static member, which keeps its place for session.timeout.ms.
func (g *groupMember) leaveConsumerGroup() {
	s := &g.kip848
	memberID, _ := g.identity()
	if s.epoch <= 0 {
		s.target = nil
		return
	}
	epoch := int32(-1)
	if g.cfg.instanceID != "" {
		epoch = -2
	}
	g.log.Info("kafka: leaving group", "group", g.cfg.groupID, "member", memberID)
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = g.cfg.groupID, memberID, epoch
	if g.cfg.instanceID != "" {
		req.InstanceID = kmsg.StringPtr(g.cfg.instanceID)
	}
	ctx, cancel := context.WithTimeout(g.c.ctx, g.cfg.requestTO)
	defer cancel()
	if _, err := g.co.groupRequestOnce(ctx, req, g.cfg.requestTO); err != nil {
		g.log.Debug("kafka: leaving heartbeat failed", "group", g.cfg.groupID, "err", err)
	}
	s.epoch, s.target = 0, nil
	g.setIdentity(memberID, -1)
}

// regex is the subscription's regular expression for the coordinator to
// resolve, "" if the consumer subscribed otherwise.
func (g *groupMember) regex() string {
	g.c.mu.Lock()
	defer g.c.mu.Unlock()
	if g.c.mode != subRegex {
		return ""
	}
	return g.c.regex
}
