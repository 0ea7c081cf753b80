package broker

// TxnOffsetCommit, versions 0-5 (KIP-98, KIP-447, KIP-890).
//
// Commits a group's offsets inside a producer's transaction: the group
// coordinator writes them to __consumer_offsets as the producer's
// transactional batch and keeps them pending until the transaction's
// marker commits them (or drops them on abort). The group's partition
// must be in the transaction (AddOffsetsToTxn first), which is checked
// with the transaction coordinator; otherwise INVALID_TXN_STATE. v2 adds
// the leader epoch, v3 the member id, generation and instance id checked
// against the group (KIP-447) and is flexible. v5 is transactions v2
// (KIP-890 part 2): the group's partition is added to the transaction
// here, with the transaction coordinator, instead of by AddOffsetsToTxn.
// v6 (topic ids) is not served.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.TxnOffsetCommit, 0, 5, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.TxnOffsetCommitRequest)
	fail := func(e *kerr.Error) (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.TxnOffsetCommitResponseTopicPartition{Partition: p.Partition, ErrorCode: e.Code})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	c := b.groups.coordinator()
	if c == nil {
		return fail(kerr.NotCoordinator)
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID)
	}
	p := c.PartitionFor(req.Group)
	if part := b.getPartition(offsetsTopic, p); part == nil {
		return fail(kerr.NotCoordinator)
	} else if leads, _, _ := part.role(); !leads {
		return fail(kerr.NotCoordinator)
	}
	if err := b.verifyTxnPartition(&req.TransactionalID, req.ProducerID, req.ProducerEpoch, offsetsTopic, p, req.Version >= 5); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			switch {
			case ae.err == kerr.InvalidProducerEpoch && req.Version >= 3:
				return fail(kerr.ProducerFenced)
			case ae.err == kerr.NotEnoughReplicas:
				return fail(kerr.CoordinatorNotAvailable)
			case ae.err == kerr.ConcurrentTransactions:
				// The previous transaction's markers are being
				// written: a coordinator error makes the client
				// retry.
				return fail(kerr.CoordinatorLoadInProgress)
			}
			return fail(ae.err)
		}
		return fail(kerr.CoordinatorNotAvailable)
	}
	return c.TxnOffsetCommit(req), nil
}
