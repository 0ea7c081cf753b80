package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func brokersNoRack(ids ...int32) []BrokerRack {
	var out []BrokerRack
	for _, id := range ids {
		out = append(out, BrokerRack{ID: id})
	}
	return out
}

func brokersWithRacks(racks map[int32]string) []BrokerRack {
	var out []BrokerRack
	for id, r := range racks {
		out = append(out, BrokerRack{ID: id, Rack: r})
	}
	return out
}

// Kafka's AdminTest.testReplicaAssignment: 5 brokers, 10 partitions, RF 3,
// fixed start index 0.
func TestPlaceReplicasMatchesKafkaRackUnaware(t *testing.T) {
	got, err := PlaceReplicas(PlacementRequest{Brokers: brokersNoRack(4, 3, 2, 1, 0),
		Partitions: 10, ReplicationFactor: 3, StartIndex: 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int32{
		{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 0}, {4, 0, 1},
		{0, 2, 3}, {1, 3, 4}, {2, 4, 0}, {3, 0, 1}, {4, 1, 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

// Kafka's AdminRackAwareTest.testGetRackAlternatedBrokerListAndAssignReplicasToBrokers.
func TestPlaceReplicasMatchesKafkaRackAware(t *testing.T) {
	racks := map[int32]string{0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}
	list, n := rackAlternatedBrokers(brokersWithRacks(racks))
	if want := []int32{0, 3, 1, 5, 4, 2}; !reflect.DeepEqual(list, want) || n != 3 {
		t.Fatalf("rack-alternated list %v (%d racks), want %v (3 racks)", list, n, want)
	}
	delete(racks, 5)
	if list, _ := rackAlternatedBrokers(brokersWithRacks(racks)); !reflect.DeepEqual(list, []int32{0, 3, 1, 4, 2}) {
		t.Fatalf("without broker 5: %v", list)
	}
	racks[5] = "rack1"
	got, err := PlaceReplicas(PlacementRequest{Brokers: brokersWithRacks(racks),
		Partitions: 7, ReplicationFactor: 3, StartIndex: 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int32{{0, 3, 1}, {3, 1, 5}, {1, 5, 4}, {5, 4, 2}, {4, 2, 0}, {2, 0, 3}, {0, 4, 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

// checkSpread asserts that every broker holds the same number of replicas
// and leads the same number of partitions, and that no partition has a
// broker twice.
func checkSpread(t *testing.T, a [][]int32, brokers int) {
	t.Helper()
	replicas, leaders := map[int32]int{}, map[int32]int{}
	for p, rs := range a {
		seen := map[int32]bool{}
		for _, b := range rs {
			if seen[b] {
				t.Fatalf("partition %d has broker %d twice: %v", p, b, rs)
			}
			seen[b] = true
			replicas[b]++
		}
		leaders[rs[0]]++
	}
	if len(replicas) != brokers {
		t.Fatalf("replicas on %d brokers, want %d: %v", len(replicas), brokers, replicas)
	}
	for b := range replicas {
		if replicas[b] != replicas[a[0][0]] || leaders[b] != leaders[a[0][0]] {
			t.Fatalf("uneven spread: replicas %v leaders %v", replicas, leaders)
		}
	}
}

func TestPlaceReplicasEvenSpread(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		a, err := PlaceReplicas(PlacementRequest{Brokers: brokersNoRack(1, 2, 3, 4, 5, 6),
			Partitions: 60, ReplicationFactor: 3, StartIndex: -1}, rng)
		if err != nil {
			t.Fatal(err)
		}
		checkSpread(t, a, 6)
	}
}

func TestPlaceReplicasRackAware(t *testing.T) {
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		a, err := PlaceReplicas(PlacementRequest{Brokers: brokersWithRacks(racks),
			Partitions: 60, ReplicationFactor: 3, StartIndex: -1}, rng)
		if err != nil {
			t.Fatal(err)
		}
		checkSpread(t, a, 6)
		for p, rs := range a {
			seen := map[string]bool{}
			for _, b := range rs {
				if seen[racks[b]] {
					t.Fatalf("seed %d: partition %d has two replicas in rack %s: %v", seed, p, racks[b], rs)
				}
				seen[racks[b]] = true
			}
		}
	}
	// Fewer racks than replicas: every rack is used before one repeats.
	racks2 := map[int32]string{1: "a", 2: "a", 3: "a", 4: "b", 5: "b", 6: "b"}
	a, err := PlaceReplicas(PlacementRequest{Brokers: brokersWithRacks(racks2),
		Partitions: 12, ReplicationFactor: 3, StartIndex: -1}, rand.New(rand.NewPCG(7, 7)))
	if err != nil {
		t.Fatal(err)
	}
	checkSpread(t, a, 6)
	for p, rs := range a {
		if racks2[rs[0]] == racks2[rs[1]] {
			t.Fatalf("partition %d: the first two replicas %v share a rack", p, rs)
		}
	}
}

func TestPlaceReplicasDeterministic(t *testing.T) {
	req := PlacementRequest{Brokers: brokersWithRacks(map[int32]string{1: "a", 2: "b", 3: "c", 4: "a"}),
		Partitions: 16, ReplicationFactor: 2, StartIndex: -1}
	a1, _ := PlaceReplicas(req, rand.New(rand.NewPCG(42, 1)))
	a2, _ := PlaceReplicas(req, rand.New(rand.NewPCG(42, 1)))
	if !reflect.DeepEqual(a1, a2) {
		t.Fatalf("same seed, different placement:\n%v\n%v", a1, a2)
	}
	distinct := map[string]bool{}
	for seed := uint64(0); seed < 10; seed++ {
		a, _ := PlaceReplicas(req, rand.New(rand.NewPCG(seed, 1)))
		distinct[fmt.Sprint(a)] = true
	}
	if len(distinct) < 2 {
		t.Fatal("placement does not depend on the random start")
	}
}

func TestPlaceReplicasContinuesPartitionIDs(t *testing.T) {
	// Added partitions continue the leaders' round-robin where
	// FirstPartition says (as in Kafka, the follower shift restarts).
	all, _ := PlaceReplicas(PlacementRequest{Brokers: brokersNoRack(0, 1, 2), Partitions: 6,
		ReplicationFactor: 2, StartIndex: 1}, nil)
	tail, _ := PlaceReplicas(PlacementRequest{Brokers: brokersNoRack(0, 1, 2), Partitions: 2,
		ReplicationFactor: 2, StartIndex: 1, FirstPartition: 4}, nil)
	for i := range tail {
		if tail[i][0] != all[4+i][0] {
			t.Fatalf("partitions 4-5 led by %v placed with the rest, %v placed alone", all[4:], tail)
		}
	}
}

func TestPlaceReplicasErrors(t *testing.T) {
	cases := []struct {
		req  PlacementRequest
		want error
	}{
		{PlacementRequest{Brokers: brokersNoRack(1, 2), Partitions: 1, ReplicationFactor: 3}, ErrInvalidReplicationFactor},
		{PlacementRequest{Brokers: brokersNoRack(1, 2), Partitions: 1, ReplicationFactor: 0}, ErrInvalidReplicationFactor},
		{PlacementRequest{Brokers: brokersNoRack(1, 2), Partitions: 0, ReplicationFactor: 1}, ErrInvalidPartitions},
		{PlacementRequest{Brokers: nil, Partitions: 1, ReplicationFactor: 1}, ErrInvalidReplicationFactor},
	}
	for _, c := range cases {
		if _, err := PlaceReplicas(c.req, nil); !errors.Is(err, c.want) {
			t.Errorf("%+v: got %v, want %v", c.req, err, c.want)
		}
	}
	// A single broker, RF 1.
	a, err := PlaceReplicas(PlacementRequest{Brokers: brokersNoRack(7), Partitions: 3, ReplicationFactor: 1, StartIndex: -1}, nil)
	if err != nil || !reflect.DeepEqual(a, [][]int32{{7}, {7}, {7}}) {
		t.Fatalf("single broker: %v %v", a, err)
	}
}
