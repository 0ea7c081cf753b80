package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a v2 batch header, up to and including the
// record count.
const HeaderSize = 61

// LogOverhead is the size of the base offset and length fields that frame
// every batch in a segment file (Kafka's Records.LOG_OVERHEAD).
const LogOverhead = 12

// Byte positions of header fields.
const (
	posBaseOffset      = 0
	posLength          = 8
	posLeaderEpoch     = 12
	posMagic           = 16
	posCRC             = 17
	posAttributes      = 21
	posLastOffsetDelta = 23
	posBaseTimestamp   = 27
	posMaxTimestamp    = 35
	posProducerID      = 43
	posProducerEpoch   = 51
	posBaseSequence    = 53
	posRecordCount     = 57
)

// Attribute bits.
const (
	compressionMask     = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
	attrHasDeleteHorizn = 0x40
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned by batch parsing and validation. They map onto Kafka's
// CORRUPT_MESSAGE / INVALID_RECORD error codes at the broker.
var (
	ErrShortBatch   = errors.New("record batch shorter than its header")
	ErrBadLength    = errors.New("record batch length field does not match the bytes given")
	ErrBadMagic     = errors.New("record batch magic is not 2")
	ErrBadCRC       = errors.New("record batch CRC-32C does not match its contents")
	ErrBadRecords   = errors.New("record batch records are malformed")
	ErrBadCount     = errors.New("record batch record count does not match its records")
	ErrUnknownCodec = errors.New("record batch uses an unknown compression codec")
)

// Header is the decoded fixed part of a v2 record batch.
type Header struct {
	BaseOffset           int64
	Length               int32 // bytes after the length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Compression returns the codec the records are compressed with.
func (h *Header) Compression() Codec { return Codec(h.Attributes & compressionMask) }

// LogAppendTime reports whether the batch's timestamps were set by the broker.
func (h *Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports whether the batch is part of a transaction.
func (h *Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch holds a control record (a transaction
// marker).
func (h *Header) Control() bool { return h.Attributes&attrControl != 0 }

// Size is the batch's total size in bytes, framing included.
func (h *Header) Size() int { return int(h.Length) + LogOverhead }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset following the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Idempotent reports whether the batch carries a producer id.
func (h *Header) Idempotent() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the batch's last record, wrapping
// at MaxInt32 as Kafka does.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	return IncrementSequence(h.BaseSequence, h.LastOffsetDelta)
}

// IncrementSequence adds delta to a producer sequence number, wrapping to 0
// after MaxInt32 (DefaultRecordBatch.incrementSequence).
func IncrementSequence(seq, delta int32) int32 {
	if seq > (1<<31-1)-delta {
		return delta - ((1<<31 - 1) - seq) - 1
	}
	return seq + delta
}

// ParseHeader decodes the header at the start of b. It checks only that the
// header is present and the magic is 2; Validate checks the rest.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, ErrShortBatch
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[posBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[posLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[posLeaderEpoch:]))
	h.Magic = int8(b[posMagic])
	h.CRC = binary.BigEndian.Uint32(b[posCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[posAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[posLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[posBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[posMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[posProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[posProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[posBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[posRecordCount:]))
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d", ErrBadMagic, h.Magic)
	}
	if h.Length < HeaderSize-LogOverhead {
		return h, fmt.Errorf("%w: length %d", ErrBadLength, h.Length)
	}
	return h, nil
}

// ComputeCRC returns the CRC-32C of a batch, as stored in its crc field.
func ComputeCRC(batch []byte) uint32 {
	return crc32.Checksum(batch[posAttributes:], castagnoli)
}

// CheckCRC verifies the stored CRC of one whole batch.
func CheckCRC(batch []byte) error {
	if len(batch) < HeaderSize {
		return ErrShortBatch
	}
	if binary.BigEndian.Uint32(batch[posCRC:]) != ComputeCRC(batch) {
		return ErrBadCRC
	}
	return nil
}

// SetBaseOffset rewrites the base offset of a batch in place. The CRC does
// not cover it.
func SetBaseOffset(batch []byte, offset int64) {
	binary.BigEndian.PutUint64(batch[posBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch rewrites the leader epoch of a batch in place. The
// CRC does not cover it.
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[posLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch's timestamps as broker-assigned, sets its
// max timestamp to ts and recomputes the CRC (KIP-32: under LogAppendTime
// consumers read every record's timestamp from maxTimestamp).
func SetLogAppendTime(batch []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[posAttributes:]) | attrLogAppendTime
	binary.BigEndian.PutUint16(batch[posAttributes:], attrs)
	binary.BigEndian.PutUint64(batch[posMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(batch[posCRC:], ComputeCRC(batch))
}

// Batches iterates over the whole batches at the start of b, as stored in a
// segment file or a produce or fetch request. It stops at the first batch
// that is incomplete (a fetch may end with a partial batch) and reports the
// number of bytes consumed by whole batches.
func Batches(b []byte, fn func(h Header, batch []byte) error) (int, error) {
	used := 0
	for len(b)-used >= LogOverhead {
		length := int32(binary.BigEndian.Uint32(b[used+posLength:]))
		if length < HeaderSize-LogOverhead {
			return used, fmt.Errorf("%w: length %d", ErrBadLength, length)
		}
		size := int(length) + LogOverhead
		if len(b)-used < size {
			break
		}
		batch := b[used : used+size]
		h, err := ParseHeader(batch)
		if err != nil {
			return used, err
		}
		if err := fn(h, batch); err != nil {
			return used, err
		}
		used += size
	}
	return used, nil
}
