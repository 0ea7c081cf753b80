package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

// A broker that restarted has a new broker epoch; partitions whose state
// predates it were decided while its previous run held them.
func bouncedSnapshot(epochs map[int32]int64, parts ...PartitionState) *Snapshot {
	s := snapshotOf(nil, map[string][]PartitionState{"t": parts})
	for id, e := range epochs {
		s.Brokers[id] = BrokerRegistration{NodeID: id, Epoch: e}
	}
	return s
}

func withRev(p PartitionState, rev int64) PartitionState { p.ModRevision = rev; return p }

func TestPlanHandlesBouncedBroker(t *testing.T) {
	cfg := ControllerConfig{}
	cases := []struct {
		name   string
		epochs map[int32]int64
		cur    PartitionState
		want   *PartitionState // nil: no change
	}{
		{
			name:   "bounced leader with another ISR member: leadership moves",
			epochs: map[int32]int64{1: 50, 2: 5, 3: 5},
			cur:    withRev(ps(ids(1, 2, 3), ids(1, 2, 3), 1, 4, 7), 10),
			want:   ptr(ps(ids(1, 2, 3), ids(2, 3), 2, 5, 8)),
		},
		{
			name:   "bounced sole ISR member that leads: no leader first",
			epochs: map[int32]int64{1: 50, 2: 5},
			cur:    withRev(ps(ids(1, 2), ids(1), 1, 4, 7), 10),
			want:   ptr(ps(ids(1, 2), ids(1), NoLeader, 5, 8)),
		},
		{
			name:   "bounced sole ISR member of a leaderless partition is elected",
			epochs: map[int32]int64{1: 50, 2: 5},
			cur:    withRev(ps(ids(1, 2), ids(1), NoLeader, 5, 8), 10),
			want:   ptr(ps(ids(1, 2), ids(1), 1, 6, 9)),
		},
		{
			name:   "bounced follower leaves the ISR",
			epochs: map[int32]int64{1: 5, 2: 50, 3: 5},
			cur:    withRev(ps(ids(1, 2, 3), ids(1, 2, 3), 1, 4, 7), 10),
			want:   ptr(ps(ids(1, 2, 3), ids(1, 3), 1, 4, 8)),
		},
		{
			name:   "state written after the registration: nothing to do",
			epochs: map[int32]int64{1: 50, 2: 5},
			cur:    withRev(ps(ids(1, 2), ids(1, 2), 1, 4, 7), 60),
		},
		{
			name:   "single replica keeps leading across a restart",
			epochs: map[int32]int64{1: 50},
			cur:    withRev(ps(ids(1), ids(1), 1, 4, 7), 10),
		},
	}
	for _, tc := range cases {
		s := bouncedSnapshot(tc.epochs, tc.cur)
		got := plan(s, cfg, 1, false)
		if tc.want == nil {
			if len(got) != 0 {
				t.Errorf("%s: planned %+v, want nothing", tc.name, got[0].next)
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s: planned %d changes, want 1", tc.name, len(got))
			continue
		}
		next := got[0].next
		next.ModRevision = 0
		if !reflect.DeepEqual(next, *tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, next, *tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestLedBy(t *testing.T) {
	p := withRev(ps(ids(1, 2), ids(1, 2), 1, 3, 3), 100)
	for _, tc := range []struct {
		id    int32
		epoch int64
		p     PartitionState
		want  bool
	}{
		{1, 90, p, true},
		{1, 100, p, true},
		{1, 110, p, false}, // restarted since the state was written
		{2, 90, p, false},  // not the leader
		{1, 0, p, false},   // not registered
		{1, 110, withRev(ps(ids(1), ids(1), 1, 3, 3), 100), true},
	} {
		if got := tc.p.LedBy(tc.id, tc.epoch); got != tc.want {
			t.Errorf("LedBy(%d, %d) of %+v = %v, want %v", tc.id, tc.epoch, tc.p, got, tc.want)
		}
	}
}

func TestUpdateTopicConfigsIsAtomic(t *testing.T) {
	n := startLone(t)
	ctx := testCtx(t)
	register(t, n, 1, "")
	createTopic(t, n, "cfg", 1, 1, map[string]string{"retention.ms": "1"})
	// Concurrent read-modify-write updates each add one key: none is lost.
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := n.Store().UpdateTopicConfigs(ctx, "cfg", func(cur map[string]string) (map[string]string, error) {
				if cur == nil {
					cur = map[string]string{}
				}
				cur[string(rune('a'+i))] = "x"
				return cur, nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rev, err := n.Store().UpdateTopicConfigs(ctx, "cfg", func(cur map[string]string) (map[string]string, error) {
		delete(cur, "a")
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := n.Cache().WaitRevision(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	got := snap.Topic("cfg").Configs
	if len(got) != writers || got["retention.ms"] != "1" || got["a"] != "" || got["h"] != "x" {
		t.Fatalf("configs after concurrent updates: %v", got)
	}
	sentinel := errors.New("refused")
	if _, err := n.Store().UpdateTopicConfigs(ctx, "cfg", func(map[string]string) (map[string]string, error) { return nil, sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("update error: %v", err)
	}
	if _, err := n.Store().UpdateTopicConfigs(ctx, "missing", func(c map[string]string) (map[string]string, error) { return c, nil }); !errors.Is(err, ErrNoSuchTopic) {
		t.Fatalf("missing topic: %v", err)
	}
}

func TestImportFileStoreDirOnce(t *testing.T) {
	dir := t.TempDir()
	fs, err := OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.CreateTopic("old", Topic{ID: TopicID{1}, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	n := startLone(t)
	ctx := testCtx(t)
	if ok, err := n.Store().ImportFileStoreDir(ctx, dir, 1); err != nil || !ok {
		t.Fatalf("first import: %v %v", ok, err)
	}
	if _, err := os.Stat(filepath.Join(dir, fileStoreName+importedSuffix)); err != nil {
		t.Fatalf("imported file not kept aside: %v", err)
	}
	if _, err := n.Store().DeleteTopic(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if ok, err := n.Store().ImportFileStoreDir(ctx, dir, 1); err != nil || ok {
		t.Fatalf("second import: %v %v", ok, err)
	}
	snap, err := n.Cache().Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Topic("old") != nil {
		t.Fatal("a deleted topic came back from an imported file")
	}
}

// A broker that crashed (its session never revoked) and restarts with the
// same lease file registers at once, and its previous controller
// candidacy does not hold the controller role.
func TestRestartAfterCrashReclaimsRegistration(t *testing.T) {
	n1 := startLone(t)
	ext := EtcdConfig{Endpoints: []string{n1.Member().ClientURL()}}
	leaseFile := filepath.Join(t.TempDir(), "broker.lease")
	open := func() *Node {
		nc := testNodeConfig(t, 2, nil)
		nc.Etcd = ext
		nc.Etcd.NodeID = 2
		nc.LeaseFile = leaseFile
		n, err := Open(testCtx(t), nc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a := open()
	e1 := register(t, a, 2, "")
	waitFor(t, n1, "broker 2 as controller", func(s *Snapshot) bool { return s.Controller.ID == 2 })
	a.Abandon()
	if snap, err := n1.Cache().Sync(testCtx(t)); err != nil || snap.Brokers[2].Epoch != e1 {
		t.Fatalf("an abandoned node's registration must stay until it expires: %v", err)
	}

	b := open()
	start := time.Now()
	ctx, cancel := context.WithTimeout(testCtx(t), 5*time.Second)
	defer cancel()
	e2, err := b.Register(ctx, BrokerRegistration{NodeID: 2})
	if err != nil {
		t.Fatalf("restarted broker could not register within 5s (session timeout 10s): %v", err)
	}
	t.Logf("re-registered %v after the crash", time.Since(start))
	if e2 <= e1 {
		t.Fatalf("new epoch %d, old %d", e2, e1)
	}
	snap := waitFor(t, n1, "broker 2 controller again", func(s *Snapshot) bool {
		return s.Controller.ID == 2 && s.Brokers[2].Epoch == e2
	})
	if snap.Controller.Epoch <= e1 {
		t.Fatalf("controller epoch %d is the crashed run's candidacy (registered at %d)", snap.Controller.Epoch, e1)
	}
}
