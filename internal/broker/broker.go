// Package broker serves Kafka's wire protocol over TCP: the listener, one
// reader and one server goroutine per connection, one file per API key
// (00_produce.go, 01_fetch.go, ...), and the waiting room ("purgatory") in
// which fetches wait for data. It never touches files itself: partition data
// goes through internal/storage, metadata through internal/cluster.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/storage"
)

// Broker is one Samsa broker.
type Broker struct {
	// cfg is the configuration of server.properties; dyn adds the
	// dynamic configs of the metadata (dynamic_configs.go).
	cfg       *config.Broker
	dyn       atomic.Pointer[dynamicState]
	log       *slog.Logger
	nodeID    int32
	clusterID string
	logs      *storage.Manager
	node      *cluster.Node // cluster membership and the metadata store
	pids      *cluster.ProducerIDs
	sessions  *fetchSessions
	groups    *groupCoordinator // consumer groups and committed offsets
	txns      *txnCoordinator   // transactions and __transaction_state
	replicas  *replicaManager   // replica fetchers and the ISR checks
	metrics   *brokerMetrics    // counters and the Prometheus registry (metrics.go)
	http      *metricsServer    // the metrics.listen endpoint, or nil (metrics_http.go)

	// regEpoch is the broker epoch of the latest registration, 0 before
	// Start.
	regEpoch atomic.Int64
	// kick wakes the metadata applier to apply the current snapshot
	// again (after regEpoch changes).
	kick chan struct{}
	// hosted is the applier's map of the partition replicas on this
	// broker; only the applier goroutine touches it.
	hosted map[storage.TopicPartition]*partition
	// appliedRegEpoch is the regEpoch of the last apply; applier only.
	appliedRegEpoch int64

	// topicsMu guards topics, topicsByID, meta, appliedRev and applied
	// (the maps, and each topic's partitions slice and configs, which are
	// replaced, never mutated). Lock order: topicsMu before any partition
	// or storage lock.
	topicsMu   sync.RWMutex
	topics     map[string]*topic
	topicsByID map[cluster.TopicID]*topic
	meta       *cluster.Snapshot // the snapshot published last
	// appliedRev is the revision of the last snapshot fully applied:
	// published, fetchers and group coordinator told.
	appliedRev int64
	applied    chan struct{} // closed when appliedRev grows

	listeners  []net.Listener
	advertised []config.Listener

	connsMu sync.Mutex // guards conns and closed
	conns   map[*conn]struct{}
	closed  bool
	done    chan struct{}  // closed by Close: parked requests return early
	wg      sync.WaitGroup // accept loops and connections
	bg      sync.WaitGroup // background goroutines: applier, session keeper, group loader, ISR checks
}

// New opens the broker's data directories (recovering logs as needed) and
// its part of the cluster: the embedded etcd member, if it runs one, and
// the metadata cache. It does not listen or register yet; Start does.
// With controller.quorum.voters, it waits for a quorum of voters.
func New(cfg *config.Broker, logger *slog.Logger) (*Broker, error) {
	return NewContext(context.Background(), cfg, logger)
}

// NewContext is New with ctx bounding the wait for the metadata store.
func NewContext(ctx context.Context, cfg *config.Broker, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.Default()
	}
	dirs := cfg.List("log.dirs")
	b := &Broker{
		cfg:        cfg,
		log:        logger,
		nodeID:     cfg.NodeID(),
		sessions:   newFetchSessions(1000),
		kick:       make(chan struct{}, 1),
		hosted:     map[storage.TopicPartition]*partition{},
		topics:     map[string]*topic{},
		topicsByID: map[cluster.TopicID]*topic{},
		meta:       &cluster.Snapshot{},
		applied:    make(chan struct{}),
		conns:      map[*conn]struct{}{},
		done:       make(chan struct{}),
	}
	b.dyn.Store(&dynamicState{cfg: cfg})
	if err := b.openNode(ctx, dirs); err != nil {
		return nil, err
	}
	var err error
	b.logs, err = storage.OpenManager(storage.ManagerConfig{
		FS:                              storage.OSFS,
		Dirs:                            dirs,
		Defaults:                        b.logConfig(nil),
		RetentionCheckIntervalMs:        cfg.Int64("log.retention.check.interval.ms"),
		FlushSchedulerIntervalMs:        cfg.Int64("log.flush.scheduler.interval.ms"),
		FlushOffsetCheckpointIntervalMs: cfg.Int64("log.flush.offset.checkpoint.interval.ms"),
		Logger:                          logger,
		Cleaner:                         cleanerConfig(cfg),
	})
	if err != nil {
		b.node.Close()
		return nil, err
	}
	b.groups = newGroups(b)
	b.txns = newTxns(b)
	b.replicas = newReplicaManager(b)
	b.metrics = newBrokerMetrics(b)
	return b, nil
}

// Start listens on every listener and serves connections in the background.
func (b *Broker) Start() error {
	lns := b.cfg.Listeners()
	for _, l := range lns {
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			b.closeListeners()
			return fmt.Errorf("listen %s: %w", l.Addr(), err)
		}
		b.listeners = append(b.listeners, ln)
	}
	// Advertise what we actually bound (port 0 becomes a real port) unless
	// advertised.listeners says otherwise.
	adv, _ := config.ParseListeners(b.cfg.String("advertised.listeners"))
	if len(adv) == 0 {
		for i, ln := range b.listeners {
			a := ln.Addr().(*net.TCPAddr)
			host := lns[i].Host
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			adv = append(adv, config.Listener{Name: lns[i].Name, Host: host, Port: a.Port})
		}
	}
	b.advertised = adv
	// The metrics endpoint comes up first, so /readyz can say what
	// startup waits for.
	if err := b.startMetricsServer(); err != nil {
		b.closeListeners()
		return err
	}
	if err := b.register(); err != nil {
		b.closeListeners()
		b.stopMetricsServer()
		return err
	}
	// The first snapshot is applied before the first connection, so that
	// a client finds every partition this broker leads and the
	// controller.
	b.apply(b.waitController())
	b.bg.Add(4)
	go b.runApplier()
	go b.keepSession()
	go b.groups.runLoader()
	go b.txns.runLoader()
	b.replicas.start()
	for _, ln := range b.listeners {
		b.log.Info("listening", "addr", ln.Addr().String(), "node.id", b.nodeID, "cluster.id", b.clusterID,
			"log.dirs", b.cfg.String("log.dirs"))
		b.wg.Add(1)
		go b.accept(ln)
	}
	b.metrics.ready.Store(true)
	return nil
}

// Addr returns the address of the first listener, once started.
func (b *Broker) Addr() string {
	if len(b.listeners) == 0 {
		return ""
	}
	return b.listeners[0].Addr().String()
}

// ClusterID returns the cluster's id, as meta.properties and the
// metadata store agree on it.
func (b *Broker) ClusterID() string { return b.clusterID }

// Brokers returns the ids of the registered brokers, as the metadata this
// broker applied last shows them.
func (b *Broker) Brokers() []int32 { return b.snapshot().BrokerIDs() }

// LeadsEtcd reports whether this broker's embedded etcd member is the raft
// leader of the metadata store. Stopping the leader last lets every other
// member stop without a leadership handover.
func (b *Broker) LeadsEtcd() bool {
	m := b.node.Member()
	return m != nil && m.IsLeader()
}

// NodeID returns node.id.
func (b *Broker) NodeID() int32 { return b.nodeID }

func (b *Broker) accept(ln net.Listener) {
	defer b.wg.Done()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			b.log.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		b.metrics.connectionsCreated.Add(1)
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		c := newConn(b, nc)
		b.connsMu.Lock()
		if b.closed {
			b.connsMu.Unlock()
			nc.Close()
			return
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.connsMu.Unlock()
		go func() {
			defer b.wg.Done()
			c.run()
			b.connsMu.Lock()
			delete(b.conns, c)
			b.connsMu.Unlock()
		}()
	}
}

func (b *Broker) closeListeners() {
	for _, ln := range b.listeners {
		ln.Close()
	}
}

// Close stops serving, closes every connection, then flushes and
// checkpoints every log and leaves the cluster: its registration goes at
// once, and the controller moves its leaderships to other in-sync
// replicas. ControlledShutdown before Close moves them first.
func (b *Broker) Close() error { return b.close(false) }

// Halt stops the broker as a crash would, for tests of failures: like
// Close, except that its etcd session is abandoned rather than ended, so
// the cluster notices the broker gone only when broker.session.timeout.ms
// has passed.
func (b *Broker) Halt() error { return b.close(true) }

func (b *Broker) close(abandon bool) error {
	b.connsMu.Lock()
	if b.closed {
		b.connsMu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	b.closeListeners()
	b.metrics.ready.Store(false)
	for c := range b.conns {
		c.close()
	}
	b.connsMu.Unlock()
	b.wg.Wait()
	b.bg.Wait()
	b.stopMetricsServer()
	b.replicas.stop()
	b.txns.close()
	b.closeGroups()
	if abandon {
		b.node.Abandon()
	} else if err := b.node.Close(); err != nil {
		b.log.Warn("leaving the cluster", "err", err)
	}
	return b.logs.Close()
}

// cleanerConfig sets up the log cleaner from the log.cleaner.* properties.
func cleanerConfig(cfg *config.Broker) storage.CleanerConfig {
	c := storage.CleanerConfig{
		Threads:          cfg.Int("log.cleaner.threads"),
		DedupeBufferSize: cfg.Int64("log.cleaner.dedupe.buffer.size"),
		BackoffMs:        cfg.Int64("log.cleaner.backoff.ms"),
	}
	if !cfg.Bool("log.cleaner.enable") {
		c.Threads = 0
	}
	if r := cfg.Float64("log.cleaner.io.max.bytes.per.second"); r < math.MaxInt64 {
		c.IOMaxBytesPerSecond = int64(r)
	}
	return c
}
