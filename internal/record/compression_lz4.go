package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"

	"github.com/pierrec/lz4/v4"
)

// LZ4 batches use the LZ4 frame format
// (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md). Frames are
// read and written here on top of pierrec/lz4's block codec, so that blocks
// decode straight into the output, which is sized and bounded by us.
//
// Frames are written as Kafka's Lz4BlockOutputStream writes them: 64 KiB
// independent blocks, no block or content checksums, no content size.
// Reading accepts any block size, linked blocks, both checksums (verified),
// a content size (checked), skippable frames and several frames in a row;
// it rejects legacy frames and frames that need a dictionary.
const (
	lz4Magic        = 0x184D2204
	lz4SkipMagic    = 0x184D2A50 // the low 4 bits are free
	lz4SkipMask     = 0xFFFFFFF0
	lz4Version      = 0x40 // FLG bits 7-6: version 01
	lz4FlagIndep    = 0x20
	lz4FlagBlockSum = 0x10
	lz4FlagSize     = 0x08
	lz4FlagSum      = 0x04
	lz4FlagDict     = 0x01
	lz4Uncompressed = 0x80000000 // block size bit: the block is stored raw
	lz4BlockSize    = 64 << 10   // what we write
	lz4MaxDistance  = 64 << 10   // how far back a match reaches
)

// lz4FrameHeader is the header of every frame we write: magic, FLG
// (version 01, independent blocks), BD (64 KiB blocks) and the header
// checksum.
var lz4FrameHeader = func() []byte {
	h := binary.LittleEndian.AppendUint32(nil, lz4Magic)
	h = append(h, lz4Version|lz4FlagIndep, 4<<4)
	return append(h, byte(xxh32(h[4:6])>>8))
}()

// lz4Depth is the search depth of pierrec's HC compressor for a
// compression.lz4.level other than 9, the default, which uses its fast
// compressor: 2^(level-1), as LZ4 HC follows for levels 3..9, then on
// doubling to the whole 64 KiB window at 17 (see CompressLevel).
func lz4Depth(level int) lz4.CompressionLevel { return lz4.CompressionLevel(1) << (level - 1) }

var (
	lz4Fast = sync.Pool{New: func() any { return new(lz4.Compressor) }}
	// The HC match finder's state does not depend on the depth, so one
	// pool serves every level.
	lz4HC = sync.Pool{New: func() any { return new(lz4.CompressorHC) }}
	// lz4Scratch holds a block compressed, or decompressed when the
	// output has no room for it.
	lz4Scratch = sync.Pool{New: func() any { return new([]byte) }}
)

func compressLZ4(dst, src []byte, level int) []byte {
	var compress func(src, dst []byte) (int, error)
	if level == LZ4DefaultLevel {
		c := lz4Fast.Get().(*lz4.Compressor)
		defer lz4Fast.Put(c)
		compress = c.CompressBlock
	} else {
		c := lz4HC.Get().(*lz4.CompressorHC)
		defer lz4HC.Put(c)
		c.Level = lz4Depth(level)
		compress = c.CompressBlock
	}
	scratch := lz4Scratch.Get().(*[]byte)
	defer lz4Scratch.Put(scratch)

	dst = append(dst, lz4FrameHeader...)
	for len(src) > 0 {
		block := src[:min(len(src), lz4BlockSize)]
		src = src[len(block):]
		// Compress into dst if it has room for the worst case, else
		// into the scratch buffer, so that dst grows only by what it
		// keeps.
		bound := lz4.CompressBlockBound(len(block))
		out, inPlace := dst[len(dst):cap(dst)], true
		if len(out) < 4+bound {
			if cap(*scratch) < 4+bound {
				*scratch = make([]byte, 4+lz4.CompressBlockBound(lz4BlockSize))
			}
			out, inPlace = (*scratch)[:cap(*scratch)], false
		}
		n, err := compress(block, out[4:4+bound])
		if err != nil || n == 0 || n >= len(block) {
			// Incompressible: store the block as it is.
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(block))|lz4Uncompressed)
			dst = append(dst, block...)
			continue
		}
		binary.LittleEndian.PutUint32(out, uint32(n))
		if inPlace {
			dst = dst[:len(dst)+4+n]
		} else {
			dst = append(dst, out[:4+n]...)
		}
	}
	return binary.LittleEndian.AppendUint32(dst, 0) // end mark
}

var (
	errLZ4Truncated = errors.New("lz4: truncated frame")
	errLZ4Corrupt   = errors.New("lz4: corrupt block")
)

// lz4Frame is a parsed frame descriptor.
type lz4Frame struct {
	flags       byte
	blockMax    int
	contentSize uint64 // if flags&lz4FlagSize
}

// parseLZ4Frame parses the frame header at the start of src (after any
// skippable frames) and returns it with the rest of src. It returns ok
// false with no error when src holds only skippable frames.
func parseLZ4Frame(src []byte) (f lz4Frame, rest []byte, ok bool, err error) {
	for {
		if len(src) == 0 {
			return f, nil, false, nil
		}
		if len(src) < 4 {
			return f, nil, false, errLZ4Truncated
		}
		magic := binary.LittleEndian.Uint32(src)
		if magic == lz4Magic {
			break
		}
		if magic&lz4SkipMask != lz4SkipMagic {
			return f, nil, false, fmt.Errorf("lz4: bad frame magic %#08x", magic)
		}
		if len(src) < 8 {
			return f, nil, false, errLZ4Truncated
		}
		n := binary.LittleEndian.Uint32(src[4:])
		if uint64(n) > uint64(len(src)-8) {
			return f, nil, false, errLZ4Truncated
		}
		src = src[8+n:]
	}
	if len(src) < 7 {
		return f, nil, false, errLZ4Truncated
	}
	f.flags = src[4]
	bd := src[5]
	if f.flags&0xC0 != lz4Version || f.flags&0x02 != 0 || bd&0x8F != 0 || bd>>4 < 4 {
		return f, nil, false, fmt.Errorf("lz4: bad frame descriptor %#02x %#02x", f.flags, bd)
	}
	if f.flags&lz4FlagDict != 0 {
		return f, nil, false, errors.New("lz4: frames that need a dictionary are not supported")
	}
	f.blockMax = 1 << (2*(bd>>4) + 8)
	n := 6
	if f.flags&lz4FlagSize != 0 {
		n += 8
		if len(src) < n+1 {
			return f, nil, false, errLZ4Truncated
		}
		f.contentSize = binary.LittleEndian.Uint64(src[6:])
	}
	if byte(xxh32(src[4:n])>>8) != src[n] {
		return f, nil, false, errors.New("lz4: bad frame header checksum")
	}
	return f, src[n+1:], true, nil
}

// nextLZ4Block splits the next block off src: its data, whether it is
// stored raw, and the rest of src. data is nil at the end mark.
func nextLZ4Block(f *lz4Frame, src []byte) (data []byte, raw bool, rest []byte, err error) {
	if len(src) < 4 {
		return nil, false, nil, errLZ4Truncated
	}
	v := binary.LittleEndian.Uint32(src)
	src = src[4:]
	if v == 0 {
		return nil, false, src, nil
	}
	size := int(v &^ lz4Uncompressed)
	if size > f.blockMax {
		return nil, false, nil, fmt.Errorf("lz4: %d-byte block in a frame of %d-byte blocks", size, f.blockMax)
	}
	end := size
	if f.flags&lz4FlagBlockSum != 0 {
		end += 4
	}
	if end > len(src) {
		return nil, false, nil, errLZ4Truncated
	}
	data = src[:size]
	if end > size && xxh32(data) != binary.LittleEndian.Uint32(src[size:]) {
		return nil, false, nil, errors.New("lz4: bad block checksum")
	}
	return data, v&lz4Uncompressed != 0, src[end:], nil
}

// lz4MaxRatio bounds how far an LZ4 block can expand: each further 255
// bytes of a match cost one byte.
const lz4MaxRatio = 255

// lz4GuessRatio is the compression ratio lz4Estimate guesses for the last
// block of a frame: about LZ4's best on record data.
const lz4GuessRatio = 4

// lz4Estimate walks the frames of src and returns the size to allocate
// for their output: what the blocks can decode to (a raw block its size, a
// compressed one the smaller of the block size and lz4MaxRatio times its
// length), but for the last block of each frame, which encoders leave
// short and which is often the only one (pierrec's writers default to 4
// MiB blocks), guessed at lz4GuessRatio; at most a declared content size.
// decodeLZ4Block grows the output when a block does not fit.
func lz4Estimate(src []byte) (uint64, error) {
	var estimate uint64
	for len(src) > 0 {
		f, rest, ok, err := parseLZ4Frame(src)
		if err != nil || !ok {
			return estimate, err
		}
		// most and guess are for the block before, which was the
		// last if the loop ends.
		var frame, most, guess uint64
		for {
			data, raw, next, err := nextLZ4Block(&f, rest)
			if err != nil {
				return 0, err
			}
			rest = next
			if data == nil {
				break
			}
			frame += most
			most, guess = uint64(len(data)), uint64(len(data))
			if !raw {
				most = min(uint64(f.blockMax), lz4MaxRatio*most)
				guess = min(most, lz4GuessRatio*guess)
			}
		}
		frame += guess
		if f.flags&lz4FlagSum != 0 {
			if len(rest) < 4 {
				return 0, errLZ4Truncated
			}
			rest = rest[4:]
		}
		if f.flags&lz4FlagSize != 0 {
			frame = min(frame, f.contentSize)
		}
		estimate += frame
		src = rest
	}
	return estimate, nil
}

func decompressLZ4(src []byte, maxBytes int) ([]byte, error) {
	estimate, err := lz4Estimate(src)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, min(estimate, uint64(maxBytes)))
	for len(src) > 0 {
		f, rest, ok, err := parseLZ4Frame(src)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if out, src, err = decodeLZ4Frame(out, &f, rest, maxBytes); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeLZ4Frame appends the blocks of frame f, which start src, to out,
// and returns the input after the frame.
func decodeLZ4Frame(out []byte, f *lz4Frame, src []byte, maxBytes int) ([]byte, []byte, error) {
	start := len(out)
	for {
		data, raw, rest, err := nextLZ4Block(f, src)
		if err != nil {
			return nil, nil, err
		}
		src = rest
		if data == nil {
			break
		}
		if raw {
			if len(data) > maxBytes-len(out) {
				return nil, nil, ErrTooLarge
			}
			out = append(growCapped(out, len(data), maxBytes), data...)
			continue
		}
		var dict []byte
		if f.flags&lz4FlagIndep == 0 {
			dict = out[max(start, len(out)-lz4MaxDistance):]
		}
		if out, err = decodeLZ4Block(out, data, dict, f.blockMax, maxBytes); err != nil {
			return nil, nil, err
		}
	}
	if f.flags&lz4FlagSum != 0 {
		if len(src) < 4 {
			return nil, nil, errLZ4Truncated
		}
		if xxh32(out[start:]) != binary.LittleEndian.Uint32(src) {
			return nil, nil, errors.New("lz4: bad content checksum")
		}
		src = src[4:]
	}
	if f.flags&lz4FlagSize != 0 && uint64(len(out)-start) != f.contentSize {
		return nil, nil, fmt.Errorf("lz4: frame decoded to %d bytes, declares %d", len(out)-start, f.contentSize)
	}
	return out, src, nil
}

// decodeLZ4Block appends the decoded compressed block data to out. It
// decodes in place if out has room. If not, it grows out when doubling it
// makes room for the most the block can decode to, and decodes again;
// otherwise (a large block, or the limit near) it decodes into a scratch
// buffer with that room, which also tells a corrupt block from one that
// does not fit, and appends.
func decodeLZ4Block(out, data, dict []byte, blockMax, maxBytes int) ([]byte, error) {
	limit := maxBytes - len(out)
	most := int(min(uint64(blockMax), lz4MaxRatio*uint64(len(data))))
	if room := min(cap(out)-len(out), limit); room > 0 {
		n, err := lz4.UncompressBlockWithDict(data, out[len(out):len(out)+room], dict)
		if err == nil {
			return out[:len(out)+n], nil
		}
		if room >= most {
			return nil, errLZ4Corrupt
		}
	}
	if need := min(most, limit); need <= cap(out) {
		out = growCapped(out, need, maxBytes)
		n, err := lz4.UncompressBlockWithDict(data, out[len(out):len(out)+need], dict)
		if err == nil {
			return out[:len(out)+n], nil
		}
		if need == most {
			return nil, errLZ4Corrupt
		}
	}
	scratch := lz4Scratch.Get().(*[]byte)
	defer lz4Scratch.Put(scratch)
	if cap(*scratch) < most {
		*scratch = make([]byte, most)
	}
	n, err := lz4.UncompressBlockWithDict(data, (*scratch)[:most], dict)
	if err != nil {
		return nil, errLZ4Corrupt
	}
	if n > limit {
		return nil, ErrTooLarge
	}
	return append(growCapped(out, n, maxBytes), (*scratch)[:n]...), nil
}

// xxh32 is XXH32 with seed 0, the checksum of the LZ4 frame format
// (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md).
func xxh32(b []byte) uint32 {
	const (
		p1 = 0x9E3779B1
		p2 = 0x85EBCA77
		p3 = 0xC2B2AE3D
		p4 = 0x27D4EB2F
		p5 = 0x165667B1
	)
	round := func(acc, lane uint32) uint32 { return bits.RotateLeft32(acc+lane*p2, 13) * p1 }
	n := uint32(len(b))
	var h uint32
	if len(b) >= 16 {
		v1, v2, v3, v4 := uint32((p1+p2)&math.MaxUint32), uint32(p2), uint32(0), uint32(1<<32-p1)
		for ; len(b) >= 16; b = b[16:] {
			v1 = round(v1, binary.LittleEndian.Uint32(b))
			v2 = round(v2, binary.LittleEndian.Uint32(b[4:]))
			v3 = round(v3, binary.LittleEndian.Uint32(b[8:]))
			v4 = round(v4, binary.LittleEndian.Uint32(b[12:]))
		}
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = uint32(p5)
	}
	h += n
	for ; len(b) >= 4; b = b[4:] {
		h = bits.RotateLeft32(h+binary.LittleEndian.Uint32(b)*p3, 17) * p4
	}
	for _, c := range b {
		h = bits.RotateLeft32(h+uint32(c)*p5, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	h ^= h >> 16
	return h
}
