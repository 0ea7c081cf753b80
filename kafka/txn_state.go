package kafka

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// txnState is a transactional producer's state, as Java's
// TransactionManager.State names it. The transitions:
//
//	UNINITIALIZED -> INITIALIZING -> READY          InitTransactions
//	READY -> IN_TRANSACTION                         BeginTransaction
//	IN_TRANSACTION -> COMMITTING_TRANSACTION -> READY
//	                                                CommitTransaction
//	IN_TRANSACTION or ABORTABLE_ERROR -> ABORTING_TRANSACTION -> READY
//	                                                AbortTransaction
//	IN_TRANSACTION or COMMITTING_TRANSACTION -> ABORTABLE_ERROR
//	                                                a failed record or request
//	any -> FATAL_ERROR                              fenced, unauthorized, ...
//
// A call that times out leaves INITIALIZING, COMMITTING_TRANSACTION or
// ABORTING_TRANSACTION in place; calling it again resumes it.
type txnState int8

const (
	txnUninitialized txnState = iota
	txnInitializing
	txnReady
	txnInTransaction
	txnCommitting
	txnAborting
	txnAbortableError
	txnFatalError
)

func (s txnState) String() string {
	return [...]string{"UNINITIALIZED", "INITIALIZING", "READY", "IN_TRANSACTION",
		"COMMITTING_TRANSACTION", "ABORTING_TRANSACTION", "ABORTABLE_ERROR", "FATAL_ERROR"}[s]
}

// txnPartState is a partition's place in the current transaction.
type txnPartState int8

const (
	txnPartNone    txnPartState = iota // not in the transaction
	txnPartPending                     // has records; AddPartitionsToTxn not sent yet
	txnPartAdding                      // AddPartitionsToTxn in flight
	txnPartAdded                       // its batches may be sent
)

// txnStatus is the part of a transactional producer's state that the
// send path reads: it lives in the accumulator, under its mutex, so that
// a record is checked against the state and queued atomically.
type txnStatus struct {
	state   txnState
	lastErr error // why ABORTABLE_ERROR or FATAL_ERROR
	// parts are the partitions of the current transaction; pending those
	// not named in an AddPartitionsToTxn yet.
	parts   []*partitionState
	pending []*partitionState
	// adding is set while the goroutine sending AddPartitionsToTxn runs;
	// addDone is closed when it stops.
	adding  bool
	addDone chan struct{}
	// started says the coordinator knows of the transaction (partitions
	// or offsets added), so it ends with EndTxn.
	started bool
	// bumpEpoch says a batch with a sequence failed, so the partition's
	// sequences cannot go on: the abort ends by bumping the epoch
	// (InitProducerId with the current id and epoch, KIP-360).
	bumpEpoch bool
}

// The errors of the transactional producer.
var (
	// ErrTransactionAborted fails the records of an aborted transaction
	// that were not sent yet (Java's TransactionAbortedException).
	ErrTransactionAborted error = &clientError{msg: "kafka: transaction aborted"}
	// ErrTransactionAbortable is returned while a transaction cannot
	// commit because one of its records or requests failed: call
	// AbortTransaction, then retry the transaction. The error also matches
	// the failure's own error.
	ErrTransactionAbortable error = &clientError{msg: "kafka: transaction failed and must be aborted"}
)

// txnFatal reports whether err makes a transactional producer unusable,
// as Java's TransactionManager decides: fenced by a newer producer with
// the same transactional.id, a sequence lost while the transaction runs,
// a version the broker lacks, or a missing permission on the cluster or
// the transactional id.
func txnFatal(err error) bool {
	return errors.Is(err, ErrProducerFenced) ||
		errors.Is(err, ErrOutOfOrderSequence) ||
		errors.Is(err, ErrUnsupportedVersion) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// txnSendErr returns why a record may not be sent now, or nil: it must be
// part of an open transaction.
// REQUIRES: a.mu held, a.tx != nil.
func (a *accumulator) txnSendErr() error {
	tx := a.tx
	switch tx.state {
	case txnInTransaction:
		return nil
	case txnAbortableError:
		return fmt.Errorf("%w: cannot send: an earlier record or request of the transaction failed; call AbortTransaction: %w", ErrTransactionAbortable, tx.lastErr)
	case txnFatalError:
		return tx.lastErr
	}
	return a.txnIllegal("Send")
}

// txnIllegal is the error of a call the state does not allow.
// REQUIRES: a.mu held, a.tx != nil.
func (a *accumulator) txnIllegal(call string) error {
	hint := ""
	switch a.tx.state {
	case txnUninitialized:
		hint = "; call InitTransactions first"
	case txnReady:
		hint = "; call BeginTransaction first"
	case txnInTransaction:
		hint = "; a transaction is open: commit or abort it first"
	case txnCommitting:
		hint = "; a CommitTransaction timed out and must be called again"
	}
	return fmt.Errorf("%w: transactional.id %s: %s is not allowed in state %s%s", ErrIllegalState, a.cfg.transactionalID, call, a.tx.state, hint)
}

// txnStateErr returns the error of a call in an error state, or nil: the
// fatal error, or the failure that made the transaction abortable.
// REQUIRES: a.mu held, a.tx != nil.
func (a *accumulator) txnStateErr(call string) error {
	switch a.tx.state {
	case txnFatalError:
		return fmt.Errorf("%s: the producer failed and must be closed: %w", call, a.tx.lastErr)
	case txnAbortableError:
		return fmt.Errorf("%w: %s: the transaction is in state ABORTABLE_ERROR; call AbortTransaction: %w", ErrTransactionAbortable, call, a.tx.lastErr)
	}
	return nil
}

// txnAddPartition makes a partition part of the current transaction.
// REQUIRES: a.mu held, a.tx != nil.
func (a *accumulator) txnAddPartition(ps *partitionState) {
	ps.txn = txnPartPending
	a.tx.parts = append(a.tx.parts, ps)
	a.tx.pending = append(a.tx.pending, ps)
}

// txnBatchFailed applies a failed batch to the transaction: a fatal error
// fails the producer, any other makes the transaction abortable (Java's
// TransactionManager.handleFailedBatch). hadSeq says the batch's sequence
// may be lost.
// REQUIRES: a.mu held, a.tx != nil.
func (a *accumulator) txnBatchFailed(err error, hadSeq bool, out *[]completion) {
	tx := a.tx
	// An out-of-order sequence after an earlier failure is the expected
	// consequence of that failure, not a lost write.
	running := (tx.state == txnInTransaction || tx.state == txnCommitting) && !tx.bumpEpoch
	if hadSeq {
		tx.bumpEpoch = true
	}
	if txnFatal(err) && (running || !errors.Is(err, ErrOutOfOrderSequence)) {
		a.txnSetFatal(err, out)
		return
	}
	a.txnSetAbortable(err, out)
}

// txnSetFatal moves to FATAL_ERROR: every pending record and every later
// call fails with err.
// REQUIRES: a.mu held, a.tx != nil.
func (a *accumulator) txnSetFatal(err error, out *[]completion) {
	if a.tx.state == txnFatalError {
		return
	}
	a.tx.state, a.tx.lastErr = txnFatalError, err
	a.tx.pending = nil
	a.fatal = err
	*out = append(*out, a.abortAll(err)...)
}

// txnSetAbortable moves an open or committing transaction to
// ABORTABLE_ERROR and fails its records that were not sent yet with err,
// as Java's Sender does, so that a commit waiting for them returns.
// REQUIRES: a.mu held, a.tx != nil.
func (a *accumulator) txnSetAbortable(err error, out *[]completion) {
	if a.tx.state != txnInTransaction && a.tx.state != txnCommitting {
		return
	}
	a.tx.state, a.tx.lastErr = txnAbortableError, err
	a.abortUndrained(err, out)
}

// abortUndrained fails the batches never sent (a batch waiting to be
// retried has a sequence the broker may have seen, and goes on), and
// forgets the partitions not added to the transaction yet.
// REQUIRES: a.mu held, a.tx != nil.
func (a *accumulator) abortUndrained(err error, out *[]completion) {
	for _, ps := range a.tx.parts {
		keep := ps.queue[:0]
		for _, b := range ps.queue {
			if b.seq >= 0 {
				keep = append(keep, b)
				continue
			}
			a.finish(b, -1, -1, err, out)
		}
		clear(ps.queue[len(keep):])
		ps.queue = keep
	}
	a.tx.pending = nil
}

// txnComplete ends the transaction: the partitions leave it and the
// producer is READY for the next.
// REQUIRES: a.mu held, a.tx != nil.
func (a *accumulator) txnComplete() {
	tx := a.tx
	for _, ps := range tx.parts {
		ps.txn = txnPartNone
	}
	clear(tx.parts)
	tx.parts = tx.parts[:0]
	tx.pending = nil
	tx.started, tx.bumpEpoch = false, false
	tx.state, tx.lastErr = txnReady, nil
}
