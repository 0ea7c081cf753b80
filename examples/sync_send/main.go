// Command sync_send is the synchronous send of the source documents
// (Kafka: The Definitive Guide, chapter 3): send a record and wait for the
// broker's answer, which is the record's RecordMetadata (topic, partition,
// offset) or the error that ended its retries.
//
//	go run ./examples/sync_send -bootstrap localhost:9092
//
// Java's send(record).get() is Send(ctx, record).Get(ctx) here. Waiting for
// every record costs a round trip each; the documents recommend it only
// where that latency is acceptable.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/samsa-io/samsa/kafka"
)

func main() {
	bootstrap := flag.String("bootstrap", "localhost:9092", "bootstrap.servers")
	topic := flag.String("topic", "CustomerCountry", "topic")
	flag.Parse()
	if err := run(*bootstrap, *topic, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(bootstrap, topic string, out io.Writer) error {
	// The book's ProducerFactory: acks=all, String keys and values.
	cfg := kafka.Config{
		"bootstrap.servers": bootstrap,
		"acks":              "all",
	}
	producer, err := kafka.NewProducer(cfg, kafka.StringSerializer{}, kafka.StringSerializer{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer producer.Close(ctx)

	record := kafka.ProducerRecord[string, string]{Topic: topic, Key: "Precision Products", Value: "France"}
	metadata, err := producer.Send(ctx, record).Get(ctx)
	if err != nil {
		// Either the record failed before it was sent (serialization,
		// buffer full, no metadata within max.block.ms), or the broker
		// answered a non-retriable error, or retries ran out within
		// delivery.timeout.ms.
		return fmt.Errorf("sending to %s: %w (retriable: %v)", topic, err, kafka.Retriable(err))
	}
	fmt.Fprintln(out, "Topic:", metadata.Topic)
	fmt.Fprintln(out, "Partition:", metadata.Partition)
	fmt.Fprintln(out, "Offset:", metadata.Offset)
	return nil
}
