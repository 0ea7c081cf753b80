package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// twoNodeCluster has topic t with 4 partitions: 0 and 1 led by node 1, 2
// and 3 by node 2.
func twoNodeCluster() *Cluster {
	n1, n2 := &Node{ID: 1, Host: "a", Port: 1}, &Node{ID: 2, Host: "b", Port: 2}
	tm := &topicMeta{name: "t"}
	for i, l := range []*Node{n1, n1, n2, n2} {
		tm.partitions = append(tm.partitions, PartitionInfo{Topic: "t", Partition: int32(i), Leader: l})
		tm.available = append(tm.available, int32(i))
	}
	return &Cluster{nodes: map[int32]*Node{1: n1, 2: n2}, topics: map[string]*topicMeta{"t": tm}}
}

func testAccumulator(t *testing.T, kv ...string) *accumulator {
	t.Helper()
	pc, err := parse(t, kv...)
	if err != nil {
		t.Fatal(err)
	}
	a := newAccumulator(pc, &memoryPool{total: pc.bufferMemory, avail: pc.bufferMemory})
	a.wakeNode, a.wakeManager, a.onNewBatch = func(int32) {}, func() {}, func() {}
	return a
}

// stickyCounts picks a new sticky partition n times.
func stickyCounts(a *accumulator, cl *Cluster, n int) map[int32]int {
	counts := map[int32]int{}
	a.mu.Lock()
	defer a.mu.Unlock()
	for range n {
		st := a.stickyFor("t", cl, time.Now())
		counts[st.partition]++
		st.partition = -1
	}
	return counts
}

// TestStickyAvailability checks partitioner.availability.timeout.ms: a
// broker that has had a batch ready for longer than the timeout without
// accepting a produce gets no new sticky partitions.
func TestStickyAvailability(t *testing.T) {
	a := testAccumulator(t, "partitioner.availability.timeout.ms", "100", "linger.ms", "0")
	cl := twoNodeCluster()
	stuck := &batch{tp: topicPartition{"t", 0}, builder: record.NewBuilder(record.None), created: time.Now().Add(-time.Second), seq: -1, done: make(chan struct{})}
	a.parts[stuck.tp] = &partitionState{tp: stuck.tp, queue: []*batch{stuck}}
	counts := stickyCounts(a, cl, 400)
	if counts[0]+counts[1] != 0 || counts[2] == 0 || counts[3] == 0 {
		t.Errorf("with node 1 unavailable: %v", counts)
	}
	// Node 1 accepted a produce just now: it is available again.
	a.lastAccepted[1] = time.Now()
	counts = stickyCounts(a, cl, 400)
	if len(counts) != 4 {
		t.Errorf("with node 1 available: %v", counts)
	}
	// Without the timeout nothing is excluded.
	b := testAccumulator(t, "linger.ms", "0")
	b.parts[stuck.tp] = &partitionState{tp: stuck.tp, queue: []*batch{stuck}}
	if counts := stickyCounts(b, cl, 400); len(counts) != 4 {
		t.Errorf("without availability timeout: %v", counts)
	}
}

// TestStickyAdaptive checks that a partition with a long queue is chosen
// less often (partitioner.adaptive.partitioning.enable), and evenly when
// adaptive partitioning is off.
func TestStickyAdaptive(t *testing.T) {
	long := func(a *accumulator) {
		ps := &partitionState{tp: topicPartition{"t", 3}}
		for range 9 {
			ps.queue = append(ps.queue, &batch{tp: ps.tp, builder: record.NewBuilder(record.None), created: time.Now(), seq: -1})
		}
		a.parts[ps.tp] = ps
	}
	a := testAccumulator(t)
	long(a)
	counts := stickyCounts(a, twoNodeCluster(), 3100)
	// Weights 10, 10, 10, 1.
	if counts[3] > 300 || counts[0] < 700 {
		t.Errorf("adaptive: %v", counts)
	}
	b := testAccumulator(t, "partitioner.adaptive.partitioning.enable", "false")
	long(b)
	counts = stickyCounts(b, twoNodeCluster(), 4000)
	if counts[3] < 700 {
		t.Errorf("not adaptive: %v", counts)
	}
}

// TestMemoryPoolFIFO checks that buffer.memory is granted in order and
// that a waiter that gives up does not hold up the next.
func TestMemoryPoolFIFO(t *testing.T) {
	m := &memoryPool{total: 100, avail: 100}
	ctx := context.Background()
	far := time.Now().Add(time.Minute)
	if err := m.acquire(ctx, nil, 80, far, time.Minute); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 2)
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		if err := m.acquire(cctx, nil, 50, far, time.Minute); errors.Is(err, context.Canceled) {
			got <- 50
		}
	}()
	for !m.exhausted() {
		time.Sleep(time.Millisecond)
	}
	go func() {
		if m.acquire(ctx, nil, 20, far, time.Minute) == nil {
			got <- 20
		}
	}()
	// 20 bytes are free, but the 50-byte waiter is first in line.
	select {
	case v := <-got:
		t.Fatalf("waiter %d served out of order", v)
	case <-time.After(20 * time.Millisecond):
	}
	// Once the first waiter gives up, the second is served.
	cancel()
	if a, b := <-got, <-got; a+b != 70 {
		t.Errorf("got %d and %d", a, b)
	}
	m.release(100)
	if m.avail != 100 {
		t.Errorf("avail %d after releasing all", m.avail)
	}
}
