package record

import (
	"encoding/binary"
)

// Builder accumulates records into one v2 batch. The zero value is not
// usable; call NewBuilder. It is used by the client to build produce
// batches and by the broker to re-compress batches for a topic whose
// compression.type differs from the producer's.
type Builder struct {
	Codec         Codec
	Level         int // compression.<codec>.level (see CheckLevel); 0 is the codec's default
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	Transactional bool
	Control       bool
	LogAppendTime bool

	baseTimestamp int64
	maxTimestamp  int64
	count         int32
	lastDelta     int32
	records       []byte
}

// NewBuilder returns a builder for a non-idempotent batch with the given
// codec.
func NewBuilder(codec Codec) *Builder {
	return &Builder{Codec: codec, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// Len is the number of records added.
func (b *Builder) Len() int { return int(b.count) }

// UncompressedSize is the size of the batch if it were not compressed.
func (b *Builder) UncompressedSize() int { return HeaderSize + len(b.records) }

// Add appends a record with the given absolute timestamp (ms). The offset
// delta is the record's position in the batch unless r.OffsetDelta is set
// larger (as in a compacted batch being rewritten).
func (b *Builder) Add(timestamp int64, r Record) {
	if b.count == 0 {
		b.baseTimestamp = timestamp
		b.maxTimestamp = timestamp
	}
	if timestamp > b.maxTimestamp {
		b.maxTimestamp = timestamp
	}
	if r.OffsetDelta < b.count {
		r.OffsetDelta = b.count
	}
	r.TimestampDelta = timestamp - b.baseTimestamp
	b.records = AppendRecord(b.records, &r)
	b.lastDelta = r.OffsetDelta
	b.count++
}

// Build appends the finished batch, with base offset 0 and leader epoch -1,
// to dst.
func (b *Builder) Build(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	var err error
	level := b.Level
	if level == 0 {
		level = DefaultLevel(b.Codec)
	}
	dst, err = CompressLevel(b.Codec, level, dst, b.records)
	if err != nil {
		return nil, err
	}
	h := dst[start:]
	attrs := uint16(b.Codec) & compressionMask
	if b.LogAppendTime {
		attrs |= attrLogAppendTime
	}
	if b.Transactional {
		attrs |= attrTransactional
	}
	if b.Control {
		attrs |= attrControl
	}
	binary.BigEndian.PutUint64(h[posBaseOffset:], 0)
	binary.BigEndian.PutUint32(h[posLength:], uint32(len(h)-LogOverhead))
	binary.BigEndian.PutUint32(h[posLeaderEpoch:], 0xffffffff)
	h[posMagic] = 2
	binary.BigEndian.PutUint16(h[posAttributes:], attrs)
	binary.BigEndian.PutUint32(h[posLastOffsetDelta:], uint32(b.lastDelta))
	binary.BigEndian.PutUint64(h[posBaseTimestamp:], uint64(b.baseTimestamp))
	binary.BigEndian.PutUint64(h[posMaxTimestamp:], uint64(b.maxTimestamp))
	binary.BigEndian.PutUint64(h[posProducerID:], uint64(b.ProducerID))
	binary.BigEndian.PutUint16(h[posProducerEpoch:], uint16(b.ProducerEpoch))
	binary.BigEndian.PutUint32(h[posBaseSequence:], uint32(b.BaseSequence))
	binary.BigEndian.PutUint32(h[posRecordCount:], uint32(b.count))
	binary.BigEndian.PutUint32(h[posCRC:], ComputeCRC(h))
	return dst, nil
}

// Reset empties the builder for reuse, keeping its settings.
func (b *Builder) Reset() {
	b.count, b.lastDelta, b.records = 0, 0, b.records[:0]
}
