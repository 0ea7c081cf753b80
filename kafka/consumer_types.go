package kafka

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// TopicPartition names a partition (Java's TopicPartition).
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

func compareTP(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// sortTPs sorts partitions by topic, then number, and returns them.
func sortTPs(tps []TopicPartition) []TopicPartition {
	slices.SortFunc(tps, compareTP)
	return tps
}

// OffsetAndMetadata is a committed offset (Java's OffsetAndMetadata): the
// offset of the next record to read, a metadata string stored with it,
// and the leader epoch of the last record read, if known. The consumer
// uses the epoch to detect log truncation when it resumes from the
// offset; leave it nil when you do not know it.
type OffsetAndMetadata struct {
	Offset      int64
	Metadata    string
	LeaderEpoch *int32
}

func (o OffsetAndMetadata) String() string {
	e := "none"
	if o.LeaderEpoch != nil {
		e = strconv.Itoa(int(*o.LeaderEpoch))
	}
	return fmt.Sprintf("OffsetAndMetadata{offset=%d, leaderEpoch=%s, metadata='%s'}", o.Offset, e, o.Metadata)
}

// OffsetAndTimestamp is an answer of OffsetsForTimes: the earliest offset
// whose timestamp is at least the one asked for.
type OffsetAndTimestamp struct {
	Offset      int64
	Timestamp   time.Time
	LeaderEpoch *int32
}

// TimestampType says where a record's timestamp comes from.
type TimestampType int8

const (
	// NoTimestampType is a record without a timestamp (message formats
	// before v1).
	NoTimestampType TimestampType = -1
	// CreateTime is the producer's timestamp.
	CreateTime TimestampType = 0
	// LogAppendTime is the broker's, for topics with
	// message.timestamp.type=LogAppendTime.
	LogAppendTime TimestampType = 1
)

func (t TimestampType) String() string {
	switch t {
	case CreateTime:
		return "CreateTime"
	case LogAppendTime:
		return "LogAppendTime"
	}
	return "NoTimestampType"
}

// ConsumerRecord is a record read from Kafka (Java's ConsumerRecord).
type ConsumerRecord[K, V any] struct {
	Topic     string
	Partition int32
	Offset    int64
	// Timestamp is the record's CreateTime or the broker's LogAppendTime,
	// as TimestampType says.
	Timestamp     time.Time
	TimestampType TimestampType
	// SerializedKeySize and SerializedValueSize are the sizes before
	// deserialization, -1 for null.
	SerializedKeySize   int
	SerializedValueSize int
	Key                 K
	Value               V
	Headers             Headers
	// LeaderEpoch is the leader epoch of the record's batch, -1 if
	// unknown.
	LeaderEpoch int32
}

// ConsumerRecords are the records one Poll returned, each partition's in
// offset order (Java's ConsumerRecords).
type ConsumerRecords[K, V any] struct {
	recs []ConsumerRecord[K, V]
	next map[TopicPartition]OffsetAndMetadata
}

// All returns every record.
func (r ConsumerRecords[K, V]) All() []ConsumerRecord[K, V] { return r.recs }

// Count is the number of records.
func (r ConsumerRecords[K, V]) Count() int { return len(r.recs) }

// IsEmpty reports whether there are no records.
func (r ConsumerRecords[K, V]) IsEmpty() bool { return len(r.recs) == 0 }

// Partition returns the records of one partition, in offset order.
func (r ConsumerRecords[K, V]) Partition(tp TopicPartition) []ConsumerRecord[K, V] {
	var out []ConsumerRecord[K, V]
	for i := range r.recs {
		if r.recs[i].Topic == tp.Topic && r.recs[i].Partition == tp.Partition {
			out = append(out, r.recs[i])
		}
	}
	return out
}

// Topic returns the records of one topic.
func (r ConsumerRecords[K, V]) Topic(topic string) []ConsumerRecord[K, V] {
	var out []ConsumerRecord[K, V]
	for i := range r.recs {
		if r.recs[i].Topic == topic {
			out = append(out, r.recs[i])
		}
	}
	return out
}

// Partitions returns the partitions that have records, sorted.
func (r ConsumerRecords[K, V]) Partitions() []TopicPartition {
	seen := map[TopicPartition]bool{}
	var out []TopicPartition
	for i := range r.recs {
		tp := TopicPartition{r.recs[i].Topic, r.recs[i].Partition}
		if !seen[tp] {
			seen[tp] = true
			out = append(out, tp)
		}
	}
	return sortTPs(out)
}

// NextOffsets returns, per partition the Poll advanced, the position after
// the records returned: what CommitSync would commit for it (KIP-1094).
func (r ConsumerRecords[K, V]) NextOffsets() map[TopicPartition]OffsetAndMetadata { return r.next }

// RebalanceListener is told when partitions of a subscription move (Java's
// ConsumerRebalanceListener). Its methods run on the goroutine calling Poll
// (or Close or Unsubscribe), so they may call the consumer, typically
// CommitSync to commit what was processed.
//
// OnPartitionsRevoked runs before the partitions go to another member,
// while they are still assigned: with an eager assignor at the start of
// every rebalance (for all partitions, possibly none), with a cooperative
// one only for the partitions that move, if any. OnPartitionsAssigned runs
// after every rebalance with the partitions newly assigned, possibly
// none; positions are initialized afterwards unless it Seeks.
// OnPartitionsLost runs instead of OnPartitionsRevoked when the partitions
// may already belong to someone else (the member was fenced or timed
// out), so committing them would fail.
type RebalanceListener interface {
	OnPartitionsRevoked(partitions []TopicPartition)
	OnPartitionsAssigned(partitions []TopicPartition)
	OnPartitionsLost(partitions []TopicPartition)
}

// RebalanceListenerFuncs is a RebalanceListener made of functions; nil
// ones do nothing, except that a nil Lost calls Revoked, as Java's default
// onPartitionsLost does.
type RebalanceListenerFuncs struct {
	Revoked  func(partitions []TopicPartition)
	Assigned func(partitions []TopicPartition)
	Lost     func(partitions []TopicPartition)
}

// OnPartitionsRevoked calls Revoked.
func (f RebalanceListenerFuncs) OnPartitionsRevoked(p []TopicPartition) {
	if f.Revoked != nil {
		f.Revoked(p)
	}
}

// OnPartitionsAssigned calls Assigned.
func (f RebalanceListenerFuncs) OnPartitionsAssigned(p []TopicPartition) {
	if f.Assigned != nil {
		f.Assigned(p)
	}
}

// OnPartitionsLost calls Lost, or Revoked if Lost is nil.
func (f RebalanceListenerFuncs) OnPartitionsLost(p []TopicPartition) {
	if f.Lost != nil {
		f.Lost(p)
		return
	}
	f.OnPartitionsRevoked(p)
}

// OffsetCommitCallback gets the outcome of an asynchronous commit (Java's
// OffsetCommitCallback). It runs on the goroutine of a later Poll,
// CommitSync or Close, in the order the commits were made.
type OffsetCommitCallback func(offsets map[TopicPartition]OffsetAndMetadata, err error)

// ConsumerGroupMetadata identifies a group member, for transactional
// producers' SendOffsetsToTransaction (Java's ConsumerGroupMetadata).
type ConsumerGroupMetadata struct {
	GroupID         string
	GenerationID    int32
	MemberID        string
	GroupInstanceID string
}

// RecordDeserializationError is a record whose key or value the
// deserializer rejected (Java's RecordDeserializationException). The
// consumer's position stays at the record: Seek to Offset+1 to skip it.
// It matches ErrDeserialization and the deserializer's error.
type RecordDeserializationError struct {
	TopicPartition
	Offset int64
	IsKey  bool
	Err    error
}

func (e *RecordDeserializationError) Error() string {
	what := "value"
	if e.IsKey {
		what = "key"
	}
	return fmt.Sprintf("kafka: error deserializing %s of record at offset %d of partition %s: %v; seek to offset %d to skip it",
		what, e.Offset, e.TopicPartition, e.Err, e.Offset+1)
}

// Unwrap returns ErrDeserialization and the deserializer's error.
func (e *RecordDeserializationError) Unwrap() []error { return []error{ErrDeserialization, e.Err} }

// OffsetOutOfRangeError names the partitions whose fetch position is
// outside the log, with the positions, under auto.offset.reset=none
// (Java's OffsetOutOfRangeException). Seek them somewhere valid. It
// matches ErrOffsetOutOfRange.
type OffsetOutOfRangeError struct {
	Offsets map[TopicPartition]int64
}

func (e *OffsetOutOfRangeError) Error() string {
	tps := make([]TopicPartition, 0, len(e.Offsets))
	for tp := range e.Offsets {
		tps = append(tps, tp)
	}
	s := "kafka: fetch position out of range and no auto.offset.reset policy (auto.offset.reset=none):"
	for _, tp := range sortTPs(tps) {
		s += fmt.Sprintf(" %s at %d", tp, e.Offsets[tp])
	}
	return s
}

// Unwrap returns ErrOffsetOutOfRange.
func (e *OffsetOutOfRangeError) Unwrap() error { return ErrOffsetOutOfRange }
