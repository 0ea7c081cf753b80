// Package broker serves Kafka's wire protocol over TCP: the listener, one
// reader and one server goroutine per connection, one file per API key
// (00_produce.go, 01_fetch.go, ...), and the waiting room ("purgatory") in
// which fetches wait for data. It never touches files itself: partition data
// goes through internal/storage, metadata through internal/cluster.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/storage"
)

// Broker is one Samsa broker.
type Broker struct {
	cfg       *config.Broker
	log       *slog.Logger
	nodeID    int32
	clusterID string
	logs      *storage.Manager
	store     *cluster.FileStore
	sessions  *fetchSessions
	groups    *groupCoordinator // consumer groups and committed offsets

	// topicsMu guards topics and topicsByID (the maps, and each topic's
	// partitions slice and configs, which are replaced, never mutated).
	// Lock order: topicsMu before any storage lock.
	topicsMu   sync.RWMutex
	topics     map[string]*topic
	topicsByID map[cluster.TopicID]*topic

	listeners  []net.Listener
	advertised []config.Listener

	connsMu sync.Mutex // guards conns and closed
	conns   map[*conn]struct{}
	closed  bool
	done    chan struct{}  // closed by Close: parked requests return early
	wg      sync.WaitGroup // accept loops and connections
}

// New opens the broker's data directories (recovering logs as needed) and
// loads its metadata. It does not listen yet; Start does.
func New(cfg *config.Broker, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.Default()
	}
	dirs := cfg.List("log.dirs")
	b := &Broker{
		cfg:        cfg,
		log:        logger,
		nodeID:     cfg.NodeID(),
		sessions:   newFetchSessions(1000),
		topics:     map[string]*topic{},
		topicsByID: map[cluster.TopicID]*topic{},
		conns:      map[*conn]struct{}{},
		done:       make(chan struct{}),
	}
	var err error
	if b.clusterID, err = loadMetaProperties(dirs, b.nodeID); err != nil {
		return nil, err
	}
	if b.store, err = cluster.OpenFileStore(dirs[0]); err != nil {
		return nil, err
	}
	b.logs, err = storage.OpenManager(storage.ManagerConfig{
		FS:                              storage.OSFS,
		Dirs:                            dirs,
		Defaults:                        b.logConfig(nil),
		RetentionCheckIntervalMs:        cfg.Int64("log.retention.check.interval.ms"),
		FlushSchedulerIntervalMs:        cfg.Int64("log.flush.scheduler.interval.ms"),
		FlushOffsetCheckpointIntervalMs: cfg.Int64("log.flush.offset.checkpoint.interval.ms"),
		Logger:                          logger,
	})
	if err != nil {
		return nil, err
	}
	if err := b.loadTopics(); err != nil {
		b.logs.Close()
		return nil, err
	}
	b.groups = b.newGroups()
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
	b.startGroups()
	for _, ln := range b.listeners {
		b.log.Info("listening", "addr", ln.Addr().String(), "node.id", b.nodeID, "cluster.id", b.clusterID,
			"log.dirs", b.cfg.String("log.dirs"))
		b.wg.Add(1)
		go b.accept(ln)
	}
	return nil
}

// Addr returns the address of the first listener, once started.
func (b *Broker) Addr() string {
	if len(b.listeners) == 0 {
		return ""
	}
	return b.listeners[0].Addr().String()
}

// ClusterID returns the cluster id kept in meta.properties.
func (b *Broker) ClusterID() string { return b.clusterID }

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
// checkpoints every log.
func (b *Broker) Close() error {
	b.connsMu.Lock()
	if b.closed {
		b.connsMu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	b.closeListeners()
	for c := range b.conns {
		c.close()
	}
	b.connsMu.Unlock()
	b.wg.Wait()
	b.closeGroups()
	return b.logs.Close()
}
