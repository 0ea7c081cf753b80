// Command rebalance_listener is the rebalance listener of the source
// documents (Kafka: The Definitive Guide, chapter 4, "Rebalance
// listeners"): the consumer keeps the offsets of the records it has
// processed (with a metadata string), commits them asynchronously as it
// goes, and synchronously in OnPartitionsRevoked, before the partitions
// go to another member, so that the member that gets them resumes exactly
// after the last record processed here. It also shows committing specific
// offsets rather than the positions Poll reached.
//
//	go run ./examples/rebalance_listener -bootstrap localhost:9092
//
// Start several in the same group to watch partitions move.
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
	"sync"
	"time"

	"github.com/samsa-io/samsa/kafka"
)

func main() {
	bootstrap := flag.String("bootstrap", "localhost:9092", "bootstrap.servers")
	topic := flag.String("topic", "customerCountries", "topic")
	group := flag.String("group", "CountryCounter", "group.id")
	flag.Parse()
	h, err := newHandler(*bootstrap, *group, os.Stdout)
	if err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		h.consumer.Wakeup()
	}()
	if err := h.run(*topic); err != nil {
		log.Fatal(err)
	}
}

// handler is the consumer and its record of processed offsets, the book's
// currentOffsets map.
type handler struct {
	consumer *kafka.Consumer[string, string]
	out      io.Writer

	mu             sync.Mutex
	currentOffsets map[kafka.TopicPartition]kafka.OffsetAndMetadata
}

func newHandler(bootstrap, group string, out io.Writer) (*handler, error) {
	consumer, err := kafka.NewConsumer(kafka.Config{
		"bootstrap.servers":  bootstrap,
		"group.id":           group,
		"enable.auto.commit": "false",
		"auto.offset.reset":  "earliest",
	}, kafka.StringDeserializer{}, kafka.StringDeserializer{})
	if err != nil {
		return nil, err
	}
	return &handler{consumer: consumer, out: out, currentOffsets: map[kafka.TopicPartition]kafka.OffsetAndMetadata{}}, nil
}

// offsets returns a copy of the processed offsets.
func (h *handler) offsets() map[kafka.TopicPartition]kafka.OffsetAndMetadata {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[kafka.TopicPartition]kafka.OffsetAndMetadata, len(h.currentOffsets))
	for tp, om := range h.currentOffsets {
		out[tp] = om
	}
	return out
}

// OnPartitionsRevoked commits what was processed before the partitions
// move: the book's HandleRebalance.onPartitionsRevoked.
func (h *handler) OnPartitionsRevoked(partitions []kafka.TopicPartition) {
	fmt.Fprintf(h.out, "Lost partitions in rebalance. Committing current offsets: %v\n", h.offsets())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.consumer.CommitSyncOffsets(ctx, h.offsets()); err != nil {
		log.Printf("commit in rebalance failed: %v", err)
	}
	h.mu.Lock()
	for _, tp := range partitions {
		delete(h.currentOffsets, tp)
	}
	h.mu.Unlock()
}

// OnPartitionsAssigned has nothing to do: positions come from the
// committed offsets.
func (h *handler) OnPartitionsAssigned(partitions []kafka.TopicPartition) {
	fmt.Fprintf(h.out, "Assigned partitions: %v\n", partitions)
}

// OnPartitionsLost is called instead of OnPartitionsRevoked when the
// partitions may already be another member's: committing them would
// fail, so only forget them.
func (h *handler) OnPartitionsLost(partitions []kafka.TopicPartition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, tp := range partitions {
		delete(h.currentOffsets, tp)
	}
}

// run polls until Wakeup, then commits synchronously and closes.
func (h *handler) run(topic string) (err error) {
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, h.consumer.CommitSyncOffsets(ctx, h.offsets()), h.consumer.Close(ctx))
	}()
	if err := h.consumer.Subscribe([]string{topic}, h); err != nil {
		return err
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		records, err := h.consumer.Poll(ctx)
		cancel()
		if errors.Is(err, kafka.ErrWakeup) {
			return nil // we are closing: the deferred commit and Close follow
		}
		if err != nil {
			return fmt.Errorf("unexpected error: %w", err)
		}
		for _, r := range records.All() {
			fmt.Fprintf(h.out, "topic = %s, partition = %d, offset = %d, customer = %s, country = %s\n",
				r.Topic, r.Partition, r.Offset, r.Key, r.Value)
			h.mu.Lock()
			h.currentOffsets[kafka.TopicPartition{Topic: r.Topic, Partition: r.Partition}] =
				kafka.OffsetAndMetadata{Offset: r.Offset + 1, Metadata: "no metadata"}
			h.mu.Unlock()
		}
		h.consumer.CommitAsyncOffsets(h.offsets(), nil)
	}
}
