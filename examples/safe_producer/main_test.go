package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSafeProducer sends through a broker that fails some produce requests
// before writing (NOT_ENOUGH_REPLICAS) and some after writing
// (REQUEST_TIMED_OUT, so the retry is a duplicate): with the safe settings
// every record is written exactly once, in order per key.
func TestSafeProducer(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var produces atomic.Int64
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1,
		When: func(kmsg.Request) bool { return produces.Add(1)%5 == 1 }})
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: -1,
		When: func(kmsg.Request) bool { return produces.Load()%7 == 3 }})
	// Small batches and a fast backoff make many requests and retries.
	overrides := map[string]string{"batch.size": "300", "linger.ms": "1", "retry.backoff.ms": "5"}
	props := filepath.Join(t.TempDir(), "safe.properties")
	var lines []string
	for k, v := range overrides {
		lines = append(lines, k+"="+v)
	}
	if err := os.WriteFile(props, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadOverrides(props)
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	var out strings.Builder
	if err := run(strings.Join(c.ListenAddrs(), ","), "orders", n, cfg, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "600 of 600 records acknowledged\n" {
		t.Errorf("output %q", out.String())
	}
	if produces.Load() < 20 {
		t.Fatalf("only %d produce requests; the faults barely fired", produces.Load())
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n && ctx.Err() == nil {
		recs = append(recs, cl.PollFetches(ctx).Records()...)
	}
	seen := map[int]bool{}
	last := map[string]int{}
	for _, r := range recs {
		i, _ := strconv.Atoi(strings.TrimPrefix(string(r.Value), "order-"))
		if seen[i] {
			t.Errorf("order-%d written twice", i)
		}
		seen[i] = true
		if prev, ok := last[string(r.Key)]; ok && i <= prev {
			t.Errorf("%s: order-%d after order-%d", r.Key, i, prev)
		}
		last[string(r.Key)] = i
	}
	if len(recs) != n || len(seen) != n {
		t.Errorf("consumed %d records, %d distinct, want %d", len(recs), len(seen), n)
	}
}

// TestSafeSettingsRejectUnsafeOverride checks that an override breaking
// idempotence fails construction, naming the setting, rather than quietly
// weakening the guarantees.
func TestSafeSettingsRejectUnsafeOverride(t *testing.T) {
	_, err := newSafeProducer("127.0.0.1:9092", map[string]string{"acks": "1"})
	if err == nil || !strings.Contains(err.Error(), "acks") {
		t.Errorf("acks=1 with enable.idempotence=true: %v", err)
	}
}
