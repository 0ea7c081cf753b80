// Command async_callback is the asynchronous send of the source documents
// (Kafka: The Definitive Guide, chapter 3): send records with a callback
// that the producer calls once with each record's outcome, without waiting
// for the broker between sends. The book's DemoProducerCallback prints the
// exception when there is one; so does this callback.
//
//	go run ./examples/async_callback -bootstrap localhost:9092
//
// Java's send(record, callback) is SendWithCallback(ctx, record, callback).
// Callbacks run on the producer's I/O goroutine: keep them short and never
// block in them (the documents advise the same).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"github.com/samsa-io/samsa/kafka"
)

func main() {
	bootstrap := flag.String("bootstrap", "localhost:9092", "bootstrap.servers")
	topic := flag.String("topic", "CustomerCountry", "topic")
	flag.Parse()
	if failed, err := run(*bootstrap, *topic, os.Stdout); err != nil || failed > 0 {
		log.Fatalf("%d records failed; %v", failed, err)
	}
}

// demoProducerCallback reports failures, as the book's
// DemoProducerCallback.onCompletion does, and counts them.
type demoProducerCallback struct {
	mu     sync.Mutex
	out    io.Writer
	failed int
}

func (d *demoProducerCallback) onCompletion(metadata kafka.RecordMetadata, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.failed++
		fmt.Fprintf(d.out, "record for %s failed: %v\n", metadata.Topic, err)
		return
	}
	fmt.Fprintf(d.out, "%s-%d@%d\n", metadata.Topic, metadata.Partition, metadata.Offset)
}

// run sends the book's records asynchronously and returns how many failed.
func run(bootstrap, topic string, out io.Writer) (int, error) {
	producer, err := kafka.NewProducer(kafka.Config{"bootstrap.servers": bootstrap},
		kafka.StringSerializer{}, kafka.StringSerializer{})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	callback := &demoProducerCallback{out: out}
	for _, customer := range []string{"Biomedical Materials", "Precision Products", "Banana"} {
		record := kafka.ProducerRecord[string, string]{Topic: topic, Key: customer, Value: "USA"}
		producer.SendWithCallback(ctx, record, callback.onCompletion)
	}
	// Close sends what is still waiting and returns once every callback
	// has run.
	if err := producer.Close(ctx); err != nil {
		return 0, err
	}
	callback.mu.Lock()
	defer callback.mu.Unlock()
	return callback.failed, nil
}
