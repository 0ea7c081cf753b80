package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFireAndForget(t *testing.T) {
	c, err := kfake.NewCluster(kfake.SeedTopics(2, "CustomerCountry"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	huge := strings.Repeat("x", 2000) // over max.request.size
	var out strings.Builder
	if err := run(strings.Join(c.ListenAddrs(), ","), "CustomerCountry", []string{"France", huge, "USA"}, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); strings.Count(got, "not sent:") != 1 || !strings.Contains(got, "max.request.size") {
		t.Errorf("output %q, want one error naming max.request.size", got)
	}
	// The others arrived, in order (run closed the producer, which sends
	// everything queued).
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("CustomerCountry"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var values []string
	for len(values) < 2 && ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			values = append(values, string(r.Value))
		}
	}
	if strings.Join(values, ",") != "France,USA" {
		t.Errorf("consumed %v", values)
	}
}
