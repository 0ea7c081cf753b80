package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/internal/record"
)

const txnTimeout = 60 * time.Second

// txnBroker starts a broker with a topic of n partitions.
func txnBroker(t *testing.T, topic string, n int32, props ...string) *brokertest.Broker {
	t.Helper()
	b := brokertest.Start(t, append([]string{"group.initial.rebalance.delay.ms=0"}, props...)...)
	createTxnTopic(t, b.Addr(), topic, n, 1)
	return b
}

func createTxnTopic(t *testing.T, addr, topic string, n int32, rf int16) {
	t.Helper()
	resp, err := newAdmin(t, addr).CreateTopic(testContext(t, txnTimeout), n, rf, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}

// txnProducer is a franz-go transactional producer.
func txnProducer(t *testing.T, addr, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newKgo(t, addr, append([]kgo.Opt{kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionTimeout(30 * time.Second)}, opts...)...)
}

// produceTxn produces values in one transaction and ends it.
func produceTxn(t *testing.T, cl *kgo.Client, topic string, values []string, commit bool) {
	t.Helper()
	ctx := testContext(t, txnTimeout)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(v)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
}

// readValues reads topic from the start with the isolation level until
// want records came or no more arrive for quiet.
func readValues(t *testing.T, addr, topic string, committed bool, want int, quiet time.Duration) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := newKgo(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	var got []string
	deadline := time.Now().Add(txnTimeout)
	for len(got) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		fs := cl.PollFetches(ctx)
		cancel()
		if errs := fs.Errors(); len(errs) > 0 && !errors.Is(errs[0].Err, context.DeadlineExceeded) {
			t.Fatalf("fetch: %v", errs[0].Err)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)); n++ })
		if n == 0 && want == 0 {
			break
		}
	}
	slices.Sort(got)
	return got
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// TestTxnCommitAbortReadCommitted: a committed transaction is read by
// read_committed consumers, an aborted one is not (though
// read_uncommitted sees it), and the fetch carries the last stable offset.
func TestTxnCommitAbortReadCommitted(t *testing.T) {
	const topic = "txn-basic"
	b := txnBroker(t, topic, 2)
	p := txnProducer(t, b.Addr(), "tx-basic")
	committed := values("c", 10)
	produceTxn(t, p, topic, committed, true)
	produceTxn(t, p, topic, values("a", 6), false)
	produceTxn(t, p, topic, values("d", 4), true)
	want := append(slices.Clone(committed), values("d", 4)...)
	slices.Sort(want)

	got := readValues(t, b.Addr(), topic, true, len(want), 2*time.Second)
	if !slices.Equal(got, want) {
		t.Fatalf("read_committed got %v, want %v", got, want)
	}
	if all := readValues(t, b.Addr(), topic, false, 20, 2*time.Second); len(all) != 20 {
		t.Fatalf("read_uncommitted got %d records, want 20 (aborted ones included)", len(all))
	}

	// Every transaction is decided: the LSO is the high watermark, and
	// a read_committed ListOffsets agrees.
	lso, hw := fetchOffsets(t, b.Addr(), topic, 0)
	if lso != hw || hw == 0 {
		t.Fatalf("partition 0: LSO %d, high watermark %d; want equal and non-zero", lso, hw)
	}
}

// fetchOffsets does one read_committed fetch of a partition from offset 0
// and returns its last stable offset and high watermark.
func fetchOffsets(t *testing.T, addr, topic string, partition int32) (lso, hw int64) {
	t.Helper()
	sp := fetchCommitted(t, addr, topic, partition)
	if sp.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	return sp.LastStableOffset, sp.HighWatermark
}

// fetchCommitted does one read_committed fetch of a partition and returns
// the response partition (records, LSO, aborted transactions).
func fetchCommitted(t *testing.T, addr, topic string, partition int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	cl := newKgo(t, addr, kgo.MaxVersions(kversion.V2_8_0())) // fetch by topic name
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes, req.IsolationLevel = -1, 0, 1<<20, 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = partition, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t, txnTimeout), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// TestTxnOpenNotVisible: records of an open transaction are never read by
// read_committed consumers and hold the LSO back, while later
// non-transactional records are read once the transaction ends.
func TestTxnOpenNotVisible(t *testing.T) {
	const topic = "txn-open"
	b := txnBroker(t, topic, 2)
	p := txnProducer(t, b.Addr(), "tx-open")
	ctx := testContext(t, txnTimeout)
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	plain := newKgo(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := plain.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("plain")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	lso, hw := fetchOffsets(t, b.Addr(), topic, 0)
	if lso != 0 || hw != 2 {
		t.Fatalf("with a transaction open at offset 0: LSO %d, high watermark %d; want 0 and 2", lso, hw)
	}
	if got := readValues(t, b.Addr(), topic, true, 0, time.Second); len(got) != 0 {
		t.Fatalf("read_committed read %v during the transaction", got)
	}
	if err := p.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	if got := readValues(t, b.Addr(), topic, true, 1, 2*time.Second); !slices.Equal(got, []string{"plain"}) {
		t.Fatalf("after the abort read_committed read %v, want [plain]", got)
	}
	fp := fetchCommitted(t, b.Addr(), topic, 0)
	if len(fp.AbortedTransactions) != 1 || fp.AbortedTransactions[0].FirstOffset != 0 {
		t.Fatalf("aborted transactions %+v, want one starting at offset 0", fp.AbortedTransactions)
	}
	if fp.LastStableOffset != 3 {
		t.Fatalf("LSO %d after the abort marker at 2, want 3", fp.LastStableOffset)
	}
}

// TestTxnConsumeTransformProduceRestarts: a GroupTransactSession copies
// an input topic to an output topic, committing its offsets in each
// transaction, while the broker restarts twice; read_committed then finds
// every input record in the output exactly once.
func TestTxnConsumeTransformProduceRestarts(t *testing.T) {
	const in, out, n = "eos-in", "eos-out", 300
	b := txnBroker(t, in, 2)
	createTxnTopic(t, b.Addr(), out, 2, 1)
	ctx := testContext(t, 3*txnTimeout)
	plain := newKgo(t, b.Addr())
	for _, v := range values("in", n) {
		// One record per batch, so each fetch takes a few.
		if err := plain.ProduceSync(ctx, &kgo.Record{Topic: in, Key: []byte(v), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	plain.Close()

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(b.Addr()),
		kgo.TransactionalID("eos-copier"),
		kgo.TransactionTimeout(20*time.Second),
		kgo.ConsumerGroup("eos-group"),
		kgo.ConsumeTopics(in),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchMaxPartitionBytes(2000), // small batches: many transactions
		kgo.RetryTimeout(txnTimeout),
	)
	if err != nil {
		t.Fatal(err)
	}
	var copied atomicInt
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil && copied.load() < n {
			fs := sess.PollFetches(ctx)
			if fs.Empty() {
				continue
			}
			if err := sess.Begin(); err != nil {
				t.Errorf("begin: %v", err)
				return
			}
			var batch int
			fs.EachRecord(func(r *kgo.Record) {
				batch++
				sess.Produce(ctx, &kgo.Record{Topic: out, Key: r.Key, Value: r.Value}, nil)
			})
			committed, err := sess.End(ctx, kgo.TryCommit)
			if err == nil && committed {
				copied.add(batch)
			}
			time.Sleep(5 * time.Millisecond) // leave the restarts room mid-run
		}
	}()
	for _, at := range []int{n / 3, 2 * n / 3} {
		for copied.load() < at && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		if c := copied.load(); c >= n {
			t.Fatalf("all %d records were copied before the restart at %d", c, at)
		}
		b.Restart()
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("copied %d of %d records before the deadline", copied.load(), n)
	}
	sess.Close()

	got := readValues(t, b.Addr(), out, true, n, 3*time.Second)
	want := values("in", n)
	if !slices.Equal(got, want) {
		dups := 0
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				dups++
			}
		}
		t.Fatalf("output holds %d records (%d duplicates), want each of the %d inputs once", len(got), dups, n)
	}
}

// atomicInt is a counter shared with a processing goroutine.
type atomicInt struct{ v atomic.Int64 }

func (a *atomicInt) add(n int) { a.v.Add(int64(n)) }
func (a *atomicInt) load() int { return int(a.v.Load()) }

// TestTxnZombieFenced: a second producer with the same transactional id
// fences the first: the first's open transaction is aborted and never
// read, and its next produce and its commit fail.
func TestTxnZombieFenced(t *testing.T) {
	const topic = "txn-zombie"
	b := txnBroker(t, topic, 2)
	ctx := testContext(t, txnTimeout)
	zombie := txnProducer(t, b.Addr(), "tx-zombie")
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("zombie-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	fresh := txnProducer(t, b.Addr(), "tx-zombie")
	produceTxn(t, fresh, topic, []string{"fresh-1", "fresh-2"}, true)

	zerr := zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("zombie-2")}).FirstErr()
	if zerr == nil {
		zerr = zombie.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(zerr, kerr.ProducerFenced) && !errors.Is(zerr, kerr.InvalidProducerEpoch) {
		t.Fatalf("the fenced producer's produce/commit got %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", zerr)
	}
	got := readValues(t, b.Addr(), topic, true, 2, 2*time.Second)
	if !slices.Equal(got, []string{"fresh-1", "fresh-2"}) {
		t.Fatalf("read_committed read %v, want only the new producer's records", got)
	}
}

// TestTxnTimeoutAborts: a transaction open longer than its
// transaction.timeout.ms is aborted by the coordinator: its records are
// never read and its producer cannot commit it.
func TestTxnTimeoutAborts(t *testing.T) {
	const topic = "txn-timeout"
	b := txnBroker(t, topic, 2, "transaction.abort.timed.out.transaction.cleanup.interval.ms=100")
	ctx := testContext(t, txnTimeout)
	p := txnProducer(t, b.Addr(), "tx-timeout", kgo.TransactionTimeout(500*time.Millisecond))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("late")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Wait for the abort: the partition's LSO passes the marker.
	deadline := time.Now().Add(10 * time.Second)
	for {
		lso, hw := fetchOffsets(t, b.Addr(), topic, 1)
		if lso == 2 && hw == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no abort marker after the timeout: LSO %d, high watermark %d", lso, hw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("committing a transaction the coordinator aborted succeeded")
	}
	if got := readValues(t, b.Addr(), topic, true, 0, time.Second); len(got) != 0 {
		t.Fatalf("read_committed read %v of the timed-out transaction", got)
	}
	fp := fetchCommitted(t, b.Addr(), topic, 1)
	if len(fp.AbortedTransactions) != 1 {
		t.Fatalf("aborted transactions %+v, want the timed-out one", fp.AbortedTransactions)
	}
}

// rawTxnClient sends requests to the broker's coordinators as they are
// written, for the error cases.
type rawTxnClient struct {
	t  *testing.T
	cl *kgo.Client
}

func (r rawTxnClient) do(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	resp, err := r.cl.Request(testContext(r.t, txnTimeout), req)
	if err != nil {
		r.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

func (r rawTxnClient) initPID(id string) (int64, int16) {
	r.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(id), 30000
	resp := r.do(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 {
		r.t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func (r rawTxnClient) addPartitions(id string, pid int64, epoch int16, topic string, p int32) error {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: []int32{p}}}
	resp := r.do(req).(*kmsg.AddPartitionsToTxnResponse)
	if len(resp.Transactions) > 0 {
		return kerr.ErrorForCode(resp.Transactions[0].Topics[0].Partitions[0].ErrorCode)
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

func (r rawTxnClient) endTxn(id string, pid int64, epoch int16, commit bool) error {
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return kerr.ErrorForCode(r.do(req).(*kmsg.EndTxnResponse).ErrorCode)
}

// TestTxnBadRequests: EndTxn without a transaction, AddPartitionsToTxn
// with a stale epoch or an unknown producer id, TxnOffsetCommit for a
// group not added to the transaction, a timeout above the maximum and a
// transactional produce to a partition not in the transaction are
// refused with Kafka's errors. The requests are transactions v1's
// (txn_v2_test.go has v2's).
func TestTxnBadRequests(t *testing.T) {
	const topic = "txn-bad"
	b := txnBroker(t, topic, 2, "transaction.max.timeout.ms=60000")
	r := rawTxnClient{t, newKgo(t, b.Addr(), kgo.RequestRetries(0), kgo.MaxVersions(txnV1Versions()))}
	pid, epoch := r.initPID("tx-bad")

	if err := r.endTxn("tx-bad", pid, epoch, true); !errors.Is(err, kerr.InvalidTxnState) {
		t.Errorf("EndTxn without a transaction: %v, want INVALID_TXN_STATE", err)
	}
	if err := r.addPartitions("tx-bad", pid, epoch-1, topic, 0); !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Errorf("AddPartitionsToTxn with an old epoch: %v, want PRODUCER_FENCED", err)
	}
	if err := r.addPartitions("tx-bad", pid+1000, epoch, topic, 0); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Errorf("AddPartitionsToTxn with another producer id: %v, want INVALID_PRODUCER_ID_MAPPING", err)
	}
	if err := r.addPartitions("tx-bad", pid, epoch, "no-such-topic", 0); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("AddPartitionsToTxn of an unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if err := r.addPartitions("tx-bad", pid, epoch, topic, 0); err != nil {
		t.Fatalf("AddPartitionsToTxn: %v", err)
	}

	// TxnOffsetCommit for a group whose partition was not added.
	oc := kmsg.NewPtrTxnOffsetCommitRequest()
	oc.TransactionalID, oc.Group, oc.ProducerID, oc.ProducerEpoch, oc.Generation = "tx-bad", "not-added", pid, epoch, -1
	oc.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1, LeaderEpoch: -1}}}}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "not-added"
	r.do(fc) // creates __consumer_offsets
	ocr := r.do(oc).(*kmsg.TxnOffsetCommitResponse)
	if err := kerr.ErrorForCode(ocr.Topics[0].Partitions[0].ErrorCode); !errors.Is(err, kerr.InvalidTxnState) {
		t.Errorf("TxnOffsetCommit for a group not in the transaction: %v, want INVALID_TXN_STATE", err)
	}

	// A transactional batch to partition 1, which the transaction lacks,
	// and to partition 0, which it has.
	for _, c := range []struct {
		partition int32
		want      error
	}{{1, kerr.InvalidTxnState}, {0, nil}} {
		bl := record.NewBuilder(record.None)
		bl.ProducerID, bl.ProducerEpoch, bl.BaseSequence, bl.Transactional = pid, epoch, 0, true
		bl.Add(time.Now().UnixMilli(), record.Record{Value: []byte("v")})
		batch, err := bl.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		pr := kmsg.NewPtrProduceRequest()
		pr.TransactionID, pr.Acks, pr.TimeoutMillis = kmsg.StringPtr("tx-bad"), -1, 5000
		pr.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: c.partition, Records: batch}}}}
		resp := r.do(pr).(*kmsg.ProduceResponse)
		if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); !errors.Is(err, c.want) && err != c.want {
			t.Errorf("transactional produce to partition %d: %v, want %v", c.partition, err, c.want)
		}
	}
	bad := kmsg.NewPtrInitProducerIDRequest()
	bad.TransactionalID, bad.TransactionTimeoutMillis = kmsg.StringPtr("tx-bad-timeout"), 120000
	if err := kerr.ErrorForCode(r.do(bad).(*kmsg.InitProducerIDResponse).ErrorCode); !errors.Is(err, kerr.InvalidTransactionTimeout) {
		t.Errorf("InitProducerId with a timeout above transaction.max.timeout.ms: %v, want INVALID_TRANSACTION_TIMEOUT", err)
	}

	// DescribeTransactions and ListTransactions see the open transaction.
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"tx-bad", "tx-unknown"}
	dr := r.do(dt).(*kmsg.DescribeTransactionsResponse)
	if len(dr.TransactionStates) != 2 || dr.TransactionStates[0].State != "Ongoing" || dr.TransactionStates[0].ProducerID != pid ||
		len(dr.TransactionStates[0].Topics) != 1 || dr.TransactionStates[0].Topics[0].Topic != topic {
		t.Errorf("DescribeTransactions: %+v", dr.TransactionStates)
	} else if err := kerr.ErrorForCode(dr.TransactionStates[1].ErrorCode); !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Errorf("DescribeTransactions of an unknown id: %v, want TRANSACTIONAL_ID_NOT_FOUND", err)
	}
	lt := kmsg.NewPtrListTransactionsRequest()
	lt.StateFilters = []string{"Ongoing", "Bogus"}
	lr := r.do(lt).(*kmsg.ListTransactionsResponse)
	if len(lr.TransactionStates) != 1 || lr.TransactionStates[0].TransactionalID != "tx-bad" || !slices.Equal(lr.UnknownStateFilters, []string{"Bogus"}) {
		t.Errorf("ListTransactions of Ongoing: %+v, unknown %v", lr.TransactionStates, lr.UnknownStateFilters)
	}
	if err := r.endTxn("tx-bad", pid, epoch, false); err != nil {
		t.Errorf("EndTxn abort: %v", err)
	}
	if err := r.endTxn("tx-bad", pid, epoch, true); !errors.Is(err, kerr.InvalidTxnState) {
		t.Errorf("EndTxn commit after the abort completed: %v, want INVALID_TXN_STATE", err)
	}
}

// TestTxnStateSurvivesRestart: an open transaction keeps holding the LSO
// back across a restart (producer state snapshot and log), and the
// aborted transaction index is rebuilt from the log when recovery finds
// it missing.
func TestTxnStateSurvivesRestart(t *testing.T) {
	const topic = "txn-restart"
	b := txnBroker(t, topic, 1)
	ctx := testContext(t, txnTimeout)
	aborter := txnProducer(t, b.Addr(), "tx-r1")
	if err := aborter.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a1", "a2", "a3"} {
		if err := aborter.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := aborter.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	open := txnProducer(t, b.Addr(), "tx-r2")
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"b1", "b2"} {
		if err := open.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Offsets: a1-a3 0-2, abort marker 3, b1-b2 4-5.
	check := func(when string) {
		t.Helper()
		fp := fetchCommitted(t, b.Addr(), topic, 0)
		if fp.LastStableOffset != 4 || fp.HighWatermark != 6 {
			t.Fatalf("%s: LSO %d, high watermark %d; want 4 and 6", when, fp.LastStableOffset, fp.HighWatermark)
		}
		if len(fp.AbortedTransactions) != 1 || fp.AbortedTransactions[0].FirstOffset != 0 {
			t.Fatalf("%s: aborted transactions %+v, want one from offset 0", when, fp.AbortedTransactions)
		}
	}
	check("before the restart")

	if err := b.Broker.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(b.Dir, topic+"-0")
	idx := filepath.Join(dir, fmt.Sprintf("%020d.txnindex", 0))
	if _, err := os.Stat(idx); err != nil {
		t.Fatalf("no transaction index after the abort: %v", err)
	}
	// Recovery must rebuild what is lost: the index, and the clean
	// shutdown marker that would skip recovery.
	if err := os.Remove(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(b.Dir, ".kafka_cleanshutdown")); err != nil {
		t.Fatal(err)
	}
	b.StartAgain()
	check("after the restart")
	if fi, err := os.Stat(idx); err != nil || fi.Size() != 34 {
		t.Fatalf("rebuilt transaction index: %v (size %v), want one 34-byte entry", err, fi)
	}

	if err := open.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("committing the transaction open across the restart: %v", err)
	}
	if got := readValues(t, b.Addr(), topic, true, 2, 2*time.Second); !slices.Equal(got, []string{"b1", "b2"}) {
		t.Fatalf("read_committed read %v, want [b1 b2]", got)
	}
}

// TestTxnCluster: in a three-broker cluster the coordinator writes
// markers through WriteTxnMarkers to partitions other brokers lead, and
// leaders check transactional batches with a coordinator elsewhere; a
// consume-transform-produce copy and an abort behave as on one broker.
func TestTxnCluster(t *testing.T) {
	c := brokertest.StartCluster(t, 3, "group.initial.rebalance.delay.ms=0")
	addr := c.Addrs()[0]
	const topic = "txn-cluster"
	createTxnTopic(t, addr, topic, 6, 2)
	seeds := kgo.SeedBrokers(c.Addrs()...)
	p := txnProducer(t, addr, "tx-cluster", seeds)
	ctx := testContext(t, txnTimeout)
	for round, commit := range []bool{true, false, true} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for part := range int32(6) {
			v := fmt.Sprintf("r%d-p%d", round, part)
			if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction %d: %v", round, err)
		}
	}
	var want []string
	for _, round := range []int{0, 2} {
		for part := range 6 {
			want = append(want, fmt.Sprintf("r%d-p%d", round, part))
		}
	}
	slices.Sort(want)
	if got := readValues(t, addr, topic, true, len(want), 3*time.Second); !slices.Equal(got, want) {
		t.Fatalf("read_committed read %v, want %v", got, want)
	}

	// Copy the committed records with offsets in each transaction: the
	// group's coordinator checks TxnOffsetCommit with the transaction
	// coordinator, likely another broker.
	const out = "txn-cluster-out"
	createTxnTopic(t, addr, out, 3, 2)
	sess, err := kgo.NewGroupTransactSession(seeds, kgo.TransactionalID("tx-cluster-copier"), kgo.ConsumerGroup("cluster-copier"),
		kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	copied := 0
	for copied < len(want) && ctx.Err() == nil {
		fs := sess.PollFetches(ctx)
		if fs.Empty() {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			sess.Produce(ctx, &kgo.Record{Topic: out, Value: r.Value}, nil)
		})
		if committed, err := sess.End(ctx, kgo.TryCommit); err == nil && committed {
			copied += n
		}
	}
	if got := readValues(t, addr, out, true, len(want), 3*time.Second); !slices.Equal(got, want) {
		t.Fatalf("copied output %v, want %v", got, want)
	}
	// Each partition ends with round 2's COMMIT marker: the group's
	// committed offset is just before it.
	adm := newAdmin(t, addr)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offs, err := adm.FetchOffsets(ctx, "cluster-copier")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(e kadm.ListedOffset) {
		if o, ok := offs.Lookup(topic, e.Partition); !ok || o.At != e.Offset-1 {
			t.Errorf("partition %d: committed %+v, want %d (the transactional offsets were not committed)", e.Partition, o, e.Offset-1)
		}
	})
}
