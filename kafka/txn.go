package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnManager runs a transactional producer's requests to its transaction
// coordinator (Java's TransactionManager): InitProducerId with the
// transactional.id, AddPartitionsToTxn before a partition's first batch in
// a transaction, AddOffsetsToTxn and TxnOffsetCommit for a
// consume-transform-produce loop's offsets, and EndTxn. The protocol is
// KIP-98's (transactions v1).
//
// The state it moves through lives in the accumulator (txnStatus, under
// acc.mu), which the send path checks. The application's calls run on the
// caller's goroutine, one at a time (sem); AddPartitionsToTxn runs on a
// goroutine of its own, started by the manager goroutine, which ends when
// no partition waits to be added, and is waited for by Close.
type txnManager struct {
	c   *core
	acc *accumulator
	id  string // transactional.id
	// coord is the transaction coordinator (FindCoordinator key type 1).
	coord *coordinator
	// sem holds one transactional call at a time (cap 1).
	sem chan struct{}
	// groupCoord is the coordinator of the last group whose offsets were
	// sent. REQUIRES: sem held
	groupCoord *coordinator
}

// coordinatorTypeTransaction is FindCoordinator's key type for a
// transactional id (0 is a group).
const coordinatorTypeTransaction = 1

// addPartitionsBackoff is the retry delay after CONCURRENT_TRANSACTIONS
// from AddPartitionsToTxn: the previous transaction is still writing its
// markers, which takes milliseconds, so Java retries after 20 ms rather
// than retry.backoff.ms.
const addPartitionsBackoff = 20 * time.Millisecond

func newTxnManager(c *core) *txnManager {
	t := &txnManager{
		c:   c,
		acc: c.acc,
		id:  c.cfg.transactionalID,
		sem: make(chan struct{}, 1),
	}
	t.coord = &coordinator{cl: c.client, group: t.id, keyType: coordinatorTypeTransaction}
	c.acc.onTxnPartition = c.wakeManagerNow
	return t
}

// begin takes the right to run a transactional call and bounds it by
// max.block.ms, as Java bounds initTransactions, sendOffsetsToTransaction,
// commitTransaction and abortTransaction.
func (t *txnManager) begin(ctx context.Context) (context.Context, func(), error) {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, t.c.cfg.maxBlock)
	return ctx, func() { cancel(); <-t.sem }, nil
}

// timeoutErr is the error of a call cut short by ctx: ErrTimeout for
// max.block.ms or the context's deadline (the call may be made again to
// resume), the context's error otherwise.
func timeoutErr(ctx context.Context, call string, last error) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err()
	}
	if last != nil {
		return fmt.Errorf("%w: %s did not complete within max.block.ms or the context's deadline; call it again to resume; last error: %w", ErrTimeout, call, last)
	}
	return wrapErr(ErrTimeout, "%s did not complete within max.block.ms or the context's deadline; call it again to resume", call)
}

// fail applies an error of a transactional request: fatal ones fail the
// producer, others make the transaction abortable. It returns the error
// for the caller, which matches ErrTransactionAbortable in the second
// case.
func (t *txnManager) fail(call string, err error, fatal bool) error {
	var done []completion
	a := t.acc
	a.mu.Lock()
	if fatal {
		a.txnSetFatal(err, &done)
	} else {
		a.txnSetAbortable(err, &done)
	}
	state := a.tx.state
	a.mu.Unlock()
	t.c.runCompletions(done)
	if state == txnFatalError {
		return fmt.Errorf("%s: the producer failed and must be closed: %w", call, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrTransactionAbortable, call, err)
}

// retriableTxnCode reports codes after which a transactional request is
// sent again: the coordinator moved or is loading, or an earlier
// transaction of this id is still completing. invalidate says the
// coordinator must be looked up again.
func retriableTxnCode(code int16) (retry, invalidate bool) {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code:
		return true, true
	case kerr.CoordinatorLoadInProgress.Code, kerr.ConcurrentTransactions.Code:
		return true, false
	}
	return false, false
}

// coordRequest sends req to co until the answer is not one to retry
// (retriableTxnCode, or a retriable connection failure), with
// retry.backoff.ms growing to retry.backoff.max.ms, until ctx ends.
// errCode reads the answer's error code.
func (t *txnManager) coordRequest(ctx context.Context, call string, co *coordinator, req kmsg.Request, errCode func(kmsg.Response) int16) (kmsg.Response, int16, error) {
	var last error
	for attempt := 1; ; attempt++ {
		resp, err := co.groupRequestOnce(ctx, req, t.c.cfg.requestTO)
		if err == nil {
			code := errCode(resp)
			retry, invalidate := retriableTxnCode(code)
			if !retry {
				return resp, code, nil
			}
			if invalidate {
				co.invalidate(nil)
			}
			err = brokerErr(code, nil)
		} else if ctx.Err() == nil && !Retriable(err) {
			return nil, 0, err
		}
		last = err
		if ctx.Err() != nil {
			return nil, 0, timeoutErr(ctx, call, last)
		}
		t.c.log.Debug("kafka: retrying transactional request", "request", kmsg.NameForKey(req.Key()), "err", err)
		if sleepCtx(ctx, expBackoff(t.c.cfg.retryBackoff, t.c.cfg.retryBackoffM, attempt)) != nil {
			return nil, 0, timeoutErr(ctx, call, last)
		}
	}
}

// initTransactions is Producer.InitTransactions.
func (t *txnManager) initTransactions(ctx context.Context) error {
	ctx, done, err := t.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	a := t.acc
	a.mu.Lock()
	switch a.tx.state {
	case txnUninitialized, txnInitializing:
		a.tx.state = txnInitializing
	case txnFatalError:
		err = a.txnStateErr("InitTransactions")
	default:
		err = a.txnIllegal("InitTransactions")
	}
	a.mu.Unlock()
	if err != nil {
		return err
	}
	pid, epoch, err := t.initProducerID(ctx, "InitTransactions", -1, -1)
	if err != nil {
		return err
	}
	a.setProducerID(pid, epoch)
	a.mu.Lock()
	a.tx.state = txnReady
	a.mu.Unlock()
	t.c.log.Debug("kafka: transactional producer initialized", "transactional.id", t.id, "id", pid, "epoch", epoch)
	return nil
}

// initProducerID gets the producer id and epoch of the transactional id
// from its coordinator, which fences older producers with the same id and
// aborts their open transaction. pid and epoch, if not -1, are the
// current ones, whose epoch the coordinator then bumps (KIP-360, v3+).
// Errors other than a timeout are fatal, as in Java.
func (t *txnManager) initProducerID(ctx context.Context, call string, pid int64, epoch int16) (int64, int16, error) {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = &t.id
	req.TransactionTimeoutMillis = t.c.cfg.txnTimeoutMs
	req.ProducerID, req.ProducerEpoch = pid, epoch
	resp, code, err := t.coordRequest(ctx, call, t.coord, req, func(r kmsg.Response) int16 {
		return r.(*kmsg.InitProducerIDResponse).ErrorCode
	})
	if err == nil {
		err = brokerErr(code, nil)
	}
	if err != nil {
		if errors.Is(err, ErrTimeout) || ctx.Err() != nil {
			return 0, 0, err
		}
		return 0, 0, t.fail(call, err, true)
	}
	r := resp.(*kmsg.InitProducerIDResponse)
	return r.ProducerID, r.ProducerEpoch, nil
}

// beginTransaction is Producer.BeginTransaction.
func (t *txnManager) beginTransaction() error {
	a := t.acc
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.txnStateErr("BeginTransaction"); err != nil {
		return err
	}
	if a.tx.state != txnReady {
		return a.txnIllegal("BeginTransaction")
	}
	a.tx.state = txnInTransaction
	return nil
}

// maybeAddPartitions starts the goroutine that adds the partitions
// waiting for AddPartitionsToTxn, if there are some and it is not
// running. The manager goroutine calls it.
func (t *txnManager) maybeAddPartitions() {
	a := t.acc
	a.mu.Lock()
	defer a.mu.Unlock()
	tx := a.tx
	if tx.adding || len(tx.pending) == 0 || (tx.state != txnInTransaction && tx.state != txnCommitting) || t.c.ctx.Err() != nil {
		return
	}
	tx.adding = true
	tx.addDone = make(chan struct{})
	t.c.wg.Add(1)
	go t.addLoop(tx.addDone)
}

// addLoop sends AddPartitionsToTxn for the waiting partitions, all at
// once, and again for those that joined meanwhile, until none waits. The
// partitions' batches are sent once it succeeds.
func (t *txnManager) addLoop(done chan struct{}) {
	defer t.c.wg.Done()
	a := t.acc
	for {
		a.mu.Lock()
		tx := a.tx
		if len(tx.pending) == 0 || (tx.state != txnInTransaction && tx.state != txnCommitting) || t.c.ctx.Err() != nil {
			tx.adding = false
			close(done)
			a.mu.Unlock()
			return
		}
		parts := tx.pending
		tx.pending = nil
		for _, ps := range parts {
			ps.txn = txnPartAdding
		}
		pid, epoch := a.pid, a.epoch
		a.mu.Unlock()

		fatal, err := t.addPartitions(parts, pid, epoch)
		var completed []completion
		if err != nil {
			a.mu.Lock()
			if fatal {
				a.txnSetFatal(err, &completed)
			} else {
				a.txnSetAbortable(err, &completed)
			}
			a.mu.Unlock()
		}
		t.c.runCompletions(completed)
		t.c.wakeNode(-1)
	}
}

// addPartitions sends AddPartitionsToTxn for parts until each is added,
// retrying the partitions the coordinator asks to retry. It marks the
// added ones. fatal says the error must fail the producer.
func (t *txnManager) addPartitions(parts []*partitionState, pid int64, epoch int16) (fatal bool, err error) {
	left := parts
	ctx := t.c.ctx
	for attempt := 1; len(left) > 0; attempt++ {
		if t.stopAdding() {
			return false, nil // the transaction is ending; its partitions do not matter
		}
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = t.id, pid, epoch
		for _, ps := range left {
			i := len(req.Topics) - 1
			if i < 0 || req.Topics[i].Topic != ps.tp.topic {
				rt := kmsg.NewAddPartitionsToTxnRequestTopic()
				rt.Topic = ps.tp.topic
				req.Topics = append(req.Topics, rt)
				i++
			}
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, ps.tp.partition)
		}
		rctx, cancel := context.WithTimeout(ctx, t.c.cfg.requestTO)
		resp, err := t.coord.groupRequestOnce(rctx, req, t.c.cfg.requestTO)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return false, err
			}
			if !Retriable(err) {
				return txnFatal(err), err
			}
			t.c.log.Debug("kafka: AddPartitionsToTxn failed, retrying", "err", err)
			if sleepCtx(ctx, expBackoff(t.c.cfg.retryBackoff, t.c.cfg.retryBackoffM, attempt)) != nil {
				return false, err
			}
			continue
		}
		codes := map[topicPartition]int16{}
		for _, rt := range resp.(*kmsg.AddPartitionsToTxnResponse).Topics {
			for _, rp := range rt.Partitions {
				codes[topicPartition{rt.Topic, rp.Partition}] = rp.ErrorCode
			}
		}
		var (
			retry     []*partitionState
			backoff   = expBackoff(t.c.cfg.retryBackoff, t.c.cfg.retryBackoffM, attempt)
			firstErr  error
			fatalSeen bool
		)
		a := t.acc
		a.mu.Lock()
		for _, ps := range left {
			code, ok := codes[ps.tp]
			switch {
			case !ok:
				retry = append(retry, ps)
			case code == 0:
				ps.txn = txnPartAdded
				a.tx.started = true
			case code == kerr.OperationNotAttempted.Code:
				// Another partition's error stopped the request.
			case code == kerr.ConcurrentTransactions.Code:
				retry = append(retry, ps)
				backoff = min(backoff, addPartitionsBackoff)
			case code == kerr.NotCoordinator.Code || code == kerr.CoordinatorNotAvailable.Code:
				t.coord.invalidate(nil)
				retry = append(retry, ps)
			case code == kerr.CoordinatorLoadInProgress.Code || code == kerr.UnknownTopicOrPartition.Code:
				retry = append(retry, ps)
			default:
				e := fmt.Errorf("AddPartitionsToTxn for %s: %w", ps.tp, brokerErr(code, nil))
				f := addPartitionsFatal(code)
				if firstErr == nil || (f && !fatalSeen) {
					firstErr, fatalSeen = e, f
				}
			}
		}
		a.mu.Unlock()
		if firstErr != nil {
			return fatalSeen, firstErr
		}
		left = retry
		if len(left) > 0 && sleepCtx(ctx, backoff) != nil {
			return false, ctx.Err()
		}
	}
	return false, nil
}

// addPartitionsFatal reports AddPartitionsToTxn errors that fail the
// producer (Java's AddPartitionsToTxnHandler); the others (an
// unauthorized topic, an unknown producer id) make the transaction
// abortable.
func addPartitionsFatal(code int16) bool {
	switch code {
	case kerr.TopicAuthorizationFailed.Code, kerr.UnknownProducerID.Code, kerr.InvalidProducerIDMapping.Code,
		kerr.TransactionAbortable.Code:
		return false
	}
	return true
}

// stopAdding reports whether the transaction left the states in which
// partitions are added.
func (t *txnManager) stopAdding() bool {
	t.acc.mu.Lock()
	defer t.acc.mu.Unlock()
	s := t.acc.tx.state
	return s != txnInTransaction && s != txnCommitting
}

// waitAdds waits until no AddPartitionsToTxn is in flight, so that EndTxn
// does not overtake one.
func (t *txnManager) waitAdds(ctx context.Context) error {
	t.acc.mu.Lock()
	var ch chan struct{}
	if t.acc.tx.adding {
		ch = t.acc.tx.addDone
	}
	t.acc.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendOffsets is Producer.SendOffsetsToTransaction.
func (t *txnManager) sendOffsets(ctx context.Context, offsets map[TopicPartition]OffsetAndMetadata, gm ConsumerGroupMetadata) error {
	const call = "SendOffsetsToTransaction"
	if gm.GroupID == "" {
		return wrapErr(ErrInvalidGroupID, "%s needs the consumer's group id (Consumer.GroupMetadata)", call)
	}
	if gm.GenerationID > 0 && gm.MemberID == "" {
		return fmt.Errorf("kafka: %s: the group metadata has generation %d but no member id", call, gm.GenerationID)
	}
	ctx, done, err := t.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	a := t.acc
	a.mu.Lock()
	if err = a.txnStateErr(call); err == nil && a.tx.state != txnInTransaction {
		err = a.txnIllegal(call)
	}
	pid, epoch := a.pid, a.epoch
	a.mu.Unlock()
	if err != nil || len(offsets) == 0 {
		return err // no offsets: nothing to do, as in Java
	}

	// AddOffsetsToTxn: the group's offsets topic partition joins the
	// transaction.
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = t.id, pid, epoch, gm.GroupID
	_, code, err := t.coordRequest(ctx, call, t.coord, req, func(r kmsg.Response) int16 {
		return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode
	})
	if err != nil {
		if errors.Is(err, ErrTimeout) || ctx.Err() != nil {
			return err
		}
		return t.fail(call, err, txnFatal(err))
	}
	if code != 0 {
		err = fmt.Errorf("AddOffsetsToTxn for group %s: %w", gm.GroupID, brokerErr(code, nil))
		switch code {
		case kerr.GroupAuthorizationFailed.Code, kerr.UnknownProducerID.Code, kerr.InvalidProducerIDMapping.Code, kerr.TransactionAbortable.Code:
			return t.fail(call, err, false)
		}
		return t.fail(call, err, true)
	}
	a.mu.Lock()
	a.tx.started = true
	a.mu.Unlock()

	return t.txnOffsetCommit(ctx, call, offsets, gm, pid, epoch)
}

// txnOffsetCommit sends the offsets to the group's coordinator, which
// keeps them pending until the transaction ends (TxnOffsetCommit, with
// the member's generation so that a zombie member is fenced, KIP-447).
func (t *txnManager) txnOffsetCommit(ctx context.Context, call string, offsets map[TopicPartition]OffsetAndMetadata, gm ConsumerGroupMetadata, pid int64, epoch int16) error {
	if t.groupCoord == nil || t.groupCoord.group != gm.GroupID {
		t.groupCoord = &coordinator{cl: t.c.client, group: gm.GroupID}
	}
	left := offsets
	for attempt := 1; len(left) > 0; attempt++ {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = t.id, gm.GroupID, pid, epoch
		req.Generation, req.MemberID = gm.GenerationID, gm.MemberID
		if gm.GroupInstanceID != "" {
			req.InstanceID = kmsg.StringPtr(gm.GroupInstanceID)
		}
		byTopic := map[string]int{}
		for tp, om := range left {
			i, ok := byTopic[tp.Topic]
			if !ok {
				rt := kmsg.NewTxnOffsetCommitRequestTopic()
				rt.Topic = tp.Topic
				req.Topics = append(req.Topics, rt)
				i = len(req.Topics) - 1
				byTopic[tp.Topic] = i
			}
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = tp.Partition, om.Offset, -1
			if om.LeaderEpoch != nil {
				rp.LeaderEpoch = *om.LeaderEpoch
			}
			if om.Metadata != "" {
				rp.Metadata = kmsg.StringPtr(om.Metadata)
			}
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		}
		resp, err := t.groupCoord.groupRequestOnce(ctx, req, t.c.cfg.requestTO)
		if err != nil {
			if ctx.Err() != nil {
				return timeoutErr(ctx, call, err)
			}
			if !Retriable(err) {
				return t.fail(call, err, txnFatal(err))
			}
			if sleepCtx(ctx, expBackoff(t.c.cfg.retryBackoff, t.c.cfg.retryBackoffM, attempt)) != nil {
				return timeoutErr(ctx, call, err)
			}
			continue
		}
		retry := map[TopicPartition]OffsetAndMetadata{}
		var last error
		for _, rt := range resp.(*kmsg.TxnOffsetCommitResponse).Topics {
			for _, rp := range rt.Partitions {
				tp := TopicPartition{rt.Topic, rp.Partition}
				code := rp.ErrorCode
				if code == 0 {
					continue
				}
				perr := fmt.Errorf("TxnOffsetCommit of %s for group %s: %w", tp, gm.GroupID, brokerErr(code, nil))
				switch code {
				case kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code, kerr.RequestTimedOut.Code:
					t.groupCoord.invalidate(nil)
					retry[tp], last = left[tp], perr
				case kerr.CoordinatorLoadInProgress.Code, kerr.UnknownTopicOrPartition.Code, kerr.ConcurrentTransactions.Code:
					retry[tp], last = left[tp], perr
				case kerr.UnknownMemberID.Code, kerr.IllegalGeneration.Code:
					// The consumer lost its partitions in a rebalance: this
					// transaction must not commit their offsets.
					return t.fail(call, fmt.Errorf("%w: %w", ErrCommitFailed, perr), false)
				case kerr.GroupAuthorizationFailed.Code, kerr.FencedInstanceID.Code:
					return t.fail(call, perr, false)
				default:
					return t.fail(call, perr, true)
				}
			}
		}
		left = retry
		if len(left) > 0 && sleepCtx(ctx, expBackoff(t.c.cfg.retryBackoff, t.c.cfg.retryBackoffM, attempt)) != nil {
			return timeoutErr(ctx, call, last)
		}
	}
	return nil
}

// flushAll sends every queued record now and waits for all outcomes.
func (t *txnManager) flushAll(ctx context.Context) error {
	waits := t.acc.beginFlush()
	defer t.acc.endFlush()
	t.c.wakeNode(-1)
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// commit is Producer.CommitTransaction.
func (t *txnManager) commit(ctx context.Context) error {
	const call = "CommitTransaction"
	ctx, done, err := t.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	a := t.acc
	a.mu.Lock()
	if err = a.txnStateErr(call); err == nil {
		switch a.tx.state {
		case txnInTransaction:
			a.tx.state = txnCommitting
		case txnCommitting: // an earlier call timed out: resume
		default:
			err = a.txnIllegal(call)
		}
	}
	a.mu.Unlock()
	if err != nil {
		return err
	}
	// Every record of the transaction must be written before EndTxn.
	if err := t.flushAll(ctx); err != nil {
		return timeoutErr(ctx, call, nil)
	}
	if err := t.waitAdds(ctx); err != nil {
		return timeoutErr(ctx, call, nil)
	}
	a.mu.Lock()
	err = a.txnStateErr(call) // a record or AddPartitionsToTxn failed
	started := a.tx.started
	pid, epoch := a.pid, a.epoch
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if started {
		if err := t.endTxn(ctx, call, true, pid, epoch); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.txnComplete()
	a.mu.Unlock()
	return nil
}

// errNeedsBump is endTxn's answer when the coordinator no longer knows
// the producer id: an abort then bumps the epoch.
var errNeedsBump = errors.New("producer id unknown to the coordinator")

// endTxn sends EndTxn (Java's EndTxnHandler): fenced, unauthorized, an
// invalid transaction state and unexpected errors are fatal; an unknown
// producer id makes a commit abortable and an abort bump the epoch.
func (t *txnManager) endTxn(ctx context.Context, call string, commit bool, pid int64, epoch int16) error {
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = t.id, pid, epoch, commit
	_, code, err := t.coordRequest(ctx, call, t.coord, req, func(r kmsg.Response) int16 {
		return r.(*kmsg.EndTxnResponse).ErrorCode
	})
	if err != nil {
		if errors.Is(err, ErrTimeout) || ctx.Err() != nil {
			return err
		}
		return t.fail(call, err, txnFatal(err))
	}
	switch code {
	case 0:
		return nil
	case kerr.UnknownProducerID.Code, kerr.InvalidProducerIDMapping.Code, kerr.TransactionAbortable.Code:
		if !commit {
			return errNeedsBump
		}
		return t.fail(call, fmt.Errorf("EndTxn: %w", brokerErr(code, nil)), false)
	}
	return t.fail(call, fmt.Errorf("EndTxn: %w", brokerErr(code, nil)), true)
}

// abort is Producer.AbortTransaction.
func (t *txnManager) abort(ctx context.Context) error {
	ctx, done, err := t.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	return t.abortLocked(ctx, "AbortTransaction")
}

// abortLocked aborts the open transaction: its records not sent yet fail
// with ErrTransactionAborted, those sent are waited for, then EndTxn
// tells the coordinator to write abort markers. After a lost sequence
// the epoch is bumped, so that the next transaction's sequences start
// afresh.
// REQUIRES: sem held.
func (t *txnManager) abortLocked(ctx context.Context, call string) error {
	a := t.acc
	var completed []completion
	a.mu.Lock()
	var err error
	switch a.tx.state {
	case txnInTransaction, txnAbortableError, txnAborting:
		a.tx.state = txnAborting
		a.abortUndrained(wrapErr(ErrTransactionAborted, "the transaction was aborted before the record was sent"), &completed)
	case txnFatalError:
		err = a.txnStateErr(call)
	default:
		err = a.txnIllegal(call)
	}
	a.mu.Unlock()
	t.c.runCompletions(completed)
	if err != nil {
		return err
	}
	if err := t.waitAdds(ctx); err != nil {
		return timeoutErr(ctx, call, nil)
	}
	t.c.wakeNode(-1)
	if err := a.waitIdle(ctx); err != nil {
		return timeoutErr(ctx, call, nil)
	}
	a.mu.Lock()
	started, bump := a.tx.started, a.tx.bumpEpoch
	pid, epoch := a.pid, a.epoch
	a.mu.Unlock()
	if started {
		switch err := t.endTxn(ctx, call, false, pid, epoch); {
		case errors.Is(err, errNeedsBump):
			bump = true
		case err != nil:
			return err
		}
		a.mu.Lock()
		a.tx.started = false // a resumed abort does not end it twice
		a.mu.Unlock()
	}
	if bump {
		npid, nepoch, err := t.initProducerID(ctx, call, pid, epoch)
		if err != nil {
			return err
		}
		a.setProducerID(npid, nepoch)
		t.c.log.Debug("kafka: producer epoch bumped after abort", "transactional.id", t.id, "id", npid, "epoch", nepoch)
	}
	a.mu.Lock()
	a.txnComplete()
	a.mu.Unlock()
	return nil
}

// closeTxn aborts a transaction left open when the producer closes, as
// Java's producer does on a graceful close, within ctx.
func (t *txnManager) closeTxn(ctx context.Context) {
	ctx, done, err := t.begin(ctx)
	if err != nil {
		return
	}
	defer done()
	t.acc.mu.Lock()
	s := t.acc.tx.state
	t.acc.mu.Unlock()
	if s != txnInTransaction && s != txnAbortableError && s != txnAborting {
		return
	}
	if err := t.abortLocked(ctx, "Close"); err != nil {
		t.c.log.Warn("kafka: aborting the open transaction on close failed", "transactional.id", t.id, "err", err)
	}
}

// txnManagerOf returns the producer's transaction manager, or the error
// of a transactional call on a producer without transactional.id or
// closed.
func (p *Producer[K, V]) txnManagerOf(call string) (*txnManager, error) {
	if p.core.txn == nil {
		return nil, wrapErr(ErrIllegalState, "%s: transactional calls need the transactional.id setting", call)
	}
	if p.closed.Load() {
		return nil, wrapErr(ErrProducerClosed, "cannot call %s after the producer is closed", call)
	}
	return p.core.txn, nil
}

// InitTransactions gets the producer id of the transactional.id from its
// transaction coordinator (Java's initTransactions). It must be called
// once, before any other transactional call. It fences older producers
// with the same transactional.id, so that their sends and commits fail
// with ErrProducerFenced, and completes their last transaction: aborts it
// if it was open. It waits at most max.block.ms (and ctx); after a timeout
// (ErrTimeout) it may be called again.
func (p *Producer[K, V]) InitTransactions(ctx context.Context) error {
	t, err := p.txnManagerOf("InitTransactions")
	if err != nil {
		return err
	}
	return t.initTransactions(ctx)
}

// BeginTransaction opens a transaction (Java's beginTransaction): the
// records sent until CommitTransaction or AbortTransaction are written
// together, or not at all, for consumers with
// isolation.level=read_committed. Sending outside a transaction fails
// with ErrIllegalState.
func (p *Producer[K, V]) BeginTransaction() error {
	t, err := p.txnManagerOf("BeginTransaction")
	if err != nil {
		return err
	}
	return t.beginTransaction()
}

// SendOffsetsToTransaction adds consumer offsets to the transaction
// (Java's sendOffsetsToTransaction): they are committed for the group
// when, and only if, the transaction commits. This is how a
// consume-transform-produce loop reads each input record once: offsets
// are the next records to read (the last processed offset + 1), and
// groupMetadata is the consumer's Consumer.GroupMetadata, whose
// generation and member id let the group coordinator refuse offsets from
// a member that lost its partitions (KIP-447). The consumer should have
// enable.auto.commit=false.
func (p *Producer[K, V]) SendOffsetsToTransaction(ctx context.Context, offsets map[TopicPartition]OffsetAndMetadata, groupMetadata ConsumerGroupMetadata) error {
	t, err := p.txnManagerOf("SendOffsetsToTransaction")
	if err != nil {
		return err
	}
	return t.sendOffsets(ctx, offsets, groupMetadata)
}

// CommitTransaction sends every record of the transaction, waits for
// them, and commits the transaction (Java's commitTransaction). If a
// record or request of the transaction failed, it returns an error
// matching ErrTransactionAbortable and that failure: call
// AbortTransaction, then retry the transaction. An error that matches
// neither ErrTransactionAbortable nor ErrTimeout (ErrProducerFenced, an
// authorization or version error) is fatal: close the producer. After
// ErrTimeout, call CommitTransaction again.
func (p *Producer[K, V]) CommitTransaction(ctx context.Context) error {
	t, err := p.txnManagerOf("CommitTransaction")
	if err != nil {
		return err
	}
	return t.commit(ctx)
}

// AbortTransaction aborts the transaction (Java's abortTransaction): its
// records not sent yet fail with ErrTransactionAborted, those written are
// never seen by read_committed consumers, and its offsets are not
// committed. It is the way out of a failed transaction; after ErrTimeout,
// call it again.
func (p *Producer[K, V]) AbortTransaction(ctx context.Context) error {
	t, err := p.txnManagerOf("AbortTransaction")
	if err != nil {
		return err
	}
	return t.abort(ctx)
}
