package kafka_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/samsa-io/samsa/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// The three ways to send of the source documents, against an in-memory
// cluster.
func Example_sendModes() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "CustomerCountry"))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	cfg := kafka.Config{"bootstrap.servers": strings.Join(cluster.ListenAddrs(), ",")}
	p, err := kafka.NewProducer(cfg, kafka.StringSerializer{}, kafka.StringSerializer{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	defer p.Close(ctx)

	// Fire and forget.
	p.Send(ctx, kafka.ProducerRecord[string, string]{Topic: "CustomerCountry", Key: "Precision Products", Value: "France"})

	// Synchronous send.
	md, err := p.Send(ctx, kafka.ProducerRecord[string, string]{Topic: "CustomerCountry", Key: "Precision Products", Value: "France"}).Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sync:", md.Topic, md.Partition, md.Offset)

	// Asynchronous send with a callback.
	done := make(chan struct{})
	p.SendWithCallback(ctx, kafka.ProducerRecord[string, string]{Topic: "CustomerCountry", Key: "Biomedical Materials", Value: "USA"},
		func(md kafka.RecordMetadata, err error) {
			if err != nil {
				log.Print(err)
			} else {
				fmt.Println("async:", md.Topic, md.Partition, md.Offset)
			}
			close(done)
		})
	<-done
	// Output:
	// sync: CustomerCountry 0 1
	// async: CustomerCountry 0 2
}
