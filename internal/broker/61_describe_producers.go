package broker

// DescribeProducers, version 0 (KIP-664).
//
// Lists, per partition, the producers the replica keeps state for: epoch,
// last sequence and timestamp, the coordinator epoch of the last marker
// and the first offset of an open transaction, which is how operators
// find a hanging transaction. As in Kafka any replica answers from its
// own producer state (clients send to the leader); a broker without a
// replica answers NOT_LEADER_OR_FOLLOWER, an unknown topic or partition
// UNKNOWN_TOPIC_OR_PARTITION.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeProducers, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	resp.Topics = make([]kmsg.DescribeProducersResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.DescribeProducersResponseTopicPartition, len(rt.Partitions))
		topicErr := validateTopicName(rt.Topic)
		t := b.getTopic(rt.Topic)
		for j, idx := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = idx
			err := topicErr
			if err == nil {
				err = describeProducers(t, idx, sp)
			}
			sp.ErrorCode, sp.ErrorMessage = errCode(err)
		}
	}
	return resp, nil
}

func describeProducers(t *topic, idx int32, sp *kmsg.DescribeProducersResponseTopicPartition) error {
	p, err := lookupPartition(t, idx)
	if err != nil {
		return err
	}
	for _, a := range p.log.ActiveProducers() {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch = a.ProducerID, int32(a.ProducerEpoch)
		ap.LastSequence, ap.LastTimestamp = a.LastSequence, a.LastTimestamp
		ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = a.CoordinatorEpoch, a.TxnStartOffset
		sp.ActiveProducers = append(sp.ActiveProducers, ap)
	}
	return nil
}
