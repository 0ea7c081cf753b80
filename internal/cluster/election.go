package cluster

import (
	"errors"
	"fmt"
	"slices"
)

// The controller's decisions about one partition. They are pure functions
// of the partition's state and the brokers' status, so they are tested
// without etcd; the controller and the store apply their result with a
// compare-and-swap on the partition epoch.

// Errors of ISR change requests, each matching a Kafka AlterPartition
// error.
var (
	// ErrNotLeader: the requester does not lead the partition
	// (NOT_LEADER_OR_FOLLOWER).
	ErrNotLeader = errors.New("not the leader of the partition")
	// ErrFencedLeaderEpoch: the request's leader epoch is not the current
	// one (FENCED_LEADER_EPOCH).
	ErrFencedLeaderEpoch = errors.New("fenced leader epoch")
	// ErrStalePartitionEpoch: the state changed since the requester read
	// it (INVALID_UPDATE_VERSION).
	ErrStalePartitionEpoch = errors.New("stale partition epoch")
	// ErrIneligibleReplica: a broker added to the ISR is not a replica, not
	// registered or shutting down (INELIGIBLE_REPLICA).
	ErrIneligibleReplica = errors.New("ineligible replica")
	// ErrInvalidISR: the new ISR is empty, lacks the leader or repeats a
	// broker (INVALID_REQUEST).
	ErrInvalidISR = errors.New("invalid ISR")
	// ErrNoSuchPartition: the partition does not exist
	// (UNKNOWN_TOPIC_OR_PARTITION).
	ErrNoSuchPartition = errors.New("partition does not exist")
)

// ISRChange is a partition leader's request to shrink or expand the ISR
// (Kafka's AlterPartition).
type ISRChange struct {
	Topic     string
	Partition int32
	// Leader, LeaderEpoch and PartitionEpoch are what the requester
	// believes; a mismatch rejects the request.
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	NewISR         []int32
}

// applyISRChange validates an ISR change against the current state and
// returns the state to write. Shrinking is always allowed; a broker may be
// added only if it is a replica that is registered and not shutting down
// (KIP-841). changed is false if the ISR is already the requested one.
func applyISRChange(cur PartitionState, req ISRChange, status func(int32) brokerStatus) (next PartitionState, changed bool, err error) {
	switch {
	case req.Leader != cur.Leader:
		return cur, false, fmt.Errorf("%w: broker %d asked, leader is %d", ErrNotLeader, req.Leader, cur.Leader)
	case req.LeaderEpoch != cur.LeaderEpoch:
		return cur, false, fmt.Errorf("%w: request has %d, current is %d", ErrFencedLeaderEpoch, req.LeaderEpoch, cur.LeaderEpoch)
	case req.PartitionEpoch != cur.PartitionEpoch:
		return cur, false, fmt.Errorf("%w: request has %d, current is %d", ErrStalePartitionEpoch, req.PartitionEpoch, cur.PartitionEpoch)
	case len(req.NewISR) == 0:
		return cur, false, fmt.Errorf("%w: empty", ErrInvalidISR)
	case !slices.Contains(req.NewISR, cur.Leader):
		return cur, false, fmt.Errorf("%w: leader %d is not in %v", ErrInvalidISR, cur.Leader, req.NewISR)
	}
	seen := map[int32]bool{}
	for _, id := range req.NewISR {
		if seen[id] {
			return cur, false, fmt.Errorf("%w: broker %d listed twice", ErrInvalidISR, id)
		}
		seen[id] = true
		if !slices.Contains(cur.Replicas, id) {
			return cur, false, fmt.Errorf("%w: broker %d is not a replica", ErrIneligibleReplica, id)
		}
		if !cur.InISR(id) && status(id) != brokerAlive {
			return cur, false, fmt.Errorf("%w: broker %d is not registered or is shutting down", ErrIneligibleReplica, id)
		}
	}
	// Keep the ISR in assignment order, as Kafka shows it.
	isr := make([]int32, 0, len(req.NewISR))
	for _, id := range cur.Replicas {
		if seen[id] {
			isr = append(isr, id)
		}
	}
	if slices.Equal(isr, cur.ISR) {
		return cur, false, nil
	}
	next = cur.Clone()
	next.ISR = isr
	next.PartitionEpoch++
	return next, true, nil
}

// electLeader reconciles a partition with the brokers' status, as Kafka's
// controller does when a broker dies or enters controlled shutdown:
//
//   - Brokers that are not registered or are shutting down leave the ISR,
//     unless that would empty it: the ISR then keeps the shutting-down
//     members, or failing those stays as it is, recording which replicas
//     hold every committed record.
//   - A live leader in the ISR stays. Otherwise the first replica in
//     assignment order that is live and in the ISR leads.
//   - If there is none, a shutting-down leader keeps leading until it
//     exits; else, with unclean leader election allowed, the first live
//     replica leads with an ISR of itself (records may be lost); else the
//     partition has no leader until an ISR member comes back.
//
// The leader epoch grows when the leader changes, the partition epoch with
// any change.
func electLeader(cur PartitionState, status func(int32) brokerStatus, uncleanAllowed bool) (next PartitionState, changed, unclean bool) {
	isr := filterIDs(cur.ISR, func(id int32) bool { return status(id) == brokerAlive })
	if len(isr) == 0 {
		isr = filterIDs(cur.ISR, func(id int32) bool { return status(id) != brokerDead })
	}
	if len(isr) == 0 {
		isr = slices.Clone(cur.ISR)
	}
	leader := NoLeader
	if cur.Leader != NoLeader && status(cur.Leader) == brokerAlive && slices.Contains(isr, cur.Leader) {
		leader = cur.Leader
	} else {
		for _, id := range cur.Replicas {
			if status(id) == brokerAlive && slices.Contains(isr, id) {
				leader = id
				break
			}
		}
	}
	if leader == NoLeader && cur.Leader != NoLeader && status(cur.Leader) == brokerShuttingDown && slices.Contains(isr, cur.Leader) {
		leader = cur.Leader
	}
	if leader == NoLeader && uncleanAllowed {
		for _, id := range cur.Replicas {
			if status(id) == brokerAlive {
				leader, isr, unclean = id, []int32{id}, true
				break
			}
		}
	}
	next = withLeaderAndISR(cur, leader, isr)
	return next, !sameState(cur, next), unclean
}

// preferredLeader moves leadership to the preferred (first) replica when
// it is live, in the ISR and not already leading.
func preferredLeader(cur PartitionState, status func(int32) brokerStatus) (next PartitionState, changed bool) {
	p := cur.PreferredLeader()
	if p == NoLeader || p == cur.Leader || status(p) != brokerAlive || !cur.InISR(p) {
		return cur, false
	}
	return withLeaderAndISR(cur, p, cur.ISR), true
}

// withLeaderAndISR returns cur with a new leader and ISR, and epochs bumped
// as Kafka does: the leader epoch when the leader changes, the partition
// epoch when anything changes.
func withLeaderAndISR(cur PartitionState, leader int32, isr []int32) PartitionState {
	next := cur.Clone()
	next.Leader, next.ISR = leader, slices.Clone(isr)
	if sameState(cur, next) {
		return cur
	}
	if leader != cur.Leader {
		next.LeaderEpoch++
	}
	next.PartitionEpoch++
	return next
}

func filterIDs(ids []int32, keep func(int32) bool) []int32 {
	var out []int32
	for _, id := range ids {
		if keep(id) {
			out = append(out, id)
		}
	}
	return out
}

// leaderImbalance returns, for each broker that is the preferred leader of
// some partition, the fraction of those partitions it does not lead (the
// measure behind Kafka's leader.imbalance.per.broker.percentage).
func leaderImbalance(s *Snapshot) map[int32]float64 {
	preferred, notLeading := map[int32]int{}, map[int32]int{}
	for _, t := range s.Topics {
		for _, p := range t.Partitions {
			pl := p.PreferredLeader()
			if pl == NoLeader {
				continue
			}
			preferred[pl]++
			if p.Leader != pl {
				notLeading[pl]++
			}
		}
	}
	out := make(map[int32]float64, len(preferred))
	for id, n := range preferred {
		out[id] = float64(notLeading[id]) / float64(n)
	}
	return out
}

// ElectPreferred is ElectLeaders with PREFERRED election for one
// partition: the state with leadership moved to the preferred replica, if
// that replica is live and in the ISR. ok is false if nothing would change
// (Kafka's ELECTION_NOT_NEEDED, or PREFERRED_LEADER_NOT_AVAILABLE). Write
// the result with EtcdStore.CompareAndSwapPartition.
func (s *Snapshot) ElectPreferred(p PartitionState) (next PartitionState, ok bool) {
	return preferredLeader(p, s.status)
}

// ElectUnclean is ElectLeaders with UNCLEAN election for one partition: if
// it has no live leader, the leader the controller would choose with
// unclean.leader.election.enable set. ok is false if the partition has a
// live leader or no live replica.
func (s *Snapshot) ElectUnclean(p PartitionState) (next PartitionState, ok bool) {
	if p.Leader != NoLeader && s.status(p.Leader) == brokerAlive {
		return p, false
	}
	next, changed, _ := electLeader(p, s.status, true)
	return next, changed && next.Leader != NoLeader
}
