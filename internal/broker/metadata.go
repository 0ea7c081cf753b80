package broker

// The metadata applier: one goroutine that follows the cluster metadata
// cache and makes this broker what each snapshot says. It builds the
// topic map the handlers read, opens the log of every partition replica
// placed here and deletes those no longer placed here, makes each replica
// leader or follower in the leader epoch etcd gives it, tells the replica
// fetchers what to fetch from whom, and tells the group coordinator which
// __consumer_offsets partitions it leads. It alone changes replica roles,
// so role changes happen in snapshot order.

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/storage"
)

// runApplier applies every new snapshot, and the current one again when
// kicked (the broker's registration changed).
func (b *Broker) runApplier() {
	defer b.bg.Done()
	for {
		snap, next := b.node.Cache().Current()
		if snap != b.snapshot() {
			b.apply(snap)
			continue
		}
		select {
		case <-next:
		case <-b.kick:
			b.apply(b.node.Cache().Snapshot())
		case <-b.done:
			return
		}
	}
}

// kickApplier makes the applier apply the current snapshot again.
func (b *Broker) kickApplier() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// snapshot returns the metadata snapshot applied last.
func (b *Broker) snapshot() *cluster.Snapshot {
	b.topicsMu.RLock()
	defer b.topicsMu.RUnlock()
	return b.meta
}

// waitApplied waits until the broker has applied a snapshot at revision
// rev or later, e.g. one with a metadata write of its own.
func (b *Broker) waitApplied(ctx context.Context, rev int64) error {
	if _, err := b.node.Cache().WaitRevision(ctx, rev); err != nil {
		return err
	}
	for {
		b.topicsMu.RLock()
		cur, ch := b.appliedRev, b.applied
		b.topicsMu.RUnlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-b.done:
			return errBrokerClosing
		}
	}
}

// roleChange is a replica whose fetching must change after a snapshot:
// the replica fetchers are told outside the partition's lock.
type roleChange struct {
	p      *partition
	leader int32 // the leader to fetch from; NoLeader or this broker: none
	epoch  int32
}

// apply makes the broker's state match snap. Only the applier goroutine
// (and Start, before it runs) calls it.
func (b *Broker) apply(snap *cluster.Snapshot) {
	regEpoch := b.regEpoch.Load()
	b.topicsMu.RLock()
	old, oldSnap := b.topics, b.meta
	b.topicsMu.RUnlock()
	sameReg := oldSnap != nil && regEpoch == b.appliedRegEpoch
	// New dynamic broker configs change the defaults of every topic.
	dynChanged := b.applyDynamic(snap)

	topics := make(map[string]*topic, len(snap.Topics))
	byID := make(map[cluster.TopicID]*topic, len(snap.Topics))
	seen := make(map[storage.TopicPartition]bool, len(b.hosted))
	var changes []roleChange
	for name, ts := range snap.Topics {
		prev := old[name]
		if prev != nil && prev.meta == ts && sameReg && !dynChanged {
			// The cache shares unchanged topics between snapshots.
			topics[name], byID[ts.ID] = prev, prev
			for i, p := range prev.partitions {
				if p != nil {
					seen[storage.TopicPartition{Topic: name, Partition: int32(i)}] = true
				}
			}
			continue
		}
		var t *topic
		configsChanged := false
		if prev != nil && prev.id == ts.ID && maps.Equal(prev.cfg.Overrides, ts.Configs) && !dynChanged {
			cp := *prev
			t = &cp
		} else {
			t = b.newTopic(name, ts.ID, ts.Configs)
			configsChanged = prev != nil && prev.id == ts.ID
			if configsChanged {
				t.stats = prev.stats
			}
		}
		t.meta = ts
		t.partitions = make([]*partition, len(ts.Partitions))
		lc := b.logConfig(ts.Configs)
		for i, ps := range ts.Partitions {
			if !slices.Contains(ps.Replicas, b.nodeID) {
				continue
			}
			tp := storage.TopicPartition{Topic: name, Partition: int32(i)}
			p := b.hosted[tp]
			if p != nil && p.topicID != ts.ID {
				b.dropPartition(p) // the topic was deleted and created again
				p = nil
			}
			if p == nil {
				l, err := b.logs.Create(tp, ts.ID, lc)
				if err != nil {
					b.log.Error("opening a partition log", "topic", name, "partition", i, "err", err)
					continue
				}
				p = newPartition(tp, ts.ID, l, b.nodeID)
				p.stats = t.stats
				b.hosted[tp] = p
			} else if configsChanged {
				p.log.SetConfig(lc)
			}
			seen[tp] = true
			if ch, ok := b.applyPartition(p, ps, regEpoch); ok {
				changes = append(changes, ch)
			}
			t.partitions[i] = p
		}
		topics[name], byID[ts.ID] = t, t
	}
	for tp, p := range b.hosted {
		if !seen[tp] {
			b.dropPartition(p)
		}
	}
	// Logs of topics no longer in the metadata (deleted while this broker
	// was down) go too.
	for tp := range b.logs.All() {
		if b.hosted[tp] == nil {
			b.log.Warn("removing log of a partition this broker does not hold", "topic", tp.Topic, "partition", tp.Partition)
			if err := b.logs.Delete(tp); err != nil {
				b.log.Error("removing log", "topic", tp.Topic, "partition", tp.Partition, "err", err)
			}
		}
	}

	// Before publishing: a request that finds __consumer_offsets finds
	// its coordinator too.
	b.groups.prepare(topics[offsetsTopic])
	b.txns.prepare(topics[txnTopic])

	b.topicsMu.Lock()
	b.topics, b.topicsByID, b.meta = topics, byID, snap
	b.topicsMu.Unlock()
	b.appliedRegEpoch = regEpoch

	for _, ch := range changes {
		b.replicas.follow(ch)
	}
	b.groups.follow(topics[offsetsTopic])
	b.txns.follow(topics[txnTopic])

	b.topicsMu.Lock()
	b.appliedRev = snap.Revision
	close(b.applied)
	b.applied = make(chan struct{})
	b.topicsMu.Unlock()
}

// applyPartition applies a partition's state to its replica and reports
// a change of what the replica fetches.
func (b *Broker) applyPartition(p *partition, ps cluster.PartitionState, regEpoch int64) (roleChange, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// This leader's own ISR change may be newer than the snapshot.
	if ps.PartitionEpoch < p.state.PartitionEpoch && ps.LeaderEpoch == p.state.LeaderEpoch {
		ps = p.state
	}
	lead := ps.LedBy(b.nodeID, regEpoch)
	wasLeader, oldEpoch, oldLeader := p.isLeader, p.leaderEpoch, p.state.Leader
	p.state = ps
	switch {
	case lead && (!wasLeader || ps.LeaderEpoch != oldEpoch):
		if err := p.becomeLeaderLocked(ps); err != nil {
			b.log.Error("becoming leader", "topic", p.tp.Topic, "partition", p.tp.Partition, "err", err)
			p.becomeFollowerLocked(ps)
			return roleChange{p: p, leader: cluster.NoLeader, epoch: ps.LeaderEpoch}, true
		}
		b.log.Debug("leading", "topic", p.tp.Topic, "partition", p.tp.Partition, "leaderEpoch", ps.LeaderEpoch, "isr", ps.ISR)
		p.notify()
		return roleChange{p: p, leader: b.nodeID, epoch: ps.LeaderEpoch}, true
	case lead:
		// The ISR changed, or a reassignment changed the replicas: a
		// smaller ISR may let the high watermark move.
		p.replicaMu.Lock()
		p.syncFollowersLocked(ps.Replicas)
		moved := p.advanceHighWatermarkLocked()
		p.replicaMu.Unlock()
		if moved {
			p.notify()
		}
		return roleChange{}, false
	case wasLeader || ps.LeaderEpoch != oldEpoch || ps.Leader != oldLeader || oldEpoch < 0:
		p.becomeFollowerLocked(ps)
		p.notify() // parked produces and fetches find out
		leader := ps.Leader
		if leader == b.nodeID {
			leader = cluster.NoLeader // a leadership this broker may not act on yet
		}
		return roleChange{p: p, leader: leader, epoch: ps.LeaderEpoch}, true
	}
	return roleChange{}, false
}

// dropPartition stops and removes a replica no longer placed here.
func (b *Broker) dropPartition(p *partition) {
	b.replicas.follow(roleChange{p: p, leader: cluster.NoLeader})
	p.mu.Lock()
	// No epoch: whatever was fetched for the replica is not appended.
	p.becomeFollowerLocked(cluster.PartitionState{LeaderEpoch: -1})
	p.mu.Unlock()
	p.notify()
	delete(b.hosted, p.tp)
	if err := b.logs.Delete(p.tp); err != nil {
		b.log.Error("deleting log", "topic", p.tp.Topic, "partition", p.tp.Partition, "err", err)
	}
}

// lookupPartition returns partition i of t as a request names it:
// UNKNOWN_TOPIC_OR_PARTITION if the cluster has no such partition,
// NOT_LEADER_OR_FOLLOWER if this broker holds no replica of it.
func lookupPartition(t *topic, i int32) (*partition, error) {
	if t == nil || i < 0 || int(i) >= len(t.partitions) {
		return nil, kerr.UnknownTopicOrPartition
	}
	if p := t.partitions[i]; p != nil {
		return p, nil
	}
	return nil, errNotLeader
}

// metadataError turns a failed wait for the metadata store into
// REQUEST_TIMED_OUT.
func metadataError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, errBrokerClosing) {
		return errorf(kerr.RequestTimedOut, "the cluster metadata did not answer in time: %v", err)
	}
	return err
}
