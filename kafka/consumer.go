package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"sync/atomic"
	"time"
)

// Consumer reads records from Kafka (Java's KafkaConsumer): as a member of
// a consumer group (Subscribe) or from partitions it is given (Assign).
//
// Poll, Close and Unsubscribe run the rebalance listener's callbacks and
// must not be called from them; call Poll from one goroutine. The other
// methods are safe to call from any goroutine, including from the
// callbacks. Wakeup interrupts a blocking call from another goroutine.
type Consumer[K, V any] struct {
	core   *consumerCore
	keyDes Deserializer[K]
	valDes Deserializer[V]
	ics    []ConsumerInterceptor[K, V]
}

// consumerSeq numbers consumers without a client.id.
var consumerSeq atomic.Int64

// NewConsumer validates cfg (Java property names; see the package
// documentation) and makes a consumer. The deserializers are configured
// with cfg and closed with the consumer. Nothing is fetched until Poll.
func NewConsumer[K, V any](cfg Config, keyDes Deserializer[K], valDes Deserializer[V], opts ...Option) (*Consumer[K, V], error) {
	if keyDes == nil || valDes == nil {
		return nil, configErr("key.deserializer", "", "NewConsumer needs a key and a value deserializer")
	}
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.partitioner != nil || o.interceptors != nil {
		return nil, configErr("interceptor.classes", "", "partitioners and producer interceptors do not apply to a consumer")
	}
	plugins := []any{keyDes, valDes}
	for _, a := range o.assignors {
		plugins = append(plugins, a)
	}
	ics, err := interceptorsOf[ConsumerInterceptor[K, V]](o.consumerICs,
		fmt.Sprintf("ConsumerInterceptor[%s, %s]", reflect.TypeFor[K](), reflect.TypeFor[V]()))
	if err != nil {
		return nil, err
	}
	for _, ic := range ics {
		plugins = append(plugins, ic)
	}
	accepts := func(name string) bool {
		for _, d := range plugins {
			if a, ok := d.(ConfigAcceptor); ok && a.AcceptsConfig(name) {
				return true
			}
		}
		return false
	}
	cc, err := parseConsumerConfig(cfg, accepts, o.assignors)
	if err != nil {
		return nil, err
	}
	if err := keyDes.Configure(cfg, true); err != nil {
		return nil, err
	}
	if err := valDes.Configure(cfg, false); err != nil {
		return nil, err
	}
	if cc.clientID == "" {
		// Java's naming: consumer-<group>-N, or consumer-N.
		if cc.groupID != "" {
			cc.clientID = fmt.Sprintf("consumer-%s-%d", cc.groupID, consumerSeq.Add(1))
		} else {
			cc.clientID = fmt.Sprintf("consumer-%d", consumerSeq.Add(1))
		}
	}
	log := o.logger
	if log == nil {
		log = slog.Default()
	}
	for _, n := range cc.notes {
		log.Info("kafka: " + n)
	}
	core := newConsumerCore(cc, log, o.dial)
	if len(ics) > 0 {
		core.onCommit = func(offsets map[TopicPartition]OffsetAndMetadata) {
			for _, ic := range ics {
				ic.OnCommit(offsets)
			}
		}
	}
	return &Consumer[K, V]{core: core, keyDes: keyDes, valDes: valDes, ics: ics}, nil
}

// Subscribe joins the consumer's group (group.id) to read topics; the
// group's coordinator balances their partitions among its members, and
// listener (which may be nil) hears of every change. Subscribing again
// replaces the topics and listener; an empty list unsubscribes. The
// consumer joins the group in the background, but its assignment changes,
// and the listener runs, only inside Poll. It fails with ErrIllegalState
// after Assign.
func (c *Consumer[K, V]) Subscribe(topics []string, listener RebalanceListener) error {
	for _, t := range topics {
		if t == "" {
			return fmt.Errorf("%w: topic collection to subscribe to cannot contain null or empty topic", ErrInvalidTopic)
		}
	}
	if len(topics) == 0 {
		return c.Unsubscribe(context.Background())
	}
	topics = slices.Compact(sortedStrings(topics))
	return c.core.subscribe(subTopics, topics, nil, "", listener)
}

// SubscribePattern is Subscribe to every topic whose name matches re, now
// or later (Java's subscribe(Pattern)); internal topics only with
// exclude.internal.topics=false.
func (c *Consumer[K, V]) SubscribePattern(re *regexp.Regexp, listener RebalanceListener) error {
	if re == nil {
		return fmt.Errorf("%w: topic pattern to subscribe to cannot be nil", ErrInvalidTopic)
	}
	return c.core.subscribe(subPattern, nil, re, "", listener)
}

// SubscribeRegex is Subscribe to every topic whose whole name matches the
// regular expression, resolved by the group coordinator rather than by
// the consumer (Java's subscribe(SubscriptionPattern), KIP-848): the
// broker rebalances the group as matching topics come and go. The syntax
// is RE2's (Java's RE2/J). It needs group.protocol=consumer.
func (c *Consumer[K, V]) SubscribeRegex(regex string, listener RebalanceListener) error {
	if !c.core.cfg.protocol848 {
		return fmt.Errorf("%w: subscribing to a regular expression resolved by the broker needs group.protocol=consumer; use SubscribePattern with the classic protocol", ErrIllegalState)
	}
	if regex == "" {
		return fmt.Errorf("%w: the regular expression to subscribe to cannot be empty", ErrInvalidTopic)
	}
	if _, err := regexp.Compile(regex); err != nil {
		return fmt.Errorf("%w: %q is not a valid regular expression: %v", ErrInvalidTopic, regex, err)
	}
	return c.core.subscribe(subRegex, nil, nil, regex, listener)
}

// Assign reads exactly these partitions, outside any group rebalancing
// (Java's assign). It replaces a previous Assign; an empty list
// unassigns. With a group.id, positions start from the group's committed
// offsets and commits go to the group. It fails with ErrIllegalState
// while subscribed.
func (c *Consumer[K, V]) Assign(partitions []TopicPartition) error {
	return c.core.assign(partitions)
}

// Unsubscribe gives up the subscription or assignment. A subscribed
// consumer calls OnPartitionsRevoked (or OnPartitionsLost) for its
// partitions and leaves its group.
func (c *Consumer[K, V]) Unsubscribe(ctx context.Context) error {
	c.core.pollMu.Lock()
	defer c.core.pollMu.Unlock()
	if err := c.core.errIfClosed(); err != nil {
		return err
	}
	c.core.unsubscribe(ctx, "the consumer unsubscribed from all topics")
	return nil
}

// Subscription returns the subscribed topics: the names given, those the
// pattern matched at the last rebalance, or for SubscribeRegex the topics
// of the assignment.
func (c *Consumer[K, V]) Subscription() []string {
	core := c.core
	core.mu.Lock()
	mode, topics, g := core.mode, slices.Clone(core.topics), core.group
	core.mu.Unlock()
	switch {
	case mode == subTopics:
		return topics
	case mode == subPattern && g != nil:
		return g.subscription(core.cl.cluster())
	case mode == subRegex:
		var out []string
		for _, tp := range core.assignment() {
			out = append(out, tp.Topic)
		}
		return slices.Compact(out)
	}
	return nil
}

// Assignment returns the partitions assigned to the consumer, sorted.
func (c *Consumer[K, V]) Assignment() []TopicPartition { return c.core.assignment() }

// Poll returns the next records, at most max.poll.records of them, waiting
// until some arrive or ctx ends. Before fetching it runs what the
// consumer owes: the rebalances the group decided (assignment changes and
// the listener's callbacks), callbacks of finished CommitAsync calls,
// auto-commit of what earlier Polls returned, position lookups.
//
// When ctx's deadline passes first, Poll returns no records and no error,
// as Java's poll(timeout) does; when ctx is canceled it returns ctx's
// error, and after Wakeup ErrWakeup. Errors that need the application
// (a record that cannot be deserialized, auto.offset.reset=none with no
// position, a fenced static member) come back as errors; Poll may be
// called again after them.
//
// Calling Poll at least every max.poll.interval.ms keeps the consumer in
// its group; a consumer that does not leaves it, and its partitions are
// reported lost at the next Poll.
func (c *Consumer[K, V]) Poll(ctx context.Context) (ConsumerRecords[K, V], error) {
	core := c.core
	core.pollMu.Lock()
	defer core.pollMu.Unlock()
	if err := core.errIfClosed(); err != nil {
		return ConsumerRecords[K, V]{}, err
	}
	wctx, done, err := core.wake.begin(ctx)
	if err != nil {
		return ConsumerRecords[K, V]{}, err
	}
	defer done()
	// After registering with wake: a Close that began before sees this
	// Poll in wake, or this Poll sees closing.
	if core.closing.Load() {
		return ConsumerRecords[K, V]{}, wrapErr(ErrConsumerClosed, "the consumer is closing")
	}
	now := time.Now()
	gap := now.Sub(time.Unix(0, core.lastPollEnd.Load()))
	core.metrics.pollGap.record(now, ms(gap), 1, ms(gap))
	core.inPoll.Store(true)
	defer func() {
		core.lastPollEnd.Store(time.Now().UnixNano())
		core.inPoll.Store(false)
	}()
	if err := core.startPoll(); err != nil {
		return ConsumerRecords[K, V]{}, err
	}
	for {
		changed, metaUpdated := core.watch()
		if err := core.prepare(); err != nil {
			return ConsumerRecords[K, V]{}, err
		}
		recs, err := c.collect()
		core.sendFetches()
		if recs.Count() > 0 {
			// As in Java, Poll returns what the interceptors leave,
			// even nothing.
			for _, ic := range c.ics {
				recs.recs = ic.OnConsume(recs.recs)
			}
			return recs, err
		}
		if err != nil {
			return recs, err
		}
		if err := core.wait(wctx, changed, metaUpdated); err != nil {
			if ctx.Err() == nil {
				return recs, ctxErr(wctx)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return recs, nil
			}
			return recs, err
		}
	}
}

// collect drains buffered records into ConsumerRecords, deserializing
// them, up to max.poll.records.
func (c *Consumer[K, V]) collect() (ConsumerRecords[K, V], error) {
	core := c.core
	limit := core.cfg.maxPollRecords
	var out ConsumerRecords[K, V]
	if n := min(limit, core.bufferedRecords()); n > 0 {
		out.recs = make([]ConsumerRecord[K, V], 0, n)
	}
	for len(out.recs) < limit {
		ch := core.nextChunk(limit - len(out.recs))
		if ch == nil {
			break
		}
		if ch.err != nil {
			if len(out.recs) > 0 {
				return out, nil
			}
			return out, fmt.Errorf("partition %s: %w", ch.ps.tp, ch.err)
		}
		n := len(out.recs)
		out.recs = slices.Grow(out.recs, len(ch.recs))
		failed := -1
		var derr error
		for i := range ch.recs {
			// Deserialized in place: a ConsumerRecord is large enough
			// that copying it twice per record shows. deserialize sets
			// every field, so the record is not zeroed first (appending a
			// zero record would, with write barriers during a GC).
			k := len(out.recs)
			out.recs = out.recs[:k+1]
			if err := c.deserialize(&out.recs[k], ch.ps.tp, ch.cf, &ch.recs[i]); err != nil {
				out.recs = out.recs[:k]
				failed, derr = i, err
				break
			}
		}
		ok := core.finishChunk(ch, failed)
		if !ok {
			out.recs = out.recs[:n]
			continue
		}
		if len(out.recs) > n {
			if out.next == nil {
				out.next = map[TopicPartition]OffsetAndMetadata{}
			}
			last := &out.recs[len(out.recs)-1]
			out.next[ch.ps.tp] = OffsetAndMetadata{Offset: last.Offset + 1, LeaderEpoch: epochPtr(last.LeaderEpoch)}
		}
		if derr != nil {
			if len(out.recs) > 0 {
				return out, nil
			}
			return out, derr
		}
	}
	return out, nil
}

// deserialize fills every field of rec from a raw record of cf.
func (c *Consumer[K, V]) deserialize(rec *ConsumerRecord[K, V], tp TopicPartition, cf *completedFetch, r *rawRecord) error {
	b := &cf.batches[r.batch]
	key, value, headers := cf.key(r), cf.value(r), cf.headersOf(r)
	rec.Topic, rec.Partition, rec.Offset = tp.Topic, tp.Partition, r.offset
	rec.Timestamp, rec.TimestampType = time.UnixMilli(r.timestamp), b.tsType
	if r.timestamp < 0 {
		rec.Timestamp, rec.TimestampType = time.Time{}, NoTimestampType
	}
	rec.SerializedKeySize, rec.SerializedValueSize = int(r.key.len), int(r.value.len)
	rec.Headers, rec.LeaderEpoch = headers, b.leaderEpoch
	var err error
	if rec.Key, err = c.keyDes.Deserialize(tp.Topic, headers, key); err != nil {
		return &RecordDeserializationError{TopicPartition: tp, Offset: r.offset, IsKey: true, Err: err}
	}
	if rec.Value, err = c.valDes.Deserialize(tp.Topic, headers, value); err != nil {
		return &RecordDeserializationError{TopicPartition: tp, Offset: r.offset, Err: err}
	}
	return nil
}

// CommitSync commits the positions of every assigned partition, that is
// the offsets after the records Poll has returned (Java's commitSync()),
// and waits for the answer. It first waits for earlier CommitAsync calls
// and runs their callbacks. Retriable failures are retried until ctx or
// default.api.timeout.ms ends; ErrCommitFailed means the partitions went
// to another member.
func (c *Consumer[K, V]) CommitSync(ctx context.Context) error {
	return c.CommitSyncOffsets(ctx, nil)
}

// CommitSyncOffsets is CommitSync of the given offsets (and their
// metadata), for any partitions; nil means the consumed positions.
func (c *Consumer[K, V]) CommitSyncOffsets(ctx context.Context, offsets map[TopicPartition]OffsetAndMetadata) error {
	core := c.core
	return core.blocking(ctx, func(ctx context.Context) error {
		if offsets == nil {
			offsets = core.consumed(nil)
		}
		return core.commitSync(ctx, offsets)
	})
}

// CommitAsync commits the positions of every assigned partition without
// waiting and without retrying (Java's commitAsync). callback, if not nil,
// gets the outcome on the goroutine of a later Poll, CommitSync or Close,
// in commit order.
func (c *Consumer[K, V]) CommitAsync(callback OffsetCommitCallback) {
	c.CommitAsyncOffsets(nil, callback)
}

// CommitAsyncOffsets is CommitAsync of the given offsets; nil means the
// consumed positions.
func (c *Consumer[K, V]) CommitAsyncOffsets(offsets map[TopicPartition]OffsetAndMetadata, callback OffsetCommitCallback) {
	core := c.core
	var err error
	if core.coord == nil {
		err = wrapErr(ErrInvalidGroupID, "to use the group management or offset commit APIs, you must provide a valid group.id in the consumer configuration")
	} else {
		err = core.errIfClosed()
	}
	if err != nil {
		if callback != nil {
			callback(offsets, err)
		}
		return
	}
	if offsets == nil {
		offsets = core.consumed(nil)
	} else {
		offsets = cloneOffsets(offsets)
	}
	core.commitAsync(offsets, callback, false)
}

func cloneOffsets(m map[TopicPartition]OffsetAndMetadata) map[TopicPartition]OffsetAndMetadata {
	out := make(map[TopicPartition]OffsetAndMetadata, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Seek sets the position of an assigned partition: the next Poll returns
// records from offset on.
func (c *Consumer[K, V]) Seek(tp TopicPartition, offset int64) error {
	return c.SeekToOffset(tp, OffsetAndMetadata{Offset: offset})
}

// SeekToOffset is Seek with the leader epoch of the record before offset,
// if known, which lets the consumer check for log truncation (Java's
// seek(TopicPartition, OffsetAndMetadata)).
func (c *Consumer[K, V]) SeekToOffset(tp TopicPartition, om OffsetAndMetadata) error {
	if om.Offset < 0 {
		return fmt.Errorf("%w: seek offset must not be a negative number", ErrIllegalState)
	}
	return c.core.withParts([]TopicPartition{tp}, "seek", func(ps *partState) {
		c.core.seekTo(ps, om.Offset, epochOf(om.LeaderEpoch))
		c.core.maybeValidate(c.core.cl.cluster(), ps)
	})
}

// SeekToBeginning moves the partitions (all assigned ones if none are
// named) to their first offset, looked up at the next Poll or Position.
func (c *Consumer[K, V]) SeekToBeginning(partitions ...TopicPartition) error {
	return c.core.withParts(partitions, "reset", func(ps *partState) {
		c.core.requestReset(ps, offsetReset{kind: resetEarliest})
	})
}

// SeekToEnd moves the partitions (all assigned ones if none are named) to
// their end (the last stable offset under read_committed), looked up at
// the next Poll or Position.
func (c *Consumer[K, V]) SeekToEnd(partitions ...TopicPartition) error {
	return c.core.withParts(partitions, "reset", func(ps *partState) {
		c.core.requestReset(ps, offsetReset{kind: resetLatest})
	})
}

// Position returns the offset of the next record Poll would return for an
// assigned partition, looking it up first if needed.
func (c *Consumer[K, V]) Position(ctx context.Context, tp TopicPartition) (int64, error) {
	core := c.core
	var pos int64
	err := core.blocking(ctx, func(ctx context.Context) error {
		for {
			core.mu.Lock()
			ps := core.parts[tp]
			changed := core.changed
			if ps == nil {
				core.mu.Unlock()
				return fmt.Errorf("%w: you can only check the position for partitions assigned to this consumer (%s)", ErrIllegalState, tp)
			}
			if ps.state == stateFetching {
				pos = ps.position
				core.mu.Unlock()
				return nil
			}
			if ps.state == stateAwaitReset && ps.reset.kind == resetNone {
				core.mu.Unlock()
				return fmt.Errorf("%w: undefined offset with no reset policy for partition %s", ErrNoOffset, tp)
			}
			core.mu.Unlock()
			core.startLookups()
			t := time.NewTimer(core.cfg.retryBackoff)
			select {
			case <-changed:
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
			t.Stop()
		}
	})
	return pos, err
}

// Committed returns the group's committed offsets of the partitions; a
// partition without one is absent from the map.
func (c *Consumer[K, V]) Committed(ctx context.Context, partitions ...TopicPartition) (map[TopicPartition]OffsetAndMetadata, error) {
	var out map[TopicPartition]OffsetAndMetadata
	err := c.core.blocking(ctx, func(ctx context.Context) error {
		var err error
		out, err = c.core.fetchCommitted(ctx, partitions)
		return err
	})
	return out, err
}

// OffsetsForTimes returns, for each partition, the earliest offset whose
// timestamp is at or after the time given, or nil if there is none.
func (c *Consumer[K, V]) OffsetsForTimes(ctx context.Context, times map[TopicPartition]time.Time) (map[TopicPartition]*OffsetAndTimestamp, error) {
	ts := make(map[TopicPartition]int64, len(times))
	for tp, t := range times {
		if ms := t.UnixMilli(); ms >= 0 {
			ts[tp] = ms
		} else {
			return nil, fmt.Errorf("%w: the target time for partition %s is %d; it cannot be negative", ErrIllegalState, tp, ms)
		}
	}
	out := map[TopicPartition]*OffsetAndTimestamp{}
	err := c.core.blocking(ctx, func(ctx context.Context) error {
		res, err := c.core.listOffsets(ctx, ts)
		for tp := range ts {
			if r, ok := res[tp]; ok && r.offset >= 0 {
				out[tp] = &OffsetAndTimestamp{Offset: r.offset, Timestamp: time.UnixMilli(r.timestamp), LeaderEpoch: epochPtr(r.epoch)}
			} else {
				out[tp] = nil
			}
		}
		return err
	})
	return out, err
}

// BeginningOffsets returns the first offset of each partition.
func (c *Consumer[K, V]) BeginningOffsets(ctx context.Context, partitions ...TopicPartition) (map[TopicPartition]int64, error) {
	return c.offsetsAt(ctx, -2, partitions)
}

// EndOffsets returns the offset after the last record of each partition:
// the high watermark, or the last stable offset under read_committed.
func (c *Consumer[K, V]) EndOffsets(ctx context.Context, partitions ...TopicPartition) (map[TopicPartition]int64, error) {
	return c.offsetsAt(ctx, -1, partitions)
}

func (c *Consumer[K, V]) offsetsAt(ctx context.Context, ts int64, partitions []TopicPartition) (map[TopicPartition]int64, error) {
	req := make(map[TopicPartition]int64, len(partitions))
	for _, tp := range partitions {
		req[tp] = ts
	}
	out := map[TopicPartition]int64{}
	err := c.core.blocking(ctx, func(ctx context.Context) error {
		res, err := c.core.listOffsets(ctx, req)
		for tp, r := range res {
			out[tp] = r.offset
		}
		return err
	})
	return out, err
}

// PartitionsFor returns the partitions of a topic, or none if it does not
// exist.
func (c *Consumer[K, V]) PartitionsFor(ctx context.Context, topic string) ([]PartitionInfo, error) {
	var out []PartitionInfo
	err := c.core.blocking(ctx, func(ctx context.Context) error {
		cl, err := c.core.metadataFor(ctx, []string{topic})
		if err != nil {
			return err
		}
		if m := cl.topics[topic]; m != nil && m.err != nil && !errors.Is(m.err, ErrUnknownTopicOrPartition) {
			return m.err
		}
		out = cl.PartitionsForTopic(topic)
		return nil
	})
	return out, err
}

// ListTopics returns every topic the consumer may read, with its
// partitions.
func (c *Consumer[K, V]) ListTopics(ctx context.Context) (map[string][]PartitionInfo, error) {
	out := map[string][]PartitionInfo{}
	err := c.core.blocking(ctx, func(ctx context.Context) error {
		cl, err := c.core.metadataFor(ctx, nil)
		if err != nil {
			return err
		}
		for _, t := range cl.Topics() {
			out[t] = cl.PartitionsForTopic(t)
		}
		return nil
	})
	return out, err
}

// Pause stops fetching from assigned partitions until Resume; records
// already fetched stay until then. A rebalance that revokes a partition
// forgets its pause.
func (c *Consumer[K, V]) Pause(partitions ...TopicPartition) error {
	return c.core.withParts(partitions, "pause", func(ps *partState) { ps.paused = true })
}

// Resume undoes Pause.
func (c *Consumer[K, V]) Resume(partitions ...TopicPartition) error {
	err := c.core.withParts(partitions, "resume", func(ps *partState) { ps.paused = false })
	c.core.signal()
	return err
}

// Paused returns the paused partitions, sorted.
func (c *Consumer[K, V]) Paused() []TopicPartition {
	core := c.core
	core.mu.Lock()
	defer core.mu.Unlock()
	var out []TopicPartition
	for tp, ps := range core.parts {
		if ps.paused {
			out = append(out, tp)
		}
	}
	return sortTPs(out)
}

// CurrentLag returns how far a partition's position is behind its end (the
// high watermark, or the last stable offset under read_committed) as of
// the last fetch, and false if either is unknown.
func (c *Consumer[K, V]) CurrentLag(tp TopicPartition) (int64, bool) {
	core := c.core
	core.mu.Lock()
	defer core.mu.Unlock()
	if ps := core.parts[tp]; ps != nil {
		return core.lagLocked(ps)
	}
	return 0, false
}

// GroupMetadata returns the consumer's group membership, for a
// transactional producer's offsets.
func (c *Consumer[K, V]) GroupMetadata() ConsumerGroupMetadata {
	md := ConsumerGroupMetadata{GroupID: c.core.cfg.groupID, GenerationID: -1, GroupInstanceID: c.core.cfg.instanceID}
	md.MemberID, md.GenerationID = c.core.identity()
	return md
}

// EnforceRebalance asks the group for a rebalance (Java's
// enforceRebalance), for instance after a change the assignor should see.
func (c *Consumer[K, V]) EnforceRebalance(reason string) error {
	core := c.core
	core.mu.Lock()
	g := core.group
	core.mu.Unlock()
	if g == nil {
		return fmt.Errorf("%w: EnforceRebalance needs a subscription", ErrIllegalState)
	}
	if reason == "" {
		reason = "the application asked for a rebalance"
	}
	g.requestRejoin(reason, false, -1)
	return nil
}

// Wakeup interrupts the blocking call in progress on another goroutine
// (Poll, CommitSync, Position, ...), which returns ErrWakeup, or the next
// one if none is in progress. It is the way to stop a consumer loop from
// another goroutine: the loop catches ErrWakeup and closes the consumer.
func (c *Consumer[K, V]) Wakeup() { c.core.wake.fire() }

// Close leaves the group and releases everything: with enable.auto.commit
// it first commits the positions (synchronously), waits for pending
// CommitAsync calls and runs their callbacks, runs OnPartitionsRevoked,
// then sends LeaveGroup (dynamic members), stops every goroutine and
// closes the connections and the deserializers. ctx bounds the commits
// and the leave. Calling Close again does nothing.
func (c *Consumer[K, V]) Close(ctx context.Context) error {
	core := c.core
	// A Poll blocked on another goroutine returns ErrConsumerClosed.
	core.closing.Store(true)
	core.wake.closing()
	core.pollMu.Lock()
	defer core.pollMu.Unlock()
	if core.errIfClosed() != nil {
		return nil
	}
	errs := []error{core.close(ctx), c.keyDes.Close(), c.valDes.Close()}
	for _, ic := range c.ics {
		errs = append(errs, ic.Close())
	}
	return errors.Join(errs...)
}
