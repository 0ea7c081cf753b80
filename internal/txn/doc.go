// Package txn is the transaction coordinator (KIP-98): for each
// transactional id, its producer id and epoch and the state of its
// transaction, kept in the __transaction_state partitions this broker
// leads.
//
// # Records
//
// __transaction_state holds Kafka's records, one per change of a
// transactional id, compacted by key:
//
//	key    TransactionLogKey: record type int16 (0), transactional id
//	       (int16-length string)
//	value  TransactionLogValue v1 (flexible): producer id int64, producer
//	       epoch int16, timeout ms int32, state int8 (0 Empty, 1 Ongoing,
//	       2 PrepareCommit, 3 PrepareAbort, 4 CompleteCommit,
//	       5 CompleteAbort), partitions by topic (null when Empty), last
//	       update and start timestamps int64; tagged fields: 0 the
//	       previous producer id (the producer's id before the last epoch
//	       bump or overflow), 1 the next producer id (a prepared
//	       transactions v2 end that overflowed the epoch moves to it), 2
//	       the client transaction version of the end (2 for transactions
//	       v2, whose previous epoch is then implied: the epoch minus one,
//	       or 32766 after an overflow to epoch 0), 3 the next producer
//	       epoch (-1, unused). v0 values (no tagged fields) are read too.
//	       A null value is a tombstone: the id expired.
//
// Each record is one uncompressed batch, written acks=all before the
// change is applied; a load replays the partition and keeps the last
// record of each id.
//
// # A transaction
//
// InitProducerId gives a new id a producer id and bumps a known id's
// epoch (a new producer id at the epoch's limit), fencing older producers;
// an open transaction is first aborted at the bumped epoch.
// AddPartitions makes the state Ongoing (for transactions v2, KIP-890 part
// 2, a partition leader calls it for the producer); EndTxn writes
// PrepareCommit or PrepareAbort, the markers are written to every
// partition (retried until they are, or until this broker no longer leads
// the partition), and CompleteCommit or CompleteAbort is written. A
// coordinator that loads a prepared transaction writes its markers again.
// A transactions v2 EndTxn bumps the epoch as it prepares (a new producer
// id at the epoch's limit, taken at completion), so the markers carry the
// bumped epoch, and answers a retry at the previous epoch as the first
// request. Transactions open longer than their timeout are aborted with
// an epoch bump; ids idle longer than transactional.id.expiration.ms are
// deleted.
//
// The coordinator epoch of the markers is the leader epoch of the
// __transaction_state partition, so a partition can refuse markers of a
// deposed coordinator.
package txn
