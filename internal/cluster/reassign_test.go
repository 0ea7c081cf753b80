package cluster

import (
	"errors"
	"reflect"
	"testing"
)

// reassigning is a partition state with a reassignment in progress.
func reassigning(replicas, isr []int32, leader, leaderEpoch, partitionEpoch int32, adding, removing []int32) PartitionState {
	st := ps(replicas, isr, leader, leaderEpoch, partitionEpoch)
	st.AddingReplicas, st.RemovingReplicas = adding, removing
	return st
}

func checkState(t *testing.T, what string, got, want PartitionState) {
	t.Helper()
	if !sameState(got, want) || got.LeaderEpoch != want.LeaderEpoch || got.PartitionEpoch != want.PartitionEpoch {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func TestReassign(t *testing.T) {
	cases := []struct {
		name        string
		cur         PartitionState
		target      []int32
		dead        []int32
		want        PartitionState
		wantChanged bool
	}{
		{
			name:        "move: target first, then the removed replicas",
			cur:         ps(ids(1, 2), ids(1, 2), 1, 3, 7),
			target:      ids(2, 3),
			want:        reassigning(ids(2, 3, 1), ids(2, 1), 1, 3, 8, ids(3), ids(1)),
			wantChanged: true,
		},
		{
			name:        "grow",
			cur:         ps(ids(1, 2), ids(1, 2), 2, 3, 7),
			target:      ids(1, 2, 3),
			want:        reassigning(ids(1, 2, 3), ids(1, 2), 2, 3, 8, ids(3), nil),
			wantChanged: true,
		},
		{
			name:        "shrink completes at once, moving a removed leader",
			cur:         ps(ids(1, 2, 3), ids(1, 2, 3), 3, 3, 7),
			target:      ids(2, 1),
			want:        ps(ids(2, 1), ids(2, 1), 2, 4, 8),
			wantChanged: true,
		},
		{
			name:        "shrink to replicas out of the ISR waits for them",
			cur:         ps(ids(1, 2, 3), ids(1), 1, 3, 7),
			target:      ids(2, 3),
			want:        reassigning(ids(2, 3, 1), ids(1), 1, 3, 8, nil, ids(1)),
			wantChanged: true,
		},
		{
			name:        "reorder only: no reassignment recorded",
			cur:         ps(ids(1, 2), ids(1, 2), 1, 3, 7),
			target:      ids(2, 1),
			want:        ps(ids(2, 1), ids(2, 1), 1, 3, 8),
			wantChanged: true,
		},
		{
			name:   "same assignment: nothing to do",
			cur:    ps(ids(1, 2), ids(1, 2), 1, 3, 7),
			target: ids(1, 2),
			want:   ps(ids(1, 2), ids(1, 2), 1, 3, 7),
		},
		{
			name:   "same target as the reassignment in progress",
			cur:    reassigning(ids(2, 3, 1), ids(2, 1), 1, 3, 8, ids(3), ids(1)),
			target: ids(2, 3),
			want:   reassigning(ids(2, 3, 1), ids(2, 1), 1, 3, 8, ids(3), ids(1)),
		},
		{
			name: "a new target replaces the one in progress, from the original replicas",
			// Originally [1 2]; moving to [2 3], and 3 joined the ISR.
			cur:         reassigning(ids(2, 3, 1), ids(2, 3, 1), 1, 3, 9, ids(3), ids(1)),
			target:      ids(1, 4),
			want:        reassigning(ids(1, 4, 2), ids(1, 2), 1, 3, 10, ids(4), ids(2)),
			wantChanged: true,
		},
		{
			name: "a dropped added replica that led gives way",
			cur:  reassigning(ids(2, 3, 1), ids(2, 3, 1), 3, 4, 9, ids(3), ids(1)),
			// 1 is live but the first live in-sync replica of the new
			// assignment in order is 2.
			target:      ids(2, 1),
			want:        ps(ids(2, 1), ids(2, 1), 2, 5, 10),
			wantChanged: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := reassign(tc.cur, tc.target, statusOf(tc.dead...))
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			checkState(t, "reassigned", got, tc.want)
		})
	}
}

// statusOf is a broker status function where the listed brokers are dead
// and every other is alive.
func statusOf(dead ...int32) func(int32) brokerStatus {
	return func(id int32) brokerStatus {
		for _, d := range dead {
			if d == id {
				return brokerDead
			}
		}
		return brokerAlive
	}
}

func TestReassignRejects(t *testing.T) {
	cur := ps(ids(1, 2), ids(1, 2), 1, 3, 7)
	for name, target := range map[string][]int32{
		"empty":     nil,
		"duplicate": ids(2, 3, 2),
		"negative":  ids(2, -1),
	} {
		if _, _, err := reassign(cur, target, statusOf()); !errors.Is(err, ErrInvalidReassignment) {
			t.Errorf("%s: err = %v, want ErrInvalidReassignment", name, err)
		}
	}
	// Only a dropped added replica is in the ISR: nothing in sync would
	// remain.
	cur = reassigning(ids(2, 3, 1), ids(3), 3, 4, 9, ids(3), ids(1))
	if _, _, err := reassign(cur, ids(1, 2), statusOf()); !errors.Is(err, ErrInvalidReassignment) {
		t.Errorf("no in-sync replica left: err = %v", err)
	}
}

func TestCompleteReassignment(t *testing.T) {
	cases := []struct {
		name   string
		cur    PartitionState
		dead   []int32
		want   PartitionState
		wantOK bool
	}{
		{
			name: "not started",
			cur:  ps(ids(1, 2), ids(1, 2), 1, 3, 7),
		},
		{
			name: "an added replica is not in the ISR yet",
			cur:  reassigning(ids(2, 3, 1), ids(2, 1), 1, 3, 8, ids(3), ids(1)),
		},
		{
			name:   "all added replicas in sync: the removed leader gives way",
			cur:    reassigning(ids(2, 3, 1), ids(2, 3, 1), 1, 3, 9, ids(3), ids(1)),
			want:   ps(ids(2, 3), ids(2, 3), 2, 4, 10),
			wantOK: true,
		},
		{
			name:   "a target leader stays, in the same leader epoch",
			cur:    reassigning(ids(2, 3, 1), ids(2, 3, 1), 2, 3, 9, ids(3), ids(1)),
			want:   ps(ids(2, 3), ids(2, 3), 2, 3, 10),
			wantOK: true,
		},
		{
			name:   "the first target replica is dead: the next one leads",
			cur:    reassigning(ids(2, 3, 1), ids(2, 3, 1), 1, 3, 9, ids(3), ids(1)),
			dead:   ids(2),
			want:   ps(ids(2, 3), ids(2, 3), 3, 4, 10),
			wantOK: true,
		},
		{
			name: "no live target replica in the ISR can lead: wait",
			cur:  reassigning(ids(2, 3, 1), ids(2, 3, 1), 1, 3, 9, ids(3), ids(1)),
			dead: ids(2, 3),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := completeReassignment(tc.cur, statusOf(tc.dead...))
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.wantOK, got)
			}
			if ok {
				checkState(t, "completed", got, tc.want)
				if got.Reassigning() {
					t.Errorf("still reassigning: %+v", got)
				}
			}
		})
	}
}

func TestCancelReassignment(t *testing.T) {
	// Originally [1 2], moving to [2 3].
	cur := reassigning(ids(2, 3, 1), ids(2, 1), 1, 3, 8, ids(3), ids(1))
	got, err := cancelReassignment(cur, statusOf())
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, "cancelled", got, ps(ids(2, 1), ids(2, 1), 1, 3, 9))

	// The added replica leads (it joined the ISR and was elected): the
	// first live original replica in the ISR takes over.
	cur = reassigning(ids(2, 3, 1), ids(3, 2, 1), 3, 4, 9, ids(3), ids(1))
	got, err = cancelReassignment(cur, statusOf(2))
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, "cancelled with the added replica leading", got, ps(ids(2, 1), ids(2, 1), 1, 5, 10))

	if _, err := cancelReassignment(ps(ids(1, 2), ids(1, 2), 1, 3, 7), statusOf()); !errors.Is(err, ErrNoReassignment) {
		t.Errorf("cancel without a reassignment: err = %v", err)
	}
	// Only the added replica is in sync: reverting needs an unclean
	// election.
	cur = reassigning(ids(2, 3, 1), ids(3), 3, 4, 9, ids(3), ids(1))
	if _, err := cancelReassignment(cur, statusOf()); !errors.Is(err, ErrInvalidReassignment) {
		t.Errorf("cancel with no original replica in sync: err = %v", err)
	}
}

func TestPlanCompletesReassignments(t *testing.T) {
	s := snapshotOf(ids(1, 2, 3), map[string][]PartitionState{"t": {
		reassigning(ids(2, 3, 1), ids(2, 3, 1), 1, 3, 9, ids(3), ids(1)), // ready
		reassigning(ids(2, 3, 1), ids(2, 1), 1, 3, 8, ids(3), ids(1)),    // 3 not in sync yet
	}})
	changes := plan(s, DefaultControllerConfig(), 1, false)
	if len(changes) != 1 || changes[0].partition != 0 || !changes[0].reassigned {
		t.Fatalf("changes: %+v", changes)
	}
	checkState(t, "completed by the controller", changes[0].next, ps(ids(2, 3), ids(2, 3), 2, 4, 10))

	// A dead leader is replaced first; the completion follows in the
	// next round.
	delete(s.Brokers, 1)
	changes = plan(s, DefaultControllerConfig(), 2, false)
	if len(changes) != 2 {
		t.Fatalf("changes with the leader dead: %+v", changes)
	}
	for _, ch := range changes {
		if ch.reassigned || ch.next.Leader != 2 || ch.next.InISR(1) || !ch.next.Reassigning() {
			t.Errorf("partition %d with the leader dead: %+v", ch.partition, ch.next)
		}
	}
}

func TestElectForRequest(t *testing.T) {
	cases := []struct {
		name    string
		cur     PartitionState
		dead    []int32
		unclean bool
		want    PartitionState
		wantErr error
	}{
		{
			name: "preferred: moves back",
			cur:  ps(ids(1, 2, 3), ids(1, 2, 3), 2, 4, 9),
			want: ps(ids(1, 2, 3), ids(1, 2, 3), 1, 5, 10),
		},
		{
			name:    "preferred: already leads",
			cur:     ps(ids(1, 2, 3), ids(1, 2, 3), 1, 4, 9),
			wantErr: ErrElectionNotNeeded,
		},
		{
			name:    "preferred: not in the ISR",
			cur:     ps(ids(1, 2, 3), ids(2, 3), 2, 4, 9),
			wantErr: ErrPreferredLeaderNotAvailable,
		},
		{
			name:    "preferred: dead",
			cur:     ps(ids(1, 2, 3), ids(1, 2, 3), 2, 4, 9),
			dead:    ids(1),
			wantErr: ErrPreferredLeaderNotAvailable,
		},
		{
			name:    "unclean: a live leader",
			cur:     ps(ids(1, 2, 3), ids(1), 1, 4, 9),
			unclean: true,
			wantErr: ErrElectionNotNeeded,
		},
		{
			name:    "unclean: the ISR is dead, a live replica outside it leads",
			cur:     ps(ids(1, 2, 3), ids(1), NoLeader, 4, 9),
			dead:    ids(1, 2),
			unclean: true,
			want:    ps(ids(1, 2, 3), ids(3), 3, 5, 10),
		},
		{
			name:    "unclean: a live ISR member is chosen first",
			cur:     ps(ids(1, 2, 3), ids(1, 3), NoLeader, 4, 9),
			dead:    ids(1),
			unclean: true,
			want:    ps(ids(1, 2, 3), ids(3), 3, 5, 10),
		},
		{
			name:    "unclean: no live replica",
			cur:     ps(ids(1, 2), ids(1), NoLeader, 4, 9),
			dead:    ids(1, 2),
			unclean: true,
			wantErr: ErrEligibleLeadersNotAvailable,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := electForRequest(tc.cur, statusOf(tc.dead...), tc.unclean)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !reflect.DeepEqual(got, tc.cur) {
					t.Errorf("state changed on error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkState(t, "elected", got, tc.want)
		})
	}
}

func TestReplicaSets(t *testing.T) {
	st := reassigning(ids(2, 3, 1), ids(2, 1), 1, 3, 8, ids(3), ids(1))
	if !st.Reassigning() || !reflect.DeepEqual(st.OriginalReplicas(), ids(2, 1)) || !reflect.DeepEqual(st.TargetReplicas(), ids(2, 3)) {
		t.Errorf("reassigning %+v: original %v target %v", st, st.OriginalReplicas(), st.TargetReplicas())
	}
	st = ps(ids(1, 2), ids(1, 2), 1, 3, 7)
	if st.Reassigning() || !reflect.DeepEqual(st.OriginalReplicas(), ids(1, 2)) || !reflect.DeepEqual(st.TargetReplicas(), ids(1, 2)) {
		t.Errorf("not reassigning %+v: original %v target %v", st, st.OriginalReplicas(), st.TargetReplicas())
	}
}
