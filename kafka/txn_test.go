package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// requireTxns skips a test on a cluster that does not serve transactions:
// a Samsa broker that does not list EndTxn (key 26) in ApiVersions.
func requireTxns(t *testing.T, tc *testCluster) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tc.addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testCtx(t), cl)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == int16(kmsg.EndTxn) {
			return
		}
	}
	t.Skipf("the %s broker does not serve transactions yet: ApiVersions lacks EndTxn (key 26)", tc.name)
}

// txnProducer starts a transactional producer, closed at the end of the
// test. Its transactional calls may wait 20 s: a broker's first one waits
// for the transaction state topic to be created and loaded.
func txnProducer(t *testing.T, tc *testCluster, id string, kv ...string) *Producer[string, string] {
	t.Helper()
	kv = append([]string{"transactional.id", id, "max.block.ms", "20000"}, kv...)
	return startProducer(t, testConfig(tc.addrs, kv...), StringSerializer{}, StringSerializer{})
}

// sendTo sends value to a partition and waits for the answer.
func sendTo(ctx context.Context, p *Producer[string, string], topic string, partition int32, value string) error {
	_, err := p.Send(ctx, ProducerRecord[string, string]{Topic: topic, Partition: &partition, Key: value, Value: value}).Get(ctx)
	return err
}

// commitEndMarkers writes "end-<p>" to every partition in a committed
// transaction: a read_committed reader that saw them all has seen
// everything committed before.
func commitEndMarkers(t *testing.T, p *Producer[string, string], topic string, partitions int) {
	t.Helper()
	ctx := testCtx(t)
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range partitions {
		if err := sendTo(ctx, p, topic, int32(i), "end-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
}

// readCommittedSamsa reads topic with this package's consumer under
// isolation.level=read_committed until it saw every partition's end
// marker, and returns the other values.
func readCommittedSamsa(t *testing.T, tc *testCluster, topic string, partitions int) []string {
	t.Helper()
	c := startConsumer(t, consumerTestConfig(tc.addrs, "", "isolation.level", "read_committed"), StringDeserializer{}, StringDeserializer{})
	var tps []TopicPartition
	for i := range partitions {
		tps = append(tps, TopicPartition{topic, int32(i)})
	}
	if err := c.Assign(tps); err != nil {
		t.Fatal(err)
	}
	var (
		out  []string
		ends int
	)
	pollUntil(t, c, 20*time.Second, func(r ConsumerRecord[string, string]) {
		if strings.HasPrefix(r.Value, "end-") {
			ends++
		} else {
			out = append(out, r.Value)
		}
	}, func() bool { return ends == partitions })
	return out
}

// readKgo reads topic with franz-go until it saw every partition's end
// marker, read_committed or not, and returns the other values.
func readKgo(t *testing.T, tc *testCluster, topic string, partitions int, committed bool) []string {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(tc.addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		out  []string
		ends int
	)
	for ends < partitions {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("saw %d of %d end markers and %v: %v", ends, partitions, out, ctx.Err())
		}
		for _, r := range fs.Records() {
			if v := string(r.Value); strings.HasPrefix(v, "end-") {
				ends++
			} else {
				out = append(out, v)
			}
		}
	}
	return out
}

// sameSet fails unless got holds exactly want, in any order, each once.
func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s: got %d records %v, want %d: %v", what, len(g), g, len(w), w)
	}
}

// TestSuiteTxnCommitAbort checks that committed transactions become
// visible to read_committed consumers (this package's and franz-go's) and
// aborted ones never do, while read_uncommitted sees both.
func TestSuiteTxnCommitAbort(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		requireTxns(t, tc)
		tc.createTopic(t, "txn", 3)
		p := txnProducer(t, tc, "commit-abort")
		ctx := testCtx(t)
		if err := p.InitTransactions(ctx); err != nil {
			t.Fatal(err)
		}
		var committed, all []string
		for round, commit := range []bool{true, false, true} {
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			var futs []*Future
			var vals []string
			for i := range 12 {
				v := fmt.Sprintf("r%d-%d", round, i)
				vals = append(vals, v)
				part := int32(i % 3)
				futs = append(futs, p.Send(ctx, ProducerRecord[string, string]{Topic: "txn", Partition: &part, Value: v}))
			}
			// Every record is written before the transaction ends, so the
			// aborted ones are in the log too.
			for _, f := range futs {
				if _, err := f.Get(ctx); err != nil {
					t.Fatal(err)
				}
			}
			all = append(all, vals...)
			if commit {
				committed = append(committed, vals...)
				if err := p.CommitTransaction(ctx); err != nil {
					t.Fatal(err)
				}
			} else if err := p.AbortTransaction(ctx); err != nil {
				t.Fatal(err)
			}
		}
		commitEndMarkers(t, p, "txn", 3)
		sameSet(t, "read_committed (samsa consumer)", readCommittedSamsa(t, tc, "txn", 3), committed)
		sameSet(t, "read_committed (kgo)", readKgo(t, tc, "txn", 3, true), committed)
		sameSet(t, "read_uncommitted (kgo)", readKgo(t, tc, "txn", 3, false), all)
	})
}

// TestSuiteTxnConsumeTransformProduce runs the exactly-once pipeline:
// read an input topic, write each record transformed to an output topic
// and commit the input offsets in the same transaction. Midway the
// pipeline stops with a transaction open (its producer and consumer
// closed without committing) and a new pair takes over with the same
// transactional.id and group: a read_committed reader of the output sees
// every input record exactly once.
func TestSuiteTxnConsumeTransformProduce(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		requireTxns(t, tc)
		const (
			parts   = 3
			perPart = 60
			n       = parts * perPart
		)
		tc.createTopic(t, "in", parts)
		tc.createTopic(t, "out", parts)
		produceNumbered(t, tc.addrs, "in", parts, 0, n)

		// pos is the next input offset of each partition whose output
		// was committed; open counts records written in the transaction
		// that is abandoned.
		pos := map[int32]int64{}
		done := func() bool {
			for p := range int32(parts) {
				if pos[p] < perPart {
					return false
				}
			}
			return true
		}
		run := func(stopAfter int, abandon bool) *Producer[string, string] {
			c := startConsumer(t, consumerTestConfig(tc.addrs, "etl", "enable.auto.commit", "false",
				"isolation.level", "read_committed", "max.poll.records", "20"), StringDeserializer{}, StringDeserializer{})
			if err := c.Subscribe([]string{"in"}, nil); err != nil {
				t.Fatal(err)
			}
			p := txnProducer(t, tc, "etl-tx")
			ctx := testCtx(t)
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			processed := 0
			deadline := time.Now().Add(30 * time.Second)
			for !done() && processed < stopAfter {
				if time.Now().After(deadline) {
					t.Fatalf("pipeline stalled at %v", pos)
				}
				pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				recs, err := c.Poll(pctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				if recs.Count() == 0 {
					continue
				}
				if err := p.BeginTransaction(); err != nil {
					t.Fatal(err)
				}
				offsets := map[TopicPartition]OffsetAndMetadata{}
				for _, r := range recs.All() {
					p.Send(ctx, ProducerRecord[string, string]{Topic: "out", Partition: &r.Partition, Key: r.Key, Value: "out-" + r.Value})
					offsets[TopicPartition{r.Topic, r.Partition}] = OffsetAndMetadata{Offset: r.Offset + 1}
				}
				if err := p.SendOffsetsToTransaction(ctx, offsets, c.GroupMetadata()); err != nil {
					t.Fatal(err)
				}
				if abandon && processed+recs.Count() >= stopAfter {
					// Stop with the transaction open and its records
					// written: they must never become visible.
					if err := p.Flush(ctx); err != nil {
						t.Fatal(err)
					}
					break
				}
				if err := p.CommitTransaction(ctx); err != nil {
					t.Fatal(err)
				}
				for tp, om := range offsets {
					pos[tp.Partition] = om.Offset
				}
				processed += recs.Count()
			}
			closeCtx := testCtx(t)
			if err := c.Close(closeCtx); err != nil {
				t.Fatal(err)
			}
			if abandon {
				if err := p.Close(closeCtx); err != nil {
					t.Fatal(err)
				}
			}
			return p
		}
		run(n/3, true)
		if done() {
			t.Fatal("the first pipeline read everything; the restart tests nothing")
		}
		p := run(n, false)
		if !done() {
			t.Fatalf("pipeline ended at %v", pos)
		}
		commitEndMarkers(t, p, "out", parts)
		var want []string
		for i := range n {
			want = append(want, "out-"+strconv.Itoa(i))
		}
		sameSet(t, "output, read_committed (kgo)", readKgo(t, tc, "out", parts, true), want)
		sameSet(t, "output, read_committed (samsa consumer)", readCommittedSamsa(t, tc, "out", parts), want)
	})
}

// TestSuiteTxnZombieFenced checks zombie fencing: a second producer with
// the same transactional.id fences the first, whose next send or commit
// fails with ErrProducerFenced for good, and whose open transaction never
// becomes visible.
func TestSuiteTxnZombieFenced(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		requireTxns(t, tc)
		tc.createTopic(t, "zombie", 2)
		ctx := testCtx(t)
		// start opens a transaction with one record written.
		start := func(id string, partition int32, value string) *Producer[string, string] {
			p := txnProducer(t, tc, id)
			if err := p.InitTransactions(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := sendTo(ctx, p, "zombie", partition, value); err != nil {
				t.Fatal(err)
			}
			return p
		}
		fencedAfter := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, ErrProducerFenced) || errors.Is(err, ErrTransactionAbortable) {
				t.Errorf("%s: got %v, want ErrProducerFenced", what, err)
			}
		}

		// The zombie's next send fails, then its commit.
		z1 := start("zombie-a", 0, "zombie-1")
		live := txnProducer(t, tc, "zombie-a")
		if err := live.InitTransactions(ctx); err != nil {
			t.Fatal(err)
		}
		fencedAfter("send", sendTo(ctx, z1, "zombie", 0, "zombie-2"))
		fencedAfter("commit after send", z1.CommitTransaction(ctx))
		fencedAfter("begin", z1.BeginTransaction())

		// The zombie's commit fails without a send in between.
		z2 := start("zombie-b", 1, "zombie-3")
		live2 := txnProducer(t, tc, "zombie-b")
		if err := live2.InitTransactions(ctx); err != nil {
			t.Fatal(err)
		}
		fencedAfter("commit", z2.CommitTransaction(ctx))
		fencedAfter("abort", z2.AbortTransaction(ctx))

		if err := live.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := sendTo(ctx, live, "zombie", 0, "live-1"); err != nil {
			t.Fatal(err)
		}
		if err := live.CommitTransaction(ctx); err != nil {
			t.Fatal(err)
		}
		commitEndMarkers(t, live2, "zombie", 2)
		sameSet(t, "read_committed (kgo)", readKgo(t, tc, "zombie", 2, true), []string{"live-1"})
		sameSet(t, "read_committed (samsa consumer)", readCommittedSamsa(t, tc, "zombie", 2), []string{"live-1"})
	})
}

// TestSuiteTxnIllegalState checks the state machine: calls out of order
// fail with ErrIllegalState naming the state, and change nothing.
func TestSuiteTxnIllegalState(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		requireTxns(t, tc)
		tc.createTopic(t, "illegal", 1)
		ctx := testCtx(t)
		illegal := func(what string, err error, state string) {
			t.Helper()
			if !errors.Is(err, ErrIllegalState) || !strings.Contains(err.Error(), state) {
				t.Errorf("%s: got %v, want ErrIllegalState naming %s", what, err, state)
			}
		}
		plain := startProducer(t, testConfig(tc.addrs), StringSerializer{}, StringSerializer{})
		illegal("InitTransactions without transactional.id", plain.InitTransactions(ctx), "transactional.id")

		p := txnProducer(t, tc, "illegal")
		illegal("begin before init", p.BeginTransaction(), "UNINITIALIZED")
		illegal("send before init", sendTo(ctx, p, "illegal", 0, "x"), "UNINITIALIZED")
		illegal("commit before init", p.CommitTransaction(ctx), "UNINITIALIZED")
		if err := p.InitTransactions(ctx); err != nil {
			t.Fatal(err)
		}
		illegal("init twice", p.InitTransactions(ctx), "READY")
		illegal("send outside a transaction", sendTo(ctx, p, "illegal", 0, "x"), "READY")
		illegal("commit outside a transaction", p.CommitTransaction(ctx), "READY")
		illegal("abort outside a transaction", p.AbortTransaction(ctx), "READY")
		illegal("offsets outside a transaction", p.SendOffsetsToTransaction(ctx,
			map[TopicPartition]OffsetAndMetadata{{"illegal", 0}: {Offset: 1}}, ConsumerGroupMetadata{GroupID: "g", GenerationID: -1}), "READY")
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		illegal("begin twice", p.BeginTransaction(), "IN_TRANSACTION")
		// An empty transaction commits.
		if err := p.CommitTransaction(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := sendTo(ctx, p, "illegal", 0, "kept"); err != nil {
			t.Fatal(err)
		}
		if err := p.CommitTransaction(ctx); err != nil {
			t.Fatal(err)
		}
		commitEndMarkers(t, p, "illegal", 1)
		sameSet(t, "read_committed", readKgo(t, tc, "illegal", 1, true), []string{"kept"})
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.BeginTransaction(); !errors.Is(err, ErrProducerClosed) {
			t.Errorf("begin after close: %v", err)
		}
	})
}

// kfakeTxn is a kfake cluster with a topic for the fault-injection tests.
func kfakeTxn(t *testing.T, topic string, partitions int32) *kfake.Cluster {
	checkLeaks(t)
	return newFake(t, kfake.NumBrokers(3), kfake.SeedTopics(partitions, topic))
}

// TestTxnAbortableError checks that a failed record makes the transaction
// abortable: the commit fails with ErrTransactionAbortable and the cause,
// the abort then works (bumping the epoch, since the failed batch's
// sequence is lost) and the retried transaction commits.
func TestTxnAbortableError(t *testing.T) {
	c := kfakeTxn(t, "t", 2)
	tc := &testCluster{name: "kfake", addrs: c.ListenAddrs()}
	inits := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.InitProducerID}, Observe: true, Count: -1})
	p := txnProducer(t, tc, "abortable")
	ctx := testCtx(t)
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := sendTo(ctx, p, "t", 0, "ok-before"); err != nil {
		t.Fatal(err)
	}
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed})
	if err := sendTo(ctx, p, "t", 1, "refused"); !errors.Is(err, ErrAuthorization) {
		t.Fatalf("send: %v", err)
	}
	if err := sendTo(ctx, p, "t", 0, "after"); !errors.Is(err, ErrTransactionAbortable) {
		t.Errorf("send after the failure: %v", err)
	}
	err := p.CommitTransaction(ctx)
	if !errors.Is(err, ErrTransactionAbortable) || !errors.Is(err, ErrAuthorization) || !strings.Contains(err.Error(), "ABORTABLE_ERROR") {
		t.Fatalf("commit: %v", err)
	}
	if err := p.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if inits.Hits() != 2 {
		t.Errorf("%d InitProducerId requests, want 2 (the abort bumps the epoch)", inits.Hits())
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range int32(2) {
		if err := sendTo(ctx, p, "t", i, "retried-"+strconv.Itoa(int(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	commitEndMarkers(t, p, "t", 2)
	sameSet(t, "read_committed", readKgo(t, tc, "t", 2, true), []string{"retried-0", "retried-1"})
}

// TestTxnFatalError checks that an authorization error of the
// transactional id is fatal: the commit fails with it, and so does every
// later call.
func TestTxnFatalError(t *testing.T) {
	c := kfakeTxn(t, "t", 1)
	tc := &testCluster{name: "kfake", addrs: c.ListenAddrs()}
	p := txnProducer(t, tc, "fatal")
	ctx := testCtx(t)
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := sendTo(ctx, p, "t", 0, "a"); err != nil {
		t.Fatal(err)
	}
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.TransactionalIDAuthorizationFailed, TopLevel: true})
	fatal := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrAuthorization) || errors.Is(err, ErrTransactionAbortable) {
			t.Errorf("%s: got %v, want the fatal authorization error", what, err)
		}
	}
	fatal("commit", p.CommitTransaction(ctx))
	fatal("abort", p.AbortTransaction(ctx))
	fatal("begin", p.BeginTransaction())
	fatal("send", sendTo(ctx, p, "t", 0, "b"))
}

// TestTxnAbortDiscardsUnsent checks that aborting fails the records not
// sent yet with ErrTransactionAborted, each callback once, and that the
// next transaction works.
func TestTxnAbortDiscardsUnsent(t *testing.T) {
	c := kfakeTxn(t, "t", 1)
	tc := &testCluster{name: "kfake", addrs: c.ListenAddrs()}
	p := txnProducer(t, tc, "discard")
	ctx := testCtx(t)
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	// The coordinator keeps answering that another transaction is
	// completing, so the partition is never added and nothing is sent.
	busy := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.AddPartitionsToTxn}, Err: kerr.ConcurrentTransactions, Count: -1})
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		errs []error
	)
	for i := range 5 {
		p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "t", Value: strconv.Itoa(i)}, func(_ RecordMetadata, err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	if err := busy.Wait(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := p.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(errs) != 5 {
		t.Errorf("%d callbacks, want 5", len(errs))
	}
	for _, err := range errs {
		if !errors.Is(err, ErrTransactionAborted) {
			t.Errorf("callback got %v, want ErrTransactionAborted", err)
		}
	}
	mu.Unlock()
	busy.Remove()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := sendTo(ctx, p, "t", 0, "next"); err != nil {
		t.Fatal(err)
	}
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	commitEndMarkers(t, p, "t", 1)
	sameSet(t, "read_committed", readKgo(t, tc, "t", 1, true), []string{"next"})
}

// TestTxnCloseAborts checks that closing a producer with a transaction
// open aborts it at once, without waiting for transaction.timeout.ms: a
// read_committed reader gets past it.
func TestTxnCloseAborts(t *testing.T) {
	c := kfakeTxn(t, "t", 1)
	tc := &testCluster{name: "kfake", addrs: c.ListenAddrs()}
	ends := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Observe: true, Count: -1})
	ctx := testCtx(t)
	p := txnProducer(t, tc, "close", "transaction.timeout.ms", "600000")
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := sendTo(ctx, p, "t", 0, "open"); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ends.Hits() != 1 {
		t.Errorf("%d EndTxn requests, want 1", ends.Hits())
	}
	// Another producer id writes after it; read_committed sees that.
	other := txnProducer(t, tc, "close-other")
	if err := other.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	commitEndMarkers(t, other, "t", 1)
	sameSet(t, "read_committed", readKgo(t, tc, "t", 1, true), nil)
}

// TestTxnCommitTimeoutResumes checks that a commit cut short by
// max.block.ms leaves the transaction committing: an abort is refused,
// and calling CommitTransaction again completes it.
func TestTxnCommitTimeoutResumes(t *testing.T) {
	c := kfakeTxn(t, "t", 1)
	tc := &testCluster{name: "kfake", addrs: c.ListenAddrs()}
	p := txnProducer(t, tc, "resume", "max.block.ms", "300")
	ctx := testCtx(t)
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := sendTo(ctx, p, "t", 0, "slow"); err != nil {
		t.Fatal(err)
	}
	busy := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.ConcurrentTransactions, TopLevel: true, Count: -1})
	if err := p.CommitTransaction(ctx); !errors.Is(err, ErrTimeout) || !Retriable(err) {
		t.Fatalf("commit: %v, want ErrTimeout", err)
	}
	if err := p.AbortTransaction(ctx); !errors.Is(err, ErrIllegalState) || !strings.Contains(err.Error(), "COMMITTING_TRANSACTION") {
		t.Errorf("abort after the timeout: %v", err)
	}
	busy.Remove()
	if err := p.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	commitEndMarkers(t, p, "t", 1)
	sameSet(t, "read_committed", readKgo(t, tc, "t", 1, true), []string{"slow"})
}
