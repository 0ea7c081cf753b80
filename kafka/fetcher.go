package kafka

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/samsa-io/samsa/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The fetch path, as the Java consumer's Fetcher: at most one Fetch in
// flight per broker, for the assigned partitions that broker leads (or a
// preferred read replica, KIP-392) whose position is known and that have
// no records buffered. A response's batches are decompressed, checked and
// decoded on the fetching goroutine as it arrives (decodeFetch), and kept
// per partition until Poll takes them, max.poll.records at a time. Poll
// sends the next fetches before it returns records, so the next records
// are on their way while the application processes these.
//
// Fetch sessions (KIP-227): each broker keeps the set of partitions this
// consumer fetches from it, so after the first (full) request each one
// names only the partitions whose fetch position or limits changed, and
// forgets those no longer fetched; the broker answers only for
// partitions with news.

// fetchSession is the state of one broker's fetch session.
type fetchSession struct {
	id    int32
	epoch int32 // the next request's epoch; 0 asks for a new session
	// parts is what the broker holds for each partition of the session.
	parts map[TopicPartition]sessionPart
}

// sessionPart is what a fetch request says about one partition.
type sessionPart struct {
	offset    int64
	curEpoch  int32 // the leader epoch we know, for fencing (KIP-320)
	lastEpoch int32 // the epoch of the last record read, for divergence
	maxBytes  int32
	topicID   [16]byte // Fetch v13+ names the topic by id
}

func (s *fetchSession) reset() { *s = fetchSession{} }

// nodeFetcher is the fetch state of one broker.
// REQUIRES: consumerCore.mu held for every field.
type nodeFetcher struct {
	id       int32
	inFlight bool
	session  fetchSession
	// retryAt delays the next fetch after a failed one (retry.backoff.ms).
	retryAt  time.Time
	failures int
}

// sentFetch is a fetch request in flight: what it asked for each
// partition (the whole session, for an incremental request).
type sentFetch struct {
	want        map[TopicPartition]sessionPart
	names       map[[16]byte]string // topic ids of want (Fetch v13+)
	incremental bool
	start       time.Time
}

// fetchable reports whether ps can be fetched now.
// REQUIRES: c.mu held.
func (c *consumerCore) fetchable(ps *partState, now time.Time) bool {
	return ps.state == stateFetching && !ps.paused && ps.buf == nil && !now.Before(ps.retryAt)
}

// fetchNode returns the broker to fetch ps from and the leader epoch to
// send, or -1.
func fetchNode(cl *Cluster, ps *partState, now time.Time) (int32, int32) {
	m := cl.topic(ps.tp.Topic)
	if m == nil || int(ps.tp.Partition) >= len(m.partitions) {
		return -1, -1
	}
	pi := m.partitions[ps.tp.Partition]
	if pi.Leader == nil {
		return -1, -1
	}
	if ps.preferred >= 0 && now.Before(ps.preferredUntil) {
		if _, ok := cl.nodes[ps.preferred]; ok {
			return ps.preferred, pi.LeaderEpoch
		}
	}
	return pi.Leader.ID, pi.LeaderEpoch
}

// sendFetches starts a fetch to every broker that serves a fetchable
// partition and has none in flight.
//
// One rule goes beyond Java's: while Poll has records buffered, a broker
// whose fetchable partitions are all caught up (position at the end of
// the log, as of the last fetch) is not sent a fetch. The broker would
// hold such a fetch for fetch.max.wait.ms waiting for data, and with one
// fetch per broker in flight, partitions that Poll drains meanwhile could
// not be fetched until it returns. Caught-up partitions are fetched with
// the others, or on their own once nothing is buffered.
func (c *consumerCore) sendFetches() {
	now := time.Now()
	cl := c.cl.cluster()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	busy := c.buffered()
	for node, lagging := range c.fetchNodes(cl, now) {
		if busy && !lagging {
			continue
		}
		nf := c.nodes[node]
		if nf == nil {
			nf = &nodeFetcher{id: node}
			c.nodes[node] = nf
		}
		if nf.inFlight || now.Before(nf.retryAt) {
			continue
		}
		nf.inFlight = true
		c.wg.Go(func() { c.fetchFrom(nf) })
	}
}

// fetchNodes returns the brokers serving fetchable partitions, and for
// each whether one of them has records to fetch (or may have: its end is
// unknown).
// REQUIRES: c.mu held.
func (c *consumerCore) fetchNodes(cl *Cluster, now time.Time) map[int32]bool {
	out := map[int32]bool{}
	for _, tp := range c.order {
		ps := c.parts[tp]
		if !c.fetchable(ps, now) {
			continue
		}
		if node, _ := fetchNode(cl, ps, now); node >= 0 {
			out[node] = out[node] || !c.caughtUp(ps)
		}
	}
	return out
}

// caughtUp reports whether the last fetch found the partition's position
// at the end of its log.
// REQUIRES: c.mu held.
func (c *consumerCore) caughtUp(ps *partState) bool {
	lag, ok := c.lagLocked(ps)
	return ok && lag == 0
}

// buffered reports whether Poll has records to return without fetching.
// REQUIRES: c.mu held.
func (c *consumerCore) buffered() bool {
	for _, tp := range c.readyQ {
		if ps := c.parts[tp]; ps != nil && ps.buf != nil && !ps.paused {
			return true
		}
	}
	return false
}

// fetchFrom connects to a broker and sends it a fetch for the partitions
// it serves. It runs on its own goroutine so that dialing never blocks
// Poll.
func (c *consumerCore) fetchFrom(nf *nodeFetcher) {
	conn, err := c.cl.nodeConn(c.ctx, nf.id, connFetch)
	if err != nil {
		c.fetchFailed(nf, err)
		return
	}
	v, _ := conn.version(int16(kmsg.Fetch))
	now := time.Now()
	cl := c.cl.cluster()

	c.mu.Lock()
	want := map[TopicPartition]sessionPart{}
	var tps []TopicPartition
	noID := false
	for _, tp := range c.order {
		ps := c.parts[tp]
		if !c.fetchable(ps, now) {
			continue
		}
		if node, epoch := fetchNode(cl, ps, now); node == nf.id {
			sp := sessionPart{offset: ps.position, curEpoch: epoch, lastEpoch: ps.posEpoch, maxBytes: c.cfg.maxPartitionFetch}
			if m := cl.topic(tp.Topic); m != nil {
				sp.topicID = m.id
			}
			if v >= 13 && sp.topicID == ([16]byte{}) {
				// Metadata without the topic's id: wait for one with it.
				noID = true
				continue
			}
			want[tp] = sp
			tps = append(tps, tp)
		}
	}
	if noID {
		c.cl.requestUpdate(false)
	}
	// Rotate, so that partitions early in the order do not always fill
	// fetch.max.bytes first.
	if len(c.order) > 1 {
		c.order = append(c.order[1:], c.order[0])
	}
	if len(want) == 0 || (c.buffered() && !c.fetchNodes(cl, now)[nf.id]) {
		nf.inFlight = false
		c.mu.Unlock()
		return
	}
	req, sent := c.buildFetch(nf, v, want, tps)
	c.mu.Unlock()

	timeout := c.cfg.requestTO + c.cfg.fetchMaxWait
	err = conn.sendTimeout(req, false, timeout, func(r kmsg.Response, err error) {
		if err != nil {
			c.fetchFailed(nf, err)
			return
		}
		resp := r.(*kmsg.FetchResponse)
		if resp.Version >= 13 {
			// Topics come back by id; a name the request did not use
			// ("") matches no partition asked for.
			for i := range resp.Topics {
				resp.Topics[i].Topic = sent.names[resp.Topics[i].TopicID]
			}
		}
		c.handleFetch(nf, sent, resp)
	})
	if err != nil {
		c.fetchFailed(nf, err)
	}
}

// buildFetch makes the request for want: a full one that opens a session,
// or an incremental one naming only what changed.
// REQUIRES: c.mu held.
func (c *consumerCore) buildFetch(nf *nodeFetcher, version int16, want map[TopicPartition]sessionPart, order []TopicPartition) (*kmsg.FetchRequest, *sentFetch) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(c.cfg.fetchMaxWait / time.Millisecond)
	req.MinBytes = c.cfg.fetchMin
	req.MaxBytes = c.cfg.fetchMax
	if c.cfg.readCommitted {
		req.IsolationLevel = 1
	}
	req.Rack = c.cfg.rack
	sent := &sentFetch{want: want, start: time.Now()}
	s := &nf.session
	sessions := version >= 7
	if !sessions {
		s.reset()
	}
	incremental := sessions && s.id != 0 && s.epoch > 0
	if sessions {
		req.SessionID, req.SessionEpoch = s.id, s.epoch
		if !incremental {
			req.SessionID, req.SessionEpoch = 0, 0
		}
	} else {
		req.SessionID, req.SessionEpoch = 0, -1
	}
	if incremental {
		// A topic deleted and created again under its name has a new id:
		// the broker's session holds the old one, so start a new session.
		for tp, sp := range want {
			if old, ok := s.parts[tp]; ok && old.topicID != sp.topicID {
				incremental = false
				req.SessionID, req.SessionEpoch = 0, 0
				break
			}
		}
	}
	sent.incremental = incremental
	if version >= 13 {
		sent.names = map[[16]byte]string{}
		for tp, sp := range want {
			sent.names[sp.topicID] = tp.Topic
		}
	}
	var topicIdx map[string]int
	add := func(tp TopicPartition, sp sessionPart) {
		if topicIdx == nil {
			topicIdx = map[string]int{}
		}
		i, ok := topicIdx[tp.Topic]
		if !ok {
			i = len(req.Topics)
			topicIdx[tp.Topic] = i
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = tp.Topic, sp.topicID
			req.Topics = append(req.Topics, rt)
		}
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = tp.Partition
		p.FetchOffset = sp.offset
		p.CurrentLeaderEpoch = sp.curEpoch
		p.LastFetchedEpoch = sp.lastEpoch
		p.LogStartOffset = -1
		p.PartitionMaxBytes = sp.maxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	for _, tp := range order {
		sp := want[tp]
		if incremental {
			if old, ok := s.parts[tp]; ok && old == sp {
				continue
			}
		}
		add(tp, sp)
	}
	if incremental {
		forgotten := map[string][]int32{}
		ids := map[string][16]byte{}
		for tp, sp := range s.parts {
			if _, ok := want[tp]; !ok {
				forgotten[tp.Topic] = append(forgotten[tp.Topic], tp.Partition)
				ids[tp.Topic] = sp.topicID
			}
		}
		for topic, parts := range forgotten {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.TopicID = topic, ids[topic]
			ft.Partitions = parts
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
		}
	}
	return req, sent
}

// fetchFailed handles a fetch that got no response: the session is
// forgotten, the broker backed off, metadata refreshed.
func (c *consumerCore) fetchFailed(nf *nodeFetcher, err error) {
	c.mu.Lock()
	nf.inFlight = false
	nf.session.reset()
	nf.failures++
	nf.retryAt = time.Now().Add(expBackoff(c.cfg.retryBackoff, c.cfg.retryBackoffM, nf.failures))
	closed := c.closed
	c.mu.Unlock()
	if !closed {
		c.log.Debug("kafka: fetch failed", "broker", nf.id, "err", err)
		c.cl.requestUpdate(false)
	}
	c.signal()
}

// handleFetch files a fetch response's records and errors under their
// partitions. Data for a partition whose position moved since the request
// (a Seek, a revocation) is dropped.
func (c *consumerCore) handleFetch(nf *nodeFetcher, sent *sentFetch, resp *kmsg.FetchResponse) {
	var decoded map[*kmsg.FetchResponseTopicPartition]*completedFetch
	if resp.ErrorCode == 0 {
		decoded = c.decodeFetch(sent, resp)
	}
	now := time.Now()
	needMeta := false
	c.mu.Lock()
	defer func() {
		c.signalLocked()
		c.mu.Unlock()
		// What was not filed (handleFetchPartition takes what it files)
		// was seen by nobody else.
		for _, cf := range decoded {
			cf.release()
		}
		if needMeta {
			c.cl.requestUpdate(false)
		}
	}()
	nf.inFlight = false
	s := &nf.session
	switch resp.ErrorCode {
	case 0:
	case kerr.FetchSessionIDNotFound.Code, kerr.InvalidFetchSessionEpoch.Code:
		// The broker dropped our session; the next request opens one.
		c.log.Debug("kafka: fetch session lost", "broker", nf.id, "err", brokerErr(resp.ErrorCode, nil))
		s.reset()
		return
	default:
		s.reset()
		nf.failures++
		nf.retryAt = now.Add(expBackoff(c.cfg.retryBackoff, c.cfg.retryBackoffM, nf.failures))
		c.log.Warn("kafka: fetch failed", "broker", nf.id, "err", brokerErr(resp.ErrorCode, nil))
		return
	}
	nf.failures = 0
	size := 0
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			size += len(resp.Topics[ti].Partitions[pi].RecordBatches)
		}
	}
	c.metrics.recordFetch(now.Sub(sent.start), size)
	if resp.SessionID != 0 {
		if !sent.incremental {
			s.id = resp.SessionID
		}
		s.parts = sent.want
		s.epoch++
		if s.epoch <= 0 {
			s.epoch = 1
		}
	} else {
		s.reset()
	}
	if c.closed {
		return
	}
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			tp := TopicPartition{rt.Topic, rp.Partition}
			sp, asked := sent.want[tp]
			ps := c.parts[tp]
			if !asked || ps == nil || ps.state != stateFetching || ps.position != sp.offset || ps.buf != nil {
				continue
			}
			if c.handleFetchPartition(nf, ps, rp, decoded, now) {
				needMeta = true
			}
		}
	}
}

// handleFetchPartition files one partition's answer and reports whether
// metadata should be refreshed.
// REQUIRES: c.mu held.
func (c *consumerCore) handleFetchPartition(nf *nodeFetcher, ps *partState, rp *kmsg.FetchResponseTopicPartition, decoded map[*kmsg.FetchResponseTopicPartition]*completedFetch, now time.Time) bool {
	switch rp.ErrorCode {
	case 0:
		// A partition's offsets mean something only without an error:
		// brokers answer an error with zeros or -1.
		if rp.HighWatermark >= 0 {
			ps.hw = rp.HighWatermark
		}
		if rp.LastStableOffset >= 0 {
			ps.lso = rp.LastStableOffset
		}
		if rp.LogStartOffset >= 0 {
			ps.logStart = rp.LogStartOffset
		}
	case kerr.OffsetOutOfRange.Code:
		c.offsetOutOfRange(ps)
		return false
	case kerr.TopicAuthorizationFailed.Code:
		c.setFatal(fmt.Errorf("fetching %s: %w", ps.tp, brokerErr(rp.ErrorCode, nil)))
		return false
	case kerr.CorruptMessage.Code:
		c.setFatal(fmt.Errorf("fetching %s at offset %d: %w", ps.tp, ps.position, brokerErr(rp.ErrorCode, nil)))
		return false
	default:
		// Leadership moved, the replica is behind or the topic is being
		// created or deleted: ask for metadata and try again.
		c.log.Debug("kafka: fetch error", "partition", ps.tp, "broker", nf.id, "err", brokerErr(rp.ErrorCode, nil))
		ps.preferred = -1
		ps.retryAt = now.Add(c.cfg.retryBackoff)
		return true
	}
	if rp.DivergingEpoch.Epoch >= 0 && rp.DivergingEpoch.EndOffset >= 0 {
		c.truncated(ps, rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset)
		return false
	}
	if rp.PreferredReadReplica >= 0 && rp.PreferredReadReplica != nf.id {
		ps.preferred = rp.PreferredReadReplica
		ps.preferredUntil = now.Add(c.cfg.metadataMaxAge)
		return false
	}
	cf := decoded[rp]
	if cf == nil {
		return false
	}
	if cf.endOffset == ps.position {
		// Nothing decoded or skipped: the position's epoch stays.
		cf.endEpoch = ps.posEpoch
	}
	cf.nextOffset, cf.nextEpoch = ps.position, ps.posEpoch
	ps.buf = cf
	delete(decoded, rp)
	c.readyQ = append(c.readyQ, ps.tp)
	return false
}

// decodeFetch decodes every partition of a fetch response that has
// records, on the fetching goroutine and outside c.mu, so that Poll only
// deserializes (Java decodes in poll; decoding here overlaps it with the
// application's processing).
func (c *consumerCore) decodeFetch(sent *sentFetch, resp *kmsg.FetchResponse) map[*kmsg.FetchResponseTopicPartition]*completedFetch {
	var out map[*kmsg.FetchResponseTopicPartition]*completedFetch
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp, asked := sent.want[TopicPartition{rt.Topic, rp.Partition}]
			if !asked || rp.ErrorCode != 0 || len(rp.RecordBatches) == 0 {
				continue
			}
			var aborted []abortedTxn
			if c.cfg.readCommitted {
				for _, a := range rp.AbortedTransactions {
					aborted = append(aborted, abortedTxn{a.ProducerID, a.FirstOffset})
				}
				slices.SortFunc(aborted, func(a, b abortedTxn) int { return int(a.firstOffset - b.firstOffset) })
			}
			br := &batchReader{
				data:          rp.RecordBatches,
				readCommitted: c.cfg.readCommitted,
				checkCRC:      c.cfg.checkCRCs,
				aborted:       aborted,
				nextOffset:    sp.offset,
				nextEpoch:     -1,
			}
			if out == nil {
				out = map[*kmsg.FetchResponseTopicPartition]*completedFetch{}
			}
			out[rp] = br.decodeAll(sp.offset)
		}
	}
	return out
}

// abortedTxn is an entry of a fetch response's aborted transactions.
type abortedTxn struct {
	producerID  int64
	firstOffset int64
}

// rawRecord is a decoded record before deserialization. It holds no
// pointers, so that the arrays of them are neither scanned by the garbage
// collector nor written with write barriers, and can be recycled
// (recordArrays): its key and value are spans of its batch's records, and
// its batch and headers are indexes into its completedFetch.
type rawRecord struct {
	offset     int64
	timestamp  int64
	batch      int32 // index in completedFetch.batches
	headers    int32 // 1 + index in completedFetch.headers; 0 is none
	key, value span
}

// span is a byte range of a batch's records; length -1 is null.
type span struct{ off, len int32 }

// fetchedBatch is what the records of one batch share.
type fetchedBatch struct {
	recs        []byte // the batch's records, decompressed; spans index it
	leaderEpoch int32
	tsType      TimestampType
}

// completedFetch is one partition's records from a fetch response
// (Java's CompletedFetch), decoded when the response arrived. Only Poll's
// goroutine reads it once filed.
type completedFetch struct {
	recs    []rawRecord // at or after the fetch position, in offset order
	i       int         // the first record Poll has not taken
	batches []fetchedBatch
	headers []Headers
	// endOffset and endEpoch are the position after every record and
	// every batch skipped (control batches, aborted transactions,
	// offsets compaction removed).
	endOffset int64
	endEpoch  int32
	// err is a corrupt batch after recs; errMore is whether records may
	// follow it.
	err     error
	errMore bool

	// nextOffset and nextEpoch are the position after what next returned
	// last.
	nextOffset int64
	nextEpoch  int32
}

// buffered is the number of records Poll has not taken.
func (f *completedFetch) buffered() int { return len(f.recs) - f.i }

// bytes returns a span of a batch's records, aliasing the response (or
// the batch's decompressed records).
func (f *completedFetch) bytes(batch int32, s span) []byte {
	return spanOf(f.batches[batch].recs, s)
}

func (f *completedFetch) key(r *rawRecord) []byte   { return f.bytes(r.batch, r.key) }
func (f *completedFetch) value(r *rawRecord) []byte { return f.bytes(r.batch, r.value) }

// headersOf returns r's headers, nil if it has none.
func (f *completedFetch) headersOf(r *rawRecord) Headers {
	if r.headers == 0 {
		return nil
	}
	return f.headers[r.headers-1]
}

func (f *completedFetch) leaderEpoch(r *rawRecord) int32 { return f.batches[r.batch].leaderEpoch }

// release recycles f's record array once nothing reads it: Poll is done
// with f, or f was never filed. Records Poll returned do not alias the
// array, only the response and the batches' records.
func (f *completedFetch) release() {
	putRecordArray(f.recs)
	f.recs, f.i = nil, 0
}

// next returns up to max records at or after pos, aliasing f's records.
// It returns false once the fetch is exhausted.
func (f *completedFetch) next(pos int64, max int) ([]rawRecord, bool, error) {
	for f.i < len(f.recs) && f.recs[f.i].offset < pos {
		f.i++
	}
	if f.i == len(f.recs) {
		if f.err != nil {
			return nil, f.errMore, f.err
		}
		f.nextOffset, f.nextEpoch = f.endOffset, f.endEpoch
		return nil, false, nil
	}
	j := min(len(f.recs), f.i+max)
	out := f.recs[f.i:j:j]
	f.i = j
	if j == len(f.recs) && f.err == nil {
		f.nextOffset, f.nextEpoch = f.endOffset, f.endEpoch
		return out, false, nil
	}
	last := &out[len(out)-1]
	f.nextOffset, f.nextEpoch = last.offset+1, f.leaderEpoch(last)
	return out, true, nil
}

// recordArrays recycles the arrays of decoded records, by capacity class
// (a power of two): a partition fetch decodes thousands of records, and a
// new array for each would be a third of what the consumer allocates,
// memory the runtime hands back to the kernel and faults in again.
var recordArrays [maxArrayClass + 1]sync.Pool

const (
	minArrayClass = 6  // 64 records
	maxArrayClass = 20 // 1M records (40 MiB); larger ones are not kept
)

// getRecordArray returns an empty array with room for at least n records.
func getRecordArray(n int) []rawRecord {
	c := max(minArrayClass, bits.Len(uint(max(n, 1)-1)))
	if c > maxArrayClass {
		return make([]rawRecord, 0, n)
	}
	if p, ok := recordArrays[c].Get().(*[]rawRecord); ok {
		return (*p)[:0]
	}
	return make([]rawRecord, 0, 1<<c)
}

// putRecordArray recycles a, filed by the class its capacity fills.
func putRecordArray(a []rawRecord) {
	c := bits.Len(uint(cap(a))) - 1
	if c < minArrayClass || c > maxArrayClass {
		return
	}
	a = a[:0]
	recordArrays[c].Put(&a)
}

// batchReader walks a partition's record batches from a fetch response.
type batchReader struct {
	data          []byte // batches not started yet
	readCommitted bool
	checkCRC      bool
	aborted       []abortedTxn // by first offset; consumed as batches pass them
	abortedPIDs   map[int64]bool

	inBatch bool
	h       record.Header
	recs    []byte // the current batch's records
	at      int    // where the current batch's next record starts in recs
	left    int32  // records left in the current batch

	// nextOffset and nextEpoch are the position after everything decoded
	// or skipped so far.
	nextOffset int64
	nextEpoch  int32
}

// maxDecompressed bounds a decompressed batch.
const maxDecompressed = maxResponseBytes

// minRecordBytes is the size of the smallest record: a length, the
// attributes and five fields of one byte each.
const minRecordBytes = 7

// decodeAll decodes every record at or after pos.
func (f *batchReader) decodeAll(pos int64) *completedFetch {
	// Room for the records in the response, as the batch headers count
	// them (enough unless compaction left gaps), believing a count only
	// as far as the batch's size allows.
	n := 0
	for rest := f.data; len(rest) >= record.LogOverhead; {
		size := int(int32(binary.BigEndian.Uint32(rest[8:]))) + record.LogOverhead
		if size < record.HeaderSize || size > len(rest) {
			break
		}
		if h, err := record.ParseHeader(rest[:size]); err == nil && h.NumRecords > 0 {
			limit := size - record.HeaderSize
			if h.Compression() == record.None {
				limit /= minRecordBytes
			}
			n += min(int(h.NumRecords), limit)
		}
		rest = rest[size:]
	}
	cf := &completedFetch{recs: getRecordArray(n)}
	more, err := f.decode(pos, cf)
	cf.endOffset, cf.endEpoch = f.nextOffset, f.nextEpoch
	cf.err, cf.errMore = err, more && err != nil
	return cf
}

// decode appends the records at or after pos to cf. It returns false once
// the fetch is exhausted.
func (f *batchReader) decode(pos int64, cf *completedFetch) (bool, error) {
	for {
		if !f.inBatch {
			more, err := f.nextBatch(pos)
			if err != nil || !more {
				return false, err
			}
			tsType := CreateTime
			if f.h.LogAppendTime() {
				tsType = LogAppendTime
			}
			cf.batches = append(cf.batches, fetchedBatch{recs: f.recs, leaderEpoch: f.h.PartitionLeaderEpoch, tsType: tsType})
			continue
		}
		if f.left <= 0 || f.at == len(f.recs) {
			f.endBatch()
			continue
		}
		rr := rawRecord{batch: int32(len(cf.batches) - 1)}
		var tsDelta int64
		var offDelta int32
		var hdrs Headers
		at, err := readRecord(f.recs, f.at, &rr, &tsDelta, &offDelta, &hdrs)
		if err != nil {
			return true, f.corrupt(err)
		}
		f.at = at
		f.left--
		off := f.h.BaseOffset + int64(offDelta)
		if off < pos {
			continue
		}
		rr.offset = off
		if f.h.LogAppendTime() {
			rr.timestamp = f.h.MaxTimestamp
		} else {
			rr.timestamp = f.h.BaseTimestamp + tsDelta
		}
		if hdrs != nil {
			cf.headers = append(cf.headers, hdrs)
			rr.headers = int32(len(cf.headers))
		}
		cf.recs = append(cf.recs, rr)
		f.nextOffset, f.nextEpoch = off+1, f.h.PartitionLeaderEpoch
	}
}

// readRecord decodes the record at b[at:] in the format and with the
// checks of record.ReadRecord, giving its key and value as spans of b so
// that rr holds no pointers, and its headers (nil if none) as hdrs. It
// returns where the next record starts.
func readRecord(b []byte, at int, rr *rawRecord, tsDelta *int64, offDelta *int32, hdrs *Headers) (int, error) {
	length, n, ok := readVarint(b, at)
	if !ok || length < 0 || int(length) > len(b)-at-n {
		return 0, fmt.Errorf("%w: record length", record.ErrBadRecords)
	}
	p, end := at+n, at+n+int(length)
	if p == end {
		return 0, fmt.Errorf("%w: empty record", record.ErrBadRecords)
	}
	p++ // attributes, unused
	ts, n, ok := readVarlong(b[:end], p)
	if !ok {
		return 0, fmt.Errorf("%w: record fields", record.ErrBadRecords)
	}
	p += n
	*tsDelta = ts
	*offDelta, n, ok = readVarint(b[:end], p)
	p += n
	bad := !ok
	// bytes reads a length-prefixed byte string; -1 is null.
	bytes := func() span {
		if bad {
			return span{len: -1}
		}
		l, n, ok := readVarint(b[:end], p)
		if !ok || l < -1 || int(l) > end-p-n {
			bad = true
			return span{len: -1}
		}
		p += n
		s := span{off: int32(p), len: l}
		if l > 0 {
			p += int(l)
		}
		return s
	}
	rr.key = bytes()
	rr.value = bytes()
	var nh int32
	if !bad {
		nh, n, ok = readVarint(b[:end], p)
		p += n
		bad = !ok
	}
	if bad || nh < 0 || int(nh) > end-p {
		return 0, fmt.Errorf("%w: record fields", record.ErrBadRecords)
	}
	if nh > 0 {
		hs := make(Headers, nh)
		for i := range hs {
			k := bytes()
			v := bytes()
			if bad || k.len < 0 {
				return 0, fmt.Errorf("%w: record header", record.ErrBadRecords)
			}
			hs[i] = Header{Key: string(b[k.off : k.off+k.len]), Value: spanOf(b, v)}
		}
		*hdrs = hs
	}
	if p != end {
		return 0, fmt.Errorf("%w: %d trailing bytes in record", record.ErrBadRecords, end-p)
	}
	return end, nil
}

// spanOf returns the bytes of s in b, nil if null.
func spanOf(b []byte, s span) []byte {
	if s.len < 0 {
		return nil
	}
	end := s.off + s.len
	return b[s.off:end:end]
}

// readVarint is record.ReadVarint of b[at:], with a fast path for the
// one- and two-byte varints that most lengths and deltas are.
func readVarint(b []byte, at int) (int32, int, bool) {
	if at+1 < len(b) {
		if x := b[at]; x < 0x80 {
			return int32(x>>1) ^ -int32(x&1), 1, true
		} else if y := b[at+1]; y < 0x80 {
			u := uint32(x&0x7f) | uint32(y)<<7
			return int32(u>>1) ^ -int32(u&1), 2, true
		}
	}
	if at >= len(b) {
		return 0, 0, false
	}
	return record.ReadVarint(b[at:])
}

// readVarlong is record.ReadVarlong of b[at:], with a fast path for
// one-byte varlongs (timestamp deltas within a batch).
func readVarlong(b []byte, at int) (int64, int, bool) {
	if at < len(b) && b[at] < 0x80 {
		x := b[at]
		return int64(x>>1) ^ -int64(x&1), 1, true
	}
	if at >= len(b) {
		return 0, 0, false
	}
	return record.ReadVarlong(b[at:])
}

// endBatch finishes the current batch: the position moves past it, over
// any offsets compaction removed from its end.
func (f *batchReader) endBatch() {
	f.inBatch = false
	if n := f.h.NextOffset(); n > f.nextOffset {
		f.nextOffset, f.nextEpoch = n, f.h.PartitionLeaderEpoch
	}
}

// nextBatch starts the next batch with records to return, skipping batches
// before pos, control batches and (read_committed) aborted transactions.
// It returns false when no whole batch is left.
func (f *batchReader) nextBatch(pos int64) (bool, error) {
	for {
		if len(f.data) < record.LogOverhead {
			return false, nil
		}
		size := int(int32(binary.BigEndian.Uint32(f.data[8:]))) + record.LogOverhead
		if size < record.HeaderSize || size > len(f.data) {
			// A fetch ends with a partial batch when the limits cut it.
			return false, nil
		}
		batch := f.data[:size]
		h, err := record.ParseHeader(batch)
		if err != nil {
			return false, f.corrupt(err)
		}
		if f.checkCRC {
			if err := record.CheckCRC(batch); err != nil {
				return false, f.corruptAt(h.BaseOffset, err)
			}
		}
		f.data = f.data[size:]
		f.h = h
		if h.NextOffset() <= pos {
			continue
		}
		if f.readCommitted && h.ProducerID >= 0 {
			f.consumeAborted(h.LastOffset())
			if h.Control() {
				if isAbortMarker(&h, batch) {
					delete(f.abortedPIDs, h.ProducerID)
				}
			} else if h.Transactional() && f.abortedPIDs[h.ProducerID] {
				f.endBatch()
				continue
			}
		}
		if h.Control() {
			f.endBatch()
			continue
		}
		recs, err := record.RecordsOf(&h, batch, maxDecompressed)
		if err != nil {
			return false, f.corruptAt(h.BaseOffset, err)
		}
		f.recs, f.at, f.left, f.inBatch = recs, 0, h.NumRecords, true
		return true, nil
	}
}

// consumeAborted moves the aborted transactions that start at or before
// offset into the set of aborted producers.
func (f *batchReader) consumeAborted(offset int64) {
	for len(f.aborted) > 0 && f.aborted[0].firstOffset <= offset {
		if f.abortedPIDs == nil {
			f.abortedPIDs = map[int64]bool{}
		}
		f.abortedPIDs[f.aborted[0].producerID] = true
		f.aborted = f.aborted[1:]
	}
}

// isAbortMarker reports whether a control batch holds an ABORT marker: its
// record's key is a version (int16) and a type (int16, 0 = abort).
func isAbortMarker(h *record.Header, batch []byte) bool {
	abort := false
	_ = record.EachRecord(h, batch, maxDecompressed, func(r *record.Record) error {
		if len(r.Key) >= 4 && binary.BigEndian.Uint16(r.Key[2:]) == 0 {
			abort = true
		}
		return nil
	})
	return abort
}

func (f *batchReader) corrupt(err error) error {
	return f.corruptAt(f.nextOffset, err)
}

func (f *batchReader) corruptAt(offset int64, err error) error {
	return fmt.Errorf("%w: record batch at offset %d is invalid: %v", ErrCorruptRecord, offset, err)
}
