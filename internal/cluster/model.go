package cluster

import (
	"slices"
	"sort"
)

// NoLeader is the leader of a partition that has none (Kafka's -1).
const NoLeader int32 = -1

// Endpoint is one listener a broker advertises to clients.
type Endpoint struct {
	Listener         string `json:"listener"` // listener name, e.g. PLAINTEXT
	Host             string `json:"host"`
	Port             int32  `json:"port"`
	SecurityProtocol string `json:"securityProtocol,omitempty"`
}

// BrokerRegistration is a live broker, as it registered itself.
type BrokerRegistration struct {
	NodeID int32 `json:"nodeId"`
	// IncarnationID is random per process start; it tells a restarted
	// broker from the one before it.
	IncarnationID string     `json:"incarnationId,omitempty"`
	Rack          string     `json:"rack,omitempty"` // broker.rack
	Endpoints     []Endpoint `json:"endpoints"`
	// ShuttingDown is set by a broker in controlled shutdown: the
	// controller moves its leaderships away and stops counting it as a
	// replica that can join an ISR or lead.
	ShuttingDown bool `json:"shuttingDown,omitempty"`
	// Epoch is Kafka's broker epoch: the etcd revision at which this
	// registration was created. It grows with every registration, so a
	// broker that restarts (or lost its session) has a new epoch.
	Epoch int64 `json:"-"`
}

// PartitionState is a partition's replica assignment, leader and ISR.
type PartitionState struct {
	// Replicas is the assignment; the first is the preferred leader.
	// During a reassignment (KIP-455) it is the target replicas followed
	// by those being removed.
	Replicas []int32 `json:"replicas"`
	ISR      []int32 `json:"isr"`
	Leader   int32   `json:"leader"` // NoLeader if none
	// LeaderEpoch grows whenever the leader changes.
	LeaderEpoch int32 `json:"leaderEpoch"`
	// PartitionEpoch grows with every change of this state; ISR and
	// leader changes are compare-and-swap on it.
	PartitionEpoch int32 `json:"partitionEpoch"`
	// AddingReplicas and RemovingReplicas are, during a reassignment, the
	// replicas the target adds to the original assignment and those it
	// drops from it; both empty otherwise.
	AddingReplicas   []int32 `json:"addingReplicas,omitempty"`
	RemovingReplicas []int32 `json:"removingReplicas,omitempty"`
	// ModRevision is the etcd revision of the last change; a write
	// compares it, which is the same as comparing PartitionEpoch because
	// every write bumps both.
	ModRevision int64 `json:"-"`
}

// Clone returns a deep copy.
func (p PartitionState) Clone() PartitionState {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	p.AddingReplicas = slices.Clone(p.AddingReplicas)
	p.RemovingReplicas = slices.Clone(p.RemovingReplicas)
	return p
}

// InISR reports whether broker id is in the ISR.
func (p PartitionState) InISR(id int32) bool { return slices.Contains(p.ISR, id) }

// PreferredLeader is the first replica of the assignment.
func (p PartitionState) PreferredLeader() int32 {
	if len(p.Replicas) == 0 {
		return NoLeader
	}
	return p.Replicas[0]
}

// sameState reports whether two states agree on everything but epochs.
func sameState(a, b PartitionState) bool {
	return a.Leader == b.Leader && slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) &&
		slices.Equal(a.AddingReplicas, b.AddingReplicas) && slices.Equal(a.RemovingReplicas, b.RemovingReplicas)
}

// topicRecord is the value stored under a topic's key.
type topicRecord struct {
	ID TopicID `json:"id"`
}

// TopicState is a topic as every broker sees it.
type TopicState struct {
	Name    string
	ID      TopicID
	Configs map[string]string // dynamic overrides; nil if none
	// Partitions are indexed by partition id.
	Partitions []PartitionState
}

// ControllerInfo names the active controller.
type ControllerInfo struct {
	ID int32 // NoLeader if there is none
	// Epoch is the etcd revision at which the controller's election key
	// was created; it grows with every new controller. Kafka's protocol
	// carries a controller epoch as int32: revisions stay far below 2^31
	// in practice.
	Epoch int64
}

// Snapshot is the cluster metadata at one etcd revision. It is immutable:
// readers share it and must not modify anything reachable from it.
type Snapshot struct {
	// Revision is the etcd revision the snapshot reflects: every change up
	// to it, and none after it.
	Revision   int64
	ClusterID  string // "" until a broker has set it
	Controller ControllerInfo
	// Brokers are the live registrations by node id.
	Brokers map[int32]BrokerRegistration
	// Topics by name.
	Topics map[string]*TopicState
	// BrokerConfigs are dynamic broker configs by node id;
	// DefaultBrokerConfigs holds the cluster-wide ones.
	BrokerConfigs map[int32]map[string]string
	// GroupConfigs are the dynamic configs of consumer groups (KIP-848)
	// by group id.
	GroupConfigs map[string]map[string]string
	// NextProducerID is where the next producer id block starts.
	NextProducerID int64

	topicsByID map[TopicID]*TopicState
}

// Topic returns a topic by name, or nil.
func (s *Snapshot) Topic(name string) *TopicState { return s.Topics[name] }

// TopicByID returns a topic by id, or nil.
func (s *Snapshot) TopicByID(id TopicID) *TopicState { return s.topicsByID[id] }

// Partition returns one partition's state.
func (s *Snapshot) Partition(topic string, p int32) (PartitionState, bool) {
	t := s.Topics[topic]
	if t == nil || p < 0 || int(p) >= len(t.Partitions) {
		return PartitionState{}, false
	}
	return t.Partitions[p], true
}

// Broker returns a live broker's registration.
func (s *Snapshot) Broker(id int32) (BrokerRegistration, bool) {
	b, ok := s.Brokers[id]
	return b, ok
}

// BrokerIDs returns the live brokers' ids in ascending order.
func (s *Snapshot) BrokerIDs() []int32 {
	ids := make([]int32, 0, len(s.Brokers))
	for id := range s.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TopicNames returns the topic names in order.
func (s *Snapshot) TopicNames() []string {
	names := make([]string, 0, len(s.Topics))
	for n := range s.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// brokerStatus is what the controller needs to know about a broker.
type brokerStatus int

const (
	brokerDead         brokerStatus = iota // not registered
	brokerShuttingDown                     // registered, in controlled shutdown
	brokerAlive
)

// status returns a broker's status in the snapshot.
func (s *Snapshot) status(id int32) brokerStatus {
	b, ok := s.Brokers[id]
	switch {
	case !ok:
		return brokerDead
	case b.ShuttingDown:
		return brokerShuttingDown
	default:
		return brokerAlive
	}
}

// PlacementBrokers returns the brokers new replicas may go to: live and
// not shutting down, with their racks, in id order.
func (s *Snapshot) PlacementBrokers() []BrokerRack {
	var out []BrokerRack
	for _, id := range s.BrokerIDs() {
		if b := s.Brokers[id]; !b.ShuttingDown {
			out = append(out, BrokerRack{ID: id, Rack: b.Rack})
		}
	}
	return out
}
