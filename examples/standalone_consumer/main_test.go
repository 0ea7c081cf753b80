package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/samsa-io/samsa/examples/internal/extest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestStandaloneConsumer reads all partitions without a group rebalance
// and picks up a partition added later.
func TestStandaloneConsumer(t *testing.T) {
	c, addrs := extest.Cluster(t, 2, "customerCountries")
	var kv []string
	for i := range 10 {
		kv = append(kv, strconv.Itoa(i), "France")
	}
	extest.Produce(t, addrs, "customerCountries", kv...)
	out := &extest.Writer{}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(ctx, addrs, "customerCountries", 200*time.Millisecond, out) }()
	extest.WaitFor(t, done, out, func() bool { return out.Count("country = ") == 10 })

	// A third partition: the next PartitionsFor finds it.
	kc, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	if _, err := kadm.NewClient(kc).CreatePartitions(ctx, 1, "customerCountries"); err != nil {
		t.Fatal(err)
	}
	extest.WaitFor(t, done, out, func() bool { return out.Count("assigned 3 partitions") == 1 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out.Count("assigned 2 partitions of customerCountries") != 1 {
		t.Errorf("output:\n%s", out.String())
	}
}
