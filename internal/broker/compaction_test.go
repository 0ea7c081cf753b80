package broker_test

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
)

// readAllKeyed reads a topic from the beginning to its end with a fresh
// consumer and returns every record as key -> offsets and values.
func readAllKeyed(ctx context.Context, t *testing.T, addr, topic string) (count map[string]int, last map[string]*string, offsets map[int64]string) {
	t.Helper()
	adm := newAdmin(t, addr)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	cl := newKgo(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	count, last, offsets = map[string]int{}, map[string]*string{}, map[int64]string{}
	for {
		var done bool
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			k := string(r.Key)
			count[k]++
			if r.Value == nil {
				last[k] = nil
			} else {
				v := string(r.Value)
				last[k] = &v
			}
			offsets[r.Offset] = k
			if r.Offset >= end.Offset-1 {
				done = true
			}
		})
		if done {
			return count, last, offsets
		}
	}
}

// TestCompactedTopicConverges: 100,000 updates over 1,000 keys, some
// deleted by tombstones, read by a fresh consumer after the cleaner ran:
// one record per live key with its latest value, offsets unchanged,
// tombstones there for delete.retention.ms and gone after.
func TestCompactedTopicConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 records and waits for the cleaner")
	}
	b := brokertest.Start(t, "log.cleaner.backoff.ms=50")
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, b.Addr())
	const topic = "table"
	cfg := map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("65536"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"delete.retention.ms":       kadm.StringPtr("3000"),
	}
	if r, err := adm.CreateTopic(ctx, 1, 1, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, r.Err)
	}
	// Uncompressed, so that the records fill segments as their size says.
	cl := newKgo(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	want := map[string]*string{}
	wantOffset := map[string]int64{}
	var recs []*kgo.Record
	for i := 0; i < 100000; i++ {
		k := fmt.Sprintf("key-%03d", i%1000)
		r := &kgo.Record{Key: []byte(k), Value: []byte(fmt.Sprintf("v%d", i))}
		if i >= 99000 && i%7 == 0 {
			r.Value = nil // tombstones among the last updates
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		k := string(r.Key)
		wantOffset[k] = r.Offset
		if r.Value == nil {
			want[k] = nil
		} else {
			v := string(r.Value)
			want[k] = &v
		}
	}
	// Records of another key roll the segments holding the updates, so
	// all of them become cleanable.
	var filler []*kgo.Record
	for i := 0; i < 2000; i++ {
		filler = append(filler, &kgo.Record{Key: []byte("filler"), Value: []byte(fmt.Sprintf("%0100d", i))})
	}
	if err := cl.ProduceSync(ctx, filler...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	converged := func(expectTombstones bool) bool {
		count, last, offsets := readAllKeyed(ctx, t, b.Addr(), topic)
		for k, v := range want {
			if v == nil && !expectTombstones {
				if count[k] != 0 {
					return false
				}
				continue
			}
			if count[k] != 1 || (last[k] == nil) != (v == nil) || (v != nil && *last[k] != *v) || offsets[wantOffset[k]] != k {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(60 * time.Second)
	for !converged(true) {
		if time.Now().After(deadline) {
			count, _, _ := readAllKeyed(ctx, t, b.Addr(), topic)
			t.Fatalf("not converged to one record per key (with tombstones) in 60 s; key-000 has %d records", count["key-000"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	// After delete.retention.ms the tombstones go at the next cleaning.
	time.Sleep(3 * time.Second)
	for _, r := range filler {
		r.Offset, r.Timestamp = 0, time.Time{}
	}
	if err := cl.ProduceSync(ctx, filler...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for !converged(false) {
		if time.Now().After(deadline) {
			t.Fatal("tombstones still there 60 s after delete.retention.ms")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestOffsetsTopicStaysBounded: a group committing the same partitions
// 100,000 times leaves __consumer_offsets small, because the cleaner keeps
// only the latest commit of each.
func TestOffsetsTopicStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("commits 100,000 times")
	}
	b := brokertest.Start(t, "log.cleaner.backoff.ms=50", "offsets.topic.segment.bytes=102400", "offsets.topic.num.partitions=1")
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, b.Addr())
	if r, err := adm.CreateTopic(ctx, 2, 1, nil, "committed"); err != nil || r.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, r.Err)
	}
	cl := newKgo(t, b.Addr())
	const commits = 100000
	for i := 0; i < commits; i += 2 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = "busy", -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "committed"
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = p, int64(i)
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	size := func() int64 {
		var n int64
		for _, f := range segmentFiles(t, filepath.Join(b.Dir, "__consumer_offsets-0")) {
			fi, err := os.Stat(filepath.Join(b.Dir, "__consumer_offsets-0", f))
			if err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for size() > 4*102400 {
		if time.Now().After(deadline) {
			t.Fatalf("__consumer_offsets-0 holds %d bytes of segments 30 s after %d commits; want a few segments", size(), commits)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The latest commit is still what the group reads.
	offs, err := adm.FetchOffsets(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("committed", 1); !ok || o.At != commits-2 {
		t.Fatalf("committed offset of partition 1 = %+v, want %d", o, commits-2)
	}
}

// TestCompactedTopicRefusesRecordsWithoutKey: a produce of a record with
// a null key to a compacted topic fails with INVALID_RECORD, as Kafka's
// LogValidator answers, and writes nothing.
func TestCompactedTopicRefusesRecordsWithoutKey(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testContext(t, 30*time.Second)
	adm := newAdmin(t, b.Addr())
	const topic = "keyed-only"
	if r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic); err != nil || r.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, r.Err)
	}
	cl := newKgo(t, b.Addr(), kgo.DefaultProduceTopic(topic))
	err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("produce without a key to a compacted topic: %v, want INVALID_RECORD", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("keyed")}).FirstErr(); err != nil {
		t.Fatalf("produce with a key: %v", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := ends.Lookup(topic, 0); end.Offset != 1 {
		t.Fatalf("log end offset %d after one refused and one written record, want 1", end.Offset)
	}
}

// TestCleanupPolicySwitchedLive: cleanup.policy changed with
// IncrementalAlterConfigs takes effect on the running broker. Under
// delete the duplicates of a key stay; switched to compact, the cleaner
// keeps only the latest record of each key at its offset and records
// without a key are refused; under compact,delete retention.ms deletes
// old segments and new duplicates are still cleaned; back under delete
// the cleaner leaves the topic alone.
func TestCleanupPolicySwitchedLive(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the cleaner and for retention")
	}
	b := brokertest.Start(t, "log.cleaner.backoff.ms=50", "log.retention.check.interval.ms=100")
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, b.Addr())
	const topic = "switched"
	cfg := map[string]*string{
		"cleanup.policy":            kadm.StringPtr("delete"),
		"segment.bytes":             kadm.StringPtr("16384"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	}
	if r, err := adm.CreateTopic(ctx, 1, 1, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, r.Err)
	}
	// Uncompressed, so that the records fill segments as their size says.
	cl := newKgo(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	alter := func(ops ...kadm.AlterConfig) {
		t.Helper()
		rs, err := adm.AlterTopicConfigs(ctx, ops, topic)
		if err == nil {
			_, err = rs.On(topic, nil)
		}
		if err == nil {
			err = rs[0].Err
		}
		if err != nil {
			t.Fatalf("AlterTopicConfigs %+v: %v", ops, err)
		}
	}
	produce := func(recs []*kgo.Record) {
		t.Helper()
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	const keys = 200
	pad := strings.Repeat("x", 64)
	// rounds writes every key once per round (one produce per round), at
	// time ts, and returns the latest record of each key.
	rounds := func(tag string, n int, ts time.Time) map[string]*kgo.Record {
		t.Helper()
		latest := map[string]*kgo.Record{}
		for r := 0; r < n; r++ {
			var recs []*kgo.Record
			for k := 0; k < keys; k++ {
				key := fmt.Sprintf("key-%03d", k)
				rec := &kgo.Record{Key: []byte(key), Value: []byte(fmt.Sprintf("%s-%d-%s", tag, r, pad)), Timestamp: ts}
				recs = append(recs, rec)
				latest[key] = rec
			}
			produce(recs)
		}
		return latest
	}
	// roll writes more than a segment of another key, so that every
	// earlier record is in a closed, cleanable segment.
	roll := func(ts time.Time) {
		t.Helper()
		var recs []*kgo.Record
		for i := 0; i < 200; i++ {
			recs = append(recs, &kgo.Record{Key: []byte("filler"), Value: []byte(fmt.Sprintf("%0100d", i)), Timestamp: ts})
		}
		produce(recs)
	}
	dir := filepath.Join(b.Dir, topic+"-0")
	activeBase := func() int64 {
		segs := segmentFiles(t, dir)
		return segmentBaseOffset(t, segs[len(segs)-1])
	}
	// compacted reports what still differs from a cleaned log holding
	// want: one record per key below the active segment, and for each key
	// of want its latest record at the offset it was written at.
	compacted := func(want map[string]*kgo.Record) string {
		count, last, offsets := readAllKeyed(ctx, t, b.Addr(), topic)
		below := map[string]int{}
		active := activeBase()
		for off, k := range offsets {
			if off < active {
				below[k]++
			}
		}
		for k, n := range below {
			if n > 1 {
				return fmt.Sprintf("key %q has %d records below the active segment (base %d)", k, n, active)
			}
		}
		for k, r := range want {
			if count[k] != 1 || last[k] == nil || *last[k] != string(r.Value) || offsets[r.Offset] != k {
				return fmt.Sprintf("key %q: %d records, last %v, want one: %q at offset %d", k, count[k], last[k], r.Value, r.Offset)
			}
		}
		return ""
	}
	waitCompacted := func(what string, want map[string]*kgo.Record) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			diff := compacted(want)
			if diff == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not compacted 30 s after the change: %s", what, diff)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Under delete: records two hours old (within retention.ms), rolled
	// over many segments, and nothing cleaned.
	old := time.Now().Add(-2 * time.Hour)
	latest := rounds("old", 10, old)
	roll(old)
	if n := len(segmentFiles(t, dir)); n < 5 {
		t.Fatalf("%d segments, want several", n)
	}
	time.Sleep(500 * time.Millisecond) // ten cleaner backoffs
	if count, _, _ := readAllKeyed(ctx, t, b.Addr(), topic); count["key-000"] != 10 {
		t.Fatalf("under cleanup.policy=delete key-000 has %d records, want all 10", count["key-000"])
	}

	// compact: cleaned at once, and records without a key refused.
	alter(kadm.AlterConfig{Name: "cleanup.policy", Value: kadm.StringPtr("compact")})
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("record without a key after the switch to compact: %v, want INVALID_RECORD", err)
	}
	waitCompacted("cleanup.policy=compact", latest)

	// compact,delete with retention.ms of an hour: every segment of the
	// two-hour-old records goes, the active one rolled first.
	alter(kadm.AlterConfig{Name: "cleanup.policy", Value: kadm.StringPtr("compact,delete")},
		kadm.AlterConfig{Name: "retention.ms", Value: kadm.StringPtr("3600000")})
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	deadline := time.Now().Add(30 * time.Second)
	for {
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		start, _ := starts.Lookup(topic, 0)
		if start.Offset == end.Offset {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log start offset %d 30 s after retention.ms=1h, want %d: old segments not deleted", start.Offset, end.Offset)
		}
		time.Sleep(100 * time.Millisecond)
	}
	now := time.Now()
	latest = rounds("new", 10, now)
	roll(now)
	waitCompacted("cleanup.policy=compact,delete", latest)
	for _, r := range latest {
		if r.Offset < end.Offset {
			t.Fatalf("record at offset %d below the log start offset %d after retention", r.Offset, end.Offset)
		}
	}

	// delete again: new duplicates stay.
	alter(kadm.AlterConfig{Name: "cleanup.policy", Value: kadm.StringPtr("delete")},
		kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"})
	rounds("again", 3, now)
	roll(now)
	time.Sleep(500 * time.Millisecond) // ten cleaner backoffs
	count, _, _ := readAllKeyed(ctx, t, b.Addr(), topic)
	for k := range latest {
		if count[k] != 4 {
			t.Fatalf("under cleanup.policy=delete again key %q has %d records, want 4 (one cleaned, three new)", k, count[k])
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); err != nil {
		t.Fatalf("record without a key under cleanup.policy=delete: %v", err)
	}
}

var (
	produceCleanMB       = flag.Int("produce-clean-mb", 2048, "MiB of dirty compacted log BenchmarkProduceWhileCleaning gives the cleaner")
	produceCleanThrottle = flag.Float64("produce-clean-throttle", 0, "log.cleaner.io.max.bytes.per.second for BenchmarkProduceWhileCleaning (0: unthrottled)")
)

// BenchmarkProduceWhileCleaning measures acks=all produce throughput of
// one franz-go producer (100-byte values with 8-byte keys, linger 5 ms, no
// compression) to a one-partition topic, on one broker, first with the
// cleaner idle, then while the cleaner compacts -produce-clean-mb of a
// dirty eight-partition topic (1 KiB records over 80,000 keys, 32 MiB
// segments, every one dirty), then idle again. The producer runs throughout; the
// cleaning window runs from the switch of the dirty topic to
// cleanup.policy=compact until its segments stop changing. Kafka's target
// is a ratio of at least 0.8. The broker runs in the test process.
func BenchmarkProduceWhileCleaning(b *testing.B) {
	if testing.Short() {
		b.Skip("writes hundreds of MB")
	}
	var idle, busy, cleanerSecs, dirtyMB float64
	for range b.N {
		r := produceWhileCleaning(b)
		idle += r.idle / float64(b.N)
		busy += r.busy / float64(b.N)
		cleanerSecs += r.cleaner.Seconds() / float64(b.N)
		dirtyMB += r.dirtyMB / float64(b.N)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(idle, "idle_rec/s")
	b.ReportMetric(busy, "cleaning_rec/s")
	b.ReportMetric(busy/idle, "ratio")
	b.ReportMetric(cleanerSecs, "cleaner_s")
	b.ReportMetric(dirtyMB/cleanerSecs, "cleaner_MB/s")
}

type produceCleanResult struct {
	idle, busy float64 // records/s
	cleaner    time.Duration
	dirtyMB    float64 // of closed segments at the switch
}

func produceWhileCleaning(b *testing.B) produceCleanResult {
	props := []string{"log.cleaner.backoff.ms=100"}
	if *produceCleanThrottle > 0 {
		props = append(props, fmt.Sprintf("log.cleaner.io.max.bytes.per.second=%g", *produceCleanThrottle))
	}
	br := brokertest.Start(b, props...)
	ctx := testContext(b, 30*time.Minute)
	adm := newAdmin(b, br.Addr())
	const dirty, measured, dirtyPartitions = "dirty", "measured", 8
	dirtyCfg := map[string]*string{"cleanup.policy": kadm.StringPtr("delete"), "segment.bytes": kadm.StringPtr(strconv.Itoa(32 << 20))}
	if r, err := adm.CreateTopic(ctx, dirtyPartitions, 1, dirtyCfg, dirty); err != nil || r.Err != nil {
		b.Fatalf("CreateTopic: %v %v", err, r.Err)
	}
	if r, err := adm.CreateTopic(ctx, 1, 1, nil, measured); err != nil || r.Err != nil {
		b.Fatalf("CreateTopic: %v %v", err, r.Err)
	}

	// Fill the dirty topic while it is under cleanup.policy=delete.
	fill := newKgo(b, br.Addr(), kgo.DefaultProduceTopic(dirty), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(5*time.Millisecond))
	value := make([]byte, 1000)
	rand.Read(value)
	for i := 0; int64(i)*1024 < int64(*produceCleanMB)<<20; i++ {
		fill.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("key-%06d", i%80000)), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := fill.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(br.Dir, dirty+"-*"))
	// logBytes returns the bytes of the dirty topic's segments, and those
	// of its closed segments.
	logBytes := func() (all, closed int64) {
		for _, d := range dirs {
			segs := segmentFiles(b, d)
			for i, s := range segs {
				if fi, err := os.Stat(filepath.Join(d, s)); err == nil {
					all += fi.Size()
					if i < len(segs)-1 {
						closed += fi.Size()
					}
				}
			}
		}
		return all, closed
	}

	// The producer measured runs from here to the end; a sampler records
	// its acknowledgements and the dirty topic's size over time.
	cl := newKgo(b, br.Addr(), kgo.DefaultProduceTopic(measured), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RequiredAcks(kgo.AllISRAcks()))
	var acked, failed atomic.Int64
	stopProduce := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		v := make([]byte, 100)
		for i := 0; ; i++ {
			select {
			case <-stopProduce:
				return
			default:
			}
			cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%07d", i%1000000), Value: v}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					return
				}
				acked.Add(1)
			})
		}
	}()
	type sample struct {
		at    time.Time
		acked int64
		size  int64
	}
	var (
		samplesMu sync.Mutex
		samples   []sample
	)
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case now := <-tick.C:
				size, _ := logBytes()
				samplesMu.Lock()
				samples = append(samples, sample{now, acked.Load(), size})
				samplesMu.Unlock()
			}
		}
	}()
	// rate is the producer's records/s between two times.
	rate := func(from, to time.Time) float64 {
		samplesMu.Lock()
		defer samplesMu.Unlock()
		at := func(t time.Time) sample {
			i := sort.Search(len(samples), func(i int) bool { return !samples[i].at.Before(t) })
			return samples[min(i, len(samples)-1)]
		}
		a, z := at(from), at(to)
		return float64(z.acked-a.acked) / z.at.Sub(a.at).Seconds()
	}

	time.Sleep(time.Second) // warm up
	idleFrom := time.Now()
	time.Sleep(3 * time.Second)
	idleTo := time.Now()

	_, closed := logBytes()
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, dirty)
	if err == nil {
		err = rs[0].Err
	}
	if err != nil {
		b.Fatal(err)
	}
	switched := time.Now()
	// Cleaning is over when the closed segments have shrunk to less than
	// half and the topic's size has not changed for two seconds.
	var cleaned time.Time
	for {
		time.Sleep(100 * time.Millisecond)
		samplesMu.Lock()
		last := samples[len(samples)-1]
		i := len(samples) - 1
		for i > 0 && samples[i-1].size == last.size && samples[i-1].at.After(switched) {
			i--
		}
		cleaned = samples[i].at
		samplesMu.Unlock()
		if _, c := logBytes(); c < closed/2 && time.Since(cleaned) > 2*time.Second {
			break
		}
		if time.Since(switched) > 10*time.Minute {
			b.Fatal("the cleaner did not finish in 10 minutes")
		}
	}
	idle2From := time.Now()
	time.Sleep(3 * time.Second)
	idle2To := time.Now()

	close(stopProduce)
	<-produced
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	close(stopSampling)
	<-sampled
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d produces failed", n)
	}
	idle1, idle2 := rate(idleFrom, idleTo), rate(idle2From, idle2To)
	res := produceCleanResult{
		idle:    (idle1 + idle2) / 2,
		busy:    rate(switched, cleaned),
		cleaner: cleaned.Sub(switched),
		dirtyMB: float64(closed) / 1e6,
	}
	b.Logf("idle %.0f and %.0f records/s; while cleaning %.0f MB of closed segments for %v: %.0f records/s (ratio %.2f)",
		idle1, idle2, res.dirtyMB, res.cleaner.Round(time.Millisecond), res.busy, res.busy/res.idle)
	return res
}
