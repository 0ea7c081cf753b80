// Command transactional_etl is a consume-transform-produce loop with
// exactly-once semantics, the use the source documents give the
// transactional producer: it reads an input topic, writes each record
// transformed (upper-cased) to an output topic, and commits the input
// offsets in the same transaction as the output records. A consumer of
// the output with isolation.level=read_committed sees every input record
// exactly once, even when the loop crashes and restarts, or a stalled
// copy of it (a zombie) wakes up after its replacement took over.
//
//	go run ./examples/transactional_etl -bootstrap localhost:9092 -in orders -out orders-upper
//
// The error handling is the documents': errors that leave the transaction
// abortable (a record or request failed) abort it and process the same
// input again; the others (ErrProducerFenced: another instance with the
// same transactional.id took over; authorization or version errors) end
// the program, which closes the producer. Stop it with Ctrl-C, which calls
// Wakeup.
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
	"strings"
	"time"

	"github.com/samsa-io/samsa/kafka"
)

func main() {
	bootstrap := flag.String("bootstrap", "localhost:9092", "bootstrap.servers")
	in := flag.String("in", "orders", "input topic")
	out := flag.String("out", "orders-upper", "output topic")
	group := flag.String("group", "orders-etl", "group.id")
	txnID := flag.String("transactional-id", "orders-etl-1", "transactional.id, unique to each instance and stable across its restarts")
	flag.Parse()
	consumer, producer, err := newPipeline(*bootstrap, *group, *txnID)
	if err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		consumer.Wakeup()
	}()
	if err := run(consumer, producer, *in, *out, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// newPipeline makes the loop's consumer and producer. The consumer leaves
// commits to the transactions (enable.auto.commit=false) and reads only
// committed records, in case the input is itself written transactionally.
// The producer's transactional.id implies idempotence and acks=all.
func newPipeline(bootstrap, group, txnID string) (*kafka.Consumer[string, string], *kafka.Producer[string, string], error) {
	consumer, err := kafka.NewConsumer(kafka.Config{
		"bootstrap.servers":  bootstrap,
		"group.id":           group,
		"enable.auto.commit": "false",
		"isolation.level":    "read_committed",
		"auto.offset.reset":  "earliest",
	}, kafka.StringDeserializer{}, kafka.StringDeserializer{})
	if err != nil {
		return nil, nil, err
	}
	producer, err := kafka.NewProducer(kafka.Config{
		"bootstrap.servers": bootstrap,
		"transactional.id":  txnID,
	}, kafka.StringSerializer{}, kafka.StringSerializer{})
	if err != nil {
		consumer.Close(context.Background())
		return nil, nil, err
	}
	return consumer, producer, nil
}

// run processes input until Wakeup, one transaction per Poll, then closes
// the consumer and the producer.
func run(consumer *kafka.Consumer[string, string], producer *kafka.Producer[string, string], in, out string, w io.Writer) (err error) {
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, consumer.Close(ctx), producer.Close(ctx))
	}()
	ctx := context.Background()
	// Fences older instances with this transactional.id and completes
	// whatever transaction they left open.
	if err := producer.InitTransactions(ctx); err != nil {
		return err
	}
	if err := consumer.Subscribe([]string{in}, nil); err != nil {
		return err
	}
	total := 0
	for {
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		records, err := consumer.Poll(pctx)
		cancel()
		if errors.Is(err, kafka.ErrWakeup) {
			return nil
		}
		if err != nil {
			return err
		}
		if records.Count() == 0 {
			continue
		}
		err = transform(ctx, consumer, producer, records, out)
		switch {
		case err == nil:
			total += records.Count()
			fmt.Fprintf(w, "committed a transaction of %d records (%d in all)\n", records.Count(), total)
		case errors.Is(err, kafka.ErrTransactionAbortable):
			// Abort, go back to the last committed input and try again.
			fmt.Fprintf(w, "aborting: %v\n", err)
			if err := producer.AbortTransaction(ctx); err != nil {
				return err
			}
			if err := rewind(ctx, consumer); err != nil {
				return err
			}
		default:
			// Fenced, unauthorized, unsupported: this producer cannot go
			// on; the deferred Close releases it.
			return err
		}
	}
}

// transform writes the records, upper-cased, to out and the consumer's
// next offsets to the same transaction, then commits it.
func transform(ctx context.Context, consumer *kafka.Consumer[string, string], producer *kafka.Producer[string, string], records kafka.ConsumerRecords[string, string], out string) error {
	if err := producer.BeginTransaction(); err != nil {
		return err
	}
	for _, r := range records.All() {
		// A failure here reaches CommitTransaction too.
		producer.Send(ctx, kafka.ProducerRecord[string, string]{Topic: out, Key: r.Key, Value: strings.ToUpper(r.Value)})
	}
	// The positions after the records: where the group resumes once the
	// transaction commits.
	if err := producer.SendOffsetsToTransaction(ctx, records.NextOffsets(), consumer.GroupMetadata()); err != nil {
		return err
	}
	// Waits for every record; a failed one fails the commit.
	return producer.CommitTransaction(ctx)
}

// rewind moves the consumer back to the committed offsets of its
// partitions, so that the input of an aborted transaction is read again.
func rewind(ctx context.Context, consumer *kafka.Consumer[string, string]) error {
	assigned := consumer.Assignment()
	committed, err := consumer.Committed(ctx, assigned...)
	if err != nil {
		return err
	}
	for _, tp := range assigned {
		om, ok := committed[tp]
		if !ok {
			if err := consumer.SeekToBeginning(tp); err != nil {
				return err
			}
			continue
		}
		if err := consumer.Seek(tp, om.Offset); err != nil {
			return err
		}
	}
	return nil
}
