package group

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replay applies one record to the shard's state: when a partition is
// loaded, and after every write of a group whose state is record-driven
// (offsets, KIP-848 groups, deletions). REQUIRES: s.mu held.
func (s *shard) replay(r coordRecord) {
	switch r.key.Type {
	case recLegacyOffsetCommit, recOffsetCommit:
		s.replayOffset(r.key, r.value)
	case recGroupMetadata:
		s.replayGroupMetadata(r.key.Group, r.value)
	default:
		s.replayConsumer(r.key, r.value)
	}
}

func (s *shard) replayOffset(k recordKey, v recordValue) {
	byTopic := s.offsets[k.Group]
	if v == nil {
		delete(byTopic[k.Topic], k.Partition)
		if len(byTopic[k.Topic]) == 0 {
			delete(byTopic, k.Topic)
		}
		if len(byTopic) == 0 {
			delete(s.offsets, k.Group)
		}
		return
	}
	ov := v.(*kmsg.OffsetCommitValue)
	// Offsets committed outside group management belong to a "simple"
	// group: an Empty classic group without a protocol type.
	if s.classic[k.Group] == nil && s.consumer[k.Group] == nil {
		s.classic[k.Group] = newClassicGroup(k.Group, s.now())
	}
	if byTopic == nil {
		byTopic = map[string]map[int32]*offsetEntry{}
		s.offsets[k.Group] = byTopic
	}
	if byTopic[k.Topic] == nil {
		byTopic[k.Topic] = map[int32]*offsetEntry{}
	}
	e := &offsetEntry{offset: ov.Offset, leaderEpoch: -1, metadata: ov.Metadata, commitMs: ov.CommitTimestamp, expireMs: -1}
	if ov.Version >= 3 {
		e.leaderEpoch = ov.LeaderEpoch
	}
	if ov.Version == 1 {
		e.expireMs = ov.ExpireTimestamp
	}
	byTopic[k.Topic][k.Partition] = e
}

func (s *shard) replayGroupMetadata(id string, v recordValue) {
	if v == nil {
		if g := s.classic[id]; g != nil {
			g.state = stateDead
			s.failGroupWaiters(g)
			delete(s.classic, id)
			s.cancelGroupTimers(id)
		}
		return
	}
	if cg := s.consumer[id]; cg != nil {
		delete(s.consumer, id)
		s.cancelGroupTimers(id)
	}
	s.classic[id] = classicGroupFromRecord(id, v.(*kmsg.GroupMetadataValue), s.now())
}

func (s *shard) failGroupWaiters(g *classicGroup) {
	for _, m := range g.members {
		if m.joinWaiter != nil {
			r := newJoinResponse(m.joinWaiter.version)
			r.ErrorCode = kerr.CoordinatorNotAvailable.Code
			m.completeJoin(r)
		}
		if m.syncWaiter != nil {
			r := newSyncResponse(m.syncWaiter.version)
			r.ErrorCode = kerr.CoordinatorNotAvailable.Code
			m.completeSync(r)
		}
	}
}

// consumerGroupFor returns the KIP-848 group a record is about, creating
// it for a record with a value. A simple classic group of the same id
// (offsets only) gives way, as Kafka converts an empty classic group.
func (s *shard) consumerGroupFor(id string, create bool) *consumerGroup {
	if g := s.consumer[id]; g != nil || !create {
		return g
	}
	if cg := s.classic[id]; cg != nil {
		delete(s.classic, id)
		s.cancelGroupTimers(id)
	}
	g := newConsumerGroup(id)
	s.consumer[id] = g
	return g
}

func (s *shard) replayConsumer(k recordKey, v recordValue) {
	g := s.consumerGroupFor(k.Group, v != nil)
	if g == nil {
		return
	}
	logError := s.c.logger.Error
	switch k.Type {
	case recConsumerGroupMetadata:
		if v == nil {
			delete(s.consumer, k.Group)
			s.cancelGroupTimers(k.Group)
			return
		}
		g.groupEpoch = v.(*cgMetadataValue).Epoch
	case recConsumerGroupPartitionMetadata:
		g.subscriptionMetadata = map[string]cgTopicMetadata{}
		if v != nil {
			for _, t := range v.(*cgPartitionMetadataValue).Topics {
				g.subscriptionMetadata[t.TopicName] = t
			}
		}
	case recConsumerGroupMemberMetadata:
		m := g.members[k.Member]
		if v == nil {
			if m != nil {
				g.removeOwnership(m.id, m.assigned)
				g.removeOwnership(m.id, m.pendingRevocation)
				if m.instanceID != nil && g.staticMembers[*m.instanceID] == m.id {
					delete(g.staticMembers, *m.instanceID)
				}
				delete(g.members, k.Member)
			}
			return
		}
		if m == nil {
			m = newConsumerMember(k.Member)
			g.members[k.Member] = m
		}
		mv := v.(*cgMemberMetadataValue)
		if m.instanceID != nil && g.staticMembers[*m.instanceID] == m.id {
			delete(g.staticMembers, *m.instanceID)
		}
		m.instanceID, m.rackID = mv.InstanceID, mv.RackID
		m.clientID, m.clientHost = mv.ClientID, mv.ClientHost
		m.subscribedTopicNames = slices.Sorted(slices.Values(mv.SubscribedTopicNames))
		m.subscribedTopicRegex = mv.SubscribedTopicRegex
		m.rebalanceTimeoutMs = mv.RebalanceTimeoutMs
		m.serverAssignor = mv.ServerAssignor
		if m.instanceID != nil {
			g.staticMembers[*m.instanceID] = m.id
		}
	case recConsumerGroupTargetAssignmentMetadata:
		if v != nil {
			g.assignmentEpoch = v.(*cgTargetAssignmentMetadataValue).AssignmentEpoch
		}
	case recConsumerGroupTargetAssignmentMember:
		if v == nil {
			delete(g.targets, k.Member)
			return
		}
		g.targets[k.Member] = assignmentOf(v.(*cgTargetAssignmentMemberValue).TopicPartitions)
	case recConsumerGroupCurrentMemberAssignment:
		m := g.members[k.Member]
		if m == nil {
			if v == nil {
				return
			}
			m = newConsumerMember(k.Member)
			g.members[k.Member] = m
		}
		g.removeOwnership(m.id, m.assigned)
		g.removeOwnership(m.id, m.pendingRevocation)
		if v == nil {
			m.memberEpoch, m.previousMemberEpoch, m.state = leaveGroupEpoch, leaveGroupEpoch, memberStable
			m.assigned, m.pendingRevocation = assignment{}, assignment{}
			return
		}
		cv := v.(*cgCurrentMemberAssignmentValue)
		m.memberEpoch, m.previousMemberEpoch = cv.MemberEpoch, cv.PreviousMemberEpoch
		m.state = memberState(cv.State)
		switch m.state {
		case memberStable, memberUnrevokedPartitions, memberUnreleasedPartitions:
		default:
			m.state = memberUnknownState
		}
		m.assigned = assignmentOf(cv.AssignedPartitions)
		m.pendingRevocation = assignmentOf(cv.PartitionsPendingRevocation)
		g.addOwnership(m, m.assigned, logError)
		g.addOwnership(m, m.pendingRevocation, logError)
	case recConsumerGroupRegularExpression:
		if v == nil {
			delete(g.regexes, k.Regex)
			return
		}
		g.regexes[k.Regex] = v.(*cgRegexValue)
	}
}
