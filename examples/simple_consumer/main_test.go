package main

import (
	"context"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/examples/internal/extest"
)

func TestSimpleConsumer(t *testing.T) {
	_, addrs := extest.Cluster(t, 2, "customerCountries")
	extest.Produce(t, addrs, "customerCountries", "a", "France", "b", "USA", "c", "France")
	out := &extest.Writer{}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(ctx, addrs, out) }()
	extest.WaitFor(t, done, out, func() bool { return strings.Contains(out.String(), `{"France":2,"USA":1}`) })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Close committed the positions: the group resumes at the end.
	committed, end := extest.Committed(t, addrs, "CountryCounter", "customerCountries", 2)
	for tp, e := range end {
		if committed[tp].Offset != e {
			t.Errorf("%s: committed %d, end %d", tp, committed[tp].Offset, e)
		}
	}
}
