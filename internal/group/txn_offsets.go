package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
)

// Transactional offset commits (KIP-98, KIP-447): TxnOffsetCommit writes
// the offsets to __consumer_offsets as a transactional batch of the
// producer, and they stay pending, invisible to OffsetFetch, until the
// transaction's marker reaches the partition: a COMMIT makes them the
// group's committed offsets, an ABORT drops them. A load replays the same
// way: transactional batches are held per producer until their marker.

// pendingOffsets are a producer's offsets awaiting its marker:
// group -> topic -> partition.
type pendingOffsets map[string]map[string]map[int32]*offsetEntry

// TxnOffsetCommit serves TxnOffsetCommit. The caller has checked that the
// group's partition is in the producer's transaction.
func (c *Coordinator) TxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.Version
	codes, valid := c.knownPartitions(len(req.Topics), func(i int) (string, int) { return req.Topics[i].Topic, len(req.Topics[i].Partitions) },
		func(i, j int) int32 { return req.Topics[i].Partitions[j].Partition })
	if valid > 0 {
		if err := c.txnOffsetCommit(req, codes); err != nil {
			for i := range codes {
				for j := range codes[i] {
					if codes[i][j] == 0 {
						codes[i][j] = err.Code
					}
				}
			}
		}
	}
	for i, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for j, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (c *Coordinator) txnOffsetCommit(req *kmsg.TxnOffsetCommitRequest, codes [][]int16) *kerr.Error {
	if req.Group == "" {
		return kerr.InvalidGroupID
	}
	s, err := c.shardFor(req.Group)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := s.validateTxnOffsetCommit(req); err != nil {
		return err
	}
	now := s.nowMs()
	var recs []coordRecord
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if codes[i][j] != 0 {
				continue
			}
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if len(md) > s.c.cfg.OffsetMetadataMaxBytes {
				codes[i][j] = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			epoch := int32(-1)
			if req.Version >= 2 {
				epoch = p.LeaderEpoch
			}
			recs = append(recs, offsetCommitRecord(req.Group, t.Topic, p.Partition, offsetEntry{
				offset: p.Offset, leaderEpoch: epoch, metadata: md, commitMs: now, expireMs: -1,
			}))
		}
	}
	if len(recs) == 0 {
		return nil
	}
	batch, berr := buildTxnBatch(recs, now, req.ProducerID, req.ProducerEpoch)
	if berr != nil {
		return writeError(berr)
	}
	if err := s.c.log.Append(s.id, batch); err != nil {
		s.c.logger.Warn("writing transactional offsets failed", "partition", s.id, "err", err)
		return writeError(err)
	}
	for _, r := range recs {
		s.addPending(req.ProducerID, r)
	}
	return nil
}

// buildTxnBatch is buildBatch as the producer's transactional batch,
// with no sequence, as Kafka's coordinators write theirs.
func buildTxnBatch(recs []coordRecord, nowMs, producerID int64, epoch int16) ([]byte, error) {
	b := record.NewBuilder(record.None)
	b.ProducerID, b.ProducerEpoch, b.Transactional = producerID, epoch, true
	for i := range recs {
		r := &recs[i]
		rec := record.Record{Key: r.key.appendTo(nil)}
		if r.value != nil {
			rec.Value = r.value.AppendTo(nil)
		}
		b.Add(nowMs, rec)
	}
	return b.Build(nil)
}

// validateTxnOffsetCommit checks the member of a classic group (v3+,
// KIP-447) when the request names one. REQUIRES: s.mu held.
func (s *shard) validateTxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) *kerr.Error {
	if req.Version < 3 || (req.MemberID == "" && req.Generation < 0) {
		return nil
	}
	if cg := s.consumer[req.Group]; cg != nil {
		m := cg.members[req.MemberID]
		if m == nil {
			return kerr.UnknownMemberID
		}
		if req.Generation != m.memberEpoch {
			return kerr.IllegalGeneration
		}
		return nil
	}
	g := s.classic[req.Group]
	if g == nil {
		return kerr.IllegalGeneration
	}
	if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
		return err
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration
	}
	return nil
}

// addPending holds an offset record of a producer's transaction.
// REQUIRES: s.mu held.
func (s *shard) addPending(producerID int64, r coordRecord) {
	ov, ok := r.value.(*kmsg.OffsetCommitValue)
	if !ok || (r.key.Type != recOffsetCommit && r.key.Type != recLegacyOffsetCommit) {
		return
	}
	if s.pendingTxn == nil {
		s.pendingTxn = map[int64]pendingOffsets{}
	}
	p := s.pendingTxn[producerID]
	if p == nil {
		p = pendingOffsets{}
		s.pendingTxn[producerID] = p
	}
	if p[r.key.Group] == nil {
		p[r.key.Group] = map[string]map[int32]*offsetEntry{}
	}
	if p[r.key.Group][r.key.Topic] == nil {
		p[r.key.Group][r.key.Topic] = map[int32]*offsetEntry{}
	}
	e := &offsetEntry{offset: ov.Offset, leaderEpoch: -1, metadata: ov.Metadata, commitMs: ov.CommitTimestamp, expireMs: -1}
	if ov.Version >= 3 {
		e.leaderEpoch = ov.LeaderEpoch
	}
	p[r.key.Group][r.key.Topic][r.key.Partition] = e
}

// completeTxn applies a producer's marker: its pending offsets become
// committed ones, or go. REQUIRES: s.mu held.
func (s *shard) completeTxn(producerID int64, commit bool) {
	p := s.pendingTxn[producerID]
	delete(s.pendingTxn, producerID)
	if !commit {
		return
	}
	for group, topics := range p {
		for topic, parts := range topics {
			for partition, e := range parts {
				s.replayOffset(recordKey{Type: recOffsetCommit, Group: group, Topic: topic, Partition: partition}, offsetCommitRecord(group, topic, partition, *e).value)
			}
		}
	}
}

// hasPending reports whether a transaction holds offsets of the group's
// partition. REQUIRES: s.mu held.
func (s *shard) hasPending(group, topic string, partition int32) bool {
	for _, p := range s.pendingTxn {
		if _, ok := p[group][topic][partition]; ok {
			return true
		}
	}
	return false
}

// CompleteTxn is told that a producer's marker was written to partition p
// of __consumer_offsets.
func (c *Coordinator) CompleteTxn(p int32, producerID int64, commit bool) {
	if p < 0 || int(p) >= len(c.shards) {
		return
	}
	s := c.shards[p]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == shardActive {
		s.completeTxn(producerID, commit)
	}
}

// replayBatch applies one batch read back from the log, transactions
// included. REQUIRES: s.mu held, or s private to a load.
func (s *shard) replayBatch(batch []byte) error {
	h, err := record.ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.Control() {
		commit, _, ok, err := record.ParseEndTxnMarker(&h, batch)
		if err == nil && ok {
			s.completeTxn(h.ProducerID, commit)
		}
		return nil
	}
	return eachRecord(batch, func(r coordRecord) error {
		if h.Transactional() {
			s.addPending(h.ProducerID, r)
		} else {
			s.replay(r)
		}
		return nil
	})
}
