package group

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func cgReq(group, member string, epoch int32) *kmsg.ConsumerGroupHeartbeatRequest {
	r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	r.Version, r.Group, r.MemberID, r.MemberEpoch = 1, group, member, epoch
	return r
}

// cgJoin is a member's first heartbeat: epoch 0, full request.
func (e *env) cgJoin(group, member string, topics ...string) *kmsg.ConsumerGroupHeartbeatResponse {
	r := cgReq(group, member, 0)
	r.RebalanceTimeoutMillis = 30000
	r.SubscribedTopicNames = topics
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	return e.c.ConsumerGroupHeartbeat(rc, r)
}

// cgBeat is a heartbeat reporting the partitions the member owns.
func (e *env) cgBeat(group, member string, epoch int32, owned assignment) *kmsg.ConsumerGroupHeartbeatResponse {
	r := cgReq(group, member, epoch)
	r.Topics = ownedTopics(owned)
	return e.c.ConsumerGroupHeartbeat(rc, r)
}

func ownedTopics(a assignment) []kmsg.ConsumerGroupHeartbeatRequestTopic {
	out := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, tp := range a.toTopicPartitions() {
		out = append(out, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: tp.TopicID, Partitions: tp.Partitions})
	}
	return out
}

func respAssignment(t *testing.T, r *kmsg.ConsumerGroupHeartbeatResponse) assignment {
	t.Helper()
	if r.ErrorCode != 0 {
		t.Fatalf("heartbeat error %d: %s", r.ErrorCode, deref(r.ErrorMessage))
	}
	if r.Assignment == nil {
		t.Fatal("response has no assignment")
	}
	a := assignment{}
	for _, tp := range r.Assignment.Topics {
		for _, p := range tp.Partitions {
			a.add(tp.TopicID, p)
		}
	}
	return a
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func parts(id [16]byte, ps ...int32) assignment {
	a := assignment{}
	for _, p := range ps {
		a.add(id, p)
	}
	return a
}

func (e *env) cgState(group string) string {
	var st string
	e.withShard(group, func(s *shard) {
		if g := s.consumer[group]; g != nil {
			st = g.state()
		}
	})
	return st
}

func TestConsumerGroupSplitRevokeBeforeReassign(t *testing.T) {
	e := newEnv(t)
	tid := e.topics.add("t", 6)

	r1 := e.cgJoin("g", "m1", "t")
	a1 := respAssignment(t, r1)
	if r1.MemberEpoch != 1 || a1.count() != 6 || r1.HeartbeatIntervalMillis != 5000 || *r1.MemberID != "m1" {
		t.Fatalf("first member: epoch %d, %d partitions, interval %d", r1.MemberEpoch, a1.count(), r1.HeartbeatIntervalMillis)
	}

	// A second member: the group moves to epoch 2 and the target splits
	// the partitions; m2 waits until m1 releases its half.
	r2 := e.cgJoin("g", "m2", "t")
	if a := respAssignment(t, r2); r2.MemberEpoch != 2 || a.count() != 0 {
		t.Fatalf("second member: epoch %d, assignment %v", r2.MemberEpoch, a)
	}
	if st := e.cgState("g"); st != "Reconciling" {
		t.Fatalf("state %s, want Reconciling", st)
	}

	// m1 learns it must give up three partitions; it stays at epoch 1.
	r1 = e.cgBeat("g", "m1", 1, a1)
	kept := respAssignment(t, r1)
	if r1.MemberEpoch != 1 || kept.count() != 3 {
		t.Fatalf("m1 revoking: epoch %d, kept %v", r1.MemberEpoch, kept)
	}
	// Until m1 reports them released, m2 gets nothing.
	r2 = e.cgBeat("g", "m2", 2, assignment{})
	if r2.ErrorCode != 0 || r2.MemberEpoch != 2 || (r2.Assignment != nil && len(r2.Assignment.Topics) != 0) {
		t.Fatalf("m2 before release: %+v", r2)
	}
	// m1 reports only what it kept: it moves to epoch 2.
	r1 = e.cgBeat("g", "m1", 1, kept)
	if r1.ErrorCode != 0 || r1.MemberEpoch != 2 {
		t.Fatalf("m1 after revoking: %+v", r1)
	}
	r2 = e.cgBeat("g", "m2", 2, assignment{})
	got2 := respAssignment(t, r2)
	if got2.count() != 3 {
		t.Fatalf("m2 after release: %v", got2)
	}
	for _, p := range got2[tid] {
		if kept.contains(tid, p) {
			t.Errorf("partition %d assigned to both members", p)
		}
	}
	if st := e.cgState("g"); st != "Stable" {
		t.Errorf("state %s, want Stable", st)
	}

	// m1 leaves: the group moves on and m2 gets everything.
	leave := cgReq("g", "m1", leaveGroupEpoch)
	if r := e.c.ConsumerGroupHeartbeat(rc, leave); r.ErrorCode != 0 || r.MemberEpoch != leaveGroupEpoch {
		t.Fatalf("leave: %+v", r)
	}
	r2 = e.cgBeat("g", "m2", 2, got2)
	if a := respAssignment(t, r2); a.count() != 6 || r2.MemberEpoch != 3 {
		t.Fatalf("m2 after m1 left: epoch %d %v", r2.MemberEpoch, a)
	}
	if r := e.cgBeat("g", "m1", 2, kept); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("heartbeat of the member that left: %d", r.ErrorCode)
	}

	// m2 goes silent: its session ends and the group is empty.
	e.clock.Advance(45 * time.Second)
	if st := e.cgState("g"); st != "Empty" {
		t.Errorf("state %s after the session timeout, want Empty", st)
	}
	if r := e.cgBeat("g", "m2", 3, parts(tid, 0, 1, 2, 3, 4, 5)); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("fenced member's heartbeat: %d", r.ErrorCode)
	}
}

func TestConsumerGroupHeartbeatErrors(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 2)
	respAssignment(t, e.cgJoin("g", "m1", "t"))
	hb := func(mod func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		r := cgReq("g", "m1", 0)
		r.RebalanceTimeoutMillis = 30000
		r.SubscribedTopicNames = []string{"t"}
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		mod(r)
		return e.c.ConsumerGroupHeartbeat(rc, r)
	}
	for _, c := range []struct {
		name string
		mod  func(*kmsg.ConsumerGroupHeartbeatRequest)
		want *kerr.Error
		msg  string
	}{
		{"empty group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "" }, kerr.InvalidRequest, "GroupId can't be empty."},
		{"v1 empty member id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest, "MemberId can't be empty."},
		{"empty rack", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RackID = kmsg.StringPtr("") }, kerr.InvalidRequest, "RackId can't be empty."},
		{"join without rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }, kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request."},
		{"join owning partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Topics = ownedTopics(parts([16]byte{1}, 0)) }, kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining."},
		{"join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames = nil }, kerr.InvalidRequest, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."},
		{"static leave without instance", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -2 }, kerr.InvalidRequest, "InstanceId can't be null."},
		{"epoch below -2", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest, "MemberEpoch is invalid."},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = kmsg.StringPtr("sticky") }, kerr.UnsupportedAssignor, ""},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = kmsg.StringPtr("(") }, kerr.InvalidRegularExpression, ""},
		{"unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.MemberEpoch = "nobody", 1 }, kerr.UnknownMemberID, ""},
		{"epoch ahead", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 5 }, kerr.FencedMemberEpoch, ""},
		{"unknown group", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group, r.MemberEpoch = "other", 1 }, kerr.UnknownMemberID, ""},
		{"leave of unknown member", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID, r.MemberEpoch = "nobody", -1 }, kerr.UnknownMemberID, ""},
	} {
		r := hb(c.mod)
		if r.ErrorCode != c.want.Code || (c.msg != "" && deref(r.ErrorMessage) != c.msg) {
			t.Errorf("%s: error %d %q, want %d %q", c.name, r.ErrorCode, deref(r.ErrorMessage), c.want.Code, c.msg)
		}
		if r.ErrorCode != 0 && (r.MemberID != nil || r.Assignment != nil) {
			t.Errorf("%s: error response carries a member id or assignment", c.name)
		}
	}
	// The member was not disturbed.
	if r := e.cgBeat("g", "m1", 1, nil); r.ErrorCode != 0 || r.MemberEpoch != 1 {
		t.Errorf("member after bad requests: %+v", r)
	}
}

func TestConsumerGroupLostEpochResponseIsAccepted(t *testing.T) {
	e := newEnv(t)
	tid := e.topics.add("t", 2)
	a := respAssignment(t, e.cgJoin("g", "m1", "t"))
	e.cgJoin("g", "m2", "t") // epoch 2
	r := e.cgBeat("g", "m1", 1, a)
	kept := respAssignment(t, r)
	r = e.cgBeat("g", "m1", 1, kept) // now at epoch 2, previous 1
	if r.MemberEpoch != 2 {
		t.Fatalf("epoch %d", r.MemberEpoch)
	}
	// The response with epoch 2 was lost: the member comes back with
	// epoch 1 and a subset of its assignment. That is accepted...
	if r := e.cgBeat("g", "m1", 1, kept); r.ErrorCode != 0 || r.MemberEpoch != 2 {
		t.Errorf("previous epoch with a subset: %+v", r)
	}
	// ...but not with partitions it does not have.
	if r := e.cgBeat("g", "m1", 1, parts(tid, 0, 1)); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Errorf("previous epoch with foreign partitions: %d", r.ErrorCode)
	}
}

func TestConsumerGroupRejoinWithSameMemberID(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 4)
	e.cgJoin("g", "m1", "t")
	e.cgJoin("g", "m2", "t")
	a1 := respAssignment(t, e.cgBeat("g", "m1", 1, parts(e.topicID("t"), 0, 1, 2, 3)))
	e.cgBeat("g", "m1", 1, a1)
	a2 := respAssignment(t, e.cgBeat("g", "m2", 2, assignment{}))
	// m2 lost track (say, after FENCED_MEMBER_EPOCH) and rejoins with the
	// same member id, owning nothing: it gets its partitions back at once
	// and the group does not rebalance.
	r := e.cgJoin("g", "m2", "t")
	if got := respAssignment(t, r); !got.equal(a2) || r.MemberEpoch != 2 {
		t.Errorf("rejoin: epoch %d %v, want epoch 2 %v", r.MemberEpoch, got, a2)
	}
}

func (e *env) topicID(name string) [16]byte {
	id, _, _ := e.topics.TopicByName(name)
	return id
}

func TestConsumerGroupStaticMembership(t *testing.T) {
	e := newEnv(t)
	tid := e.topics.add("t", 4)
	join := func(member, instance string) *kmsg.ConsumerGroupHeartbeatResponse {
		r := cgReq("g", member, 0)
		r.RebalanceTimeoutMillis, r.SubscribedTopicNames, r.InstanceID = 30000, []string{"t"}, &instance
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		return e.c.ConsumerGroupHeartbeat(rc, r)
	}
	beat := func(member, instance string, epoch int32, owned assignment) *kmsg.ConsumerGroupHeartbeatResponse {
		r := e.cgBeatReq("g", member, epoch, owned)
		r.InstanceID = &instance
		return e.c.ConsumerGroupHeartbeat(rc, r)
	}
	a1 := respAssignment(t, join("s1", "i1"))
	join("s2", "i2")
	kept := respAssignment(t, beat("s1", "i1", 1, a1))
	beat("s1", "i1", 1, kept)
	a2 := respAssignment(t, beat("s2", "i2", 2, assignment{}))
	if kept.count() != 2 || a2.count() != 2 {
		t.Fatalf("assignments %v %v", kept, a2)
	}
	epochBefore := e.groupEpoch("g")

	// s2 shuts down for a restart: it leaves with epoch -2 and keeps its
	// partitions.
	r := e.c.ConsumerGroupHeartbeat(rc, func() *kmsg.ConsumerGroupHeartbeatRequest {
		q := cgReq("g", "s2", leaveGroupStaticEpoch)
		q.InstanceID = kmsg.StringPtr("i2")
		return q
	}())
	if r.ErrorCode != 0 || r.MemberEpoch != leaveGroupStaticEpoch {
		t.Fatalf("static leave: %+v", r)
	}
	// (A leave without the instance id works as well: the member id
	// names a static member.)
	if r := e.c.ConsumerGroupHeartbeat(rc, cgReq("g", "s1", leaveGroupStaticEpoch)); r.ErrorCode != 0 || r.MemberEpoch != leaveGroupStaticEpoch {
		t.Fatalf("static leave without instance id: %+v", r)
	}
	if r := join("s1", "i1"); r.ErrorCode != 0 || r.MemberEpoch != 2 {
		t.Fatalf("s1 rejoining after its leave: %+v", r)
	}
	// The restarted process joins with a new member id and the same
	// instance id: same partitions, no new group epoch.
	r = join("s2-new", "i2")
	if got := respAssignment(t, r); !got.equal(a2) {
		t.Errorf("restarted static member got %v, want %v", got, a2)
	}
	if ge := e.groupEpoch("g"); ge != epochBefore {
		t.Errorf("group epoch %d after a static restart, want %d (no rebalance)", ge, epochBefore)
	}
	if r := beat("s1", "i1", 2, kept); r.ErrorCode != 0 || r.MemberEpoch != 2 || r.Assignment != nil {
		t.Errorf("the other member saw a change: %+v", r)
	}
	// The old process is fenced; a third one cannot take the instance id
	// while it is in use.
	if r := beat("s2", "i2", 2, a2); r.ErrorCode != kerr.FencedInstanceID.Code {
		t.Errorf("old member id: %d, want FENCED_INSTANCE_ID", r.ErrorCode)
	}
	if r := join("s2-third", "i2"); r.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Errorf("duplicate instance id: %d, want UNRELEASED_INSTANCE_ID", r.ErrorCode)
	}
	// A static member that leaves for good (-1) gives its partitions up.
	q := cgReq("g", "s2-new", leaveGroupEpoch)
	q.InstanceID = kmsg.StringPtr("i2")
	if r := e.c.ConsumerGroupHeartbeat(rc, q); r.ErrorCode != 0 {
		t.Fatalf("leave: %d", r.ErrorCode)
	}
	if a := respAssignment(t, beat("s1", "i1", 2, kept)); a.count() != 4 {
		t.Errorf("remaining member has %v", a)
	}
	_ = tid
}

func (e *env) cgBeatReq(group, member string, epoch int32, owned assignment) *kmsg.ConsumerGroupHeartbeatRequest {
	r := cgReq(group, member, epoch)
	r.Topics = ownedTopics(owned)
	return r
}

func (e *env) groupEpoch(group string) int32 {
	var ep int32
	e.withShard(group, func(s *shard) { ep = s.consumer[group].groupEpoch })
	return ep
}

func TestConsumerGroupStaticMemberThatNeverReturnsIsFenced(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 2)
	r := cgReq("g", "s1", 0)
	r.RebalanceTimeoutMillis, r.SubscribedTopicNames, r.InstanceID = 30000, []string{"t"}, kmsg.StringPtr("i1")
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	e.c.ConsumerGroupHeartbeat(rc, r)
	a := respAssignment(t, e.cgJoin("g", "m2", "t"))
	if a.count() != 0 {
		t.Fatalf("m2 got %v while s1 holds everything", a)
	}
	leave := cgReq("g", "s1", leaveGroupStaticEpoch)
	leave.InstanceID = kmsg.StringPtr("i1")
	e.c.ConsumerGroupHeartbeat(rc, leave)
	// m2 heartbeats; s1's partitions stay reserved until its session ends.
	for range 8 {
		e.clock.Advance(5 * time.Second)
		e.cgBeat("g", "m2", 2, assignment{})
	}
	e.clock.Advance(5 * time.Second)
	r2 := e.cgBeat("g", "m2", 2, assignment{})
	if got := respAssignment(t, r2); got.count() != 2 {
		t.Errorf("after s1's session ended m2 has %v", got)
	}
}

func TestConsumerGroupRevocationTimeoutFencesMember(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 4)
	a1 := respAssignment(t, e.cgJoin("g", "m1", "t"))
	e.cgJoin("g", "m2", "t")
	e.cgBeat("g", "m1", 1, a1) // asked to revoke
	// m1 keeps heartbeating but never releases the partitions.
	for range 5 {
		e.clock.Advance(5 * time.Second)
		if r := e.cgBeat("g", "m1", 1, a1); r.ErrorCode != 0 {
			t.Fatalf("heartbeat: %d", r.ErrorCode)
		}
		e.cgBeat("g", "m2", 2, assignment{})
	}
	e.clock.Advance(5 * time.Second) // 30s: its rebalance timeout
	if r := e.cgBeat("g", "m1", 1, a1); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("member past its rebalance timeout: %d", r.ErrorCode)
	}
	if a := respAssignment(t, e.cgBeat("g", "m2", 2, assignment{})); a.count() != 4 {
		t.Errorf("m2 after m1 was fenced: %v", a)
	}
}

func TestConsumerGroupRangeAssignor(t *testing.T) {
	e := newEnv(t)
	tid := e.topics.add("t", 5)
	join := func(m string) {
		r := cgReq("g", m, 0)
		r.RebalanceTimeoutMillis, r.SubscribedTopicNames, r.ServerAssignor = 30000, []string{"t"}, kmsg.StringPtr("range")
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if resp := e.c.ConsumerGroupHeartbeat(rc, r); resp.ErrorCode != 0 {
			t.Fatal(resp.ErrorCode)
		}
	}
	join("a")
	join("b")
	var targets map[string]assignment
	e.withShard("g", func(s *shard) { targets = maps.Clone(s.consumer["g"].targets) })
	if !targets["a"].equal(parts(tid, 0, 1, 2)) || !targets["b"].equal(parts(tid, 3, 4)) {
		t.Errorf("range targets %v", targets)
	}
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"g"}
	if g := e.c.ConsumerGroupDescribe(d).Groups[0]; g.AssignorName != "range" {
		t.Errorf("assignor %q", g.AssignorName)
	}
}

func TestConsumerGroupRegexAndNewTopics(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t1", 1)
	e.topics.add("t2", 2)
	e.topics.add("other", 3)
	r := cgReq("g", "m", 0)
	r.RebalanceTimeoutMillis, r.SubscribedTopicRegex = 30000, kmsg.StringPtr("t.*")
	r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	a := respAssignment(t, e.c.ConsumerGroupHeartbeat(rc, r))
	if a.count() != 3 || len(a[e.topicID("other")]) != 0 {
		t.Fatalf("regex assignment %v", a)
	}
	// A new matching topic and a grown one are picked up.
	e.topics.add("t3", 1)
	e.topics.add("t1", 2)
	e.clock.Advance(regexRefreshInterval)
	got := respAssignment(t, e.cgBeat("g", "m", 1, a))
	if got.count() != 5 {
		t.Errorf("after t3 appeared and t1 grew: %v", got)
	}
	e.withShard("g", func(s *shard) {
		if re := s.consumer["g"].regexes["t.*"]; re == nil || !slices.Equal(re.Topics, []string{"t1", "t2", "t3"}) {
			t.Errorf("resolved regex %+v", re)
		}
	})
}

func TestConsumerGroupOffsets(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 2)
	r := e.cgJoin("g", "m1", "t")
	commit := func(version int16, member string, epoch int32) int16 {
		return codes(e.c.OffsetCommit(rc, commitReq(version, "g", member, epoch, "t", map[int32]int64{0: 4})))[0]
	}
	if c := commit(9, "m1", r.MemberEpoch); c != 0 {
		t.Errorf("member commit: %d", c)
	}
	if c := commit(9, "m1", r.MemberEpoch+1); c != kerr.StaleMemberEpoch.Code {
		t.Errorf("stale epoch: %d", c)
	}
	if c := commit(8, "m1", r.MemberEpoch); c != kerr.UnsupportedVersion.Code {
		t.Errorf("v8 from a consumer-protocol member: %d", c)
	}
	if c := commit(9, "nobody", 1); c != kerr.UnknownMemberID.Code {
		t.Errorf("unknown member: %d", c)
	}
	fetch := func(member *string, epoch int32) *kmsg.OffsetFetchResponseGroup {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 9
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberID, rg.MemberEpoch = "g", member, epoch
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}
		req.Groups = append(req.Groups, rg)
		return &e.c.OffsetFetch(rc, req).Groups[0]
	}
	if g := fetch(kmsg.StringPtr("m1"), r.MemberEpoch); g.ErrorCode != 0 || g.Topics[0].Partitions[0].Offset != 4 {
		t.Errorf("member fetch: %+v", g)
	}
	if g := fetch(kmsg.StringPtr("m1"), 0); g.ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Errorf("stale fetch: %d", g.ErrorCode)
	}
	if g := fetch(nil, -1); g.ErrorCode != 0 || g.Topics[0].Partitions[0].Offset != 4 {
		t.Errorf("admin fetch: %+v", g)
	}
	// With the member gone, an admin may commit (generation -1).
	e.c.ConsumerGroupHeartbeat(rc, cgReq("g", "m1", -1))
	if c := commit(9, "", -1); c != 0 {
		t.Errorf("admin commit to an empty consumer group: %d", c)
	}
}

func TestConsumerAndClassicGroupsDoNotMix(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 1)
	e.stableGroup("classic", 1)
	r := cgReq("classic", "m", 0)
	r.RebalanceTimeoutMillis, r.SubscribedTopicNames, r.Topics = 30000, []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if resp := e.c.ConsumerGroupHeartbeat(rc, r); resp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("consumer heartbeat to a classic group with members: %d", resp.ErrorCode)
	}
	e.cgJoin("kip848", "m", "t")
	if resp := recv(t, e.c.joinGroup(rc, joinReq("kip848", ""))); resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Errorf("classic join to a consumer group with members: %d", resp.ErrorCode)
	}
	// An empty group converts: offsets-only group to a consumer group.
	e.c.OffsetCommit(rc, commitReq(9, "simple", "", -1, "t", map[int32]int64{0: 1}))
	r.Group = "simple"
	if resp := e.c.ConsumerGroupHeartbeat(rc, r); resp.ErrorCode != 0 {
		t.Errorf("consumer join of a simple group: %d", resp.ErrorCode)
	}
	if f := fetched(e.c.OffsetFetch(rc, fetchReq("simple", "t", 0))); f[0] != 1 {
		t.Errorf("offsets lost in the conversion: %v", f)
	}
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"classic", "none", "simple"}
	dr := e.c.ConsumerGroupDescribe(d)
	if dr.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code || dr.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("describe of classic / missing: %d %d", dr.Groups[0].ErrorCode, dr.Groups[1].ErrorCode)
	}
	g := dr.Groups[2]
	if g.ErrorCode != 0 || g.State != "Stable" || g.Epoch != 1 || g.AssignmentEpoch != 1 || g.AssignorName != "uniform" ||
		len(g.Members) != 1 || g.Members[0].MemberEpoch != 1 || len(g.Members[0].Assignment.TopicPartitions) != 1 ||
		g.Members[0].Assignment.TopicPartitions[0].Topic != "t" || g.Members[0].MemberType != 1 {
		t.Errorf("describe: %+v", g)
	}
	lg := kmsg.NewPtrListGroupsRequest()
	lg.Version, lg.TypesFilter = 5, []string{"consumer"}
	if l := e.c.ListGroups(lg); len(l.Groups) != 2 || l.Groups[0].GroupType != "consumer" || l.Groups[0].ProtocolType != "consumer" {
		t.Errorf("list consumer groups: %+v", l.Groups)
	}
	// Only an empty consumer group can be deleted.
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"kip848"}
	if r := e.c.DeleteGroups(del); r.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
		t.Errorf("delete of a consumer group with members: %d", r.Groups[0].ErrorCode)
	}
	e.c.ConsumerGroupHeartbeat(rc, cgReq("kip848", "m", -1))
	if r := e.c.DeleteGroups(del); r.Groups[0].ErrorCode != 0 {
		t.Errorf("delete of an empty consumer group: %d", r.Groups[0].ErrorCode)
	}
	if st := e.cgState("kip848"); st != "" {
		t.Errorf("deleted group still there: %s", st)
	}
}

// dumpShard renders a shard's persistent state, for comparing what was
// served with what a reload rebuilds.
func dumpShard(s *shard) string {
	var b strings.Builder
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	for _, id := range slices.Sorted(maps.Keys(s.classic)) {
		g := s.classic[id]
		fmt.Fprintf(&b, "classic %s %s gen=%d type=%q proto=%q leader=%s\n", id, g.state, g.generation, g.protocolType, g.protocolName, g.leader)
		for _, m := range g.orderedMembers() {
			fmt.Fprintf(&b, "  member %s inst=%s client=%s host=%s st=%d rt=%d md=%x asg=%x\n", m.id, str(m.instanceID), m.clientID, m.clientHost,
				m.sessionTimeoutMs, m.rebalanceTimeoutMs, m.metadata(g.protocolName), m.assignment)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.consumer)) {
		g := s.consumer[id]
		fmt.Fprintf(&b, "consumer %s epoch=%d assignment=%d state=%s md=%v regexes=%v owners=%v static=%v\n", id, g.groupEpoch, g.assignmentEpoch, g.state(),
			g.subscriptionMetadata, func() string {
				var out []string
				for _, re := range slices.Sorted(maps.Keys(g.regexes)) {
					out = append(out, fmt.Sprintf("%s:%v", re, g.regexes[re].Topics))
				}
				return strings.Join(out, ",")
			}(), g.owners, g.staticMembers)
		for _, mid := range slices.Sorted(maps.Keys(g.members)) {
			m := g.members[mid]
			fmt.Fprintf(&b, "  member %s inst=%s rack=%s client=%s topics=%v regex=%s rt=%d asg=%s epoch=%d/%d state=%d assigned=%v pending=%v target=%v\n",
				m.id, str(m.instanceID), str(m.rackID), m.clientID, m.subscribedTopicNames, str(m.subscribedTopicRegex), m.rebalanceTimeoutMs,
				str(m.serverAssignor), m.memberEpoch, m.previousMemberEpoch, m.state, m.assigned, m.pendingRevocation, g.targets[mid])
		}
	}
	for _, gid := range slices.Sorted(maps.Keys(s.offsets)) {
		for _, topic := range slices.Sorted(maps.Keys(s.offsets[gid])) {
			for _, p := range slices.Sorted(maps.Keys(s.offsets[gid][topic])) {
				fmt.Fprintf(&b, "offset %s %s-%d %+v\n", gid, topic, p, *s.offsets[gid][topic][p])
			}
		}
	}
	return b.String()
}

func TestReplayRebuildsServedState(t *testing.T) {
	e := newEnv(t)
	tid := e.topics.add("t", 6)
	e.topics.add("u", 2)
	// Classic groups, offsets, and KIP-848 groups in every member state.
	e.stableGroup("emptied", 1)
	e.clock.Advance(11 * time.Second) // its member times out; the group empties
	ids := e.stableGroup("classic", 2)
	e.c.OffsetCommit(rc, commitReq(9, "classic", ids[1], 1, "t", map[int32]int64{0: 10, 3: 30}))
	e.c.OffsetCommit(rc, commitReq(2, "simple", "", -1, "u", map[int32]int64{1: 5})) // with retention: value v1
	a1 := respAssignment(t, e.cgJoin("kip848", "m1", "t"))
	e.cgJoin("kip848", "m2", "t", "u")
	e.cgBeat("kip848", "m1", 1, a1) // m1: unrevoked partitions
	r := cgReq("kip848", "s", 0)
	r.RebalanceTimeoutMillis, r.SubscribedTopicRegex, r.InstanceID = 30000, kmsg.StringPtr("u"), kmsg.StringPtr("inst")
	r.Topics, r.RackID = []kmsg.ConsumerGroupHeartbeatRequestTopic{}, kmsg.StringPtr("rack-1")
	e.c.ConsumerGroupHeartbeat(rc, r)
	leave := cgReq("kip848", "s", leaveGroupStaticEpoch)
	leave.InstanceID = kmsg.StringPtr("inst")
	e.c.ConsumerGroupHeartbeat(rc, leave)
	e.c.OffsetCommit(rc, commitReq(9, "kip848", "m2", 3, "t", map[int32]int64{5: 55}))
	_ = tid

	before := make([]string, testPartitions)
	for p := range e.c.shards {
		e.c.shards[p].mu.Lock()
		before[p] = dumpShard(e.c.shards[p])
		e.c.shards[p].mu.Unlock()
	}
	e.restart()
	for p := range e.c.shards {
		e.c.shards[p].mu.Lock()
		after := dumpShard(e.c.shards[p])
		e.c.shards[p].mu.Unlock()
		if after != before[p] {
			t.Errorf("partition %d after reload:\n%s\nbefore:\n%s", p, after, before[p])
		}
	}
	// The reloaded coordinator carries on: the classic members are loaded
	// Stable and keep their session from the load.
	if code := e.heartbeat("classic", ids[0], 1); code != 0 {
		t.Errorf("classic member after reload: %d", code)
	}
	if r := e.cgBeat("kip848", "m1", 1, a1); r.ErrorCode != 0 || r.MemberEpoch != 1 {
		t.Errorf("consumer member after reload: %+v", r)
	}
	if f := fetched(e.c.OffsetFetch(rc, fetchReq("classic", "t", 0, 3))); f[0] != 10 || f[3] != 30 {
		t.Errorf("offsets after reload: %v", f)
	}
	// The loaded sessions run: silent members are removed.
	e.clock.Advance(46 * time.Second)
	if st := e.cgState("kip848"); st != "Reconciling" && st != "Assigning" && st != "Empty" {
		t.Errorf("state %s", st)
	}
	e.withShard("kip848", func(s *shard) {
		if n := len(s.consumer["kip848"].members); n != 0 {
			t.Errorf("%d members left after every session ended", n)
		}
	})
}

func TestConsumerGroupSubscriptionChangeRevokes(t *testing.T) {
	e := newEnv(t)
	tid := e.topics.add("t", 2)
	uid := e.topics.add("u", 2)
	a := respAssignment(t, e.cgJoin("g", "m1", "t", "u"))
	if a.count() != 4 {
		t.Fatalf("assignment %v", a)
	}
	// m2 reads only t: m1 must give t up and keep u.
	e.cgJoin("g", "m2", "t")
	kept := respAssignment(t, e.cgBeat("g", "m1", 1, a))
	if !kept.equal(parts(uid, 0, 1)) {
		t.Fatalf("m1 kept %v, want u's partitions", kept)
	}
	// Still owning everything, m1 drops u from its subscription: u's
	// partitions are revoked too, at once, without waiting for the new
	// target.
	req := e.cgBeatReq("g", "m1", 1, a)
	req.SubscribedTopicNames = []string{"t"}
	got := respAssignment(t, e.c.ConsumerGroupHeartbeat(rc, req))
	if got.count() != 0 {
		t.Errorf("after unsubscribing u m1 keeps %v", got)
	}
	e.withShard("g", func(s *shard) {
		m := s.consumer["g"].members["m1"]
		if m.state != memberUnrevokedPartitions || m.pendingRevocation.count() != 4 {
			t.Errorf("m1 state %d pending %v", m.state, m.pendingRevocation)
		}
		if !s.consumer["g"].isSubscribedTo("t") || s.consumer["g"].isSubscribedTo("u") {
			t.Error("group subscriptions")
		}
	})
	// Having released everything, m1 moves on and gets its share of t.
	r := e.cgBeat("g", "m1", 1, assignment{})
	final := respAssignment(t, r)
	if len(final[uid]) != 0 || len(final[tid]) != 1 || r.MemberEpoch != 3 {
		t.Errorf("final assignment at epoch %d: %v", r.MemberEpoch, final)
	}
	if a2 := respAssignment(t, e.cgBeat("g", "m2", 2, assignment{})); len(a2[tid]) != 1 || a2.contains(tid, final[tid][0]) {
		t.Errorf("m2 has %v, m1 %v", a2, final)
	}
}
