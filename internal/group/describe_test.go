package group

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeRecord(t *testing.T) {
	protocol, leader := "range", "m1"
	sub := (&kmsg.ConsumerMemberMetadata{Version: 1, Topics: []string{"orders"},
		OwnedPartitions: []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: "orders", Partitions: []int32{1}}}}).AppendTo(nil)
	assign := (&kmsg.ConsumerMemberAssignment{Version: 0,
		Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: "orders", Partitions: []int32{0, 1}}}}).AppendTo(nil)
	gm := kmsg.NewGroupMetadataValue()
	gm.Version, gm.ProtocolType, gm.Generation, gm.Protocol, gm.Leader, gm.CurrentStateTimestamp = 3, "consumer", 4, &protocol, &leader, 1000
	gm.Members = []kmsg.GroupMetadataValueMember{{MemberID: "m1", ClientID: "c", ClientHost: "/127.0.0.1",
		RebalanceTimeoutMillis: 60000, SessionTimeoutMillis: 45000, Subscription: sub, Assignment: assign}}
	opaque := gm
	opaque.ProtocolType = "connect"
	opaque.Members = []kmsg.GroupMetadataValueMember{{MemberID: "w", Subscription: []byte{1, 2}, Assignment: []byte{3}}}

	for _, c := range []struct {
		name       string
		key, value []byte
		wantKey    string
		wantValue  string
	}{
		{
			name:      "offset commit v3",
			key:       recordKey{Type: recOffsetCommit, Group: "g", Topic: "t<1>", Partition: 2}.appendToCopy(),
			value:     (&kmsg.OffsetCommitValue{Version: 3, Offset: 42, LeaderEpoch: 5, Metadata: "m", CommitTimestamp: 1000}).AppendTo(nil),
			wantKey:   `{"type":"1","data":{"group":"g","topic":"t<1>","partition":2}}`,
			wantValue: `{"version":"3","data":{"offset":42,"leaderEpoch":5,"metadata":"m","commitTimestamp":1000}}`,
		},
		{
			name:      "offset commit v1 with expiry",
			key:       recordKey{Type: recOffsetCommit, Group: "g", Topic: "t"}.appendToCopy(),
			value:     (&kmsg.OffsetCommitValue{Version: 1, Offset: 7, CommitTimestamp: 1000, ExpireTimestamp: 2000}).AppendTo(nil),
			wantKey:   `{"type":"1","data":{"group":"g","topic":"t","partition":0}}`,
			wantValue: `{"version":"1","data":{"offset":7,"metadata":"","commitTimestamp":1000,"expireTimestamp":2000}}`,
		},
		{
			name:      "offset tombstone",
			key:       recordKey{Type: recOffsetCommit, Group: "g", Topic: "t"}.appendToCopy(),
			wantKey:   `{"type":"1","data":{"group":"g","topic":"t","partition":0}}`,
			wantValue: `<DELETE>`,
		},
		{
			name:    "classic consumer group",
			key:     recordKey{Type: recGroupMetadata, Group: "g"}.appendToCopy(),
			value:   gm.AppendTo(nil),
			wantKey: `{"type":"2","data":{"group":"g"}}`,
			wantValue: `{"version":"3","data":{"protocolType":"consumer","generation":4,"protocol":"range","leader":"m1",` +
				`"currentStateTimestamp":1000,"members":[{"memberId":"m1","groupInstanceId":null,"clientId":"c",` +
				`"clientHost":"/127.0.0.1","rebalanceTimeout":60000,"sessionTimeout":45000,` +
				`"subscription":{"topics":["orders"],"userData":null,"ownedPartitions":[{"topic":"orders","partitions":[1]}]},` +
				`"assignment":{"assignedPartitions":[{"topic":"orders","partitions":[0,1]}],"userData":null}}]}}`,
		},
		{
			name:    "other protocol keeps its bytes",
			key:     recordKey{Type: recGroupMetadata, Group: "g"}.appendToCopy(),
			value:   opaque.AppendTo(nil),
			wantKey: `{"type":"2","data":{"group":"g"}}`,
			wantValue: `{"version":"3","data":{"protocolType":"connect","generation":4,"protocol":"range","leader":"m1",` +
				`"currentStateTimestamp":1000,"members":[{"memberId":"w","groupInstanceId":null,"clientId":"",` +
				`"clientHost":"","rebalanceTimeout":0,"sessionTimeout":0,"subscription":"AQI=","assignment":"Aw=="}]}}`,
		},
		{
			name: "KIP-848 current assignment",
			key:  recordKey{Type: recConsumerGroupCurrentMemberAssignment, Group: "g", Member: "m"}.appendToCopy(),
			value: (&cgCurrentMemberAssignmentValue{MemberEpoch: 3, PreviousMemberEpoch: 2, State: 1,
				AssignedPartitions: []cgTopicPartitions{{TopicID: [16]byte{1}, Partitions: []int32{0}}}}).AppendTo(nil),
			wantKey: `{"type":"8","data":{"groupId":"g","memberId":"m"}}`,
			wantValue: `{"version":"0","data":{"memberEpoch":3,"previousMemberEpoch":2,"state":1,` +
				`"assignedPartitions":[{"topicId":"AQAAAAAAAAAAAAAAAAAAAA","partitions":[0]}],"partitionsPendingRevocation":[]}}`,
		},
	} {
		k, v, err := DescribeRecord(c.key, c.value)
		if err != nil || k != c.wantKey || v != c.wantValue {
			t.Errorf("%s:\n got %s %s (%v)\nwant %s %s", c.name, k, v, err, c.wantKey, c.wantValue)
		}
	}

	if _, _, err := DescribeRecord([]byte{0, 9, 0, 0}, nil); !errors.Is(err, ErrUnknownRecordType) {
		t.Errorf("share group key: %v, want ErrUnknownRecordType", err)
	}
	if _, _, err := DescribeRecord(recordKey{Type: recOffsetCommit, Group: "g"}.appendToCopy(), []byte{0, 3, 1}); err == nil {
		t.Error("a malformed value decodes")
	}
}
