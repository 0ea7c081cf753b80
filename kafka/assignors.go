package kafka

import (
	"cmp"
	"encoding/binary"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The classic protocol's assignors, run by the group leader: Java's
// RangeAssignor, RoundRobinAssignor, StickyAssignor and
// CooperativeStickyAssignor, under the same protocol names and with the
// same subscription user data, so that a group may mix this client with
// Java's, franz-go's or librdkafka's. Range and round robin compute
// exactly Java's assignment. The sticky assignors keep partitions with
// their previous owners as far as balance allows, as Java's do, though not
// always choosing the same partitions to move.

// memberSubscription is what a member sent in JoinGroup (Java's
// Subscription), as the leader sees it.
type memberSubscription struct {
	memberID   string
	instanceID string // group.instance.id, "" if none
	version    int16  // ConsumerProtocol version of the subscription
	topics     []string
	owned      []TopicPartition
	generation int32 // -1 if unknown
	userData   []byte
	rack       string // client.rack, "" if none
}

// assignor is a partition assignment strategy.
type assignor interface {
	name() string
	// cooperative reports whether the assignor follows KIP-429: a
	// partition moves in two rebalances, revoked in the first and
	// assigned in the second, so members keep the rest meanwhile.
	cooperative() bool
	// userData is the assignor's subscription user data, given the last
	// assignment and generation this member got.
	userData(last []TopicPartition, generation int32) []byte
	// decode fills in what the assignor reads from user data.
	decode(m *memberSubscription, userData []byte)
	assign(members []memberSubscription, partitions map[string]int32) map[string][]TopicPartition
}

func newAssignor(name string) assignor {
	switch name {
	case "range":
		return rangeAssignor{}
	case "roundrobin":
		return roundRobinAssignor{}
	case "sticky":
		return stickyAssignor{}
	}
	return stickyAssignor{coop: true}
}

// sortMembers orders members as Java's MemberInfo does: static members by
// group.instance.id first, then dynamic ones by member id.
func sortMembers(ms []memberSubscription) {
	slices.SortFunc(ms, func(a, b memberSubscription) int {
		switch {
		case a.instanceID != "" && b.instanceID != "":
			return cmp.Compare(a.instanceID, b.instanceID)
		case a.instanceID != "":
			return -1
		case b.instanceID != "":
			return 1
		}
		return cmp.Compare(a.memberID, b.memberID)
	})
}

func subscribes(m *memberSubscription, topic string) bool { return slices.Contains(m.topics, topic) }

// subscribedTopics returns the topics some member subscribes to that
// exist, sorted.
func subscribedTopics(members []memberSubscription, partitions map[string]int32) []string {
	seen := map[string]bool{}
	var out []string
	for i := range members {
		for _, t := range members[i].topics {
			if _, ok := partitions[t]; ok && !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	sort.Strings(out)
	return out
}

// emptyPlan gives every member an empty assignment.
func emptyPlan(members []memberSubscription) map[string][]TopicPartition {
	out := make(map[string][]TopicPartition, len(members))
	for _, m := range members {
		out[m.memberID] = nil
	}
	return out
}

type rangeAssignor struct{}

func (rangeAssignor) name() string                                 { return "range" }
func (rangeAssignor) cooperative() bool                            { return false }
func (rangeAssignor) userData([]TopicPartition, int32) []byte      { return nil }
func (rangeAssignor) decode(*memberSubscription, []byte)           {}
func (roundRobinAssignor) decode(*memberSubscription, []byte)      {}
func (roundRobinAssignor) userData([]TopicPartition, int32) []byte { return nil }

// assign gives each topic's partitions to its subscribers in ranges: with
// n partitions and c consumers, the first n%c consumers get n/c+1
// partitions, the others n/c.
func (a rangeAssignor) assign(members []memberSubscription, partitions map[string]int32) map[string][]TopicPartition {
	return a.assignRacks(members, partitions, nil)
}

type roundRobinAssignor struct{}

func (roundRobinAssignor) name() string      { return "roundrobin" }
func (roundRobinAssignor) cooperative() bool { return false }

// assign deals all partitions, sorted by topic and number, to the members
// in turn, skipping members not subscribed to a partition's topic.
func (roundRobinAssignor) assign(members []memberSubscription, partitions map[string]int32) map[string][]TopicPartition {
	sortMembers(members)
	out := emptyPlan(members)
	if len(members) == 0 {
		return out
	}
	next := 0
	for _, topic := range subscribedTopics(members, partitions) {
		for p := int32(0); p < partitions[topic]; p++ {
			for !subscribes(&members[next], topic) {
				next = (next + 1) % len(members)
			}
			id := members[next].memberID
			out[id] = append(out[id], TopicPartition{topic, p})
			next = (next + 1) % len(members)
		}
	}
	return out
}

// stickyAssignor is Java's StickyAssignor ("sticky", eager) or, with
// coop, CooperativeStickyAssignor ("cooperative-sticky").
type stickyAssignor struct{ coop bool }

func (a stickyAssignor) name() string {
	if a.coop {
		return "cooperative-sticky"
	}
	return "sticky"
}

func (a stickyAssignor) cooperative() bool { return a.coop }

// userData is, for cooperative-sticky, the generation as an int32 (Java's
// CooperativeStickyAssignor); for sticky, the last assignment and
// generation (StickyAssignorUserData v1), since eager members own nothing
// when they join.
func (a stickyAssignor) userData(last []TopicPartition, generation int32) []byte {
	if a.coop {
		return binary.BigEndian.AppendUint32(nil, uint32(generation))
	}
	if last == nil && generation < 0 {
		return nil
	}
	md := kmsg.NewStickyMemberMetadata()
	md.Generation = generation
	for _, o := range ownedByTopic(last) {
		md.CurrentAssignment = append(md.CurrentAssignment, kmsg.StickyMemberMetadataCurrentAssignment(o))
	}
	return md.AppendTo(nil)
}

// decode reads the generation (cooperative-sticky, when the subscription
// predates v2) or the previous assignment (sticky, when the subscription
// carries no owned partitions).
func (a stickyAssignor) decode(m *memberSubscription, userData []byte) {
	if a.coop {
		if m.generation < 0 && len(userData) >= 4 {
			m.generation = int32(binary.BigEndian.Uint32(userData))
		}
		return
	}
	if len(userData) == 0 {
		return
	}
	md := kmsg.NewStickyMemberMetadata()
	if err := md.ReadFrom(userData); err != nil {
		// Version 0 has no generation.
		md = kmsg.NewStickyMemberMetadata()
		if md.ReadFrom(append(slices.Clone(userData), 0xff, 0xff, 0xff, 0xff)) != nil {
			return
		}
	}
	if len(m.owned) == 0 {
		for _, t := range md.CurrentAssignment {
			for _, p := range t.Partitions {
				m.owned = append(m.owned, TopicPartition{t.Topic, p})
			}
		}
	}
	if m.generation < 0 {
		m.generation = md.Generation
	}
}

// assign computes a balanced assignment that keeps as many partitions as
// possible with their current owners. For the cooperative variant,
// partitions that change owner are left out, to be assigned in the
// follow-up rebalance once their owner has revoked them.
func (a stickyAssignor) assign(members []memberSubscription, partitions map[string]int32) map[string][]TopicPartition {
	return a.assignRacks(members, partitions, nil)
}

// assignRacks is assign given the racks of each partition's replicas:
// among the partitions a member keeps or gets, those with a replica on
// its rack (client.rack) come first, without giving up balance or a
// partition its owner keeps.
func (a stickyAssignor) assignRacks(members []memberSubscription, partitions map[string]int32, racks map[TopicPartition][]string) map[string][]TopicPartition {
	sortMembers(members)
	out := emptyPlan(members)
	if len(members) == 0 {
		return out
	}
	prev := previousOwners(members, partitions)
	var all []TopicPartition
	for _, topic := range subscribedTopics(members, partitions) {
		for p := int32(0); p < partitions[topic]; p++ {
			all = append(all, TopicPartition{topic, p})
		}
	}
	sameSubscriptions := true
	for i := 1; i < len(members); i++ {
		if !slices.Equal(sortedStrings(members[i].topics), sortedStrings(members[0].topics)) {
			sameSubscriptions = false
		}
	}
	var plan map[string][]TopicPartition
	onRack := func(id string, tp TopicPartition) bool { return false }
	if racks != nil {
		rackOf := map[string]string{}
		for _, m := range members {
			rackOf[m.memberID] = m.rack
		}
		onRack = func(id string, tp TopicPartition) bool {
			r := rackOf[id]
			return r != "" && slices.Contains(racks[tp], r)
		}
	}
	if sameSubscriptions {
		plan = constrainedSticky(members, all, prev, onRack)
	} else {
		plan = generalSticky(members, all, prev, onRack)
	}
	for id, tps := range plan {
		if a.coop {
			tps = slices.DeleteFunc(tps, func(tp TopicPartition) bool {
				owner, ok := prev[tp]
				return ok && owner != id
			})
		}
		out[id] = sortTPs(tps)
	}
	return out
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// previousOwners maps each partition to the member that owns it, if its
// claim is valid: the member subscribes to the topic, the partition
// exists, and no member claims it from a newer generation. Two claims
// from the same newest generation cancel out, as in Java.
func previousOwners(members []memberSubscription, partitions map[string]int32) map[TopicPartition]string {
	type claim struct {
		owner      string
		generation int32
		conflict   bool
	}
	claims := map[TopicPartition]*claim{}
	for i := range members {
		m := &members[i]
		for _, tp := range m.owned {
			if n, ok := partitions[tp.Topic]; !ok || tp.Partition >= n || !subscribes(m, tp.Topic) {
				continue
			}
			c := claims[tp]
			switch {
			case c == nil:
				claims[tp] = &claim{owner: m.memberID, generation: m.generation}
			case m.generation > c.generation:
				*c = claim{owner: m.memberID, generation: m.generation}
			case m.generation == c.generation:
				c.conflict = true
			}
		}
	}
	out := map[TopicPartition]string{}
	for tp, c := range claims {
		if !c.conflict {
			out[tp] = c.owner
		}
	}
	return out
}

// constrainedSticky assigns when all members subscribe to the same
// topics: each gets at least len(all)/members partitions and at most one
// more, keeping what it owns up to its quota (those on its rack first)
// and taking free partitions on its rack before others.
func constrainedSticky(members []memberSubscription, all []TopicPartition, prev map[TopicPartition]string, onRack func(string, TopicPartition) bool) map[string][]TopicPartition {
	n := len(members)
	minQ, numMax := len(all)/n, len(all)%n
	owned := map[string][]TopicPartition{}
	for _, tp := range all {
		if o, ok := prev[tp]; ok {
			owned[o] = append(owned[o], tp)
		}
	}
	for id, tps := range owned {
		// Stable: on-rack partitions first, each group in order.
		slices.SortStableFunc(tps, func(a, b TopicPartition) int {
			ra, rb := onRack(id, a), onRack(id, b)
			switch {
			case ra && !rb:
				return -1
			case rb && !ra:
				return 1
			}
			return 0
		})
	}
	plan := map[string][]TopicPartition{}
	taken := map[TopicPartition]bool{}
	// Members keeping more than the minimum use up the slots for one
	// extra partition, biggest owners first.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		return len(owned[members[order[i]].memberID]) > len(owned[members[order[j]].memberID])
	})
	maxLeft := numMax
	for _, i := range order {
		id := members[i].memberID
		keep := min(len(owned[id]), minQ)
		if len(owned[id]) > minQ && maxLeft > 0 {
			keep = minQ + 1
			maxLeft--
		}
		plan[id] = slices.Clone(owned[id][:keep])
		for _, tp := range plan[id] {
			taken[tp] = true
		}
	}
	var free []TopicPartition
	for _, tp := range all {
		if !taken[tp] {
			free = append(free, tp)
		}
	}
	// take removes and returns the first free partition on id's rack
	// if onlyRack, else the first free one; ok is false if none.
	take := func(id string, onlyRack bool) (TopicPartition, bool) {
		for i, tp := range free {
			if !onlyRack || onRack(id, tp) {
				free = slices.Delete(free, i, i+1)
				return tp, true
			}
		}
		return TopicPartition{}, false
	}
	// Fill everyone up to the minimum, with partitions on their racks
	// first; then hand out the extra ones, on-rack ones first.
	for _, onlyRack := range []bool{true, false} {
		for i := range members {
			id := members[i].memberID
			for len(plan[id]) < minQ {
				tp, ok := take(id, onlyRack)
				if !ok {
					break
				}
				plan[id] = append(plan[id], tp)
			}
		}
	}
	for _, onlyRack := range []bool{true, false} {
		for i := range members {
			id := members[i].memberID
			if len(free) == 0 || maxLeft == 0 {
				break
			}
			if len(plan[id]) == minQ {
				if tp, ok := take(id, onlyRack); ok {
					plan[id] = append(plan[id], tp)
					maxLeft--
				}
			}
		}
	}
	return plan
}

// generalSticky assigns when subscriptions differ: owners keep their
// partitions, free partitions go to the eligible member with the fewest
// (on the partition's rack, among equals), then partitions move from a
// member to an eligible one with at least two fewer until none can.
func generalSticky(members []memberSubscription, all []TopicPartition, prev map[TopicPartition]string, onRack func(string, TopicPartition) bool) map[string][]TopicPartition {
	byID := map[string]*memberSubscription{}
	for i := range members {
		byID[members[i].memberID] = &members[i]
	}
	owner := map[TopicPartition]string{}
	count := map[string]int{}
	for _, tp := range all {
		if o, ok := prev[tp]; ok {
			owner[tp] = o
			count[o]++
		}
	}
	// leastLoaded returns the eligible member with the fewest
	// partitions; among equals, one on tp's rack.
	leastLoaded := func(tp TopicPartition) string {
		best := ""
		for i := range members {
			m := &members[i]
			if !subscribes(m, tp.Topic) {
				continue
			}
			if best == "" || count[m.memberID] < count[best] ||
				(count[m.memberID] == count[best] && onRack(m.memberID, tp) && !onRack(best, tp)) {
				best = m.memberID
			}
		}
		return best
	}
	for _, tp := range all {
		if _, ok := owner[tp]; ok {
			continue
		}
		if id := leastLoaded(tp); id != "" {
			owner[tp] = id
			count[id]++
		}
	}
	for moved := true; moved; {
		moved = false
		for _, tp := range all {
			from := owner[tp]
			to := leastLoaded(tp)
			if to != "" && count[to] < count[from]-1 {
				owner[tp] = to
				count[from]--
				count[to]++
				moved = true
			}
		}
	}
	plan := map[string][]TopicPartition{}
	for _, tp := range all {
		if o, ok := owner[tp]; ok && byID[o] != nil {
			plan[o] = append(plan[o], tp)
		}
	}
	return plan
}
