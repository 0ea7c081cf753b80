package broker_test

// Brokers sharing cluster metadata: three in-process brokers, each
// embedding one of three etcd voters.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/internal/record"
)

// clusterMetadata asks broker addr for the metadata of topic (all topics
// if "").
func clusterMetadata(t *testing.T, addr, topic string) *kmsg.MetadataResponse {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	if topic != "" {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = strp(topic)
		req.Topics = append(req.Topics, rt)
	}
	return rawRequest(t, addr, req, 12).(*kmsg.MetadataResponse)
}

// waitMetadata polls broker addr's metadata for topic until cond holds.
func waitMetadata(t *testing.T, addr, topic, what string, cond func(kmsg.MetadataResponseTopic) bool) kmsg.MetadataResponseTopic {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp := clusterMetadata(t, addr, topic)
		if len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 && cond(resp.Topics[0]) {
			return resp.Topics[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited 30s for %s; last metadata %+v", addr, what, resp.Topics)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterMetadataAndPlacement(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3, "offsets.topic.replication.factor=1")
	ctx := testContext(t, 2*time.Minute)

	// Every broker answers with all three brokers, their own listeners,
	// the same cluster id and controller.
	var controller int32 = -1
	for _, b := range c.Brokers {
		resp := clusterMetadata(t, b.Addr(), "")
		if len(resp.Brokers) != 3 {
			t.Fatalf("broker %d lists %d brokers", b.NodeID(), len(resp.Brokers))
		}
		for _, rb := range resp.Brokers {
			if want := c.Broker(rb.NodeID).Addr(); fmt.Sprintf("%s:%d", rb.Host, rb.Port) != want {
				t.Errorf("broker %d advertised as %s:%d, listens on %s", rb.NodeID, rb.Host, rb.Port, want)
			}
		}
		if *resp.ClusterID != c.Brokers[0].ClusterID() || b.ClusterID() != c.Brokers[0].ClusterID() {
			t.Errorf("broker %d: cluster id %s, broker 1 has %s", b.NodeID(), b.ClusterID(), c.Brokers[0].ClusterID())
		}
		if controller == -1 {
			controller = resp.ControllerID
		}
		if resp.ControllerID < 1 || resp.ControllerID > 3 || resp.ControllerID != controller {
			t.Errorf("broker %d names controller %d (another named %d)", b.NodeID(), resp.ControllerID, controller)
		}
	}

	// A topic created through broker 1 is placed over all three brokers;
	// each broker holds exactly the replicas placed on it.
	adm := newAdmin(t, c.Brokers[0].Addr())
	const topic, parts = "spread", 6
	if resp := createTopic(ctx, t, adm, topic, parts, nil); resp.ReplicationFactor != 1 {
		t.Fatalf("replication factor %d", resp.ReplicationFactor)
	}
	// kadm sends CreateTopics to the controller; each broker holds the
	// logs once its metadata shows the topic.
	var mt kmsg.MetadataResponseTopic
	for _, b := range c.Brokers {
		mt = waitMetadata(t, b.Addr(), topic, "the new topic", func(kmsg.MetadataResponseTopic) bool { return true })
	}
	leaders := map[int32]int{}
	for _, p := range mt.Partitions {
		leaders[p.Leader]++
		if len(p.Replicas) != 1 || p.Replicas[0] != p.Leader || !slices.Equal(p.ISR, p.Replicas) {
			t.Errorf("partition %d: %+v", p.Partition, p)
		}
	}
	if len(leaders) != 3 || leaders[1] != 2 || leaders[2] != 2 || leaders[3] != 2 {
		t.Errorf("leaders of 6 partitions over 3 brokers: %v, want 2 each", leaders)
	}
	for _, b := range c.Brokers {
		for _, p := range mt.Partitions {
			_, err := os.Stat(filepath.Join(b.Dir, fmt.Sprintf("%s-%d", topic, p.Partition)))
			if held := err == nil; held != (p.Leader == b.NodeID()) {
				t.Errorf("broker %d holds a log of partition %d: %v; its leader is %d", b.NodeID(), p.Partition, held, p.Leader)
			}
		}
	}

	// kgo finds each partition's leader through any broker.
	cl := newKgo(t, c.Brokers[1].Addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(parts) {
		for i := range 5 {
			r := &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce to partition %d: %v", p, err)
			}
			if r.Offset != int64(i) {
				t.Fatalf("partition %d record %d at offset %d", p, i, r.Offset)
			}
		}
	}
	consumer := newKgo(t, c.Brokers[2].Addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < parts*5 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		got += fs.NumRecords()
	}

	// A broker that does not lead a partition refuses its produce, fetch
	// and list offsets with NOT_LEADER_OR_FOLLOWER; a leader checks the
	// client's leader epoch.
	p0 := mt.Partitions[0]
	var other *brokertest.Broker
	for _, b := range c.Brokers {
		if b.NodeID() != p0.Leader {
			other = b
			break
		}
	}
	leader := c.Broker(p0.Leader)
	if code := listOffsetsCode(t, other.Addr(), topic, p0.Partition, -1); code != kerr.NotLeaderForPartition.Code {
		t.Errorf("ListOffsets to a non-leader: %v", kerr.ErrorForCode(code))
	}
	if code := fetchCode(t, other.Addr(), topic, p0.Partition, -1); code != kerr.NotLeaderForPartition.Code {
		t.Errorf("Fetch from a non-leader: %v", kerr.ErrorForCode(code))
	}
	if code := produceCode(t, other.Addr(), topic, p0.Partition); code != kerr.NotLeaderForPartition.Code {
		t.Errorf("Produce to a non-leader: %v", kerr.ErrorForCode(code))
	}
	for _, tc := range []struct {
		epoch int32
		want  *kerr.Error
	}{{p0.LeaderEpoch + 1, kerr.UnknownLeaderEpoch}, {p0.LeaderEpoch, nil}} {
		if code := fetchCode(t, leader.Addr(), topic, p0.Partition, tc.epoch); code != errCodeOf(tc.want) {
			t.Errorf("Fetch at leader epoch %d (current %d): %v, want %v", tc.epoch, p0.LeaderEpoch, kerr.ErrorForCode(code), tc.want)
		}
		if code := listOffsetsCode(t, leader.Addr(), topic, p0.Partition, tc.epoch); code != errCodeOf(tc.want) {
			t.Errorf("ListOffsets at leader epoch %d (current %d): %v, want %v", tc.epoch, p0.LeaderEpoch, kerr.ErrorForCode(code), tc.want)
		}
	}

	// Producer ids come from one allocator: no two brokers hand out the
	// same.
	seen := map[int64]int32{}
	for range 3 {
		for _, b := range c.Brokers {
			req := kmsg.NewPtrInitProducerIDRequest()
			resp := rawRequest(t, b.Addr(), req, 4).(*kmsg.InitProducerIDResponse)
			if resp.ErrorCode != 0 {
				t.Fatalf("InitProducerId on broker %d: %v", b.NodeID(), kerr.ErrorForCode(resp.ErrorCode))
			}
			if prev, dup := seen[resp.ProducerID]; dup {
				t.Fatalf("producer id %d handed out by brokers %d and %d", resp.ProducerID, prev, b.NodeID())
			}
			seen[resp.ProducerID] = b.NodeID()
		}
	}

	// A group's coordinator is the leader of its __consumer_offsets
	// partition, whichever broker is asked.
	coords := map[int32]bool{}
	for i := range 12 {
		group := fmt.Sprintf("g%d", i)
		var node int32 = -2
		for _, b := range c.Brokers {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey = group
			resp := rawRequest(t, b.Addr(), req, 3).(*kmsg.FindCoordinatorResponse)
			if resp.ErrorCode != 0 {
				t.Fatalf("FindCoordinator %s on broker %d: %v", group, b.NodeID(), kerr.ErrorForCode(resp.ErrorCode))
			}
			if node != -2 && resp.NodeID != node {
				t.Fatalf("group %s: coordinator %d on one broker, %d on another", group, node, resp.NodeID)
			}
			node = resp.NodeID
		}
		coords[node] = true
	}
	if len(coords) < 2 {
		t.Errorf("12 groups all coordinated by %v: __consumer_offsets is not spread", coords)
	}
	// Committing through kgo finds the coordinator and reads it back.
	gcl := newKgo(t, c.Brokers[0].Addr(), kgo.ConsumerGroup("committer"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	gotRecords := 0
	for gotRecords < parts*5 {
		fs := gcl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("group consume: %v", err)
		}
		gotRecords += fs.NumRecords()
	}
	if err := gcl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	offs, err := newAdmin(t, c.Brokers[2].Addr()).FetchOffsets(ctx, "committer")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(parts) {
		if o, ok := offs.Lookup(topic, p); !ok || o.At != 5 {
			t.Errorf("committed offset of partition %d: %+v", p, o)
		}
	}

	// Deleting the topic removes every broker's logs of it.
	if _, err := adm.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, b := range c.Brokers {
		for p := range parts {
			dir := filepath.Join(b.Dir, fmt.Sprintf("%s-%d", topic, p))
			for _, err := os.Stat(dir); err == nil; _, err = os.Stat(dir) {
				if time.Now().After(deadline) {
					t.Fatalf("broker %d still has %s after the topic was deleted", b.NodeID(), dir)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// A broker's clean restart: its single-replica partitions have no leader
// while it is down and get it back, in a new leader epoch, when it
// returns; its data is still there.
func TestClusterBrokerRestart(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3)
	ctx := testContext(t, 2*time.Minute)
	adm := newAdmin(t, c.Brokers[0].Addr())
	const topic = "restart"
	createTopic(ctx, t, adm, topic, 3, nil)
	mt := waitMetadata(t, c.Brokers[0].Addr(), topic, "leaders", func(kmsg.MetadataResponseTopic) bool { return true })
	p := mt.Partitions[0]
	b := c.Broker(p.Leader)
	cl := newKgo(t, c.Brokers[0].Addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p.Partition, Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	observer := c.Brokers[p.Leader%3] // another broker
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitMetadata(t, observer.Addr(), topic, "no leader while the broker is down", func(mt kmsg.MetadataResponseTopic) bool {
		return mt.Partitions[p.Partition].Leader == -1 && mt.Partitions[p.Partition].ErrorCode == kerr.LeaderNotAvailable.Code
	})
	b.StartAgain()
	back := waitMetadata(t, observer.Addr(), topic, "the leader back", func(mt kmsg.MetadataResponseTopic) bool {
		return mt.Partitions[p.Partition].Leader == p.Leader
	})
	if e := back.Partitions[p.Partition].LeaderEpoch; e <= p.LeaderEpoch {
		t.Errorf("leader epoch %d after the restart, %d before", e, p.LeaderEpoch)
	}
	// A client still at the old leader epoch is fenced.
	if code := fetchCode(t, b.Addr(), topic, p.Partition, p.LeaderEpoch); code != kerr.FencedLeaderEpoch.Code {
		t.Errorf("Fetch at the leader epoch before the restart: %v, want FENCED_LEADER_EPOCH", kerr.ErrorForCode(code))
	}
	r := &kgo.Record{Partition: p.Partition, Value: []byte("after")}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r.Offset != 1 {
		t.Errorf("first record after the restart at offset %d, want 1", r.Offset)
	}
}

func errCodeOf(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

func listOffsetsCode(t *testing.T, addr, topic string, partition, epoch int32) int16 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = partition, -1, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rawRequest(t, addr, req, 7).(*kmsg.ListOffsetsResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func fetchCode(t *testing.T, addr, topic string, partition, epoch int32) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes = 0, 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = partition, epoch, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rawRequest(t, addr, req, 12).(*kmsg.FetchResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func produceCode(t *testing.T, addr, topic string, partition int32) int16 {
	t.Helper()
	bl := record.NewBuilder(record.None)
	bl.Add(time.Now().UnixMilli(), record.Record{Value: []byte("x")})
	batch, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rawRequest(t, addr, req, 9).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}
