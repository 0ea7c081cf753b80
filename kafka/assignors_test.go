package kafka

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func tps(topic string, parts ...int32) []TopicPartition {
	var out []TopicPartition
	for _, p := range parts {
		out = append(out, TopicPartition{topic, p})
	}
	return out
}

func planString(plan map[string][]TopicPartition) string {
	ids := make([]string, 0, len(plan))
	for id := range plan {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s := ""
	for _, id := range ids {
		s += fmt.Sprintf("%s:%v ", id, plan[id])
	}
	return s
}

// TestRangeAndRoundRobin checks the examples of Java's RangeAssignor and
// RoundRobinAssignor documentation.
func TestRangeAndRoundRobin(t *testing.T) {
	members := func() []memberSubscription {
		return []memberSubscription{
			{memberID: "C1", topics: []string{"t0", "t1"}},
			{memberID: "C0", topics: []string{"t0", "t1"}},
		}
	}
	parts := map[string]int32{"t0": 3, "t1": 3}
	got := planString(rangeAssignor{}.assign(members(), parts))
	want := planString(map[string][]TopicPartition{
		"C0": append(tps("t0", 0, 1), tps("t1", 0, 1)...),
		"C1": append(tps("t0", 2), tps("t1", 2)...),
	})
	if got != want {
		t.Errorf("range: %s, want %s", got, want)
	}
	got = planString(roundRobinAssignor{}.assign(members(), parts))
	want = planString(map[string][]TopicPartition{
		"C0": append(tps("t0", 0, 2), tps("t1", 1)...),
		"C1": append(tps("t0", 1), tps("t1", 0, 2)...),
	})
	if got != want {
		t.Errorf("roundrobin: %s, want %s", got, want)
	}
	// Static members sort by group.instance.id, before dynamic ones.
	ms := []memberSubscription{
		{memberID: "a", topics: []string{"t"}},
		{memberID: "z", instanceID: "i-2", topics: []string{"t"}},
		{memberID: "y", instanceID: "i-1", topics: []string{"t"}},
	}
	got = planString(rangeAssignor{}.assign(ms, map[string]int32{"t": 3}))
	want = planString(map[string][]TopicPartition{"y": tps("t", 0), "z": tps("t", 1), "a": tps("t", 2)})
	if got != want {
		t.Errorf("static order: %s, want %s", got, want)
	}
}

// TestStickyAssignors checks balance and stickiness over random
// membership changes, and the cooperative rule that a partition changing
// owner is not assigned in the same rebalance.
func TestStickyAssignors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, coop := range []bool{false, true} {
		a := stickyAssignor{coop: coop}
		parts := map[string]int32{"t": 12, "u": 5}
		owned := map[string][]TopicPartition{}
		gen := int32(1)
		names := []string{"m0", "m1", "m2"}
		for round := range 40 {
			switch rng.IntN(3) {
			case 0:
				names = append(names, fmt.Sprintf("m%d", 3+round))
			case 1:
				if len(names) > 1 {
					i := rng.IntN(len(names))
					delete(owned, names[i])
					names = slices.Delete(names, i, i+1)
				}
			}
			var ms []memberSubscription
			for _, n := range names {
				ms = append(ms, memberSubscription{memberID: n, topics: []string{"t", "u"}, owned: owned[n], generation: gen})
			}
			plan := a.assign(ms, parts)
			gen++
			// Every partition at most once; with cooperative, a partition
			// owned by another member is not handed out.
			seen := map[TopicPartition]string{}
			for m, ps := range plan {
				for _, tp := range ps {
					if o, ok := seen[tp]; ok {
						t.Fatalf("coop=%v round %d: %s to %s and %s", coop, round, tp, o, m)
					}
					seen[tp] = m
					for other, ops := range owned {
						if coop && other != m && slices.Contains(ops, tp) {
							t.Fatalf("coop round %d: %s assigned to %s while %s owns it", round, tp, m, other)
						}
					}
				}
			}
			// Kept partitions: a member keeps what it owned unless it has
			// more than its share.
			share := (12 + 5 + len(names) - 1) / len(names)
			for m, ps := range owned {
				kept := 0
				for _, tp := range ps {
					if slices.Contains(plan[m], tp) {
						kept++
					}
				}
				if kept < min(len(ps), share-1) {
					t.Errorf("coop=%v round %d: %s kept %d of %v (share %d)", coop, round, m, kept, ps, share)
				}
			}
			// Cooperative: run the follow-up rebalance after revocations.
			if coop {
				for m := range owned {
					owned[m] = slices.DeleteFunc(owned[m], func(tp TopicPartition) bool { return !slices.Contains(plan[m], tp) })
				}
				ms = ms[:0]
				for _, n := range names {
					ms = append(ms, memberSubscription{memberID: n, topics: []string{"t", "u"}, owned: owned[n], generation: gen})
				}
				plan = a.assign(ms, parts)
				gen++
			}
			total, lo, hi := 0, 1<<30, 0
			for _, n := range names {
				total += len(plan[n])
				lo, hi = min(lo, len(plan[n])), max(hi, len(plan[n]))
			}
			if total != 17 || hi-lo > 1 {
				t.Fatalf("coop=%v round %d: unbalanced %s", coop, round, planString(plan))
			}
			owned = plan
		}
	}
}

// TestStickyDifferentSubscriptions checks the general case: members
// subscribing to different topics get balanced shares of what they may
// have.
func TestStickyDifferentSubscriptions(t *testing.T) {
	ms := []memberSubscription{
		{memberID: "a", topics: []string{"t"}},
		{memberID: "b", topics: []string{"t", "u"}},
		{memberID: "c", topics: []string{"u"}},
	}
	plan := stickyAssignor{}.assign(ms, map[string]int32{"t": 4, "u": 4})
	for m, ps := range plan {
		if len(ps) < 2 || len(ps) > 3 {
			t.Errorf("%s got %v", m, ps)
		}
		for _, tp := range ps {
			if !slices.Contains(ms[slices.IndexFunc(ms, func(x memberSubscription) bool { return x.memberID == m })].topics, tp.Topic) {
				t.Errorf("%s got %s, which it does not subscribe to", m, tp)
			}
		}
	}
	// Two members claiming a partition in the same generation: neither
	// keeps it for sure; the newer generation wins.
	prev := previousOwners([]memberSubscription{
		{memberID: "a", topics: []string{"t"}, owned: tps("t", 0, 1), generation: 5},
		{memberID: "b", topics: []string{"t"}, owned: tps("t", 0), generation: 5},
		{memberID: "c", topics: []string{"t"}, owned: tps("t", 1), generation: 6},
	}, map[string]int32{"t": 2})
	if _, ok := prev[TopicPartition{"t", 0}]; ok || prev[TopicPartition{"t", 1}] != "c" {
		t.Errorf("previous owners %v", prev)
	}
}

// TestStickyUserData checks the subscription user data of Java's sticky
// assignors: cooperative-sticky's generation, sticky's assignment.
func TestStickyUserData(t *testing.T) {
	coop := stickyAssignor{coop: true}
	ud := coop.userData(nil, 7)
	if len(ud) != 4 || ud[3] != 7 {
		t.Errorf("cooperative-sticky user data %x", ud)
	}
	m := memberSubscription{generation: -1}
	coop.decode(&m, ud)
	if m.generation != 7 {
		t.Errorf("decoded generation %d", m.generation)
	}
	sticky := stickyAssignor{}
	ud = sticky.userData(tps("t", 2, 0), 3)
	var md kmsg.StickyMemberMetadata
	if err := md.ReadFrom(ud); err != nil || md.Generation != 3 || len(md.CurrentAssignment) != 1 || !slices.Equal(md.CurrentAssignment[0].Partitions, []int32{0, 2}) {
		t.Errorf("sticky user data %+v %v", md, err)
	}
	m = memberSubscription{generation: -1}
	sticky.decode(&m, ud)
	if m.generation != 3 || len(m.owned) != 2 {
		t.Errorf("decoded %+v", m)
	}
	// Version 0 user data has no generation.
	m = memberSubscription{generation: -1}
	sticky.decode(&m, ud[:len(ud)-4])
	if m.generation != -1 || len(m.owned) != 2 {
		t.Errorf("decoded v0 %+v", m)
	}
}
