package group

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
)

// Record types: the int16 that starts every key in __consumer_offsets
// (Kafka's CoordinatorRecordType; before 4.0 it was called the key
// version). Types 9-15 and 17+ are share and streams groups, which Samsa
// does not have; the loader skips them, as Kafka skips types it does not
// know.
const (
	recLegacyOffsetCommit                    int16 = 0
	recOffsetCommit                          int16 = 1
	recGroupMetadata                         int16 = 2
	recConsumerGroupMetadata                 int16 = 3
	recConsumerGroupPartitionMetadata        int16 = 4
	recConsumerGroupMemberMetadata           int16 = 5
	recConsumerGroupTargetAssignmentMetadata int16 = 6
	recConsumerGroupTargetAssignmentMember   int16 = 7
	recConsumerGroupCurrentMemberAssignment  int16 = 8
	recConsumerGroupRegularExpression        int16 = 16
)

// Value versions Samsa writes: those Kafka 4.0 writes.
const (
	// offsetCommitValueVersion is OffsetCommitValue v3 (leader epoch, no
	// expire timestamp); v1 is written only for a commit that carries a
	// retention time (OffsetCommit v2-v4).
	offsetCommitValueVersion       = 3
	offsetCommitValueExpireVersion = 1
	// groupMetadataValueVersion is the highest non-flexible version, which
	// is what MetadataVersion.groupMetadataValueVersion returns in 4.0.
	groupMetadataValueVersion = 3
)

var (
	errUnknownRecordType = errors.New("unknown __consumer_offsets record type")
	errBadRecord         = errors.New("malformed __consumer_offsets record")
)

// recordKey is the key of a __consumer_offsets record. Which fields are
// used depends on Type.
type recordKey struct {
	Type      int16
	Group     string
	Topic     string // offset commits
	Partition int32  // offset commits
	Member    string // member, target assignment and current assignment records
	Regex     string // regular expression records
}

// appendTo encodes the key: the type, then the key's fields in the
// non-flexible encoding (int16-length strings).
func (k *recordKey) appendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, k.Type)
	dst = kbin.AppendString(dst, k.Group)
	switch k.Type {
	case recLegacyOffsetCommit, recOffsetCommit:
		dst = kbin.AppendString(dst, k.Topic)
		dst = kbin.AppendInt32(dst, k.Partition)
	case recConsumerGroupMemberMetadata, recConsumerGroupTargetAssignmentMember, recConsumerGroupCurrentMemberAssignment:
		dst = kbin.AppendString(dst, k.Member)
	case recConsumerGroupRegularExpression:
		dst = kbin.AppendString(dst, k.Regex)
	}
	return dst
}

func parseKey(b []byte) (recordKey, error) {
	var k recordKey
	r := kbin.Reader{Src: b}
	k.Type = r.Int16()
	switch k.Type {
	case recLegacyOffsetCommit, recOffsetCommit:
		k.Group, k.Topic, k.Partition = r.String(), r.String(), r.Int32()
	case recGroupMetadata, recConsumerGroupMetadata, recConsumerGroupPartitionMetadata, recConsumerGroupTargetAssignmentMetadata:
		k.Group = r.String()
	case recConsumerGroupMemberMetadata, recConsumerGroupTargetAssignmentMember, recConsumerGroupCurrentMemberAssignment:
		k.Group, k.Member = r.String(), r.String()
	case recConsumerGroupRegularExpression:
		k.Group, k.Regex = r.String(), r.String()
	default:
		if !r.Ok() {
			return k, fmt.Errorf("%w: key shorter than its type", errBadRecord)
		}
		return k, fmt.Errorf("%w %d", errUnknownRecordType, k.Type)
	}
	if err := r.Complete(); err != nil {
		return k, fmt.Errorf("%w: key of type %d: %v", errBadRecord, k.Type, err)
	}
	return k, nil
}

// recordValue is the value of a record; kmsg's OffsetCommitValue and
// GroupMetadataValue are ones, as are the KIP-848 values below.
type recordValue interface {
	AppendTo(dst []byte) []byte
}

// coordRecord is one record of __consumer_offsets; a nil value is a
// tombstone, which deletes the key.
type coordRecord struct {
	key   recordKey
	value recordValue
}

// parseValue decodes the value of a record whose key has type typ. A nil
// value is a tombstone and decodes to nil.
func parseValue(typ int16, b []byte) (recordValue, error) {
	if b == nil {
		return nil, nil
	}
	var v interface {
		recordValue
		ReadFrom([]byte) error
	}
	switch typ {
	case recLegacyOffsetCommit, recOffsetCommit:
		v = new(kmsg.OffsetCommitValue)
	case recGroupMetadata:
		v = new(kmsg.GroupMetadataValue)
	case recConsumerGroupMetadata:
		v = new(cgMetadataValue)
	case recConsumerGroupPartitionMetadata:
		v = new(cgPartitionMetadataValue)
	case recConsumerGroupMemberMetadata:
		v = new(cgMemberMetadataValue)
	case recConsumerGroupTargetAssignmentMetadata:
		v = new(cgTargetAssignmentMetadataValue)
	case recConsumerGroupTargetAssignmentMember:
		v = new(cgTargetAssignmentMemberValue)
	case recConsumerGroupCurrentMemberAssignment:
		v = new(cgCurrentMemberAssignmentValue)
	case recConsumerGroupRegularExpression:
		v = new(cgRegexValue)
	default:
		return nil, fmt.Errorf("%w %d", errUnknownRecordType, typ)
	}
	if err := v.ReadFrom(b); err != nil {
		return nil, fmt.Errorf("%w: value of type %d: %v", errBadRecord, typ, err)
	}
	return v, nil
}

// The KIP-848 values. Each is a flexible message at version 0: an int16
// version, the fields in the compact encoding (uvarint lengths plus one),
// nested structs and the value itself each ending with a tagged-field
// section. Tagged fields Samsa does not know are skipped when read and
// not written back.

// cgMetadataValue is ConsumerGroupMetadataValue (type 3): the group epoch.
type cgMetadataValue struct {
	Epoch int32
}

// cgTopicMetadata is one topic of ConsumerGroupPartitionMetadataValue.
// Kafka 4.0 writes an empty partition-to-racks list; Samsa does too.
type cgTopicMetadata struct {
	TopicID       [16]byte
	TopicName     string
	NumPartitions int32
}

// cgPartitionMetadataValue is ConsumerGroupPartitionMetadataValue (type
// 4): the topics the group subscribes to, as last seen by the coordinator.
type cgPartitionMetadataValue struct {
	Topics []cgTopicMetadata
}

// cgMemberMetadataValue is ConsumerGroupMemberMetadataValue (type 5).
type cgMemberMetadataValue struct {
	InstanceID           *string
	RackID               *string
	ClientID             string
	ClientHost           string
	SubscribedTopicNames []string
	SubscribedTopicRegex *string
	RebalanceTimeoutMs   int32
	ServerAssignor       *string
}

// cgTargetAssignmentMetadataValue is ConsumerGroupTargetAssignmentMetadataValue
// (type 6): the epoch of the target assignment.
type cgTargetAssignmentMetadataValue struct {
	AssignmentEpoch int32
}

// cgTopicPartitions is the topic id and partitions shape shared by the
// assignment values.
type cgTopicPartitions struct {
	TopicID    [16]byte
	Partitions []int32
}

// cgTargetAssignmentMemberValue is ConsumerGroupTargetAssignmentMemberValue
// (type 7): one member's target assignment.
type cgTargetAssignmentMemberValue struct {
	TopicPartitions []cgTopicPartitions
}

// cgCurrentMemberAssignmentValue is ConsumerGroupCurrentMemberAssignmentValue
// (type 8): a member's epoch, reconciliation state and current assignment.
type cgCurrentMemberAssignmentValue struct {
	MemberEpoch                 int32
	PreviousMemberEpoch         int32
	State                       int8
	AssignedPartitions          []cgTopicPartitions
	PartitionsPendingRevocation []cgTopicPartitions
}

// cgRegexValue is ConsumerGroupRegularExpressionValue (type 16): the
// topics a subscription regular expression resolved to.
type cgRegexValue struct {
	Topics    []string
	Version   int64
	Timestamp int64
}

func appendTagsEnd(dst []byte) []byte { return kbin.AppendUvarint(dst, 0) }

// skipTags reads a tagged-field section and ignores its fields.
func skipTags(r *kbin.Reader) {
	for n := r.Uvarint(); n > 0 && r.Ok(); n-- {
		r.Uvarint() // tag
		r.Span(int(r.Uvarint()))
	}
}

// readVersion0 reads the version of a flexible value and rejects versions
// this code cannot parse: a later one could add fields that are not tagged.
func readVersion0(r *kbin.Reader) error {
	if v := r.Int16(); r.Ok() && v != 0 {
		return fmt.Errorf("version %d is newer than 0", v)
	}
	return nil
}

func appendCompactStrings(dst []byte, ss []string) []byte {
	dst = kbin.AppendCompactArrayLen(dst, len(ss))
	for _, s := range ss {
		dst = kbin.AppendCompactString(dst, s)
	}
	return dst
}

func readCompactStrings(r *kbin.Reader) []string {
	n := r.CompactArrayLen()
	if n <= 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := int32(0); i < n && r.Ok(); i++ {
		out = append(out, r.CompactString())
	}
	return out
}

func appendTopicPartitions(dst []byte, tps []cgTopicPartitions) []byte {
	dst = kbin.AppendCompactArrayLen(dst, len(tps))
	for _, tp := range tps {
		dst = kbin.AppendUuid(dst, tp.TopicID)
		dst = kbin.AppendCompactArrayLen(dst, len(tp.Partitions))
		for _, p := range tp.Partitions {
			dst = kbin.AppendInt32(dst, p)
		}
		dst = appendTagsEnd(dst)
	}
	return dst
}

func readTopicPartitions(r *kbin.Reader) []cgTopicPartitions {
	n := r.CompactArrayLen()
	if n <= 0 {
		return nil
	}
	out := make([]cgTopicPartitions, 0, n)
	for i := int32(0); i < n && r.Ok(); i++ {
		var tp cgTopicPartitions
		tp.TopicID = r.Uuid()
		np := r.CompactArrayLen()
		if np > 0 {
			tp.Partitions = make([]int32, 0, np)
			for j := int32(0); j < np && r.Ok(); j++ {
				tp.Partitions = append(tp.Partitions, r.Int32())
			}
		}
		skipTags(r)
		out = append(out, tp)
	}
	return out
}

func (v *cgMetadataValue) AppendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, 0)
	dst = kbin.AppendInt32(dst, v.Epoch)
	return appendTagsEnd(dst)
}

func (v *cgMetadataValue) ReadFrom(b []byte) error {
	r := kbin.Reader{Src: b}
	if err := readVersion0(&r); err != nil {
		return err
	}
	v.Epoch = r.Int32()
	skipTags(&r)
	return r.Complete()
}

func (v *cgPartitionMetadataValue) AppendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, 0)
	dst = kbin.AppendCompactArrayLen(dst, len(v.Topics))
	for _, t := range v.Topics {
		dst = kbin.AppendUuid(dst, t.TopicID)
		dst = kbin.AppendCompactString(dst, t.TopicName)
		dst = kbin.AppendInt32(dst, t.NumPartitions)
		dst = kbin.AppendCompactArrayLen(dst, 0) // PartitionMetadata (racks)
		dst = appendTagsEnd(dst)
	}
	return appendTagsEnd(dst)
}

func (v *cgPartitionMetadataValue) ReadFrom(b []byte) error {
	r := kbin.Reader{Src: b}
	if err := readVersion0(&r); err != nil {
		return err
	}
	v.Topics = nil
	n := r.CompactArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		var t cgTopicMetadata
		t.TopicID = r.Uuid()
		t.TopicName = r.CompactString()
		t.NumPartitions = r.Int32()
		np := r.CompactArrayLen()
		for j := int32(0); j < np && r.Ok(); j++ {
			r.Int32()              // partition
			readCompactStrings(&r) // racks
			skipTags(&r)
		}
		skipTags(&r)
		v.Topics = append(v.Topics, t)
	}
	skipTags(&r)
	return r.Complete()
}

func (v *cgMemberMetadataValue) AppendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, 0)
	dst = kbin.AppendCompactNullableString(dst, v.InstanceID)
	dst = kbin.AppendCompactNullableString(dst, v.RackID)
	dst = kbin.AppendCompactString(dst, v.ClientID)
	dst = kbin.AppendCompactString(dst, v.ClientHost)
	dst = appendCompactStrings(dst, v.SubscribedTopicNames)
	dst = kbin.AppendCompactNullableString(dst, v.SubscribedTopicRegex)
	dst = kbin.AppendInt32(dst, v.RebalanceTimeoutMs)
	dst = kbin.AppendCompactNullableString(dst, v.ServerAssignor)
	return appendTagsEnd(dst)
}

func (v *cgMemberMetadataValue) ReadFrom(b []byte) error {
	r := kbin.Reader{Src: b}
	if err := readVersion0(&r); err != nil {
		return err
	}
	v.InstanceID = r.CompactNullableString()
	v.RackID = r.CompactNullableString()
	v.ClientID = r.CompactString()
	v.ClientHost = r.CompactString()
	v.SubscribedTopicNames = readCompactStrings(&r)
	v.SubscribedTopicRegex = r.CompactNullableString()
	v.RebalanceTimeoutMs = r.Int32()
	v.ServerAssignor = r.CompactNullableString()
	// Tag 0 is ClassicMemberMetadata, set only for classic-protocol
	// members of a consumer group, which Samsa does not have.
	skipTags(&r)
	return r.Complete()
}

func (v *cgTargetAssignmentMetadataValue) AppendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, 0)
	dst = kbin.AppendInt32(dst, v.AssignmentEpoch)
	return appendTagsEnd(dst)
}

func (v *cgTargetAssignmentMetadataValue) ReadFrom(b []byte) error {
	r := kbin.Reader{Src: b}
	if err := readVersion0(&r); err != nil {
		return err
	}
	v.AssignmentEpoch = r.Int32()
	skipTags(&r)
	return r.Complete()
}

func (v *cgTargetAssignmentMemberValue) AppendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, 0)
	dst = appendTopicPartitions(dst, v.TopicPartitions)
	return appendTagsEnd(dst)
}

func (v *cgTargetAssignmentMemberValue) ReadFrom(b []byte) error {
	r := kbin.Reader{Src: b}
	if err := readVersion0(&r); err != nil {
		return err
	}
	v.TopicPartitions = readTopicPartitions(&r)
	skipTags(&r)
	return r.Complete()
}

func (v *cgCurrentMemberAssignmentValue) AppendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, 0)
	dst = kbin.AppendInt32(dst, v.MemberEpoch)
	dst = kbin.AppendInt32(dst, v.PreviousMemberEpoch)
	dst = kbin.AppendInt8(dst, v.State)
	dst = appendTopicPartitions(dst, v.AssignedPartitions)
	dst = appendTopicPartitions(dst, v.PartitionsPendingRevocation)
	return appendTagsEnd(dst)
}

func (v *cgCurrentMemberAssignmentValue) ReadFrom(b []byte) error {
	r := kbin.Reader{Src: b}
	if err := readVersion0(&r); err != nil {
		return err
	}
	v.MemberEpoch = r.Int32()
	v.PreviousMemberEpoch = r.Int32()
	v.State = r.Int8()
	v.AssignedPartitions = readTopicPartitions(&r)
	v.PartitionsPendingRevocation = readTopicPartitions(&r)
	skipTags(&r)
	return r.Complete()
}

func (v *cgRegexValue) AppendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, 0)
	dst = appendCompactStrings(dst, v.Topics)
	dst = kbin.AppendInt64(dst, v.Version)
	dst = kbin.AppendInt64(dst, v.Timestamp)
	return appendTagsEnd(dst)
}

func (v *cgRegexValue) ReadFrom(b []byte) error {
	r := kbin.Reader{Src: b}
	if err := readVersion0(&r); err != nil {
		return err
	}
	v.Topics = readCompactStrings(&r)
	v.Version = r.Int64()
	v.Timestamp = r.Int64()
	skipTags(&r)
	return r.Complete()
}

// assignment is a set of partitions by topic id; partition lists are
// sorted and never empty.
type assignment map[[16]byte][]int32

func (a assignment) toTopicPartitions() []cgTopicPartitions {
	out := make([]cgTopicPartitions, 0, len(a))
	for id, ps := range a {
		out = append(out, cgTopicPartitions{TopicID: id, Partitions: slices.Clone(ps)})
	}
	slices.SortFunc(out, func(x, y cgTopicPartitions) int { return compareIDs(x.TopicID, y.TopicID) })
	return out
}

func assignmentOf(tps []cgTopicPartitions) assignment {
	a := assignment{}
	for _, tp := range tps {
		if len(tp.Partitions) == 0 {
			continue
		}
		ps := append(a[tp.TopicID], tp.Partitions...)
		slices.Sort(ps)
		a[tp.TopicID] = slices.Compact(ps)
	}
	return a
}

func compareIDs(a, b [16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// buildBatch encodes records into one uncompressed v2 batch (Kafka's
// offsets.topic.compression.codec defaults to none), all stamped with
// nowMs. Tombstones get a null value.
func buildBatch(recs []coordRecord, nowMs int64) ([]byte, error) {
	b := record.NewBuilder(record.None)
	for i := range recs {
		r := &recs[i]
		rec := record.Record{Key: r.key.appendTo(nil)}
		if r.value != nil {
			rec.Value = r.value.AppendTo(nil)
		}
		b.Add(nowMs, rec)
	}
	return b.Build(nil)
}

// maxDecompressedBatchBytes bounds what one compressed batch of
// __consumer_offsets may expand to when it is replayed.
const maxDecompressedBatchBytes = 64 << 20

// eachRecord decodes the records of one batch as read back from
// __consumer_offsets. Control batches (transaction markers) and records of
// types this coordinator does not know are skipped; a record it cannot
// decode is an error.
func eachRecord(batch []byte, fn func(coordRecord) error) error {
	h, err := record.ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.Control() {
		return nil
	}
	return record.EachRecord(&h, batch, maxDecompressedBatchBytes, func(r *record.Record) error {
		if r.Key == nil {
			return fmt.Errorf("%w: null key", errBadRecord)
		}
		k, err := parseKey(r.Key)
		if errors.Is(err, errUnknownRecordType) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := parseValue(k.Type, r.Value)
		if err != nil {
			return err
		}
		return fn(coordRecord{key: k, value: v})
	})
}
