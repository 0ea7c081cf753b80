package broker

// OffsetForLeaderEpoch, versions 0-4 (KIP-101).
//
// v1 returns the leader epoch found as well as its end offset (KIP-279);
// v2 adds the current leader epoch, checked like Fetch's (KIP-320); v3 the
// replica id (KIP-392: -1 for consumers, -2 for debugging tools, a broker
// id for followers); v4 is flexible. Only the leader answers, except to
// debugging tools. Followers use it after a leader change to find where
// their log diverged from the new leader's (KIP-101, KIP-279), consumers
// to detect log truncation: the end offset of the epoch they last read
// from.

import (
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
			err := endOffsetForEpoch(req.ReplicaID, t, rp, sp)
			sp.ErrorCode, _ = errCode(err)
		}
	}
	return resp, nil
}

// noLeaderEpoch is the undefined leader epoch.
const noLeaderEpoch = -1

func endOffsetForEpoch(replicaID int32, t *topic, rp *kmsg.OffsetForLeaderEpochRequestTopicPartition, sp *kmsg.OffsetForLeaderEpochResponseTopicPartition) error {
	p, err := lookupPartition(t, rp.Partition)
	if err != nil {
		return err
	}
	p.mu.RLock()
	// Before v2 the current leader epoch is absent and decodes as -1: no
	// check.
	current := p.leaderEpoch
	err = checkLeaderEpoch(rp.CurrentLeaderEpoch, current)
	if err == nil && !p.isLeader && replicaID != debuggingReplicaID {
		err = errNotLeader
	}
	leading := p.isLeader
	p.mu.RUnlock()
	if err != nil {
		return err
	}
	switch {
	case rp.LeaderEpoch == noLeaderEpoch:
		// Kafka answers epoch -1, offset -1 for the undefined epoch.
		return nil
	case leading && rp.LeaderEpoch == current:
		// The leader's current epoch ends at the log end offset; the
		// epoch cache has it from the election on, but answer it here
		// rather than depend on the cache.
		sp.LeaderEpoch, sp.EndOffset = current, p.log.LogEndOffset()
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
