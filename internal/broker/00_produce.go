package broker

// Produce, versions 3-12.
//
// v3 is the first version with message format v2 (KIP-98), the only format
// stored; v8 adds per-record errors (KIP-467); v9 is flexible. Each
// partition's batch is validated (validate.go), then appended by the
// partition's log, which assigns offsets and checks idempotent producers'
// sequences. acks=0 gets no response; acks=1 and acks=all are answered once
// the batch is in the log (on a single node the leader is the whole ISR, so
// the high watermark moves with the append), after an fsync if flush.messages
// asks for one.

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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
			err := b.producePartition(t, rp, req.Version, req.Acks, now, sp)
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = errCode(err)
				if sp.ErrorCode == kerr.UnknownServerError.Code {
					b.log.Error("produce failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				}
			}
		}
	}
	if req.Acks == 0 {
		return nil, nil
	}
	return resp, nil
}

func (b *Broker) producePartition(t *topic, rp *kmsg.ProduceRequestTopicPartition, version, acks int16, now int64, sp *kmsg.ProduceResponseTopicPartition) error {
	if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.partitions) {
		return errorf(kerr.UnknownTopicOrPartition, "this server does not host this topic-partition")
	}
	if acks != 0 && acks != 1 && acks != -1 {
		return errorf(kerr.InvalidRequiredAcks, "acks must be -1, 0 or 1, got %d", acks)
	}
	if isInternalTopic(t.name) {
		// Kafka's ReplicaManager: clients may not append to internal
		// topics; their coordinators write them.
		return errorf(kerr.InvalidTopicException, "cannot append to internal topic %s", t.name)
	}
	if acks == -1 && t.minISR > 1 {
		return errorf(kerr.NotEnoughReplicas, "1 in-sync replica is fewer than min.insync.replicas=%d", t.minISR)
	}
	p := t.partitions[rp.Partition]
	vb, err := validateProduce(rp.Records, version, t.rules, now)
	if err != nil {
		return err
	}
	appendTime := int64(-1)
	if t.rules.logAppendTime {
		appendTime = now
	}
	res, err := p.log.Append(vb.bytes, leaderEpoch, appendTime)
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		return errorf(kerr.OutOfOrderSequenceNumber, "%v", err)
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return errorf(kerr.InvalidProducerEpoch, "%v", err)
	case errors.Is(err, storage.ErrLogClosed):
		return errorf(kerr.NotLeaderForPartition, "partition is closing")
	case err != nil:
		return err
	}
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.FirstOffset, res.LogAppendTime, res.LogStartOffset
	if !res.Duplicate {
		p.notify()
	}
	return nil
}
