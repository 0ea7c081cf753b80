// Command simple_consumer is the first consumer of the source documents
// (Kafka: The Definitive Guide, chapter 4, "The poll loop", and the
// simple-kafka-consumer and Kafka-consumer-auto-commit projects): it joins
// the CountryCounter group, reads customerCountries, and keeps a count of
// customers per country, printed as JSON after every batch. Offsets are
// committed automatically (enable.auto.commit, every
// auto.commit.interval.ms): each Poll commits what the previous Polls
// returned, so a crash replays at most the records of the last interval.
//
//	go run ./examples/simple_consumer -bootstrap localhost:9092
package main

import (
	"context"
	"encoding/json"
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
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *bootstrap, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run counts customers per country until ctx ends, then closes the
// consumer, which commits the last positions and leaves the group.
func run(ctx context.Context, bootstrap string, out io.Writer) (err error) {
	consumer, err := kafka.NewConsumer(kafka.Config{
		"bootstrap.servers":       bootstrap,
		"group.id":                "CountryCounter",
		"auto.commit.interval.ms": "1000",
		"auto.offset.reset":       "earliest",
	}, kafka.StringDeserializer{}, kafka.StringDeserializer{})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, consumer.Close(cctx))
	}()
	if err := consumer.Subscribe([]string{"customerCountries"}, nil); err != nil {
		return err
	}
	custCountryMap := map[string]int{}
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		records, err := consumer.Poll(pctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, r := range records.All() {
			fmt.Fprintf(out, "topic = %s, partition = %d, offset = %d, customer = %s, country = %s\n",
				r.Topic, r.Partition, r.Offset, r.Key, r.Value)
			custCountryMap[r.Value]++
		}
		if !records.IsEmpty() {
			counts, _ := json.Marshal(custCountryMap)
			fmt.Fprintln(out, string(counts))
		}
	}
	return nil
}
