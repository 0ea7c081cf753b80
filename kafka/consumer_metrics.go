package kafka

import (
	"io"
	"math"
	"strconv"
	"sync/atomic"
	"time"
)

// consumerMetrics holds the statistics a consumer records, per fetch
// response, per Poll and per commit, never per record.
type consumerMetrics struct {
	clientID string

	consumed, bytes, fetches, fetchLatency, lag *windowed
	commits, commitLatency, pollGap             *windowed

	rebalances    atomic.Int64
	lastRebalance atomic.Int64 // unix ns
}

func newConsumerMetrics(cfg *consumerConfig) *consumerMetrics {
	m := &consumerMetrics{clientID: cfg.clientID}
	for _, w := range []**windowed{&m.consumed, &m.bytes, &m.fetches, &m.fetchLatency, &m.lag, &m.commits, &m.commitLatency, &m.pollGap} {
		*w = newWindowed(cfg.metricsWindow, cfg.metricsSamples)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// recordFetch counts a fetch response of n bytes that took latency.
func (m *consumerMetrics) recordFetch(latency time.Duration, n int) {
	now := time.Now()
	m.fetches.record(now, 1, 1, 1)
	m.fetchLatency.record(now, ms(latency), 1, ms(latency))
	m.bytes.record(now, float64(n), 1, float64(n))
}

// recordCommit counts a commit that took latency.
func (m *consumerMetrics) recordCommit(latency time.Duration) {
	now := time.Now()
	m.commits.record(now, 1, 1, 1)
	m.commitLatency.record(now, ms(latency), 1, ms(latency))
}

// Metrics returns the consumer's metrics under the Java consumer's names:
// in consumer-fetch-manager-metrics records-consumed-rate and -total,
// bytes-consumed-rate and -total, fetch-rate and -total,
// fetch-latency-avg and -max, records-lag-max, and per partition
// records-lag (tags topic and partition); in consumer-coordinator-metrics
// commit-rate and -total, commit-latency-avg and -max,
// assigned-partitions, rebalance-total, last-rebalance-seconds-ago; in
// consumer-metrics last-poll-seconds-ago and time-between-poll-avg and
// -max. Rates, averages and maxima cover the last metrics.num.samples
// windows of metrics.sample.window.ms.
func (c *Consumer[K, V]) Metrics() Metrics { return c.core.snapshot(time.Now()) }

// WritePrometheus writes the consumer's metrics in the Prometheus text
// format, as Producer.WritePrometheus does, under the prefixes
// kafka_consumer_, kafka_consumer_fetch_manager_ and
// kafka_consumer_coordinator_.
func (c *Consumer[K, V]) WritePrometheus(w io.Writer) error {
	return writePrometheus(w, c.Metrics())
}

func (c *consumerCore) snapshot(now time.Time) Metrics {
	m := c.metrics
	b := &metricsBuilder{now: now, tags: map[string]string{"client-id": m.clientID}}
	b.rateTotal(groupFetch, m.consumed, "records-consumed", "records returned by Poll")
	b.rateTotal(groupFetch, m.bytes, "bytes-consumed", "bytes fetched")
	b.rateTotal(groupFetch, m.fetches, "fetch", "fetch requests")
	b.avgMax(groupFetch, m.fetchLatency, "fetch-latency", "time in ms a fetch request took")
	_, _, lagMax, _ := m.lag.measure(now)
	b.add(groupFetch, "records-lag-max", "The maximum lag in records of any partition, as seen by Poll.", lagMax, false)
	b.rateTotal(groupCoordinator, m.commits, "commit", "commit requests")
	b.avgMax(groupCoordinator, m.commitLatency, "commit-latency", "time in ms a commit took")
	b.add(groupCoordinator, "rebalance-total", "The total number of rebalances this member took part in.", float64(m.rebalances.Load()), true)
	last := math.NaN()
	if t := m.lastRebalance.Load(); t > 0 {
		last = now.Sub(time.Unix(0, t)).Seconds()
	}
	b.add(groupCoordinator, "last-rebalance-seconds-ago", "The seconds since the last rebalance.", last, false)
	b.avgMax(groupConsumer, m.pollGap, "time-between-poll", "time in ms between calls to Poll")
	b.add(groupConsumer, "last-poll-seconds-ago", "The seconds since the last call to Poll ended.", now.Sub(time.Unix(0, c.lastPollEnd.Load())).Seconds(), false)

	type partLag struct {
		tp  TopicPartition
		lag float64
	}
	var lags []partLag
	c.mu.Lock()
	assigned := len(c.parts)
	for tp, ps := range c.parts {
		if lag, ok := c.lagLocked(ps); ok {
			lags = append(lags, partLag{tp, float64(lag)})
		}
	}
	c.mu.Unlock()
	b.add(groupCoordinator, "assigned-partitions", "The number of partitions assigned to this consumer.", float64(assigned), false)
	for _, l := range lags {
		b.tags = map[string]string{"client-id": m.clientID, "topic": l.tp.Topic, "partition": strconv.Itoa(int(l.tp.Partition))}
		b.add(groupFetch, "records-lag", "The latest lag of the partition, in records.", l.lag, false)
	}
	return b.sorted()
}

// lagLocked is a partition's lag: its end (high watermark, or last stable
// offset under read_committed) minus its position.
// REQUIRES: c.mu held.
func (c *consumerCore) lagLocked(ps *partState) (int64, bool) {
	if ps.state != stateFetching {
		return 0, false
	}
	end := ps.hw
	if c.cfg.readCommitted {
		end = ps.lso
	}
	if end < 0 {
		return 0, false
	}
	return max(0, end-ps.position), true
}
