package broker

// ListTransactions, versions 0-1 (KIP-664; v1 adds the duration filter,
// KIP-994).
//
// Lists the transactional ids this broker coordinates, filtered by state
// names, producer ids and (v1) how long their transaction has run. State
// names Kafka does not know are echoed back as unknown filters.
// v2's transactional id pattern is not served.

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/txn"
)

func init() { register(kmsg.ListTransactions, 0, 1, handleListTransactions) }

func handleListTransactions(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	var states []kmsg.TransactionState
	for _, name := range req.StateFilters {
		st, err := kmsg.ParseTransactionState(name)
		if err != nil {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			continue
		}
		states = append(states, st)
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		return resp, nil // only unknown states: nothing matches
	}
	c := b.txns.coordinator()
	if c == nil {
		return resp, nil
	}
	nowMs := c.Now().UnixMilli()
	for _, d := range c.List(func(d txn.Description) bool {
		switch {
		case len(states) > 0 && !slices.Contains(states, d.State):
			return false
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, d.ProducerID):
			return false
		case req.Version >= 1 && req.DurationFilterMillis >= 0 && (d.StartMs < 0 || nowMs-d.StartMs < req.DurationFilterMillis):
			return false
		}
		return true
	}) {
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = d.ID, d.ProducerID, d.State.String()
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
