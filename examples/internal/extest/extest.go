// Package extest holds what the consumer examples' tests share: a broker
// to run against, records to read, and a writer to watch the output.
package extest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Writer is an io.Writer that is safe to read while another goroutine
// writes to it.
type Writer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// String returns what was written.
func (w *Writer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// Count returns how many times s was written.
func (w *Writer) Count(s string) int { return strings.Count(w.String(), s) }

// Cluster starts a kfake cluster with the topics, closed when the test
// ends, and returns it with its bootstrap.servers.
func Cluster(t *testing.T, partitions int32, topics ...string) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, strings.Join(c.ListenAddrs(), ",")
}

// Produce writes records (key, value pairs) to topic and waits for them.
func Produce(t *testing.T, bootstrap, topic string, kv ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := kafka.NewProducer(kafka.Config{"bootstrap.servers": bootstrap}, kafka.StringSerializer{}, kafka.StringSerializer{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	for i := 0; i+1 < len(kv); i += 2 {
		if _, err := p.Send(ctx, kafka.ProducerRecord[string, string]{Topic: topic, Key: kv[i], Value: kv[i+1]}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// WaitFor waits until cond holds, failing the test after 30 s or if done
// yields first (the example ended early).
func WaitFor(t *testing.T, done <-chan error, out *Writer, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case err := <-done:
			t.Fatalf("ended early: %v; output:\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("timed out; output:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Committed returns the offsets group committed for the first n
// partitions of topic, and their end offsets.
func Committed(t *testing.T, bootstrap, group, topic string, n int32) (committed map[kafka.TopicPartition]kafka.OffsetAndMetadata, end map[kafka.TopicPartition]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := kafka.NewConsumer(kafka.Config{"bootstrap.servers": bootstrap, "group.id": group}, kafka.StringDeserializer{}, kafka.StringDeserializer{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var tps []kafka.TopicPartition
	for p := range n {
		tps = append(tps, kafka.TopicPartition{Topic: topic, Partition: p})
	}
	if committed, err = c.Committed(ctx, tps...); err != nil {
		t.Fatal(err)
	}
	if end, err = c.EndOffsets(ctx, tps...); err != nil {
		t.Fatal(err)
	}
	return committed, end
}
