package storage

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestCrashFlushEveryMessage: with flush.messages=1 an append returns only
// once its data is synced, so a power failure right after loses nothing
// that was acknowledged.
func TestCrashFlushEveryMessage(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 700
	cfg.FlushMessages = 1
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	acked := int64(0)
	for round := 0; round < 5; round++ {
		for i := 0; i < 17; i++ {
			res := mustAppend(t, l, batch(t, int(acked), 2, 1))
			acked = res.LastOffset + 1
		}
		l = f.crash()
		if l.LogEndOffset() != acked {
			t.Fatalf("round %d: log end %d after a crash, %d records acknowledged", round, l.LogEndOffset(), acked)
		}
		offs, _ := readAllRecords(t, l, 0)
		checkDense(t, offs, 0)
	}
}

// TestCrashDefaultFlush: with Kafka's default (no fsync per append), a
// power failure may lose what was never synced, but the log that comes
// back is a prefix of what was written: whole batches, dense offsets,
// valid indexes, at least everything up to the last flush.
func TestCrashDefaultFlush(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 40; iter++ {
		cfg := testConfig()
		cfg.SegmentBytes = int64(300 + rng.IntN(2000))
		cfg.IndexIntervalBytes = int64(rng.IntN(500))
		f := newFixture(t, NewMemFS(), cfg)
		l := f.log()
		var values []string
		flushed := int64(0)
		for i := 0; i < 50+rng.IntN(100); i++ {
			n := 1 + rng.IntN(4)
			res := mustAppend(t, l, batch(t, len(values), n, 1))
			for j := 0; j < n; j++ {
				values = append(values, "v"+itoa(int(res.FirstOffset)+j))
			}
			if rng.IntN(20) == 0 {
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
				flushed = l.LogEndOffset()
			}
		}
		l = f.crash()
		end := l.LogEndOffset()
		if end < flushed || end > int64(len(values)) {
			t.Fatalf("iteration %d: log end %d after a crash; %d flushed, %d written", iter, end, flushed, len(values))
		}
		offs, vals := readAllRecords(t, l, 0)
		checkDense(t, offs, 0)
		for i, v := range vals {
			if v != values[i] {
				t.Fatalf("iteration %d: offset %d holds %s, want %s", iter, i, v, values[i])
			}
		}
		// Appends continue after the recovered end, and survive a
		// clean restart.
		res := mustAppend(t, l, batch(t, 0, 1, 1))
		if res.FirstOffset != end {
			t.Fatalf("append after recovery at %d, want %d", res.FirstOffset, end)
		}
		l = f.reopen()
		if l.LogEndOffset() != end+1 {
			t.Fatalf("log end %d after a clean restart, want %d", l.LogEndOffset(), end+1)
		}
		f.m.Close()
	}
}

func itoa(i int) string {
	return string(appendInt(nil, i))
}

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// TestRecoveryTruncatesTornTail: a process killed mid-write leaves part of
// a batch, or garbage, at the end of the active segment; recovery cuts it
// off and keeps every whole batch before it.
func TestRecoveryTruncatesTornTail(t *testing.T) {
	tails := map[string]func(valid []byte) []byte{
		"half a batch":   func(b []byte) []byte { return b[:len(b)/2] },
		"zeros":          func([]byte) []byte { return make([]byte, 4096) },
		"length only":    func(b []byte) []byte { return b[:12] },
		"bad crc":        func(b []byte) []byte { c := append([]byte(nil), b...); c[len(c)-1] ^= 1; return c },
		"huge length":    func(b []byte) []byte { c := append([]byte(nil), b[:20]...); c[8] = 0x7f; return c },
		"offset too low": func(b []byte) []byte { return b }, // base offset 0 again
		"bad magic":      func(b []byte) []byte { c := append([]byte(nil), b...); c[16] = 1; return c },
		"random garbage": func([]byte) []byte {
			r := make([]byte, 999)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range r {
				r[i] = byte(rng.Uint32())
			}
			return r
		},
		"whole and torn": func(b []byte) []byte { return append(append([]byte(nil), b...), b[:30]...) },
	}
	for name, tail := range tails {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.IndexIntervalBytes = 100
			f := newFixture(t, OSFS, cfg)
			l := f.log()
			for i := 0; i < 20; i++ {
				mustAppend(t, l, batch(t, i*2, 2, 1))
			}
			seg := filepath.Join(l.Dir(), "00000000000000000000.log")
			f.crash()
			f.m.Close()
			good, _ := os.ReadFile(seg)
			extra := tail(batch(t, 0, 2, 1))
			if name == "whole and torn" {
				// A whole valid batch with the next offset, then a torn one.
				b := batch(t, 40, 2, 1)
				putBase(b, 40)
				extra = append(b, b[:30]...)
			}
			os.WriteFile(seg, append(append([]byte(nil), good...), extra...), 0o644)
			os.Remove(filepath.Join(f.dir, cleanShutdownFile))
			f.open()
			l = f.log()
			want := int64(40)
			if name == "whole and torn" {
				want = 42
			}
			if l.LogEndOffset() != want {
				t.Fatalf("log end %d after recovery, want %d", l.LogEndOffset(), want)
			}
			offs, _ := readAllRecords(t, l, 0)
			checkDense(t, offs, 0)
			if res := mustAppend(t, l, batch(t, 0, 1, 1)); res.FirstOffset != want {
				t.Fatalf("append after recovery at %d, want %d", res.FirstOffset, want)
			}
		})
	}
}

func putBase(b []byte, off int64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(off >> (56 - 8*i))
	}
}

// TestRecoveryRebuildsIndexes: missing or corrupt indexes are rebuilt at
// startup, even after a clean shutdown, and reads use them.
func TestRecoveryRebuildsIndexes(t *testing.T) {
	damage := map[string]func(path string){
		"missing":        func(p string) { os.Remove(p) },
		"partial entry":  func(p string) { b, _ := os.ReadFile(p); os.WriteFile(p, append(b, 1, 2, 3), 0o644) },
		"beyond segment": func(p string) { b, _ := os.ReadFile(p); os.WriteFile(p, append(b, 0, 0, 1, 0, 0x7f, 0, 0, 0), 0o644) },
		"not increasing": func(p string) { b, _ := os.ReadFile(p); os.WriteFile(p, append(b, b[:8]...), 0o644) },
	}
	for name, dmg := range damage {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes = 3000
			cfg.IndexIntervalBytes = 200
			f := newFixture(t, OSFS, cfg)
			l := f.log()
			for i := 0; i < 100; i++ {
				mustAppend(t, l, batch(t, i, 1, int64(i)))
			}
			dir := l.Dir()
			f.m.Close()
			f.m = nil
			dmg(filepath.Join(dir, "00000000000000000000.index"))
			f.open()
			l = f.log()
			if l.LogEndOffset() != 100 {
				t.Fatalf("log end %d, want 100", l.LogEndOffset())
			}
			offs, _ := readAllRecords(t, l, 0)
			checkDense(t, offs, 0)
			for o := int64(0); o < 100; o += 3 {
				rr, err := l.Read(o, 1, math.MaxInt64, true)
				if err != nil || rr.FirstOffset != o {
					t.Fatalf("Read(%d) = first %d, err %v", o, rr.FirstOffset, err)
				}
			}
			if n := l.segments[0].ix.entries(); n == 0 {
				t.Fatal("index not rebuilt")
			}
		})
	}
}
