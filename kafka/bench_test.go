package kafka

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
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

// BenchmarkConsume measures reading 100-byte records from six partitions
// of a kfake broker, with this consumer and, for comparison, franz-go's,
// each from the start of the same log.
func BenchmarkConsume(b *testing.B) {
	const n = 200_000
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "t"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	p, err := NewProducer(testConfig(c.ListenAddrs(), "linger.ms", "10", "batch.size", "262144"), VoidSerializer{}, ByteArraySerializer{}, WithLogger(testLogger()))
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 100)
	for range n {
		p.SendWithCallback(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: val}, nil)
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("samsa", func(b *testing.B) {
		b.SetBytes(100 * n)
		b.ReportAllocs()
		for range b.N {
			cons, err := NewConsumer(Config{"bootstrap.servers": c.ListenAddrs()[0], "auto.offset.reset": "earliest"},
				VoidDeserializer{}, ByteArrayDeserializer{}, WithLogger(testLogger()))
			if err != nil {
				b.Fatal(err)
			}
			var tps []TopicPartition
			for i := range int32(6) {
				tps = append(tps, TopicPartition{"t", i})
			}
			if err := cons.Assign(tps); err != nil {
				b.Fatal(err)
			}
			for got := 0; got < n; {
				recs, err := cons.Poll(ctx)
				if err != nil {
					b.Fatal(err)
				}
				got += recs.Count()
			}
			_ = cons.Close(ctx)
		}
	})
	b.Run("franz-go", func(b *testing.B) {
		b.SetBytes(100 * n)
		b.ReportAllocs()
		for range b.N {
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				b.Fatal(err)
			}
			for got := 0; got < n; {
				got += cl.PollFetches(ctx).NumRecords()
			}
			cl.Close()
		}
	})
}
