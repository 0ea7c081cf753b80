package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/storage"
)

// topic is a topic of the cluster as this broker last applied it. Its
// fields are replaced (under Broker.topicsMu), never mutated in place, so
// a reader holding a *topic sees a consistent value.
type topic struct {
	name string
	id   cluster.TopicID
	// meta is the topic in the cluster metadata: every partition's
	// replicas, leader and ISR.
	meta *cluster.TopicState
	// partitions are the replicas this broker holds, by partition id;
	// nil where it holds none.
	partitions []*partition
	cfg        config.Topic
	rules      *batchRules // produce validation, from cfg
	minISR     int
	// stats are the topic's traffic counters, kept across the topic's
	// replacements while its id stays (metrics.go).
	stats *topicStats
}

// statsOrNil returns the topic's traffic counters, nil for no topic.
func (t *topic) statsOrNil() *topicStats {
	if t == nil {
		return nil
	}
	return t.stats
}

// replicationFactor is the replica count of the topic's first partition.
func (t *topic) replicationFactor() int16 {
	if t.meta == nil || len(t.meta.Partitions) == 0 {
		return -1
	}
	return int16(len(t.meta.Partitions[0].Replicas))
}

// newTopic builds a topic's state from its metadata (partitions are added
// by the caller).
func (b *Broker) newTopic(name string, id cluster.TopicID, overrides map[string]string) *topic {
	cfg := config.Topic{Broker: b.config(), Overrides: overrides}
	rules := &batchRules{
		maxMessageBytes: int(cfg.Int64("max.message.bytes")),
		logAppendTime:   cfg.String("message.timestamp.type") == "LogAppendTime",
		beforeMaxMs:     cfg.Int64("message.timestamp.before.max.ms"),
		afterMaxMs:      cfg.Int64("message.timestamp.after.max.ms"),
		compacted:       strings.Contains(cfg.String("cleanup.policy"), "compact"),
		maxDecompressed: b.cfg.Int("socket.request.max.bytes"),
	}
	if ct := cfg.String("compression.type"); ct != "producer" {
		rules.recompress = true
		rules.targetCodec, _ = record.ParseCodec(ct)
	}
	return &topic{name: name, id: id, cfg: cfg, rules: rules, minISR: int(cfg.Int64("min.insync.replicas")), stats: &topicStats{}}
}

// logConfig resolves the storage configuration of a topic.
func (b *Broker) logConfig(overrides map[string]string) storage.LogConfig {
	t := config.Topic{Broker: b.config(), Overrides: overrides}
	return storage.LogConfig{
		SegmentBytes:       t.Int64("segment.bytes"),
		SegmentMs:          t.Int64("segment.ms"),
		SegmentIndexBytes:  t.Int64("segment.index.bytes"),
		IndexIntervalBytes: t.Int64("index.interval.bytes"),
		RetentionMs:        t.Int64("retention.ms"),
		RetentionBytes:     t.Int64("retention.bytes"),
		FlushMessages:      t.Int64("flush.messages"),
		FlushMs:            t.Int64("flush.ms"),
		FileDeleteDelay:    time.Duration(t.Int64("file.delete.delay.ms")) * time.Millisecond,
		CleanupPolicy:      t.String("cleanup.policy"),

		MinCleanableDirtyRatio: t.Float64("min.cleanable.dirty.ratio"),
		MinCompactionLagMs:     t.Int64("min.compaction.lag.ms"),
		MaxCompactionLagMs:     t.Int64("max.compaction.lag.ms"),
		DeleteRetentionMs:      t.Int64("delete.retention.ms"),
	}
}

// getTopic returns a topic by name, or nil.
func (b *Broker) getTopic(name string) *topic {
	b.topicsMu.RLock()
	defer b.topicsMu.RUnlock()
	return b.topics[name]
}

// getTopicByID returns a topic by id, or nil.
func (b *Broker) getTopicByID(id cluster.TopicID) *topic {
	b.topicsMu.RLock()
	defer b.topicsMu.RUnlock()
	return b.topicsByID[id]
}

// getPartition returns a partition replica this broker holds, or nil.
func (b *Broker) getPartition(name string, p int32) *partition {
	part, _ := lookupPartition(b.getTopic(name), p)
	return part
}

// allTopics returns a snapshot of every topic.
func (b *Broker) allTopics() []*topic {
	b.topicsMu.RLock()
	defer b.topicsMu.RUnlock()
	out := make([]*topic, 0, len(b.topics))
	for _, t := range b.topics {
		out = append(out, t)
	}
	return out
}

// apiError is a Kafka error code with a message for the response's
// error_message field.
type apiError struct {
	err *kerr.Error
	msg string
}

func (e *apiError) Error() string { return e.err.Message + ": " + e.msg }

func errorf(code *kerr.Error, format string, args ...any) *apiError {
	return &apiError{err: code, msg: fmt.Sprintf(format, args...)}
}

// errCode returns the Kafka error code and message of an error.
func errCode(err error) (int16, *string) {
	if err == nil {
		return 0, nil
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.err.Code, &ae.msg
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code, nil
	}
	msg := err.Error()
	return kerr.UnknownServerError.Code, &msg
}

// validateTopicName applies Kafka's topic name rules.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return errorf(kerr.InvalidTopicException, "topic name is empty")
	case name == "." || name == "..":
		return errorf(kerr.InvalidTopicException, "topic name cannot be %q", name)
	case len(name) > 249:
		return errorf(kerr.InvalidTopicException, "topic name is longer than 249 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return errorf(kerr.InvalidTopicException, "topic name %q contains %q; only ASCII letters, digits, '.', '_' and '-' are allowed", name, r)
		}
	}
	return nil
}

// metadataTimeout bounds an admin request's wait for the metadata store.
const metadataTimeout = 30 * time.Second

// metadataContext is the context of a metadata change made for a request:
// it ends after metadataTimeout or when the broker closes.
func (b *Broker) metadataContext() (context.Context, context.CancelFunc) {
	ctx, cancel := b.doneContext()
	ctx, cancel2 := context.WithTimeout(ctx, metadataTimeout)
	return ctx, func() { cancel2(); cancel() }
}

// createTopic validates and creates a topic. partitions or replication -1
// take the broker defaults; a non-nil assignment places the partitions
// (already checked by the caller), else they are placed over the live
// brokers as Kafka places them. With validateOnly nothing is created.
func (b *Broker) createTopic(name string, partitions int32, replication int16, configs map[string]string, assignment [][]int32, validateOnly bool) (*topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	if partitions == -1 {
		partitions = int32(b.cfg.Int("num.partitions"))
	}
	if partitions < 1 {
		return nil, errorf(kerr.InvalidPartitions, "number of partitions must be at least 1, got %d", partitions)
	}
	if replication == -1 {
		replication = int16(b.cfg.Int("default.replication.factor"))
	}
	snap := b.snapshot()
	live := snap.PlacementBrokers()
	if assignment == nil {
		if replication < 1 {
			return nil, errorf(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0.")
		}
		if int(replication) > len(live) {
			return nil, errorf(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", replication, replication, len(live))
		}
	}
	for k, v := range configs {
		if err := config.CheckTopicConfig(k, v); err != nil {
			return nil, errorf(kerr.InvalidConfig, "%v", err)
		}
	}
	if snap.Topic(name) != nil {
		return nil, errorf(kerr.TopicAlreadyExists, "topic %q already exists", name)
	}
	if collides := collidingTopic(snap, name); collides != "" {
		return nil, errorf(kerr.InvalidTopicException, "topic %q collides with existing topic %q ('.' and '_' are interchangeable in metric names)", name, collides)
	}
	if assignment == nil {
		var err error
		assignment, err = cluster.PlaceReplicas(cluster.PlacementRequest{Brokers: live, Partitions: int(partitions),
			ReplicationFactor: int(replication), StartIndex: -1}, nil)
		if err != nil {
			return nil, errorf(kerr.InvalidReplicationFactor, "%v", err)
		}
	}
	parts := cluster.InitialPartitions(assignment, snap)
	if validateOnly {
		t := b.newTopic(name, cluster.TopicID{}, configs)
		t.meta = &cluster.TopicState{Name: name, Configs: configs, Partitions: parts}
		t.partitions = make([]*partition, len(parts))
		return t, nil
	}

	var id cluster.TopicID
	rand.Read(id[:])
	ctx, cancel := b.metadataContext()
	defer cancel()
	rev, err := b.node.Store().CreateTopic(ctx, cluster.NewTopic{Name: name, ID: id, Configs: configs, Partitions: parts})
	switch {
	case errors.Is(err, cluster.ErrTopicExists):
		// Another broker created it: catch up, so that the caller finds it.
		if snap, err := b.node.Cache().Sync(ctx); err == nil {
			b.waitApplied(ctx, snap.Revision)
		}
		return nil, errorf(kerr.TopicAlreadyExists, "topic %q already exists", name)
	case err != nil:
		return nil, metadataError(err)
	}
	if err := b.waitApplied(ctx, rev); err != nil {
		return nil, metadataError(err)
	}
	t := b.getTopic(name)
	if t == nil || t.id != id {
		return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q was deleted as it was created", name)
	}
	b.log.Info("created topic", "topic", name, "partitions", partitions, "replication.factor", len(assignment[0]), "id", id.String())
	return t, nil
}

// collidingTopic returns an existing topic whose name differs from name
// only by '.' versus '_' (Kafka forbids such pairs).
func collidingTopic(snap *cluster.Snapshot, name string) string {
	norm := strings.ReplaceAll(name, ".", "_")
	for other := range snap.Topics {
		if other != name && strings.ReplaceAll(other, ".", "_") == norm {
			return other
		}
	}
	return ""
}

// deleteTopic removes a topic from the cluster; every broker holding one
// of its replicas deletes the log when it applies the change.
func (b *Broker) deleteTopic(name string) error {
	if !b.cfg.Bool("delete.topic.enable") {
		return errorf(kerr.TopicDeletionDisabled, "delete.topic.enable is false")
	}
	if b.snapshot().Topic(name) == nil {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	ctx, cancel := b.metadataContext()
	defer cancel()
	rev, err := b.node.Store().DeleteTopic(ctx, name)
	switch {
	case errors.Is(err, cluster.ErrNoSuchTopic):
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	case err != nil:
		return metadataError(err)
	}
	if err := b.waitApplied(ctx, rev); err != nil {
		return metadataError(err)
	}
	b.log.Info("deleted topic", "topic", name)
	return nil
}

// autoCreateTopic creates a topic with the broker defaults if
// auto.create.topics.enable is set. It reports an error code for Metadata.
func (b *Broker) autoCreateTopic(name string) (*topic, error) {
	if name == offsetsTopic {
		// Created with its own partition count and configs, as Kafka's
		// AutoTopicCreationManager does for internal topics.
		if _, err := b.groups.ensure(); err != nil {
			return nil, err
		}
		return b.getTopic(name), nil
	}
	if name == txnTopic {
		if _, err := b.txns.ensure(); err != nil {
			return nil, err
		}
		return b.getTopic(name), nil
	}
	if !b.cfg.Bool("auto.create.topics.enable") {
		return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist and auto.create.topics.enable is false", name)
	}
	t, err := b.createTopic(name, -1, -1, nil, nil, false)
	var ae *apiError
	if errors.As(err, &ae) && ae.err == kerr.TopicAlreadyExists {
		if t = b.getTopic(name); t == nil {
			return nil, errorf(kerr.LeaderNotAvailable, "topic %q is being created", name)
		}
		return t, nil
	}
	return t, err
}

// isInternalTopic reports Kafka's internal topics, which clients read but
// do not write.
func isInternalTopic(name string) bool { return name == offsetsTopic || name == txnTopic }
