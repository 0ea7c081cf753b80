package kafka

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BenchmarkProduce measures asynchronous sends of 100-byte records with
// the default batching (linger.ms=5, batch.size=16384) to a cluster that
// discards what it is sent.
func BenchmarkProduce(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(12, "t"), kfake.BlackholeProduce())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cfg := testConfig(c.ListenAddrs(), "linger.ms", "5")
	p, err := NewProducer(cfg, VoidSerializer{}, ByteArraySerializer{}, WithLogger(testLogger()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	val := make([]byte, 100)
	b.SetBytes(100)
	b.ResetTimer()
	for range b.N {
		p.SendWithCallback(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: val}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	_ = p.Close(ctx)
}
