package broker

// The group coordinator's wiring: internal/group knows nothing of the
// network or of files; here it gets __consumer_offsets as its log, the
// topic map as its metadata, and its configuration from the broker
// properties. __consumer_offsets is created on the first FindCoordinator
// for a group, as Kafka creates it; when it exists at startup its
// partitions are loaded in the background, and their groups answer
// COORDINATOR_LOAD_IN_PROGRESS meanwhile.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/record"
)

// offsetsTopic is Kafka's internal topic of committed offsets and group
// metadata.
const offsetsTopic = "__consumer_offsets"

// groupCoordinator owns the broker's group.Coordinator, which exists once
// __consumer_offsets does.
type groupCoordinator struct {
	b *Broker
	// mu serializes creating __consumer_offsets and the coordinator.
	mu    sync.Mutex
	coord atomic.Pointer[group.Coordinator]
}

// newGroups sets up the coordinator of an existing __consumer_offsets;
// startGroups loads it.
func (b *Broker) newGroups() *groupCoordinator {
	g := &groupCoordinator{b: b}
	if t := b.getTopic(offsetsTopic); t != nil {
		g.coord.Store(g.newCoordinator(t))
	}
	return g
}

// startGroups loads the partitions of __consumer_offsets in the
// background. The broker's wait group tracks it, so Close waits for it
// before closing the logs it reads.
func (b *Broker) startGroups() {
	c := b.groups.coord.Load()
	if c == nil {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		start := time.Now()
		for p := range c.NumPartitions() {
			if err := c.Load(p); err != nil {
				b.log.Error("loading group coordinator state failed", "partition", p, "err", err)
			}
		}
		b.log.Info("group coordinator loaded", "partitions", c.NumPartitions(), "took", time.Since(start))
	}()
}

// closeGroups stops the coordinator's timers and answers waiting requests.
// It runs before the logs close: a timer may be writing.
func (b *Broker) closeGroups() {
	if c := b.groups.coord.Load(); c != nil {
		c.Close()
	}
}

// coordinator returns the coordinator, or nil if __consumer_offsets does
// not exist yet; then no group has a coordinator (NOT_COORDINATOR).
func (g *groupCoordinator) coordinator() *group.Coordinator { return g.coord.Load() }

// ensure creates __consumer_offsets (compacted, with
// offsets.topic.num.partitions partitions) and the coordinator if they do
// not exist yet.
func (g *groupCoordinator) ensure() (*group.Coordinator, error) {
	if c := g.coord.Load(); c != nil {
		return c, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.coord.Load(); c != nil {
		return c, nil
	}
	b := g.b
	t := b.getTopic(offsetsTopic)
	if t == nil {
		configs := map[string]string{
			"cleanup.policy":   "compact",
			"compression.type": "producer",
			"segment.bytes":    strconv.Itoa(b.cfg.Int("offsets.topic.segment.bytes")),
		}
		var err error
		t, err = b.createTopic(offsetsTopic, int32(b.cfg.Int("offsets.topic.num.partitions")), 1, configs, false)
		var ae *apiError
		if errors.As(err, &ae) && ae.err == kerr.TopicAlreadyExists {
			t, err = b.getTopic(offsetsTopic), nil
		}
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", offsetsTopic, err)
		}
	}
	c := g.newCoordinator(t)
	for p := range c.NumPartitions() {
		if err := c.Load(p); err != nil {
			c.Close()
			return nil, err
		}
	}
	g.coord.Store(c)
	return c, nil
}

// newCoordinator configures a coordinator for the partitions of t from the
// broker properties.
func (g *groupCoordinator) newCoordinator(t *topic) *group.Coordinator {
	cfg := g.b.cfg
	ms := func(name string) time.Duration { return time.Duration(cfg.Int64(name)) * time.Millisecond }
	delay := ms("group.initial.rebalance.delay.ms")
	if delay == 0 {
		delay = -1 // no delay (the zero value would take the default)
	}
	var assignors []string
	for _, a := range cfg.List("group.consumer.assignors") {
		// Kafka names them by class; the short names are Samsa's.
		assignors = append(assignors, strings.ToLower(strings.TrimSuffix(a[strings.LastIndex(a, ".")+1:], "Assignor")))
	}
	return group.New(group.Config{
		NumPartitions:             int32(len(t.partitions)),
		MinSessionTimeout:         ms("group.min.session.timeout.ms"),
		MaxSessionTimeout:         ms("group.max.session.timeout.ms"),
		InitialRebalanceDelay:     delay,
		MaxGroupSize:              cfg.Int("group.max.size"),
		ConsumerSessionTimeout:    ms("group.consumer.session.timeout.ms"),
		ConsumerHeartbeatInterval: ms("group.consumer.heartbeat.interval.ms"),
		ConsumerMaxSize:           cfg.Int("group.consumer.max.size"),
		ConsumerAssignors:         assignors,
		OffsetMetadataMaxBytes:    cfg.Int("offset.metadata.max.bytes"),
		OffsetsRetention:          time.Duration(cfg.Int64("offsets.retention.minutes")) * time.Minute,
		OffsetsRetentionInterval:  ms("offsets.retention.check.interval.ms"),
		MaxBatchBytes:             int(t.cfg.Int64("max.message.bytes")),
		Logger:                    g.b.log.With("component", "group-coordinator"),
	}, offsetsLog{g.b}, topicView{g.b})
}

// offsetsLog is __consumer_offsets as the coordinator's Log.
type offsetsLog struct{ b *Broker }

func (l offsetsLog) partition(p int32) (*partition, error) {
	part := l.b.getPartition(offsetsTopic, p)
	if part == nil {
		return nil, fmt.Errorf("%s-%d does not exist", offsetsTopic, p)
	}
	return part, nil
}

// Append writes a batch as a produce with acks=all would: on a single node
// an appended batch is committed.
func (l offsetsLog) Append(p int32, batch []byte) error {
	part, err := l.partition(p)
	if err != nil {
		return err
	}
	appendTime := int64(-1)
	if t := l.b.getTopic(offsetsTopic); t != nil && t.rules.logAppendTime {
		appendTime = time.Now().UnixMilli()
	}
	if _, err := part.log.Append(batch, leaderEpoch, appendTime); err != nil {
		return err
	}
	part.notify()
	return nil
}

// replayChunkBytes is how much of a partition a load reads at a time.
const replayChunkBytes = 1 << 20

// Replay reads the partition from its start, whole batches at a time.
func (l offsetsLog) Replay(p int32, fn func(batch []byte) error) error {
	part, err := l.partition(p)
	if err != nil {
		return err
	}
	log := part.log
	off, end := log.LogStartOffset(), log.LogEndOffset()
	var buf []byte
	for off < end {
		rr, err := log.Read(off, replayChunkBytes, end, true)
		if err != nil {
			return err
		}
		data := rr.Data
		if data == nil && rr.Size > 0 {
			if cap(buf) < rr.Size {
				buf = make([]byte, rr.Size)
			}
			data = buf[:rr.Size]
			if _, err := rr.File.ReadAt(data, rr.Pos); err != nil {
				return err
			}
		}
		next := off
		if _, err := record.Batches(data, func(h record.Header, batch []byte) error {
			next = h.NextOffset()
			return fn(batch)
		}); err != nil {
			return err
		}
		if next <= off {
			return fmt.Errorf("%s-%d: no progress reading at offset %d", offsetsTopic, p, off)
		}
		off = next
	}
	return nil
}

// topicView is the topic map as the coordinator's Topics.
type topicView struct{ b *Broker }

func (v topicView) TopicByName(name string) ([16]byte, int32, bool) {
	t := v.b.getTopic(name)
	if t == nil {
		return [16]byte{}, 0, false
	}
	return t.id, int32(len(t.partitions)), true
}

func (v topicView) TopicByID(id [16]byte) (string, int32, bool) {
	t := v.b.getTopicByID(id)
	if t == nil {
		return "", 0, false
	}
	return t.name, int32(len(t.partitions)), true
}

func (v topicView) TopicNames() []string {
	ts := v.b.allTopics()
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.name
	}
	return out
}

// groupRequestContext is what the coordinator records of a member's
// connection: its client id, and its host as Kafka writes it ("/" and the
// address).
func groupRequestContext(r *request) group.RequestContext {
	rc := group.RequestContext{ClientID: r.clientID, ClientHost: "/"}
	if r.conn != nil {
		if host, _, err := net.SplitHostPort(r.conn.nc.RemoteAddr().String()); err == nil {
			rc.ClientHost += host
		}
	}
	return rc
}

// doneContext is a context that ends when the broker closes, for requests
// that wait (JoinGroup, SyncGroup).
func (b *Broker) doneContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-b.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// errBrokerClosing ends the connection of a request that was waiting when
// the broker closed.
var errBrokerClosing = errors.New("broker is shutting down")
