package group

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// reconciler moves a KIP-848 member from its current assignment towards
// its target, as Kafka's CurrentAssignmentBuilder does: partitions the
// member must give up are revoked first (the member stays at its epoch
// until it reports them released), and partitions another member still
// holds are assigned only once released.
type reconciler struct {
	member       *consumerMember // a copy; build returns a changed copy or it
	targetEpoch  int32
	target       assignment
	partitionOf  func(id [16]byte, p int32) int32 // epoch of the holder, -1 if free
	owned        []kmsg.ConsumerGroupHeartbeatRequestTopic
	ownedKnown   bool // owned was sent (a full heartbeat)
	subChanged   bool
	subscribedID func([16]byte) bool
}

func (r *reconciler) build() *consumerMember {
	m := r.member
	switch m.state {
	case memberStable:
		if m.memberEpoch != r.targetEpoch {
			return r.computeNext(m.memberEpoch)
		}
		if r.subChanged {
			return r.updateCurrent()
		}
		return m
	case memberUnrevokedPartitions:
		if r.ownsRevoked(m.pendingRevocation) {
			if r.subChanged {
				return r.updateCurrent()
			}
			return m
		}
		// Everything revoked: the member may move to the next epoch,
		// but not beyond the target's (a revocation caused by a
		// subscription change has no new target yet).
		return r.computeNext(min(m.memberEpoch+1, r.targetEpoch))
	case memberUnreleasedPartitions:
		return r.computeNext(m.memberEpoch)
	}
	// A state this code does not know: start the member over from an
	// empty assignment, which it must confirm by owning nothing.
	if !r.ownedKnown || len(r.owned) > 0 {
		return nil
	}
	return r.computeNext(r.targetEpoch)
}

// ownsRevoked reports whether the member still reports owning a partition
// of a; without a report it is assumed to.
func (r *reconciler) ownsRevoked(a assignment) bool {
	if !r.ownedKnown {
		return true
	}
	for _, t := range r.owned {
		for _, p := range t.Partitions {
			if a.contains(t.TopicID, p) {
				return true
			}
		}
	}
	return false
}

// updateCurrent revokes the partitions of topics the member no longer
// subscribes to, without waiting for a new target assignment.
func (r *reconciler) updateCurrent() *consumerMember {
	m := r.member
	var removed []([16]byte)
	for id := range m.assigned {
		if !r.subscribedID(id) {
			removed = append(removed, id)
		}
	}
	if len(removed) == 0 {
		return m
	}
	n := m.clone()
	for _, id := range removed {
		for _, p := range n.assigned[id] {
			n.pendingRevocation.add(id, p)
		}
		delete(n.assigned, id)
	}
	if r.ownsRevoked(n.pendingRevocation) {
		n.state = memberUnrevokedPartitions
	} else {
		// Already released: just shrink the assignment.
		n.pendingRevocation = m.pendingRevocation.clone()
	}
	return n
}

func (r *reconciler) computeNext(epoch int32) *consumerMember {
	m := r.member
	unreleased := false
	assigned, revoke, add := assignment{}, assignment{}, assignment{}
	ids := map[[16]byte]bool{}
	for id := range r.target {
		ids[id] = true
	}
	for id := range m.assigned {
		ids[id] = true
	}
	for id := range ids {
		target := r.target[id]
		if !r.subscribedID(id) {
			target = nil
		}
		for _, p := range m.assigned[id] {
			if _, ok := slices.BinarySearch(target, p); ok {
				assigned.add(id, p)
			} else {
				revoke.add(id, p)
			}
		}
		for _, p := range target {
			if assigned.contains(id, p) {
				continue
			}
			if r.partitionOf(id, p) != -1 && !m.pendingRevocation.contains(id, p) {
				unreleased = true
				continue
			}
			add.add(id, p)
		}
	}
	n := m.clone()
	n.assigned = assigned
	switch {
	case len(revoke) > 0 && r.ownsRevoked(revoke):
		n.state = memberUnrevokedPartitions
		n.setEpoch(epoch)
		n.pendingRevocation = revoke
		return n
	case len(add) > 0:
		for id, ps := range add {
			for _, p := range ps {
				n.assigned.add(id, p)
			}
		}
	}
	n.state = memberStable
	if unreleased {
		n.state = memberUnreleasedPartitions
	}
	n.setEpoch(r.targetEpoch)
	n.pendingRevocation = assignment{}
	return n
}

// setEpoch moves the member to an epoch, remembering the one it had (as
// Kafka's updateMemberEpoch does, even when they are equal): a member
// whose response with the new epoch was lost may still come with the
// previous one.
func (m *consumerMember) setEpoch(epoch int32) {
	m.previousMemberEpoch = m.memberEpoch
	m.memberEpoch = epoch
}
