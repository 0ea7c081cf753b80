package record

import (
	"encoding/binary"
	"fmt"
)

// RecordHeader is one key/value header of a record. A nil Value is a null
// header value.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one decoded record. Key and Value are nil when null. Byte slices
// alias the buffer the record was decoded from.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	Headers        []RecordHeader
}

// ReadVarint decodes a zig-zag varint (at most 5 bytes) from b.
func ReadVarint(b []byte) (int32, int, bool) {
	v, n := binary.Varint(b)
	if n <= 0 || n > 5 || v < -1<<31 || v > 1<<31-1 {
		return 0, 0, false
	}
	return int32(v), n, true
}

// ReadVarlong decodes a zig-zag varlong (at most 10 bytes) from b.
func ReadVarlong(b []byte) (int64, int, bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, 0, false
	}
	return v, n, true
}

// AppendVarint appends v as a zig-zag varint.
func AppendVarint(b []byte, v int32) []byte { return binary.AppendVarint(b, int64(v)) }

// AppendVarlong appends v as a zig-zag varlong.
func AppendVarlong(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// VarintLen is the encoded size of v as a zig-zag varint.
func VarintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// decoder reads records with bounds checks; any overrun sets bad.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) varint() int32 {
	v, n, ok := ReadVarint(d.b)
	if !ok {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varlong() int64 {
	v, n, ok := ReadVarlong(d.b)
	if !ok {
		d.bad = true
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes reads a varint-length-prefixed byte string; -1 is null. The length
// is checked against what is left before slicing.
func (d *decoder) bytes() []byte {
	n := d.varint()
	if d.bad {
		return nil
	}
	if n < -1 || int(n) > len(d.b) {
		d.bad = true
		d.b = nil
		return nil
	}
	if n == -1 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// ReadRecord decodes one length-framed record from the start of b and
// returns it with the number of bytes used.
func ReadRecord(b []byte) (Record, int, error) {
	var r Record
	length, n, ok := ReadVarint(b)
	if !ok || length < 0 || int(length) > len(b)-n {
		return r, 0, fmt.Errorf("%w: record length", ErrBadRecords)
	}
	d := decoder{b: b[n : n+int(length)]}
	if len(d.b) < 1 {
		return r, 0, fmt.Errorf("%w: empty record", ErrBadRecords)
	}
	r.Attributes = int8(d.b[0])
	d.b = d.b[1:]
	r.TimestampDelta = d.varlong()
	r.OffsetDelta = d.varint()
	r.Key = d.bytes()
	r.Value = d.bytes()
	nh := d.varint()
	if d.bad || nh < 0 || int(nh) > len(d.b) {
		return r, 0, fmt.Errorf("%w: record fields", ErrBadRecords)
	}
	if nh > 0 {
		r.Headers = make([]RecordHeader, nh)
		for i := range r.Headers {
			k := d.bytes()
			if k == nil {
				d.bad = true
			}
			r.Headers[i] = RecordHeader{Key: string(k), Value: d.bytes()}
			if d.bad {
				return r, 0, fmt.Errorf("%w: record header", ErrBadRecords)
			}
		}
	}
	if len(d.b) != 0 {
		return r, 0, fmt.Errorf("%w: %d trailing bytes in record", ErrBadRecords, len(d.b))
	}
	return r, n + int(length), nil
}

// AppendRecord appends r, length-framed, to b.
func AppendRecord(b []byte, r *Record) []byte {
	size := 1 + VarintLen(r.TimestampDelta) + VarintLen(int64(r.OffsetDelta)) +
		bytesLen(r.Key) + bytesLen(r.Value) + VarintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		size += VarintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	b = AppendVarint(b, int32(size))
	b = append(b, byte(r.Attributes))
	b = AppendVarlong(b, r.TimestampDelta)
	b = AppendVarint(b, r.OffsetDelta)
	b = appendBytes(b, r.Key)
	b = appendBytes(b, r.Value)
	b = AppendVarint(b, int32(len(r.Headers)))
	for _, h := range r.Headers {
		b = AppendVarint(b, int32(len(h.Key)))
		b = append(b, h.Key...)
		b = appendBytes(b, h.Value)
	}
	return b
}

func bytesLen(v []byte) int {
	if v == nil {
		return 1
	}
	return VarintLen(int64(len(v))) + len(v)
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return AppendVarint(b, -1)
	}
	b = AppendVarint(b, int32(len(v)))
	return append(b, v...)
}

// RecordsOf returns the uncompressed record bytes of a batch, decompressing
// if needed. maxBytes bounds the decompressed size, so a small compressed
// batch cannot expand without limit.
func RecordsOf(h *Header, batch []byte, maxBytes int) ([]byte, error) {
	data := batch[HeaderSize:]
	if h.Compression() == None {
		return data, nil
	}
	return Decompress(h.Compression(), data, maxBytes)
}

// EachRecord decodes every record of a batch and calls fn with it. It checks
// that the records fill the batch exactly and that their count matches the
// header.
func EachRecord(h *Header, batch []byte, maxBytes int, fn func(r *Record) error) error {
	data, err := RecordsOf(h, batch, maxBytes)
	if err != nil {
		return err
	}
	var n int32
	for len(data) > 0 {
		r, used, err := ReadRecord(data)
		if err != nil {
			return err
		}
		data = data[used:]
		n++
		if n > h.NumRecords {
			return fmt.Errorf("%w: more records than the header's %d", ErrBadCount, h.NumRecords)
		}
		if fn != nil {
			if err := fn(&r); err != nil {
				return err
			}
		}
	}
	if n != h.NumRecords {
		return fmt.Errorf("%w: header says %d, found %d", ErrBadCount, h.NumRecords, n)
	}
	return nil
}
