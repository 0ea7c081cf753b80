package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// controllerWriteTimeout bounds one controller write.
const controllerWriteTimeout = 2 * time.Second

// ControllerConfig holds the controller's settings, by their Kafka names.
type ControllerConfig struct {
	// UncleanLeaderElection is unclean.leader.election.enable, for topics
	// without an override and without a dynamic broker config.
	UncleanLeaderElection bool
	// AutoLeaderRebalance is auto.leader.rebalance.enable.
	AutoLeaderRebalance bool
	// ImbalanceCheckInterval is leader.imbalance.check.interval.seconds;
	// zero means 300 s.
	ImbalanceCheckInterval time.Duration
	// ImbalancePerBrokerPercentage is leader.imbalance.per.broker.percentage;
	// zero means 10.
	ImbalancePerBrokerPercentage int
}

// DefaultControllerConfig is Kafka's defaults.
func DefaultControllerConfig() ControllerConfig {
	return ControllerConfig{
		AutoLeaderRebalance:          true,
		ImbalanceCheckInterval:       300 * time.Second,
		ImbalancePerBrokerPercentage: 10,
	}
}

// Controller campaigns for the controller role and, while it holds it,
// keeps every partition's leader and ISR consistent with the live
// brokers: when a broker's registration vanishes or it enters controlled
// shutdown, its partitions get new leaders from their ISRs and it leaves
// the ISRs; a partition reassignment whose added replicas have all joined
// the ISR is completed; periodically, leadership moves back to preferred
// replicas.
//
// Every write is a compare-and-swap on the partition's revision, fenced by
// the controller's election key, so a deposed controller cannot overwrite
// its successor's decisions.
type Controller struct {
	sess   *concurrency.Session
	store  *EtcdStore
	cache  *Cache
	nodeID int32
	cfg    ControllerConfig
	log    *slog.Logger

	epoch atomic.Int64 // the active controller epoch, 0 when not active
}

// NewController returns a controller that campaigns with the broker's
// session; Run starts it.
func NewController(sess *concurrency.Session, store *EtcdStore, cache *Cache, nodeID int32, cfg ControllerConfig, logger *slog.Logger) *Controller {
	if cfg.ImbalanceCheckInterval <= 0 {
		cfg.ImbalanceCheckInterval = 300 * time.Second
	}
	if cfg.ImbalancePerBrokerPercentage <= 0 {
		cfg.ImbalancePerBrokerPercentage = 10
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Controller{sess: sess, store: store, cache: cache, nodeID: nodeID, cfg: cfg,
		log: logger.With("component", "controller", "node.id", nodeID)}
}

// Epoch returns the controller epoch while this broker is the active
// controller, else 0.
func (c *Controller) Epoch() int64 { return c.epoch.Load() }

// Run campaigns, leads while elected, and campaigns again after losing the
// role, until ctx ends or the session does.
func (c *Controller) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.sess.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	el := concurrency.NewElection(c.sess, c.store.k.controller())
	backoff := 100 * time.Millisecond
	for {
		if err := el.Campaign(ctx, strconv.Itoa(int(c.nodeID))); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("controller campaign failed", "err", err)
			if !sleepCtx(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		c.lead(ctx, el)
		select {
		case <-c.sess.Done():
			// The session's end removed the candidacy with it.
		default:
			rctx, rcancel := context.WithTimeout(context.Background(), requestTimeout)
			el.Resign(rctx)
			rcancel()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// lead acts as the controller until the role is lost or ctx ends.
func (c *Controller) lead(ctx context.Context, el *concurrency.Election) {
	epoch := el.Rev()
	fence := clientv3.Compare(clientv3.CreateRevision(el.Key()), "=", epoch)
	// Campaign returns once the predecessor's key is gone; catching up
	// with etcd makes the cache see that and everything before it.
	snap, err := c.cache.Sync(ctx)
	if err != nil {
		return
	}
	if snap.Controller.Epoch != epoch {
		c.log.Info("lost the controller election before acting", "epoch", epoch)
		return
	}
	c.epoch.Store(epoch)
	defer c.epoch.Store(0)
	c.log.Info("became the active controller", "epoch", epoch)
	defer c.log.Info("no longer the active controller", "epoch", epoch)

	var rebalance <-chan time.Time
	if c.cfg.AutoLeaderRebalance {
		t := time.NewTicker(c.cfg.ImbalanceCheckInterval)
		defer t.Stop()
		rebalance = t.C
	}
	rebalanceDue := false
	backoff := 50 * time.Millisecond
	for {
		snap, next := c.cache.Current()
		if snap.Controller.Epoch != epoch {
			return
		}
		waitRev, err := c.reconcile(ctx, snap, fence, rebalanceDue)
		switch {
		case errors.Is(err, ErrNotController) || ctx.Err() != nil:
			return
		case err != nil:
			c.log.Warn("controller write failed", "err", err)
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		case waitRev > 0:
			// Decide again once the cache shows the writes (or, if a
			// write lost a race, what it raced with).
			if _, err := c.cache.WaitRevision(ctx, waitRev); err != nil {
				return
			}
			continue
		}
		rebalanceDue, backoff = false, 50*time.Millisecond
		select {
		case <-next:
		case <-rebalance:
			rebalanceDue = true
		case <-ctx.Done():
			return
		}
	}
}

// partitionChange is one decided write.
type partitionChange struct {
	topic     string
	id        TopicID
	partition int32
	cur, next PartitionState
	unclean   bool
	preferred bool
	// reassigned: a reassignment completed.
	reassigned bool
}

// plan decides the changes the controller should make to snap: leader
// elections and ISR removals for brokers that died or are shutting down,
// then the completion of reassignments whose added replicas are all in
// the ISR and, when rebalance is set, moves back to preferred leaders of
// brokers whose imbalance exceeds leader.imbalance.per.broker.percentage.
func plan(snap *Snapshot, cfg ControllerConfig, nodeID int32, rebalance bool) []partitionChange {
	var imbalance map[int32]float64
	if rebalance {
		imbalance = leaderImbalance(snap)
	}
	var out []partitionChange
	for _, name := range snap.TopicNames() {
		t := snap.Topics[name]
		unclean := uncleanAllowed(snap, t, cfg, nodeID)
		for i, p := range t.Partitions {
			status := partitionStatus(snap, p)
			next, changed, wasUnclean := electLeader(p, status, unclean)
			preferred, reassigned := false, false
			if !changed {
				next, changed = completeReassignment(p, status)
				reassigned = changed
			}
			if !changed && rebalance && imbalance[p.PreferredLeader()]*100 > float64(cfg.ImbalancePerBrokerPercentage) {
				next, changed = preferredLeader(p, status)
				preferred = changed
			}
			if changed {
				out = append(out, partitionChange{topic: name, id: t.ID, partition: int32(i),
					cur: p, next: next, unclean: wasUnclean, preferred: preferred, reassigned: reassigned})
			}
		}
	}
	return out
}

// partitionStatus is the brokers' status as partition p's election sees
// it. A broker that registered again since p's state was last written
// restarted without the controller writing p in between (its new
// registration may reach the cache together with the old one's expiry),
// so it may have lost records it held, as Kafka's controller assumes of a
// bounced broker: if it leads p, or is in p's ISR while p has a leader,
// it counts as dead until p's state is written again, which moves the
// leadership or the ISR membership it held before. A partition with one
// replica has nobody to fail over to, and its replica keeps leading.
func partitionStatus(snap *Snapshot, p PartitionState) func(int32) brokerStatus {
	if len(p.Replicas) < 2 {
		return snap.status
	}
	return func(id int32) brokerStatus {
		if b, ok := snap.Brokers[id]; ok && p.ModRevision < b.Epoch &&
			(id == p.Leader || (p.Leader != NoLeader && p.InISR(id))) {
			return brokerDead
		}
		return snap.status(id)
	}
}

// LedBy reports whether broker id, registered with broker epoch
// brokerEpoch, may act as p's leader: it is the leader, and either p has
// one replica or p's state was written after that registration. A broker
// that restarted finds its old leaderships still recorded until the
// controller has dealt with its restart (see partitionStatus) and must not
// act on them.
func (p PartitionState) LedBy(id int32, brokerEpoch int64) bool {
	return p.Leader == id && brokerEpoch > 0 && (len(p.Replicas) < 2 || p.ModRevision >= brokerEpoch)
}

// uncleanAllowed resolves unclean.leader.election.enable for a topic: the
// topic override, else the controller's dynamic broker config, else the
// cluster-wide dynamic config, else the static setting.
func uncleanAllowed(snap *Snapshot, t *TopicState, cfg ControllerConfig, nodeID int32) bool {
	const name = "unclean.leader.election.enable"
	for _, m := range []map[string]string{t.Configs, snap.BrokerConfigs[nodeID], snap.BrokerConfigs[DefaultBrokerConfigs]} {
		if v, ok := m[name]; ok {
			if b, err := strconv.ParseBool(v); err == nil {
				return b
			}
		}
	}
	return cfg.UncleanLeaderElection
}

// reconcile applies plan's changes. It returns the revision the cache must
// reach before the next plan: that of the last write, or a newer one than
// snap's if a write found its partition changed since snap.
func (c *Controller) reconcile(ctx context.Context, snap *Snapshot, fence clientv3.Cmp, rebalance bool) (int64, error) {
	var waitRev int64
	for _, ch := range plan(snap, c.cfg, c.nodeID, rebalance) {
		// A write caught in an etcd leader change can hang until etcd's
		// request timeout (7 s by default); giving up sooner and deciding
		// again is safe because the write is a compare-and-swap.
		wctx, cancel := context.WithTimeout(ctx, controllerWriteTimeout)
		next, err := c.store.CompareAndSwapPartition(wctx, ch.id, ch.partition, ch.cur, ch.next, fence)
		cancel()
		switch {
		case errors.Is(err, ErrStalePartitionEpoch) || errors.Is(err, ErrNoSuchPartition):
			waitRev = max(waitRev, snap.Revision+1)
			continue
		case err != nil:
			return 0, err
		}
		waitRev = max(waitRev, next.ModRevision)
		attrs := []any{"topic", ch.topic, "partition", ch.partition,
			"leader", ch.next.Leader, "leaderEpoch", ch.next.LeaderEpoch, "isr", ch.next.ISR,
			"partitionEpoch", ch.next.PartitionEpoch}
		switch {
		case ch.unclean:
			c.log.Warn("unclean leader election: records not replicated to the new leader are lost", attrs...)
		case ch.preferred:
			c.log.Info("moved leadership back to the preferred replica", attrs...)
		case ch.reassigned:
			c.log.Info("completed a partition reassignment", append(attrs, "replicas", ch.next.Replicas)...)
		case ch.next.Leader == NoLeader:
			c.log.Warn("partition is offline: no in-sync replica is alive", attrs...)
		case ch.next.Leader != ch.cur.Leader:
			c.log.Info("elected a new leader", attrs...)
		default:
			c.log.Info("shrank the ISR", attrs...)
		}
	}
	return waitRev, nil
}

// sleepCtx sleeps for d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
