package group

// What the coordinator tells the broker's metrics: the groups it serves
// with their type, state and committed offsets, and how many rebalances
// it has started. Read at scrape time, one shard lock at a time, so the
// request path pays nothing for them.

import (
	"sort"
	"sync/atomic"
)

// rebalanceCounts counts rebalances since the coordinator started: a
// classic group entering PreparingRebalance, and a KIP-848 group computing
// a new target assignment (Kafka's group-rebalance-count and
// consumer-group-rebalance-count).
type rebalanceCounts struct {
	classic  atomic.Int64
	consumer atomic.Int64
}

// GroupStats is one group of a partition this coordinator serves.
type GroupStats struct {
	ID string
	// Type is "classic" or "consumer" (KIP-848), as ListGroups names it.
	Type string
	// State is the group's state as ListGroups reports it.
	State string
	// Offsets are the committed offsets, sorted by topic and partition;
	// empty unless asked for.
	Offsets []CommittedOffset
}

// CommittedOffset is a group's committed offset of one partition.
type CommittedOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Stats returns the groups of the __consumer_offsets partitions this
// coordinator serves, sorted by id, with their committed offsets if
// withOffsets. Offsets of transactions not yet committed are left out.
func (c *Coordinator) Stats(withOffsets bool) []GroupStats {
	var out []GroupStats
	for _, s := range c.shards {
		s.mu.Lock()
		if s.status == shardActive {
			out = s.appendStats(out, withOffsets)
		}
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// appendStats appends the shard's groups to out. A group with committed
// offsets but no group metadata (offsets committed by a consumer using
// assign) is reported as a classic group in state Empty, as Kafka does.
// REQUIRES: s.mu held.
func (s *shard) appendStats(out []GroupStats, withOffsets bool) []GroupStats {
	ids := s.groupIDs()
	for id := range s.offsets {
		if s.classic[id] == nil && s.consumer[id] == nil {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		gs := GroupStats{ID: id, Type: "classic", State: "Empty"}
		if g := s.classic[id]; g != nil {
			gs.State = g.state.String()
		} else if g := s.consumer[id]; g != nil {
			gs.Type, gs.State = "consumer", g.state()
		}
		if withOffsets {
			for topic, parts := range s.offsets[id] {
				for p, e := range parts {
					gs.Offsets = append(gs.Offsets, CommittedOffset{Topic: topic, Partition: p, Offset: e.offset})
				}
			}
			sort.Slice(gs.Offsets, func(i, j int) bool {
				a, b := gs.Offsets[i], gs.Offsets[j]
				return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
			})
		}
		out = append(out, gs)
	}
	return out
}

// Rebalances returns the rebalances started since the coordinator was
// created: of classic groups and of KIP-848 groups.
func (c *Coordinator) Rebalances() (classic, consumer int64) {
	return c.rebalances.classic.Load(), c.rebalances.consumer.Load()
}
