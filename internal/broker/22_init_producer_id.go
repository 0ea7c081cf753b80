package broker

// InitProducerId, versions 0-5, for idempotent and transactional
// producers (KIP-98).
//
// v2 is flexible; v3 lets a producer send its current id and epoch to be
// bumped after an error instead of being given a new id (KIP-360); v4
// adds PRODUCER_FENCED (KIP-588) and v5 nothing new for idempotent
// producers (KIP-890's changes concern transactions). Without a
// transactional id Kafka hands out a fresh id with epoch 0 every time,
// ignoring any id and epoch sent, and so does this broker: ids come from
// blocks reserved in the cluster metadata store, so no two brokers, and
// no restart, hand one out twice. A transactional id goes to its
// transaction coordinator (internal/txn): the leader of its
// __transaction_state partition, which keeps one producer id per
// transactional id and bumps its epoch at every InitProducerId, fencing
// older producers and aborting their open transaction first.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.InitProducerID, 0, 5, handleInitProducerID) }

// noProducerID and noProducerEpoch are the "none" values of a request's
// producer id and epoch (v3+).
const (
	noProducerID    = -1
	noProducerEpoch = -1
)

func handleInitProducerID(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	var err error
	switch {
	// Kafka's KafkaApis checks that id and epoch are both set or both
	// unset before anything else.
	case (req.ProducerID == noProducerID) != (req.ProducerEpoch == noProducerEpoch):
		err = errorf(kerr.InvalidRequest, "producer id %d and epoch %d must both be set or both be -1", req.ProducerID, req.ProducerEpoch)
	case req.TransactionalID != nil && *req.TransactionalID == "":
		// An empty transactional id is neither idempotent-only nor a
		// transaction (Kafka's TransactionCoordinator).
		err = errorf(kerr.InvalidRequest, "transactional id must be null or non-empty")
	case req.TransactionalID != nil:
		c, cerr := b.txns.ensure()
		if cerr != nil {
			err = errorf(kerr.CoordinatorNotAvailable, "%v", cerr)
			break
		}
		ctx, cancel := b.txnContext()
		res, kerrv := c.InitProducerID(ctx, *req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch, req.Version >= 4)
		cancel()
		if kerrv != nil {
			resp.ErrorCode = kerrv.Code
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = res.ProducerID, res.Epoch
	default:
		ctx, cancel := b.metadataContext()
		var id int64
		if id, err = b.pids.Next(ctx); err == nil {
			resp.ProducerID, resp.ProducerEpoch = id, 0
		} else if ctx.Err() != nil {
			err = errorf(kerr.CoordinatorNotAvailable, "the cluster metadata store did not answer: %v", err)
		}
		cancel()
	}
	if err != nil {
		code, _ := errCode(err)
		resp.ErrorCode = code
		if code == kerr.UnknownServerError.Code {
			b.log.Error("allocating a producer id failed", "err", err)
		}
	}
	return resp, nil
}
