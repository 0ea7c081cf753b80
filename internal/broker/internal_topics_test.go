package broker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
)

// __consumer_offsets is Kafka's internal topic: a Metadata request for it
// creates it with its own partition count and configs (not the broker's
// topic defaults), Metadata marks it internal, and clients may not
// produce to it.
func TestInternalOffsetsTopic(t *testing.T) {
	b := brokertest.Start(t, "offsets.topic.num.partitions=7", "num.partitions=2")
	ctx := testContext(t, 30*time.Second)
	adm := newAdmin(t, b.Addr())
	cl := newKgo(t, b.Addr(), kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))

	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("__consumer_offsets")
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	if _, err := req.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	md, err := adm.Metadata(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	td, ok := md.Topics["__consumer_offsets"]
	if !ok || td.Err != nil {
		t.Fatalf("metadata for __consumer_offsets: found %v, err %v", ok, td.Err)
	}
	if !td.IsInternal {
		t.Error("__consumer_offsets is not marked internal")
	}
	if len(td.Partitions) != 7 {
		t.Errorf("__consumer_offsets has %d partitions, want offsets.topic.num.partitions=7", len(td.Partitions))
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("__consumer_offsets", nil)
	if err != nil {
		t.Fatal(err)
	}
	policy := ""
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil {
			policy = *c.Value
		}
	}
	if policy != "compact" {
		t.Errorf("__consumer_offsets cleanup.policy %q, want compact", policy)
	}

	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "__consumer_offsets", Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce to __consumer_offsets: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
}
