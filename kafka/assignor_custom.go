package kafka

import (
	"fmt"
	"slices"
)

// GroupMember is one member of a classic group as the leader's
// PartitionAssignor sees it (Java's ConsumerPartitionAssignor.Subscription
// with its member id).
type GroupMember struct {
	MemberID        string
	GroupInstanceID string           // group.instance.id; "" for a dynamic member
	Topics          []string         // the member's subscribed topics
	UserData        []byte           // from the member's SubscriptionUserData
	OwnedPartitions []TopicPartition // what the member owns now
	Generation      int32            // the generation of OwnedPartitions; -1 if unknown
	Rack            string           // client.rack; "" if none
}

// MemberAssignment is what an assignor gives one member: its partitions
// and user data of the assignor's own, which the member's OnAssignment
// receives (Java's ConsumerPartitionAssignor.Assignment).
type MemberAssignment struct {
	Partitions []TopicPartition
	UserData   []byte
}

// PartitionAssignor is a partition assignment strategy of the classic
// group protocol, run by the group's leader (Java's
// ConsumerPartitionAssignor), given to a consumer with
// WithPartitionAssignors. Members agree on a strategy by Name: the
// coordinator picks the first name in the leader's preference order that
// every member offers, so a group may mix this consumer with other
// clients that have an assignor of the same name and user data format.
//
// SubscriptionUserData runs on the consumer's group goroutine before each
// JoinGroup; Assign on the leader's group goroutine; OnAssignment on
// every member's group goroutine once SyncGroup brings its assignment,
// before the rebalance listener hears of it in Poll. They are not called
// concurrently for one consumer.
type PartitionAssignor interface {
	// Name is the protocol name the members agree on.
	Name() string
	// Cooperative reports whether the assignor follows the cooperative
	// protocol (KIP-429): a partition owned by one member may move to
	// another only after a rebalance in which it was assigned to no one,
	// so members keep their other partitions meanwhile. A consumer is
	// cooperative only if all its assignors are.
	Cooperative() bool
	// SubscriptionUserData is the user data sent with this member's
	// subscription to the given topics.
	SubscriptionUserData(topics []string) []byte
	// Assign maps member ids to their assignments. partitions holds the
	// partition count of every subscribed topic that exists. A member
	// missing from the result gets no partitions.
	Assign(members []GroupMember, partitions map[string]int32) map[string]MemberAssignment
	// OnAssignment tells the assignor this member's new assignment.
	OnAssignment(assignment MemberAssignment, generation int32)
}

// WithPartitionAssignors adds partition assignors to a consumer. Unless
// partition.assignment.strategy is set, they replace the built-in ones,
// in the order given; when it is set, it must name each of them (by
// Name) among the built-in ones, in the order of preference wanted.
func WithPartitionAssignors(as ...PartitionAssignor) Option {
	return optionFunc(func(o *options) { o.assignors = append(o.assignors, as...) })
}

// customAssignor adapts a PartitionAssignor to the group's assignor.
type customAssignor struct{ pa PartitionAssignor }

func (a customAssignor) name() string      { return a.pa.Name() }
func (a customAssignor) cooperative() bool { return a.pa.Cooperative() }

// userData is not used: joinProtocols asks SubscriptionUserData, which
// takes the topics.
func (a customAssignor) userData([]TopicPartition, int32) []byte { return nil }

func (a customAssignor) decode(*memberSubscription, []byte) {}

func (a customAssignor) assign(members []memberSubscription, partitions map[string]int32) map[string][]TopicPartition {
	plan, _, _ := a.assignFull(members, partitions)
	return plan
}

// assignFull runs the assignor and checks its answer as Java's
// ConsumerCoordinator does: every partition it assigns exists and goes to
// one member, and a cooperative assignor moves no partition from its
// owner to another member in one rebalance.
func (a customAssignor) assignFull(members []memberSubscription, partitions map[string]int32) (map[string][]TopicPartition, map[string][]byte, error) {
	gms := make([]GroupMember, len(members))
	known := map[string]bool{}
	for i, m := range members {
		gms[i] = GroupMember{MemberID: m.memberID, GroupInstanceID: m.instanceID, Topics: slices.Clone(m.topics),
			UserData: m.userData, OwnedPartitions: slices.Clone(m.owned), Generation: m.generation, Rack: m.rack}
		known[m.memberID] = true
	}
	out := a.pa.Assign(gms, partitions)
	plan := map[string][]TopicPartition{}
	data := map[string][]byte{}
	owner := map[TopicPartition]string{}
	for id, ma := range out {
		if !known[id] {
			return nil, nil, fmt.Errorf("assignor %s assigned partitions to %q, which is not a member of the group", a.pa.Name(), id)
		}
		for _, tp := range ma.Partitions {
			if n, ok := partitions[tp.Topic]; !ok || tp.Partition < 0 || tp.Partition >= n {
				return nil, nil, fmt.Errorf("assignor %s assigned %s, which is not a partition of the members' subscribed topics", a.pa.Name(), tp)
			}
			if prev, ok := owner[tp]; ok {
				return nil, nil, fmt.Errorf("assignor %s assigned %s to both %s and %s", a.pa.Name(), tp, prev, id)
			}
			owner[tp] = id
		}
		plan[id] = sortTPs(slices.Clone(ma.Partitions))
		data[id] = ma.UserData
	}
	if a.pa.Cooperative() {
		for _, m := range members {
			for _, tp := range m.owned {
				if to, ok := owner[tp]; ok && to != m.memberID {
					return nil, nil, fmt.Errorf("assignor %s, which supports the cooperative protocol, violates its requirements: it moved %s from %s to %s in one rebalance, without revoking it first",
						a.pa.Name(), tp, m.memberID, to)
				}
			}
		}
	}
	return plan, data, nil
}
