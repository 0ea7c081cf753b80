package storage

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

func compactConfig() LogConfig {
	cfg := testConfig()
	cfg.CleanupPolicy = "compact"
	cfg.SegmentBytes = 1500
	cfg.MinCleanableDirtyRatio = 0.5
	cfg.MaxCompactionLagMs = math.MaxInt64
	cfg.DeleteRetentionMs = 86400000
	cfg.FileDeleteDelay = time.Hour
	return cfg
}

// keyed builds a batch of records with the given keys and values ("" is a
// null value: a tombstone).
func keyed(t testing.TB, ts int64, kv ...string) []byte {
	t.Helper()
	b := record.NewBuilder(record.None)
	for i := 0; i < len(kv); i += 2 {
		var v []byte
		if kv[i+1] != "" {
			v = []byte(kv[i+1])
		}
		b.Add(ts, record.Record{Key: []byte(kv[i]), Value: v})
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readKeyed returns offset -> "key=value" of every record in the log.
func readKeyed(t *testing.T, l *Log) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for _, s := range l.segments {
		err := eachSegmentRecord(s, nil, func(h *record.Header, r *record.Record) {
			v := "<null>"
			if r.Value != nil {
				v = string(r.Value)
			}
			out[h.BaseOffset+int64(r.OffsetDelta)] = string(r.Key) + "=" + v
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestCompaction(t *testing.T) {
	f := newFixture(t, NewMemFS(), compactConfig())
	l := f.log()
	// 200 writes over 10 keys: key k-i gets value i/10 ... the last one
	// of each key is v19.
	for i := 0; i < 200; i++ {
		k := fmt.Sprintf("k-%d", i%10)
		mustAppend(t, l, keyed(t, f.now.UnixMilli()-int64(200-i), k, fmt.Sprintf("v%d", i/10)))
	}
	// A tombstone for k-0, and a producer's batch that will lose its record.
	mustAppend(t, l, keyed(t, f.now.UnixMilli(), "k-0", ""))
	before := readKeyed(t, l)
	end := l.LogEndOffset()
	nsegs := len(l.segments)
	active := l.segments[len(l.segments)-1]

	cleaned, err := f.m.CleanNow(l)
	if err != nil || !cleaned {
		t.Fatalf("CleanNow = %v, %v", cleaned, err)
	}
	after := readKeyed(t, l)
	if l.LogEndOffset() != end || len(l.segments) != nsegs || l.segments[len(l.segments)-1] != active {
		t.Fatalf("cleaning changed the log end (%d -> %d), the segment count (%d -> %d) or the active segment", end, l.LogEndOffset(), nsegs, len(l.segments))
	}
	if len(after) >= len(before) {
		t.Fatalf("nothing was removed: %d records before, %d after", len(before), len(after))
	}
	// Every record kept is unchanged at its offset; for every key the last
	// record written (in the cleaned range or not) is still there; no key
	// has two records below the active segment.
	lastOf := map[string]int64{}
	for off := int64(0); off < end; off++ {
		if kv, ok := before[off]; ok {
			lastOf[strings.SplitN(kv, "=", 2)[0]] = off
		}
	}
	for off, kv := range after {
		if before[off] != kv {
			t.Fatalf("offset %d holds %q after cleaning, %q before", off, kv, before[off])
		}
	}
	for k, off := range lastOf {
		if _, ok := after[off]; !ok {
			t.Errorf("the latest record of %s (offset %d) was removed", k, off)
		}
	}
	seen := map[string]int64{}
	for off := int64(0); off < active.base; off++ {
		kv, ok := after[off]
		if !ok {
			continue
		}
		k := strings.SplitN(kv, "=", 2)[0]
		if prev, dup := seen[k]; dup {
			t.Errorf("key %s kept at %d and %d in the cleaned section", k, prev, off)
		}
		seen[k] = off
	}
	// Reads and offsets still work: every kept offset reads from a batch
	// that holds it.
	for off := range after {
		rr, err := l.Read(off, 1, math.MaxInt64, true)
		if err != nil || rr.FirstOffset > off {
			t.Fatalf("Read(%d) after cleaning: first %d, err %v", off, rr.FirstOffset, err)
		}
	}
	// The checkpoint and the cleaned files survive a crash.
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l = f.crash()
	if got := readKeyed(t, l); len(got) != len(after) {
		t.Fatalf("%d records after a crash, %d after cleaning", len(got), len(after))
	}
	if l.cleaner.firstDirty.Load() == 0 {
		t.Error("cleaner checkpoint lost")
	}
	// Nothing new is dirty: a second pass finds nothing to do.
	if cleaned, _ := f.m.CleanNow(l); cleaned {
		t.Error("a second pass cleaned again with nothing dirty")
	}
}

// TestCompactionTombstones: a tombstone stays for delete.retention.ms
// after a first cleaning, then goes with the records it deleted.
func TestCompactionTombstones(t *testing.T) {
	cfg := compactConfig()
	cfg.DeleteRetentionMs = 60000
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	ts := f.now.UnixMilli()
	mustAppend(t, l, keyed(t, ts, "gone", "x", "stays", "y"))
	mustAppend(t, l, keyed(t, ts, "gone", ""))
	for i := 0; i < 40; i++ {
		mustAppend(t, l, keyed(t, ts, fmt.Sprintf("filler-%d", i), "z"))
	}
	if _, err := f.m.CleanNow(l); err != nil {
		t.Fatal(err)
	}
	got := readKeyed(t, l)
	if got[0] != "" || got[2] != "gone=<null>" || got[1] != "stays=y" {
		t.Fatalf("after the first cleaning: offset 0 %q, 1 %q, 2 %q; want the old value gone, the tombstone and the other key kept", got[0], got[1], got[2])
	}
	// More writes make the log dirty again; after delete.retention.ms the
	// tombstone goes too.
	for i := 0; i < 40; i++ {
		mustAppend(t, l, keyed(t, ts, fmt.Sprintf("filler-%d", i), "w"))
	}
	f.now = f.now.Add(2 * time.Minute)
	if _, err := f.m.CleanNow(l); err != nil {
		t.Fatal(err)
	}
	got = readKeyed(t, l)
	if _, ok := got[2]; ok {
		t.Fatalf("tombstone still there after delete.retention.ms: %q", got[2])
	}
	if got[1] != "stays=y" {
		t.Fatalf("offset 1 = %q after the second cleaning", got[1])
	}
}

// TestCompactionCrashDuringSwap: a crash after the cleaned segment was
// committed (.swap) but before it replaced the old one is completed at
// startup; a crash before (.cleaned) leaves the old segment.
func TestCompactionCrashDuringSwap(t *testing.T) {
	for _, stage := range []string{logSuffix + cleanedSuffix, logSuffix + swapSuffix} {
		t.Run(stage, func(t *testing.T) {
			f := newFixture(t, OSFS, compactConfig())
			l := f.log()
			for i := 0; i < 60; i++ {
				mustAppend(t, l, keyed(t, f.now.UnixMilli(), fmt.Sprintf("k-%d", i%3), fmt.Sprint(i)))
			}
			s := l.segments[0]
			latest := map[string]int64{"k-0": 57, "k-1": 58, "k-2": 59}
			// Write what the cleaner would, under the stage's name,
			// and stop there.
			var data []byte
			r := chunkReader{f: s.file, size: s.size.Load()}
			for pos := int64(0); pos < r.size; {
				h, b, err := r.batchAt(pos)
				if err != nil {
					t.Fatal(err)
				}
				pos += int64(h.Size())
				kept, err := retainBatch(&h, b, latest, false, pos == r.size, false)
				if err != nil {
					t.Fatal(err)
				}
				data = append(data, kept...)
			}
			dir := l.Dir()
			before := readKeyed(t, l)
			f.m.Close()
			f.m = nil
			os.WriteFile(fileName(dir, s.base, stage), data, 0o644)
			f.open()
			l = f.log()
			got := readKeyed(t, l)
			if stage == logSuffix+cleanedSuffix {
				if len(got) != len(before) {
					t.Fatalf("an unfinished .cleaned file changed the log: %d records, %d before", len(got), len(before))
				}
			} else if len(got) >= len(before) {
				t.Fatalf("a committed .swap was not completed: %d records, %d before", len(got), len(before))
			}
			if _, err := os.Stat(fileName(dir, s.base, stage)); !os.IsNotExist(err) {
				t.Errorf("%s file left after startup", stage)
			}
			for off := range got {
				if rr, err := l.Read(off, 1, math.MaxInt64, true); err != nil || rr.FirstOffset > off {
					t.Fatalf("Read(%d) after recovery: first %d, err %v", off, rr.FirstOffset, err)
				}
			}
			if l.LogEndOffset() != 60 {
				t.Fatalf("log end %d after recovery, want 60", l.LogEndOffset())
			}
		})
	}
}

// TestCleanerThread: the background cleaner picks a log once its dirty
// ratio reaches min.cleanable.dirty.ratio, and leaves delete-only logs alone.
func TestCleanerThread(t *testing.T) {
	cfg := compactConfig()
	m, err := OpenManager(ManagerConfig{
		FS: NewMemFS(), Dirs: []string{"/data"}, Defaults: cfg,
		Cleaner: CleanerConfig{Threads: 1, BackoffMs: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	plain := cfg
	plain.CleanupPolicy = "delete"
	other, _ := m.Create(TopicPartition{"plain", 0}, [16]byte{}, plain)
	l, _ := m.Create(testTP, [16]byte{}, cfg)
	for i := 0; i < 100; i++ {
		mustAppend(t, l, keyed(t, 1, "same-key", fmt.Sprint(i)))
		mustAppend(t, other, keyed(t, 1, "same-key", fmt.Sprint(i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.cleaner.firstDirty.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the cleaner thread never cleaned the compacted log")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(readKeyed(t, l)); n >= 100 {
		t.Errorf("%d records left in the compacted log", n)
	}
	if n := len(readKeyed(t, other)); n != 100 {
		t.Errorf("the delete-only log lost records: %d left", n)
	}
}

var cleanCrashIterations = flag.Int("clean-crash-iterations", 3, "crashes at random points of a cleaning pass in TestCompactionCrashAtRandomPoints")

// TestCompactionCrashAtRandomPoints cuts the power at a random moment of a
// cleaning pass, many times: whatever survives reads back as a correct log
// (every record at its original offset, the latest record of every key
// present).
func TestCompactionCrashAtRandomPoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, uint64(*cleanCrashIterations)))
	for iter := 0; iter < *cleanCrashIterations; iter++ {
		cfg := compactConfig()
		cfg.SegmentBytes = 4000
		f := newFixture(t, NewMemFS(), cfg)
		l := f.log()
		for i := 0; i < 600; i++ {
			mustAppend(t, l, keyed(t, f.now.UnixMilli(), fmt.Sprintf("k-%d", rng.IntN(40)), fmt.Sprint(i)))
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		f.m.writeCheckpoints(f.dir)
		before := readKeyed(t, l)
		lastOf := map[string]int64{}
		for off := int64(0); off < l.LogEndOffset(); off++ {
			lastOf[strings.SplitN(before[off], "=", 2)[0]] = off
		}
		done := make(chan error, 1)
		m, cleaning := f.m, l
		go func() {
			_, err := m.CleanNow(cleaning)
			done <- err
		}()
		time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
		l = f.crash() // the pass goes on, on the abandoned filesystem
		if err := <-done; err != nil {
			t.Fatalf("iteration %d: cleaning: %v", iter, err)
		}
		got := readKeyed(t, l)
		for off, kv := range got {
			if before[off] != kv {
				t.Fatalf("iteration %d: offset %d reads %q, was %q", iter, off, kv, before[off])
			}
		}
		for k, off := range lastOf {
			if _, ok := got[off]; !ok {
				t.Fatalf("iteration %d: latest record of %s (offset %d) lost", iter, k, off)
			}
		}
		if l.LogEndOffset() != 600 {
			t.Fatalf("iteration %d: log end %d, want 600", iter, l.LogEndOffset())
		}
		f.m.Close()
		f.m = nil
	}
}
