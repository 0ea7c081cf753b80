package group

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrUnknownRecordType is returned by DescribeRecord for a key whose record
// type this coordinator does not know (share and streams groups).
var ErrUnknownRecordType = errUnknownRecordType

// DescribeRecord renders one __consumer_offsets record readably, as
// kafka-dump-log.sh --offsets-decoder does in Kafka 4: the key as
// {"type":"<record type>","data":{...}}, the value as
// {"version":"<value version>","data":{...}}, with the field names of
// Kafka's record schemas, and a tombstone (nil value) as "<DELETE>". The
// subscriptions and assignments of a classic group's members are decoded
// too when the group uses the consumer protocol. It decodes with the same
// code the coordinator loads the topic with.
func DescribeRecord(key, value []byte) (keyText, valueText string, err error) {
	k, err := parseKey(key)
	if err != nil {
		return "", "", err
	}
	v, err := parseValue(k.Type, value)
	if err != nil {
		return "", "", err
	}
	keyText, err = marshalJSON(jsonObject{{"type", itoa(int64(k.Type))}, {"data", describeKey(&k)}})
	if err != nil {
		return "", "", err
	}
	if v == nil {
		return keyText, "<DELETE>", nil
	}
	version, data := describeValue(v)
	valueText, err = marshalJSON(jsonObject{{"version", itoa(int64(version))}, {"data", data}})
	if err != nil {
		return "", "", err
	}
	return keyText, valueText, nil
}

func describeKey(k *recordKey) jsonObject {
	switch k.Type {
	case recLegacyOffsetCommit, recOffsetCommit:
		return jsonObject{{"group", k.Group}, {"topic", k.Topic}, {"partition", k.Partition}}
	case recGroupMetadata:
		return jsonObject{{"group", k.Group}}
	case recConsumerGroupMemberMetadata, recConsumerGroupTargetAssignmentMember, recConsumerGroupCurrentMemberAssignment:
		return jsonObject{{"groupId", k.Group}, {"memberId", k.Member}}
	case recConsumerGroupRegularExpression:
		return jsonObject{{"groupId", k.Group}, {"regularExpression", k.Regex}}
	default:
		return jsonObject{{"groupId", k.Group}}
	}
}

// describeValue returns the version of a decoded value and its fields,
// those of the version only, as Kafka's JSON converters write them.
func describeValue(v recordValue) (int16, jsonObject) {
	switch v := v.(type) {
	case *kmsg.OffsetCommitValue:
		o := jsonObject{{"offset", v.Offset}}
		if v.Version >= 3 {
			o = append(o, jsonField{"leaderEpoch", v.LeaderEpoch})
		}
		o = append(o, jsonField{"metadata", v.Metadata}, jsonField{"commitTimestamp", v.CommitTimestamp})
		if v.Version == 1 {
			o = append(o, jsonField{"expireTimestamp", v.ExpireTimestamp})
		}
		if v.Version >= 4 && v.TopicID != [16]byte{} {
			o = append(o, jsonField{"topicId", uuidString(v.TopicID)})
		}
		return v.Version, o
	case *kmsg.GroupMetadataValue:
		return v.Version, describeGroupMetadata(v)
	case *cgMetadataValue:
		return 0, jsonObject{{"epoch", v.Epoch}}
	case *cgPartitionMetadataValue:
		topics := make([]jsonObject, 0, len(v.Topics))
		for _, t := range v.Topics {
			topics = append(topics, jsonObject{
				{"topicId", uuidString(t.TopicID)}, {"topicName", t.TopicName},
				{"numPartitions", t.NumPartitions}, {"partitionMetadata", []jsonObject{}},
			})
		}
		return 0, jsonObject{{"topics", topics}}
	case *cgMemberMetadataValue:
		return 0, jsonObject{
			{"instanceId", v.InstanceID}, {"rackId", v.RackID},
			{"clientId", v.ClientID}, {"clientHost", v.ClientHost},
			{"subscribedTopicNames", nonNil(v.SubscribedTopicNames)},
			{"subscribedTopicRegex", v.SubscribedTopicRegex},
			{"rebalanceTimeoutMs", v.RebalanceTimeoutMs}, {"serverAssignor", v.ServerAssignor},
		}
	case *cgTargetAssignmentMetadataValue:
		return 0, jsonObject{{"assignmentEpoch", v.AssignmentEpoch}}
	case *cgTargetAssignmentMemberValue:
		return 0, jsonObject{{"topicPartitions", describeTopicPartitions(v.TopicPartitions)}}
	case *cgCurrentMemberAssignmentValue:
		return 0, jsonObject{
			{"memberEpoch", v.MemberEpoch}, {"previousMemberEpoch", v.PreviousMemberEpoch},
			{"state", v.State},
			{"assignedPartitions", describeTopicPartitions(v.AssignedPartitions)},
			{"partitionsPendingRevocation", describeTopicPartitions(v.PartitionsPendingRevocation)},
		}
	case *cgRegexValue:
		return 0, jsonObject{{"topics", nonNil(v.Topics)}, {"version", v.Version}, {"timestamp", v.Timestamp}}
	}
	return 0, jsonObject{}
}

func describeGroupMetadata(v *kmsg.GroupMetadataValue) jsonObject {
	consumer := v.ProtocolType == "consumer"
	members := make([]jsonObject, 0, len(v.Members))
	for _, m := range v.Members {
		o := jsonObject{{"memberId", m.MemberID}}
		if v.Version >= 3 {
			o = append(o, jsonField{"groupInstanceId", m.InstanceID})
		}
		o = append(o, jsonField{"clientId", m.ClientID}, jsonField{"clientHost", m.ClientHost})
		if v.Version >= 1 {
			o = append(o, jsonField{"rebalanceTimeout", m.RebalanceTimeoutMillis})
		}
		o = append(o,
			jsonField{"sessionTimeout", m.SessionTimeoutMillis},
			jsonField{"subscription", describeSubscription(m.Subscription, consumer)},
			jsonField{"assignment", describeAssignment(m.Assignment, consumer)},
		)
		members = append(members, o)
	}
	o := jsonObject{
		{"protocolType", v.ProtocolType}, {"generation", v.Generation},
		{"protocol", v.Protocol}, {"leader", v.Leader},
	}
	if v.Version >= 2 {
		o = append(o, jsonField{"currentStateTimestamp", v.CurrentStateTimestamp})
	}
	return append(o, jsonField{"members", members})
}

// describeSubscription decodes a consumer-protocol subscription
// (ConsumerProtocolSubscription); bytes that are not one stay as base64,
// as in kafka-dump-log.sh.
func describeSubscription(b []byte, consumer bool) any {
	var s kmsg.ConsumerMemberMetadata
	if !consumer || s.ReadFrom(b) != nil {
		return b
	}
	o := jsonObject{{"topics", nonNil(s.Topics)}, {"userData", s.UserData}}
	if s.Version >= 1 {
		owned := make([]jsonObject, 0, len(s.OwnedPartitions))
		for _, p := range s.OwnedPartitions {
			owned = append(owned, jsonObject{{"topic", p.Topic}, {"partitions", nonNil(p.Partitions)}})
		}
		o = append(o, jsonField{"ownedPartitions", owned})
	}
	if s.Version >= 2 {
		o = append(o, jsonField{"generationId", s.Generation})
	}
	if s.Version >= 3 {
		o = append(o, jsonField{"rackId", s.Rack})
	}
	return o
}

// describeAssignment decodes a consumer-protocol assignment
// (ConsumerProtocolAssignment), or leaves the bytes as base64.
func describeAssignment(b []byte, consumer bool) any {
	var a kmsg.ConsumerMemberAssignment
	if !consumer || a.ReadFrom(b) != nil {
		return b
	}
	assigned := make([]jsonObject, 0, len(a.Topics))
	for _, t := range a.Topics {
		assigned = append(assigned, jsonObject{{"topic", t.Topic}, {"partitions", nonNil(t.Partitions)}})
	}
	return jsonObject{{"assignedPartitions", assigned}, {"userData", a.UserData}}
}

func describeTopicPartitions(tps []cgTopicPartitions) []jsonObject {
	out := make([]jsonObject, 0, len(tps))
	for _, tp := range tps {
		out = append(out, jsonObject{{"topicId", uuidString(tp.TopicID)}, {"partitions", nonNil(tp.Partitions)}})
	}
	return out
}

// uuidString is Kafka's Uuid.toString: URL-safe base64 without padding.
func uuidString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// nonNil makes an empty list print as [] rather than null: the fields it is
// used for are not nullable.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// jsonObject is a JSON object whose fields keep their order, so the output
// reads like the schema, as Kafka's converters print it.
type jsonObject []jsonField

type jsonField struct {
	name  string
	value any
}

func (o jsonObject) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := encodeJSON(&buf, f.name); err != nil {
			return nil, err
		}
		buf.WriteByte(':')
		if err := encodeJSON(&buf, f.value); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// encodeJSON writes v without escaping <, > and &, which Kafka's output
// does not escape either.
func encodeJSON(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return nil
}

func marshalJSON(v any) (string, error) {
	var buf bytes.Buffer
	if err := encodeJSON(&buf, v); err != nil {
		return "", err
	}
	return buf.String(), nil
}
