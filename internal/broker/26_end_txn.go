package broker

// EndTxn, versions 0-5 (KIP-98, KIP-890).
//
// Commits or aborts the producer's transaction: the coordinator writes
// PrepareCommit or PrepareAbort to __transaction_state, a marker to every
// partition of the transaction, then CompleteCommit or CompleteAbort.
// The response waits for the markers (up to the request timeout the
// coordinator allows itself); markers that could not be written are
// retried in the background, and the transactional id answers
// CONCURRENT_TRANSACTIONS meanwhile. v2 answers PRODUCER_FENCED for a
// stale epoch (KIP-588); v3 is flexible; v4 nothing new here. v5 is
// transactions v2 (KIP-890 part 2): preparing the transaction bumps the
// producer epoch (a new producer id at the epoch's limit), the markers
// carry the bumped epoch, and the response the producer's new id and
// epoch; a retry at the epoch before the bump gets the same answer.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.EndTxn, 0, 5, handleEndTxn) }

// endTxnWait bounds how long EndTxn waits for the markers before it
// answers; the transaction is decided once prepared.
const endTxnWait = 10 * time.Second

func handleEndTxn(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	c := b.txns.coordinator()
	if c == nil {
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp, nil
	}
	if req.Version >= 5 {
		ctx, cancel := b.txnContext()
		res, kerrv := c.EndTxnV2(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, endTxnWait)
		cancel()
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = txnErr(kerrv), res.ProducerID, res.Epoch
		return resp, nil
	}
	resp.ErrorCode = txnErr(c.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, req.Version >= 2, endTxnWait))
	return resp, nil
}
