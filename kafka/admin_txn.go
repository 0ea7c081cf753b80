package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The admin client's calls about producers and transactions (KIP-664):
// DescribeProducers at the partitions' leaders, DescribeTransactions at
// each transactional id's coordinator, ListTransactions at every broker.

// ProducerState is a producer writing to a partition, as the partition's
// leader knows it.
type ProducerState struct {
	ProducerID    int64
	ProducerEpoch int32
	// LastSequence is the sequence number of the producer's last record
	// in the partition, -1 if unknown.
	LastSequence int32
	// LastTimestamp is the timestamp (ms) of its last write, -1 if
	// unknown.
	LastTimestamp int64
	// CoordinatorEpoch is the epoch of the transaction coordinator that
	// wrote the producer's last marker, -1 if none.
	CoordinatorEpoch int32
	// CurrentTransactionStartOffset is the offset of the first record of
	// the producer's open transaction, -1 if it has none.
	CurrentTransactionStartOffset int64
}

// PartitionProducerState is a partition's active producers, or the
// error describing them.
type PartitionProducerState struct {
	ActiveProducers []ProducerState
	Err             error
}

// DescribeProducers describes the active producers of partitions at their
// leaders (the kafka-transactions tool's describe-producers), to find,
// for instance, the producer of a transaction that holds back the last
// stable offset. Each partition has its own outcome; an unknown partition
// fails with kerr.UnknownTopicOrPartition.
func (a *Admin) DescribeProducers(ctx context.Context, partitions ...TopicPartition) (map[TopicPartition]PartitionProducerState, error) {
	out := map[TopicPartition]PartitionProducerState{}
	err := a.call(ctx, func(ctx context.Context) error {
		cl, err := a.cl.metadataFor(ctx, topicsOf(partitions), false)
		if err != nil {
			return err
		}
		var known []TopicPartition
		for _, tp := range partitions {
			if _, done := out[tp]; done {
				continue
			}
			if !partitionExists(cl, tp) {
				out[tp] = PartitionProducerState{Err: brokerErr(kerr.UnknownTopicOrPartition.Code, nil)}
				continue
			}
			known = append(known, tp)
		}
		if len(known) == 0 {
			return nil
		}
		res, err := perLeader(ctx, a.cl, sortTPs(known), describeProducersAt)
		for tp, r := range res {
			out[tp] = r
		}
		return err
	})
	return out, err
}

// partitionExists reports whether the metadata knows the partition, or
// at least not that it does not exist.
func partitionExists(cl *Cluster, tp TopicPartition) bool {
	m, ok := cl.topics[tp.Topic]
	if !ok || errors.Is(m.err, kerr.UnknownTopicOrPartition) || errors.Is(m.err, kerr.InvalidTopicException) {
		return false
	}
	return m.err != nil || (tp.Partition >= 0 && int(tp.Partition) < len(m.partitions))
}

// describeProducersAt asks one leader about its partitions; partitions
// whose leadership moved are left out, to be asked again.
func describeProducersAt(ctx context.Context, conn *brokerConn, _ map[TopicPartition]int32, tps []TopicPartition) (map[TopicPartition]PartitionProducerState, error) {
	req := kmsg.NewPtrDescribeProducersRequest()
	eachTopic(tps, func(topic string, parts []TopicPartition) {
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic = topic
		for _, tp := range parts {
			rt.Partitions = append(rt.Partitions, tp.Partition)
		}
		req.Topics = append(req.Topics, rt)
	})
	kresp, err := conn.request(ctx, req)
	if err != nil {
		return nil, err
	}
	res := map[TopicPartition]PartitionProducerState{}
	for _, rt := range kresp.(*kmsg.DescribeProducersResponse).Topics {
		for _, rp := range rt.Partitions {
			tp := TopicPartition{rt.Topic, rp.Partition}
			if partitionAnswer(tp, rp.ErrorCode) == errRetryPartition {
				continue
			}
			st := PartitionProducerState{Err: brokerErr(rp.ErrorCode, rp.ErrorMessage)}
			for _, p := range rp.ActiveProducers {
				st.ActiveProducers = append(st.ActiveProducers, ProducerState{ProducerID: p.ProducerID, ProducerEpoch: p.ProducerEpoch,
					LastSequence: p.LastSequence, LastTimestamp: p.LastTimestamp, CoordinatorEpoch: p.CoordinatorEpoch,
					CurrentTransactionStartOffset: p.CurrentTxnStartOffset})
			}
			sort.Slice(st.ActiveProducers, func(i, j int) bool { return st.ActiveProducers[i].ProducerID < st.ActiveProducers[j].ProducerID })
			res[tp] = st
		}
	}
	return res, nil
}

// TransactionState is the state of a transactional id at its
// coordinator, under Kafka's names.
type TransactionState string

// Kafka's transaction states.
const (
	TransactionEmpty             TransactionState = "Empty"
	TransactionOngoing           TransactionState = "Ongoing"
	TransactionPrepareCommit     TransactionState = "PrepareCommit"
	TransactionPrepareAbort      TransactionState = "PrepareAbort"
	TransactionCompleteCommit    TransactionState = "CompleteCommit"
	TransactionCompleteAbort     TransactionState = "CompleteAbort"
	TransactionDead              TransactionState = "Dead"
	TransactionPrepareEpochFence TransactionState = "PrepareEpochFence"
)

// TransactionDescription describes a transactional id, or holds the
// error describing it (kerr.TransactionalIDNotFound for an unknown id).
type TransactionDescription struct {
	TransactionalID string
	// Coordinator is the id of the broker that coordinates it.
	Coordinator   int32
	State         TransactionState
	ProducerID    int64
	ProducerEpoch int16
	Timeout       time.Duration // transaction.timeout.ms
	// StartTimestamp is when the open transaction started (ms), -1 if
	// there is none.
	StartTimestamp int64
	// Partitions are the partitions in the open transaction.
	Partitions []TopicPartition
	Err        error
}

// DescribeTransactions describes transactional ids at their transaction
// coordinators (the kafka-transactions tool's describe), in the order
// given.
func (a *Admin) DescribeTransactions(ctx context.Context, ids ...string) ([]TransactionDescription, error) {
	out := make([]TransactionDescription, len(ids))
	var firstErr error
	for i, id := range ids {
		err := a.call(ctx, func(ctx context.Context) error {
			d, err := a.describeTransaction(ctx, id)
			out[i] = d
			return err
		})
		if err != nil {
			out[i] = TransactionDescription{TransactionalID: id, Coordinator: -1, Err: err}
			if firstErr == nil && !isBrokerError(err) {
				firstErr = err
			}
		}
	}
	return out, firstErr
}

func (a *Admin) describeTransaction(ctx context.Context, id string) (TransactionDescription, error) {
	co := &coordinator{cl: a.cl, group: id, keyType: 1}
	backoff := func(n int) time.Duration { return expBackoff(a.cfg.retryBackoff, a.cfg.retryBackoffM, n) }
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	kresp, err := co.groupRequest(ctx, req, a.cfg.requestTO, backoff, func(r kmsg.Response) int16 {
		if sts := r.(*kmsg.DescribeTransactionsResponse).TransactionStates; len(sts) > 0 {
			return sts[0].ErrorCode
		}
		return 0
	})
	if err != nil {
		return TransactionDescription{}, err
	}
	sts := kresp.(*kmsg.DescribeTransactionsResponse).TransactionStates
	if len(sts) == 0 {
		return TransactionDescription{}, fmt.Errorf("%w: no description of transactional id %s", ErrNetwork, id)
	}
	st := sts[0]
	if err := brokerErr(st.ErrorCode, nil); err != nil {
		return TransactionDescription{}, err
	}
	d := TransactionDescription{TransactionalID: id, Coordinator: a.nodeOf(ctx, co), State: TransactionState(st.State),
		ProducerID: st.ProducerID, ProducerEpoch: st.ProducerEpoch, Timeout: time.Duration(st.TimeoutMillis) * time.Millisecond,
		StartTimestamp: st.StartTimestamp}
	for _, t := range st.Topics {
		for _, p := range t.Partitions {
			d.Partitions = append(d.Partitions, TopicPartition{t.Topic, p})
		}
	}
	sortTPs(d.Partitions)
	return d, nil
}

// nodeOf returns the id of the broker a coordinator was found at, -1 if
// the metadata does not list it.
func (a *Admin) nodeOf(ctx context.Context, co *coordinator) int32 {
	co.mu.Lock()
	addr := co.addr
	co.mu.Unlock()
	find := func(cl *Cluster) int32 {
		for _, n := range cl.Nodes() {
			if nodeAddr(&n) == addr {
				return n.ID
			}
		}
		return -1
	}
	if id := find(a.cl.cluster()); id >= 0 {
		return id
	}
	if cl, err := a.cl.metadataFor(ctx, []string{}, false); err == nil {
		return find(cl)
	}
	return -1
}

// ListTransactionsFilter selects the transactions ListTransactions lists;
// the zero value selects all.
type ListTransactionsFilter struct {
	// States, if not empty, keeps the transactions in one of them.
	States []TransactionState
	// ProducerIDs, if not empty, keeps the transactions of these
	// producers.
	ProducerIDs []int64
	// MinDuration, if > 0, keeps the transactions open for at least this
	// long (KIP-994; ListTransactions v1, Kafka 3.8).
	MinDuration time.Duration
}

// TransactionListing is a transactional id as ListTransactions sees it.
type TransactionListing struct {
	TransactionalID string
	ProducerID      int64
	State           TransactionState
	// Coordinator is the id of the broker that coordinates it.
	Coordinator int32
}

// ListTransactions lists the transactional ids of every broker's
// transaction coordinator that match the filter (the kafka-transactions
// tool's list), sorted by id. A broker that fails fails the call, with
// what the other brokers listed.
func (a *Admin) ListTransactions(ctx context.Context, filter ListTransactionsFilter) ([]TransactionListing, error) {
	found := map[string]TransactionListing{}
	err := a.call(ctx, func(ctx context.Context) error {
		cl, err := a.cl.metadataFor(ctx, []string{}, false)
		if err != nil {
			return err
		}
		for _, n := range cl.Nodes() {
			if err := a.listTransactionsAt(ctx, &n, filter, found); err != nil {
				return err
			}
		}
		return nil
	})
	out := make([]TransactionListing, 0, len(found))
	for _, l := range found {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out, err
}

// listTransactionsAt adds what broker n lists to found.
func (a *Admin) listTransactionsAt(ctx context.Context, n *Node, filter ListTransactionsFilter, found map[string]TransactionListing) error {
	conn, err := a.cl.conn(ctx, nodeAddr(n), connAdmin)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrListTransactionsRequest()
	for _, s := range filter.States {
		req.StateFilters = append(req.StateFilters, string(s))
	}
	req.ProducerIDFilters = filter.ProducerIDs
	if filter.MinDuration > 0 {
		if v, ok := conn.version(int16(kmsg.ListTransactions)); ok && v < 1 {
			return wrapErr(ErrUnsupportedVersion, "broker %d cannot filter transactions by duration (ListTransactions v1)", n.ID)
		}
		req.DurationFilterMillis = filter.MinDuration.Milliseconds()
	}
	kresp, err := conn.request(ctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.ListTransactionsResponse)
	if err := brokerErr(resp.ErrorCode, nil); err != nil {
		return fmt.Errorf("listing the transactions of broker %d: %w", n.ID, err)
	}
	if len(resp.UnknownStateFilters) > 0 {
		// As Java's admin client, which only logs them.
		a.log.Warn("kafka: broker does not know transaction states", "broker", n.ID, "states", resp.UnknownStateFilters)
	}
	for _, s := range resp.TransactionStates {
		found[s.TransactionalID] = TransactionListing{TransactionalID: s.TransactionalID, ProducerID: s.ProducerID,
			State: TransactionState(s.TransactionState), Coordinator: n.ID}
	}
	return nil
}
