package group

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestJavaStringHashCode(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int32
	}{
		{"", 0},
		{"a", 97},
		{"abc", 96354},
		{"Aa", 2112}, // the classic collision with "BB"
		{"BB", 2112},
		{"hello world", 1794106052},
		{"polygenelubricants", -1 << 31},
		// U+1F600 is two UTF-16 code units, 0xD83D 0xDE00.
		{"\U0001F600", 0xD83D*31 + 0xDE00},
		{"é", 0xE9},
	} {
		if got := JavaStringHashCode(c.s); got != c.want {
			t.Errorf("JavaStringHashCode(%q) = %d, want %d", c.s, got, c.want)
		}
	}
}

func TestPartitionFor(t *testing.T) {
	// Utils.abs maps MinInt32 to 0, where Math.abs would stay negative.
	if p := PartitionFor("polygenelubricants", 50); p != 0 {
		t.Errorf("PartitionFor(polygenelubricants) = %d, want 0", p)
	}
	// "hello world".hashCode() = 1794106052; % 50 = 2.
	if p := PartitionFor("hello world", 50); p != 2 {
		t.Errorf("PartitionFor(hello world) = %d, want 2", p)
	}
	// "my-group".hashCode() = -1906497762: abs, then % 50 = 12.
	if h := JavaStringHashCode("my-group"); h != -1906497762 {
		t.Fatalf("hash of my-group = %d", h)
	}
	if p := PartitionFor("my-group", 50); p != 12 {
		t.Errorf("PartitionFor(my-group) = %d, want 12", p)
	}
}

// The keys and classic values must be byte for byte what Kafka writes;
// kmsg's types are generated from Kafka's schemas.
func TestClassicRecordBytesMatchKafkaSchemas(t *testing.T) {
	k := recordKey{Type: recOffsetCommit, Group: "g", Topic: "t", Partition: 7}
	want := (&kmsg.OffsetCommitKey{Version: 1, Group: "g", Topic: "t", Partition: 7}).AppendTo(nil)
	if got := k.appendTo(nil); !bytes.Equal(got, want) {
		t.Errorf("offset commit key = %x, want %x", got, want)
	}
	gk := recordKey{Type: recGroupMetadata, Group: "grp"}
	if got, want := gk.appendTo(nil), (&kmsg.GroupMetadataKey{Version: 2, Group: "grp"}).AppendTo(nil); !bytes.Equal(got, want) {
		t.Errorf("group metadata key = %x, want %x", got, want)
	}
	r := offsetCommitRecord("g", "t", 7, offsetEntry{offset: 42, leaderEpoch: 3, metadata: "md", commitMs: 1000, expireMs: -1})
	// OffsetCommitValue v3: version, offset, leader epoch, metadata, commit timestamp.
	wantV := "0003" + "000000000000002a" + "00000003" + "0002" + "6d64" + "00000000000003e8"
	if got := hex.EncodeToString(r.value.AppendTo(nil)); got != wantV {
		t.Errorf("offset commit value = %s, want %s", got, wantV)
	}
	r = offsetCommitRecord("g", "t", 7, offsetEntry{offset: 42, leaderEpoch: 3, metadata: "", commitMs: 1000, expireMs: 5000})
	if v := r.value.(*kmsg.OffsetCommitValue); v.Version != 1 || v.ExpireTimestamp != 5000 {
		t.Errorf("commit with retention: version %d expire %d, want v1 with 5000", v.Version, v.ExpireTimestamp)
	}
}

func TestConsumerGroupRecordBytes(t *testing.T) {
	// Keys: type, then int16-length strings.
	k := recordKey{Type: recConsumerGroupMemberMetadata, Group: "g", Member: "m"}
	if got, want := hex.EncodeToString(k.appendTo(nil)), "0005"+"000167"+"00016d"; got != want {
		t.Errorf("member key = %s, want %s", got, want)
	}
	k = recordKey{Type: recConsumerGroupRegularExpression, Group: "g", Regex: "a.*"}
	if got, want := hex.EncodeToString(k.appendTo(nil)), "0010"+"000167"+"0003612e2a"; got != want {
		t.Errorf("regex key = %s, want %s", got, want)
	}
	// Values: version 0, compact encoding, empty tag sections.
	if got, want := hex.EncodeToString((&cgMetadataValue{Epoch: 5}).AppendTo(nil)), "0000"+"00000005"+"00"; got != want {
		t.Errorf("group epoch value = %s, want %s", got, want)
	}
	id := [16]byte{15: 1}
	cur := &cgCurrentMemberAssignmentValue{
		MemberEpoch: 3, PreviousMemberEpoch: 2, State: 1,
		AssignedPartitions: []cgTopicPartitions{{TopicID: id, Partitions: []int32{0, 2}}},
	}
	want := "0000" + "00000003" + "00000002" + "01" +
		"02" + "00000000000000000000000000000001" + "03" + "00000000" + "00000002" + "00" + // one topic, two partitions
		"01" + // no pending revocation
		"00"
	if got := hex.EncodeToString(cur.AppendTo(nil)); got != want {
		t.Errorf("current assignment value = %s, want %s", got, want)
	}
	inst := "i"
	md := &cgMemberMetadataValue{InstanceID: &inst, ClientID: "c", ClientHost: "h", SubscribedTopicNames: []string{"t"}, RebalanceTimeoutMs: 300}
	want = "0000" + "0269" + "00" + "0263" + "0268" + "020274" + "00" + "0000012c" + "00" + "00"
	if got := hex.EncodeToString(md.AppendTo(nil)); got != want {
		t.Errorf("member metadata value = %s, want %s", got, want)
	}
}

func TestRecordValuesRoundTrip(t *testing.T) {
	id := [16]byte{1, 2, 3}
	rack, re, asg := "r", "t.*", "uniform"
	values := []struct {
		typ int16
		v   recordValue
	}{
		{recConsumerGroupMetadata, &cgMetadataValue{Epoch: 9}},
		{recConsumerGroupPartitionMetadata, &cgPartitionMetadataValue{Topics: []cgTopicMetadata{{TopicID: id, TopicName: "t", NumPartitions: 6}}}},
		{recConsumerGroupMemberMetadata, &cgMemberMetadataValue{RackID: &rack, ClientID: "c", ClientHost: "h", SubscribedTopicNames: []string{"a", "b"}, SubscribedTopicRegex: &re, RebalanceTimeoutMs: 5, ServerAssignor: &asg}},
		{recConsumerGroupTargetAssignmentMetadata, &cgTargetAssignmentMetadataValue{AssignmentEpoch: 4}},
		{recConsumerGroupTargetAssignmentMember, &cgTargetAssignmentMemberValue{TopicPartitions: []cgTopicPartitions{{TopicID: id, Partitions: []int32{1, 5}}}}},
		{recConsumerGroupCurrentMemberAssignment, &cgCurrentMemberAssignmentValue{MemberEpoch: 4, PreviousMemberEpoch: 3, State: 2,
			AssignedPartitions: []cgTopicPartitions{{TopicID: id, Partitions: []int32{0}}}, PartitionsPendingRevocation: []cgTopicPartitions{{TopicID: id, Partitions: []int32{1}}}}},
		{recConsumerGroupRegularExpression, &cgRegexValue{Topics: []string{"t1", "t2"}, Version: 7, Timestamp: 8}},
	}
	for _, c := range values {
		b := c.v.AppendTo(nil)
		got, err := parseValue(c.typ, b)
		if err != nil {
			t.Fatalf("type %d: %v", c.typ, err)
		}
		if again := got.AppendTo(nil); !bytes.Equal(again, b) {
			t.Errorf("type %d: round trip %x != %x", c.typ, again, b)
		}
		// Every truncation is an error, never a panic.
		for i := 0; i < len(b); i++ {
			if _, err := parseValue(c.typ, b[:i]); err == nil {
				t.Errorf("type %d: %d of %d bytes parsed without error", c.typ, i, len(b))
			}
		}
	}
	// A tombstone decodes to nil.
	if v, err := parseValue(recConsumerGroupMetadata, nil); v != nil || err != nil {
		t.Errorf("tombstone = %v, %v", v, err)
	}
}

func TestRecordValueSkipsUnknownTags(t *testing.T) {
	// A value written by a newer Kafka with a tagged field (tag 0, 2
	// bytes) still reads.
	b := []byte{0, 0, 0, 0, 0, 7, 1, 0, 2, 0xab, 0xcd}
	v, err := parseValue(recConsumerGroupMetadata, b)
	if err != nil {
		t.Fatal(err)
	}
	if v.(*cgMetadataValue).Epoch != 7 {
		t.Errorf("epoch = %d, want 7", v.(*cgMetadataValue).Epoch)
	}
	// A newer version is refused rather than misread.
	if _, err := parseValue(recConsumerGroupMetadata, []byte{0, 1, 0, 0, 0, 7, 0}); err == nil {
		t.Error("version 1 parsed as version 0")
	}
}

func TestBatchSkipsUnknownRecordTypes(t *testing.T) {
	recs := []coordRecord{
		cgEpochRecord("g", 3),
		// A share group record (type 11) Samsa does not know.
		{key: recordKey{Type: 11, Group: "g"}, value: &cgMetadataValue{Epoch: 1}},
		offsetTombstone("g", "t", 0),
	}
	batch, err := buildBatch(recs, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []recordKey
	if err := eachRecord(batch, func(r coordRecord) error { got = append(got, r.key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != recConsumerGroupMetadata || got[1].Type != recOffsetCommit {
		t.Errorf("decoded keys %+v, want the epoch and the offset tombstone", got)
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add(recordKey{Type: recOffsetCommit, Group: "g", Topic: "t"}.appendToCopy(), (&cgMetadataValue{Epoch: 1}).AppendTo(nil))
	f.Add(recordKey{Type: recConsumerGroupCurrentMemberAssignment, Group: "g", Member: "m"}.appendToCopy(),
		(&cgCurrentMemberAssignmentValue{AssignedPartitions: []cgTopicPartitions{{Partitions: []int32{1}}}}).AppendTo(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		k, err := parseKey(key)
		if err != nil {
			return
		}
		v, err := parseValue(k.Type, value)
		if err != nil || v == nil {
			return
		}
		// Whatever parses must encode and parse to the same value.
		again, err := parseValue(k.Type, v.AppendTo(nil))
		if err != nil {
			t.Fatalf("re-encoded value does not parse: %v", err)
		}
		if !bytes.Equal(again.AppendTo(nil), v.AppendTo(nil)) {
			t.Fatal("re-encoded value differs")
		}
	})
}

func (k recordKey) appendToCopy() []byte { return k.appendTo(nil) }
