package kafka

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// member is a group consumer polling on its own goroutine, as an
// application would: it processes every record it gets, commits the
// processed offsets asynchronously after each Poll and synchronously in
// OnPartitionsRevoked, so a graceful rebalance delivers nothing twice.
type member struct {
	name     string
	c        *Consumer[string, string]
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu        sync.Mutex
	processed map[TopicPartition]OffsetAndMetadata
}

// groupRun is a set of members reading one topic and what they read.
type groupRun struct {
	t     *testing.T
	tc    *testCluster
	topic string
	kv    []string
	own   *ownership

	mu   sync.Mutex
	seen map[int]int // record value -> times processed
}

func newGroupRun(t *testing.T, tc *testCluster, topic string, kv ...string) *groupRun {
	return &groupRun{t: t, tc: tc, topic: topic, kv: kv, own: newOwnership(t), seen: map[int]int{}}
}

// start adds a member to the group.
func (g *groupRun) start(name string) *member {
	t := g.t
	kv := append([]string{"enable.auto.commit", "false", "client.id", name}, g.kv...)
	m := &member{name: name, stop: make(chan struct{}), done: make(chan struct{}), processed: map[TopicPartition]OffsetAndMetadata{}}
	m.c = startConsumer(t, consumerTestConfig(g.tc.addrs, "group-"+g.topic, kv...), StringDeserializer{}, StringDeserializer{})
	onRevoke := func(tps []TopicPartition) {
		m.mu.Lock()
		offsets := map[TopicPartition]OffsetAndMetadata{}
		for _, tp := range tps {
			if om, ok := m.processed[tp]; ok {
				offsets[tp] = om
			}
			delete(m.processed, tp)
		}
		m.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.c.CommitSyncOffsets(ctx, offsets); err != nil {
			t.Errorf("%s: commit in OnPartitionsRevoked: %v", name, err)
		}
	}
	if err := m.c.Subscribe([]string{g.topic}, g.own.listener(name, onRevoke)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stopPolling)
	go func() {
		defer close(m.done)
		for {
			select {
			case <-m.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			recs, err := m.c.Poll(ctx)
			cancel()
			if err != nil {
				t.Errorf("%s: poll: %v", name, err)
				return
			}
			m.mu.Lock()
			for _, r := range recs.All() {
				v, _ := strconv.Atoi(r.Value)
				g.mu.Lock()
				g.seen[v]++
				g.mu.Unlock()
				m.processed[TopicPartition{r.Topic, r.Partition}] = OffsetAndMetadata{Offset: r.Offset + 1, Metadata: name}
			}
			offsets := cloneOffsets(m.processed)
			m.mu.Unlock()
			if len(offsets) > 0 {
				m.c.CommitAsyncOffsets(offsets, func(_ map[TopicPartition]OffsetAndMetadata, err error) {
					if err != nil {
						t.Logf("%s: async commit: %v", name, err)
					}
				})
			}
		}
	}()
	return m
}

// stopPolling ends the member's poll loop.
func (m *member) stopPolling() {
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
}

// close stops the member gracefully: revoke (and commit), LeaveGroup.
func (m *member) close(t *testing.T) {
	m.stopPolling()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.c.Close(ctx); err != nil {
		t.Errorf("%s: close: %v", m.name, err)
	}
}

// crash kills the member as a process dies: no callbacks, no commit, no
// LeaveGroup; the coordinator notices after session.timeout.ms.
func (m *member) crash() {
	m.stopPolling()
	crashConsumer(m.c.core)
}

// crashConsumer stops a consumer without a word to its group.
func crashConsumer(c *consumerCore) {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	c.mu.Lock()
	g := c.group
	c.group = nil
	c.closed = true
	c.mu.Unlock()
	if g != nil {
		g.close(context.Background(), false)
	}
	c.cancel()
	c.cl.close()
	c.wg.Wait()
}

// waitAll waits until every record in [0, n) was processed.
func (g *groupRun) waitAll(n int, d time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(d)
	for {
		g.mu.Lock()
		missing := -1
		for i := 0; i < n; i++ {
			if g.seen[i] == 0 {
				missing = i
				break
			}
		}
		g.mu.Unlock()
		if missing < 0 {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("record %d never consumed; owners %v; events %v", missing, g.own.counts(), g.own.events)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// duplicates counts records processed more than once.
func (g *groupRun) duplicates() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.seen {
		if c > 1 {
			n++
		}
	}
	return n
}

// waitBalanced waits until the members own all partitions, each
// between lo and hi.
func (g *groupRun) waitBalanced(partitions, lo, hi int, members ...string) {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		counts := g.own.counts()
		total, ok := 0, len(counts) == len(members)
		for _, m := range members {
			n := counts[m]
			total += n
			ok = ok && n >= lo && n <= hi
		}
		if ok && total == partitions {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("not balanced: %v; events %v", counts, g.own.events)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSuiteGroupSplit runs three members over six partitions with each
// assignor and each group protocol: partitions are never owned twice,
// members joining and leaving gracefully (committing in
// OnPartitionsRevoked) cause no duplicates, a crashed member's partitions
// move after session.timeout.ms, and nothing is lost.
func TestSuiteGroupSplit(t *testing.T) {
	variants := []struct {
		name string
		kv   []string
	}{
		{"range", []string{"partition.assignment.strategy", "range"}},
		{"roundrobin", []string{"partition.assignment.strategy", "roundrobin"}},
		{"sticky", []string{"partition.assignment.strategy", "sticky"}},
		{"cooperative-sticky", []string{"partition.assignment.strategy", "cooperative-sticky"}},
		{"consumer-protocol", []string{"group.protocol", "consumer"}},
		{"consumer-protocol-range", []string{"group.protocol", "consumer", "group.remote.assignor", "range"}},
	}
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		for _, v := range variants {
			t.Run(v.name, func(t *testing.T) {
				topic := "split-" + v.name
				tc.createTopic(t, topic, 6)
				g := newGroupRun(t, tc, topic, v.kv...)
				const per = 120
				a := g.start("a")
				produceNumbered(t, tc.addrs, topic, 6, 0, per)
				g.waitBalanced(6, 6, 6, "a")
				b := g.start("b")
				produceNumbered(t, tc.addrs, topic, 6, per, per)
				g.waitBalanced(6, 3, 3, "a", "b")
				c := g.start("c")
				produceNumbered(t, tc.addrs, topic, 6, 2*per, per)
				g.waitBalanced(6, 2, 2, "a", "b", "c")
				g.waitAll(3*per, 20*time.Second)
				c.close(t)
				g.waitBalanced(6, 3, 3, "a", "b")
				produceNumbered(t, tc.addrs, topic, 6, 3*per, per)
				g.waitAll(4*per, 20*time.Second)
				if d := g.duplicates(); d != 0 {
					t.Errorf("%d records processed twice across graceful rebalances; events %v", d, g.own.events)
				}
				b.crash()
				g.own.drop("b")
				produceNumbered(t, tc.addrs, topic, 6, 4*per, per)
				g.waitBalanced(6, 6, 6, "a")
				g.waitAll(5*per, 20*time.Second)
				a.close(t)
				t.Logf("%s: %d records, %d duplicates after the crash", v.name, 5*per, g.duplicates())
			})
		}
	})
}

// TestSuiteCooperativeIncremental checks KIP-429: when a member joins, a
// cooperative-sticky member revokes only the partitions that move and
// keeps the others throughout, while an eager (range) one revokes all.
func TestSuiteCooperativeIncremental(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		for _, strategy := range []string{"cooperative-sticky", "range"} {
			t.Run(strategy, func(t *testing.T) {
				topic := "incremental-" + strategy
				tc.createTopic(t, topic, 6)
				g := newGroupRun(t, tc, topic, "partition.assignment.strategy", strategy)
				g.start("a")
				g.waitBalanced(6, 6, 6, "a")
				g.start("b")
				g.waitBalanced(6, 3, 3, "a", "b")
				var revokes []string
				g.own.mu.Lock()
				for _, e := range g.own.events {
					if strings.HasPrefix(e, "a revoked") {
						revokes = append(revokes, e)
					}
				}
				g.own.mu.Unlock()
				want := 1
				if strategy == "range" {
					want = 2 // an empty eager revoke, then all six
				}
				if len(revokes) == 0 || len(revokes) > want {
					t.Fatalf("a's revocations: %v", revokes)
				}
				last := revokes[len(revokes)-1]
				moved := strings.Count(last, topic)
				if strategy == "cooperative-sticky" && moved != 3 {
					t.Errorf("cooperative member revoked %q, want exactly the 3 partitions that moved", last)
				}
				if strategy == "range" && moved != 6 {
					t.Errorf("eager member revoked %q, want all 6; events %v", last, g.own.events)
				}
			})
		}
	})
}

// TestSuiteStaticMembership checks KIP-345: a static member (group.instance.id)
// that restarts within session.timeout.ms gets its partitions back without
// a rebalance; the other member sees no callback.
func TestSuiteStaticMembership(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "static", 6)
		g := newGroupRun(t, tc, "static", "session.timeout.ms", "10000")
		g.kv = append(g.kv, "group.instance.id", "")
		start := func(name string) *member {
			g.kv[len(g.kv)-1] = "static-" + name
			return g.start(name)
		}
		start("a")
		b := start("b")
		g.waitBalanced(6, 3, 3, "a", "b")
		g.own.mu.Lock()
		before := len(g.own.events)
		var bParts []TopicPartition
		for tp, m := range g.own.owner {
			if m == "b" {
				bParts = append(bParts, tp)
			}
		}
		g.own.mu.Unlock()
		b.close(t) // a static member does not leave: no rebalance
		time.Sleep(300 * time.Millisecond)
		start("b")
		g.waitBalanced(6, 3, 3, "a", "b")
		time.Sleep(500 * time.Millisecond)
		g.own.mu.Lock()
		defer g.own.mu.Unlock()
		for _, e := range g.own.events[before:] {
			// kfake rebalances when a static member's JoinGroup
			// metadata differs byte for byte from its last one, which
			// a restarted member's always does (it owns nothing now);
			// Kafka rebalances only if the group's protocol changes.
			if strings.HasPrefix(e, "a ") && tc.name != "kfake" {
				t.Errorf("the other member saw a rebalance: %v", g.own.events[before:])
				break
			}
		}
		for _, tp := range bParts {
			if g.own.owner[tp] != "b" {
				t.Errorf("restarted static member does not have %s back: %v", tp, g.own.owner)
			}
		}
	})
}

// TestSuiteMaxPollInterval checks that a member that stops calling Poll
// leaves the group after max.poll.interval.ms, its partitions going to the
// others, and that at its next Poll it hears they were lost and rejoins.
func TestSuiteMaxPollInterval(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		for _, proto := range []string{"classic", "consumer"} {
			t.Run(proto, func(t *testing.T) {
				topic := "maxpoll-" + proto
				tc.createTopic(t, topic, 4)
				g := newGroupRun(t, tc, topic, "group.protocol", proto, "max.poll.interval.ms", "1500")
				g.start("a")
				b := g.start("b")
				g.waitBalanced(4, 2, 2, "a", "b")
				b.stopPolling() // b's application stalls
				g.own.drop("b") // b no longer counts as owner: it will leave
				g.waitBalanced(4, 4, 4, "a")
				// b polls again: its partitions were lost, and it rejoins.
				var lost bool
				pollUntil(t, b.c, 15*time.Second, func(ConsumerRecord[string, string]) {}, func() bool {
					g.own.mu.Lock()
					defer g.own.mu.Unlock()
					for _, e := range g.own.events {
						lost = lost || strings.HasPrefix(e, "b lost")
					}
					return lost && len(b.c.Assignment()) == 2
				})
			})
		}
	})
}

// TestSuiteMixedGroup runs a group of Samsa consumers and a franz-go
// consumer, with an eager and a cooperative assignor, so that each client
// assigns for the other as leader: subscriptions and assignments must
// read the same on both sides (Java's ConsumerProtocol), partitions are
// never owned twice and every record is read.
func TestSuiteMixedGroup(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		for _, v := range []struct {
			name     string
			balancer kgo.GroupBalancer
		}{
			{"range", kgo.RangeBalancer()},
			{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
		} {
			t.Run(v.name, func(t *testing.T) {
				topic := "mixed-" + v.name
				tc.createTopic(t, topic, 6)
				g := newGroupRun(t, tc, topic, "partition.assignment.strategy", v.name)
				a := g.start("a") // Samsa's member leads first
				g.waitBalanced(6, 6, 6, "a")
				stopFranz := g.startFranz(t, "franz", v.balancer)
				g.waitBalanced(6, 3, 3, "a", "franz")
				produceNumbered(t, tc.addrs, topic, 6, 0, 120)
				g.waitAll(120, 20*time.Second)
				a.close(t) // franz-go leads now
				g.waitBalanced(6, 6, 6, "franz")
				g.start("b")
				g.waitBalanced(6, 3, 3, "b", "franz")
				produceNumbered(t, tc.addrs, topic, 6, 120, 120)
				g.waitAll(240, 20*time.Second)
				stopFranz()
				g.waitBalanced(6, 6, 6, "b")
			})
		}
	})
}

// startFranz adds a franz-go member to the group, recording what it
// reads and owns like the Samsa members; the returned function closes it.
func (g *groupRun) startFranz(t *testing.T, name string, balancer kgo.GroupBalancer) func() {
	l := g.own.listener(name, nil)
	parts := func(m map[string][]int32) []TopicPartition {
		var out []TopicPartition
		for topic, ps := range m {
			for _, p := range ps {
				out = append(out, TopicPartition{topic, p})
			}
		}
		return sortTPs(out)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.tc.addrs...), kgo.ConsumerGroup("group-"+g.topic), kgo.ConsumeTopics(g.topic),
		kgo.Balancers(balancer), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(3*time.Second), kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { l.OnPartitionsAssigned(parts(m)) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("%s: commit in revoke: %v", name, err)
			}
			l.OnPartitionsRevoked(parts(m))
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { l.OnPartitionsLost(parts(m)) }),
	)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				v, _ := strconv.Atoi(string(r.Value))
				g.mu.Lock()
				g.seen[v]++
				g.mu.Unlock()
			})
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			cl.Close() // commits, revokes and leaves
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestSuiteRemoteAssignorUnsupported checks that a group.remote.assignor
// the broker does not have comes back from Poll as an error.
func TestSuiteRemoteAssignorUnsupported(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "remote-assignor", 1)
		c := startConsumer(t, consumerTestConfig(tc.addrs, "remote-group", "group.protocol", "consumer", "group.remote.assignor", "no-such-assignor"),
			StringDeserializer{}, StringDeserializer{})
		if err := c.Subscribe([]string{"remote-assignor"}, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for {
			_, err := c.Poll(ctx)
			if err != nil {
				if !errors.Is(err, kerr.UnsupportedAssignor) {
					t.Fatalf("got %v, want UNSUPPORTED_ASSIGNOR", err)
				}
				return
			}
			if ctx.Err() != nil {
				t.Fatal("no error from an unsupported assignor")
			}
		}
	})
}
