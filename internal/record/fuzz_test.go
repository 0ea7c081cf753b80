package record

// Fuzz targets for everything in this package that reads bytes from the
// network or the disk, and unit tests for the pieces the fuzzers cannot
// judge: round trips, snappy framings, sequence wrap-around, varints, and
// decompression bombs.
//
//	go test -run '^$' -fuzz FuzzParseBatch ./internal/record
//	go test -run '^$' -fuzz FuzzDecompress ./internal/record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/klauspost/compress/snappy"
)

var allCodecs = []Codec{None, Gzip, Snappy, LZ4, Zstd}

// fuzzDecompressLimit is the decompression limit the fuzzers use: small,
// so that a bomb is cheap to detect.
const fuzzDecompressLimit = 64 << 10

// allocBound is the most a decoder may allocate reading n input bytes with
// a decompression limit of limit. It is generous: decoders keep windows and
// tables, a bytes.Buffer doubles, a record header costs more in memory than
// on the wire. What it catches is allocating from a length field before
// checking it against the data: a few bytes claiming hundreds of megabytes.
func allocBound(n, limit int) uint64 {
	return 16<<20 + 64*uint64(n+limit)
}

// allocated runs fn and returns the bytes it allocated (the process-wide
// count, so tests that use it do not run in parallel).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// sampleRecords are records that use every feature of the format: null and
// empty keys and values, headers with null and empty values, timestamps that
// go backwards within the batch.
func sampleRecords() []Record {
	return []Record{
		{Key: []byte("k0"), Value: []byte("value zero")},
		{Key: nil, Value: []byte("null key")},
		{Key: []byte("tombstone"), Value: nil},
		{Key: []byte{}, Value: []byte{}},
		{Key: []byte("headers"), Value: bytes.Repeat([]byte("compressible "), 40), Headers: []RecordHeader{
			{Key: "a", Value: []byte("1")},
			{Key: "null", Value: nil},
			{Key: "", Value: []byte{}},
		}},
	}
}

// sampleTimestamps are the absolute timestamps given to sampleRecords.
var sampleTimestamps = []int64{1_700_000_000_000, 1_700_000_000_500, 1_699_999_999_000, 1_700_000_001_000, 1_700_000_000_001}

func buildSample(t testing.TB, codec Codec) []byte {
	t.Helper()
	b := NewBuilder(codec)
	for i, r := range sampleRecords() {
		b.Add(sampleTimestamps[i], r)
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatalf("Build(%s): %v", codec, err)
	}
	return out
}

// fixUp makes b a batch whose length and CRC fields agree with its bytes,
// so that the fuzzer reaches the record decoder rather than stopping at
// the CRC check almost every time.
func fixUp(b []byte) []byte {
	if len(b) < HeaderSize {
		return b
	}
	b = bytes.Clone(b)
	binary.BigEndian.PutUint32(b[posLength:], uint32(len(b)-LogOverhead))
	b[posMagic] = 2
	binary.BigEndian.PutUint32(b[posCRC:], ComputeCRC(b))
	return b
}

// zstdDeclaredSizeBomb is an 18-byte zstd frame whose header declares a
// 256 MiB frame content size (with a 1 KiB window, so no window limit
// applies) followed by one RLE block of 1000 zero bytes.
func zstdDeclaredSizeBomb() []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, // magic
		0xc0, // frame header descriptor: 8-byte content size, not single segment
		0x00, // window descriptor: 1 KiB
	}
	b = binary.LittleEndian.AppendUint64(b, 256<<20)
	const blockSize = 1000
	hdr := uint32(1) | uint32(1)<<1 | blockSize<<3 // last block, RLE
	b = append(b, byte(hdr), byte(hdr>>8), byte(hdr>>16), 0x00)
	return b
}

func FuzzParseBatch(f *testing.F) {
	for _, c := range allCodecs {
		batch := buildSample(f, c)
		f.Add(batch, false)
		f.Add(batch[:len(batch)-3], true) // truncated records, CRC fixed
		two := append(bytes.Clone(batch), batch...)
		f.Add(two, false)
		f.Add(batch[HeaderSize:], false) // the compressed records alone, for Decompress
	}
	lying := buildSample(f, None)
	binary.BigEndian.PutUint32(lying[posRecordCount:], 1000)
	f.Add(lying, true)
	f.Add(zstdDeclaredSizeBomb(), false)
	f.Add([]byte{}, false)

	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		if fix {
			data = fixUp(data)
		}
		steps := []func(){func() { checkBatch(t, data) }}
		for _, c := range allCodecs {
			steps = append(steps, func() {
				out, err := Decompress(c, data, fuzzDecompressLimit)
				if err == nil && len(out) > fuzzDecompressLimit && c != None {
					t.Fatalf("Decompress(%s) returned %d bytes, over the limit %d", c, len(out), fuzzDecompressLimit)
				}
			})
		}
		// One measurement for the lot (ReadMemStats stops the world); on
		// excess, measure each step to name the culprit.
		bound := allocBound(len(data), fuzzDecompressLimit)
		if n := allocated(func() {
			for _, s := range steps {
				s()
			}
		}); n <= uint64(len(steps))*bound {
			return
		}
		for i, s := range steps {
			if n := allocated(s); n > bound {
				what := "ParseHeader/CheckCRC/EachRecord/Batches"
				if i > 0 {
					what = "Decompress(" + allCodecs[i-1].String() + ")"
				}
				t.Fatalf("%s of %d bytes allocated %d bytes (bound %d)", what, len(data), n, bound)
			}
		}
	})
}

// checkBatch runs every decoder of the package on data and checks what
// they report against each other.
func checkBatch(t *testing.T, data []byte) {
	h, herr := ParseHeader(data)
	crcErr := CheckCRC(data)
	if herr == nil {
		if h.Magic != 2 || h.Length < HeaderSize-LogOverhead {
			t.Fatalf("ParseHeader accepted magic %d length %d", h.Magic, h.Length)
		}
		var seen int32
		err := EachRecord(&h, data, fuzzDecompressLimit, func(r *Record) error {
			seen++
			if r.Key != nil && cap(r.Key) > len(data)+fuzzDecompressLimit {
				t.Fatalf("record key of capacity %d", cap(r.Key))
			}
			return nil
		})
		if err == nil && seen != h.NumRecords {
			t.Fatalf("EachRecord succeeded with %d records, header says %d", seen, h.NumRecords)
		}
		if err == nil && crcErr == nil && h.Size() == len(data) {
			// A batch that decodes must re-encode to records that decode
			// the same way.
			reencodeMatches(t, &h, data)
		}
	}
	var total int
	used, err := Batches(data, func(bh Header, batch []byte) error {
		if bh.Size() != len(batch) {
			t.Fatalf("Batches handed a %d-byte slice for a %d-byte batch", len(batch), bh.Size())
		}
		total += len(batch)
		return nil
	})
	if used != total || used > len(data) {
		t.Fatalf("Batches consumed %d bytes, visited %d, of %d", used, total, len(data))
	}
	if err == nil && len(data)-used >= LogOverhead {
		// Batches may stop early only at an incomplete batch.
		length := int32(binary.BigEndian.Uint32(data[used+posLength:]))
		if int(length)+LogOverhead <= len(data)-used {
			t.Fatalf("Batches stopped at %d before a whole %d-byte batch", used, int(length)+LogOverhead)
		}
	}
}

// reencodeMatches rebuilds the records of a valid batch with a Builder and
// checks that they decode to the same records.
func reencodeMatches(t *testing.T, h *Header, data []byte) {
	var orig []Record
	if err := EachRecord(h, data, fuzzDecompressLimit, func(r *Record) error {
		orig = append(orig, *r)
		return nil
	}); err != nil {
		t.Fatalf("second EachRecord: %v", err)
	}
	b := NewBuilder(None)
	for _, r := range orig {
		b.Add(h.BaseTimestamp+r.TimestampDelta, r)
	}
	rebuilt, err := b.Build(nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	rh, err := ParseHeader(rebuilt)
	if err != nil {
		t.Fatalf("ParseHeader(rebuilt): %v", err)
	}
	i := 0
	if err := EachRecord(&rh, rebuilt, fuzzDecompressLimit, func(r *Record) error {
		o := orig[i]
		i++
		if !bytes.Equal(r.Key, o.Key) || (r.Key == nil) != (o.Key == nil) ||
			!bytes.Equal(r.Value, o.Value) || (r.Value == nil) != (o.Value == nil) ||
			len(r.Headers) != len(o.Headers) {
			return fmt.Errorf("record %d differs after rebuilding", i-1)
		}
		return nil
	}); err != nil {
		// Offset deltas that are not 0, 1, 2... are normalised by the
		// builder only when they go backwards; the records must match.
		t.Fatalf("rebuilt batch: %v", err)
	}
}

func FuzzDecompress(f *testing.F) {
	src := bytes.Repeat([]byte("samsa record data "), 100)
	for _, c := range allCodecs {
		out, err := Compress(c, nil, src)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(out, uint8(c))
	}
	f.Add(snappy.Encode(nil, src), uint8(Snappy)) // raw snappy
	f.Add(zstdDeclaredSizeBomb(), uint8(Zstd))
	f.Fuzz(func(t *testing.T, data []byte, codec uint8) {
		c := Codec(codec % 8)
		var out []byte
		var err error
		n := allocated(func() { out, err = Decompress(c, data, fuzzDecompressLimit) })
		if n > allocBound(len(data), fuzzDecompressLimit) {
			t.Fatalf("Decompress(%s) of %d bytes allocated %d bytes", c, len(data), n)
		}
		if c > Zstd && !errors.Is(err, ErrUnknownCodec) {
			t.Fatalf("Decompress with codec %d: err %v, want ErrUnknownCodec", c, err)
		}
		if err == nil && c != None && len(out) > fuzzDecompressLimit {
			t.Fatalf("Decompress(%s) returned %d bytes, over the limit %d", c, len(out), fuzzDecompressLimit)
		}
		if err == nil && c != None && c <= Zstd {
			// Whatever decompresses must survive a round trip.
			again, err := Compress(c, nil, out)
			if err != nil {
				t.Fatalf("Compress(%s): %v", c, err)
			}
			back, err := Decompress(c, again, fuzzDecompressLimit)
			if err != nil || !bytes.Equal(back, out) {
				t.Fatalf("%s round trip of %d bytes: err %v, equal %v", c, len(out), err, bytes.Equal(back, out))
			}
		}
	})
}

func TestBuilderRoundTripEveryCodec(t *testing.T) {
	want := sampleRecords()
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := NewBuilder(c)
			b.ProducerID, b.ProducerEpoch, b.BaseSequence = 77, 3, math.MaxInt32-2
			for i, r := range want {
				b.Add(sampleTimestamps[i], r)
			}
			if b.Len() != len(want) {
				t.Fatalf("Len = %d, want %d", b.Len(), len(want))
			}
			batch, err := b.Build([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(batch, []byte("prefix")) {
				t.Fatal("Build did not append to dst")
			}
			batch = batch[len("prefix"):]
			h, err := ParseHeader(batch)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckCRC(batch); err != nil {
				t.Fatal(err)
			}
			if h.Size() != len(batch) || h.Compression() != c || h.NumRecords != int32(len(want)) ||
				h.LastOffsetDelta != int32(len(want)-1) || h.BaseOffset != 0 || h.PartitionLeaderEpoch != -1 {
				t.Fatalf("header %+v for a %d-byte %s batch of %d records", h, len(batch), c, len(want))
			}
			if h.BaseTimestamp != sampleTimestamps[0] || h.MaxTimestamp != 1_700_000_001_000 {
				t.Fatalf("timestamps base %d max %d", h.BaseTimestamp, h.MaxTimestamp)
			}
			if !h.Idempotent() || h.ProducerID != 77 || h.ProducerEpoch != 3 || h.LastSequence() != 1 {
				t.Fatalf("producer fields %+v, last sequence %d, want wrapped to 1", h, h.LastSequence())
			}
			if h.Transactional() || h.Control() || h.LogAppendTime() {
				t.Fatalf("unexpected attributes %#x", h.Attributes)
			}
			i := 0
			err = EachRecord(&h, batch, 1<<20, func(r *Record) error {
				w := want[i]
				if !sameBytes(r.Key, w.Key) || !sameBytes(r.Value, w.Value) {
					t.Errorf("record %d: key %q value %q, want %q %q", i, r.Key, r.Value, w.Key, w.Value)
				}
				if r.OffsetDelta != int32(i) || h.BaseTimestamp+r.TimestampDelta != sampleTimestamps[i] {
					t.Errorf("record %d: offset delta %d timestamp %d", i, r.OffsetDelta, h.BaseTimestamp+r.TimestampDelta)
				}
				if len(r.Headers) != len(w.Headers) {
					t.Fatalf("record %d: %d headers, want %d", i, len(r.Headers), len(w.Headers))
				}
				for j, hd := range r.Headers {
					if hd.Key != w.Headers[j].Key || !sameBytes(hd.Value, w.Headers[j].Value) {
						t.Errorf("record %d header %d: %q=%q, want %q=%q", i, j, hd.Key, hd.Value, w.Headers[j].Key, w.Headers[j].Value)
					}
				}
				i++
				return nil
			})
			if err != nil || i != len(want) {
				t.Fatalf("EachRecord: %v after %d records", err, i)
			}

			// Two batches back to back, as in a segment file.
			var seen []int
			two := append(bytes.Clone(batch), batch...)
			used, err := Batches(append(two, 0, 0, 0), func(h Header, b []byte) error {
				seen = append(seen, len(b))
				return nil
			})
			if err != nil || used != len(two) || len(seen) != 2 {
				t.Fatalf("Batches: used %d of %d, batches %v, err %v", used, len(two), seen, err)
			}
		})
	}
}

func TestBuilderFlagsAndReset(t *testing.T) {
	b := NewBuilder(None)
	b.Transactional, b.Control = true, true
	b.Add(10, Record{Value: []byte("x")})
	b.Reset()
	if b.Len() != 0 {
		t.Fatalf("Len after Reset = %d", b.Len())
	}
	b.Add(20, Record{Value: []byte("y")})
	batch, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(batch)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Transactional() || !h.Control() || h.NumRecords != 1 || h.BaseTimestamp != 20 || h.Idempotent() || h.LastSequence() != -1 {
		t.Fatalf("header %+v", h)
	}

	SetLogAppendTime(batch, 99)
	SetBaseOffset(batch, 1234)
	SetPartitionLeaderEpoch(batch, 7)
	if err := CheckCRC(batch); err != nil {
		t.Fatalf("CRC after rewriting LogAppendTime, base offset and epoch: %v", err)
	}
	h, _ = ParseHeader(batch)
	if !h.LogAppendTime() || h.MaxTimestamp != 99 || h.BaseOffset != 1234 || h.PartitionLeaderEpoch != 7 || h.NextOffset() != 1235 {
		t.Fatalf("header after rewrites %+v", h)
	}
}

func TestParseErrors(t *testing.T) {
	good := buildSample(t, None)
	if _, err := ParseHeader(good[:HeaderSize-1]); !errors.Is(err, ErrShortBatch) {
		t.Errorf("short header: %v", err)
	}
	bad := bytes.Clone(good)
	bad[posMagic] = 1
	if _, err := ParseHeader(bad); !errors.Is(err, ErrBadMagic) {
		t.Errorf("magic 1: %v", err)
	}
	bad = bytes.Clone(good)
	binary.BigEndian.PutUint32(bad[posLength:], 10)
	if _, err := ParseHeader(bad); !errors.Is(err, ErrBadLength) {
		t.Errorf("length 10: %v", err)
	}
	if _, err := Batches(bad, nil); !errors.Is(err, ErrBadLength) {
		t.Errorf("Batches with length 10: %v", err)
	}
	bad = bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	if err := CheckCRC(bad); !errors.Is(err, ErrBadCRC) {
		t.Errorf("flipped bit: %v", err)
	}
	for _, count := range []int32{4, 6} {
		bad = bytes.Clone(good)
		binary.BigEndian.PutUint32(bad[posRecordCount:], uint32(count))
		h, _ := ParseHeader(bad)
		if err := EachRecord(&h, bad, 1<<20, nil); !errors.Is(err, ErrBadCount) {
			t.Errorf("record count %d of 5: %v", count, err)
		}
	}
	bad = fixUp(good[:len(good)-1])
	h, _ := ParseHeader(bad)
	if err := EachRecord(&h, bad, 1<<20, nil); !errors.Is(err, ErrBadRecords) {
		t.Errorf("truncated last record: %v", err)
	}
	h, _ = ParseHeader(good)
	h.Attributes |= 7
	if err := EachRecord(&h, good, 1<<20, nil); !errors.Is(err, ErrUnknownCodec) {
		t.Errorf("codec 7: %v", err)
	}
}

func TestSnappyXerialFraming(t *testing.T) {
	// 100 KiB spans four 32 KiB xerial chunks.
	src := make([]byte, 100<<10)
	for i := range src {
		src[i] = byte(i * 7 / 13)
	}
	enc, err := Compress(Snappy, nil, src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(enc, xerialHeader) {
		t.Fatalf("snappy output starts %x, want the xerial header", enc[:16])
	}
	chunks := 0
	for rest := enc[len(xerialHeader):]; len(rest) > 0; chunks++ {
		n := binary.BigEndian.Uint32(rest)
		if int(n) > len(rest)-4 {
			t.Fatalf("chunk %d length %d overruns %d bytes", chunks, n, len(rest)-4)
		}
		dn, err := snappy.DecodedLen(rest[4 : 4+n])
		if err != nil || dn > 32<<10 {
			t.Fatalf("chunk %d decodes to %d bytes (err %v), want at most 32 KiB", chunks, dn, err)
		}
		rest = rest[4+n:]
	}
	if chunks != 4 {
		t.Fatalf("%d xerial chunks, want 4", chunks)
	}
	got, err := Decompress(Snappy, enc, len(src))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("xerial round trip: err %v, equal %v", err, bytes.Equal(got, src))
	}
	if _, err := Decompress(Snappy, enc, len(src)-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("xerial with a limit one byte short: %v, want ErrTooLarge", err)
	}

	// Raw snappy, as some clients send it.
	raw := snappy.Encode(nil, src)
	got, err = Decompress(Snappy, raw, len(src))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("raw snappy: err %v, equal %v", err, bytes.Equal(got, src))
	}
	if _, err := Decompress(Snappy, raw, len(src)-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("raw snappy with a limit one byte short: %v, want ErrTooLarge", err)
	}

	// Broken framings are errors, not panics.
	for name, b := range map[string][]byte{
		"truncated header":       enc[:10],
		"truncated chunk length": enc[:len(xerialHeader)+2],
		"chunk overruns":         enc[:len(xerialHeader)+100],
		"garbage chunk":          append(append(bytes.Clone(xerialHeader), 0, 0, 0, 3), 0xff, 0xff, 0xff),
	} {
		if _, err := Decompress(Snappy, b, 1<<20); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if got, err := Decompress(Snappy, xerialHeader, 10); err != nil || len(got) != 0 {
		t.Errorf("xerial header alone: %q, %v", got, err)
	}
}

func TestIncrementSequence(t *testing.T) {
	for _, tc := range []struct{ seq, delta, want int32 }{
		{0, 0, 0},
		{0, 5, 5},
		{100, 1, 101},
		{math.MaxInt32 - 5, 5, math.MaxInt32},
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 2, 5, 2},
		{math.MaxInt32, math.MaxInt32, math.MaxInt32 - 1},
	} {
		if got := IncrementSequence(tc.seq, tc.delta); got != tc.want {
			t.Errorf("IncrementSequence(%d, %d) = %d, want %d", tc.seq, tc.delta, got, tc.want)
		}
	}
	h := Header{BaseSequence: math.MaxInt32 - 1, LastOffsetDelta: 3}
	if got := h.LastSequence(); got != 1 {
		t.Errorf("LastSequence across the wrap = %d, want 1", got)
	}
	h = Header{BaseSequence: -1, LastOffsetDelta: 3}
	if got := h.LastSequence(); got != -1 {
		t.Errorf("LastSequence of a non-idempotent batch = %d, want -1", got)
	}
}

func TestVarints(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 64, -65, 8191, -8192, math.MaxInt32, math.MinInt32} {
		b := AppendVarint(nil, int32(v))
		if len(b) != VarintLen(v) {
			t.Errorf("VarintLen(%d) = %d, encoded %d bytes", v, VarintLen(v), len(b))
		}
		got, n, ok := ReadVarint(append(b, 0xee))
		if !ok || n != len(b) || int64(got) != v {
			t.Errorf("ReadVarint(%x) = %d, %d, %v, want %d", b, got, n, ok, v)
		}
	}
	for _, v := range []int64{math.MaxInt64, math.MinInt64, 1 << 40, -(1 << 40)} {
		b := AppendVarlong(nil, v)
		if len(b) != VarintLen(v) {
			t.Errorf("VarintLen(%d) = %d, encoded %d bytes", v, VarintLen(v), len(b))
		}
		got, n, ok := ReadVarlong(b)
		if !ok || n != len(b) || got != v {
			t.Errorf("ReadVarlong(%x) = %d, %d, %v, want %d", b, got, n, ok, v)
		}
		if _, _, ok := ReadVarint(b); ok {
			t.Errorf("ReadVarint accepted the varlong %d", v)
		}
	}
	if VarintLen(math.MaxInt64) != 10 || VarintLen(0) != 1 {
		t.Errorf("VarintLen bounds: %d %d", VarintLen(math.MaxInt64), VarintLen(0))
	}
	for name, b := range map[string][]byte{
		"empty":              nil,
		"truncated":          {0x80, 0x80},
		"six bytes":          {0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		"over int32":         AppendVarlong(nil, math.MaxInt32+1),
		"eleven-byte varint": bytes.Repeat([]byte{0xff}, 11),
	} {
		if _, _, ok := ReadVarint(b); ok {
			t.Errorf("ReadVarint(%s %x) succeeded", name, b)
		}
	}
	if _, _, ok := ReadVarlong(bytes.Repeat([]byte{0xff}, 11)); ok {
		t.Error("ReadVarlong accepted 11 bytes")
	}

	// A record whose key length runs past the record is malformed.
	rec := AppendRecord(nil, &Record{Key: []byte("abc"), Value: []byte("v")})
	r, n, err := ReadRecord(rec)
	if err != nil || n != len(rec) || string(r.Key) != "abc" || string(r.Value) != "v" {
		t.Fatalf("ReadRecord: %+v %d %v", r, n, err)
	}
	bad := bytes.Clone(rec)
	bad[4] = 0x7e // key length 63
	if _, _, err := ReadRecord(bad); !errors.Is(err, ErrBadRecords) {
		t.Errorf("key length past the record: %v", err)
	}
}

// TestDecompressionBombs feeds every codec 10 MB of zeros compressed, with
// a 1 MB limit: each must fail with ErrTooLarge, having allocated about
// the limit, not the 10 MB.
func TestDecompressionBombs(t *testing.T) {
	const limit = 1 << 20
	zeros := make([]byte, 10<<20)
	for _, c := range []Codec{Gzip, Snappy, LZ4, Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			bomb, err := Compress(c, nil, zeros)
			if err != nil {
				t.Fatal(err)
			}
			if len(bomb) > 1<<20 {
				t.Fatalf("%s compressed 10 MB of zeros to %d bytes", c, len(bomb))
			}
			var out []byte
			n := allocated(func() { out, err = Decompress(c, bomb, limit) })
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decompress(%s): %d bytes, err %v, want ErrTooLarge", c, len(out), err)
			}
			if n > 8*limit {
				t.Errorf("Decompress(%s) of a %d-byte bomb allocated %d bytes with a %d-byte limit", c, len(bomb), n, limit)
			}
			// The same data within the limit decompresses.
			small, _ := Compress(c, nil, zeros[:limit])
			if out, err := Decompress(c, small, limit); err != nil || len(out) != limit {
				t.Errorf("Decompress(%s) of exactly the limit: %d bytes, %v", c, len(out), err)
			}
		})
	}
}

// TestZstdDeclaredContentSizeNotTrusted sends an 18-byte zstd frame whose
// header claims 256 MiB of content. The decoder must not allocate what the
// header claims before checking it against the limit.
func TestZstdDeclaredContentSizeNotTrusted(t *testing.T) {
	const limit = 1 << 20
	bomb := zstdDeclaredSizeBomb()
	var err error
	n := allocated(func() { _, err = Decompress(Zstd, bomb, limit) })
	if err == nil {
		t.Fatal("Decompress accepted a frame whose content size does not match its data")
	}
	if n > 8*limit {
		t.Errorf("Decompress(zstd) of %d bytes allocated %d bytes with a %d-byte limit: "+
			"the frame's declared content size was trusted", len(bomb), n, limit)
	}
}

func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) && (a == nil) == (b == nil) }
