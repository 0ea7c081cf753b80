package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// broker is a broker running as a child process.
type broker struct {
	name    string
	addr    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process is reaped
	waitErr error         // valid once exited is closed
}

// startBroker runs bin with args, its output going to logPath, and waits
// until addr accepts connections.
func startBroker(name, bin string, args []string, addr, logPath string) (*broker, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	b := &broker{name: name, addr: addr, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		b.waitErr = cmd.Wait()
		logf.Close()
		close(b.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := b.alive(); err != nil {
			return nil, err
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		if time.Now().After(deadline) {
			b.stop()
			return nil, fmt.Errorf("%s not listening on %s after 30s; log:\n%s", name, addr, tail(logPath, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports an error if the broker process has died.
func (b *broker) alive() error {
	select {
	case <-b.exited:
		return fmt.Errorf("%s died (%v); log:\n%s", b.name, b.waitErr, tail(b.logPath, 30))
	default:
		return nil
	}
}

// stop sends SIGTERM and waits for the exit, killing the broker after 30 s.
func (b *broker) stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// cpuSeconds is the user+system CPU time the broker has used so far, from
// /proc/<pid>/stat (utime and stime, fields 14 and 15, in USER_HZ, which
// is 100 on every Linux architecture Go supports).
func (b *broker) cpuSeconds() (float64, error) {
	const clockTicksPerSecond = 100
	data, err := os.ReadFile("/proc/" + strconv.Itoa(b.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no ')'")
	}
	f := strings.Fields(string(data[i+1:]))
	const utimeIdx, stimeIdx = 14 - 3, 15 - 3
	if len(f) <= stimeIdx {
		return 0, fmt.Errorf("/proc stat: only %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[utimeIdx], 10, 64)
	st, err2 := strconv.ParseInt(f[stimeIdx], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicksPerSecond, nil
}

// freeLoopbackAddr asks the kernel for a free port on 127.0.0.1.
func freeLoopbackAddr() (string, int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, err
	}
	defer ln.Close()
	return ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// goBuild builds a main package of the module into out.
func goBuild(ctx context.Context, moduleRoot, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = moduleRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// moduleRoot finds the directory of the main module.
func moduleRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run txnbench from inside the samsa module")
	}
	return filepath.Dir(gomod), nil
}
