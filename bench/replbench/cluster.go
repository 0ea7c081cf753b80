//go:build linux

package main

import (
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

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/bench/internal/benchproc"
)

// clockTicksPerSecond is USER_HZ, the unit of the CPU times in /proc: 100
// on every Linux architecture Go supports.
const clockTicksPerSecond = 100

// launcher returns the command line of a broker configured by a
// server.properties file; profile is the CPU profile to write, or "".
type launcher func(config, profile string) (bin string, args []string)

// serveLauncher runs `samsa serve`.
func serveLauncher(samsa string) launcher {
	return func(config, _ string) (string, []string) {
		return samsa, []string{"serve", "--config", config, "--log-level", "warn"}
	}
}

// profiledLauncher runs this program as a broker under the CPU profiler.
func profiledLauncher(self string) launcher {
	return func(config, profile string) (string, []string) {
		return self, []string{profiledServeCommand, "-config", config, "-cpuprofile", profile}
	}
}

// cluster is the broker processes of one setup.
type cluster struct {
	procs     []*proc
	profiling bool
}

// proc is one broker process.
type proc struct {
	id      int32
	addr    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process is reaped
	waitErr error         // valid once exited is closed
}

// startCluster starts n brokers with their data under dir and waits until
// each lists all n. With n > 1 the brokers are the voters of
// controller.quorum.voters; alone, a broker embeds a lone etcd member.
// profile, if set, is the prefix of each broker's CPU profile file.
func startCluster(ctx context.Context, launch launcher, n int, dir, profile string) (*cluster, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	taken := map[int]bool{}
	var voters []string
	if n > 1 {
		for id := 1; id <= n; id++ {
			p, err := freePortPair(taken)
			if err != nil {
				return nil, err
			}
			voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", id, p))
		}
	}
	c := &cluster{profiling: profile != ""}
	for id := int32(1); id <= int32(n); id++ {
		port, err := freePort(taken)
		if err != nil {
			c.stop()
			return nil, err
		}
		p := &proc{id: id, addr: "127.0.0.1:" + strconv.Itoa(port),
			logPath: filepath.Join(dir, fmt.Sprintf("broker-%d.log", id)), exited: make(chan struct{})}
		lines := []string{
			fmt.Sprintf("node.id=%d", id),
			"listeners=PLAINTEXT://" + p.addr,
			"log.dirs=" + filepath.Join(dir, fmt.Sprintf("data-%d", id)),
			fmt.Sprintf("default.replication.factor=%d", n),
			fmt.Sprintf("min.insync.replicas=%d", min(n, 2)),
		}
		if len(voters) > 0 {
			lines = append(lines, "controller.quorum.voters="+strings.Join(voters, ","), "etcd.client.port.offset=1")
		}
		config := filepath.Join(dir, fmt.Sprintf("server-%d.properties", id))
		if err := os.WriteFile(config, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			c.stop()
			return nil, err
		}
		profileFile := ""
		if profile != "" {
			profileFile = fmt.Sprintf("%s-broker%d.pprof", profile, id)
		}
		if err := p.start(launch(config, profileFile)); err != nil {
			c.stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
	}
	for _, p := range c.procs {
		if err := p.waitBrokers(ctx, n); err != nil {
			c.stop()
			return nil, err
		}
	}
	return c, nil
}

func (p *proc) start(bin string, args []string) error {
	logs, err := os.Create(p.logPath)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logs, logs
	// The brokers die with this program, however it ends.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logs.Close()
		return fmt.Errorf("start broker %d: %w", p.id, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logs.Close()
		close(p.exited)
	}()
	return nil
}

// waitBrokers waits until the broker answers Metadata listing n brokers.
func (p *proc) waitBrokers(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		if err := p.alive(); err != nil {
			return err
		}
		var md kadm.Metadata
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
		if err == nil {
			rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
			md, err = kadm.NewClient(cl).BrokerMetadata(rctx)
			rcancel()
			cl.Close()
			if err == nil && len(md.Brokers) == n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker %d on %s does not list %d brokers (%v, last error %v); log:\n%s",
				p.id, p.addr, n, ctx.Err(), err, benchproc.Tail(p.logPath, 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// alive reports an error if the process has exited.
func (p *proc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("broker %d exited (%v); log:\n%s", p.id, p.waitErr, benchproc.Tail(p.logPath, 30))
	default:
		return nil
	}
}

func (c *cluster) seeds() []string {
	var out []string
	for _, p := range c.procs {
		out = append(out, p.addr)
	}
	return out
}

// alive reports every broker that has exited.
func (c *cluster) alive() error {
	var errs []error
	for _, p := range c.procs {
		errs = append(errs, p.alive())
	}
	return errors.Join(errs...)
}

// cpuSeconds is each broker's user+system CPU time so far.
func (c *cluster) cpuSeconds() ([]float64, error) {
	var out []float64
	for _, p := range c.procs {
		if err := p.alive(); err != nil {
			return nil, err
		}
		s, err := benchproc.CPUSeconds(strconv.Itoa(p.cmd.Process.Pid))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// stop ends the brokers. Profiled brokers get SIGTERM, so that they write
// their profiles; `samsa serve` gets SIGKILL: its data is thrown away, and
// three brokers stopping at once would each wait on a controlled
// shutdown.
func (c *cluster) stop() error {
	sig := syscall.SIGKILL
	if c.profiling {
		sig = syscall.SIGTERM
	}
	for _, p := range c.procs {
		if p.alive() == nil {
			_ = p.cmd.Process.Signal(sig)
		}
	}
	var errs []error
	for _, p := range c.procs {
		select {
		case <-p.exited:
		case <-time.After(time.Minute):
			_ = p.cmd.Process.Kill()
			<-p.exited
			errs = append(errs, fmt.Errorf("broker %d did not stop within a minute of %v", p.id, sig))
		}
		if c.profiling && p.waitErr != nil {
			errs = append(errs, fmt.Errorf("broker %d: %v; log:\n%s", p.id, p.waitErr, benchproc.Tail(p.logPath, 20)))
		}
	}
	return errors.Join(errs...)
}

// cpuTimes is the machine's CPU time from the "cpu" line of /proc/stat,
// in clock ticks summed over all CPUs.
type cpuTimes struct{ total, idle int64 }

func machineCPU() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var t cpuTimes
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat: %w", err)
		}
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already counted in user.
		if i >= 8 {
			break
		}
		t.total += n
		if i == 3 || i == 4 {
			t.idle += n
		}
	}
	return t, nil
}

// busyShare is the share of all CPUs' time that was busy since before.
func (t cpuTimes) busyShare(before cpuTimes) float64 {
	total := t.total - before.total
	if total <= 0 {
		return 0
	}
	return float64(total-(t.idle-before.idle)) / float64(total)
}

// busySeconds is the busy CPU time of the whole machine since before.
func (t cpuTimes) busySeconds(before cpuTimes) float64 {
	return float64((t.total-before.total)-(t.idle-before.idle)) / clockTicksPerSecond
}

// freePort asks the kernel for a free loopback port not yet taken.
func freePort(taken map[int]bool) (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !taken[p] {
			taken[p] = true
			return p, nil
		}
	}
	return 0, errors.New("no free loopback port")
}

// freePortPair finds a free port p with p+1 free too: an etcd member's
// peer and client ports (etcd.client.port.offset=1).
func freePortPair(taken map[int]bool) (int, error) {
	for range 100 {
		p, err := freePort(taken)
		if err != nil {
			return 0, err
		}
		if taken[p+1] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		if err != nil {
			continue
		}
		ln.Close()
		taken[p+1] = true
		return p, nil
	}
	return 0, errors.New("no free pair of loopback ports")
}

// buildSamsa builds ./cmd/samsa of the module this is run from into out.
func buildSamsa(out string) error {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("run replbench from inside the samsa module, or give -samsa")
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/samsa")
	cmd.Dir = filepath.Dir(gomod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/samsa: %v\n%s", err, b)
	}
	return nil
}
