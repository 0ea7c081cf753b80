package broker

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/storage"
)

// topic is a topic this broker serves. Its fields are replaced (under
// Broker.topicsMu), never mutated in place, so a reader holding a *topic
// sees a consistent value.
type topic struct {
	name       string
	id         cluster.TopicID
	partitions []*partition
	cfg        config.Topic
	rules      *batchRules // produce validation, from cfg
	minISR     int
}

// newTopic builds a topic's state from its metadata (partitions are added
// by the caller).
func (b *Broker) newTopic(name string, id cluster.TopicID, overrides map[string]string) *topic {
	cfg := config.Topic{Broker: b.cfg, Overrides: overrides}
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
	return &topic{name: name, id: id, cfg: cfg, rules: rules, minISR: int(cfg.Int64("min.insync.replicas"))}
}

// partition is one partition this broker leads.
type partition struct {
	tp  storage.TopicPartition
	log *storage.Log

	// waitMu guards waiters: fetches parked until this partition grows.
	waitMu  sync.Mutex
	waiters map[chan struct{}]struct{}
}

// leaderEpoch of every partition on a single node: it never changes
// leaders.
const leaderEpoch = 0

// highWatermark is the offset below which records are committed. On a
// single node every appended record is.
func (p *partition) highWatermark() int64 { return p.log.LogEndOffset() }

// wait registers ch to be signalled at the next append.
func (p *partition) wait(ch chan struct{}) {
	p.waitMu.Lock()
	if p.waiters == nil {
		p.waiters = map[chan struct{}]struct{}{}
	}
	p.waiters[ch] = struct{}{}
	p.waitMu.Unlock()
}

func (p *partition) unwait(ch chan struct{}) {
	p.waitMu.Lock()
	delete(p.waiters, ch)
	p.waitMu.Unlock()
}

// notify wakes every parked fetch.
func (p *partition) notify() {
	p.waitMu.Lock()
	for ch := range p.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.waitMu.Unlock()
}

// logConfig resolves the storage configuration of a topic.
func (b *Broker) logConfig(overrides map[string]string) storage.LogConfig {
	t := config.Topic{Broker: b.cfg, Overrides: overrides}
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
	}
}

// loadTopics opens the logs of every topic in the metadata store, and
// removes logs of topics the store does not know (a deletion interrupted by
// a crash).
func (b *Broker) loadTopics() error {
	known := map[storage.TopicPartition]bool{}
	for name, mt := range b.store.Topics() {
		t := b.newTopic(name, mt.ID, mt.Configs)
		lc := b.logConfig(mt.Configs)
		for i := int32(0); i < mt.Partitions; i++ {
			tp := storage.TopicPartition{Topic: name, Partition: i}
			known[tp] = true
			l := b.logs.Get(tp)
			if l == nil {
				var err error
				if l, err = b.logs.Create(tp, mt.ID, lc); err != nil {
					return fmt.Errorf("opening %s-%d: %w", name, i, err)
				}
			} else {
				l.SetConfig(lc)
			}
			t.partitions = append(t.partitions, &partition{tp: tp, log: l})
		}
		b.topics[name] = t
		b.topicsByID[t.id] = t
	}
	for tp := range b.logs.All() {
		if !known[tp] {
			b.log.Warn("removing log of unknown topic", "topic", tp.Topic, "partition", tp.Partition)
			if err := b.logs.Delete(tp); err != nil {
				return err
			}
		}
	}
	return nil
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

// getPartition returns a partition, or nil.
func (b *Broker) getPartition(name string, p int32) *partition {
	t := b.getTopic(name)
	if t == nil || p < 0 || int(p) >= len(t.partitions) {
		return nil
	}
	return t.partitions[p]
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

// createTopic validates and creates a topic. partitions or replication -1
// take the broker defaults. With validateOnly nothing is created.
func (b *Broker) createTopic(name string, partitions int32, replication int16, configs map[string]string, validateOnly bool) (*topic, error) {
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
	if replication < 1 || replication > 1 {
		return nil, errorf(kerr.InvalidReplicationFactor, "replication factor %d is not possible with 1 live broker", replication)
	}
	for k, v := range configs {
		if err := config.CheckTopicConfig(k, v); err != nil {
			return nil, errorf(kerr.InvalidConfig, "%v", err)
		}
	}
	if validateOnly {
		b.topicsMu.RLock()
		_, exists := b.topics[name]
		b.topicsMu.RUnlock()
		if exists {
			return nil, errorf(kerr.TopicAlreadyExists, "topic %q already exists", name)
		}
		t := b.newTopic(name, cluster.TopicID{}, configs)
		t.partitions = make([]*partition, partitions)
		return t, nil
	}

	b.topicsMu.Lock()
	defer b.topicsMu.Unlock()
	if _, exists := b.topics[name]; exists {
		return nil, errorf(kerr.TopicAlreadyExists, "topic %q already exists", name)
	}
	if collides := b.collidingTopic(name); collides != "" {
		return nil, errorf(kerr.InvalidTopicException, "topic %q collides with existing topic %q ('.' and '_' are interchangeable in metric names)", name, collides)
	}
	var id cluster.TopicID
	rand.Read(id[:])
	if err := b.store.CreateTopic(name, cluster.Topic{ID: id, Partitions: partitions, Configs: configs}); err != nil {
		return nil, err
	}
	t := b.newTopic(name, id, configs)
	lc := b.logConfig(configs)
	for i := int32(0); i < partitions; i++ {
		tp := storage.TopicPartition{Topic: name, Partition: i}
		l, err := b.logs.Create(tp, id, lc)
		if err != nil {
			return nil, fmt.Errorf("creating log %s-%d: %w", name, i, err)
		}
		t.partitions = append(t.partitions, &partition{tp: tp, log: l})
	}
	b.topics[name] = t
	b.topicsByID[id] = t
	b.log.Info("created topic", "topic", name, "partitions", partitions, "id", id.String())
	return t, nil
}

// collidingTopic returns an existing topic whose name differs from name
// only by '.' versus '_' (Kafka forbids such pairs).
// REQUIRES: b.topicsMu held.
func (b *Broker) collidingTopic(name string) string {
	norm := strings.ReplaceAll(name, ".", "_")
	for other := range b.topics {
		if other != name && strings.ReplaceAll(other, ".", "_") == norm {
			return other
		}
	}
	return ""
}

// deleteTopic removes a topic and its logs.
func (b *Broker) deleteTopic(name string) error {
	if !b.cfg.Bool("delete.topic.enable") {
		return errorf(kerr.TopicDeletionDisabled, "delete.topic.enable is false")
	}
	b.topicsMu.Lock()
	defer b.topicsMu.Unlock()
	t, ok := b.topics[name]
	if !ok {
		return errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	if err := b.store.DeleteTopic(name); err != nil {
		return err
	}
	delete(b.topics, name)
	delete(b.topicsByID, t.id)
	for _, p := range t.partitions {
		if err := b.logs.Delete(p.tp); err != nil {
			b.log.Error("deleting log", "topic", name, "partition", p.tp.Partition, "err", err)
		}
		p.notify()
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
	if !b.cfg.Bool("auto.create.topics.enable") {
		return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist and auto.create.topics.enable is false", name)
	}
	t, err := b.createTopic(name, -1, -1, nil, false)
	var ae *apiError
	if errors.As(err, &ae) && ae.err == kerr.TopicAlreadyExists {
		return b.getTopic(name), nil
	}
	return t, err
}

// isInternalTopic reports Kafka's internal topics, which clients read but
// do not write.
func isInternalTopic(name string) bool { return name == offsetsTopic }
