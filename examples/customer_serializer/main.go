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
	topic := flag.String("topic", "customerContacts", "topic")
	flag.Parse()
	if err := run(*bootstrap, *topic); err != nil {
		log.Fatal(err)
	}
}

func run(bootstrap, topic string) error {
	p, err := kafka.NewProducer(kafka.Config{"bootstrap.servers": bootstrap}, kafka.IntegerSerializer{}, CustomerSerializer{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer p.Close(ctx)
	c := &Customer{ID: 1, Name: "yifan"}
	md, err := p.Send(ctx, kafka.ProducerRecord[int32, *Customer]{Topic: topic, Key: c.ID, Value: c}).Get(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("topic: %s, partition: %d, offset: %d\n", md.Topic, md.Partition, md.Offset)
	return nil
}
