package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

var testTP = TopicPartition{Topic: "t", Partition: 0}

func testConfig() LogConfig {
	return LogConfig{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		SegmentIndexBytes:  10 << 20,
		IndexIntervalBytes: 4096,
		RetentionMs:        -1,
		RetentionBytes:     -1,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		CleanupPolicy:      "delete",
	}
}

// fixture is a manager over one log dir of an FS, reopened at will.
type fixture struct {
	t   *testing.T
	fs  FS
	dir string
	cfg LogConfig
	now time.Time
	m   *Manager
}

func newFixture(t *testing.T, fs FS, cfg LogConfig) *fixture {
	t.Helper()
	dir := "/data"
	if fs == OSFS {
		dir = t.TempDir()
	}
	f := &fixture{t: t, fs: fs, dir: dir, cfg: cfg, now: time.UnixMilli(1_700_000_000_000)}
	f.open()
	t.Cleanup(func() {
		if f.m != nil {
			f.m.Close()
		}
	})
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	m, err := OpenManager(ManagerConfig{
		FS: f.fs, Dirs: []string{f.dir}, Defaults: f.cfg,
		Now: func() time.Time { return f.now },
	})
	if err != nil {
		f.t.Fatalf("OpenManager: %v", err)
	}
	f.m = m
}

// log returns the test partition's log, creating it.
func (f *fixture) log() *Log {
	f.t.Helper()
	l, err := f.m.Create(testTP, [16]byte{1, 2, 3}, f.cfg)
	if err != nil {
		f.t.Fatalf("Create: %v", err)
	}
	return l
}

func (f *fixture) reopen() *Log {
	f.t.Helper()
	if err := f.m.Close(); err != nil {
		f.t.Fatalf("Close: %v", err)
	}
	f.open()
	return f.log()
}

// crash abandons the manager without closing it, as SIGKILL would; on a
// MemFS it also drops everything unsynced, and work still in flight in the
// abandoned manager's goroutines is lost with it.
func (f *fixture) crash() *Log {
	f.t.Helper()
	close(f.m.stop)
	if mfs, ok := f.fs.(*MemFS); ok {
		f.fs = mfs.Crash()
	} else {
		f.m.wg.Wait()
		for _, l := range f.m.All() {
			l.bg.Wait()
		}
	}
	f.m = nil
	f.open()
	return f.log()
}

// batch builds a batch of n records whose values are "v<first+i>".
func batch(t testing.TB, first, n int, ts int64) []byte {
	t.Helper()
	b := record.NewBuilder(record.None)
	for i := 0; i < n; i++ {
		b.Add(ts+int64(i), record.Record{Key: []byte(fmt.Sprint("k", first+i)), Value: []byte(fmt.Sprint("v", first+i))})
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func idemBatch(t testing.TB, pid int64, epoch int16, seq int32, n int, ts int64) []byte {
	t.Helper()
	b := record.NewBuilder(record.None)
	b.ProducerID, b.ProducerEpoch, b.BaseSequence = pid, epoch, seq
	for i := 0; i < n; i++ {
		b.Add(ts, record.Record{Value: []byte(fmt.Sprint("s", int(seq)+i))})
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b, 0, -1)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// readAllRecords reads the whole log from offset, checking every batch's
// CRC, and returns (offset, value) of every record.
func readAllRecords(t testing.TB, l *Log, from int64) (offsets []int64, values []string) {
	t.Helper()
	next := from
	for next < l.LogEndOffset() {
		rr, err := l.Read(next, 1<<20, math.MaxInt64, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		if rr.Size == 0 {
			t.Fatalf("Read(%d) returned nothing before the log end %d", next, l.LogEndOffset())
		}
		buf := make([]byte, rr.Size)
		if _, err := rr.File.ReadAt(buf, rr.Pos); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		used, err := record.Batches(buf, func(h record.Header, b []byte) error {
			if err := record.CheckCRC(b); err != nil {
				return err
			}
			return record.EachRecord(&h, b, 1<<30, func(r *record.Record) error {
				off := h.BaseOffset + int64(r.OffsetDelta)
				if off >= next {
					offsets = append(offsets, off)
					values = append(values, string(r.Value))
				}
				return nil
			})
		})
		if err != nil || used == 0 {
			t.Fatalf("batches at %d: used %d, err %v", next, used, err)
		}
		next = offsets[len(offsets)-1] + 1
	}
	return offsets, values
}

func checkDense(t testing.TB, offsets []int64, from int64) {
	t.Helper()
	for i, o := range offsets {
		if o != from+int64(i) {
			t.Fatalf("offset #%d is %d, want %d (offsets must be dense)", i, o, from+int64(i))
		}
	}
}

func TestAppendReadRoll(t *testing.T) {
	for _, fsys := range []FS{NewMemFS(), OSFS} {
		t.Run(fmt.Sprintf("%T", fsys), func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes = 2000
			cfg.IndexIntervalBytes = 300
			f := newFixture(t, fsys, cfg)
			l := f.log()
			var want []string
			for i := 0; i < 100; i++ {
				res := mustAppend(t, l, batch(t, i*3, 3, 1000+int64(i)))
				if res.FirstOffset != int64(i*3) || res.LastOffset != int64(i*3+2) {
					t.Fatalf("append %d: offsets %d-%d, want %d-%d", i, res.FirstOffset, res.LastOffset, i*3, i*3+2)
				}
				want = append(want, fmt.Sprint("v", i*3), fmt.Sprint("v", i*3+1), fmt.Sprint("v", i*3+2))
			}
			if l.LogEndOffset() != 300 {
				t.Fatalf("log end %d, want 300", l.LogEndOffset())
			}
			if n := len(l.segments); n < 4 {
				t.Fatalf("%d segments after 100 batches with segment.bytes=2000, want >= 4", n)
			}
			for _, s := range l.segments {
				if s.size.Load() > cfg.SegmentBytes {
					t.Errorf("segment %d is %d bytes, over segment.bytes", s.base, s.size.Load())
				}
			}
			offs, vals := readAllRecords(t, l, 0)
			checkDense(t, offs, 0)
			if !slices.Equal(vals, want) {
				t.Fatalf("read back %d values, differing from the %d written", len(vals), len(want))
			}
			// Every offset reads from the batch that holds it.
			for o := int64(0); o < 300; o += 7 {
				rr, err := l.Read(o, 1<<20, math.MaxInt64, true)
				if err != nil || rr.FirstOffset > o || rr.FirstOffset < o-2 {
					t.Fatalf("Read(%d): first offset %d, err %v", o, rr.FirstOffset, err)
				}
			}
			// The same after a clean restart, which loads the indexes.
			l = f.reopen()
			if l.LogEndOffset() != 300 {
				t.Fatalf("log end %d after restart, want 300", l.LogEndOffset())
			}
			offs, vals = readAllRecords(t, l, 0)
			checkDense(t, offs, 0)
			if !slices.Equal(vals, want) {
				t.Fatal("values differ after a clean restart")
			}
			res := mustAppend(t, l, batch(t, 300, 1, 5000))
			if res.FirstOffset != 300 {
				t.Fatalf("append after restart got offset %d, want 300", res.FirstOffset)
			}
		})
	}
}

func TestReadLimits(t *testing.T) {
	f := newFixture(t, NewMemFS(), testConfig())
	l := f.log()
	b := batch(t, 0, 5, 1)
	size := len(b)
	mustAppend(t, l, b)
	mustAppend(t, l, batch(t, 5, 5, 1))
	mustAppend(t, l, batch(t, 10, 5, 1))

	if _, err := l.Read(16, 100, math.MaxInt64, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read past the end: %v, want ErrOffsetOutOfRange", err)
	}
	if rr, err := l.Read(15, 100, math.MaxInt64, true); err != nil || rr.Size != 0 {
		t.Fatalf("Read at the end: size %d, err %v; want empty", rr.Size, err)
	}
	// maxBytes smaller than one batch: the whole first batch with
	// minOneBatch; a cut prefix without.
	if rr, _ := l.Read(0, 10, math.MaxInt64, true); rr.Size != size {
		t.Fatalf("minOneBatch read size %d, want one batch of %d", rr.Size, size)
	}
	if rr, _ := l.Read(0, 10, math.MaxInt64, false); rr.Size != 10 {
		t.Fatalf("read without minOneBatch: size %d, want 10", rr.Size)
	}
	// maxOffset stops before the batch holding it.
	if rr, _ := l.Read(0, 1<<20, 10, true); rr.Size != 2*size {
		t.Fatalf("read below offset 10: size %d, want %d", rr.Size, 2*size)
	}
	if rr, _ := l.Read(7, 1<<20, 10, true); rr.FirstOffset != 5 || rr.Size != size {
		t.Fatalf("read of offset 7 below 10: first %d size %d, want 5 and %d", rr.FirstOffset, rr.Size, size)
	}
	if rr, _ := l.Read(10, 1<<20, 10, true); rr.Size != 0 {
		t.Fatalf("read at maxOffset returned %d bytes", rr.Size)
	}
}

func TestKafkaFileFormats(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1
	f := newFixture(t, OSFS, cfg)
	l := f.log()
	mustAppend(t, l, batch(t, 0, 2, 1000))
	mustAppend(t, l, batch(t, 2, 3, 2000))
	mustAppend(t, l, batch(t, 5, 1, 1500))
	l = f.reopen()
	dir := l.Dir()
	if filepath.Base(dir) != "t-0" {
		t.Fatalf("partition dir %s, want t-0", dir)
	}
	names := func() []string {
		es, _ := os.ReadDir(dir)
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}()
	for _, want := range []string{"00000000000000000000.log", "00000000000000000000.index", "00000000000000000000.timeindex", "partition.metadata", "leader-epoch-checkpoint"} {
		if !slices.Contains(names, want) {
			t.Errorf("missing %s in %v", want, names)
		}
	}
	meta, _ := os.ReadFile(filepath.Join(dir, "partition.metadata"))
	if !strings.HasPrefix(string(meta), "version: 0\ntopic_id: AQID") {
		t.Errorf("partition.metadata = %q", meta)
	}
	ep, _ := os.ReadFile(filepath.Join(dir, "leader-epoch-checkpoint"))
	if string(ep) != "0\n1\n0 0\n" {
		t.Errorf("leader-epoch-checkpoint = %q", ep)
	}
	// With index.interval.bytes=1 every batch after the first is indexed
	// by its last offset and position.
	ix, _ := os.ReadFile(filepath.Join(dir, "00000000000000000000.index"))
	seg, _ := os.ReadFile(filepath.Join(dir, "00000000000000000000.log"))
	if len(ix) != 2*8 {
		t.Fatalf(".index is %d bytes, want 2 entries", len(ix))
	}
	var positions []uint32
	record.Batches(seg, func(h record.Header, b []byte) error {
		positions = append(positions, uint32(h.BaseOffset)) // placeholder, replaced below
		return nil
	})
	pos := 0
	var batchPos []int
	record.Batches(seg, func(h record.Header, b []byte) error {
		batchPos = append(batchPos, pos)
		pos += len(b)
		return nil
	})
	if rel, p := binary.BigEndian.Uint32(ix[0:]), binary.BigEndian.Uint32(ix[4:]); rel != 4 || int(p) != batchPos[1] {
		t.Errorf("first index entry (%d, %d), want (4, %d)", rel, p, batchPos[1])
	}
	if rel, p := binary.BigEndian.Uint32(ix[8:]), binary.BigEndian.Uint32(ix[12:]); rel != 5 || int(p) != batchPos[2] {
		t.Errorf("second index entry (%d, %d), want (5, %d)", rel, p, batchPos[2])
	}
	ti, _ := os.ReadFile(filepath.Join(dir, "00000000000000000000.timeindex"))
	if len(ti)%12 != 0 || len(ti) == 0 {
		t.Fatalf(".timeindex is %d bytes", len(ti))
	}
	last := ti[len(ti)-12:]
	if ts, rel := int64(binary.BigEndian.Uint64(last)), binary.BigEndian.Uint32(last[8:]); ts != 2002 || rel != 4 {
		t.Errorf("last time index entry (%d, %d), want the largest timestamp (2002, 4)", ts, rel)
	}
	for _, ck := range []string{"recovery-point-offset-checkpoint", "log-start-offset-checkpoint", ".kafka_cleanshutdown"} {
		if _, err := os.Stat(filepath.Join(f.dir, ck)); err != nil && ck != ".kafka_cleanshutdown" {
			t.Errorf("%s: %v", ck, err)
		}
	}
	rp, _ := os.ReadFile(filepath.Join(f.dir, "recovery-point-offset-checkpoint"))
	if string(rp) != "0\n1\nt 0 6\n" {
		t.Errorf("recovery-point-offset-checkpoint = %q", rp)
	}
}

func TestTimestampsAndEpochs(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 300
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	if ts, off := l.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("MaxTimestamp of an empty log = %d, %d", ts, off)
	}
	// Timestamps 100, 101 | 200, 201 | 150, 151 | 300 ...
	for i, ts := range []int64{100, 200, 150, 300, 250} {
		if _, err := l.Append(batch(t, i*2, 2, ts), int32(i/2), -1); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		ts, off, found int64
	}{{0, 0, 100}, {101, 1, 101}, {102, 2, 200}, {151, 2, 200}, {201, 3, 201}, {300, 6, 300}, {301, 7, 301}, {302, -1, -1}}
	for _, c := range cases {
		off, ts, ok := l.OffsetForTimestamp(c.ts)
		if off != c.off || (ok && ts != c.found) || ok != (c.off >= 0) {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", c.ts, off, ts, ok, c.off, c.found)
		}
	}
	if ts, off := l.MaxTimestamp(); ts != 301 || off != 7 {
		t.Errorf("MaxTimestamp = %d at %d, want 301 at 7", ts, off)
	}
	// Epochs 0 at 0, 1 at 4, 2 at 8.
	for _, c := range []struct{ req, ep, end int32 }{{0, 0, 4}, {1, 1, 8}, {2, 2, 10}, {3, -1, -1}, {-1, -1, -1}} {
		ep, end := l.EndOffsetForEpoch(c.req)
		if ep != c.ep || end != int64(c.end) {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", c.req, ep, end, c.ep, c.end)
		}
	}
	// LogAppendTime overrides the batch's timestamps.
	res, err := l.Append(batch(t, 10, 1, 5), 2, 9999)
	if err != nil || res.LogAppendTime != 9999 {
		t.Fatalf("append with LogAppendTime: %v, %+v", err, res)
	}
	if off, ts, ok := l.OffsetForTimestamp(9000); !ok || off != 10 || ts != 9999 {
		t.Errorf("OffsetForTimestamp(9000) = %d, %d, %v; want 10 at 9999", off, ts, ok)
	}
	// The same answers after a restart.
	l = f.reopen()
	if off, _, ok := l.OffsetForTimestamp(250); !ok || off != 6 {
		t.Errorf("after restart OffsetForTimestamp(250) = %d, %v", off, ok)
	}
	if ep, end := l.EndOffsetForEpoch(1); ep != 1 || end != 8 {
		t.Errorf("after restart EndOffsetForEpoch(1) = %d, %d", ep, end)
	}
}

func TestIdempotentProducer(t *testing.T) {
	f := newFixture(t, NewMemFS(), testConfig())
	l := f.log()
	const pid = 42
	var firsts []int64
	for i := 0; i < 6; i++ {
		res := mustAppend(t, l, idemBatch(t, pid, 0, int32(i*2), 2, 1))
		firsts = append(firsts, res.FirstOffset)
	}
	// The last five batches are answered from memory, unchanged log.
	end := l.LogEndOffset()
	for i := 1; i < 6; i++ {
		res := mustAppend(t, l, idemBatch(t, pid, 0, int32(i*2), 2, 1))
		if !res.Duplicate || res.FirstOffset != firsts[i] || res.LastOffset != firsts[i]+1 {
			t.Fatalf("retry of batch %d: %+v, want duplicate at %d", i, res, firsts[i])
		}
	}
	if l.LogEndOffset() != end {
		t.Fatalf("duplicates were written: log end %d, want %d", l.LogEndOffset(), end)
	}
	// The oldest batch is forgotten: a gap, so out of order.
	if _, err := l.Append(idemBatch(t, pid, 0, 0, 2, 1), 0, -1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("retry of a forgotten batch: %v, want ErrOutOfOrderSequence", err)
	}
	if _, err := l.Append(idemBatch(t, pid, 0, 14, 1, 1), 0, -1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v, want ErrOutOfOrderSequence", err)
	}
	if _, err := l.Append(idemBatch(t, pid, 1, 5, 1, 1), 0, -1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch not at 0: %v, want ErrOutOfOrderSequence", err)
	}
	mustAppend(t, l, idemBatch(t, pid, 1, 0, 1, 1))
	if _, err := l.Append(idemBatch(t, pid, 0, 12, 1, 1), 0, -1); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: %v, want ErrInvalidProducerEpoch", err)
	}
	// An unknown producer may start anywhere.
	mustAppend(t, l, idemBatch(t, 7, 3, 100, 1, 1))
	// Sequence numbers wrap at MaxInt32.
	mustAppend(t, l, idemBatch(t, 8, 0, math.MaxInt32-1, 2, 1))
	mustAppend(t, l, idemBatch(t, 8, 0, 0, 1, 1))

	// State survives a clean restart and a crash: the producer's recent
	// batches are still known.
	for _, restart := range []func() *Log{f.reopen, f.crash} {
		l = restart()
		res := mustAppend(t, l, idemBatch(t, pid, 1, 0, 1, 1))
		if !res.Duplicate {
			t.Fatalf("retry after restart was written again at %d", res.FirstOffset)
		}
		if _, err := l.Append(idemBatch(t, pid, 1, 5, 1, 1), 0, -1); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("gap after restart: %v", err)
		}
	}
}

func TestProducerStateAcrossRolls(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 500
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	var firsts []int64
	for i := 0; i < 30; i++ {
		firsts = append(firsts, mustAppend(t, l, idemBatch(t, 9, 0, int32(i), 1, 1)).FirstOffset)
	}
	if len(l.segments) < 5 {
		t.Fatalf("%d segments, want several", len(l.segments))
	}
	l = f.reopen()
	if len(l.snapshotOffsets()) == 0 {
		t.Fatal("no producer snapshots were written at rolls")
	}
	for i := 25; i < 30; i++ {
		res := mustAppend(t, l, idemBatch(t, 9, 0, int32(i), 1, 1))
		if !res.Duplicate || res.FirstOffset != firsts[i] {
			t.Fatalf("retry of sequence %d after restart: %+v, want duplicate at %d", i, res, firsts[i])
		}
	}
	mustAppend(t, l, idemBatch(t, 9, 0, 30, 1, 1))
}

func TestRetention(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	cfg.FileDeleteDelay = time.Hour
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	for i := 0; i < 60; i++ {
		mustAppend(t, l, batch(t, i*2, 2, f.now.UnixMilli()-int64(60-i)*60000))
	}
	nsegs := len(l.segments)
	size := l.Size()

	// retention.bytes: whole segments go, oldest first, while what is
	// left stays at least retention.bytes.
	cfg.RetentionBytes = size / 2
	l.SetConfig(cfg)
	if n := l.deleteSegments(f.now); n == 0 {
		t.Fatal("retention.bytes deleted nothing")
	}
	if l.Size() < cfg.RetentionBytes || l.Size() > cfg.RetentionBytes+cfg.SegmentBytes {
		t.Fatalf("size %d after retention.bytes=%d", l.Size(), cfg.RetentionBytes)
	}
	if l.LogStartOffset() != l.segments[0].base || l.LogStartOffset() == 0 {
		t.Fatalf("log start %d, first segment %d", l.LogStartOffset(), l.segments[0].base)
	}
	if _, err := l.Read(0, 100, math.MaxInt64, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v", err)
	}
	offs, _ := readAllRecords(t, l, l.LogStartOffset())
	checkDense(t, offs, l.LogStartOffset())

	// retention.ms: records older than 10 minutes go.
	cfg.RetentionBytes = -1
	cfg.RetentionMs = 10 * 60000
	l.SetConfig(cfg)
	l.deleteSegments(f.now)
	if ts := l.segments[0].maxTimestamp; f.now.UnixMilli()-ts > cfg.RetentionMs {
		t.Fatalf("first segment's newest record is %d ms old, beyond retention.ms", f.now.UnixMilli()-ts)
	}
	if len(l.segments) >= nsegs {
		t.Fatal("retention.ms deleted nothing")
	}
	// Everything expired: the active segment is rolled and deleted too,
	// the log is empty but keeps its offsets.
	end := l.LogEndOffset()
	f.now = f.now.Add(time.Hour)
	l.deleteSegments(f.now)
	if l.LogStartOffset() != end || l.LogEndOffset() != end || l.Size() != 0 {
		t.Fatalf("after expiring everything: start %d end %d size %d, want %d %d 0", l.LogStartOffset(), l.LogEndOffset(), l.Size(), end, end)
	}
	if res := mustAppend(t, l, batch(t, 0, 1, f.now.UnixMilli())); res.FirstOffset != end {
		t.Fatalf("append after full retention at %d, want %d", res.FirstOffset, end)
	}
	// The deleted files are renamed at once and removed after the delay
	// (or at shutdown).
	f.m.runPending()
	es, _ := f.fs.ReadDir(l.Dir())
	for _, e := range es {
		if base, ok := parseBase(e.Name(), logSuffix); ok && base < l.segments[0].base {
			t.Errorf("segment file %s left after retention", e.Name())
		}
		if strings.HasSuffix(e.Name(), deletedSuffix) {
			t.Errorf("deleted file %s not removed", e.Name())
		}
	}
	// The log start survives a restart.
	start := l.LogStartOffset()
	l = f.reopen()
	if l.LogStartOffset() != start {
		t.Fatalf("log start %d after restart, want %d", l.LogStartOffset(), start)
	}
}

func TestDeleteRecords(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 400
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	for i := 0; i < 20; i++ {
		mustAppend(t, l, batch(t, i*2, 2, 1))
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.DeleteRecordsBefore(41); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecordsBefore past the end: %v", err)
	}
	low, err := l.DeleteRecordsBefore(13)
	if err != nil || low != 13 {
		t.Fatalf("DeleteRecordsBefore(13) = %d, %v", low, err)
	}
	if l.segments[0].base > 13 {
		t.Fatalf("segment holding 13 was deleted (first segment %d)", l.segments[0].base)
	}
	if l.segments[0].base+int64(10) < 13 && len(l.segments) > 1 && l.segments[1].base <= 13 {
		t.Fatal("segments wholly below the log start were kept")
	}
	offs, _ := readAllRecords(t, l, 13)
	checkDense(t, offs, 13)
	if _, err := l.Read(12, 100, math.MaxInt64, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the new log start: %v", err)
	}
	// It is durable at once, even without a clean shutdown.
	l = f.crash()
	if l.LogStartOffset() != 13 {
		t.Fatalf("log start %d after a crash, want 13", l.LogStartOffset())
	}
}

func TestDeleteLog(t *testing.T) {
	f := newFixture(t, OSFS, testConfig())
	l := f.log()
	mustAppend(t, l, batch(t, 0, 3, 1))
	dir := l.Dir()
	if err := f.m.Delete(testTP); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("log dir still there after Delete: %v", err)
	}
	if _, err := l.Append(batch(t, 0, 1, 1), 0, -1); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("append to a deleted log: %v", err)
	}
	// A new log of the same name starts empty.
	l = f.log()
	if l.LogEndOffset() != 0 {
		t.Fatalf("recreated log ends at %d", l.LogEndOffset())
	}
	f.reopen()
	es, _ := os.ReadDir(f.dir)
	for _, e := range es {
		if strings.HasSuffix(e.Name(), "-delete") {
			t.Errorf("deleted log dir %s left after restart", e.Name())
		}
	}
}

type recordHeader = record.Header

func parseHeader(b []byte) (record.Header, error) { return record.ParseHeader(b) }

// TestConcurrentAppendRead runs readers against an appender that rolls
// segments and a retention pass that deletes them: readers see only
// whole, valid batches at or after the offset they asked for, or an
// out-of-range error once retention passed them.
func TestConcurrentAppendRead(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2000
	cfg.IndexIntervalBytes = 200
	cfg.RetentionBytes = 20000
	cfg.FileDeleteDelay = time.Hour
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	done := make(chan struct{})
	errs := make(chan error, 4)
	for r := 0; r < 3; r++ {
		go func() {
			var next int64
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if s := l.LogStartOffset(); next < s {
					next = s
				}
				rr, err := l.Read(next, 1500, l.LogEndOffset(), true)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if rr.Size == 0 {
					continue
				}
				buf := make([]byte, rr.Size)
				if _, err := rr.File.ReadAt(buf, rr.Pos); err != nil && err != io.EOF {
					errs <- err
					return
				}
				last := int64(-1)
				record.Batches(buf, func(h record.Header, b []byte) error {
					if err := record.CheckCRC(b); err != nil {
						errs <- fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
					}
					last = h.LastOffset()
					return nil
				})
				if last < next {
					errs <- fmt.Errorf("read at %d returned no whole batch reaching it (first %d, %d bytes)", next, rr.FirstOffset, rr.Size)
					return
				}
				next = last + 1
			}
		}()
	}
	go func() {
		for i := 0; i < 800; i++ {
			if _, err := l.Append(batch(t, i, 1, 1), 0, -1); err != nil {
				errs <- err
				return
			}
			if i%100 == 0 {
				l.deleteSegments(f.now)
			}
		}
		close(done)
		errs <- nil
	}()
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
