package broker

// Changes to existing topics made by the admin APIs: config overrides
// (AlterConfigs, IncrementalAlterConfigs) and partition count
// (CreatePartitions), plus the manual replica assignment check shared with
// CreateTopics. Each change is validated, written to the metadata store,
// and takes effect on every broker as it applies the new metadata; the
// broker that made it waits until it has applied it itself.

import (
	"errors"
	"fmt"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/config"
)

// alterTopicConfigs replaces a topic's config overrides with what update
// computes from the current ones (update gets its own copy to modify).
// Every resulting override is validated; with validateOnly nothing
// changes. The store applies the change as a compare-and-swap, running
// update again if another change came first, so concurrent incremental
// alters of one topic, on any brokers, never lose each other's changes.
func (b *Broker) alterTopicConfigs(name string, validateOnly bool, update func(cur map[string]string) (map[string]string, error)) error {
	if err := validateTopicName(name); err != nil {
		return err
	}
	ts := b.snapshot().Topic(name)
	if ts == nil {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	checked := func(cur map[string]string) (map[string]string, error) {
		overrides, err := update(cur)
		if err != nil {
			return nil, err
		}
		if err := checkTopicOverrides(overrides); err != nil {
			return nil, err
		}
		return overrides, nil
	}
	if validateOnly {
		_, err := checked(maps.Clone(ts.Configs))
		return err
	}
	ctx, cancel := b.metadataContext()
	defer cancel()
	var overrides map[string]string
	rev, err := b.node.Store().UpdateTopicConfigs(ctx, name, func(cur map[string]string) (map[string]string, error) {
		var err error
		overrides, err = checked(cur)
		return overrides, err
	})
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return err
	case errors.Is(err, cluster.ErrNoSuchTopic):
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	case err != nil:
		return metadataError(fmt.Errorf("saving configs of topic %s: %w", name, err))
	}
	if err := b.waitApplied(ctx, rev); err != nil {
		return metadataError(err)
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
// nil, places each new partition; otherwise they are placed over the live
// brokers with the topic's replication factor. Kafka's messages are kept
// for the cases it shares with Kafka's controller
// (ReplicationControlManager.createPartitions).
func (b *Broker) createPartitions(name string, count int32, assignment [][]int32, validateOnly bool) error {
	snap := b.snapshot()
	ts := snap.Topic(name)
	if ts == nil {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	have := int32(len(ts.Partitions))
	switch {
	case count == have:
		return errorf(kerr.InvalidPartitions, "Topic already has %d partition(s).", have)
	case count < have:
		return errorf(kerr.InvalidPartitions, "The topic %s currently has %d partition(s); %d would not be an increase.", name, have, count)
	}
	add := count - have
	// A reassignment in progress lists more replicas than the target.
	rf := len(ts.Partitions[0].TargetReplicas())
	if assignment != nil {
		if int32(len(assignment)) != add {
			return errorf(kerr.InvalidReplicaAssignment, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", add, len(assignment))
		}
		for _, replicas := range assignment {
			if err := checkManualAssignment(snap, replicas, rf); err != nil {
				return err
			}
		}
	} else {
		live := snap.PlacementBrokers()
		if rf > len(live) {
			return errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, rf, len(live))
		}
		var err error
		assignment, err = cluster.PlaceReplicas(cluster.PlacementRequest{Brokers: live, Partitions: int(add),
			ReplicationFactor: rf, FirstPartition: int(have), StartIndex: -1}, nil)
		if err != nil {
			return errorf(kerr.InvalidReplicationFactor, "%v", err)
		}
	}
	if validateOnly {
		return nil
	}
	ctx, cancel := b.metadataContext()
	defer cancel()
	rev, err := b.node.Store().CreatePartitions(ctx, name, ts.ID, have, cluster.InitialPartitions(assignment, snap))
	switch {
	case errors.Is(err, cluster.ErrNoSuchTopic):
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	case errors.Is(err, cluster.ErrPartitionExists), errors.Is(err, cluster.ErrNoSuchPartition):
		return errorf(kerr.InvalidPartitions, "the partitions of topic %s changed concurrently; retry", name)
	case err != nil:
		return metadataError(fmt.Errorf("saving partitions of topic %s: %w", name, err))
	}
	if err := b.waitApplied(ctx, rev); err != nil {
		return metadataError(err)
	}
	b.log.Info("created partitions", "topic", name, "partitions", count)
	return nil
}

// checkManualAssignment validates one partition's replica list from a
// CreateTopics or CreatePartitions manual assignment against the
// registered brokers, with the messages of Kafka's controller
// (ReplicationControlManager.validateManualPartitionAssignment).
// replicationFactor > 0 requires that many replicas.
func checkManualAssignment(snap *cluster.Snapshot, replicas []int32, replicationFactor int) error {
	if len(replicas) == 0 {
		return errorf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	seen := make(map[int32]bool, len(replicas))
	for _, id := range replicas {
		if _, ok := snap.Broker(id); !ok {
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
