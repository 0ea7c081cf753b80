package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
)

// Codec is a batch compression codec, numbered as in the batch attributes.
type Codec int8

// The codecs Kafka defines.
const (
	None   Codec = 0
	Gzip   Codec = 1
	Snappy Codec = 2
	LZ4    Codec = 3
	Zstd   Codec = 4
)

// String returns the codec's name as Kafka's compression.type spells it.
func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// ParseCodec maps a compression.type value (other than "producer") to a
// codec.
func ParseCodec(s string) (Codec, error) {
	switch s {
	case "none", "uncompressed":
		return None, nil
	case "gzip":
		return Gzip, nil
	case "snappy":
		return Snappy, nil
	case "lz4":
		return LZ4, nil
	case "zstd":
		return Zstd, nil
	}
	return None, fmt.Errorf("unknown compression type %q", s)
}

// ErrTooLarge is returned when decompressed data would exceed the limit.
var ErrTooLarge = errors.New("decompressed records exceed the size limit")

// ErrBadLevel is returned for a compression level outside the range Kafka
// allows for the codec (KIP-390).
var ErrBadLevel = errors.New("compression level out of range")

// Compression levels as Kafka's producer and topic settings give them
// (KIP-390): compression.gzip.level, compression.lz4.level and
// compression.zstd.level. None and Snappy have no level.
const (
	GzipMinLevel     = 1
	GzipMaxLevel     = 9
	GzipDefaultLevel = -1 // the codec's own default, as java.util.zip's DEFAULT_COMPRESSION

	LZ4MinLevel     = 1
	LZ4MaxLevel     = 17
	LZ4DefaultLevel = 9

	ZstdMinLevel     = -131072 // zstd's negative "fast" levels
	ZstdMaxLevel     = 22
	ZstdDefaultLevel = 3
)

// DefaultLevel returns Kafka's default level for the codec, or 0 for a
// codec without levels.
func DefaultLevel(c Codec) int {
	switch c {
	case Gzip:
		return GzipDefaultLevel
	case LZ4:
		return LZ4DefaultLevel
	case Zstd:
		return ZstdDefaultLevel
	}
	return 0
}

// CheckLevel reports whether level is a valid compression.<codec>.level for
// the codec, naming the setting and its range when it is not. Codecs without
// levels (None, Snappy) accept and ignore any level.
func CheckLevel(c Codec, level int) error {
	switch c {
	case None, Snappy:
		return nil
	case Gzip:
		if level == GzipDefaultLevel || (level >= GzipMinLevel && level <= GzipMaxLevel) {
			return nil
		}
		return fmt.Errorf("%w: compression.gzip.level %d: must be %d (the codec default) or between %d and %d",
			ErrBadLevel, level, GzipDefaultLevel, GzipMinLevel, GzipMaxLevel)
	case LZ4:
		if level >= LZ4MinLevel && level <= LZ4MaxLevel {
			return nil
		}
		return fmt.Errorf("%w: compression.lz4.level %d: must be between %d and %d", ErrBadLevel, level, LZ4MinLevel, LZ4MaxLevel)
	case Zstd:
		if level >= ZstdMinLevel && level <= ZstdMaxLevel {
			return nil
		}
		return fmt.Errorf("%w: compression.zstd.level %d: must be between %d and %d", ErrBadLevel, level, ZstdMinLevel, ZstdMaxLevel)
	}
	return ErrUnknownCodec
}

// Compress appends src compressed with codec at Kafka's default level for
// the codec to dst.
func Compress(codec Codec, dst, src []byte) ([]byte, error) {
	return CompressLevel(codec, DefaultLevel(codec), dst, src)
}

// CompressLevel appends src compressed with codec at level to dst. The level
// is Kafka's compression.<codec>.level (KIP-390), checked by CheckLevel and
// ignored for None and Snappy. The levels map onto the Go codecs so that
// they mean what they mean to the Java client:
//
//   - gzip -1, 1..9: the same levels of klauspost/compress/gzip (zlib's).
//   - lz4 9 (the default): pierrec/lz4's fast compressor, as Java uses
//     lz4-java's fast compressor for 9. Any other level n: its HC
//     compressor searching 2^(n-1) candidates per position, as LZ4 HC does
//     for levels 3..9; lacking LZ4 HC's optimal parser of levels 10..12,
//     levels 10..17 keep doubling the depth, up to the whole 64 KiB window
//     at 17. As in Java, level 9 is faster and compresses less than 8.
//   - zstd: klauspost/compress/zstd has four levels, chosen by the
//     reference level each approaches: up to 2 (all negative levels too)
//     SpeedFastest; 0 (zstd's "default") and 3..5 SpeedDefault; 6..9
//     SpeedBetterCompression; 10..22 SpeedBestCompression.
//
// Encoders are pooled or cached per level and safe for concurrent use.
func CompressLevel(codec Codec, level int, dst, src []byte) ([]byte, error) {
	if err := CheckLevel(codec, level); err != nil {
		return nil, err
	}
	switch codec {
	case None:
		return append(dst, src...), nil
	case Gzip:
		return compressGzip(dst, src, level)
	case Snappy:
		return compressSnappy(dst, src), nil
	case LZ4:
		return compressLZ4(dst, src, level), nil
	case Zstd:
		return zstdEncoderFor(level).EncodeAll(src, dst), nil
	}
	return nil, ErrUnknownCodec
}

// Decompress returns src decompressed with codec, failing with ErrTooLarge
// rather than producing more than maxBytes. It trusts a size the data
// declares (a gzip trailer, a zstd or lz4 frame content size, a snappy
// length) no further than maxBytes and what the input can expand to, and
// sizes its output from it, or from the frames' structure, so that valid
// data takes one allocation. It allocates at most about maxBytes, or up to
// twice that while growing for data that declares no size, and about 2.25
// times for a hostile zstd frame (see decompressZstd). The broker calls it
// on every compressed batch produced, the client on every batch fetched.
// None returns src itself, unchecked.
func Decompress(codec Codec, src []byte, maxBytes int) ([]byte, error) {
	maxBytes = max(maxBytes, 0)
	switch codec {
	case None:
		return src, nil
	case Gzip:
		return decompressGzip(src, maxBytes)
	case Snappy:
		return decompressSnappy(src, maxBytes)
	case LZ4:
		return decompressLZ4(src, maxBytes)
	case Zstd:
		return decompressZstd(src, maxBytes)
	}
	return nil, ErrUnknownCodec
}

// appendWriter is an io.Writer appending to a slice, so that a stream
// encoder can append to the caller's dst without a bytes.Buffer.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// growCapped returns out with room for n more bytes, at least doubling its
// capacity but never beyond limit. REQUIRES: len(out)+n <= limit.
func growCapped(out []byte, n, limit int) []byte {
	if cap(out)-len(out) >= n {
		return out
	}
	c := min(max(2*cap(out), len(out)+n, 4<<10), limit)
	grown := make([]byte, len(out), c)
	copy(grown, out)
	return grown
}

// readAllCapped reads r to EOF, appending to out, whose capacity is the
// first guess of the size. Capacity grows by doubling up to maxBytes+1, so
// that one byte too many is seen without reading, or allocating, more.
func readAllCapped(r io.Reader, out []byte, maxBytes int) ([]byte, error) {
	for {
		if len(out) == cap(out) {
			if len(out) > maxBytes {
				return nil, ErrTooLarge
			}
			out = growCapped(out, 1, maxBytes+1)
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			if len(out) > maxBytes {
				return nil, ErrTooLarge
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Gzip levels map one to one onto klauspost/compress/gzip, whose levels
// are those of zlib and java.util.zip: 1 fastest .. 9 smallest, -1 the
// default. A writer holds about 1 MB of state, so writers are pooled per
// level, each with the appendWriter it writes to.
var gzipWriters [GzipMaxLevel + 2]sync.Pool // index level+1

type gzipWriter struct {
	z   *gzip.Writer
	out appendWriter
}

func compressGzip(dst, src []byte, level int) ([]byte, error) {
	pool := &gzipWriters[level+1]
	w, _ := pool.Get().(*gzipWriter)
	if w == nil {
		w = new(gzipWriter)
		var err error
		if w.z, err = gzip.NewWriterLevel(&w.out, level); err != nil {
			return nil, err
		}
	} else {
		w.z.Reset(&w.out)
	}
	w.out.b = dst
	_, err := w.z.Write(src)
	if err == nil {
		err = w.z.Close()
	}
	dst, w.out.b = w.out.b, nil // do not keep dst alive from the pool
	pool.Put(w)
	if err != nil {
		return nil, err
	}
	return dst, nil
}

// gzipReader is a pooled gzip decoder with the reader of its input.
type gzipReader struct {
	src bytes.Reader
	z   gzip.Reader
}

var gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}

// deflateMaxRatio bounds how far deflate can expand: a length-258 match
// costs at least two bits, so 1032 output bytes per input byte.
const deflateMaxRatio = 1032

func decompressGzip(src []byte, maxBytes int) ([]byte, error) {
	// The trailer's ISIZE (the size mod 2^32 of the last member) sizes the
	// output, trusted only as far as maxBytes and deflate's ratio allow.
	var guess uint64
	if len(src) >= 18 {
		guess = uint64(binary.LittleEndian.Uint32(src[len(src)-4:]))
	}
	guess = min(guess, uint64(maxBytes), deflateMaxRatio*uint64(len(src)))

	r := gzipReaders.Get().(*gzipReader)
	defer gzipReaders.Put(r)
	defer r.src.Reset(nil) // do not keep src alive from the pool
	r.src.Reset(src)
	if err := r.z.Reset(&r.src); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	out, err := readAllCapped(&r.z, make([]byte, 0, guess+1), maxBytes)
	if err != nil && !errors.Is(err, ErrTooLarge) {
		err = fmt.Errorf("gzip: %w", err)
	}
	return out, err
}

// xerialHeader starts snappy data framed the way the Java client's
// SnappyOutputStream writes it: magic, version 1, compatible version 1.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

// xerialChunkSize is the uncompressed size of the chunks the Java client
// writes.
const xerialChunkSize = 32 << 10

func compressSnappy(dst, src []byte) []byte {
	dst = append(dst, xerialHeader...)
	for len(src) > 0 {
		chunk := src[:min(len(src), xerialChunkSize)]
		src = src[len(chunk):]
		need := snappy.MaxEncodedLen(len(chunk))
		dst = slices.Grow(dst, 4+need)
		lenAt := len(dst)
		enc := snappy.Encode(dst[lenAt+4:lenAt+4+need], chunk)
		dst = dst[:lenAt+4+len(enc)]
		binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(enc)))
	}
	return dst
}

// snappyDecodedLen returns the length a snappy block declares, checked
// against the most snappy can expand (a 3-byte copy yields 64 bytes): a
// longer claim is corrupt, whatever the limit.
func snappyDecodedLen(block []byte) (int, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return 0, fmt.Errorf("snappy: %w", err)
	}
	if uint64(n)*3 > uint64(len(block))*64 {
		return 0, fmt.Errorf("snappy: %d bytes cannot decode to the %d declared: %w", len(block), n, snappy.ErrCorrupt)
	}
	return n, nil
}

// decompressSnappy reads xerial-framed or raw snappy data. Both carry
// their decoded length up front, so the output is sized exactly once.
func decompressSnappy(src []byte, maxBytes int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialHeader[:8]) {
		n, err := snappyDecodedLen(src)
		if err != nil {
			return nil, err
		}
		if n > maxBytes {
			return nil, ErrTooLarge
		}
		out, err := snappy.Decode(make([]byte, n), src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		return out, nil
	}
	if len(src) < len(xerialHeader) {
		return nil, errors.New("snappy: truncated xerial header")
	}
	src = src[len(xerialHeader):]

	// First pass: frame the chunks and add up their decoded lengths.
	total := 0
	for rest := src; len(rest) > 0; {
		chunk, next, err := xerialChunk(rest)
		if err != nil {
			return nil, err
		}
		rest = next
		n, err := snappyDecodedLen(chunk)
		if err != nil {
			return nil, err
		}
		if total += n; total > maxBytes {
			return nil, ErrTooLarge
		}
	}
	// Second pass: decode each chunk into its place.
	out := make([]byte, total)
	at := 0
	for len(src) > 0 {
		chunk, next, _ := xerialChunk(src)
		src = next
		n, _ := snappy.DecodedLen(chunk)
		if _, err := snappy.Decode(out[at:at+n], chunk); err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		at += n
	}
	return out, nil
}

// xerialChunk splits the first length-prefixed chunk off src.
func xerialChunk(src []byte) (chunk, rest []byte, err error) {
	if len(src) < 4 {
		return nil, nil, errors.New("snappy: truncated xerial chunk length")
	}
	n := binary.BigEndian.Uint32(src)
	src = src[4:]
	if uint64(n) > uint64(len(src)) {
		return nil, nil, errors.New("snappy: xerial chunk longer than the data")
	}
	return src[:n], src[n:], nil
}
