package kafka

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKeyPartitionMatchesSarama compares placement with sarama's murmur2
// partitioner (NewMurmur2Partitioner, checked by sarama against the Java
// client), on random keys and partition counts.
func TestKeyPartitionMatchesSarama(t *testing.T) {
	sp := sarama.NewMurmur2Partitioner("t")
	for i := range 2000 {
		key := []byte(strconv.Itoa(i*7919) + "-" + strconv.Itoa(i%13))
		if i%5 == 0 {
			key = []byte{byte(i), byte(i >> 8), 0xff, 0x80}[:1+i%4]
		}
		n := int32(1 + i%257)
		want, err := sp.Partition(&sarama.ProducerMessage{Topic: "t", Key: sarama.ByteEncoder(key)}, n)
		if err != nil {
			t.Fatal(err)
		}
		if got := KeyPartition(key, int(n)); got != want {
			t.Fatalf("key %x over %d partitions: got %d, sarama %d", key, n, got, want)
		}
	}
	// REFERENCE.md's placements, which sarama's own tests check.
	for key, want := range map[string]int32{"foo": 16, "bar": 45, "baz": 80, "kafka": 80, "sarama": 11} {
		got, _ := sp.Partition(&sarama.ProducerMessage{Topic: "t", Key: sarama.StringEncoder(key)}, 100)
		if got != want || KeyPartition([]byte(key), 100) != want {
			t.Errorf("%s: sarama %d, ours %d, want %d", key, got, KeyPartition([]byte(key), 100), want)
		}
	}
}

// TestCloseUnblocksSends closes the producer while Sends wait for a
// topic's metadata and for buffer memory: each fails at once with
// ErrProducerClosed, and no goroutine is left behind.
func TestCloseUnblocksSends(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true // never answered: buffer memory stays in use
	})
	p, err := NewProducer(testConfig(c.ListenAddrs(), "buffer.memory", "1000", "batch.size", "500", "linger.ms", "60000", "max.block.ms", "60000"),
		VoidSerializer{}, ByteArraySerializer{}, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	t.Cleanup(func() { // on failure; a no-op after the Close below
		cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = p.Close(cctx)
	})
	// Fill buffer.memory: two 500-byte batches of 4 records.
	for range 8 {
		p.SendWithCallback(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: make([]byte, 100)}, nil)
	}
	blocked := make(chan error, 2)
	go func() { // waits for buffer memory
		_, err := p.Send(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: make([]byte, 100)}).Get(ctx)
		blocked <- err
	}()
	go func() { // waits for a topic that does not exist
		_, err := p.Send(ctx, ProducerRecord[struct{}, []byte]{Topic: "missing", Value: []byte("x")}).Get(ctx)
		blocked <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); p.core.pool.waiting() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no Send waiting for buffer memory")
		}
	}
	time.Sleep(50 * time.Millisecond)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = p.Close(cctx)
	for range 2 {
		select {
		case err := <-blocked:
			if !errors.Is(err, ErrProducerClosed) {
				t.Errorf("blocked Send: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a blocked Send did not return after Close")
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close and the blocked Sends took %v", d)
	}
}
