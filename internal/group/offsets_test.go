package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func commitReq(version int16, group, member string, generation int32, topic string, offsets map[int32]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version, r.Group, r.MemberID, r.Generation = version, group, member, generation
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	for p := int32(0); p < int32(len(offsets))+8; p++ {
		if o, ok := offsets[p]; ok {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.Metadata, rp.LeaderEpoch = p, o, kmsg.StringPtr("md"), 5
			t.Partitions = append(t.Partitions, rp)
		}
	}
	r.Topics = append(r.Topics, t)
	return r
}

// codes returns the error code of every partition of a commit response.
func codes(r *kmsg.OffsetCommitResponse) map[int32]int16 {
	out := map[int32]int16{}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p.ErrorCode
		}
	}
	return out
}

func fetchReq(group string, topic string, partitions ...int32) *kmsg.OffsetFetchRequest {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version, r.Group = 7, group
	if topic != "" {
		t := kmsg.NewOffsetFetchRequestTopic()
		t.Topic, t.Partitions = topic, partitions
		r.Topics = append(r.Topics, t)
	}
	return r
}

func fetched(r *kmsg.OffsetFetchResponse) map[int32]int64 {
	out := map[int32]int64{}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p.Offset
		}
	}
	return out
}

func TestSimpleConsumerCommitAndFetch(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 3)
	// A consumer outside group management commits with no generation.
	r := e.c.OffsetCommit(rc, commitReq(9, "g", "", -1, "t", map[int32]int64{0: 10, 2: 30}))
	if c := codes(r); c[0] != 0 || c[2] != 0 {
		t.Fatalf("commit codes %v", c)
	}
	f := e.c.OffsetFetch(rc, fetchReq("g", "t", 0, 1, 2))
	if f.ErrorCode != 0 || f.Topics[0].Partitions[0].Offset != 10 || f.Topics[0].Partitions[1].Offset != -1 ||
		f.Topics[0].Partitions[2].Offset != 30 || *f.Topics[0].Partitions[0].Metadata != "md" ||
		f.Topics[0].Partitions[0].LeaderEpoch != 5 || *f.Topics[0].Partitions[1].Metadata != "" {
		t.Fatalf("fetch %+v", f.Topics)
	}
	// Null topics (v2+): every committed offset of the group.
	all := e.c.OffsetFetch(rc, fetchReq("g", ""))
	if got := fetched(all); len(got) != 2 || got[0] != 10 || got[2] != 30 {
		t.Errorf("fetch all: %v", got)
	}
	// The group is a simple group: Empty, no protocol type.
	lg := e.c.ListGroups(kmsg.NewPtrListGroupsRequest())
	if len(lg.Groups) != 1 || lg.Groups[0].Group != "g" || lg.Groups[0].GroupState != "Empty" || lg.Groups[0].ProtocolType != "" {
		t.Errorf("list groups %+v", lg.Groups)
	}
	// Fetching a group that does not exist is no error.
	if f := e.c.OffsetFetch(rc, fetchReq("nope", "t", 0)); f.ErrorCode != 0 || fetched(f)[0] != -1 {
		t.Errorf("fetch of unknown group %+v", f)
	}
}

func TestOffsetCommitErrors(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 2)
	ids := e.stableGroup("g", 1)
	c := func(r *kmsg.OffsetCommitRequest) map[int32]int16 { return codes(e.c.OffsetCommit(rc, r)) }

	if got := c(commitReq(9, "g", ids[0], 1, "t", map[int32]int64{0: 1, 5: 1})); got[0] != 0 || got[5] != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("member commit with a partition out of range: %v", got)
	}
	if got := c(commitReq(9, "g", ids[0], 1, "missing", map[int32]int64{0: 1})); got[0] != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("commit to an unknown topic: %v", got)
	}
	if got := c(commitReq(9, "g", ids[0], 7, "t", map[int32]int64{0: 1})); got[0] != kerr.IllegalGeneration.Code {
		t.Errorf("wrong generation: %v", got)
	}
	if got := c(commitReq(9, "g", "nobody", 1, "t", map[int32]int64{0: 1})); got[0] != kerr.UnknownMemberID.Code {
		t.Errorf("unknown member: %v", got)
	}
	if got := c(commitReq(9, "g", "", -1, "t", map[int32]int64{0: 1})); got[0] != kerr.UnknownMemberID.Code {
		t.Errorf("simple commit to a group with members: %v", got)
	}
	if got := c(commitReq(9, "nogroup", "m", 1, "t", map[int32]int64{0: 1})); got[0] != kerr.GroupIDNotFound.Code {
		t.Errorf("v9 commit with a generation to a missing group: %v", got)
	}
	if got := c(commitReq(8, "nogroup", "m", 1, "t", map[int32]int64{0: 1})); got[0] != kerr.IllegalGeneration.Code {
		t.Errorf("v8 commit with a generation to a missing group: %v", got)
	}
	if got := c(commitReq(9, "", "", -1, "t", map[int32]int64{0: 1})); got[0] != kerr.InvalidGroupID.Code {
		t.Errorf("empty group id: %v", got)
	}
	big := commitReq(9, "g", ids[0], 1, "t", map[int32]int64{0: 1, 1: 2})
	big.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(string(make([]byte, 4097)))
	if got := c(big); got[0] != kerr.OffsetMetadataTooLarge.Code || got[1] != 0 {
		t.Errorf("metadata over offset.metadata.max.bytes: %v", got)
	}
	// During CompletingRebalance a member must sync before committing.
	ch := e.c.joinGroup(rc, joinReq("g", ids[0]))
	recv(t, ch)
	if got := c(commitReq(9, "g", ids[0], 2, "t", map[int32]int64{0: 1})); got[0] != kerr.RebalanceInProgress.Code {
		t.Errorf("commit in CompletingRebalance: %v", got)
	}
	// A failing log fails the commit, retriably.
	recv(t, e.sync("g", ids[0], 2, nil))
	e.log.setFail(errAppendFailed)
	if got := c(commitReq(9, "g", ids[0], 2, "t", map[int32]int64{0: 99})); got[0] != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("commit with a failing log: %v", got)
	}
	e.log.setFail(nil)
	if got := fetched(e.c.OffsetFetch(rc, fetchReq("g", "t", 0))); got[0] == 99 {
		t.Error("an offset whose write failed is served")
	}
}

func TestOffsetCommitKeepsClassicSessionAlive(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 1)
	ids := e.stableGroup("g", 1)
	for range 5 {
		e.clock.Advance(8 * time.Second) // under the 10s session timeout
		if got := codes(e.c.OffsetCommit(rc, commitReq(9, "g", ids[0], 1, "t", map[int32]int64{0: 1}))); got[0] != 0 {
			t.Fatalf("commit: %v", got)
		}
	}
	if code := e.heartbeat("g", ids[0], 1); code != 0 {
		t.Errorf("member kept alive by commits: heartbeat %d", code)
	}
}

func TestOffsetFetchMultiGroup(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 2)
	e.c.OffsetCommit(rc, commitReq(9, "a", "", -1, "t", map[int32]int64{0: 1}))
	e.c.OffsetCommit(rc, commitReq(9, "b", "", -1, "t", map[int32]int64{1: 2}))
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 9
	for _, g := range []string{"a", "b", ""} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		r.Groups = append(r.Groups, rg) // null topics: all
	}
	resp := e.c.OffsetFetch(rc, r)
	if len(resp.Groups) != 3 {
		t.Fatalf("%d groups", len(resp.Groups))
	}
	a, b := resp.Groups[0], resp.Groups[1]
	if a.Group != "a" || len(a.Topics) != 1 || a.Topics[0].Partitions[0].Offset != 1 {
		t.Errorf("group a: %+v", a)
	}
	if b.Group != "b" || len(b.Topics) != 1 || b.Topics[0].Partitions[0].Partition != 1 || b.Topics[0].Partitions[0].Offset != 2 {
		t.Errorf("group b: %+v", b)
	}
	if resp.Groups[2].ErrorCode != kerr.InvalidGroupID.Code {
		t.Errorf("empty group id: %d", resp.Groups[2].ErrorCode)
	}
	// v1 has no group error: partitions carry it.
	old := fetchReq("", "t", 0)
	old.Version = 1
	if f := e.c.OffsetFetch(rc, old); f.Topics[0].Partitions[0].ErrorCode != kerr.InvalidGroupID.Code {
		t.Errorf("v1 error placement: %+v", f.Topics)
	}
}

func TestOffsetDelete(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 2)
	e.topics.add("u", 1)
	ids := e.stableGroup("g", 1) // subscribed to "t" (joinReq's metadata)
	e.c.OffsetCommit(rc, commitReq(9, "g", ids[0], 1, "t", map[int32]int64{0: 1}))
	e.c.OffsetCommit(rc, commitReq(9, "g", ids[0], 1, "u", map[int32]int64{0: 2}))
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	for _, tp := range []struct {
		topic string
		parts []int32
	}{{"t", []int32{0}}, {"u", []int32{0}}, {"missing", []int32{0}}} {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = tp.topic
		for _, p := range tp.parts {
			rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: p})
		}
		req.Topics = append(req.Topics, rt)
	}
	resp := e.c.OffsetDelete(req)
	got := map[string]int16{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			got[t.Topic] = p.ErrorCode
		}
	}
	if resp.ErrorCode != 0 || got["t"] != kerr.GroupSubscribedToTopic.Code || got["u"] != 0 || got["missing"] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("offset delete: error %d, partitions %v", resp.ErrorCode, got)
	}
	if f := fetched(e.c.OffsetFetch(rc, fetchReq("g", "u", 0))); f[0] != -1 {
		t.Errorf("deleted offset still there: %v", f)
	}
	if f := fetched(e.c.OffsetFetch(rc, fetchReq("g", "t", 0))); f[0] != 1 {
		t.Errorf("subscribed offset deleted: %v", f)
	}
	req.Group = "nope"
	if r := e.c.OffsetDelete(req); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("unknown group: %d", r.ErrorCode)
	}
}

func TestOffsetExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionInterval = time.Minute
	})
	e.topics.add("t", 1)
	// A simple group's offsets expire by their commit time.
	e.c.OffsetCommit(rc, commitReq(9, "simple", "", -1, "t", map[int32]int64{0: 5}))
	// A consumer group's offsets expire from when it became empty.
	ids := e.stableGroup("g", 1)
	e.c.OffsetCommit(rc, commitReq(9, "g", ids[0], 1, "t", map[int32]int64{0: 7}))
	for range 30 * 60 / 5 { // the member stays for 30 minutes
		e.clock.Advance(5 * time.Second)
		if code := e.heartbeat("g", ids[0], 1); code != 0 {
			t.Fatalf("heartbeat: %d", code)
		}
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group, leave.MemberID = 1, "g", ids[0]
	e.c.LeaveGroup(rc, leave)

	e.clock.Advance(31 * time.Minute) // the simple group's hour is up
	if f := fetched(e.c.OffsetFetch(rc, fetchReq("simple", "t", 0))); f[0] != -1 {
		t.Errorf("simple group's offset not expired: %v", f)
	}
	if f := fetched(e.c.OffsetFetch(rc, fetchReq("g", "t", 0))); f[0] != 7 {
		t.Errorf("offset of a group empty for 31 minutes expired: %v", f)
	}
	e.clock.Advance(30 * time.Minute)
	if f := fetched(e.c.OffsetFetch(rc, fetchReq("g", "t", 0))); f[0] != -1 {
		t.Errorf("offset of a group empty for over an hour not expired: %v", f)
	}
	if lg := e.c.ListGroups(kmsg.NewPtrListGroupsRequest()); len(lg.Groups) != 0 {
		t.Errorf("expired groups still listed: %+v", lg.Groups)
	}
	// The expiry is in the log: a reload agrees.
	e.restart()
	if lg := e.c.ListGroups(kmsg.NewPtrListGroupsRequest()); len(lg.Groups) != 0 {
		t.Errorf("expired groups back after reload: %+v", lg.Groups)
	}
}

func TestDescribeListDeleteGroups(t *testing.T) {
	e := newEnv(t)
	e.topics.add("t", 1)
	ids := e.stableGroup("live", 2)
	e.c.OffsetCommit(rc, commitReq(9, "idle", "", -1, "t", map[int32]int64{0: 3}))

	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Version = 6
	d.Groups = []string{"live", "idle", "none", ""}
	dr := e.c.DescribeGroups(d)
	live := dr.Groups[0]
	if live.State != "Stable" || live.Protocol != "range" || live.ProtocolType != "consumer" || len(live.Members) != 2 ||
		live.Members[0].MemberID != ids[0] || string(live.Members[0].MemberAssignment) != "assignment-"+ids[0] {
		t.Errorf("describe live: %+v", live)
	}
	if dr.Groups[1].State != "Empty" || dr.Groups[1].ErrorCode != 0 {
		t.Errorf("describe idle: %+v", dr.Groups[1])
	}
	if dr.Groups[2].State != "Dead" || dr.Groups[2].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("describe missing (v6): %+v", dr.Groups[2])
	}
	if dr.Groups[3].ErrorCode != kerr.InvalidGroupID.Code {
		t.Errorf("describe empty id: %+v", dr.Groups[3])
	}
	d.Version = 5
	if g := e.c.DescribeGroups(d).Groups[2]; g.State != "Dead" || g.ErrorCode != 0 {
		t.Errorf("describe missing (v5): %+v", g)
	}

	l := kmsg.NewPtrListGroupsRequest()
	l.Version = 5
	l.StatesFilter = []string{"stable"} // case-insensitive
	if lr := e.c.ListGroups(l); len(lr.Groups) != 1 || lr.Groups[0].Group != "live" || lr.Groups[0].GroupType != "classic" {
		t.Errorf("list Stable: %+v", lr.Groups)
	}
	l.StatesFilter = []string{"Empty", "PreparingRebalance"}
	if lr := e.c.ListGroups(l); len(lr.Groups) != 1 || lr.Groups[0].Group != "idle" {
		t.Errorf("list Empty: %+v", lr.Groups)
	}
	l.StatesFilter, l.TypesFilter = nil, []string{"consumer"}
	if lr := e.c.ListGroups(l); len(lr.Groups) != 0 {
		t.Errorf("list consumer-type groups: %+v", lr.Groups)
	}

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version = 2
	del.Groups = []string{"live", "idle", "none", ""}
	delr := e.c.DeleteGroups(del)
	want := []int16{kerr.NonEmptyGroup.Code, 0, kerr.GroupIDNotFound.Code, kerr.InvalidGroupID.Code}
	for i, g := range delr.Groups {
		if g.ErrorCode != want[i] {
			t.Errorf("delete %q: %d, want %d", g.Group, g.ErrorCode, want[i])
		}
	}
	if f := fetched(e.c.OffsetFetch(rc, fetchReq("idle", "t", 0))); f[0] != -1 {
		t.Errorf("deleted group's offsets remain: %v", f)
	}
	e.restart()
	if lr := e.c.ListGroups(kmsg.NewPtrListGroupsRequest()); len(lr.Groups) != 1 || lr.Groups[0].Group != "live" {
		t.Errorf("after reload: %+v", lr.Groups)
	}
}

func TestLoadingAndNotCoordinator(t *testing.T) {
	clock := newFakeClock()
	log, topics := newMemLog(), newFakeTopics()
	topics.add("t", 1)
	c := New(testConfig(clock), log, topics)
	defer c.Close()
	p := c.PartitionFor("g")
	// Not loaded: this broker is not the coordinator.
	if r := recv(t, c.joinGroup(rc, joinReq("g", ""))); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Errorf("before load: %d, want NOT_COORDINATOR", r.ErrorCode)
	}
	log.block = make(chan struct{})
	done := make(chan error)
	go func() { done <- c.Load(p) }()
	waitFor(t, func() bool {
		s := c.shards[p]
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.status == shardLoading
	})
	// Requests meanwhile are told the coordinator is loading.
	if code := c.Heartbeat(rc, &kmsg.HeartbeatRequest{Group: "g", MemberID: "m"}).ErrorCode; code != kerr.CoordinatorLoadInProgress.Code {
		t.Errorf("while loading: %d, want COORDINATOR_LOAD_IN_PROGRESS", code)
	}
	if r := c.OffsetCommit(rc, commitReq(9, "g", "", -1, "t", map[int32]int64{0: 1})); codes(r)[0] != kerr.CoordinatorLoadInProgress.Code {
		t.Errorf("commit while loading: %v", codes(r))
	}
	if r := c.ListGroups(kmsg.NewPtrListGroupsRequest()); r.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Errorf("list while loading: %d", r.ErrorCode)
	}
	close(log.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code := c.Heartbeat(rc, &kmsg.HeartbeatRequest{Group: "g", MemberID: "m"}).ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Errorf("after load: %d", code)
	}
	c.Unload(p)
	if code := c.Heartbeat(rc, &kmsg.HeartbeatRequest{Group: "g", MemberID: "m"}).ErrorCode; code != kerr.NotCoordinator.Code {
		t.Errorf("after unload: %d, want NOT_COORDINATOR", code)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met")
}
