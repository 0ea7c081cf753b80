package kafka

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMurmur2 checks Kafka's UtilsTest vectors and sarama's partition
// placements (checked against the Java partitioner) from REFERENCE.md.
func TestMurmur2(t *testing.T) {
	hashes := map[string]int32{
		"21":                       -973932308,
		"foobar":                   -790332482,
		"a-little-bit-long-string": -985981536,
		"abc":                      479470107,
	}
	for in, want := range hashes {
		if got := Murmur2([]byte(in)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
	parts := map[string]int32{"foo": 16, "bar": 45, "baz": 80, "kafka": 80, "sarama": 11}
	for in, want := range parts {
		if got := KeyPartition([]byte(in), 100); got != want {
			t.Errorf("partition of %q in 100 = %d, want %d", in, got, want)
		}
	}
}

// TestKeyPartitionMatchesKgo compares placement with franz-go's default
// partitioner, which uses murmur2 as Java does.
func TestKeyPartitionMatchesKgo(t *testing.T) {
	kp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		key := make([]byte, rng.IntN(40)+1)
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		n := rng.IntN(200) + 1
		want := kp.Partition(&kgo.Record{Key: key}, n)
		if got := KeyPartition(key, n); int(got) != want {
			t.Fatalf("key %d %x over %d partitions: got %d, kgo %d", i, key, n, got, want)
		}
	}
}

// TestPickStickyWeights checks the adaptive choice: every candidate can be
// picked, and a partition with a shorter queue is picked more often.
func TestPickStickyWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cands := []int32{0, 1, 2}
	loads := []int{0, 4, 4} // weights 5, 1, 1
	counts := map[int32]int{}
	for range 7000 {
		counts[pickSticky(rng, cands, loads, 3)]++
	}
	if counts[0] < 4000 || counts[1] < 600 || counts[2] < 600 {
		t.Errorf("counts %v, want about 5000/1000/1000", counts)
	}
	counts = map[int32]int{}
	for range 3000 {
		counts[pickSticky(rng, []int32{4, 7}, nil, 8)]++
	}
	if len(counts) != 2 || counts[4] < 1200 || counts[7] < 1200 {
		t.Errorf("uniform over available: %v", counts)
	}
	// No partition with a leader: any partition.
	seen := map[int32]bool{}
	for range 500 {
		seen[pickSticky(rng, nil, nil, 5)] = true
	}
	if len(seen) != 5 {
		t.Errorf("fallback picked %v", seen)
	}
}

func snapshotCluster(topic string, n int, leaderless ...int32) *Cluster {
	node := &Node{ID: 1, Host: "h", Port: 1}
	tm := &topicMeta{name: topic}
	for i := range n {
		p := PartitionInfo{Topic: topic, Partition: int32(i), Leader: node}
		for _, l := range leaderless {
			if l == int32(i) {
				p.Leader = nil
			}
		}
		tm.partitions = append(tm.partitions, p)
		if p.Leader != nil {
			tm.available = append(tm.available, int32(i))
		}
	}
	return &Cluster{nodes: map[int32]*Node{1: node}, topics: map[string]*topicMeta{topic: tm}}
}

func TestRoundRobinPartitioner(t *testing.T) {
	cl := snapshotCluster("t", 4, 2)
	rr := &RoundRobinPartitioner{}
	var got []int32
	for range 6 {
		p, err := rr.Partition("t", nil, nil, nil, nil, cl)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if fmt.Sprint(got) != "[0 1 3 0 1 3]" {
		t.Errorf("round robin over available partitions: %v", got)
	}
	if _, err := rr.Partition("unknown", nil, nil, nil, nil, cl); err == nil {
		t.Error("unknown topic gave a partition")
	}
}

func TestClusterAccessors(t *testing.T) {
	cl := snapshotCluster("t", 3, 1)
	if n, ok := cl.PartitionCountForTopic("t"); !ok || n != 3 {
		t.Errorf("count %d %v", n, ok)
	}
	if len(cl.AvailablePartitionsForTopic("t")) != 2 {
		t.Errorf("available %v", cl.AvailablePartitionsForTopic("t"))
	}
	if _, ok := cl.LeaderFor("t", 1); ok {
		t.Error("leaderless partition has a leader")
	}
	if n, ok := cl.LeaderFor("t", 2); !ok || n.ID != 1 {
		t.Errorf("leader of 2: %v %v", n, ok)
	}
	if len(cl.Nodes()) != 1 || cl.Topics()[0] != "t" {
		t.Errorf("nodes %v topics %v", cl.Nodes(), cl.Topics())
	}
}
