package broker

// FindCoordinator, versions 0-6.
//
// v1 adds the key type (0 group, 1 transaction) and error messages; v3 is
// flexible; v4 batches keys (KIP-699); v6 adds share-group keys (type 2,
// KIP-932), which are not served. A group's coordinator is the leader of
// __consumer_offsets partition abs(hashCode(group id)) % its partition
// count, as the cluster metadata names it; the first group key creates
// __consumer_offsets. A partition without a leader answers
// COORDINATOR_NOT_AVAILABLE, and the client asks again.
// A transactional id's coordinator is the leader of __transaction_state
// partition abs(hashCode(transactional id)) % its partition count; the
// first transaction key creates __transaction_state.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/txn"
)

func init() { register(kmsg.FindCoordinator, 0, 6, handleFindCoordinator) }

// Coordinator key types.
const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

func handleFindCoordinator(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		resp.Coordinators = append(resp.Coordinators, b.findCoordinator(req.CoordinatorType, key))
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp, nil
}

func (b *Broker) findCoordinator(keyType int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID, c.Port = key, -1, -1
	var err error
	topicName, partitionFor := offsetsTopic, group.PartitionFor
	switch keyType {
	case coordinatorGroup:
		if _, err = b.groups.ensure(); err != nil {
			b.log.Warn("group coordinator unavailable", "err", err)
			err = errorf(kerr.CoordinatorNotAvailable, "%v", err)
		}
	case coordinatorTransaction:
		topicName, partitionFor = txnTopic, txn.PartitionFor
		if key == "" {
			err = errorf(kerr.InvalidRequest, "empty transactional id")
		} else if _, err = b.txns.ensure(); err != nil {
			b.log.Warn("transaction coordinator unavailable", "err", err)
			err = errorf(kerr.CoordinatorNotAvailable, "%v", err)
		}
	default:
		err = errorf(kerr.InvalidRequest, "unknown coordinator type %d", keyType)
	}
	if err != nil {
		c.ErrorCode, c.ErrorMessage = errCode(err)
		return c
	}
	snap := b.snapshot()
	t := snap.Topic(topicName)
	if t == nil || len(t.Partitions) == 0 {
		c.ErrorCode, c.ErrorMessage = errCode(errorf(kerr.CoordinatorNotAvailable, "%s does not exist yet", topicName))
		return c
	}
	leader := t.Partitions[partitionFor(key, int32(len(t.Partitions)))].Leader
	ep, ok := b.clientEndpoint(snap, leader)
	if leader == cluster.NoLeader || !ok {
		c.ErrorCode, c.ErrorMessage = errCode(errorf(kerr.CoordinatorNotAvailable, "the coordinator's %s partition has no leader", topicName))
		return c
	}
	c.NodeID, c.Host, c.Port = leader, ep.Host, ep.Port
	return c
}
