package kafka

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// Node is a broker.
type Node struct {
	ID   int32
	Host string
	Port int32
	Rack string
}

// PartitionInfo describes one partition as the last metadata response
// did. Leader is nil when the partition has no leader.
type PartitionInfo struct {
	Topic           string
	Partition       int32
	Leader          *Node
	LeaderEpoch     int32
	Replicas        []int32
	InSyncReplicas  []int32
	OfflineReplicas []int32
}

// Cluster is an immutable snapshot of the cluster metadata the producer
// holds (Java's org.apache.kafka.common.Cluster), given to partitioners.
type Cluster struct {
	nodes      map[int32]*Node
	topics     map[string]*topicMeta
	controller int32 // -1 if unknown
	clusterID  string
}

type topicMeta struct {
	name       string
	id         [16]byte
	err        error // a metadata error for the topic, nil if none
	internal   bool  // __consumer_offsets and the like
	partitions []PartitionInfo
	// available lists the partitions that have a leader.
	available []int32
	// use is where Sends mark the topic used; nil for a topic the
	// producer did not ask about.
	use *topicUse
}

// Nodes returns the brokers, ordered by id.
func (c *Cluster) Nodes() []Node {
	out := make([]Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// NodeByID returns the broker with the id.
func (c *Cluster) NodeByID(id int32) (Node, bool) {
	if n, ok := c.nodes[id]; ok {
		return *n, true
	}
	return Node{}, false
}

// Topics returns the topics the snapshot knows, sorted.
func (c *Cluster) Topics() []string {
	out := make([]string, 0, len(c.topics))
	for t, m := range c.topics {
		if m.err == nil {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// PartitionsForTopic returns every partition of the topic, by number.
func (c *Cluster) PartitionsForTopic(topic string) []PartitionInfo {
	if m := c.topic(topic); m != nil {
		return slices.Clone(m.partitions)
	}
	return nil
}

// AvailablePartitionsForTopic returns the partitions that have a leader.
func (c *Cluster) AvailablePartitionsForTopic(topic string) []PartitionInfo {
	m := c.topic(topic)
	if m == nil {
		return nil
	}
	out := make([]PartitionInfo, 0, len(m.available))
	for _, p := range m.available {
		out = append(out, m.partitions[p])
	}
	return out
}

// PartitionCountForTopic returns the number of partitions, and false if the
// topic is unknown.
func (c *Cluster) PartitionCountForTopic(topic string) (int, bool) {
	if m := c.topic(topic); m != nil {
		return len(m.partitions), true
	}
	return 0, false
}

// LeaderFor returns the leader of a partition.
func (c *Cluster) LeaderFor(topic string, partition int32) (Node, bool) {
	m := c.topic(topic)
	if m == nil || partition < 0 || int(partition) >= len(m.partitions) || m.partitions[partition].Leader == nil {
		return Node{}, false
	}
	return *m.partitions[partition].Leader, true
}

func (c *Cluster) topic(t string) *topicMeta {
	if c == nil {
		return nil
	}
	if m, ok := c.topics[t]; ok && m.err == nil {
		return m
	}
	return nil
}

// topicByID returns the name of the topic with the id, if known.
func (c *Cluster) topicByID(id [16]byte) (string, bool) {
	for name, m := range c.topics {
		if m.id == id && m.err == nil {
			return name, true
		}
	}
	return "", false
}

// leaderID returns the leader's node id, or -1.
func (c *Cluster) leaderID(topic string, partition int32) int32 {
	m := c.topic(topic)
	if m == nil || partition < 0 || int(partition) >= len(m.partitions) || m.partitions[partition].Leader == nil {
		return -1
	}
	return m.partitions[partition].Leader.ID
}

// Partitioner chooses the partition of records that do not name one (Java's
// org.apache.kafka.clients.producer.Partitioner). key and value are the
// record's Go values (nil for a null key), keyBytes and valueBytes their
// serialized forms. The result must be in [0, partitions); an error fails
// the Send, as an exception thrown by a Java partitioner does. It is called
// concurrently by every goroutine that sends.
type Partitioner interface {
	Partition(topic string, key any, keyBytes []byte, value any, valueBytes []byte, cluster *Cluster) (int32, error)
	Close() error
}

// Murmur2 is the 32-bit murmur2 hash the Java client uses to place keyed
// records (org.apache.kafka.common.utils.Utils.murmur2).
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(data))
	for len(data) >= 4 {
		k := binary.LittleEndian.Uint32(data)
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// KeyPartition returns the partition the default partitioner gives a
// key: (murmur2(key) & 0x7fffffff) % numPartitions, over all partitions,
// available or not, so that a key keeps its partition while a broker is
// down (BuiltInPartitioner.partitionForKey).
func KeyPartition(keyBytes []byte, numPartitions int) int32 {
	return int32((Murmur2(keyBytes) & 0x7fffffff) % int32(numPartitions))
}

// RoundRobinPartitioner spreads records over the available partitions in
// turn, ignoring keys (Java's RoundRobinPartitioner, partitioner.class =
// org.apache.kafka.clients.producer.RoundRobinPartitioner).
type RoundRobinPartitioner struct {
	counters sync.Map // topic -> *atomic.Uint32
}

// Partition returns the next partition of the topic.
func (rr *RoundRobinPartitioner) Partition(topic string, _ any, _ []byte, _ any, _ []byte, cluster *Cluster) (int32, error) {
	v, _ := rr.counters.LoadOrStore(topic, new(atomic.Uint32))
	n := v.(*atomic.Uint32).Add(1) - 1
	n &= 0x7fffffff // Utils.toPositive
	if avail := cluster.AvailablePartitionsForTopic(topic); len(avail) > 0 {
		return avail[int(n)%len(avail)].Partition, nil
	}
	count, _ := cluster.PartitionCountForTopic(topic)
	if count == 0 {
		return 0, wrapErr(ErrUnknownTopicOrPartition, "topic %s has no partitions", topic)
	}
	return int32(int(n) % count), nil
}

// Close does nothing.
func (rr *RoundRobinPartitioner) Close() error { return nil }

// stickyState is the uniform sticky partitioner's state for one topic
// (KIP-794, Java's BuiltInPartitioner): the partition records without a
// key currently go to and how many bytes went there since it was picked.
type stickyState struct {
	partition     int32
	producedBytes int
}

// pickSticky chooses a new sticky partition for null-key records. loads
// holds, for each candidate partition (with a leader, and with an available
// broker when partitioner.availability.timeout.ms is set), its queue length
// in batches; nil loads means adaptive partitioning is off. Candidates are
// weighted by (longest queue + 1 - queue), so shorter queues win more often
// (BuiltInPartitioner.nextPartition and its cumulative frequency table).
func pickSticky(rng *rand.Rand, candidates []int32, loads []int, numPartitions int) int32 {
	if len(candidates) == 0 {
		return int32(rng.IntN(numPartitions))
	}
	if loads == nil {
		return candidates[rng.IntN(len(candidates))]
	}
	maxLoad := 0
	for _, l := range loads {
		maxLoad = max(maxLoad, l)
	}
	cum := make([]int, len(loads))
	total := 0
	for i, l := range loads {
		total += maxLoad + 1 - l
		cum[i] = total
	}
	x := rng.IntN(total)
	i := sort.SearchInts(cum, x+1)
	return candidates[i]
}
