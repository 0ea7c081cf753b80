//go:build linux

package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/bench/internal/benchproc"
)

// createTopic creates the topic with rf replicas (min.insync.replicas=2
// when rf > 1) and waits until every partition has a leader and every
// replica is in the ISR.
func createTopic(ctx context.Context, seeds []string, topic string, partitions, rf int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	configs := map[string]*string{}
	if rf > 1 {
		configs["min.insync.replicas"] = kadm.StringPtr("2")
	}
	resp, err := adm.CreateTopic(ctx, int32(partitions), int16(rf), configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			td := md.Topics[topic]
			ready := td.Err == nil && len(td.Partitions) == partitions
			for _, p := range td.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0 && len(p.Replicas) == rf && len(p.ISR) == rf
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s not in sync: %w (last metadata error %v)", topic, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// warmUp writes one record to every partition with acks=all and returns
// how long that took. Right after a topic is created a follower may have
// asked its leader before the leader knew the topic, and then waits out
// replica.fetch.backoff.ms before it asks again; no acks=all write is
// answered before that. The measured producer starts once every partition
// has taken a write.
func warmUp(ctx context.Context, seeds []string, topic string, partitions int) (time.Duration, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := range partitions {
		recs = append(recs, &kgo.Record{Partition: int32(p), Value: []byte("warm-up")})
	}
	start := time.Now()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("warm-up write: %w", err)
	}
	return time.Since(start), nil
}

// produceResult is what one producer run measured.
type produceResult struct {
	elapsed                time.Duration
	recordP50, recordP99   time.Duration // Produce call to acknowledgement
	requestP50, requestP99 time.Duration // produce request written to response read
	requests               int
}

// requestTimes records the round trip of every produce request, through
// kgo's end-to-end broker hook.
type requestTimes struct {
	mu    sync.Mutex
	times []time.Duration
}

func (r *requestTimes) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key != int16(kmsg.Produce) || e2e.Err() != nil {
		return
	}
	r.mu.Lock()
	r.times = append(r.times, e2e.DurationE2E())
	r.mu.Unlock()
}

// produce sends n records of size-byte values with one franz-go client:
// acks=all, idempotent, kgo's default linger (10 ms), batch size and
// buffer (50,000 records), no compression; records are spread by kgo's
// default partitioner (sticky, a new partition per batch).
func produce(ctx context.Context, seeds []string, topic string, n, size int) (produceResult, error) {
	hook := &requestTimes{}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.WithHooks(hook),
	)
	if err != nil {
		return produceResult{}, err
	}
	defer cl.Close()
	r, err := benchproc.ProduceAll(ctx, cl, n, size)
	if err != nil {
		return produceResult{}, err
	}
	elapsed, latencies := r.Elapsed, r.Latencies
	hook.mu.Lock()
	reqs := slices.Clone(hook.times)
	hook.mu.Unlock()
	slices.Sort(reqs)
	return produceResult{
		elapsed:    elapsed,
		recordP50:  benchproc.Percentile(latencies, 0.50),
		recordP99:  benchproc.Percentile(latencies, 0.99),
		requestP50: benchproc.Percentile(reqs, 0.50),
		requestP99: benchproc.Percentile(reqs, 0.99),
		requests:   len(reqs),
	}, nil
}
