package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/bench/internal/benchproc"
)

// topicSetup says how the benchmark topic came to be, and what the broker
// offers the producer.
type topicSetup struct {
	how        string // "CreateTopics" or "Metadata auto-create"
	idempotent bool   // the broker serves InitProducerID, so kgo produces idempotently
}

// createTopic creates the benchmark topic with kadm. A broker without
// CreateTopics gets it through Metadata auto-creation instead; both brokers
// are started with the wanted partition count as their default, so the
// result is the same topic.
func createTopic(ctx context.Context, addr, topic string, partitions int) (topicSetup, error) {
	var setup topicSetup
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return setup, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	versions, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return setup, fmt.Errorf("ApiVersions: %w", err)
	}
	for _, k := range versions.ApiKeys {
		setup.idempotent = setup.idempotent || k.ApiKey == int16(kmsg.InitProducerID)
	}

	setup.how = "CreateTopics"
	_, err = adm.CreateTopic(ctx, int32(partitions), 1, nil, topic)
	if err != nil {
		setup.how = "Metadata auto-create"
		if err2 := autoCreate(ctx, cl, topic); err2 != nil {
			return setup, fmt.Errorf("CreateTopics: %w; then %w", err, err2)
		}
	}

	// Wait until every partition has a leader.
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			td, ok := md.Topics[topic]
			if ok && td.Err == nil && len(td.Partitions) > 0 {
				ready := true
				for _, p := range td.Partitions {
					ready = ready && p.Err == nil && p.Leader >= 0
				}
				if ready {
					if len(td.Partitions) != partitions {
						return setup, fmt.Errorf("topic %s has %d partitions, want %d", topic, len(td.Partitions), partitions)
					}
					return setup, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return setup, fmt.Errorf("topic %s not ready: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func autoCreate(ctx context.Context, cl *kgo.Client, topic string) error {
	for {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Topics) == 1 {
			err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
			if err == nil {
				return nil
			}
		}
		if err != nil && !kerr.IsRetriable(err) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("auto-create %s: %w", topic, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("auto-create %s: %w (last error %v)", topic, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// produceResult is what one producer run measured.
type produceResult struct {
	elapsed  time.Duration
	p50, p99 time.Duration
}

// produce sends n records of size-byte values with franz-go, asynchronously,
// acks=all, linger 5 ms, no compression, and times each record from the
// Produce call to its promise.
func produce(ctx context.Context, addr, topic string, n, size int) (produceResult, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
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
	return produceResult{
		elapsed: elapsed,
		p50:     benchproc.Percentile(latencies, 0.50),
		p99:     benchproc.Percentile(latencies, 0.99),
	}, nil
}

// consume reads n records back from offset 0 of every partition, with no
// group, and checks their sizes.
func consume(ctx context.Context, addr, topic string, partitions, n, size int) (time.Duration, error) {
	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[int32(p)] = kgo.NewOffset().At(0)
	}
	start := time.Now()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()

	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("consumed %d of %d records: %w", got, n, err)
		}
		var fetchErr error
		fs.EachError(func(t string, p int32, err error) {
			fetchErr = errors.Join(fetchErr, fmt.Errorf("%s/%d: %w", t, p, err))
		})
		if fetchErr != nil {
			return 0, fmt.Errorf("fetch after %d records: %w", got, fetchErr)
		}
		var bad *kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if len(r.Value) != size && bad == nil {
				bad = r
			}
		})
		if bad != nil {
			return 0, fmt.Errorf("record %s/%d@%d has %d bytes, want %d", bad.Topic, bad.Partition, bad.Offset, len(bad.Value), size)
		}
	}
	elapsed := time.Since(start)
	if got != n {
		return 0, fmt.Errorf("consumed %d records, produced %d", got, n)
	}
	return elapsed, nil
}
