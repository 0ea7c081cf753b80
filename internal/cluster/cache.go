package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrCacheClosed is returned by waits on a closed cache.
var ErrCacheClosed = errors.New("metadata cache closed")

// Cache is the metadata every broker keeps in memory: one read of the
// whole key space at a revision, then a watch from the next revision,
// applying events in revision order. Each watch response becomes a new
// immutable Snapshot; readers take the current one without locking out
// the writer. If the watch falls behind etcd's compaction, the cache reads
// everything again.
type Cache struct {
	cli     *clientv3.Client
	watcher clientv3.Watcher // own stream, so progress requests reach only it
	k       keys
	log     *slog.Logger

	mu   sync.Mutex // guards snap and next
	snap *Snapshot
	next chan struct{} // closed when snap is replaced

	progress chan struct{} // a waiter wants a progress notification
	cancel   context.CancelFunc
	done     chan struct{} // closed when run returns
}

// StartCache loads the metadata under prefix and keeps it current until
// Close. ctx bounds the first load only.
func StartCache(ctx context.Context, cli *clientv3.Client, prefix string, logger *slog.Logger) (*Cache, error) {
	if logger == nil {
		logger = slog.Default()
	}
	c := &Cache{
		cli:      cli,
		watcher:  clientv3.NewWatcher(cli),
		k:        newKeys(prefix),
		log:      logger,
		next:     make(chan struct{}),
		progress: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	st, err := c.load(ctx)
	if err != nil {
		c.watcher.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.run(runCtx, st)
	return c, nil
}

// Close stops the watch and waits for it.
func (c *Cache) Close() {
	c.cancel()
	<-c.done
	c.watcher.Close()
}

// Snapshot returns the current metadata.
func (c *Cache) Snapshot() *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap
}

// Current returns the current metadata and a channel closed when a newer
// snapshot replaces it.
func (c *Cache) Current() (*Snapshot, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap, c.next
}

func (c *Cache) publish(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap = s
	close(c.next)
	c.next = make(chan struct{})
}

// WaitRevision waits until the cache reflects etcd revision rev, e.g. the
// revision a write of this broker returned, and returns that snapshot.
func (c *Cache) WaitRevision(ctx context.Context, rev int64) (*Snapshot, error) {
	delay := 10 * time.Millisecond
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		snap, next := c.Current()
		if snap.Revision >= rev {
			return snap, nil
		}
		select {
		case <-next:
		case <-timer.C:
			// No event arrived: the revision may belong to keys outside
			// the prefix. A progress notification moves the cache to the
			// latest revision.
			select {
			case c.progress <- struct{}{}:
			default:
			}
			delay = min(2*delay, 500*time.Millisecond)
			timer.Reset(delay)
		case <-c.done:
			return nil, ErrCacheClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Sync waits until the cache has caught up with everything etcd committed
// before the call (a linearizable barrier) and returns that snapshot.
func (c *Cache) Sync(ctx context.Context) (*Snapshot, error) {
	resp, err := c.cli.Get(ctx, c.k.clusterID(), clientv3.WithCountOnly())
	if err != nil {
		return nil, err
	}
	return c.WaitRevision(ctx, resp.Header.Revision)
}

// load reads every key under the prefix and publishes the result.
func (c *Cache) load(ctx context.Context) (*cacheState, error) {
	resp, err := c.cli.Get(ctx, c.k.root(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("reading cluster metadata: %w", err)
	}
	st := newCacheState(c.k, c.log)
	for _, kv := range resp.Kvs {
		st.apply(mvccpb.PUT, kv)
	}
	c.publish(st.snapshot(resp.Header.Revision))
	return st, nil
}

// run owns st: it applies watch events to it and publishes snapshots.
func (c *Cache) run(ctx context.Context, st *cacheState) {
	defer close(c.done)
	backoff := 50 * time.Millisecond
	for {
		err := c.watch(ctx, st)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errCompacted) {
			c.log.Warn("metadata watch fell behind compaction; reloading", "revision", st.rev)
			lctx, cancel := context.WithTimeout(ctx, requestTimeout)
			nst, lerr := c.load(lctx)
			cancel()
			if lerr == nil {
				st = nst
				backoff = 50 * time.Millisecond
				continue
			}
			err = lerr
		}
		c.log.Debug("metadata watch interrupted", "err", err, "revision", st.rev)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

var errCompacted = errors.New("watch revision compacted")

// watch follows the prefix from st.rev+1 until the watch breaks.
func (c *Cache) watch(ctx context.Context, st *cacheState) error {
	// RequireLeader ends the watch if this member loses the quorum, rather
	// than leaving the cache silently stale; the client then fails over.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := c.watcher.Watch(wctx, c.k.root(), clientv3.WithPrefix(),
		clientv3.WithRev(st.rev+1), clientv3.WithProgressNotify())
	for {
		select {
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if wr.CompactRevision != 0 {
				return errCompacted
			}
			if err := wr.Err(); err != nil {
				return err
			}
			if wr.IsProgressNotify() {
				if wr.Header.Revision > st.rev {
					c.publish(st.snapshot(wr.Header.Revision))
				}
				continue
			}
			if len(wr.Events) == 0 {
				continue
			}
			for _, ev := range wr.Events {
				st.apply(ev.Type, ev.Kv)
			}
			c.publish(st.snapshot(wr.Events[len(wr.Events)-1].Kv.ModRevision))
		case <-c.progress:
			if err := c.watcher.RequestProgress(wctx); err != nil {
				c.log.Debug("requesting watch progress", "err", err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// candidate is one broker campaigning for controller.
type candidate struct {
	nodeID    int32
	createRev int64
}

// cacheState is the mutable side of the cache, owned by Cache.run: the
// decoded keys, and the last snapshot, whose unchanged parts the next
// snapshot shares.
type cacheState struct {
	k   keys
	log *slog.Logger
	rev int64

	clusterID     string
	nextPID       int64
	brokers       map[int32]BrokerRegistration
	candidates    map[string]candidate
	topics        map[string]topicRecord
	topicNames    map[TopicID]string
	topicConfigs  map[string]map[string]string
	parts         map[TopicID]map[int32]PartitionState
	brokerConfigs map[int32]map[string]string
	groupConfigs  map[string]map[string]string

	prev         *Snapshot
	dirtyTopics  map[string]bool
	brokersDirty bool
	configsDirty bool
	groupsDirty  bool
}

func newCacheState(k keys, log *slog.Logger) *cacheState {
	return &cacheState{
		k: k, log: log,
		brokers:       map[int32]BrokerRegistration{},
		candidates:    map[string]candidate{},
		topics:        map[string]topicRecord{},
		topicNames:    map[TopicID]string{},
		topicConfigs:  map[string]map[string]string{},
		parts:         map[TopicID]map[int32]PartitionState{},
		brokerConfigs: map[int32]map[string]string{},
		groupConfigs:  map[string]map[string]string{},
		dirtyTopics:   map[string]bool{},
	}
}

// apply records one put or delete.
func (st *cacheState) apply(typ mvccpb.Event_EventType, kv *mvccpb.KeyValue) {
	put := typ == mvccpb.PUT
	pk := st.k.parse(string(kv.Key))
	decode := func(v any) bool {
		if err := json.Unmarshal(kv.Value, v); err != nil {
			st.log.Warn("ignoring undecodable metadata", "key", string(kv.Key), "err", err)
			return false
		}
		return true
	}
	switch pk.kind {
	case keyClusterID:
		st.clusterID = ""
		if put {
			st.clusterID = string(kv.Value)
		}
	case keyProducerIDs:
		st.nextPID = 0
		if put {
			n, err := strconv.ParseInt(string(kv.Value), 10, 64)
			if err != nil {
				st.log.Warn("ignoring undecodable metadata", "key", string(kv.Key), "err", err)
			}
			st.nextPID = n
		}
	case keyBroker:
		st.brokersDirty = true
		delete(st.brokers, pk.broker)
		var b BrokerRegistration
		if put && decode(&b) {
			b.NodeID, b.Epoch = pk.broker, kv.CreateRevision
			st.brokers[pk.broker] = b
		}
	case keyController:
		delete(st.candidates, pk.name)
		if put {
			id, err := strconv.ParseInt(string(kv.Value), 10, 32)
			if err == nil {
				st.candidates[pk.name] = candidate{nodeID: int32(id), createRev: kv.CreateRevision}
			}
		}
	case keyTopic:
		name := pk.name
		st.dirtyTopics[name] = true
		if old, ok := st.topics[name]; ok {
			delete(st.topicNames, old.ID)
			delete(st.topics, name)
		}
		var rec topicRecord
		if put && decode(&rec) {
			st.topics[name] = rec
			st.topicNames[rec.ID] = name
		}
	case keyTopicConfig:
		st.dirtyTopics[pk.name] = true
		delete(st.topicConfigs, pk.name)
		var m map[string]string
		if put && decode(&m) {
			st.topicConfigs[pk.name] = m
		}
	case keyBrokerConfig:
		st.configsDirty = true
		delete(st.brokerConfigs, pk.broker)
		var m map[string]string
		if put && decode(&m) {
			st.brokerConfigs[pk.broker] = m
		}
	case keyGroupConfig:
		st.groupsDirty = true
		delete(st.groupConfigs, pk.name)
		var m map[string]string
		if put && decode(&m) {
			st.groupConfigs[pk.name] = m
		}
	case keyPartition:
		if name, ok := st.topicNames[pk.topicID]; ok {
			st.dirtyTopics[name] = true
		}
		ps := st.parts[pk.topicID]
		if !put {
			delete(ps, pk.partition)
			if len(ps) == 0 {
				delete(st.parts, pk.topicID)
			}
			return
		}
		var p PartitionState
		if !decode(&p) {
			return
		}
		p.ModRevision = kv.ModRevision
		if ps == nil {
			ps = map[int32]PartitionState{}
			st.parts[pk.topicID] = ps
		}
		ps[pk.partition] = p
	}
}

// snapshot builds the snapshot at rev, sharing what did not change with
// the previous one.
func (st *cacheState) snapshot(rev int64) *Snapshot {
	st.rev = rev
	prev := st.prev
	s := &Snapshot{
		Revision:       rev,
		ClusterID:      st.clusterID,
		NextProducerID: st.nextPID,
		Controller:     ControllerInfo{ID: NoLeader},
	}
	var best candidate
	for _, c := range st.candidates {
		if best.createRev == 0 || c.createRev < best.createRev {
			best = c
		}
	}
	if best.createRev != 0 {
		s.Controller = ControllerInfo{ID: best.nodeID, Epoch: best.createRev}
	}
	if prev == nil || st.brokersDirty {
		s.Brokers = maps.Clone(st.brokers)
	} else {
		s.Brokers = prev.Brokers
	}
	if prev == nil || st.configsDirty {
		s.BrokerConfigs = maps.Clone(st.brokerConfigs)
	} else {
		s.BrokerConfigs = prev.BrokerConfigs
	}
	if prev == nil || st.groupsDirty {
		s.GroupConfigs = maps.Clone(st.groupConfigs)
	} else {
		s.GroupConfigs = prev.GroupConfigs
	}
	switch {
	case prev == nil:
		s.Topics = map[string]*TopicState{}
		s.topicsByID = map[TopicID]*TopicState{}
		for name := range st.topics {
			st.dirtyTopics[name] = true
		}
	case len(st.dirtyTopics) > 0:
		s.Topics = maps.Clone(prev.Topics)
		s.topicsByID = maps.Clone(prev.topicsByID)
	default:
		s.Topics, s.topicsByID = prev.Topics, prev.topicsByID
	}
	for name := range st.dirtyTopics {
		if old := s.Topics[name]; old != nil {
			delete(s.topicsByID, old.ID)
			delete(s.Topics, name)
		}
		if t := st.buildTopic(name); t != nil {
			s.Topics[name] = t
			s.topicsByID[t.ID] = t
		}
	}
	clear(st.dirtyTopics)
	st.brokersDirty, st.configsDirty, st.groupsDirty = false, false, false
	st.prev = s
	return s
}

// buildTopic assembles a topic's published state, or nil if it has no
// record. Partitions are taken from 0 up to the first missing one.
func (st *cacheState) buildTopic(name string) *TopicState {
	rec, ok := st.topics[name]
	if !ok {
		return nil
	}
	ps := st.parts[rec.ID]
	t := &TopicState{Name: name, ID: rec.ID, Configs: st.topicConfigs[name],
		Partitions: make([]PartitionState, 0, len(ps))}
	for i := int32(0); ; i++ {
		p, ok := ps[i]
		if !ok {
			break
		}
		t.Partitions = append(t.Partitions, p)
	}
	if len(t.Partitions) != len(ps) {
		st.log.Warn("topic has a gap in its partitions", "topic", name, "partitions", len(ps), "contiguous", len(t.Partitions))
	}
	return t
}
