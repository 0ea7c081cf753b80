package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdEncoderFor returns the encoder for a Kafka compression.zstd.level.
// klauspost/compress/zstd has four levels; Kafka's map onto them as
// zstd.EncoderLevelFromZstd maps the reference levels, by the ratio each
// approaches:
//
//	level -131072..2 (the negative "fast" levels included)  SpeedFastest
//	level 0 (zstd's "default") and 3..5                      SpeedDefault
//	level 6..9                                               SpeedBetterCompression
//	level 10..22                                             SpeedBestCompression
//
// Each encoder is created on first use and is safe for concurrent use;
// EncodeAll runs up to GOMAXPROCS encodes at once.
func zstdEncoderFor(level int) *zstd.Encoder {
	l := zstd.EncoderLevelFromZstd(level)
	if level == 0 {
		l = zstd.SpeedDefault
	}
	e := &zstdEncoders[l]
	e.once.Do(func() {
		// An empty input still makes a frame, which Java's decoder
		// requires.
		e.enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithZeroFrames(true))
	})
	return e.enc
}

var zstdEncoders [zstd.SpeedBestCompression + 1]struct {
	once sync.Once
	enc  *zstd.Encoder
}

// zstdMaxWindow is the largest window a frame may declare: 2^27, the limit
// of the Java client's zstd-jni (ZSTD_WINDOWLOG_LIMIT_DEFAULT), which
// compression.zstd.level 22 reaches. DecodeAll decodes into its output and
// keeps no window of its own, so this bounds nothing we allocate.
const zstdMaxWindow = 1 << 27

// zstdDecoder decodes with DecodeAll, up to GOMAXPROCS at once, growing
// the slice it is given as needed: it is for input that zstdBound has
// shown cannot decode to more than the limit.
var zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
	return newZstdDecoder()
})

// zstdCappedDecoder never decodes past the capacity of the slice it is
// given (WithDecodeAllCapLimit): a frame declaring a larger content size
// fails before anything is allocated, and one without stops once it
// outgrows the slice.
var zstdCappedDecoder = sync.OnceValue(func() *zstd.Decoder {
	return newZstdDecoder(zstd.WithDecodeAllCapLimit(true))
})

func newZstdDecoder(opts ...zstd.DOption) *zstd.Decoder {
	opts = append(opts, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxWindow(zstdMaxWindow))
	d, err := zstd.NewReader(nil, opts...)
	if err != nil {
		panic(err)
	}
	return d
}

// zstdOverAlloc is the slack past the last output byte that lets the
// decoder use its fast copies on the final block.
const zstdOverAlloc = 16

// decompressZstd relies on zstdBound, which gives, without decoding, the
// most the frames can decode to. Within maxBytes, the frames decode in one
// pass into a slice of the walk's estimate: their size, when they declare
// it or hold only raw and RLE blocks, else a guess for the last compressed
// block. Past maxBytes, an exact bound fails at once; otherwise the capped
// decoder runs into a slice of maxBytes. It checks that limit after each
// block, so a hostile frame can first grow the slice by a block (append's
// 1.25× growth): about 2.25 × maxBytes allocated in all, and a line on
// stderr from klauspost/compress.
func decompressZstd(src []byte, maxBytes int) ([]byte, error) {
	limit := uint64(maxBytes)
	bound, estimate, exact, ok := zstdBound(src)
	switch {
	case ok && bound <= limit:
		out, err := zstdDecoder().DecodeAll(src, make([]byte, 0, estimate+zstdOverAlloc))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if len(out) > maxBytes { // the walk is wrong
			return nil, ErrTooLarge
		}
		return out, nil
	case ok && exact:
		return nil, ErrTooLarge
	}
	size := limit
	if !ok {
		// Malformed: let the decoder name the problem, in little room.
		size = min(limit, 64<<10)
	}
	out, err := zstdCappedDecoder().DecodeAll(src, make([]byte, 0, size+zstdOverAlloc))
	switch {
	case err == nil && len(out) <= maxBytes:
		return out, nil
	case err == nil:
		return nil, ErrTooLarge
	case !ok && errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return nil, errors.New("zstd: malformed frame")
	case ok && (errors.Is(err, zstd.ErrDecoderSizeExceeded) || uint64(len(out))+zstdMaxBlockSize > size):
		// Out of room: the decoder says so, or fails the block that
		// did not fit.
		return nil, ErrTooLarge
	}
	return nil, fmt.Errorf("zstd: %w", err)
}

const (
	zstdMagic        = 0xFD2FB528
	zstdSkipMagic    = 0x184D2A50 // the low 4 bits are free
	zstdMaxBlockSize = 128 << 10
)

// zstdGuessRatio is the compression ratio zstdBound guesses for the last
// compressed block of a frame without a content size; streaming encoders
// fill every block before it.
const zstdGuessRatio = 8

// zstdBound walks the frames of src
// (https://datatracker.ietf.org/doc/html/rfc8878#section-3.1) without
// decoding them and returns the most they can decode to. A frame's blocks
// bound it: a raw or RLE block by its size, a compressed one by the block
// maximum (the smaller of the window and 128 KiB, which the decoder
// enforces). A declared content size is the frame's size if it is valid,
// and it is not if its blocks cannot hold it. exact reports that every
// frame had a content size or no compressed block, so that a valid src
// decodes to exactly bound. estimate is bound but for the last compressed
// block of frames without a content size, guessed at zstdGuessRatio. ok
// is false if src is not a sequence of well-formed frames.
func zstdBound(src []byte) (bound, estimate uint64, exact, ok bool) {
	exact = true
	for len(src) > 0 {
		if len(src) < 8 {
			return 0, 0, false, false
		}
		magic := binary.LittleEndian.Uint32(src)
		if magic&0xFFFFFFF0 == zstdSkipMagic {
			n := binary.LittleEndian.Uint32(src[4:])
			if uint64(n) > uint64(len(src)-8) {
				return 0, 0, false, false
			}
			src = src[8+n:]
			continue
		}
		if magic != zstdMagic {
			return 0, 0, false, false
		}
		f := zstdFrameBound(src)
		if f.n == 0 {
			return 0, 0, false, false
		}
		src = src[f.n:]
		exact = exact && f.exact
		bound = satAdd(bound, f.bound)
		estimate = satAdd(estimate, f.estimate)
	}
	return bound, estimate, exact, true
}

// zstdFrame is what zstdFrameBound finds of a frame: its bound, estimate
// and exactness as for zstdBound, and its length n, 0 if it is malformed.
type zstdFrame struct {
	bound, estimate uint64
	exact           bool
	n               int
}

func zstdFrameBound(src []byte) (f zstdFrame) {
	fhd := src[4]
	single := fhd&0x20 != 0
	if fhd&0x08 != 0 { // reserved bit
		return f
	}
	pos := 5
	var window uint64
	if !single {
		exp, mantissa := uint64(src[pos]>>3), uint64(src[pos]&7)
		pos++
		window = 1 << (10 + exp)
		window += window / 8 * mantissa
	}
	pos += [4]int{0, 1, 2, 4}[fhd&3] // dictionary id
	fcsLen := [4]int{0, 2, 4, 8}[fhd>>6]
	if fcsLen == 0 && single {
		fcsLen = 1
	}
	if len(src) < pos+fcsLen {
		return f
	}
	var fcs uint64
	switch fcsLen {
	case 1:
		fcs = uint64(src[pos])
	case 2:
		fcs = uint64(binary.LittleEndian.Uint16(src[pos:])) + 256
	case 4:
		fcs = uint64(binary.LittleEndian.Uint32(src[pos:]))
	case 8:
		fcs = binary.LittleEndian.Uint64(src[pos:])
	}
	pos += fcsLen
	if single {
		window = max(fcs, 1<<10) // as the decoder has it
	}
	blockMax := min(window, zstdMaxBlockSize)

	f.exact = true
	for last := false; !last; {
		if len(src) < pos+3 {
			return zstdFrame{}
		}
		h := uint32(src[pos]) | uint32(src[pos+1])<<8 | uint32(src[pos+2])<<16
		pos += 3
		last = h&1 != 0
		size := int(h >> 3)
		most, guess := uint64(size), uint64(size)
		switch (h >> 1) & 3 {
		case 0: // raw
		case 1: // RLE: one byte, repeated
			size = 1
		case 2: // compressed
			most, guess = blockMax, blockMax
			if last {
				guess = min(blockMax, zstdGuessRatio*uint64(size))
			}
			f.exact = false
		default:
			return zstdFrame{}
		}
		if len(src)-pos < size {
			return zstdFrame{}
		}
		pos += size
		f.bound = satAdd(f.bound, most)
		f.estimate = satAdd(f.estimate, guess)
	}
	if fhd&0x04 != 0 { // content checksum
		if len(src) < pos+4 {
			return zstdFrame{}
		}
		pos += 4
	}
	f.n = pos
	if fcsLen == 0 {
		return f
	}
	if fcs > f.bound || f.exact && fcs != f.bound {
		return zstdFrame{}
	}
	return zstdFrame{bound: fcs, estimate: fcs, exact: true, n: pos}
}

// satAdd adds without wrapping, saturating short of overflowing the
// decoder's slack.
func satAdd(a, b uint64) uint64 {
	const top = math.MaxUint64 - zstdOverAlloc
	if b > top-min(a, top) {
		return top
	}
	return a + b
}
