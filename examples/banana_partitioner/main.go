package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/samsa-io/samsa/kafka"
)

func main() {
	bootstrap := flag.String("bootstrap", "localhost:9092", "bootstrap.servers")
	topic := flag.String("topic", "CustomerCountry", "topic with at least 2 partitions")
	flag.Parse()
	if err := run(*bootstrap, *topic); err != nil {
		log.Fatal(err)
	}
}

func run(bootstrap, topic string) error {
	cfg := kafka.Config{"bootstrap.servers": bootstrap}
	p, err := kafka.NewProducer(cfg, kafka.StringSerializer{}, kafka.StringSerializer{},
		kafka.WithPartitioner(BananaPartitioner{Customer: "Banana"}))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer p.Close(ctx)
	for _, customer := range []string{"Banana", "Precision Products", "Biomedical Materials", "Banana"} {
		md, err := p.Send(ctx, kafka.ProducerRecord[string, string]{Topic: topic, Key: customer, Value: "USA"}).Get(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("%-22s -> partition %d offset %d\n", customer, md.Partition, md.Offset)
	}
	return nil
}
