package broker_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/txn"
)

// txnV1Versions caps a franz-go client below transactions v2: Produce 11,
// EndTxn 4 and TxnOffsetCommit 4.
func txnV1Versions() *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(int16(kmsg.Produce), 11)
	v.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
	v.SetMaxKeyVersion(int16(kmsg.TxnOffsetCommit), 4)
	return v
}

// produceRaw sends one transactional batch and returns the partition's
// error.
func (r rawTxnClient) produceRaw(id, topic string, p int32, pid int64, epoch int16, seq int32, value string) error {
	r.t.Helper()
	return r.produceRawTo(-1, id, topic, p, pid, epoch, seq, value)
}

// produceRawTo is produceRaw to broker node (any, if -1).
func (r rawTxnClient) produceRawTo(node int32, id, topic string, p int32, pid int64, epoch int16, seq int32, value string) error {
	r.t.Helper()
	bl := record.NewBuilder(record.None)
	bl.ProducerID, bl.ProducerEpoch, bl.BaseSequence, bl.Transactional = pid, epoch, seq, true
	bl.Add(time.Now().UnixMilli(), record.Record{Value: []byte(value)})
	batch, err := bl.Build(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	pr := kmsg.NewPtrProduceRequest()
	pr.TransactionID, pr.Acks, pr.TimeoutMillis = kmsg.StringPtr(id), -1, 5000
	pr.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: p, Records: batch}}}}
	var resp *kmsg.ProduceResponse
	if node < 0 {
		resp = r.do(pr).(*kmsg.ProduceResponse)
	} else {
		kr, err := r.cl.Broker(int(node)).Request(testContext(r.t, txnTimeout), pr)
		if err != nil {
			r.t.Fatal(err)
		}
		resp = kr.(*kmsg.ProduceResponse)
	}
	if resp.Version < 12 {
		r.t.Fatalf("Produce sent at v%d, want v12", resp.Version)
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

func (r rawTxnClient) endTxnV2(id string, pid int64, epoch int16, commit bool) (int64, int16, error) {
	r.t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	resp := r.do(req).(*kmsg.EndTxnResponse)
	if resp.Version < 5 {
		r.t.Fatalf("EndTxn sent at v%d, want v5", resp.Version)
	}
	return resp.ProducerID, resp.ProducerEpoch, kerr.ErrorForCode(resp.ErrorCode)
}

func (r rawTxnClient) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	r.t.Helper()
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{id}
	return r.do(dt).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
}

// TestTxnV2Protocol: ApiVersions finalizes transaction.version 2; a
// Produce v12 adds its partition to the transaction and a TxnOffsetCommit
// v5 its group's, with no AddPartitionsToTxn or AddOffsetsToTxn; EndTxn v5
// bumps the epoch and answers it, a retry at the previous epoch gets the
// same answer, and the producer's next transaction starts at the new epoch
// from sequence 0 while the old epoch is refused.
func TestTxnV2Protocol(t *testing.T) {
	const topic, id = "txn-v2", "tx-v2"
	b := txnBroker(t, topic, 2)
	r := rawTxnClient{t, newKgo(t, b.Addr(), kgo.RequestRetries(0))}

	av := r.do(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
	var level int16 = -1
	for _, f := range av.FinalizedFeatures {
		if f.Name == "transaction.version" {
			level = f.MaxVersionLevel
		}
	}
	if av.FinalizedFeaturesEpoch < 0 || level != 2 {
		t.Fatalf("ApiVersions finalizes transaction.version %d (epoch %d), want 2", level, av.FinalizedFeaturesEpoch)
	}

	pid, epoch := r.initPID(id)
	if err := r.produceRaw(id, topic, 1, pid, epoch, 0, "a"); err != nil {
		t.Fatalf("Produce v12 to a partition not yet in the transaction: %v", err)
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "v2-group"
	r.do(fc) // creates __consumer_offsets
	oc := kmsg.NewPtrTxnOffsetCommitRequest()
	oc.TransactionalID, oc.Group, oc.ProducerID, oc.ProducerEpoch, oc.Generation = id, "v2-group", pid, epoch, -1
	oc.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 7, LeaderEpoch: -1}}}}
	ocr := r.do(oc).(*kmsg.TxnOffsetCommitResponse)
	if ocr.Version != 5 {
		t.Fatalf("TxnOffsetCommit sent at v%d, want v5", ocr.Version)
	}
	if err := kerr.ErrorForCode(ocr.Topics[0].Partitions[0].ErrorCode); err != nil {
		t.Fatalf("TxnOffsetCommit v5 without AddOffsetsToTxn: %v", err)
	}
	d := r.describe(id)
	if d.State != "Ongoing" || len(d.Topics) != 2 {
		t.Fatalf("transaction after the implicit adds: %+v", d)
	}

	gotPID, gotEpoch, err := r.endTxnV2(id, pid, epoch, true)
	if err != nil || gotPID != pid || gotEpoch != epoch+1 {
		t.Fatalf("EndTxn v5: producer %d epoch %d, %v; want %d, %d", gotPID, gotEpoch, err, pid, epoch+1)
	}
	if p2, e2, err := r.endTxnV2(id, pid, epoch, true); err != nil || p2 != pid || e2 != epoch+1 {
		t.Errorf("EndTxn v5 retried at the previous epoch: %d %d %v, want the same answer", p2, e2, err)
	}
	if _, _, err := r.endTxnV2(id, pid, epoch, false); !errors.Is(err, kerr.InvalidTxnState) {
		t.Errorf("abort at the previous epoch after the commit: %v, want INVALID_TXN_STATE", err)
	}
	if err := r.produceRaw(id, topic, 1, pid, epoch, 1, "late"); !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.ProducerFenced) {
		t.Errorf("a batch at the epoch before the bump: %v, want INVALID_PRODUCER_EPOCH", err)
	}
	if err := r.produceRaw(id, topic, 1, pid, gotEpoch, 0, "b"); err != nil {
		t.Fatalf("the next transaction at the new epoch: %v", err)
	}
	if _, e3, err := r.endTxnV2(id, pid, gotEpoch, false); err != nil || e3 != gotEpoch+1 {
		t.Fatalf("abort: epoch %d %v", e3, err)
	}
	if got := readValues(t, b.Addr(), topic, true, 1, time.Second); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("read_committed read %v, want [a]", got)
	}
	offs, err := newAdmin(t, b.Addr()).FetchOffsets(testContext(t, txnTimeout), "v2-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || o.At != 7 {
		t.Errorf("group offset %+v, want 7 committed by the transaction", o)
	}
}

// TestTxnV1AndV2ClientsAlternate: franz-go producers with and without
// transactions v2 take turns on one transactional id (KIP-890 lets a
// producer fall back to v1, each starting with InitProducerId); every
// committed transaction is read once, aborted ones never.
func TestTxnV1AndV2ClientsAlternate(t *testing.T) {
	const topic, id = "txn-alternate", "tx-alternate"
	b := txnBroker(t, topic, 2)
	var want []string
	for round := range 4 {
		var opts []kgo.Opt
		if round%2 == 1 {
			opts = append(opts, kgo.MaxVersions(txnV1Versions()))
		}
		p := txnProducer(t, b.Addr(), id, opts...)
		committed := values(fmt.Sprintf("c%d", round), 4)
		produceTxn(t, p, topic, committed, true)
		produceTxn(t, p, topic, values(fmt.Sprintf("a%d", round), 2), false)
		want = append(want, committed...)
		p.Close()
	}
	slices.Sort(want)
	if got := readValues(t, b.Addr(), topic, true, len(want), 2*time.Second); !slices.Equal(got, want) {
		t.Fatalf("read_committed read %v, want %v", got, want)
	}
}

// TestTxnV2CoordinatorFailover: in a three-broker cluster, a transactions
// v2 commit is prepared while the leader of its partition is down (the
// markers wait), and its EndTxn answer is lost; the transaction's
// coordinator moves to another broker, which finishes the commit from
// __transaction_state and answers the client's retry at the previous
// epoch with the bumped epoch, as the first coordinator would have.
func TestTxnV2CoordinatorFailover(t *testing.T) {
	c := brokertest.StartCluster(t, 3, "auto.leader.rebalance.enable=false", "group.initial.rebalance.delay.ms=0")
	const topic, id = "txn-v2-failover", "tx-v2-failover"
	addrs := c.Addrs()
	r := rawTxnClient{t, newKgo(t, addrs[0], kgo.SeedBrokers(addrs...))}
	pid, epoch := r.initPID(id)

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorType = id, 1
	coord := r.do(fc).(*kmsg.FindCoordinatorResponse).NodeID
	var others []int32
	for n := int32(1); n <= 3; n++ {
		if n != coord {
			others = append(others, n)
		}
	}
	leader, next := others[0], others[1]
	createAssigned(t, c, topic, []int32{leader})
	if err := r.produceRawTo(leader, id, topic, 0, pid, epoch, 0, "v"); err != nil {
		t.Fatalf("Produce v12 through a coordinator on another broker: %v", err)
	}

	if err := c.Broker(leader).Halt(); err != nil {
		t.Fatal(err)
	}
	// The first EndTxn's answer is lost: its client goes away.
	lost := newKgo(t, addrs[0], kgo.SeedBrokers(addrs...))
	go func() {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, true
		req.RequestWith(testContext(t, txnTimeout), lost) //nolint:errcheck // the answer is lost on purpose
	}()
	deadline := time.Now().Add(30 * time.Second)
	for r.describe(id).State != "PrepareCommit" {
		if time.Now().After(deadline) {
			t.Fatalf("not prepared: %+v", r.describe(id))
		}
		time.Sleep(10 * time.Millisecond)
	}
	lost.Close()

	// Move the leadership of the transactional id's partition of
	// __transaction_state to the third broker.
	p := txn.PartitionFor(id, 50)
	adm := newAdmin(t, c.Broker(next).Addr())
	ctx := testContext(t, txnTimeout)
	if errs := assign(ctx, t, adm, "__transaction_state", map[int32][]int32{p: {next, coord}}); errs[p] != nil {
		t.Fatalf("reassign: %v", errs[p])
	}
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"__transaction_state": {p: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := res["__transaction_state"][p].Err; e != nil && !errors.Is(e, kerr.ElectionNotNeeded) {
		t.Fatalf("electing broker %d: %v", next, e)
	}
	waitMetadata(t, c.Broker(next).Addr(), "__transaction_state", "the new coordinator", func(mt kmsg.MetadataResponseTopic) bool {
		return mt.Partitions[p].Leader == next
	})

	c.Broker(leader).StartAgain()
	gotPID, gotEpoch, err := r.endTxnV2(id, pid, epoch, true)
	if err != nil || gotPID != pid || gotEpoch != epoch+1 {
		t.Fatalf("EndTxn v5 retried on the new coordinator: producer %d epoch %d, %v; want %d, %d", gotPID, gotEpoch, err, pid, epoch+1)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		d := r.describe(id)
		if d.State == "CompleteCommit" && d.ProducerEpoch == epoch+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not completed: %+v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := readValues(t, c.Broker(leader).Addr(), topic, true, 1, time.Second); !slices.Equal(got, []string{"v"}) {
		t.Fatalf("read_committed read %v, want [v]", got)
	}
}
