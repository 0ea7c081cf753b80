package broker

// ListOffsets, versions 0-10.
//
// v0 is the pre-0.10.1 form: a list of offsets "before" a time
// (OldStyleOffsets, up to max_num_offsets); v1 returns one offset and its
// timestamp (KIP-79); v2 adds the isolation level (KIP-98); v4 the current
// leader epoch, checked like Fetch's, and the leader epoch of the answer
// (KIP-320); v6 is flexible; v7 allows -3, the record with the largest
// timestamp (KIP-734); v8 allows -4, the earliest local offset (KIP-405);
// v9 allows -5, the latest offset in tiered storage (KIP-1005); v10 adds a
// timeout (KIP-1075) that only matters for tiered storage and is ignored
// here.
//
// Special timestamps: -1 latest, -2 earliest, -3 max timestamp, -4
// earliest local, -5 latest tiered. Without tiered storage -4 is the log
// start offset and -5 finds nothing (offset -1), as in Kafka. Latest is
// the high watermark, or the last stable offset for read_committed
// (isolation level 1, KIP-98). Only the leader answers; for a follower (replica id >= 0) or a
// debugging tool (-2, which any replica answers) latest is the log end
// offset. A new leader whose high watermark has not yet reached the start
// of its epoch answers consumers OFFSET_NOT_AVAILABLE (KIP-207): until the
// followers report back it cannot tell where the committed records end.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListOffsets, 0, 10, handleListOffsets) }

// Special ListOffsets timestamps.
const (
	listLatest        = -1
	listEarliest      = -2
	listMaxTimestamp  = -3 // KIP-734, v7+
	listEarliestLocal = -4 // KIP-405, v8+
	listLatestTiered  = -5 // KIP-1005, v9+
	listPendingUpload = -6 // KIP-1023, v11+: never valid at the versions served
)

// anyLeaderEpoch in a request's current leader epoch skips the check.
const anyLeaderEpoch = -1

// specialMinVersion is the first ListOffsets version allowing each special
// timestamp; Kafka answers UNSUPPORTED_VERSION below it (v0 has its own
// answer for -1 and -2, see oldStyleOffsets).
var specialMinVersion = map[int64]int16{
	listLatest:        1,
	listEarliest:      1,
	listMaxTimestamp:  7,
	listEarliestLocal: 8,
	listLatestTiered:  9,
	listPendingUpload: 11,
}

func handleListOffsets(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)

	// A partition named twice is answered INVALID_REQUEST both times, as
	// Kafka does.
	type tpKey struct {
		topic     string
		partition int32
	}
	count := map[tpKey]int{}
	for i := range req.Topics {
		for j := range req.Topics[i].Partitions {
			count[tpKey{req.Topics[i].Topic, req.Topics[i].Partitions[j].Partition}]++
		}
	}

	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		t := b.getTopic(rt.Topic)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewListOffsetsResponseTopicPartition() // timestamp, offset, epoch -1
			sp.Partition = rp.Partition
			var err error
			if count[tpKey{rt.Topic, rp.Partition}] > 1 {
				err = errorf(kerr.InvalidRequest, "partition %s-%d appears more than once", rt.Topic, rp.Partition)
			} else {
				err = listOffset(req.Version, req.ReplicaID, req.IsolationLevel, t, rp, sp)
			}
			sp.ErrorCode, _ = errCode(err)
		}
	}
	return resp, nil
}

// debuggingReplicaID is the replica id of ListOffsets and
// OffsetForLeaderEpoch requests from debugging tools, which any replica
// answers (consumers send -1, followers their broker id).
const debuggingReplicaID = -2

// listOffset answers one partition.
func listOffset(version int16, replicaID int32, isolation int8, t *topic, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	p, err := lookupPartition(t, rp.Partition)
	if err != nil {
		return err
	}
	p.mu.RLock()
	epoch, epochStart := p.leaderEpoch, p.epochStart
	err = checkLeaderEpoch(rp.CurrentLeaderEpoch, epoch)
	if err == nil && !p.isLeader && replicaID != debuggingReplicaID {
		err = errNotLeader
	}
	p.mu.RUnlock()
	if err != nil {
		return err
	}
	ts := rp.Timestamp
	hw := p.highWatermark()
	if replicaID >= 0 || replicaID == debuggingReplicaID {
		hw = p.log.LogEndOffset() // no isolation: everything in the log
	} else if hw < epochStart && ts != listEarliest && ts != listEarliestLocal {
		return kerr.OffsetNotAvailable
	} else if isolation == readCommitted {
		hw = p.log.LastStableOffset()
	}
	if version == 0 {
		sp.OldStyleOffsets = oldStyleOffsets(p, ts, rp.MaxNumOffsets, hw)
		return nil
	}
	if ts < 0 {
		if minV, ok := specialMinVersion[ts]; !ok || version < minV {
			return kerr.UnsupportedVersion
		}
	}
	switch ts {
	case listLatest:
		sp.Offset, sp.LeaderEpoch = hw, epoch
	case listEarliest, listEarliestLocal:
		// Everything is local: the earliest local offset is the log start.
		sp.Offset, sp.LeaderEpoch = p.log.LogStartOffset(), epoch
	case listLatestTiered:
		// Nothing is tiered: Kafka answers offset -1, epoch -1 (the
		// defaults already set).
	case listMaxTimestamp:
		maxTs, off := p.log.MaxTimestamp()
		// Only offsets a consumer may read count, as for a timestamp.
		if off >= 0 && off < hw {
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = maxTs, off, epoch
		}
	default:
		off, foundTs, found := p.log.OffsetForTimestamp(ts)
		if found && off < hw {
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = foundTs, off, epoch
		}
	}
	return nil
}

// oldStyleOffsets answers ListOffsets v0: up to maxNum offsets, largest
// first. Kafka builds this list from segment base offsets and segment file
// modification times; a client of v0 only relies on its first element, so
// this answers with the offsets that element means: -1 gives the high
// watermark (then the log start offset, as Kafka lists the first segment
// last), -2 the log start offset, and a time the first offset at or after
// it (the high watermark when every record is older).
func oldStyleOffsets(p *partition, ts int64, maxNum int32, hw int64) []int64 {
	start := p.log.LogStartOffset()
	var offs []int64
	switch ts {
	case listLatest:
		offs = append(offs, hw)
		if start < hw {
			offs = append(offs, start)
		}
	case listEarliest:
		offs = append(offs, start)
	default:
		off := hw
		if found, _, ok := p.log.OffsetForTimestamp(ts); ok && found < hw {
			off = found
		}
		offs = append(offs, off)
	}
	if int(max(maxNum, 0)) < len(offs) {
		offs = offs[:max(maxNum, 0)]
	}
	return offs
}
