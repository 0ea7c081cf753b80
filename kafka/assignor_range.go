package kafka

import (
	"slices"
	"strconv"
	"strings"
)

// Rack-aware range assignment (KIP-881), as Java's RangeAssignor does it.
// When members send client.rack and the replicas of some partitions lie
// on only some racks, the assignor first gives members partitions with a
// replica on their own rack, within the quotas plain range assignment
// would give each member of each topic; then it hands out what is left
// in ranges. Topics with the same subscribers and partition count keep
// their co-partitioning: partition p of each goes to one member, chosen
// for a rack match across all of them. Balance and co-partitioning come
// before rack alignment.

// rangeTopic is the assignment state of one topic.
type rangeTopic struct {
	topic      string
	members    []string          // subscribers, in assignment order
	rack       map[string]string // member -> client.rack, "" for none
	racks      [][]string        // partition -> racks of its replicas; nil without member racks
	rackAware  bool              // Java's useRackAwareAssignment
	unassigned []int32           // in partition order
	assigned   map[string]int
	per        int // partitions every member gets
	extra      int // members still to get one more
}

func newRangeTopic(topic string, n int32, members []memberSubscription, racks map[TopicPartition][]string) *rangeTopic {
	t := &rangeTopic{topic: topic, rack: map[string]string{}, assigned: map[string]int{}}
	memberRacks := map[string]bool{}
	for i := range members {
		if subscribes(&members[i], topic) {
			m := &members[i]
			t.members = append(t.members, m.memberID)
			t.rack[m.memberID] = m.rack
			if m.rack != "" {
				memberRacks[m.rack] = true
			}
		}
	}
	for p := range n {
		t.unassigned = append(t.unassigned, p)
	}
	if len(t.members) > 0 {
		t.per, t.extra = int(n)/len(t.members), int(n)%len(t.members)
	}
	if len(memberRacks) == 0 {
		return t
	}
	all := map[string]bool{}
	t.racks = make([][]string, n)
	for p := range n {
		t.racks[p] = racks[TopicPartition{topic, p}]
		for _, r := range t.racks[p] {
			all[r] = true
		}
	}
	shared := false
	for r := range memberRacks {
		shared = shared || all[r]
	}
	if !shared {
		return t
	}
	// Worth it only if some partition is not on every rack.
	for _, rs := range t.racks {
		if len(rs) != len(all) {
			t.rackAware = true
		}
	}
	return t
}

// maxAssignable is how many more partitions of the topic member may get.
func (t *rangeTopic) maxAssignable(member string) int {
	quota := t.per
	if t.extra > 0 {
		quota++
	}
	return max(0, quota-t.assigned[member])
}

// racksMatch: a member without a rack matches every partition.
func (t *rangeTopic) racksMatch(member string, p int32) bool {
	r := t.rack[member]
	return r == "" || (t.racks != nil && slices.Contains(t.racks[p], r))
}

func (t *rangeTopic) give(out map[string][]TopicPartition, member string, ps []int32) {
	for _, p := range ps {
		out[member] = append(out[member], TopicPartition{t.topic, p})
	}
	t.assigned[member] += len(ps)
	if t.assigned[member] > t.per {
		t.extra--
	}
	t.unassigned = slices.DeleteFunc(t.unassigned, func(p int32) bool { return slices.Contains(ps, p) })
}

// ranges gives each member in turn the first unassigned partitions it may
// take, up to its quota; match, if not nil, filters them.
func (t *rangeTopic) ranges(out map[string][]TopicPartition, match func(member string, p int32) bool) {
	for _, m := range t.members {
		if len(t.unassigned) == 0 {
			return
		}
		limit := t.maxAssignable(m)
		var take []int32
		for _, p := range t.unassigned {
			if len(take) == limit {
				break
			}
			if match == nil || match(m, p) {
				take = append(take, p)
			}
		}
		if len(take) > 0 {
			t.give(out, m, take)
		}
	}
}

// assignRacks is range assignment given the racks of each partition's
// replicas (nil: no rack information).
func (rangeAssignor) assignRacks(members []memberSubscription, partitions map[string]int32, racks map[TopicPartition][]string) map[string][]TopicPartition {
	sortMembers(members)
	out := emptyPlan(members)
	var topics []*rangeTopic
	rackAware := false
	for _, topic := range subscribedTopics(members, partitions) {
		if partitions[topic] <= 0 {
			continue
		}
		t := newRangeTopic(topic, partitions[topic], members, racks)
		topics = append(topics, t)
		rackAware = rackAware || t.rackAware
	}
	if rackAware {
		// Topics with the same subscribers (and so the same racks) and
		// the same partition count are co-partitioned.
		var keys []string
		groups := map[string][]*rangeTopic{}
		for _, t := range topics {
			if t.racks == nil {
				continue
			}
			k := strconv.Itoa(len(t.racks)) + "\x01" + strings.Join(t.members, "\x00")
			if _, ok := groups[k]; !ok {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], t)
		}
		for _, k := range keys {
			g := groups[k]
			switch {
			case len(g) > 1:
				coPartitionedByRack(out, g)
			case g[0].rackAware:
				g[0].ranges(out, g[0].racksMatch)
			}
		}
	}
	for _, t := range topics {
		t.ranges(out, nil)
	}
	if rackAware {
		for m := range out {
			sortTPs(out[m])
		}
	}
	return out
}

// coPartitionedByRack gives partition p of every topic of ts to the first
// member, still under its quota in each, whose rack holds a replica of p
// in every topic.
func coPartitionedByRack(out map[string][]TopicPartition, ts []*rangeTopic) {
	remaining := slices.Clone(ts[0].members)
	for p := range int32(len(ts[0].racks)) {
		for i, m := range remaining {
			fits := true
			for _, t := range ts {
				fits = fits && t.racksMatch(m, p) && t.maxAssignable(m) > 0
			}
			if !fits {
				continue
			}
			for _, t := range ts {
				t.give(out, m, []int32{p})
			}
			full := true
			for _, t := range ts {
				full = full && t.maxAssignable(m) == 0
			}
			if full {
				remaining = slices.Delete(remaining, i, i+1)
			}
			break
		}
		if len(remaining) == 0 {
			return
		}
	}
}

// rackAware is an assignor that uses the racks of partitions' replicas.
type rackAware interface {
	assignRacks(members []memberSubscription, partitions map[string]int32, racks map[TopicPartition][]string) map[string][]TopicPartition
}

// replicaRacks returns the racks of the replicas of the topics'
// partitions, as the metadata names them; a replica on a broker the
// metadata does not list, or without broker.rack, has none.
func replicaRacks(cl *Cluster, topics []string) map[TopicPartition][]string {
	out := map[TopicPartition][]string{}
	for _, topic := range topics {
		for _, p := range cl.PartitionsForTopic(topic) {
			var rs []string
			for _, id := range p.Replicas {
				if n, ok := cl.NodeByID(id); ok && n.Rack != "" && !slices.Contains(rs, n.Rack) {
					rs = append(rs, n.Rack)
				}
			}
			out[TopicPartition{topic, p.Partition}] = rs
		}
	}
	return out
}
