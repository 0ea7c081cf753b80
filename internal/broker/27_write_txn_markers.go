package broker

// WriteTxnMarkers, version 1 (KIP-98; v0 was removed in Kafka 4.0).
//
// Sent by a transaction coordinator to the leader of each partition of a
// transaction: the leader appends the COMMIT or ABORT marker as a control
// batch, acks=all, and for a __consumer_offsets partition tells its group
// coordinator to commit or drop the transaction's offsets. Only leaders
// write; others answer NOT_LEADER_OR_FOLLOWER and the coordinator tries
// again.

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.WriteTxnMarkers, 1, 1, handleWriteTxnMarkers) }

func handleWriteTxnMarkers(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				if err := b.writeMarker(t.Topic, p, m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed); err != nil {
					rp.ErrorCode, _ = errCode(err)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}
