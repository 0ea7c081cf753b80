package kafka

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// consumerTestConfig is a consumer config with fast test timings; group
// may be "" for a consumer without a group. kv are extra settings.
func consumerTestConfig(addrs []string, group string, kv ...string) Config {
	cfg := Config{
		"bootstrap.servers":        strings.Join(addrs, ","),
		"auto.offset.reset":        "earliest",
		"retry.backoff.ms":         "10",
		"retry.backoff.max.ms":     "200",
		"reconnect.backoff.max.ms": "200",
		"fetch.max.wait.ms":        "100",
	}
	if group != "" {
		cfg["group.id"] = group
		cfg["session.timeout.ms"] = "3000"
		cfg["heartbeat.interval.ms"] = "100"
		cfg["max.poll.interval.ms"] = "10000"
	}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	if strings.EqualFold(cfg["group.protocol"], "consumer") {
		delete(cfg, "session.timeout.ms")
		delete(cfg, "heartbeat.interval.ms")
	}
	return cfg
}

// startConsumer makes a consumer closed at the end of the test.
func startConsumer[K, V any](t *testing.T, cfg Config, kd Deserializer[K], vd Deserializer[V]) *Consumer[K, V] {
	t.Helper()
	c, err := NewConsumer(cfg, kd, vd, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// produceNumbered writes n records "0".."n-1" (key and value), record i
// to partition i % partitions, and waits for all.
func produceNumbered(t *testing.T, addrs []string, topic string, partitions, from, n int) {
	t.Helper()
	p := startProducer(t, testConfig(addrs, "linger.ms", "2"), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	var futs []*Future
	for i := from; i < from+n; i++ {
		part := int32(i % partitions)
		s := strconv.Itoa(i)
		futs = append(futs, p.Send(ctx, ProducerRecord[string, string]{Topic: topic, Partition: &part, Key: s, Value: s,
			Headers: Headers{{Key: "i", Value: []byte(s)}}}))
	}
	for i, f := range futs {
		if _, err := f.Get(ctx); err != nil {
			t.Fatalf("producing record %d: %v", from+i, err)
		}
	}
}

// pollUntil polls until cond holds or d passes, handing every record to
// onRec.
func pollUntil[K, V any](t *testing.T, c *Consumer[K, V], d time.Duration, onRec func(ConsumerRecord[K, V]), cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		recs, err := c.Poll(ctx)
		cancel()
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		for _, r := range recs.All() {
			onRec(r)
		}
	}
}

// ownership records which member owns which partition, from rebalance
// listeners, and fails if a partition is ever owned twice.
type ownership struct {
	t      *testing.T
	mu     sync.Mutex
	owner  map[TopicPartition]string
	events []string
}

func newOwnership(t *testing.T) *ownership {
	return &ownership{t: t, owner: map[TopicPartition]string{}}
}

// listener returns member's listener; extra, if not nil, runs in
// OnPartitionsRevoked before the partitions are released.
func (o *ownership) listener(member string, onRevoke func([]TopicPartition)) RebalanceListener {
	release := func(tps []TopicPartition, how string) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, tp := range tps {
			if o.owner[tp] == member {
				delete(o.owner, tp)
			}
		}
		o.events = append(o.events, fmt.Sprintf("%s %s %v", member, how, tps))
	}
	return RebalanceListenerFuncs{
		Assigned: func(tps []TopicPartition) {
			o.mu.Lock()
			defer o.mu.Unlock()
			for _, tp := range tps {
				if other, ok := o.owner[tp]; ok && other != member {
					o.t.Errorf("%s assigned %s, still owned by %s; events: %v", member, tp, other, o.events)
				}
				o.owner[tp] = member
			}
			o.events = append(o.events, fmt.Sprintf("%s assigned %v", member, tps))
		},
		Revoked: func(tps []TopicPartition) {
			if onRevoke != nil {
				onRevoke(tps)
			}
			release(tps, "revoked")
		},
		Lost: func(tps []TopicPartition) { release(tps, "lost") },
	}
}

// drop forgets a member's partitions (a member killed without callbacks).
func (o *ownership) drop(member string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for tp, m := range o.owner {
		if m == member {
			delete(o.owner, tp)
		}
	}
}

// counts returns how many partitions each member owns.
func (o *ownership) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]int{}
	for _, m := range o.owner {
		out[m]++
	}
	return out
}
