package kafka

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// groupScaleVariants are the assignors and protocols the scale test runs
// with; -short runs only the first.
var groupScaleVariants = []struct {
	name string
	kv   []string
}{
	{"range", []string{"partition.assignment.strategy", "range"}},
	{"roundrobin", []string{"partition.assignment.strategy", "roundrobin"}},
	{"sticky", []string{"partition.assignment.strategy", "sticky"}},
	{"cooperative-sticky", []string{"partition.assignment.strategy", "cooperative-sticky"}},
	{"consumer-protocol", []string{"group.protocol", "consumer"}},
}

// TestSuiteGroupScale runs a group over a six-partition topic while
// 100,000 records are produced: three members join, one closes
// gracefully, another joins, one crashes. Throughout, no partition is
// owned by two live members at once (the members' rebalance listeners
// record ownership); up to the crash, members that commit in
// OnPartitionsRevoked process no record twice; in the end every record
// was processed.
func TestSuiteGroupScale(t *testing.T) {
	const total = 100_000
	variants := groupScaleVariants
	if testing.Short() {
		variants = variants[:1]
	}
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		for _, v := range variants {
			t.Run(v.name, func(t *testing.T) {
				start := time.Now()
				topic := "scale-" + v.name
				tc.createTopic(t, topic, 6)
				g := newGroupRun(t, tc, topic, v.kv...)
				produced := produceInBackground(t, tc.addrs, topic, 6, total, 10)

				a := g.start("a")
				b := g.start("b")
				c := g.start("c")
				g.waitBalanced(6, 2, 2, "a", "b", "c")

				g.waitProcessed(total/4, 30*time.Second)
				c.close(t)
				g.waitBalanced(6, 3, 3, "a", "b")
				d := g.start("d")
				g.waitBalanced(6, 2, 2, "a", "b", "d")

				g.waitProcessed(total*6/10, 30*time.Second)
				if n := g.duplicates(); n != 0 {
					t.Errorf("%d records processed twice across graceful rebalances; events %v", n, g.own.events)
				}
				b.crash()
				g.own.drop("b")
				g.waitBalanced(6, 3, 3, "a", "d")

				<-produced
				g.waitAll(total, 30*time.Second)
				a.close(t)
				d.close(t)
				t.Logf("%s on %s: %d records in %v, %d processed again after the crash",
					v.name, tc.name, total, time.Since(start).Round(time.Millisecond), g.duplicates())
			})
		}
	})
}

// produceInBackground sends records "0".."n-1" (key and value), record i
// to partition i % partitions, in chunks, each sent once the previous one
// is acknowledged. The channel closes once all are.
func produceInBackground(t *testing.T, addrs []string, topic string, partitions, n, chunks int) <-chan struct{} {
	t.Helper()
	p := startProducer(t, testConfig(addrs, "linger.ms", "5"), StringSerializer{}, StringSerializer{})
	done := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	var wg sync.WaitGroup
	wg.Add(1)
	// Before the producer's Close, which was registered first.
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	go func() {
		defer wg.Done()
		defer close(done)
		per := (n + chunks - 1) / chunks
		for from := 0; from < n; from += per {
			futs := make([]*Future, 0, per)
			for i := from; i < min(n, from+per); i++ {
				part := int32(i % partitions)
				s := strconv.Itoa(i)
				futs = append(futs, p.Send(ctx, ProducerRecord[string, string]{Topic: topic, Partition: &part, Key: s, Value: s}))
			}
			for i, f := range futs {
				if _, err := f.Get(ctx); err != nil {
					t.Errorf("producing record %d: %v", from+i, err)
					return
				}
			}
		}
	}()
	return done
}

// waitProcessed waits until at least n distinct records were processed.
func (g *groupRun) waitProcessed(n int, d time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(d)
	for {
		g.mu.Lock()
		seen := len(g.seen)
		g.mu.Unlock()
		if seen >= n {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%d records processed, waiting for %d; owners %v; events %v", seen, n, g.own.counts(), g.own.events)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSuiteAutoCommitResume runs a slow processor with auto-commit every
// 20 ms and crashes it (no commit, no LeaveGroup) in the middle of a
// batch that Poll returned: a new member of the group must start each
// partition at or before the first record the crashed one did not
// finish, since auto-commit commits only what earlier Polls returned.
// Reading on to the end, nothing is missing.
func TestSuiteAutoCommitResume(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		const topic, n, partitions = "autocommit-resume", 3000, 3
		tc.createTopic(t, topic, partitions)
		produceNumbered(t, tc.addrs, topic, partitions, 0, n)
		cfg := consumerTestConfig(tc.addrs, "resume-group", "auto.commit.interval.ms", "20", "max.poll.records", "40")
		c := startConsumer(t, cfg, StringDeserializer{}, StringDeserializer{})
		if err := c.Subscribe([]string{topic}, nil); err != nil {
			t.Fatal(err)
		}
		// next is, per partition, the offset after the last record fully
		// processed.
		next := map[TopicPartition]int64{}
		processed, batches := 0, 0
	polling:
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			recs, err := c.Poll(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if recs.IsEmpty() {
				continue
			}
			batches++
			for i, r := range recs.All() {
				if batches >= 15 && i == recs.Count()/2 {
					break polling // the process dies here, mid-batch
				}
				time.Sleep(time.Millisecond) // slow processing: auto-commit comes due
				next[TopicPartition{r.Topic, r.Partition}] = r.Offset + 1
				processed++
			}
		}
		crashConsumer(c.core)

		a := startAdmin(t, tc.addrs)
		ctx := testCtx(t)
		committed, err := a.ListConsumerGroupOffsets(ctx, "resume-group")
		if err != nil {
			t.Fatal(err)
		}
		if len(committed) == 0 {
			t.Fatal("auto-commit committed nothing")
		}
		for tp, om := range committed {
			if om.Offset > next[tp] {
				t.Errorf("%s: committed %d, past the first unprocessed record %d", tp, om.Offset, next[tp])
			}
		}

		// A new member resumes from the committed offsets: the first
		// record of each partition is at or before the first record not
		// processed, and the rest of the records follow.
		c2 := startConsumer(t, consumerTestConfig(tc.addrs, "resume-group", "enable.auto.commit", "false"), StringDeserializer{}, StringDeserializer{})
		if err := c2.Subscribe([]string{topic}, nil); err != nil {
			t.Fatal(err)
		}
		first := map[TopicPartition]int64{}
		seen := map[int]bool{}
		for tp, off := range next {
			// Records before next were processed by the crashed member.
			for o := int64(0); o < off; o++ {
				seen[int(o)*partitions+int(tp.Partition)] = true
			}
		}
		pollUntil(t, c2, 30*time.Second, func(r ConsumerRecord[string, string]) {
			tp := TopicPartition{r.Topic, r.Partition}
			if _, ok := first[tp]; !ok {
				first[tp] = r.Offset
				if r.Offset > next[tp] {
					t.Errorf("%s: resumed at %d, past the first unprocessed record %d", tp, r.Offset, next[tp])
				}
			}
			v, err := strconv.Atoi(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			seen[v] = true
		}, func() bool { return len(seen) == n })
		t.Logf("%s: crashed after %d records in %d batches; committed %v; resumed at %v", tc.name, processed, batches, committed, first)
		if err := c2.Close(ctx); err != nil && !errors.Is(err, ErrConsumerClosed) {
			t.Error(err)
		}
	})
}
