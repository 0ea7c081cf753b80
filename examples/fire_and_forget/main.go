// Command fire_and_forget is the first way to send of the source documents
// (Kafka: The Definitive Guide, chapter 3): send records and do not wait
// for the broker's answer. The producer still retries retriable errors; a
// record that fails for good after it was queued is lost without notice,
// which the documents accept only where losing a record silently is fine.
//
//	go run ./examples/fire_and_forget -bootstrap localhost:9092
//
// In Java, send() throws for errors that happen before the record is
// queued (SerializationException, BufferExhaustedException,
// TimeoutException, InterruptException). Here Send never panics or
// returns an error: such a record's Future is already done when Send
// returns, so a glance at Done() without waiting catches them, as the
// book's try/catch around send() does.
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
	if err := run(*bootstrap, *topic, []string{"France", "USA", "Korea"}, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run sends one record per country and reports those that failed before
// being queued.
func run(bootstrap, topic string, countries []string, out io.Writer) error {
	cfg := kafka.Config{
		"bootstrap.servers": bootstrap,
		// A record larger than this fails before it is sent.
		"max.request.size": "1024",
	}
	producer, err := kafka.NewProducer(cfg, kafka.StringSerializer{}, kafka.StringSerializer{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer producer.Close(ctx) // sends what is still queued

	for _, country := range countries {
		record := kafka.ProducerRecord[string, string]{Topic: topic, Key: "Precision Products", Value: country}
		future := producer.Send(ctx, record)
		select {
		case <-future.Done():
			// Done already: it failed before it was queued (or, rarely,
			// was already answered); either way Get does not block.
			if _, err := future.Get(ctx); err != nil {
				fmt.Fprintln(out, "not sent:", err)
			}
		default:
			// Queued: fire and forget.
		}
	}
	return nil
}
