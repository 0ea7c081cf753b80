package broker

// AddOffsetsToTxn, versions 0-4 (KIP-98).
//
// A transactional producer that commits a group's offsets in its
// transaction (TxnOffsetCommit) first adds the group's __consumer_offsets
// partition to it, so the coordinator writes a marker there too. v2
// answers PRODUCER_FENCED for a stale epoch (KIP-588); v3 is flexible; v4
// is v3 for clients of transactions v2.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/txn"
)

func init() { register(kmsg.AddOffsetsToTxn, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	c := b.txns.coordinator()
	if c == nil {
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp, nil
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	p, err := b.offsetsPartitionFor(req.Group)
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	perPart, all := c.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch,
		[]txn.TopicPartition{{Topic: offsetsTopic, Partition: p}}, req.Version >= 2)
	resp.ErrorCode = txnErr(all)
	for _, e := range perPart {
		resp.ErrorCode = e.Code
	}
	return resp, nil
}
