package broker

// The group coordinator's wiring: internal/group knows nothing of the
// network or of files; here it gets __consumer_offsets as its log, the
// topic map as its metadata, and its configuration from the broker
// properties. __consumer_offsets is created on the first FindCoordinator
// for a group, as Kafka creates it, with offsets.topic.replication.factor
// replicas (fewer if fewer brokers are registered). The coordinator
// follows the leadership of its partitions: the metadata applier queues a
// load when this broker becomes a partition's leader and an unload when it
// stops leading it, and a loader goroutine replays them in order; the
// groups of a partition being loaded answer COORDINATOR_LOAD_IN_PROGRESS,
// those of a partition led elsewhere NOT_COORDINATOR.

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

	"github.com/samsa-io/samsa/internal/group"
)

// offsetsTopic is Kafka's internal topic of committed offsets and group
// metadata.
const offsetsTopic = "__consumer_offsets"

// groupCoordinator owns the broker's group.Coordinator, which exists once
// __consumer_offsets does.
type groupCoordinator struct {
	b *Broker
	// mu serializes creating __consumer_offsets.
	mu    sync.Mutex
	coord atomic.Pointer[group.Coordinator]
	// led lists the partitions whose load was last queued, and is owned
	// by the metadata applier.
	led map[int32]bool

	loads *loadQueue
}

func newGroups(b *Broker) *groupCoordinator {
	return &groupCoordinator{b: b, led: map[int32]bool{}, loads: newLoadQueue()}
}

// prepare is called by the metadata applier with __consumer_offsets as
// about to be published (nil if it does not exist): it creates the
// coordinator the first time.
func (g *groupCoordinator) prepare(t *topic) {
	if t != nil && g.coord.Load() == nil {
		g.coord.Store(g.newCoordinator(t))
	}
}

// follow is called by the metadata applier with __consumer_offsets as
// just published: it queues loads and unloads for the partitions whose
// leadership changed.
func (g *groupCoordinator) follow(t *topic) {
	c := g.coord.Load()
	if t == nil {
		if c == nil {
			return
		}
		for p, led := range g.led {
			if led {
				g.loads.push(loadEvent{partition: p})
			}
		}
		clear(g.led)
		return
	}
	for i := range min(int32(len(t.partitions)), c.NumPartitions()) {
		leads := false
		if p := t.partitions[i]; p != nil {
			leads, _, _ = p.role()
		}
		if leads != g.led[i] {
			g.led[i] = leads
			g.loads.push(loadEvent{partition: i, load: leads})
		}
	}
}

// runLoader loads and unloads partitions in the order the applier queued
// them, until the broker closes.
func (g *groupCoordinator) runLoader() {
	defer g.b.bg.Done()
	g.loads.run(g.b.done, g.process)
}

// process loads and unloads partitions; false if the broker closed.
func (g *groupCoordinator) process(evs []loadEvent) bool {
	c := g.coord.Load()
	for _, ev := range evs {
		if c == nil {
			break
		}
		if !ev.load {
			c.Unload(ev.partition)
			continue
		}
		select {
		case <-g.b.done:
			return false
		default:
		}
		start := time.Now()
		if err := c.Load(ev.partition); err != nil {
			g.b.log.Error("loading group coordinator state failed", "partition", ev.partition, "err", err)
			continue
		}
		g.b.log.Debug("group coordinator loaded a partition", "partition", ev.partition, "took", time.Since(start))
	}
	return true
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
// offsets.topic.num.partitions partitions) if it does not exist yet, and
// returns the coordinator.
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
	if b.snapshot().Topic(offsetsTopic) == nil {
		configs := map[string]string{
			"cleanup.policy":   "compact",
			"compression.type": "producer",
			"segment.bytes":    strconv.Itoa(b.cfg.Int("offsets.topic.segment.bytes")),
		}
		rf := max(min(b.cfg.Int("offsets.topic.replication.factor"), len(b.snapshot().PlacementBrokers())), 1)
		if err := b.createInternalTopic(offsetsTopic, b.cfg.Int("offsets.topic.num.partitions"), rf, configs, g.loads); err != nil {
			return nil, err
		}
	}
	// The applier made the coordinator when it applied the topic.
	c := g.coord.Load()
	if c == nil {
		return nil, fmt.Errorf("%s is being created", offsetsTopic)
	}
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
		GroupConfigs:              g.b.groupConfig,
		OffsetMetadataMaxBytes:    cfg.Int("offset.metadata.max.bytes"),
		OffsetsRetention:          time.Duration(cfg.Int64("offsets.retention.minutes")) * time.Minute,
		OffsetsRetentionInterval:  ms("offsets.retention.check.interval.ms"),
		MaxBatchBytes:             int(t.cfg.Int64("max.message.bytes")),
		Logger:                    g.b.log.With("component", "group-coordinator"),
	}, internalLog{b: g.b, topic: offsetsTopic}, topicView{g.b})
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
