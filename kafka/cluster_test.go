package kafka

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/testport"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testCluster is a broker cluster the shared suite runs against: franz-go's
// kfake in-process, or Samsa's own broker as `samsa serve` processes.
type testCluster struct {
	name  string
	addrs []string
	// createTopic creates a topic.
	createTopic func(t *testing.T, topic string, partitions int)
	// restart kills every broker abruptly and starts them again on the
	// same data and ports; down is called while they are down.
	restart func(t *testing.T, down func())
	// fault injects a broker error into produce requests, on clusters
	// that can (kfake); nil otherwise. It survives restarts.
	fault func(f kfake.Fault)
}

// forEachCluster runs fn against kfake and, when it can be built and run,
// against `samsa serve`.
func forEachCluster(t *testing.T, fn func(t *testing.T, tc *testCluster)) {
	t.Run("kfake", func(t *testing.T) {
		checkLeaks(t)
		fn(t, newKfakeCluster(t))
	})
	t.Run("samsa", func(t *testing.T) {
		checkLeaks(t)
		fn(t, newSamsaCluster(t))
	})
}

// newKfakeCluster is a 3-broker kfake cluster persisted to a temporary
// directory, so that it can be restarted.
func newKfakeCluster(t *testing.T) *testCluster {
	dir := t.TempDir()
	opts := []kfake.Opt{kfake.NumBrokers(3), kfake.Ports(testport.Free(t, 3)...), kfake.DataDir(dir),
		// Short sessions, so that group tests see a killed member go fast.
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
		kfake.BrokerConfigs(map[string]string{"group.consumer.heartbeat.interval.ms": "200", "group.consumer.session.timeout.ms": "3000"})}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		faults []kfake.Fault
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		c.Close()
	})
	tc := &testCluster{name: "kfake", addrs: c.ListenAddrs()}
	tc.createTopic = func(t *testing.T, topic string, partitions int) {
		if err := c.CreateTopic(topic, int32(partitions), nil); err != nil {
			t.Fatal(err)
		}
	}
	tc.restart = func(t *testing.T, down func()) {
		mu.Lock()
		defer mu.Unlock()
		c.Close()
		down()
		var err error
		if c, err = kfake.NewCluster(opts...); err != nil {
			t.Fatal(err)
		}
		for _, f := range faults {
			c.Fault(f)
		}
	}
	tc.fault = func(f kfake.Fault) {
		mu.Lock()
		defer mu.Unlock()
		faults = append(faults, f)
		c.Fault(f)
	}
	return tc
}

// samsaBin is the samsa binary built from ../cmd/samsa, once per test
// run.
var samsaBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if samsaBin.dir != "" {
		os.RemoveAll(samsaBin.dir)
	}
	os.Exit(code)
}

// samsaBinary builds `samsa` or skips the test: the broker's storage layer
// may still be a stub, or the packages it needs may not build yet.
// SAMSA_TEST_BIN names a prebuilt binary to use instead.
func samsaBinary(t *testing.T) string {
	t.Helper()
	samsaBin.once.Do(func() {
		if bin := os.Getenv("SAMSA_TEST_BIN"); bin != "" {
			samsaBin.path = bin
			return
		}
		if _, err := os.Stat("../internal/storage/contract_stub.go"); err == nil {
			samsaBin.err = errors.New("internal/storage is still a contract stub")
			return
		}
		if samsaBin.dir, samsaBin.err = os.MkdirTemp("", "samsa-kafka-test-"); samsaBin.err != nil {
			return
		}
		samsaBin.path = filepath.Join(samsaBin.dir, "samsa")
		out, err := exec.Command("go", "build", "-o", samsaBin.path, "../cmd/samsa").CombinedOutput()
		if err != nil {
			samsaBin.err = fmt.Errorf("go build ../cmd/samsa: %v\n%s", err, out)
		}
	})
	if samsaBin.err != nil {
		t.Skipf("samsa serve is not available: %v", samsaBin.err)
	}
	return samsaBin.path
}

// samsaServer is one `samsa serve` process.
type samsaServer struct {
	bin, addr, dir string
	props          []string
	cmd            *exec.Cmd
	exited         chan error
	log            *strings.Builder
}

func (s *samsaServer) start(t *testing.T) {
	t.Helper()
	s.launch(t)
	// The broker listens before it has registered in its metadata store;
	// it is ready once it answers Metadata naming a controller and itself.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if s.seesBrokers(1) {
			return
		}
		select {
		case err := <-s.exited:
			t.Fatalf("samsa serve exited at start (%v): %s", err, s.log)
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			t.Fatalf("samsa serve did not listen on %s: %s", s.addr, s.log)
		}
	}
}

// failed reports how the process ended, if it did, with its log.
func (s *samsaServer) failed() string {
	select {
	case err := <-s.exited:
		s.exited <- err
		return fmt.Sprintf("samsa serve exited (%v):\n%s", err, s.log)
	default:
		return "samsa serve is running"
	}
}

// kill ends the process with SIGKILL: nothing is flushed.
func (s *samsaServer) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// newSamsaCluster is one `samsa serve` broker with data in a temporary
// directory.
func newSamsaCluster(t *testing.T) *testCluster {
	s := &samsaServer{
		bin:  samsaBinary(t),
		addr: "127.0.0.1:" + strconv.Itoa(testport.Free(t, 1)[0]),
		dir:  t.TempDir(),
		props: []string{"num.partitions=3", "group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=100",
			"group.consumer.heartbeat.interval.ms=200", "group.consumer.session.timeout.ms=3000"},
	}
	s.start(t)
	t.Cleanup(s.kill)
	tc := &testCluster{name: "samsa", addrs: []string{s.addr}}
	tc.createTopic = func(t *testing.T, topic string, partitions int) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(partitions), 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("creating %s on samsa: %v; %s", topic, err, s.failed())
		}
	}
	tc.restart = func(t *testing.T, down func()) {
		s.kill()
		down()
		s.start(t)
	}
	return tc
}
