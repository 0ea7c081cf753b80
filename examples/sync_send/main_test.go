package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestSyncSend(t *testing.T) {
	c, err := kfake.NewCluster(kfake.SeedTopics(4, "CustomerCountry"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addrs := strings.Join(c.ListenAddrs(), ",")
	var out strings.Builder
	for range 2 {
		if err := run(addrs, "CustomerCountry", &out); err != nil {
			t.Fatal(err)
		}
	}
	// The key places both records in the same partition, murmur2 as in
	// Java; the second is at offset 1.
	part := kafka.KeyPartition([]byte("Precision Products"), 4)
	want := fmt.Sprintf("Topic: CustomerCountry\nPartition: %d\nOffset: 0\nTopic: CustomerCountry\nPartition: %d\nOffset: 1\n", part, part)
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("CustomerCountry"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < 2 && ctx.Err() == nil {
		recs = append(recs, cl.PollFetches(ctx).Records()...)
	}
	for _, r := range recs {
		if string(r.Key) != "Precision Products" || string(r.Value) != "France" || r.Partition != part {
			t.Errorf("consumed %q=%q from partition %d", r.Key, r.Value, r.Partition)
		}
	}
	if len(recs) != 2 {
		t.Errorf("consumed %d records", len(recs))
	}
}

// TestSyncSendError checks that a non-retriable broker error comes back
// from Get at once, classed as not retriable.
func TestSyncSendError(t *testing.T) {
	c, err := kfake.NewCluster(kfake.SeedTopics(1, "CustomerCountry"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed, Count: -1})
	var out strings.Builder
	err = run(strings.Join(c.ListenAddrs(), ","), "CustomerCountry", &out)
	if !errors.Is(err, kafka.ErrAuthorization) || !strings.Contains(err.Error(), "retriable: false") || out.Len() != 0 {
		t.Errorf("got %v, output %q", err, out.String())
	}
}
