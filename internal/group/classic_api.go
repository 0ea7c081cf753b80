package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup serves JoinGroup (all versions kmsg decodes). It waits, until
// ctx is done, for the join phase of the rebalance to end; a nil response
// means ctx ended first.
func (c *Coordinator) JoinGroup(ctx context.Context, rc RequestContext, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	select {
	case r := <-c.joinGroup(rc, req):
		return r
	case <-ctx.Done():
		return nil
	}
}

// joinGroup starts a JoinGroup; the response comes on the channel, at
// once or when the join phase ends.
func (c *Coordinator) joinGroup(rc RequestContext, req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	w := newJoinWaiter(req.Version)
	resp := newJoinResponse(req.Version)
	resp.MemberID = req.MemberID
	switch {
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case req.SessionTimeoutMillis < int32(c.cfg.MinSessionTimeout.Milliseconds()) ||
		req.SessionTimeoutMillis > int32(c.cfg.MaxSessionTimeout.Milliseconds()):
		resp.ErrorCode = kerr.InvalidSessionTimeout.Code
	default:
		s, err := c.shardFor(req.Group)
		if err != nil {
			resp.ErrorCode = err.Code
			break
		}
		done := s.joinGroup(rc, req, w, resp)
		s.mu.Unlock()
		if !done {
			return w.ch
		}
	}
	w.ch <- resp
	return w.ch
}

// joinGroup handles a JoinGroup. It either fills resp and returns true,
// or leaves the member waiting with w. REQUIRES: s.mu held.
func (s *shard) joinGroup(rc RequestContext, req *kmsg.JoinGroupRequest, w *joinWaiter, resp *kmsg.JoinGroupResponse) bool {
	isUnknown := req.MemberID == ""
	if cg := s.consumer[req.Group]; cg != nil {
		if !cg.isEmpty() {
			// A KIP-848 group with members does not take classic
			// members (Kafka's mixed groups are not supported).
			resp.MemberID = ""
			resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
			return true
		}
		if err := s.commit(cg.tombstones()); err != nil {
			resp.ErrorCode = writeError(err).Code
			return true
		}
	}
	g := s.classic[req.Group]
	if g == nil {
		if !isUnknown {
			resp.ErrorCode = kerr.UnknownMemberID.Code
			return true
		}
		g = newClassicGroup(req.Group, s.now())
		if err := s.write([]coordRecord{g.emptyMetadataRecord()}); err != nil {
			resp.MemberID = ""
			resp.ErrorCode = writeError(err).Code
			return true
		}
		s.classic[req.Group] = g
	}
	if !s.acceptJoiningMember(g, req.MemberID) {
		g.remove(req.MemberID)
		resp.MemberID = ""
		resp.ErrorCode = kerr.GroupMaxSizeReached.Code
		return true
	}
	if isUnknown {
		return s.joinNewMember(g, rc, req, w, resp)
	}
	return s.joinExistingMember(g, rc, req, w, resp)
}

// acceptJoiningMember applies group.max.size.
func (s *shard) acceptJoiningMember(g *classicGroup, memberID string) bool {
	max := s.c.cfg.MaxGroupSize
	m := g.members[memberID]
	switch g.state {
	case statePreparingRebalance:
		return (m != nil && m.joinWaiter != nil) || g.numAwaitingJoin < max
	case stateCompletingRebalance, stateStable:
		return m != nil || len(g.members) < max
	}
	return true
}

func (s *shard) joinNewMember(g *classicGroup, rc RequestContext, req *kmsg.JoinGroupRequest, w *joinWaiter, resp *kmsg.JoinGroupResponse) bool {
	switch {
	case g.state == stateDead:
		resp.MemberID = ""
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return true
	case !g.supportsProtocols(req.ProtocolType, req.Protocols):
		resp.MemberID = ""
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return true
	}
	if req.InstanceID != nil {
		newID := newMemberID(*req.InstanceID)
		if oldID, ok := g.staticMembers[*req.InstanceID]; ok {
			return s.replaceStaticMemberOnJoin(g, rc, req, oldID, newID, w, resp)
		}
		s.addMemberThenRebalanceOrCompleteJoin(g, rc, req, newID, w)
		return false
	}
	newID := newMemberID(rc.ClientID)
	if req.Version >= 4 {
		// KIP-394: a dynamic member first gets its id and must join again
		// with it, so a client that times out and retries does not leave
		// a member behind.
		g.pending[newID] = struct{}{}
		groupID := g.id
		s.schedule(timerKey{timerHeartbeat, groupID, newID}, msDuration(req.SessionTimeoutMillis), func() {
			s.expireHeartbeat(groupID, newID)
		})
		resp.MemberID = newID
		resp.ErrorCode = kerr.MemberIDRequired.Code
		return true
	}
	s.addMemberThenRebalanceOrCompleteJoin(g, rc, req, newID, w)
	return false
}

// replaceStaticMemberOnJoin handles a static member that joins without a
// member id while its instance id is known: it takes the old member's
// place. In a Stable group whose protocol would not change this is no
// rebalance at all (KIP-345).
func (s *shard) replaceStaticMemberOnJoin(g *classicGroup, rc RequestContext, req *kmsg.JoinGroupRequest, oldID, newID string, w *joinWaiter, resp *kmsg.JoinGroupResponse) bool {
	if g.members[oldID] == nil {
		// The instance id maps to a member that is gone; it joins as a
		// new member.
		delete(g.staticMembers, *req.InstanceID)
		s.addMemberThenRebalanceOrCompleteJoin(g, rc, req, newID, w)
		return false
	}
	prevLeader := g.leader
	s.cancel(timerKey{timerHeartbeat, g.id, oldID})
	m := g.replaceStaticMember(*req.InstanceID, oldID, newID)
	oldProtocols, oldRebalance, oldSession := m.protocols, m.rebalanceTimeoutMs, m.sessionTimeoutMs
	s.rescheduleHeartbeat(g, m, 0)
	g.updateMember(m, req, w)

	switch g.state {
	case stateStable:
		if g.protocolName != g.selectProtocol() {
			s.maybePrepareRebalanceOrCompleteJoin(g)
			return false
		}
		// The member is answered at once; the group's record must name
		// the new member id first.
		m.joinWaiter = nil
		g.numAwaitingJoin--
		if err := s.write([]coordRecord{g.metadataRecord(g.assignments())}); err != nil {
			// Put the old member back, as Kafka reverts the replacement.
			g.countProtocols(m, -1)
			m.protocols, m.rebalanceTimeoutMs, m.sessionTimeoutMs = oldProtocols, oldRebalance, oldSession
			g.countProtocols(m, 1)
			s.cancel(timerKey{timerHeartbeat, g.id, newID})
			old := g.replaceStaticMember(*req.InstanceID, newID, oldID)
			s.rescheduleHeartbeat(g, old, 0)
			resp.MemberID = ""
			resp.Generation = g.generation
			resp.ProtocolType = nonEmpty(g.protocolType)
			resp.Protocol = nonEmpty(g.protocolName)
			resp.LeaderID = prevLeader
			resp.ErrorCode = writeError(err).Code
			return true
		}
		if req.Version >= 9 {
			// KIP-814: a restarted leader keeps the assignment it made
			// and is told not to compute another.
			leader := g.isLeader(newID)
			g.fillJoin(resp, newID, leader)
			resp.SkipAssignment = leader
		} else {
			// Older leaders would assign again, and a Stable group would
			// not pass their assignment on: the old leader id keeps the
			// new member from thinking it leads.
			g.fillJoin(resp, newID, false)
			resp.LeaderID = prevLeader
		}
		return true
	case stateCompletingRebalance:
		// The leader may already be assigning with the old member id:
		// rebalance again so the new id gets an assignment.
		s.prepareRebalance(g)
		return false
	}
	s.maybeCompleteJoinPhase(g)
	return false
}

func (s *shard) joinExistingMember(g *classicGroup, rc RequestContext, req *kmsg.JoinGroupRequest, w *joinWaiter, resp *kmsg.JoinGroupResponse) bool {
	switch {
	case g.state == stateDead:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return true
	case !g.supportsProtocols(req.ProtocolType, req.Protocols):
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return true
	case g.isPending(req.MemberID):
		if req.InstanceID != nil {
			// Pending member ids are handed out to dynamic members only.
			resp.ErrorCode = kerr.InvalidRequest.Code
			return true
		}
		s.addMemberThenRebalanceOrCompleteJoin(g, rc, req, req.MemberID, w)
		return false
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		resp.ErrorCode = err.Code
		return true
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		s.updateMemberThenRebalanceOrCompleteJoin(g, m, req, w)
		return false
	case stateCompletingRebalance:
		if m.matches(req.Protocols) {
			// A retry of a JoinGroup whose response was lost: answer
			// with the current generation.
			g.fillJoin(resp, m.id, g.isLeader(m.id))
			return true
		}
		s.updateMemberThenRebalanceOrCompleteJoin(g, m, req, w)
		return false
	case stateStable:
		if g.isLeader(m.id) || !m.matches(req.Protocols) {
			// The leader rejoining forces a rebalance: it may have seen
			// a change (new partitions) that the members' metadata does
			// not show.
			s.updateMemberThenRebalanceOrCompleteJoin(g, m, req, w)
			return false
		}
		g.fillJoin(resp, m.id, false)
		return true
	}
	// Empty: the member's generation is gone; it must join afresh.
	resp.ErrorCode = kerr.UnknownMemberID.Code
	return true
}

// SyncGroup serves SyncGroup. A member's SyncGroup waits, until ctx is
// done, for the leader's; a nil response means ctx ended first.
func (c *Coordinator) SyncGroup(ctx context.Context, rc RequestContext, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	select {
	case r := <-c.syncGroup(req):
		return r
	case <-ctx.Done():
		return nil
	}
}

// syncGroup starts a SyncGroup; the response comes on the channel, at
// once or when the leader's assignment is stored.
func (c *Coordinator) syncGroup(req *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	w := newSyncWaiter(req.Version)
	resp := newSyncResponse(req.Version)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
	} else if s, err := c.shardFor(req.Group); err != nil {
		resp.ErrorCode = err.Code
	} else {
		done := s.syncGroup(req, w, resp)
		s.mu.Unlock()
		if !done {
			return w.ch
		}
	}
	w.ch <- resp
	return w.ch
}

// syncGroup handles a SyncGroup. REQUIRES: s.mu held.
func (s *shard) syncGroup(req *kmsg.SyncGroupRequest, w *syncWaiter, resp *kmsg.SyncGroupResponse) bool {
	g := s.classic[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return true
	}
	if g.state == stateDead {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return true
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		resp.ErrorCode = err.Code
		return true
	}
	switch {
	case req.Generation != g.generation:
		resp.ErrorCode = kerr.IllegalGeneration.Code
		return true
	case protocolInconsistent(req.ProtocolType, g.protocolType), protocolInconsistent(req.Protocol, g.protocolName):
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return true
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return true
	case statePreparingRebalance:
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return true
	case stateStable:
		s.removePendingSync(g, m.id)
		resp.ProtocolType = nonEmpty(g.protocolType)
		resp.Protocol = nonEmpty(g.protocolName)
		resp.MemberAssignment = m.assignment
		if resp.MemberAssignment == nil {
			resp.MemberAssignment = []byte{}
		}
		return true
	}
	// CompletingRebalance.
	m.syncWaiter = w
	s.removePendingSync(g, m.id)
	if !g.isLeader(m.id) {
		return false
	}
	s.c.logger.Info("assignment received from the leader", "group", g.id, "generation", g.generation, "members", len(g.members))
	assignments := make(map[string][]byte, len(g.members))
	for _, a := range req.GroupAssignment {
		if g.members[a.MemberID] != nil {
			assignments[a.MemberID] = a.MemberAssignment
		}
	}
	for id := range g.members {
		if assignments[id] == nil {
			assignments[id] = []byte{}
		}
	}
	if err := s.write([]coordRecord{g.metadataRecord(assignments)}); err != nil {
		s.resetAndPropagateAssignment(g, writeError(err))
		s.maybePrepareRebalanceOrCompleteJoin(g)
		return false
	}
	for id, a := range assignments {
		g.members[id].assignment = a
	}
	s.propagateAssignment(g, nil)
	g.transitionTo(stateStable, s.now())
	return false
}

func protocolInconsistent(req *string, group string) bool {
	return req != nil && group != "" && *req != group
}

// Heartbeat serves Heartbeat.
func (c *Coordinator) Heartbeat(rc RequestContext, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = req.Version
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	s, err := c.shardFor(req.Group)
	if err != nil {
		resp.ErrorCode = err.Code
		return resp
	}
	defer s.mu.Unlock()
	if code := s.heartbeat(req); code != nil {
		resp.ErrorCode = code.Code
	}
	return resp
}

// heartbeat handles a Heartbeat. REQUIRES: s.mu held.
func (s *shard) heartbeat(req *kmsg.HeartbeatRequest) *kerr.Error {
	g := s.classic[req.Group]
	if g == nil {
		return kerr.UnknownMemberID
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		return err
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID
	case statePreparingRebalance:
		s.rescheduleHeartbeat(g, m, 0)
		return kerr.RebalanceInProgress
	}
	// A member may heartbeat between its JoinGroup and SyncGroup
	// responses (CompletingRebalance): it is alive.
	s.rescheduleHeartbeat(g, m, 0)
	return nil
}

// LeaveGroup serves LeaveGroup, one member (v0-v2) or a batch (v3+,
// KIP-345), which may name static members by instance id alone.
func (c *Coordinator) LeaveGroup(rc RequestContext, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.Version
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	code := func() *kerr.Error {
		if req.Group == "" {
			return kerr.InvalidGroupID
		}
		s, err := c.shardFor(req.Group)
		if err != nil {
			return err
		}
		defer s.mu.Unlock()
		return s.leaveGroup(req.Group, members, resp)
	}()
	if code != nil {
		resp.ErrorCode = code.Code
		resp.Members = nil
		return resp
	}
	if req.Version < 3 {
		// v0-v2 carry the single member's error at the top level.
		if len(resp.Members) > 0 {
			resp.ErrorCode = resp.Members[0].ErrorCode
		}
		resp.Members = nil
	}
	return resp
}

// leaveGroup removes members. REQUIRES: s.mu held.
func (s *shard) leaveGroup(groupID string, members []kmsg.LeaveGroupRequestMember, resp *kmsg.LeaveGroupResponse) *kerr.Error {
	g := s.classic[groupID]
	if g == nil {
		return kerr.UnknownMemberID
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable
	}
	left := 0
	for _, lm := range members {
		mr := kmsg.NewLeaveGroupResponseMember()
		mr.MemberID, mr.InstanceID = lm.MemberID, lm.InstanceID
		switch {
		case lm.MemberID == "":
			// An administrative removal names a static member by its
			// instance id alone.
			id, ok := "", false
			if lm.InstanceID != nil {
				id, ok = g.staticMembers[*lm.InstanceID]
			}
			if !ok || g.members[id] == nil {
				mr.ErrorCode = kerr.UnknownMemberID.Code
				break
			}
			s.removeCurrentMember(g, id)
			left++
		case g.isPending(lm.MemberID):
			s.cancel(timerKey{timerHeartbeat, g.id, lm.MemberID})
			g.remove(lm.MemberID)
			left++
		default:
			if err := g.validateMember(lm.MemberID, lm.InstanceID); err != nil {
				mr.ErrorCode = err.Code
				break
			}
			s.removeCurrentMember(g, lm.MemberID)
			left++
		}
		resp.Members = append(resp.Members, mr)
	}
	if left > 0 {
		switch g.state {
		case stateStable, stateCompletingRebalance:
			s.prepareRebalance(g)
		case statePreparingRebalance:
			s.maybeCompleteJoinPhase(g)
		}
	}
	return nil
}

func (s *shard) removeCurrentMember(g *classicGroup, memberID string) {
	s.cancel(timerKey{timerHeartbeat, g.id, memberID})
	s.c.logger.Info("member left the group", "group", g.id, "member", memberID)
	g.remove(memberID)
}
