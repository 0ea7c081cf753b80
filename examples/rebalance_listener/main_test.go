package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/examples/internal/extest"
)

// processed counts the records each output shows, by customer.
func processed(outs ...*extest.Writer) map[string]int {
	seen := map[string]int{}
	for _, o := range outs {
		for _, line := range strings.Split(o.String(), "\n") {
			if _, rest, ok := strings.Cut(line, "customer = "); ok {
				seen[strings.Split(rest, ",")[0]]++
			}
		}
	}
	return seen
}

func records(from, to int) []string {
	var kv []string
	for i := from; i < to; i++ {
		kv = append(kv, strconv.Itoa(i), "France")
	}
	return kv
}

// TestRebalanceListener runs two members: when the second joins, the
// first commits in OnPartitionsRevoked, and no record is processed twice.
func TestRebalanceListener(t *testing.T) {
	_, addrs := extest.Cluster(t, 4, "customerCountries")
	start := func(out *extest.Writer) (*handler, chan error) {
		h, err := newHandler(addrs, "CountryCounter", out)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- h.run("customerCountries") }()
		return h, done
	}
	out1, out2 := &extest.Writer{}, &extest.Writer{}
	h1, done1 := start(out1)
	extest.Produce(t, addrs, "customerCountries", records(0, 40)...)
	extest.WaitFor(t, done1, out1, func() bool { return len(processed(out1)) == 40 })
	h2, done2 := start(out2)
	extest.WaitFor(t, done2, out2, func() bool {
		return out1.Count("Committing current offsets") > 0 && out2.Count("Assigned partitions: [customerCountries") > 0
	})
	extest.Produce(t, addrs, "customerCountries", records(40, 80)...)
	extest.WaitFor(t, done2, out2, func() bool { return len(processed(out1, out2)) == 80 })
	h1.consumer.Wakeup()
	h2.consumer.Wakeup()
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	for k, n := range processed(out1, out2) {
		if n != 1 {
			t.Errorf("record %s processed %d times", k, n)
		}
	}
}
