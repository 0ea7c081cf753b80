package broker

// AddPartitionsToTxn, versions 0-5 (KIP-98).
//
// A transactional producer adds each partition to its transaction before
// its first batch there. v2 answers PRODUCER_FENCED for a stale epoch
// (KIP-588; INVALID_PRODUCER_EPOCH before); v3 is flexible; v4 batches
// transactions and adds VerifyOnly, with which a partition leader checks
// that a partition is in a producer's transaction before taking its
// first transactional batch (KIP-890 part 1); v5 is v4 for clients of
// transactions v2. Served by the transactional id's coordinator
// (internal/txn); others answer NOT_COORDINATOR.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/txn"
)

func init() { register(kmsg.AddPartitionsToTxn, 0, 5, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	c := b.txns.coordinator()
	if req.Version < 4 {
		var topics []kmsg.AddPartitionsToTxnRequestTransactionTopic
		for _, t := range req.Topics {
			topics = append(topics, kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
		rt := addPartitions(c, req.TransactionalID, req.ProducerID, req.ProducerEpoch, false, topics, req.Version >= 2)
		for _, t := range rt.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				st.Partitions = append(st.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p.Partition, ErrorCode: p.ErrorCode})
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	for _, t := range req.Transactions {
		resp.Transactions = append(resp.Transactions, addPartitions(c, t.TransactionalID, t.ProducerID, t.ProducerEpoch, t.VerifyOnly, t.Topics, true))
	}
	return resp, nil
}

// addPartitions serves one transaction of the request: every partition
// gets the outcome.
func addPartitions(c *txn.Coordinator, id string, pid int64, epoch int16, verifyOnly bool, topics []kmsg.AddPartitionsToTxnRequestTransactionTopic, knowsFenced bool) kmsg.AddPartitionsToTxnResponseTransaction {
	var parts []txn.TopicPartition
	for _, t := range topics {
		for _, p := range t.Partitions {
			parts = append(parts, txn.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	var perPart map[txn.TopicPartition]*kerr.Error
	var all *kerr.Error
	switch {
	case c == nil:
		all = kerr.NotCoordinator
	case verifyOnly:
		all = c.Verify(id, pid, epoch, parts)
	default:
		perPart, all = c.AddPartitions(id, pid, epoch, parts, knowsFenced)
	}
	rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
	rt.TransactionalID = id
	for _, t := range topics {
		st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		st.Topic = t.Topic
		for _, p := range t.Partitions {
			code := txnErr(all)
			if e := perPart[txn.TopicPartition{Topic: t.Topic, Partition: p}]; e != nil {
				code = e.Code
			}
			st.Partitions = append(st.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{Partition: p, ErrorCode: code})
		}
		rt.Topics = append(rt.Topics, st)
	}
	return rt
}
