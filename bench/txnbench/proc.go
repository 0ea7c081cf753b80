package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/samsa-io/samsa/bench/internal/benchproc"
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
			return nil, fmt.Errorf("%s not listening on %s after 30s; log:\n%s", name, addr, benchproc.Tail(logPath, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports an error if the broker process has died.
func (b *broker) alive() error {
	select {
	case <-b.exited:
		return fmt.Errorf("%s died (%v); log:\n%s", b.name, b.waitErr, benchproc.Tail(b.logPath, 30))
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

// cpuSeconds is the user+system CPU time the broker has used so far.
func (b *broker) cpuSeconds() (float64, error) {
	return benchproc.CPUSeconds(strconv.Itoa(b.cmd.Process.Pid))
}
