package clustertest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Ack is a record whose produce was acknowledged.
type Ack struct {
	Partition int32
	Offset    int64
	Seq       int64     // the record's number within its partition
	Sent      time.Time // when it was handed to the producer
	At        time.Time // when it was acknowledged
}

// Load produces records to every partition of a topic, round robin, with
// an idempotent acks=all franz-go producer (default retries), until
// stopped. Record values are "<partition>-<seq>", seq counting up from 0
// in each partition, so a reader can tell loss, duplication and
// reordering apart.
type Load struct {
	t          testing.TB
	topic      string
	partitions int32
	cl         *kgo.Client

	mu      sync.Mutex // guards acked, failed, errs
	acked   []Ack
	failed  int
	errs    []error
	started time.Time

	cancel context.CancelFunc
	done   chan struct{}
}

// StartLoad starts producing. opts are added to the producer's options.
func StartLoad(t testing.TB, seeds []string, topic string, partitions int32, opts ...kgo.Opt) *Load {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(500),
		kgo.ProducerLinger(2 * time.Millisecond),
		// A moved leader is looked up as soon as a produce learns of it,
		// as the Java producer does (retry.backoff.ms), rather than after
		// franz-go's default metadata.min.age of 5 s: the windows then
		// measure the cluster, not the client's throttle.
		kgo.MetadataMinAge(100 * time.Millisecond),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{t: t, topic: topic, partitions: partitions, cl: cl, cancel: cancel, done: make(chan struct{}), started: time.Now()}
	go l.run(ctx)
	return l
}

func (l *Load) run(ctx context.Context) {
	defer close(l.done)
	seqs := make([]int64, l.partitions)
	for i := 0; ctx.Err() == nil; i++ {
		p := int32(i) % l.partitions
		seq := seqs[p]
		seqs[p]++
		r := &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, seq))}
		sent := time.Now()
		l.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					l.failed++
					if len(l.errs) < 5 {
						l.errs = append(l.errs, fmt.Errorf("partition %d seq %d: %w", p, seq, err))
					}
				}
				return
			}
			l.acked = append(l.acked, Ack{Partition: r.Partition, Offset: r.Offset, Seq: seq, Sent: sent, At: time.Now()})
		})
	}
}

// Stop stops producing and waits, up to limit, for the records in flight
// to be answered; what is still unanswered then counts as neither
// acknowledged nor failed.
func (l *Load) Stop(limit time.Duration) {
	l.cancel()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := l.cl.Flush(ctx); err != nil {
		l.cl.UnsafeAbortBufferedRecords()
	}
	l.cl.Close()
}

// Acked returns the acknowledged records.
func (l *Load) Acked() []Ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Ack(nil), l.acked...)
}

// Failed returns how many produces failed and the first few errors.
func (l *Load) Failed() (int, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed, append([]error(nil), l.errs...)
}

// WaitAcked waits until n more records than now are acknowledged.
func (l *Load) WaitAcked(n int, limit time.Duration) {
	l.t.Helper()
	start := len(l.Acked())
	deadline := time.Now().Add(limit)
	for len(l.Acked()) < start+n {
		if time.Now().After(deadline) {
			failed, errs := l.Failed()
			l.t.Fatalf("only %d of %d more records acknowledged in %v (%d failed: %v)", len(l.Acked())-start, n, limit, failed, errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitAvailable waits, up to limit, until every partition has
// acknowledged a record sent at or after at, and reports whether they all
// did.
func (l *Load) WaitAvailable(at time.Time, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for !l.availableSince(at) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func (l *Load) availableSince(at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := make([]bool, l.partitions)
	n := 0
	// Acknowledgements are appended in the order they came: once one came
	// before at, so did every earlier one, and none was sent after at.
	for i := len(l.acked) - 1; i >= 0 && n < int(l.partitions); i-- {
		a := l.acked[i]
		if a.At.Before(at) {
			break
		}
		if !a.Sent.Before(at) && !seen[a.Partition] {
			seen[a.Partition] = true
			n++
		}
	}
	return n == int(l.partitions)
}

// Unavailable returns how long after at every partition had acknowledged
// a record sent after at: the time the cluster took to take new writes on
// all partitions after a fault at at. It is -1 if some partition had
// none.
func (l *Load) Unavailable(at time.Time) time.Duration {
	first := make([]time.Time, l.partitions)
	for _, a := range l.Acked() {
		if !a.Sent.Before(at) && (first[a.Partition].IsZero() || a.At.Before(first[a.Partition])) {
			first[a.Partition] = a.At
		}
	}
	var worst time.Duration
	for _, f := range first {
		if f.IsZero() {
			return -1
		}
		worst = max(worst, f.Sub(at))
	}
	return worst
}

// Consumed is a record read back.
type Consumed struct {
	Offset int64
	Value  string
}

// ReadAll reads every partition of a topic from its log start to its high
// watermark with a franz-go consumer.
func ReadAll(t testing.TB, seeds []string, topic string, partitions int32) map[int32][]Consumed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[int32]kgo.Offset{}
	want := map[int32]int64{}
	for p := range partitions {
		e, ok := ends.Lookup(topic, p)
		if !ok || e.Err != nil {
			t.Fatalf("end offset of %s-%d: %v", topic, p, e.Err)
		}
		want[p] = e.Offset
		offsets[p] = kgo.NewOffset().AtStart()
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	out := map[int32][]Consumed{}
	reached := func() bool {
		for p, end := range want {
			if n := len(out[p]); end > 0 && (n == 0 || out[p][n-1].Offset < end-1) {
				return false
			}
		}
		return true
	}
	for !reached() {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading %s back: %v (want end offsets %v)", topic, err, want)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("reading partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], Consumed{Offset: r.Offset, Value: string(r.Value)})
		})
	}
	return out
}

// Check compares what was acknowledged with what was read back: every
// acknowledged record must be there at its offset, no record may appear
// twice, and each partition's records must be in the order produced.
// It returns a description of each violation (at most a few of each
// kind) and counts.
func Check(acked []Ack, consumed map[int32][]Consumed) (lost, duplicated, reordered int, problems []string) {
	report := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	byOffset := map[int32]map[int64]string{}
	for p, recs := range consumed {
		m := make(map[int64]string, len(recs))
		seen := make(map[string]int64, len(recs))
		last := int64(-1)
		for _, r := range recs {
			m[r.Offset] = r.Value
			if prev, dup := seen[r.Value]; dup {
				duplicated++
				report("partition %d: %q at offsets %d and %d", p, r.Value, prev, r.Offset)
			}
			seen[r.Value] = r.Offset
			seq, ok := seqOf(r.Value, p)
			if !ok {
				report("partition %d offset %d: foreign value %q", p, r.Offset, r.Value)
				continue
			}
			if seq <= last {
				reordered++
				report("partition %d offset %d: seq %d after seq %d", p, r.Offset, seq, last)
			}
			last = max(last, seq)
		}
		byOffset[p] = m
	}
	sort.Slice(acked, func(i, j int) bool {
		return acked[i].Partition < acked[j].Partition || acked[i].Partition == acked[j].Partition && acked[i].Offset < acked[j].Offset
	})
	for _, a := range acked {
		want := fmt.Sprintf("%d-%d", a.Partition, a.Seq)
		if got, ok := byOffset[a.Partition][a.Offset]; !ok || got != want {
			lost++
			report("acknowledged %q at %d-%d, read %q", want, a.Partition, a.Offset, got)
		}
	}
	return lost, duplicated, reordered, problems
}

func seqOf(value string, partition int32) (int64, bool) {
	ps, ss, ok := strings.Cut(value, "-")
	if !ok || ps != strconv.Itoa(int(partition)) {
		return 0, false
	}
	seq, err := strconv.ParseInt(ss, 10, 64)
	return seq, err == nil
}
