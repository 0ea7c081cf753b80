package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

func TestBananaPartitioner(t *testing.T) {
	c, err := kfake.NewCluster(kfake.SeedTopics(5, "CustomerCountry"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := kafka.NewProducer(kafka.Config{"bootstrap.servers": strings.Join(c.ListenAddrs(), ","), "linger.ms": "0"},
		kafka.StringSerializer{}, kafka.StringSerializer{}, kafka.WithPartitioner(BananaPartitioner{Customer: "Banana"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	defer p.Close(ctx)
	others := map[int32]bool{}
	for _, key := range []string{"Banana", "a", "b", "c", "d", "e", "f", "g", "Banana"} {
		md, err := p.Send(ctx, kafka.ProducerRecord[string, string]{Topic: "CustomerCountry", Key: key, Value: "v"}).Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case key == "Banana" && md.Partition != 4:
			t.Errorf("Banana went to %d, want 4", md.Partition)
		case key != "Banana" && md.Partition == 4:
			t.Errorf("%s went to Banana's partition", key)
		case key != "Banana":
			want := (kafka.Murmur2([]byte(key)) & 0x7fffffff) % 4
			if md.Partition != want {
				t.Errorf("%s went to %d, want %d", key, md.Partition, want)
			}
			others[md.Partition] = true
		}
	}
	if len(others) < 2 {
		t.Errorf("other customers all on %v", others)
	}
	// A record without a key fails, as the Java version throws.
	p2, err := kafka.NewProducer(kafka.Config{"bootstrap.servers": strings.Join(c.ListenAddrs(), ",")},
		kafka.VoidSerializer{}, kafka.StringSerializer{}, kafka.WithPartitioner(BananaPartitioner{Customer: "Banana"}))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close(ctx)
	if _, err := p2.Send(ctx, kafka.ProducerRecord[struct{}, string]{Topic: "CustomerCountry", Value: "v"}).Get(ctx); err == nil ||
		!strings.Contains(err.Error(), "customer name") {
		t.Errorf("keyless record: %v", err)
	}
	if err := run(strings.Join(c.ListenAddrs(), ","), "CustomerCountry"); err != nil {
		t.Errorf("run: %v", err)
	}
}
