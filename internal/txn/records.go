package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
)

// errBadRecord is returned for a __transaction_state record that cannot
// be decoded.
var errBadRecord = errors.New("malformed __transaction_state record")

// buildBatch encodes the state of a transactional id (nil: a tombstone)
// as one uncompressed batch of one record, Kafka's TransactionLogKey and
// TransactionLogValue (doc.go).
func buildBatch(id string, m *txnMeta, nowMs int64) ([]byte, error) {
	k := kmsg.NewTxnMetadataKey()
	k.Version = 0
	k.TransactionalID = id
	rec := record.Record{Key: k.AppendTo(nil)}
	if m != nil {
		v := kmsg.NewTxnMetadataValue()
		v.Version = 1
		v.ProducerID, v.ProducerEpoch = m.producerID, m.epoch
		v.PreviousProducerID, v.NextProducerID, v.NextProducerEpoch = m.prevProducerID, m.nextProducerID, -1
		v.ClientTransactionVersion = m.clientVersion
		v.TimeoutMillis = m.timeoutMs
		v.State = m.state
		if m.state != kmsg.TransactionStateEmpty {
			v.Topics = []kmsg.TxnMetadataValueTopic{}
			for _, tp := range m.sortedParts() {
				if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.Topic {
					v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic})
				}
				t := &v.Topics[len(v.Topics)-1]
				t.Partitions = append(t.Partitions, tp.Partition)
			}
		}
		v.LastUpdateTimestamp, v.StartTimestamp = m.updateMs, m.startMs
		rec.Value = v.AppendTo(nil)
	}
	b := record.NewBuilder(record.None)
	b.Add(nowMs, rec)
	return b.Build(nil)
}

// maxDecompressedBatchBytes bounds what one compressed batch of
// __transaction_state may expand to when it is replayed.
const maxDecompressedBatchBytes = 64 << 20

// eachRecord decodes the records of one batch of __transaction_state:
// fn gets each transactional id with its state, nil for a tombstone.
// Control batches and unknown record types are skipped.
func eachRecord(batch []byte, fn func(id string, m *txnMeta)) error {
	h, err := record.ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.Control() {
		return nil
	}
	return record.EachRecord(&h, batch, maxDecompressedBatchBytes, func(r *record.Record) error {
		id, m, err := decodeRecord(r.Key, r.Value)
		if errors.Is(err, errUnknownType) {
			return nil
		}
		if err != nil {
			return err
		}
		fn(id, m)
		return nil
	})
}

var errUnknownType = errors.New("unknown __transaction_state record type")

// decodeRecord decodes one record's key and value.
func decodeRecord(key, value []byte) (string, *txnMeta, error) {
	if len(key) < 2 {
		return "", nil, fmt.Errorf("%w: key of %d bytes", errBadRecord, len(key))
	}
	if typ := int16(binary.BigEndian.Uint16(key)); typ != 0 {
		return "", nil, fmt.Errorf("%w %d", errUnknownType, typ)
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", nil, fmt.Errorf("%w: key: %v", errBadRecord, err)
	}
	if value == nil {
		return k.TransactionalID, nil, nil
	}
	if len(value) < 2 {
		return "", nil, fmt.Errorf("%w: value of %d bytes", errBadRecord, len(value))
	}
	if ver := int16(binary.BigEndian.Uint16(value)); ver < 0 || ver > 1 {
		return "", nil, fmt.Errorf("%w: value version %d", errBadRecord, ver)
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return "", nil, fmt.Errorf("%w: value: %v", errBadRecord, err)
	}
	if v.State < kmsg.TransactionStateEmpty || v.State > kmsg.TransactionStatePrepareEpochFence {
		return "", nil, fmt.Errorf("%w: state %d", errBadRecord, v.State)
	}
	m := &txnMeta{
		id: k.TransactionalID, producerID: v.ProducerID, prevProducerID: -1, nextProducerID: -1, epoch: v.ProducerEpoch, prevEpoch: -1,
		timeoutMs: v.TimeoutMillis, state: v.State, parts: map[TopicPartition]struct{}{},
		startMs: v.StartTimestamp, updateMs: v.LastUpdateTimestamp,
	}
	if v.Version >= 1 {
		m.prevProducerID, m.nextProducerID, m.clientVersion = v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion
	}
	if m.clientVersion >= 2 && m.prevProducerID >= 0 {
		// A transactions v2 end bumped the epoch by one, or overflowed
		// it to a new producer id at epoch 0 (KIP-890): the epoch
		// before is implied, as in Kafka's log.
		m.prevEpoch = m.epoch - 1
		if m.epoch == 0 {
			m.prevEpoch = math.MaxInt16 - 1
		}
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.parts[TopicPartition{t.Topic, p}] = struct{}{}
		}
	}
	return k.TransactionalID, m, nil
}
