package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"slices"

	"github.com/samsa-io/samsa/internal/record"
)

// Transactions in a partition log (KIP-98). A transactional producer's
// batches carry the transactional attribute; the transaction coordinator
// ends the transaction in each partition with a control batch, a COMMIT
// or ABORT marker. The log tracks, per producer, the first offset of its
// ongoing transaction, so that:
//
//   - the last stable offset (LSO) is the smallest of the high watermark,
//     the first offset of every ongoing transaction, and the first offset
//     of every transaction whose marker is not yet below the high
//     watermark; read_committed consumers read only below it;
//   - every aborted transaction is recorded in the transaction index of
//     the segment holding its ABORT marker, so a read_committed fetch can
//     be told which producers' records to drop.
//
// The transaction index (<base>.txnindex) is Kafka's: 34-byte entries of
// version int16 (0), producer id int64, first offset int64, last offset
// int64 (the marker's) and last stable offset int64 (the LSO once the
// transaction completed). It is created on the first abort in a segment,
// written through like the other indexes, deleted with its segment, and
// rebuilt from the log when the segment is recovered after a crash.

const (
	txnIndexSuffix    = ".txnindex"
	txnIndexVersion   = 0
	txnIndexEntrySize = 2 + 8 + 8 + 8 + 8
)

// AbortedTxn is an entry of the transaction index: an aborted transaction
// of ProducerID spanning [FirstOffset, LastOffset] (LastOffset is its
// ABORT marker).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// ErrInvalidTxnState is returned for a marker or transactional batch that
// does not fit the producer's state.
var ErrInvalidTxnState = errors.New("invalid transaction state")

// ErrCoordinatorFenced is returned for a marker from a transaction
// coordinator older than one that already wrote a marker for the producer.
var ErrCoordinatorFenced = errors.New("transaction coordinator fenced")

func appendTxnIndexEntry(dst []byte, a AbortedTxn) []byte {
	dst = binary.BigEndian.AppendUint16(dst, txnIndexVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.ProducerID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.FirstOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(a.LastOffset))
	return binary.BigEndian.AppendUint64(dst, uint64(a.LastStableOffset))
}

// decodeTxnIndex parses a transaction index file. A torn last entry is an
// error; the caller rebuilds the index from the log.
func decodeTxnIndex(b []byte) ([]AbortedTxn, error) {
	if len(b)%txnIndexEntrySize != 0 {
		return nil, fmt.Errorf("transaction index of %d bytes is not a whole number of %d-byte entries", len(b), txnIndexEntrySize)
	}
	out := make([]AbortedTxn, 0, len(b)/txnIndexEntrySize)
	for ; len(b) > 0; b = b[txnIndexEntrySize:] {
		if v := int16(binary.BigEndian.Uint16(b)); v != txnIndexVersion {
			return nil, fmt.Errorf("transaction index entry version %d is not %d", v, txnIndexVersion)
		}
		a := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		}
		if a.FirstOffset < 0 || a.LastOffset < a.FirstOffset {
			return nil, fmt.Errorf("transaction index entry [%d, %d] is not a range of offsets", a.FirstOffset, a.LastOffset)
		}
		out = append(out, a)
	}
	return out, nil
}

// loadTxnIndex reads the segment's transaction index, if it has one.
func (s *segment) loadTxnIndex() error {
	b, err := readFile(s.fs, fileName(s.dir, s.base, txnIndexSuffix))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	es, err := decodeTxnIndex(b)
	if err != nil {
		return err
	}
	s.txnMu.Lock()
	s.aborted = es
	s.txnMu.Unlock()
	return nil
}

// appendAborted adds an entry to the segment's transaction index,
// creating the file on the first one.
func (s *segment) appendAborted(a AbortedTxn) error {
	s.txnMu.Lock()
	defer s.txnMu.Unlock()
	if s.txnFile == nil {
		f, err := s.fs.OpenFile(fileName(s.dir, s.base, txnIndexSuffix), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		s.txnFile = f
	}
	pos := int64(len(s.aborted)) * txnIndexEntrySize
	if _, err := s.txnFile.WriteAt(appendTxnIndexEntry(nil, a), pos); err != nil {
		return err
	}
	s.aborted = append(s.aborted, a)
	return nil
}

// rewriteTxnIndex replaces the index file by the entries kept (none: no
// file).
func (s *segment) rewriteTxnIndex(keep []AbortedTxn) error {
	s.txnMu.Lock()
	defer s.txnMu.Unlock()
	if s.txnFile != nil {
		s.txnFile.Close()
		s.txnFile = nil
	}
	s.aborted = keep
	name := fileName(s.dir, s.base, txnIndexSuffix)
	if len(keep) == 0 {
		if err := s.fs.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	var b []byte
	for _, a := range keep {
		b = appendTxnIndexEntry(b, a)
	}
	return WriteFileAtomic(s.fs, s.dir, fileName("", s.base, txnIndexSuffix), b)
}

// truncateTxnIndex drops the entries of transactions whose marker is at
// or after end.
func (s *segment) truncateTxnIndex(end int64) error {
	s.txnMu.RLock()
	keep := slices.DeleteFunc(slices.Clone(s.aborted), func(a AbortedTxn) bool { return a.LastOffset >= end })
	same := len(keep) == len(s.aborted)
	s.txnMu.RUnlock()
	if same {
		return nil
	}
	return s.rewriteTxnIndex(keep)
}

func (s *segment) abortedTxns() []AbortedTxn {
	s.txnMu.RLock()
	defer s.txnMu.RUnlock()
	return s.aborted
}

func (s *segment) syncTxnIndex() error {
	s.txnMu.RLock()
	defer s.txnMu.RUnlock()
	if s.txnFile == nil {
		return nil
	}
	return s.txnFile.Sync()
}

func (s *segment) closeTxnIndex() {
	s.txnMu.Lock()
	defer s.txnMu.Unlock()
	if s.txnFile != nil {
		s.txnFile.Close()
		s.txnFile = nil
	}
}

// sequenced reports whether a batch takes part in the producer's sequence
// checks: an idempotent producer's data batch. Markers and the
// coordinator's transactional writes (no sequence) only have their epoch
// checked.
func sequenced(h *record.Header) bool {
	return h.Idempotent() && !h.Control() && h.BaseSequence >= 0
}

// completedTxn is a transaction whose marker is written but not yet below
// the high watermark: its records stay unstable until it is.
type completedTxn struct {
	producerID  int64
	firstOffset int64
	lastOffset  int64
}

// checkTxnBatch checks a marker or a coordinator's transactional write
// against the producer's epoch (and a marker's coordinator epoch).
func (ps *producerState) checkTxnBatch(h *record.Header, batch []byte) error {
	e := ps.producers[h.ProducerID]
	if h.Control() {
		_, coordEpoch, ok, err := record.ParseEndTxnMarker(h, batch)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: control batch is not a transaction marker", ErrInvalidTxnState)
		}
		if e != nil && coordEpoch < e.coordinatorEpoch {
			return fmt.Errorf("%w: marker of coordinator epoch %d after one of epoch %d", ErrCoordinatorFenced, coordEpoch, e.coordinatorEpoch)
		}
	}
	if e != nil && h.ProducerEpoch < e.epoch {
		return fmt.Errorf("%w: producer %d epoch %d is older than the current epoch %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	return nil
}

// trackTxn updates the transaction state after the batch at h (final
// offsets) was written. For an ABORT marker it returns the aborted
// transaction to index. REQUIRES: the log's mutex held.
func (ps *producerState) trackTxn(h *record.Header, batch []byte, now int64) (AbortedTxn, bool) {
	if !h.Transactional() || !h.Idempotent() {
		return AbortedTxn{}, false
	}
	e := ps.producers[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch, coordinatorEpoch: -1}
		ps.producers[h.ProducerID] = e
	}
	if !h.Control() {
		if h.ProducerEpoch > e.epoch {
			e.epoch, e.batches = h.ProducerEpoch, e.batches[:0]
		}
		if !e.inTxn {
			e.inTxn, e.txnFirstOffset = true, h.BaseOffset
			ps.ongoing[h.ProducerID] = h.BaseOffset
		}
		e.lastTimestamp = now
		return AbortedTxn{}, false
	}
	commit, coordEpoch, ok, err := record.ParseEndTxnMarker(h, batch)
	if err != nil || !ok {
		return AbortedTxn{}, false
	}
	first := h.BaseOffset
	if e.inTxn {
		first = e.txnFirstOffset
	}
	if h.ProducerEpoch > e.epoch {
		e.epoch, e.batches = h.ProducerEpoch, e.batches[:0]
	}
	e.inTxn, e.txnFirstOffset, e.coordinatorEpoch, e.lastTimestamp = false, 0, coordEpoch, now
	delete(ps.ongoing, h.ProducerID)
	ps.unreplicated = append(ps.unreplicated, completedTxn{h.ProducerID, first, h.BaseOffset})
	if commit {
		return AbortedTxn{}, false
	}
	lso := h.BaseOffset + 1
	for _, off := range ps.ongoing {
		lso = min(lso, off)
	}
	return AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: h.BaseOffset, LastStableOffset: lso}, true
}

// firstUnstableOffset is the first offset of the oldest transaction that
// is ongoing, or completed with its marker at or above hw; MaxInt64 if
// none.
func (ps *producerState) firstUnstableOffset(hw int64) int64 {
	first := int64(math.MaxInt64)
	for _, off := range ps.ongoing {
		first = min(first, off)
	}
	for _, c := range ps.unreplicated {
		if c.lastOffset >= hw {
			first = min(first, c.firstOffset)
		}
	}
	return first
}

// pruneUnreplicated forgets completed transactions whose markers are below
// hw.
func (ps *producerState) pruneUnreplicated(hw int64) {
	ps.unreplicated = slices.DeleteFunc(ps.unreplicated, func(c completedTxn) bool { return c.lastOffset < hw })
}

// appendTxnBatches updates the transaction state for written batches and
// indexes aborted transactions in the active segment. REQUIRES: l.mu held.
func (l *Log) appendTxnBatches(batches []byte, hdrs []record.Header, nowMs int64) {
	pos := 0
	for i := range hdrs {
		h := &hdrs[i]
		b := batches[pos : pos+h.Size()]
		pos += h.Size()
		if a, ok := l.ps.trackTxn(h, b, nowMs); ok {
			if err := l.active().appendAborted(a); err != nil {
				l.logger.Error("writing the transaction index", "dir", l.dir, "err", err)
			}
		}
	}
	l.ps.pruneUnreplicated(l.HighWatermark())
}

// LastStableOffset is the offset below which every transaction is decided
// and replicated: read_committed consumers read only below it.
func (l *Log) LastStableOffset() int64 {
	hw := l.HighWatermark()
	l.mu.RLock()
	first := l.ps.firstUnstableOffset(hw)
	l.mu.RUnlock()
	return min(hw, first)
}

// HasOngoingTxn reports whether the producer has a transaction open in
// this partition.
func (l *Log) HasOngoingTxn(producerID int64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.ps.ongoing[producerID]
	return ok
}

// HasOngoingTxnAt reports whether the producer has a transaction open in
// this partition that it began at epoch. A batch at a newer epoch begins
// a new transaction (transactions v2 bump the epoch at every end, KIP-890)
// even while the marker of the previous one is still to be written.
func (l *Log) HasOngoingTxnAt(producerID int64, epoch int16) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if _, ok := l.ps.ongoing[producerID]; !ok {
		return false
	}
	e := l.ps.producers[producerID]
	return e != nil && e.epoch == epoch
}

// AbortedTxns lists the aborted transactions that overlap [from, upTo):
// those whose marker is at or after from and whose first offset is below
// upTo, in the order of their markers.
func (l *Log) AbortedTxns(from, upTo int64) []AbortedTxn {
	segs, i := l.segmentsFor(from)
	var out []AbortedTxn
	for _, s := range segs[i:] {
		complete := false
		for _, a := range s.abortedTxns() {
			if a.LastOffset >= from && a.FirstOffset < upTo {
				out = append(out, a)
			}
			// Once a transaction completed with the LSO at or past
			// upTo, no later marker ends one that began below it.
			complete = complete || a.LastStableOffset >= upTo
		}
		if complete {
			break
		}
	}
	return out
}

// abortedByProducer returns a lookup of aborted transactions by producer, over
// every segment, for the cleaner.
func abortedByProducer(segs []*segment) map[int64][]AbortedTxn {
	m := map[int64][]AbortedTxn{}
	for _, s := range segs {
		for _, a := range s.abortedTxns() {
			m[a.ProducerID] = append(m[a.ProducerID], a)
		}
	}
	return m
}

// inAborted reports whether the batch at h belongs to an aborted
// transaction.
func inAborted(aborted map[int64][]AbortedTxn, h *record.Header) bool {
	if !h.Transactional() || h.Control() {
		return false
	}
	for _, a := range aborted[h.ProducerID] {
		if h.BaseOffset >= a.FirstOffset && h.BaseOffset <= a.LastOffset {
			return true
		}
	}
	return false
}
