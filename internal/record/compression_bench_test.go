package record

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// realisticRecords returns about size bytes of uncompressed records shaped
// like a typical event stream: short keys drawn from a few thousand ids, JSON
// values with repeated field names, varying numbers and a trace header.
func realisticRecords(tb testing.TB, size int) []byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	events := []string{"page_view", "click", "add_to_cart", "checkout", "login", "logout"}
	b := NewBuilder(None)
	ts := int64(1_700_000_000_000)
	for i := 0; b.UncompressedSize()-HeaderSize < size; i++ {
		user := rng.IntN(5000)
		ts += int64(rng.IntN(50))
		key := fmt.Appendf(nil, "user-%05d", user)
		value := fmt.Appendf(nil,
			`{"event":%q,"user_id":%d,"session":"%016x","ts":%d,"price":%d.%02d,"path":"/shop/item/%d","ok":%t}`,
			events[rng.IntN(len(events))], user, rng.Uint64(), ts, rng.IntN(500), rng.IntN(100), rng.IntN(20000), rng.IntN(10) != 0)
		b.Add(ts, Record{Key: key, Value: value, Headers: []RecordHeader{
			{Key: "trace-id", Value: fmt.Appendf(nil, "%032x", rng.Uint64())},
		}})
	}
	return b.records
}

// randomBytes returns n incompressible bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

// benchLimit is the decompression limit the broker uses by default
// (socket.request.max.bytes): far larger than any batch, so it must not
// drive allocation.
const benchLimit = 100 << 20

func BenchmarkDecompress(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		src := realisticRecords(b, size)
		for _, c := range []Codec{Gzip, Snappy, LZ4, Zstd} {
			comp, err := Compress(c, nil, src)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%dKiB", c, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(src)))
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					if _, err := Decompress(c, comp, benchLimit); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecompressForeign decodes frames as other clients write them:
// zstd streamed without a content size (Java's zstd-jni) and lz4 in 4 MiB
// blocks with a content checksum (pierrec/lz4's defaults, which franz-go
// and Sarama use).
func BenchmarkDecompressForeign(b *testing.B) {
	src := realisticRecords(b, 64<<10)
	var lbuf bytes.Buffer
	zenc, _ := zstd.NewWriter(nil, zstd.WithSingleSegment(false))
	zframe := withoutContentSize(b, zenc.EncodeAll(src, nil))
	lw := lz4.NewWriter(&lbuf)
	lw.Write(src)
	lw.Close()
	for _, tc := range []struct {
		name string
		c    Codec
		data []byte
	}{
		{"zstd-stream", Zstd, zframe},
		{"lz4-4MiB-blocks", LZ4, lbuf.Bytes()},
	} {
		b.Run(tc.name+"/64KiB", func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := Decompress(tc.c, tc.data, benchLimit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// withoutContentSize rewrites a zstd frame that is not single-segment as a
// streaming encoder writes it, without its content size.
func withoutContentSize(tb testing.TB, frame []byte) []byte {
	tb.Helper()
	fhd := frame[4]
	if fhd&0x20 != 0 || fhd&3 != 0 {
		tb.Fatalf("frame descriptor %#x: single-segment or with a dictionary", fhd)
	}
	n := [4]int{0, 2, 4, 8}[fhd>>6]
	out := append([]byte{}, frame[:4]...)
	out = append(out, fhd&0x3f, frame[5])
	return append(out, frame[6+n:]...)
}

func BenchmarkCompress(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		src := realisticRecords(b, size)
		for _, c := range []Codec{Gzip, Snappy, LZ4, Zstd} {
			b.Run(fmt.Sprintf("%s/%dKiB", c, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(src)))
				b.ReportAllocs()
				var dst []byte
				defer reportCPU(b)()
				for b.Loop() {
					var err error
					if dst, err = Compress(c, dst[:0], src); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// reportCPU, deferred at the start of a benchmark, reports the process CPU
// time per operation as cpu-ns/op. On a busy machine wall time per
// operation mostly measures the other load; CPU time much less so.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, _ := processCPU(); ok && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
