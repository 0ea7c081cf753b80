package storage

import (
	"math"
	"testing"
)

// benchAppend measures the storage cost of one produce: a 100-record
// batch from an idempotent producer appended to the log.
func benchAppend(b *testing.B, fsys FS) {
	cfg := testConfig()
	m, err := OpenManager(ManagerConfig{FS: fsys, Dirs: []string{b.TempDir()}, Defaults: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	l, err := m.Create(testTP, [16]byte{}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	proto := idemBatch(b, 1, 0, 0, 100, 1)
	buf := make([]byte, len(proto))
	b.SetBytes(int64(len(proto)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		copy(buf, proto)
		// Sequence numbers must follow on: patch the base sequence.
		seq := uint32(i * 100)
		buf[53], buf[54], buf[55], buf[56] = byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
		if _, err := l.Append(buf, 0, -1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendOS(b *testing.B) { benchAppend(b, OSFS) }

// BenchmarkRead measures finding and returning 1 MiB from an offset.
func BenchmarkRead(b *testing.B) {
	cfg := testConfig()
	m, err := OpenManager(ManagerConfig{FS: OSFS, Dirs: []string{b.TempDir()}, Defaults: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	l, _ := m.Create(testTP, [16]byte{}, cfg)
	for i := 0; i < 2000; i++ {
		mustAppend(b, l, batch(b, i*10, 10, 1))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Read(int64(i*37%20000), 1<<20, math.MaxInt64, true); err != nil {
			b.Fatal(err)
		}
	}
}
