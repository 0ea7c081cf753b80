package storage

import (
	"errors"
	"fmt"
	"io"

	"github.com/samsa-io/samsa/internal/record"
)

// The follower side of replication: a follower's log takes batches with
// the offsets and leader epochs the leader gave them, is truncated to
// where it diverged from the leader, and remembers the high watermark
// the leader told it.

// ErrOffsetMismatch is returned by AppendAsFollower when the batches do
// not start at the log end.
var ErrOffsetMismatch = errors.New("replicated batches do not start at the log end")

// AppendAsFollower appends batches fetched from the leader, keeping their
// offsets and leader epochs. Each batch's CRC is checked and offsets must
// continue the log without gaps backwards. Producer state and the leader
// epoch cache follow the batches, so this replica can take over as leader.
func (l *Log) AppendAsFollower(batches []byte) (AppendResult, error) {
	var hdrs []record.Header
	used, err := record.Batches(batches, func(h record.Header, b []byte) error {
		if err := record.CheckCRC(b); err != nil {
			return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		if n := len(hdrs); n > 0 && h.BaseOffset < hdrs[n-1].NextOffset() {
			return fmt.Errorf("%w: batch at %d overlaps the one before", ErrOffsetMismatch, h.BaseOffset)
		}
		hdrs = append(hdrs, h)
		return nil
	})
	if err != nil {
		return AppendResult{}, err
	}
	if used != len(batches) || len(hdrs) == 0 {
		return AppendResult{}, fmt.Errorf("append of %d bytes holds %d bytes of whole batches", len(batches), used)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return AppendResult{}, ErrLogClosed
	}
	end := l.logEnd.Load()
	if hdrs[0].BaseOffset < end {
		return AppendResult{}, fmt.Errorf("%w: first batch at %d, log end %d", ErrOffsetMismatch, hdrs[0].BaseOffset, end)
	}
	last := hdrs[len(hdrs)-1]
	if err := l.maybeRoll(int64(len(batches)), last.LastOffset(), l.now()); err != nil {
		return AppendResult{}, err
	}
	if s := l.active(); s.size.Load() == 0 && s.base != hdrs[0].BaseOffset && s.base < hdrs[0].BaseOffset {
		// An empty active segment is re-based so its base is the first
		// offset it holds (a leader's log may have a gap here after
		// compaction or truncation).
		if err := l.rebaseEmptyActive(hdrs[0].BaseOffset); err != nil {
			return AppendResult{}, err
		}
	}
	seg := l.active()
	oldSize := seg.size.Load()
	if err := seg.append(batches, hdrs, l.cfg.IndexIntervalBytes); err != nil {
		if terr := seg.file.Truncate(oldSize); terr == nil {
			seg.ix.truncateTo(hdrs[0].BaseOffset)
			seg.size.Store(oldSize)
			seg.nextOffset.Store(end)
		} else {
			l.closed = true
		}
		return AppendResult{}, err
	}
	nowMs := l.now().UnixMilli()
	epochsChanged := false
	var records int64
	for i := range hdrs {
		h := &hdrs[i]
		records += int64(h.NumRecords)
		if sequenced(h) {
			l.ps.update(h, nowMs, nil)
		}
		if n := len(l.epochs); h.PartitionLeaderEpoch >= 0 && (n == 0 || l.epochs[n-1].epoch < h.PartitionLeaderEpoch) {
			l.epochs = append(l.epochs, epochEntry{h.PartitionLeaderEpoch, h.BaseOffset})
			epochsChanged = true
		}
	}
	l.appendTxnBatches(batches, hdrs, nowMs)
	if epochsChanged {
		if err := l.writeEpochs(); err != nil {
			l.logger.Error("writing the leader epoch checkpoint", "dir", l.dir, "err", err)
		}
	}
	l.logEnd.Store(last.NextOffset())
	l.unflushed += records
	if l.appended != nil {
		close(l.appended)
		l.appended = nil
	}
	return AppendResult{FirstOffset: hdrs[0].BaseOffset, LastOffset: last.LastOffset(), LogAppendTime: -1, LogStartOffset: l.logStart.Load()}, nil
}

// rebaseEmptyActive replaces the empty active segment by one based at
// base. Callers hold mu.
func (l *Log) rebaseEmptyActive(base int64) error {
	old := l.active()
	s, err := openSegment(l.fs, l.dir, base, true)
	if err != nil {
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		s.close()
		return err
	}
	segs := append([]*segment(nil), l.segments[:len(l.segments)-1]...)
	l.segments = append(segs, s)
	old.close()
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		l.fs.Remove(fileName(l.dir, old.base, suf))
	}
	if len(l.segments) == 1 && l.logStart.Load() < base {
		l.logStart.Store(base)
	}
	return nil
}

// LatestEpoch returns the leader epoch of the log's last epoch entry, or
// -1.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if n := len(l.epochs); n > 0 {
		return l.epochs[n-1].epoch
	}
	return -1
}

// AssignEpochStart records that leader epoch starts at the current log end
// (a replica becoming leader does this before its first append, as Kafka's
// leader does), so OffsetForLeaderEpoch answers followers correctly even
// before anything is written in the new epoch.
func (l *Log) AssignEpochStart(epoch int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.epochs)
	if n > 0 && l.epochs[n-1].epoch >= epoch {
		return nil
	}
	l.epochs = append(l.epochs, epochEntry{epoch, l.logEnd.Load()})
	return l.writeEpochs()
}

// TruncateTo removes every batch at or after offset (a batch holding
// offset goes whole, as in Kafka), when a follower's log diverged from
// its leader's. Producer state is rebuilt and the leader epoch cache
// truncated to match. It returns the new log end.
func (l *Log) TruncateTo(offset int64) (int64, error) {
	// No rolled-segment sync may be in flight over what goes. (Waiting
	// under mu would deadlock: the sync takes mu to read the segments.)
	l.bg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrLogClosed
	}
	if offset >= l.logEnd.Load() {
		return l.logEnd.Load(), nil
	}
	if offset <= l.logStart.Load() {
		return l.truncateFullyLocked(offset)
	}
	i := max(sortSearch(l.segments, offset)-1, 0)
	s := l.segments[i]
	pos, h, err := s.find(offset)
	newEnd := offset
	switch {
	case err == nil:
		newEnd = h.BaseOffset
	case errors.Is(err, io.EOF):
		pos, newEnd = s.size.Load(), s.nextOffset.Load()
	default:
		return 0, err
	}
	for _, later := range l.segments[i+1:] {
		later.close()
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			l.fs.Remove(fileName(l.dir, later.base, suf))
		}
	}
	l.segments = append([]*segment(nil), l.segments[:i+1]...)
	if err := s.file.Truncate(pos); err != nil {
		l.closed = true
		return 0, err
	}
	if err := s.ix.truncateTo(newEnd); err != nil {
		l.closed = true
		return 0, err
	}
	if err := s.truncateTxnIndex(newEnd); err != nil {
		l.closed = true
		return 0, err
	}
	s.size.Store(pos)
	s.nextOffset.Store(newEnd)
	s.maxTimestamp, s.offsetOfMaxTs, s.bytesSinceIndex = -1, -1, 0
	if te, ok := s.ix.lastTime(); ok {
		s.maxTimestamp, s.offsetOfMaxTs = te.timestamp, te.offset
	}
	if err := s.sync(); err != nil {
		return 0, err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return 0, err
	}
	l.logEnd.Store(newEnd)
	if l.recoveryPoint.Load() > newEnd {
		l.recoveryPoint.Store(newEnd)
	}
	l.epochs = truncateEpochsFromEnd(l.epochs, newEnd)
	if err := l.writeEpochs(); err != nil {
		return 0, err
	}
	l.ps = newProducerState()
	if err := l.loadProducerState(); err != nil {
		return 0, err
	}
	if hw := l.highWatermark.Load(); hw > newEnd {
		l.highWatermark.Store(newEnd)
	}
	l.logger.Info("truncated log", "dir", l.dir, "offset", offset, "log_end_offset", newEnd)
	return newEnd, nil
}

// TruncateFullyAndStartAt empties the log and makes offset both its start
// and end, when a follower is so far behind that the leader no longer has
// the offsets it needs.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.bg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrLogClosed
	}
	_, err := l.truncateFullyLocked(offset)
	return err
}

func (l *Log) truncateFullyLocked(offset int64) (int64, error) {
	s, err := openSegment(l.fs, l.dir, offset, true)
	if err != nil {
		return 0, err
	}
	if s.size.Load() > 0 {
		if err := s.file.Truncate(0); err != nil {
			s.close()
			return 0, err
		}
		s.size.Store(0)
	}
	if err := s.ix.reset(); err != nil {
		s.close()
		return 0, err
	}
	if err := s.rewriteTxnIndex(nil); err != nil {
		s.close()
		return 0, err
	}
	for _, old := range l.segments {
		if old.base == offset {
			continue // the same files, reopened above
		}
		old.close()
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			l.fs.Remove(fileName(l.dir, old.base, suf))
		}
	}
	for _, off := range l.snapshotOffsets() {
		l.fs.Remove(fileName(l.dir, off, snapshotSuffix))
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		s.close()
		return 0, err
	}
	l.segments = []*segment{s}
	l.logStart.Store(offset)
	l.logEnd.Store(offset)
	l.recoveryPoint.Store(offset)
	l.highWatermark.Store(offset)
	l.epochs = nil
	if err := l.writeEpochs(); err != nil {
		return 0, err
	}
	l.ps = newProducerState()
	return offset, nil
}

// HighWatermark is the last high watermark set on this log (kept in the
// replication-offset-checkpoint across restarts), at most the log end.
func (l *Log) HighWatermark() int64 {
	return min(l.highWatermark.Load(), l.logEnd.Load())
}

// SetHighWatermark records the partition's high watermark.
func (l *Log) SetHighWatermark(hw int64) {
	l.highWatermark.Store(hw)
}

// replicationFile is the per-directory checkpoint of high watermarks.
const replicationFile = "replication-offset-checkpoint"
