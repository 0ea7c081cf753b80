package kafka

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingInterceptor drops records whose value is odd, upper-cases the
// key of the others, and records every commit it hears of.
type recordingInterceptor struct {
	mu      sync.Mutex
	seen    int
	commits []map[TopicPartition]OffsetAndMetadata
	closed  bool
}

func (ic *recordingInterceptor) OnConsume(recs []ConsumerRecord[string, string]) []ConsumerRecord[string, string] {
	ic.mu.Lock()
	ic.seen += len(recs)
	ic.mu.Unlock()
	out := recs[:0]
	for _, r := range recs {
		if n, _ := strconv.Atoi(r.Value); n%2 == 1 {
			continue
		}
		r.Key = "K" + r.Key
		out = append(out, r)
	}
	return out
}

func (ic *recordingInterceptor) OnCommit(offsets map[TopicPartition]OffsetAndMetadata) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	ic.commits = append(ic.commits, offsets)
}

func (ic *recordingInterceptor) Close() error {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	ic.closed = true
	return nil
}

func (ic *recordingInterceptor) lastCommit() map[TopicPartition]OffsetAndMetadata {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if len(ic.commits) == 0 {
		return nil
	}
	return ic.commits[len(ic.commits)-1]
}

// TestSuiteConsumerInterceptors checks that interceptors see every polled
// record and decide what Poll returns, hear of synchronous, asynchronous
// and auto commits once they succeed (and not of failed ones), and are
// closed with the consumer.
func TestSuiteConsumerInterceptors(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "intercepted", 2)
		produceNumbered(t, tc.addrs, "intercepted", 2, 0, 100)
		ic, second := &recordingInterceptor{}, &recordingInterceptor{}
		cfg := consumerTestConfig(tc.addrs, "ic-group", "enable.auto.commit", "false")
		c, err := NewConsumer(cfg, StringDeserializer{}, StringDeserializer{}, WithLogger(testLogger()),
			WithConsumerInterceptors[string, string](ic, second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.Subscribe([]string{"intercepted"}, nil); err != nil {
			t.Fatal(err)
		}
		var got []ConsumerRecord[string, string]
		pollUntil(t, c, 20*time.Second, func(r ConsumerRecord[string, string]) { got = append(got, r) },
			func() bool { ic.mu.Lock(); defer ic.mu.Unlock(); return ic.seen == 100 })
		if len(got) != 50 {
			t.Fatalf("Poll returned %d records, want the 50 even ones", len(got))
		}
		for _, r := range got {
			if !strings.HasPrefix(r.Key, "K") {
				t.Fatalf("record %d: key %q not changed by the interceptor", r.Offset, r.Key)
			}
		}
		// Interceptors chain: the second sees what the first returned.
		if second.seen != 50 {
			t.Errorf("second interceptor saw %d records, want 50", second.seen)
		}

		ctx := testCtx(t)
		if err := c.CommitSync(ctx); err != nil {
			t.Fatal(err)
		}
		want := map[TopicPartition]OffsetAndMetadata{{"intercepted", 0}: {Offset: 50}, {"intercepted", 1}: {Offset: 50}}
		if got := ic.lastCommit(); len(got) != 2 || got[TopicPartition{"intercepted", 0}].Offset != 50 || got[TopicPartition{"intercepted", 1}].Offset != 50 {
			t.Fatalf("OnCommit after CommitSync: %v, want %v", got, want)
		}

		// An async commit reaches OnCommit before its callback.
		n := len(ic.commits)
		done := make(chan struct{})
		c.CommitAsyncOffsets(map[TopicPartition]OffsetAndMetadata{{"intercepted", 0}: {Offset: 40, Metadata: "m"}},
			func(_ map[TopicPartition]OffsetAndMetadata, err error) {
				if err != nil {
					t.Errorf("async commit: %v", err)
				}
				if len(ic.commits) != n+1 {
					t.Errorf("callback ran before OnCommit")
				}
				close(done)
			})
		// An empty commit waits for earlier async ones and runs their
		// callbacks.
		if err := c.CommitSyncOffsets(ctx, map[TopicPartition]OffsetAndMetadata{}); err != nil {
			t.Fatal(err)
		}
		<-done
		if got := ic.lastCommit(); got[TopicPartition{"intercepted", 0}].Offset != 40 || got[TopicPartition{"intercepted", 0}].Metadata != "m" {
			t.Fatalf("OnCommit after CommitAsync: %v", got)
		}

		// A failed commit is not reported.
		n = len(ic.commits)
		// (UNKNOWN_TOPIC_OR_PARTITION is retriable: CommitSync retries
		// until its context ends.)
		short, cancel := context.WithTimeout(ctx, time.Second)
		err = c.CommitSyncOffsets(short, map[TopicPartition]OffsetAndMetadata{{"no-such-topic", 0}: {Offset: 1}})
		cancel()
		if err == nil {
			t.Fatal("commit of an unknown partition succeeded")
		}
		if len(ic.commits) != n {
			t.Errorf("OnCommit heard of a failed commit: %v", ic.lastCommit())
		}

		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if !ic.closed || !second.closed {
			t.Error("interceptors not closed with the consumer")
		}
	})
}

// TestSuiteConsumerInterceptorAutoCommit checks that auto-commits reach
// OnCommit.
func TestSuiteConsumerInterceptorAutoCommit(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "intercepted-auto", 1)
		produceNumbered(t, tc.addrs, "intercepted-auto", 1, 0, 10)
		ic := &recordingInterceptor{}
		cfg := consumerTestConfig(tc.addrs, "ic-auto", "auto.commit.interval.ms", "10")
		c, err := NewConsumer(cfg, StringDeserializer{}, StringDeserializer{}, WithLogger(testLogger()),
			WithConsumerInterceptors[string, string](ic))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.Subscribe([]string{"intercepted-auto"}, nil); err != nil {
			t.Fatal(err)
		}
		tp := TopicPartition{"intercepted-auto", 0}
		pollUntil(t, c, 20*time.Second, func(ConsumerRecord[string, string]) {}, func() bool {
			return ic.lastCommit()[tp].Offset == 10
		})
	})
}

func TestConsumerInterceptorOptionChecks(t *testing.T) {
	cfg := consumerTestConfig([]string{"127.0.0.1:1"}, "")
	if _, err := NewConsumer(cfg, StringDeserializer{}, StringDeserializer{},
		WithConsumerInterceptors[[]byte, []byte](nil)); err == nil || !strings.Contains(err.Error(), "ConsumerInterceptor[string, string]") {
		t.Errorf("mismatched consumer interceptor: %v", err)
	}
	if _, err := NewProducer(testConfig([]string{"127.0.0.1:1"}), StringSerializer{}, StringSerializer{},
		WithConsumerInterceptors[string, string](&recordingInterceptor{})); err == nil || !strings.Contains(err.Error(), "interceptor.classes") {
		t.Errorf("consumer interceptor given to a producer: %v", err)
	}
	if _, err := NewConsumer(cfg, StringDeserializer{}, StringDeserializer{},
		WithConsumerInterceptors[string, string](nil)); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Errorf("nil consumer interceptor: %v", err)
	}
	if _, err := NewProducer(testConfig([]string{"127.0.0.1:1"}), StringSerializer{}, StringSerializer{},
		WithInterceptors[string, string](nil)); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Errorf("nil producer interceptor: %v", err)
	}
	if _, err := NewAdmin(testConfig([]string{"127.0.0.1:1"}), WithConsumerInterceptors[string, string](&recordingInterceptor{})); err == nil {
		t.Error("consumer interceptor given to the admin client accepted")
	}
}
