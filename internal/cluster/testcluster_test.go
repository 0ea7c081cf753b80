package cluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/testport"
)

// testLogger sends etcd's and the controller's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

const testPortOffset = 1

func testNodeConfig(t testing.TB, id int32, voters []Voter) NodeConfig {
	return NodeConfig{
		Etcd: EtcdConfig{
			NodeID:           id,
			Voters:           voters,
			DataDir:          filepath.Join(t.TempDir(), "etcd"),
			ClientPortOffset: testPortOffset,
			UnsafeNoFsync:    true,
		},
		// Long enough that a loaded machine does not expire sessions by
		// accident; tests of expiry shorten it.
		SessionTimeout: 10 * time.Second,
		Controller:     ControllerConfig{},
		Logger:         testLogger(t).With("node", id),
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startLone starts a single-member cluster.
func startLone(t testing.TB) *Node {
	t.Helper()
	start := time.Now()
	n, err := Open(testCtx(t), testNodeConfig(t, 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1-member etcd ready in %v", time.Since(start))
	t.Cleanup(func() { n.Close() })
	return n
}

// startVoters starts a cluster of n voters, each broker embedding one
// member, and returns them in node id order (ids 1..n).
func startVoters(t testing.TB, n int) ([]*Node, []Voter) {
	t.Helper()
	ports := testport.FreePairs(t, n, testPortOffset)
	var voters []Voter
	for i, p := range ports {
		voters = append(voters, Voter{ID: int32(i + 1), Host: "127.0.0.1", Port: p})
	}
	nodes := make([]*Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = Open(testCtx(t), testNodeConfig(t, int32(i+1), voters))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, n := range nodes {
				if n != nil {
					n.Close()
				}
			}
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	t.Logf("%d-member etcd ready in %v", n, time.Since(start))
	t.Cleanup(func() { closeVoters(t, nodes) })
	return nodes, voters
}

// closeVoters stops the brokers, then their members: followers first, so
// that the raft leader, stopping last, does not try to hand its role to a
// member that is itself stopping.
func closeVoters(t testing.TB, nodes []*Node) {
	start := time.Now()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.leave() }()
	}
	wg.Wait()
	var leaders []*Node
	for _, n := range nodes {
		if n.member.IsLeader() {
			leaders = append(leaders, n)
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); n.Close() }()
	}
	wg.Wait()
	for _, n := range leaders {
		n.Close()
	}
	t.Logf("closed in %v", time.Since(start))
}

// openClient opens a broker that is only a client of the cluster; a zero
// sessionTimeout keeps the test default.
func openClient(t testing.TB, id int32, cfg EtcdConfig, sessionTimeout time.Duration) *Node {
	t.Helper()
	nc := testNodeConfig(t, id, nil)
	cfg.NodeID = id
	nc.Etcd = cfg
	if sessionTimeout > 0 {
		nc.SessionTimeout = sessionTimeout
	}
	n, err := Open(testCtx(t), nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func register(t testing.TB, n *Node, id int32, rack string) int64 {
	t.Helper()
	epoch, err := n.Register(testCtx(t), BrokerRegistration{NodeID: id, Rack: rack,
		IncarnationID: fmt.Sprintf("inc-%d-%d", id, time.Now().UnixNano()),
		Endpoints:     []Endpoint{{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id}}})
	if err != nil {
		t.Fatal(err)
	}
	return epoch
}

// waitFor waits until cond holds on one of n's snapshots.
func waitFor(t testing.TB, n *Node, what string, cond func(*Snapshot) bool) *Snapshot {
	t.Helper()
	ctx := testCtx(t)
	for {
		snap, next := n.Cache().Current()
		if cond(snap) {
			return snap
		}
		select {
		case <-next:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; last snapshot at revision %d", what, snap.Revision)
		}
	}
}

// createTopic places and creates a topic from n's view of the brokers.
func createTopic(t testing.TB, n *Node, name string, partitions, rf int, configs map[string]string) (TopicID, int64) {
	t.Helper()
	snap := n.Cache().Snapshot()
	a, err := PlaceReplicas(PlacementRequest{Brokers: snap.PlacementBrokers(), Partitions: partitions,
		ReplicationFactor: rf, StartIndex: 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var id TopicID
	rand.Read(id[:])
	rev, err := n.Store().CreateTopic(testCtx(t), NewTopic{Name: name, ID: id, Configs: configs,
		Partitions: InitialPartitions(a, snap)})
	if err != nil {
		t.Fatal(err)
	}
	return id, rev
}
