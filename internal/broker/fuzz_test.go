package broker

// Fuzz targets for the broker's two decoders of client bytes: the request
// frame (header, then the body with kmsg) and the produced record batch.
//
//	go test -run '^$' -fuzz FuzzDecodeRequest ./internal/broker
//	go test -run '^$' -fuzz FuzzValidateProduce ./internal/broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
)

// measureAlloc runs fn and returns the bytes it allocated (process-wide,
// so the fuzz targets that use it are not run in parallel with anything).
func measureAlloc(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// requestFrame encodes req as a frame without its size prefix: request
// header v1 (v2 with an empty tag section for flexible versions), then the
// body.
func requestFrame(req kmsg.Request, correlationID int32, clientID string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(correlationID))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// fuzzBatch is a small valid batch for seeds.
func fuzzBatch(tb testing.TB, codec record.Codec, n int, ts int64) []byte {
	tb.Helper()
	bl := record.NewBuilder(codec)
	for i := range n {
		bl.Add(ts+int64(i), record.Record{Key: []byte{'k', byte(i)}, Value: bytes.Repeat([]byte{'v'}, 20+i),
			Headers: []record.RecordHeader{{Key: "h", Value: []byte{byte(i)}}}})
	}
	b, err := bl.Build(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// seedRequests returns one request of every registered API, filled with
// enough fields to reach the arrays and strings of its body.
func seedRequests(tb testing.TB) []kmsg.Request {
	topic := "fuzz-topic"
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks = -1
	produce.TimeoutMillis = 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = fuzzBatch(tb, record.None, 2, 1_700_000_000_000)
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)

	fetch := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	fetch.ForgottenTopics = append(fetch.ForgottenTopics, kmsg.FetchRequestForgottenTopic{Topic: topic, Partitions: []int32{1}})

	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	meta.Topics = append(meta.Topics, mt)

	out := []kmsg.Request{produce, fetch, meta, apiVersionsSeed()}
	for key := range handlers { // every other registered API, empty
		switch kmsg.Key(key) {
		case kmsg.Produce, kmsg.Fetch, kmsg.Metadata, kmsg.ApiVersions:
			continue
		}
		out = append(out, kmsg.RequestForKey(key))
	}
	return out
}

func apiVersionsSeed() kmsg.Request {
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName = "fuzz"
	req.ClientSoftwareVersion = "1"
	return req
}

func FuzzDecodeRequest(f *testing.F) {
	for _, req := range seedRequests(f) {
		h := handlers[req.Key()]
		for v := h.min; v <= h.max; v++ {
			req.SetVersion(v)
			f.Add(requestFrame(req, int32(v), "fuzz-client"))
		}
	}
	av := apiVersionsSeed()
	av.SetVersion(4)
	unsupported := requestFrame(av, 1, "")
	binary.BigEndian.PutUint16(unsupported[2:], 99)
	f.Add(unsupported)
	f.Add([]byte{0x7f, 0xff, 0, 0, 0, 0, 0, 1, 0xff, 0xff}) // unknown key
	f.Add([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, frame []byte) {
		if rest, err := skipTags(frame); err == nil && !bytes.HasSuffix(frame, rest) {
			t.Fatalf("skipTags returned bytes that are not a suffix of its input")
		}
		var r *request
		var err error
		n := measureAlloc(func() { r, err = decodeRequest(frame) })
		// kmsg decodes arrays into structs, so memory grows faster than the
		// frame; what must not happen is memory out of proportion to it.
		if bound := 4<<20 + 512*uint64(len(frame)); n > bound {
			t.Fatalf("decoding a %d-byte frame allocated %d bytes (bound %d)", len(frame), n, bound)
		}
		if err != nil {
			if r != nil {
				t.Fatalf("decodeRequest returned a request with error %v", err)
			}
			return
		}
		h, ok := handlers[r.key]
		if !ok {
			t.Fatalf("decoded a request for unregistered key %d", r.key)
		}
		if !bytes.Equal(r.frame, frame) || len(r.clientID) > len(frame) {
			t.Fatalf("request frame or client id does not come from the input")
		}
		if r.version == -1 {
			if r.key != int16(kmsg.ApiVersions) || r.body != nil {
				t.Fatalf("version -1 for key %d with body %T", r.key, r.body)
			}
			return
		}
		if r.version < h.min || r.version > h.max {
			t.Fatalf("decoded %s v%d outside the served v%d-v%d", kmsg.NameForKey(r.key), r.version, h.min, h.max)
		}
		if r.body == nil || r.body.Key() != r.key || r.body.GetVersion() != r.version {
			t.Fatalf("body %T does not match key %d version %d", r.body, r.key, r.version)
		}
		// What was decoded must encode and decode again.
		again := kmsg.RequestForKey(r.key)
		again.SetVersion(r.version)
		if err := again.ReadFrom(r.body.AppendTo(nil)); err != nil {
			t.Fatalf("%s v%d does not decode after re-encoding: %v", kmsg.NameForKey(r.key), r.version, err)
		}
	})
}

// fuzzNow is the broker clock the validation fuzzer runs at.
const fuzzNow = 1_700_000_000_000

// fuzzRules picks the topic settings a batch is validated against from the
// bits of mode, so every branch of validateProduce is reachable.
func fuzzRules(mode uint8) *batchRules {
	r := &batchRules{
		maxMessageBytes: 1 << 20,
		beforeMaxMs:     1<<63 - 1,
		afterMaxMs:      3_600_000,
		maxDecompressed: 64 << 10,
	}
	if mode&1 != 0 {
		r.logAppendTime = true
	}
	if mode&2 != 0 {
		r.recompress = true
		r.targetCodec = record.Codec(mode>>5) % 5
	}
	if mode&4 != 0 {
		r.compacted = true
	}
	if mode&8 != 0 {
		r.beforeMaxMs = 60_000
		r.afterMaxMs = 0
	}
	if mode&16 != 0 {
		r.maxMessageBytes = 300
	}
	return r
}

func FuzzValidateProduce(f *testing.F) {
	for c := record.None; c <= record.Zstd; c++ {
		b := fuzzBatch(f, c, 3, fuzzNow-1000)
		f.Add(b, false, uint8(0))
		f.Add(b, true, uint8(2|uint8(c+1)%5<<5)) // recompress to another codec
		f.Add(b[:len(b)-1], true, uint8(0))
	}
	bl := record.NewBuilder(record.None)
	bl.ProducerID, bl.ProducerEpoch, bl.BaseSequence = 1000, 0, 0
	bl.Add(fuzzNow, record.Record{Value: []byte("no key")})
	idem, _ := bl.Build(nil)
	f.Add(idem, false, uint8(4)) // compacted: key required
	f.Add(idem, false, uint8(8)) // timestamp window
	f.Add(append(bytes.Clone(idem), idem...), false, uint8(0))
	bl.Transactional = true
	txn, _ := bl.Build(nil)
	f.Add(txn, false, uint8(0))
	f.Add([]byte{}, false, uint8(0))

	f.Fuzz(func(t *testing.T, data []byte, fix bool, mode uint8) {
		if fix && len(data) >= record.HeaderSize {
			data = bytes.Clone(data)
			binary.BigEndian.PutUint32(data[8:], uint32(len(data)-record.LogOverhead))
			data[16] = 2
			binary.BigEndian.PutUint32(data[17:], record.ComputeCRC(data))
		}
		rules := fuzzRules(mode)
		orig := bytes.Clone(data)
		var vb validatedBatch
		var err error
		n := measureAlloc(func() { vb, err = validateProduce(data, produceMaxVersion, rules, fuzzNow) })
		if bound := 16<<20 + 64*uint64(len(data)+rules.maxDecompressed); n > bound {
			t.Fatalf("validating %d bytes allocated %d bytes (bound %d)", len(data), n, bound)
		}
		if !bytes.Equal(orig, data) {
			t.Fatalf("validateProduce modified its input")
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("error without a Kafka error code: %v", err)
			}
			if code, _ := errCode(err); code == 0 {
				t.Fatalf("error %v maps to code 0", err)
			}
			return
		}
		checkValidated(t, data, vb, rules)
	})
}

// checkValidated asserts that an accepted batch is one the log can append
// and a consumer can read.
func checkValidated(t *testing.T, data []byte, vb validatedBatch, rules *batchRules) {
	h, err := record.ParseHeader(vb.bytes)
	if err != nil {
		t.Fatalf("accepted batch does not parse: %v", err)
	}
	if h != vb.hdr {
		t.Fatalf("validated header %+v differs from the batch's %+v", vb.hdr, h)
	}
	if err := record.CheckCRC(vb.bytes); err != nil {
		t.Fatalf("accepted batch: %v", err)
	}
	if h.Size() != len(vb.bytes) || len(vb.bytes) > rules.maxMessageBytes {
		t.Fatalf("accepted batch of %d bytes, header says %d, max %d", len(vb.bytes), h.Size(), rules.maxMessageBytes)
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta != h.NumRecords-1 || h.Control() || (h.Transactional() && (h.ProducerID < 0 || h.BaseSequence < 0)) {
		t.Fatalf("accepted batch header %+v", h)
	}
	if rules.recompress && h.Compression() != rules.targetCodec {
		t.Fatalf("batch stored as %s, topic wants %s", h.Compression(), rules.targetCodec)
	}
	if !rules.recompress && !bytes.Equal(vb.bytes, data) {
		t.Fatalf("batch changed without recompression")
	}
	var i int32
	err = record.EachRecord(&h, vb.bytes, 1<<30, func(r *record.Record) error {
		if r.OffsetDelta != i {
			t.Fatalf("accepted record %d with offset delta %d", i, r.OffsetDelta)
		}
		if rules.compacted && r.Key == nil {
			t.Fatalf("accepted a null key on a compacted topic")
		}
		if !rules.logAppendTime {
			if err := checkTimestamp(h.BaseTimestamp+r.TimestampDelta, fuzzNow, rules); err != nil {
				t.Fatalf("accepted record %d: %v", i, err)
			}
		}
		i++
		return nil
	})
	if err != nil || i != h.NumRecords {
		t.Fatalf("accepted batch reads back %d of %d records: %v", i, h.NumRecords, err)
	}
}

// TestValidateProduceHeaderMemory produces one zstd batch, under 1 KB on
// the wire, holding one record with a million empty headers (2 MB once
// decompressed). Validation reads every record but needs none of the
// headers, so it must not build a million-entry header slice: Kafka's
// LogValidator skips headers for the same reason
// (RecordBatch.skipKeyValueIterator). The bound is 8 times the
// decompressed size.
func TestValidateProduceHeaderMemory(t *testing.T) {
	const numHeaders = 1 << 20
	body := []byte{0}                    // attributes
	body = record.AppendVarlong(body, 0) // timestamp delta
	body = record.AppendVarint(body, 0)  // offset delta
	body = record.AppendVarint(body, -1) // null key
	body = record.AppendVarint(body, -1) // null value
	body = record.AppendVarint(body, numHeaders)
	body = append(body, make([]byte, 2*numHeaders)...) // each header: empty key, empty value
	recs := record.AppendVarint(nil, int32(len(body)))
	recs = append(recs, body...)
	compressed, err := record.Compress(record.Zstd, nil, recs)
	if err != nil {
		t.Fatal(err)
	}

	// The header of a non-idempotent one-record zstd batch.
	batch := make([]byte, record.HeaderSize, record.HeaderSize+len(compressed))
	batch = append(batch, compressed...)
	binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-record.LogOverhead))
	binary.BigEndian.PutUint32(batch[12:], 0xffffffff) // leader epoch
	batch[16] = 2
	binary.BigEndian.PutUint16(batch[21:], uint16(record.Zstd))
	binary.BigEndian.PutUint64(batch[27:], fuzzNow)    // base timestamp
	binary.BigEndian.PutUint64(batch[35:], fuzzNow)    // max timestamp
	binary.BigEndian.PutUint64(batch[43:], 1<<64-1)    // producer id -1
	binary.BigEndian.PutUint16(batch[51:], 0xffff)     // producer epoch -1
	binary.BigEndian.PutUint32(batch[53:], 0xffffffff) // base sequence -1
	binary.BigEndian.PutUint32(batch[57:], 1)          // one record
	binary.BigEndian.PutUint32(batch[17:], record.ComputeCRC(batch))

	rules := fuzzRules(0)
	rules.maxDecompressed = 16 << 20
	var verr error
	n := measureAlloc(func() { _, verr = validateProduce(batch, produceMaxVersion, rules, fuzzNow) })
	if verr != nil {
		t.Fatalf("valid batch rejected: %v", verr)
	}
	if bound := 8 * uint64(len(recs)); n > bound {
		t.Errorf("validating a %d-byte batch (%d bytes decompressed) allocated %d bytes, bound %d: "+
			"record headers are materialised during validation", len(batch), len(recs), n, bound)
	}
}

// FuzzSkimRecord checks that validation's skipping record reader accepts
// and rejects exactly what record.ReadRecord does, and agrees with it on
// the fields validation uses.
func FuzzSkimRecord(f *testing.F) {
	b := fuzzBatch(f, record.None, 3, fuzzNow)
	f.Add(b[record.HeaderSize:])
	f.Add(record.AppendRecord(nil, &record.Record{Value: []byte("v"), Headers: []record.RecordHeader{{Key: "", Value: nil}}}))
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		full, n, err := record.ReadRecord(data)
		view, vn, verr := skimRecord(data)
		if (err == nil) != (verr == nil) {
			t.Fatalf("ReadRecord error %v, skimRecord error %v", err, verr)
		}
		if err != nil {
			return
		}
		if n != vn || !bytes.Equal(view.raw, data[:n]) || view.offsetDelta != full.OffsetDelta ||
			view.timestampDelta != full.TimestampDelta || view.nullKey != (full.Key == nil) {
			t.Fatalf("skimRecord read %+v (%d bytes), ReadRecord %+v (%d bytes)", view, vn, full, n)
		}
	})
}

// FuzzCheckRecords checks that the single-loop validation of batches
// stored as sent accepts exactly what the general record walk accepts.
func FuzzCheckRecords(f *testing.F) {
	for c := record.None; c <= record.Zstd; c++ {
		f.Add(fuzzBatch(f, c, 3, fuzzNow-1000), uint8(0))
	}
	bl := record.NewBuilder(record.None)
	bl.Add(fuzzNow, record.Record{Value: []byte("no key"), Headers: []record.RecordHeader{{Key: "h", Value: []byte("v")}}})
	nokey, _ := bl.Build(nil)
	f.Add(nokey, uint8(4))
	f.Add(nokey, uint8(8))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		h, err := record.ParseHeader(data)
		if err != nil || h.Size() != len(data) {
			return
		}
		rules := fuzzRules(mode)
		errFast := checkRecords(&h, data, rules, fuzzNow)
		errWalk := rebuildRecords(&h, data, rules, fuzzNow, record.NewBuilder(record.None))
		if (errFast == nil) != (errWalk == nil) {
			t.Fatalf("checkRecords: %v; record walk: %v", errFast, errWalk)
		}
	})
}
