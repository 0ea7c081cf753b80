package cluster

import (
	"errors"
	"reflect"
	"testing"
)

// statuses builds a status function: ids listed as alive or shutting down,
// everyone else dead.
func statuses(alive []int32, shuttingDown ...int32) func(int32) brokerStatus {
	return func(id int32) brokerStatus {
		for _, a := range alive {
			if a == id {
				return brokerAlive
			}
		}
		for _, s := range shuttingDown {
			if s == id {
				return brokerShuttingDown
			}
		}
		return brokerDead
	}
}

func ps(replicas, isr []int32, leader, leaderEpoch, partitionEpoch int32) PartitionState {
	return PartitionState{Replicas: replicas, ISR: isr, Leader: leader, LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch}
}

func ids(v ...int32) []int32 { return v }

func TestElectLeader(t *testing.T) {
	cases := []struct {
		name         string
		cur          PartitionState
		status       func(int32) brokerStatus
		unclean      bool
		want         PartitionState
		wantChanged  bool
		wantUnclean  bool
		wantNoChange bool
	}{
		{
			name:   "all alive: nothing to do",
			cur:    ps(ids(1, 2, 3), ids(1, 2, 3), 1, 5, 9),
			status: statuses(ids(1, 2, 3)),
			want:   ps(ids(1, 2, 3), ids(1, 2, 3), 1, 5, 9),
		},
		{
			name:        "leader dies: next ISR member in assignment order leads",
			cur:         ps(ids(1, 2, 3), ids(1, 3, 2), 1, 5, 9),
			status:      statuses(ids(2, 3)),
			want:        ps(ids(1, 2, 3), ids(3, 2), 2, 6, 10),
			wantChanged: true,
		},
		{
			name:        "follower dies: leaves the ISR, leader epoch unchanged",
			cur:         ps(ids(1, 2, 3), ids(1, 2, 3), 1, 5, 9),
			status:      statuses(ids(1, 2)),
			want:        ps(ids(1, 2, 3), ids(1, 2), 1, 5, 10),
			wantChanged: true,
		},
		{
			name:        "leader dies, only out-of-sync replica alive: no leader, ISR kept",
			cur:         ps(ids(1, 2), ids(1), 1, 5, 9),
			status:      statuses(ids(2)),
			want:        ps(ids(1, 2), ids(1), NoLeader, 6, 10),
			wantChanged: true,
		},
		{
			name:        "unclean election allowed: out-of-sync replica leads alone",
			cur:         ps(ids(1, 2), ids(1), 1, 5, 9),
			status:      statuses(ids(2)),
			unclean:     true,
			want:        ps(ids(1, 2), ids(2), 2, 6, 10),
			wantChanged: true,
			wantUnclean: true,
		},
		{
			name:        "last ISR member returns: it leads again",
			cur:         ps(ids(1, 2), ids(1), NoLeader, 6, 10),
			status:      statuses(ids(1, 2)),
			want:        ps(ids(1, 2), ids(1), 1, 7, 11),
			wantChanged: true,
		},
		{
			name:   "no leader and nobody alive: unchanged",
			cur:    ps(ids(1, 2), ids(1), NoLeader, 6, 10),
			status: statuses(nil),
			want:   ps(ids(1, 2), ids(1), NoLeader, 6, 10),
		},
		{
			name:        "controlled shutdown of the leader: leadership moves, it leaves the ISR",
			cur:         ps(ids(1, 2, 3), ids(1, 2, 3), 1, 5, 9),
			status:      statuses(ids(2, 3), 1),
			want:        ps(ids(1, 2, 3), ids(2, 3), 2, 6, 10),
			wantChanged: true,
		},
		{
			name:   "controlled shutdown of the only ISR member: it keeps leading",
			cur:    ps(ids(1, 2), ids(1), 1, 5, 9),
			status: statuses(ids(2), 1),
			want:   ps(ids(1, 2), ids(1), 1, 5, 9),
		},
		{
			name:        "dead ISR member removed, shutting-down one kept while no live member",
			cur:         ps(ids(1, 2, 3), ids(1, 2), 1, 5, 9),
			status:      statuses(ids(3), 1),
			want:        ps(ids(1, 2, 3), ids(1), 1, 5, 10),
			wantChanged: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, changed, unclean := electLeader(c.cur, c.status, c.unclean)
			if !reflect.DeepEqual(got, c.want) || changed != c.wantChanged || unclean != c.wantUnclean {
				t.Fatalf("got %+v changed=%v unclean=%v\nwant %+v changed=%v unclean=%v",
					got, changed, unclean, c.want, c.wantChanged, c.wantUnclean)
			}
		})
	}
}

func TestElectLeaderDoesNotMutateInput(t *testing.T) {
	cur := ps(ids(1, 2, 3), ids(1, 2, 3), 1, 5, 9)
	electLeader(cur, statuses(ids(3)), true)
	if !reflect.DeepEqual(cur, ps(ids(1, 2, 3), ids(1, 2, 3), 1, 5, 9)) {
		t.Fatalf("input changed: %+v", cur)
	}
}

func TestPreferredLeader(t *testing.T) {
	cur := ps(ids(1, 2, 3), ids(2, 3, 1), 2, 5, 9)
	got, changed := preferredLeader(cur, statuses(ids(1, 2, 3)))
	if !changed || got.Leader != 1 || got.LeaderEpoch != 6 || got.PartitionEpoch != 10 {
		t.Fatalf("got %+v changed=%v", got, changed)
	}
	// Not in the ISR, or not alive, or shutting down: stays.
	for _, c := range []struct {
		cur    PartitionState
		status func(int32) brokerStatus
	}{
		{ps(ids(1, 2, 3), ids(2, 3), 2, 5, 9), statuses(ids(1, 2, 3))},
		{cur, statuses(ids(2, 3))},
		{cur, statuses(ids(2, 3), 1)},
		{ps(ids(1, 2, 3), ids(1, 2, 3), 1, 5, 9), statuses(ids(1, 2, 3))},
	} {
		if got, changed := preferredLeader(c.cur, c.status); changed {
			t.Fatalf("%+v: moved to %+v", c.cur, got)
		}
	}
}

func TestApplyISRChange(t *testing.T) {
	cur := ps(ids(1, 2, 3), ids(1, 2), 1, 5, 9)
	alive := statuses(ids(1, 2, 3))
	req := func(isr ...int32) ISRChange {
		return ISRChange{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 9, NewISR: isr}
	}
	// Expand, in assignment order whatever the request's order.
	got, changed, err := applyISRChange(cur, req(3, 1, 2), alive)
	if err != nil || !changed || !reflect.DeepEqual(got.ISR, ids(1, 2, 3)) || got.PartitionEpoch != 10 || got.LeaderEpoch != 5 {
		t.Fatalf("expand: %+v %v %v", got, changed, err)
	}
	// Shrink.
	got, changed, err = applyISRChange(cur, req(1), alive)
	if err != nil || !changed || !reflect.DeepEqual(got.ISR, ids(1)) || got.PartitionEpoch != 10 {
		t.Fatalf("shrink: %+v %v %v", got, changed, err)
	}
	// Unchanged.
	if _, changed, err := applyISRChange(cur, req(2, 1), alive); err != nil || changed {
		t.Fatalf("no-op: %v %v", changed, err)
	}
	// A member that died may stay in a shrink request; adding a dead or
	// shutting-down broker is refused.
	if _, _, err := applyISRChange(cur, req(1, 2), statuses(ids(1))); err != nil {
		t.Fatalf("keeping a dead member: %v", err)
	}
	errCases := []struct {
		req    ISRChange
		status func(int32) brokerStatus
		want   error
	}{
		{ISRChange{Leader: 2, LeaderEpoch: 5, PartitionEpoch: 9, NewISR: ids(2)}, alive, ErrNotLeader},
		{ISRChange{Leader: 1, LeaderEpoch: 4, PartitionEpoch: 9, NewISR: ids(1)}, alive, ErrFencedLeaderEpoch},
		{ISRChange{Leader: 1, LeaderEpoch: 5, PartitionEpoch: 8, NewISR: ids(1)}, alive, ErrStalePartitionEpoch},
		{req(), alive, ErrInvalidISR},
		{req(2), alive, ErrInvalidISR},
		{req(1, 1), alive, ErrInvalidISR},
		{req(1, 4), alive, ErrIneligibleReplica},
		{req(1, 2, 3), statuses(ids(1, 2)), ErrIneligibleReplica},
		{req(1, 2, 3), statuses(ids(1, 2), 3), ErrIneligibleReplica},
	}
	for _, c := range errCases {
		if _, _, err := applyISRChange(cur, c.req, c.status); !errors.Is(err, c.want) {
			t.Errorf("%+v: got %v, want %v", c.req, err, c.want)
		}
	}
}

func snapshotOf(brokers []int32, topics map[string][]PartitionState) *Snapshot {
	s := &Snapshot{Brokers: map[int32]BrokerRegistration{}, Topics: map[string]*TopicState{},
		BrokerConfigs: map[int32]map[string]string{}}
	for _, id := range brokers {
		s.Brokers[id] = BrokerRegistration{NodeID: id}
	}
	for name, parts := range topics {
		s.Topics[name] = &TopicState{Name: name, Partitions: parts}
	}
	return s
}

func TestPlanRebalancesPreferredLeaders(t *testing.T) {
	// Broker 1 came back: it is preferred for two partitions and leads
	// neither (100% imbalance); broker 2 leads everything.
	s := snapshotOf(ids(1, 2), map[string][]PartitionState{"t": {
		ps(ids(1, 2), ids(1, 2), 2, 3, 3),
		ps(ids(2, 1), ids(2, 1), 2, 3, 3),
		ps(ids(1, 2), ids(2), 2, 3, 3), // 1 not in ISR yet: stays
	}})
	cfg := DefaultControllerConfig()
	if got := plan(s, cfg, 1, false); len(got) != 0 {
		t.Fatalf("without rebalance: %+v", got)
	}
	got := plan(s, cfg, 1, true)
	if len(got) != 1 || got[0].partition != 0 || got[0].next.Leader != 1 || !got[0].preferred {
		t.Fatalf("rebalance: %+v", got)
	}
	// Under the threshold: nothing moves.
	cfg.ImbalancePerBrokerPercentage = 100
	if got := plan(s, cfg, 1, true); len(got) != 0 {
		t.Fatalf("under threshold: %+v", got)
	}
}

func TestUncleanAllowedPrecedence(t *testing.T) {
	s := snapshotOf(ids(1), nil)
	topic := &TopicState{}
	cfg := ControllerConfig{UncleanLeaderElection: false}
	if uncleanAllowed(s, topic, cfg, 1) {
		t.Fatal("static default false")
	}
	s.BrokerConfigs[DefaultBrokerConfigs] = map[string]string{"unclean.leader.election.enable": "true"}
	if !uncleanAllowed(s, topic, cfg, 1) {
		t.Fatal("cluster-wide dynamic config true")
	}
	s.BrokerConfigs[1] = map[string]string{"unclean.leader.election.enable": "false"}
	if uncleanAllowed(s, topic, cfg, 1) {
		t.Fatal("per-broker dynamic config false")
	}
	topic.Configs = map[string]string{"unclean.leader.election.enable": "true"}
	if !uncleanAllowed(s, topic, cfg, 1) {
		t.Fatal("topic override true")
	}
}

func TestSnapshotElectLeaders(t *testing.T) {
	s := snapshotOf(ids(1, 2), nil)
	if next, ok := s.ElectPreferred(ps(ids(1, 2), ids(1, 2), 2, 1, 1)); !ok || next.Leader != 1 {
		t.Fatalf("preferred: %+v %v", next, ok)
	}
	if _, ok := s.ElectUnclean(ps(ids(1, 2), ids(1, 2), 2, 1, 1)); ok {
		t.Fatal("unclean election with a live leader")
	}
	if next, ok := s.ElectUnclean(ps(ids(3, 2), ids(3), NoLeader, 1, 1)); !ok || next.Leader != 2 || !reflect.DeepEqual(next.ISR, ids(2)) {
		t.Fatalf("unclean: %+v %v", next, ok)
	}
	if _, ok := s.ElectUnclean(ps(ids(3, 4), ids(3), NoLeader, 1, 1)); ok {
		t.Fatal("unclean election without a live replica")
	}
}
