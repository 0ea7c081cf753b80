// Package storage keeps partition logs on disk in Kafka's own format, so
// that Kafka's tools can read a Samsa data directory and the reverse.
//
// # Layout
//
// Each log directory (log.dirs) holds one directory per partition,
// "<topic>-<partition>", and the broker-wide checkpoint files:
//
//	recovery-point-offset-checkpoint  per partition, the offset below which
//	                                  everything is known to be synced
//	log-start-offset-checkpoint       per partition, the first offset kept
//	                                  (moved by retention and DeleteRecords)
//	replication-offset-checkpoint     per partition, the high watermark
//	cleaner-offset-checkpoint         per compacted partition, the first
//	                                  offset the cleaner has not cleaned
//	.kafka_cleanshutdown              present only after a clean shutdown
//
// A partition directory holds:
//
//	00000000000000000000.log        v2 record batches, broker-assigned
//	                                offsets; one file per segment, named by
//	                                its base offset (20 digits)
//	00000000000000000000.index      sparse offset index: 8-byte entries
//	                                (offset - base uint32, position uint32)
//	00000000000000000000.timeindex  sparse time index: 12-byte entries
//	                                (max timestamp so far int64,
//	                                offset - base uint32)
//	00000000000000000000.txnindex   aborted transactions whose ABORT marker
//	                                is in the segment: 34-byte entries
//	                                (version int16, producer id, first
//	                                offset, last offset, last stable offset,
//	                                int64s), created on the first one
//	00000000000000000000.snapshot   producer state at that offset (Kafka's
//	                                snapshot format v1, with each open
//	                                transaction's first offset), written at
//	                                rolls
//	leader-epoch-checkpoint         "epoch startOffset" per leader epoch
//	partition.metadata              the topic id
//
// Index entries are added every index.interval.bytes of log; both indexes
// are kept in memory and written through, never preallocated, so a file
// on disk holds whole entries only.
//
// # Appends and reads
//
// Log.Append holds the log's mutex: it checks idempotent producers'
// sequences (answering a retried batch with its first offsets), assigns
// offsets, stamps the leader epoch (and LogAppendTime), rolls the active
// segment on segment.bytes, segment.ms, a full index or a relative offset
// overflow, writes, indexes, and wakes waiting fetches. A roll syncs the
// directory at once (the new file must survive a crash) and the old
// segment in the background, then writes the producer snapshot.
//
// Log.Read takes the mutex only to copy the segment list, which is never
// modified in place, then finds the batch holding the offset (index
// lookup, then a scan of batch headers) and returns a region of the
// segment file for the broker to send with sendfile. As in Kafka, the
// region may end with part of a batch.
//
// # Durability
//
// With Kafka's defaults (flush.messages and flush.ms of "never") data
// reaches the disk when the operating system writes it back, at rolls, and
// at shutdown; the recovery point moves when a flush completes, in segment
// order. flush.messages=1 syncs before an append returns; flush.ms is
// checked every second. After an unclean shutdown every segment from the
// one holding the recovery point on is rescanned: each batch's header,
// size, CRC-32C and offsets are checked, the file is truncated after the
// last good batch, later segments are dropped if the damaged one no longer
// reaches them, and indexes are rebuilt. Indexes that fail their sanity
// check are rebuilt even after a clean shutdown.
//
// # Retention
//
// The Manager checks every log.retention.check.interval.ms: whole segments
// go, oldest first, when their newest record is older than retention.ms,
// while the log exceeds retention.bytes, or when they lie wholly below the
// log start offset. Deleted segments are renamed to *.deleted at once and
// closed and removed after file.delete.delay.ms, so a fetch still sending
// from them completes.
//
// # Compaction
//
// Logs whose cleanup.policy includes compact are cleaned by the Manager's
// cleaner threads (cleaner.go describes a pass): the latest record of
// each key stays, tombstones stay for delete.retention.ms after a first
// cleaning, the active segment is never touched, and a rewritten segment
// is swapped in through <base>.log.cleaned and <base>.log.swap so that a
// crash at any step leaves a correct log.
//
// # Transactions
//
// The producer state also tracks each transactional producer's open
// transaction, from its first batch to the COMMIT or ABORT marker the
// coordinator appends (txn.go). The last stable offset is the high
// watermark, or the first offset of the oldest transaction still open or
// whose marker is not yet below the high watermark. An ABORT is indexed
// in the .txnindex of the marker's segment; recovery rebuilds the index
// of every segment it rescans by replaying the log from a snapshot at or
// before it.
//
// # Replication
//
// A follower's log takes the leader's batches as they are
// (AppendAsFollower: offsets and leader epochs kept, CRCs checked, producer
// state and epoch cache following), is cut back to where it diverged from
// the leader (TruncateTo, whole batches; TruncateFullyAndStartAt when it
// is behind the leader's log start), and keeps the high watermark it is
// told, checkpointed with the other offsets. A replica becoming leader
// records the start of its epoch first (AssignEpochStart).
//
// All file I/O goes through FS, so tests run the same code on MemFS, which
// drops unsynced writes at a simulated crash.
package storage
