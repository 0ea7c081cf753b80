// Command commit_sync_async is the consumer loop of the source documents
// (Kafka: The Definitive Guide, chapter 4, "Combining synchronous and
// asynchronous commits"): poll, process, commit asynchronously after every
// batch, which is fast and lets the next commit make up for a failed one;
// and once more synchronously before closing, when there is no next
// commit, retrying until it succeeds or fails for good.
//
//	go run ./examples/commit_sync_async -bootstrap localhost:9092
//
// Stop it with Ctrl-C: the signal calls Wakeup, which makes the blocked
// Poll return ErrWakeup (Java's WakeupException), and the loop ends with
// the synchronous commit and Close.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/samsa-io/samsa/kafka"
)

func main() {
	bootstrap := flag.String("bootstrap", "localhost:9092", "bootstrap.servers")
	topic := flag.String("topic", "customerCountries", "topic")
	group := flag.String("group", "CountryCounter", "group.id")
	flag.Parse()
	consumer, err := newConsumer(*bootstrap, *group)
	if err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		consumer.Wakeup()
	}()
	if err := run(consumer, *topic, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// newConsumer makes the book's consumer: String keys and values, a group,
// and commits left to the application (enable.auto.commit=false).
func newConsumer(bootstrap, group string) (*kafka.Consumer[string, string], error) {
	return kafka.NewConsumer(kafka.Config{
		"bootstrap.servers":  bootstrap,
		"group.id":           group,
		"enable.auto.commit": "false",
		"auto.offset.reset":  "earliest",
	}, kafka.StringDeserializer{}, kafka.StringDeserializer{})
}

// run polls until Wakeup, committing asynchronously after each batch and
// synchronously at the end, then closes the consumer.
func run(consumer *kafka.Consumer[string, string], topic string, out io.Writer) (err error) {
	defer func() {
		// The last commit: no later one would make up for a failure,
		// so it retries (CommitSync) before the consumer closes.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, consumer.CommitSync(ctx), consumer.Close(ctx))
	}()
	if err := consumer.Subscribe([]string{topic}, nil); err != nil {
		return err
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		records, err := consumer.Poll(ctx)
		cancel()
		if errors.Is(err, kafka.ErrWakeup) {
			return nil // we are shutting down
		}
		if err != nil {
			return fmt.Errorf("unexpected error: %w", err)
		}
		for _, r := range records.All() {
			fmt.Fprintf(out, "topic = %s, partition = %d, offset = %d, customer = %s, country = %s\n",
				r.Topic, r.Partition, r.Offset, r.Key, r.Value)
		}
		// Fast, no retries: a failure is made up for by the next one.
		consumer.CommitAsync(func(offsets map[kafka.TopicPartition]kafka.OffsetAndMetadata, err error) {
			if err != nil {
				log.Printf("commit failed for offsets %v: %v", offsets, err)
			}
		})
	}
}
