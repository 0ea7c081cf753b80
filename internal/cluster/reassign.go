package cluster

import (
	"errors"
	"fmt"
	"slices"
)

// Partition reassignment (KIP-455) and leader elections asked for by a
// client (ElectLeaders, KIP-183 and KIP-460). Like the controller's own
// decisions, these are pure functions of a partition's state and the
// brokers' status; whoever applies them writes the result with a
// compare-and-swap on the partition epoch.
//
// A reassignment is recorded in the partition state: Replicas becomes the
// target followed by the original replicas the target drops,
// AddingReplicas what the target adds and RemovingReplicas what it drops.
// The added replicas follow the leader like any other and join the ISR
// once they have caught up. When every added replica is in the ISR the
// controller completes the reassignment: Replicas becomes the target, the
// ISR loses the removed replicas, and if the leader was one of them a
// target replica in the ISR takes over.

// Errors of reassignments and requested elections, each matching a Kafka
// error code.
var (
	// ErrInvalidReassignment: the target replicas are empty, repeat a
	// broker, or leave no in-sync replica (INVALID_REPLICA_ASSIGNMENT).
	ErrInvalidReassignment = errors.New("invalid replica assignment")
	// ErrNoReassignment: a cancellation found no reassignment in progress
	// (NO_REASSIGNMENT_IN_PROGRESS).
	ErrNoReassignment = errors.New("no reassignment in progress")
	// ErrElectionNotNeeded: the partition already has the leader the
	// election would choose (ELECTION_NOT_NEEDED).
	ErrElectionNotNeeded = errors.New("election not needed")
	// ErrPreferredLeaderNotAvailable: the preferred replica is not live or
	// not in the ISR (PREFERRED_LEADER_NOT_AVAILABLE).
	ErrPreferredLeaderNotAvailable = errors.New("preferred leader not available")
	// ErrEligibleLeadersNotAvailable: no live replica can lead
	// (ELIGIBLE_LEADERS_NOT_AVAILABLE).
	ErrEligibleLeadersNotAvailable = errors.New("eligible leaders not available")
)

// Reassigning reports whether a reassignment is in progress.
func (p PartitionState) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// OriginalReplicas is the assignment a reassignment in progress started
// from (Replicas without AddingReplicas), or Replicas if none is.
func (p PartitionState) OriginalReplicas() []int32 {
	return filterIDs(p.Replicas, func(id int32) bool { return !slices.Contains(p.AddingReplicas, id) })
}

// TargetReplicas is the assignment a reassignment in progress leads to
// (Replicas without RemovingReplicas), or Replicas if none is.
func (p PartitionState) TargetReplicas() []int32 {
	return filterIDs(p.Replicas, func(id int32) bool { return !slices.Contains(p.RemovingReplicas, id) })
}

// reassign starts a reassignment of cur to target, replacing any in
// progress (the new one starts from the original replicas of the old).
// The added replicas of an abandoned target that the new one does not keep
// leave the assignment and the ISR; a leader among them gives way to the
// first live in-sync replica. If the target adds nothing, or everything it
// adds is in the ISR already, the reassignment completes in the same
// write. changed is false if the state would stay as it is.
func reassign(cur PartitionState, target []int32, status func(int32) brokerStatus) (next PartitionState, changed bool, err error) {
	if len(target) == 0 {
		return cur, false, fmt.Errorf("%w: the target replica list is empty", ErrInvalidReassignment)
	}
	for i, id := range target {
		if id < 0 {
			return cur, false, fmt.Errorf("%w: broker id %d is negative", ErrInvalidReassignment, id)
		}
		if slices.Contains(target[:i], id) {
			return cur, false, fmt.Errorf("%w: broker %d is listed more than once", ErrInvalidReassignment, id)
		}
	}
	orig := cur.OriginalReplicas()
	adding := filterIDs(target, func(id int32) bool { return !slices.Contains(orig, id) })
	removing := filterIDs(orig, func(id int32) bool { return !slices.Contains(target, id) })
	replicas := append(slices.Clone(target), removing...)
	isr := filterIDs(replicas, cur.InISR)
	if len(isr) == 0 {
		return cur, false, fmt.Errorf("%w: none of the replicas %v is in the ISR %v", ErrInvalidReassignment, replicas, cur.ISR)
	}
	st := cur.Clone()
	st.Replicas, st.ISR, st.AddingReplicas, st.RemovingReplicas = replicas, isr, adding, removing
	if st.Leader != NoLeader && !slices.Contains(isr, st.Leader) {
		st.Leader = firstLive(replicas, isr, status)
	}
	if done, ok := completedReassignment(st, status); ok {
		st = done
	}
	next, changed = withEpochs(cur, st)
	return next, changed, nil
}

// cancelReassignment reverts a reassignment in progress to the original
// replicas: the added ones leave the assignment and the ISR, and a leader
// among them gives way to the first live original replica in the ISR. It
// fails if no original replica is in the ISR, as reverting would then
// need an unclean election.
func cancelReassignment(cur PartitionState, status func(int32) brokerStatus) (PartitionState, error) {
	if !cur.Reassigning() {
		return cur, ErrNoReassignment
	}
	orig := cur.OriginalReplicas()
	isr := filterIDs(orig, cur.InISR)
	if len(isr) == 0 {
		return cur, fmt.Errorf("%w: reverting to %v would need an unclean leader election: none of them is in the ISR %v",
			ErrInvalidReassignment, orig, cur.ISR)
	}
	st := cur.Clone()
	st.Replicas, st.ISR, st.AddingReplicas, st.RemovingReplicas = orig, isr, nil, nil
	if !slices.Contains(isr, st.Leader) {
		st.Leader = firstLive(orig, isr, status)
	}
	next, _ := withEpochs(cur, st)
	return next, nil
}

// completedReassignment returns cur with its reassignment completed, if
// every added replica is in the ISR: Replicas the target, the ISR without
// the removed replicas, the leader kept if it stays in the ISR or else the
// first live target replica in the ISR. ok is false if no reassignment is
// in progress or it cannot complete yet. The epochs are cur's.
func completedReassignment(cur PartitionState, status func(int32) brokerStatus) (next PartitionState, ok bool) {
	if !cur.Reassigning() {
		return cur, false
	}
	for _, id := range cur.AddingReplicas {
		if !cur.InISR(id) {
			return cur, false
		}
	}
	target := cur.TargetReplicas()
	isr := filterIDs(target, cur.InISR)
	if len(isr) == 0 {
		return cur, false
	}
	leader := cur.Leader
	if !slices.Contains(isr, leader) {
		if leader = firstLive(target, isr, status); leader == NoLeader {
			return cur, false // wait for a target replica that can lead
		}
	}
	next = cur.Clone()
	next.Replicas, next.ISR, next.Leader = target, isr, leader
	next.AddingReplicas, next.RemovingReplicas = nil, nil
	return next, true
}

// completeReassignment is the controller's step: the completed state with
// its epochs bumped, if the reassignment in progress can complete.
func completeReassignment(cur PartitionState, status func(int32) brokerStatus) (PartitionState, bool) {
	st, ok := completedReassignment(cur, status)
	if !ok {
		return cur, false
	}
	return withEpochs(cur, st)
}

// firstLive returns the first of replicas that is live and in isr, or
// NoLeader.
func firstLive(replicas, isr []int32, status func(int32) brokerStatus) int32 {
	for _, id := range replicas {
		if status(id) == brokerAlive && slices.Contains(isr, id) {
			return id
		}
	}
	return NoLeader
}

// withEpochs returns st with the epochs that follow cur's, as Kafka bumps
// them: the leader epoch when the leader changes, the partition epoch with
// any change. changed is false, and cur returned, if st is no change.
func withEpochs(cur, st PartitionState) (PartitionState, bool) {
	if sameState(cur, st) {
		return cur, false
	}
	st.LeaderEpoch, st.PartitionEpoch = cur.LeaderEpoch, cur.PartitionEpoch+1
	if st.Leader != cur.Leader {
		st.LeaderEpoch++
	}
	return st, true
}

// electForRequest is one partition's ElectLeaders election. PREFERRED
// moves the leadership to the preferred replica if it is live and in the
// ISR. UNCLEAN elects a leader for a partition without a live one: the
// first live replica in the ISR, else the first live replica with an ISR
// of itself (records may be lost).
func electForRequest(cur PartitionState, status func(int32) brokerStatus, unclean bool) (PartitionState, error) {
	if !unclean {
		pl := cur.PreferredLeader()
		if pl != NoLeader && pl == cur.Leader {
			return cur, fmt.Errorf("%w: the preferred replica %d leads", ErrElectionNotNeeded, pl)
		}
		next, ok := preferredLeader(cur, status)
		if !ok {
			return cur, fmt.Errorf("%w: the preferred replica %d is not live or not in the ISR %v", ErrPreferredLeaderNotAvailable, pl, cur.ISR)
		}
		return next, nil
	}
	if cur.Leader != NoLeader && status(cur.Leader) == brokerAlive {
		return cur, fmt.Errorf("%w: broker %d leads", ErrElectionNotNeeded, cur.Leader)
	}
	next, changed, _ := electLeader(cur, status, true)
	if !changed || next.Leader == NoLeader || next.Leader == cur.Leader {
		return cur, fmt.Errorf("%w: no replica of %v is live", ErrEligibleLeadersNotAvailable, cur.Replicas)
	}
	return next, nil
}

// Elect is ElectLeaders for one partition of s: with unclean false a
// PREFERRED election, else an UNCLEAN one (see electForRequest). It fails
// with ErrElectionNotNeeded, ErrPreferredLeaderNotAvailable or
// ErrEligibleLeadersNotAvailable. Write the result with
// EtcdStore.CompareAndSwapPartition.
func (s *Snapshot) Elect(p PartitionState, unclean bool) (PartitionState, error) {
	return electForRequest(p, partitionStatus(s, p), unclean)
}

// Reassign is AlterPartitionReassignments with target replicas for one
// partition of s (see reassign). changed is false if the partition
// already has that assignment. Validate target's brokers against s first;
// write the result with EtcdStore.CompareAndSwapPartition.
func (s *Snapshot) Reassign(p PartitionState, target []int32) (next PartitionState, changed bool, err error) {
	return reassign(p, target, partitionStatus(s, p))
}

// CancelReassignment is AlterPartitionReassignments with null target
// replicas for one partition of s (see cancelReassignment).
func (s *Snapshot) CancelReassignment(p PartitionState) (PartitionState, error) {
	return cancelReassignment(p, partitionStatus(s, p))
}
