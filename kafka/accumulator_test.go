package kafka

import (
	"context"
	"errors"
	"testing"
	"time"
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
	pool := newBufferPool(pc.bufferMemory, batchBufferSize(pc))
	a := newAccumulator(pc, pool, newProducerMetrics(pc, pool, &client{}))
	a.wakeNode, a.wakeManager, a.onNewBatch = func(int32) {}, func() {}, func() {}
	return a
}

// stickyCounts picks a new sticky partition of topic t n times.
func stickyCounts(a *accumulator, cl *Cluster, n int) map[int32]int {
	counts := map[int32]int{}
	a.cluster = func() *Cluster { return cl }
	a.mu.Lock()
	defer a.mu.Unlock()
	ts := a.topicState("t")
	for range n {
		st := a.stickyFor(ts, cl.topics["t"])
		counts[st.partition]++
		st.partition = -1
	}
	return counts
}

// queueBatches puts n empty batches created at created in a partition's
// queue.
func queueBatches(a *accumulator, partition int32, n int, created time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ps := a.partitionOf("t", a.topicState("t"), partition)
	for range n {
		b := a.newBatch(ps, make([]byte, 0, 100), 0)
		b.created = created
	}
}

// TestStickyAvailability checks partitioner.availability.timeout.ms: a
// broker that has had a batch ready for longer than the timeout without
// accepting a produce gets no new sticky partitions.
func TestStickyAvailability(t *testing.T) {
	a := testAccumulator(t, "partitioner.availability.timeout.ms", "100", "linger.ms", "0")
	cl := twoNodeCluster()
	queueBatches(a, 0, 1, time.Now().Add(-time.Second))
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
	queueBatches(b, 0, 1, time.Now().Add(-time.Second))
	if counts := stickyCounts(b, cl, 400); len(counts) != 4 {
		t.Errorf("without availability timeout: %v", counts)
	}
}

// TestStickyAdaptive checks that a partition with a long queue is chosen
// less often (partitioner.adaptive.partitioning.enable), and evenly when
// adaptive partitioning is off.
func TestStickyAdaptive(t *testing.T) {
	long := func(a *accumulator) { queueBatches(a, 3, 9, time.Now()) }
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

// TestBufferPoolFIFO checks that buffer.memory is granted in order and
// that a waiter that gives up does not hold up the next.
func TestBufferPoolFIFO(t *testing.T) {
	m := newBufferPool(100, 40)
	ctx := context.Background()
	far := time.Now().Add(time.Minute)
	first, err := m.allocate(ctx, nil, 80, far, time.Minute)
	if err != nil || cap(first) != 80 {
		t.Fatal(cap(first), err)
	}
	got := make(chan int, 2)
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		if _, err := m.allocate(cctx, nil, 50, far, time.Minute); errors.Is(err, context.Canceled) {
			got <- 50
		}
	}()
	for !m.exhausted() {
		time.Sleep(time.Millisecond)
	}
	go func() {
		if _, err := m.allocate(ctx, nil, 20, far, time.Minute); err == nil {
			got <- 20
		}
	}()
	// 20 bytes are free, but the 50-byte waiter is first in line.
	select {
	case v := <-got:
		t.Fatalf("waiter %d served out of order", v)
	case <-time.After(20 * time.Millisecond):
	}
	if _, ok := m.tryAllocate(10); ok {
		t.Error("tryAllocate went ahead of waiters")
	}
	// Once the first waiter gives up, the second is served.
	cancel()
	if a, b := <-got, <-got; a+b != 70 {
		t.Errorf("got %d and %d", a, b)
	}
	m.deallocate(first, 80)
	m.deallocate(make([]byte, 0, 20), 20)
	if m.available() != 100 {
		t.Errorf("available %d after giving everything back", m.available())
	}
}

// TestBufferPoolReuse checks that batch.size buffers are recycled through
// the free list, and that the free list gives way to larger requests.
func TestBufferPoolReuse(t *testing.T) {
	m := newBufferPool(100, 40)
	a, ok1 := m.tryAllocate(40)
	b, ok2 := m.tryAllocate(40)
	if !ok1 || !ok2 {
		t.Fatal("two 40-byte buffers do not fit in 100")
	}
	if _, ok := m.tryAllocate(40); ok {
		t.Fatal("a third 40-byte buffer fit in 100")
	}
	a = append(a, "recycled"...)
	m.deallocate(a, 40)
	c, ok := m.tryAllocate(40)
	if !ok || &c[:1][0] != &a[:1][0] || len(c) != 0 {
		t.Error("the free buffer was not reused")
	}
	m.deallocate(c, 40)
	m.deallocate(b, 40)
	if m.available() != 100 {
		t.Errorf("available %d", m.available())
	}
	// 90 bytes need both free buffers dropped.
	big, ok := m.tryAllocate(90)
	if !ok || cap(big) != 90 || m.available() != 10 {
		t.Errorf("90-byte buffer: ok %v cap %d, %d left", ok, cap(big), m.available())
	}
}
