package group

import (
	"bytes"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// classicState is the state of a group using the classic (JoinGroup /
// SyncGroup) protocol, named as DescribeGroups and ListGroups report it.
type classicState int8

const (
	stateEmpty classicState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s classicState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	}
	return "Dead"
}

// consumerProtocolType is the protocol type of consumer groups; their
// member metadata is a ConsumerProtocolSubscription.
const consumerProtocolType = "consumer"

// classicGroup is a classic group. A group created by an offset commit of
// a consumer that does not use group management (a "simple" group) is an
// Empty classic group without a protocol type.
type classicGroup struct {
	id             string
	state          classicState
	prevState      classicState
	stateTimestamp int64 // ms of the last state change; -1 if unknown (loaded from an old record)
	generation     int32
	protocolType   string // "" = none yet
	protocolName   string // "" = none (only Empty groups have none)
	leader         string // "" = none
	// members in join order: it decides the leader when the leader leaves
	// and the order of the leader's member list, as the insertion order
	// of Kafka's map does.
	members map[string]*classicMember
	order   []string
	// pending: member ids handed out with MEMBER_ID_REQUIRED (KIP-394)
	// whose second JoinGroup has not come yet.
	pending map[string]struct{}
	// pendingSync: members that got their JoinGroup response in this
	// generation but have not sent SyncGroup yet.
	pendingSync        map[string]struct{}
	staticMembers      map[string]string // group.instance.id -> member id
	supportedProtocols map[string]int    // protocol name -> members supporting it
	numAwaitingJoin    int
	newMemberAdded     bool
	// subscribedTopics is the union of the consumer subscriptions of the
	// members, nil when unknown (not a consumer group, or a subscription
	// that could not be parsed). Offset expiry and OffsetDelete use it.
	subscribedTopics map[string]struct{}
}

// classicMember is a member of a classic group.
type classicMember struct {
	id                 string
	instanceID         *string
	clientID           string
	clientHost         string
	rebalanceTimeoutMs int32
	sessionTimeoutMs   int32
	protocolType       string
	protocols          []kmsg.JoinGroupRequestProtocol
	assignment         []byte
	// joinWaiter and syncWaiter are the JoinGroup and SyncGroup requests
	// waiting for the rebalance; nil when none waits.
	joinWaiter *joinWaiter
	syncWaiter *syncWaiter
	// isNew is set until the member's first join completes: a new member
	// can be expired while it waits in JoinGroup.
	isNew bool
}

type joinWaiter struct {
	version int16
	ch      chan *kmsg.JoinGroupResponse
}

type syncWaiter struct {
	version int16
	ch      chan *kmsg.SyncGroupResponse
}

func newJoinWaiter(version int16) *joinWaiter {
	return &joinWaiter{version: version, ch: make(chan *kmsg.JoinGroupResponse, 1)}
}

func newSyncWaiter(version int16) *syncWaiter {
	return &syncWaiter{version: version, ch: make(chan *kmsg.SyncGroupResponse, 1)}
}

func newJoinResponse(version int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.Generation = -1
	return r
}

func newSyncResponse(version int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	return r
}

func newClassicGroup(id string, now time.Time) *classicGroup {
	return &classicGroup{
		id:                 id,
		state:              stateEmpty,
		prevState:          stateEmpty,
		stateTimestamp:     now.UnixMilli(),
		members:            map[string]*classicMember{},
		pending:            map[string]struct{}{},
		pendingSync:        map[string]struct{}{},
		staticMembers:      map[string]string{},
		supportedProtocols: map[string]int{},
		subscribedTopics:   map[string]struct{}{},
	}
}

func (g *classicGroup) transitionTo(s classicState, now time.Time) {
	g.prevState = g.state
	g.state = s
	g.stateTimestamp = now.UnixMilli()
}

// canRebalance reports whether the group may move to PreparingRebalance.
func (g *classicGroup) canRebalance() bool {
	return g.state == stateStable || g.state == stateCompletingRebalance || g.state == stateEmpty
}

func (g *classicGroup) isLeader(memberID string) bool {
	return g.leader != "" && g.leader == memberID
}

func (g *classicGroup) isPending(memberID string) bool {
	_, ok := g.pending[memberID]
	return ok
}

func (g *classicGroup) hasAllMembersJoined() bool {
	return len(g.members) == g.numAwaitingJoin && len(g.pending) == 0
}

// orderedMembers returns the members in join order.
func (g *classicGroup) orderedMembers() []*classicMember {
	out := make([]*classicMember, 0, len(g.order))
	for _, id := range g.order {
		out = append(out, g.members[id])
	}
	return out
}

func (g *classicGroup) rebalanceTimeout() time.Duration {
	var max int32
	for _, m := range g.members {
		max = maxOf(max, m.rebalanceTimeoutMs)
	}
	return time.Duration(max) * time.Millisecond
}

func maxOf(a, b int32) int32 {
	if a > b {
		return a
	}
	return b
}

// supportsProtocols reports whether a member with this protocol type and
// these protocols may join: the first member needs a type and at least
// one protocol; later ones the group's type and one protocol every member
// supports.
func (g *classicGroup) supportsProtocols(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if g.state == stateEmpty {
		return protocolType != "" && len(protocols) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, p := range protocols {
		if g.supportedProtocols[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// validateMember checks a member id, and the instance id a static member
// sends with it (KIP-345): an instance id now owned by another member id
// is FENCED_INSTANCE_ID.
func (g *classicGroup) validateMember(memberID string, instanceID *string) *kerr.Error {
	if instanceID != nil {
		owner, ok := g.staticMembers[*instanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if owner != memberID {
			return kerr.FencedInstanceID
		}
	}
	if _, ok := g.members[memberID]; !ok {
		return kerr.UnknownMemberID
	}
	return nil
}

func (g *classicGroup) countProtocols(m *classicMember, delta int) {
	for _, p := range m.protocols {
		g.supportedProtocols[p.Name] += delta
		if g.supportedProtocols[p.Name] <= 0 {
			delete(g.supportedProtocols, p.Name)
		}
	}
}

// add makes m a member, waiting in JoinGroup with w if w is not nil.
func (g *classicGroup) add(m *classicMember, w *joinWaiter) {
	if m.instanceID != nil {
		g.staticMembers[*m.instanceID] = m.id
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	g.countProtocols(m, 1)
	m.joinWaiter = w
	if w != nil {
		g.numAwaitingJoin++
	}
	delete(g.pending, m.id)
	if g.leader == "" {
		g.leader = m.id
	}
}

// remove drops a member (or a pending member id). A JoinGroup or
// SyncGroup still waiting for it is answered with UNKNOWN_MEMBER_ID.
func (g *classicGroup) remove(memberID string) {
	if m := g.members[memberID]; m != nil {
		g.countProtocols(m, -1)
		if m.joinWaiter != nil {
			g.numAwaitingJoin--
			r := newJoinResponse(m.joinWaiter.version)
			r.ErrorCode = kerr.UnknownMemberID.Code
			m.completeJoin(r)
		}
		if m.syncWaiter != nil {
			r := newSyncResponse(m.syncWaiter.version)
			r.ErrorCode = kerr.UnknownMemberID.Code
			m.completeSync(r)
		}
		if m.instanceID != nil && g.staticMembers[*m.instanceID] == memberID {
			delete(g.staticMembers, *m.instanceID)
		}
		delete(g.members, memberID)
		g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == memberID })
	}
	if g.isLeader(memberID) {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
	delete(g.pending, memberID)
	delete(g.pendingSync, memberID)
}

// updateMember takes a rejoining member's new protocols and timeouts.
func (g *classicGroup) updateMember(m *classicMember, req *kmsg.JoinGroupRequest, w *joinWaiter) {
	g.countProtocols(m, -1)
	m.protocols = req.Protocols
	g.countProtocols(m, 1)
	m.rebalanceTimeoutMs = rebalanceTimeoutOf(req)
	m.sessionTimeoutMs = req.SessionTimeoutMillis
	if m.joinWaiter != nil {
		// A JoinGroup of the same member that is still waiting (sent on
		// a connection the client gave up on) is told to join again.
		r := newJoinResponse(m.joinWaiter.version)
		r.ErrorCode = kerr.RebalanceInProgress.Code
		r.MemberID = m.id
		m.completeJoin(r)
		g.numAwaitingJoin--
	}
	m.joinWaiter = w
	if w != nil {
		g.numAwaitingJoin++
	}
}

// replaceStaticMember gives a static member's place, assignment included,
// to a new member id. The old member id is fenced: a JoinGroup or
// SyncGroup it still has waiting gets FENCED_INSTANCE_ID.
func (g *classicGroup) replaceStaticMember(instanceID, oldID, newID string) *classicMember {
	old := g.members[oldID]
	if old.joinWaiter != nil {
		r := newJoinResponse(old.joinWaiter.version)
		r.ErrorCode = kerr.FencedInstanceID.Code
		r.MemberID = oldID
		old.completeJoin(r)
		g.numAwaitingJoin--
	}
	if old.syncWaiter != nil {
		r := newSyncResponse(old.syncWaiter.version)
		r.ErrorCode = kerr.FencedInstanceID.Code
		old.completeSync(r)
	}
	m := *old
	m.id = newID
	m.joinWaiter, m.syncWaiter = nil, nil
	delete(g.members, oldID)
	g.members[newID] = &m
	if i := slices.Index(g.order, oldID); i >= 0 {
		g.order[i] = newID
	}
	if g.leader == oldID {
		g.leader = newID
	}
	if _, ok := g.pendingSync[oldID]; ok {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = struct{}{}
	}
	g.staticMembers[instanceID] = newID
	return &m
}

func (m *classicMember) completeJoin(r *kmsg.JoinGroupResponse) bool {
	if m.joinWaiter == nil {
		return false
	}
	m.joinWaiter.ch <- r
	m.joinWaiter = nil
	return true
}

func (m *classicMember) completeSync(r *kmsg.SyncGroupResponse) bool {
	if m.syncWaiter == nil {
		return false
	}
	m.syncWaiter.ch <- r
	m.syncWaiter = nil
	return true
}

// metadata is the member's metadata for a protocol, nil if it does not
// support it.
func (m *classicMember) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether protocols are the member's current ones, names
// and metadata, in order.
func (m *classicMember) matches(protocols []kmsg.JoinGroupRequestProtocol) bool {
	if len(protocols) != len(m.protocols) {
		return false
	}
	for i := range protocols {
		if protocols[i].Name != m.protocols[i].Name || !bytes.Equal(protocols[i].Metadata, m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

// hasSatisfiedHeartbeat reports whether a member whose session timer
// fired may stay: members waiting in a rebalance may, unless they are new.
func (m *classicMember) hasSatisfiedHeartbeat() bool {
	if m.isNew {
		return false
	}
	return m.joinWaiter != nil || m.syncWaiter != nil
}

// selectProtocol picks the group's protocol: among the protocols every
// member supports, the one most members prefer (each votes for the first
// of its own list that is a candidate). Kafka breaks ties by hash order;
// Samsa by the leader's preference, then name.
func (g *classicGroup) selectProtocol() string {
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.supportedProtocols[p.Name] == len(g.members) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	rank := func(name string) int {
		if l := g.members[g.leader]; l != nil {
			for i, p := range l.protocols {
				if p.Name == name {
					return i
				}
			}
		}
		return 1 << 30
	}
	for name, v := range votes {
		switch {
		case v > bestVotes:
		case v == bestVotes && rank(name) < rank(best):
		case v == bestVotes && rank(name) == rank(best) && name < best:
		default:
			continue
		}
		best, bestVotes = name, v
	}
	return best
}

// initNextGeneration starts a generation after the join phase: the group
// moves to CompletingRebalance with a protocol, or to Empty if no member
// rejoined.
func (g *classicGroup) initNextGeneration(now time.Time) {
	g.generation++
	if len(g.members) > 0 {
		g.protocolName = g.selectProtocol()
		g.subscribedTopics = g.computeSubscribedTopics()
		g.transitionTo(stateCompletingRebalance, now)
	} else {
		g.protocolName = ""
		g.subscribedTopics = map[string]struct{}{}
		g.transitionTo(stateEmpty, now)
	}
	clear(g.pendingSync)
}

// computeSubscribedTopics parses the members' consumer protocol
// subscriptions; nil if the group is not a consumer group or one cannot
// be parsed.
func (g *classicGroup) computeSubscribedTopics() map[string]struct{} {
	if g.protocolType != consumerProtocolType {
		return nil
	}
	out := map[string]struct{}{}
	for _, m := range g.members {
		md := m.metadata(g.protocolName)
		var sub kmsg.ConsumerMemberMetadata
		if err := sub.ReadFrom(md); err != nil {
			return nil
		}
		for _, t := range sub.Topics {
			out[t] = struct{}{}
		}
	}
	return out
}

// isSubscribedTo reports whether the group's members consume topic, as
// far as the group knows.
func (g *classicGroup) isSubscribedTo(topic string) bool {
	if g.subscribedTopics == nil {
		return false
	}
	_, ok := g.subscribedTopics[topic]
	return ok
}

// maybeElectNewJoinedLeader makes a member that rejoined the leader when
// the leader did not rejoin; false if no member rejoined.
func (g *classicGroup) maybeElectNewJoinedLeader() bool {
	if g.leader == "" {
		return false
	}
	if l := g.members[g.leader]; l != nil && l.joinWaiter != nil {
		return true
	}
	for _, m := range g.orderedMembers() {
		if m.joinWaiter != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// joinMembers is the member list the leader gets in its JoinGroup
// response: every member with its metadata for the group's protocol.
func (g *classicGroup) joinMembers() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, m := range g.orderedMembers() {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadata(g.protocolName)
		out = append(out, jm)
	}
	return out
}

// fillJoin fills a successful JoinGroup response for a member.
func (g *classicGroup) fillJoin(r *kmsg.JoinGroupResponse, memberID string, withMembers bool) {
	r.MemberID = memberID
	r.Generation = g.generation
	r.ProtocolType = nonEmpty(g.protocolType)
	r.Protocol = nonEmpty(g.protocolName)
	r.LeaderID = g.leader
	r.Members = nil
	if withMembers {
		r.Members = g.joinMembers()
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func rebalanceTimeoutOf(req *kmsg.JoinGroupRequest) int32 {
	if req.Version == 0 {
		// JoinGroup v0 has no rebalance timeout; the session timeout
		// serves as both (KIP-62).
		return req.SessionTimeoutMillis
	}
	return req.RebalanceTimeoutMillis
}

// metadataRecord is the GroupMetadata record of the group with the given
// assignments (by member id).
func (g *classicGroup) metadataRecord(assignments map[string][]byte) coordRecord {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = nonEmpty(g.protocolName)
	v.Leader = nonEmpty(g.leader)
	v.CurrentStateTimestamp = g.stateTimestamp
	for _, m := range g.orderedMembers() {
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = m.id
		mv.InstanceID = m.instanceID
		mv.ClientID = m.clientID
		mv.ClientHost = m.clientHost
		mv.RebalanceTimeoutMillis = m.rebalanceTimeoutMs
		mv.SessionTimeoutMillis = m.sessionTimeoutMs
		mv.Subscription = m.metadata(g.protocolName)
		mv.Assignment = assignments[m.id]
		if mv.Assignment == nil {
			mv.Assignment = []byte{}
		}
		v.Members = append(v.Members, mv)
	}
	return coordRecord{key: recordKey{Type: recGroupMetadata, Group: g.id}, value: &v}
}

// emptyMetadataRecord is the record that creates a group (generation 0,
// no protocol, no members).
func (g *classicGroup) emptyMetadataRecord() coordRecord {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataValueVersion
	v.CurrentStateTimestamp = g.stateTimestamp
	return coordRecord{key: recordKey{Type: recGroupMetadata, Group: g.id}, value: &v}
}

func (g *classicGroup) assignments() map[string][]byte {
	out := make(map[string][]byte, len(g.members))
	for id, m := range g.members {
		out[id] = m.assignment
	}
	return out
}

// classicGroupFromRecord rebuilds a group from its GroupMetadata record:
// Stable with its members, or Empty.
func classicGroupFromRecord(id string, v *kmsg.GroupMetadataValue, now time.Time) *classicGroup {
	g := newClassicGroup(id, now)
	g.generation = v.Generation
	g.protocolType = v.ProtocolType
	if v.Protocol != nil {
		g.protocolName = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	g.stateTimestamp = v.CurrentStateTimestamp
	if len(v.Members) > 0 {
		g.state, g.prevState = stateStable, stateStable
	}
	for _, mv := range v.Members {
		m := &classicMember{
			id:                 mv.MemberID,
			instanceID:         mv.InstanceID,
			clientID:           mv.ClientID,
			clientHost:         mv.ClientHost,
			rebalanceTimeoutMs: mv.RebalanceTimeoutMillis,
			sessionTimeoutMs:   mv.SessionTimeoutMillis,
			protocolType:       v.ProtocolType,
			protocols:          []kmsg.JoinGroupRequestProtocol{{Name: g.protocolName, Metadata: mv.Subscription}},
			assignment:         mv.Assignment,
		}
		if m.rebalanceTimeoutMs < 0 {
			m.rebalanceTimeoutMs = m.sessionTimeoutMs
		}
		leader := g.leader
		g.add(m, nil)
		g.leader = leader
	}
	if g.leader != "" && g.members[g.leader] == nil && len(g.order) > 0 {
		g.leader = g.order[0]
	}
	g.subscribedTopics = g.computeSubscribedTopics()
	return g
}
