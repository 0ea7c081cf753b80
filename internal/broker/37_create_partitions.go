package broker

// CreatePartitions, versions 0-3 (KIP-195).
//
// v1 is v0 answered after throttling (KIP-219); v2 is flexible; v3 is
// unchanged on the wire. A topic's partition count can only grow; asking
// for the same or a smaller count is INVALID_PARTITIONS with Kafka's
// messages. New partitions get the topic's replication factor, placed over
// the live brokers unless a manual assignment names registered brokers.
// validate_only checks without creating. The change itself is
// createPartitions (topics_admin.go).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreatePartitions, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := make(map[string]int, len(req.Topics))
	for i := range req.Topics {
		count[req.Topics[i].Topic]++
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if count[rt.Topic] > 1 {
			err = errorf(kerr.InvalidRequest, "Duplicate topic in request.")
		} else {
			var assignment [][]int32
			if rt.Assignment != nil {
				assignment = make([][]int32, len(rt.Assignment))
				for j := range rt.Assignment {
					assignment[j] = rt.Assignment[j].Replicas
				}
			}
			err = b.createPartitions(rt.Topic, rt.Count, assignment, req.ValidateOnly)
		}
		st.ErrorCode, st.ErrorMessage = errCode(err)
		if st.ErrorCode == kerr.UnknownServerError.Code {
			b.log.Error("create partitions failed", "topic", rt.Topic, "err", err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
