package broker_test

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
)

func describeProducersRequest(topic string, partitions ...int32) *kmsg.DescribeProducersRequest {
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = topic, partitions
	req.Topics = append(req.Topics, rt)
	return req
}

// TestDescribeProducers: an idempotent producer shows its epoch and last
// sequence, a transactional one the first offset of its open
// transaction until the transaction ends; unknown topics and partitions
// answer UNKNOWN_TOPIC_OR_PARTITION.
func TestDescribeProducers(t *testing.T) {
	const topic = "describe-producers"
	b := txnBroker(t, topic, 2)
	ctx := testContext(t, txnTimeout)
	idem := newKgo(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 3 {
		r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(strconv.Itoa(i))}
		if err := idem.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	tx := txnProducer(t, b.Addr(), "tx-describe-producers")
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		r := &kgo.Record{Topic: topic, Partition: 1, Value: []byte(strconv.Itoa(i))}
		if err := tx.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := newAdmin(t, b.Addr())
	described, err := adm.DescribeProducers(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	p0, p1 := described[topic].Partitions[0], described[topic].Partitions[1]
	if p0.Err != nil || p1.Err != nil {
		t.Fatalf("partition errors: %v, %v", p0.Err, p1.Err)
	}
	if len(p0.ActiveProducers) != 1 || len(p1.ActiveProducers) != 1 {
		t.Fatalf("active producers: partition 0 %+v, partition 1 %+v; want one each", p0.ActiveProducers, p1.ActiveProducers)
	}
	for _, p := range p0.ActiveProducers {
		if p.LastSequence != 2 || p.CurrentTxnStartOffset != -1 || p.LastTimestamp <= 0 {
			t.Errorf("idempotent producer %+v: want last sequence 2, no transaction, a timestamp", p)
		}
	}
	var txnPID int64
	for _, p := range p1.ActiveProducers {
		txnPID = p.ProducerID
		if p.LastSequence != 1 || p.CurrentTxnStartOffset != 0 {
			t.Errorf("transactional producer %+v: want last sequence 1, transaction from offset 0", p)
		}
	}

	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	resp := rawRequest(t, b.Addr(), describeProducersRequest(topic, 1), 0).(*kmsg.DescribeProducersResponse)
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 || len(sp.ActiveProducers) != 1 {
		t.Fatalf("after commit: %+v", sp)
	}
	if ap := sp.ActiveProducers[0]; ap.ProducerID != txnPID || ap.CurrentTxnStartOffset != -1 || ap.CoordinatorEpoch < 0 {
		t.Errorf("after commit: %+v; want producer %d, no open transaction, the marker's coordinator epoch", ap, txnPID)
	}

	for _, req := range []*kmsg.DescribeProducersRequest{
		describeProducersRequest(topic, 2),
		describeProducersRequest("no-such-topic", 0),
	} {
		resp := rawRequest(t, b.Addr(), req, 0).(*kmsg.DescribeProducersResponse)
		if got := resp.Topics[0].Partitions[0].ErrorCode; got != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("%s[%d]: error %v, want UNKNOWN_TOPIC_OR_PARTITION", req.Topics[0].Topic, req.Topics[0].Partitions[0], kerr.ErrorForCode(got))
		}
	}
}

// TestDescribeProducersCluster: a broker without a replica of the
// partition answers NOT_LEADER_OR_FOLLOWER; a follower answers from its
// own replicated producer state.
func TestDescribeProducersCluster(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	const topic = "describe-producers-cluster"
	createTxnTopic(t, c.Addrs()[0], topic, 3, 2)
	ctx := testContext(t, txnTimeout)
	cl := newKgo(t, c.Addrs()[0], kgo.SeedBrokers(c.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for part := range int32(3) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	md, err := newAdmin(t, c.Addrs()[0]).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	addrOf := map[int32]string{}
	for _, br := range md.Brokers {
		addrOf[br.NodeID] = net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
	}
	for _, p := range md.Topics[topic].Partitions {
		replicas := map[int32]bool{}
		for _, r := range p.Replicas {
			replicas[r] = true
		}
		for node, addr := range addrOf {
			sp := rawRequest(t, addr, describeProducersRequest(topic, p.Partition), 0).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0]
			what := fmt.Sprintf("partition %d on broker %d (replicas %v)", p.Partition, node, p.Replicas)
			switch {
			case !replicas[node] && sp.ErrorCode != kerr.NotLeaderForPartition.Code:
				t.Errorf("%s: error %v, want NOT_LEADER_OR_FOLLOWER", what, kerr.ErrorForCode(sp.ErrorCode))
			case replicas[node] && node == p.Leader && (sp.ErrorCode != 0 || len(sp.ActiveProducers) != 1):
				t.Errorf("%s, the leader: %+v, want the producer", what, sp)
			case replicas[node] && sp.ErrorCode != 0:
				t.Errorf("%s, a follower: error %v", what, kerr.ErrorForCode(sp.ErrorCode))
			}
		}
	}
}
