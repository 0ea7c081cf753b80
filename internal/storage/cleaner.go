package storage

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// The log cleaner: for logs whose cleanup.policy includes "compact", it
// keeps only the latest record of each key, as Kafka's LogCleaner does.
//
// A pass over one log: the dirty section runs from the cleaner checkpoint
// (everything before it was cleaned already) to the end of the last
// segment that is not active and whose records are all older than
// min.compaction.lag.ms. The pass maps each key of the dirty section to
// its last offset (bounded by log.cleaner.dedupe.buffer.size: a map that
// would grow past it ends the section early), then rewrites every closed
// segment up to the section's end, keeping a record only if no later
// record of its key is mapped. Tombstones (null values) are kept until
// their segment is older than delete.retention.ms after a first cleaning,
// then dropped. Batches keep their offsets, so offsets stay unique and
// increasing with gaps; a batch of an idempotent producer that loses all
// its records stays as an empty batch, so the producer's sequence survives,
// and so does the last batch of a segment, so the segment still reaches
// the next one's base.
//
// Transactions: the cleanable section ends before the first unstable
// offset (an open or unreplicated transaction), records of aborted
// transactions (found through the transaction indexes) are removed and
// never enter the offset map, and a transaction marker stays until its
// segment is older than delete.retention.ms after a first cleaning and no
// record of its transaction remains, as Kafka's cleaner does.
//
// A rewritten segment is written to <base>.log.cleaned and synced, then
// renamed to <base>.log.swap (the commit point), the old segment renamed
// to .deleted and the .swap to .log. At startup a .cleaned file is
// deleted and a .swap file completes its swap, so a crash at any step
// leaves either the old segment or the new one, both correct.

// cleanerState is the cleaner's per-log progress.
type cleanerState struct {
	firstDirty atomic.Int64 // the cleaner checkpoint
	cleaning   atomic.Bool
}

// CleanerConfig configures the cleaner threads of a Manager.
type CleanerConfig struct {
	Threads             int   // log.cleaner.threads; 0 disables the cleaner
	DedupeBufferSize    int64 // log.cleaner.dedupe.buffer.size
	IOMaxBytesPerSecond int64 // log.cleaner.io.max.bytes.per.second
	BackoffMs           int64 // log.cleaner.backoff.ms
}

// cleanerCheckpointFile holds each compacted partition's first dirty
// offset.
const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// dirtyRatio returns the share of the cleanable bytes that are dirty, the
// end of the cleanable section, and whether max.compaction.lag.ms forces a
// cleaning.
func (l *Log) dirtyRatio(now time.Time) (ratio float64, cleanableEnd int64, forced bool) {
	l.mu.RLock()
	segs := l.segments
	cfg := l.cfg
	maxes := make([]int64, len(segs))
	for i, s := range segs {
		maxes[i] = s.maxTimestamp
	}
	unstable := l.ps.firstUnstableOffset(l.HighWatermark())
	l.mu.RUnlock()
	firstDirty := max(l.cleaner.firstDirty.Load(), l.logStart.Load())
	nowMs := now.UnixMilli()
	var clean, dirty int64
	cleanableEnd = -1
	for i, s := range segs[:len(segs)-1] { // never the active segment
		next := segs[i+1].base
		if maxes[i] > nowMs-cfg.MinCompactionLagMs || next > unstable {
			break
		}
		if next <= firstDirty {
			clean += s.size.Load()
			continue
		}
		dirty += s.size.Load()
		cleanableEnd = next
		if cfg.MaxCompactionLagMs < math.MaxInt64 && maxes[i] >= 0 && nowMs-maxes[i] > cfg.MaxCompactionLagMs {
			forced = true
		}
	}
	if dirty == 0 {
		return 0, -1, false
	}
	return float64(dirty) / float64(clean+dirty), cleanableEnd, forced
}

// compacted reports whether the log's cleanup.policy includes compact.
func (l *Log) compacted() bool {
	return strings.Contains(l.Config().CleanupPolicy, "compact")
}

// CleanerConfig returns the log cleaner's configuration in effect.
func (m *Manager) CleanerConfig() CleanerConfig { return *m.cleaner.Load() }

// SetCleanerConfig changes the log cleaner's configuration while it runs
// (dynamic log.cleaner.* configs). A cleaning pass under way finishes with
// the settings it started with; the pool of threads grows at once, and
// shrinks as threads finish their pass or backoff, as Kafka's cleaner
// restarts its threads to resize.
func (m *Manager) SetCleanerConfig(c CleanerConfig) {
	m.cleaner.Store(&c)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for m.cleanerThreads > max(c.Threads, 0) {
		m.cleanerThreads--
		m.cleanerExcess.Add(1)
	}
	for m.cleanerThreads < c.Threads {
		m.cleanerThreads++
		if m.takeCleanerExcess() {
			continue // a thread that was to stop keeps running instead
		}
		m.wg.Add(1)
		go m.runCleaner()
	}
}

// takeCleanerExcess reports whether the calling cleaner thread is one too
// many, and if so counts it as stopped.
func (m *Manager) takeCleanerExcess() bool {
	for {
		n := m.cleanerExcess.Load()
		if n <= 0 {
			return false
		}
		if m.cleanerExcess.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// runCleaner is one cleaner thread: it cleans the dirtiest eligible log,
// or waits log.cleaner.backoff.ms when there is none.
func (m *Manager) runCleaner() {
	defer m.wg.Done()
	for {
		if m.takeCleanerExcess() {
			return
		}
		backoff := time.Duration(max(m.CleanerConfig().BackoffMs, 1)) * time.Millisecond
		l := m.pickDirtiest()
		if l == nil {
			select {
			case <-m.stop:
				return
			case <-time.After(backoff):
			}
			continue
		}
		if err := m.clean(l); err != nil {
			m.logger.Error("cleaning a compacted log", "dir", l.dir, "err", err)
			// A log that fails is retried after the backoff.
			select {
			case <-m.stop:
				l.cleaner.cleaning.Store(false)
				return
			case <-time.After(backoff):
			}
		}
		l.cleaner.cleaning.Store(false)
		select {
		case <-m.stop:
			return
		default:
		}
	}
}

// pickDirtiest returns the compacted log with the highest dirty ratio at or
// above its min.cleanable.dirty.ratio (or forced by max.compaction.lag.ms),
// marked as being cleaned.
func (m *Manager) pickDirtiest() *Log {
	now := m.now()
	var best *Log
	bestRatio := -1.0
	for _, l := range m.All() {
		if !l.compacted() || l.cleaner.cleaning.Load() {
			continue
		}
		ratio, _, forced := l.dirtyRatio(now)
		m.logger.Debug("cleaner candidate", "dir", l.dir, "dirty_ratio", ratio, "forced", forced)
		if forced {
			ratio = math.Inf(1)
		}
		if ratio > bestRatio && (forced || ratio >= l.Config().MinCleanableDirtyRatio) && ratio > 0 {
			best, bestRatio = l, ratio
		}
	}
	if best != nil && !best.cleaner.cleaning.CompareAndSwap(false, true) {
		return nil
	}
	return best
}

// CleanNow runs one cleaning pass over the log at once, whatever its
// dirty ratio (for tests and tools). It reports whether anything was
// cleaned.
func (m *Manager) CleanNow(l *Log) (bool, error) {
	if !l.cleaner.cleaning.CompareAndSwap(false, true) {
		return false, nil
	}
	defer l.cleaner.cleaning.Store(false)
	if _, end, _ := l.dirtyRatio(m.now()); end < 0 {
		return false, nil
	}
	return true, m.clean(l)
}

// clean runs one pass over a log.
func (m *Manager) clean(l *Log) error {
	now := m.now()
	_, end, _ := l.dirtyRatio(now)
	if end < 0 {
		return nil
	}
	cfg := l.Config()
	firstDirty := max(l.cleaner.firstDirty.Load(), l.logStart.Load())
	l.mu.RLock()
	segs := l.segments
	l.mu.RUnlock()
	ccfg := m.CleanerConfig()
	throttle := newThrottle(ccfg.IOMaxBytesPerSecond)
	txns := &txnCleaning{aborted: abortedByProducer(segs), retained: map[int64]bool{}}

	// The offset map of the dirty section.
	latest := map[string]int64{}
	var mapBytes int64
	mappedEnd := firstDirty
	for i, s := range segs[:len(segs)-1] {
		next := segs[i+1].base
		if next <= firstDirty {
			continue
		}
		if next > end {
			break
		}
		var segKeys int64
		err := eachSegmentRecord(s, throttle, func(h *record.Header, r *record.Record) {
			if r.Key == nil || inAborted(txns.aborted, h) {
				return
			}
			off := h.BaseOffset + int64(r.OffsetDelta)
			if _, ok := latest[string(r.Key)]; !ok {
				segKeys += int64(len(r.Key)) + 48
			}
			latest[string(r.Key)] = off
		})
		if err != nil {
			return err
		}
		mapBytes += segKeys
		mappedEnd = next
		if ccfg.DedupeBufferSize > 0 && mapBytes > ccfg.DedupeBufferSize {
			break // clean what is mapped; the rest next time
		}
	}
	if mappedEnd <= firstDirty {
		return nil
	}

	deleteHorizon := now.UnixMilli() - cfg.DeleteRetentionMs
	var cleanedBytes, before int64
	for i, s := range segs[:len(segs)-1] {
		if segs[i+1].base > mappedEnd {
			break
		}
		if s.base < l.logStart.Load() && segs[i+1].base <= l.logStart.Load() {
			continue
		}
		// Tombstones go once their segment was cleaned before and is
		// older than delete.retention.ms.
		dropTombstones := segs[i+1].base <= firstDirty && s.maxTimestamp >= 0 && s.maxTimestamp < deleteHorizon
		before += s.size.Load()
		n, err := l.rewriteSegment(s, latest, dropTombstones, txns, throttle)
		if err != nil {
			return err
		}
		cleanedBytes += n
	}
	l.cleaner.firstDirty.Store(mappedEnd)
	m.writeCheckpoints(dirOf(l))
	m.logger.Info("cleaned log", "dir", l.dir, "first_dirty_offset", mappedEnd, "bytes_before", before, "bytes_after", cleanedBytes, "keys", len(latest))
	return nil
}

func dirOf(l *Log) string { return l.dir[:strings.LastIndexByte(l.dir, '/')] }

// eachSegmentRecord calls fn with every record of a closed segment.
func eachSegmentRecord(s *segment, th *throttle, fn func(h *record.Header, r *record.Record)) error {
	r := chunkReader{f: s.file, size: s.size.Load()}
	for pos := int64(0); pos < r.size; {
		h, b, err := r.batchAt(pos)
		if err != nil {
			return fmt.Errorf("segment %d at %d: %w", s.base, pos, err)
		}
		th.wait(len(b))
		if !h.Control() {
			if err := record.EachRecord(&h, b, maxDecompressed, func(rec *record.Record) error {
				fn(&h, rec)
				return nil
			}); err != nil {
				return fmt.Errorf("segment %d batch at %d: %w", s.base, h.BaseOffset, err)
			}
		}
		pos += int64(h.Size())
	}
	return nil
}

// rewriteSegment writes the retained records of s to a new segment file
// and swaps it in. It returns the new segment's size.
func (l *Log) rewriteSegment(s *segment, latest map[string]int64, dropTombstones bool, txns *txnCleaning, th *throttle) (int64, error) {
	cleanedName := fileName(l.dir, s.base, logSuffix+cleanedSuffix)
	out, err := l.fs.OpenFile(cleanedName, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	var buf []byte
	var written int64
	changed := false
	r := chunkReader{f: s.file, size: s.size.Load()}
	for pos := int64(0); pos < r.size; {
		h, b, err := r.batchAt(pos)
		if err != nil {
			out.Close()
			l.fs.Remove(cleanedName)
			return 0, err
		}
		th.wait(len(b))
		pos += int64(h.Size())
		// The last batch of a segment stays, even empty, so the segment
		// still ends where the next one begins.
		kept, err := txns.retain(&h, b, latest, dropTombstones, pos == r.size)
		if err != nil {
			out.Close()
			l.fs.Remove(cleanedName)
			return 0, err
		}
		if kept == nil || len(kept) != len(b) {
			changed = true
		}
		buf = append(buf, kept...)
		if len(buf) >= 1<<20 {
			if _, err := out.WriteAt(buf, written); err != nil {
				out.Close()
				return 0, err
			}
			written += int64(len(buf))
			buf = buf[:0]
		}
	}
	if !changed {
		out.Close()
		l.fs.Remove(cleanedName)
		return s.size.Load(), nil
	}
	if _, err := out.WriteAt(buf, written); err != nil {
		out.Close()
		return 0, err
	}
	written += int64(len(buf))
	if err := out.Sync(); err != nil {
		out.Close()
		return 0, err
	}
	out.Close()
	return written, l.swapSegment(s, cleanedName)
}

// txnCleaning is what a cleaning pass knows of transactions: the aborted
// ones, and for each producer whether records of its current transaction
// were kept so far in the pass (its marker must then stay).
type txnCleaning struct {
	aborted  map[int64][]AbortedTxn
	retained map[int64]bool
}

// retain is retainBatch with transactions: an aborted transaction's batch
// loses its records, and a marker goes once tombstones may and no record
// of its transaction is left.
func (t *txnCleaning) retain(h *record.Header, b []byte, latest map[string]int64, dropTombstones, keepEmpty bool) ([]byte, error) {
	if h.Control() {
		kept := t.retained[h.ProducerID]
		delete(t.retained, h.ProducerID)
		if h.Transactional() && dropTombstones && !kept && !keepEmpty {
			return nil, nil
		}
		return b, nil
	}
	aborted := inAborted(t.aborted, h)
	out, err := retainBatch(h, b, latest, dropTombstones, keepEmpty, aborted)
	if err == nil && h.Transactional() && !aborted && len(out) > record.HeaderSize {
		t.retained[h.ProducerID] = true
	}
	return out, err
}

// retainBatch returns the batch with only its retained records (none with
// dropAll): the batch itself when all stay, nil when none do and it need
// not stay as an empty batch (keepEmpty, or an idempotent producer's
// batch, must).
func retainBatch(h *record.Header, b []byte, latest map[string]int64, dropTombstones, keepEmpty, dropAll bool) ([]byte, error) {
	if h.Control() {
		return b, nil
	}
	type kept struct {
		ts  int64
		rec record.Record
	}
	var keep []kept
	total := 0
	err := record.EachRecord(h, b, maxDecompressed, func(r *record.Record) error {
		total++
		if dropAll {
			return nil
		}
		off := h.BaseOffset + int64(r.OffsetDelta)
		if r.Key != nil {
			if last, ok := latest[string(r.Key)]; ok && last > off {
				return nil
			}
			if r.Value == nil && dropTombstones {
				return nil
			}
		}
		rec := *r
		keep = append(keep, kept{h.BaseTimestamp + r.TimestampDelta, rec})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(keep) == total {
		return b, nil
	}
	if len(keep) == 0 && !h.Idempotent() && !keepEmpty {
		return nil, nil
	}
	codec := h.Compression()
	if len(keep) == 0 {
		codec = record.None // an empty batch has nothing to compress
	}
	bl := record.NewBuilder(codec)
	bl.ProducerID, bl.ProducerEpoch, bl.BaseSequence = h.ProducerID, h.ProducerEpoch, h.BaseSequence
	bl.Transactional = h.Transactional()
	bl.LogAppendTime = h.LogAppendTime()
	for _, k := range keep {
		bl.Add(k.ts, k.rec)
	}
	nb, err := bl.Build(nil)
	if err != nil {
		return nil, err
	}
	// The batch keeps its offset range, leader epoch and, under
	// LogAppendTime, its timestamp.
	binary.BigEndian.PutUint64(nb[0:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(nb[12:], uint32(h.PartitionLeaderEpoch))
	binary.BigEndian.PutUint32(nb[23:], uint32(h.LastOffsetDelta))
	if len(keep) == 0 || h.LogAppendTime() {
		binary.BigEndian.PutUint64(nb[27:], uint64(h.BaseTimestamp))
		binary.BigEndian.PutUint64(nb[35:], uint64(h.MaxTimestamp))
	}
	binary.BigEndian.PutUint32(nb[17:], record.ComputeCRC(nb))
	return nb, nil
}

// swapSegment replaces s by the cleaned file, crash-safely.
func (l *Log) swapSegment(s *segment, cleanedName string) error {
	swapName := fileName(l.dir, s.base, logSuffix+swapSuffix)
	if err := l.fs.Rename(cleanedName, swapName); err != nil {
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	// From here a restart completes the swap.
	l.mu.Lock()
	defer l.mu.Unlock()
	i := -1
	for j, cur := range l.segments {
		if cur == s {
			i = j
		}
	}
	if i < 0 || l.closed {
		// Retention or truncation took the segment meanwhile.
		l.fs.Remove(swapName)
		return nil
	}
	names := l.retire(s)
	if err := l.fs.Rename(swapName, fileName(l.dir, s.base, logSuffix)); err != nil {
		return err
	}
	ns, err := openSegment(l.fs, l.dir, s.base, false)
	if err != nil {
		return err
	}
	if err := ns.loadTxnIndex(); err != nil {
		ns.close()
		return err
	}
	if _, err := ns.recover(l.cfg.IndexIntervalBytes); err != nil {
		ns.close()
		return err
	}
	ns.nextOffset.Store(s.nextOffset.Load())
	if err := ns.sync(); err != nil {
		ns.close()
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		ns.close()
		return err
	}
	segs := append([]*segment(nil), l.segments...)
	segs[i] = ns
	l.segments = segs
	if l.m != nil {
		l.m.deleteLater(l.fs, names, []*segment{s}, l.cfg.FileDeleteDelay)
	}
	return nil
}

// completeSwaps finishes swaps a crash interrupted: a <base>.log.swap file
// replaces <base>.log.
func completeSwaps(fsys FS, dir string) error {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, logSuffix+swapSuffix) {
			continue
		}
		base := strings.TrimSuffix(name, swapSuffix)
		fsys.Remove(dir + "/" + base)
		fsys.Remove(dir + "/" + strings.TrimSuffix(base, logSuffix) + indexSuffix)
		fsys.Remove(dir + "/" + strings.TrimSuffix(base, logSuffix) + timeIndexSuffix)
		if err := fsys.Rename(dir+"/"+name, dir+"/"+base); err != nil {
			return err
		}
	}
	return fsys.SyncDir(dir)
}

// throttle limits the cleaner's reads to log.cleaner.io.max.bytes.per.second.
type throttle struct {
	rate  float64
	start time.Time
	bytes float64
}

func newThrottle(bytesPerSecond int64) *throttle {
	if bytesPerSecond <= 0 || float64(bytesPerSecond) >= math.MaxInt64/2 {
		return nil
	}
	return &throttle{rate: float64(bytesPerSecond), start: time.Now()}
}

func (t *throttle) wait(n int) {
	if t == nil {
		return
	}
	t.bytes += float64(n)
	if ahead := time.Duration(t.bytes/t.rate*float64(time.Second)) - time.Since(t.start); ahead > 0 {
		time.Sleep(ahead)
	}
}
