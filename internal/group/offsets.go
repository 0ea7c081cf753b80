package group

import (
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetEntry is a committed offset.
type offsetEntry struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
	expireMs    int64 // -1: expires by offsets.retention.minutes
}

func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

// knownPartitions checks the partitions of an offset commit request (a
// topic's name and partition count by index, and a partition by topic and
// position) against the cluster's topics. codes mirrors the request: 0
// for a partition that exists, UNKNOWN_TOPIC_OR_PARTITION for the
// others; valid counts the first kind.
func (c *Coordinator) knownPartitions(topics int, topic func(i int) (name string, partitions int), partition func(i, j int) int32) (codes [][]int16, valid int) {
	codes = make([][]int16, topics)
	for i := range topics {
		name, np := topic(i)
		codes[i] = make([]int16, np)
		_, n, ok := c.topics.TopicByName(name)
		for j := range np {
			if p := partition(i, j); !ok || p < 0 || p >= n {
				codes[i][j] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			valid++
		}
	}
	return codes, valid
}

// OffsetCommit serves OffsetCommit. Partitions of topics the cluster
// does not have are answered with UNKNOWN_TOPIC_OR_PARTITION before the
// group is looked at, as Kafka's request handler does.
func (c *Coordinator) OffsetCommit(rc RequestContext, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = req.Version
	codes, valid := c.knownPartitions(len(req.Topics), func(i int) (string, int) { return req.Topics[i].Topic, len(req.Topics[i].Partitions) },
		func(i, j int) int32 { return req.Topics[i].Partitions[j].Partition })
	if valid > 0 {
		c.offsetCommit(req, codes)
	}
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.TopicID = t.TopicID
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// offsetCommit commits the partitions whose code is still 0 and sets
// their codes.
func (c *Coordinator) offsetCommit(req *kmsg.OffsetCommitRequest, codes [][]int16) {
	failAll := func(e *kerr.Error) {
		for i := range codes {
			for j := range codes[i] {
				if codes[i][j] == 0 {
					codes[i][j] = e.Code
				}
			}
		}
	}
	if req.Group == "" {
		failAll(kerr.InvalidGroupID)
		return
	}
	s, err := c.shardFor(req.Group)
	if err != nil {
		failAll(err)
		return
	}
	defer s.mu.Unlock()
	if err := s.validateOffsetCommit(req); err != nil {
		failAll(err)
		return
	}
	now := s.nowMs()
	expire := int64(-1)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
		expire = now + req.RetentionTimeMillis
	}
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
			recs = append(recs, offsetCommitRecord(req.Group, t.Topic, p.Partition, offsetEntry{
				offset: p.Offset, leaderEpoch: p.LeaderEpoch, metadata: md, commitMs: now, expireMs: expire,
			}))
		}
	}
	if err := s.commit(recs); err != nil {
		failAll(writeError(err))
	}
}

func offsetCommitRecord(group, topic string, partition int32, e offsetEntry) coordRecord {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetCommitValueVersion
	if e.expireMs >= 0 {
		v.Version = offsetCommitValueExpireVersion
		v.ExpireTimestamp = e.expireMs
	}
	v.Offset = e.offset
	v.LeaderEpoch = e.leaderEpoch
	v.Metadata = e.metadata
	v.CommitTimestamp = e.commitMs
	return coordRecord{
		key:   recordKey{Type: recOffsetCommit, Group: group, Topic: topic, Partition: partition},
		value: &v,
	}
}

func offsetTombstone(group, topic string, partition int32) coordRecord {
	return coordRecord{key: recordKey{Type: recOffsetCommit, Group: group, Topic: topic, Partition: partition}}
}

// validateOffsetCommit checks who commits: a member of the current
// generation (classic) or epoch (KIP-848), or anyone, with no generation,
// to an empty group. A commit with no generation to a group that does not
// exist creates a "simple" group. REQUIRES: s.mu held.
func (s *shard) validateOffsetCommit(req *kmsg.OffsetCommitRequest) *kerr.Error {
	if cg := s.consumer[req.Group]; cg != nil {
		if req.Generation < 0 && len(cg.members) == 0 {
			return nil
		}
		m := cg.members[req.MemberID]
		if m == nil {
			return kerr.UnknownMemberID
		}
		if req.Version < 9 {
			// KIP-848 members commit with their member epoch, which
			// OffsetCommit v9 introduced.
			return kerr.UnsupportedVersion
		}
		if req.Generation != m.memberEpoch {
			return kerr.StaleMemberEpoch
		}
		return nil
	}
	g := s.classic[req.Group]
	if g == nil {
		if req.Generation < 0 {
			s.classic[req.Group] = newClassicGroup(req.Group, s.now())
			return nil
		}
		if req.Version >= 9 {
			return kerr.GroupIDNotFound
		}
		return kerr.IllegalGeneration
	}
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable
	}
	if req.Generation < 0 && g.state == stateEmpty {
		return nil
	}
	if req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil {
		if err := g.validateMember(req.MemberID, req.InstanceID); err != nil {
			return err
		}
		if req.Generation != g.generation {
			return kerr.IllegalGeneration
		}
	} else if g.state != stateEmpty {
		return kerr.UnknownMemberID
	}
	switch g.state {
	case stateCompletingRebalance:
		// The member has its JoinGroup response but not its assignment:
		// it should sync first.
		return kerr.RebalanceInProgress
	case stateStable, statePreparingRebalance:
		// A commit keeps a classic member's session alive.
		if m := g.members[req.MemberID]; m != nil {
			s.rescheduleHeartbeat(g, m, 0)
		}
	}
	return nil
}

// OffsetFetch serves OffsetFetch: one group (v0-v7) or several (v8+,
// KIP-709). With require_stable (v7+, KIP-447), a partition whose offset
// an open transaction holds answers UNSTABLE_OFFSET_COMMIT, and the
// client asks again.
func (c *Coordinator) OffsetFetch(rc RequestContext, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	if req.Version >= 8 {
		for i := range req.Groups {
			resp.Groups = append(resp.Groups, c.fetchGroupOffsets(&req.Groups[i], req.RequireStable))
		}
		return resp
	}
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = req.Group
	if req.Topics != nil || req.Version < 2 {
		g.Topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
	}
	for _, t := range req.Topics {
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = t.Topic, t.Partitions
		g.Topics = append(g.Topics, gt)
	}
	rg := c.fetchGroupOffsets(&g, req.Version >= 7 && req.RequireStable)
	resp.ErrorCode = rg.ErrorCode
	for _, t := range rg.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
			if req.Version < 2 && rg.ErrorCode != 0 {
				// v0-v1 have no group error: each partition carries it.
				rp.ErrorCode = rg.ErrorCode
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (c *Coordinator) fetchGroupOffsets(rg *kmsg.OffsetFetchRequestGroup, requireStable bool) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = rg.Group
	code := func() *kerr.Error {
		if rg.Group == "" {
			return kerr.InvalidGroupID
		}
		s, err := c.shardFor(rg.Group)
		if err != nil {
			return err
		}
		defer s.mu.Unlock()
		if cg := s.consumer[rg.Group]; cg != nil && !(rg.MemberID == nil && rg.MemberEpoch < 0) {
			// A KIP-848 member fetching its offsets must be a member at
			// its current epoch; an admin (no member id, epoch -1) may
			// always fetch.
			var m *consumerMember
			if rg.MemberID != nil {
				m = cg.members[*rg.MemberID]
			}
			if m == nil {
				return kerr.UnknownMemberID
			}
			if rg.MemberEpoch != m.memberEpoch {
				return kerr.StaleMemberEpoch
			}
		}
		out.Topics = s.fetchOffsets(rg)
		if requireStable && len(s.pendingTxn) > 0 {
			for i := range out.Topics {
				t := &out.Topics[i]
				for j := range t.Partitions {
					if p := &t.Partitions[j]; s.hasPending(rg.Group, t.Topic, p.Partition) {
						p.ErrorCode, p.Offset = kerr.UnstableOffsetCommit.Code, -1
					}
				}
			}
		}
		return nil
	}()
	if code != nil {
		out.ErrorCode = code.Code
		// A group error still lists the requested partitions (v0-v1
		// put the error there).
		for _, t := range rg.Topics {
			ot := kmsg.NewOffsetFetchResponseGroupTopic()
			ot.Topic = t.Topic
			for _, p := range t.Partitions {
				op := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				op.Partition, op.Offset = p, -1
				op.Metadata = kmsg.StringPtr("")
				ot.Partitions = append(ot.Partitions, op)
			}
			out.Topics = append(out.Topics, ot)
		}
	}
	return out
}

// fetchOffsets answers the partitions asked for, or with none asked for
// (null topics) every committed offset of the group. A partition without
// an offset gets offset -1 and empty metadata. REQUIRES: s.mu held.
func (s *shard) fetchOffsets(rg *kmsg.OffsetFetchRequestGroup) []kmsg.OffsetFetchResponseGroupTopic {
	byTopic := s.offsets[rg.Group]
	part := func(topic string, p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
		op := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		op.Partition = p
		if e := byTopic[topic][p]; e != nil {
			op.Offset, op.LeaderEpoch, op.Metadata = e.offset, e.leaderEpoch, kmsg.StringPtr(e.metadata)
		} else {
			op.Offset, op.LeaderEpoch, op.Metadata = -1, -1, kmsg.StringPtr("")
		}
		return op
	}
	var out []kmsg.OffsetFetchResponseGroupTopic
	if rg.Topics == nil {
		topics := make([]string, 0, len(byTopic))
		for t := range byTopic {
			topics = append(topics, t)
		}
		sort.Strings(topics)
		for _, t := range topics {
			ot := kmsg.NewOffsetFetchResponseGroupTopic()
			ot.Topic = t
			ot.TopicID, _, _ = s.c.topics.TopicByName(t)
			ps := make([]int32, 0, len(byTopic[t]))
			for p := range byTopic[t] {
				ps = append(ps, p)
			}
			slices.Sort(ps)
			for _, p := range ps {
				ot.Partitions = append(ot.Partitions, part(t, p))
			}
			out = append(out, ot)
		}
		return out
	}
	for _, t := range rg.Topics {
		ot := kmsg.NewOffsetFetchResponseGroupTopic()
		ot.Topic, ot.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			ot.Partitions = append(ot.Partitions, part(t.Topic, p))
		}
		out = append(out, ot)
	}
	return out
}

// OffsetDelete serves OffsetDelete (KIP-496): it deletes a group's
// offsets of topics the group does not consume. Partitions without a
// committed offset are left out of the response, as Kafka does.
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version
	var valid []kmsg.OffsetDeleteRequestTopic
	for _, t := range req.Topics {
		_, n, ok := c.topics.TopicByName(t.Topic)
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		vt := kmsg.NewOffsetDeleteRequestTopic()
		vt.Topic = t.Topic
		for _, p := range t.Partitions {
			if !ok || p.Partition < 0 || p.Partition >= n {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.UnknownTopicOrPartition.Code
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			vt.Partitions = append(vt.Partitions, p)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
		if len(vt.Partitions) > 0 {
			valid = append(valid, vt)
		}
	}
	code := func() *kerr.Error {
		if req.Group == "" {
			return kerr.InvalidGroupID
		}
		s, err := c.shardFor(req.Group)
		if err != nil {
			return err
		}
		defer s.mu.Unlock()
		return s.offsetDelete(req.Group, valid, resp)
	}()
	if code != nil {
		resp.ErrorCode = code.Code
	}
	return resp
}

// offsetDelete deletes offsets. REQUIRES: s.mu held.
func (s *shard) offsetDelete(groupID string, topics []kmsg.OffsetDeleteRequestTopic, resp *kmsg.OffsetDeleteResponse) *kerr.Error {
	var subscribed func(string) bool
	if cg := s.consumer[groupID]; cg != nil {
		subscribed = cg.isSubscribedTo
	} else if g := s.classic[groupID]; g != nil {
		switch g.state {
		case stateDead:
			return kerr.GroupIDNotFound
		case statePreparingRebalance, stateCompletingRebalance, stateStable:
			if g.protocolType != consumerProtocolType {
				return kerr.NonEmptyGroup
			}
		}
		subscribed = g.isSubscribedTo
	} else {
		return kerr.GroupIDNotFound
	}
	var recs []coordRecord
	for _, t := range topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		sub := subscribed(t.Topic)
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case sub:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			case s.offsets[groupID][t.Topic][p.Partition] != nil:
				recs = append(recs, offsetTombstone(groupID, t.Topic, p.Partition))
			default:
				continue
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if err := s.commit(recs); err != nil {
		return writeError(err)
	}
	return nil
}

// scheduleExpiry runs the offset expiry every
// offsets.retention.check.interval.ms. REQUIRES: s.mu held.
func (s *shard) scheduleExpiry() {
	s.schedule(timerKey{kind: timerExpiry}, s.c.cfg.OffsetsRetentionInterval, func() {
		s.expireOffsets()
		s.scheduleExpiry()
	})
}

// expireOffsets deletes offsets older than offsets.retention.minutes of
// groups that no longer consume them, and then groups left empty with no
// offsets, as Kafka's cleanupGroupMetadata does. REQUIRES: s.mu held.
func (s *shard) expireOffsets() {
	now := s.nowMs()
	retention := s.c.cfg.OffsetsRetention.Milliseconds()
	var recs []coordRecord
	for _, id := range s.groupIDs() {
		base, subscribed, ok := s.expirationCondition(id)
		if !ok {
			continue
		}
		all := true
		for topic, parts := range s.offsets[id] {
			if subscribed(topic) {
				all = false
				continue
			}
			for p, e := range parts {
				expired := now-base(e) >= retention
				if e.expireMs >= 0 {
					expired = now >= e.expireMs
				}
				if !expired {
					all = false
					continue
				}
				recs = append(recs, offsetTombstone(id, topic, p))
			}
		}
		if all {
			recs = append(recs, s.groupTombstones(id)...)
		}
	}
	if len(recs) == 0 {
		return
	}
	if err := s.commit(recs); err != nil {
		s.c.logger.Warn("expiring offsets failed", "partition", s.id, "err", err)
		return
	}
	s.c.logger.Info("expired offsets and groups", "partition", s.id, "records", len(recs))
}

// expirationCondition tells when a group's offsets expire: base gives
// the time an offset's retention counts from, subscribed the topics that
// never expire; ok is false if none of the group's offsets may expire
// now. REQUIRES: s.mu held.
func (s *shard) expirationCondition(id string) (base func(*offsetEntry) int64, subscribed func(string) bool, ok bool) {
	commitTime := func(e *offsetEntry) int64 { return e.commitMs }
	if cg := s.consumer[id]; cg != nil {
		return commitTime, cg.isSubscribedTo, true
	}
	g := s.classic[id]
	if g == nil {
		return nil, nil, false
	}
	switch {
	case g.protocolType == "":
		// A simple group: offsets expire by their commit time.
		return commitTime, func(string) bool { return false }, true
	case g.state == stateEmpty:
		// Retention counts from when the group became empty.
		return func(e *offsetEntry) int64 {
			if g.stateTimestamp >= 0 {
				return g.stateTimestamp
			}
			return e.commitMs
		}, func(string) bool { return false }, true
	case g.state == stateStable && g.protocolType == consumerProtocolType && g.subscribedTopics != nil:
		return commitTime, g.isSubscribedTo, true
	}
	return nil, nil, false
}

// groupIDs lists the shard's groups, classic and KIP-848, sorted.
// REQUIRES: s.mu held.
func (s *shard) groupIDs() []string {
	ids := make([]string, 0, len(s.classic)+len(s.consumer))
	for id := range s.classic {
		ids = append(ids, id)
	}
	for id := range s.consumer {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// groupTombstones returns the records that delete an empty group, or
// nothing if it is not empty. REQUIRES: s.mu held.
func (s *shard) groupTombstones(id string) []coordRecord {
	if cg := s.consumer[id]; cg != nil {
		if !cg.isEmpty() {
			return nil
		}
		return cg.tombstones()
	}
	if g := s.classic[id]; g != nil && g.state == stateEmpty {
		return []coordRecord{{key: recordKey{Type: recGroupMetadata, Group: id}}}
	}
	return nil
}
