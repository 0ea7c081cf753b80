package group

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stableGroup brings members into a Stable group of generation 1, the
// first one leading, and returns their member ids.
func (e *env) stableGroup(group string, n int) []string {
	e.t.Helper()
	var ids []string
	var chans []<-chan *kmsg.JoinGroupResponse
	for range n {
		id, ch := e.joinNew(group)
		ids, chans = append(ids, id), append(chans, ch)
	}
	// Each member added during the initial delay extends it once more.
	for i := 0; i < 10 && len(chans[0]) == 0; i++ {
		e.clock.Advance(e.cfg.InitialRebalanceDelay)
	}
	assignments := map[string][]byte{}
	for i, ch := range chans {
		r := recv(e.t, ch)
		if r.ErrorCode != 0 || r.Generation != 1 || r.LeaderID != ids[0] {
			e.t.Fatalf("join %d: error %d generation %d leader %s", i, r.ErrorCode, r.Generation, r.LeaderID)
		}
		assignments[ids[i]] = []byte("assignment-" + ids[i])
	}
	var syncs []<-chan *kmsg.SyncGroupResponse
	for i := len(ids) - 1; i >= 1; i-- {
		ch := e.sync(group, ids[i], 1, nil)
		pending(e.t, ch) // followers wait for the leader
		syncs = append(syncs, ch)
	}
	syncs = append(syncs, e.sync(group, ids[0], 1, assignments))
	for _, ch := range syncs {
		if r := recv(e.t, ch); r.ErrorCode != 0 {
			e.t.Fatalf("sync: error %d", r.ErrorCode)
		}
	}
	if st := e.classicState(group); st != "Stable" {
		e.t.Fatalf("state %s after sync, want Stable", st)
	}
	return ids
}

func TestClassicJoinSyncHeartbeat(t *testing.T) {
	e := newEnv(t)
	id1, ch1 := e.joinNew("g")
	// A new group waits group.initial.rebalance.delay.ms for more members.
	pending(t, ch1)
	if st := e.classicState("g"); st != "PreparingRebalance" {
		t.Fatalf("state %s, want PreparingRebalance", st)
	}
	e.clock.Advance(2999 * time.Millisecond)
	pending(t, ch1)
	e.clock.Advance(time.Millisecond)
	r := recv(t, ch1)
	if r.ErrorCode != 0 || r.Generation != 1 || r.LeaderID != id1 || r.MemberID != id1 ||
		len(r.Members) != 1 || *r.Protocol != "range" || *r.ProtocolType != "consumer" {
		t.Fatalf("join response %+v", r)
	}
	if !bytes.Equal(r.Members[0].ProtocolMetadata, consumerMetadata("t")) {
		t.Errorf("leader got metadata %x", r.Members[0].ProtocolMetadata)
	}
	if st := e.classicState("g"); st != "CompletingRebalance" {
		t.Fatalf("state %s, want CompletingRebalance", st)
	}
	// Heartbeats between JoinGroup and SyncGroup are fine.
	if code := e.heartbeat("g", id1, 1); code != 0 {
		t.Errorf("heartbeat in CompletingRebalance: %d", code)
	}
	s := recv(t, e.sync("g", id1, 1, map[string][]byte{id1: []byte("mine")}))
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "mine" || *s.Protocol != "range" {
		t.Fatalf("sync response %+v", s)
	}
	if code := e.heartbeat("g", id1, 1); code != 0 {
		t.Errorf("heartbeat: %d", code)
	}
	// A SyncGroup of a Stable group returns the member's assignment.
	if s := recv(t, e.sync("g", id1, 1, nil)); string(s.MemberAssignment) != "mine" {
		t.Errorf("late sync got %q", s.MemberAssignment)
	}
}

func TestClassicInitialDelayExtendsForNewMembers(t *testing.T) {
	e := newEnv(t)
	_, ch1 := e.joinNew("g")
	e.clock.Advance(2 * time.Second)
	_, ch2 := e.joinNew("g")
	e.clock.Advance(time.Second) // the first delay ends; a member came: wait again
	pending(t, ch1)
	e.clock.Advance(3 * time.Second)
	r1, r2 := recv(t, ch1), recv(t, ch2)
	if r1.Generation != 1 || r2.Generation != 1 || len(r1.Members)+len(r2.Members) != 2 {
		t.Fatalf("responses %+v %+v", r1, r2)
	}
}

func TestClassicMemberJoiningStableGroupRebalances(t *testing.T) {
	e := newEnv(t)
	ids := e.stableGroup("g", 1)
	id2, ch2 := e.joinNew("g")
	pending(t, ch2)
	if code := e.heartbeat("g", ids[0], 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("leader heartbeat during rebalance: %d", code)
	}
	ch1 := e.c.joinGroup(rc, joinReq("g", ids[0]))
	r1, r2 := recv(t, ch1), recv(t, ch2)
	if r1.Generation != 2 || r2.Generation != 2 || r1.LeaderID != ids[0] || r2.LeaderID != ids[0] {
		t.Fatalf("generation %d/%d leader %s/%s", r1.Generation, r2.Generation, r1.LeaderID, r2.LeaderID)
	}
	if len(r1.Members) != 2 || len(r2.Members) != 0 {
		t.Fatalf("leader got %d members, follower %d", len(r1.Members), len(r2.Members))
	}
	// Only the leader's assignment counts; the follower waits for it.
	f := e.sync("g", id2, 2, map[string][]byte{id2: []byte("ignored")})
	pending(t, f)
	l := e.sync("g", ids[0], 2, map[string][]byte{ids[0]: []byte("a"), id2: []byte("b")})
	if r := recv(t, f); string(r.MemberAssignment) != "b" {
		t.Errorf("follower got %q", r.MemberAssignment)
	}
	if r := recv(t, l); string(r.MemberAssignment) != "a" {
		t.Errorf("leader got %q", r.MemberAssignment)
	}
}

func TestClassicErrors(t *testing.T) {
	e := newEnv(t)
	ids := e.stableGroup("g", 2)

	join := func(mod func(*kmsg.JoinGroupRequest)) int16 {
		r := joinReq("g", ids[1])
		mod(r)
		return recv(t, e.c.joinGroup(rc, r)).ErrorCode
	}
	syncCode := func(mod func(*kmsg.SyncGroupRequest)) int16 {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version, r.Group, r.MemberID, r.Generation = 5, "g", ids[1], 1
		mod(r)
		return recv(t, e.c.syncGroup(r)).ErrorCode
	}
	for _, c := range []struct {
		name string
		got  int16
		want *kerr.Error
	}{
		{"join empty group id", join(func(r *kmsg.JoinGroupRequest) { r.Group = "" }), kerr.InvalidGroupID},
		{"join session too short", join(func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 999 }), kerr.InvalidSessionTimeout},
		{"join session too long", join(func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 60001 }), kerr.InvalidSessionTimeout},
		{"join no protocols", join(func(r *kmsg.JoinGroupRequest) { r.Protocols = nil }), kerr.InconsistentGroupProtocol},
		{"join other protocol type", join(func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "connect" }), kerr.InconsistentGroupProtocol},
		{"join unsupported protocol", join(func(r *kmsg.JoinGroupRequest) { r.Protocols[0].Name = "roundrobin" }), kerr.InconsistentGroupProtocol},
		{"join unknown member", join(func(r *kmsg.JoinGroupRequest) { r.MemberID = "nobody" }), kerr.UnknownMemberID},
		{"join unknown group with member id", join(func(r *kmsg.JoinGroupRequest) { r.Group = "other" }), kerr.UnknownMemberID},
		{"sync wrong generation", syncCode(func(r *kmsg.SyncGroupRequest) { r.Generation = 7 }), kerr.IllegalGeneration},
		{"sync unknown member", syncCode(func(r *kmsg.SyncGroupRequest) { r.MemberID = "nobody" }), kerr.UnknownMemberID},
		{"sync unknown group", syncCode(func(r *kmsg.SyncGroupRequest) { r.Group = "other" }), kerr.UnknownMemberID},
		{"sync empty group id", syncCode(func(r *kmsg.SyncGroupRequest) { r.Group = "" }), kerr.InvalidGroupID},
		{"sync other protocol", syncCode(func(r *kmsg.SyncGroupRequest) { r.Protocol = kmsg.StringPtr("roundrobin") }), kerr.InconsistentGroupProtocol},
		{"sync other protocol type", syncCode(func(r *kmsg.SyncGroupRequest) { r.ProtocolType = kmsg.StringPtr("connect") }), kerr.InconsistentGroupProtocol},
		{"sync static unknown", syncCode(func(r *kmsg.SyncGroupRequest) { r.InstanceID = kmsg.StringPtr("i") }), kerr.UnknownMemberID},
		{"heartbeat wrong generation", e.heartbeat("g", ids[1], 0), kerr.IllegalGeneration},
		{"heartbeat unknown member", e.heartbeat("g", "nobody", 1), kerr.UnknownMemberID},
		{"heartbeat unknown group", e.heartbeat("other", ids[1], 1), kerr.UnknownMemberID},
		{"heartbeat empty group", e.heartbeat("", ids[1], 1), kerr.InvalidGroupID},
	} {
		if c.got != c.want.Code {
			t.Errorf("%s: error %d, want %s", c.name, c.got, c.want.Message)
		}
	}
	// None of it disturbed the group.
	if st := e.classicState("g"); st != "Stable" {
		t.Errorf("state %s after bad requests, want Stable", st)
	}
	for _, id := range ids {
		if code := e.heartbeat("g", id, 1); code != 0 {
			t.Errorf("heartbeat of %s after bad requests: %d", id, code)
		}
	}
}

func TestClassicSessionTimeoutRemovesMember(t *testing.T) {
	e := newEnv(t)
	ids := e.stableGroup("g", 2)
	// ids[0] heartbeats every 3s; ids[1] stays silent past its 10s session.
	for range 3 {
		e.clock.Advance(3 * time.Second)
		if code := e.heartbeat("g", ids[0], 1); code != 0 {
			t.Fatalf("heartbeat: %d", code)
		}
	}
	e.clock.Advance(time.Second + time.Millisecond)
	if code := e.heartbeat("g", ids[0], 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat after the other's session ended: %d, want REBALANCE_IN_PROGRESS", code)
	}
	r := recv(t, e.c.joinGroup(rc, joinReq("g", ids[0])))
	if r.Generation != 2 || len(r.Members) != 1 || r.Members[0].MemberID != ids[0] {
		t.Fatalf("rejoin: %+v", r)
	}
	if code := e.heartbeat("g", ids[1], 1); code != kerr.UnknownMemberID.Code {
		t.Errorf("removed member's heartbeat: %d, want UNKNOWN_MEMBER_ID", code)
	}
}

func TestClassicJoinWithoutHeartbeats(t *testing.T) {
	e := newEnv(t)
	// A client takes its member id (KIP-394) and is never heard of again.
	r := recv(t, e.c.joinGroup(rc, joinReq("g", "")))
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Fatalf("first join %+v", r)
	}
	e.withShard("g", func(s *shard) {
		if !s.classic["g"].isPending(r.MemberID) {
			t.Error("member id not pending")
		}
	})
	e.clock.Advance(10 * time.Second)
	e.withShard("g", func(s *shard) {
		if g := s.classic["g"]; g.isPending(r.MemberID) || len(g.members) != 0 || g.state != stateEmpty {
			t.Errorf("after the session timeout: pending %v members %d state %s", g.isPending(r.MemberID), len(g.members), g.state)
		}
	})
	// A member that joined and synced but never heartbeats is removed and
	// the group is left Empty at the next generation.
	ids := e.stableGroup("h", 1)
	e.clock.Advance(10 * time.Second)
	if st := e.classicState("h"); st != "Empty" {
		t.Errorf("state %s, want Empty", st)
	}
	if code := e.heartbeat("h", ids[0], 1); code != kerr.UnknownMemberID.Code {
		t.Errorf("heartbeat of the removed member: %d", code)
	}
	e.withShard("h", func(s *shard) {
		if g := s.classic["h"]; g.generation != 2 || g.numAwaitingJoin != 0 || len(g.pendingSync) != 0 {
			t.Errorf("generation %d awaiting %d pendingSync %d", g.generation, g.numAwaitingJoin, len(g.pendingSync))
		}
	})
}

func TestClassicRebalanceTimeoutDropsMembersThatDoNotRejoin(t *testing.T) {
	e := newEnv(t)
	ids := e.stableGroup("g", 2)
	// The leader rejoins; the follower keeps heartbeating but never does.
	ch := e.c.joinGroup(rc, joinReq("g", ids[0]))
	for range 6 {
		e.clock.Advance(3 * time.Second)
		if code := e.heartbeat("g", ids[1], 1); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("follower heartbeat: %d", code)
		}
		pending(t, ch)
	}
	e.clock.Advance(2 * time.Second) // 20s: the rebalance timeout
	r := recv(t, ch)
	if r.Generation != 2 || len(r.Members) != 1 {
		t.Fatalf("join after rebalance timeout: %+v", r)
	}
	if code := e.heartbeat("g", ids[1], 1); code != kerr.UnknownMemberID.Code {
		t.Errorf("dropped member: %d", code)
	}
}

func TestClassicMemberThatDoesNotSyncIsRemoved(t *testing.T) {
	e := newEnv(t)
	id1, ch1 := e.joinNew("g")
	id2, ch2 := e.joinNew("g")
	e.clock.Advance(6 * time.Second) // the second member extended the initial delay
	recv(t, ch1)
	recv(t, ch2)
	leaderSync := e.sync("g", id1, 1, map[string][]byte{id1: []byte("a"), id2: []byte("b")})
	if r := recv(t, leaderSync); r.ErrorCode != 0 {
		t.Fatal(r.ErrorCode)
	}
	// id2 never syncs (but heartbeats): after the rebalance timeout it
	// is removed and the group rebalances.
	for range 6 {
		e.clock.Advance(3 * time.Second)
		e.heartbeat("g", id1, 1)
		e.heartbeat("g", id2, 1)
	}
	e.clock.Advance(2 * time.Second)
	if code := e.heartbeat("g", id2, 1); code != kerr.UnknownMemberID.Code {
		t.Errorf("member that never synced: %d", code)
	}
	if code := e.heartbeat("g", id1, 1); code != kerr.RebalanceInProgress.Code {
		t.Errorf("remaining member: %d, want REBALANCE_IN_PROGRESS", code)
	}
}

func TestClassicLeaveGroup(t *testing.T) {
	e := newEnv(t)
	ids := e.stableGroup("g", 3)
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version, req.Group = 5, "g"
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[1]}, {MemberID: "nobody"}, {MemberID: ids[2]}}
	resp := e.c.LeaveGroup(rc, req)
	if resp.ErrorCode != 0 || len(resp.Members) != 3 || resp.Members[0].ErrorCode != 0 ||
		resp.Members[1].ErrorCode != kerr.UnknownMemberID.Code || resp.Members[2].ErrorCode != 0 {
		t.Fatalf("leave response %+v", resp)
	}
	if code := e.heartbeat("g", ids[0], 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("remaining member: %d", code)
	}
	r := recv(t, e.c.joinGroup(rc, joinReq("g", ids[0])))
	if len(r.Members) != 1 {
		t.Errorf("after leave the leader sees %d members", len(r.Members))
	}
	// v0-v2 carry one member and answer at the top level.
	old := kmsg.NewPtrLeaveGroupRequest()
	old.Version, old.Group, old.MemberID = 1, "g", "nobody"
	if r := e.c.LeaveGroup(rc, old); r.ErrorCode != kerr.UnknownMemberID.Code || len(r.Members) != 0 {
		t.Errorf("v1 leave of unknown member: %+v", r)
	}
	old.Group = "other"
	if r := e.c.LeaveGroup(rc, old); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("leave of unknown group: %d", r.ErrorCode)
	}
	// The last member leaving empties the group at a new generation.
	recv(t, e.sync("g", ids[0], 2, nil))
	old.Group, old.MemberID = "g", ids[0]
	if r := e.c.LeaveGroup(rc, old); r.ErrorCode != 0 {
		t.Fatalf("leave: %d", r.ErrorCode)
	}
	e.withShard("g", func(s *shard) {
		if g := s.classic["g"]; g.state != stateEmpty || g.generation != 3 || len(g.members) != 0 {
			t.Errorf("state %s generation %d members %d", g.state, g.generation, len(g.members))
		}
	})
}

func staticJoinReq(group, member, instance string) *kmsg.JoinGroupRequest {
	r := joinReq(group, member)
	r.InstanceID = &instance
	return r
}

func TestClassicStaticMemberRestartKeepsAssignmentWithoutRebalance(t *testing.T) {
	e := newEnv(t)
	// Static members join at once: no MEMBER_ID_REQUIRED round trip.
	ch1 := e.c.joinGroup(rc, staticJoinReq("g", "", "i1"))
	ch2 := e.c.joinGroup(rc, staticJoinReq("g", "", "i2"))
	e.clock.Advance(6 * time.Second) // the second member extended the initial delay
	r1, r2 := recv(t, ch1), recv(t, ch2)
	if r1.ErrorCode != 0 || r2.ErrorCode != 0 {
		t.Fatalf("static joins: %d %d", r1.ErrorCode, r2.ErrorCode)
	}
	leader, follower := r1.MemberID, r2.MemberID
	f := e.sync("g", follower, 1, nil)
	recv(t, e.sync("g", leader, 1, map[string][]byte{leader: []byte("L"), follower: []byte("F")}))
	recv(t, f)

	// The follower's process restarts: it joins with its instance id and
	// no member id.
	r := recv(t, e.c.joinGroup(rc, staticJoinReq("g", "", "i2")))
	if r.ErrorCode != 0 || r.MemberID == follower || r.Generation != 1 || r.SkipAssignment {
		t.Fatalf("restarted follower: %+v", r)
	}
	if st := e.classicState("g"); st != "Stable" {
		t.Fatalf("state %s, want Stable (no rebalance)", st)
	}
	if code := e.heartbeat("g", leader, 1); code != 0 {
		t.Errorf("the other member sees %d, want no rebalance", code)
	}
	if s := recv(t, e.sync("g", r.MemberID, 1, nil)); string(s.MemberAssignment) != "F" {
		t.Errorf("restarted member's assignment %q, want F", s.MemberAssignment)
	}
	// The old process, if alive, is fenced.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = 4, "g", follower, 1, kmsg.StringPtr("i2")
	if code := e.c.Heartbeat(rc, hb).ErrorCode; code != kerr.FencedInstanceID.Code {
		t.Errorf("old member id: %d, want FENCED_INSTANCE_ID", code)
	}

	// The leader restarts: JoinGroup v9 tells it to skip the assignment
	// (KIP-814) and gives it the member list.
	r = recv(t, e.c.joinGroup(rc, staticJoinReq("g", "", "i1")))
	if r.ErrorCode != 0 || !r.SkipAssignment || r.LeaderID != r.MemberID || len(r.Members) != 2 {
		t.Fatalf("restarted leader: %+v", r)
	}
	if st := e.classicState("g"); st != "Stable" {
		t.Fatalf("state %s after leader restart", st)
	}
	// The persisted group names the new member ids.
	e.restart()
	e.withShard("g", func(s *shard) {
		g := s.classic["g"]
		if g.staticMembers["i1"] != r.MemberID || string(g.members[r.MemberID].assignment) != "L" {
			t.Errorf("after reload: static %v, assignment %q", g.staticMembers, g.members[r.MemberID].assignment)
		}
	})
}

func TestClassicStaticMemberWithNewProtocolsRebalances(t *testing.T) {
	e := newEnv(t)
	ch1 := e.c.joinGroup(rc, staticJoinReq("g", "", "i1"))
	e.clock.Advance(3 * time.Second)
	r1 := recv(t, ch1)
	recv(t, e.sync("g", r1.MemberID, 1, nil))
	req := staticJoinReq("g", "", "i1")
	// Still supporting range (or it could not join), but preferring sticky.
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "sticky", Metadata: consumerMetadata("t")}, {Name: "range", Metadata: consumerMetadata("t")}}
	r := recv(t, e.c.joinGroup(rc, req))
	if r.Generation != 2 || *r.Protocol != "sticky" {
		t.Fatalf("join with a new protocol: %+v", r)
	}
}

func TestClassicOversizedMetadataFailsSyncAndRecovers(t *testing.T) {
	e := newEnv(t)
	big := joinReq("g", "")
	big.Protocols[0].Metadata = make([]byte, 1<<20)
	r := recv(t, e.c.joinGroup(rc, big))
	big.MemberID = r.MemberID
	ch := e.c.joinGroup(rc, big)
	e.clock.Advance(3 * time.Second)
	if r := recv(t, ch); r.ErrorCode != 0 || len(r.Members[0].ProtocolMetadata) != 1<<20 {
		t.Fatalf("join with 1 MiB metadata: %d", r.ErrorCode)
	}
	// The group's record would exceed __consumer_offsets'
	// max.message.bytes: Kafka's coordinator answers UNKNOWN_SERVER_ERROR
	// and the group rebalances.
	if s := recv(t, e.sync("g", r.MemberID, 1, map[string][]byte{r.MemberID: []byte("a")})); s.ErrorCode != kerr.UnknownServerError.Code {
		t.Fatalf("sync: %d, want UNKNOWN_SERVER_ERROR", s.ErrorCode)
	}
	if st := e.classicState("g"); st != "PreparingRebalance" {
		t.Fatalf("state %s, want PreparingRebalance", st)
	}
	if n := len(e.log.parts[e.c.PartitionFor("g")]); n != 1 { // only the group's creation
		t.Errorf("%d batches written, want 1", n)
	}
	small := joinReq("g", r.MemberID)
	j := recv(t, e.c.joinGroup(rc, small))
	if j.Generation != 2 {
		t.Fatalf("rejoin: %+v", j)
	}
	if s := recv(t, e.sync("g", r.MemberID, 2, map[string][]byte{r.MemberID: []byte("a")})); s.ErrorCode != 0 {
		t.Fatalf("sync after rejoin: %d", s.ErrorCode)
	}
}

func TestClassicGroupMaxSize(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxGroupSize = 1 })
	e.stableGroup("g", 1)
	r := recv(t, e.c.joinGroup(rc, joinReq("g", "")))
	if r.ErrorCode != kerr.GroupMaxSizeReached.Code || r.MemberID != "" {
		t.Errorf("join beyond group.max.size: %+v", r)
	}
}

func TestClassicJoinV3GetsMemberIDAtOnce(t *testing.T) {
	e := newEnv(t)
	req := joinReq("g", "")
	req.Version = 3
	ch := e.c.joinGroup(rc, req)
	e.clock.Advance(3 * time.Second)
	if r := recv(t, ch); r.ErrorCode != 0 || r.MemberID == "" || r.Generation != 1 {
		t.Fatalf("v3 join: %+v", r)
	}
}

func TestClassicWriteFailureOnCreate(t *testing.T) {
	e := newEnv(t)
	e.log.setFail(errAppendFailed)
	r := recv(t, e.c.joinGroup(rc, joinReq("g", "")))
	if r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("join with a failing log: %d", r.ErrorCode)
	}
	if st := e.classicState("g"); st != "" {
		t.Errorf("group exists (%s) although its creation was not written", st)
	}
}

func TestClassicFollowerRejoinWithoutChangeKeepsGeneration(t *testing.T) {
	e := newEnv(t)
	ids := e.stableGroup("g", 2)
	// A follower that rejoins with the same metadata (a lost response,
	// a restart of its group loop) is told the current generation.
	r := recv(t, e.c.joinGroup(rc, joinReq("g", ids[1])))
	if r.ErrorCode != 0 || r.Generation != 1 || r.LeaderID != ids[0] || len(r.Members) != 0 {
		t.Fatalf("follower rejoin: %+v", r)
	}
	if st := e.classicState("g"); st != "Stable" {
		t.Fatalf("state %s", st)
	}
	// With new metadata it triggers a rebalance.
	changed := joinReq("g", ids[1])
	changed.Protocols[0].Metadata = consumerMetadata("t", "u")
	ch := e.c.joinGroup(rc, changed)
	pending(t, ch)
	if code := e.heartbeat("g", ids[0], 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("leader heartbeat: %d", code)
	}
	lead := recv(t, e.c.joinGroup(rc, joinReq("g", ids[0])))
	if r := recv(t, ch); r.Generation != 2 || lead.Generation != 2 {
		t.Fatalf("generations %d %d", r.Generation, lead.Generation)
	}
	// In CompletingRebalance a JoinGroup retry with the same metadata gets
	// the same answer again, members included for the leader.
	again := recv(t, e.c.joinGroup(rc, joinReq("g", ids[0])))
	if again.Generation != 2 || len(again.Members) != 2 {
		t.Errorf("retried join: %+v", again)
	}
	e.withShard("g", func(s *shard) {
		if g := s.classic["g"]; !g.isSubscribedTo("u") || g.isSubscribedTo("v") {
			t.Errorf("subscribed topics %v", g.subscribedTopics)
		}
	})
}

func TestClassicLeaderGoneDuringJoinElectsNewLeader(t *testing.T) {
	e := newEnv(t)
	ids := e.stableGroup("g", 2)
	// The follower rejoins (new metadata) but the leader never does:
	// after the rebalance timeout the follower leads the next generation.
	changed := joinReq("g", ids[1])
	changed.Protocols[0].Metadata = consumerMetadata("t", "u")
	ch := e.c.joinGroup(rc, changed)
	for range 6 {
		e.clock.Advance(3 * time.Second)
		e.heartbeat("g", ids[0], 1)
	}
	e.clock.Advance(2 * time.Second)
	r := recv(t, ch)
	if r.LeaderID != ids[1] || len(r.Members) != 1 || r.Generation != 2 {
		t.Fatalf("join after the leader failed to rejoin: %+v", r)
	}
}

func TestUnloadAnswersWaitingRequests(t *testing.T) {
	e := newEnv(t)
	_, ch := e.joinNew("g")
	pending(t, ch)
	e.c.Unload(e.c.PartitionFor("g"))
	if r := recv(t, ch); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Errorf("waiting join after unload: %d, want NOT_COORDINATOR", r.ErrorCode)
	}
	// Loading again restores the group from the log.
	if err := e.c.Load(e.c.PartitionFor("g")); err != nil {
		t.Fatal(err)
	}
	if st := e.classicState("g"); st != "Empty" {
		t.Errorf("state after reload: %q", st)
	}
}
