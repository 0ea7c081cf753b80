package broker

// The transaction coordinator's wiring, as groups.go wires the group
// coordinator: internal/txn gets __transaction_state as its log, the
// cluster's producer id allocator, the topic map, and a marker writer.
// __transaction_state is created on the first FindCoordinator (or
// InitProducerId) for a transactional id, with
// transaction.state.log.num.partitions partitions and
// transaction.state.log.replication.factor replicas (fewer if fewer
// brokers are registered). The coordinator follows the leadership of its
// partitions: the metadata applier queues a load (with the leader epoch,
// the markers' coordinator epoch) when this broker becomes a partition's
// leader and an unload when it stops leading it; a loader goroutine runs
// them in order.
//
// Markers go to each partition's leader: written here for partitions this
// broker leads, sent with WriteTxnMarkers to the others, as Kafka's
// coordinator does. A marker written to a __consumer_offsets partition
// also tells the group coordinator to commit or drop the transaction's
// offsets. A partition leader checks the first transactional batch of a
// producer against its coordinator (here, or with AddPartitionsToTxn v4
// VerifyOnly), so a producer cannot write to a partition its transaction
// does not include (KIP-890 part 1). For a client of transactions v2
// (Produce v12+, TxnOffsetCommit v5+) it asks the coordinator to add the
// partition instead (AddPartitionsToTxn v5 to another broker), which
// starts the transaction if none is ongoing (KIP-890 part 2).

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/txn"
)

// txnTopic is Kafka's internal topic of transaction state.
const txnTopic = "__transaction_state"

// txnCoordinator owns the broker's txn.Coordinator, which exists once
// __transaction_state does.
type txnCoordinator struct {
	b     *Broker
	mu    sync.Mutex // serializes creating __transaction_state
	coord atomic.Pointer[txn.Coordinator]
	// led maps the partitions whose load was last queued to the leader
	// epoch they were loaded in; owned by the metadata applier.
	led map[int32]int32

	loads *loadQueue

	peers *peerConns
}

func newTxns(b *Broker) *txnCoordinator {
	return &txnCoordinator{b: b, led: map[int32]int32{}, loads: newLoadQueue(), peers: newPeerConns(b)}
}

// prepare is called by the metadata applier with __transaction_state as
// about to be published: it creates the coordinator the first time.
func (x *txnCoordinator) prepare(t *topic) {
	if t != nil && x.coord.Load() == nil {
		x.coord.Store(x.newCoordinator(t))
	}
}

// follow queues loads and unloads for the partitions whose leadership (or
// leader epoch) changed.
func (x *txnCoordinator) follow(t *topic) {
	c := x.coord.Load()
	if c == nil {
		return
	}
	want := map[int32]int32{}
	if t != nil {
		for i := range min(int32(len(t.partitions)), c.NumPartitions()) {
			if p := t.partitions[i]; p != nil {
				if leads, epoch, _ := p.role(); leads {
					want[i] = epoch
				}
			}
		}
	}
	for p, epoch := range x.led {
		if e, ok := want[p]; !ok || e != epoch {
			x.loads.push(loadEvent{partition: p})
			delete(x.led, p)
		}
	}
	for p, epoch := range want {
		if _, ok := x.led[p]; !ok {
			x.led[p] = epoch
			x.loads.push(loadEvent{partition: p, epoch: epoch, load: true})
		}
	}
}

// runLoader loads and unloads partitions in the order they were queued,
// until the broker closes.
func (x *txnCoordinator) runLoader() {
	defer x.b.bg.Done()
	x.loads.run(x.b.done, x.process)
}

// process loads and unloads partitions.
func (x *txnCoordinator) process(evs []loadEvent) bool {
	c := x.coord.Load()
	for _, ev := range evs {
		if c == nil {
			break
		}
		if !ev.load {
			c.Unload(ev.partition)
			continue
		}
		if err := c.Load(ev.partition, ev.epoch); err != nil {
			x.b.log.Error("loading transaction coordinator state failed", "partition", ev.partition, "err", err)
		}
	}
	return true
}

// close stops the coordinator's marker writers and timers; it runs
// before the logs close.
func (x *txnCoordinator) close() {
	if c := x.coord.Load(); c != nil {
		c.Close()
	}
	x.peers.closeAll()
}

// ensure creates __transaction_state if it does not exist yet, and
// returns the coordinator.
func (x *txnCoordinator) ensure() (*txn.Coordinator, error) {
	if c := x.coord.Load(); c != nil {
		return c, nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if c := x.coord.Load(); c != nil {
		return c, nil
	}
	b := x.b
	if b.snapshot().Topic(txnTopic) == nil {
		rf := max(min(b.cfg.Int("transaction.state.log.replication.factor"), len(b.snapshot().PlacementBrokers())), 1)
		configs := map[string]string{
			"cleanup.policy":      "compact",
			"compression.type":    "producer",
			"segment.bytes":       strconv.Itoa(b.cfg.Int("transaction.state.log.segment.bytes")),
			"min.insync.replicas": strconv.Itoa(min(b.cfg.Int("transaction.state.log.min.isr"), rf)),
		}
		if err := b.createInternalTopic(txnTopic, b.cfg.Int("transaction.state.log.num.partitions"), rf, configs, x.loads); err != nil {
			return nil, err
		}
	}
	c := x.coord.Load()
	if c == nil {
		return nil, fmt.Errorf("%s is being created", txnTopic)
	}
	return c, nil
}

// coordinator returns the coordinator, or nil before __transaction_state
// exists.
func (x *txnCoordinator) coordinator() *txn.Coordinator { return x.coord.Load() }

func (x *txnCoordinator) newCoordinator(t *topic) *txn.Coordinator {
	cfg := x.b.cfg
	ms := func(name string) time.Duration { return time.Duration(cfg.Int64(name)) * time.Millisecond }
	return txn.New(txn.Config{
		NumPartitions:  int32(len(t.partitions)),
		MaxTimeout:     ms("transaction.max.timeout.ms"),
		IDExpiration:   ms("transactional.id.expiration.ms"),
		AbortInterval:  ms("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
		ExpiryInterval: ms("transaction.remove.expired.transaction.cleanup.interval.ms"),
		MaxBatchBytes:  int(t.cfg.Int64("max.message.bytes")),
		Logger:         x.b.log.With("component", "transaction-coordinator"),
	}, internalLog{b: x.b, topic: txnTopic}, markerWriter{x}, x.b.pids, txnTopics{x.b})
}

// internalLog is an internal topic (__consumer_offsets,
// __transaction_state) as its coordinator's log: writes are acks=all,
// waiting up to offsets.commit.timeout.ms; replays read whole batches from
// the log start.
type internalLog struct {
	b     *Broker
	topic string
}

func (l internalLog) partition(p int32) (*partition, *topic, error) {
	t := l.b.getTopic(l.topic)
	part := l.b.getPartition(l.topic, p)
	if t == nil || part == nil {
		return nil, nil, fmt.Errorf("%s-%d does not exist", l.topic, p)
	}
	return part, t, nil
}

func (l internalLog) Append(p int32, batch []byte) error {
	part, t, err := l.partition(p)
	if err != nil {
		return err
	}
	return l.b.appendAndWait(part, t, batch)
}

// appendAndWait appends a batch as the leader, as a produce with acks=all
// would, and waits up to offsets.commit.timeout.ms for the ISR to have it.
func (b *Broker) appendAndWait(part *partition, t *topic, batch []byte) error {
	appendTime := int64(-1)
	if t.rules.logAppendTime {
		appendTime = time.Now().UnixMilli()
	}
	res, err := part.appendAsLeader(batch, appendTime, true, t.minISR)
	if err != nil {
		return err
	}
	sp := kmsg.NewProduceResponseTopicPartition()
	timeout := time.Duration(b.cfg.Int64("offsets.commit.timeout.ms")) * time.Millisecond
	b.awaitAcks([]pendingAck{{p: part, epoch: res.leaderEpoch, offset: res.LastOffset + 1, minISR: t.minISR, sp: &sp}}, timeout)
	if sp.ErrorCode != 0 {
		return kerr.ErrorForCode(sp.ErrorCode)
	}
	return nil
}

// replayChunkBytes is how much of a partition a load reads at a time.
const replayChunkBytes = 1 << 20

// Replay reads the partition from its start, whole batches at a time.
func (l internalLog) Replay(p int32, fn func(batch []byte) error) error {
	part, _, err := l.partition(p)
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
			return fmt.Errorf("%s-%d: no progress reading at offset %d", l.topic, p, off)
		}
		off = next
	}
	return nil
}

// txnTopics is the topic map as the coordinator's Topics.
type txnTopics struct{ b *Broker }

func (v txnTopics) Partitions(name string) (int32, bool) {
	t := v.b.getTopic(name)
	if t == nil {
		return 0, false
	}
	return int32(len(t.partitions)), true
}

// markerWriter writes markers through the partitions' leaders.
type markerWriter struct{ x *txnCoordinator }

func (w markerWriter) WriteMarkers(pid int64, epoch int16, coordEpoch int32, commit bool, parts []txn.TopicPartition) []txn.TopicPartition {
	b := w.x.b
	snap := b.snapshot()
	byLeader := map[int32][]txn.TopicPartition{}
	var failed []txn.TopicPartition
	for _, tp := range parts {
		t := snap.Topic(tp.Topic)
		if t == nil {
			// A deleted topic needs no marker (Kafka skips them too).
			continue
		}
		if tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			continue
		}
		leader := t.Partitions[tp.Partition].Leader
		if leader == cluster.NoLeader {
			failed = append(failed, tp)
			continue
		}
		byLeader[leader] = append(byLeader[leader], tp)
	}
	for leader, tps := range byLeader {
		if leader == b.nodeID {
			for _, tp := range tps {
				if err := b.writeMarker(tp.Topic, tp.Partition, pid, epoch, coordEpoch, commit); err != nil {
					b.log.Debug("writing a transaction marker failed", "topic", tp.Topic, "partition", tp.Partition, "err", err)
					failed = append(failed, tp)
				}
			}
			continue
		}
		failed = append(failed, w.x.peers.writeMarkers(leader, pid, epoch, coordEpoch, commit, tps)...)
	}
	return failed
}

// writeMarker appends a marker to a partition this broker leads, and
// tells the group coordinator of a __consumer_offsets partition.
func (b *Broker) writeMarker(topicName string, p int32, pid int64, epoch int16, coordEpoch int32, commit bool) error {
	t := b.getTopic(topicName)
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	part, err := lookupPartition(t, p)
	if err != nil {
		return err
	}
	if err := b.appendAndWait(part, t, record.EndTxnMarker(pid, epoch, coordEpoch, commit, time.Now().UnixMilli())); err != nil {
		return storageError(err)
	}
	if topicName == offsetsTopic {
		if c := b.groups.coordinator(); c != nil {
			c.CompleteTxn(p, pid, commit)
		}
	}
	return nil
}

// verifyTxnPartition checks, before the first transactional batch of a
// producer in a partition, that its transaction includes the partition;
// with add (transactions v2) the coordinator adds it.
func (b *Broker) verifyTxnPartition(txnID *string, pid int64, epoch int16, topicName string, p int32, add bool) error {
	if txnID == nil || *txnID == "" {
		return errorf(kerr.InvalidTxnState, "a transactional batch needs the request's transactional id")
	}
	tp := txn.TopicPartition{Topic: topicName, Partition: p}
	coord, node, err := b.txnCoordinatorOf(*txnID)
	if err != nil {
		return err
	}
	var kerrv *kerr.Error
	switch {
	case node != b.nodeID:
		kerrv = b.txns.peers.verify(node, *txnID, pid, epoch, tp, add)
	case add:
		var perPart map[txn.TopicPartition]*kerr.Error
		perPart, kerrv = coord.AddPartitions(*txnID, pid, epoch, []txn.TopicPartition{tp}, true)
		if e := perPart[tp]; e != nil {
			kerrv = e
		}
	default:
		kerrv = coord.Verify(*txnID, pid, epoch, []txn.TopicPartition{tp})
	}
	if kerrv == nil {
		return nil
	}
	switch kerrv {
	case kerr.ConcurrentTransactions:
		if add {
			// The previous transaction's markers are being written;
			// the client retries.
			return errorf(kerr.ConcurrentTransactions, "the producer's previous transaction is completing")
		}
	case kerr.ProducerFenced, kerr.InvalidProducerEpoch:
		return errorf(kerr.InvalidProducerEpoch, "producer %d epoch %d is fenced", pid, epoch)
	case kerr.InvalidTxnState, kerr.InvalidProducerIDMapping:
		return errorf(kerr.InvalidTxnState, "the partition is not in the producer's transaction")
	}
	return errorf(kerr.NotEnoughReplicas, "cannot verify the transaction with its coordinator: %v", kerrv)
}

// txnCoordinatorOf returns the local coordinator (nil if none) and the
// broker leading the transactional id's partition.
func (b *Broker) txnCoordinatorOf(id string) (*txn.Coordinator, int32, error) {
	snap := b.snapshot()
	t := snap.Topic(txnTopic)
	if t == nil || len(t.Partitions) == 0 {
		return nil, -1, errorf(kerr.InvalidTxnState, "no transaction coordinator exists")
	}
	leader := t.Partitions[txn.PartitionFor(id, int32(len(t.Partitions)))].Leader
	if leader == cluster.NoLeader {
		return nil, -1, errorf(kerr.NotEnoughReplicas, "the transaction coordinator has no leader")
	}
	c := b.txns.coordinator()
	if leader == b.nodeID && c == nil {
		return nil, -1, errorf(kerr.NotEnoughReplicas, "the transaction coordinator is starting")
	}
	return c, leader, nil
}

// offsetsPartitionFor is the __consumer_offsets partition of a group, as
// a transaction adds it (AddOffsetsToTxn).
func (b *Broker) offsetsPartitionFor(groupID string) (int32, error) {
	c, err := b.groups.ensure()
	if err != nil {
		return 0, err
	}
	return group.PartitionFor(groupID, c.NumPartitions()), nil
}

// peerConns are this broker's connections to the others, for the
// transaction coordinator's requests: one request at a time each.
type peerConns struct {
	b     *Broker
	mu    sync.Mutex
	conns map[int32]*peerConn
}

type peerConn struct {
	mu   sync.Mutex
	conn *brokerConn
}

func newPeerConns(b *Broker) *peerConns {
	return &peerConns{b: b, conns: map[int32]*peerConn{}}
}

// roundTrip sends req to broker id over a cached connection, dialing it
// if needed; a failed connection is dropped.
func (pc *peerConns) roundTrip(id int32, req kmsg.Request) (kmsg.Response, error) {
	pc.mu.Lock()
	c := pc.conns[id]
	if c == nil {
		c = &peerConn{}
		pc.conns[id] = c
	}
	pc.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := pc.b
	if c.conn == nil {
		ep, ok := b.clientEndpoint(b.snapshot(), id)
		if !ok {
			return nil, fmt.Errorf("broker %d is not registered", id)
		}
		conn, err := dialBroker(fmt.Sprintf("%s:%d", ep.Host, ep.Port), fmt.Sprintf("samsa-txn-coordinator-%d", b.nodeID), b.requestTimeout(), 1<<20)
		if err != nil {
			return nil, err
		}
		c.conn = conn
	}
	resp, err := c.conn.roundTrip(req, b.requestTimeout())
	if err != nil {
		c.conn.close()
		c.conn = nil
	}
	return resp, err
}

func (pc *peerConns) closeAll() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, c := range pc.conns {
		c.mu.Lock()
		if c.conn != nil {
			c.conn.close()
			c.conn = nil
		}
		c.mu.Unlock()
	}
}

// writeMarkers sends WriteTxnMarkers v1 to a partition leader and returns
// the partitions it did not write.
func (pc *peerConns) writeMarkers(leader int32, pid int64, epoch int16, coordEpoch int32, commit bool, tps []txn.TopicPartition) []txn.TopicPartition {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordEpoch
	for _, tp := range tps {
		if n := len(m.Topics); n == 0 || m.Topics[n-1].Topic != tp.Topic {
			m.Topics = append(m.Topics, kmsg.WriteTxnMarkersRequestMarkerTopic{Topic: tp.Topic})
		}
		t := &m.Topics[len(m.Topics)-1]
		t.Partitions = append(t.Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, m)
	resp, err := pc.roundTrip(leader, req)
	if err != nil {
		pc.b.log.Debug("sending transaction markers failed", "broker", leader, "err", err)
		return tps
	}
	var failed []txn.TopicPartition
	for _, rm := range resp.(*kmsg.WriteTxnMarkersResponse).Markers {
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					failed = append(failed, txn.TopicPartition{Topic: t.Topic, Partition: p.Partition})
				}
			}
		}
	}
	return failed
}

// verify asks the coordinator on broker id whether the partition is in
// the producer's transaction (AddPartitionsToTxn v4, VerifyOnly), or with
// add to add it (v5).
func (pc *peerConns) verify(id int32, txnID string, pid int64, epoch int16, tp txn.TopicPartition, add bool) *kerr.Error {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	if add {
		req.Version = 5
	}
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch, t.VerifyOnly = txnID, pid, epoch, !add
	t.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: tp.Topic, Partitions: []int32{tp.Partition}}}
	req.Transactions = append(req.Transactions, t)
	resp, err := pc.roundTrip(id, req)
	if err != nil {
		return kerr.CoordinatorNotAvailable
	}
	r := resp.(*kmsg.AddPartitionsToTxnResponse)
	if r.ErrorCode != 0 {
		return kerr.ErrorForCode(r.ErrorCode).(*kerr.Error)
	}
	for _, rt := range r.Transactions {
		for _, t := range rt.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return kerr.ErrorForCode(p.ErrorCode).(*kerr.Error)
				}
			}
		}
	}
	return nil
}

// txnErr converts a coordinator's error for a response.
func txnErr(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

// txnContext bounds a coordinator call that talks to the metadata store.
func (b *Broker) txnContext() (context.Context, context.CancelFunc) { return b.metadataContext() }
