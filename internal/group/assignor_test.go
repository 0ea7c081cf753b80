package group

import (
	"fmt"
	"testing"
)

func topicsMD(spec map[string]int32) map[string]cgTopicMetadata {
	md := map[string]cgTopicMetadata{}
	for name, n := range spec {
		var id [16]byte
		copy(id[:], name)
		md[name] = cgTopicMetadata{TopicID: id, TopicName: name, NumPartitions: n}
	}
	return md
}

func subscribed(topics ...string) map[string]bool {
	m := map[string]bool{}
	for _, t := range topics {
		m[t] = true
	}
	return m
}

// checkAssignment fails unless every partition of the members' topics is
// assigned exactly once, to a member subscribed to its topic.
func checkAssignment(t *testing.T, members []assignorMember, md map[string]cgTopicMetadata, out map[string]assignment) {
	t.Helper()
	seen := map[string]string{}
	names := map[[16]byte]string{}
	for n, tm := range md {
		names[tm.TopicID] = n
	}
	for _, m := range members {
		for id, ps := range out[m.id] {
			if !m.topics[names[id]] {
				t.Errorf("member %s got %s it does not subscribe to", m.id, names[id])
			}
			for _, p := range ps {
				k := fmt.Sprintf("%s-%d", names[id], p)
				if prev, dup := seen[k]; dup {
					t.Errorf("%s assigned to %s and %s", k, prev, m.id)
				}
				seen[k] = m.id
			}
		}
	}
	want := 0
	for _, tp := range allPartitions(members, md) {
		want++
		if _, ok := seen[fmt.Sprintf("%s-%d", tp.topic, tp.p)]; !ok {
			t.Errorf("%s-%d not assigned", tp.topic, tp.p)
		}
	}
	if len(seen) != want {
		t.Errorf("%d partitions assigned, want %d", len(seen), want)
	}
}

func TestUniformAssignorBalancesAndSticks(t *testing.T) {
	md := topicsMD(map[string]int32{"a": 7, "b": 3})
	var members []assignorMember
	for i := range 3 {
		members = append(members, assignorMember{id: fmt.Sprintf("m%d", i), topics: subscribed("a", "b")})
	}
	out := assignPartitions(assignorUniform, members, md)
	checkAssignment(t, members, md, out)
	for _, m := range members {
		if n := out[m.id].count(); n < 3 || n > 4 {
			t.Errorf("%s has %d of 10 partitions", m.id, n)
		}
	}
	// A fourth member joins: the others keep what they can; only enough
	// moves to balance.
	for i := range members {
		members[i].current = out[members[i].id]
	}
	members = append(members, assignorMember{id: "m3", topics: subscribed("a", "b")})
	next := assignPartitions(assignorUniform, members, md)
	checkAssignment(t, members, md, next)
	moved := 0
	for _, m := range members[:3] {
		for id, ps := range m.current {
			for _, p := range ps {
				if !next[m.id].contains(id, p) {
					moved++
				}
			}
		}
	}
	if n := next["m3"].count(); n < 2 || n > 3 || moved != n {
		t.Errorf("new member got %d partitions, %d moved", n, moved)
	}
}

func TestUniformAssignorUnevenSubscriptions(t *testing.T) {
	md := topicsMD(map[string]int32{"a": 6, "b": 2})
	members := []assignorMember{
		{id: "x", topics: subscribed("a", "b")},
		{id: "y", topics: subscribed("a")},
		{id: "z", topics: subscribed("b")},
	}
	out := assignPartitions(assignorUniform, members, md)
	checkAssignment(t, members, md, out)
	// 8 partitions: z can only take b's two; x and y share the rest.
	for _, m := range members {
		if n := out[m.id].count(); n < 2 || n > 3 {
			t.Errorf("%s has %d partitions: %v", m.id, n, out)
		}
	}
	// Partitions of a topic a member stopped subscribing to move away;
	// partitions beyond a shrunk topic disappear.
	members[0].current = assignment{md["a"].TopicID: {0, 1, 2, 3, 4, 5}}
	members[0].topics = subscribed("b")
	out = assignPartitions(assignorUniform, members, md)
	checkAssignment(t, members, md, out)
}

func TestRangeAssignor(t *testing.T) {
	md := topicsMD(map[string]int32{"a": 5, "b": 2})
	inst := "i0"
	members := []assignorMember{
		{id: "z-dynamic", topics: subscribed("a", "b")},
		{id: "y-static", instanceID: &inst, topics: subscribed("a", "b")},
	}
	out := assignPartitions(assignorRange, members, md)
	checkAssignment(t, members, md, out)
	a, b := md["a"].TopicID, md["b"].TopicID
	// Static members first: y-static takes the first range of each topic.
	if got := out["y-static"]; !got.equal(assignment{a: {0, 1, 2}, b: {0}}) {
		t.Errorf("static member: %v", got)
	}
	if got := out["z-dynamic"]; !got.equal(assignment{a: {3, 4}, b: {1}}) {
		t.Errorf("dynamic member: %v", got)
	}
}
