package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/record"
)

// batchRules are the topic settings a produced batch is checked against
// (Kafka's LogValidator).
type batchRules struct {
	maxMessageBytes int
	logAppendTime   bool         // message.timestamp.type=LogAppendTime
	beforeMaxMs     int64        // message.timestamp.before.max.ms
	afterMaxMs      int64        // message.timestamp.after.max.ms
	targetCodec     record.Codec // used when recompress is set
	recompress      bool         // compression.type is not "producer"
	compacted       bool         // cleanup.policy includes compact: keys required
	maxDecompressed int
}

// validatedBatch is a batch ready to append: possibly rebuilt (recompressed)
// and with its header parsed.
type validatedBatch struct {
	hdr   record.Header
	bytes []byte
}

// validateProduce checks the records of one partition of a produce request
// of the given version. Current clients send exactly one v2 batch per
// partition; anything else is rejected, as Kafka does for produce v3 and
// later. now is the broker's clock in ms.
func validateProduce(data []byte, version int16, rules *batchRules, now int64) (validatedBatch, error) {
	var vb validatedBatch
	if len(data) == 0 {
		return vb, errorf(kerr.InvalidRecord, "produce request has no record batch")
	}
	if len(data) < record.HeaderSize {
		return vb, errorf(kerr.CorruptMessage, "record batch of %d bytes is shorter than a batch header", len(data))
	}
	h, err := record.ParseHeader(data)
	if err != nil {
		if errors.Is(err, record.ErrBadMagic) {
			// INVALID_RECORD, as Kafka's ProduceRequest.validateRecords
			// answers any magic but 2 from produce v3 on.
			return vb, errorf(kerr.InvalidRecord, "produce v3 and later carry only message format v2 (magic 2): %v", err)
		}
		return vb, errorf(kerr.CorruptMessage, "%v", err)
	}
	// KIP-110: a client that sends zstd must say so with produce v7 or
	// later, so that older brokers can refuse it (Kafka's
	// ProduceRequest.validateRecords).
	if version < produceZstdMinVersion && h.Compression() == record.Zstd {
		return vb, errorf(kerr.UnsupportedCompressionType, "zstd-compressed batches need produce v%d or later, got v%d", produceZstdMinVersion, version)
	}
	if h.Size() != len(data) {
		if h.Size() < len(data) {
			return vb, errorf(kerr.InvalidRecord, "produce requests may contain exactly one record batch per partition")
		}
		return vb, errorf(kerr.CorruptMessage, "record batch length %d exceeds the %d bytes sent", h.Size(), len(data))
	}
	if h.Size() > rules.maxMessageBytes {
		return vb, errorf(kerr.MessageTooLarge, "record batch of %d bytes exceeds max.message.bytes %d", h.Size(), rules.maxMessageBytes)
	}
	if err := record.CheckCRC(data); err != nil {
		return vb, errorf(kerr.CorruptMessage, "%v", err)
	}
	if h.Control() {
		return vb, errorf(kerr.InvalidRecord, "clients may not produce control batches")
	}
	if h.Transactional() && (h.ProducerID < 0 || h.BaseSequence < 0) {
		return vb, errorf(kerr.InvalidRecord, "a transactional batch needs a producer id and a sequence")
	}
	if h.Compression() > record.Zstd {
		return vb, errorf(kerr.CorruptMessage, "unknown compression codec %d", h.Compression())
	}
	if h.NumRecords <= 0 {
		return vb, errorf(kerr.InvalidRecord, "record batch has %d records", h.NumRecords)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return vb, errorf(kerr.InvalidRecord, "record batch last offset delta %d does not match its %d records", h.LastOffsetDelta, h.NumRecords)
	}

	rebuild := rules.recompress && h.Compression() != rules.targetCodec
	var builder *record.Builder
	if rebuild {
		builder = record.NewBuilder(rules.targetCodec)
		builder.ProducerID, builder.ProducerEpoch, builder.BaseSequence = h.ProducerID, h.ProducerEpoch, h.BaseSequence
		builder.Transactional = h.Transactional()
	}
	if !rebuild {
		err = checkRecords(&h, data, rules, now)
	} else {
		err = rebuildRecords(&h, data, rules, now, builder)
	}
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return vb, err
		}
		if errors.Is(err, record.ErrTooLarge) {
			return vb, errorf(kerr.MessageTooLarge, "record batch decompresses to more than %d bytes", rules.maxDecompressed)
		}
		return vb, errorf(kerr.CorruptMessage, "%v", err)
	}
	if !rebuild {
		return validatedBatch{hdr: h, bytes: data}, nil
	}
	out, err := builder.Build(nil)
	if err != nil {
		return vb, fmt.Errorf("recompressing with %s: %w", rules.targetCodec, err)
	}
	if len(out) > rules.maxMessageBytes {
		return vb, errorf(kerr.MessageTooLarge, "record batch recompressed with %s is %d bytes, over max.message.bytes %d", rules.targetCodec, len(out), rules.maxMessageBytes)
	}
	h2, _ := record.ParseHeader(out)
	return validatedBatch{hdr: h2, bytes: out}, nil
}

// checkRecords is the validation of a batch that is stored as sent: the
// hot path of every produce, so one loop with no call per record beyond
// the varint reads. It checks what rebuildRecords checks.
func checkRecords(h *record.Header, batch []byte, rules *batchRules, now int64) error {
	data, err := record.RecordsOf(h, batch, rules.maxDecompressed)
	if err != nil {
		return err
	}
	checkTs := !rules.logAppendTime
	// With the batch's base and max timestamps inside the allowed window,
	// only a record outside [base, max] needs its own check.
	if checkTs && checkTimestamp(h.BaseTimestamp, now, rules) == nil && checkTimestamp(h.MaxTimestamp, now, rules) == nil {
		checkTs = false
	}
	var n int32
	for len(data) > 0 {
		length, used := fastVarint(data)
		if used <= 0 || length < 0 || length > int64(len(data)-used) {
			return fmt.Errorf("%w: record length", record.ErrBadRecords)
		}
		rec := data[used : used+int(length)]
		data = data[used+int(length):]
		if n >= h.NumRecords {
			return fmt.Errorf("%w: more records than the header's %d", record.ErrBadCount, h.NumRecords)
		}
		if len(rec) < 1 {
			return fmt.Errorf("%w: empty record", record.ErrBadRecords)
		}
		p := 1 // attributes
		tsDelta, u := fastVarlong(rec[p:])
		if u <= 0 {
			return fmt.Errorf("%w: record fields", record.ErrBadRecords)
		}
		p += u
		offDelta, u := fastVarint(rec[p:])
		if u <= 0 || offDelta > math.MaxInt32 || offDelta < math.MinInt32 {
			return fmt.Errorf("%w: record fields", record.ErrBadRecords)
		}
		p += u
		if int32(offDelta) != n {
			return errorf(kerr.InvalidRecord, "record %d has offset delta %d; offsets must be sequential from 0", n, offDelta)
		}
		if !rules.logAppendTime {
			if ts := h.BaseTimestamp + tsDelta; checkTs || ts < h.BaseTimestamp || ts > h.MaxTimestamp {
				if err := checkTimestamp(ts, now, rules); err != nil {
					return err
				}
			}
		}
		var null bool
		// key, value
		for i := 0; i < 2; i++ {
			l, u := fastVarint(rec[p:])
			if u <= 0 || l < -1 || l > int64(len(rec)-p-u) {
				return fmt.Errorf("%w: record fields", record.ErrBadRecords)
			}
			p += u
			if l > 0 {
				p += int(l)
			}
			if i == 0 {
				null = l == -1
			}
		}
		if null && rules.compacted {
			return errorf(kerr.InvalidRecord, "compacted topic cannot accept a record without a key")
		}
		headers, u := fastVarint(rec[p:])
		if u <= 0 || headers < 0 || headers > int64(len(rec)-p-u) {
			return fmt.Errorf("%w: record fields", record.ErrBadRecords)
		}
		p += u
		for i := int64(0); i < headers; i++ {
			for j := 0; j < 2; j++ {
				l, u := fastVarint(rec[p:])
				if u <= 0 || l < -1 || l > int64(len(rec)-p-u) || (j == 0 && l == -1) {
					return fmt.Errorf("%w: record header", record.ErrBadRecords)
				}
				p += u
				if l > 0 {
					p += int(l)
				}
			}
		}
		if p != len(rec) {
			return fmt.Errorf("%w: %d trailing bytes in record", record.ErrBadRecords, len(rec)-p)
		}
		n++
	}
	if n != h.NumRecords {
		return fmt.Errorf("%w: header says %d, found %d", record.ErrBadCount, h.NumRecords, n)
	}
	return nil
}

// fastVarint reads a zig-zag varint of at most 5 bytes within int32's
// range (record.ReadVarint's rules), inline for the one-byte case that
// most record fields are. used <= 0 means malformed or truncated.
func fastVarint(b []byte) (v int64, used int) {
	if len(b) > 0 && b[0] < 0x80 {
		return int64(b[0]>>1) ^ -int64(b[0]&1), 1
	}
	if len(b) > 1 && b[1] < 0x80 {
		u := uint64(b[0]&0x7f) | uint64(b[1])<<7
		return int64(u>>1) ^ -int64(u&1), 2
	}
	v32, n, ok := record.ReadVarint(b)
	if !ok {
		return 0, 0
	}
	return int64(v32), n
}

// fastVarlong reads a zig-zag varlong, inline for the one-byte case.
func fastVarlong(b []byte) (v int64, used int) {
	if len(b) > 0 && b[0] < 0x80 {
		return int64(b[0]>>1) ^ -int64(b[0]&1), 1
	}
	return binary.Varint(b)
}

// rebuildRecords validates a batch being recompressed and adds its
// records to the builder.
func rebuildRecords(h *record.Header, data []byte, rules *batchRules, now int64, builder *record.Builder) error {
	var expectDelta int32
	return walkRecords(h, data, rules.maxDecompressed, func(r *recordView) error {
		if r.offsetDelta != expectDelta {
			return errorf(kerr.InvalidRecord, "record %d has offset delta %d; offsets must be sequential from 0", expectDelta, r.offsetDelta)
		}
		expectDelta++
		ts := h.BaseTimestamp + r.timestampDelta
		if !rules.logAppendTime {
			if err := checkTimestamp(ts, now, rules); err != nil {
				return err
			}
		}
		if rules.compacted && r.nullKey {
			return errorf(kerr.InvalidRecord, "compacted topic cannot accept a record without a key")
		}
		// A batch being recompressed needs its records whole, one
		// record's headers at a time.
		full, _, err := record.ReadRecord(r.raw)
		if err != nil {
			return err
		}
		builder.Add(ts, full)
		return nil
	})
}

// checkTimestamp applies message.timestamp.before.max.ms and
// message.timestamp.after.max.ms (KIP-937) to a CreateTime timestamp.
func checkTimestamp(ts, now int64, rules *batchRules) error {
	if ts < now && rules.beforeMaxMs != math.MaxInt64 && uint64(now-ts) > uint64(rules.beforeMaxMs) {
		return errorf(kerr.InvalidTimestamp, "timestamp %d is more than message.timestamp.before.max.ms=%d before the broker's time %d", ts, rules.beforeMaxMs, now)
	}
	if ts > now && uint64(ts-now) > uint64(rules.afterMaxMs) {
		return errorf(kerr.InvalidTimestamp, "timestamp %d is more than message.timestamp.after.max.ms=%d after the broker's time %d", ts, rules.afterMaxMs, now)
	}
	return nil
}

// recordView is what validation needs of one record, read without copying
// its key, value or headers.
type recordView struct {
	raw            []byte // the whole record, length prefix included
	timestampDelta int64
	offsetDelta    int32
	nullKey        bool
}

// walkRecords checks the structure of every record of a batch as
// record.ReadRecord does (lengths within bounds, non-null header keys, no
// trailing bytes, the header's record count) and calls fn with each. Keys,
// values and headers are skipped by their lengths rather than decoded, so
// a record with a million headers costs no memory beyond the decompressed
// batch (Kafka's LogValidator does the same with
// RecordBatch.skipKeyValueIterator).
func walkRecords(h *record.Header, batch []byte, maxBytes int, fn func(r *recordView) error) error {
	data, err := record.RecordsOf(h, batch, maxBytes)
	if err != nil {
		return err
	}
	var n int32
	for len(data) > 0 {
		r, used, err := skimRecord(data)
		if err != nil {
			return err
		}
		data = data[used:]
		n++
		if n > h.NumRecords {
			return fmt.Errorf("%w: more records than the header's %d", record.ErrBadCount, h.NumRecords)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if n != h.NumRecords {
		return fmt.Errorf("%w: header says %d, found %d", record.ErrBadCount, h.NumRecords, n)
	}
	return nil
}

// skimRecord reads one length-framed record from the start of b and returns
// its view and the number of bytes used.
func skimRecord(b []byte) (recordView, int, error) {
	var r recordView
	length, n, ok := record.ReadVarint(b)
	if !ok || length < 0 || int(length) > len(b)-n {
		return r, 0, fmt.Errorf("%w: record length", record.ErrBadRecords)
	}
	s := skimmer{b: b[n : n+int(length)]}
	if len(s.b) < 1 {
		return r, 0, fmt.Errorf("%w: empty record", record.ErrBadRecords)
	}
	s.b = s.b[1:] // attributes: unused in v2 records
	r.timestampDelta = s.varlong()
	r.offsetDelta = s.varint()
	r.nullKey = s.skipBytes()
	s.skipBytes() // value
	headers := s.varint()
	if s.bad || headers < 0 || int(headers) > len(s.b) {
		return r, 0, fmt.Errorf("%w: record fields", record.ErrBadRecords)
	}
	for range headers {
		if null := s.skipBytes(); null || s.bad {
			return r, 0, fmt.Errorf("%w: record header", record.ErrBadRecords)
		}
		s.skipBytes() // header value, may be null
		if s.bad {
			return r, 0, fmt.Errorf("%w: record header", record.ErrBadRecords)
		}
	}
	if len(s.b) != 0 {
		return r, 0, fmt.Errorf("%w: %d trailing bytes in record", record.ErrBadRecords, len(s.b))
	}
	r.raw = b[:n+int(length)]
	return r, n + int(length), nil
}

// skimmer reads a record's fields with bounds checks; any overrun sets bad
// and empties b, so later reads fail too.
type skimmer struct {
	b   []byte
	bad bool
}

func (s *skimmer) fail() {
	s.bad, s.b = true, nil
}

func (s *skimmer) varint() int32 {
	v, n, ok := record.ReadVarint(s.b)
	if !ok {
		s.fail()
		return 0
	}
	s.b = s.b[n:]
	return v
}

func (s *skimmer) varlong() int64 {
	v, n, ok := record.ReadVarlong(s.b)
	if !ok {
		s.fail()
		return 0
	}
	s.b = s.b[n:]
	return v
}

// skipBytes skips a varint-length-prefixed byte string and reports whether
// it was null (length -1). The length is checked against what is left.
func (s *skimmer) skipBytes() (null bool) {
	n := s.varint()
	if s.bad {
		return false
	}
	if n < -1 || int(n) > len(s.b) {
		s.fail()
		return false
	}
	if n == -1 {
		return true
	}
	s.b = s.b[n:]
	return false
}
