package broker

// EndTxn, versions 0-4 (KIP-98).
//
// Commits or aborts the producer's transaction: the coordinator writes
// PrepareCommit or PrepareAbort to __transaction_state, a marker to every
// partition of the transaction, then CompleteCommit or CompleteAbort.
// The response waits for the markers (up to the request timeout the
// coordinator allows itself); markers that could not be written are
// retried in the background, and the transactional id answers
// CONCURRENT_TRANSACTIONS meanwhile. v2 answers PRODUCER_FENCED for a
// stale epoch (KIP-588); v3 is flexible. v5 (transactions v2, KIP-890
// part 2: an epoch bump at every EndTxn) is not served.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.EndTxn, 0, 4, handleEndTxn) }

// endTxnWait bounds how long EndTxn waits for the markers before it
// answers; the transaction is decided once prepared.
const endTxnWait = 10 * time.Second

func handleEndTxn(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	c := b.txns.coordinator()
	if c == nil {
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp, nil
	}
	resp.ErrorCode = txnErr(c.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, req.Version >= 2, endTxnWait))
	return resp, nil
}
