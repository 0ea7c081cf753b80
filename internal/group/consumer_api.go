package group

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// regexRefreshInterval bounds how stale the topics a subscription regular
// expression resolved to may get before a heartbeat resolves it again.
const regexRefreshInterval = time.Second

// apiError is an error code with the message for a response's
// error_message field.
type apiError struct {
	code *kerr.Error
	msg  string
}

func errorf(code *kerr.Error, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// ConsumerGroupHeartbeat serves ConsumerGroupHeartbeat (KIP-848): joins,
// heartbeats and leaves of members whose assignment the coordinator
// computes, with the uniform or range assignor.
func (c *Coordinator) ConsumerGroupHeartbeat(rc RequestContext, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	err := c.validateConsumerHeartbeat(req)
	if err == nil {
		s, code := c.shardFor(req.Group)
		if code != nil {
			err = &apiError{code: code, msg: code.Message}
		} else {
			err = s.consumerHeartbeat(rc, req, resp)
			s.mu.Unlock()
		}
	}
	if err != nil {
		resp.ErrorCode = err.code.Code
		resp.ErrorMessage = &err.msg
		resp.MemberID, resp.MemberEpoch, resp.HeartbeatIntervalMillis, resp.Assignment = nil, 0, 0, nil
	}
	return resp
}

// validateConsumerHeartbeat applies Kafka's request checks, with its
// messages.
func (c *Coordinator) validateConsumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) *apiError {
	switch {
	case req.Group == "":
		return errorf(kerr.InvalidRequest, "GroupId can't be empty.")
	case (req.Version >= 1 || req.MemberEpoch > 0 || req.MemberEpoch == leaveGroupEpoch) && req.MemberID == "":
		// From v1 the client makes its member id (KIP-1082).
		return errorf(kerr.InvalidRequest, "MemberId can't be empty.")
	case req.RackID != nil && *req.RackID == "":
		return errorf(kerr.InvalidRequest, "RackId can't be empty.")
	}
	switch {
	case req.MemberEpoch == 0:
		switch {
		case req.RebalanceTimeoutMillis == -1:
			return errorf(kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request.")
		case req.Topics == nil || len(req.Topics) > 0:
			return errorf(kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining.")
		case req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
			return errorf(kerr.InvalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.")
		}
	case req.MemberEpoch < leaveGroupStaticEpoch:
		return errorf(kerr.InvalidRequest, "MemberEpoch is invalid.")
	}
	if req.ServerAssignor != nil && !slices.Contains(c.cfg.ConsumerAssignors, *req.ServerAssignor) {
		return errorf(kerr.UnsupportedAssignor, "ServerAssignor %s is not supported. Supported assignors: %v.", *req.ServerAssignor, c.cfg.ConsumerAssignors)
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		if _, err := compileSubscriptionRegex(*req.SubscribedTopicRegex); err != nil {
			return errorf(kerr.InvalidRegularExpression, "SubscribedTopicRegex `%s` is not a valid regular expression: %v.", *req.SubscribedTopicRegex, err)
		}
	}
	return nil
}

// validateMemberEpoch accepts the member's epoch, or its previous epoch
// with owned partitions that are a subset of its assignment (the response
// with the new epoch may have been lost).
func validateMemberEpoch(m *consumerMember, epoch int32, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) *apiError {
	switch {
	case epoch > m.memberEpoch:
		return errorf(kerr.FencedMemberEpoch, "The consumer group member has a greater member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.memberEpoch)
	case epoch < m.memberEpoch && (epoch != m.previousMemberEpoch || !isSubset(owned, m.assigned)):
		return errorf(kerr.FencedMemberEpoch, "The consumer group member has a smaller member epoch (%d) than the one known by the group coordinator (%d). The member must abandon all its partitions and rejoin.", epoch, m.memberEpoch)
	}
	return nil
}

func isSubset(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, a assignment) bool {
	if owned == nil {
		return false
	}
	for _, t := range owned {
		for _, p := range t.Partitions {
			if !a.contains(t.TopicID, p) {
				return false
			}
		}
	}
	return true
}

// consumerHeartbeat handles a join or heartbeat: it updates the member,
// bumps the group epoch if subscriptions or topics changed, computes a new
// target assignment if the epoch moved, and reconciles the member towards
// its target. Everything goes to the log as one batch before the state
// changes. REQUIRES: s.mu held.
func (s *shard) consumerHeartbeat(rc RequestContext, req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *apiError {
	if req.MemberEpoch == leaveGroupEpoch || req.MemberEpoch == leaveGroupStaticEpoch {
		return s.consumerLeave(req, resp)
	}
	g, recs, err := s.heartbeatGroup(req)
	if err != nil {
		return err
	}
	hm, err := s.heartbeatMember(g, req)
	if err != nil {
		return err
	}
	recs = append(recs, hm.recs...)
	member := hm.member
	updated := updatedMember(member, rc, req)

	// A new group must move off epoch 0.
	bump := g.groupEpoch == 0
	namesChanged := !slices.Equal(member.subscribedTopicNames, updated.subscribedTopicNames)
	regexChanged := member.regex() != updated.regex()
	if !sameMetadata(member, updated) {
		recs = append(recs, cgMemberRecord(g.id, updated))
	}
	bump = bump || namesChanged || regexChanged

	view := maps.Clone(g.members)
	if hm.replaced != nil {
		delete(view, hm.replaced.id)
	}
	view[updated.id] = updated
	resolved, regexRecs, regexesChanged := s.resolveRegexes(g, view)
	recs = append(recs, regexRecs...)
	bump = bump || regexesChanged
	md := s.subscriptionMetadata(view, resolved)
	if !maps.Equal(md, g.subscriptionMetadata) {
		recs = append(recs, cgSubscriptionMetadataRecord(g.id, md))
		bump = true
	}
	groupEpoch := g.groupEpoch
	if bump {
		groupEpoch++
		recs = append(recs, cgEpochRecord(g.id, groupEpoch))
	}

	targetOf := func(id string) assignment {
		if hm.replaced != nil && id == updated.id {
			return g.targets[hm.replaced.id]
		}
		return g.targets[id]
	}
	targetEpoch, target := g.assignmentEpoch, targetOf(updated.id)
	if groupEpoch > g.assignmentEpoch {
		s.c.rebalances.consumer.Add(1)
		targets := s.computeTargets(view, md, resolved, targetOf)
		for _, id := range slices.Sorted(maps.Keys(view)) {
			if !targets[id].equal(targetOf(id)) {
				recs = append(recs, cgTargetRecord(g.id, id, targets[id]))
			}
		}
		recs = append(recs, cgTargetEpochRecord(g.id, groupEpoch))
		targetEpoch, target = groupEpoch, targets[updated.id]
	}

	subscribedIDs := map[[16]byte]bool{}
	for _, t := range append(slices.Clone(updated.subscribedTopicNames), resolved[updated.regex()]...) {
		if tm, ok := md[t]; ok {
			subscribedIDs[tm.TopicID] = true
		}
	}
	r := reconciler{
		member:       updated,
		targetEpoch:  targetEpoch,
		target:       target,
		partitionOf:  g.currentPartitionEpoch(updated.id),
		owned:        req.Topics,
		ownedKnown:   req.Topics != nil,
		subChanged:   namesChanged || regexChanged,
		subscribedID: func(id [16]byte) bool { return subscribedIDs[id] },
	}
	final := r.build()
	if final == nil {
		return errorf(kerr.FencedMemberEpoch, "The consumer group member is in a unknown state. The member must abandon all its partitions and rejoin.")
	}
	assignmentChanged := hm.stored == nil || !sameCurrentAssignment(final, hm.stored)
	if assignmentChanged {
		recs = append(recs, cgCurrentAssignmentRecord(g.id, final))
	}
	if err := s.commit(recs); err != nil {
		return errorf(writeError(err), "writing the group's state failed: %v", err)
	}
	s.afterHeartbeat(req.Group, final.id, hm.replaced, assignmentChanged)

	m := s.consumer[req.Group].members[final.id]
	resp.MemberID = &m.id
	resp.MemberEpoch = m.memberEpoch
	_, interval := s.c.consumerTimeouts(req.Group)
	resp.HeartbeatIntervalMillis = int32(interval.Milliseconds())
	full := req.MemberEpoch == 0 || (req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil)
	if full || !member.assigned.equal(m.assigned) {
		resp.Assignment = heartbeatAssignment(m.assigned)
	}
	return nil
}

// heartbeatGroup returns the group a heartbeat is for, a new one (not yet
// in the shard: its records create it) for a join, with the records that
// retire an empty classic group of the same id. REQUIRES: s.mu held.
func (s *shard) heartbeatGroup(req *kmsg.ConsumerGroupHeartbeatRequest) (*consumerGroup, []coordRecord, *apiError) {
	if g := s.consumer[req.Group]; g != nil {
		return g, nil, nil
	}
	cg := s.classic[req.Group]
	switch {
	case cg != nil && len(cg.members) > 0:
		return nil, nil, errorf(kerr.GroupIDNotFound, "Group %s is a classic group with members; it cannot take members of the consumer protocol.", req.Group)
	case req.MemberEpoch != 0:
		return nil, nil, errorf(kerr.UnknownMemberID, "Consumer group %s not found.", req.Group)
	}
	// An empty classic group (or offsets alone) becomes a consumer group;
	// its offsets stay.
	var recs []coordRecord
	if cg != nil && cg.protocolType != "" {
		recs = append(recs, coordRecord{key: recordKey{Type: recGroupMetadata, Group: req.Group}})
	}
	return newConsumerGroup(req.Group), recs, nil
}

// heartbeatMember is who a heartbeat is from.
type heartbeatMember struct {
	stored   *consumerMember // the member as the group has it; nil if new
	member   *consumerMember // where this heartbeat starts from
	replaced *consumerMember // a static member this one takes over from
	recs     []coordRecord   // the records of that takeover
}

// heartbeatMember finds, creates or (for a static member restarting)
// replaces the member a heartbeat is from, checking its epoch and
// instance id. REQUIRES: s.mu held.
func (s *shard) heartbeatMember(g *consumerGroup, req *kmsg.ConsumerGroupHeartbeatRequest) (heartbeatMember, *apiError) {
	var hm heartbeatMember
	join := req.MemberEpoch == 0
	memberID := req.MemberID
	if memberID == "" {
		memberID = randomUUID()
	}
	if len(g.members) >= s.c.cfg.ConsumerMaxSize && g.members[memberID] == nil {
		return hm, errorf(kerr.GroupMaxSizeReached, "The consumer group has reached its maximum capacity of %d members.", s.c.cfg.ConsumerMaxSize)
	}
	if req.InstanceID == nil {
		hm.stored = g.members[memberID]
		switch {
		case hm.stored == nil && !join:
			return hm, errorf(kerr.UnknownMemberID, "Member %s is not a member of group %s.", memberID, g.id)
		case hm.stored == nil:
			hm.member = newConsumerMember(memberID)
		case join:
			hm.member = rejoined(hm.stored)
		default:
			if err := validateMemberEpoch(hm.stored, req.MemberEpoch, req.Topics); err != nil {
				return hm, err
			}
			hm.member = hm.stored.clone()
		}
		return hm, nil
	}
	existing := g.staticMember(*req.InstanceID)
	switch {
	case !join && existing == nil:
		return hm, errorf(kerr.UnknownMemberID, "Instance id %s is unknown.", *req.InstanceID)
	case !join && existing.id != memberID:
		return hm, errorf(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", memberID, *req.InstanceID, existing.id)
	case !join:
		if err := validateMemberEpoch(existing, req.MemberEpoch, req.Topics); err != nil {
			return hm, err
		}
		hm.stored, hm.member = existing, existing.clone()
	case existing == nil:
		if hm.stored = g.members[memberID]; hm.stored == nil {
			hm.member = newConsumerMember(memberID)
		} else {
			hm.member = rejoined(hm.stored)
		}
	case existing.id == memberID && existing.memberEpoch != leaveGroupStaticEpoch:
		hm.stored, hm.member = existing, rejoined(existing)
	case existing.memberEpoch != leaveGroupStaticEpoch:
		return hm, errorf(kerr.UnreleasedInstanceID, "Static member %s with instance id %s cannot join the group because the instance id is owned by %s member.", memberID, *req.InstanceID, existing.id)
	default:
		// The static member restarted: the new member id takes the old
		// one's place, assignment and target (KIP-848 static
		// membership), with no rebalance.
		hm.replaced = existing
		hm.member = existing.clone()
		hm.member.id = memberID
		hm.member.memberEpoch, hm.member.previousMemberEpoch = 0, 0
		hm.recs = append(memberTombstones(g.id, existing.id),
			cgMemberRecord(g.id, hm.member),
			cgTargetRecord(g.id, memberID, g.targets[existing.id]),
			cgCurrentAssignmentRecord(g.id, hm.member))
		hm.stored = hm.member
	}
	return hm, nil
}

// updatedMember applies what a heartbeat carries to a member; absent
// (null, -1) fields keep their values.
func updatedMember(member *consumerMember, rc RequestContext, req *kmsg.ConsumerGroupHeartbeatRequest) *consumerMember {
	updated := member.clone()
	if req.InstanceID != nil {
		updated.instanceID = req.InstanceID
	}
	if req.RackID != nil {
		updated.rackID = req.RackID
	}
	if req.RebalanceTimeoutMillis != -1 {
		updated.rebalanceTimeoutMs = req.RebalanceTimeoutMillis
	}
	if req.ServerAssignor != nil {
		updated.serverAssignor = req.ServerAssignor
	}
	if req.SubscribedTopicNames != nil {
		updated.subscribedTopicNames = slices.Compact(slices.Sorted(slices.Values(req.SubscribedTopicNames)))
	}
	if req.SubscribedTopicRegex != nil {
		updated.subscribedTopicRegex = req.SubscribedTopicRegex
	}
	updated.clientID, updated.clientHost = rc.ClientID, rc.ClientHost
	return updated
}

// afterHeartbeat (re)starts the member's timers once its heartbeat is
// written: its session, and its rebalance timeout while it has partitions
// to revoke. REQUIRES: s.mu held.
func (s *shard) afterHeartbeat(groupID, memberID string, replaced *consumerMember, assignmentChanged bool) {
	g := s.consumer[groupID]
	if replaced != nil {
		s.cancel(timerKey{timerSession, g.id, replaced.id})
		s.cancel(timerKey{timerRevocation, g.id, replaced.id})
	}
	m := g.members[memberID]
	s.scheduleSessionTimeout(g, m)
	if !assignmentChanged {
		return
	}
	if m.state == memberUnrevokedPartitions {
		s.scheduleRevocationTimeout(g, m)
	} else {
		s.cancel(timerKey{timerRevocation, g.id, m.id})
	}
}

// rejoined is a member that joins again (epoch 0) while the group still
// has it. Kafka fences such a heartbeat until the session times out;
// Samsa takes it as the member starting over with nothing (the join says
// it owns no partition), keeping its target, so its partitions come back
// at once.
func rejoined(stored *consumerMember) *consumerMember {
	m := stored.clone()
	m.memberEpoch, m.previousMemberEpoch, m.state = 0, 0, memberStable
	m.assigned, m.pendingRevocation = assignment{}, assignment{}
	return m
}

func heartbeatAssignment(a assignment) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	out := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	out.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
	for _, tp := range a.toTopicPartitions() {
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID, t.Partitions = tp.TopicID, tp.Partitions
		out.Topics = append(out.Topics, t)
	}
	return &out
}

// resolveRegexes resolves the regular expressions the members use, again
// if their resolution is older than regexRefreshInterval, and returns the
// records for resolutions that changed and for expressions no member uses
// any more. changed reports whether some resolution changed. REQUIRES:
// s.mu held.
func (s *shard) resolveRegexes(g *consumerGroup, view map[string]*consumerMember) (resolved map[string][]string, recs []coordRecord, changed bool) {
	used := map[string]bool{}
	for _, m := range view {
		if re := m.regex(); re != "" {
			used[re] = true
		}
	}
	resolved = map[string][]string{}
	now := s.nowMs()
	var topics []string
	for _, re := range slices.Sorted(maps.Keys(used)) {
		old := g.regexes[re]
		if checked, ok := g.regexCheckedMs[re]; old != nil && ok && now-checked < regexRefreshInterval.Milliseconds() {
			resolved[re] = old.Topics
			continue
		}
		if topics == nil {
			topics = s.c.topics.TopicNames()
		}
		ts := resolveRegex(re, topics)
		resolved[re] = ts
		g.regexCheckedMs[re] = now
		if old != nil && slices.Equal(old.Topics, ts) {
			continue
		}
		changed = true
		recs = append(recs, cgRegexRecord(g.id, re, &cgRegexValue{Topics: ts, Version: now, Timestamp: now}))
	}
	for _, re := range slices.Sorted(maps.Keys(g.regexes)) {
		if !used[re] {
			recs = append(recs, cgRegexRecord(g.id, re, nil))
		}
	}
	return resolved, recs, changed
}

// subscriptionMetadata is the metadata of the topics the members
// subscribe to that exist. REQUIRES: s.mu held.
func (s *shard) subscriptionMetadata(view map[string]*consumerMember, resolved map[string][]string) map[string]cgTopicMetadata {
	md := map[string]cgTopicMetadata{}
	add := func(name string) {
		if _, done := md[name]; done {
			return
		}
		if id, n, ok := s.c.topics.TopicByName(name); ok {
			md[name] = cgTopicMetadata{TopicID: id, TopicName: name, NumPartitions: n}
		}
	}
	for _, m := range view {
		for _, t := range m.subscribedTopicNames {
			add(t)
		}
		for _, t := range resolved[m.regex()] {
			add(t)
		}
	}
	return md
}

// computeTargets runs the group's assignor over the members.
func (s *shard) computeTargets(view map[string]*consumerMember, md map[string]cgTopicMetadata, resolved map[string][]string, targetOf func(string) assignment) map[string]assignment {
	members := make([]assignorMember, 0, len(view))
	for id, m := range view {
		am := assignorMember{id: id, instanceID: m.instanceID, topics: map[string]bool{}, current: targetOf(id)}
		for _, t := range m.subscribedTopicNames {
			am.topics[t] = true
		}
		for _, t := range resolved[m.regex()] {
			am.topics[t] = true
		}
		members = append(members, am)
	}
	return assignPartitions(s.preferredAssignor(view), members, md)
}

// preferredAssignor is the server assignor most members ask for, or the
// first of group.consumer.assignors when none asks.
func (s *shard) preferredAssignor(view map[string]*consumerMember) string {
	votes := map[string]int{}
	for _, m := range view {
		if m.serverAssignor != nil {
			votes[*m.serverAssignor]++
		}
	}
	best, bestVotes := s.c.cfg.ConsumerAssignors[0], 0
	for _, name := range s.c.cfg.ConsumerAssignors {
		if votes[name] > bestVotes {
			best, bestVotes = name, votes[name]
		}
	}
	return best
}

// consumerLeave handles a member leaving (epoch -1), or a static member
// leaving for now (epoch -2): it keeps its assignment, at epoch -2, until
// it rejoins or its session times out. REQUIRES: s.mu held.
func (s *shard) consumerLeave(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) *apiError {
	g := s.consumer[req.Group]
	if g == nil {
		return errorf(kerr.UnknownMemberID, "Consumer group %s not found.", req.Group)
	}
	instanceID := req.InstanceID
	if instanceID == nil && req.MemberEpoch == leaveGroupStaticEpoch {
		// Kafka requires the instance id with epoch -2; some clients
		// (franz-go) leave without it, and would then find their
		// instance id taken when they restart. The member id names
		// the member as well.
		m := g.members[req.MemberID]
		if m == nil || m.instanceID == nil {
			return errorf(kerr.InvalidRequest, "InstanceId can't be null.")
		}
		instanceID = m.instanceID
	}
	var m *consumerMember
	if instanceID == nil {
		if m = g.members[req.MemberID]; m == nil {
			return errorf(kerr.UnknownMemberID, "Member %s is not a member of group %s.", req.MemberID, g.id)
		}
	} else {
		if m = g.staticMember(*instanceID); m == nil {
			return errorf(kerr.UnknownMemberID, "Instance id %s is unknown.", *instanceID)
		}
		if m.id != req.MemberID {
			return errorf(kerr.FencedInstanceID, "Static member %s with instance id %s was fenced by member %s.", req.MemberID, *instanceID, m.id)
		}
		if req.MemberEpoch == leaveGroupStaticEpoch {
			left := m.clone()
			left.memberEpoch = leaveGroupStaticEpoch
			left.pendingRevocation = assignment{}
			if err := s.commit([]coordRecord{cgCurrentAssignmentRecord(g.id, left)}); err != nil {
				return errorf(writeError(err), "writing the group's state failed: %v", err)
			}
			s.c.logger.Info("static member left for now", "group", g.id, "member", m.id, "instance", *m.instanceID)
			resp.MemberID, resp.MemberEpoch = &left.id, leaveGroupStaticEpoch
			return nil
		}
	}
	if err := s.fenceMember(g, m); err != nil {
		return errorf(writeError(err), "writing the group's state failed: %v", err)
	}
	s.c.logger.Info("member left the group", "group", g.id, "member", m.id)
	id := m.id
	resp.MemberID, resp.MemberEpoch = &id, req.MemberEpoch
	return nil
}

// fenceMember removes a member and bumps the group epoch, so the others
// get its partitions. REQUIRES: s.mu held.
func (s *shard) fenceMember(g *consumerGroup, m *consumerMember) error {
	recs := memberTombstones(g.id, m.id)
	view := maps.Clone(g.members)
	delete(view, m.id)
	resolved, regexRecs, _ := s.resolveRegexes(g, view)
	recs = append(recs, regexRecs...)
	if md := s.subscriptionMetadata(view, resolved); !maps.Equal(md, g.subscriptionMetadata) {
		recs = append(recs, cgSubscriptionMetadataRecord(g.id, md))
	}
	recs = append(recs, cgEpochRecord(g.id, g.groupEpoch+1))
	if err := s.commit(recs); err != nil {
		return err
	}
	s.cancel(timerKey{timerSession, g.id, m.id})
	s.cancel(timerKey{timerRevocation, g.id, m.id})
	return nil
}

// scheduleSessionTimeout fences the member if it does not heartbeat
// within its group's consumer.session.timeout.ms (by default
// group.consumer.session.timeout.ms). REQUIRES: s.mu held.
func (s *shard) scheduleSessionTimeout(g *consumerGroup, m *consumerMember) {
	groupID, memberID := g.id, m.id
	timeout, _ := s.c.consumerTimeouts(groupID)
	s.schedule(timerKey{timerSession, groupID, memberID}, timeout, func() {
		g := s.consumer[groupID]
		if g == nil || g.members[memberID] == nil {
			return
		}
		s.c.logger.Info("member fenced: session timed out", "group", groupID, "member", memberID)
		if err := s.fenceMember(g, g.members[memberID]); err != nil {
			// Try again later rather than keep a dead member forever.
			s.scheduleSessionTimeout(g, g.members[memberID])
		}
	})
}

// scheduleRevocationTimeout fences the member if it has not revoked its
// partitions, and so left its epoch, within its rebalance timeout.
// REQUIRES: s.mu held.
func (s *shard) scheduleRevocationTimeout(g *consumerGroup, m *consumerMember) {
	groupID, memberID, epoch := g.id, m.id, m.memberEpoch
	s.schedule(timerKey{timerRevocation, groupID, memberID}, msDuration(m.rebalanceTimeoutMs), func() {
		g := s.consumer[groupID]
		if g == nil || g.members[memberID] == nil || g.members[memberID].memberEpoch != epoch {
			return
		}
		s.c.logger.Info("member fenced: it did not revoke its partitions within its rebalance timeout", "group", groupID, "member", memberID, "epoch", epoch)
		s.fenceMember(g, g.members[memberID])
	})
}

// ConsumerGroupDescribe serves ConsumerGroupDescribe.
func (c *Coordinator) ConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := kmsg.NewPtrConsumerGroupDescribeResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = id
		if err := c.describeConsumerGroup(id, req.Version, &dg); err != nil {
			dg.ErrorCode, dg.ErrorMessage = err.code.Code, &err.msg
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeConsumerGroup(id string, version int16, dg *kmsg.ConsumerGroupDescribeResponseGroup) *apiError {
	if id == "" {
		return errorf(kerr.InvalidGroupID, "GroupId can't be empty.")
	}
	s, code := c.shardFor(id)
	if code != nil {
		return &apiError{code: code, msg: code.Message}
	}
	defer s.mu.Unlock()
	g := s.consumer[id]
	if g == nil {
		if s.classic[id] != nil {
			return errorf(kerr.GroupIDNotFound, "Group %s is not a consumer group.", id)
		}
		return errorf(kerr.GroupIDNotFound, "Group %s not found.", id)
	}
	dg.State = g.state()
	dg.Epoch = g.groupEpoch
	dg.AssignmentEpoch = g.assignmentEpoch
	dg.AssignorName = s.preferredAssignor(g.members)
	for _, mid := range slices.Sorted(maps.Keys(g.members)) {
		m := g.members[mid]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.RackID = m.rackID
		dm.MemberEpoch = m.memberEpoch
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		dm.SubscribedTopics = slices.Clone(m.subscribedTopicNames)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		if m.regex() != "" {
			dm.SubscribedTopicRegex = m.subscribedTopicRegex
		}
		dm.Assignment = c.describeAssignment(m.assigned)
		dm.TargetAssignment = c.describeAssignment(g.targets[m.id])
		dm.MemberType = 1 // consumer protocol (v1+)
		dg.Members = append(dg.Members, dm)
	}
	return nil
}

func (c *Coordinator) describeAssignment(a assignment) kmsg.Assignment {
	out := kmsg.NewAssignment()
	out.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, tp := range a.toTopicPartitions() {
		at := kmsg.NewAssignmentTopicPartition()
		at.TopicID, at.Partitions = tp.TopicID, tp.Partitions
		if name, _, ok := c.topics.TopicByID(tp.TopicID); ok {
			at.Topic = name
		}
		out.TopicPartitions = append(out.TopicPartitions, at)
	}
	return out
}
