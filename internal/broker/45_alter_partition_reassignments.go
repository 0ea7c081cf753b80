package broker

// AlterPartitionReassignments, versions 0-1 (KIP-455, KIP-860).
//
// Flexible from v0; v1 adds allow_replication_factor_change, which, when
// false, refuses targets whose replica count differs from the original
// assignment's (INVALID_REPLICATION_FACTOR). For each partition, target
// replicas start a reassignment, replacing one in progress, and null
// target replicas cancel the one in progress (NO_REASSIGNMENT_IN_PROGRESS
// if there is none). A target must name registered brokers, each once
// (INVALID_REPLICA_ASSIGNMENT). Every partition is validated before any is
// written; each then succeeds or fails on its own, as in Kafka. The
// broker that receives the request records the reassignment in the
// partition state (cluster/reassign.go) and answers once it has applied
// it; the new replicas then catch up, and the controller completes the
// reassignment when they are all in the ISR.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/cluster"
)

func init() {
	register(kmsg.AlterPartitionAssignments, 0, 1, handleAlterPartitionReassignments)
}

// reassignment is one partition of an AlterPartitionReassignments request
// and its outcome.
type reassignment struct {
	topic     string
	partition int32
	target    []int32 // nil: cancel
	err       error
	rev       int64 // of the write; 0 if none
}

func handleAlterPartitionReassignments(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	allowRFChange := req.Version < 1 || req.AllowReplicationFactorChange
	resp.AllowReplicationFactorChange = allowRFChange
	ctx, cancel := b.requestContext(req.TimeoutMillis)
	defer cancel()

	var items []*reassignment
	count := map[string]map[int32]int{}
	for _, rt := range req.Topics {
		if count[rt.Topic] == nil {
			count[rt.Topic] = map[int32]int{}
		}
		for _, rp := range rt.Partitions {
			count[rt.Topic][rp.Partition]++
			items = append(items, &reassignment{topic: rt.Topic, partition: rp.Partition, target: rp.Replicas})
		}
	}
	snap, err := b.node.Cache().Sync(ctx)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errCode(metadataError(err))
		return resp, nil
	}
	decide := func(it *reassignment) decidePartition {
		return func(snap *cluster.Snapshot, cur cluster.PartitionState) (cluster.PartitionState, bool, error) {
			return decideReassignment(snap, cur, it.target, allowRFChange)
		}
	}
	// Validate everything first: no partition is written unless every
	// partition's check has run.
	for _, it := range items {
		if count[it.topic][it.partition] > 1 {
			it.err = errorf(kerr.InvalidRequest, "partition %d of topic %q is listed more than once", it.partition, it.topic)
			continue
		}
		ps, ok := snap.Partition(it.topic, it.partition)
		if !ok {
			it.err = errorf(kerr.UnknownTopicOrPartition, "partition %d of topic %q does not exist", it.partition, it.topic)
			continue
		}
		_, _, it.err = decide(it)(snap, ps)
		it.err = partitionChangeError(it.err)
	}
	var lastRev int64
	for _, it := range items {
		if it.err != nil {
			continue
		}
		it.rev, it.err = b.changePartition(ctx, snap, it.topic, it.partition, decide(it))
		it.err = partitionChangeError(it.err)
		if it.rev > 0 {
			lastRev = max(lastRev, it.rev)
			if it.target == nil {
				b.log.Info("cancelled a partition reassignment", "topic", it.topic, "partition", it.partition)
			} else {
				b.log.Info("started a partition reassignment", "topic", it.topic, "partition", it.partition, "target", it.target)
			}
		}
	}
	if lastRev > 0 {
		if err := b.waitApplied(ctx, lastRev); err != nil {
			err = metadataError(err)
			for _, it := range items {
				if it.rev > 0 {
					it.err = err
				}
			}
		}
	}

	topicIndex := map[string]int{}
	for _, it := range items {
		i, ok := topicIndex[it.topic]
		if !ok {
			i = len(resp.Topics)
			topicIndex[it.topic] = i
			st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			st.Topic = it.topic
			resp.Topics = append(resp.Topics, st)
		}
		sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
		sp.Partition = it.partition
		sp.ErrorCode, sp.ErrorMessage = errCode(it.err)
		if sp.ErrorCode == kerr.UnknownServerError.Code {
			b.log.Error("partition reassignment failed", "topic", it.topic, "partition", it.partition, "err", it.err)
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
	}
	return resp, nil
}

// decideReassignment checks a partition's target replicas (nil: cancel)
// against snap and returns the state to write, with Kafka's messages where
// it shares the check with CreateTopics (checkManualAssignment).
func decideReassignment(snap *cluster.Snapshot, cur cluster.PartitionState, target []int32, allowRFChange bool) (cluster.PartitionState, bool, error) {
	if target == nil {
		next, err := snap.CancelReassignment(cur)
		return next, err == nil, err
	}
	if err := checkManualAssignment(snap, target, 0); err != nil {
		return cur, false, err
	}
	if orig := cur.OriginalReplicas(); !allowRFChange && len(target) != len(orig) {
		return cur, false, errorf(kerr.InvalidReplicationFactor,
			"The replication factor is changed from %d to %d but allow_replication_factor_change is false.", len(orig), len(target))
	}
	return snap.Reassign(cur, target)
}
