package broker

// Produce, versions 3-12.
//
// v3 is the first version with message format v2 (KIP-98), the only format
// stored; v8 adds per-record errors (KIP-467); v9 is flexible. Each
// partition's batch is validated (validate.go), then appended by the
// partition's leader, which assigns offsets and checks idempotent
// producers' sequences; a replica that does not lead answers
// NOT_LEADER_OR_FOLLOWER. acks=0 gets no response; acks=1 is answered once
// the batch is in the leader's log (after an fsync if flush.messages asks
// for one); acks=all refuses to write when the ISR is smaller than
// min.insync.replicas (NOT_ENOUGH_REPLICAS) and is answered once the high
// watermark covers the batch, that is once every in-sync replica has it,
// or with REQUEST_TIMED_OUT after the request's timeout. A transactional
// batch is taken only in a transaction that includes the partition: the
// first one of a producer's transaction is checked with its transaction
// coordinator (KIP-890 part 1; txns.go); from v12 (transactions v2,
// KIP-890 part 2) the coordinator adds the partition to the transaction
// instead.

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/storage"
)

func init() { register(kmsg.Produce, 3, produceMaxVersion, handleProduce) }

const (
	// produceMaxVersion is the newest Produce version served.
	produceMaxVersion = 12
	// produceZstdMinVersion is the first Produce version that may carry
	// zstd-compressed batches (KIP-110).
	produceZstdMinVersion = 7
)

func handleProduce(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	now := time.Now().UnixMilli()
	var pending []pendingAck
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		t := b.getTopic(rt.Topic)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition() // CurrentLeader defaults to none
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			ack, err := b.producePartition(t, rp, req.TransactionID, req.Version, req.Acks, now, sp)
			if err != nil {
				b.metrics.produced(t.statsOrNil(), 0, 0, true)
				sp.ErrorCode, sp.ErrorMessage = errCode(err)
				if sp.ErrorCode == kerr.UnknownServerError.Code {
					b.log.Error("produce failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				}
				continue
			}
			if req.Acks == -1 {
				ack.sp = sp
				pending = append(pending, ack)
			}
		}
	}
	if req.Acks == 0 {
		return nil, nil
	}
	if len(pending) > 0 {
		b.awaitAcks(pending, time.Duration(req.TimeoutMillis)*time.Millisecond)
	}
	return resp, nil
}

// pendingAck is an acks=all append waiting for the high watermark.
type pendingAck struct {
	p      *partition
	epoch  int32
	offset int64 // the high watermark that covers the batch
	minISR int
	sp     *kmsg.ProduceResponseTopicPartition
}

func (b *Broker) producePartition(t *topic, rp *kmsg.ProduceRequestTopicPartition, txnID *string, version, acks int16, now int64, sp *kmsg.ProduceResponseTopicPartition) (pendingAck, error) {
	p, err := lookupPartition(t, rp.Partition)
	if err != nil {
		return pendingAck{}, err
	}
	if acks != 0 && acks != 1 && acks != -1 {
		return pendingAck{}, errorf(kerr.InvalidRequiredAcks, "acks must be -1, 0 or 1, got %d", acks)
	}
	if isInternalTopic(t.name) {
		// Kafka's ReplicaManager: clients may not append to internal
		// topics; their coordinators write them.
		return pendingAck{}, errorf(kerr.InvalidTopicException, "cannot append to internal topic %s", t.name)
	}
	vb, err := validateProduce(rp.Records, version, t.rules, now)
	if err != nil {
		return pendingAck{}, err
	}
	if h, herr := record.ParseHeader(vb.bytes); herr == nil && h.Transactional() && !p.log.HasOngoingTxnAt(h.ProducerID, h.ProducerEpoch) {
		if err := b.verifyTxnPartition(txnID, h.ProducerID, h.ProducerEpoch, t.name, rp.Partition, version >= 12); err != nil {
			return pendingAck{}, err
		}
	}
	appendTime := int64(-1)
	if t.rules.logAppendTime {
		appendTime = now
	}
	res, err := p.appendAsLeader(vb.bytes, appendTime, acks == -1, t.minISR)
	if err != nil {
		return pendingAck{}, storageError(err)
	}
	// A retried batch the log already had is a request but no traffic.
	var bytesIn, records int64
	if !res.Duplicate {
		bytesIn, records = int64(len(rp.Records)), res.LastOffset-res.FirstOffset+1
	}
	b.metrics.produced(t.stats, bytesIn, records, false)
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.FirstOffset, res.LogAppendTime, res.LogStartOffset
	return pendingAck{p: p, epoch: res.leaderEpoch, offset: res.LastOffset + 1, minISR: t.minISR}, nil
}

// storageError maps a partition log's errors to Kafka error codes.
func storageError(err error) error {
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		return errorf(kerr.OutOfOrderSequenceNumber, "%v", err)
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return errorf(kerr.InvalidProducerEpoch, "%v", err)
	case errors.Is(err, storage.ErrCoordinatorFenced):
		return errorf(kerr.TransactionCoordinatorFenced, "%v", err)
	case errors.Is(err, storage.ErrInvalidTxnState):
		return errorf(kerr.InvalidTxnState, "%v", err)
	case errors.Is(err, storage.ErrLogClosed):
		return errorf(kerr.NotLeaderForPartition, "partition is closing")
	}
	return err
}

// awaitAcks waits, up to timeout, until the high watermark of every
// pending partition covers its batch (Kafka's delayed produce), and
// answers each with its outcome: success, NOT_LEADER_OR_FOLLOWER if the
// leadership moved, NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank
// below min.insync.replicas, or REQUEST_TIMED_OUT.
func (b *Broker) awaitAcks(pending []pendingAck, timeout time.Duration) {
	var wake chan struct{}
	var timer *time.Timer
	for {
		left := pending[:0]
		for _, a := range pending {
			done, err := a.p.committed(a.epoch, a.offset, a.minISR)
			switch {
			case err != nil:
				b.metrics.produceFailedLate(a.p.stats)
				a.sp.ErrorCode, a.sp.ErrorMessage = errCode(err)
				a.sp.BaseOffset, a.sp.LogAppendTime, a.sp.LogStartOffset = -1, -1, -1
			case !done:
				left = append(left, a)
			}
		}
		pending = left
		if len(pending) == 0 {
			return
		}
		if wake == nil {
			wake = make(chan struct{}, 1)
			for _, a := range pending {
				a.p.wait(wake)
				defer a.p.unwait(wake)
			}
			timer = time.NewTimer(timeout)
			defer timer.Stop()
			b.metrics.producePurgatory.Add(1)
			defer b.metrics.producePurgatory.Add(-1)
			continue // re-check: the high watermark may have moved before we parked
		}
		select {
		case <-wake:
			continue
		case <-timer.C:
		case <-b.done:
		}
		for _, a := range pending {
			b.metrics.produceFailedLate(a.p.stats)
			a.sp.ErrorCode, a.sp.ErrorMessage = errCode(errorf(kerr.RequestTimedOut,
				"the in-sync replicas did not acknowledge within the request timeout"))
			a.sp.BaseOffset, a.sp.LogAppendTime, a.sp.LogStartOffset = -1, -1, -1
		}
		return
	}
}
