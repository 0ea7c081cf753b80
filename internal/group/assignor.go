package group

import (
	"cmp"
	"maps"
	"slices"
)

// The server-side assignors of KIP-848 groups (group.consumer.assignors).
const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

// assignorMember is a member as an assignor sees it.
type assignorMember struct {
	id         string
	instanceID *string
	topics     map[string]bool // subscribed topic names, regular expressions resolved
	current    assignment      // its target assignment so far
}

type topicPartition struct {
	topic string
	id    [16]byte
	p     int32
}

// assignPartitions computes the target assignment of every member with
// the named assignor. topics holds the subscribed topics that exist.
func assignPartitions(name string, members []assignorMember, topics map[string]cgTopicMetadata) map[string]assignment {
	slices.SortFunc(members, func(a, b assignorMember) int { return cmp.Compare(a.id, b.id) })
	if name == assignorRange {
		return assignRange(members, topics)
	}
	return assignUniform(members, topics)
}

// allPartitions lists the partitions of the subscribed topics, by topic
// name and partition.
func allPartitions(members []assignorMember, topics map[string]cgTopicMetadata) []topicPartition {
	subscribed := map[string]bool{}
	for _, m := range members {
		for t := range m.topics {
			subscribed[t] = true
		}
	}
	var out []topicPartition
	for _, name := range slices.Sorted(maps.Keys(subscribed)) {
		t, ok := topics[name]
		if !ok {
			continue
		}
		for p := int32(0); p < t.NumPartitions; p++ {
			out = append(out, topicPartition{topic: name, id: t.TopicID, p: p})
		}
	}
	return out
}

// assignUniform spreads the partitions evenly over the members that
// subscribe to them while moving as few as possible: each member keeps
// what it had that is still valid, free partitions go to the least loaded
// members, then partitions move from members holding at least two more
// than another eligible member until none does.
func assignUniform(members []assignorMember, topics map[string]cgTopicMetadata) map[string]assignment {
	out := make(map[string]assignment, len(members))
	count := make(map[string]int, len(members))
	owner := map[topicPartition]string{}
	names := map[[16]byte]string{}
	for name, t := range topics {
		names[t.TopicID] = name
	}
	for _, m := range members {
		out[m.id] = assignment{}
		for id, ps := range m.current {
			name, ok := names[id]
			if !ok || !m.topics[name] {
				continue
			}
			for _, p := range ps {
				tp := topicPartition{topic: name, id: id, p: p}
				if p >= topics[name].NumPartitions || owner[tp] != "" {
					continue
				}
				owner[tp] = m.id
				out[m.id].add(id, p)
				count[m.id]++
			}
		}
	}
	all := allPartitions(members, topics)
	leastLoaded := func(tp topicPartition, below int) string {
		best := ""
		for _, m := range members {
			if m.topics[tp.topic] && count[m.id] < below && (best == "" || count[m.id] < count[best]) {
				best = m.id
			}
		}
		return best
	}
	for _, tp := range all {
		if owner[tp] != "" {
			continue
		}
		if to := leastLoaded(tp, 1<<31-1); to != "" {
			owner[tp] = to
			out[to].add(tp.id, tp.p)
			count[to]++
		}
	}
	// Each move lowers the sum of squared loads, so this ends.
	for moved := true; moved; {
		moved = false
		for _, tp := range all {
			from := owner[tp]
			if from == "" {
				continue
			}
			to := leastLoaded(tp, count[from]-1)
			if to == "" {
				continue
			}
			ps := out[from][tp.id]
			i, _ := slices.BinarySearch(ps, tp.p)
			if ps = slices.Delete(ps, i, i+1); len(ps) == 0 {
				delete(out[from], tp.id)
			} else {
				out[from][tp.id] = ps
			}
			count[from]--
			owner[tp] = to
			out[to].add(tp.id, tp.p)
			count[to]++
			moved = true
		}
	}
	return out
}

// assignRange gives each topic's subscribers contiguous ranges of its
// partitions, the first ones one more when the count does not divide.
// Static members come first, by instance id, so a static member that
// restarts with a new member id gets the same range.
func assignRange(members []assignorMember, topics map[string]cgTopicMetadata) map[string]assignment {
	out := make(map[string]assignment, len(members))
	for _, m := range members {
		out[m.id] = assignment{}
	}
	ordered := slices.Clone(members)
	slices.SortStableFunc(ordered, func(a, b assignorMember) int {
		switch {
		case a.instanceID != nil && b.instanceID != nil:
			return cmp.Compare(*a.instanceID, *b.instanceID)
		case a.instanceID != nil:
			return -1
		case b.instanceID != nil:
			return 1
		}
		return cmp.Compare(a.id, b.id)
	})
	for _, name := range slices.Sorted(maps.Keys(topics)) {
		t := topics[name]
		var subs []string
		for _, m := range ordered {
			if m.topics[name] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		quota, extra := int(t.NumPartitions)/len(subs), int(t.NumPartitions)%len(subs)
		next := int32(0)
		for i, id := range subs {
			n := quota
			if i < extra {
				n++
			}
			for range n {
				out[id].add(t.TopicID, next)
				next++
			}
		}
	}
	return out
}
