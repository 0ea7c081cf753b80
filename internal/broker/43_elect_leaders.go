package broker

// ElectLeaders, versions 0-2 (KIP-183, KIP-460).
//
// v1 adds the election type and a top-level error code; v2 is flexible.
// PREFERRED (the only type of v0) moves each partition's leadership to
// its preferred replica, the first of its replicas, if that replica is
// live and in the ISR: ELECTION_NOT_NEEDED if it leads already,
// PREFERRED_LEADER_NOT_AVAILABLE otherwise. UNCLEAN elects a leader for a
// partition without a live one, from the ISR if a member is live, else
// the first live replica (records it lacks are lost):
// ELECTION_NOT_NEEDED if the partition has a live leader,
// ELIGIBLE_LEADERS_NOT_AVAILABLE if no replica is live. A null topic list
// elects for every partition and, as Kafka does, leaves out those that
// need no election. Any broker serves it (see partition_changes.go) and
// answers once it has applied the new leaders itself; partitions not done
// within timeout_ms get REQUEST_TIMED_OUT.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/cluster"
)

func init() { register(kmsg.ElectLeaders, 0, 2, handleElectLeaders) }

// Kafka's election types.
const (
	electionPreferred int8 = 0
	electionUnclean   int8 = 1
)

func handleElectLeaders(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	electionType := electionPreferred
	if req.Version >= 1 {
		electionType = req.ElectionType
	}
	if electionType != electionPreferred && electionType != electionUnclean {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	unclean := electionType == electionUnclean
	ctx, cancel := b.requestContext(req.TimeoutMillis)
	defer cancel()
	snap, err := b.node.Cache().Sync(ctx)
	if err != nil {
		// v0 has no top-level error code: each partition gets it too.
		code, msg := errCode(metadataError(err))
		resp.ErrorCode = code
		for _, rt := range req.Topics {
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewElectLeadersResponseTopicPartition()
				sp.Partition, sp.ErrorCode, sp.ErrorMessage = p, code, msg
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}

	all := req.Topics == nil
	want := electionTargets(snap, req)
	decide := func(snap *cluster.Snapshot, cur cluster.PartitionState) (cluster.PartitionState, bool, error) {
		next, err := snap.Elect(cur, unclean)
		return next, err == nil, err
	}
	var lastRev int64
	elected := map[string]map[int32]bool{}
	for _, w := range want {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = w.topic
		for _, p := range w.partitions {
			rev, err := b.changePartition(ctx, snap, w.topic, p, decide)
			code, msg := errCode(partitionChangeError(err))
			if all && code == kerr.ElectionNotNeeded.Code {
				continue
			}
			if code == kerr.UnknownServerError.Code {
				b.log.Error("leader election failed", "topic", w.topic, "partition", p, "err", err)
			}
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.ErrorMessage = p, code, msg
			st.Partitions = append(st.Partitions, sp)
			if rev > 0 {
				lastRev = max(lastRev, rev)
				if elected[w.topic] == nil {
					elected[w.topic] = map[int32]bool{}
				}
				elected[w.topic][p] = true
				b.log.Info("elected a leader on request", "topic", w.topic, "partition", p, "unclean", unclean)
			}
		}
		if len(st.Partitions) > 0 || !all {
			resp.Topics = append(resp.Topics, st)
		}
	}
	if lastRev == 0 {
		return resp, nil
	}
	if err := b.waitApplied(ctx, lastRev); err != nil {
		// Written, but this broker cannot show it yet.
		code, msg := errCode(metadataError(err))
		for i := range resp.Topics {
			st := &resp.Topics[i]
			for j := range st.Partitions {
				if sp := &st.Partitions[j]; elected[st.Topic][sp.Partition] {
					sp.ErrorCode, sp.ErrorMessage = code, msg
				}
			}
		}
	}
	return resp, nil
}

// electionTarget is one topic's partitions an ElectLeaders request names.
type electionTarget struct {
	topic      string
	partitions []int32
}

// electionTargets lists the partitions a request names, each once, in
// request order; a null topic list names every partition of snap.
func electionTargets(snap *cluster.Snapshot, req *kmsg.ElectLeadersRequest) []electionTarget {
	var out []electionTarget
	if req.Topics == nil {
		for _, name := range snap.TopicNames() {
			w := electionTarget{topic: name}
			for i := range snap.Topic(name).Partitions {
				w.partitions = append(w.partitions, int32(i))
			}
			out = append(out, w)
		}
		return out
	}
	index := map[string]int{}
	seen := map[string]map[int32]bool{}
	for _, rt := range req.Topics {
		i, ok := index[rt.Topic]
		if !ok {
			i = len(out)
			index[rt.Topic] = i
			seen[rt.Topic] = map[int32]bool{}
			out = append(out, electionTarget{topic: rt.Topic})
		}
		for _, p := range rt.Partitions {
			if !seen[rt.Topic][p] {
				seen[rt.Topic][p] = true
				out[i].partitions = append(out[i].partitions, p)
			}
		}
	}
	return out
}
