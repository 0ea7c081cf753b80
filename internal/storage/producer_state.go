package storage

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/samsa-io/samsa/internal/record"
)

// Producer state: for every idempotent producer that wrote to the
// partition, its epoch and the sequence ranges and offsets of its last
// five batches, so a retried batch is answered with its first offsets
// instead of being written twice, and a gap in sequences is refused.
// This is Kafka's ProducerStateManager for non-transactional producers.

// maxBatchesPerProducer is how many batches per producer are remembered
// for duplicate detection; clients keep at most this many in flight.
const maxBatchesPerProducer = 5

type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	timestamp               int64
}

type producerEntry struct {
	epoch   int16
	batches []batchMeta // oldest first, at most maxBatchesPerProducer
	// lastTimestamp is the wall-clock ms of the last append, for
	// producer id expiry.
	lastTimestamp int64
	// inTxn is set while the producer has a transaction open in the
	// partition, which began at txnFirstOffset (txn.go).
	inTxn          bool
	txnFirstOffset int64
	// coordinatorEpoch is that of the last marker written for it.
	coordinatorEpoch int32
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastSeq
}

func (e *producerEntry) lastOffset() int64 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastOffset
}

type producerState struct {
	producers map[int64]*producerEntry
	// ongoing maps producers with an open transaction to its first
	// offset; unreplicated lists completed transactions whose markers
	// may still be above the high watermark (txn.go).
	ongoing      map[int64]int64
	unreplicated []completedTxn
}

func newProducerState() *producerState {
	return &producerState{producers: map[int64]*producerEntry{}, ongoing: map[int64]int64{}}
}

// duplicate returns the metadata of an earlier batch with the same
// producer, epoch and sequence range, if the producer's recent batches
// include it.
func (ps *producerState) duplicate(h *record.Header) (batchMeta, bool) {
	e := ps.producers[h.ProducerID]
	if e == nil || e.epoch != h.ProducerEpoch {
		return batchMeta{}, false
	}
	for _, b := range e.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == h.LastSequence() {
			return b, true
		}
	}
	return batchMeta{}, false
}

// check validates a batch against the producer's state, as Kafka's
// ProducerAppendInfo does for a client's append. pending holds updates of
// earlier batches of the same append.
func (ps *producerState) check(h *record.Header, pending map[int64]*producerEntry) error {
	e := pending[h.ProducerID]
	if e == nil {
		e = ps.producers[h.ProducerID]
	}
	if e == nil {
		// A producer this partition does not know (new, or its state
		// expired or was removed with the records) may start at any
		// sequence.
		return nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return fmt.Errorf("%w: producer %d epoch %d is older than the current epoch %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return fmt.Errorf("%w: producer %d starts its new epoch %d at sequence %d, not 0", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
	default:
		last := e.lastSeq()
		if len(e.batches) > 0 && !inSequence(last, h.BaseSequence) {
			return fmt.Errorf("%w: producer %d epoch %d sent sequence %d after %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, last)
		}
	}
	return nil
}

func inSequence(last, next int32) bool {
	return next == last+1 || (next == 0 && last == math.MaxInt32)
}

// update records an appended batch (h has its final offsets) into pending,
// or straight into the state when pending is nil.
func (ps *producerState) update(h *record.Header, now int64, pending map[int64]*producerEntry) {
	var e *producerEntry
	if pending != nil {
		if e = pending[h.ProducerID]; e == nil {
			// Work on a copy: the append may still fail.
			e = &producerEntry{epoch: h.ProducerEpoch, coordinatorEpoch: -1}
			if cur := ps.producers[h.ProducerID]; cur != nil {
				*e = *cur
				e.batches = slices.Clone(cur.batches)
			}
			pending[h.ProducerID] = e
		}
	} else if e = ps.producers[h.ProducerID]; e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch, batches: make([]batchMeta, 0, maxBatchesPerProducer), coordinatorEpoch: -1}
		ps.producers[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.epoch {
		e.epoch, e.batches = h.ProducerEpoch, e.batches[:0]
	}
	if len(e.batches) == maxBatchesPerProducer {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:maxBatchesPerProducer-1]
	}
	e.batches = append(e.batches, batchMeta{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		firstOffset: h.BaseOffset, lastOffset: h.LastOffset(),
		timestamp: h.MaxTimestamp,
	})
	e.lastTimestamp = now
}

func (ps *producerState) commit(pending map[int64]*producerEntry) {
	for id, e := range pending {
		ps.producers[id] = e
	}
}

// truncateHead forgets producers whose last batch is below the log start
// offset: their records are gone.
func (ps *producerState) truncateHead(logStart int64) {
	for id, e := range ps.producers {
		if e.lastOffset() < logStart && (!e.inTxn || e.txnFirstOffset < logStart) {
			delete(ps.producers, id)
			delete(ps.ongoing, id)
		}
	}
}

// expire forgets producers idle for longer than maxIdleMs.
func (ps *producerState) expire(now, maxIdleMs int64) {
	for id, e := range ps.producers {
		if now-e.lastTimestamp >= maxIdleMs && !e.inTxn {
			delete(ps.producers, id)
		}
	}
}

// Snapshot files, <offset>.snapshot, in Kafka's format (version 1): the
// state of every producer as of that offset, with the last batch of each.
//
//	version int16, crc uint32 (CRC-32C of what follows),
//	count int32, then per producer:
//	  producer id int64, epoch int16, last sequence int32, last offset int64,
//	  offset delta int32, timestamp int64, coordinator epoch int32,
//	  current transaction first offset int64 (-1 when none is open)
const (
	snapshotVersion   = 1
	snapshotEntrySize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8
)

func (ps *producerState) encodeSnapshot() []byte {
	ids := make([]int64, 0, len(ps.producers))
	for id, e := range ps.producers {
		if len(e.batches) > 0 || e.inTxn {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	b := make([]byte, 0, 10+len(ids)*snapshotEntrySize)
	b = binary.BigEndian.AppendUint16(b, snapshotVersion)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := ps.producers[id]
		last := batchMeta{firstSeq: -1, lastSeq: -1, firstOffset: e.txnFirstOffset, lastOffset: e.txnFirstOffset, timestamp: -1}
		if len(e.batches) > 0 {
			last = e.batches[len(e.batches)-1]
		}
		txnFirst := int64(-1)
		if e.inTxn {
			txnFirst = e.txnFirstOffset
		}
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint32(b, uint32(last.lastSeq))
		b = binary.BigEndian.AppendUint64(b, uint64(last.lastOffset))
		b = binary.BigEndian.AppendUint32(b, uint32(last.lastOffset-last.firstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(last.timestamp))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordinatorEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(txnFirst))
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// decodeSnapshot parses a snapshot file. now stamps the loaded producers
// for expiry.
func decodeSnapshot(b []byte, now int64) (*producerState, error) {
	if len(b) < 10 {
		return nil, fmt.Errorf("snapshot of %d bytes is too short", len(b))
	}
	if v := binary.BigEndian.Uint16(b); v != snapshotVersion {
		return nil, fmt.Errorf("snapshot version %d is not %d", v, snapshotVersion)
	}
	if crc := binary.BigEndian.Uint32(b[2:]); crc != crc32.Checksum(b[6:], castagnoli) {
		return nil, fmt.Errorf("snapshot CRC mismatch")
	}
	n := int(binary.BigEndian.Uint32(b[6:]))
	b = b[10:]
	if n < 0 || len(b) != n*snapshotEntrySize {
		return nil, fmt.Errorf("snapshot holds %d bytes for %d entries", len(b), n)
	}
	ps := newProducerState()
	for i := 0; i < n; i++ {
		e := b[i*snapshotEntrySize:]
		id := int64(binary.BigEndian.Uint64(e))
		epoch := int16(binary.BigEndian.Uint16(e[8:]))
		lastSeq := int32(binary.BigEndian.Uint32(e[10:]))
		lastOffset := int64(binary.BigEndian.Uint64(e[14:]))
		delta := int32(binary.BigEndian.Uint32(e[22:]))
		ts := int64(binary.BigEndian.Uint64(e[26:]))
		coordEpoch := int32(binary.BigEndian.Uint32(e[34:]))
		txnFirst := int64(binary.BigEndian.Uint64(e[38:]))
		if lastSeq < 0 {
			// Only an open transaction (no sequenced batch yet).
			pe := &producerEntry{epoch: epoch, lastTimestamp: now, coordinatorEpoch: coordEpoch}
			if txnFirst >= 0 {
				pe.inTxn, pe.txnFirstOffset = true, txnFirst
				ps.ongoing[id] = txnFirst
			}
			ps.producers[id] = pe
			continue
		}
		first := int64(lastSeq) - int64(delta)
		if first < 0 { // the batch wrapped past MaxInt32
			first += math.MaxInt32 + 1
		}
		firstSeq := int32(first)
		ps.producers[id] = &producerEntry{
			epoch: epoch,
			batches: []batchMeta{{
				firstSeq: firstSeq, lastSeq: lastSeq,
				firstOffset: lastOffset - int64(delta), lastOffset: lastOffset,
				timestamp: ts,
			}},
			lastTimestamp:    now,
			coordinatorEpoch: coordEpoch,
		}
		if txnFirst >= 0 {
			pe := ps.producers[id]
			pe.inTxn, pe.txnFirstOffset = true, txnFirst
			ps.ongoing[id] = txnFirst
		}
	}
	return ps, nil
}

// ActiveProducer is one producer's state in a partition, as
// DescribeProducers (KIP-664) reports it.
type ActiveProducer struct {
	ProducerID    int64
	ProducerEpoch int16
	// LastSequence and LastTimestamp are those of the producer's last
	// batch (the batch's max timestamp), -1 when it wrote none.
	LastSequence     int32
	LastTimestamp    int64
	CoordinatorEpoch int32
	// TxnStartOffset is the first offset of the producer's open
	// transaction in the partition, -1 when none is open.
	TxnStartOffset int64
}

// ActiveProducers lists the producers the partition keeps state for,
// by producer id.
func (l *Log) ActiveProducers() []ActiveProducer {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]ActiveProducer, 0, len(l.ps.producers))
	for id, e := range l.ps.producers {
		a := ActiveProducer{
			ProducerID: id, ProducerEpoch: e.epoch,
			LastSequence: -1, LastTimestamp: -1,
			CoordinatorEpoch: e.coordinatorEpoch, TxnStartOffset: -1,
		}
		if n := len(e.batches); n > 0 {
			a.LastSequence, a.LastTimestamp = e.batches[n-1].lastSeq, e.batches[n-1].timestamp
		}
		if e.inTxn {
			a.TxnStartOffset = e.txnFirstOffset
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b ActiveProducer) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}
