package kafka

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSuiteAutoCommitNeverAhead runs a slow processor with auto-commit
// every 10 ms and kills it in the middle of a batch: the committed
// offsets never pass the records of the batch being processed, which
// auto-commit must not commit before the next Poll. Then a graceful
// Close commits everything processed.
func TestSuiteAutoCommitNeverAhead(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "autocommit", 2)
		produceNumbered(t, tc.addrs, "autocommit", 2, 0, 200)
		cfg := consumerTestConfig(tc.addrs, "ac-group", "auto.commit.interval.ms", "10", "max.poll.records", "7", "session.timeout.ms", "1000")
		c := startConsumer(t, cfg, StringDeserializer{}, StringDeserializer{})
		if err := c.Subscribe([]string{"autocommit"}, nil); err != nil {
			t.Fatal(err)
		}
		batches := 0
		var inBatch map[TopicPartition]int64 // first offset per partition of the batch in progress
		for batches < 12 {
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
			inBatch = map[TopicPartition]int64{}
			for i, r := range recs.All() {
				tp := TopicPartition{r.Topic, r.Partition}
				if _, ok := inBatch[tp]; !ok {
					inBatch[tp] = r.Offset
				}
				time.Sleep(3 * time.Millisecond) // slow processing, auto-commit due
				if batches == 12 && i == recs.Count()/2 {
					break // the process dies here
				}
			}
		}
		crashConsumer(c.core)
		checker := startConsumer(t, consumerTestConfig(tc.addrs, "ac-group"), StringDeserializer{}, StringDeserializer{})
		ctx := testCtx(t)
		committed, err := checker.Committed(ctx, TopicPartition{"autocommit", 0}, TopicPartition{"autocommit", 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(committed) == 0 {
			t.Fatal("auto-commit committed nothing")
		}
		for tp, first := range inBatch {
			if om, ok := committed[tp]; ok && om.Offset > first {
				t.Errorf("%s: committed %d, past the batch being processed, which starts at %d", tp, om.Offset, first)
			}
		}

		// Close commits what was returned.
		c2 := startConsumer(t, cfg, StringDeserializer{}, StringDeserializer{})
		if err := c2.Subscribe([]string{"autocommit"}, nil); err != nil {
			t.Fatal(err)
		}
		p0, p1 := TopicPartition{"autocommit", 0}, TopicPartition{"autocommit", 1}
		pollUntil(t, c2, 20*time.Second, func(ConsumerRecord[string, string]) {}, func() bool {
			a, err0 := c2.Position(ctx, p0)
			b, err1 := c2.Position(ctx, p1)
			return err0 == nil && err1 == nil && a == 100 && b == 100
		})
		if err := c2.Close(ctx); err != nil {
			t.Fatal(err)
		}
		committed, err = checker.Committed(ctx, TopicPartition{"autocommit", 0}, TopicPartition{"autocommit", 1})
		if err != nil || committed[TopicPartition{"autocommit", 0}].Offset != 100 || committed[TopicPartition{"autocommit", 1}].Offset != 100 {
			t.Errorf("after Close: %v %v", committed, err)
		}
	})
}

// TestCommitRetries checks that CommitSync retries retriable errors until
// it succeeds and stops at a non-retriable one, and that CommitAsync
// tries once and reports to its callback in order.
func TestCommitRetries(t *testing.T) {
	checkLeaks(t)
	fc := newFake(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "retries"))
	addrs := fc.ListenAddrs()
	c := startConsumer(t, consumerTestConfig(addrs, "retry-group"), StringDeserializer{}, StringDeserializer{})
	ctx := testCtx(t)
	tp := TopicPartition{"retries", 0}

	h := fc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.CoordinatorLoadInProgress, Count: 2},
		kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.NotCoordinator, Count: 1},
		kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.RequestTimedOut, Count: 1})
	if err := c.CommitSyncOffsets(ctx, map[TopicPartition]OffsetAndMetadata{tp: {Offset: 42, Metadata: "m"}}); err != nil {
		t.Fatalf("CommitSync through retriable errors: %v", err)
	}
	if h.Hits() != 4 {
		t.Errorf("faults hit %d times, want 4", h.Hits())
	}
	if got, err := c.Committed(ctx, tp); err != nil || got[tp].Offset != 42 || got[tp].Metadata != "m" {
		t.Errorf("committed %v %v", got, err)
	}

	fc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.OffsetMetadataTooLarge, Count: 1})
	start := time.Now()
	if err := c.CommitSyncOffsets(ctx, map[TopicPartition]OffsetAndMetadata{tp: {Offset: 43}}); err == nil || Retriable(err) || time.Since(start) > 2*time.Second {
		t.Errorf("CommitSync with a non-retriable error: %v after %v", err, time.Since(start))
	}

	// CommitAsync: one try, the callback gets the error, callbacks in
	// commit order.
	obs := fc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Observe: true, Count: -1})
	fc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.CoordinatorLoadInProgress, Count: 1})
	var mu sync.Mutex
	var order []int64
	var errs []error
	for _, off := range []int64{50, 51, 52} {
		c.CommitAsyncOffsets(map[TopicPartition]OffsetAndMetadata{tp: {Offset: off}}, func(o map[TopicPartition]OffsetAndMetadata, err error) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, o[tp].Offset)
			errs = append(errs, err)
		})
	}
	// CommitSync waits for the async commits and runs their callbacks.
	if err := c.CommitSyncOffsets(ctx, map[TopicPartition]OffsetAndMetadata{tp: {Offset: 53}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(order) != 3 || order[0] != 50 || order[1] != 51 || order[2] != 52 {
		t.Errorf("async callbacks ran for %v, want 50 51 52 in order", order)
	}
	if len(errs) == 3 && (errs[0] == nil || !Retriable(errs[0]) || errs[1] != nil || errs[2] != nil) {
		t.Errorf("async errors %v, want only the first to fail", errs)
	}
	mu.Unlock()
	if obs.Hits() != 4 {
		t.Errorf("%d OffsetCommit requests, want 4: async commits are not retried", obs.Hits())
	}
	obs.Remove()
}

// TestReadCommitted checks isolation.level: read_committed skips aborted
// transactions (by the fetch response's aborted list) and stops at the
// last stable offset before an open one; read_uncommitted returns all.
func TestReadCommitted(t *testing.T) {
	checkLeaks(t)
	fc := newFake(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "txn"))
	addrs := fc.ListenAddrs()
	ctx := testCtx(t)
	txp, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.TransactionalID("samsa-txn"), kgo.DefaultProduceTopic("txn"))
	if err != nil {
		t.Fatal(err)
	}
	defer txp.Close()
	write := func(from, to int, end *kgo.TransactionEndTry) {
		if err := txp.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			if err := txp.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(i))).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if end != nil {
			if err := txp.EndTransaction(ctx, *end); err != nil {
				t.Fatal(err)
			}
		}
	}
	commit, abort := kgo.TryCommit, kgo.TryAbort
	write(0, 10, &commit)
	write(10, 20, &abort)
	write(20, 30, &commit)
	write(30, 40, nil) // left open

	read := func(level string, want int) []int {
		c := startConsumer(t, consumerTestConfig(addrs, "", "isolation.level", level), StringDeserializer{}, StringDeserializer{})
		if err := c.Assign([]TopicPartition{{"txn", 0}}); err != nil {
			t.Fatal(err)
		}
		var got []int
		pollUntil(t, c, 10*time.Second, func(r ConsumerRecord[string, string]) {
			v, _ := strconv.Atoi(r.Value)
			got = append(got, v)
		}, func() bool { return len(got) >= want })
		// Nothing more arrives.
		time.Sleep(200 * time.Millisecond)
		pctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		recs, err := c.Poll(pctx)
		cancel()
		if err != nil || !recs.IsEmpty() {
			t.Errorf("%s: %d more records (%v)", level, recs.Count(), err)
		}
		return got
	}
	got := read("read_committed", 20)
	for i, v := range got {
		want := i
		if i >= 10 {
			want = i + 10
		}
		if v != want {
			t.Fatalf("read_committed got %v", got)
		}
	}
	if got := read("read_uncommitted", 40); len(got) != 40 {
		t.Errorf("read_uncommitted got %d records", len(got))
	}
	if err := txp.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
}

// TestSuiteDeserializationError checks that a record the deserializer
// rejects stops Poll at it, with its partition and offset, and that
// seeking past it continues.
func TestSuiteDeserializationError(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "bad-int", 1)
		p := startProducer(t, testConfig(tc.addrs), StringSerializer{}, ByteArraySerializer{})
		ctx := testCtx(t)
		for i := range 10 {
			v := IntegerSerializer{}
			b, _ := v.Serialize("", nil, int32(i))
			if i == 5 {
				b = []byte{1, 2, 3}
			}
			if _, err := p.Send(ctx, ProducerRecord[string, []byte]{Topic: "bad-int", Value: b}).Get(ctx); err != nil {
				t.Fatal(err)
			}
		}
		c := startConsumer(t, consumerTestConfig(tc.addrs, ""), StringDeserializer{}, IntegerDeserializer{})
		tp := TopicPartition{"bad-int", 0}
		if err := c.Assign([]TopicPartition{tp}); err != nil {
			t.Fatal(err)
		}
		var got []int32
		var derr *RecordDeserializationError
		for deadline := time.Now().Add(10 * time.Second); derr == nil && time.Now().Before(deadline); {
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			recs, err := c.Poll(pctx)
			cancel()
			for _, r := range recs.All() {
				got = append(got, r.Value)
			}
			if err != nil && !errors.As(err, &derr) {
				t.Fatal(err)
			}
		}
		if derr == nil || derr.Offset != 5 || derr.TopicPartition != tp || derr.IsKey || !errors.Is(derr, ErrDeserialization) || len(got) != 5 {
			t.Fatalf("got %v then %v", got, derr)
		}
		// The position stays at the bad record until the application
		// seeks past it.
		if pos, err := c.Position(ctx, tp); err != nil || pos != 5 {
			t.Errorf("position %d %v", pos, err)
		}
		if err := c.Seek(tp, derr.Offset+1); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, c, 10*time.Second, func(r ConsumerRecord[string, int32]) { got = append(got, r.Value) }, func() bool { return len(got) == 9 })
		if got[5] != 6 || got[8] != 9 {
			t.Errorf("after skipping: %v", got)
		}
	})
}

// TestSuiteOffsetReset covers auto.offset.reset latest, none and
// by_duration, and OFFSET_OUT_OF_RANGE handling.
func TestSuiteOffsetReset(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "reset", 1)
		produceNumbered(t, tc.addrs, "reset", 1, 0, 10)
		tp := TopicPartition{"reset", 0}
		ctx := testCtx(t)
		assigned := func(kv ...string) *Consumer[string, string] {
			c := startConsumer(t, consumerTestConfig(tc.addrs, "", kv...), StringDeserializer{}, StringDeserializer{})
			if err := c.Assign([]TopicPartition{tp}); err != nil {
				t.Fatal(err)
			}
			return c
		}
		if pos, err := assigned("auto.offset.reset", "latest").Position(ctx, tp); err != nil || pos != 10 {
			t.Errorf("latest: %d %v", pos, err)
		}
		if pos, err := assigned("auto.offset.reset", "by_duration:PT1H").Position(ctx, tp); err != nil || pos != 0 {
			t.Errorf("by_duration: %d %v", pos, err)
		}
		none := assigned("auto.offset.reset", "none")
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := none.Poll(pctx)
		cancel()
		if !errors.Is(err, ErrNoOffset) {
			t.Errorf("none without a position: %v", err)
		}
		// Out of range: none reports it, earliest resets.
		if err := none.Seek(tp, 1000); err != nil {
			t.Fatal(err)
		}
		var oor *OffsetOutOfRangeError
		for deadline := time.Now().Add(5 * time.Second); oor == nil && time.Now().Before(deadline); {
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, err := none.Poll(pctx)
			cancel()
			if err != nil && !errors.As(err, &oor) {
				t.Fatal(err)
			}
		}
		if oor == nil || oor.Offsets[tp] != 1000 || !errors.Is(oor, ErrOffsetOutOfRange) {
			t.Errorf("out of range under none: %v", oor)
		}
		early := assigned("auto.offset.reset", "earliest")
		if err := early.Seek(tp, 1000); err != nil {
			t.Fatal(err)
		}
		if r := pollOne(t, early); r.Offset != 0 {
			t.Errorf("out of range under earliest resumed at %d", r.Offset)
		}
	})
}

// TestFetchSessions checks KIP-227: after a full fetch opens a session,
// fetches are incremental (naming only partitions whose position moved),
// and a broker that lost the session makes the consumer open a new one.
func TestFetchSessions(t *testing.T) {
	checkLeaks(t)
	fc := newFake(t, kfake.NumBrokers(1), kfake.SeedTopics(8, "sess"))
	addrs := fc.ListenAddrs()
	var mu sync.Mutex
	var full, incremental, small int
	seen := map[kmsg.Request]bool{}
	fc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Observe: true, Count: -1, When: func(r kmsg.Request) bool {
		req := r.(*kmsg.FetchRequest)
		mu.Lock()
		defer mu.Unlock()
		if seen[r] { // called once per partition
			return true
		}
		seen[r] = true
		if req.SessionEpoch == 0 {
			full++
		} else if req.SessionID != 0 && req.SessionEpoch > 0 {
			incremental++
			n := 0
			for _, t := range req.Topics {
				n += len(t.Partitions)
			}
			if n < 8 {
				small++
			}
		}
		return true
	}})
	c := startConsumer(t, consumerTestConfig(addrs, "", "max.poll.records", "3"), StringDeserializer{}, StringDeserializer{})
	var tps []TopicPartition
	for p := range int32(8) {
		tps = append(tps, TopicPartition{"sess", p})
	}
	if err := c.Assign(tps); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range 4 {
		// Records for one partition at a time: the other partitions'
		// fetch positions stay, so incremental fetches leave them out.
		produceNumbered(t, addrs, "sess", 1, 10*i, 10)
		pollUntil(t, c, 10*time.Second, func(ConsumerRecord[string, string]) { n++ }, func() bool { return n == 10*(i+1) })
	}
	fc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Err: kerr.FetchSessionIDNotFound, TopLevel: true, Count: 1})
	produceNumbered(t, addrs, "sess", 1, 40, 10)
	pollUntil(t, c, 10*time.Second, func(ConsumerRecord[string, string]) { n++ }, func() bool { return n == 50 })
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d full, %d incremental fetches", full, incremental)
	if full < 2 || incremental == 0 || small == 0 {
		t.Errorf("%d full and %d incremental fetches (%d naming fewer than all partitions)", full, incremental, small)
	}
}

// TestLeaderMoves moves partition leaders (bumping leader epochs) while a
// consumer reads: it follows the new leaders, validates its positions
// (OffsetForLeaderEpoch) and reads every record once, in order.
func TestLeaderMoves(t *testing.T) {
	checkLeaks(t)
	fc := newFake(t, kfake.NumBrokers(3), kfake.SeedTopics(3, "moves"))
	addrs := fc.ListenAddrs()
	obs := fc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetForLeaderEpoch}, Observe: true, Count: -1})
	c := startConsumer(t, consumerTestConfig(addrs, "", "metadata.max.age.ms", "200", "max.poll.records", "5"), StringDeserializer{}, StringDeserializer{})
	if err := c.Assign([]TopicPartition{{"moves", 0}, {"moves", 1}, {"moves", 2}}); err != nil {
		t.Fatal(err)
	}
	next := map[int32]int{0: 0, 1: 1, 2: 2}
	n := 0
	for round := range 5 {
		produceNumbered(t, addrs, "moves", 3, 30*round, 30)
		pollUntil(t, c, 15*time.Second, func(r ConsumerRecord[string, string]) {
			v, _ := strconv.Atoi(r.Value)
			if v != next[r.Partition] {
				t.Fatalf("partition %d: got %d, want %d", r.Partition, v, next[r.Partition])
			}
			next[r.Partition] += 3
			n++
		}, func() bool { return n == 30*(round+1) })
		for p := range int32(3) {
			if err := fc.MoveTopicPartition("moves", p, (fc.LeaderFor("moves", p)+1)%3); err != nil {
				t.Fatal(err)
			}
		}
	}
	if obs.Hits() == 0 {
		t.Error("positions were never validated after the leader epochs changed")
	}
}

// TestTruncationDetected feeds a fetch answer with a diverging epoch
// (KIP-320): the position goes back to the end of the last common epoch,
// or, under auto.offset.reset=none, Poll reports ErrLogTruncation.
func TestTruncationDetected(t *testing.T) {
	for _, reset := range []string{"earliest", "none"} {
		cfg, err := parseConsumer("auto.offset.reset", reset)
		if err != nil {
			t.Fatal(err)
		}
		c := &consumerCore{cfg: cfg, log: testLogger(), parts: map[TopicPartition]*partState{}, posErrs: map[TopicPartition]int64{}, changed: make(chan struct{})}
		tp := TopicPartition{"t", 0}
		ps := c.newPart(tp)
		c.seekTo(ps, 100, 4)
		c.parts[tp] = ps
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 4, 80
		c.handleFetchPartition(&nodeFetcher{id: 1}, ps, &rp, nil, time.Now())
		if reset == "earliest" && (ps.position != 80 || ps.posEpoch != 4 || ps.state != stateFetching) {
			t.Errorf("%s: position %d epoch %d state %d", reset, ps.position, ps.posEpoch, ps.state)
		}
		if reset == "none" && (!errors.Is(c.fatal, ErrLogTruncation) || ps.position != 100) {
			t.Errorf("%s: %v, position %d", reset, c.fatal, ps.position)
		}
	}
}
