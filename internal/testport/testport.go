// Package testport picks loopback TCP ports for tests whose servers must
// come back on the same port after a restart (a broker's listener, an
// etcd member's peer and client URLs).
//
// A port the kernel hands out for 127.0.0.1:0 lies in its ephemeral
// range, which is also where outgoing connections take their local
// ports: while a test's server is down, any connection (of this test, or
// of a test package running in parallel) may take its port, and the
// restart fails with "address already in use". The ports here come from
// the 16,000 below the ephemeral range instead, which the kernel never
// hands out on its own, and each is locked (flock on a file under the
// system temporary directory, released when the process exits) so that
// test processes running at once never pick the same one.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// span is how many ports below the ephemeral range are candidates.
const span = 16000

var (
	mu    sync.Mutex
	held  = map[int]*os.File{} // ports this process picked, with their locks
	lo, _ = ephemeralStart()
)

// ephemeralStart reads the first port of the kernel's ephemeral range.
func ephemeralStart() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768, fmt.Errorf("ip_local_port_range: %q", b)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < span+1024 {
		return 32768, fmt.Errorf("ip_local_port_range: %q", b)
	}
	return n, nil
}

// Free returns n distinct free ports.
func Free(t testing.TB, n int) []int {
	t.Helper()
	return pick(t, n, 0)
}

// FreePairs returns n ports p such that p and p+offset are both free and
// both taken for the caller, and no two pairs overlap.
func FreePairs(t testing.TB, n, offset int) []int {
	t.Helper()
	return pick(t, n, offset)
}

func pick(t testing.TB, n, offset int) []int {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 100*span {
			t.Fatalf("testport: no free loopback port below %d", lo)
		}
		p := lo - span + rand.IntN(span-offset)
		if !claim(p) {
			continue
		}
		if offset != 0 && !claim(p+offset) {
			release(p)
			continue
		}
		out = append(out, p)
	}
	return out
}

// claim takes port p if no process has it locked and nothing listens on
// it. REQUIRES: mu held.
func claim(p int) bool {
	if _, ok := held[p]; ok {
		return false
	}
	f, ok := lock(p)
	if !ok {
		return false
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		if f != nil {
			f.Close()
		}
		return false
	}
	l.Close()
	held[p] = f
	return true
}

// release gives back a port claim took. REQUIRES: mu held.
func release(p int) {
	if f := held[p]; f != nil {
		f.Close()
	}
	delete(held, p)
}

// lock takes an exclusive lock on port p's file. Without a usable lock
// directory it reports success with no file: the listen check alone
// guards the port then.
func lock(p int) (*os.File, bool) {
	dir := filepath.Join(os.TempDir(), "samsa-testports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}
