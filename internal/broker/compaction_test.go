package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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
