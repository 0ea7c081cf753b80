//go:build linux

// Package clustertest runs a Samsa cluster as separate `samsa serve`
// processes on loopback ports, one server.properties file each, for fault
// tests: helpers SIGKILL, SIGSTOP/SIGCONT, SIGTERM and restart a broker;
// a load generator produces numbered records with an idempotent acks=all
// producer and remembers what was acknowledged; a checker compares that
// with what consumers read back and with every replica's log on disk.
//
// Linux only: the brokers get Pdeathsig so that they die with the test.
package clustertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/internal/testport"
)

// Build builds cmd/samsa into a temporary directory and returns the
// binary's path.
func Build(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside a Go module")
	}
	bin := filepath.Join(t.TempDir(), "samsa")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/samsa")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/samsa: %v\n%s", err, out)
	}
	return bin
}

// Cluster is brokers 1..n, each a `samsa serve` process with its own
// server.properties; brokers 1-3 (or all, if fewer) are the etcd voters,
// unless the cluster uses an external etcd (Options.EtcdEndpoints).
type Cluster struct {
	t       testing.TB
	Brokers []*Broker
}

// Broker is one broker process.
type Broker struct {
	t      testing.TB
	bin    string
	ID     int32
	Addr   string // host:port of its listener
	Config string // its server.properties
	Data   string // its log dir
	logs   *os.File

	cmd    *exec.Cmd
	exited chan struct{}
}

// clientPortOffset is etcd.client.port.offset in the generated files,
// the offset testport.FreePairs leaves free.
const clientPortOffset = brokertest.ClientPortOffset

// Start writes a server.properties for each of n brokers (props added to
// every file), starts them and waits until each answers and lists all n
// brokers. The processes are killed when the test ends; the broker logs
// of a failed test are printed.
func Start(t testing.TB, bin string, n int, props ...string) *Cluster {
	t.Helper()
	return StartWith(t, bin, n, Options{Props: props})
}

// Options say how StartWith configures the brokers.
type Options struct {
	// Props are added to every broker's server.properties.
	Props []string
	// EtcdEndpoints, if set, are the client URLs of an external etcd
	// cluster: every broker gets etcd.endpoints and none embeds a member.
	// Otherwise brokers 1-3 are the voters.
	EtcdEndpoints []string
}

// StartWith is Start with options.
func StartWith(t testing.TB, bin string, n int, o Options) *Cluster {
	t.Helper()
	dir := t.TempDir()
	var metadata []string // the properties saying where the metadata lives
	if len(o.EtcdEndpoints) > 0 {
		metadata = []string{"etcd.endpoints=" + strings.Join(o.EtcdEndpoints, ",")}
	} else {
		peers := testport.FreePairs(t, min(n, 3), clientPortOffset)
		var voters []string
		for i, p := range peers {
			voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, p))
		}
		metadata = []string{
			"controller.quorum.voters=" + strings.Join(voters, ","),
			fmt.Sprintf("etcd.client.port.offset=%d", clientPortOffset),
		}
	}
	c := &Cluster{t: t}
	for i := range n {
		id := int32(i + 1)
		b := &Broker{t: t, bin: bin, ID: id, Addr: freeAddr(t),
			Config: filepath.Join(dir, fmt.Sprintf("server-%d.properties", id)),
			Data:   filepath.Join(dir, fmt.Sprintf("data-%d", id))}
		lines := []string{
			fmt.Sprintf("node.id=%d", id),
			"listeners=PLAINTEXT://" + b.Addr,
			"log.dirs=" + b.Data,
		}
		lines = append(lines, metadata...)
		lines = append(lines, o.Props...)
		if err := os.WriteFile(b.Config, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		logs, err := os.Create(filepath.Join(dir, fmt.Sprintf("broker-%d.log", id)))
		if err != nil {
			t.Fatal(err)
		}
		b.logs = logs
		c.Brokers = append(c.Brokers, b)
		t.Cleanup(b.cleanup)
	}
	for _, b := range c.Brokers {
		b.launch()
	}
	for _, b := range c.Brokers {
		b.WaitServing(2 * time.Minute)
	}
	c.WaitBrokers(n, time.Minute)
	return c
}

func (b *Broker) cleanup() {
	if b.Running() {
		b.cmd.Process.Signal(syscall.SIGKILL)
		<-b.exited
	}
	if b.t.Failed() {
		data, _ := os.ReadFile(b.logs.Name())
		if len(data) > 12000 {
			data = data[len(data)-12000:]
		}
		b.t.Logf("broker %d log (tail):\n%s", b.ID, data)
	}
	b.logs.Close()
}

// Broker returns broker id.
func (c *Cluster) Broker(id int32) *Broker { return c.Brokers[id-1] }

// Seeds returns every broker's address.
func (c *Cluster) Seeds() []string {
	var out []string
	for _, b := range c.Brokers {
		out = append(out, b.Addr)
	}
	return out
}

// Running reports whether the process is alive (stopped with SIGSTOP
// counts as alive).
func (b *Broker) Running() bool {
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

// launch starts the process without waiting for it to serve.
func (b *Broker) launch() {
	b.t.Helper()
	fmt.Fprintf(b.logs, "=== start %s serve --config %s\n", b.bin, b.Config)
	cmd := exec.Command(b.bin, "serve", "--config", b.Config, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = b.logs, b.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	exited := make(chan struct{})
	b.cmd, b.exited = cmd, exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
}

// Restart starts a broker that was killed or stopped, with the same
// properties, and waits until it serves.
func (b *Broker) Restart() {
	b.t.Helper()
	if b.Running() {
		b.t.Fatalf("broker %d is still running", b.ID)
	}
	b.launch()
	b.WaitServing(2 * time.Minute)
}

// WaitServing waits until the broker answers Metadata.
func (b *Broker) WaitServing(limit time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-b.exited:
			b.t.Fatalf("broker %d exited during startup: %v", b.ID, b.cmd.ProcessState)
		default:
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
			cancel()
			cl.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("broker %d on %s not serving after %v: %v", b.ID, b.Addr, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill sends SIGKILL and waits for the process to be gone: nothing is
// flushed, closed or deregistered.
func (b *Broker) Kill() {
	b.signal(syscall.SIGKILL)
	<-b.exited
}

// Pause stops the process with SIGSTOP: it holds its sockets and its
// etcd session lapses.
func (b *Broker) Pause() { b.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (b *Broker) Resume() { b.signal(syscall.SIGCONT) }

// Terminate sends SIGTERM (a controlled shutdown) and waits for a clean
// exit.
func (b *Broker) Terminate() {
	b.t.Helper()
	b.signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(time.Minute):
		b.t.Fatalf("broker %d still running a minute after SIGTERM", b.ID)
	}
	if !b.cmd.ProcessState.Success() {
		b.t.Errorf("broker %d after SIGTERM: %v", b.ID, b.cmd.ProcessState)
	}
}

func (b *Broker) signal(sig syscall.Signal) {
	fmt.Fprintf(b.logs, "=== %v at %s\n", sig, time.Now().Format(time.RFC3339Nano))
	if err := b.cmd.Process.Signal(sig); err != nil {
		b.t.Fatalf("signal %v to broker %d: %v", sig, b.ID, err)
	}
}

// WaitBrokers waits until every running broker lists n brokers in its
// metadata.
func (c *Cluster) WaitBrokers(n int, limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for _, b := range c.Brokers {
		if !b.Running() {
			continue
		}
		for {
			md, err := metadataOf(b.Addr)
			if err == nil && len(md.Brokers) == n {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("broker %d does not list %d brokers after %v (%v)", b.ID, n, limit, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// metadataOf asks one broker for the cluster metadata.
func metadataOf(addr string) (kadm.Metadata, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.DialTimeout(time.Second))
	if err != nil {
		return kadm.Metadata{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return kadm.NewClient(cl).Metadata(ctx)
}

// Partitions returns a topic's partitions (leader, replicas, ISR) as
// broker addr sees them.
func Partitions(addr, topic string) (kadm.PartitionDetails, error) {
	md, err := metadataOf(addr)
	if err != nil {
		return nil, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	return td.Partitions, nil
}

// WaitPartitions polls a broker's view of a topic until cond holds.
func (c *Cluster) WaitPartitions(addr, topic, what string, limit time.Duration, cond func(kadm.PartitionDetails) bool) kadm.PartitionDetails {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ps, err := Partitions(addr, topic)
		if err == nil && cond(ps) {
			return ps
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waited %v for %s (last: %v %v)", limit, what, ps, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr returns a free loopback address a restarted broker can take
// again (testport).
func freeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testport.Free(t, 1)[0])
}
