package main

import (
	"strconv"
	"testing"

	"github.com/samsa-io/samsa/examples/internal/extest"
)

// TestConsumerThreads runs three workers, reads every record once, and
// shuts all of them down with Wakeup, committing what they read.
func TestConsumerThreads(t *testing.T) {
	_, addrs := extest.Cluster(t, 6, "test")
	var kv []string
	for i := range 60 {
		kv = append(kv, strconv.Itoa(i), strconv.Itoa(i))
	}
	extest.Produce(t, addrs, "test", kv...)
	out := &extest.Writer{}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- run(addrs, "test", "testgroup", 3, out, stop) }()
	extest.WaitFor(t, done, out, func() bool { return out.Count("value = ") == 60 })
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := out.Count("closed"); n != 3 {
		t.Errorf("%d workers closed", n)
	}
	committed, end := extest.Committed(t, addrs, "testgroup", "test", 6)
	for tp, e := range end {
		if committed[tp].Offset != e {
			t.Errorf("%s: committed %d, end %d", tp, committed[tp].Offset, e)
		}
	}
}
