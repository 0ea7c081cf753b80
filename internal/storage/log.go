package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// LogConfig is the per-partition storage configuration, from the topic's
// configs over the broker's log.* defaults.
type LogConfig struct {
	SegmentBytes       int64         // segment.bytes
	SegmentMs          int64         // segment.ms: roll a segment this old (by its first record's append time)
	SegmentIndexBytes  int64         // segment.index.bytes: max size of .index/.timeindex before a roll
	IndexIntervalBytes int64         // index.interval.bytes
	RetentionMs        int64         // retention.ms, -1 = forever
	RetentionBytes     int64         // retention.bytes, -1 = unlimited
	FlushMessages      int64         // flush.messages: fsync after this many messages (MaxInt64 = never)
	FlushMs            int64         // flush.ms: fsync when the oldest unflushed data is this old (MaxInt64 = never)
	FileDeleteDelay    time.Duration // file.delete.delay.ms
	CleanupPolicy      string        // cleanup.policy: "delete", "compact" or "compact,delete"

	// Compaction (cleanup.policy includes compact).
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs     int64   // min.compaction.lag.ms
	MaxCompactionLagMs     int64   // max.compaction.lag.ms
	DeleteRetentionMs      int64   // delete.retention.ms: how long tombstones stay after a cleaning
}

// AppendResult describes a successful append.
type AppendResult struct {
	FirstOffset    int64 // base offset given to the first appended batch
	LastOffset     int64 // last offset of the last appended batch
	LogAppendTime  int64 // ms, or -1 when the topic uses CreateTime
	LogStartOffset int64
	// Duplicate is set when the batch was a retry of one of the producer's
	// last five batches: nothing was written and the offsets are those the
	// batch was given the first time.
	Duplicate bool
}

// ReadResult is the data found for a fetch. The bytes are whole batches
// from one segment: Data when they were copied into memory, or the region
// [Pos, Pos+Size) of File to be sent from the file directly.
type ReadResult struct {
	File File
	Pos  int64
	Size int
	Data []byte
	// FirstOffset is the base offset of the first batch returned.
	FirstOffset int64
}

// Errors of the partition log. The broker maps them to Kafka error codes.
var (
	ErrOffsetOutOfRange     = errors.New("offset out of range")
	ErrOutOfOrderSequence   = errors.New("out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	ErrLogClosed            = errors.New("log is closed")
)

// Log is one partition's log: a sequence of segments in a directory, their
// indexes, the leader-epoch cache and the producer state of idempotent
// producers. All methods are safe for concurrent use.
//
// Appends hold mu; reads hold it only to take the current segment list,
// which is replaced, never modified in place, so their file I/O runs
// without blocking appends.
type Log struct {
	fs     FS
	dir    string
	tp     TopicPartition
	m      *Manager
	now    func() time.Time
	logger *slog.Logger

	mu        sync.RWMutex
	cfg       LogConfig
	segments  []*segment
	closed    bool
	ps        *producerState
	epochs    []epochEntry
	unflushed int64         // records appended since the last flush
	lastFlush time.Time     // for flush.ms
	appended  chan struct{} // made on demand by Appended, closed by the next append

	logStart      atomic.Int64
	logEnd        atomic.Int64
	recoveryPoint atomic.Int64
	highWatermark atomic.Int64 // set by the broker; checkpointed

	flushMu sync.Mutex // one flush at a time
	bg      sync.WaitGroup

	cleaner cleanerState
}

// active returns the segment appends go to. Callers hold mu.
func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }

// Dir is the partition's directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset still in the log.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset is the offset the next record will get.
func (l *Log) LogEndOffset() int64 { return l.logEnd.Load() }

// Config returns the log's configuration.
func (l *Log) Config() LogConfig {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// SetConfig applies a new configuration live.
func (l *Log) SetConfig(cfg LogConfig) {
	l.mu.Lock()
	l.cfg = cfg
	l.mu.Unlock()
}

// Size is the total size of the log's segments in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	segs := l.segments
	l.mu.RUnlock()
	var n int64
	for _, s := range segs {
		n += s.size.Load()
	}
	return n
}

// Appended returns a channel closed at the next append.
func (l *Log) Appended() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.appended == nil {
		l.appended = make(chan struct{})
	}
	return l.appended
}

// Append assigns offsets to one or more validated v2 batches, stamps them
// with the leader epoch (and, when logAppendTime >= 0, sets LogAppendTime),
// checks idempotent producers' sequences and writes them. The batches are
// modified in place and not retained.
//
// A single batch that repeats one of its producer's last five batches is
// not written again: the result carries the offsets it was given the first
// time, with Duplicate set.
func (l *Log) Append(batches []byte, leaderEpoch int32, logAppendTime int64) (AppendResult, error) {
	var hbuf [1]record.Header
	hdrs := hbuf[:0]
	used, err := record.Batches(batches, func(h record.Header, _ []byte) error {
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
	if l.closed {
		l.mu.Unlock()
		return AppendResult{}, ErrLogClosed
	}
	res, err := l.appendLocked(batches, hdrs, leaderEpoch, logAppendTime)
	flush := err == nil && !res.Duplicate && l.unflushed >= l.cfg.FlushMessages
	l.mu.Unlock()
	if flush {
		if err := l.Flush(); err != nil {
			return AppendResult{}, err
		}
	}
	return res, err
}

func (l *Log) appendLocked(batches []byte, hdrs []record.Header, leaderEpoch int32, logAppendTime int64) (AppendResult, error) {
	res := AppendResult{LogAppendTime: -1, LogStartOffset: l.logStart.Load()}
	// Markers and the coordinators' transactional writes carry no
	// sequence: only their epochs are checked (txn.go).
	for i, pos := 0, 0; i < len(hdrs); i++ {
		if hdrs[i].Idempotent() && !sequenced(&hdrs[i]) {
			if err := l.ps.checkTxnBatch(&hdrs[i], batches[pos:pos+hdrs[i].Size()]); err != nil {
				return res, err
			}
		}
		pos += hdrs[i].Size()
	}
	if len(hdrs) == 1 && sequenced(&hdrs[0]) {
		if d, ok := l.ps.duplicate(&hdrs[0]); ok {
			res.FirstOffset, res.LastOffset, res.Duplicate = d.firstOffset, d.lastOffset, true
			if logAppendTime >= 0 {
				res.LogAppendTime = d.timestamp
			}
			return res, nil
		}
	}
	// Several batches of one append are checked against each other
	// through pending, the state as it would be after the earlier ones.
	var pending map[int64]*producerEntry
	if len(hdrs) == 1 {
		if sequenced(&hdrs[0]) {
			if err := l.ps.check(&hdrs[0], nil); err != nil {
				return res, err
			}
		}
	} else {
		for i := range hdrs {
			if sequenced(&hdrs[i]) {
				if pending == nil {
					pending = map[int64]*producerEntry{}
				}
				if err := l.ps.check(&hdrs[i], pending); err != nil {
					return res, err
				}
				l.ps.update(&hdrs[i], 0, pending) // offsets fixed below
			}
		}
		clear(pending)
	}

	next := l.logEnd.Load()
	var records int64
	var lastDelta int64
	for i := range hdrs {
		lastDelta += int64(hdrs[i].LastOffsetDelta) + 1
		records += int64(hdrs[i].NumRecords)
	}
	now := l.now()
	if err := l.maybeRoll(int64(len(batches)), next+lastDelta-1, now); err != nil {
		return res, err
	}
	pos := 0
	for i := range hdrs {
		h := &hdrs[i]
		b := batches[pos : pos+h.Size()]
		pos += h.Size()
		record.SetBaseOffset(b, next)
		record.SetPartitionLeaderEpoch(b, leaderEpoch)
		h.BaseOffset, h.PartitionLeaderEpoch = next, leaderEpoch
		if logAppendTime >= 0 {
			record.SetLogAppendTime(b, logAppendTime)
			h.MaxTimestamp = logAppendTime
		}
		next = h.NextOffset()
	}
	seg := l.active()
	oldSize := seg.size.Load()
	if err := seg.append(batches, hdrs, l.cfg.IndexIntervalBytes); err != nil {
		// Undo a partial write so the segment stays a sequence of
		// whole batches.
		if terr := seg.file.Truncate(oldSize); terr == nil {
			seg.ix.truncateTo(hdrs[0].BaseOffset)
			seg.size.Store(oldSize)
			seg.nextOffset.Store(hdrs[0].BaseOffset)
		} else {
			l.logger.Error("cannot undo a failed append; closing the log", "dir", l.dir, "err", terr)
			l.closed = true
		}
		return res, err
	}
	nowMs := now.UnixMilli()
	for i := range hdrs {
		if sequenced(&hdrs[i]) {
			l.ps.update(&hdrs[i], nowMs, pending)
		}
	}
	if pending != nil {
		l.ps.commit(pending)
	}
	l.appendTxnBatches(batches, hdrs, nowMs)
	if n := len(l.epochs); leaderEpoch >= 0 && (n == 0 || l.epochs[n-1].epoch < leaderEpoch) {
		l.epochs = append(l.epochs, epochEntry{leaderEpoch, hdrs[0].BaseOffset})
		if err := l.writeEpochs(); err != nil {
			l.logger.Error("writing the leader epoch checkpoint", "dir", l.dir, "err", err)
		}
	}
	l.logEnd.Store(next)
	l.unflushed += records
	if l.appended != nil {
		close(l.appended)
		l.appended = nil
	}

	res.FirstOffset, res.LastOffset = hdrs[0].BaseOffset, next-1
	if logAppendTime >= 0 {
		res.LogAppendTime = logAppendTime
	}
	return res, nil
}

// maybeRoll starts a new active segment when the append of size bytes
// ending at lastOffset would not fit the current one: segment.bytes,
// segment.ms, a full index, or offsets too far from the base for the
// indexes' 32-bit relative offsets. Callers hold mu.
func (l *Log) maybeRoll(size, lastOffset int64, now time.Time) error {
	s := l.active()
	cur := s.size.Load()
	if cur == 0 {
		return nil
	}
	switch {
	case cur+size > l.cfg.SegmentBytes:
	case l.cfg.SegmentMs > 0 && now.Sub(s.created).Milliseconds() >= l.cfg.SegmentMs:
	case l.cfg.SegmentIndexBytes > 0 && int64(s.ix.entries()+1)*offsetEntrySize > l.cfg.SegmentIndexBytes:
	case lastOffset-s.base > math.MaxInt32:
	default:
		return nil
	}
	return l.roll()
}

// roll seals the active segment and opens a new one at the log end. The
// old segment is synced, and a producer state snapshot written at the new
// base, in the background. Callers hold mu.
func (l *Log) roll() error {
	old := l.active()
	base := l.logEnd.Load()
	if err := old.seal(); err != nil {
		return err
	}
	s, err := openSegment(l.fs, l.dir, base, true)
	if err != nil {
		return err
	}
	if s.size.Load() != 0 {
		// A file left by an earlier failure: it holds nothing that
		// counts, since the log ends at its base.
		if err := s.file.Truncate(0); err != nil {
			s.close()
			return err
		}
		s.size.Store(0)
	}
	if err := s.ix.reset(); err != nil {
		s.close()
		return err
	}
	s.created = l.now()
	segs := make([]*segment, len(l.segments), len(l.segments)+1)
	copy(segs, l.segments)
	l.segments = append(segs, s)
	// The new file must survive a crash once appends to it are synced.
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	snap := l.ps.encodeSnapshot()
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		err := l.flushUpTo(base)
		if err == nil {
			err = WriteFileAtomic(l.fs, l.dir, filepath.Base(fileName(l.dir, base, snapshotSuffix)), snap)
		}
		if err != nil {
			l.logger.Error("syncing a rolled segment", "dir", l.dir, "base", old.base, "err", err)
		}
	}()
	return nil
}

func (l *Log) advanceRecoveryPoint(off int64) {
	for {
		cur := l.recoveryPoint.Load()
		if off <= cur || l.recoveryPoint.CompareAndSwap(cur, off) {
			return
		}
	}
}

// Flush fsyncs everything written so far and moves the recovery point to
// the log end.
func (l *Log) Flush() error {
	l.mu.Lock()
	end := l.logEnd.Load()
	l.unflushed = 0
	l.lastFlush = l.now()
	l.mu.Unlock()
	return l.flushUpTo(end)
}

// flushUpTo syncs every segment holding offsets between the recovery point
// and end, then moves the recovery point to end. Segments are synced in
// order under flushMu, so the recovery point never passes a segment that
// is not synced. The segment holding the recovery point is rescanned after
// a crash, so the active segment needs only its data synced.
func (l *Log) flushUpTo(end int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	rp := l.recoveryPoint.Load()
	if end <= rp {
		return nil
	}
	l.mu.RLock()
	segs := l.segments
	l.mu.RUnlock()
	for i, s := range segs {
		if s.base >= end {
			break
		}
		if s.nextOffset.Load() <= rp && i < len(segs)-1 {
			continue
		}
		var err error
		if i == len(segs)-1 {
			err = s.file.Sync()
		} else {
			err = s.sync()
		}
		if err != nil {
			return err
		}
	}
	l.advanceRecoveryPoint(end)
	return nil
}

// writeEpochs rewrites the leader-epoch-checkpoint. Callers hold mu.
func (l *Log) writeEpochs() error {
	return WriteFileAtomic(l.fs, l.dir, leaderEpochFile, encodeEpochs(l.epochs))
}

// segmentsFrom returns the segments and the index of the one that holds
// offset (the last whose base is at most offset).
func (l *Log) segmentsFor(offset int64) ([]*segment, int) {
	l.mu.RLock()
	segs := l.segments
	l.mu.RUnlock()
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	return segs, max(i, 0)
}

// Read returns whole batches starting at the batch containing offset, from
// one segment, at most maxBytes (but at least one batch when minOneBatch),
// none at or beyond maxOffset. As Kafka's does, the data may end with part
// of a batch when maxBytes cuts it; clients discard such a tail.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64, minOneBatch bool) (ReadResult, error) {
	start, end := l.logStart.Load(), l.logEnd.Load()
	if offset < start || offset > end {
		return ReadResult{}, fmt.Errorf("%w: offset %d is outside [%d, %d]", ErrOffsetOutOfRange, offset, start, end)
	}
	empty := ReadResult{FirstOffset: offset}
	if offset >= maxOffset || offset == end || (maxBytes <= 0 && !minOneBatch) {
		return empty, nil
	}
	segs, i := l.segmentsFor(offset)
	for ; i < len(segs); i++ {
		s := segs[i]
		pos, h, err := s.find(offset)
		if err == io.EOF {
			continue
		}
		if err != nil {
			return ReadResult{}, err
		}
		if h.BaseOffset >= maxOffset {
			return empty, nil
		}
		endPos := s.size.Load()
		if maxOffset < s.nextOffset.Load() {
			mp, _, err := s.find(maxOffset)
			if err != nil && err != io.EOF {
				return ReadResult{}, err
			}
			endPos = mp
		}
		size := min(endPos-pos, int64(maxBytes))
		if minOneBatch && size < int64(h.Size()) {
			size = min(int64(h.Size()), endPos-pos)
		}
		if size <= 0 {
			return empty, nil
		}
		return ReadResult{File: s.file, Pos: pos, Size: int(size), FirstOffset: h.BaseOffset}, nil
	}
	return empty, nil
}

// readBatch reads the whole batch at pos of a segment.
func readBatch(s *segment, pos int64, h *record.Header) ([]byte, error) {
	b := make([]byte, h.Size())
	if _, err := s.file.ReadAt(b, pos); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// recordTimestamp is a record's timestamp: its batch's max timestamp under
// LogAppendTime, else the base timestamp plus its delta.
func recordTimestamp(h *record.Header, r *record.Record) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.BaseTimestamp + r.TimestampDelta
}

// maxDecompressed bounds decompression when the log reads its own batches.
const maxDecompressed = 1 << 30

// OffsetForTimestamp finds the first record at or after the log start
// whose timestamp is at least ts.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool) {
	start := l.logStart.Load()
	l.mu.RLock()
	segs := l.segments
	maxes := make([]int64, len(segs))
	for i, s := range segs {
		maxes[i] = s.maxTimestamp
	}
	l.mu.RUnlock()
	for i, s := range segs {
		if maxes[i] < ts || s.nextOffset.Load() <= start {
			continue
		}
		from := max(s.ix.lookupTime(ts), start, s.base)
		pos, h, err := s.find(from)
		var buf [record.HeaderSize]byte
		for err == nil {
			if h.MaxTimestamp >= ts && h.LastOffset() >= start {
				b, rerr := readBatch(s, pos, &h)
				if rerr != nil {
					return -1, -1, false
				}
				record.EachRecord(&h, b, maxDecompressed, func(r *record.Record) error {
					off, t := h.BaseOffset+int64(r.OffsetDelta), recordTimestamp(&h, r)
					if t >= ts && off >= start {
						offset, timestamp, found = off, t, true
						return io.EOF
					}
					return nil
				})
				if found {
					return offset, timestamp, true
				}
			}
			pos += int64(h.Size())
			h, err = s.readHeader(pos, &buf)
		}
	}
	return -1, -1, false
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the first record that has it, or -1, -1 for an empty log.
func (l *Log) MaxTimestamp() (timestamp, offset int64) {
	l.mu.RLock()
	var best *segment
	var bestTs, bestOff int64 = -1, -1
	for _, s := range l.segments {
		if s.maxTimestamp > bestTs {
			best, bestTs, bestOff = s, s.maxTimestamp, s.offsetOfMaxTs
		}
	}
	l.mu.RUnlock()
	if best == nil {
		return -1, -1
	}
	pos, h, err := best.find(bestOff)
	if err != nil {
		return bestTs, bestOff
	}
	b, err := readBatch(best, pos, &h)
	if err != nil {
		return bestTs, bestOff
	}
	record.EachRecord(&h, b, maxDecompressed, func(r *record.Record) error {
		if recordTimestamp(&h, r) == bestTs {
			bestOff = h.BaseOffset + int64(r.OffsetDelta)
			return io.EOF
		}
		return nil
	})
	return bestTs, bestOff
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the end offset of the
// given leader epoch, and the largest epoch at most it that the log knows.
func (l *Log) EndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return endOffsetForEpoch(l.epochs, epoch, l.logEnd.Load())
}

// DeleteRecordsBefore advances the log start offset to offset (DeleteRecords)
// and deletes the segments wholly below it. It returns the new log start.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrLogClosed
	}
	if end := l.logEnd.Load(); offset > end || offset < 0 {
		l.mu.Unlock()
		return 0, fmt.Errorf("%w: cannot delete records before %d, the log ends at %d", ErrOffsetOutOfRange, offset, end)
	}
	if offset > l.logStart.Load() {
		l.setLogStart(offset)
	}
	l.mu.Unlock()
	l.deleteSegments(l.now())
	if l.m != nil {
		l.m.writeCheckpoints(filepath.Dir(l.dir))
	}
	return l.logStart.Load(), nil
}

// setLogStart moves the log start offset up. Callers hold mu.
func (l *Log) setLogStart(offset int64) {
	l.logStart.Store(offset)
	l.ps.truncateHead(offset)
	if es := truncateEpochsFromStart(l.epochs, offset); len(es) != len(l.epochs) || (len(es) > 0 && es[0] != l.epochs[0]) {
		l.epochs = es
		if err := l.writeEpochs(); err != nil {
			l.logger.Error("writing the leader epoch checkpoint", "dir", l.dir, "err", err)
		}
	}
}

// deleteSegments applies retention: it deletes the oldest segments that
// are wholly below the log start offset, older than retention.ms (by their
// largest timestamp) or beyond retention.bytes, rolling the active segment
// first when it too must go. It returns how many segments it deleted.
func (l *Log) deleteSegments(now time.Time) int {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0
	}
	segs := l.segments
	start := l.logStart.Load()
	n := 0
	for n+1 < len(segs) && segs[n+1].base <= start {
		n++
	}
	if strings.Contains(l.cfg.CleanupPolicy, "delete") {
		if l.cfg.RetentionMs >= 0 {
			nowMs := now.UnixMilli()
			t := 0
			for t < len(segs) && segs[t].size.Load() > 0 && nowMs-segs[t].largestTimestamp() > l.cfg.RetentionMs {
				t++
			}
			n = max(n, t)
		}
		if l.cfg.RetentionBytes >= 0 {
			var total int64
			for _, s := range segs {
				total += s.size.Load()
			}
			diff := total - l.cfg.RetentionBytes
			b := 0
			for b < len(segs) && diff-segs[b].size.Load() >= 0 {
				diff -= segs[b].size.Load()
				b++
			}
			n = max(n, b)
		}
	}
	if n == len(segs) {
		if segs[n-1].size.Load() == 0 {
			n--
		} else if err := l.roll(); err != nil {
			l.logger.Error("rolling the active segment for retention", "dir", l.dir, "err", err)
			n--
		} else {
			segs = l.segments
		}
	}
	if n == 0 {
		l.mu.Unlock()
		return 0
	}
	gone := segs[:n]
	l.segments = append([]*segment(nil), segs[n:]...)
	var names []string
	for _, s := range gone {
		s.deleted = true
		names = append(names, l.retire(s)...)
	}
	first := l.segments[0].base
	if first > start {
		l.setLogStart(first)
	}
	l.mu.Unlock()

	l.removeSnapshotsBelow(first)
	if l.m != nil {
		l.m.deleteLater(l.fs, names, gone, l.Config().FileDeleteDelay)
	} else {
		for _, s := range gone {
			s.close()
		}
	}
	l.logger.Info("deleted segments", "dir", l.dir, "count", n, "log_start_offset", l.logStart.Load())
	return n
}

// retire renames a segment's files to .deleted, so that a restart never
// takes them for live data, and returns the new names.
func (l *Log) retire(s *segment) []string {
	var names []string
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		from := fileName(l.dir, s.base, suf)
		to := from + deletedSuffix
		if err := l.fs.Rename(from, to); err != nil {
			l.logger.Error("renaming a deleted segment file", "file", from, "err", err)
			continue
		}
		names = append(names, to)
	}
	if s.deleted && len(s.abortedTxns()) > 0 {
		s.closeTxnIndex()
		from := fileName(l.dir, s.base, txnIndexSuffix)
		if err := l.fs.Rename(from, from+deletedSuffix); err == nil {
			names = append(names, from+deletedSuffix)
		}
	}
	return names
}

// removeSnapshotsBelow deletes producer snapshots older than the first
// segment.
func (l *Log) removeSnapshotsBelow(base int64) {
	for _, off := range l.snapshotOffsets() {
		if off < base {
			l.fs.Remove(fileName(l.dir, off, snapshotSuffix))
		}
	}
}

func (l *Log) snapshotOffsets() []int64 {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil
	}
	var out []int64
	for _, e := range entries {
		if off, ok := parseBase(e.Name(), snapshotSuffix); ok {
			out = append(out, off)
		}
	}
	slices.Sort(out)
	return out
}

// largestTimestamp is the segment's largest record timestamp, or its
// file's modification time when it holds none (Kafka's rule for
// time-based retention). Callers hold the log's lock.
func (s *segment) largestTimestamp() int64 {
	if s.maxTimestamp >= 0 {
		return s.maxTimestamp
	}
	if fi, err := s.file.Stat(); err == nil {
		return fi.ModTime().UnixMilli()
	}
	return 0
}

// expireProducers forgets producers idle for longer than maxIdleMs.
func (l *Log) expireProducers(now time.Time, maxIdleMs int64) {
	l.mu.Lock()
	l.ps.expire(now.UnixMilli(), maxIdleMs)
	l.mu.Unlock()
}

// flushIfDue flushes when flush.ms has passed since the last flush and
// something is unflushed.
func (l *Log) flushIfDue(now time.Time) error {
	l.mu.RLock()
	due := l.unflushed > 0 && l.cfg.FlushMs < math.MaxInt64 && now.Sub(l.lastFlush).Milliseconds() >= l.cfg.FlushMs
	l.mu.RUnlock()
	if !due {
		return nil
	}
	return l.Flush()
}

// close stops the log. With flush, it seals the active segment, syncs
// everything and closes the files; without (the log is being deleted), the
// files stay open for readers until the deletion removes them.
func (l *Log) close(flush bool) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.bg.Wait()
	var err error
	if flush {
		l.mu.Lock()
		err = l.active().seal()
		l.mu.Unlock()
		if ferr := l.flushAll(); err == nil {
			err = ferr
		}
	}
	l.mu.Lock()
	segs := l.segments
	l.mu.Unlock()
	if flush {
		for _, s := range segs {
			s.close()
		}
	}
	return err
}

// flushAll syncs every segment not known to be synced, indexes included.
func (l *Log) flushAll() error {
	l.mu.RLock()
	segs := l.segments
	end := l.logEnd.Load()
	l.mu.RUnlock()
	rp := l.recoveryPoint.Load()
	for i, s := range segs {
		if i < len(segs)-1 && s.nextOffset.Load() <= rp {
			continue
		}
		if err := s.sync(); err != nil {
			return err
		}
	}
	l.advanceRecoveryPoint(end)
	return nil
}
