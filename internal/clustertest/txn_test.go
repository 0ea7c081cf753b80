//go:build linux

package clustertest

// Exactly-once across SIGKILL: a consume-transform-produce loop copies a
// keyed input topic to an output topic, committing its input offsets in
// each transaction, while brokers are killed and restarted. A
// read_committed consumer then finds in the output exactly the input:
// every record once, in order per key, nothing of an aborted
// transaction.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/kafka"
)

const (
	etlRecords    = 20000
	etlKeys       = 100
	etlPartitions = 4
)

// etlProps are the brokers' properties for these tests: groups that
// form at once, and few offsets partitions to load after a restart.
var etlProps = []string{
	"group.initial.rebalance.delay.ms=0",
	"offsets.topic.num.partitions=3",
}

// etlValue is the input value of a key's seq-th record: "k007-000123".
func etlValue(key, seq int) string { return fmt.Sprintf("k%03d-%06d", key, seq) }

// produceETLInput creates the input and output topics and writes the
// input: etlRecords records round robin over etlKeys keys, in small
// batches so that each fetch of the loop, and so each transaction, holds
// a few of them.
func produceETLInput(t *testing.T, seeds []string, in, out string, rf int16) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ProducerBatchMaxBytes(2000), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(cl)
	for _, topic := range []string{in, out} {
		r, err := adm.CreateTopic(ctx, etlPartitions, rf, nil, topic)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	var failed atomic.Pointer[error]
	for i := range etlRecords {
		k := i % etlKeys
		r := &kgo.Record{Topic: in, Key: fmt.Appendf(nil, "k%03d", k), Value: []byte(etlValue(k, i/etlKeys))}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := failed.Load(); err != nil {
		t.Fatalf("producing the input: %v", *err)
	}
}

// etlDone reports whether the group's committed offsets reached the end
// of every input partition: the loop has committed its last transaction.
func etlDone(seeds []string, group, in string) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequestRetries(1))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, in)
	if err != nil {
		return false
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false
	}
	done := true
	ends.Each(func(e kadm.ListedOffset) {
		o, ok := committed.Lookup(in, e.Partition)
		done = done && e.Err == nil && ok && o.Err == nil && o.At == e.Offset
	})
	return done
}

// waitETL waits until the loop has committed the whole input.
func waitETL(t *testing.T, seeds []string, group, in string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !etlDone(seeds, group, in) {
		if time.Now().After(deadline) {
			t.Fatalf("the loop did not commit the whole input within %v", limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// midTxnFaults stops the loop in the middle of a transaction (its
// records handed to the producer, the commit not yet asked for) once it
// has committed at least each of at records, for the test to inject a
// fault before the loop goes on to end the transaction: to commit it, or
// to abort it if the fault says so.
type midTxnFaults struct {
	at      []int64
	reached chan int64
	resume  chan bool // abort
	stop    <-chan struct{}
}

func newMidTxnFaults(stop <-chan struct{}, at ...int64) *midTxnFaults {
	return &midTxnFaults{at: at, reached: make(chan int64), resume: make(chan bool), stop: stop}
}

// due reports whether the loop reached the next fault point: it then
// flushes its records, so that the fault finds them in the log.
func (f *midTxnFaults) due(committed int64) bool {
	return len(f.at) > 0 && committed >= f.at[0]
}

// maybe is called by the loop before it ends each transaction; it
// returns whether to abort the transaction.
func (f *midTxnFaults) maybe(committed int64) (abort bool) {
	if !f.due(committed) {
		return false
	}
	f.at = f.at[1:]
	select {
	case f.reached <- committed:
	case <-f.stop:
		return false
	}
	select {
	case abort = <-f.resume:
	case <-f.stop:
	}
	return abort
}

// inject waits for the loop to reach the next fault point, runs fault
// while the loop waits, and lets the loop go on to abort the transaction
// if fault says so, else to commit it.
func (f *midTxnFaults) inject(t *testing.T, limit time.Duration, fault func(committed int64) (abort bool)) {
	t.Helper()
	select {
	case committed := <-f.reached:
		if committed >= etlRecords {
			t.Fatalf("the loop committed all %d records before the fault", committed)
		}
		f.resume <- fault(committed)
	case <-time.After(limit):
		t.Fatalf("the loop did not reach the fault point within %v", limit)
	}
}

// waitProgress waits until the loop has committed at least n records.
func waitProgress(t *testing.T, committed *atomic.Int64, n int64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for committed.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the loop committed %d records, not %d, within %v", committed.Load(), n, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkETLOutput reads the output with read_committed and checks it is
// the input exactly: etlRecords records, each key's values in sequence
// from 0 without a gap or repeat. read_uncommitted sees the records of
// aborted transactions besides; with aborted set, there must be some.
func checkETLOutput(t *testing.T, seeds []string, out string, aborted bool) {
	t.Helper()
	committed := readOutput(t, seeds, out, kgo.ReadCommitted())
	next := make([]int, etlKeys)
	problems := 0
	for _, v := range committed {
		ks, ss, ok := strings.Cut(v, "-")
		k, err1 := strconv.Atoi(strings.TrimPrefix(ks, "k"))
		s, err2 := strconv.Atoi(ss)
		if !ok || err1 != nil || err2 != nil || k < 0 || k >= etlKeys {
			t.Errorf("foreign value %q", v)
			problems++
			continue
		}
		if s != next[k] {
			if problems < 10 {
				t.Errorf("key k%03d: value %d after %d (a duplicate, a gap or a reordering)", k, s, next[k]-1)
			}
			problems++
		}
		next[k] = s + 1
	}
	if len(committed) != etlRecords {
		t.Errorf("read_committed read %d records, want %d", len(committed), etlRecords)
	}
	uncommitted := readOutput(t, seeds, out, kgo.ReadUncommitted())
	t.Logf("output: %d records read_committed (%d problems), %d read_uncommitted (the difference was aborted)",
		len(committed), problems, len(uncommitted))
	if aborted && len(uncommitted) <= etlRecords {
		t.Errorf("read_uncommitted read %d records: the aborted transaction left none in the log", len(uncommitted))
	}
}

// readOutput reads a topic from the start, in offset order per
// partition, until etlRecords records came and then nothing more for a
// second and a half.
func readOutput(t *testing.T, seeds []string, topic string, iso kgo.IsolationLevel) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(time.Minute)
	var got []string
	for time.Now().Before(deadline) {
		quiet := 10 * time.Second
		if len(got) >= etlRecords {
			quiet = 1500 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)); n++ })
		if n == 0 && len(got) >= etlRecords {
			return got
		}
	}
	return got
}

// runKgoETL runs franz-go's GroupTransactSession loop until stop is
// closed, counting the records of the transactions it committed, and
// asking faults.maybe before ending each transaction.
func runKgoETL(t *testing.T, seeds []string, txnID, group, in, out string, committed *atomic.Int64, faults *midTxnFaults, stop <-chan struct{}) <-chan struct{} {
	t.Helper()
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(seeds...),
		kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(10*time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchMaxPartitionBytes(4000),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// A broker restarting refuses connections for a second or two:
		// retry for a minute rather than a number of times (End's
		// errors are not retriable).
		kgo.RequestRetries(1000),
		kgo.RetryTimeout(time.Minute),
	)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stop
		cancel()
	}()
	go func() {
		defer close(done)
		defer sess.Close()
		var aborted, failed int
		defer func() {
			t.Logf("franz-go loop: %d records committed, %d transactions aborted, %d ends failed", committed.Load(), aborted, failed)
		}()
		for ctx.Err() == nil {
			fs := sess.PollFetches(ctx)
			if fs.Empty() {
				continue
			}
			if err := sess.Begin(); err != nil {
				t.Errorf("begin: %v", err)
				return
			}
			n := 0
			fs.EachRecord(func(r *kgo.Record) {
				n++
				sess.Produce(ctx, &kgo.Record{Topic: out, Key: r.Key, Value: r.Value}, nil)
			})
			end := kgo.TryCommit
			if faults.due(committed.Load()) {
				if err := sess.Client().Flush(ctx); err != nil {
					t.Logf("flush before the fault: %v", err)
				}
			}
			if faults.maybe(committed.Load()) {
				end = kgo.TryAbort
			}
			ok, err := sess.End(ctx, end)
			switch {
			case err != nil:
				failed++
				t.Logf("end (%v): %v", end, err)
			case ok && end == kgo.TryCommit:
				committed.Add(int64(n))
			default:
				aborted++
			}
		}
	}()
	return done
}

// TestTxnETLBrokerKilled: franz-go's transactional ETL on one broker,
// SIGKILLed and restarted twice mid-run.
func TestTxnETLBrokerKilled(t *testing.T) {
	c := Start(t, built(t), 1, etlProps...)
	b := c.Broker(1)
	const in, out, group, txnID = "etl-in", "etl-out", "etl-group", "etl-copier"
	produceETLInput(t, c.Seeds(), in, out, 1)
	var committed atomic.Int64
	stop := make(chan struct{})
	faults := newMidTxnFaults(stop, etlRecords/3, 2*etlRecords/3)
	done := runKgoETL(t, c.Seeds(), txnID, group, in, out, &committed, faults, stop)
	defer func() { close(stop); <-done }()
	// The broker is back before the loop ends the transaction: with the
	// only broker down, End fails for good once the client's request
	// fails (its errors are not retriable). The transaction open at the
	// first kill is committed after the restart, the one open at the
	// second aborted.
	for _, abort := range []bool{false, true} {
		faults.inject(t, time.Minute, func(n int64) bool {
			b.Kill()
			t.Logf("broker killed in a transaction, after %d records committed; the transaction will abort: %v", n, abort)
			b.Restart()
			return abort
		})
	}
	waitETL(t, c.Seeds(), group, in, time.Minute)
	checkETLOutput(t, c.Seeds(), out, true)
}

// TestTxnETLCoordinatorKilled: franz-go's transactional ETL on three
// brokers (every topic on all three, two in sync to write) with the
// transaction coordinator of its transactional id SIGKILLed mid-run and
// restarted.
func TestTxnETLCoordinatorKilled(t *testing.T) {
	c := Start(t, built(t), 3, append([]string{
		"default.replication.factor=3",
		"min.insync.replicas=2",
		"transaction.state.log.replication.factor=3",
		"offsets.topic.replication.factor=3",
		"replica.fetch.backoff.ms=200",
	}, etlProps...)...)
	const in, out, group, txnID = "etl3-in", "etl3-out", "etl3-group", "etl3-copier"
	produceETLInput(t, c.Seeds(), in, out, 3)
	c.WaitInSync(in, 30*time.Second)
	var committed atomic.Int64
	stop := make(chan struct{})
	faults := newMidTxnFaults(stop, etlRecords/3)
	done := runKgoETL(t, c.Seeds(), txnID, group, in, out, &committed, faults, stop)
	defer func() { close(stop); <-done }()
	// The loop ends the transaction once another broker took over as
	// its coordinator: until the cluster notices the death, clients are
	// sent to the dead broker, and franz-go's End fails for good when its
	// requests do not get through in time.
	coord := txnCoordinator(t, c, txnID, 0)
	faults.inject(t, time.Minute, func(n int64) bool {
		coord.Kill()
		start := time.Now()
		next := txnCoordinator(t, c, txnID, coord.ID)
		t.Logf("transaction coordinator, broker %d, killed in a transaction, after %d records committed; broker %d took over in %v",
			coord.ID, n, next.ID, time.Since(start).Round(time.Millisecond))
		return false
	})
	waitProgress(t, &committed, committed.Load()+etlRecords/10, time.Minute)
	coord.Restart()
	waitETL(t, c.Seeds(), group, in, time.Minute)
	checkETLOutput(t, c.Seeds(), out, false)
}

// txnCoordinator asks the running brokers which one coordinates the
// transactional id (FindCoordinator, key type 1), until the answer is
// not broker not.
func txnCoordinator(t *testing.T, c *Cluster, txnID string, not int32) *Broker {
	t.Helper()
	var seeds []string
	for _, b := range c.Brokers {
		if b.Running() {
			seeds = append(seeds, b.Addr)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, ok := kadm.NewClient(cl).FindTxnCoordinators(ctx, txnID)[txnID]
		cancel()
		if ok && r.Err == nil && r.NodeID > 0 && r.NodeID != not {
			return c.Broker(r.NodeID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no coordinator for %s but broker %d: %v", txnID, not, r.Err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTxnETLSamsaClientBrokerKilled: the same ETL with this project's
// transactional producer and read_committed consumer, the broker
// SIGKILLed and restarted once mid-run.
func TestTxnETLSamsaClientBrokerKilled(t *testing.T) {
	c := Start(t, built(t), 1, etlProps...)
	b := c.Broker(1)
	const in, out, group, txnID = "setl-in", "setl-out", "setl-group", "setl-copier"
	produceETLInput(t, c.Seeds(), in, out, 1)
	bootstrap := strings.Join(c.Seeds(), ",")
	consumer, err := kafka.NewConsumer(kafka.Config{
		"bootstrap.servers":  bootstrap,
		"group.id":           group,
		"enable.auto.commit": "false",
		"isolation.level":    "read_committed",
		"auto.offset.reset":  "earliest",
		"max.poll.records":   "200",
	}, kafka.StringDeserializer{}, kafka.StringDeserializer{})
	if err != nil {
		t.Fatal(err)
	}
	producer, err := kafka.NewProducer(kafka.Config{
		"bootstrap.servers":      bootstrap,
		"transactional.id":       txnID,
		"transaction.timeout.ms": "10000",
		"max.block.ms":           "20000",
	}, kafka.StringSerializer{}, kafka.StringSerializer{})
	if err != nil {
		t.Fatal(err)
	}
	var committed atomic.Int64
	stop := make(chan struct{})
	faults := newMidTxnFaults(stop, etlRecords/2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		aborted, err := samsaETL(consumer, producer, in, out, &committed, faults, stop)
		if err != nil {
			t.Errorf("loop: %v", err)
		}
		t.Logf("samsa loop: %d records committed, %d transactions aborted", committed.Load(), aborted)
	}()
	defer func() { close(stop); <-done }()
	// The transaction open at the kill is aborted after the restart.
	faults.inject(t, time.Minute, func(n int64) bool {
		b.Kill()
		t.Logf("broker killed in a transaction, after %d records committed", n)
		return true
	})
	b.Restart()
	waitETL(t, c.Seeds(), group, in, time.Minute)
	checkETLOutput(t, c.Seeds(), out, true)
}

// samsaETL is the loop of examples/transactional_etl, until stop is
// closed: one transaction per Poll; an abortable failure aborts and
// rewinds to the committed offsets; a timed-out commit or abort is
// called again, as the producer's documentation says.
func samsaETL(consumer *kafka.Consumer[string, string], producer *kafka.Producer[string, string], in, out string, committed *atomic.Int64, faults *midTxnFaults, stop <-chan struct{}) (aborted int, err error) {
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, consumer.Close(ctx), producer.Close(ctx))
	}()
	ctx := context.Background()
	if err := producer.InitTransactions(ctx); err != nil {
		return 0, err
	}
	if err := consumer.Subscribe([]string{in}, nil); err != nil {
		return 0, err
	}
	for {
		select {
		case <-stop:
			return aborted, nil
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		records, err := consumer.Poll(pctx)
		cancel()
		if err != nil {
			return aborted, fmt.Errorf("poll: %w", err)
		}
		if records.Count() == 0 {
			continue
		}
		err = samsaTransform(ctx, producer, consumer, records, out, func() bool {
			if faults.due(committed.Load()) {
				if err := producer.Flush(ctx); err != nil {
					return false
				}
			}
			return faults.maybe(committed.Load())
		})
		switch {
		case err == nil:
			committed.Add(int64(records.Count()))
		case errors.Is(err, kafka.ErrTransactionAbortable):
			aborted++
			if err := retryTimeout(func() error { return producer.AbortTransaction(ctx) }); err != nil {
				return aborted, fmt.Errorf("abort: %w", err)
			}
			if err := rewind(ctx, consumer); err != nil {
				return aborted, err
			}
		default:
			return aborted, err
		}
	}
}

// samsaTransform copies records to out with their offsets in one
// transaction, and commits it, unless abortIt says to abort it: then it
// returns an error that matches ErrTransactionAbortable.
func samsaTransform(ctx context.Context, producer *kafka.Producer[string, string], consumer *kafka.Consumer[string, string], records kafka.ConsumerRecords[string, string], out string, abortIt func() bool) error {
	if err := producer.BeginTransaction(); err != nil {
		return err
	}
	for _, r := range records.All() {
		producer.Send(ctx, kafka.ProducerRecord[string, string]{Topic: out, Key: r.Key, Value: r.Value})
	}
	err := retryTimeout(func() error {
		return producer.SendOffsetsToTransaction(ctx, records.NextOffsets(), consumer.GroupMetadata())
	})
	if err != nil {
		return err
	}
	if abortIt() {
		return errTestAbort
	}
	return retryTimeout(func() error { return producer.CommitTransaction(ctx) })
}

// errTestAbort makes the loop abort a transaction it could commit.
var errTestAbort = fmt.Errorf("%w: aborted by the test", kafka.ErrTransactionAbortable)

// retryTimeout calls f again while it times out (ErrTimeout: the call
// resumes where it stopped), a few times.
func retryTimeout(f func() error) error {
	var err error
	for range 5 {
		if err = f(); !errors.Is(err, kafka.ErrTimeout) {
			return err
		}
	}
	return err
}

// rewind moves the consumer back to the committed offsets of its
// partitions, so that the input of an aborted transaction is read again.
func rewind(ctx context.Context, consumer *kafka.Consumer[string, string]) error {
	assigned := consumer.Assignment()
	offsets, err := consumer.Committed(ctx, assigned...)
	if err != nil {
		return err
	}
	for _, tp := range assigned {
		om, ok := offsets[tp]
		if !ok {
			if err := consumer.SeekToBeginning(tp); err != nil {
				return err
			}
			continue
		}
		if err := consumer.Seek(tp, om.Offset); err != nil {
			return err
		}
	}
	return nil
}
