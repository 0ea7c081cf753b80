package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The classic protocol's transitions, as Kafka's GroupMetadataManager
// makes them. Every function here REQUIRES: s.mu held.

// rescheduleHeartbeat (re)starts a member's session timer; d = 0 means
// the member's session timeout.
func (s *shard) rescheduleHeartbeat(g *classicGroup, m *classicMember, d time.Duration) {
	if d == 0 {
		d = time.Duration(m.sessionTimeoutMs) * time.Millisecond
	}
	groupID, memberID := g.id, m.id
	s.schedule(timerKey{timerHeartbeat, groupID, memberID}, d, func() { s.expireHeartbeat(groupID, memberID) })
}

func (s *shard) expireHeartbeat(groupID, memberID string) {
	g := s.classic[groupID]
	if g == nil || g.state == stateDead {
		return
	}
	if g.isPending(memberID) {
		s.c.logger.Info("pending member removed after its session timeout", "group", groupID, "member", memberID)
		g.remove(memberID)
		if g.state == statePreparingRebalance && g.hasAllMembersJoined() {
			s.completeJoin(g)
		}
		return
	}
	m := g.members[memberID]
	if m == nil || m.hasSatisfiedHeartbeat() {
		return
	}
	s.c.logger.Info("member failed its session timeout; removing it", "group", groupID, "member", memberID)
	s.removeMemberAndUpdate(g, m)
}

// removeMemberAndUpdate removes a member and rebalances what remains.
func (s *shard) removeMemberAndUpdate(g *classicGroup, m *classicMember) {
	s.cancel(timerKey{timerHeartbeat, g.id, m.id})
	g.remove(m.id)
	switch {
	case g.state == stateStable || g.state == stateCompletingRebalance:
		s.prepareRebalance(g)
	case g.state == statePreparingRebalance && g.hasAllMembersJoined():
		s.completeJoin(g)
	}
}

// prepareRebalance starts a rebalance: members waiting in SyncGroup are
// told to rejoin, and the join phase waits for the members, or, for a
// group that was Empty, group.initial.rebalance.delay.ms for more of them.
func (s *shard) prepareRebalance(g *classicGroup) {
	if g.state == stateCompletingRebalance {
		s.resetAndPropagateAssignment(g, kerr.RebalanceInProgress)
	}
	s.cancel(timerKey{timerSync, g.id, ""})
	initial := g.state == stateEmpty
	if initial {
		delay := s.c.cfg.InitialRebalanceDelay
		remaining := max(g.rebalanceTimeout()-delay, 0)
		s.scheduleInitialRebalance(g, delay, remaining)
	}
	g.transitionTo(statePreparingRebalance, s.now())
	s.c.rebalances.classic.Add(1)
	s.c.logger.Debug("preparing to rebalance", "group", g.id, "generation", g.generation)
	if !initial {
		s.maybeCompleteJoinElseSchedule(g)
	}
}

// scheduleInitialRebalance waits delay for the first members of a group;
// each new member extends the wait by the delay again, up to the
// rebalance timeout.
func (s *shard) scheduleInitialRebalance(g *classicGroup, delay, remaining time.Duration) {
	groupID := g.id
	s.schedule(timerKey{timerJoin, groupID, ""}, delay, func() {
		g := s.classic[groupID]
		if g == nil || g.state != statePreparingRebalance {
			return
		}
		if g.newMemberAdded && remaining != 0 {
			g.newMemberAdded = false
			next := min(s.c.cfg.InitialRebalanceDelay, remaining)
			s.scheduleInitialRebalance(g, next, max(remaining-s.c.cfg.InitialRebalanceDelay, 0))
			return
		}
		s.completeJoin(g)
	})
}

func (s *shard) maybeCompleteJoinElseSchedule(g *classicGroup) {
	if g.state == statePreparingRebalance && g.hasAllMembersJoined() {
		s.completeJoin(g)
		return
	}
	s.scheduleJoinTimeout(g)
}

func (s *shard) scheduleJoinTimeout(g *classicGroup) {
	groupID := g.id
	s.schedule(timerKey{timerJoin, groupID, ""}, g.rebalanceTimeout(), func() {
		if g := s.classic[groupID]; g != nil && g.state == statePreparingRebalance {
			s.completeJoin(g)
		}
	})
}

// maybeCompleteJoinPhase ends the join phase once everyone has joined,
// except during the initial delay of a new group.
func (s *shard) maybeCompleteJoinPhase(g *classicGroup) {
	if g.state == statePreparingRebalance && g.hasAllMembersJoined() && g.prevState != stateEmpty {
		s.completeJoin(g)
	}
}

func (s *shard) maybePrepareRebalanceOrCompleteJoin(g *classicGroup) {
	if g.canRebalance() {
		s.prepareRebalance(g)
	} else {
		s.maybeCompleteJoinPhase(g)
	}
}

// completeJoin ends the join phase: dynamic members that did not rejoin
// are removed, and the others get their JoinGroup responses (the leader
// with the member list) for the next generation.
func (s *shard) completeJoin(g *classicGroup) {
	s.cancel(timerKey{timerJoin, g.id, ""})
	for _, m := range g.orderedMembers() {
		if m.joinWaiter == nil && m.instanceID == nil {
			s.c.logger.Info("removing member that did not rejoin in time", "group", g.id, "member", m.id)
			s.cancel(timerKey{timerHeartbeat, g.id, m.id})
			g.remove(m.id)
		}
	}
	if g.state == stateDead {
		return
	}
	if !g.maybeElectNewJoinedLeader() && len(g.members) > 0 {
		// Only static members remain and none rejoined: wait another
		// rebalance timeout for their sessions to end.
		s.scheduleJoinTimeout(g)
		return
	}
	g.initNextGeneration(s.now())
	if g.state == stateEmpty {
		s.c.logger.Info("group is now empty", "group", g.id, "generation", g.generation)
		if err := s.write([]coordRecord{g.metadataRecord(nil)}); err != nil {
			s.c.logger.Warn("writing empty group metadata failed", "group", g.id, "err", err)
		}
		return
	}
	s.c.logger.Info("group stabilized", "group", g.id, "generation", g.generation, "members", len(g.members), "protocol", g.protocolName)
	for _, m := range g.orderedMembers() {
		if m.joinWaiter != nil {
			r := newJoinResponse(m.joinWaiter.version)
			g.fillJoin(r, m.id, g.isLeader(m.id))
			m.completeJoin(r)
		}
		s.rescheduleHeartbeat(g, m, 0)
		m.isNew = false
		g.pendingSync[m.id] = struct{}{}
	}
	g.numAwaitingJoin = 0
	s.schedulePendingSync(g)
}

// schedulePendingSync removes, after the rebalance timeout, the members
// that got their JoinGroup response but never sent SyncGroup.
func (s *shard) schedulePendingSync(g *classicGroup) {
	groupID, generation := g.id, g.generation
	s.schedule(timerKey{timerSync, groupID, ""}, g.rebalanceTimeout(), func() {
		g := s.classic[groupID]
		if g == nil || g.generation != generation || len(g.pendingSync) == 0 {
			return
		}
		if g.state != stateCompletingRebalance && g.state != stateStable {
			return
		}
		for id := range g.pendingSync {
			s.c.logger.Info("removing member that did not sync in time", "group", groupID, "member", id)
			s.cancel(timerKey{timerHeartbeat, groupID, id})
			g.remove(id)
		}
		s.prepareRebalance(g)
	})
}

func (s *shard) removePendingSync(g *classicGroup, memberID string) {
	delete(g.pendingSync, memberID)
	switch g.state {
	case stateCompletingRebalance, stateStable:
		if len(g.pendingSync) > 0 {
			return
		}
	}
	s.cancel(timerKey{timerSync, g.id, ""})
}

// resetAndPropagateAssignment clears the assignments and answers every
// waiting SyncGroup with code.
func (s *shard) resetAndPropagateAssignment(g *classicGroup, code *kerr.Error) {
	for _, m := range g.members {
		m.assignment = nil
	}
	s.propagateAssignment(g, code)
}

// propagateAssignment answers every waiting SyncGroup with its member's
// assignment (or with code), and restarts those members' sessions: a
// session that ended while the member waited was not acted on.
func (s *shard) propagateAssignment(g *classicGroup, code *kerr.Error) {
	for _, m := range g.orderedMembers() {
		if m.syncWaiter == nil {
			continue
		}
		r := newSyncResponse(m.syncWaiter.version)
		if code != nil {
			r.ErrorCode = code.Code
		} else {
			r.ProtocolType = nonEmpty(g.protocolType)
			r.Protocol = nonEmpty(g.protocolName)
		}
		r.MemberAssignment = m.assignment
		if r.MemberAssignment == nil {
			r.MemberAssignment = []byte{}
		}
		m.completeSync(r)
		s.rescheduleHeartbeat(g, m, 0)
	}
}

// addMemberThenRebalanceOrCompleteJoin adds a member waiting in JoinGroup.
func (s *shard) addMemberThenRebalanceOrCompleteJoin(g *classicGroup, rc RequestContext, req *kmsg.JoinGroupRequest, memberID string, w *joinWaiter) {
	m := &classicMember{
		id:                 memberID,
		instanceID:         req.InstanceID,
		clientID:           rc.ClientID,
		clientHost:         rc.ClientHost,
		rebalanceTimeoutMs: rebalanceTimeoutOf(req),
		sessionTimeoutMs:   req.SessionTimeoutMillis,
		protocolType:       req.ProtocolType,
		protocols:          req.Protocols,
		isNew:              true,
	}
	if g.state == statePreparingRebalance && g.prevState == stateEmpty {
		g.newMemberAdded = true
	}
	g.add(m, w)
	// A new member cannot heartbeat while its JoinGroup waits, and a
	// client that gave up may retry with a new JoinGroup: the new-member
	// timeout keeps abandoned members from piling up.
	s.rescheduleHeartbeat(g, m, s.c.cfg.NewMemberJoinTimeout)
	s.maybePrepareRebalanceOrCompleteJoin(g)
}

func (s *shard) updateMemberThenRebalanceOrCompleteJoin(g *classicGroup, m *classicMember, req *kmsg.JoinGroupRequest, w *joinWaiter) {
	g.updateMember(m, req, w)
	s.maybePrepareRebalanceOrCompleteJoin(g)
}

// failWaiters answers every waiting JoinGroup and SyncGroup with code.
func (s *shard) failWaiters(code *kerr.Error) {
	for _, g := range s.classic {
		for _, m := range g.members {
			if m.joinWaiter != nil {
				r := newJoinResponse(m.joinWaiter.version)
				r.ErrorCode = code.Code
				m.completeJoin(r)
			}
			if m.syncWaiter != nil {
				r := newSyncResponse(m.syncWaiter.version)
				r.ErrorCode = code.Code
				m.completeSync(r)
			}
		}
	}
}
