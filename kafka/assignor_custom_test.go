package kafka

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// greedyAssignor gives every partition to the members whose subscription
// user data is "greedy", round robin among them, and tells each member
// in its assignment's user data how many partitions the group has.
type greedyAssignor struct {
	greedy bool

	mu        sync.Mutex
	seen      []GroupMember // the members of the last Assign
	assigned  MemberAssignment
	generated int32
}

func (a *greedyAssignor) Name() string      { return "greedy" }
func (a *greedyAssignor) Cooperative() bool { return false }

func (a *greedyAssignor) SubscriptionUserData(topics []string) []byte {
	if a.greedy {
		return []byte("greedy")
	}
	return []byte("modest")
}

func (a *greedyAssignor) Assign(members []GroupMember, partitions map[string]int32) map[string]MemberAssignment {
	a.mu.Lock()
	a.seen = members
	a.mu.Unlock()
	var greedy []string
	for _, m := range members {
		if string(m.UserData) == "greedy" {
			greedy = append(greedy, m.MemberID)
		}
	}
	out := map[string]MemberAssignment{}
	if len(greedy) == 0 {
		return out
	}
	total := 0
	for topic, n := range partitions {
		for p := range n {
			id := greedy[total%len(greedy)]
			ma := out[id]
			ma.Partitions = append(ma.Partitions, TopicPartition{topic, p})
			out[id] = ma
			total++
		}
	}
	for id, ma := range out {
		ma.UserData = []byte(strings.Repeat("p", total))
		out[id] = ma
	}
	return out
}

func (a *greedyAssignor) OnAssignment(ma MemberAssignment, generation int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.assigned, a.generated = ma, generation
}

func (a *greedyAssignor) last() (MemberAssignment, int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.assigned, a.generated
}

// TestSuiteCustomAssignor runs two consumers with a custom assignor that
// reads the members' subscription user data and sends assignment user
// data back: the greedy member gets every partition, both hear of their
// assignments with the user data, and the leader saw both members with
// their racks.
func TestSuiteCustomAssignor(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "custom-assigned", 4)
		produceNumbered(t, tc.addrs, "custom-assigned", 4, 0, 40)
		own := newOwnership(t)
		start := func(name string, a *greedyAssignor) *Consumer[string, string] {
			cfg := consumerTestConfig(tc.addrs, "custom-group", "client.rack", "rack-"+name,
				// Built-in ones may be offered too; the group picks the
				// first every member offers.
				"partition.assignment.strategy", "greedy,range")
			c, err := NewConsumer(cfg, StringDeserializer{}, StringDeserializer{}, WithLogger(testLogger()), WithPartitionAssignors(a))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close(context.Background()) })
			if err := c.Subscribe([]string{"custom-assigned"}, own.listener(name, nil)); err != nil {
				t.Fatal(err)
			}
			return c
		}
		ga, ma := &greedyAssignor{greedy: true}, &greedyAssignor{}
		g, m := start("greedy", ga), start("modest", ma)
		got := 0
		deadline := time.Now().Add(30 * time.Second)
		for {
			for _, c := range []*Consumer[string, string]{g, m} {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				recs, err := c.Poll(ctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				got += recs.Count()
			}
			a1, _ := ga.last()
			a2, gen := ma.last()
			if got == 40 && len(a1.Partitions) == 4 && gen > 0 && len(a2.Partitions) == 0 {
				if string(a1.UserData) != "pppp" || string(a2.UserData) != "" {
					t.Fatalf("assignment user data %q and %q, want \"pppp\" and none", a1.UserData, a2.UserData)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 30 s: %d records, greedy assignment %v, modest %v; owners %v", got, a1, a2, own.counts())
			}
		}
		if c := own.counts(); c["greedy"] != 4 || c["modest"] != 0 {
			t.Errorf("listeners saw %v, want all 4 partitions with the greedy member", c)
		}
		// Whichever member led, it saw both subscriptions in full.
		leader := ga
		if len(ma.seen) > 0 {
			leader = ma
		}
		leader.mu.Lock()
		seen := leader.seen
		leader.mu.Unlock()
		racks := map[string]string{}
		for _, gm := range seen {
			racks[string(gm.UserData)] = gm.Rack
			if len(gm.Topics) != 1 || gm.Topics[0] != "custom-assigned" {
				t.Errorf("member %s subscribed to %v", gm.MemberID, gm.Topics)
			}
		}
		if racks["greedy"] != "rack-greedy" || racks["modest"] != "rack-modest" {
			t.Errorf("the leader saw members %v (user data to rack), want both with their racks", racks)
		}
	})
}

// badCooperative moves every partition to the member that owns none, in
// one rebalance, which the cooperative protocol forbids.
type badCooperative struct{ greedyAssignor }

func (*badCooperative) Name() string      { return "bad-cooperative" }
func (*badCooperative) Cooperative() bool { return true }

func (b *badCooperative) Assign(members []GroupMember, partitions map[string]int32) map[string]MemberAssignment {
	out := map[string]MemberAssignment{}
	for _, m := range members {
		if len(m.OwnedPartitions) == 0 {
			var ma MemberAssignment
			for topic, n := range partitions {
				for p := range n {
					ma.Partitions = append(ma.Partitions, TopicPartition{topic, p})
				}
			}
			out[m.MemberID] = ma
			break
		}
	}
	return out
}

// TestSuiteCustomAssignorChecked checks that the leader refuses an
// assignment that breaks the cooperative protocol's rule, and reports it
// from Poll.
func TestSuiteCustomAssignorChecked(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "custom-checked", 2)
		start := func() *Consumer[string, string] {
			c, err := NewConsumer(consumerTestConfig(tc.addrs, "checked-group"), StringDeserializer{}, StringDeserializer{},
				WithLogger(testLogger()), WithPartitionAssignors(&badCooperative{}))
			if err != nil {
				t.Fatal(err)
			}
			// A member waiting in SyncGroup for a leader whose assignor
			// keeps failing may not leave before Close's time runs out.
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				c.Close(ctx)
			})
			if err := c.Subscribe([]string{"custom-checked"}, nil); err != nil {
				t.Fatal(err)
			}
			return c
		}
		first := start()
		// The first member alone owns nothing: it gets everything.
		pollUntil(t, first, 20*time.Second, func(ConsumerRecord[string, string]) {}, func() bool { return len(first.Assignment()) == 2 })
		second := start()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var errs []error
			for _, c := range []*Consumer[string, string]{first, second} {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				_, err := c.Poll(ctx)
				cancel()
				if err != nil {
					errs = append(errs, err)
				}
			}
			for _, err := range errs {
				if !strings.Contains(err.Error(), "violates its requirements") {
					t.Fatalf("Poll: %v", err)
				}
			}
			if len(errs) > 0 {
				break
			}
			if len(second.Assignment()) > 0 {
				t.Fatalf("the second member got %v, moved from the first in one rebalance", second.Assignment())
			}
			if time.Now().After(deadline) {
				t.Fatal("the leader's invalid cooperative assignment was not reported within 30 s")
			}
		}
	})
}

func TestCustomAssignorConfig(t *testing.T) {
	base := func(kv ...string) Config {
		return consumerTestConfig([]string{"127.0.0.1:1"}, "g", kv...)
	}
	newC := func(cfg Config, as ...PartitionAssignor) error {
		c, err := NewConsumer(cfg, StringDeserializer{}, StringDeserializer{}, WithPartitionAssignors(as...))
		if err == nil {
			c.Close(context.Background())
		}
		return err
	}
	// Unset strategy: the custom assignors alone.
	cc, err := parseConsumerConfig(base(), nil, []PartitionAssignor{&greedyAssignor{}})
	if err != nil || len(cc.assignors) != 1 || cc.assignors[0] != "greedy" {
		t.Errorf("custom alone: %v %v", cc, err)
	}
	// Explicit: in the setting's order, built-in names resolved.
	cc, err = parseConsumerConfig(base("partition.assignment.strategy", "RangeAssignor, greedy"), nil, []PartitionAssignor{&greedyAssignor{}})
	if err != nil || strings.Join(cc.assignors, ",") != "range,greedy" {
		t.Errorf("explicit order: %v %v", cc, err)
	}
	for _, tc := range []struct {
		cfg  Config
		as   []PartitionAssignor
		want string
	}{
		{base("partition.assignment.strategy", "range"), []PartitionAssignor{&greedyAssignor{}}, `does not name the assignor "greedy"`},
		{base("partition.assignment.strategy", "greedy"), nil, `"greedy" is neither one of the built-in assignors`},
		{base(), []PartitionAssignor{&greedyAssignor{}, &greedyAssignor{}}, "two assignors of this name"},
		{base(), []PartitionAssignor{nil}, "nil assignor"},
		{base("group.protocol", "consumer"), []PartitionAssignor{&greedyAssignor{}}, "group.protocol=classic"},
	} {
		err := newC(tc.cfg, tc.as...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "partition.assignment.strategy") {
			t.Errorf("%v with %d assignors: %v, want an error naming partition.assignment.strategy: %s", tc.cfg["partition.assignment.strategy"], len(tc.as), err, tc.want)
		}
	}
	if _, err := NewProducer(testConfig([]string{"127.0.0.1:1"}), StringSerializer{}, StringSerializer{}, WithPartitionAssignors(&greedyAssignor{})); err == nil {
		t.Error("a producer accepted a partition assignor")
	}
}
