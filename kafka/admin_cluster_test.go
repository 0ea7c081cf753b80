package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/testport"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestSuiteAdminLogDirs describes every broker's log directories and
// finds a topic's replicas in them, with their size; a broker that is not
// in the cluster has its own error.
func TestSuiteAdminLogDirs(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "admin-logdirs", 2)
		produceNumbered(t, tc.addrs, "admin-logdirs", 2, 0, 20)
		a := startAdmin(t, tc.addrs)
		ctx := testCtx(t)
		res, err := a.DescribeLogDirs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cd, err := a.DescribeCluster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(cd.Nodes) {
			t.Errorf("log dirs of %d brokers, the cluster has %d", len(res), len(cd.Nodes))
		}
		found := map[TopicPartition]ReplicaInfo{}
		for id, b := range res {
			if b.Err != nil {
				t.Errorf("broker %d: %v", id, b.Err)
			}
			for dir, d := range b.Dirs {
				if d.Err != nil {
					t.Errorf("broker %d, %s: %v", id, dir, d.Err)
				}
				if d.TotalBytes <= 0 || d.UsableBytes <= 0 {
					t.Errorf("broker %d, %s: total %d, usable %d bytes", id, dir, d.TotalBytes, d.UsableBytes)
				}
				for tp, r := range d.Replicas {
					if tp.Topic == "admin-logdirs" {
						found[tp] = r
					}
				}
			}
		}
		for p := range int32(2) {
			r, ok := found[TopicPartition{"admin-logdirs", p}]
			if !ok || r.Size <= 0 || r.IsFuture || r.OffsetLag != 0 {
				t.Errorf("partition %d: %+v %v (found %v)", p, r, ok, found)
			}
		}
		one, err := a.DescribeLogDirs(ctx, cd.Nodes[0].ID, 99)
		if err != nil || one[cd.Nodes[0].ID].Err != nil || len(one[cd.Nodes[0].ID].Dirs) == 0 {
			t.Errorf("one broker: %+v %v", one, err)
		}
		if one[99].Err == nil {
			t.Errorf("a broker not in the cluster: %+v", one[99])
		}
	})
}

// TestSuiteAdminAlterConfigsLegacy replaces a topic's whole config with
// the legacy AlterConfigs: settings left out go back to their defaults.
func TestSuiteAdminAlterConfigsLegacy(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "admin-legacy", 1)
		a := startAdmin(t, tc.addrs)
		ctx := testCtx(t)
		topic := ConfigResource{ConfigResourceTopic, "admin-legacy"}
		changed, err := a.IncrementalAlterConfigs(ctx, false, map[ConfigResource][]AlterConfigOp{topic: {
			{Name: "retention.ms", Op: ConfigSet, Value: "3600000"},
			{Name: "segment.ms", Op: ConfigSet, Value: "600000"},
		}})
		if err != nil || changed[topic] != nil {
			t.Fatalf("incremental: %v %v", changed, err)
		}
		entry := func(name string) ConfigEntry {
			t.Helper()
			res, err := a.DescribeConfigs(ctx, topic)
			if err != nil || res[0].Err != nil {
				t.Fatalf("describe: %+v %v", res, err)
			}
			e, _ := res[0].Entry(name)
			return e
		}

		// validateOnly changes nothing.
		out, err := a.AlterConfigs(ctx, true, map[ConfigResource]map[string]string{topic: {"retention.ms": "7200000"}})
		if err != nil || out[topic] != nil {
			t.Fatalf("validate only: %v %v", out, err)
		}
		if e := entry("retention.ms"); e.Value != "3600000" {
			t.Errorf("after validate only: %+v", e)
		}

		out, err = a.AlterConfigs(ctx, false, map[ConfigResource]map[string]string{topic: {"retention.ms": "7200000"}})
		if err != nil || out[topic] != nil {
			t.Fatalf("alter: %v %v", out, err)
		}
		if e := entry("retention.ms"); e.Value != "7200000" || e.IsDefault {
			t.Errorf("retention.ms after alter: %+v", e)
		}
		if e := entry("segment.ms"); e.Value != "604800000" || !e.IsDefault {
			t.Errorf("segment.ms, left out, is not back to its default: %+v", e)
		}

		missing := ConfigResource{ConfigResourceTopic, "admin-legacy-missing"}
		out, err = a.AlterConfigs(ctx, false, map[ConfigResource]map[string]string{
			missing: {"retention.ms": "1000"},
			topic:   {"retention.ms": "soon"},
		})
		if err != nil || !errors.Is(out[missing], kerr.UnknownTopicOrPartition) {
			t.Errorf("unknown topic: %v %v", out, err)
		}
		// kfake does not check values; Kafka and Samsa do.
		if tc.name != "kfake" && !errors.Is(out[topic], kerr.InvalidConfig) && !errors.Is(out[topic], kerr.InvalidRequest) {
			t.Errorf("invalid value: %v", out[topic])
		}
		if tc.name != "kfake" {
			if e := entry("retention.ms"); e.Value != "7200000" {
				t.Errorf("an invalid value changed the topic: %+v", e)
			}
		}
	})
}

// TestSuiteAdminElectionsAndReassignments checks elections and
// reassignments on one broker (samsa) or kfake: a preferred election that
// is not needed, unknown partitions, a bad replica list, the cancellation
// of a reassignment that is not in progress. The multi-broker cases are
// in TestAdminReassignThreeBrokers.
func TestSuiteAdminElectionsAndReassignments(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "admin-elect", 2)
		a := startAdmin(t, tc.addrs)
		ctx := testCtx(t)
		p0, p1 := TopicPartition{"admin-elect", 0}, TopicPartition{"admin-elect", 1}
		unknown, missing := TopicPartition{"admin-elect", 9}, TopicPartition{"admin-elect-missing", 0}

		res, err := a.ElectLeaders(ctx, ElectionPreferred, []TopicPartition{p0, unknown})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(res[unknown], kerr.UnknownTopicOrPartition) {
			t.Errorf("election of an unknown partition: %v", res)
		}
		if tc.name == "kfake" {
			// kfake moves the leadership to the next broker, always.
			if res[p0] != nil {
				t.Errorf("kfake election: %v", res)
			}
		} else if !errors.Is(res[p0], kerr.ElectionNotNeeded) {
			t.Errorf("preferred election on one broker: %v", res)
		}
		if tc.name != "kfake" {
			res, err = a.ElectLeaders(ctx, ElectionUnclean, []TopicPartition{p1})
			if err != nil || !errors.Is(res[p1], kerr.ElectionNotNeeded) {
				t.Errorf("unclean election of a partition with a leader: %v %v", res, err)
			}
			// Every partition: the answer leaves out those that need
			// no election.
			res, err = a.ElectLeaders(ctx, ElectionPreferred, nil)
			if err != nil || len(res) != 0 {
				t.Errorf("election of every partition: %v %v", res, err)
			}
		}

		leader := int32(1)
		if d, err := a.DescribeTopics(ctx, "admin-elect"); err == nil && d[0].Err == nil {
			leader = d[0].Partitions[1].Leader.ID
		}
		alt, err := a.AlterPartitionReassignments(ctx, map[TopicPartition]*NewPartitionReassignment{
			unknown: {TargetReplicas: []int32{leader}},
			missing: {TargetReplicas: []int32{leader}},
			p1:      nil, // nothing in progress to cancel
		})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(alt[unknown], kerr.UnknownTopicOrPartition) || !errors.Is(alt[missing], kerr.UnknownTopicOrPartition) {
			t.Errorf("reassignment of unknown partitions: %v", alt)
		}
		if !errors.Is(alt[p1], kerr.NoReassignmentInProgress) {
			t.Errorf("cancellation without a reassignment: %v", alt)
		}
		if tc.name != "kfake" { // kfake accepts any replica list
			for _, bad := range [][]int32{{}, {leader, leader}, {leader, 99}} {
				alt, err := a.AlterPartitionReassignments(ctx, map[TopicPartition]*NewPartitionReassignment{p0: {TargetReplicas: bad}})
				if err != nil || !errors.Is(alt[p0], kerr.InvalidReplicaAssignment) {
					t.Errorf("replicas %v: %v %v", bad, alt, err)
				}
			}
			// Moving to the replicas it has is a reassignment that is
			// complete at once.
			alt, err = a.AlterPartitionReassignments(ctx, map[TopicPartition]*NewPartitionReassignment{p0: {TargetReplicas: []int32{leader}}})
			if err != nil || alt[p0] != nil {
				t.Errorf("reassignment to the same replica: %v %v", alt, err)
			}
		}
		waitNoReassignments(t, a, p0, p1)
	})
}

// waitNoReassignments waits until none of the partitions (all if none)
// has a reassignment in progress.
func waitNoReassignments(t *testing.T, a *Admin, tps ...TopicPartition) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		list, err := a.ListPartitionReassignments(ctx, tps...)
		cancel()
		if err == nil && len(list) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reassignments still in progress: %v %v", list, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAdminReassignThreeBrokers runs reassignments and elections on a
// cluster of three `samsa serve` processes: a replication factor above
// the brokers, a reassignment that reorders the replicas and the
// preferred election that follows it, bad replica lists, and a
// reassignment kept in progress by a dead broker, listed with its adding
// replica and then cancelled.
func TestAdminReassignThreeBrokers(t *testing.T) {
	checkLeaks(t)
	servers := startSamsaBrokers(t, 3, "broker.session.timeout.ms=60000", "auto.leader.rebalance.enable=false")
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.addr)
	}
	a := startAdmin(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cd, err := a.DescribeCluster(ctx)
	if err != nil || len(cd.Nodes) != 3 {
		t.Fatalf("cluster: %+v %v", cd, err)
	}
	// The victim, killed later, is not the controller.
	var others []int32
	victim := int32(-1)
	for _, n := range cd.Nodes {
		if victim < 0 && n.ID != cd.Controller {
			victim = n.ID
		} else {
			others = append(others, n.ID)
		}
	}
	o1, o2 := others[0], others[1]

	res, err := a.CreateTopics(ctx, false,
		NewTopic{Name: "moves", ReplicaAssignment: map[int32][]int32{0: {o1, o2, victim}}},
		NewTopic{Name: "grow", ReplicaAssignment: map[int32][]int32{0: {o1, o2}}},
		NewTopic{Name: "moves-rf4", NumPartitions: 1, ReplicationFactor: 4},
	)
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("create: %+v %v", res, err)
	}
	if !errors.Is(res[2].Err, kerr.InvalidReplicationFactor) {
		t.Errorf("replication factor 4 on 3 brokers: %v", res[2].Err)
	}
	produceNumbered(t, addrs, "moves", 1, 0, 100)
	produceNumbered(t, addrs, "grow", 1, 0, 100)
	p0, p1 := TopicPartition{"moves", 0}, TopicPartition{"grow", 0}
	partition := func(tp TopicPartition) PartitionInfo {
		t.Helper()
		d, err := a.DescribeTopics(ctx, tp.Topic)
		if err != nil || d[0].Err != nil || len(d[0].Partitions) <= int(tp.Partition) {
			t.Fatalf("describe: %+v %v", d, err)
		}
		return d[0].Partitions[tp.Partition]
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30s", what)
			}
		}
	}
	waitFor("p0 fully in sync", func() bool { return len(partition(p0).InSyncReplicas) == 3 })

	el, err := a.ElectLeaders(ctx, ElectionPreferred, []TopicPartition{p0})
	if err != nil || !errors.Is(el[p0], kerr.ElectionNotNeeded) {
		t.Errorf("preferred election with the preferred leader leading: %v %v", el, err)
	}
	el, err = a.ElectLeaders(ctx, ElectionUnclean, []TopicPartition{p0})
	if err != nil || !errors.Is(el[p0], kerr.ElectionNotNeeded) {
		t.Errorf("unclean election with a leader: %v %v", el, err)
	}

	// Reorder p0's replicas: o2 becomes the preferred leader, which a
	// preferred election then makes the leader.
	alt, err := a.AlterPartitionReassignments(ctx, map[TopicPartition]*NewPartitionReassignment{p0: {TargetReplicas: []int32{o2, o1, victim}}})
	if err != nil || alt[p0] != nil {
		t.Fatalf("reorder: %v %v", alt, err)
	}
	waitNoReassignments(t, a, p0)
	waitFor("p0 reordered", func() bool { return slices.Equal(partition(p0).Replicas, []int32{o2, o1, victim}) })
	waitFor("p0 in sync after the reorder", func() bool { return len(partition(p0).InSyncReplicas) == 3 })
	el, err = a.ElectLeaders(ctx, ElectionPreferred, []TopicPartition{p0})
	if err != nil || el[p0] != nil {
		t.Fatalf("preferred election after the reorder: %v %v", el, err)
	}
	waitFor("o2 leading p0", func() bool { l := partition(p0).Leader; return l != nil && l.ID == o2 })
	el, err = a.ElectLeaders(ctx, ElectionPreferred, []TopicPartition{p0})
	if err != nil || !errors.Is(el[p0], kerr.ElectionNotNeeded) {
		t.Errorf("second preferred election: %v %v", el, err)
	}

	for _, bad := range [][]int32{{o1, o1, o2}, {o1, 99}, {}} {
		alt, err := a.AlterPartitionReassignments(ctx, map[TopicPartition]*NewPartitionReassignment{p1: {TargetReplicas: bad}})
		if err != nil || !errors.Is(alt[p1], kerr.InvalidReplicaAssignment) {
			t.Errorf("replicas %v: %v %v", bad, alt, err)
		}
	}
	alt, err = a.AlterPartitionReassignments(ctx, map[TopicPartition]*NewPartitionReassignment{{"moves", 5}: {TargetReplicas: []int32{o1}}})
	if err != nil || !errors.Is(alt[TopicPartition{"moves", 5}], kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown partition: %v %v", alt, err)
	}

	// With the victim dead (but still registered), a reassignment that
	// adds it stays in progress.
	servers[victim-1].kill()
	alt, err = a.AlterPartitionReassignments(ctx, map[TopicPartition]*NewPartitionReassignment{p1: {TargetReplicas: []int32{o1, o2, victim}}})
	if err != nil || alt[p1] != nil {
		t.Fatalf("reassignment to a dead broker: %v %v", alt, err)
	}
	want := PartitionReassignment{Replicas: []int32{o1, o2, victim}, AddingReplicas: []int32{victim}}
	for _, tps := range [][]TopicPartition{{p1}, nil} {
		list, err := a.ListPartitionReassignments(ctx, tps...)
		got := list[p1]
		if err != nil || !slices.Equal(got.Replicas, want.Replicas) || !slices.Equal(got.AddingReplicas, want.AddingReplicas) || len(got.RemovingReplicas) != 0 {
			t.Errorf("list %v: %+v %v, want %+v", tps, list, err, want)
		}
	}
	alt, err = a.AlterPartitionReassignments(ctx, map[TopicPartition]*NewPartitionReassignment{p1: nil})
	if err != nil || alt[p1] != nil {
		t.Fatalf("cancel: %v %v", alt, err)
	}
	waitNoReassignments(t, a)
	waitFor("p1 back to its replicas", func() bool { return slices.Equal(partition(p1).Replicas, []int32{o1, o2}) })

	// The dead broker's log dirs fail on their own, once the call's time
	// is up; the others are answered.
	dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
	defer dcancel()
	dirs, err := a.DescribeLogDirs(dctx)
	if dirs[o1].Err != nil || dirs[o2].Err != nil || dirs[victim].Err == nil || err == nil {
		t.Errorf("log dirs with a dead broker: %+v %v", dirs, err)
	}
}

// startSamsaBrokers starts n `samsa serve` processes, node ids 1..n, as
// one cluster: brokers 1-3 (or all, if fewer) embed the etcd voters. In
// props, {id} stands for each broker's node id.
func startSamsaBrokers(t *testing.T, n int, props ...string) []*samsaServer {
	t.Helper()
	bin := samsaBinary(t)
	voterPorts := testport.FreePairs(t, min(n, 3), 1)
	var voters []string
	for i, p := range voterPorts {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, p))
	}
	ports := testport.Free(t, n)
	var servers []*samsaServer
	for i := range n {
		s := &samsaServer{bin: bin, addr: "127.0.0.1:" + strconv.Itoa(ports[i]), dir: t.TempDir(),
			props: []string{"node.id=" + strconv.Itoa(i+1), "controller.quorum.voters=" + strings.Join(voters, ","),
				"etcd.client.port.offset=1", "etcd.unsafe.no.fsync=true", "num.partitions=3",
				"group.initial.rebalance.delay.ms=0"}}
		for _, p := range props {
			s.props = append(s.props, strings.ReplaceAll(p, "{id}", strconv.Itoa(i+1)))
		}
		servers = append(servers, s)
		t.Cleanup(s.kill)
	}
	// The voters wait for each other's quorum: start them all, then
	// wait for each to see every broker.
	for _, s := range servers {
		s.launch(t)
	}
	for _, s := range servers {
		for deadline := time.Now().Add(30 * time.Second); !s.seesBrokers(n); time.Sleep(50 * time.Millisecond) {
			select {
			case err := <-s.exited:
				s.exited <- err
				t.Fatalf("samsa serve exited at start (%v): %s", err, s.log)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("samsa serve on %s does not see %d brokers: %s", s.addr, n, s.log)
			}
		}
	}
	return servers
}

// launch starts the process without waiting for it to serve.
func (s *samsaServer) launch(t *testing.T) {
	t.Helper()
	args := []string{"serve", "--listeners=PLAINTEXT://" + s.addr, "--log.dirs=" + s.dir, "--log-level=warn"}
	for _, p := range s.props {
		args = append(args, "--override", p)
	}
	s.cmd = exec.Command(s.bin, args...)
	s.log = &strings.Builder{}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, ch chan error) { ch <- cmd.Wait() }(s.cmd, s.exited)
}

// seesBrokers reports whether the broker answers Metadata with a
// controller and n brokers.
func (s *samsaServer) seesBrokers(n int) bool {
	conn, err := net.DialTimeout("tcp", s.addr, time.Second)
	if err != nil {
		return false // not listening yet: no client to make
	}
	conn.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.addr), kgo.RetryTimeout(time.Second))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err == nil && resp.ControllerID >= 0 && len(resp.Brokers) == n
}

// TestAdminUnsupportedAPIs checks that every admin call of an API the
// broker does not serve fails at once with ErrUnsupportedVersion naming
// the API, rather than hanging or retrying.
func TestAdminUnsupportedAPIs(t *testing.T) {
	checkLeaks(t)
	vs := kversion.Stable()
	for _, k := range []kmsg.Key{kmsg.AlterConfigs, kmsg.DescribeLogDirs, kmsg.ElectLeaders, kmsg.AlterPartitionAssignments,
		kmsg.ListPartitionReassignments, kmsg.DescribeProducers, kmsg.DescribeTransactions, kmsg.ListTransactions,
		kmsg.CreateTopics, kmsg.DeleteTopics, kmsg.CreatePartitions, kmsg.DescribeConfigs, kmsg.IncrementalAlterConfigs,
		kmsg.DeleteRecords, kmsg.ListGroups, kmsg.DeleteGroups, kmsg.OffsetDelete} {
		vs.SetMaxKeyVersion(int16(k), -1)
	}
	fc := newFake(t, kfake.NumBrokers(1), kfake.MaxVersions(vs), kfake.SeedTopics(1, "old"))
	a := startAdmin(t, fc.ListenAddrs())
	tp := TopicPartition{"old", 0}
	calls := []struct {
		api string
		run func(ctx context.Context) error
	}{
		{"AlterConfigs", func(ctx context.Context) error {
			_, err := a.AlterConfigs(ctx, false, map[ConfigResource]map[string]string{{ConfigResourceTopic, "old"}: {}})
			return err
		}},
		{"DescribeLogDirs", func(ctx context.Context) error { _, err := a.DescribeLogDirs(ctx); return err }},
		{"ElectLeaders", func(ctx context.Context) error {
			_, err := a.ElectLeaders(ctx, ElectionPreferred, []TopicPartition{tp})
			return err
		}},
		{"AlterPartitionAssignments", func(ctx context.Context) error {
			_, err := a.AlterPartitionReassignments(ctx, map[TopicPartition]*NewPartitionReassignment{tp: nil})
			return err
		}},
		{"ListPartitionReassignments", func(ctx context.Context) error { _, err := a.ListPartitionReassignments(ctx); return err }},
		{"DescribeProducers", func(ctx context.Context) error { _, err := a.DescribeProducers(ctx, tp); return err }},
		{"DescribeTransactions", func(ctx context.Context) error { _, err := a.DescribeTransactions(ctx, "some-id"); return err }},
		{"ListTransactions", func(ctx context.Context) error {
			_, err := a.ListTransactions(ctx, ListTransactionsFilter{})
			return err
		}},
		{"CreateTopics", func(ctx context.Context) error {
			_, err := a.CreateTopics(ctx, false, NewTopic{Name: "new"})
			return err
		}},
		{"DeleteTopics", func(ctx context.Context) error { _, err := a.DeleteTopics(ctx, "old"); return err }},
		{"CreatePartitions", func(ctx context.Context) error {
			_, err := a.CreatePartitions(ctx, false, map[string]int32{"old": 2})
			return err
		}},
		{"DescribeConfigs", func(ctx context.Context) error {
			_, err := a.DescribeConfigs(ctx, ConfigResource{ConfigResourceTopic, "old"})
			return err
		}},
		{"IncrementalAlterConfigs", func(ctx context.Context) error {
			_, err := a.IncrementalAlterConfigs(ctx, false, map[ConfigResource][]AlterConfigOp{{ConfigResourceTopic, "old"}: nil})
			return err
		}},
		{"DeleteRecords", func(ctx context.Context) error {
			_, err := a.DeleteRecords(ctx, map[TopicPartition]int64{tp: 0})
			return err
		}},
		{"ListGroups", func(ctx context.Context) error { _, err := a.ListConsumerGroups(ctx); return err }},
		{"DeleteGroups", func(ctx context.Context) error { _, err := a.DeleteConsumerGroups(ctx, "g"); return err }},
		{"OffsetDelete", func(ctx context.Context) error { _, err := a.DeleteConsumerGroupOffsets(ctx, "g", tp); return err }},
	}
	for _, c := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		err := c.run(ctx)
		cancel()
		if !errors.Is(err, ErrUnsupportedVersion) || !strings.Contains(err.Error(), c.api) {
			t.Errorf("%s: %v", c.api, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: failed after %v", c.api, d)
		}
	}
}
