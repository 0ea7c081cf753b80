package storage

import (
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

var cleanBenchMB = flag.Int("clean-bench-mb", 64, "MiB of 1 KiB records BenchmarkClean writes before cleaning")

// BenchmarkClean measures the cleaner's throughput over a dirty log of 1
// KiB records spread over 100,000 keys, in MB of dirty log per second.
// -clean-bench-mb=1024 runs it on 1 GiB.
func BenchmarkClean(b *testing.B) {
	const keys = 100000
	cfg := compactConfig()
	cfg.SegmentBytes = 64 << 20
	value := make([]byte, 1000)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		m, err := OpenManager(ManagerConfig{FS: OSFS, Dirs: []string{b.TempDir()}, Defaults: cfg})
		if err != nil {
			b.Fatal(err)
		}
		l, _ := m.Create(testTP, [16]byte{}, cfg)
		bl := record.NewBuilder(record.None)
		n := 0
		for l.Size() < int64(*cleanBenchMB)<<20 {
			bl.Reset()
			for j := 0; j < 50; j++ {
				bl.Add(1, record.Record{Key: []byte(fmt.Sprintf("key-%06d", n%keys)), Value: value})
				n++
			}
			batch, _ := bl.Build(nil)
			if _, err := l.Append(batch, 0, -1); err != nil {
				b.Fatal(err)
			}
		}
		mustAppend(b, l, keyed(b, 1, "roll", "x")) // so the last full segment is closed
		l.mu.Lock()
		l.roll()
		l.mu.Unlock()
		dirty := l.Size()
		b.StartTimer()
		start := time.Now()
		if _, err := m.CleanNow(l); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(dirty)/1e6/time.Since(start).Seconds(), "MB/s")
		b.StopTimer()
		m.Close()
		b.StartTimer()
	}
}
