package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/samsa-io/samsa/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumer is what the measured consume loop needs from either client.
type consumer interface {
	// poll returns the records of one poll and the bytes of their values.
	poll(ctx context.Context) (records, bytes int, err error)
	close()
}

// The fetch settings both consumers run with: Java's defaults.
const (
	fetchMaxBytes          = 50 << 20
	maxPartitionFetchBytes = 1 << 20
	fetchMaxWaitMs         = 500
)

// samsaConsumer drives package kafka's consumer, assigned every partition
// of the topic from the beginning (no group).
type samsaConsumer struct {
	c *kafka.Consumer[[]byte, []byte]
}

func newSamsaConsumer(ctx context.Context, bootstrap, topic string, rcvbuf int) (consumer, error) {
	cfg := kafka.Config{
		"bootstrap.servers":         bootstrap,
		"auto.offset.reset":         "earliest",
		"fetch.max.bytes":           fmt.Sprint(fetchMaxBytes),
		"max.partition.fetch.bytes": fmt.Sprint(maxPartitionFetchBytes),
		"fetch.max.wait.ms":         fmt.Sprint(fetchMaxWaitMs),
		"max.poll.records":          "10000",
	}
	if rcvbuf != ownDefault {
		cfg["receive.buffer.bytes"] = fmt.Sprint(rcvbuf)
	}
	c, err := kafka.NewConsumer(cfg, kafka.ByteArrayDeserializer{}, kafka.ByteArrayDeserializer{},
		kafka.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		return nil, err
	}
	parts, err := c.PartitionsFor(ctx, topic)
	if err != nil {
		c.Close(ctx)
		return nil, err
	}
	var tps []kafka.TopicPartition
	for _, p := range parts {
		tps = append(tps, kafka.TopicPartition{Topic: topic, Partition: p.Partition})
	}
	if err := c.Assign(tps); err != nil {
		c.Close(ctx)
		return nil, err
	}
	return &samsaConsumer{c: c}, nil
}

func (s *samsaConsumer) poll(ctx context.Context) (int, int, error) {
	recs, err := s.c.Poll(ctx)
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for _, r := range recs.All() {
		n += len(r.Value)
	}
	return len(recs.All()), n, nil
}

func (s *samsaConsumer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = s.c.Close(ctx)
}

// franzConsumer drives franz-go's kgo, consuming the topic from the
// beginning without a group, with the same fetch settings.
type franzConsumer struct {
	cl *kgo.Client
}

func newFranzConsumer(_ context.Context, bootstrap, topic string, rcvbuf int) (consumer, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(bootstrap),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(fetchMaxBytes),
		kgo.FetchMaxPartitionBytes(maxPartitionFetchBytes),
		kgo.FetchMaxWait(fetchMaxWaitMs * time.Millisecond),
	}
	if rcvbuf >= 0 {
		// Set after connecting, as Samsa's client sets receive.buffer.bytes.
		opts = append(opts, kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, network, host)
			if err != nil {
				return nil, err
			}
			if tc, ok := nc.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(rcvbuf)
			}
			return nc, nil
		}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &franzConsumer{cl: cl}, nil
}

func (f *franzConsumer) poll(ctx context.Context) (int, int, error) {
	fs := f.cl.PollRecords(ctx, 10000)
	if err := fs.Err0(); err != nil {
		return 0, 0, err
	}
	records, bytes := 0, 0
	fs.EachRecord(func(r *kgo.Record) {
		records++
		bytes += len(r.Value)
	})
	return records, bytes, nil
}

func (f *franzConsumer) close() { f.cl.Close() }

// consumeRun reads records records and returns what it measured. The
// clock runs from creating the client (franz-go starts fetching as soon as
// it exists) to the last record.
func consumeRun(ctx context.Context, name, bootstrap, topic string, records, rcvbuf int, measure func(run func() error) (result, error)) (result, error) {
	var newConsumer func(ctx context.Context, bootstrap, topic string, rcvbuf int) (consumer, error)
	switch name {
	case "samsa":
		newConsumer = newSamsaConsumer
	case "franz":
		newConsumer = newFranzConsumer
	default:
		return result{}, fmt.Errorf("unknown client %q", name)
	}
	var c consumer
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	var bytes int
	r, err := measure(func() error {
		var err error
		if c, err = newConsumer(ctx, bootstrap, topic, rcvbuf); err != nil {
			return err
		}
		got := 0
		for got < records {
			n, b, err := c.poll(ctx)
			if err != nil {
				return fmt.Errorf("after %d records: %w", got, err)
			}
			got += n
			bytes += b
		}
		if got != records {
			return fmt.Errorf("read %d records, the topic holds %d", got, records)
		}
		return nil
	})
	if err == nil && bytes == 0 {
		err = fmt.Errorf("read %d records without value bytes", records)
	}
	return r, err
}
