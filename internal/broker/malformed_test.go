package broker_test

// Malformed input on the wire. Each case sends bad bytes on its own raw
// connection and asserts that the broker either answers with an error code
// or closes that connection, never anything else; meanwhile a franz-go
// client produces and consumes on a healthy topic over its own connections
// and must see no error and lose nothing (a bad client must not hurt the
// others, and must not crash the broker: an in-process broker that panics
// takes this test with it).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/internal/record"
)

const (
	malformedMaxMessageBytes = 10000
	malformedMaxRequestBytes = 1 << 20
	// closeDeadline bounds how long a case waits for the broker to close a
	// connection it should close; it only has to be long enough for a
	// loaded CI machine.
	closeDeadline = 20 * time.Second
)

func TestMalformedRequests(t *testing.T) {
	b := brokertest.Start(t,
		fmt.Sprintf("message.max.bytes=%d", malformedMaxMessageBytes),
		fmt.Sprintf("socket.request.max.bytes=%d", malformedMaxRequestBytes))
	addr := b.Addr()
	ctx := testContext(t, 2*time.Minute)

	healthy := startHealthyTraffic(t, ctx, addr, "malformed-healthy")

	const rawTopic = "malformed-raw"
	autoCreateTopic(t, addr, rawTopic)

	t.Run("frames", func(t *testing.T) { testBadFrames(t, addr) })
	t.Run("versions", func(t *testing.T) { testBadVersions(t, addr) })
	t.Run("bodies", func(t *testing.T) { testBadBodies(t, addr) })
	t.Run("batches", func(t *testing.T) { testBadBatches(t, addr, rawTopic) })

	// Nothing a bad batch carried reached the log: the first good batch
	// gets offset 0.
	nc := dialRaw(t, addr)
	if p := produceRaw(t, nc, rawTopic, goodBatch(t, 3), 9000); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Errorf("good batch after the bad ones: error %d base offset %d, want 0 and 0", p.ErrorCode, p.BaseOffset)
	}
	healthy.finish(t)
}

// testBadFrames sends frames the connection reader must refuse before
// decoding anything: each closes the connection without an answer.
func testBadFrames(t *testing.T, addr string) {
	frame := func(size int32, rest ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(size)), rest...)
	}
	header := []byte{0, 18, 0, 0, 0, 0, 0, 1} // ApiVersions v0, correlation id 1
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"negative length", frame(-1, header...)},
		{"most negative length", frame(-1<<31, header...)},
		{"zero length", frame(0)},
		{"length 4", frame(4, 0, 18, 0, 0)},
		{"length 7, shorter than a header", frame(7, header[:7]...)},
		{"length 9, no client id length", frame(9, append(header, 0)...)},
		{"oversized length", frame(malformedMaxRequestBytes+1, header...)},
		{"length 2 GiB-1", frame(1<<31-1, header...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := dialRaw(t, addr)
			nc.Write(tc.send) // the broker may close before reading it all
			expectClosed(t, nc)
		})
	}

	t.Run("truncated header then EOF", func(t *testing.T) {
		nc := dialRaw(t, addr)
		if _, err := nc.Write(frame(30, header[:6]...)); err != nil {
			t.Fatal(err)
		}
		if err := nc.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, nc)
	})

	t.Run("good request then garbage on the same connection", func(t *testing.T) {
		nc := dialRaw(t, addr)
		good := appendRequest(nil, apiVersionsRequest(3), 1, "raw")
		if _, err := nc.Write(append(good, frame(-5, 1, 2, 3)...)); err != nil {
			t.Fatal(err)
		}
		id, rest, err := readFrame(nc)
		if err != nil || id != 1 {
			t.Fatalf("answer to the good request before the bad frame: id %d, %v", id, err)
		}
		resp, err := decodeResponse(apiVersionsRequest(3), rest)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkApiVersions(resp); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, nc)
	})
}

// testBadVersions: an unknown key or an unsupported version closes the
// connection, except ApiVersions, which answers v0 UNSUPPORTED_VERSION
// with the versions it does support (KIP-511) and keeps the connection.
func testBadVersions(t *testing.T, addr string) {
	for _, tc := range []struct {
		name         string
		key, version int16
	}{
		{name: "unknown API key 9999", key: 9999},
		{name: "unknown API key -1", key: -1},
		{name: "Produce v99", key: 0, version: 99},
		{name: "Produce v2", key: 0, version: 2},
		{name: "Fetch v3", key: 1, version: 3},
		{name: "Metadata v99", key: 3, version: 99},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := dialRaw(t, addr)
			nc.Write(rawFrame(tc.key, tc.version, 7, []byte{0, 0, 0, 0, 0, 0, 0, 0}))
			expectClosed(t, nc)
		})
	}

	for _, v := range []int16{5, 99, 32767} {
		t.Run(fmt.Sprintf("ApiVersions v%d", v), func(t *testing.T) {
			nc := dialRaw(t, addr)
			// A client that speaks a newer version sends a flexible
			// header and a body the broker cannot know; it must still
			// get an answer it can read at v0.
			body := append([]byte{0}, []byte{4, 'f', 'u', 'z', 2, '1', 0}...)
			if _, err := nc.Write(rawFrame(18, v, 42, body)); err != nil {
				t.Fatal(err)
			}
			id, rest, err := readFrame(nc)
			if err != nil {
				t.Fatalf("no ApiVersions answer: %v", err)
			}
			if id != 42 {
				t.Fatalf("correlation id %d, want 42", id)
			}
			resp := kmsg.NewPtrApiVersionsResponse()
			resp.Version = 0
			if err := resp.ReadFrom(rest); err != nil {
				t.Fatalf("answer is not an ApiVersions v0 response: %v", err)
			}
			if resp.ErrorCode != kerr.UnsupportedVersion.Code {
				t.Fatalf("error code %d, want %d UNSUPPORTED_VERSION", resp.ErrorCode, kerr.UnsupportedVersion.Code)
			}
			var apiVersionsMax int16 = -1
			for _, k := range resp.ApiKeys {
				if k.ApiKey == 18 {
					apiVersionsMax = k.MaxVersion
				}
			}
			if apiVersionsMax < 3 {
				t.Fatalf("UNSUPPORTED_VERSION answer lists ApiVersions up to v%d, want the supported range (KIP-511)", apiVersionsMax)
			}
			// The client retries at a version both know, on the same
			// connection.
			resp2, err := roundTrip(nc, apiVersionsRequest(3), 43)
			if err != nil {
				t.Fatalf("retry at v3 on the same connection: %v", err)
			}
			if err := checkApiVersions(resp2); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// testBadBodies sends known requests whose bodies lie about their sizes:
// the decoder must refuse them (closing the connection) without
// allocating what they claim.
func testBadBodies(t *testing.T, addr string) {
	metaV1 := func(count int32, rest ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(count)), rest...)
	}
	produceV3 := func(topics int32) []byte {
		b := []byte{0xff, 0xff}                                 // null transactional id
		b = append(b, 0xff, 0xff, 0, 0, 0x13, 0x88)             // acks -1, timeout 5000
		return binary.BigEndian.AppendUint32(b, uint32(topics)) // topic count, nothing after
	}
	for _, tc := range []struct {
		name         string
		key, version int16
		body         []byte
	}{
		{"Metadata topic array longer than the frame", 3, 1, metaV1(1_000_000, 0, 1, 'a')},
		{"Metadata topic array of MaxInt32", 3, 1, metaV1(1<<31 - 1)},
		{"Metadata topic name longer than the frame", 3, 1, metaV1(1, 0x7f, 0xff, 'a')},
		// Flexible versions: the body starts with the header's tag section.
		{"Metadata v9 compact array longer than the frame", 3, 9, []byte{0, 0xff, 0xff, 0xff, 0x07, 1}},
		{"Metadata v9 header tag longer than the frame", 3, 9, []byte{1, 0, 0x7f}},
		{"Metadata v9 header tag count larger than the frame", 3, 9, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"Produce topic array of MaxInt32", 0, 3, produceV3(1<<31 - 1)},
		{"Produce records longer than the frame", 0, 3, append(produceV3(1),
			0, 1, 't', 0, 0, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3)},
		{"Fetch v4 truncated", 1, 4, []byte{0xff, 0xff, 0xff, 0xff, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := dialRaw(t, addr)
			nc.Write(rawFrame(tc.key, tc.version, 5, tc.body))
			expectClosed(t, nc)
		})
	}
}

// testBadBatches sends well-framed produce requests with bad record
// batches: each gets an error code in its partition response, and the
// connection stays usable.
func testBadBatches(t *testing.T, addr, topic string) {
	good := goodBatch(t, 3)
	withCRC := func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
		return b
	}
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 0x40

	big := make([]byte, malformedMaxMessageBytes)
	for i := range big {
		big[i] = byte(i*31 + i/7) // not compressible enough to matter: codec none
	}
	bl := record.NewBuilder(record.None)
	bl.Add(time.Now().UnixMilli(), record.Record{Value: big})
	tooLarge, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}

	gzipGarbage := bytes.Clone(good) // uncompressed records flagged as gzip
	binary.BigEndian.PutUint16(gzipGarbage[21:], binary.BigEndian.Uint16(gzipGarbage[21:])|uint16(record.Gzip))
	withCRC(gzipGarbage)

	countHigh := bytes.Clone(good) // 5 records claimed, 3 present
	binary.BigEndian.PutUint32(countHigh[57:], 5)
	withCRC(countHigh)

	countAndDeltaHigh := bytes.Clone(good) // consistent header, still 3 records
	binary.BigEndian.PutUint32(countAndDeltaHigh[57:], 5)
	binary.BigEndian.PutUint32(countAndDeltaHigh[23:], 4)
	withCRC(countAndDeltaHigh)

	countLow := bytes.Clone(good)
	binary.BigEndian.PutUint32(countLow[57:], 2)
	binary.BigEndian.PutUint32(countLow[23:], 1)
	withCRC(countLow)

	lengthLong := bytes.Clone(good) // length field past the data sent
	binary.BigEndian.PutUint32(lengthLong[8:], uint32(len(good)))

	magic1 := bytes.Clone(good)
	magic1[16] = 1

	zbl := record.NewBuilder(record.Zstd)
	zbl.Add(time.Now().UnixMilli(), record.Record{Value: []byte("zstd before produce v7")})
	zstdBatch, err := zbl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}

	corrupt, invalid := kerr.CorruptMessage.Code, kerr.InvalidRecord.Code
	for _, tc := range []struct {
		name    string
		batch   []byte
		codes   []int16
		version int16 // of the produce request; 0 means 9
	}{
		{"bad CRC", badCRC, []int16{corrupt}, 0},
		{"over message.max.bytes", tooLarge, []int16{kerr.MessageTooLarge.Code}, 0},
		{"gzip flag on garbage", gzipGarbage, []int16{corrupt}, 0},
		{"record count higher than the records", countHigh, []int16{invalid, corrupt}, 0},
		{"record count and last delta higher than the records", countAndDeltaHigh, []int16{invalid, corrupt}, 0},
		{"record count lower than the records", countLow, []int16{invalid, corrupt}, 0},
		{"two batches in one partition", append(bytes.Clone(good), good...), []int16{invalid}, 0},
		{"length past the data", lengthLong, []int16{corrupt}, 0},
		{"truncated batch", good[:40], []int16{corrupt}, 0},
		// Kafka's ProduceRequest.validateRecords: INVALID_RECORD for any
		// magic but 2 from produce v3 on.
		{"magic 1", magic1, []int16{invalid}, 0},
		{"no records", []byte{}, []int16{invalid, corrupt}, 0},
		// KIP-110: zstd needs produce v7 (Kafka's ProduceRequest.validateRecords).
		{"zstd in produce v6", zstdBatch, []int16{kerr.UnsupportedCompressionType.Code}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := dialRaw(t, addr)
			v := tc.version
			if v == 0 {
				v = 9
			}
			p := produceRawVersion(t, nc, topic, tc.batch, 11, v)
			ok := false
			for _, c := range tc.codes {
				ok = ok || p.ErrorCode == c
			}
			if !ok {
				t.Errorf("partition error code %d (%v), want one of %v", p.ErrorCode, kerr.ErrorForCode(p.ErrorCode), tc.codes)
			}
			if p.BaseOffset != -1 {
				t.Errorf("rejected batch got base offset %d, want -1", p.BaseOffset)
			}
			// The connection still serves requests.
			resp, err := roundTrip(nc, apiVersionsRequest(3), 12)
			if err != nil {
				t.Fatalf("connection unusable after the error response: %v", err)
			}
			if err := checkApiVersions(resp); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// rawFrame frames a request by hand: size, key, version, correlation id,
// a null client id, then body (which must start with the header's tag
// section for flexible versions).
func rawFrame(key, version int16, correlationID int32, body []byte) []byte {
	b := make([]byte, 4, 14+len(body))
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlationID))
	b = append(b, 0xff, 0xff)
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// expectClosed asserts that the broker closes nc without sending
// anything.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(closeDeadline))
	got, err := io.ReadAll(nc)
	switch {
	case len(got) > 0:
		t.Errorf("broker answered %d bytes (%x...), want the connection closed", len(got), got[:min(len(got), 16)])
	case err == nil, errors.Is(err, syscall.ECONNRESET):
		// io.ReadAll turns EOF into nil.
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Errorf("connection still open after %v", closeDeadline)
	default:
		t.Errorf("reading from the connection: %v, want EOF or a reset", err)
	}
}

// goodBatch is a valid uncompressed batch of n records timestamped now.
func goodBatch(t *testing.T, n int) []byte {
	t.Helper()
	bl := record.NewBuilder(record.None)
	now := time.Now().UnixMilli()
	for i := range n {
		bl.Add(now, record.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "raw value %d", i)})
	}
	b, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// produceRaw sends one Produce v9 request (acks=all) with batch for
// partition 0 of topic and returns the partition's response.
func produceRaw(t *testing.T, nc net.Conn, topic string, batch []byte, correlationID int32) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return produceRawVersion(t, nc, topic, batch, correlationID, 9)
}

func produceRawVersion(t *testing.T, nc net.Conn, topic string, batch []byte, correlationID int32, version int16) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp, err := roundTrip(nc, produceRequest(topic, 0, batch, version), correlationID)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response has %d topics", len(pr.Topics))
	}
	return pr.Topics[0].Partitions[0]
}

func produceRequest(topic string, partition int32, batch []byte, version int16) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	req.Acks = -1
	req.TimeoutMillis = 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// autoCreateTopic creates a topic with the broker's defaults through a
// Metadata request that allows auto-creation (auto.create.topics.enable
// is on by default) and returns its partition count.
func autoCreateTopic(t *testing.T, addr, topic string) int {
	t.Helper()
	nc := dialRaw(t, addr)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	req.AllowAutoTopicCreation = true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	req.Topics = append(req.Topics, mt)
	resp, err := roundTrip(nc, req, 1)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	mr := resp.(*kmsg.MetadataResponse)
	if len(mr.Topics) != 1 || mr.Topics[0].ErrorCode != 0 || len(mr.Topics[0].Partitions) == 0 {
		t.Fatalf("auto-creating %s: %+v", topic, mr.Topics)
	}
	nc.Close()
	return len(mr.Topics[0].Partitions)
}

// healthyTraffic is a franz-go producer and consumer working a topic of
// their own while the malformed cases run.
type healthyTraffic struct {
	topic    string
	cancel   context.CancelFunc
	stop     chan struct{}
	prodDone chan struct{}
	consDone chan struct{}

	mu       sync.Mutex
	produced map[string]bool
	consumed map[string][]int64 // value -> offsets it was read at
	offsets  map[int32][]int64
	errs     []error
}

func startHealthyTraffic(t *testing.T, ctx context.Context, addr, topic string) *healthyTraffic {
	ctx, cancel := context.WithCancel(ctx)
	h := &healthyTraffic{
		topic: topic, cancel: cancel,
		stop: make(chan struct{}), prodDone: make(chan struct{}), consDone: make(chan struct{}),
		produced: map[string]bool{}, consumed: map[string][]int64{}, offsets: map[int32][]int64{},
	}
	t.Cleanup(func() { // if the test fails early
		cancel()
		<-h.prodDone
		<-h.consDone
	})
	prod := newKgo(t, addr, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err := prod.ProduceSync(ctx, kgo.StringRecord("healthy-first")).FirstErr(); err != nil {
		t.Fatalf("healthy producer: %v", err)
	}
	h.produced["healthy-first"] = true

	cons := newKgo(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	go func() {
		defer close(h.consDone)
		for {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			h.mu.Lock()
			fs.EachError(func(topic string, p int32, err error) {
				h.errs = append(h.errs, fmt.Errorf("consume %s/%d: %w", topic, p, err))
			})
			fs.EachRecord(func(r *kgo.Record) {
				h.consumed[string(r.Value)] = append(h.consumed[string(r.Value)], r.Offset)
				h.offsets[r.Partition] = append(h.offsets[r.Partition], r.Offset)
			})
			h.mu.Unlock()
		}
	}()
	go func() {
		defer close(h.prodDone)
		for i := 0; ; i++ {
			select {
			case <-h.stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			var recs []*kgo.Record
			for j := range 20 {
				recs = append(recs, kgo.StringRecord(fmt.Sprintf("healthy-%05d-%02d", i, j)))
			}
			res := prod.ProduceSync(ctx, recs...)
			h.mu.Lock()
			for _, r := range res {
				if r.Err != nil {
					h.errs = append(h.errs, fmt.Errorf("produce %q: %w", r.Record.Value, r.Err))
				} else {
					h.produced[string(r.Record.Value)] = true
				}
			}
			h.mu.Unlock()
		}
	}()
	return h
}

// finish stops producing, waits for the consumer to read everything that
// was acknowledged, and checks what both saw.
func (h *healthyTraffic) finish(t *testing.T) {
	t.Helper()
	close(h.stop)
	<-h.prodDone
	deadline := time.Now().Add(60 * time.Second)
	for {
		h.mu.Lock()
		missing := 0
		for v := range h.produced {
			if len(h.consumed[v]) == 0 {
				missing++
			}
		}
		n := len(h.produced)
		h.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("consumer still misses %d of %d acknowledged records", missing, n)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.cancel()
	<-h.consDone

	h.mu.Lock()
	defer h.mu.Unlock()
	for i, err := range h.errs {
		if i == 10 {
			t.Errorf("... %d errors in all", len(h.errs))
			break
		}
		t.Errorf("healthy client: %v", err)
	}
	if len(h.produced) < 2 {
		t.Errorf("healthy producer acknowledged only %d records", len(h.produced))
	}
	for v, offs := range h.consumed {
		if len(offs) > 1 {
			t.Errorf("value %q consumed %d times, at offsets %v", v, len(offs), offs)
		}
		if !h.produced[v] {
			t.Errorf("consumed %q, which was never acknowledged", v)
		}
	}
	for p, offs := range h.offsets {
		for i, o := range offs {
			if o != int64(i) {
				t.Errorf("partition %d: %d-th record consumed has offset %d, want dense offsets from 0", p, i, o)
				break
			}
		}
	}
	t.Logf("healthy traffic: %d records produced and consumed", len(h.produced))
}
