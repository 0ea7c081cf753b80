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
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
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

// xerialHeader starts snappy data framed the way the Java client's
// SnappyOutputStream writes it: magic, version 1, compatible version 1.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

var (
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
	zstdDecOnce sync.Once
	zstdDec     *zstd.Decoder
)

func zstdEncoder() *zstd.Encoder {
	zstdEncOnce.Do(func() {
		zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	})
	return zstdEnc
}

func zstdDecoder() *zstd.Decoder {
	zstdDecOnce.Do(func() {
		zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
	})
	return zstdDec
}

// Compress appends src compressed with codec to dst.
func Compress(codec Codec, dst, src []byte) ([]byte, error) {
	switch codec {
	case None:
		return append(dst, src...), nil
	case Gzip:
		buf := bytes.NewBuffer(dst)
		w := gzip.NewWriter(buf)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case Snappy:
		dst = append(dst, xerialHeader...)
		for len(src) > 0 {
			chunk := src
			if len(chunk) > 32<<10 {
				chunk = chunk[:32<<10]
			}
			src = src[len(chunk):]
			need := snappy.MaxEncodedLen(len(chunk))
			dst = slices.Grow(dst, 4+need)
			lenAt := len(dst)
			enc := snappy.Encode(dst[lenAt+4:lenAt+4+need], chunk)
			dst = dst[:lenAt+4+len(enc)]
			binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(enc)))
		}
		return dst, nil
	case LZ4:
		buf := bytes.NewBuffer(dst)
		w := lz4.NewWriter(buf)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case Zstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	}
	return nil, ErrUnknownCodec
}

// Decompress returns src decompressed with codec, failing with ErrTooLarge
// rather than producing more than maxBytes.
func Decompress(codec Codec, src []byte, maxBytes int) ([]byte, error) {
	switch codec {
	case None:
		return src, nil
	case Gzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return readLimited(r, maxBytes, "gzip")
	case Snappy:
		return decodeSnappy(src, maxBytes)
	case LZ4:
		return readLimited(lz4.NewReader(bytes.NewReader(src)), maxBytes, "lz4")
	case Zstd:
		dec := zstdDecoder()
		out, err := dec.DecodeAll(src, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if len(out) > maxBytes {
			return nil, ErrTooLarge
		}
		return out, nil
	}
	return nil, ErrUnknownCodec
}

func readLimited(r io.Reader, maxBytes int, name string) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, int64(maxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if n > int64(maxBytes) {
		return nil, ErrTooLarge
	}
	return buf.Bytes(), nil
}

// decodeSnappy reads xerial-framed or raw snappy data.
func decodeSnappy(src []byte, maxBytes int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialHeader[:8]) {
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if n > maxBytes {
			return nil, ErrTooLarge
		}
		out, err := snappy.Decode(nil, src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		return out, nil
	}
	if len(src) < len(xerialHeader) {
		return nil, errors.New("snappy: truncated xerial header")
	}
	src = src[len(xerialHeader):]
	var out []byte
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, errors.New("snappy: truncated xerial chunk length")
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return nil, errors.New("snappy: xerial chunk longer than the data")
		}
		chunk := src[:n]
		src = src[n:]
		dn, err := snappy.DecodedLen(chunk)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if len(out)+dn > maxBytes {
			return nil, ErrTooLarge
		}
		start := len(out)
		out = append(out, make([]byte, dn)...)
		if _, err := snappy.Decode(out[start:], chunk); err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
	}
	return out, nil
}
