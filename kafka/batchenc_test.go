package kafka

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/samsa-io/samsa/internal/record"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// randomRecords returns n records with null and empty keys, values and
// header values, and timestamps that go back and forth.
func randomRecords(rng *rand.Rand, n int) []record.Record {
	bytesOrNull := func() []byte {
		switch rng.IntN(5) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	out := make([]record.Record, n)
	for i := range out {
		r := record.Record{Key: bytesOrNull(), Value: bytesOrNull(), TimestampDelta: int64(rng.IntN(2_000_000)) - 1_000_000}
		for range rng.IntN(3) {
			r.Headers = append(r.Headers, record.RecordHeader{Key: fmt.Sprint("h", rng.IntN(10)), Value: bytesOrNull()})
		}
		out[i] = r
	}
	return out
}

// TestBatchEncodingMatchesRecord builds the same batches with the
// producer's in-place encoder and with internal/record's Builder: the
// bytes must be identical, and internal/record must read them back.
func TestBatchEncodingMatchesRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for iter := range 50 {
		recs := randomRecords(rng, 1+rng.IntN(40))
		base := int64(1_700_000_000_000)
		pid, epoch, seq := int64(rng.IntN(1000)), int16(rng.IntN(10)), int32(rng.IntN(1<<20))

		want := record.NewBuilder(record.None)
		want.ProducerID, want.ProducerEpoch, want.BaseSequence = pid, epoch, seq
		b := &batch{buf: make([]byte, record.HeaderSize, 1<<20), limit: 1 << 20}
		for _, r := range recs {
			ts := base + r.TimestampDelta
			want.Add(ts, record.Record{Key: r.Key, Value: r.Value, Headers: r.Headers})
			var hs Headers
			for _, h := range r.Headers {
				hs = append(hs, Header{Key: h.Key, Value: h.Value})
			}
			if b.tryAppend(ts, r.Key, r.Value, hs, recMeta{timestamp: ts}) == 0 {
				t.Fatal("record did not fit")
			}
		}
		writeBatchHeader(b.buf, &batchHeader{
			codec: record.None, lastOffsetDelta: b.count - 1, baseTimestamp: b.baseTimestamp, maxTimestamp: b.maxTimestamp,
			producerID: pid, producerEpoch: epoch, baseSequence: seq, count: b.count,
		})
		wantBytes, err := want.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.buf, wantBytes) {
			t.Fatalf("iteration %d: batches differ\n got %x\nwant %x", iter, b.buf[:80], wantBytes[:80])
		}
		h, err := record.ParseHeader(b.buf)
		if err != nil || record.CheckCRC(b.buf) != nil {
			t.Fatalf("iteration %d: %v %v", iter, err, record.CheckCRC(b.buf))
		}
		n := 0
		if err := record.EachRecord(&h, b.buf, 1<<30, func(r *record.Record) error {
			if !sameBytes(r.Key, recs[n].Key) || !sameBytes(r.Value, recs[n].Value) || len(r.Headers) != len(recs[n].Headers) {
				return fmt.Errorf("record %d differs", n)
			}
			n++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// An epoch bump rewrites the producer fields and keeps the CRC
		// valid.
		setBatchProducer(b.buf, pid+1, 0, 0)
		if gp, ge, gs := batchProducer(b.buf); gp != pid+1 || ge != 0 || gs != 0 || record.CheckCRC(b.buf) != nil {
			t.Fatalf("after rewrite: %d %d %d, crc %v", gp, ge, gs, record.CheckCRC(b.buf))
		}
	}
}

// TestBatchSplitDecode checks that a batch read back for a split yields
// its records, compressed or not.
func TestBatchSplitDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	recs := randomRecords(rng, 30)
	for _, codec := range []record.Codec{record.None, record.Gzip, record.LZ4, record.Zstd, record.Snappy} {
		b := &batch{buf: make([]byte, record.HeaderSize, 1<<20), limit: 1 << 20}
		for i, r := range recs {
			var hs Headers
			for _, h := range r.Headers {
				hs = append(hs, Header{Key: h.Key, Value: h.Value})
			}
			b.tryAppend(int64(i), r.Key, r.Value, hs, recMeta{timestamp: int64(i)})
		}
		if codec != record.None {
			out, err := record.Compress(codec, append([]byte(nil), b.buf[:record.HeaderSize]...), b.buf[record.HeaderSize:])
			if err != nil {
				t.Fatal(err)
			}
			b.wire = out
			writeBatchHeader(b.wire, &batchHeader{codec: codec, lastOffsetDelta: b.count - 1, producerID: -1, producerEpoch: -1, baseSequence: -1, count: b.count})
			b.buf = append(b.buf[:0], bytes.Repeat([]byte{0xee}, 100)...) // the records are only in wire now
		}
		got, err := b.decodeRecords()
		if err != nil {
			t.Fatalf("%v: %v", codec, err)
		}
		for i, dr := range got {
			if !sameBytes(dr.key, recs[i].Key) || !sameBytes(dr.value, recs[i].Value) || len(dr.headers) != len(recs[i].Headers) {
				t.Fatalf("%v: record %d differs", codec, i)
			}
		}
	}
}

// TestProduceSegments checks the vectored produce request encoding
// against kmsg's, for every version the client uses.
func TestProduceSegments(t *testing.T) {
	topics := []produceTopic{
		{name: "orders", partitions: []producePartition{{0, []byte("batch-0")}, {3, bytes.Repeat([]byte{1}, 300)}}},
		{name: "t", partitions: []producePartition{{7, []byte{}}}},
	}
	for _, clientID := range []string{"", "billing-app"} {
		for v := int16(3); v <= 12; v++ {
			// A transactional producer names its transactional id.
			var txnID *string
			if clientID != "" {
				txnID = kmsg.StringPtr("billing-tx")
			}
			req := kmsg.NewPtrProduceRequest()
			req.Version = v
			req.TransactionID = txnID
			req.Acks = -1
			req.TimeoutMillis = 30000
			for _, tp := range topics {
				rt := kmsg.NewProduceRequestTopic()
				rt.Topic = tp.name
				for _, p := range tp.partitions {
					rp := kmsg.NewProduceRequestTopicPartition()
					rp.Partition, rp.Records = p.partition, p.records
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
			}
			want := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, 42)
			segs, _ := produceSegments(nil, v, 42, clientID, txnID, -1, 30000, topics)
			if got := bytes.Join(segs, nil); !bytes.Equal(got, want) {
				t.Errorf("v%d client id %q:\n got %x\nwant %x", v, clientID, got, want)
			}
			if len(segs) != 7 {
				t.Errorf("v%d: %d segments, want 7 (3 batches)", v, len(segs))
			}
		}
	}
}
