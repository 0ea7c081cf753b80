package kafka

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/samsa-io/samsa/internal/record"
)

// Records are encoded straight into their batch's buffer as they are
// appended, as Java's MemoryRecordsBuilder writes into the ByteBuffer the
// BufferPool handed out: the buffer starts with room for the batch header
// (record.HeaderSize bytes), which is filled in when the batch is first
// drained. An uncompressed batch is then sent from that buffer as it is,
// with no further copy.
//
// The layouts are those of internal/record (see its package
// documentation); the offsets below are the v2 batch header's fields.
const (
	hdrLength          = 8
	hdrLeaderEpoch     = 12
	hdrMagic           = 16
	hdrCRC             = 17
	hdrAttributes      = 21
	hdrLastOffsetDelta = 23
	hdrBaseTimestamp   = 27
	hdrMaxTimestamp    = 35
	hdrProducerID      = 43
	hdrProducerEpoch   = 51
	hdrBaseSequence    = 53
	hdrRecordCount     = 57
)

// attrTransactional is the batch attribute of a transaction's records.
const attrTransactional = 0x10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// varintLen is the size of v as a zig-zag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// bytesFieldLen is the size of a varint-length-prefixed byte string; nil
// is null (length -1).
func bytesFieldLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// recordBodyLen is the size of a record after its length prefix.
func recordBodyLen(tsDelta int64, offsetDelta int32, key, value []byte, headers Headers) int {
	n := 1 + varintLen(tsDelta) + varintLen(int64(offsetDelta)) + bytesFieldLen(key) + bytesFieldLen(value) + varintLen(int64(len(headers)))
	for i := range headers {
		h := &headers[i]
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesFieldLen(h.Value)
	}
	return n
}

func appendBytesField(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

// appendRecord appends one length-framed record whose body is bodyLen
// bytes (recordBodyLen); the result equals record.AppendRecord's.
func appendRecord(b []byte, bodyLen int, tsDelta int64, offsetDelta int32, key, value []byte, headers Headers) []byte {
	b = binary.AppendVarint(b, int64(bodyLen))
	b = append(b, 0) // attributes
	b = binary.AppendVarint(b, tsDelta)
	b = binary.AppendVarint(b, int64(offsetDelta))
	b = appendBytesField(b, key)
	b = appendBytesField(b, value)
	b = binary.AppendVarint(b, int64(len(headers)))
	for i := range headers {
		h := &headers[i]
		b = binary.AppendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendBytesField(b, h.Value)
	}
	return b
}

// batchHeader holds the header fields a producer sets.
type batchHeader struct {
	codec           record.Codec
	lastOffsetDelta int32
	baseTimestamp   int64
	maxTimestamp    int64
	producerID      int64
	producerEpoch   int16
	baseSequence    int32
	count           int32
	// transactional sets attribute bit 4: the batch belongs to a
	// transaction, and read_committed consumers see it only once a commit
	// marker follows.
	transactional bool
}

// writeBatchHeader fills the header at the start of batch (whose length is
// final) and its CRC. The base offset is 0 and the leader epoch -1, for
// the broker to set.
func writeBatchHeader(batch []byte, h *batchHeader) {
	binary.BigEndian.PutUint64(batch, 0)
	binary.BigEndian.PutUint32(batch[hdrLength:], uint32(len(batch)-record.LogOverhead))
	binary.BigEndian.PutUint32(batch[hdrLeaderEpoch:], 0xffffffff)
	batch[hdrMagic] = 2
	attrs := uint16(h.codec) & 0x07
	if h.transactional {
		attrs |= attrTransactional
	}
	binary.BigEndian.PutUint16(batch[hdrAttributes:], attrs)
	binary.BigEndian.PutUint32(batch[hdrLastOffsetDelta:], uint32(h.lastOffsetDelta))
	binary.BigEndian.PutUint64(batch[hdrBaseTimestamp:], uint64(h.baseTimestamp))
	binary.BigEndian.PutUint64(batch[hdrMaxTimestamp:], uint64(h.maxTimestamp))
	binary.BigEndian.PutUint32(batch[hdrRecordCount:], uint32(h.count))
	setBatchProducer(batch, h.producerID, h.producerEpoch, h.baseSequence)
}

// setBatchProducer rewrites the producer id, epoch and base sequence of an
// encoded batch and its CRC: a retry after an epoch bump carries the same
// (possibly compressed) records under new numbers.
func setBatchProducer(batch []byte, pid int64, epoch int16, seq int32) {
	binary.BigEndian.PutUint64(batch[hdrProducerID:], uint64(pid))
	binary.BigEndian.PutUint16(batch[hdrProducerEpoch:], uint16(epoch))
	binary.BigEndian.PutUint32(batch[hdrBaseSequence:], uint32(seq))
	binary.BigEndian.PutUint32(batch[hdrCRC:], crc32.Checksum(batch[hdrAttributes:], castagnoli))
}

// batchProducer reads back what setBatchProducer wrote.
func batchProducer(batch []byte) (int64, int16, int32) {
	return int64(binary.BigEndian.Uint64(batch[hdrProducerID:])),
		int16(binary.BigEndian.Uint16(batch[hdrProducerEpoch:])),
		int32(binary.BigEndian.Uint32(batch[hdrBaseSequence:]))
}

// produceSegments encodes a produce request frame (size, header v1 or v2,
// body) of the given version around the batches' bytes without copying
// them: the result alternates encoded bytes and batches, for a vectored
// write. It encodes exactly what kmsg's RequestFormatter.AppendRequest
// does for a ProduceRequest of versions 3 to 12 (Topics by name), with the
// transactional id of a transactional producer or null. scratch is reused
// for the encoded bytes.
func produceSegments(scratch []byte, version int16, corr int32, clientID string, txnID *string, acks int16, timeoutMs int32, topics []produceTopic) ([][]byte, []byte) {
	flexible := version >= 9
	b := scratch[:0]
	b = append(b, 0, 0, 0, 0) // frame size, set below
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	// The client id is never compact, even in flexible headers.
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	if flexible {
		b = append(b, 0) // header tags
	}
	switch {
	case txnID == nil && flexible:
		b = append(b, 0) // compact null
	case txnID == nil:
		b = binary.BigEndian.AppendUint16(b, 0xffff) // null
	case flexible:
		b = binary.AppendUvarint(b, uint64(len(*txnID))+1)
		b = append(b, *txnID...)
	default:
		b = binary.BigEndian.AppendUint16(b, uint16(len(*txnID)))
		b = append(b, *txnID...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(acks))
	b = binary.BigEndian.AppendUint32(b, uint32(timeoutMs))
	arrayLen := func(b []byte, n int) []byte {
		if flexible {
			return binary.AppendUvarint(b, uint64(n)+1)
		}
		return binary.BigEndian.AppendUint32(b, uint32(n))
	}
	// Segment boundaries in b: cuts[i] is where the bytes before batch i
	// end.
	var cuts []int
	var batches [][]byte
	b = arrayLen(b, len(topics))
	for ti := range topics {
		t := &topics[ti]
		if flexible {
			b = binary.AppendUvarint(b, uint64(len(t.name))+1)
		} else {
			b = binary.BigEndian.AppendUint16(b, uint16(len(t.name)))
		}
		b = append(b, t.name...)
		b = arrayLen(b, len(t.partitions))
		for pi := range t.partitions {
			p := &t.partitions[pi]
			b = binary.BigEndian.AppendUint32(b, uint32(p.partition))
			if flexible {
				b = binary.AppendUvarint(b, uint64(len(p.records))+1)
			} else {
				b = binary.BigEndian.AppendUint32(b, uint32(len(p.records)))
			}
			cuts = append(cuts, len(b))
			batches = append(batches, p.records)
			if flexible {
				b = append(b, 0) // partition tags
			}
		}
		if flexible {
			b = append(b, 0) // topic tags
		}
	}
	if flexible {
		b = append(b, 0) // request tags
	}
	size := len(b) - 4
	for _, r := range batches {
		size += len(r)
	}
	binary.BigEndian.PutUint32(b, uint32(size))
	segs := make([][]byte, 0, 2*len(batches)+1)
	prev := 0
	for i, c := range cuts {
		segs = append(segs, b[prev:c], batches[i])
		prev = c
	}
	segs = append(segs, b[prev:])
	return segs, b
}

// produceTopic and producePartition are a produce request's contents for
// produceSegments.
type produceTopic struct {
	name       string
	partitions []producePartition
}

type producePartition struct {
	partition int32
	records   []byte
}
