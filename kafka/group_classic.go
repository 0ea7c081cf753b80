package kafka

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The classic group protocol (JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup), as Java's ConsumerCoordinator runs it: the leader computes
// the assignment with the assignor the coordinator chose among those every
// member offers; eager assignors revoke everything before each join,
// cooperative ones (KIP-429) only what moves, after it.

// consumerProtocolType is the protocol type of consumer groups.
const consumerProtocolType = "consumer"

// joinGroupLapse is added to the rebalance timeout to time out a JoinGroup
// (Java's JOIN_GROUP_TIMEOUT_LAPSE).
const joinGroupLapse = 5 * time.Second

// classicState is the classic protocol's part of the membership, owned by
// the group goroutine.
type classicState struct {
	assignors []assignor
	// eager is the rebalance protocol: eager unless every configured
	// assignor is cooperative, as in Java.
	eager          bool
	lastAssignment []TopicPartition // for sticky user data
	lastGeneration int32
	nextHeartbeat  time.Time
}

func (g *groupMember) runClassic() {
	defer close(g.done)
	s := &g.classic
	s.lastGeneration = -1
	for _, n := range g.cfg.assignors {
		var a assignor
		if pa, ok := g.cfg.custom[n]; ok {
			a = customAssignor{pa}
		} else {
			a = newAssignor(n)
		}
		s.assignors = append(s.assignors, a)
		if !a.cooperative() {
			s.eager = true
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for !g.stopped() {
		if g.stalled && !g.waitForPoll() {
			break
		}
		if reason, reset, ok := g.takeRejoin(); ok {
			g.log.Info("kafka: rejoining group", "group", g.cfg.groupID, "reason", reason)
			if reset {
				g.setIdentity("", -1)
			}
			g.needJoin = true
		}
		at, expired := g.pollExpiry()
		if expired {
			_, gen := g.identity()
			g.expired(gen >= 0 || len(g.owned) > 0)
			continue
		}
		if g.needJoin {
			g.joinClassic()
			continue
		}
		meta := g.c.cl.meta.Load()
		if g.metadataChanged(meta.cluster) {
			g.log.Info("kafka: subscribed topics changed; rejoining", "group", g.cfg.groupID)
			g.needJoin = true
			continue
		}
		timer.Reset(max(0, min(time.Until(s.nextHeartbeat), time.Until(at))))
		select {
		case <-g.quit:
		case <-timer.C:
			if !time.Now().Before(s.nextHeartbeat) {
				g.heartbeatClassic()
			}
		case <-g.wake:
		case <-meta.updated:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
	if g.leave && g.cfg.leaveOnClose {
		g.leaveClassic("the consumer is being closed")
	}
}

// heartbeatFn is await's heartbeat while the classic member waits for
// Poll: it beats if the member is in the group and returns the time to
// the next beat.
func (g *groupMember) heartbeatFn() time.Duration {
	if !time.Now().Before(g.classic.nextHeartbeat) {
		g.heartbeatClassic()
	}
	return max(time.Millisecond, time.Until(g.classic.nextHeartbeat))
}

// heartbeatClassic sends one Heartbeat and acts on its answer.
func (g *groupMember) heartbeatClassic() {
	s := &g.classic
	memberID, gen := g.identity()
	s.nextHeartbeat = time.Now().Add(g.cfg.heartbeat)
	if gen < 0 {
		return
	}
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.Generation, req.MemberID = g.cfg.groupID, gen, memberID
	if g.cfg.instanceID != "" {
		req.InstanceID = kmsg.StringPtr(g.cfg.instanceID)
	}
	kresp, err := g.co.groupRequestOnce(g.ctx, req, g.cfg.requestTO)
	if err != nil {
		if !g.stopped() {
			g.log.Debug("kafka: heartbeat failed", "err", err)
			s.nextHeartbeat = time.Now().Add(g.cfg.retryBackoff)
		}
		return
	}
	code := kresp.(*kmsg.HeartbeatResponse).ErrorCode
	switch code {
	case 0:
	case kerr.RebalanceInProgress.Code:
		g.needJoin = true
	case kerr.IllegalGeneration.Code:
		g.log.Info("kafka: heartbeat: generation is stale; rejoining", "group", g.cfg.groupID)
		g.setIdentity(memberID, -1)
		g.needJoin = true
	case kerr.UnknownMemberID.Code:
		g.log.Info("kafka: heartbeat: member is unknown; rejoining", "group", g.cfg.groupID)
		g.setIdentity("", -1)
		g.needJoin = true
	case kerr.FencedInstanceID.Code:
		g.fatal(fmt.Errorf("heartbeat of group %s: %w", g.cfg.groupID, brokerErr(code, nil)))
		g.setIdentity("", -1)
		g.needJoin = true
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code:
		g.co.invalidate(nil)
		s.nextHeartbeat = time.Now().Add(g.cfg.retryBackoff)
	default:
		err := brokerErr(code, nil)
		if !Retriable(err) {
			g.fatal(fmt.Errorf("heartbeat of group %s: %w", g.cfg.groupID, err))
		}
		s.nextHeartbeat = time.Now().Add(g.cfg.retryBackoff)
	}
}

// fatal hands an error to the next Poll.
func (g *groupMember) fatal(err error) {
	g.c.mu.Lock()
	g.c.setFatal(err)
	g.c.signalLocked()
	g.c.mu.Unlock()
}

// joinClassic runs one rebalance: revoke (eager) or commit as Java's
// onJoinPrepare does, JoinGroup, assign if leader, SyncGroup, then the
// new assignment. On failure it backs off and leaves needJoin set.
func (g *groupMember) joinClassic() {
	s := &g.classic
	if !g.prepareClassic() {
		return
	}
	cl := g.freshMetadata()
	topics := g.subscription(cl)
	resp, ok := g.joinGroup(topics)
	if !ok {
		return
	}
	g.setIdentity(resp.MemberID, resp.Generation)
	var plan []kmsg.SyncGroupRequestGroupAssignment
	counts := partitionCounts(cl, topics)
	if resp.LeaderID == resp.MemberID && !resp.SkipAssignment {
		var err error
		if plan, err = g.leaderAssign(resp, counts); err != nil {
			g.log.Warn("kafka: group leader could not assign partitions", "group", g.cfg.groupID, "err", err)
			g.backoff(1)
			return
		}
	} else {
		g.c.mu.Lock()
		g.c.extra = nil
		g.c.mu.Unlock()
	}
	assigned, userData, ok := g.syncGroup(resp, plan)
	if !ok {
		return
	}
	for _, a := range s.assignors {
		if ca, ok := a.(customAssignor); ok && resp.Protocol != nil && ca.name() == *resp.Protocol {
			ca.pa.OnAssignment(MemberAssignment{Partitions: slices.Clone(assigned), UserData: userData}, resp.Generation)
		}
	}
	g.joinedTopics, g.joinedCounts = topics, counts
	s.lastAssignment, s.lastGeneration = assigned, resp.Generation
	var revoked []TopicPartition
	if !s.eager {
		revoked = minus(g.owned, assigned)
	}
	added := minus(assigned, g.owned)
	g.needJoin = false
	s.nextHeartbeat = time.Now().Add(g.cfg.heartbeat)
	st := &rebalanceStep{revoked: revoked, assigned: added, callAssigned: true, done: make(chan struct{})}
	if !g.await(st, g.heartbeatFn) {
		return
	}
	g.owned = assigned
	if len(revoked) > 0 {
		// KIP-429: partitions revoked now are assigned elsewhere in the
		// next rebalance.
		g.needJoin = true
	}
}

// prepareClassic is Java's onJoinPrepare: partitions of a member that
// lost its generation are lost; otherwise auto-commit, then revoke all
// (eager) or those no longer subscribed (cooperative). It returns false
// if the member stopped or stalled meanwhile.
func (g *groupMember) prepareClassic() bool {
	_, gen := g.identity()
	var st *rebalanceStep
	switch {
	case gen < 0:
		if len(g.owned) > 0 {
			st = &rebalanceStep{lost: g.owned}
		}
	case g.classic.eager:
		st = &rebalanceStep{revoked: g.owned, callRevoked: true, commit: true}
	default:
		subscribed := g.subscription(g.c.cl.cluster())
		var gone []TopicPartition
		for _, tp := range g.owned {
			if !slices.Contains(subscribed, tp.Topic) {
				gone = append(gone, tp)
			}
		}
		st = &rebalanceStep{revoked: gone, commit: true}
		if len(gone) == 0 && !g.cfg.autoCommit {
			st = nil
		}
	}
	if st == nil {
		return true
	}
	st.done = make(chan struct{})
	if !g.await(st, g.heartbeatFn) {
		return false
	}
	g.owned = minus(g.owned, append(st.lost, st.revoked...))
	return true
}

// freshMetadata asks for a metadata refresh and waits for it (up to
// request.timeout.ms), so that the subscription and partition counts the
// member joins with match what the metadata loop will compare later. It
// waits for two refreshes: one in progress when it asks may predate the
// subscription.
func (g *groupMember) freshMetadata() *Cluster {
	t := time.NewTimer(g.cfg.requestTO)
	defer t.Stop()
	for range 2 {
		st := g.c.cl.meta.Load()
		g.c.cl.requestUpdate(true)
		select {
		case <-st.updated:
		case <-t.C:
			return g.c.cl.cluster()
		case <-g.quit:
			return g.c.cl.cluster()
		}
	}
	return g.c.cl.cluster()
}

// joinGroup sends JoinGroup until the member is in the new generation.
func (g *groupMember) joinGroup(topics []string) (*kmsg.JoinGroupResponse, bool) {
	timeout := max(g.cfg.requestTO, g.cfg.maxPollInterval+joinGroupLapse)
	for attempt := 1; !g.stopped(); attempt++ {
		memberID, gen := g.identity()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = g.cfg.groupID
		req.SessionTimeoutMillis = int32(g.cfg.sessionTO / time.Millisecond)
		req.RebalanceTimeoutMillis = int32(g.cfg.maxPollInterval / time.Millisecond)
		req.MemberID = memberID
		if g.cfg.instanceID != "" {
			req.InstanceID = kmsg.StringPtr(g.cfg.instanceID)
		}
		req.ProtocolType = consumerProtocolType
		req.Protocols = g.joinProtocols(topics, gen)
		kresp, err := g.co.groupRequestOnce(g.ctx, req, timeout)
		if err != nil {
			if !g.stopped() {
				g.log.Debug("kafka: JoinGroup failed", "group", g.cfg.groupID, "err", err)
				g.backoff(attempt)
			}
			continue
		}
		resp := kresp.(*kmsg.JoinGroupResponse)
		switch resp.ErrorCode {
		case 0:
			return resp, true
		case kerr.MemberIDRequired.Code:
			// KIP-394: join again at once with the id the coordinator
			// gave.
			g.setIdentity(resp.MemberID, -1)
			continue
		case kerr.UnknownMemberID.Code:
			g.setIdentity("", -1)
			continue
		case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code:
			g.co.invalidate(nil)
		case kerr.FencedInstanceID.Code:
			g.fatal(fmt.Errorf("joining group %s: %w", g.cfg.groupID, brokerErr(resp.ErrorCode, nil)))
			g.setIdentity("", -1)
		default:
			err := brokerErr(resp.ErrorCode, nil)
			if !Retriable(err) && resp.ErrorCode != kerr.RebalanceInProgress.Code {
				g.fatal(fmt.Errorf("joining group %s: %w", g.cfg.groupID, err))
				attempt = max(attempt, 10)
			}
		}
		g.backoff(attempt)
	}
	return nil, false
}

// joinProtocols is the member's subscription for each assignor, in
// preference order (ConsumerProtocolSubscription v3).
func (g *groupMember) joinProtocols(topics []string, gen int32) []kmsg.JoinGroupRequestProtocol {
	s := &g.classic
	var out []kmsg.JoinGroupRequestProtocol
	for _, a := range s.assignors {
		md := kmsg.NewConsumerMemberMetadata()
		md.Version = 3
		md.Topics = topics
		md.UserData = a.userData(s.lastAssignment, s.lastGeneration)
		if ca, ok := a.(customAssignor); ok {
			md.UserData = ca.pa.SubscriptionUserData(slices.Clone(topics))
		}
		md.OwnedPartitions = ownedByTopic(g.owned)
		md.Generation = gen
		if g.cfg.rack != "" {
			md.Rack = kmsg.StringPtr(g.cfg.rack)
		}
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = a.name(), md.AppendTo(nil)
		out = append(out, p)
	}
	return out
}

// leaderAssign runs the chosen assignor over every member's subscription
// and encodes the assignments. counts gets the partition counts of the
// members' topics, which the leader watches for changes.
func (g *groupMember) leaderAssign(resp *kmsg.JoinGroupResponse, counts map[string]int) ([]kmsg.SyncGroupRequestGroupAssignment, error) {
	var a assignor
	for _, x := range g.classic.assignors {
		if resp.Protocol != nil && x.name() == *resp.Protocol {
			a = x
		}
	}
	if a == nil {
		return nil, fmt.Errorf("the coordinator chose assignor %v, which this member does not have", resp.Protocol)
	}
	members := make([]memberSubscription, 0, len(resp.Members))
	var topics []string
	for _, m := range resp.Members {
		md := kmsg.NewConsumerMemberMetadata()
		if err := md.ReadFrom(m.ProtocolMetadata); err != nil {
			return nil, fmt.Errorf("member %s sent an unreadable subscription: %v", m.MemberID, err)
		}
		ms := memberSubscription{memberID: m.MemberID, version: md.Version, topics: md.Topics, generation: md.Generation, userData: md.UserData}
		if md.Rack != nil {
			ms.rack = *md.Rack
		}
		if m.InstanceID != nil {
			ms.instanceID = *m.InstanceID
		}
		if md.Version < 2 {
			ms.generation = -1
		}
		for _, o := range md.OwnedPartitions {
			for _, p := range o.Partitions {
				ms.owned = append(ms.owned, TopicPartition{o.Topic, p})
			}
		}
		a.decode(&ms, md.UserData)
		members = append(members, ms)
		topics = append(topics, md.Topics...)
	}
	topics = sortedStrings(topics)
	topics = slices.Compact(topics)
	cl, err := g.c.metadataFor(g.ctx, topics)
	if err != nil {
		return nil, err
	}
	partitions := map[string]int32{}
	for _, t := range topics {
		if n, ok := cl.PartitionCountForTopic(t); ok && n > 0 {
			partitions[t] = int32(n)
		}
		counts[t], _ = cl.PartitionCountForTopic(t)
	}
	g.c.mu.Lock()
	g.c.extra = map[string]bool{}
	for _, t := range topics {
		g.c.extra[t] = true
	}
	g.c.mu.Unlock()
	g.c.updateInterest()

	var plan map[string][]TopicPartition
	var userData map[string][]byte
	if ca, ok := a.(customAssignor); ok {
		if plan, userData, err = ca.assignFull(members, partitions); err != nil {
			// As in Java, an assignor's failure reaches the application.
			g.fatal(fmt.Errorf("group %s: %w", g.cfg.groupID, err))
			return nil, err
		}
	} else if ra, ok := a.(rackAware); ok && slices.ContainsFunc(members, func(m memberSubscription) bool { return m.rack != "" }) {
		plan = ra.assignRacks(members, partitions, replicaRacks(cl, topics))
	} else {
		plan = a.assign(members, partitions)
	}
	g.log.Info("kafka: assigned partitions as group leader", "group", g.cfg.groupID, "assignor", a.name(), "members", len(members))
	out := make([]kmsg.SyncGroupRequestGroupAssignment, 0, len(members))
	for _, m := range members {
		ma := kmsg.NewConsumerMemberAssignment()
		ma.Version = min(m.version, 3)
		ma.UserData = userData[m.memberID]
		for _, o := range ownedByTopic(plan[m.memberID]) {
			ma.Topics = append(ma.Topics, kmsg.ConsumerMemberAssignmentTopic(o))
		}
		sa := kmsg.NewSyncGroupRequestGroupAssignment()
		sa.MemberID, sa.MemberAssignment = m.memberID, ma.AppendTo(nil)
		out = append(out, sa)
	}
	return out, nil
}

// syncGroup sends SyncGroup and returns the member's assignment and the
// assignor's user data for it. On an error it leaves needJoin set for
// another round.
func (g *groupMember) syncGroup(join *kmsg.JoinGroupResponse, plan []kmsg.SyncGroupRequestGroupAssignment) ([]TopicPartition, []byte, bool) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.Generation, req.MemberID = g.cfg.groupID, join.Generation, join.MemberID
	if g.cfg.instanceID != "" {
		req.InstanceID = kmsg.StringPtr(g.cfg.instanceID)
	}
	req.ProtocolType = kmsg.StringPtr(consumerProtocolType)
	req.Protocol = join.Protocol
	req.GroupAssignment = plan
	timeout := max(g.cfg.requestTO, g.cfg.maxPollInterval+joinGroupLapse)
	kresp, err := g.co.groupRequestOnce(g.ctx, req, timeout)
	if err != nil {
		if !g.stopped() {
			g.log.Debug("kafka: SyncGroup failed", "group", g.cfg.groupID, "err", err)
			g.backoff(1)
		}
		return nil, nil, false
	}
	resp := kresp.(*kmsg.SyncGroupResponse)
	switch resp.ErrorCode {
	case 0:
	case kerr.RebalanceInProgress.Code:
		return nil, nil, false
	case kerr.UnknownMemberID.Code:
		g.setIdentity("", -1)
		return nil, nil, false
	case kerr.IllegalGeneration.Code:
		g.setIdentity(join.MemberID, -1)
		return nil, nil, false
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code:
		g.co.invalidate(nil)
		g.backoff(1)
		return nil, nil, false
	default:
		err := brokerErr(resp.ErrorCode, nil)
		if !Retriable(err) {
			g.fatal(fmt.Errorf("syncing group %s: %w", g.cfg.groupID, err))
		}
		g.setIdentity(join.MemberID, -1)
		g.backoff(3)
		return nil, nil, false
	}
	ma := kmsg.NewConsumerMemberAssignment()
	if len(resp.MemberAssignment) > 0 {
		if err := ma.ReadFrom(resp.MemberAssignment); err != nil {
			g.fatal(fmt.Errorf("group %s sent an unreadable assignment: %v", g.cfg.groupID, err))
			g.backoff(3)
			return nil, nil, false
		}
	}
	var assigned []TopicPartition
	for _, t := range ma.Topics {
		for _, p := range t.Partitions {
			assigned = append(assigned, TopicPartition{t.Topic, p})
		}
	}
	return sortTPs(assigned), ma.UserData, true
}

// leaveClassic sends LeaveGroup if the member is dynamic (static members
// keep their place for session.timeout.ms, KIP-345) and forgets its
// generation.
func (g *groupMember) leaveClassic(reason string) {
	memberID, _ := g.identity()
	g.setIdentity("", -1)
	if g.cfg.instanceID != "" || memberID == "" {
		return
	}
	g.log.Info("kafka: leaving group", "group", g.cfg.groupID, "member", memberID, "reason", reason)
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = g.cfg.groupID, memberID
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID, m.Reason = memberID, kmsg.StringPtr(reason)
	req.Members = []kmsg.LeaveGroupRequestMember{m}
	ctx, cancel := context.WithTimeout(g.c.ctx, g.cfg.requestTO)
	defer cancel()
	if _, err := g.co.groupRequestOnce(ctx, req, g.cfg.requestTO); err != nil {
		g.log.Debug("kafka: LeaveGroup failed", "group", g.cfg.groupID, "err", err)
	}
}
