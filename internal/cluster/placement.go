package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
)

// Errors of replica placement.
var (
	ErrInvalidPartitions        = errors.New("invalid number of partitions")
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
)

// BrokerRack is a broker that can hold replicas, and its broker.rack ("" if
// unset).
type BrokerRack struct {
	ID   int32
	Rack string
}

// PlacementRequest asks for replicas of new partitions.
type PlacementRequest struct {
	Brokers           []BrokerRack
	Partitions        int // how many partitions to place
	ReplicationFactor int
	// FirstPartition is the id of the first partition placed: 0 for a new
	// topic, the current partition count for CreatePartitions.
	FirstPartition int
	// StartIndex fixes where in the broker list the first partition's
	// leader is taken, and the first follower shift; -1 picks both at
	// random (Kafka's fixedStartIndex).
	StartIndex int
}

// PlaceReplicas assigns replicas to brokers as Kafka's
// AdminUtils.assignReplicasToBrokers does:
//
//   - Leaders go round-robin over the broker list from a random start, so
//     each broker leads an even share of partitions.
//   - Followers follow the leader at a shift that grows by one every time
//     the partitions have gone once around the brokers, so that the
//     followers of one broker's partitions are spread over all others
//     rather than always the next one.
//   - With racks, the broker list alternates racks (rack a, rack b, rack
//     c, a, b, c, ...; each rack's brokers in id order), and a follower is
//     skipped while it would put a second replica in a rack that has one
//     while another rack has none, or a second replica on a broker while
//     another broker has none.
//
// Brokers without a rack count as one more rack named "" when other
// brokers have one (Kafka's KRaft placer does the same; the ZooKeeper-era
// AdminUtils refused). The result is deterministic for a given rng.
func PlaceReplicas(req PlacementRequest, rng *rand.Rand) ([][]int32, error) {
	n := len(req.Brokers)
	switch {
	case req.Partitions <= 0:
		return nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, req.Partitions)
	case req.ReplicationFactor <= 0:
		return nil, fmt.Errorf("%w: %d", ErrInvalidReplicationFactor, req.ReplicationFactor)
	case req.ReplicationFactor > n:
		return nil, fmt.Errorf("%w: replication factor %d is larger than the %d available brokers",
			ErrInvalidReplicationFactor, req.ReplicationFactor, n)
	}
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	brokers := slices.Clone(req.Brokers)
	slices.SortFunc(brokers, func(a, b BrokerRack) int { return int(a.ID) - int(b.ID) })
	for i := 1; i < n; i++ {
		if brokers[i].ID == brokers[i-1].ID {
			return nil, fmt.Errorf("broker %d is listed twice", brokers[i].ID)
		}
	}
	rackAware := false
	for _, b := range brokers {
		if b.Rack != "" {
			rackAware = true
		}
	}
	var list []int32
	rackOf := map[int32]string{}
	numRacks := 1
	if rackAware {
		list, numRacks = rackAlternatedBrokers(brokers)
		for _, b := range brokers {
			rackOf[b.ID] = b.Rack
		}
	} else {
		for _, b := range brokers {
			list = append(list, b.ID)
		}
	}

	startIndex, shift := req.StartIndex, req.StartIndex
	if req.StartIndex < 0 {
		startIndex, shift = rng.IntN(n), rng.IntN(n)
	}
	out := make([][]int32, 0, req.Partitions)
	pid := max(req.FirstPartition, 0)
	for range req.Partitions {
		if pid > 0 && pid%n == 0 {
			shift++
		}
		first := (pid + startIndex) % n
		replicas := []int32{list[first]}
		if !rackAware {
			for j := range req.ReplicationFactor - 1 {
				replicas = append(replicas, list[replicaIndex(first, shift, j, n)])
			}
		} else {
			racks := map[string]bool{rackOf[list[first]]: true}
			used := map[int32]bool{list[first]: true}
			k := 0
			for range req.ReplicationFactor - 1 {
				for {
					b := list[replicaIndex(first, shift*numRacks, k, n)]
					k++
					r := rackOf[b]
					if (!racks[r] || len(racks) == numRacks) && (!used[b] || len(used) == n) {
						replicas = append(replicas, b)
						racks[r], used[b] = true, true
						break
					}
				}
			}
		}
		out = append(out, replicas)
		pid++
	}
	return out, nil
}

// replicaIndex is the broker-list index of a partition's follower j.
func replicaIndex(first, shift, j, n int) int {
	return (first + 1 + (shift+j)%(n-1)) % n
}

// rackAlternatedBrokers orders brokers so that consecutive ones sit in
// different racks: the first broker of each rack (racks in name order),
// then the second of each, and so on. E.g. racks a:{0,1,2}, b:{3,4,5} give
// 0,3,1,4,2,5.
func rackAlternatedBrokers(brokers []BrokerRack) ([]int32, int) {
	byRack := map[string][]int32{}
	for _, b := range brokers {
		byRack[b.Rack] = append(byRack[b.Rack], b.ID)
	}
	racks := make([]string, 0, len(byRack))
	for r, ids := range byRack {
		racks = append(racks, r)
		slices.Sort(ids)
	}
	sort.Strings(racks)
	out := make([]int32, 0, len(brokers))
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out, len(racks)
}
