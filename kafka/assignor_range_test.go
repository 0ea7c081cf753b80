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
// three brokers with broker.rack: the range assignor, leading the group,
// gives each consumer the partitions whose only replica is on its rack,
// which plain range assignment would not.
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
	own := newOwnership(t)
	var cs []*Consumer[string, string]
	for i := 1; i <= 3; i++ {
		cfg := consumerTestConfig(addrs, "racked-group", "client.rack", fmt.Sprintf("rack%d", i), "partition.assignment.strategy", "range")
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
