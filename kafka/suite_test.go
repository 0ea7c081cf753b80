package kafka

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The tests in this file run against both kfake and Samsa's broker.

// TestSuiteRoundTrip sends records with every codec, at the default and
// at non-default compression levels, and reads them back with franz-go:
// keys, values, headers and timestamps must be byte-identical, at the
// offsets the producer reported.
func TestSuiteRoundTrip(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		for _, kv := range [][]string{
			{"compression.type", "none"},
			{"compression.type", "gzip"},
			{"compression.type", "gzip", "compression.gzip.level", "1"},
			{"compression.type", "snappy"},
			{"compression.type", "lz4"},
			{"compression.type", "lz4", "compression.lz4.level", "17"},
			{"compression.type", "zstd"},
			{"compression.type", "zstd", "compression.zstd.level", "-5"},
		} {
			name := strings.Join(kv[1:], "-")
			t.Run(name, func(t *testing.T) {
				topic := "roundtrip-" + name
				tc.createTopic(t, topic, 3)
				testRoundTrip(t, tc.addrs, topic, kv)
			})
		}
	})
}

func testRoundTrip(t *testing.T, addrs []string, topic string, kv []string) {
	p := startProducer(t, testConfig(addrs, append([]string{"linger.ms", "5"}, kv...)...), ByteArraySerializer{}, ByteArraySerializer{})
	ctx := testCtx(t)
	type sent struct {
		key, value []byte
		headers    Headers
		ts         time.Time
	}
	const n = 60
	all := make([]sent, n)
	o := newOutcomes()
	base := time.UnixMilli(1_700_000_000_000)
	for i := range all {
		s := sent{
			value: fmt.Appendf(nil, "value-%d %s", i, strings.Repeat("abc", i)),
			ts:    base.Add(time.Duration(i) * time.Second),
		}
		if i%3 != 0 {
			s.key = fmt.Appendf(nil, "key-%d", i)
		}
		if i%2 == 0 {
			s.headers = Headers{{Key: "h1", Value: []byte("v")}, {Key: "null", Value: nil}, {Key: "h1", Value: []byte{}}}
		}
		if i == 7 {
			s.value = nil // tombstone
		}
		all[i] = s
		p.SendWithCallback(ctx, ProducerRecord[[]byte, []byte]{Topic: topic, Key: s.key, Value: s.value, Headers: s.headers, Timestamp: s.ts}, o.callback(i))
	}
	o.wait(t, 20*time.Second)
	o.exactlyOnce(t, n)
	byPos := map[[2]int64]int{}
	for i, s := range all {
		md := o.mds[i]
		if o.errs[i] != nil || md.Topic != topic || md.Offset < 0 || !md.Timestamp.Equal(s.ts) ||
			md.SerializedKeySize != int(sizeOrNull(s.key)) || md.SerializedValueSize != int(sizeOrNull(s.value)) {
			t.Fatalf("record %d: metadata %+v, %v", i, md, o.errs[i])
		}
		if s.key != nil && md.Partition != KeyPartition(s.key, 3) {
			t.Errorf("record %d: partition %d, murmur2 says %d", i, md.Partition, KeyPartition(s.key, 3))
		}
		byPos[[2]int64{int64(md.Partition), md.Offset}] = i
	}
	for _, r := range consumeAll(t, addrs, topic, n) {
		i, ok := byPos[[2]int64{int64(r.Partition), r.Offset}]
		if !ok {
			t.Fatalf("consumed unexpected record at %d/%d", r.Partition, r.Offset)
		}
		s := all[i]
		if !sameBytes(r.Key, s.key) || !sameBytes(r.Value, s.value) || !r.Timestamp.Equal(s.ts) {
			t.Errorf("record %d: got key %q value %q ts %v, want %q %q %v", i, r.Key, r.Value, r.Timestamp, s.key, s.value, s.ts)
		}
		if len(r.Headers) != len(s.headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(r.Headers), len(s.headers))
		}
		for j, h := range r.Headers {
			if h.Key != s.headers[j].Key || !sameBytes(h.Value, s.headers[j].Value) {
				t.Errorf("record %d header %d: got %q=%q want %q=%q", i, j, h.Key, h.Value, s.headers[j].Key, s.headers[j].Value)
			}
		}
	}
}

// TestSuiteKeyedPlacement checks that keyed records land where murmur2
// and franz-go's default partitioner put them.
func TestSuiteKeyedPlacement(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "keyed", 7)
		p := startProducer(t, testConfig(tc.addrs), StringSerializer{}, StringSerializer{})
		ctx := testCtx(t)
		kp := kgo.StickyKeyPartitioner(nil).ForTopic("keyed")
		o := newOutcomes()
		const n = 100
		for i := range n {
			p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "keyed", Key: "key-" + strconv.Itoa(i), Value: "v"}, o.callback(i))
		}
		o.wait(t, 10*time.Second)
		for i := range n {
			key := []byte("key-" + strconv.Itoa(i))
			want := kp.Partition(&kgo.Record{Key: key}, 7)
			if o.errs[i] != nil || int(o.mds[i].Partition) != want || o.mds[i].Partition != KeyPartition(key, 7) {
				t.Errorf("key %s: partition %d err %v, want %d", key, o.mds[i].Partition, o.errs[i], want)
			}
		}
		for _, r := range consumeAll(t, tc.addrs, "keyed", n) {
			if want := kp.Partition(r, 7); int(r.Partition) != want {
				t.Errorf("consumed %s from partition %d, want %d", r.Key, r.Partition, want)
			}
		}
	})
}

// TestSuiteStickySpreading checks KIP-794's uniform sticky partitioning:
// null keys stick to a partition for about batch.size bytes, and over
// time every partition gets records.
func TestSuiteStickySpreading(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "sticky", 6)
		p := startProducer(t, testConfig(tc.addrs, "batch.size", "1000", "linger.ms", "20"), VoidSerializer{}, ByteArraySerializer{})
		ctx := testCtx(t)
		o := newOutcomes()
		const n = 600
		val := make([]byte, 100)
		for i := range n {
			p.SendWithCallback(ctx, ProducerRecord[struct{}, []byte]{Topic: "sticky", Value: val}, o.callback(i))
		}
		o.wait(t, 10*time.Second)
		counts := map[int32]int{}
		switches := 0
		for i := range n {
			if o.errs[i] != nil {
				t.Fatalf("record %d: %v", i, o.errs[i])
			}
			counts[o.mds[i].Partition]++
			if i > 0 && o.mds[i].Partition != o.mds[i-1].Partition {
				switches++
			}
		}
		if len(counts) != 6 {
			t.Errorf("records went to %d of 6 partitions: %v", len(counts), counts)
		}
		// As in Java, the partition changes after between batch.size and
		// twice that many bytes (about 9 to 18 records of 108 bytes
		// here), at the end of a batch: far fewer switches than records.
		if switches > n/4 || switches < n*108/(2*1000)*2/3 {
			t.Errorf("%d partition switches for %d records", switches, n)
		}
	})
}

// TestSuiteCloseDelivers checks that Close sends lingering records and
// gives every callback its outcome.
func TestSuiteCloseDelivers(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "close", 3)
		p, err := NewProducer(testConfig(tc.addrs, "linger.ms", "60000"), StringSerializer{}, StringSerializer{}, WithLogger(testLogger()))
		if err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t)
		t.Cleanup(func() { _ = p.Close(ctx) }) // on failure; a no-op after the Close below
		o := newOutcomes()
		const n = 50
		for i := range n {
			p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "close", Key: strconv.Itoa(i), Value: "v"}, o.callback(i))
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
		o.exactlyOnce(t, n)
		for i := range n {
			if o.errs[i] != nil {
				t.Errorf("record %d: %v", i, o.errs[i])
			}
		}
		if got := len(consumeAll(t, tc.addrs, "close", n)); got != n {
			t.Errorf("consumed %d records, want %d", got, n)
		}
		// Sends after Close fail.
		_, err = p.Send(ctx, ProducerRecord[string, string]{Topic: "close", Value: "late"}).Get(ctx)
		if !errors.Is(err, ErrProducerClosed) {
			t.Errorf("send after close: %v", err)
		}
		if err := p.Close(ctx); err != nil {
			t.Errorf("second close: %v", err)
		}
	})
}

// TestSuiteKillRestart sends while the brokers answer some produces with
// NOT_LEADER_OR_FOLLOWER (where the cluster can inject it), kills every
// broker while records are in flight and queued, keeps sending while they
// are down, and restarts them on the same data and ports. The producer
// must recover by itself: every record acknowledged, none lost or written
// twice, in order per partition, each callback's offset the record's
// offset in the log. Batches written just before the kill whose answer
// was lost are retried with their sequence numbers, which the restarted
// brokers must recognise as duplicates.
func TestSuiteKillRestart(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "restart", 3)
		var notLeader atomic.Int64
		if tc.fault != nil {
			var n atomic.Int64
			tc.fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotLeaderForPartition, Count: -1,
				When: func(kmsg.Request) bool {
					if n.Add(1)%4 == 2 {
						notLeader.Add(1)
						return true
					}
					return false
				}})
		}
		p := startProducer(t, testConfig(tc.addrs, "batch.size", "200", "linger.ms", "2",
			"retry.backoff.ms", "5", "retry.backoff.max.ms", "50", "reconnect.backoff.max.ms", "50",
			"request.timeout.ms", "3000", "delivery.timeout.ms", "60000"),
			IntegerSerializer{}, StringSerializer{})
		ctx := testCtx(t)
		o := newOutcomes()
		const n = 900
		send := func(from, to int) {
			for i := from; i < to; i++ {
				part := int32(i % 3)
				p.SendWithCallback(ctx, ProducerRecord[int32, string]{Topic: "restart", Partition: &part, Key: int32(i), Value: strconv.Itoa(i)}, o.callback(i))
			}
		}
		send(0, n/3)
		// Kill as soon as some records are acknowledged, with the rest
		// queued or in flight.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			o.mu.Lock()
			acked := len(o.calls)
			o.mu.Unlock()
			if acked >= 30 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("nothing acknowledged before the kill")
			}
		}
		tc.restart(t, func() {
			send(n/3, 2*n/3) // while every broker is down
			time.Sleep(300 * time.Millisecond)
		})
		send(2*n/3, n)

		o.wait(t, 30*time.Second)
		o.exactlyOnce(t, n)
		for i := range n {
			if o.errs[i] != nil {
				t.Fatalf("record %d: %v", i, o.errs[i])
			}
		}
		if tc.fault != nil && notLeader.Load() < 5 {
			t.Errorf("NOT_LEADER_OR_FOLLOWER answered %d times; the fault barely fired", notLeader.Load())
		}
		recs := consumeAll(t, tc.addrs, "restart", n)
		last := map[int32]int{0: -3, 1: -2, 2: -1}
		seen := map[int]bool{}
		for _, r := range recs {
			v, _ := strconv.Atoi(string(r.Value))
			if r.ProducerID < 0 {
				t.Fatalf("record %d written without a producer id: idempotence is off", v)
			}
			if seen[v] {
				t.Errorf("record %d written twice", v)
			}
			seen[v] = true
			if v != last[r.Partition]+3 {
				t.Errorf("partition %d: record %d follows %d", r.Partition, v, last[r.Partition])
			}
			last[r.Partition] = v
			if o.mds[v].Offset != r.Offset || o.mds[v].Partition != r.Partition {
				t.Errorf("record %d: callback said %d@%d, log has it at %d@%d", v, o.mds[v].Partition, o.mds[v].Offset, r.Partition, r.Offset)
			}
		}
		if len(recs) != n {
			t.Errorf("consumed %d records, want %d", len(recs), n)
		}
	})
}
