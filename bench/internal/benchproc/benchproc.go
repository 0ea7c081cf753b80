// Package benchproc holds what the benchmark programs share: building
// and finding the module, free loopback ports, the CPU time of a process
// from /proc, the tail of a log file, and a timed franz-go produce of n
// records.
package benchproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// clockTicksPerSecond is USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat: 100 on every Linux architecture Go supports.
const clockTicksPerSecond = 100

// CPUSeconds reads utime+stime from /proc/<pid>/stat ("self" for this
// process), all threads included.
func CPUSeconds(pid string) (float64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces, so
	// count fields from the last ')': state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	const utimeIdx, stimeIdx = 14 - 3, 15 - 3
	if len(f) <= stimeIdx {
		return 0, fmt.Errorf("/proc/%s/stat: only %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[utimeIdx], 10, 64)
	st, err2 := strconv.ParseInt(f[stimeIdx], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%s/stat: %w", pid, err)
	}
	return float64(ut+st) / clockTicksPerSecond, nil
}

// FreeLoopbackAddr asks the kernel for a free port on 127.0.0.1.
func FreeLoopbackAddr() (string, int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, err
	}
	defer ln.Close()
	return ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port, nil
}

// Tail returns the last n lines of a file, or the error reading it.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// GoBuild builds a main package of the module into out.
func GoBuild(ctx context.Context, moduleRoot, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = moduleRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// ModuleRoot finds the directory of the main module (where go.mod is).
func ModuleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the benchmark from inside the samsa module")
	}
	return filepath.Dir(gomod), nil
}

// Produced is what ProduceAll measured.
type Produced struct {
	Elapsed time.Duration
	// Latencies are each record's, from Produce to its acknowledgement,
	// sorted.
	Latencies []time.Duration
}

// ProduceAll sends n records with values of size bytes through cl
// (whose default topic and partitioner decide where) without waiting
// between them, then flushes, and times it.
func ProduceAll(ctx context.Context, cl *kgo.Client, n, size int) (Produced, error) {
	// One shared value: the client never modifies it, and the broker sees
	// the same bytes either way.
	value := make([]byte, size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	latencies := make([]time.Duration, n) // one slot per record: no lock
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		firstErr atomic.Pointer[error]
	)
	wg.Add(n)
	start := time.Now()
	for i := range n {
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			latencies[i] = time.Since(sent)
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, &err)
			}
			wg.Done()
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return Produced{}, fmt.Errorf("flush: %w", err)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failures.Load(); f > 0 {
		return Produced{}, fmt.Errorf("%d of %d records failed, first: %w", f, n, *firstErr.Load())
	}
	slices.Sort(latencies)
	return Produced{Elapsed: elapsed, Latencies: latencies}, nil
}

// Percentile of sorted values (nearest rank).
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
