package cluster

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Integration tests: real etcd members on loopback ports, data in
// t.TempDir().

func TestLoneNodeMetadataSurvivesRestart(t *testing.T) {
	cfg := testNodeConfig(t, 1, nil)
	ctx := testCtx(t)
	start := time.Now()
	n, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1-member etcd ready in %v", time.Since(start))
	defer func() { n.Close() }()
	st := n.Store()

	if id, err := st.InitClusterID(ctx, "first"); err != nil || id != "first" {
		t.Fatalf("InitClusterID: %q %v", id, err)
	}
	if id, err := st.InitClusterID(ctx, "second"); err != nil || id != "first" {
		t.Fatalf("second InitClusterID: %q %v", id, err)
	}
	register(t, n, 1, "")
	id, rev := createTopic(t, n, "orders", 3, 1, map[string]string{"retention.ms": "1000"})
	snap, err := n.Cache().WaitRevision(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	topic := snap.Topic("orders")
	if topic == nil || topic.ID != id || len(topic.Partitions) != 3 || topic.Configs["retention.ms"] != "1000" {
		t.Fatalf("read own write: %+v", topic)
	}
	for i, p := range topic.Partitions {
		if p.Leader != 1 || !reflect.DeepEqual(p.ISR, []int32{1}) || p.ModRevision == 0 {
			t.Fatalf("partition %d: %+v", i, p)
		}
	}
	if snap.TopicByID(id) != topic {
		t.Fatal("TopicByID")
	}
	if _, err := st.CreateTopic(ctx, NewTopic{Name: "orders", Partitions: InitialPartitions([][]int32{{1}}, snap)}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate topic: %v", err)
	}
	// More partitions than one transaction may hold.
	createTopic(t, n, "wide", 250, 1, nil)
	if _, err = st.CreatePartitions(ctx, "orders", id, 3, InitialPartitions([][]int32{{1}, {1}}, snap)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreatePartitions(ctx, "orders", id, 3, InitialPartitions([][]int32{{1}}, snap)); !errors.Is(err, ErrPartitionExists) {
		t.Fatalf("concurrent CreatePartitions: %v", err)
	}
	if _, err := st.SetTopicConfigs(ctx, "orders", map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetTopicConfigs(ctx, "nope", map[string]string{"a": "b"}); !errors.Is(err, ErrNoSuchTopic) {
		t.Fatalf("configs of a missing topic: %v", err)
	}
	if _, err := st.SetBrokerConfigs(ctx, DefaultBrokerConfigs, map[string]string{"log.retention.ms": "5"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetBrokerConfigs(ctx, 1, map[string]string{"log.cleaner.threads": "2"}); err != nil {
		t.Fatal(err)
	}
	createTopic(t, n, "doomed", 2, 1, map[string]string{"a": "b"})
	if _, err = st.DeleteTopic(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteTopic(ctx, "doomed"); !errors.Is(err, ErrNoSuchTopic) {
		t.Fatalf("second delete: %v", err)
	}
	for want := int64(0); want < 2000; want += ProducerIDBlockSize {
		if got, err := st.AllocateProducerIDBlock(ctx); err != nil || got != want {
			t.Fatalf("producer id block %d, %v; want %d", got, err, want)
		}
	}
	waitFor(t, n, "the controller", func(s *Snapshot) bool { return s.Controller.ID == 1 })
	before, err := n.Cache().Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.Topic("doomed") != nil || len(before.Topic("orders").Partitions) != 5 || len(before.Topic("wide").Partitions) != 250 {
		t.Fatalf("topics after changes: %v", before.TopicNames())
	}
	if before.NextProducerID != 2000 || before.BrokerConfigs[DefaultBrokerConfigs]["log.retention.ms"] != "5" ||
		before.BrokerConfigs[1]["log.cleaner.threads"] != "2" || before.Controller.ID != 1 {
		t.Fatalf("snapshot %+v", before)
	}
	// Only keys of the cluster remain for a deleted topic: none.
	if resp, err := n.Client().Get(ctx, DefaultPrefix+"/configs/topics/doomed"); err != nil || resp.Count != 0 {
		t.Fatalf("deleted topic's configs remain: %v %v", resp, err)
	}

	n.Close()
	start = time.Now()
	n, err = Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1-member etcd restarted in %v", time.Since(start))
	after := n.Cache().Snapshot()
	if len(after.Brokers) != 0 || after.Controller.ID != NoLeader {
		t.Fatalf("a closed broker's registration and candidacy must be gone: %+v %+v", after.Brokers, after.Controller)
	}
	if after.ClusterID != "first" || after.NextProducerID != 2000 ||
		!reflect.DeepEqual(after.Topics, before.Topics) || !reflect.DeepEqual(after.BrokerConfigs, before.BrokerConfigs) {
		t.Fatalf("metadata changed across restart:\n%+v\n%+v", after, before)
	}
}

func TestRegistrationVanishesWithSession(t *testing.T) {
	n1 := startLone(t)
	ext := EtcdConfig{Endpoints: []string{n1.Member().ClientURL()}}
	n2 := openClient(t, 2, ext, 0)
	if n2.Member() != nil {
		t.Fatal("a broker given etcd.endpoints embeds no member")
	}
	e1 := register(t, n1, 1, "r1")
	e2 := register(t, n2, 2, "r2")
	if e2 <= e1 {
		t.Fatalf("broker epochs %d then %d", e1, e2)
	}
	snap := waitFor(t, n1, "two brokers", func(s *Snapshot) bool { return len(s.Brokers) == 2 })
	if b := snap.Brokers[2]; b.Epoch != e2 || b.Rack != "r2" || b.Endpoints[0].Port != 9002 {
		t.Fatalf("registration %+v", b)
	}

	// A clean stop revokes the session: the registration goes at once.
	n2.Close()
	waitFor(t, n1, "broker 2 gone", func(s *Snapshot) bool { _, ok := s.Brokers[2]; return !ok })

	// A crash: the session is never revoked, the lease expires.
	n3 := openClient(t, 3, ext, 2*time.Second)
	e3 := register(t, n3, 3, "")
	n3.mu.Lock()
	n3.sess.Orphan() // stops the keep-alives, as a killed process would
	n3.mu.Unlock()
	crashed := time.Now()

	// A restarted broker 3 waits until the old registration expires.
	n4 := openClient(t, 4, ext, 0)
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	_, err := n4.Register(ctx, BrokerRegistration{NodeID: 3})
	cancel()
	if err == nil {
		t.Fatal("registered over a live registration")
	}
	e3b := register(t, n4, 3, "")
	t.Logf("registration of a crashed broker expired after %v", time.Since(crashed))
	if e3b <= e3 {
		t.Fatalf("re-registration epoch %d, previous %d", e3b, e3)
	}
	waitFor(t, n1, "broker 3 re-registered", func(s *Snapshot) bool { return s.Brokers[3].Epoch == e3b })
}

func TestCompareAndSwapOnPartitionEpoch(t *testing.T) {
	n := startLone(t)
	ctx := testCtx(t)
	st := n.Store()
	// Brokers registered without a controller running, so nothing but the
	// test changes the partition.
	leases := map[int32]clientv3.LeaseID{}
	for _, id := range []int32{1, 2, 3} {
		l, err := n.Client().Grant(ctx, 30)
		if err != nil {
			t.Fatal(err)
		}
		leases[id] = l.ID
		if _, err := st.RegisterBroker(ctx, l.ID, BrokerRegistration{NodeID: id}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, n, "3 brokers", func(s *Snapshot) bool { return len(s.Brokers) == 3 })
	id, rev := createTopic(t, n, "t", 1, 3, nil)
	snap, _ := n.Cache().WaitRevision(ctx, rev)
	cur, _ := snap.Partition("t", 0)
	if cur.Leader != 1 || len(cur.ISR) != 3 || cur.PartitionEpoch != 0 {
		t.Fatalf("initial state %+v", cur)
	}

	next := cur.Clone()
	next.ISR, next.PartitionEpoch = []int32{1, 2}, 1
	got, err := st.CompareAndSwapPartition(ctx, id, 0, cur, next)
	if err != nil || got.ModRevision <= cur.ModRevision {
		t.Fatalf("first CAS: %+v %v", got, err)
	}
	if _, err := st.CompareAndSwapPartition(ctx, id, 0, cur, next); !errors.Is(err, ErrStalePartitionEpoch) {
		t.Fatalf("CAS from a stale state: %v", err)
	}
	bad := next.Clone()
	bad.PartitionEpoch = 5
	if _, err := st.CompareAndSwapPartition(ctx, id, 0, got, bad); err == nil {
		t.Fatal("CAS that skips partition epochs")
	}
	fence := clientv3.Compare(clientv3.CreateRevision(DefaultPrefix+"/controller/gone"), "=", 42)
	next2 := got.Clone()
	next2.PartitionEpoch++
	if _, err := st.CompareAndSwapPartition(ctx, id, 0, got, next2, fence); !errors.Is(err, ErrNotController) {
		t.Fatalf("fenced CAS: %v", err)
	}

	// ISR changes from the leader, validated against the partition epoch.
	req := ISRChange{Topic: "t", Partition: 0, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0, NewISR: []int32{1, 2, 3}}
	if _, err := st.AlterISR(ctx, req); !errors.Is(err, ErrStalePartitionEpoch) {
		t.Fatalf("stale partition epoch: %v", err)
	}
	req.PartitionEpoch, req.LeaderEpoch = 1, 3
	if _, err := st.AlterISR(ctx, req); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("fenced leader epoch: %v", err)
	}
	req.LeaderEpoch = 0
	got, err = st.AlterISR(ctx, req)
	if err != nil || got.PartitionEpoch != 2 || len(got.ISR) != 3 {
		t.Fatalf("expand: %+v %v", got, err)
	}
	req.PartitionEpoch, req.NewISR = 2, []int32{1, 2}
	if got, err = st.AlterISR(ctx, req); err != nil || got.PartitionEpoch != 3 {
		t.Fatalf("shrink: %+v %v", got, err)
	}
	if _, err := n.Client().Revoke(ctx, leases[3]); err != nil {
		t.Fatal(err)
	}
	req.PartitionEpoch, req.NewISR = 3, []int32{1, 2, 3}
	if _, err := st.AlterISR(ctx, req); !errors.Is(err, ErrIneligibleReplica) {
		t.Fatalf("expanding with a dead broker: %v", err)
	}
	req.Topic = "nope"
	if _, err := st.AlterISR(ctx, req); !errors.Is(err, ErrNoSuchTopic) {
		t.Fatalf("missing topic: %v", err)
	}
	snap, _ = n.Cache().WaitRevision(ctx, got.ModRevision)
	if p, _ := snap.Partition("t", 0); !reflect.DeepEqual(p, got) {
		t.Fatalf("cache %+v, store %+v", p, got)
	}
}

// leadersOf lists, per topic partition, the leader.
func leadersOf(s *Snapshot, topic string) []int32 {
	var out []int32
	for _, p := range s.Topic(topic).Partitions {
		out = append(out, p.Leader)
	}
	return out
}

func TestControllerFailover(t *testing.T) {
	nodes, _ := startVoters(t, 3)
	for i, n := range nodes {
		n.cfg.Controller = ControllerConfig{AutoLeaderRebalance: true, ImbalanceCheckInterval: 100 * time.Millisecond}
		register(t, n, int32(i+1), []string{"a", "b", "c"}[i])
	}
	snap := waitFor(t, nodes[0], "a controller", func(s *Snapshot) bool {
		return len(s.Brokers) == 3 && s.Controller.ID != NoLeader
	})
	old := snap.Controller
	oldNode := nodes[old.ID-1]
	waitUntil(t, "controller active", func() bool { return oldNode.Controller().Epoch() == old.Epoch })

	_, rev := createTopic(t, nodes[0], "t", 6, 3, nil)
	snap, _ = nodes[0].Cache().WaitRevision(testCtx(t), rev)
	before := snap.Topic("t")

	// The controller's session ends (its etcd member stays up).
	oldNode.mu.Lock()
	oldNode.sess.Close()
	oldNode.mu.Unlock()

	watcher := nodes[old.ID%3]
	snap = waitFor(t, watcher, "a new controller and leaders", func(s *Snapshot) bool {
		if s.Controller.ID == NoLeader || s.Controller.ID == old.ID {
			return false
		}
		for _, p := range s.Topic("t").Partitions {
			if p.Leader == old.ID || p.InISR(old.ID) {
				return false
			}
		}
		return true
	})
	if snap.Controller.Epoch <= old.Epoch {
		t.Fatalf("controller epoch went from %d to %d", old.Epoch, snap.Controller.Epoch)
	}
	waitUntil(t, "old controller inactive", func() bool { return oldNode.Controller().Epoch() == 0 })
	for i, p := range snap.Topic("t").Partitions {
		b := before.Partitions[i]
		if b.Leader == old.ID && (p.LeaderEpoch != b.LeaderEpoch+1 || !slices.Contains(b.ISR, p.Leader)) {
			t.Fatalf("partition %d: new leader %+v from %+v", i, p, b)
		}
		if b.Leader != old.ID && (p.Leader != b.Leader || p.LeaderEpoch != b.LeaderEpoch) {
			t.Fatalf("partition %d changed leader needlessly: %+v from %+v", i, p, b)
		}
		if p.PartitionEpoch != b.PartitionEpoch+1 {
			t.Fatalf("partition %d epoch %d from %d", i, p.PartitionEpoch, b.PartitionEpoch)
		}
	}

	// The broker comes back and its leaders catch it up into the ISR; the
	// controller then moves leadership back to the preferred replicas.
	register(t, oldNode, old.ID, "")
	for i, p := range snap.Topic("t").Partitions {
		isr := append(slices.Clone(p.ISR), old.ID)
		_, err := nodes[p.Leader-1].Store().AlterISR(testCtx(t), ISRChange{Topic: "t", Partition: int32(i),
			Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, NewISR: isr})
		if err != nil && !errors.Is(err, ErrStalePartitionEpoch) {
			t.Fatalf("partition %d: %v", i, err)
		}
	}
	waitFor(t, watcher, "preferred leaders back", func(s *Snapshot) bool {
		return reflect.DeepEqual(leadersOf(s, "t"), leadersOf(&Snapshot{Topics: map[string]*TopicState{"t": before}}, "t"))
	})
}

// waitUntil polls cond, for state outside the cache.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestControlledShutdownMovesLeadership(t *testing.T) {
	nodes, _ := startVoters(t, 3)
	for i, n := range nodes {
		register(t, n, int32(i+1), "")
	}
	waitFor(t, nodes[0], "a controller", func(s *Snapshot) bool {
		return len(s.Brokers) == 3 && s.Controller.ID != NoLeader
	})
	createTopic(t, nodes[0], "t", 6, 3, nil)
	createTopic(t, nodes[0], "single", 3, 1, nil)
	// Shut down the controller itself: it must process its own shutdown
	// before handing the role over.
	ctrl := nodes[0].Cache().Snapshot().Controller.ID
	n := nodes[ctrl-1]
	if err := n.ControlledShutdown(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	snap, err := n.Cache().Sync(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range snap.Topic("t").Partitions {
		if p.Leader == ctrl || p.InISR(ctrl) {
			t.Fatalf("after controlled shutdown of %d: %+v", ctrl, p)
		}
	}
	// Partitions with no other replica stay with the stopping broker.
	for _, p := range snap.Topic("single").Partitions {
		if p.Replicas[0] == ctrl && p.Leader != ctrl {
			t.Fatalf("single-replica partition lost its leader early: %+v", p)
		}
	}
	if !snap.Brokers[ctrl].ShuttingDown {
		t.Fatal("registration does not say shutting down")
	}
	// Once it is gone, its single-replica partitions have no leader.
	n.Close()
	waitFor(t, nodes[ctrl%3], "another controller; offline single-replica partitions", func(s *Snapshot) bool {
		if s.Controller.ID == NoLeader || s.Controller.ID == ctrl {
			return false
		}
		for _, p := range s.Topic("single").Partitions {
			if p.Replicas[0] == ctrl && p.Leader != NoLeader {
				return false
			}
		}
		return true
	})
}

// snapshotContent is a snapshot without its revision, for comparing views.
func snapshotContent(s *Snapshot) any {
	return []any{s.ClusterID, s.Controller, s.Brokers, s.Topics, s.BrokerConfigs, s.NextProducerID}
}

func TestThreeMemberCluster(t *testing.T) {
	nodes, voters := startVoters(t, 3)
	t.Run("CacheConverges", func(t *testing.T) { testCacheConverges(t, nodes, voters) })
	t.Run("ProducerIDBlocksUnique", func(t *testing.T) { testProducerIDBlocksUnique(t, nodes) })
}

func testCacheConverges(t *testing.T, nodes []*Node, voters []Voter) {
	// A fourth broker outside the voter set is a client of the voters.
	client := openClient(t, 4, EtcdConfig{Voters: voters, ClientPortOffset: testPortOffset}, 0)
	if client.Member() != nil {
		t.Fatal("a non-voter embeds no member")
	}
	all := append(slices.Clone(nodes), client)
	ctx := testCtx(t)
	var brokers []int32
	for i, n := range all {
		l, err := n.Client().Grant(ctx, 30)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Store().RegisterBroker(ctx, l.ID, BrokerRegistration{NodeID: int32(i + 1)}); err != nil {
			t.Fatal(err)
		}
		brokers = append(brokers, int32(i+1))
	}
	for _, n := range all {
		waitFor(t, n, "4 brokers", func(s *Snapshot) bool { return len(s.Brokers) == 4 })
	}
	// Writes through every broker, concurrently.
	var wg sync.WaitGroup
	for i, n := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := string(rune('a' + i))
			_, rev := createTopic(t, n, name, 4, 3, map[string]string{"k": name})
			// Each writer reads its own write from its cache.
			snap, err := n.Cache().WaitRevision(ctx, rev)
			if err != nil || snap.Topic(name) == nil {
				t.Errorf("node %d does not see its topic %s: %v", i+1, name, err)
			}
			if _, err := n.Store().SetBrokerConfigs(ctx, int32(i+1), map[string]string{"x": name}); err != nil {
				t.Error(err)
			}
			if _, err := n.Store().AllocateProducerIDBlock(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := client.Store().DeleteTopic(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[2].Store().InitClusterID(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	var views []*Snapshot
	for _, n := range all {
		s, err := n.Cache().Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		views = append(views, s)
	}
	want := views[0]
	if names := want.TopicNames(); !reflect.DeepEqual(names, []string{"a", "c", "d"}) || want.NextProducerID != 4000 || want.ClusterID != "c1" {
		t.Fatalf("converged view: topics %v, next producer id %d, cluster id %q", names, want.NextProducerID, want.ClusterID)
	}
	ids := slices.Sorted(maps.Keys(want.BrokerConfigs))
	if !reflect.DeepEqual(ids, brokers) {
		t.Fatalf("broker configs for %v", ids)
	}
	for i, v := range views[1:] {
		if !reflect.DeepEqual(snapshotContent(v), snapshotContent(want)) {
			t.Fatalf("node %d diverges:\n%+v\n%+v", i+2, v, want)
		}
	}
}

// testProducerIDBlocksUnique allocates from every member's client at once,
// under a prefix of its own.
func testProducerIDBlocksUnique(t *testing.T, nodes []*Node) {
	const perWorker, workersPerNode = 4, 3
	var mu sync.Mutex
	var starts []int64
	var wg sync.WaitGroup
	for _, n := range nodes {
		for range workersPerNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWorker {
					s, err := NewEtcdStore(n.Client(), "/pid-test").AllocateProducerIDBlock(testCtx(t))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					starts = append(starts, s)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	total := len(nodes) * workersPerNode * perWorker
	if len(starts) != total {
		t.Fatalf("%d blocks, want %d", len(starts), total)
	}
	for i, s := range starts {
		if s != int64(i)*ProducerIDBlockSize {
			t.Fatalf("block %d starts at %d: blocks overlap or skip: %v", i, s, starts)
		}
	}
}

func TestImportFileStoreAndProducerIDs(t *testing.T) {
	fs, err := OpenFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := TopicID{9, 9, 9}
	if err := fs.CreateTopic("legacy", Topic{ID: id, Partitions: 2, Configs: map[string]string{"retention.ms": "5"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := fs.NextProducerID(); err != nil {
			t.Fatal(err)
		}
	}
	n := startLone(t)
	ctx := testCtx(t)
	for range 2 { // importing twice is harmless
		if err := n.Store().ImportFileStore(ctx, fs, 1); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := n.Cache().Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tp := snap.Topic("legacy")
	if tp == nil || tp.ID != id || len(tp.Partitions) != 2 || tp.Configs["retention.ms"] != "5" || tp.Partitions[1].Leader != 1 {
		t.Fatalf("imported topic %+v", tp)
	}
	pids := NewProducerIDs(n.Store())
	first, err := pids.Next(ctx)
	if err != nil || first < ProducerIDBlockSize {
		t.Fatalf("first producer id after import %d, %v: the file store's block may be reused", first, err)
	}
	for i := int64(1); i <= ProducerIDBlockSize; i++ {
		got, err := pids.Next(ctx)
		if err != nil || got != first+i {
			t.Fatalf("id %d: %d %v", i, got, err)
		}
	}
}

// A broker that is not the controller is still campaigning for the role
// when it closes. If the metadata quorum is gone by then (the last
// brokers of a cluster stopping together), its Close still returns.
func TestCloseWithoutQuorumWhileCampaigning(t *testing.T) {
	nodes, _ := startVoters(t, 3)
	for i, n := range nodes {
		register(t, n, int32(i+1), "")
	}
	snap := waitFor(t, nodes[0], "a controller", func(s *Snapshot) bool {
		return len(s.Brokers) == 3 && s.Controller.ID != NoLeader
	})
	var candidate *Node
	for i, n := range nodes {
		if int32(i+1) != snap.Controller.ID && candidate == nil {
			candidate = n
			continue
		}
		n.Abandon()
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- candidate.Close() }()
	select {
	case err := <-done:
		t.Logf("Close returned after %v without a quorum: %v", time.Since(start), err)
	case <-time.After(30 * time.Second):
		t.Fatal("Close of a campaigning broker did not return within 30s without a quorum")
	}
}
