package kafka

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// connKind separates the connections to one broker: produce requests go on
// their own connection, pipelined up to max.in.flight.requests.per.connection
// by that broker's sender, so that a metadata refresh or an InitProducerId
// never queues behind slow acks=all produces.
type connKind int

const (
	connAdmin connKind = iota
	connProduce
	// connFetch carries a consumer's fetches, which wait at the broker
	// for up to fetch.max.wait.ms.
	connFetch
	// connGroup carries a consumer's requests to its group coordinator: a
	// JoinGroup waits there for the whole rebalance.
	connGroup
)

type connKey struct {
	addr string
	kind connKind
}

// connSlot holds the connection for one key; its mutex is held while
// dialing so that concurrent users share one dial.
type connSlot struct {
	mu   sync.Mutex
	conn *brokerConn // REQUIRES: mu held
}

// addrBackoff tracks reconnect.backoff.ms for one address.
type addrBackoff struct {
	failures int
	until    time.Time
}

// topicUse tracks when a topic was last produced to
// (metadata.max.idle.ms). Sends only raise used, which costs no clock
// read; each metadata refresh turns it into lastUse, so idleness is
// measured to within one refresh.
type topicUse struct {
	used    atomic.Bool
	lastUse time.Time // REQUIRES: client.mu held
}

func (u *topicUse) mark() {
	if !u.used.Load() {
		u.used.Store(true)
	}
}

// metaState is one metadata snapshot and the channel closed when it is
// replaced, so waiters can wait for the next one.
type metaState struct {
	cluster *Cluster
	updated chan struct{}
}

// client owns the producer's connections and its cluster metadata.
//
// Goroutines: the metadata loop (metadataLoop), stopped by close. Locks:
// connSlot.mu is taken before mu; mu guards conns, backoff and topics and
// is never held during network I/O.
type client struct {
	cfg  *netConfig
	log  *slog.Logger
	opts connOptions

	mu      sync.Mutex
	conns   map[connKey]*connSlot   // REQUIRES: mu held
	backoff map[string]*addrBackoff // REQUIRES: mu held
	topics  map[string]*topicUse    // topics to fetch metadata for; REQUIRES: mu held
	closed  bool                    // REQUIRES: mu held
	// closedErr is what calls after close fail with.
	closedErr error
	// allTopics asks refreshes for every topic (a consumer's pattern
	// subscription), besides those in topics.
	allTopics atomic.Bool

	meta        atomic.Pointer[metaState]
	lastRefresh atomic.Int64  // unix ns of the last metadata response (metadata-age)
	updateReq   chan struct{} // cap 1: someone wants fresh metadata
	urgent      atomic.Bool   // the next refresh should not wait for retry.backoff.ms

	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newClient(cfg *netConfig, log *slog.Logger, dial func(ctx context.Context, network, addr string) (net.Conn, error), closedErr error) *client {
	if dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	c := &client{
		cfg: cfg,
		log: log,
		opts: connOptions{
			clientID:       cfg.clientID,
			dial:           dial,
			setupTimeout:   cfg.connSetupTO,
			requestTimeout: cfg.requestTO,
			sendBuffer:     cfg.sendBuffer,
			receiveBuffer:  cfg.receiveBuffer,
			maxIdle:        cfg.connMaxIdle,
		},
		conns:     map[connKey]*connSlot{},
		backoff:   map[string]*addrBackoff{},
		topics:    map[string]*topicUse{},
		updateReq: make(chan struct{}, 1),
		closedErr: closedErr,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.meta.Store(&metaState{cluster: &Cluster{nodes: map[int32]*Node{}, topics: map[string]*topicMeta{}, controller: -1}, updated: make(chan struct{})})
	c.urgent.Store(true)
	c.wg.Add(1)
	go c.metadataLoop()
	return c
}

// close stops the metadata loop and closes every connection.
func (c *client) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	slots := make([]*connSlot, 0, len(c.conns))
	for _, s := range c.conns {
		slots = append(slots, s)
	}
	c.mu.Unlock()
	for _, s := range slots {
		s.mu.Lock()
		if s.conn != nil {
			s.conn.close()
			s.conn = nil
		}
		s.mu.Unlock()
	}
}

func (c *client) cluster() *Cluster { return c.meta.Load().cluster }

// jitter spreads a backoff by ±20%, as Java's ExponentialBackoff does.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// expBackoff is base * 2^(attempts-1), capped at maxD, with jitter
// (retry.backoff.ms .. retry.backoff.max.ms, reconnect.backoff.ms ..
// reconnect.backoff.max.ms).
func expBackoff(base, maxD time.Duration, attempts int) time.Duration {
	d := base
	for i := 1; i < attempts && d < maxD; i++ {
		d *= 2
	}
	return jitter(min(d, maxD))
}

// conn returns a live connection of the kind to addr, dialing if needed.
// While addr is in its reconnect backoff it fails at once.
func (c *client) conn(ctx context.Context, addr string, kind connKind) (*brokerConn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, c.closedErr
	}
	k := connKey{addr, kind}
	slot := c.conns[k]
	if slot == nil {
		slot = &connSlot{}
		c.conns[k] = slot
	}
	c.mu.Unlock()

	slot.mu.Lock()
	defer slot.mu.Unlock()
	if slot.conn != nil && slot.conn.alive() {
		return slot.conn, nil
	}
	if slot.conn != nil {
		slot.conn.close()
		slot.conn = nil
	}
	if wait := c.backoffLeft(addr); wait > 0 {
		return nil, wrapErr(ErrNetwork, "%s is in reconnect backoff for %v", addr, wait)
	}
	conn, err := dialConn(ctx, addr, c.opts)
	c.mu.Lock()
	b := c.backoff[addr]
	if b == nil {
		b = &addrBackoff{}
		c.backoff[addr] = b
	}
	if err != nil {
		b.failures++
		b.until = time.Now().Add(expBackoff(c.cfg.reconnect, c.cfg.reconnectMax, b.failures))
	} else {
		b.failures = 0
	}
	closed := c.closed
	c.mu.Unlock()
	if err != nil {
		c.log.Warn("kafka: connection failed", "addr", addr, "err", err)
		return nil, err
	}
	if closed {
		conn.close()
		return nil, c.closedErr
	}
	slot.conn = conn
	return conn, nil
}

// backoffLeft returns how long addr is still in reconnect backoff.
func (c *client) backoffLeft(addr string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.backoff[addr]; b != nil {
		return time.Until(b.until)
	}
	return 0
}

// hasLiveConn reports whether an admin connection to addr is open.
func (c *client) hasLiveConn(addr string) bool {
	c.mu.Lock()
	slot := c.conns[connKey{addr, connAdmin}]
	c.mu.Unlock()
	if slot == nil || !slot.mu.TryLock() {
		return false
	}
	defer slot.mu.Unlock()
	return slot.conn != nil && slot.conn.alive()
}

func nodeAddr(n *Node) string { return net.JoinHostPort(n.Host, strconv.Itoa(int(n.Port))) }

// nodeConn returns a connection of the kind to broker id.
func (c *client) nodeConn(ctx context.Context, id int32, kind connKind) (*brokerConn, error) {
	n, ok := c.cluster().nodes[id]
	if !ok {
		return nil, wrapErr(ErrNetwork, "broker %d is not in the metadata", id)
	}
	return c.conn(ctx, nodeAddr(n), kind)
}

// candidates lists the addresses to try for a request any broker can
// answer: brokers with an open connection first, then the other known
// brokers, then bootstrap.servers (so the client recovers when every
// broker it knew is gone), each group shuffled.
func (c *client) candidates() []string {
	var live, known []string
	seen := map[string]bool{}
	for _, n := range c.cluster().nodes {
		a := nodeAddr(n)
		if seen[a] {
			continue
		}
		seen[a] = true
		if c.hasLiveConn(a) {
			live = append(live, a)
		} else {
			known = append(known, a)
		}
	}
	boot := make([]string, 0, len(c.cfg.bootstrap))
	for _, a := range c.cfg.bootstrap {
		if !seen[a] {
			seen[a] = true
			boot = append(boot, a)
		}
	}
	for _, g := range [][]string{live, known, boot} {
		rand.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
	}
	return slices.Concat(live, known, boot)
}

// requestAny sends req to any broker that answers, trying each candidate
// in turn.
func (c *client) requestAny(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	var lastErr error
	cands := c.candidates()
	// Addresses in reconnect backoff are tried last, and only if nothing
	// else worked, so that one dead bootstrap server does not stall us.
	sort.SliceStable(cands, func(i, j int) bool { return c.backoffLeft(cands[i]) <= 0 && c.backoffLeft(cands[j]) > 0 })
	for _, addr := range cands {
		if ctx.Err() != nil {
			break
		}
		conn, err := c.conn(ctx, addr, connAdmin)
		if err != nil {
			lastErr = err
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, c.cfg.requestTO)
		resp, err := conn.request(rctx, req)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = wrapErr(ErrTimeout, "no response from %s within request.timeout.ms", addr)
			}
			lastErr = err
			continue
		}
		return resp, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if lastErr == nil {
		lastErr = wrapErr(ErrNetwork, "no brokers to send to")
	}
	return nil, lastErr
}

// requestUpdate asks the metadata loop for a refresh. urgent skips the
// retry.backoff.ms wait since the last refresh (a topic seen for the first
// time).
func (c *client) requestUpdate(urgent bool) {
	if urgent {
		c.urgent.Store(true)
	}
	select {
	case c.updateReq <- struct{}{}:
	default:
	}
}

// setInterest replaces the topics refreshes ask about (a consumer's
// subscription or assignment) and whether they ask about all topics. A
// change triggers a refresh.
func (c *client) setInterest(topics []string, all bool) {
	c.mu.Lock()
	changed := c.allTopics.Swap(all) != all
	keep := make(map[string]bool, len(topics))
	for _, t := range topics {
		keep[t] = true
		if _, ok := c.topics[t]; !ok {
			c.topics[t] = &topicUse{lastUse: time.Now()}
			changed = true
		}
	}
	for t := range c.topics {
		if !keep[t] {
			delete(c.topics, t)
			changed = true
		}
	}
	c.mu.Unlock()
	if changed {
		c.requestUpdate(true)
	}
}

// touch records that topic is in use; a new topic triggers a refresh.
func (c *client) touch(topic string) {
	c.mu.Lock()
	u, known := c.topics[topic]
	if !known {
		u = &topicUse{}
		c.topics[topic] = u
	}
	u.lastUse = time.Now()
	c.mu.Unlock()
	if !known {
		c.requestUpdate(true)
	}
}

// topicNow returns the metadata of a topic (and checks that partition, if
// >= 0, exists) if the current snapshot has it: the path of every Send
// after a topic's first, with one map lookup and no lock.
func (c *client) topicNow(topic string, partition int32) (*Cluster, *topicMeta, bool) {
	cl := c.meta.Load().cluster
	tm, ok := cl.topics[topic]
	if !ok || tm.err != nil || tm.use == nil || len(tm.partitions) == 0 || int(partition) >= len(tm.partitions) {
		return nil, nil, false
	}
	tm.use.mark()
	return cl, tm, true
}

// metadataLoop refreshes metadata every metadata.max.age.ms and whenever
// asked, at most once per retry.backoff.ms unless urgent, backing off
// exponentially (to retry.backoff.max.ms) while refreshes fail.
func (c *client) metadataLoop() {
	defer c.wg.Done()
	var (
		failures    int
		retries     int // refreshes in a row that left topics unresolved
		lastAttempt time.Time
		next        time.Time
		timer       = time.NewTimer(0) // the first refresh learns the brokers
	)
	defer timer.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-timer.C:
		case <-c.updateReq:
			earliest := lastAttempt.Add(expBackoff(c.cfg.retryBackoff, c.cfg.retryBackoffM, max(failures, 1)))
			if c.urgent.Load() && failures == 0 {
				earliest = time.Time{}
			}
			if wait := time.Until(earliest); wait > 0 {
				if earliest.Before(next) {
					next = earliest
					timer.Reset(wait)
				}
				continue
			}
		}
		c.urgent.Store(false)
		lastAttempt = time.Now()
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.requestTO)
		retry, err := c.refresh(ctx)
		cancel()
		switch {
		case c.ctx.Err() != nil:
			return
		case err != nil:
			failures++
			next = time.Now().Add(expBackoff(c.cfg.retryBackoff, c.cfg.retryBackoffM, failures))
			c.log.Warn("kafka: metadata refresh failed", "err", err)
		case retry:
			// Topics without leaders or not created yet: ask again soon,
			// less often the longer it lasts.
			failures = 0
			retries++
			next = time.Now().Add(expBackoff(c.cfg.retryBackoff, c.cfg.retryBackoffM, retries))
		default:
			failures, retries = 0, 0
			next = time.Now().Add(c.cfg.metadataMaxAge)
		}
		timer.Reset(time.Until(next))
	}
}

// refresh fetches metadata for the topics in use and publishes a new
// snapshot. retry reports topics still without leaders or unknown, worth
// asking again about soon.
func (c *client) refresh(ctx context.Context) (retry bool, err error) {
	c.mu.Lock()
	topics := make([]string, 0, len(c.topics))
	uses := make(map[string]*topicUse, len(c.topics))
	now := time.Now()
	for t, u := range c.topics {
		if u.used.Swap(false) {
			u.lastUse = now
		}
		// metadata.max.idle.ms: forget topics not produced to lately.
		if now.Sub(u.lastUse) > c.cfg.metadataMaxIdle {
			delete(c.topics, t)
			continue
		}
		topics = append(topics, t)
		uses[t] = u
	}
	c.mu.Unlock()
	sort.Strings(topics)

	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = c.cfg.autoCreateTopics
	req.Topics = []kmsg.MetadataRequestTopic{} // empty, not null: null means all topics
	if c.allTopics.Load() {
		req.Topics = nil
	}
	for _, t := range topics {
		if req.Topics == nil {
			break
		}
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	kresp, err := c.requestAny(ctx, req)
	if err != nil {
		return false, err
	}
	resp := kresp.(*kmsg.MetadataResponse)
	old := c.meta.Load()
	cl, retry := buildCluster(resp, old.cluster, topics)
	for name, tm := range cl.topics {
		tm.use = uses[name]
	}
	next := &metaState{cluster: cl, updated: make(chan struct{})}
	c.meta.Store(next)
	c.lastRefresh.Store(time.Now().UnixNano())
	close(old.updated)
	return retry, nil
}

// metadataFor asks any broker for the metadata of topics (all topics for
// nil), without changing what the metadata loop follows.
func (c *client) metadataFor(ctx context.Context, topics []string, autoCreate bool) (*Cluster, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = autoCreate
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
		for _, t := range topics {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(t)
			req.Topics = append(req.Topics, rt)
		}
	}
	kresp, err := c.requestAny(ctx, req)
	if err != nil {
		return nil, err
	}
	cl, _ := buildCluster(kresp.(*kmsg.MetadataResponse), c.cluster(), topics)
	return cl, nil
}

// buildCluster turns a metadata response into a snapshot. A partition
// whose leader epoch went backwards keeps the newer leader from prev, as
// Java's Metadata does against stale answers from a lagging broker.
func buildCluster(resp *kmsg.MetadataResponse, prev *Cluster, requested []string) (*Cluster, bool) {
	cl := &Cluster{nodes: map[int32]*Node{}, topics: map[string]*topicMeta{}, controller: resp.ControllerID}
	if resp.ClusterID != nil {
		cl.clusterID = *resp.ClusterID
	}
	for _, b := range resp.Brokers {
		n := &Node{ID: b.NodeID, Host: b.Host, Port: b.Port}
		if b.Rack != nil {
			n.Rack = *b.Rack
		}
		cl.nodes[b.NodeID] = n
	}
	retry := false
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		tm := &topicMeta{name: *t.Topic, id: t.TopicID, internal: t.IsInternal}
		if err := brokerErr(t.ErrorCode, nil); err != nil {
			tm.err = err
			retry = retry || kerr.IsRetriable(kerr.ErrorForCode(t.ErrorCode))
			cl.topics[tm.name] = tm
			continue
		}
		n := int32(0)
		for _, p := range t.Partitions {
			n = max(n, p.Partition+1)
		}
		tm.partitions = make([]PartitionInfo, n)
		for i := range tm.partitions {
			tm.partitions[i] = PartitionInfo{Topic: tm.name, Partition: int32(i), LeaderEpoch: -1}
		}
		for _, p := range t.Partitions {
			pi := PartitionInfo{
				Topic:           tm.name,
				Partition:       p.Partition,
				LeaderEpoch:     p.LeaderEpoch,
				Replicas:        p.Replicas,
				InSyncReplicas:  p.ISR,
				OfflineReplicas: p.OfflineReplicas,
			}
			if ln, ok := cl.nodes[p.Leader]; ok && p.Leader >= 0 && p.ErrorCode != kerr.LeaderNotAvailable.Code {
				pi.Leader = ln
			}
			if prevT := prev.topic(tm.name); prevT != nil && int(p.Partition) < len(prevT.partitions) {
				pp := prevT.partitions[p.Partition]
				if pp.LeaderEpoch > p.LeaderEpoch && p.LeaderEpoch >= 0 && pp.Leader != nil {
					if ln, ok := cl.nodes[pp.Leader.ID]; ok {
						pi.Leader, pi.LeaderEpoch = ln, pp.LeaderEpoch
					}
				}
			}
			tm.partitions[p.Partition] = pi
		}
		for _, p := range tm.partitions {
			if p.Leader != nil {
				tm.available = append(tm.available, p.Partition)
			} else {
				retry = true
			}
		}
		cl.topics[tm.name] = tm
	}
	for _, t := range requested {
		if _, ok := cl.topics[t]; !ok {
			retry = true
		}
	}
	return cl, retry
}

// waitTopic waits until the metadata knows topic (and partition, if >= 0)
// or the deadline (max.block.ms), ctx or close. Java's waitOnMetadata.
func (c *client) waitTopic(ctx context.Context, closing <-chan struct{}, topic string, partition int32, deadline time.Time, maxBlock time.Duration) (*Cluster, *topicMeta, error) {
	c.touch(topic)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for first := true; ; first = false {
		st := c.meta.Load()
		if tm, ok := st.cluster.topics[topic]; ok {
			if tm.err == nil && len(tm.partitions) > 0 && (partition < 0 || int(partition) < len(tm.partitions)) {
				return st.cluster, tm, nil
			}
			// Java throws these from waitOnMetadata instead of waiting.
			if tm.err != nil && (errors.Is(tm.err, ErrAuthorization) || errors.Is(tm.err, ErrInvalidTopic)) {
				return nil, nil, tm.err
			}
		}
		if !first {
			c.requestUpdate(false)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil, c.metadataTimeout(topic, partition, maxBlock)
		}
		if timer == nil {
			timer = time.NewTimer(left)
		} else {
			timer.Reset(left)
		}
		select {
		case <-st.updated:
		case <-timer.C:
			return nil, nil, c.metadataTimeout(topic, partition, maxBlock)
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-closing:
			return nil, nil, wrapErr(c.closedErr, "closed while waiting for metadata")
		}
	}
}

func (c *client) metadataTimeout(topic string, partition int32, maxBlock time.Duration) error {
	if partition >= 0 {
		n, _ := c.cluster().PartitionCountForTopic(topic)
		return wrapErr(ErrTimeout, "partition %d of topic %s with partition count %d is not present in metadata after max.block.ms (%v)",
			partition, topic, n, maxBlock)
	}
	return wrapErr(ErrTimeout, "topic %s not present in metadata after max.block.ms (%v)", topic, maxBlock)
}
