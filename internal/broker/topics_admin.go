package broker

// Changes to existing topics made by the admin APIs: config overrides
// (AlterConfigs, IncrementalAlterConfigs) and partition count
// (CreatePartitions), plus the manual replica assignment check shared with
// CreateTopics. Each change is validated, written to the metadata store,
// then applied live by swapping in a new *topic under topicsMu (topics are
// replaced, never mutated: see topic).

import (
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/storage"
)

// alterTopicConfigs replaces a topic's config overrides with what update
// computes from the current ones (update gets its own copy to modify).
// Every resulting override is validated; with validateOnly nothing
// changes. The topicsMu write lock is held from reading the current
// overrides to installing the new ones, so concurrent incremental alters
// of one topic cannot lose each other's changes.
func (b *Broker) alterTopicConfigs(name string, validateOnly bool, update func(cur map[string]string) (map[string]string, error)) error {
	if err := validateTopicName(name); err != nil {
		return err
	}
	b.topicsMu.Lock()
	defer b.topicsMu.Unlock()
	t := b.topics[name]
	if t == nil {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	overrides, err := update(maps.Clone(t.cfg.Overrides))
	if err != nil {
		return err
	}
	if err := checkTopicOverrides(overrides); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	// The store keeps the map it is given; hand it a copy so that it and
	// the live topic never share one.
	if err := b.store.SetConfigs(name, maps.Clone(overrides)); err != nil {
		return fmt.Errorf("saving configs of topic %s: %w", name, err)
	}
	nt := b.newTopic(name, t.id, overrides)
	nt.partitions = t.partitions
	b.topics[name] = nt
	b.topicsByID[nt.id] = nt
	lc := b.logConfig(overrides)
	for _, p := range t.partitions {
		p.log.SetConfig(lc)
	}
	b.log.Info("altered topic configs", "topic", name, "overrides", overrides)
	return nil
}

// checkTopicOverrides validates every override, naming the first bad one
// (INVALID_CONFIG, as Kafka's LogConfig.validate answers).
func checkTopicOverrides(overrides map[string]string) error {
	for k, v := range overrides {
		if err := config.CheckTopicConfig(k, v); err != nil {
			return errorf(kerr.InvalidConfig, "%v", err)
		}
	}
	return nil
}

// createPartitions grows a topic to count partitions. assignment, when not
// nil, places each new partition and must name only this node. Kafka's
// messages are kept for the cases it shares with Kafka's controller
// (ReplicationControlManager.createPartitions).
func (b *Broker) createPartitions(name string, count int32, assignment [][]int32, validateOnly bool) error {
	if validateOnly {
		b.topicsMu.RLock()
		defer b.topicsMu.RUnlock()
	} else {
		b.topicsMu.Lock()
		defer b.topicsMu.Unlock()
	}
	t := b.topics[name]
	if t == nil {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	have := int32(len(t.partitions))
	switch {
	case count == have:
		return errorf(kerr.InvalidPartitions, "Topic already has %d partition(s).", have)
	case count < have:
		return errorf(kerr.InvalidPartitions, "The topic %s currently has %d partition(s); %d would not be an increase.", name, have, count)
	}
	add := count - have
	if assignment != nil {
		if int32(len(assignment)) != add {
			return errorf(kerr.InvalidReplicaAssignment, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", add, len(assignment))
		}
		for _, replicas := range assignment {
			// Every existing partition has one replica, this node.
			if err := b.checkManualAssignment(replicas, 1); err != nil {
				return err
			}
		}
	}
	if validateOnly {
		return nil
	}

	// Logs first, then the store: a crash in between leaves log
	// directories the store does not know, which loadTopics removes at
	// startup; a failure here is undone so that memory, disk and store
	// agree.
	lc := b.logConfig(t.cfg.Overrides)
	parts := make([]*partition, 0, count)
	parts = append(parts, t.partitions...)
	undo := func() {
		for _, p := range parts[have:] {
			if err := b.logs.Delete(p.tp); err != nil {
				b.log.Error("removing log of a failed partition creation", "topic", name, "partition", p.tp.Partition, "err", err)
			}
		}
	}
	for i := have; i < count; i++ {
		tp := storage.TopicPartition{Topic: name, Partition: i}
		l, err := b.logs.Create(tp, t.id, lc)
		if err != nil {
			undo()
			return fmt.Errorf("creating log %s-%d: %w", name, i, err)
		}
		parts = append(parts, &partition{tp: tp, log: l})
	}
	if err := b.store.SetPartitions(name, count); err != nil {
		undo()
		return fmt.Errorf("saving partition count of topic %s: %w", name, err)
	}
	nt := *t
	nt.partitions = parts
	b.topics[name] = &nt
	b.topicsByID[nt.id] = &nt
	b.log.Info("created partitions", "topic", name, "partitions", count)
	return nil
}

// checkManualAssignment validates one partition's replica list from a
// CreateTopics or CreatePartitions manual assignment. This single node is
// the only registered broker, so the only valid list is [node.id]; the
// messages are those of Kafka's controller
// (ReplicationControlManager.validateManualPartitionAssignment).
func (b *Broker) checkManualAssignment(replicas []int32, replicationFactor int) error {
	if len(replicas) == 0 {
		return errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	seen := make(map[int32]bool, len(replicas))
	for _, id := range replicas {
		if id != b.nodeID {
			return errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if seen[id] {
			return errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once.", id)
		}
		seen[id] = true
	}
	if replicationFactor > 0 && len(replicas) != replicationFactor {
		return errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).", len(replicas), replicationFactor)
	}
	return nil
}
