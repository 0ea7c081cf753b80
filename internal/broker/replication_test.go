package broker_test

// Replication across three in-process brokers: acks=all, the high
// watermark, the ISR, leader changes and follower truncation.

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/internal/clustertest"
)

// createReplicated creates a topic with replication factor rf through
// broker 1 and waits until every broker sees its leaders.
func createReplicated(t *testing.T, c *brokertest.Cluster, topic string, partitions int32, rf int16, configs map[string]*string) kmsg.MetadataResponseTopic {
	t.Helper()
	ctx := testContext(t, time.Minute)
	resp, err := newAdmin(t, c.Brokers[0].Addr()).CreateTopic(ctx, partitions, rf, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v (%s)", topic, err, resp.ErrMessage)
	}
	var mt kmsg.MetadataResponseTopic
	for _, b := range c.Brokers {
		mt = waitMetadata(t, b.Addr(), topic, "the new topic", func(kmsg.MetadataResponseTopic) bool { return true })
	}
	return mt
}

func TestReplicationAcksAll(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	const topic = "replicated"
	mt := createReplicated(t, c, topic, 3, 3, map[string]*string{"min.insync.replicas": strp("2")})
	for _, p := range mt.Partitions {
		if len(p.Replicas) != 3 || len(p.ISR) != 3 {
			t.Fatalf("partition %d: replicas %v isr %v", p.Partition, p.Replicas, p.ISR)
		}
	}
	cl := newKgo(t, c.Brokers[0].Addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	start := time.Now()
	const n = 200
	for i := range n {
		r := &kgo.Record{Partition: int32(i % 3), Value: fmt.Appendf(nil, "r%d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %d: %v", i, err)
		}
	}
	t.Logf("%d acks=all produces, one at a time, in %v", n, time.Since(start))
	// Every replica has every record, identical to the leader's.
	for part := range int32(3) {
		var logs [][]string
		for _, b := range c.Brokers {
			logs = append(logs, replicaValues(t, b, topic, part))
		}
		if len(logs[0]) != n/3+boolInt(part < n%3) || !slices.Equal(logs[0], logs[1]) || !slices.Equal(logs[0], logs[2]) {
			t.Errorf("partition %d: replicas differ: %d/%d/%d records", part, len(logs[0]), len(logs[1]), len(logs[2]))
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// replicaValues reads a partition from broker b's own log directory.
func replicaValues(t *testing.T, b *brokertest.Broker, topic string, partition int32) []string {
	t.Helper()
	var out []string
	for _, r := range readLogDir(t, b.Dir, topic, partition) {
		out = append(out, string(r.Value))
	}
	return out
}

// metadataPartition returns one partition of a topic as broker addr sees
// it.
func metadataPartition(t *testing.T, addr, topic string, partition int32) kmsg.MetadataResponseTopicPartition {
	t.Helper()
	resp := clusterMetadata(t, addr, topic)
	if len(resp.Topics) != 1 || int(partition) >= len(resp.Topics[0].Partitions) {
		t.Fatalf("metadata of %s: %+v", topic, resp.Topics)
	}
	return resp.Topics[0].Partitions[partition]
}

// A follower that stops fetching leaves the ISR after
// replica.lag.time.max.ms, and acks=all writes go on without it; once it
// is back and has caught up it rejoins the ISR.
func TestReplicationISRShrinkAndExpand(t *testing.T) {
	t.Parallel()
	// Caught-up followers long-poll for up to replica.fetch.wait.max.ms:
	// their last fetch was at most that long before they stopped.
	c := brokertest.StartCluster(t, 3, "replica.lag.time.max.ms=1000", "replica.fetch.wait.max.ms=100")
	ctx := testContext(t, 2*time.Minute)
	const topic = "isr"
	mt := createReplicated(t, c, topic, 1, 3, nil)
	leader := mt.Partitions[0].Leader
	var follower *brokertest.Broker
	for _, b := range c.Brokers {
		if b.NodeID() != leader {
			follower = b
			break
		}
	}
	cl := newKgo(t, c.Broker(leader).Addr(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("all three")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A halted broker stays registered (its session has not expired), so
	// only its leader can tell that it stopped fetching.
	halted := time.Now()
	if err := follower.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("two of three")}).FirstErr(); err != nil {
		t.Fatalf("acks=all with a follower gone: %v", err)
	}
	t.Logf("acks=all answered %v after a follower stopped", time.Since(halted))
	// The leader applied its ISR change as etcd answered; its metadata
	// shows it once the watch delivers it.
	waitMetadata(t, c.Broker(leader).Addr(), topic, "the ISR without the stopped follower", func(mt kmsg.MetadataResponseTopic) bool {
		isr := mt.Partitions[0].ISR
		return len(isr) == 2 && !slices.Contains(isr, follower.NodeID())
	})
	if since := time.Since(halted); since < 900*time.Millisecond {
		t.Errorf("the ISR shrank %v after the follower stopped, before replica.lag.time.max.ms (1s) less its last fetch's wait (100ms)", since)
	}

	follower.StartAgain()
	waitMetadata(t, c.Broker(leader).Addr(), topic, "the follower back in the ISR", func(mt kmsg.MetadataResponseTopic) bool {
		return slices.Contains(mt.Partitions[0].ISR, follower.NodeID())
	})
	if got := replicaValues(t, follower, topic, 0); !slices.Equal(got, []string{"all three", "two of three"}) {
		t.Errorf("the returning follower's log: %q", got)
	}
}

// With the in-sync replicas fewer than min.insync.replicas, acks=all
// writes are refused with NOT_ENOUGH_REPLICAS and nothing is appended,
// while committed records stay readable and acks=1 writes go on.
func TestReplicationNotEnoughReplicas(t *testing.T) {
	t.Parallel()
	// Brokers 4 and 5 embed no etcd member, so stopping them leaves the
	// metadata store its quorum.
	c := brokertest.StartCluster(t, 5)
	ctx := testContext(t, 2*time.Minute)
	const topic = "min-isr"
	adm := newAdmin(t, c.Brokers[0].Addr())
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 4, 5}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	rc := kmsg.NewCreateTopicsRequestTopicConfig()
	rc.Name, rc.Value = "min.insync.replicas", strp("2")
	rt.Configs = append(rt.Configs, rc)
	req.Topics = append(req.Topics, rt)
	if resp := rawRequest(t, c.Brokers[0].Addr(), req, 7).(*kmsg.CreateTopicsResponse); resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	_ = adm
	waitMetadata(t, c.Brokers[0].Addr(), topic, "leader 1", func(mt kmsg.MetadataResponseTopic) bool { return mt.Partitions[0].Leader == 1 })
	cl := newKgo(t, c.Brokers[0].Addr(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("committed")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int32{4, 5} {
		if err := c.Broker(id).Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitMetadata(t, c.Brokers[0].Addr(), topic, "ISR [1]", func(mt kmsg.MetadataResponseTopic) bool {
		return slices.Equal(mt.Partitions[0].ISR, []int32{1})
	})
	if code := produceCode(t, c.Brokers[0].Addr(), topic, 0); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with ISR [1] and min.insync.replicas=2: %v", kerr.ErrorForCode(code))
	}
	acks1 := newKgo(t, c.Brokers[0].Addr(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := acks1.ProduceSync(ctx, &kgo.Record{Value: []byte("acks=1")}).FirstErr(); err != nil {
		t.Fatalf("acks=1: %v", err)
	}
	if got := replicaValues(t, c.Brokers[0], topic, 0); !slices.Equal(got, []string{"committed", "acks=1"}) {
		t.Errorf("the leader's log holds %q: a refused acks=all write was appended", got)
	}
	consumer := newKgo(t, c.Brokers[0].Addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var values []string
	for len(values) < 2 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	if !slices.Equal(values, []string{"committed", "acks=1"}) {
		t.Errorf("consumed %q", values)
	}
}

// A follower whose log diverged from its new leader's (it held records
// only its old leader had, lost in an unclean election) truncates to
// where they agree, found with OffsetForLeaderEpoch, and copies the new
// leader's records after that point.
func TestReplicationFollowerTruncatesDivergentLog(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	const topic = "diverge"
	adm := newAdmin(t, c.Brokers[0].Addr())
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{2, 3}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	rc := kmsg.NewCreateTopicsRequestTopicConfig()
	rc.Name, rc.Value = "unclean.leader.election.enable", strp("true")
	rt.Configs = append(rt.Configs, rc)
	req.Topics = append(req.Topics, rt)
	if resp := rawRequest(t, c.Brokers[0].Addr(), req, 7).(*kmsg.CreateTopicsResponse); resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	_ = adm
	waitMetadata(t, c.Brokers[0].Addr(), topic, "leader 2", func(mt kmsg.MetadataResponseTopic) bool { return mt.Partitions[0].Leader == 2 })
	b2, b3 := c.Broker(2), c.Broker(3)
	seed := c.Brokers[0].Addr()
	produce := func(value string, acks kgo.Acks) {
		t.Helper()
		cl := newKgo(t, seed, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite())
		defer cl.Close()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(value)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", value, err)
		}
	}
	produce("m1", kgo.AllISRAcks())
	// Broker 3 leaves: the ISR is [2], and 2 takes m2 and m3 alone.
	if err := b3.Close(); err != nil {
		t.Fatal(err)
	}
	waitMetadata(t, seed, topic, "ISR [2]", func(mt kmsg.MetadataResponseTopic) bool { return slices.Equal(mt.Partitions[0].ISR, []int32{2}) })
	produce("m2", kgo.AllISRAcks())
	produce("m3", kgo.AllISRAcks())
	// Broker 2 leaves, broker 3 returns and is elected uncleanly: it
	// never had m2 and m3.
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	b3.StartAgain()
	waitMetadata(t, seed, topic, "broker 3 elected", func(mt kmsg.MetadataResponseTopic) bool { return mt.Partitions[0].Leader == 3 })
	produce("m4", kgo.AllISRAcks())
	// Broker 2 returns as a follower with m2 and m3 that its leader never
	// had: it must end up with the leader's log.
	b2.StartAgain()
	waitMetadata(t, seed, topic, "broker 2 back in the ISR", func(mt kmsg.MetadataResponseTopic) bool {
		return slices.Contains(mt.Partitions[0].ISR, 2)
	})
	l2, l3 := readLogDir(t, b2.Dir, topic, 0), readLogDir(t, b3.Dir, topic, 0)
	if !sameLog(l2, l3) || len(l3) != 2 || string(l3[1].Value) != "m4" {
		t.Errorf("after truncation, broker 2 has %s, leader 3 has %s", describeLog(l2), describeLog(l3))
	}
}

// sameLog reports whether two replicas hold the same records at the same
// offsets in the same leader epochs.
func sameLog(a, b []logRecord) bool { return clustertest.SameRecords(a, b) }

func describeLog(l []logRecord) string {
	var out []string
	for _, r := range l {
		out = append(out, fmt.Sprintf("%d:%s@%d", r.Offset, r.Value, r.Epoch))
	}
	return fmt.Sprint(out)
}

// Committed offsets live in the replicated __consumer_offsets: when the
// group's coordinator leaves, the new leader of its partition loads them
// and serves them.
func TestReplicationGroupOffsetsSurviveCoordinatorLoss(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3, "offsets.topic.num.partitions=3")
	ctx := testContext(t, 2*time.Minute)
	const topic, group = "consumed", "survivor"
	createReplicated(t, c, topic, 1, 3, nil)
	adm := newAdmin(t, c.Brokers[0].Addr())
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: 42, LeaderEpoch: -1})
	if resps, err := adm.CommitOffsets(ctx, group, offsets); err != nil || resps.Error() != nil {
		t.Fatalf("commit: %v %v", err, resps.Error())
	}
	coordinator := func(addr string) int32 {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = group
		resp := rawRequest(t, addr, req, 3).(*kmsg.FindCoordinatorResponse)
		if resp.ErrorCode != 0 {
			return -1
		}
		return resp.NodeID
	}
	first := coordinator(c.Brokers[0].Addr())
	mt := waitMetadata(t, c.Brokers[0].Addr(), "__consumer_offsets", "replicated offsets", func(mt kmsg.MetadataResponseTopic) bool {
		for _, p := range mt.Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
	if rf := len(mt.Partitions[0].Replicas); rf != 3 {
		t.Fatalf("__consumer_offsets has %d replicas, want offsets.topic.replication.factor=3", rf)
	}
	if err := c.Broker(first).Close(); err != nil {
		t.Fatal(err)
	}
	var survivor *brokertest.Broker
	for _, b := range c.Brokers {
		if b.NodeID() != first {
			survivor = b
			break
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if next := coordinator(survivor.Addr()); next != -1 && next != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new coordinator within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := newAdmin(t, survivor.Addr()).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := got.Lookup(topic, 0); !ok || o.Err != nil || o.At != 42 {
		t.Fatalf("offset after the coordinator left: %+v (found %v)", o, ok)
	}
}

// Controlled shutdown moves a broker's leaderships away before it stops:
// a producer with default retries sees no error, and nothing it was told
// is written is lost.
func TestReplicationControlledShutdown(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	const topic = "handover"
	createReplicated(t, c, topic, 3, 3, map[string]*string{"min.insync.replicas": strp("2")})
	survivor := c.Brokers[1].Addr()
	p := newKgo(t, survivor, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
	stop := make(chan struct{})
	done := make(chan struct{})
	var acked, failed atomic.Int64
	var firstErr atomic.Value
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				p.Flush(ctx)
				return
			default:
			}
			p.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				acked.Add(1)
			})
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	b := c.Brokers[0]
	start := time.Now()
	if err := b.ControlledShutdown(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("controlled shutdown took %v", time.Since(start))
	// The shut-down broker itself has applied the moves; another broker
	// sees them moments later.
	for _, addr := range []string{b.Addr(), survivor} {
		waitMetadata(t, addr, topic, "leaderships moved", func(mt kmsg.MetadataResponseTopic) bool {
			for _, part := range mt.Partitions {
				if part.Leader == b.NodeID() || slices.Contains(part.ISR, b.NodeID()) {
					return false
				}
			}
			return true
		})
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("leaderships moved %v after the controlled shutdown began", elapsed)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	if n := failed.Load(); n > 0 {
		t.Errorf("%d produces failed (first: %v); %d acknowledged", n, firstErr.Load(), acked.Load())
	}
	if acked.Load() == 0 {
		t.Fatal("nothing was acknowledged")
	}
	total := 0
	for part := range int32(3) {
		total += len(replicaValues(t, c.Brokers[1], topic, part))
	}
	if total < int(acked.Load()) {
		t.Errorf("%d records in the survivor's logs, %d acknowledged", total, acked.Load())
	}
}

// A follower so far behind that its leader deleted the records it needs
// (retention, DeleteRecords) gets OFFSET_OUT_OF_RANGE, empties its log and
// starts it again at the leader's log start.
func TestReplicationFollowerBehindLogStart(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	const topic = "behind"
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{2, 3}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	if resp := rawRequest(t, c.Brokers[0].Addr(), req, 7).(*kmsg.CreateTopicsResponse); resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	seed := c.Brokers[0].Addr()
	waitMetadata(t, seed, topic, "leader 2", func(mt kmsg.MetadataResponseTopic) bool { return mt.Partitions[0].Leader == 2 })
	cl := newKgo(t, seed, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 2)
	b3 := c.Broker(3)
	if err := b3.Close(); err != nil {
		t.Fatal(err)
	}
	waitMetadata(t, seed, topic, "ISR [2]", func(mt kmsg.MetadataResponseTopic) bool { return slices.Equal(mt.Partitions[0].ISR, []int32{2}) })
	produce(2, 10)
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: 8})
	if resps, err := newAdmin(t, seed).DeleteRecords(ctx, offsets); err != nil || resps.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, resps.Error())
	}
	b3.StartAgain()
	waitMetadata(t, seed, topic, "broker 3 back in the ISR", func(mt kmsg.MetadataResponseTopic) bool {
		return slices.Contains(mt.Partitions[0].ISR, 3)
	})
	got := readLogDir(t, b3.Dir, topic, 0)
	if len(got) != 2 || got[0].Offset != 8 || string(got[0].Value) != "r8" || string(got[1].Value) != "r9" {
		t.Errorf("the returning follower's log: %s, want r8, r9 at 8 and 9", describeLog(got))
	}
}
