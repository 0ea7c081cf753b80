package main

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/examples/internal/extest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTransactionalETL(t *testing.T) {
	c, addrs := extest.Cluster(t, 3, "orders", "orders-upper")
	var kv, want []string
	for i := range 30 {
		kv = append(kv, "order"+strconv.Itoa(i), "item-"+strconv.Itoa(i))
		want = append(want, "ITEM-"+strconv.Itoa(i))
	}
	extest.Produce(t, addrs, "orders", kv...)
	// The first write to the output fails: that transaction aborts and
	// its input is processed again.
	refused := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "orders-upper", Err: kerr.TopicAuthorizationFailed})

	consumer, producer, err := newPipeline(addrs, "orders-etl", "orders-etl-1")
	if err != nil {
		t.Fatal(err)
	}
	out := &extest.Writer{}
	done := make(chan error, 1)
	go func() { done <- run(consumer, producer, "orders", "orders-upper", out) }()
	extest.WaitFor(t, done, out, func() bool { return strings.Contains(out.String(), "(30 in all)") })
	consumer.Wakeup() // what Ctrl-C does
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if refused.Hits() != 1 || out.Count("aborting:") != 1 {
		t.Errorf("%d refused writes; output:\n%s", refused.Hits(), out.String())
	}

	// Every input record is in the output once, for a read_committed
	// reader, although one transaction wrote some and aborted.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("orders-upper"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for len(got) < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %v: %v", got, ctx.Err())
		}
		for _, r := range fs.Records() {
			got = append(got, string(r.Value))
		}
	}
	// Nothing more arrives.
	pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	got = append(got, recordValues(cl.PollFetches(pctx).Records())...)
	pcancel()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("output %v, want %v", got, want)
	}
	// The input offsets were committed with the output.
	committed, end := extest.Committed(t, addrs, "orders-etl", "orders", 3)
	for tp, e := range end {
		if committed[tp].Offset != e {
			t.Errorf("%s: committed %d, end %d", tp, committed[tp].Offset, e)
		}
	}
}

func recordValues(rs []*kgo.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Value))
	}
	return out
}
