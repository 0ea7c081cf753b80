// Command safe_producer is the "safe producer" of the source documents
// (advanced producer configurations): settings that keep every
// acknowledged record, written once and in order per partition, through
// broker failures and retries, plus the settings the same documents give
// for throughput (compression, linger.ms, batch.size).
//
//	go run ./examples/safe_producer -bootstrap localhost:9092 -config safe-producer.properties
//
// With Kafka 3.0 and later (and Samsa) these are the defaults, spelled out
// here so that a reader sees them: acks=all waits for every in-sync
// replica; enable.idempotence=true numbers each partition's batches so
// that the broker drops duplicates of retries and rejects gaps, keeping
// order with up to 5 requests in flight; retries is effectively unbounded
// and delivery.timeout.ms bounds the time spent retrying instead. On the
// broker side the topic needs min.insync.replicas=2 with a replication
// factor of 3, so that acks=all means two copies.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"strconv"
	"time"

	"github.com/samsa-io/samsa/kafka"
)

// safeSettings are the documents' safe producer settings.
var safeSettings = kafka.Config{
	"acks":                                  "all",
	"enable.idempotence":                    "true",
	"retries":                               "2147483647",
	"max.in.flight.requests.per.connection": "5",
	"delivery.timeout.ms":                   "120000",
}

// throughputSettings are the documents' high-throughput settings, at a
// little latency and CPU: batches of up to 32 KiB, collected for 20 ms and
// compressed.
var throughputSettings = kafka.Config{
	"compression.type": "snappy",
	"linger.ms":        "20",
	"batch.size":       strconv.Itoa(32 * 1024),
}

func main() {
	bootstrap := flag.String("bootstrap", "localhost:9092", "bootstrap.servers")
	topic := flag.String("topic", "orders", "topic")
	config := flag.String("config", "", "optional .properties file whose settings override the built-in ones")
	n := flag.Int("n", 1000, "records to send")
	flag.Parse()
	cfg, err := loadOverrides(*config)
	if err != nil {
		log.Fatal(err)
	}
	if err := run(*bootstrap, *topic, *n, cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// loadOverrides reads a .properties file, if one is named.
func loadOverrides(path string) (kafka.Config, error) {
	if path == "" {
		return kafka.Config{}, nil
	}
	return kafka.LoadConfig(path)
}

// newSafeProducer builds a producer with the safe and throughput
// settings, then overrides.
func newSafeProducer(bootstrap string, overrides kafka.Config) (*kafka.Producer[string, string], error) {
	cfg := kafka.Config{"bootstrap.servers": bootstrap}
	maps.Copy(cfg, safeSettings)
	maps.Copy(cfg, throughputSettings)
	maps.Copy(cfg, overrides)
	return kafka.NewProducer(cfg, kafka.StringSerializer{}, kafka.StringSerializer{})
}

// run sends n records keyed by customer, asynchronously, and reports how
// many were acknowledged.
func run(bootstrap, topic string, n int, overrides kafka.Config, out io.Writer) error {
	producer, err := newSafeProducer(bootstrap, overrides)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errs := make(chan error, n)
	for i := range n {
		record := kafka.ProducerRecord[string, string]{
			Topic: topic,
			Key:   "customer-" + strconv.Itoa(i%10),
			Value: "order-" + strconv.Itoa(i),
		}
		producer.SendWithCallback(ctx, record, func(_ kafka.RecordMetadata, err error) { errs <- err })
	}
	if err := producer.Close(ctx); err != nil {
		return err
	}
	close(errs)
	acked := 0
	var first error
	for err := range errs {
		if err == nil {
			acked++
		} else if first == nil {
			first = err
		}
	}
	fmt.Fprintf(out, "%d of %d records acknowledged\n", acked, n)
	return first
}
