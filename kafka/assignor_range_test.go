package kafka

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// rackCase is one rack-aware range assignment with Java's answer: the
// cases and expected assignments of Java's RangeAssignorTest (KIP-881).
// Brokers are numbered 0..len(brokerRacks)-1; replica j of partition i of
// the k-th topic (in topics' order) is on broker (i+j+first(k)) % brokers,
// where first(k) counts the partitions of the topics before it, as Java's
// test lays them out. Consumers are consumer0, consumer1, ...
type rackCase struct {
	topics      []string
	counts      []int32
	rf          int
	brokerRacks []string // "" for a broker without a rack
	consumers   []string // racks; "" for none
	subs        [][]string
	want        []string
	mismatched  int // partitions on no replica's rack of their member; -1: not checked
}

func racksN(n int) []string { return []string{"a", "b", "c", "d", "e", "f"}[:n] }

func (c rackCase) run(t *testing.T) {
	t.Helper()
	partitions := map[string]int32{}
	racks := map[TopicPartition][]string{}
	next := 0
	for k, topic := range c.topics {
		partitions[topic] = c.counts[k]
		for i := range int(c.counts[k]) {
			var rs []string
			for j := range c.rf {
				r := c.brokerRacks[(i+j+next)%len(c.brokerRacks)]
				if r != "" && !slices.Contains(rs, r) {
					rs = append(rs, r)
				}
			}
			racks[TopicPartition{topic, int32(i)}] = rs
		}
		next += int(c.counts[k])
	}
	var members []memberSubscription
	for i, r := range c.consumers {
		members = append(members, memberSubscription{memberID: fmt.Sprintf("consumer%d", i), topics: c.subs[i], rack: r, generation: -1})
	}
	plan := rangeAssignor{}.assignRacks(members, partitions, racks)
	mismatched := 0
	for i, r := range c.consumers {
		id := fmt.Sprintf("consumer%d", i)
		var got []string
		for _, tp := range plan[id] {
			got = append(got, fmt.Sprintf("%s-%d", tp.Topic, tp.Partition))
			if r != "" && !slices.Contains(racks[tp], r) {
				mismatched++
			}
		}
		slices.Sort(got)
		if g := strings.Join(got, ", "); g != c.want[i] {
			t.Errorf("rf %d, broker racks %q, consumer racks %q: %s got %q, Java gives %q", c.rf, c.brokerRacks, c.consumers, id, g, c.want[i])
		}
	}
	if c.mismatched >= 0 && mismatched != c.mismatched {
		t.Errorf("rf %d, broker racks %q, consumer racks %q: %d partitions off their member's rack, Java has %d", c.rf, c.brokerRacks, c.consumers, mismatched, c.mismatched)
	}
}

// nonRackAware runs the combinations in which Java's assignor does not
// use racks (no broker racks, no consumer racks, every partition on every
// rack, racks that do not meet), all giving plain range assignment.
func nonRackAware(t *testing.T, topics []string, counts []int32, subs [][]string, want []string) {
	t.Helper()
	none := []string{"", "", ""}
	for _, c := range []rackCase{
		{rf: 3, brokerRacks: none, consumers: racksN(3), mismatched: -1},
		{rf: 3, brokerRacks: racksN(3), consumers: none, mismatched: -1},
		{rf: 3, brokerRacks: racksN(3), consumers: racksN(3), mismatched: 0},
		{rf: 4, brokerRacks: racksN(4), consumers: racksN(3), mismatched: 0},
		{rf: 3, brokerRacks: racksN(3), consumers: []string{"d", "e", "f"}, mismatched: -1},
		{rf: 3, brokerRacks: racksN(3), consumers: []string{"", "e", "f"}, mismatched: -1},
	} {
		c.topics, c.counts, c.subs, c.want = topics, counts, subs, want
		c.run(t)
	}
}

func TestRackAwareRangeUniformSubscription(t *testing.T) {
	topics, counts := []string{"t1", "t2", "t3"}, []int32{6, 7, 2}
	subs := [][]string{topics, topics, topics}
	nonRackAware(t, topics, counts, subs, []string{"t1-0, t1-1, t2-0, t2-1, t2-2, t3-0", "t1-2, t1-3, t2-3, t2-4, t3-1", "t1-4, t1-5, t2-5, t2-6"})
	for _, c := range []rackCase{
		{rf: 1, brokerRacks: racksN(3), consumers: racksN(3), mismatched: 0,
			want: []string{"t1-0, t1-3, t2-0, t2-3, t2-6", "t1-1, t1-4, t2-1, t2-4, t3-0", "t1-2, t1-5, t2-2, t2-5, t3-1"}},
		{rf: 2, brokerRacks: racksN(3), consumers: racksN(3), mismatched: 1,
			want: []string{"t1-0, t1-2, t2-0, t2-2, t2-3, t3-1", "t1-1, t1-3, t2-1, t2-4, t3-0", "t1-4, t1-5, t2-5, t2-6"}},
		// One consumer on a rack with no partitions.
		{rf: 3, brokerRacks: racksN(2), consumers: racksN(3), mismatched: 4,
			want: []string{"t1-0, t1-1, t2-0, t2-1, t2-2, t3-0", "t1-2, t1-3, t2-3, t2-4, t3-1", "t1-4, t1-5, t2-5, t2-6"}},
	} {
		c.topics, c.counts, c.subs = topics, counts, subs
		c.run(t)
	}
}

func TestRackAwareRangeNonEqualSubscription(t *testing.T) {
	topics, counts := []string{"t1", "t2", "t3"}, []int32{6, 7, 2}
	subs := [][]string{topics, topics, {"t1", "t3"}}
	nonRackAware(t, topics, counts, subs, []string{"t1-0, t1-1, t2-0, t2-1, t2-2, t2-3, t3-0", "t1-2, t1-3, t2-4, t2-5, t2-6, t3-1", "t1-4, t1-5"})
	for _, c := range []rackCase{
		{rf: 1, brokerRacks: racksN(3), consumers: racksN(3), mismatched: 2,
			want: []string{"t1-0, t1-3, t2-0, t2-2, t2-3, t2-6", "t1-1, t1-4, t2-1, t2-4, t2-5, t3-0", "t1-2, t1-5, t3-1"}},
		{rf: 2, brokerRacks: racksN(3), consumers: racksN(3), mismatched: 0,
			want: []string{"t1-0, t1-2, t2-0, t2-2, t2-3, t2-5, t3-1", "t1-1, t1-3, t2-1, t2-4, t2-6, t3-0", "t1-4, t1-5"}},
		{rf: 3, brokerRacks: racksN(2), consumers: racksN(3), mismatched: 2,
			want: []string{"t1-0, t1-1, t2-0, t2-1, t2-2, t2-3, t3-0", "t1-2, t1-3, t2-4, t2-5, t2-6, t3-1", "t1-4, t1-5"}},
	} {
		c.topics, c.counts, c.subs = topics, counts, subs
		c.run(t)
	}
}

func TestRackAwareRangeUniformPartitions(t *testing.T) {
	topics, counts := []string{"t1", "t2", "t3"}, []int32{5, 5, 5}
	subs := [][]string{topics, topics, topics}
	want := []string{"t1-0, t1-1, t2-0, t2-1, t3-0, t3-1", "t1-2, t1-3, t2-2, t2-3, t3-2, t3-3", "t1-4, t2-4, t3-4"}
	nonRackAware(t, topics, counts, subs, want)
	// Co-partitioning comes before rack alignment.
	for _, c := range []rackCase{
		{rf: 1, brokerRacks: racksN(3), consumers: racksN(3), mismatched: 10},
		{rf: 2, brokerRacks: racksN(3), consumers: racksN(3), mismatched: 5},
		{rf: 3, brokerRacks: racksN(2), consumers: racksN(3), mismatched: 3},
	} {
		c.topics, c.counts, c.subs, c.want = topics, counts, subs, want
		c.run(t)
	}
}

func TestRackAwareRangeUniformPartitionsNonEqualSubscription(t *testing.T) {
	topics, counts := []string{"t1", "t2", "t3"}, []int32{5, 5, 5}
	subs := [][]string{topics, topics, {"t1", "t3"}}
	nonRackAware(t, topics, counts, subs, []string{"t1-0, t1-1, t2-0, t2-1, t2-2, t3-0, t3-1", "t1-2, t1-3, t2-3, t2-4, t3-2, t3-3", "t1-4, t3-4"})
	for _, c := range []rackCase{
		{rf: 1, brokerRacks: racksN(3), consumers: racksN(3), mismatched: 9,
			want: []string{"t1-0, t1-1, t2-0, t2-1, t2-4, t3-0, t3-1", "t1-2, t1-3, t2-2, t2-3, t3-2, t3-3", "t1-4, t3-4"}},
		{rf: 2, brokerRacks: racksN(3), consumers: racksN(3), mismatched: 0,
			want: []string{"t1-2, t2-0, t2-1, t2-3, t3-2", "t1-0, t1-3, t2-2, t2-4, t3-0, t3-3", "t1-1, t1-4, t3-1, t3-4"}},
		{rf: 3, brokerRacks: racksN(2), consumers: racksN(3), mismatched: 2,
			want: []string{"t1-0, t1-1, t2-0, t2-1, t2-2, t3-0, t3-1", "t1-2, t1-3, t2-3, t2-4, t3-2, t3-3", "t1-4, t3-4"}},
	} {
		c.topics, c.counts, c.subs = topics, counts, subs
		c.run(t)
	}
}

func TestRackAwareRangeCoPartitioning(t *testing.T) {
	topics, counts := []string{"t1", "t2", "t3", "t4"}, []int32{6, 6, 2, 2}
	consumers := []string{"a", "b", "b", "a"}
	subs := [][]string{{"t1", "t2"}, {"t1", "t2"}, {"t3", "t4"}, {"t3", "t4"}}
	plain := []string{"t1-0, t1-1, t1-2, t2-0, t2-1, t2-2", "t1-3, t1-4, t1-5, t2-3, t2-4, t2-5", "t3-0, t4-0", "t3-1, t4-1"}
	for _, c := range []rackCase{
		{rf: 3, brokerRacks: racksN(2), mismatched: -1, want: plain},
		{rf: 2, brokerRacks: racksN(2), mismatched: 0, want: plain},
		{rf: 1, brokerRacks: racksN(2), mismatched: 0,
			want: []string{"t1-0, t1-2, t1-4, t2-0, t2-2, t2-4", "t1-1, t1-3, t1-5, t2-1, t2-3, t2-5", "t3-1, t4-1", "t3-0, t4-0"}},
	} {
		c.topics, c.counts, c.consumers, c.subs = topics, counts, consumers, subs
		c.run(t)
	}
	subs = [][]string{topics, topics, topics, topics}
	plain = []string{"t1-0, t1-1, t2-0, t2-1, t3-0, t4-0", "t1-2, t1-3, t2-2, t2-3, t3-1, t4-1", "t1-4, t2-4", "t1-5, t2-5"}
	for _, c := range []rackCase{
		{rf: 3, brokerRacks: racksN(2), mismatched: -1, want: plain},
		{rf: 2, brokerRacks: racksN(2), mismatched: 0, want: plain},
		{rf: 1, brokerRacks: racksN(2), mismatched: 0,
			want: []string{"t1-0, t1-2, t2-0, t2-2, t3-0, t4-0", "t1-1, t1-3, t2-1, t2-3, t3-1, t4-1", "t1-5, t2-5", "t1-4, t2-4"}},
		{rf: 1, brokerRacks: racksN(3), mismatched: 6,
			want: []string{"t1-0, t1-3, t2-0, t2-3, t3-0, t4-0", "t1-1, t1-4, t2-1, t2-4, t3-1, t4-1", "t1-2, t2-2", "t1-5, t2-5"}},
	} {
		c.topics, c.counts, c.consumers, c.subs = topics, counts, consumers, subs
		c.run(t)
	}
}

// TestRackAwareRangeBrokersWithoutRacks: consumers with racks and brokers
// without give plain range assignment, topics that do not exist ignored.
func TestRackAwareRangeBrokersWithoutRacks(t *testing.T) {
	all := []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"}
	c := rackCase{
		topics: []string{"t1", "t2", "t3", "t4", "t5", "t6"}, counts: []int32{6, 6, 2, 2, 4, 4},
		rf: 3, brokerRacks: []string{"", "", ""}, consumers: racksN(3), subs: [][]string{all, all, all}, mismatched: -1,
		want: []string{"t1-0, t1-1, t2-0, t2-1, t3-0, t4-0, t5-0, t5-1, t6-0, t6-1", "t1-2, t1-3, t2-2, t2-3, t3-1, t4-1, t5-2, t6-2", "t1-4, t1-5, t2-4, t2-5, t5-3, t6-3"},
	}
	c.run(t)
}

// TestRackAwareRangeOnSamsa runs three consumers with client.rack against
// three brokers with broker.rack: the range and the cooperative-sticky
// assignors, leading the group, give each consumer the partitions whose
// only replica is on its rack, which plain range assignment would not.
func TestRackAwareRangeOnSamsa(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three brokers")
	}
	checkLeaks(t)
	servers := startSamsaBrokers(t, 3, "broker.rack=rack{id}", "group.min.session.timeout.ms=100")
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.addr)
	}
	a := startAdmin(t, addrs)
	ctx := testCtx(t)
	res, err := a.CreateTopics(ctx, false, NewTopic{Name: "racked", NumPartitions: 6, ReplicationFactor: 1})
	if err != nil || res[0].Err != nil {
		t.Fatalf("create: %v %+v", err, res)
	}
	rackOf := map[TopicPartition]string{}
	for deadline := time.Now().Add(20 * time.Second); len(rackOf) < 6; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("partitions of racked not all placed: %v", rackOf)
		}
		ds, err := a.DescribeTopics(ctx, "racked")
		if err != nil || ds[0].Err != nil {
			continue
		}
		for _, p := range ds[0].Partitions {
			if len(p.Replicas) == 1 {
				rackOf[TopicPartition{"racked", p.Partition}] = fmt.Sprintf("rack%d", p.Replicas[0])
			}
		}
	}
	for _, strategy := range []string{"range", "cooperative-sticky"} {
		t.Run(strategy, func(t *testing.T) { rackedGroup(t, addrs, strategy, rackOf) })
	}
}

// TestStickyPrefersRacks checks that the sticky assignors give members
// partitions on their racks when balance allows: at the first
// assignment, and when a member must give partitions up (it keeps those
// on its rack).
func TestStickyPrefersRacks(t *testing.T) {
	partitions := map[string]int32{"t": 6, "u": 3}
	racks := map[TopicPartition][]string{}
	for _, topic := range []string{"t", "u"} {
		for p := range partitions[topic] {
			racks[TopicPartition{topic, p}] = []string{[]string{"a", "b", "c"}[p%3]}
		}
	}
	offRack := func(plan map[string][]TopicPartition, rackOf map[string]string) int {
		n := 0
		for id, tps := range plan {
			for _, tp := range tps {
				if !slices.Contains(racks[tp], rackOf[id]) {
					n++
				}
			}
		}
		return n
	}
	rackOf := map[string]string{"m1": "a", "m2": "b", "m3": "c"}
	members := func(owned map[string][]TopicPartition, topics ...[]string) []memberSubscription {
		var ms []memberSubscription
		for i, id := range []string{"m1", "m2", "m3"} {
			ts := []string{"t", "u"}
			if len(topics) > i {
				ts = topics[i]
			}
			ms = append(ms, memberSubscription{memberID: id, topics: ts, rack: rackOf[id], owned: owned[id], generation: 1})
		}
		return ms
	}
	for _, a := range []stickyAssignor{{}, {coop: true}} {
		// The first assignment: every partition on its member's rack.
		plan := a.assignRacks(members(nil), partitions, racks)
		if n := offRack(plan, rackOf); n != 0 {
			t.Errorf("coop=%v: first assignment %v has %d partitions off their member's rack", a.coop, plan, n)
		}
		for id, tps := range plan {
			if len(tps) != 3 {
				t.Errorf("coop=%v: %s got %d partitions, want 3", a.coop, id, len(tps))
			}
		}
		// m1 owned everything; the others join: m1 keeps its rack's.
		all := append(tps("t", 0, 1, 2, 3, 4, 5), tps("u", 0, 1, 2)...)
		plan = a.assignRacks(members(map[string][]TopicPartition{"m1": all}), partitions, racks)
		if got := plan["m1"]; !slices.Equal(got, append(tps("t", 0, 3), tps("u", 0)...)) {
			t.Errorf("coop=%v: m1 keeps %v, want the partitions on its rack", a.coop, got)
		}
		if !a.coop && offRack(plan, rackOf) != 0 {
			t.Errorf("rebalance %v has partitions off their member's rack", plan)
		}
		// Differing subscriptions: the least loaded on the rack, among
		// equals. m3 reads only t, whose partitions on its rack are
		// two of its three, and u-2 is on its rack: two must be off.
		plan = a.assignRacks(members(nil, []string{"t", "u"}, []string{"t", "u"}, []string{"t"}), partitions, racks)
		if n := offRack(plan, rackOf); n != 2 {
			t.Errorf("coop=%v: differing subscriptions: %v has %d partitions off their member's rack", a.coop, plan, n)
		}
	}
	// Without racks the assignment is what it always was.
	plain := stickyAssignor{}.assign(members(nil), partitions)
	if got := planString(plain); got != planString(stickyAssignor{}.assignRacks(members(nil), partitions, nil)) {
		t.Errorf("without racks: %s", got)
	}
}

// rackedGroup runs three consumers on racks rack1..rack3 with strategy
// and checks that each ends up with the partitions on its rack.
func rackedGroup(t *testing.T, addrs []string, strategy string, rackOf map[TopicPartition]string) {
	ctx := testCtx(t)
	own := newOwnership(t)
	var cs []*Consumer[string, string]
	for i := 1; i <= 3; i++ {
		cfg := consumerTestConfig(addrs, "racked-"+strategy, "client.rack", fmt.Sprintf("rack%d", i), "partition.assignment.strategy", strategy)
		c := startConsumer(t, cfg, StringDeserializer{}, StringDeserializer{})
		if err := c.Subscribe([]string{"racked"}, own.listener(fmt.Sprintf("rack%d", i), nil)); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		for _, c := range cs {
			pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			if _, err := c.Poll(pctx); err != nil {
				t.Fatal(err)
			}
			cancel()
		}
		counts := own.counts()
		if counts["rack1"] == 2 && counts["rack2"] == 2 && counts["rack3"] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("assignment not balanced after 60 s: %v", counts)
		}
	}
	own.mu.Lock()
	defer own.mu.Unlock()
	for tp, member := range own.owner {
		if rackOf[tp] != member {
			t.Errorf("%s (replica on %s) went to the consumer on %s", tp, rackOf[tp], member)
		}
	}
}
