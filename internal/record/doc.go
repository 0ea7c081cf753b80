// Package record encodes, decodes and validates Kafka's v2 record batch (the
// "message format v2", magic 2, KIP-98), the unit that producers send, the
// broker stores byte for byte in its segment files and consumers fetch.
//
// # Batch layout
//
// All integers are big-endian. Offsets are from the start of the batch.
//
//	 0  baseOffset            int64  first offset of the batch (set by the broker)
//	 8  batchLength           int32  bytes that follow this field
//	12  partitionLeaderEpoch  int32  set by the broker
//	16  magic                 int8   always 2
//	17  crc                   uint32 CRC-32C (Castagnoli) of bytes 21..end
//	21  attributes            int16  bits 0-2 compression (0 none, 1 gzip,
//	                                 2 snappy, 3 lz4, 4 zstd), bit 3 timestamp
//	                                 type (1 = LogAppendTime), bit 4
//	                                 transactional, bit 5 control, bit 6 delete
//	                                 horizon set (compaction)
//	23  lastOffsetDelta       int32  offset of the last record minus baseOffset
//	27  baseTimestamp         int64  ms; first record's timestamp
//	35  maxTimestamp          int64  ms; largest timestamp in the batch
//	43  producerId            int64  -1 if not idempotent
//	51  producerEpoch         int16
//	53  baseSequence          int32  -1 if not idempotent
//	57  recordCount           int32
//	61  records...                   possibly compressed as a whole
//
// The fields before the CRC (base offset, length, leader epoch, magic) can be
// rewritten by the broker without recomputing the CRC; changing anything from
// attributes on (for example maxTimestamp under LogAppendTime) requires it.
//
// # Record layout
//
// Every record is varint-framed (zig-zag varints, as protobuf's sint):
//
//	length          varint  bytes that follow
//	attributes      int8    unused, 0
//	timestampDelta  varlong relative to baseTimestamp
//	offsetDelta     varint  relative to baseOffset
//	keyLength       varint  -1 for a null key
//	key             bytes
//	valueLength     varint  -1 for a null value (a tombstone)
//	value           bytes
//	headerCount     varint
//	headers         headerCount times: keyLength varint, key (UTF-8),
//	                valueLength varint (-1 null), value
//
// Compressed batches compress the concatenated records only; the 61-byte
// header stays in the clear. Snappy data comes either as a raw snappy block
// or in the xerial framing the Java client writes; both are read, and xerial
// framing (32 KiB chunks) is written. LZ4 uses the LZ4 frame format, written
// as Kafka writes it (64 KiB independent blocks, no checksums, no content
// size) and read in any of its forms but the legacy one and dictionaries.
// Gzip may hold several members. Zstd data is one or more frames; ours
// carry their content size.
//
// Compression levels are Kafka's compression.gzip.level,
// compression.lz4.level and compression.zstd.level (KIP-390); CheckLevel
// gives their ranges and CompressLevel says how they map onto the Go
// codecs. Decompression is bounded by a size limit that no size declared
// in the data can get around; see Decompress.
package record
