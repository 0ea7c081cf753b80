package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// levelsToTest are, per codec, the levels a test compresses at: every
// level Kafka allows, but a sample of zstd's negative ones.
func levelsToTest(c Codec) []int {
	switch c {
	case Gzip:
		return []int{-1, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	case LZ4:
		var l []int
		for i := LZ4MinLevel; i <= LZ4MaxLevel; i++ {
			l = append(l, i)
		}
		return l
	case Zstd:
		l := []int{ZstdMinLevel, -1000, -5, -1, 0}
		for i := 1; i <= ZstdMaxLevel; i++ {
			l = append(l, i)
		}
		return l
	}
	return []int{0}
}

func TestCompressLevelRoundTrip(t *testing.T) {
	src := realisticRecords(t, 200<<10)
	for _, c := range allCodecs {
		var smallest, largest int
		for _, level := range levelsToTest(c) {
			out, err := CompressLevel(c, level, []byte("prefix"), src)
			if err != nil {
				t.Fatalf("CompressLevel(%s, %d): %v", c, level, err)
			}
			if !bytes.HasPrefix(out, []byte("prefix")) {
				t.Fatalf("CompressLevel(%s, %d) did not append to dst", c, level)
			}
			out = out[len("prefix"):]
			back, err := Decompress(c, out, len(src))
			if err != nil || !bytes.Equal(back, src) {
				t.Fatalf("%s level %d: round trip of %d bytes: err %v, equal %v", c, level, len(src), err, bytes.Equal(back, src))
			}
			if level == levelsToTest(c)[0] {
				smallest = len(out)
			}
			largest = len(out)
		}
		// The highest level must compress at least as well as the lowest.
		if largest > smallest {
			t.Errorf("%s: highest level gives %d bytes, lowest %d", c, largest, smallest)
		}
	}
}

func TestCheckLevel(t *testing.T) {
	for _, tc := range []struct {
		c       Codec
		level   int
		setting string // "" if valid
	}{
		{Gzip, -1, ""}, {Gzip, 1, ""}, {Gzip, 9, ""},
		{Gzip, 0, "compression.gzip.level"}, {Gzip, 10, "compression.gzip.level"}, {Gzip, -2, "compression.gzip.level"},
		{LZ4, 1, ""}, {LZ4, 9, ""}, {LZ4, 17, ""},
		{LZ4, 0, "compression.lz4.level"}, {LZ4, 18, "compression.lz4.level"}, {LZ4, -1, "compression.lz4.level"},
		{Zstd, -131072, ""}, {Zstd, 0, ""}, {Zstd, 3, ""}, {Zstd, 22, ""},
		{Zstd, 23, "compression.zstd.level"}, {Zstd, -131073, "compression.zstd.level"},
		{None, 12345, ""}, {Snappy, -7, ""},
	} {
		err := CheckLevel(tc.c, tc.level)
		if tc.setting == "" {
			if err != nil {
				t.Errorf("CheckLevel(%s, %d) = %v, want nil", tc.c, tc.level, err)
			}
			continue
		}
		if !errors.Is(err, ErrBadLevel) || !strings.Contains(err.Error(), tc.setting) {
			t.Errorf("CheckLevel(%s, %d) = %v, want ErrBadLevel naming %s", tc.c, tc.level, err, tc.setting)
		}
		if _, cerr := CompressLevel(tc.c, tc.level, nil, []byte("x")); !errors.Is(cerr, ErrBadLevel) {
			t.Errorf("CompressLevel(%s, %d) = %v, want ErrBadLevel", tc.c, tc.level, cerr)
		}
	}
	if err := CheckLevel(Codec(7), 1); !errors.Is(err, ErrUnknownCodec) {
		t.Errorf("CheckLevel(codec 7) = %v", err)
	}
	for c, want := range map[Codec]int{None: 0, Gzip: -1, Snappy: 0, LZ4: 9, Zstd: 3} {
		if got := DefaultLevel(c); got != want || CheckLevel(c, got) != nil {
			t.Errorf("DefaultLevel(%s) = %d, want %d", c, got, want)
		}
	}
}

func TestBuilderLevel(t *testing.T) {
	sizes := map[int]int{}
	for _, level := range []int{0, 1, 9} {
		b := NewBuilder(Gzip)
		b.Level = level
		for i, r := range sampleRecords() {
			b.Add(sampleTimestamps[i], r)
		}
		batch, err := b.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ParseHeader(batch)
		if err := EachRecord(&h, batch, 1<<20, nil); err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		sizes[level] = len(batch)
	}
	if sizes[1] <= sizes[9] {
		t.Errorf("gzip batch sizes by level %v: level 1 should be larger than 9", sizes)
	}
	b := NewBuilder(LZ4)
	b.Level = 18
	if _, err := b.Build(nil); !errors.Is(err, ErrBadLevel) {
		t.Errorf("Build at lz4 level 18: %v", err)
	}
}

// TestLZ4FrameFormat checks the frame header against the bytes Kafka's
// Lz4BlockOutputStream writes, and xxh32 against its specification.
func TestLZ4FrameFormat(t *testing.T) {
	if want := []byte{0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82}; !bytes.Equal(lz4FrameHeader, want) {
		t.Errorf("frame header %x, want Kafka's %x", lz4FrameHeader, want)
	}
	for in, want := range map[string]uint32{
		"":    0x02cc5d05,
		"a":   0x550d7456,
		"abc": 0x32d153ff,
		"Nobody inspects the spammish repetition": 0xe2293b2f,
	} {
		if got := xxh32([]byte(in)); got != want {
			t.Errorf("xxh32(%q) = %#08x, want %#08x", in, got, want)
		}
	}
	// Blocks are 64 KiB, and incompressible ones are stored raw.
	src := randomBytes(200<<10, 3)
	out, _ := Compress(LZ4, nil, src)
	f, rest, ok, err := parseLZ4Frame(out)
	if err != nil || !ok {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		data, raw, next, err := nextLZ4Block(&f, rest)
		if err != nil {
			t.Fatal(err)
		}
		if data == nil {
			if i != 4 || len(next) != 0 {
				t.Fatalf("%d blocks, %d bytes after the end mark", i, len(next))
			}
			break
		}
		if !raw || len(data) > lz4BlockSize {
			t.Fatalf("block %d: raw %v, %d bytes", i, raw, len(data))
		}
		rest = next
	}
}

// TestLZ4Interop reads frames that pierrec/lz4's writer makes with every
// option Samsa's peers use (franz-go and Sarama write 4 MiB blocks and a
// content checksum), and has its reader read ours at every level.
func TestLZ4Interop(t *testing.T) {
	inputs := map[string][]byte{
		"empty":     {},
		"one byte":  {'x'},
		"records":   realisticRecords(t, 300<<10),
		"zeros":     make([]byte, 5<<20),
		"one block": realisticRecords(t, 64<<10)[:64<<10],
	}
	inputs["random"] = randomBytes(100<<10, 5)

	options := map[string][]lz4.Option{
		"defaults": nil,
		"64k":      {lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false)},
		"256k":     {lz4.BlockSizeOption(lz4.Block256Kb), lz4.BlockChecksumOption(true)},
		"1m":       {lz4.BlockSizeOption(lz4.Block1Mb), lz4.CompressionLevelOption(lz4.Level5)},
		"4m":       {lz4.BlockSizeOption(lz4.Block4Mb), lz4.CompressionLevelOption(lz4.CCompatFast)},
		"parallel": {lz4.BlockSizeOption(lz4.Block64Kb), lz4.ConcurrencyOption(4), lz4.BlockChecksumOption(true)},
	}
	for iname, in := range inputs {
		for oname, opts := range options {
			opts := append([]lz4.Option{lz4.SizeOption(uint64(len(in)))}, opts...)
			for _, withSize := range []bool{false, true} {
				var buf bytes.Buffer
				w := lz4.NewWriter(&buf)
				o := opts[1:]
				if withSize {
					o = opts
				}
				if err := w.Apply(o...); err != nil {
					t.Fatal(err)
				}
				w.Write(in)
				w.Close()
				got, err := Decompress(LZ4, buf.Bytes(), len(in))
				if err != nil || !bytes.Equal(got, in) {
					t.Fatalf("%s with %s (size %v): err %v, equal %v", iname, oname, withSize, err, bytes.Equal(got, in))
				}
				if len(in) > 0 {
					if _, err := Decompress(LZ4, buf.Bytes(), len(in)-1); !errors.Is(err, ErrTooLarge) {
						t.Fatalf("%s with %s, limit one short: %v", iname, oname, err)
					}
				}
				// Two frames in a row, with a skippable frame between.
				two := append(bytes.Clone(buf.Bytes()), 0x5a, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 'h', 'i')
				two = append(two, buf.Bytes()...)
				got, err = Decompress(LZ4, two, 2*len(in))
				if err != nil || !bytes.Equal(got, append(bytes.Clone(in), in...)) {
					t.Fatalf("%s with %s twice: err %v", iname, oname, err)
				}
			}
		}
		for _, level := range levelsToTest(LZ4) {
			out, _ := CompressLevel(LZ4, level, nil, in)
			got, err := io.ReadAll(lz4.NewReader(bytes.NewReader(out)))
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("pierrec reading %s at level %d: err %v, equal %v", iname, level, err, bytes.Equal(got, in))
			}
		}
	}
}

// TestLZ4Errors covers what pierrec's writer does not produce: linked
// blocks, and the ways a frame can be broken.
func TestLZ4Errors(t *testing.T) {
	frame := func(flg byte, blocks ...[]byte) []byte {
		f := binary.LittleEndian.AppendUint32(nil, lz4Magic)
		f = append(f, flg, 0x40)
		f = append(f, byte(xxh32(f[4:6])>>8))
		for _, b := range blocks {
			f = append(f, b...)
		}
		return binary.LittleEndian.AppendUint32(f, 0)
	}
	block := func(raw bool, data ...byte) []byte {
		n := uint32(len(data))
		if raw {
			n |= lz4Uncompressed
		}
		return append(binary.LittleEndian.AppendUint32(nil, n), data...)
	}
	first := block(true, []byte("0123456789abcdef")...)
	// A match of 16 bytes at offset 16, reaching into the previous
	// block, then 5 literals.
	second := block(false, 0x0c, 16, 0, 0x50, 'W', 'X', 'Y', 'Z', '!')
	linked := frame(lz4Version, first, second)
	got, err := Decompress(LZ4, linked, 100)
	if want := "0123456789abcdef0123456789abcdefWXYZ!"; err != nil || string(got) != want {
		t.Fatalf("linked blocks: %q, %v; want %q", got, err, want)
	}
	if _, err := Decompress(LZ4, frame(lz4Version|lz4FlagIndep, first, second), 100); err == nil {
		t.Fatal("independent blocks reached into the previous block")
	}

	good, _ := Compress(LZ4, nil, realisticRecords(t, 100<<10))
	badHC := bytes.Clone(good)
	badHC[6] ^= 1
	badBD := bytes.Clone(good)
	badBD[5] = 0x30
	legacy := binary.LittleEndian.AppendUint32(nil, 0x184C2102)
	dict := frame(lz4Version | lz4FlagIndep | lz4FlagDict)
	bigBlock := frame(lz4Version|lz4FlagIndep, binary.LittleEndian.AppendUint32(nil, 64<<10+1))
	for name, b := range map[string][]byte{
		"truncated header":     good[:5],
		"truncated block":      good[:100],
		"no end mark":          good[:len(good)-4],
		"trailing garbage":     append(bytes.Clone(good), 1, 2, 3, 4, 5),
		"header checksum":      badHC,
		"block size 4":         badBD,
		"legacy frame":         legacy,
		"dictionary":           dict,
		"block over 64 KiB":    bigBlock,
		"corrupt block":        frame(lz4Version|lz4FlagIndep, block(false, 0x0c, 16, 0, 0x50, 'W', 'X', 'Y', 'Z', '!')),
		"truncated skip frame": {0x50, 0x2a, 0x4d, 0x18, 9, 0, 0, 0},
	} {
		if _, err := Decompress(LZ4, b, 1<<20); err == nil || errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: err %v, want a format error", name, err)
		}
	}
}

// TestDecompressSizeClaims sends, for each codec, small data claiming a
// large size, with a limit far above it, as the broker's is: nothing may
// allocate what the data claims.
func TestDecompressSizeClaims(t *testing.T) {
	const limit = 100 << 20
	gz, _ := Compress(Gzip, nil, []byte("hello"))
	binary.LittleEndian.PutUint32(gz[len(gz)-4:], math.MaxUint32) // ISIZE
	lz := binary.LittleEndian.AppendUint32(nil, lz4Magic)
	lz = append(lz, lz4Version|lz4FlagIndep|lz4FlagSize, 0x70)
	lz = binary.LittleEndian.AppendUint64(lz, 1<<40)
	lz = append(lz, byte(xxh32(lz[4:14])>>8))
	lz = append(binary.LittleEndian.AppendUint32(lz, 0x01), 0x10) // one compressed byte
	lz = binary.LittleEndian.AppendUint32(lz, 0)
	zs := zstdDeclaredSizeBomb()
	binary.LittleEndian.PutUint64(zs[6:], 64<<20)
	for _, tc := range []struct {
		c    Codec
		data []byte
	}{
		{Gzip, gz},
		{Snappy, binary.AppendUvarint(nil, 50<<20)},
		{Snappy, append(bytes.Clone(xerialHeader), 0, 0, 0, 5, 0x80, 0x80, 0x80, 0x19, 0)},
		{LZ4, lz},
		{Zstd, zs},
	} {
		var err error
		n := allocated(func() { _, err = Decompress(tc.c, tc.data, limit) })
		if err == nil {
			t.Errorf("%s: %x decoded", tc.c, tc.data)
		}
		if n > 1<<20 {
			t.Errorf("%s: %d bytes claiming a large size allocated %d bytes (err %v)", tc.c, len(tc.data), n, err)
		}
	}
}

// TestZstdFramesWithoutContentSize covers frames as Java's zstd-jni
// streams them: no content size, several blocks.
func TestZstdFramesWithoutContentSize(t *testing.T) {
	src := realisticRecords(t, 1<<20)
	stream := func(in []byte) []byte {
		var buf bytes.Buffer
		w, _ := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		w.Write(in[:len(in)/2])
		w.Flush()
		w.Write(in[len(in)/2:])
		w.Close()
		return buf.Bytes()
	}
	enc := stream(src)
	if _, _, exact, ok := zstdBound(enc); !ok || exact || enc[4]>>6 != 0 {
		t.Fatalf("streamed frame: descriptor %#x, bound exact %v ok %v; want no content size", enc[4], exact, ok)
	}
	got, err := Decompress(Zstd, enc, len(src))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("streamed frame: err %v, equal %v", err, bytes.Equal(got, src))
	}
	if _, err := Decompress(Zstd, enc, len(src)-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("streamed frame, limit one short: %v", err)
	}
	// As Java's zstd-jni streams: full blocks, no content size.
	enc2, _ := zstd.NewWriter(nil, zstd.WithSingleSegment(false))
	java := withoutContentSize(t, enc2.EncodeAll(src, nil))
	bound, estimate, exact, ok := zstdBound(java)
	if !ok || exact || bound < uint64(len(src)) || estimate > bound || bound > uint64(len(src))+zstdMaxBlockSize {
		t.Fatalf("Java-like frame: bound %d estimate %d exact %v ok %v for %d bytes", bound, estimate, exact, ok, len(src))
	}
	got, err = Decompress(Zstd, java, len(src))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("Java-like frame: err %v, equal %v", err, bytes.Equal(got, src))
	}
	if _, err := Decompress(Zstd, java, len(src)-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Java-like frame, limit one short: %v", err)
	}

	// Frames back to back, with a skippable frame, decode to the
	// concatenation.
	two := append(bytes.Clone(enc), 0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3)
	two, _ = Compress(Zstd, two, src[:1000])
	got, err = Decompress(Zstd, two, 2*len(src))
	if err != nil || !bytes.Equal(got, append(bytes.Clone(src), src[:1000]...)) {
		t.Fatalf("two frames: err %v", err)
	}
	if _, err := Decompress(Zstd, append(bytes.Clone(enc), 1, 2, 3), len(src)); err == nil || errors.Is(err, ErrTooLarge) {
		t.Fatalf("trailing garbage: %v", err)
	}

	// A streamed bomb allocates about the limit: at most 2.25 times it
	// (see decompressZstd).
	const limit = 1 << 20
	bomb := stream(make([]byte, 20<<20))
	n := allocated(func() { _, err = Decompress(Zstd, bomb, limit) })
	if !errors.Is(err, ErrTooLarge) || n > 5*limit/2 {
		t.Errorf("streamed %d-byte bomb: err %v, allocated %d bytes with a %d-byte limit", len(bomb), err, n, limit)
	}
	// RLE blocks have an exact size, so a frame of them is refused
	// without decoding.
	rle := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38} // no content size, 8 MiB window
	for range 100 {
		hdr := uint32(1)<<1 | 128<<10<<3
		rle = append(rle, byte(hdr), byte(hdr>>8), byte(hdr>>16), 0)
	}
	rle[len(rle)-4] |= 1 // last block
	n = allocated(func() { _, err = Decompress(Zstd, rle, limit) })
	if !errors.Is(err, ErrTooLarge) || n > 64<<10 {
		t.Errorf("RLE bomb: err %v, allocated %d bytes", err, n)
	}
	if got, err := Decompress(Zstd, rle, 100*128<<10); err != nil || len(got) != 100*128<<10 {
		t.Errorf("RLE frame within the limit: %d bytes, %v", len(got), err)
	}
}

func TestGzipMultistream(t *testing.T) {
	a, _ := Compress(Gzip, nil, []byte("first member, "))
	b, _ := CompressLevel(Gzip, 9, a, []byte("second member"))
	got, err := Decompress(Gzip, b, 100)
	if err != nil || string(got) != "first member, second member" {
		t.Fatalf("%q, %v", got, err)
	}
	if _, err := Decompress(Gzip, b, 26); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit one short: %v", err)
	}
}

// TestDecompressLimitEdges: a limit of 0 (or below) admits only empty
// output.
func TestDecompressLimitEdges(t *testing.T) {
	for _, c := range []Codec{Gzip, Snappy, LZ4, Zstd} {
		for _, limit := range []int{0, -1} {
			empty, _ := Compress(c, nil, nil)
			if got, err := Decompress(c, empty, limit); err != nil || len(got) != 0 {
				t.Errorf("%s: empty input with limit %d: %q, %v", c, limit, got, err)
			}
			one, _ := Compress(c, nil, []byte{1})
			if _, err := Decompress(c, one, limit); !errors.Is(err, ErrTooLarge) {
				t.Errorf("%s: one byte with limit %d: %v", c, limit, err)
			}
		}
	}
}

// TestCompressionConcurrent runs every codec and level at once, for -race
// and for the pools.
func TestCompressionConcurrent(t *testing.T) {
	src := realisticRecords(t, 100<<10)
	var wg sync.WaitGroup
	for _, c := range allCodecs {
		for _, level := range levelsToTest(c)[:min(3, len(levelsToTest(c)))] {
			wg.Go(func() {
				for i := range 5 {
					in := src[:len(src)-i*1000]
					out, err := CompressLevel(c, level, nil, in)
					if err != nil {
						t.Error(err)
						return
					}
					back, err := Decompress(c, out, len(in))
					if err != nil || !bytes.Equal(back, in) {
						t.Errorf("%s level %d: err %v", c, level, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}

// FuzzCompressLevel checks that whatever compresses at any level
// decompresses back.
func FuzzCompressLevel(f *testing.F) {
	f.Add([]byte("samsa samsa samsa"), uint8(Zstd), int32(-7))
	f.Add(bytes.Repeat([]byte{0}, 70<<10), uint8(LZ4), int32(3))
	f.Add([]byte{}, uint8(Gzip), int32(9))
	f.Fuzz(func(t *testing.T, data []byte, codec uint8, level int32) {
		c := Codec(codec % 5)
		out, err := CompressLevel(c, int(level), nil, data)
		if (err == nil) != (CheckLevel(c, int(level)) == nil) {
			t.Fatalf("CompressLevel(%s, %d): %v, CheckLevel: %v", c, level, err, CheckLevel(c, int(level)))
		}
		if err != nil {
			return
		}
		back, err := Decompress(c, out, len(data))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%s level %d round trip of %d bytes: err %v", c, level, len(data), err)
		}
	})
}

// FuzzLZ4Interop compares the frame reader with pierrec/lz4's: what it
// decodes, ours decodes the same.
func FuzzLZ4Interop(f *testing.F) {
	for _, opts := range [][]lz4.Option{
		nil,
		{lz4.BlockSizeOption(lz4.Block64Kb), lz4.BlockChecksumOption(true), lz4.SizeOption(3000)},
	} {
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		w.Apply(opts...)
		w.Write(bytes.Repeat([]byte("abc"), 1000))
		w.Close()
		f.Add(buf.Bytes())
	}
	out, _ := Compress(LZ4, nil, realisticRecords(f, 4<<10))
	f.Add(out)
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 20
		want, werr := io.ReadAll(io.LimitReader(lz4.NewReader(bytes.NewReader(data)), limit+1))
		got, err := Decompress(LZ4, data, limit)
		if err == nil && werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("decoded %d bytes, pierrec %d", len(got), len(want))
		}
		// pierrec also reads legacy frames, and takes any magic
		// 0x184D2Axx for a skippable frame, where the format has only
		// 0x184D2A50..5F.
		legacy := len(data) >= 4 && binary.LittleEndian.Uint32(data) == 0x184C2102
		lenient := err != nil && strings.Contains(err.Error(), "bad frame magic 0x184d2a")
		if werr == nil && len(want) <= limit && err != nil && !legacy && !lenient {
			t.Fatalf("pierrec decoded %d bytes, we failed: %v", len(want), err)
		}
	})
}

// FuzzZstdBound checks the frame walk against the decoder: whatever
// decodes must be within the walk's bound, and exactly it if exact.
func FuzzZstdBound(f *testing.F) {
	src := realisticRecords(f, 8<<10)
	out, _ := Compress(Zstd, nil, src)
	f.Add(out)
	var buf bytes.Buffer
	w, _ := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<10))
	w.Write(src)
	w.Close()
	f.Add(buf.Bytes())
	f.Add(zstdDeclaredSizeBomb())
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<20))
	f.Fuzz(func(t *testing.T, data []byte) {
		bound, estimate, exact, ok := zstdBound(data)
		if ok && (estimate > bound || exact && estimate != bound) {
			t.Fatalf("walk: bound %d, estimate %d, exact %v", bound, estimate, exact)
		}
		got, err := dec.DecodeAll(data, nil)
		if err != nil {
			return
		}
		if !ok || uint64(len(got)) > bound || exact && uint64(len(got)) != bound {
			t.Fatalf("decoded %d bytes; walk: bound %d exact %v ok %v", len(got), bound, exact, ok)
		}
	})
}
