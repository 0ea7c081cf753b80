package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/examples/internal/extest"
)

func TestCommitSyncAsync(t *testing.T) {
	_, addrs := extest.Cluster(t, 3, "customerCountries")
	var kv []string
	for i := range 30 {
		kv = append(kv, "customer"+strconv.Itoa(i), "France")
	}
	extest.Produce(t, addrs, "customerCountries", kv...)

	consumer, err := newConsumer(addrs, "CountryCounter")
	if err != nil {
		t.Fatal(err)
	}
	out := &extest.Writer{}
	done := make(chan error, 1)
	go func() { done <- run(consumer, "customerCountries", out) }()
	extest.WaitFor(t, done, out, func() bool { return out.Count("country = France") == 30 })
	consumer.Wakeup() // what Ctrl-C does
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "customer = customer7, country = France") {
		t.Errorf("output %q", out.String())
	}
	// Everything processed was committed: a new member of the group
	// starts at the end.
	committed, end := extest.Committed(t, addrs, "CountryCounter", "customerCountries", 3)
	for tp, e := range end {
		if committed[tp].Offset != e {
			t.Errorf("%s: committed %d, end %d", tp, committed[tp].Offset, e)
		}
	}
}
