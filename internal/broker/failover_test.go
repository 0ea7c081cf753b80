package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/internal/clustertest"
)

// A franz-go idempotent producer writes with acks=all and a franz-go
// consumer reads while the leader of a partition crashes (halted: its
// etcd session is not ended, so the cluster notices when
// broker.session.timeout.ms has passed). Its partitions get new leaders,
// producer and consumer follow them, and when it is back: no acknowledged
// record is lost or duplicated, each partition's order is kept, and the
// three replicas' logs are identical below the high watermark.
func TestClusterFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3, "broker.session.timeout.ms=2000", "replica.fetch.backoff.ms=200")
	const topic, partitions = "failover", 3
	createReplicated(t, c, topic, partitions, 3, map[string]*string{"min.insync.replicas": strp("2")})

	consumed := map[int32][]clustertest.Consumed{}
	var mu sync.Mutex
	consumer := newKgo(t, c.Brokers[0].Addr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	cctx, stopConsumer := context.WithCancel(context.Background())
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		for cctx.Err() == nil {
			fs := consumer.PollFetches(cctx)
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				consumed[r.Partition] = append(consumed[r.Partition], clustertest.Consumed{Offset: r.Offset, Value: string(r.Value)})
			})
			mu.Unlock()
		}
	}()
	defer func() { stopConsumer(); <-consumerDone }()

	load := clustertest.StartLoad(t, c.Addrs(), topic, partitions)
	load.WaitAcked(300, 30*time.Second)
	mt := metadataPartition(t, c.Brokers[0].Addr(), topic, 0)
	victim := c.Broker(mt.Leader)
	var observer *brokertest.Broker
	for _, b := range c.Brokers {
		if b != victim {
			observer = b
			break
		}
	}
	at := time.Now()
	if err := victim.Halt(); err != nil {
		t.Fatal(err)
	}
	waitMetadata(t, observer.Addr(), topic, "the crashed broker's partitions moved", func(mt kmsg.MetadataResponseTopic) bool {
		for _, p := range mt.Partitions {
			if p.Leader == victim.NodeID() || p.Leader < 0 {
				return false
			}
		}
		return true
	})
	t.Logf("partitions moved off the crashed broker %v after the crash", time.Since(at))
	load.WaitAcked(300, time.Minute)
	victim.StartAgain()
	load.WaitAcked(300, time.Minute)
	load.Stop(30 * time.Second)
	t.Logf("every partition took new writes %v after the crash", load.Unavailable(at))
	if n, errs := load.Failed(); n > 0 {
		t.Errorf("%d produces failed with default retries: %v", n, errs)
	}

	waitMetadata(t, observer.Addr(), topic, "every replica back in sync", func(mt kmsg.MetadataResponseTopic) bool {
		for _, p := range mt.Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
	ctx := testContext(t, time.Minute)
	ends, err := newAdmin(t, observer.Addr()).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for caughtUp := false; !caughtUp; {
		caughtUp = true
		mu.Lock()
		for p := range int32(partitions) {
			end, _ := ends.Lookup(topic, p)
			if n := len(consumed[p]); end.Offset > 0 && (n == 0 || consumed[p][n-1].Offset < end.Offset-1) {
				caughtUp = false
			}
		}
		mu.Unlock()
		if !caughtUp && time.Now().After(deadline) {
			t.Fatal("the consumer did not reach the end of the topic within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopConsumer()
	<-consumerDone
	acked := load.Acked()
	lost, dup, reordered, problems := clustertest.Check(acked, consumed)
	t.Logf("%d acknowledged; consumed across the leader change: %d lost, %d duplicated, %d out of order", len(acked), lost, dup, reordered)
	for _, p := range problems {
		t.Error(p)
	}
	for p := range int32(partitions) {
		end, _ := ends.Lookup(topic, p)
		var ref []logRecord
		for i, b := range c.Brokers {
			recs := readLogDir(t, b.Dir, topic, p)
			for len(recs) > 0 && recs[len(recs)-1].Offset >= end.Offset {
				recs = recs[:len(recs)-1]
			}
			if i == 0 {
				ref = recs
			} else if !sameLog(ref, recs) {
				t.Errorf("partition %d: brokers 1 and %d differ below the high watermark %d", p, b.NodeID(), end.Offset)
			}
		}
		if int64(len(ref)) != end.Offset {
			t.Errorf("partition %d: %d records below the high watermark %d", p, len(ref), end.Offset)
		}
	}
}

// sarama produces and consumes across a leader change: the leader of the
// partition shuts down (controlled) between two halves of the records;
// the producer and the consumer find the new leader on their own.
func TestClusterSaramaAcrossLeaderChange(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3)
	const topic = "sarama-failover"
	mt := createReplicated(t, c, topic, 1, 3, map[string]*string{"min.insync.replicas": strp("2")})
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 20
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Retry.Backoff = 100 * time.Millisecond
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	seeds := c.Addrs()
	producer, err := sarama.NewSyncProducer(seeds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	consumer, err := sarama.NewConsumer(seeds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	const half = 100
	produce := func(from int) {
		t.Helper()
		for i := from; i < from+half; i++ {
			if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
				t.Fatalf("sarama produce %d: %v", i, err)
			}
		}
	}
	next := 0
	consume := func(until int) {
		t.Helper()
		timeout := time.After(time.Minute)
		for next < until {
			select {
			case m := <-pc.Messages():
				if got := string(m.Value); got != fmt.Sprint(next) || m.Offset != int64(next) {
					t.Fatalf("sarama consumed %q at offset %d, want %d", got, m.Offset, next)
				}
				next++
			case err := <-pc.Errors():
				t.Logf("sarama consumer: %v", err)
			case <-timeout:
				t.Fatalf("sarama consumed %d of %d records in a minute", next, until)
			}
		}
	}
	produce(0)
	consume(half)
	leader := c.Broker(mt.Partitions[0].Leader)
	ctx := testContext(t, time.Minute)
	if err := leader.ControlledShutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	produce(half)
	consume(2 * half)
}
