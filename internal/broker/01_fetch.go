package broker

// Fetch, versions 4-17.
//
// v4 adds isolation level and the last stable offset (KIP-98), v5 the log
// start offset, v7 fetch sessions (KIP-227, fetch_session.go), v9 the
// current leader epoch (KIP-320), v11 the rack (KIP-392), v12 is flexible,
// v13 names topics by id (KIP-516), v15 moves the replica id into the
// replica state with the broker epoch (KIP-903). A fetch that finds fewer
// than fetch.min.bytes waits, parked on its partitions, until enough
// arrives or fetch.max.wait.ms passes. Records go to the socket straight
// from the segment files (fetch_response.go).
//
// Only a partition's leader serves it. A consumer reads below the high
// watermark, or with read_committed (isolation level 1) below the last
// stable offset, and is then told the aborted transactions overlapping
// what it reads; a follower (replica id >= 0) reads to the log end, and its
// fetch offset tells the leader how far its log reaches: the leader
// records it once per request, moves the high watermark to the smallest
// log end of the ISR, and asks for the follower to rejoin the ISR once it
// has caught up.

import (
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/storage"
)

func init() { register(kmsg.Fetch, 4, 17, handleFetch) }

// fetchItem is one partition to fetch.
type fetchItem struct {
	key         sessionKey
	part        *partition // nil when not held here
	lookupErr   error      // why part is nil
	fetchOffset int64
	maxBytes    int32
	leaderEpoch int32
	sp          *sessionPart // nil without a session
}

func handleFetch(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.FetchRequest)
	resp := &fetchResponse{}
	resp.Version = req.Version

	var sess *fetchSession
	switch {
	case req.Version < 7 || (req.SessionID == 0 && req.SessionEpoch == sessionEpochFinal):
	case req.SessionEpoch == sessionEpochInitial:
		if req.SessionID != 0 {
			b.sessions.close(req.SessionID)
		}
		sess = b.sessions.open()
		sess.update(req)
		resp.SessionID = sess.id
	case req.SessionEpoch == sessionEpochFinal:
		b.sessions.close(req.SessionID)
	default:
		var kerrv *kerr.Error
		if sess, kerrv = b.sessions.acquire(req.SessionID, req.SessionEpoch); kerrv != nil {
			resp.ErrorCode = kerrv.Code
			return resp, nil
		}
		sess.update(req)
		resp.SessionID = sess.id
	}
	incremental := sess != nil && req.SessionEpoch > 0
	if sess != nil {
		defer b.sessions.release(sess)
	}
	items := b.fetchItems(req, sess)
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	if replica >= 0 {
		b.recordFollowerFetch(replica, items)
	}

	maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	deadline := time.Now().Add(maxWait)
	var wake chan struct{}
	var timer *time.Timer
	for {
		bytes, anyErr := b.collectFetch(req, replica, items, resp)
		if bytes >= int(req.MinBytes) || anyErr || maxWait <= 0 || !time.Now().Before(deadline) {
			break
		}
		if wake == nil {
			wake = make(chan struct{}, 1)
			for i := range items {
				if p := items[i].part; p != nil {
					p.wait(wake)
					defer p.unwait(wake)
				}
			}
			timer = time.NewTimer(time.Until(deadline))
			defer timer.Stop()
			b.metrics.fetchPurgatory.Add(1)
			defer b.metrics.fetchPurgatory.Add(-1)
			continue // re-check: data may have arrived before we parked
		}
		select {
		case <-wake:
		case <-timer.C:
		case <-b.done:
			deadline = time.Now() // answer with what there is and let Close proceed
		}
	}
	b.metrics.fetched(replica >= 0, items, resp)
	if incremental {
		resp.dropUnchanged(items)
	}
	if sess != nil {
		resp.remember(items)
	}
	return resp, nil
}

// fetchItems lists the partitions to fetch, from the session when there is
// one.
func (b *Broker) fetchItems(req *kmsg.FetchRequest, sess *fetchSession) []fetchItem {
	var items []fetchItem
	resolve := func(k sessionKey) (*partition, error) {
		if req.Version >= 13 {
			t := b.getTopicByID(k.id)
			if t == nil {
				return nil, kerr.UnknownTopicID
			}
			return lookupPartition(t, k.partition)
		}
		return lookupPartition(b.getTopic(k.topic), k.partition)
	}
	if sess != nil {
		items = make([]fetchItem, 0, len(sess.order))
		for _, k := range sess.order {
			sp := sess.parts[k]
			p, err := resolve(k)
			items = append(items, fetchItem{key: k, part: p, lookupErr: err,
				fetchOffset: sp.fetchOffset, maxBytes: sp.maxBytes, leaderEpoch: sp.leaderEpoch, sp: sp})
		}
		return items
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			k := keyOf(req.Version, rt, rp.Partition)
			p, err := resolve(k)
			items = append(items, fetchItem{key: k, part: p, lookupErr: err,
				fetchOffset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, leaderEpoch: rp.CurrentLeaderEpoch})
		}
	}
	return items
}

// collectFetch reads every item into resp.topics, returning the bytes
// found and whether any partition has an error.
func (b *Broker) collectFetch(req *kmsg.FetchRequest, replica int32, items []fetchItem, resp *fetchResponse) (int, bool) {
	resp.topics = resp.topics[:0]
	total, anyErr := 0, false
	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	for i := range items {
		it := &items[i]
		if n := len(resp.topics); n == 0 || resp.topics[n-1].name != it.key.topic || resp.topics[n-1].id != it.key.id {
			resp.topics = append(resp.topics, fetchTopic{name: it.key.topic, id: it.key.id})
		}
		ft := &resp.topics[len(resp.topics)-1]
		fp := fetchPart{partition: it.key.partition, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1}
		err := b.fetchPartition(it, replica, req.IsolationLevel, maxBytes-total, total == 0, &fp)
		if err != nil {
			fp.errCode, _ = errCode(err)
			anyErr = true
		}
		total += fp.recordsSize()
		ft.parts = append(ft.parts, fp)
	}
	return total, anyErr
}

// readCommitted is the isolation level of read_committed consumers.
const readCommitted = 1

func (b *Broker) fetchPartition(it *fetchItem, replica int32, isolation int8, room int, first bool, fp *fetchPart) error {
	p := it.part
	if p == nil {
		return it.lookupErr
	}
	p.mu.RLock()
	_, err := p.asLeaderLocked(it.leaderEpoch)
	if err == nil && replica >= 0 && !slices.Contains(p.state.Replicas, replica) {
		err = errorf(kerr.NotLeaderForPartition, "broker %d is not a replica of the partition", replica)
	}
	p.mu.RUnlock()
	if err != nil {
		return err
	}
	hw := p.highWatermark()
	lso := p.log.LastStableOffset()
	fp.highWatermark, fp.lastStableOffset = hw, lso
	fp.logStartOffset = p.log.LogStartOffset()
	limit := min(int(it.maxBytes), room)
	if limit <= 0 && !first {
		return nil
	}
	// A follower copies everything.
	maxOffset := hw
	switch {
	case replica >= 0:
		maxOffset = p.log.LogEndOffset()
	case isolation == readCommitted:
		maxOffset = lso
	}
	rr, err := p.log.Read(it.fetchOffset, max(limit, 0), maxOffset, first)
	if errors.Is(err, storage.ErrOffsetOutOfRange) {
		return kerr.OffsetOutOfRange
	}
	if err != nil {
		return err
	}
	fp.records = rr
	if isolation == readCommitted && replica < 0 && fp.recordsSize() > 0 {
		fp.aborted = p.log.AbortedTxns(it.fetchOffset, maxOffset)
		if fp.aborted == nil {
			fp.aborted = []storage.AbortedTxn{}
		}
	}
	return nil
}

// recordFollowerFetch records, for each partition of a follower's fetch
// that this broker leads, how far the follower's log reaches; it wakes
// whatever waits for a high watermark that moved, and asks for the
// follower's return to the ISR once it has caught up.
func (b *Broker) recordFollowerFetch(replica int32, items []fetchItem) {
	now := time.Now()
	for i := range items {
		it := &items[i]
		p := it.part
		if p == nil {
			continue
		}
		p.mu.RLock()
		_, err := p.asLeaderLocked(it.leaderEpoch)
		inRange := it.fetchOffset >= p.log.LogStartOffset() && it.fetchOffset <= p.log.LogEndOffset()
		var expand []int32
		moved := false
		if err == nil && inRange && slices.Contains(p.state.Replicas, replica) {
			expand, moved = p.followerFetchedLocked(replica, it.fetchOffset, now)
		}
		p.mu.RUnlock()
		if moved {
			p.notify()
		}
		if expand != nil {
			b.replicas.changeISR(p, expand)
		}
	}
}

// dropUnchanged removes, from an incremental response, partitions with no
// records, no error and the same high watermark and log start offset as
// last sent.
func (r *fetchResponse) dropUnchanged(items []fetchItem) {
	i := 0
	topics := r.topics[:0]
	for _, t := range r.topics {
		parts := t.parts[:0]
		for _, p := range t.parts {
			sp := items[i].sp
			i++
			if p.recordsSize() > 0 || p.errCode != 0 || p.highWatermark != sp.sentHW || p.logStartOffset != sp.sentLogStart {
				parts = append(parts, p)
			}
		}
		if len(parts) > 0 {
			t.parts = parts
			topics = append(topics, t)
		}
	}
	r.topics = topics
}

// remember records in the session what each partition was told.
func (r *fetchResponse) remember(items []fetchItem) {
	byKey := make(map[sessionKey]*fetchPart, len(items))
	for ti := range r.topics {
		t := &r.topics[ti]
		for pi := range t.parts {
			byKey[sessionKey{topic: t.name, id: t.id, partition: t.parts[pi].partition}] = &t.parts[pi]
		}
	}
	for _, it := range items {
		if p := byKey[it.key]; p != nil {
			it.sp.sentHW, it.sp.sentLogStart = p.highWatermark, p.logStartOffset
		}
	}
}
