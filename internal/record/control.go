package record

import (
	"encoding/binary"
	"errors"
)

// Control records (Kafka's ControlRecordType) mark the end of a
// transaction in a partition: a control batch (attributes bit 5, and bit 4
// since it belongs to a transaction) holding one record whose key is
// version int16 (0) and type int16 (0 ABORT, 1 COMMIT), and whose value is
// version int16 (0) and the coordinator epoch int32.
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// ErrBadControlRecord is returned for a control batch whose record is not
// a transaction marker Kafka could have written.
var ErrBadControlRecord = errors.New("malformed control record")

// EndTxnMarker builds the control batch that ends producerID's
// transaction in a partition: a COMMIT marker when commit, else ABORT.
func EndTxnMarker(producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool, timestamp int64) []byte {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(make([]byte, 0, 4), 0)
	key = binary.BigEndian.AppendUint16(key, uint16(typ))
	value := binary.BigEndian.AppendUint16(make([]byte, 0, 6), 0)
	value = binary.BigEndian.AppendUint32(value, uint32(coordinatorEpoch))
	b := NewBuilder(None)
	b.ProducerID, b.ProducerEpoch = producerID, producerEpoch
	b.Transactional, b.Control = true, true
	b.Add(timestamp, Record{Key: key, Value: value})
	out, err := b.Build(nil)
	if err != nil {
		panic(err) // uncompressed: cannot fail
	}
	return out
}

// ParseEndTxnMarker reads the transaction marker of a control batch: its
// type and coordinator epoch. A control record of another type (Kafka's
// LEADER_CHANGE and the like) reports ok false.
func ParseEndTxnMarker(h *Header, batch []byte) (commit bool, coordinatorEpoch int32, ok bool, err error) {
	if !h.Control() {
		return false, 0, false, ErrBadControlRecord
	}
	var seen bool
	err = EachRecord(h, batch, 1<<20, func(r *Record) error {
		if seen {
			return ErrBadControlRecord
		}
		seen = true
		if len(r.Key) < 4 || int16(binary.BigEndian.Uint16(r.Key)) < 0 {
			return ErrBadControlRecord
		}
		typ := int16(binary.BigEndian.Uint16(r.Key[2:]))
		if typ != ControlAbort && typ != ControlCommit {
			return nil
		}
		if len(r.Value) < 6 || int16(binary.BigEndian.Uint16(r.Value)) < 0 {
			return ErrBadControlRecord
		}
		commit, coordinatorEpoch, ok = typ == ControlCommit, int32(binary.BigEndian.Uint32(r.Value[2:])), true
		return nil
	})
	if err == nil && !seen {
		err = ErrBadControlRecord
	}
	return commit, coordinatorEpoch, ok, err
}
