package broker

// The replica manager: one replica fetcher per leader broker this broker
// follows partitions of (replica_fetcher.go), and, for the partitions it
// leads, the ISR: a follower that has not caught up for
// replica.lag.time.max.ms leaves it, one that has caught up rejoins it,
// each change a request to the metadata store (Kafka's AlterPartition),
// compare-and-swap on the partition epoch.

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/samsa-io/samsa/internal/cluster"
)

const (
	// isrWriteTimeout bounds one ISR change request.
	isrWriteTimeout = 5 * time.Second
	// isrRetryAfterRace and isrRetryAfterError space out the ISR change
	// requests of a partition after one lost a race with another
	// metadata change (the applier is about to bring the new state) or
	// failed.
	isrRetryAfterRace  = 100 * time.Millisecond
	isrRetryAfterError = time.Second
)

type replicaManager struct {
	b      *Broker
	lagMax time.Duration // replica.lag.time.max.ms

	mu       sync.Mutex // guards fetchers, following and stopped
	fetchers map[int32]*replicaFetcher
	// following is the leader each followed replica is fetched from.
	following map[*partition]int32
	stopped   bool

	stopCh chan struct{}
	wg     sync.WaitGroup // fetchers, the ISR check loop, ISR change requests
}

func newReplicaManager(b *Broker) *replicaManager {
	return &replicaManager{
		b:         b,
		lagMax:    time.Duration(b.cfg.Int64("replica.lag.time.max.ms")) * time.Millisecond,
		fetchers:  map[int32]*replicaFetcher{},
		following: map[*partition]int32{},
		stopCh:    make(chan struct{}),
	}
}

// start runs the ISR check loop.
func (m *replicaManager) start() {
	m.wg.Add(1)
	go m.runISRChecks()
}

// stop stops every fetcher and the ISR checks and waits for them and for
// ISR change requests in flight.
func (m *replicaManager) stop() {
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.stopped = true
	close(m.stopCh)
	for _, f := range m.fetchers {
		f.stop()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// follow applies a replica's new role to the fetchers: a follower is
// fetched from its leader, in its leader epoch, starting with a
// truncation check; anything else is fetched by nobody.
func (m *replicaManager) follow(ch roleChange) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	if old, ok := m.following[ch.p]; ok {
		if f := m.fetchers[old]; f != nil && f.remove(ch.p) == 0 {
			f.stop()
			delete(m.fetchers, old)
		}
		delete(m.following, ch.p)
	}
	if ch.leader == cluster.NoLeader || ch.leader == m.b.nodeID {
		return
	}
	f := m.fetchers[ch.leader]
	if f == nil {
		f = newReplicaFetcher(m, ch.leader)
		m.fetchers[ch.leader] = f
		m.wg.Add(1)
		go f.run()
	}
	f.add(ch.p, ch.epoch)
	m.following[ch.p] = ch.leader
}

// runISRChecks shrinks the ISRs of the partitions this broker leads every
// half replica.lag.time.max.ms, as Kafka's isr-expiration task does.
func (m *replicaManager) runISRChecks() {
	defer m.wg.Done()
	t := time.NewTicker(max(m.lagMax/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.stopCh:
			return
		case <-t.C:
		}
		now := time.Now()
		for _, tp := range m.b.allTopics() {
			for _, p := range tp.partitions {
				if p == nil {
					continue
				}
				if isr, ok := p.laggingISR(now, m.lagMax); ok {
					m.changeISR(p, isr)
				}
			}
		}
	}
}

// laggingISR returns, if this replica leads and some followers in the ISR
// have not caught up for lagMax, the ISR without them. It marks the
// change pending.
func (p *partition) laggingISR(now time.Time, lagMax time.Duration) ([]int32, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeader {
		return nil, false
	}
	p.replicaMu.Lock()
	defer p.replicaMu.Unlock()
	if p.pendingISR != nil || now.Before(p.isrRetryAt) {
		return nil, false
	}
	var isr []int32
	for _, id := range p.state.ISR {
		f := p.followers[id]
		if id != p.nodeID && (f == nil || now.Sub(f.lastCaughtUp) > lagMax) {
			continue
		}
		isr = append(isr, id)
	}
	if len(isr) == len(p.state.ISR) {
		return nil, false
	}
	p.pendingISR = isr
	return isr, true
}

// changeISR asks the metadata store to make isr the partition's ISR, as
// its leader in the current leader and partition epochs, and applies the
// answer. The caller marked the change pending.
func (m *replicaManager) changeISR(p *partition, isr []int32) {
	p.mu.RLock()
	st, epoch := p.state, p.leaderEpoch
	p.mu.RUnlock()
	req := cluster.ISRChange{Topic: p.tp.Topic, Partition: p.tp.Partition, Leader: m.b.nodeID,
		LeaderEpoch: epoch, PartitionEpoch: st.PartitionEpoch, NewISR: isr}
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), isrWriteTimeout)
		next, err := m.b.node.Store().AlterISR(ctx, req)
		cancel()
		log := m.b.log.With("topic", p.tp.Topic, "partition", p.tp.Partition, "isr", st.ISR, "newIsr", isr)
		var retryIn time.Duration
		switch {
		case err == nil && slices.Equal(next.ISR, isr):
			if len(isr) < len(st.ISR) {
				m.b.metrics.isrShrinks.Add(1)
				log.Info("shrank the ISR: followers did not catch up within replica.lag.time.max.ms")
			} else {
				m.b.metrics.isrExpands.Add(1)
				log.Info("expanded the ISR: a follower caught up")
			}
		case err == nil:
		case errors.Is(err, cluster.ErrStalePartitionEpoch), errors.Is(err, cluster.ErrFencedLeaderEpoch), errors.Is(err, cluster.ErrNotLeader):
			// The metadata changed under the request; the applier brings
			// the new state and the next check decides again.
			log.Debug("ISR change lost a race with another metadata change", "err", err)
			retryIn = isrRetryAfterRace
		default:
			log.Warn("ISR change failed", "err", err)
			retryIn = isrRetryAfterError
		}
		p.mu.Lock()
		if p.isLeader && p.leaderEpoch == epoch {
			if err == nil && next.PartitionEpoch > p.state.PartitionEpoch {
				p.state = next
			}
			p.replicaMu.Lock()
			p.pendingISR = nil
			p.isrRetryAt = time.Now().Add(retryIn)
			p.advanceHighWatermarkLocked()
			p.replicaMu.Unlock()
		}
		p.mu.Unlock()
		p.notify()
	}()
}
