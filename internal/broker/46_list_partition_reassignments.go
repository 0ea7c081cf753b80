package broker

// ListPartitionReassignments, version 0 (KIP-455).
//
// Flexible from v0. Lists the reassignments in progress, with each
// partition's replicas (the target followed by the replicas being
// removed), the replicas being added and those being removed: of every
// partition for a null topic list, else of the partitions named.
// Partitions that do not exist or have no reassignment in progress are
// left out, as Kafka does. The answer comes from the metadata as of the
// request (a read of etcd's latest revision), so it shows a reassignment
// another broker started or the controller completed just before.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/cluster"
)

func init() {
	register(kmsg.ListPartitionReassignments, 0, 0, handleListPartitionReassignments)
}

func handleListPartitionReassignments(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	ctx, cancel := b.requestContext(req.TimeoutMillis)
	defer cancel()
	snap, err := b.node.Cache().Sync(ctx)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errCode(metadataError(err))
		return resp, nil
	}
	list := func(name string, partitions []int32) {
		ts := snap.Topic(name)
		if ts == nil {
			return
		}
		if partitions == nil {
			for i := range ts.Partitions {
				partitions = append(partitions, int32(i))
			}
		}
		st := kmsg.NewListPartitionReassignmentsResponseTopic()
		st.Topic = name
		for _, p := range partitions {
			ps, ok := snap.Partition(name, p)
			if !ok || !ps.Reassigning() {
				continue
			}
			st.Partitions = append(st.Partitions, listedReassignment(p, ps))
		}
		if len(st.Partitions) > 0 {
			resp.Topics = append(resp.Topics, st)
		}
	}
	if req.Topics == nil {
		for _, name := range snap.TopicNames() {
			list(name, nil)
		}
		return resp, nil
	}
	for _, rt := range req.Topics {
		list(rt.Topic, nonNil(rt.Partitions))
	}
	return resp, nil
}

// listedReassignment is one partition's reassignment as the response
// shows it.
func listedReassignment(p int32, ps cluster.PartitionState) kmsg.ListPartitionReassignmentsResponseTopicPartition {
	sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
	sp.Partition = p
	sp.Replicas = nonNil(ps.Replicas)
	sp.AddingReplicas = nonNil(ps.AddingReplicas)
	sp.RemovingReplicas = nonNil(ps.RemovingReplicas)
	return sp
}

// nonNil returns ids, or an empty list for nil.
func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}
