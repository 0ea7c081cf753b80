package broker

// DeleteRecords, versions 0-2 (KIP-107; v2 is flexible).
//
// Moves a partition's log start offset forward; whole segments below it
// are removed by the log. Offset -1 means the high watermark. As in Kafka
// (Partition.deleteRecordsOnLeader): a topic whose cleanup.policy does not
// include delete answers POLICY_VIOLATION, an offset above the high
// watermark or below -1 OFFSET_OUT_OF_RANGE, and an offset below the
// current log start changes nothing. Only the leader deletes; followers
// move their log start up when their fetches tell them the leader's. The
// answer is the low watermark: the leader's log start offset.

import (
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/storage"
)

func init() { register(kmsg.DeleteRecords, 0, 2, handleDeleteRecords) }

// deleteToHighWatermark is the DeleteRecords offset meaning "everything
// committed".
const deleteToHighWatermark = -1

func handleDeleteRecords(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(rt.Partitions))
		t := b.getTopic(rt.Topic)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			low, err := deleteRecords(t, rp.Partition, rp.Offset)
			sp.LowWatermark = low
			if err != nil {
				sp.LowWatermark = -1
				sp.ErrorCode, _ = errCode(err)
				if sp.ErrorCode == kerr.UnknownServerError.Code {
					b.log.Error("delete records failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				}
			}
		}
	}
	return resp, nil
}

// deleteRecords deletes the records of one partition below offset and
// returns the new low watermark.
func deleteRecords(t *topic, partition int32, offset int64) (int64, error) {
	p, err := lookupPartition(t, partition)
	if err != nil {
		return 0, err
	}
	if _, err := p.asLeader(anyLeaderEpoch); err != nil {
		return 0, err
	}
	if !strings.Contains(t.cfg.String("cleanup.policy"), "delete") {
		return 0, errorf(kerr.PolicyViolation, "records of %s-%d cannot be deleted: cleanup.policy does not include delete", t.name, partition)
	}
	hw := p.highWatermark()
	if offset == deleteToHighWatermark {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return 0, errorf(kerr.OffsetOutOfRange, "offset %d is not in [0, high watermark %d]", offset, hw)
	}
	low, err := p.log.DeleteRecordsBefore(offset)
	if errors.Is(err, storage.ErrOffsetOutOfRange) {
		return 0, errorf(kerr.OffsetOutOfRange, "%v", err)
	}
	if err != nil {
		return 0, err
	}
	return low, nil
}
