package broker_test

// Helpers for the interop tests: Kafka's murmur2 partitioner (written from
// the description in REFERENCE.md, so a client that hashes differently is
// caught), the records every client produces and the check every client's
// consumer output goes through, and raw request framing for the tests that
// talk to the broker below any client.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// murmur2 is Kafka's Utils.murmur2: seed 0x9747b28c, m 0x5bd1e995, r 24,
// 4-byte little-endian blocks, tail bytes folded in last.
func murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(data))
	blocks := len(data) / 4
	for i := range blocks {
		k := binary.LittleEndian.Uint32(data[4*i:])
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[4*blocks:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// keyPartition is the Java client's partition for a keyed record:
// (murmur2(key) & 0x7fffffff) % numPartitions, masked rather than abs.
func keyPartition(key []byte, numPartitions int32) int32 {
	return (murmur2(key) & 0x7fffffff) % numPartitions
}

// header is one record header.
type header struct {
	Key   string
	Value []byte
}

// testRecord is what a test produces and expects to read back.
type testRecord struct {
	Key         []byte
	Value       []byte
	Headers     []header
	TimestampMs int64
}

// consumed is one record as a consumer saw it.
type consumed struct {
	testRecord
	Partition int32
	Offset    int64
}

// genRecords returns n records of about 100 bytes each: unique keys,
// values that mix compressible text with random bytes (every byte value
// occurs), two headers, and timestamps with millisecond precision that are
// not monotonic within a batch (negative timestamp deltas are legal in a
// v2 batch). The seed makes every run produce the same records.
func genRecords(n int, seed uint64) []testRecord {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	// Ten minutes back: inside Kafka's default
	// message.timestamp.after.max.ms / before.max.ms windows.
	base := time.Now().Add(-10 * time.Minute).UnixMilli()
	recs := make([]testRecord, n)
	for i := range recs {
		v := make([]byte, 0, 72)
		v = fmt.Appendf(v, "value %06d of %06d |", i, n)
		for len(v) < cap(v) {
			v = append(v, byte(rng.Uint32()))
		}
		recs[i] = testRecord{
			Key:   fmt.Appendf(nil, "key-%06d", i),
			Value: v,
			Headers: []header{
				{Key: "trace", Value: fmt.Appendf(nil, "t%08x", rng.Uint32())},
				{Key: "idx", Value: binary.BigEndian.AppendUint32(nil, uint32(i))},
			},
			TimestampMs: base + int64(rng.IntN(60_000)),
		}
	}
	return recs
}

// checkConsumed asserts that got holds every record of want exactly once,
// byte for byte, each in partition keyPartition(key, numPartitions), with
// offsets dense from 0 in every partition.
func checkConsumed(t *testing.T, want []testRecord, got []consumed, numPartitions int32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("consumed %d records, produced %d", len(got), len(want))
	}
	byKey := make(map[string]consumed, len(got))
	perPartition := map[int32][]int64{}
	const maxReports = 10
	reports := 0
	report := func(format string, args ...any) {
		t.Helper()
		if reports < maxReports {
			t.Errorf(format, args...)
		}
		reports++
	}
	for _, c := range got {
		if prev, dup := byKey[string(c.Key)]; dup {
			report("key %q consumed twice: partition %d offset %d and partition %d offset %d",
				c.Key, prev.Partition, prev.Offset, c.Partition, c.Offset)
			continue
		}
		byKey[string(c.Key)] = c
		perPartition[c.Partition] = append(perPartition[c.Partition], c.Offset)
	}
	for _, w := range want {
		c, ok := byKey[string(w.Key)]
		if !ok {
			report("key %q never consumed", w.Key)
			continue
		}
		if p := keyPartition(w.Key, numPartitions); c.Partition != p {
			report("key %q in partition %d, want murmur2 partition %d", w.Key, c.Partition, p)
		}
		if !bytes.Equal(c.Value, w.Value) {
			report("key %q (partition %d offset %d): value\n got %x\nwant %x", w.Key, c.Partition, c.Offset, c.Value, w.Value)
		}
		if c.TimestampMs != w.TimestampMs {
			report("key %q (partition %d offset %d): timestamp %d, want %d", w.Key, c.Partition, c.Offset, c.TimestampMs, w.TimestampMs)
		}
		if !headersEqual(c.Headers, w.Headers) {
			report("key %q (partition %d offset %d): headers %q, want %q", w.Key, c.Partition, c.Offset, c.Headers, w.Headers)
		}
	}
	for p, offs := range perPartition {
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		for i, o := range offs {
			if o != int64(i) {
				report("partition %d: offsets not dense from 0: position %d holds offset %d", p, i, o)
				break
			}
		}
	}
	if reports > maxReports {
		t.Errorf("... and %d more mismatches", reports-maxReports)
	}
}

func headersEqual(a, b []header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// codecs are the compression codecs every client is run with, by their
// compression.type names.
var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

func kgoCodec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// newKgo returns a kgo client of the broker at addr, closed with the test.
func newKgo(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// newAdmin returns a kadm client of the broker at addr.
func newAdmin(t testing.TB, addr string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newKgo(t, addr))
}

// testContext is a context cancelled after limit or when the test ends.
func testContext(t testing.TB, limit time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}

// segmentFiles lists the .log segment files of a partition directory
// (files renamed for asynchronous deletion no longer end in .log).
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// segmentBaseOffset parses a segment file name (20-digit base offset).
func segmentBaseOffset(t testing.TB, name string) int64 {
	t.Helper()
	var off int64
	if _, err := fmt.Sscanf(strings.TrimSuffix(filepath.Base(name), ".log"), "%d", &off); err != nil {
		t.Fatalf("segment file name %q: %v", name, err)
	}
	return off
}

// appendRequest frames one request by hand: size prefix, request header
// v1 (key, version, correlation id, client id as a nullable string) plus
// an empty tagged-field section when the request is flexible (header v2,
// KIP-482), then the body as kmsg encodes it.
func appendRequest(dst []byte, req kmsg.Request, correlationID int32, clientID string) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(clientID)))
	dst = append(dst, clientID...)
	if req.IsFlexible() {
		dst = append(dst, 0)
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// maxTestFrame bounds the response frames the raw tests accept.
const maxTestFrame = 16 << 20

// readFrame reads one response frame and returns its correlation id and the
// bytes after it.
func readFrame(r io.Reader) (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxTestFrame {
		return 0, nil, fmt.Errorf("response frame size %d", n)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		return 0, nil, fmt.Errorf("reading %d-byte response frame: %w", n, err)
	}
	return int32(binary.BigEndian.Uint32(frame)), frame[4:], nil
}

// decodeResponse decodes the rest of a response frame (after the
// correlation id) as the response to req. Flexible responses carry a
// tagged-field section in their header, except ApiVersions, whose response
// header is always v0 so that a client can read it before knowing versions.
func decodeResponse(req kmsg.Request, rest []byte) (kmsg.Response, error) {
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		var err error
		if rest, err = skipTaggedFields(rest); err != nil {
			return nil, err
		}
	}
	if err := resp.ReadFrom(rest); err != nil {
		return nil, fmt.Errorf("decoding %s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

func skipTaggedFields(b []byte) ([]byte, error) {
	n, used := binary.Uvarint(b)
	if used <= 0 {
		return nil, errors.New("bad tagged-field count in response header")
	}
	b = b[used:]
	for range n {
		if _, used = binary.Uvarint(b); used <= 0 {
			return nil, errors.New("bad tag in response header")
		}
		b = b[used:]
		size, used := binary.Uvarint(b)
		if used <= 0 || size > uint64(len(b)-used) {
			return nil, errors.New("bad tag size in response header")
		}
		b = b[used+int(size):]
	}
	return b, nil
}

// roundTrip sends one request on a raw connection and decodes the answer,
// checking the correlation id.
func roundTrip(nc net.Conn, req kmsg.Request, correlationID int32) (kmsg.Response, error) {
	if _, err := nc.Write(appendRequest(nil, req, correlationID, "samsa-raw-test")); err != nil {
		return nil, err
	}
	gotID, rest, err := readFrame(nc)
	if err != nil {
		return nil, err
	}
	if gotID != correlationID {
		return nil, fmt.Errorf("correlation id %d, want %d", gotID, correlationID)
	}
	return decodeResponse(req, rest)
}

// apiVersionsRequest returns an ApiVersions request at version v, with the
// client software fields v3 added (KIP-511).
func apiVersionsRequest(v int16) *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(v)
	req.ClientSoftwareName = "samsa-interop-test"
	req.ClientSoftwareVersion = "1.0"
	return req
}

// checkApiVersions asserts resp is a successful ApiVersions answer that
// lists at least the APIs this broker always serves.
func checkApiVersions(resp kmsg.Response) error {
	av, ok := resp.(*kmsg.ApiVersionsResponse)
	if !ok {
		return fmt.Errorf("response is %T, want ApiVersions", resp)
	}
	if av.ErrorCode != 0 {
		return fmt.Errorf("ApiVersions error code %d", av.ErrorCode)
	}
	need := map[int16]bool{int16(kmsg.Produce): true, int16(kmsg.Fetch): true, int16(kmsg.Metadata): true, int16(kmsg.ApiVersions): true}
	for _, k := range av.ApiKeys {
		if k.MinVersion > k.MaxVersion {
			return fmt.Errorf("ApiVersions lists %s with min %d > max %d", kmsg.NameForKey(k.ApiKey), k.MinVersion, k.MaxVersion)
		}
		delete(need, k.ApiKey)
	}
	if len(need) > 0 {
		return fmt.Errorf("ApiVersions lists %d keys, missing %v", len(av.ApiKeys), need)
	}
	return nil
}
