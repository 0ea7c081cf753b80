package kafka

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSuiteConsumerAssign reads with a manual assignment and no group:
// every record once, in order per partition, with its key, value,
// headers, timestamp and leader epoch.
func TestSuiteConsumerAssign(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "assign", 3)
		produceNumbered(t, tc.addrs, "assign", 3, 0, 90)
		c := startConsumer(t, consumerTestConfig(tc.addrs, ""), StringDeserializer{}, StringDeserializer{})
		if err := c.Assign([]TopicPartition{{"assign", 0}, {"assign", 1}, {"assign", 2}}); err != nil {
			t.Fatal(err)
		}
		got := map[int]bool{}
		last := map[int32]int64{0: -1, 1: -1, 2: -1}
		pollUntil(t, c, 10*time.Second, func(r ConsumerRecord[string, string]) {
			i, _ := strconv.Atoi(r.Value)
			if got[i] {
				t.Errorf("record %d twice", i)
			}
			got[i] = true
			if r.Key != r.Value || r.Topic != "assign" || int(r.Partition) != i%3 || r.Offset <= last[r.Partition] {
				t.Errorf("record %+v", r)
			}
			last[r.Partition] = r.Offset
			if h, ok := r.Headers.LastHeader("i"); !ok || string(h.Value) != r.Value {
				t.Errorf("record %d headers %v", i, r.Headers)
			}
			if r.TimestampType != CreateTime || time.Since(r.Timestamp) > time.Minute || r.LeaderEpoch < 0 {
				t.Errorf("record %d timestamp %v %v epoch %d", i, r.Timestamp, r.TimestampType, r.LeaderEpoch)
			}
		}, func() bool { return len(got) == 90 })
		ctx := testCtx(t)
		for p := int32(0); p < 3; p++ {
			pos, err := c.Position(ctx, TopicPartition{"assign", p})
			if err != nil || pos != 30 {
				t.Errorf("position of %d: %d, %v", p, pos, err)
			}
		}
	})
}

// TestSuiteSeekAndOffsets covers Seek, SeekToBeginning, SeekToEnd,
// Position, Beginning/EndOffsets, OffsetsForTimes, PartitionsFor,
// ListTopics, Committed and CommitSync of explicit offsets with metadata.
func TestSuiteSeekAndOffsets(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "seek", 2)
		produceNumbered(t, tc.addrs, "seek", 2, 0, 40) // 20 per partition
		ctx := testCtx(t)
		c := startConsumer(t, consumerTestConfig(tc.addrs, "seek-group", "enable.auto.commit", "false", "allow.auto.create.topics", "false"), StringDeserializer{}, StringDeserializer{})
		p0, p1 := TopicPartition{"seek", 0}, TopicPartition{"seek", 1}
		if err := c.Seek(p0, 3); err == nil {
			t.Error("Seek of an unassigned partition succeeded")
		}
		if err := c.Assign([]TopicPartition{p0, p1}); err != nil {
			t.Fatal(err)
		}
		if err := c.Subscribe([]string{"seek"}, nil); err == nil {
			t.Error("Subscribe after Assign succeeded")
		}
		begin, err := c.BeginningOffsets(ctx, p0, p1)
		if err != nil || begin[p0] != 0 || begin[p1] != 0 {
			t.Errorf("BeginningOffsets: %v %v", begin, err)
		}
		end, err := c.EndOffsets(ctx, p0, p1)
		if err != nil || end[p0] != 20 || end[p1] != 20 {
			t.Errorf("EndOffsets: %v %v", end, err)
		}
		if err := c.Seek(p0, 5); err != nil {
			t.Fatal(err)
		}
		if err := c.Pause(p1); err != nil {
			t.Fatal(err)
		}
		first := pollOne(t, c)
		if first.Partition != 0 || first.Offset != 5 {
			t.Errorf("after Seek(5) got %d@%d", first.Partition, first.Offset)
		}
		if err := c.SeekToEnd(p0); err != nil {
			t.Fatal(err)
		}
		if pos, err := c.Position(ctx, p0); err != nil || pos != 20 {
			t.Errorf("position after SeekToEnd: %d %v", pos, err)
		}
		if err := c.SeekToBeginning(); err != nil {
			t.Fatal(err)
		}
		if pos, err := c.Position(ctx, p0); err != nil || pos != 0 {
			t.Errorf("position after SeekToBeginning: %d %v", pos, err)
		}
		// OffsetsForTimes: the records' timestamps are all recent, so a
		// time in the past finds offset 0 and one in the future none.
		times, err := c.OffsetsForTimes(ctx, map[TopicPartition]time.Time{p0: time.Now().Add(-time.Hour), p1: time.Now().Add(time.Hour)})
		if err != nil || times[p0] == nil || times[p0].Offset != 0 || times[p1] != nil {
			t.Errorf("OffsetsForTimes: %v %v", times, err)
		}
		parts, err := c.PartitionsFor(ctx, "seek")
		if err != nil || len(parts) != 2 || parts[1].Leader == nil {
			t.Errorf("PartitionsFor: %v %v", parts, err)
		}
		if parts, err := c.PartitionsFor(ctx, "no-such-topic-here"); err != nil || len(parts) != 0 {
			t.Errorf("PartitionsFor of a missing topic: %v %v", parts, err)
		}
		topics, err := c.ListTopics(ctx)
		if err != nil || len(topics["seek"]) != 2 {
			t.Errorf("ListTopics: %v %v", topics, err)
		}
		epoch := int32(0)
		if err := c.CommitSyncOffsets(ctx, map[TopicPartition]OffsetAndMetadata{p0: {Offset: 7, Metadata: "seven", LeaderEpoch: &epoch}}); err != nil {
			t.Fatal(err)
		}
		committed, err := c.Committed(ctx, p0, p1)
		if err != nil || committed[p0].Offset != 7 || committed[p0].Metadata != "seven" {
			t.Errorf("Committed: %v %v", committed, err)
		}
		if _, ok := committed[p1]; ok {
			t.Errorf("Committed has an offset for %s, which was never committed", p1)
		}
		// A new assignment starts from the committed offset.
		c2 := startConsumer(t, consumerTestConfig(tc.addrs, "seek-group"), StringDeserializer{}, StringDeserializer{})
		if err := c2.Assign([]TopicPartition{p0}); err != nil {
			t.Fatal(err)
		}
		if r := pollOne(t, c2); r.Offset != 7 {
			t.Errorf("resumed at %d, want the committed 7", r.Offset)
		}
	})
}

// pollOne polls until a record arrives and returns the first.
func pollOne[K, V any](t *testing.T, c *Consumer[K, V]) ConsumerRecord[K, V] {
	t.Helper()
	var out *ConsumerRecord[K, V]
	pollUntil(t, c, 10*time.Second, func(r ConsumerRecord[K, V]) {
		if out == nil {
			out = &r
		}
	}, func() bool { return out != nil })
	return *out
}

// TestSuitePauseResume checks that paused partitions are not returned and
// that Resume brings them back.
func TestSuitePauseResume(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "pause", 2)
		produceNumbered(t, tc.addrs, "pause", 2, 0, 20)
		c := startConsumer(t, consumerTestConfig(tc.addrs, ""), StringDeserializer{}, StringDeserializer{})
		p0, p1 := TopicPartition{"pause", 0}, TopicPartition{"pause", 1}
		if err := c.Assign([]TopicPartition{p0, p1}); err != nil {
			t.Fatal(err)
		}
		if err := c.Pause(p0); err != nil {
			t.Fatal(err)
		}
		if got := c.Paused(); len(got) != 1 || got[0] != p0 {
			t.Errorf("Paused: %v", got)
		}
		n := 0
		pollUntil(t, c, 10*time.Second, func(r ConsumerRecord[string, string]) {
			if r.Partition == 0 {
				t.Errorf("record %d from paused partition 0", r.Offset)
			}
			n++
		}, func() bool { return n == 10 })
		// Nothing more while paused.
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			recs, err := c.Poll(ctx)
			cancel()
			if err != nil || !recs.IsEmpty() {
				t.Fatalf("poll while paused: %d records, %v", recs.Count(), err)
			}
		}
		if err := c.Resume(p0); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, c, 10*time.Second, func(r ConsumerRecord[string, string]) {
			if r.Partition != 0 {
				t.Errorf("unexpected record %d@%d", r.Partition, r.Offset)
			}
			n++
		}, func() bool { return n == 20 })
		if err := c.Pause(TopicPartition{"pause", 9}); !errors.Is(err, ErrIllegalState) {
			t.Errorf("Pause of an unassigned partition: %v", err)
		}
	})
}

// TestSuiteWakeup checks that Wakeup ends a blocked Poll promptly from
// another goroutine, and the next call when none is blocked.
func TestSuiteWakeup(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "wakeup", 1)
		c := startConsumer(t, consumerTestConfig(tc.addrs, "wakeup-group"), StringDeserializer{}, StringDeserializer{})
		if err := c.Subscribe([]string{"wakeup"}, nil); err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(300 * time.Millisecond)
			c.Wakeup()
		}()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := c.Poll(ctx)
		cancel()
		if !errors.Is(err, ErrWakeup) || time.Since(start) > 5*time.Second {
			t.Fatalf("Poll returned %v after %v, want ErrWakeup at once", err, time.Since(start))
		}
		c.Wakeup()
		if _, err := c.Poll(context.Background()); !errors.Is(err, ErrWakeup) {
			t.Fatalf("Poll after an earlier Wakeup: %v", err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err = c.Poll(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Poll after the wakeup was used: %v", err)
		}
		// Wakeup interrupts CommitSync too.
		c.Wakeup()
		if err := c.CommitSync(context.Background()); !errors.Is(err, ErrWakeup) {
			t.Fatalf("CommitSync after Wakeup: %v", err)
		}
	})
}

// TestSuiteCloseWhilePolling checks that Close from another goroutine
// ends a blocked Poll with ErrConsumerClosed, and that Close leaves no
// goroutine behind (checked by the suite).
func TestSuiteCloseWhilePolling(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "close-poll", 1)
		c := startConsumer(t, consumerTestConfig(tc.addrs, "close-group"), StringDeserializer{}, StringDeserializer{})
		if err := c.Subscribe([]string{"close-poll"}, nil); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := c.Poll(context.Background())
			errc <- err
		}()
		time.Sleep(300 * time.Millisecond)
		ctx := testCtx(t)
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, ErrConsumerClosed) {
				t.Errorf("blocked Poll returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Poll still blocked after Close")
		}
		if _, err := c.Poll(ctx); !errors.Is(err, ErrConsumerClosed) {
			t.Errorf("Poll after Close: %v", err)
		}
	})
}

// TestSuitePatternSubscription checks that a pattern subscription picks up
// a matching topic created later, and ignores others.
func TestSuitePatternSubscription(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "pat-a", 2)
		tc.createTopic(t, "other", 2)
		c := startConsumer(t, consumerTestConfig(tc.addrs, "pattern-group", "metadata.max.age.ms", "300"), StringDeserializer{}, StringDeserializer{})
		if err := c.SubscribePattern(regexp.MustCompile(`^pat-`), nil); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, c, 10*time.Second, func(ConsumerRecord[string, string]) {}, func() bool { return len(c.Assignment()) == 2 })
		tc.createTopic(t, "pat-b", 3)
		produceNumbered(t, tc.addrs, "pat-b", 3, 0, 9)
		n := 0
		pollUntil(t, c, 15*time.Second, func(r ConsumerRecord[string, string]) {
			if r.Topic == "pat-b" {
				n++
			}
		}, func() bool { return n == 9 })
		for _, tp := range c.Assignment() {
			if tp.Topic == "other" {
				t.Errorf("assigned %s, which does not match", tp)
			}
		}
		if got := c.Subscription(); len(got) != 2 || got[0] != "pat-a" || got[1] != "pat-b" {
			t.Errorf("subscription %v", got)
		}
	})
}

// TestSuiteConsumerMetrics checks the Java-named consumer metrics and
// their Prometheus export.
func TestSuiteConsumerMetrics(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "metrics", 2)
		produceNumbered(t, tc.addrs, "metrics", 2, 0, 40)
		c := startConsumer(t, consumerTestConfig(tc.addrs, "metrics-group", "max.poll.records", "5"), StringDeserializer{}, StringDeserializer{})
		if err := c.Subscribe([]string{"metrics"}, nil); err != nil {
			t.Fatal(err)
		}
		// A partition's lag is known once a fetch of it returned: poll
		// until records of both partitions came back.
		n, seen := 0, map[int32]bool{}
		pollUntil(t, c, 10*time.Second, func(r ConsumerRecord[string, string]) { n++; seen[r.Partition] = true },
			func() bool { return n >= 10 && len(seen) == 2 })
		if err := c.CommitSync(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		ms := c.Metrics()
		want := map[string]func(float64) bool{
			"records-consumed-total": func(v float64) bool { return v == float64(n) },
			"fetch-total":            func(v float64) bool { return v >= 1 },
			"bytes-consumed-total":   func(v float64) bool { return v > 0 },
			"records-lag-max":        func(v float64) bool { return v >= 0 && v <= 40 },
			"commit-total":           func(v float64) bool { return v >= 1 },
			"assigned-partitions":    func(v float64) bool { return v == 2 },
			"rebalance-total":        func(v float64) bool { return v >= 1 },
		}
		for name, ok := range want {
			if v, found := ms.Value(name); !found || !ok(v) {
				t.Errorf("%s = %v (found %v)", name, v, found)
			}
		}
		lag0, ok0 := ms.PartitionValue(TopicPartition{"metrics", 0}, "records-lag")
		lag1, ok1 := ms.PartitionValue(TopicPartition{"metrics", 1}, "records-lag")
		if !ok0 || !ok1 || lag0+lag1 != float64(40-n) {
			t.Errorf("records-lag %v %v, want them to add up to %d", lag0, lag1, 40-n)
		}
		var b strings.Builder
		if err := c.WritePrometheus(&b); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"kafka_consumer_fetch_manager_records_consumed_total{client_id=", "# TYPE kafka_consumer_coordinator_commit_total counter",
			`kafka_consumer_fetch_manager_records_lag{client_id="consumer-metrics-group-`} {
			if !strings.Contains(b.String(), s) {
				t.Errorf("prometheus output lacks %q:\n%s", s, b.String())
			}
		}
	})
}
