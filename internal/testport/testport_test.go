package testport

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
)

func TestPortsBelowEphemeralRangeAndDistinct(t *testing.T) {
	ports := Free(t, 20)
	pairs := FreePairs(t, 10, 1)
	seen := map[int]bool{}
	for _, p := range ports {
		if p >= lo || p < lo-span {
			t.Errorf("port %d outside [%d, %d)", p, lo-span, lo)
		}
		if seen[p] {
			t.Errorf("port %d picked twice", p)
		}
		seen[p] = true
	}
	for _, p := range pairs {
		for _, q := range []int{p, p + 1} {
			if seen[q] {
				t.Errorf("pair port %d picked twice", q)
			}
			seen[q] = true
		}
	}
	// Every port can be listened on.
	for p := range seen {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		l.Close()
	}
}

// TestLockedAcrossProcesses checks that a port this process holds is
// refused to another process.
func TestLockedAcrossProcesses(t *testing.T) {
	if os.Getenv("TESTPORT_CHILD") != "" {
		p := 0
		fmt.Sscan(os.Getenv("TESTPORT_CHILD"), &p)
		mu.Lock()
		defer mu.Unlock()
		if claim(p) {
			fmt.Print("claimed")
		} else {
			fmt.Print("refused")
		}
		return
	}
	p := Free(t, 1)[0]
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockedAcrossProcesses$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("TESTPORT_CHILD=%d", p))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); len(got) < 7 || got[:7] != "refused" {
		t.Fatalf("another process claiming port %d: %q, want refused", p, got)
	}
}
