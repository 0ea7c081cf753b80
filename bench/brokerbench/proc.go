package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/samsa-io/samsa/bench/internal/benchproc"
)

// rssSampleInterval is how often the resident set size of a broker is
// sampled, on top of the kernel's own high-water mark (VmHWM).
const rssSampleInterval = 100 * time.Millisecond

// brokerProc is a broker running as a child process, with its CPU time and
// resident memory observed from /proc.
type brokerProc struct {
	name    string
	addr    string
	dataDir string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been reaped
	waitErr error         // valid once exited is closed

	stopSampling chan struct{}
	samplerDone  chan struct{}
	mu           sync.Mutex
	peakRSSKiB   int64 // guarded by mu
}

// startBroker runs bin with args, its output going to logPath, and waits
// until addr accepts TCP connections.
func startBroker(name, bin string, args []string, addr, dataDir, logPath string) (*brokerProc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &brokerProc{
		name:         name,
		addr:         addr,
		dataDir:      dataDir,
		logPath:      logPath,
		cmd:          cmd,
		exited:       make(chan struct{}),
		stopSampling: make(chan struct{}),
		samplerDone:  make(chan struct{}),
	}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	go p.sampleRSS()
	if err := p.waitReady(30 * time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *brokerProc) pid() int { return p.cmd.Process.Pid }

func (p *brokerProc) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before listening (%v); log:\n%s", p.name, p.waitErr, benchproc.Tail(p.logPath, 20))
		default:
		}
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %s; log:\n%s", p.name, p.addr, timeout, benchproc.Tail(p.logPath, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports an error if the broker process has died.
func (p *brokerProc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s died (%v); log:\n%s", p.name, p.waitErr, benchproc.Tail(p.logPath, 30))
	default:
		return nil
	}
}

// cpuSeconds is the user+system CPU time the broker has used so far, all
// threads included.
func (p *brokerProc) cpuSeconds() (float64, error) {
	return benchproc.CPUSeconds(strconv.Itoa(p.pid()))
}

func (p *brokerProc) sampleRSS() {
	defer close(p.samplerDone)
	t := time.NewTicker(rssSampleInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stopSampling:
			return
		case <-p.exited:
			return
		case <-t.C:
		}
		st, err := procStatus(p.pid())
		if err != nil {
			continue
		}
		p.notePeak(max(st["VmRSS"], st["VmHWM"]))
	}
}

func (p *brokerProc) notePeak(kib int64) {
	p.mu.Lock()
	p.peakRSSKiB = max(p.peakRSSKiB, kib)
	p.mu.Unlock()
}

// peakRSSMiB is the largest resident set size seen so far: the kernel's
// high-water mark (VmHWM) or the 100 ms samples, whichever is larger.
func (p *brokerProc) peakRSSMiB() float64 {
	if st, err := procStatus(p.pid()); err == nil {
		p.notePeak(max(st["VmRSS"], st["VmHWM"]))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return float64(p.peakRSSKiB) / 1024
}

// stop sends SIGTERM and waits for a clean exit, killing the broker if it
// takes longer than 30 s.
func (p *brokerProc) stop() error {
	close(p.stopSampling)
	<-p.samplerDone
	select {
	case <-p.exited:
		return p.alive()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		var ee *exec.ExitError
		if errors.As(p.waitErr, &ee) {
			return fmt.Errorf("%s shut down with %v; log:\n%s", p.name, p.waitErr, benchproc.Tail(p.logPath, 20))
		}
		return p.waitErr
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within 30s of SIGTERM; killed", p.name)
	}
}

// procStatus returns the "kB" fields of /proc/<pid>/status (VmRSS, VmHWM,
// ...) in KiB.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}

// dirSizeMiB is the total size of the regular files under dir.
func dirSizeMiB(dir string) float64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			total += info.Size()
		}
		return nil
	})
	return float64(total) / (1 << 20)
}
