package storage

import (
	"math"
	"os"
	"testing"
)

// The storage layer decodes bytes from disk that a crash, a bad disk or a
// hand edit may have damaged. None of it may panic, and recovery must
// always leave a log that reads back as whole, valid, increasing batches.

// FuzzRecoverSegment opens a partition whose only segment holds arbitrary
// bytes after an unclean shutdown.
func FuzzRecoverSegment(f *testing.F) {
	good := batch(f, 0, 3, 100)
	second := batch(f, 3, 2, 200)
	putBase(second, 3)
	f.Add(append(append([]byte(nil), good...), second...), []byte{})
	f.Add(good[:40], []byte{})
	f.Add(append(append([]byte(nil), good...), second[:70]...), []byte{0, 0, 0, 2, 0, 0, 0, 0})
	f.Add(make([]byte, 100), []byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, seg, idx []byte) {
		fs := NewMemFS()
		dir := "/data/t-0"
		fs.MkdirAll(dir, 0o755)
		write := func(name string, b []byte) {
			w, _ := fs.OpenFile(dir+"/"+name, os.O_RDWR|os.O_CREATE, 0o644)
			w.Write(b)
			w.Sync()
			w.Close()
		}
		write("00000000000000000000.log", seg)
		write("00000000000000000000.index", idx)
		fs.SyncDir(dir)
		for _, clean := range []bool{false, true} {
			if clean {
				write("../.kafka_cleanshutdown", nil)
			}
			m, err := OpenManager(ManagerConfig{FS: fs, Dirs: []string{"/data"}, Defaults: testConfig()})
			if err != nil {
				continue // refusing to open is allowed; panicking is not
			}
			l := m.Get(testTP)
			if l == nil {
				t.Fatal("partition not loaded")
			}
			offs, _ := readAllRecords(t, l, l.LogStartOffset())
			for i := 1; i < len(offs); i++ {
				if offs[i] <= offs[i-1] {
					t.Fatalf("offsets not increasing: %d after %d", offs[i], offs[i-1])
				}
			}
			l.OffsetForTimestamp(150)
			l.MaxTimestamp()
			if _, err := l.Append(batch(t, 0, 1, 1), 0, -1); err != nil {
				t.Fatalf("append after recovery: %v", err)
			}
			if _, err := l.Read(l.LogStartOffset(), 1<<20, math.MaxInt64, true); err != nil {
				t.Fatalf("read after recovery: %v", err)
			}
			m.Close()
		}
	})
}

// FuzzDecodeSnapshot decodes producer state snapshot files.
func FuzzDecodeSnapshot(f *testing.F) {
	ps := newProducerState()
	h := idemHeader(f, 5, 1, 10, 3, 100)
	ps.update(&h, 1, nil)
	f.Add(ps.encodeSnapshot())
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := decodeSnapshot(b, 0)
		if err != nil {
			return
		}
		again, err := decodeSnapshot(ps.encodeSnapshot(), 0)
		if err != nil || len(again.producers) != len(ps.producers) {
			t.Fatalf("re-encoded snapshot does not decode the same: %v", err)
		}
	})
}

func idemHeader(t testing.TB, pid int64, epoch int16, seq int32, n int, ts int64) recordHeader {
	b := idemBatch(t, pid, epoch, seq, n, ts)
	h, err := parseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// FuzzDecodeCheckpoint decodes the text checkpoint files.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add([]byte("0\n2\nt 0 5\nu 3 7\n"))
	f.Add([]byte("0\n1\n0 0\n"))
	f.Add([]byte("0\n-1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if offs, err := decodeOffsets(b); err == nil {
			if again, err := decodeOffsets(encodeOffsets(offs)); err != nil || len(again) != len(offs) {
				t.Fatalf("offsets checkpoint does not round-trip: %v", err)
			}
		}
		if es, err := decodeEpochs(b); err == nil {
			if again, err := decodeEpochs(encodeEpochs(es)); err != nil || len(again) != len(es) {
				t.Fatalf("epoch checkpoint does not round-trip: %v", err)
			}
			endOffsetForEpoch(es, 3, 100)
			truncateEpochsFromStart(es, 5)
			truncateEpochsFromEnd(es, 5)
		}
	})
}
