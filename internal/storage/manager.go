package storage

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// Manager owns the logs of one broker: it opens and recovers every
// partition directory at startup, creates and deletes logs, and runs the
// background work (retention, time-based flushes, checkpoint files,
// delayed file deletion).
type Manager struct {
	cfg    ManagerConfig
	fs     FS
	logger *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	logs   map[TopicPartition]*Log
	closed bool

	ckptMu sync.Mutex // one checkpoint write at a time

	// cleaner is the log cleaner's configuration in effect, replaced by
	// SetCleanerConfig.
	cleaner atomic.Pointer[CleanerConfig]
	// cleanerThreads is how many cleaner threads are meant to run
	// (guarded by mu); cleanerExcess is how many running ones must stop.
	cleanerThreads int
	cleanerExcess  atomic.Int32

	delMu   sync.Mutex
	pending map[*time.Timer]func()

	stop chan struct{}
	wg   sync.WaitGroup
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	FS                              FS
	Dirs                            []string  // log.dirs
	Defaults                        LogConfig // broker-level defaults
	RetentionCheckIntervalMs        int64     // log.retention.check.interval.ms
	FlushSchedulerIntervalMs        int64     // log.flush.scheduler.interval.ms
	FlushOffsetCheckpointIntervalMs int64     // log.flush.offset.checkpoint.interval.ms
	// ProducerIDExpirationMs is producer.id.expiration.ms; 0 means
	// Kafka's default of one day.
	ProducerIDExpirationMs int64
	Logger                 *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Cleaner runs log compaction; zero Threads means no cleaner.
	Cleaner CleanerConfig
}

// OpenManager loads and recovers every partition found in the log dirs.
// A directory without the clean-shutdown marker is recovered from each
// log's recovery point: torn tails are truncated and indexes rebuilt.
func OpenManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.FS == nil {
		cfg.FS = OSFS
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ProducerIDExpirationMs <= 0 {
		cfg.ProducerIDExpirationMs = 86400000
	}
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("no log directories")
	}
	m := &Manager{
		cfg: cfg, fs: cfg.FS, logger: cfg.Logger, now: cfg.Now,
		logs:    map[TopicPartition]*Log{},
		pending: map[*time.Timer]func(){},
		stop:    make(chan struct{}),
	}
	for _, dir := range cfg.Dirs {
		if err := m.loadDir(dir); err != nil {
			m.closeLogs()
			return nil, err
		}
	}
	m.SetCleanerConfig(cfg.Cleaner)
	m.wg.Add(3)
	go m.every(cfg.RetentionCheckIntervalMs, m.retention)
	go m.every(m.flushCheckMs(), m.flushDue)
	go m.every(cfg.FlushOffsetCheckpointIntervalMs, func() {
		for _, d := range m.cfg.Dirs {
			m.writeCheckpoints(d)
		}
	})
	return m, nil
}

// flushCheckMs is how often logs are checked for flush.ms. Kafka's default
// scheduler interval is "never", which would make flush.ms do nothing; a
// second is a cheap check that honours it.
func (m *Manager) flushCheckMs() int64 {
	if v := m.cfg.FlushSchedulerIntervalMs; v > 0 && v < 1000 {
		return v
	}
	return 1000
}

func (m *Manager) every(ms int64, fn func()) {
	defer m.wg.Done()
	if ms <= 0 || ms >= math.MaxInt64/int64(time.Millisecond) {
		<-m.stop
		return
	}
	t := time.NewTicker(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			fn()
		}
	}
}

func (m *Manager) retention() {
	now := m.now()
	for _, l := range m.All() {
		l.deleteSegments(now)
		l.expireProducers(now, m.cfg.ProducerIDExpirationMs)
	}
}

func (m *Manager) flushDue() {
	now := m.now()
	for _, l := range m.All() {
		if err := l.flushIfDue(now); err != nil {
			m.logger.Error("flushing a log", "dir", l.dir, "err", err)
		}
	}
}

// loadDir opens the logs of one log directory.
func (m *Manager) loadDir(dir string) error {
	if err := m.fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("log dir %s: %w", dir, err)
	}
	_, err := m.fs.Stat(filepath.Join(dir, cleanShutdownFile))
	clean := err == nil
	recovery := m.readOffsets(dir, recoveryPointFile)
	starts := m.readOffsets(dir, logStartFile)
	hws := m.readOffsets(dir, replicationFile)
	dirty := m.readOffsets(dir, cleanerCheckpointFile)
	entries, err := m.fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("log dir %s: %w", dir, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if strings.HasSuffix(e.Name(), "-delete") {
			m.logger.Info("removing the log of a deleted partition", "dir", path)
			if err := m.fs.RemoveAll(path); err != nil {
				return err
			}
			continue
		}
		tp, ok := parsePartitionDir(e.Name())
		if !ok {
			continue
		}
		if other := m.logs[tp]; other != nil {
			return fmt.Errorf("partition %s-%d is in two log dirs: %s and %s", tp.Topic, tp.Partition, other.dir, path)
		}
		rp, ok := recovery[tp]
		if !ok {
			rp = 0
		}
		l, err := m.openLog(path, tp, clean, rp, starts[tp])
		if err != nil {
			return fmt.Errorf("loading %s: %w", path, err)
		}
		l.highWatermark.Store(min(max(hws[tp], l.logStart.Load()), l.logEnd.Load()))
		l.ps.pruneUnreplicated(l.highWatermark.Load())
		l.cleaner.firstDirty.Store(min(dirty[tp], l.logEnd.Load()))
		m.logs[tp] = l
	}
	if clean {
		if err := m.fs.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil {
			return err
		}
		return m.fs.SyncDir(dir)
	}
	return nil
}

func (m *Manager) readOffsets(dir, name string) map[TopicPartition]int64 {
	b, err := readFile(m.fs, filepath.Join(dir, name))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			m.logger.Warn("reading a checkpoint file", "file", name, "dir", dir, "err", err)
		}
		return nil
	}
	offs, err := decodeOffsets(b)
	if err != nil {
		m.logger.Warn("ignoring a malformed checkpoint file", "file", name, "dir", dir, "err", err)
		return nil
	}
	return offs
}

// parsePartitionDir parses "<topic>-<partition>".
func parsePartitionDir(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != name[i+1:] {
		return TopicPartition{}, false
	}
	return TopicPartition{Topic: name[:i], Partition: int32(p)}, true
}

// parseBase parses a segment file name "<20 digits><suffix>".
func parseBase(name, suffix string) (int64, bool) {
	if len(name) != 20+len(suffix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	n, err := strconv.ParseInt(name[:20], 10, 64)
	return n, err == nil && n >= 0
}

// openLog loads one partition directory.
func (m *Manager) openLog(dir string, tp TopicPartition, clean bool, recoveryPoint, logStart int64) (*Log, error) {
	l := &Log{
		fs: m.fs, dir: dir, tp: tp, m: m, now: m.now,
		logger: m.logger,
		cfg:    m.cfg.Defaults,
		ps:     newProducerState(),
	}
	l.lastFlush = m.now()
	if err := completeSwaps(m.fs, dir); err != nil {
		return nil, err
	}
	entries, err := m.fs.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, deletedSuffix), strings.HasSuffix(name, cleanedSuffix),
			strings.HasSuffix(name, swapSuffix), strings.HasSuffix(name, ".tmp"):
			// Leftovers of a deletion or rewrite interrupted by a crash.
			if err := m.fs.Remove(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
		default:
			if base, ok := parseBase(name, logSuffix); ok {
				bases = append(bases, base)
			}
		}
	}
	slices.Sort(bases)
	for _, e := range entries {
		for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			if base, ok := parseBase(e.Name(), suf); ok && !slices.Contains(bases, base) {
				m.fs.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(bases) == 0 {
		bases = []int64{max(logStart, 0)}
	}
	for i, base := range bases {
		s, err := openSegment(m.fs, dir, base, i == len(bases)-1)
		if err != nil {
			l.closeSegments()
			return nil, err
		}
		l.segments = append(l.segments, s)
	}

	// Recover the segment holding the recovery point and every later
	// one, unless the broker shut down cleanly; and any segment whose
	// indexes cannot be trusted.
	recoverFrom := len(l.segments)
	if !clean {
		recoverFrom = max(sortSearch(l.segments, recoveryPoint)-1, 0)
	}
	for i := 0; i < len(l.segments); i++ {
		s := l.segments[i]
		active := i == len(l.segments)-1
		needRecover := i >= recoverFrom
		if !needRecover {
			if err := s.loadIndexes(active); err != nil {
				m.logger.Warn("rebuilding the indexes of a segment", "dir", dir, "base", s.base, "reason", err)
				needRecover = true
			}
		}
		if !needRecover {
			if err := s.loadTxnIndex(); err != nil {
				m.logger.Warn("rebuilding the transaction index of a segment", "dir", dir, "base", s.base, "reason", err)
				s.rebuildTxn = true
			}
		} else {
			s.rebuildTxn = true
		}
		if s.rebuildTxn {
			if err := s.rewriteTxnIndex(nil); err != nil {
				l.closeSegments()
				return nil, err
			}
		}
		if !needRecover {
			if !active {
				s.nextOffset.Store(l.segments[i+1].base)
			}
			continue
		}
		truncated, err := s.recover(l.cfg.IndexIntervalBytes)
		if err != nil {
			l.closeSegments()
			return nil, err
		}
		if truncated > 0 {
			m.logger.Warn("truncated a torn or corrupt log tail", "dir", dir, "segment", s.base, "bytes", truncated, "log_end_offset", s.nextOffset.Load())
		}
		if !active && (truncated > 0 || s.nextOffset.Load() != l.segments[i+1].base) {
			// What follows a damaged segment cannot be trusted to
			// continue it: a segment that lost its tail (or all of
			// it) to a crash no longer reaches the next one's base.
			// (A cleaner that leaves gaps between segments must
			// record them for this check.)
			for _, later := range l.segments[i+1:] {
				m.logger.Warn("deleting a segment after a truncated one", "dir", dir, "segment", later.base)
				later.close()
				for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
					m.fs.Remove(fileName(dir, later.base, suf))
				}
			}
			l.segments = l.segments[:i+1]
		}
		if err := s.sync(); err != nil {
			l.closeSegments()
			return nil, err
		}
	}
	last := l.segments[len(l.segments)-1]
	end := max(last.nextOffset.Load(), last.base)
	l.logEnd.Store(end)
	l.logStart.Store(min(max(logStart, l.segments[0].base), end))
	l.recoveryPoint.Store(end)

	if b, err := readFile(m.fs, filepath.Join(dir, leaderEpochFile)); err == nil {
		if es, err := decodeEpochs(b); err == nil {
			l.epochs = truncateEpochsFromStart(truncateEpochsFromEnd(es, end), l.logStart.Load())
		} else {
			m.logger.Warn("ignoring a malformed leader epoch checkpoint", "dir", dir, "err", err)
		}
	}
	if err := l.loadProducerState(); err != nil {
		l.closeSegments()
		return nil, err
	}
	return l, nil
}

// sortSearch returns the index of the first segment whose base is above
// offset.
func sortSearch(segs []*segment, offset int64) int {
	i := 0
	for i < len(segs) && segs[i].base <= offset {
		i++
	}
	return i
}

func (l *Log) closeSegments() {
	for _, s := range l.segments {
		s.close()
	}
}

// loadProducerState rebuilds the producer state: from the newest snapshot
// at or below the active segment's base (snapshots are taken when a
// segment rolls), replaying every batch after it, so the recent batches of
// each producer are known again. Snapshots beyond the log end (left by a
// truncation) are deleted.
func (l *Log) loadProducerState() error {
	end := l.logEnd.Load()
	activeBase := l.segments[len(l.segments)-1].base
	from := l.segments[0].base
	// Segments whose transaction index is rebuilt are replayed whole, so
	// the snapshot must not be past the first of them.
	rebuildFrom := int64(math.MaxInt64)
	for _, s := range l.segments {
		if s.rebuildTxn {
			rebuildFrom = s.base
			break
		}
	}
	for _, off := range l.snapshotOffsets() {
		if off > end {
			l.fs.Remove(fileName(l.dir, off, snapshotSuffix))
			continue
		}
		if off > activeBase || off < l.segments[0].base || off > rebuildFrom {
			continue
		}
		b, err := readFile(l.fs, fileName(l.dir, off, snapshotSuffix))
		if err != nil {
			return err
		}
		ps, err := decodeSnapshot(b, l.now().UnixMilli())
		if err != nil {
			l.logger.Warn("ignoring a producer state snapshot", "dir", l.dir, "offset", off, "err", err)
			continue
		}
		l.ps, from = ps, off
	}
	now := l.now().UnixMilli()
	for _, s := range l.segments {
		if s.nextOffset.Load() <= from {
			continue
		}
		r := chunkReader{f: s.file, size: s.size.Load()}
		for pos := int64(0); pos < r.size; {
			b, err := r.bytes(pos, record.HeaderSize)
			if err != nil {
				return err
			}
			h, err := record.ParseHeader(b)
			if err != nil {
				return err
			}
			if h.BaseOffset >= from && sequenced(&h) {
				l.ps.update(&h, now, nil)
			}
			if h.BaseOffset >= from && h.Transactional() {
				if h.Control() {
					if _, b, err = r.batchAt(pos); err != nil {
						return err
					}
				}
				if a, ok := l.ps.trackTxn(&h, b, now); ok && s.rebuildTxn {
					if err := s.appendAborted(a); err != nil {
						return err
					}
				}
			}
			pos += int64(h.Size())
		}
	}
	for _, s := range l.segments {
		s.rebuildTxn = false
	}
	if err := l.loadEarlierBatches(from); err != nil {
		return err
	}
	l.ps.truncateHead(l.logStart.Load())
	return nil
}

// tailWindow is how much of the segment before a snapshot is read at
// startup to find producers' batches that the snapshot does not hold.
const tailWindow = 1 << 20

// loadEarlierBatches completes the producer state after a snapshot at
// offset from: a snapshot holds only each producer's last batch, so a
// producer retrying its last five batches after a restart would be refused
// for the older ones. The end of the segment before the snapshot is
// scanned and its batches put back in front of the ones known.
func (l *Log) loadEarlierBatches(from int64) error {
	var prev *segment
	for _, s := range l.segments {
		if s.base < from && s.nextOffset.Load() <= from {
			prev = s
		}
	}
	if prev == nil {
		return nil
	}
	need := false
	for _, e := range l.ps.producers {
		if len(e.batches) < maxBatchesPerProducer && len(e.batches) > 0 && e.batches[0].lastOffset < from {
			need = true
			break
		}
	}
	if !need {
		return nil
	}
	var start int64
	prev.ix.mu.RLock()
	for _, e := range prev.ix.offsets {
		if e.pos >= prev.size.Load()-tailWindow {
			break
		}
		start = e.pos
	}
	prev.ix.mu.RUnlock()
	pre := newProducerState()
	r := chunkReader{f: prev.file, size: prev.size.Load()}
	for pos := start; pos < r.size; {
		b, err := r.bytes(pos, record.HeaderSize)
		if err != nil {
			return err
		}
		h, err := record.ParseHeader(b)
		if err != nil {
			return err
		}
		if sequenced(&h) && h.LastOffset() < from {
			pre.update(&h, 0, nil)
		}
		pos += int64(h.Size())
	}
	for id, e := range l.ps.producers {
		p := pre.producers[id]
		if p == nil || p.epoch != e.epoch || len(e.batches) == 0 || e.batches[0].lastOffset != p.lastOffset() {
			continue
		}
		merged := append(slices.Clone(p.batches), e.batches[1:]...)
		if n := len(merged); n > maxBatchesPerProducer {
			merged = merged[n-maxBatchesPerProducer:]
		}
		e.batches = merged
	}
	return nil
}

// Get returns the open log of a partition, or nil.
func (m *Manager) Get(tp TopicPartition) *Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs[tp]
}

// All returns every open log.
func (m *Manager) All() map[TopicPartition]*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[TopicPartition]*Log, len(m.logs))
	for tp, l := range m.logs {
		out[tp] = l
	}
	return out
}

// Create creates (or returns, if it exists) the log of a partition, writing
// its partition.metadata with the topic id. A new log goes to the log
// directory holding the fewest partitions.
func (m *Manager) Create(tp TopicPartition, topicID [16]byte, cfg LogConfig) (*Log, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrLogClosed
	}
	if l := m.logs[tp]; l != nil {
		l.SetConfig(cfg)
		return l, nil
	}
	counts := map[string]int{}
	for _, l := range m.logs {
		counts[filepath.Dir(l.dir)]++
	}
	parent := m.cfg.Dirs[0]
	for _, d := range m.cfg.Dirs[1:] {
		if counts[d] < counts[parent] {
			parent = d
		}
	}
	dir := filepath.Join(parent, fmt.Sprintf("%s-%d", tp.Topic, tp.Partition))
	if err := m.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(m.fs, dir, partitionMetaFile, encodePartitionMetadata(topicID)); err != nil {
		return nil, err
	}
	l, err := m.openLog(dir, tp, true, 0, 0)
	if err != nil {
		return nil, err
	}
	if err := l.active().file.Sync(); err != nil {
		l.closeSegments()
		return nil, err
	}
	if err := m.fs.SyncDir(dir); err != nil {
		l.closeSegments()
		return nil, err
	}
	if err := m.fs.SyncDir(parent); err != nil {
		l.closeSegments()
		return nil, err
	}
	l.cfg = cfg
	m.logs[tp] = l
	return l, nil
}

// Delete closes a log and removes its directory: at once it is renamed
// to "<topic>-<partition>.<random>-delete" (removed at the next start if
// the broker stops first), and its files are closed and removed after
// file.delete.delay.ms, so that fetches still sending from them finish.
func (m *Manager) Delete(tp TopicPartition) error {
	m.mu.Lock()
	l := m.logs[tp]
	delete(m.logs, tp)
	m.mu.Unlock()
	if l == nil {
		return nil
	}
	l.close(false)
	var suffix [16]byte
	rand.Read(suffix[:])
	to := fmt.Sprintf("%s.%s-delete", l.dir, hex.EncodeToString(suffix[:]))
	if err := m.fs.Rename(l.dir, to); err != nil {
		return err
	}
	if err := m.fs.SyncDir(filepath.Dir(l.dir)); err != nil {
		return err
	}
	l.mu.RLock()
	segs := l.segments
	l.mu.RUnlock()
	m.schedule(l.Config().FileDeleteDelay, func() {
		for _, s := range segs {
			s.close()
		}
		if err := m.fs.RemoveAll(to); err != nil {
			m.logger.Error("removing a deleted log", "dir", to, "err", err)
		}
	})
	return nil
}

// deleteLater closes segments and removes their retired files after the
// delay.
func (m *Manager) deleteLater(fsys FS, names []string, segs []*segment, delay time.Duration) {
	m.schedule(delay, func() {
		for _, s := range segs {
			s.close()
		}
		for _, n := range names {
			if err := fsys.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
				m.logger.Error("removing a deleted segment file", "file", n, "err", err)
			}
		}
	})
}

// schedule runs fn after delay, or at Close if that comes first.
func (m *Manager) schedule(delay time.Duration, fn func()) {
	m.delMu.Lock()
	defer m.delMu.Unlock()
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		m.delMu.Lock()
		_, ok := m.pending[t]
		delete(m.pending, t)
		m.delMu.Unlock()
		if ok {
			fn()
		}
	})
	m.pending[t] = fn
}

// runPending runs every scheduled deletion now.
func (m *Manager) runPending() {
	m.delMu.Lock()
	fns := make([]func(), 0, len(m.pending))
	for t, fn := range m.pending {
		if t.Stop() {
			fns = append(fns, fn)
		}
		delete(m.pending, t)
	}
	m.delMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// writeCheckpoints writes the recovery-point and log-start-offset
// checkpoint files of a log directory.
func (m *Manager) writeCheckpoints(dir string) {
	m.ckptMu.Lock()
	defer m.ckptMu.Unlock()
	rps := map[TopicPartition]int64{}
	starts := map[TopicPartition]int64{}
	hws := map[TopicPartition]int64{}
	dirty := map[TopicPartition]int64{}
	for tp, l := range m.All() {
		if filepath.Dir(l.dir) != filepath.Clean(dir) {
			continue
		}
		rps[tp] = l.recoveryPoint.Load()
		hws[tp] = l.HighWatermark()
		if d := l.cleaner.firstDirty.Load(); d > 0 {
			dirty[tp] = d
		}
		if s := l.logStart.Load(); s > 0 {
			starts[tp] = s
		}
	}
	if err := WriteFileAtomic(m.fs, dir, recoveryPointFile, encodeOffsets(rps)); err != nil {
		m.logger.Error("writing the recovery point checkpoint", "dir", dir, "err", err)
	}
	if err := WriteFileAtomic(m.fs, dir, logStartFile, encodeOffsets(starts)); err != nil {
		m.logger.Error("writing the log start offset checkpoint", "dir", dir, "err", err)
	}
	if err := WriteFileAtomic(m.fs, dir, replicationFile, encodeOffsets(hws)); err != nil {
		m.logger.Error("writing the high watermark checkpoint", "dir", dir, "err", err)
	}
	if err := WriteFileAtomic(m.fs, dir, cleanerCheckpointFile, encodeOffsets(dirty)); err != nil {
		m.logger.Error("writing the cleaner checkpoint", "dir", dir, "err", err)
	}
}

func (m *Manager) closeLogs() {
	for _, l := range m.logs {
		l.closeSegments()
	}
}

// Close flushes every log, writes the checkpoint files and marks a clean
// shutdown.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	close(m.stop)
	m.wg.Wait()
	var firstErr error
	for _, l := range m.All() {
		if err := l.close(true); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("closing %s: %w", l.dir, err)
		}
	}
	m.runPending()
	for _, d := range m.cfg.Dirs {
		m.writeCheckpoints(d)
	}
	if firstErr != nil {
		return firstErr
	}
	for _, d := range m.cfg.Dirs {
		f, err := m.fs.OpenFile(filepath.Join(d, cleanShutdownFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err == nil {
			err = m.fs.SyncDir(d)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func encodeTopicID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }
