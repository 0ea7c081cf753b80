package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/samsa-io/samsa/internal/storage"
)

// requestTimeout bounds clean-up requests that run without a caller's
// context.
const requestTimeout = 5 * time.Second

// DefaultSessionTimeout is Kafka's broker.session.timeout.ms: how long a
// broker that stopped heartbeating stays registered.
const DefaultSessionTimeout = 9 * time.Second

// NodeConfig configures a broker's part in the cluster.
type NodeConfig struct {
	Etcd EtcdConfig
	// Prefix is the etcd key prefix; "" means DefaultPrefix.
	Prefix string
	// SessionTimeout is broker.session.timeout.ms, rounded up to whole
	// seconds (etcd leases count seconds); zero means
	// DefaultSessionTimeout.
	SessionTimeout time.Duration
	// Controller starts from DefaultControllerConfig(): its zero value
	// turns auto.leader.rebalance.enable off.
	Controller ControllerConfig
	// LeaseFile, if set, is where the node records its session's lease
	// id. After a crash the restarted broker revokes that lease, so that
	// its previous registration and controller candidacy vanish at once
	// instead of after the session timeout. The file must belong to this
	// broker alone: the broker keeps it in its first log directory.
	LeaseFile string
	Logger    *slog.Logger
}

// Node is one broker's membership in the cluster: its embedded etcd member
// (if any), its etcd client, the metadata store and cache, and once
// registered its session, registration and controller candidacy.
type Node struct {
	cfg    NodeConfig
	log    *slog.Logger
	member *Member // nil for a client-only broker
	cli    *clientv3.Client
	store  *EtcdStore
	cache  *Cache

	leaveOnce sync.Once
	leaveErr  error

	mu         sync.Mutex // guards the fields below
	sess       *concurrency.Session
	reg        BrokerRegistration
	controller *Controller
	ctrlCancel context.CancelFunc
	ctrlDone   chan struct{}
}

// Open starts the broker's etcd member if it embeds one, waits for the
// metadata store to answer (for a voter, for a quorum of voters to be up)
// and loads the cache. ctx bounds the wait.
func Open(ctx context.Context, cfg NodeConfig) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Etcd.Logger == nil {
		cfg.Etcd.Logger = cfg.Logger
	}
	n := &Node{cfg: cfg, log: cfg.Logger}
	if cfg.Etcd.EmbedsMember() {
		m, err := StartMember(&cfg.Etcd)
		if err != nil {
			return nil, err
		}
		if err := m.WaitReady(ctx); err != nil {
			m.Close()
			return nil, err
		}
		n.member = m
	}
	endpoints := cfg.Etcd.ClientEndpoints(n.member)
	if len(endpoints) == 0 {
		n.closeMember()
		return nil, errors.New("no etcd endpoints: set controller.quorum.voters or etcd.endpoints")
	}
	cli, err := Connect(endpoints, cfg.Logger)
	if err != nil {
		n.closeMember()
		return nil, err
	}
	n.cli = cli
	n.store = NewEtcdStore(cli, cfg.Prefix)
	if n.cache, err = StartCache(ctx, cli, cfg.Prefix, cfg.Logger); err != nil {
		cli.Close()
		n.closeMember()
		return nil, err
	}
	return n, nil
}

func (n *Node) closeMember() {
	if n.member != nil {
		n.member.Close()
	}
}

// Member is the embedded etcd member, or nil.
func (n *Node) Member() *Member { return n.member }

// Client is the node's etcd client.
func (n *Node) Client() *clientv3.Client { return n.cli }

// Store is the metadata store.
func (n *Node) Store() *EtcdStore { return n.store }

// Cache is the node's metadata cache.
func (n *Node) Cache() *Cache { return n.cache }

func (n *Node) sessionTTL() int {
	d := n.cfg.SessionTimeout
	if d <= 0 {
		d = DefaultSessionTimeout
	}
	return int((d + time.Second - 1) / time.Second)
}

// Register opens the broker's session, registers the broker under it and
// starts its controller candidacy; when it returns, the cache shows the
// registration. It returns the broker epoch. If the session is later lost
// (Done is closed), the registration is gone and the broker is fenced: it
// must stop acting on its partitions and call Register again, which gives
// it a new epoch.
func (n *Node) Register(ctx context.Context, reg BrokerRegistration) (int64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sess != nil {
		select {
		case <-n.sess.Done():
		default:
			return 0, errors.New("broker is already registered")
		}
		n.stopControllerLocked()
	}
	n.reclaimLease(ctx)
	if reg.IncarnationID == "" {
		var b [16]byte
		rand.Read(b[:])
		reg.IncarnationID = hex.EncodeToString(b[:])
	}
	// The lease is granted under ctx; the session then lives until Close
	// or until etcd stops hearing from it.
	lease, err := n.cli.Grant(ctx, int64(n.sessionTTL()))
	if err != nil {
		return 0, fmt.Errorf("opening etcd session: %w", err)
	}
	sess, err := concurrency.NewSession(n.cli, concurrency.WithTTL(n.sessionTTL()), concurrency.WithLease(lease.ID))
	if err != nil {
		return 0, fmt.Errorf("opening etcd session: %w", err)
	}
	n.recordLease(lease.ID)
	epoch, err := n.store.RegisterBroker(ctx, sess.Lease(), reg)
	if err != nil {
		sess.Close()
		return 0, err
	}
	reg.Epoch = epoch
	// The broker's own snapshots include its registration from now on.
	if _, err := n.cache.WaitRevision(ctx, epoch); err != nil {
		sess.Close()
		return 0, err
	}
	n.sess, n.reg = sess, reg
	n.controller = NewController(sess, n.store, n.cache, reg.NodeID, n.cfg.Controller, n.log)
	cctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	n.ctrlCancel, n.ctrlDone = cancel, done
	go func(c *Controller) {
		defer close(done)
		c.Run(cctx)
	}(n.controller)
	n.log.Info("registered broker", "node.id", reg.NodeID, "broker.epoch", epoch)
	return epoch, nil
}

// reclaimLease revokes the lease recorded in LeaseFile by an earlier run of
// this broker, if it is still alive: that run crashed, and its
// registration and controller candidacy would otherwise block this one
// until they expire.
func (n *Node) reclaimLease(ctx context.Context) {
	if n.cfg.LeaseFile == "" {
		return
	}
	b, err := os.ReadFile(n.cfg.LeaseFile)
	if err != nil {
		return
	}
	id, err := strconv.ParseInt(strings.TrimSpace(string(b)), 16, 64)
	if err != nil || id == 0 {
		return
	}
	ttl, err := n.cli.TimeToLive(ctx, clientv3.LeaseID(id))
	if err != nil || ttl.TTL <= 0 {
		return // expired or unknown: nothing to reclaim
	}
	if _, err := n.cli.Revoke(ctx, clientv3.LeaseID(id)); err == nil {
		n.log.Info("revoked the session of this broker's previous run", "lease", fmt.Sprintf("%x", id))
	}
}

// recordLease writes the session's lease id to LeaseFile.
func (n *Node) recordLease(id clientv3.LeaseID) {
	if n.cfg.LeaseFile == "" {
		return
	}
	if err := storage.WriteFileAtomic(storage.OSFS, filepath.Dir(n.cfg.LeaseFile), filepath.Base(n.cfg.LeaseFile), []byte(fmt.Sprintf("%x\n", int64(id)))); err != nil {
		n.log.Warn("recording the session lease", "file", n.cfg.LeaseFile, "err", err)
	}
}

// Done is closed when the broker's session ends: its registration and any
// controller role are gone.
func (n *Node) Done() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sess == nil {
		return nil
	}
	return n.sess.Done()
}

// Registration returns the broker's registration as last written.
func (n *Node) Registration() BrokerRegistration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reg
}

// Controller returns the broker's controller candidate, or nil before
// Register.
func (n *Node) Controller() *Controller {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.controller
}

// ControlledShutdown announces that the broker is about to stop and waits
// until the controller has moved its leaderships to other ISR members and
// taken it out of the ISRs, wherever another replica can take over. Then
// the broker gives up any controller role. The broker still serves its
// remaining partitions until Close.
func (n *Node) ControlledShutdown(ctx context.Context) error {
	n.mu.Lock()
	if n.sess == nil {
		n.mu.Unlock()
		return errors.New("broker is not registered")
	}
	reg, sess := n.reg, n.sess
	reg.ShuttingDown = true
	rev, err := n.store.UpdateBroker(ctx, sess.Lease(), reg)
	if err == nil {
		n.reg = reg
	}
	n.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := n.cache.WaitRevision(ctx, rev); err != nil {
		return err
	}
	for {
		snap, next := n.cache.Current()
		if len(plan(snap, n.cfg.Controller, snap.Controller.ID, false)) == 0 {
			break
		}
		select {
		case <-next:
		case <-ctx.Done():
			return fmt.Errorf("controlled shutdown: %w", ctx.Err())
		}
	}
	n.mu.Lock()
	n.stopControllerLocked()
	n.mu.Unlock()
	return nil
}

// REQUIRES: n.mu held.
func (n *Node) stopControllerLocked() {
	if n.ctrlCancel != nil {
		n.ctrlCancel()
		<-n.ctrlDone
		n.ctrlCancel, n.ctrlDone, n.controller = nil, nil, nil
	}
}

// stopControllerWithin stops the controller, closing the client if it
// has not stopped within d: a campaign canceled while it waits resigns
// with the client's own context, which without a quorum (the last
// brokers of a cluster stopping together) returns only once the client
// is closed.
// REQUIRES: n.mu held.
func (n *Node) stopControllerWithin(d time.Duration) {
	if n.ctrlCancel == nil {
		return
	}
	n.ctrlCancel()
	select {
	case <-n.ctrlDone:
	case <-time.After(d):
		n.cli.Close()
		<-n.ctrlDone
	}
	n.ctrlCancel, n.ctrlDone, n.controller = nil, nil, nil
}

// Close gives up the controller role, ends the session (so the broker's
// registration vanishes at once rather than when it expires), and stops
// the cache, the client and the member.
func (n *Node) Close() error {
	err := n.leave()
	n.closeMember()
	return err
}

// Abandon stops the node as a crash would, for tests of failures: the
// session is not revoked, so the broker's registration and controller
// candidacy stay until broker.session.timeout.ms passes; then the cache,
// the client and the member stop.
func (n *Node) Abandon() {
	n.leaveOnce.Do(func() {
		n.mu.Lock()
		if n.sess != nil {
			n.sess.Orphan()
		}
		// With the client closed first, the controller cannot resign.
		n.cli.Close()
		n.stopControllerLocked()
		n.sess = nil
		n.mu.Unlock()
		n.cache.Close()
	})
	n.closeMember()
}

// leaveTimeout bounds the revoke of the session at Close. Without a quorum
// (the last brokers of a cluster stopping together) it cannot succeed,
// and the lease then expires on its own.
const leaveTimeout = 2 * time.Second

// leave does Close's work up to stopping the member.
func (n *Node) leave() error {
	n.leaveOnce.Do(func() {
		n.mu.Lock()
		if n.sess != nil {
			// Revoking the lease deletes the registration and any
			// controller candidacy at once; the controller then stops
			// without resigning. A revoke retried through another member
			// after the first attempt succeeded finds the lease gone:
			// that is success.
			n.sess.Orphan()
			ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
			if _, err := n.cli.Revoke(ctx, n.sess.Lease()); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				n.leaveErr = err
			}
			cancel()
		}
		n.stopControllerWithin(leaveTimeout)
		n.sess = nil
		n.mu.Unlock()
		n.cache.Close()
		if err := n.cli.Close(); n.leaveErr == nil && !errors.Is(err, context.Canceled) {
			n.leaveErr = err
		}
	})
	return n.leaveErr
}
