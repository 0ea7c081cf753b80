// Package brokertest starts real Samsa brokers in-process for tests: on a
// random loopback port, with data in a temporary directory; alone, each
// with its own single-member etcd, or as a cluster of brokers sharing a
// three-voter etcd.
package brokertest

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/testport"
)

// Broker is a running test broker.
type Broker struct {
	*broker.Broker
	t     testing.TB
	Dir   string
	props map[string]string
}

// testDefaults are the properties every test broker starts from.
func testDefaults(t testing.TB, dir string) map[string]string {
	return map[string]string{
		// A port a restart can take again (testport).
		"listeners": fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", testport.Free(t, 1)[0]),
		"log.dirs":  dir,
		// A test machine's crash loses the test anyway; fsyncs of etcd's
		// log only slow the tests down.
		"etcd.unsafe.no.fsync": "true",
	}
}

// Start starts a broker configured by props ("key=value" broker
// properties over test defaults: 127.0.0.1:0, a temporary log dir) and
// closes it when the test ends.
func Start(t testing.TB, props ...string) *Broker {
	t.Helper()
	dir := t.TempDir()
	m := testDefaults(t, dir)
	setProps(t, m, props)
	b := &Broker{t: t, Dir: dir, props: m}
	if err := b.start(); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func setProps(t testing.TB, m map[string]string, props []string) {
	t.Helper()
	for _, p := range props {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			t.Fatalf("brokertest: property %q is not key=value", p)
		}
		m[k] = v
	}
}

func (b *Broker) start() error {
	cfg, err := config.NewBroker(b.props)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if os.Getenv("SAMSA_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if id := b.props["node.id"]; id != "" {
		logger = logger.With("node", id)
	}
	br, err := broker.New(cfg, logger)
	if err != nil {
		return err
	}
	if err := br.Start(); err != nil {
		br.Close()
		return err
	}
	b.Broker = br
	return nil
}

// Restart closes the broker cleanly and starts it again on the same data
// and the same port.
func (b *Broker) Restart() {
	b.t.Helper()
	if err := b.Broker.Close(); err != nil {
		b.t.Fatalf("brokertest: close: %v", err)
	}
	b.StartAgain()
}

// StartAgain starts a broker that was closed or halted, on the same data
// and the same port.
func (b *Broker) StartAgain() {
	b.t.Helper()
	if addr := b.Addr(); addr != "" {
		b.props["listeners"] = "PLAINTEXT://" + addr
	}
	if err := b.start(); err != nil {
		b.t.Fatalf("brokertest: %v", err)
	}
}

// Cluster is brokers 1..n sharing one etcd cluster: brokers 1-3 (or all,
// if fewer) each embed one of its voters; the others are clients of
// them.
type Cluster struct {
	Brokers []*Broker
	t       testing.TB
}

// ClientPortOffset puts each voter's etcd client port next to its peer
// port, where testport.FreePairs checked both are free.
const ClientPortOffset = 1

// StartCluster starts n brokers with node ids 1..n, props applied to all,
// and closes them when the test ends.
func StartCluster(t testing.TB, n int, props ...string) *Cluster {
	t.Helper()
	ports := testport.FreePairs(t, min(n, 3), ClientPortOffset)
	var voters []string
	for i, p := range ports {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, p))
	}
	c := &Cluster{t: t}
	for i := range n {
		dir := t.TempDir()
		m := testDefaults(t, dir)
		m["node.id"] = fmt.Sprint(i + 1)
		m["controller.quorum.voters"] = strings.Join(voters, ",")
		m["etcd.client.port.offset"] = fmt.Sprint(ClientPortOffset)
		setProps(t, m, props)
		c.Brokers = append(c.Brokers, &Broker{t: t, Dir: dir, props: m})
	}
	// The voters wait for each other's quorum: start them together.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, b := range c.Brokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.start()
		}()
	}
	wg.Wait()
	t.Cleanup(c.Close)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("brokertest: broker %d: %v", i+1, err)
		}
	}
	// Each broker sees the others register through its own copy of the
	// metadata: wait until every one sees all.
	deadline := time.Now().Add(30 * time.Second)
	for _, b := range c.Brokers {
		for len(b.Brokers()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("brokertest: broker %s sees brokers %v after 30s", b.props["node.id"], b.Brokers())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return c
}

// Addrs returns every broker's address, for a client's seed list.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, b := range c.Brokers {
		if b.Broker != nil && b.Addr() != "" {
			out = append(out, b.Addr())
		}
	}
	return out
}

// Broker returns the broker with node id id.
func (c *Cluster) Broker(id int32) *Broker { return c.Brokers[id-1] }

// Close closes every broker: first together all but the one whose etcd
// member leads the metadata store, while the quorum stands, then that one
// (a leader that stops first hands its role over, and waits long for a
// peer that is stopping too).
func (c *Cluster) Close() {
	var leader *Broker
	var wg sync.WaitGroup
	for _, b := range c.Brokers {
		if b.Broker == nil {
			continue
		}
		if leader == nil && b.LeadsEtcd() {
			leader = b
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.Close()
		}()
	}
	wg.Wait()
	if leader != nil {
		leader.Close()
	}
}
