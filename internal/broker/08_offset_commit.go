package broker

// OffsetCommit, versions 0-9: committed offsets, stored in
// __consumer_offsets.
//
// v1 adds the generation and member id, checked against the group; v2-v4
// carry a retention time (stored as an expire timestamp, value v1); v5
// drops it; v6 adds the leader epoch (KIP-320); v7 group.instance.id
// (KIP-345); v8 is flexible; v9 takes a KIP-848 member epoch and answers
// GROUP_ID_NOT_FOUND, not ILLEGAL_GENERATION, for a group that does not
// exist. A commit with no generation to a group without members is a
// simple consumer's and is always taken. Kafka 4.0 dropped v0-v1; they are
// served for old clients.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetCommit, 0, 9, handleOffsetCommit) }

func handleOffsetCommit(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.OffsetCommitRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.OffsetCommitResponseTopicPartition{Partition: p.Partition, ErrorCode: kerr.NotCoordinator.Code})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	return c.OffsetCommit(groupRequestContext(r), req), nil
}
