// Command standalone_consumer is the standalone consumer of the source
// documents (Kafka: The Definitive Guide, chapter 4, "Standalone consumer:
// why and how to use a consumer without a group"): it asks for the
// topic's partitions with PartitionsFor and assigns them to itself with
// Assign, so no group rebalances them; it still commits its offsets to its
// group.id. New partitions are not noticed by themselves: as the book
// says, call PartitionsFor now and then (here every -refresh) and assign
// again.
//
//	go run ./examples/standalone_consumer -bootstrap localhost:9092
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
	"slices"
	"time"

	"github.com/samsa-io/samsa/kafka"
)

func main() {
	bootstrap := flag.String("bootstrap", "localhost:9092", "bootstrap.servers")
	topic := flag.String("topic", "customerCountries", "topic")
	refresh := flag.Duration("refresh", time.Minute, "how often to look for new partitions")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *bootstrap, *topic, *refresh, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run reads every partition of topic until ctx ends, then commits and
// closes.
func run(ctx context.Context, bootstrap, topic string, refresh time.Duration, out io.Writer) (err error) {
	consumer, err := kafka.NewConsumer(kafka.Config{
		"bootstrap.servers":  bootstrap,
		"group.id":           "standalone",
		"enable.auto.commit": "false",
		"auto.offset.reset":  "earliest",
	}, kafka.StringDeserializer{}, kafka.StringDeserializer{})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, consumer.CommitSync(cctx), consumer.Close(cctx))
	}()
	var assigned []kafka.TopicPartition
	var lastRefresh time.Time
	for ctx.Err() == nil {
		if time.Since(lastRefresh) >= refresh {
			lastRefresh = time.Now()
			partitions, err := consumer.PartitionsFor(ctx, topic)
			if err != nil {
				return err
			}
			var tps []kafka.TopicPartition
			for _, p := range partitions {
				tps = append(tps, kafka.TopicPartition{Topic: p.Topic, Partition: p.Partition})
			}
			if !slices.Equal(tps, assigned) && len(tps) > 0 {
				if err := consumer.Assign(tps); err != nil {
					return err
				}
				assigned = tps
				fmt.Fprintf(out, "assigned %d partitions of %s\n", len(tps), topic)
			}
		}
		if len(assigned) == 0 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
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
		}
		if !records.IsEmpty() {
			if err := consumer.CommitSync(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
	return nil
}
