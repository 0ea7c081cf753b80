package broker

import (
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

// validateProduce checks the records of one partition of a produce request.
// Current clients send exactly one v2 batch per partition; anything else is
// rejected, as Kafka does for produce v3 and later. now is the broker's clock
// in ms.
func validateProduce(data []byte, rules *batchRules, now int64) (validatedBatch, error) {
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
			return vb, errorf(kerr.UnsupportedForMessageFormat, "only message format v2 (magic 2) is accepted: %v", err)
		}
		return vb, errorf(kerr.CorruptMessage, "%v", err)
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
	if h.Transactional() {
		return vb, errorf(kerr.InvalidTxnState, "transactional batches are not accepted: this broker does not coordinate transactions")
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
	}
	var expectDelta int32
	err = record.EachRecord(&h, data, rules.maxDecompressed, func(r *record.Record) error {
		if r.OffsetDelta != expectDelta {
			return errorf(kerr.InvalidRecord, "record %d has offset delta %d; offsets must be sequential from 0", expectDelta, r.OffsetDelta)
		}
		expectDelta++
		ts := h.BaseTimestamp + r.TimestampDelta
		if !rules.logAppendTime {
			if err := checkTimestamp(ts, now, rules); err != nil {
				return err
			}
		}
		if rules.compacted && r.Key == nil {
			return errorf(kerr.InvalidRecord, "compacted topic cannot accept a record without a key")
		}
		if rebuild {
			builder.Add(ts, *r)
		}
		return nil
	})
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
