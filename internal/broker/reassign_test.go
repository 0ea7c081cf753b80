package broker_test

// Partition reassignment (AlterPartitionReassignments,
// ListPartitionReassignments) and leader elections on request
// (ElectLeaders) across three in-process brokers.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
)

// createAssigned creates a topic whose partition i has the replicas
// assignment[i], and waits until every broker sees it.
func createAssigned(t *testing.T, c *brokertest.Cluster, topic string, assignment ...[]int32) {
	t.Helper()
	ctx := testContext(t, time.Minute)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, replicas := range assignment {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(i), replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, newKgo(t, c.Brokers[0].Addr()))
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	for _, b := range c.Brokers {
		waitMetadata(t, b.Addr(), topic, "the new topic", func(mt kmsg.MetadataResponseTopic) bool {
			for _, p := range mt.Partitions {
				if p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
					return false
				}
			}
			return true
		})
	}
}

// listAllReassignments lists every reassignment in progress (a null topic
// list, which kadm does not send).
func listAllReassignments(ctx context.Context, t *testing.T, cl *kgo.Client) []kmsg.ListPartitionReassignmentsResponseTopic {
	t.Helper()
	resp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatal(err)
	}
	return resp.Topics
}

// assign reassigns partitions of one topic (nil replicas cancel) and
// returns each partition's error.
func assign(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, replicas map[int32][]int32) map[int32]error {
	t.Helper()
	var req kadm.AlterPartitionAssignmentsReq
	for p, r := range replicas {
		req.Assign(topic, p, r)
	}
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]error{}
	for p, r := range resp[topic] {
		out[p] = r.Err
		if r.Err != nil {
			t.Logf("reassign %s-%d to %v: %v: %s", topic, p, replicas[p], r.Err, r.ErrMessage)
		}
	}
	if len(out) != len(replicas) {
		t.Fatalf("reassign %v: answered %v", replicas, resp)
	}
	return out
}

// Moving a partition from brokers [1 2] to [2 3] while an acks=all
// producer writes to it: the new replica catches up, the controller
// completes the move and moves the leadership off broker 1, broker 1
// deletes its replica, and no acknowledged record is lost.
func TestReassignMoveUnderLoad(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	const topic = "moved"
	createAssigned(t, c, topic, []int32{1, 2})
	if p := metadataPartition(t, c.Brokers[1].Addr(), topic, 0); p.Leader != 1 {
		t.Fatalf("leader %d, want the preferred replica 1", p.Leader)
	}

	// The producer learns of the new leader from Metadata as soon as the
	// old one refuses it, not after kgo's default 5 s.
	p := newKgo(t, c.Brokers[1].Addr(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(time.Millisecond), kgo.MetadataMinAge(50*time.Millisecond))
	var mu sync.Mutex
	var acked []string
	var lastAck, maxGapAt time.Time
	var maxGap time.Duration
	var failed atomic.Int64
	var firstErr atomic.Value
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				p.Flush(ctx)
				return
			default:
			}
			p.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}, func(r *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				mu.Lock()
				acked = append(acked, string(r.Value))
				if now := time.Now(); !lastAck.IsZero() && now.Sub(lastAck) > maxGap {
					maxGap, maxGapAt = now.Sub(lastAck), now
				}
				lastAck = time.Now()
				mu.Unlock()
			})
			time.Sleep(500 * time.Microsecond)
		}
	}()
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	for ackedCount() < 200 {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d records acknowledged before the move", ackedCount())

	adm := newAdmin(t, c.Brokers[1].Addr())
	start := time.Now()
	if errs := assign(ctx, t, adm, topic, map[int32][]int32{0: {2, 3}}); errs[0] != nil {
		t.Fatalf("reassign: %v", errs[0])
	}
	for _, b := range c.Brokers {
		waitMetadata(t, b.Addr(), topic, "the move completed", func(mt kmsg.MetadataResponseTopic) bool {
			p := mt.Partitions[0]
			return slices.Equal(p.Replicas, []int32{2, 3}) && slices.Equal(p.ISR, []int32{2, 3}) && p.Leader == 2
		})
	}
	t.Logf("reassignment completed in %v with %d records acknowledged", time.Since(start), ackedCount())
	// Keep writing to the new replicas for a moment.
	for n := ackedCount(); ackedCount() < n+200; {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	<-done
	t.Logf("producer stopped after %v; longest gap between acks %v, ending %v after the reassignment", time.Since(start), maxGap, maxGapAt.Sub(start))
	if n := failed.Load(); n > 0 {
		t.Errorf("%d produces failed (first: %v)", n, firstErr.Load())
	}

	// Broker 1 no longer holds the partition: its log directory is gone.
	dir := filepath.Join(c.Broker(1).Dir, topic+"-0")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists", dir)
		}
	}
	// The new replica has every acknowledged record, as does the other.
	mu.Lock()
	defer mu.Unlock()
	for _, id := range []int32{2, 3} {
		have := map[string]bool{}
		for _, v := range replicaValues(t, c.Broker(id), topic, 0) {
			have[v] = true
		}
		missing := 0
		for _, v := range acked {
			if !have[v] {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("broker %d lacks %d of %d acknowledged records", id, missing, len(acked))
		}
	}
	if got := listAllReassignments(ctx, t, p); len(got) != 0 {
		t.Errorf("reassignments still listed: %+v", got)
	}
	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil || len(listed) != 0 {
		t.Errorf("ListPartitionReassignments of %s: %v %v", topic, listed, err)
	}
}

// A reassignment to a broker that cannot catch up stays in progress, is
// listed and shown in Metadata with every replica, and cancelling it
// brings back the original replicas.
func TestReassignCancel(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3)
	ctx := testContext(t, time.Minute)
	// Admin requests go to the controller: stop a broker that is not it,
	// and keep the partition on the other two.
	ctrl := clusterMetadata(t, c.Brokers[0].Addr(), "").ControllerID
	var others []int32
	for _, b := range c.Brokers {
		if b.NodeID() != ctrl {
			others = append(others, b.NodeID())
		}
	}
	keep, stopped := others[0], others[1]
	const topic = "cancelled"
	createAssigned(t, c, topic, []int32{ctrl, keep})
	cl := newKgo(t, c.Broker(ctrl).Addr())
	adm := kadm.NewClient(cl)
	if err := produceOne(ctx, t, c.Broker(ctrl).Addr(), topic); err != nil {
		t.Fatal(err)
	}
	// A halted broker stays registered until its session times out, but
	// fetches nothing.
	if err := c.Broker(stopped).Halt(); err != nil {
		t.Fatal(err)
	}
	target := []int32{stopped, ctrl}
	if errs := assign(ctx, t, adm, topic, map[int32][]int32{0: target}); errs[0] != nil {
		t.Fatalf("reassign: %v", errs[0])
	}
	wantReplicas := []int32{stopped, ctrl, keep}
	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	got := listed[topic][0]
	if !slices.Equal(got.Replicas, wantReplicas) || !slices.Equal(got.AddingReplicas, []int32{stopped}) ||
		!slices.Equal(got.RemovingReplicas, []int32{keep}) {
		t.Fatalf("listed %+v, want replicas %v adding [%d] removing [%d]", got, wantReplicas, stopped, keep)
	}
	if all := listAllReassignments(ctx, t, cl); len(all) != 1 || all[0].Topic != topic {
		t.Errorf("all reassignments: %+v", all)
	}
	// The broker that made the change answered once it applied it; the
	// others follow.
	mp := metadataPartition(t, c.Broker(ctrl).Addr(), topic, 0)
	if !slices.Equal(mp.Replicas, wantReplicas) || mp.Leader != ctrl {
		t.Errorf("metadata during the reassignment: replicas %v leader %d, want %v led by %d", mp.Replicas, mp.Leader, wantReplicas, ctrl)
	}
	waitMetadata(t, c.Broker(keep).Addr(), topic, "every replica", func(mt kmsg.MetadataResponseTopic) bool {
		return slices.Equal(mt.Partitions[0].Replicas, wantReplicas)
	})

	if errs := assign(ctx, t, adm, topic, map[int32][]int32{0: nil}); errs[0] != nil {
		t.Fatalf("cancel: %v", errs[0])
	}
	listed, err = adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil || len(listed) != 0 {
		t.Errorf("listed after the cancel: %v %v", listed, err)
	}
	for _, id := range []int32{ctrl, keep} {
		waitMetadata(t, c.Broker(id).Addr(), topic, "the original replicas", func(mt kmsg.MetadataResponseTopic) bool {
			p := mt.Partitions[0]
			return len(p.Replicas) == 2 && !slices.Contains(p.Replicas, stopped) && p.Leader == ctrl
		})
	}
	if errs := assign(ctx, t, adm, topic, map[int32][]int32{0: nil}); !errors.Is(errs[0], kerr.NoReassignmentInProgress) {
		t.Errorf("second cancel: %v, want NO_REASSIGNMENT_IN_PROGRESS", errs[0])
	}
	if err := produceOne(ctx, t, c.Broker(ctrl).Addr(), topic); err != nil {
		t.Errorf("produce after the cancel: %v", err)
	}
}

// produceOne produces one acks=all record to partition 0 of topic.
func produceOne(ctx context.Context, t *testing.T, addr, topic string) error {
	cl := newKgo(t, addr, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("one")}).FirstErr()
}

// With auto.leader.rebalance.enable=false, a restarted broker does not
// get its leadership back by itself; a preferred election gives it back,
// and a second one is not needed.
func TestElectPreferredLeader(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3, "auto.leader.rebalance.enable=false")
	ctx := testContext(t, time.Minute)
	const topic = "preferred"
	createAssigned(t, c, topic, []int32{1, 2, 3})
	adm := newAdmin(t, c.Brokers[1].Addr())
	elect := func(how kadm.ElectLeadersHow) kadm.ElectLeadersResult {
		t.Helper()
		res, err := adm.ElectLeaders(ctx, how, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatal(err)
		}
		r, ok := res[topic][0]
		if !ok {
			t.Fatalf("no result for %s-0: %+v", topic, res)
		}
		return r
	}

	b1 := c.Broker(1)
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	waitMetadata(t, c.Brokers[1].Addr(), topic, "a new leader", func(mt kmsg.MetadataResponseTopic) bool {
		p := mt.Partitions[0]
		return p.Leader > 1 && !slices.Contains(p.ISR, 1)
	})
	if r := elect(kadm.ElectPreferredReplica); !errors.Is(r.Err, kerr.PreferredLeaderNotAvailable) {
		t.Errorf("preferred election with the preferred replica down: %v", r.Err)
	}
	if r := elect(kadm.ElectLiveReplica); !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Errorf("unclean election with a live leader: %v", r.Err)
	}

	b1.StartAgain()
	mt := waitMetadata(t, c.Brokers[1].Addr(), topic, "broker 1 back in the ISR", func(mt kmsg.MetadataResponseTopic) bool {
		return slices.Contains(mt.Partitions[0].ISR, 1)
	})
	if mt.Partitions[0].Leader == 1 {
		t.Fatal("broker 1 leads again without an election")
	}
	if r := elect(kadm.ElectPreferredReplica); r.Err != nil {
		t.Fatalf("preferred election: %v (%s)", r.Err, r.ErrMessage)
	}
	for _, b := range c.Brokers {
		waitMetadata(t, b.Addr(), topic, "broker 1 leading", func(mt kmsg.MetadataResponseTopic) bool {
			return mt.Partitions[0].Leader == 1
		})
	}
	if err := produceOne(ctx, t, c.Brokers[2].Addr(), topic); err != nil {
		t.Errorf("produce after the election: %v", err)
	}
	if r := elect(kadm.ElectPreferredReplica); !errors.Is(r.Err, kerr.ElectionNotNeeded) {
		t.Errorf("second preferred election: %v", r.Err)
	}
	// Electing for every partition leaves out those that need none.
	all, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatal(err)
	}
	for tn, ps := range all {
		for p, r := range ps {
			if errors.Is(r.Err, kerr.ElectionNotNeeded) || tn == topic {
				t.Errorf("election for all partitions answered %s-%d: %v", tn, p, r.Err)
			}
		}
	}
}

// Bad reassignments are refused, each partition on its own, and a valid
// one in the same request is made.
func TestReassignErrors(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3)
	ctx := testContext(t, time.Minute)
	const topic = "errs"
	createAssigned(t, c, topic, []int32{1, 2}, []int32{2, 3}, []int32{3, 1}, []int32{1, 3}, []int32{2, 1})
	adm := newAdmin(t, c.Brokers[0].Addr())
	errs := assign(ctx, t, adm, topic, map[int32][]int32{
		0: {1, 9},    // unknown broker
		1: {2, 2},    // duplicate
		2: {},        // empty
		3: nil,       // cancel without a reassignment
		4: {1, 2},    // valid: a new order
		7: {1, 2, 3}, // no such partition
	})
	want := map[int32]error{0: kerr.InvalidReplicaAssignment, 1: kerr.InvalidReplicaAssignment,
		2: kerr.InvalidReplicaAssignment, 3: kerr.NoReassignmentInProgress, 4: nil, 7: kerr.UnknownTopicOrPartition}
	for p, w := range want {
		if !errors.Is(errs[p], w) && errs[p] != w {
			t.Errorf("partition %d: %v, want %v", p, errs[p], w)
		}
	}
	mt := waitMetadata(t, c.Brokers[0].Addr(), topic, "partition 4 reordered", func(mt kmsg.MetadataResponseTopic) bool {
		return slices.Equal(mt.Partitions[4].Replicas, []int32{1, 2})
	})
	for p, r := range [][]int32{{1, 2}, {2, 3}, {3, 1}, {1, 3}} {
		if !slices.Equal(mt.Partitions[p].Replicas, r) {
			t.Errorf("partition %d changed: %v", p, mt.Partitions[p].Replicas)
		}
	}
	resp, err := adm.AlterPartitionAssignments(ctx, kadm.AlterPartitionAssignmentsReq{"nosuch": {0: {1}}})
	if err != nil || !errors.Is(resp["nosuch"][0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown topic: %v %+v", err, resp)
	}

	// v1 without allow_replication_factor_change (KIP-860).
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.AllowReplicationFactorChange = false
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = 0, []int32{1, 2, 3}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	v1 := rawRequest(t, c.Brokers[0].Addr(), req, 1).(*kmsg.AlterPartitionAssignmentsResponse)
	if len(v1.Topics) != 1 || len(v1.Topics[0].Partitions) != 1 || v1.Topics[0].Partitions[0].ErrorCode != kerr.InvalidReplicationFactor.Code {
		t.Errorf("replication factor change refused: %+v", v1.Topics)
	}

	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"nosuch": {0: {}}, topic: {9: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res["nosuch"][0].Err, kerr.UnknownTopicOrPartition) || !errors.Is(res[topic][9].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("elections of unknown partitions: %+v", res)
	}
	// v0 has no election type and no top-level error code; v1 refuses an
	// unknown election type.
	ereq := kmsg.NewPtrElectLeadersRequest()
	ert := kmsg.NewElectLeadersRequestTopic()
	ert.Topic, ert.Partitions = topic, []int32{0, 9}
	ereq.Topics = append(ereq.Topics, ert)
	v0 := rawRequest(t, c.Brokers[0].Addr(), ereq, 0).(*kmsg.ElectLeadersResponse)
	if len(v0.Topics) != 1 || len(v0.Topics[0].Partitions) != 2 ||
		v0.Topics[0].Partitions[0].ErrorCode != kerr.ElectionNotNeeded.Code ||
		v0.Topics[0].Partitions[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("ElectLeaders v0: %+v", v0.Topics)
	}
	ereq.ElectionType = 5
	if bad := rawRequest(t, c.Brokers[0].Addr(), ereq, 1).(*kmsg.ElectLeadersResponse); bad.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("ElectLeaders with election type 5: error %d", bad.ErrorCode)
	}

	listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"nosuch": {0: {}}, topic: {0: {}, 9: {}}})
	if err != nil || len(listed) != 0 {
		t.Errorf("listed unknown or idle partitions: %v %v", listed, err)
	}
}
