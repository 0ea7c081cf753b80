package broker

// OffsetForLeaderEpoch, versions 0-4 (KIP-101).
//
// v1 returns the leader epoch found as well as its end offset (KIP-279);
// v2 adds the current leader epoch, checked like Fetch's (KIP-320); v3 the
// replica id (KIP-392: -1 for consumers, -2 for debugging tools, a broker
// id for followers), which changes nothing on a node that leads every
// partition; v4 is flexible. Consumers use it after a leader change to
// detect log truncation: the end offset of the epoch they last read from.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetForLeaderEpoch, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	resp.Topics = make([]kmsg.OffsetForLeaderEpochResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, len(rt.Partitions))
		t := b.getTopic(rt.Topic)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewOffsetForLeaderEpochResponseTopicPartition() // epoch, offset -1
			sp.Partition = rp.Partition
			err := endOffsetForEpoch(t, rp, sp)
			sp.ErrorCode, _ = errCode(err)
		}
	}
	return resp, nil
}

// noLeaderEpoch is the undefined leader epoch.
const noLeaderEpoch = -1

func endOffsetForEpoch(t *topic, rp *kmsg.OffsetForLeaderEpochRequestTopicPartition, sp *kmsg.OffsetForLeaderEpochResponseTopicPartition) error {
	if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.partitions) {
		return kerr.UnknownTopicOrPartition
	}
	// Before v2 the field is absent and decodes as -1: no check.
	if err := checkLeaderEpoch(rp.CurrentLeaderEpoch); err != nil {
		return err
	}
	p := t.partitions[rp.Partition]
	switch rp.LeaderEpoch {
	case noLeaderEpoch:
		// Kafka answers epoch -1, offset -1 for the undefined epoch.
		return nil
	case leaderEpoch:
		// The leader's current epoch ends at the log end offset. Kafka's
		// leader puts its epoch in the epoch cache on election, so this
		// holds even before anything was written in it; answer it here
		// rather than depend on an empty log's cache.
		sp.LeaderEpoch, sp.EndOffset = leaderEpoch, p.log.LogEndOffset()
		return nil
	}
	epoch, end := p.log.EndOffsetForEpoch(rp.LeaderEpoch)
	if end < 0 {
		// Unknown epoch: Kafka answers epoch -1, offset -1, no error.
		return nil
	}
	sp.LeaderEpoch, sp.EndOffset = epoch, end
	return nil
}
