package broker

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/storage"
)

// TestFetchResponseMatchesKmsg checks the hand-written Fetch encoder
// against kmsg's generated one at every served version.
func TestFetchResponseMatchesKmsg(t *testing.T) {
	records := []byte("pretend these are record batches")
	for v := int16(4); v <= 17; v++ {
		ours := &fetchResponse{}
		ours.Version = v
		ours.ThrottleMillis = 7
		ours.ErrorCode = 0
		ours.SessionID = 42
		ours.topics = []fetchTopic{
			{name: "orders", id: [16]byte{1, 2, 3}, parts: []fetchPart{
				{partition: 0, highWatermark: 10, lastStableOffset: 10, logStartOffset: 2, records: storage.ReadResult{Data: records}},
				{partition: 1, errCode: 1, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1},
			}},
			{name: "t2", id: [16]byte{9}, parts: []fetchPart{{partition: 5, highWatermark: 0}}},
		}

		ref := kmsg.NewPtrFetchResponse()
		ref.Version = v
		ref.ThrottleMillis = 7
		ref.SessionID = 42
		for _, ft := range ours.topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = ft.name, ft.id
			for _, fp := range ft.parts {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = fp.partition, fp.errCode
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = fp.highWatermark, fp.lastStableOffset, fp.logStartOffset
				rp.PreferredReadReplica = -1
				rp.RecordBatches = fp.records.Data
				if rp.RecordBatches == nil {
					rp.RecordBatches = []byte{}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			ref.Topics = append(ref.Topics, rt)
		}
		got, want := ours.AppendTo(nil), ref.AppendTo(nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("v%d: encoding differs from kmsg\n got  %x\n want %x", v, got, want)
		}
		back := kmsg.NewPtrFetchResponse()
		back.Version = v
		if err := back.ReadFrom(got); err != nil {
			t.Fatalf("v%d: kmsg cannot decode our response: %v", v, err)
		}
	}
}
