// Command consumer_threads is the multi-threaded consumer of the source
// documents (the Kafka-consumer-multi-thread project): several consumers
// of one group, one per goroutine, since a consumer is used by one
// goroutine at a time, and a safe shutdown. On Ctrl-C each consumer's
// Wakeup makes its blocked Poll return ErrWakeup; each loop then closes
// its consumer, which commits (enable.auto.commit) and leaves the group,
// and main waits for all of them before exiting, as the book's shutdown
// hook joins the consumer threads.
//
//	go run ./examples/consumer_threads -bootstrap localhost:9092 -threads 3
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
	topic := flag.String("topic", "test", "topic")
	group := flag.String("group", "testgroup", "group.id")
	threads := flag.Int("threads", 3, "consumers")
	flag.Parse()
	stop := make(chan struct{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		close(stop)
	}()
	if err := run(*bootstrap, *topic, *group, *threads, os.Stdout, stop); err != nil {
		log.Fatal(err)
	}
}

// lockedWriter serializes the workers' output lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

// run starts the consumers and, once stop is closed, wakes them all and
// waits until each has closed.
func run(bootstrap, topic, group string, threads int, out io.Writer, stop <-chan struct{}) error {
	w := &lockedWriter{w: out}
	consumers := make([]*kafka.Consumer[string, string], threads)
	for i := range consumers {
		c, err := kafka.NewConsumer(kafka.Config{
			"bootstrap.servers":       bootstrap,
			"group.id":                group,
			"client.id":               fmt.Sprintf("worker-%d", i),
			"auto.offset.reset":       "earliest",
			"auto.commit.interval.ms": "1000",
		}, kafka.StringDeserializer{}, kafka.StringDeserializer{})
		if err != nil {
			return err
		}
		consumers[i] = c
	}
	errs := make([]error, threads)
	var wg sync.WaitGroup
	for i, c := range consumers {
		wg.Go(func() { errs[i] = work(i, c, topic, w) })
	}
	<-stop
	for _, c := range consumers {
		c.Wakeup() // safe from any goroutine
	}
	wg.Wait()
	return errors.Join(errs...)
}

// work is one consumer's loop; it owns the consumer and closes it.
func work(id int, c *kafka.Consumer[string, string], topic string, w *lockedWriter) (err error) {
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, c.Close(ctx))
		w.printf("worker %d closed\n", id)
	}()
	if err := c.Subscribe([]string{topic}, nil); err != nil {
		return err
	}
	for {
		records, err := c.Poll(context.Background())
		if errors.Is(err, kafka.ErrWakeup) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, r := range records.All() {
			w.printf("worker %d: partition = %d, offset = %d, value = %s\n", id, r.Partition, r.Offset, r.Value)
		}
	}
}
