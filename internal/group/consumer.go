package group

import (
	"maps"
	"regexp"
	"slices"
	"sort"
)

// memberState is a KIP-848 member's reconciliation state, with the values
// Kafka stores in ConsumerGroupCurrentMemberAssignmentValue.State.
type memberState int8

const (
	memberStable               memberState = 0
	memberUnrevokedPartitions  memberState = 1 // must revoke partitions before its next epoch
	memberUnreleasedPartitions memberState = 2 // at the target epoch, waiting for partitions others still own
	memberUnknownState         memberState = 127
)

// Member epochs a ConsumerGroupHeartbeat may carry besides real epochs.
const (
	leaveGroupEpoch       = -1 // the member leaves
	leaveGroupStaticEpoch = -2 // a static member leaves for now, keeping its assignment
)

// consumerGroup is a group using the KIP-848 protocol
// (ConsumerGroupHeartbeat). Its fields are changed only by replaying
// records (replayConsumer), on load and after every write alike, so what
// a load rebuilds is what was served.
type consumerGroup struct {
	id              string
	groupEpoch      int32
	assignmentEpoch int32
	members         map[string]*consumerMember
	staticMembers   map[string]string     // instance id -> member id
	targets         map[string]assignment // member id -> target assignment
	// owners: who holds each partition (assigned or pending revocation)
	// and at which epoch. A partition has at most one owner; another
	// member gets it only after the owner released it.
	owners map[[16]byte]map[int32]partitionOwner
	// subscriptionMetadata: the subscribed topics as last recorded; a
	// change (a topic created, deleted or grown) bumps the group epoch.
	subscriptionMetadata map[string]cgTopicMetadata
	regexes              map[string]*cgRegexValue
	// regexCheckedMs is when each regular expression was last resolved;
	// soft state, not in the log (a load resolves them again).
	regexCheckedMs map[string]int64
}

type partitionOwner struct {
	member string
	epoch  int32
}

// consumerMember is a member of a KIP-848 group.
type consumerMember struct {
	id                   string
	instanceID           *string
	rackID               *string
	clientID             string
	clientHost           string
	subscribedTopicNames []string // sorted
	subscribedTopicRegex *string
	rebalanceTimeoutMs   int32
	serverAssignor       *string

	memberEpoch         int32
	previousMemberEpoch int32
	state               memberState
	assigned            assignment
	pendingRevocation   assignment
}

func newConsumerGroup(id string) *consumerGroup {
	return &consumerGroup{
		id:                   id,
		members:              map[string]*consumerMember{},
		staticMembers:        map[string]string{},
		targets:              map[string]assignment{},
		owners:               map[[16]byte]map[int32]partitionOwner{},
		subscriptionMetadata: map[string]cgTopicMetadata{},
		regexes:              map[string]*cgRegexValue{},
		regexCheckedMs:       map[string]int64{},
	}
}

func newConsumerMember(id string) *consumerMember {
	return &consumerMember{id: id, rebalanceTimeoutMs: -1, assigned: assignment{}, pendingRevocation: assignment{}}
}

func (g *consumerGroup) isEmpty() bool { return len(g.members) == 0 }

// state is the group's state as ListGroups and ConsumerGroupDescribe
// name it.
func (g *consumerGroup) state() string {
	switch {
	case len(g.members) == 0:
		return "Empty"
	case g.groupEpoch > g.assignmentEpoch:
		return "Assigning"
	}
	for _, m := range g.members {
		if m.state != memberStable || m.memberEpoch != g.assignmentEpoch {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (g *consumerGroup) staticMember(instanceID string) *consumerMember {
	if id, ok := g.staticMembers[instanceID]; ok {
		return g.members[id]
	}
	return nil
}

// isSubscribedTo reports whether a member subscribes to topic, by name or
// through a resolved regular expression.
func (g *consumerGroup) isSubscribedTo(topic string) bool {
	for _, m := range g.members {
		if slices.Contains(m.subscribedTopicNames, topic) {
			return true
		}
		if re := m.regex(); re != "" {
			if r := g.regexes[re]; r != nil && slices.Contains(r.Topics, topic) {
				return true
			}
		}
	}
	return false
}

// currentPartitionEpoch is the epoch of the member holding a partition,
// or -1 if it is free. Partitions held by forMember count as free to it.
func (g *consumerGroup) currentPartitionEpoch(forMember string) func(id [16]byte, p int32) int32 {
	return func(id [16]byte, p int32) int32 {
		if o, ok := g.owners[id][p]; ok && o.member != forMember {
			return o.epoch
		}
		return -1
	}
}

func (g *consumerGroup) addOwnership(m *consumerMember, a assignment, logError func(msg string, args ...any)) {
	for id, ps := range a {
		byP := g.owners[id]
		if byP == nil {
			byP = map[int32]partitionOwner{}
			g.owners[id] = byP
		}
		for _, p := range ps {
			if o, ok := byP[p]; ok && o.member != m.id {
				logError("partition is assigned to two members; keeping the first", "group", g.id, "partition", p, "owner", o.member, "member", m.id)
				continue
			}
			byP[p] = partitionOwner{member: m.id, epoch: m.memberEpoch}
		}
	}
}

func (g *consumerGroup) removeOwnership(memberID string, a assignment) {
	for id, ps := range a {
		byP := g.owners[id]
		for _, p := range ps {
			if o, ok := byP[p]; ok && o.member == memberID {
				delete(byP, p)
			}
		}
		if len(byP) == 0 {
			delete(g.owners, id)
		}
	}
}

// regex is the member's subscription regular expression, "" if none.
func (m *consumerMember) regex() string {
	if m.subscribedTopicRegex == nil {
		return ""
	}
	return *m.subscribedTopicRegex
}

func (m *consumerMember) clone() *consumerMember {
	c := *m
	c.subscribedTopicNames = slices.Clone(m.subscribedTopicNames)
	c.assigned = m.assigned.clone()
	c.pendingRevocation = m.pendingRevocation.clone()
	return &c
}

func (a assignment) clone() assignment {
	c := make(assignment, len(a))
	for id, ps := range a {
		c[id] = slices.Clone(ps)
	}
	return c
}

func (a assignment) equal(b assignment) bool {
	return maps.EqualFunc(a, b, slices.Equal[[]int32])
}

func (a assignment) count() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func (a assignment) contains(id [16]byte, p int32) bool {
	_, ok := slices.BinarySearch(a[id], p)
	return ok
}

// add puts a partition in the assignment, keeping it sorted.
func (a assignment) add(id [16]byte, p int32) {
	ps := a[id]
	i, found := slices.BinarySearch(ps, p)
	if !found {
		a[id] = slices.Insert(ps, i, p)
	}
}

func equalStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// sameMetadata reports whether two members' ConsumerGroupMemberMetadata
// would be the same record.
func sameMetadata(a, b *consumerMember) bool {
	return equalStringPtr(a.instanceID, b.instanceID) && equalStringPtr(a.rackID, b.rackID) &&
		a.clientID == b.clientID && a.clientHost == b.clientHost &&
		slices.Equal(a.subscribedTopicNames, b.subscribedTopicNames) &&
		equalStringPtr(a.subscribedTopicRegex, b.subscribedTopicRegex) &&
		a.rebalanceTimeoutMs == b.rebalanceTimeoutMs && equalStringPtr(a.serverAssignor, b.serverAssignor)
}

// sameCurrentAssignment reports whether two members'
// ConsumerGroupCurrentMemberAssignment would be the same record.
func sameCurrentAssignment(a, b *consumerMember) bool {
	return a.memberEpoch == b.memberEpoch && a.previousMemberEpoch == b.previousMemberEpoch && a.state == b.state &&
		a.assigned.equal(b.assigned) && a.pendingRevocation.equal(b.pendingRevocation)
}

// Records of a KIP-848 group.

func cgEpochRecord(group string, epoch int32) coordRecord {
	return coordRecord{key: recordKey{Type: recConsumerGroupMetadata, Group: group}, value: &cgMetadataValue{Epoch: epoch}}
}

func cgSubscriptionMetadataRecord(group string, md map[string]cgTopicMetadata) coordRecord {
	v := &cgPartitionMetadataValue{}
	names := slices.Sorted(maps.Keys(md))
	for _, n := range names {
		v.Topics = append(v.Topics, md[n])
	}
	return coordRecord{key: recordKey{Type: recConsumerGroupPartitionMetadata, Group: group}, value: v}
}

func cgMemberRecord(group string, m *consumerMember) coordRecord {
	return coordRecord{
		key: recordKey{Type: recConsumerGroupMemberMetadata, Group: group, Member: m.id},
		value: &cgMemberMetadataValue{
			InstanceID:           m.instanceID,
			RackID:               m.rackID,
			ClientID:             m.clientID,
			ClientHost:           m.clientHost,
			SubscribedTopicNames: slices.Clone(m.subscribedTopicNames),
			SubscribedTopicRegex: m.subscribedTopicRegex,
			RebalanceTimeoutMs:   m.rebalanceTimeoutMs,
			ServerAssignor:       m.serverAssignor,
		},
	}
}

func cgTargetRecord(group, member string, a assignment) coordRecord {
	return coordRecord{
		key:   recordKey{Type: recConsumerGroupTargetAssignmentMember, Group: group, Member: member},
		value: &cgTargetAssignmentMemberValue{TopicPartitions: a.toTopicPartitions()},
	}
}

func cgTargetEpochRecord(group string, epoch int32) coordRecord {
	return coordRecord{
		key:   recordKey{Type: recConsumerGroupTargetAssignmentMetadata, Group: group},
		value: &cgTargetAssignmentMetadataValue{AssignmentEpoch: epoch},
	}
}

func cgCurrentAssignmentRecord(group string, m *consumerMember) coordRecord {
	return coordRecord{
		key: recordKey{Type: recConsumerGroupCurrentMemberAssignment, Group: group, Member: m.id},
		value: &cgCurrentMemberAssignmentValue{
			MemberEpoch:                 m.memberEpoch,
			PreviousMemberEpoch:         m.previousMemberEpoch,
			State:                       int8(m.state),
			AssignedPartitions:          m.assigned.toTopicPartitions(),
			PartitionsPendingRevocation: m.pendingRevocation.toTopicPartitions(),
		},
	}
}

func cgRegexRecord(group, regex string, v *cgRegexValue) coordRecord {
	r := coordRecord{key: recordKey{Type: recConsumerGroupRegularExpression, Group: group, Regex: regex}}
	if v != nil {
		r.value = v
	}
	return r
}

func tombstone(typ int16, group, member string) coordRecord {
	return coordRecord{key: recordKey{Type: typ, Group: group, Member: member}}
}

// memberTombstones remove a member, in Kafka's order: current
// assignment, target assignment, member metadata.
func memberTombstones(group, member string) []coordRecord {
	return []coordRecord{
		tombstone(recConsumerGroupCurrentMemberAssignment, group, member),
		tombstone(recConsumerGroupTargetAssignmentMember, group, member),
		tombstone(recConsumerGroupMemberMetadata, group, member),
	}
}

// tombstones delete the whole group, members included.
func (g *consumerGroup) tombstones() []coordRecord {
	ids := slices.Sorted(maps.Keys(g.members))
	var recs []coordRecord
	for _, id := range ids {
		recs = append(recs, tombstone(recConsumerGroupCurrentMemberAssignment, g.id, id))
	}
	for _, id := range ids {
		recs = append(recs, tombstone(recConsumerGroupTargetAssignmentMember, g.id, id))
	}
	recs = append(recs, tombstone(recConsumerGroupTargetAssignmentMetadata, g.id, ""))
	for _, id := range ids {
		recs = append(recs, tombstone(recConsumerGroupMemberMetadata, g.id, id))
	}
	for _, re := range slices.Sorted(maps.Keys(g.regexes)) {
		recs = append(recs, cgRegexRecord(g.id, re, nil))
	}
	recs = append(recs, tombstone(recConsumerGroupPartitionMetadata, g.id, ""))
	recs = append(recs, tombstone(recConsumerGroupMetadata, g.id, ""))
	return recs
}

// compileSubscriptionRegex compiles a subscription regular expression.
// Kafka matches it against whole topic names (Java's Matcher.matches);
// Go's RE2 syntax is the syntax Kafka documents for it (RE2/J).
func compileSubscriptionRegex(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}

// internalTopics are never matched by a subscription regular expression.
var internalTopics = map[string]bool{"__consumer_offsets": true, "__transaction_state": true}

// resolveRegex lists the topics a regular expression matches, sorted.
func resolveRegex(re string, topics []string) []string {
	r, err := compileSubscriptionRegex(re)
	if err != nil {
		return nil
	}
	var out []string
	for _, t := range topics {
		if !internalTopics[t] && r.MatchString(t) {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}
