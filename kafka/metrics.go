package kafka

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Metric is one client metric, named, grouped, described and tagged as
// the Java client's metrics() reports it.
type Metric struct {
	// Name is the Java metric name, such as "record-send-rate".
	Name string
	// Group is "producer-metrics", or "producer-topic-metrics" for the
	// metrics of one topic; for a consumer "consumer-metrics",
	// "consumer-fetch-manager-metrics" (with topic and partition tags
	// for a partition's) and "consumer-coordinator-metrics".
	Group       string
	Description string
	// Tags holds "client-id", and "topic" (and "partition") for topic
	// (partition) metrics.
	Tags map[string]string
	// Value is the metric's value. Rates are per second and, like
	// averages and maxima, cover the last metrics.num.samples windows of
	// metrics.sample.window.ms; an average or maximum with nothing
	// recorded in that time is NaN, as in Java. Totals count since the
	// producer started.
	Value float64
	// Counter is set for totals, which only grow.
	Counter bool
}

// Metrics is a snapshot of a client's metrics, sorted by group, name and
// tags.
type Metrics []Metric

// Value returns a client-wide metric (not of a topic or partition) by
// name.
func (ms Metrics) Value(name string) (float64, bool) {
	for _, m := range ms {
		if _, ok := m.Tags["topic"]; m.Name == name && !ok {
			return m.Value, true
		}
	}
	return 0, false
}

// TopicValue returns a metric of one topic by name.
func (ms Metrics) TopicValue(topic, name string) (float64, bool) {
	for _, m := range ms {
		if _, ok := m.Tags["partition"]; m.Name == name && m.Tags["topic"] == topic && !ok {
			return m.Value, true
		}
	}
	return 0, false
}

// PartitionValue returns a metric of one partition by name.
func (ms Metrics) PartitionValue(tp TopicPartition, name string) (float64, bool) {
	p := strconv.Itoa(int(tp.Partition))
	for _, m := range ms {
		if m.Name == name && m.Tags["topic"] == tp.Topic && m.Tags["partition"] == p {
			return m.Value, true
		}
	}
	return 0, false
}

const (
	groupProducer    = "producer-metrics"
	groupTopic       = "producer-topic-metrics"
	groupConsumer    = "consumer-metrics"
	groupFetch       = "consumer-fetch-manager-metrics"
	groupCoordinator = "consumer-coordinator-metrics"
)

// promPrefixes are the Prometheus name prefixes of the metric groups.
var promPrefixes = map[string]string{
	groupProducer:    "kafka_producer_",
	groupTopic:       "kafka_producer_topic_",
	groupConsumer:    "kafka_consumer_",
	groupFetch:       "kafka_consumer_fetch_manager_",
	groupCoordinator: "kafka_consumer_coordinator_",
}

// metricsBuilder collects one snapshot's metrics.
type metricsBuilder struct {
	now  time.Time
	out  Metrics
	tags map[string]string
}

func (b *metricsBuilder) add(group, name, desc string, v float64, counter bool) {
	b.out = append(b.out, Metric{Name: name, Group: group, Description: desc, Tags: b.tags, Value: v, Counter: counter})
}

// rateTotal adds base-rate and base-total of w.
func (b *metricsBuilder) rateTotal(group string, w *windowed, base, what string) {
	r, _, _, total := w.measure(b.now)
	b.add(group, base+"-rate", "The average per-second number of "+what+".", r, false)
	b.add(group, base+"-total", "The total number of "+what+".", total, true)
}

// avgMax adds base-avg and base-max of w.
func (b *metricsBuilder) avgMax(group string, w *windowed, base, what string) {
	_, avg, mx, _ := w.measure(b.now)
	b.add(group, base+"-avg", "The average "+what+".", avg, false)
	b.add(group, base+"-max", "The maximum "+what+".", mx, false)
}

// sorted orders the metrics by group, name, then tags.
func (b *metricsBuilder) sorted() Metrics {
	out := b.out
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		if out[i].Tags["topic"] != out[j].Tags["topic"] {
			return out[i].Tags["topic"] < out[j].Tags["topic"]
		}
		a, _ := strconv.Atoi(out[i].Tags["partition"])
		c, _ := strconv.Atoi(out[j].Tags["partition"])
		return a < c
	})
	return out
}

// Metrics returns the producer's metrics: the Java producer's main ones
// (record-send-rate, record-error-rate, record-retry-rate,
// batch-size-avg, records-per-request-avg, compression-rate-avg,
// request-latency-avg and -max, buffer-available-bytes,
// bufferpool-wait-time-ns-total, produce-throttle-time-avg, and more),
// and per topic the send, byte, compression, retry and error figures.
func (p *Producer[K, V]) Metrics() Metrics {
	return p.core.metrics.snapshot(time.Now())
}

// WritePrometheus writes the producer's metrics in the Prometheus text
// exposition format (version 0.0.4), for an HTTP handler serving
// /metrics. Names are the Java names under a kafka_producer_ prefix
// (kafka_producer_topic_ for topic metrics) with '-' turned into '_';
// tags become the labels client_id and topic. Totals are counters, all
// else gauges.
func (p *Producer[K, V]) WritePrometheus(w io.Writer) error {
	return writePrometheus(w, p.Metrics())
}

// windowed is a sampled statistic (Java's SampledStat): a ring of
// metrics.num.samples samples of metrics.sample.window.ms each, from
// which a rate, an average and a maximum are measured, and a total since
// the start. Its mutex is a leaf.
type windowed struct {
	mu      sync.Mutex
	window  time.Duration
	samples []statSample
	cur     int
	total   float64
}

type statSample struct {
	start time.Time // zero: empty
	n     int64
	sum   float64
	max   float64
}

func newWindowed(window time.Duration, samples int) *windowed {
	return &windowed{window: max(window, time.Millisecond), samples: make([]statSample, max(samples, 1))}
}

// record adds n events whose values sum to sum, the largest being maxV.
func (w *windowed) record(now time.Time, sum float64, n int64, maxV float64) {
	w.mu.Lock()
	s := &w.samples[w.cur]
	if !s.start.IsZero() && now.Sub(s.start) >= w.window {
		w.cur = (w.cur + 1) % len(w.samples)
		s = &w.samples[w.cur]
		*s = statSample{}
	}
	if s.start.IsZero() {
		s.start = now
	}
	if s.n == 0 || maxV > s.max {
		s.max = maxV
	}
	s.n += n
	s.sum += sum
	w.total += sum
	w.mu.Unlock()
}

// measure returns the rate per second, average and maximum over the live
// samples, and the total.
func (w *windowed) measure(now time.Time) (rate, avg, maxV, total float64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	span := w.window * time.Duration(len(w.samples))
	var (
		n      int64
		sum    float64
		oldest time.Time
	)
	maxV = math.NaN()
	for i := range w.samples {
		s := &w.samples[i]
		if s.start.IsZero() {
			continue
		}
		if now.Sub(s.start) >= span {
			*s = statSample{} // obsolete (Java's purgeObsoleteSamples)
			continue
		}
		n += s.n
		sum += s.sum
		if s.n > 0 && (math.IsNaN(maxV) || s.max > maxV) {
			maxV = s.max
		}
		if oldest.IsZero() || s.start.Before(oldest) {
			oldest = s.start
		}
	}
	avg = math.NaN()
	if n > 0 {
		avg = sum / float64(n)
	}
	if !oldest.IsZero() {
		// Java's Rate.windowSize: the time covered, counted as at least
		// num.samples-1 full windows, and at least 1 ms.
		elapsed := now.Sub(oldest)
		if minimum := w.window * time.Duration(len(w.samples)-1); elapsed < minimum {
			elapsed = minimum
		}
		rate = sum / max(elapsed, time.Millisecond).Seconds()
	}
	return rate, avg, maxV, w.total
}

// topicMetrics are one topic's statistics (producer-topic-metrics).
type topicMetrics struct {
	send, bytes, compression, retry, errors *windowed
}

// producerMetrics holds the statistics the producer records. Recording
// happens per batch or request, never per record on the Send path.
type producerMetrics struct {
	clientID string
	window   time.Duration
	samples  int
	pool     *bufferPool
	client   *client

	send, errors, retry, batchBytes, compression *windowed
	recordsPerRequest, latency, throttle         *windowed
	queueTime, recordSize, requests, outBytes    *windowed
	splits                                       *windowed

	inFlight        atomic.Int64
	bufferExhausted atomic.Int64

	mu     sync.Mutex
	topics map[string]*topicMetrics // REQUIRES: mu held
}

func newProducerMetrics(cfg *producerConfig, pool *bufferPool, cl *client) *producerMetrics {
	m := &producerMetrics{
		clientID: cfg.clientID,
		window:   cfg.metricsWindow,
		samples:  cfg.metricsSamples,
		pool:     pool,
		client:   cl,
		topics:   map[string]*topicMetrics{},
	}
	for _, w := range []**windowed{&m.send, &m.errors, &m.retry, &m.batchBytes, &m.compression,
		&m.recordsPerRequest, &m.latency, &m.throttle, &m.queueTime, &m.recordSize, &m.requests, &m.outBytes, &m.splits} {
		*w = m.newWindowed()
	}
	return m
}

func (m *producerMetrics) newWindowed() *windowed { return newWindowed(m.window, m.samples) }

func (m *producerMetrics) topic(name string) *topicMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topics[name]
	if t == nil {
		t = &topicMetrics{send: m.newWindowed(), bytes: m.newWindowed(), compression: m.newWindowed(), retry: m.newWindowed(), errors: m.newWindowed()}
		m.topics[name] = t
	}
	return t
}

// recordBatch counts a batch put in a produce request (again on every
// retry, as Java does), of wireLen bytes on the wire. first marks its
// first send, when its queue time and record sizes (recordBytes in all)
// are recorded.
func (m *producerMetrics) recordBatch(b *batch, wireLen, recordBytes int, first bool, now time.Time) {
	n := float64(b.count)
	m.send.record(now, n, 1, n)
	m.batchBytes.record(now, float64(wireLen), 1, float64(wireLen))
	t := m.topic(b.tp.topic)
	t.send.record(now, n, 1, n)
	t.bytes.record(now, float64(wireLen), 1, float64(wireLen))
	if first {
		q := float64(now.Sub(b.created)) / float64(time.Millisecond)
		m.queueTime.record(now, q, 1, q)
		m.recordSize.record(now, float64(recordBytes), int64(b.count), float64(b.maxRecord))
	}
}

// recordCompression records a batch's compressed to uncompressed size
// ratio (compression-rate, 1 without compression).
func (m *producerMetrics) recordCompression(topic string, wire, uncompressed int) {
	now := time.Now()
	r := float64(wire) / float64(max(uncompressed, 1))
	m.compression.record(now, r, 1, r)
	m.topic(topic).compression.record(now, r, 1, r)
}

// recordRequest counts a produce request of records records and bytes
// bytes.
func (m *producerMetrics) recordRequest(records, bytes int) {
	now := time.Now()
	m.recordsPerRequest.record(now, float64(records), 1, float64(records))
	m.requests.record(now, 1, 1, 1)
	m.outBytes.record(now, float64(bytes), 1, float64(bytes))
}

// recordResponse records a produce request's latency and the throttle
// time its response asked for.
func (m *producerMetrics) recordResponse(latency time.Duration, throttleMs int32) {
	now := time.Now()
	ms := float64(latency) / float64(time.Millisecond)
	m.latency.record(now, ms, 1, ms)
	m.throttle.record(now, float64(throttleMs), 1, float64(throttleMs))
}

func (m *producerMetrics) recordErrors(topic string, n int) {
	now := time.Now()
	m.errors.record(now, float64(n), 1, float64(n))
	m.topic(topic).errors.record(now, float64(n), 1, float64(n))
}

func (m *producerMetrics) recordRetries(topic string, n int) {
	now := time.Now()
	m.retry.record(now, float64(n), 1, float64(n))
	m.topic(topic).retry.record(now, float64(n), 1, float64(n))
}

func (m *producerMetrics) recordSplit() { m.splits.record(time.Now(), 1, 1, 1) }

// snapshot measures every metric.
func (m *producerMetrics) snapshot(now time.Time) Metrics {
	b := &metricsBuilder{now: now, tags: map[string]string{"client-id": m.clientID}}
	add := func(name, desc string, v float64, counter bool) { b.add(groupProducer, name, desc, v, counter) }
	rateTotal := func(w *windowed, base, what string) { b.rateTotal(groupProducer, w, base, what) }
	avgMax := func(w *windowed, base, what string) { b.avgMax(groupProducer, w, base, what) }
	rateTotal(m.send, "record-send", "records sent")
	rateTotal(m.errors, "record-error", "record sends that resulted in errors")
	rateTotal(m.retry, "record-retry", "retried record sends")
	rateTotal(m.requests, "request", "produce requests sent")
	rateTotal(m.outBytes, "outgoing-byte", "bytes of record batches sent")
	rateTotal(m.splits, "batch-split", "record batches split because the broker found them too large")
	avgMax(m.batchBytes, "batch-size", "number of bytes sent per partition per request")
	avgMax(m.latency, "request-latency", "produce request latency in ms")
	avgMax(m.throttle, "produce-throttle-time", "time in ms a request was throttled by a broker")
	avgMax(m.queueTime, "record-queue-time", "time in ms record batches spent in the send buffer")
	avgMax(m.recordSize, "record-size", "record size in bytes")
	_, avg, _, _ := m.compression.measure(now)
	add("compression-rate-avg", "The average compression rate of record batches, as the ratio of compressed to uncompressed size.", avg, false)
	_, avg, _, _ = m.recordsPerRequest.measure(now)
	add("records-per-request-avg", "The average number of records per request.", avg, false)
	add("buffer-total-bytes", "The maximum amount of buffer memory the client can use (buffer.memory).", float64(m.pool.total), false)
	add("buffer-available-bytes", "The total amount of buffer memory that is not being used (either unallocated or in the free list).", float64(m.pool.available()), false)
	add("bufferpool-wait-time-ns-total", "The total time in nanoseconds sends waited for buffer memory.", float64(m.pool.waitNanos.Load()), true)
	add("buffer-exhausted-total", "The total number of record sends that failed because buffer memory stayed full for max.block.ms.", float64(m.bufferExhausted.Load()), true)
	add("waiting-threads", "The number of sends blocked waiting for buffer memory.", float64(m.pool.waiting()), false)
	add("requests-in-flight", "The current number of produce requests awaiting a response.", float64(m.inFlight.Load()), false)
	if last := m.client.lastRefresh.Load(); last > 0 {
		add("metadata-age", "The age in seconds of the current producer metadata being used.", now.Sub(time.Unix(0, last)).Seconds(), false)
	}

	m.mu.Lock()
	names := make([]string, 0, len(m.topics))
	for name := range m.topics {
		names = append(names, name)
	}
	topics := make([]*topicMetrics, len(names))
	sort.Strings(names)
	for i, name := range names {
		topics[i] = m.topics[name]
	}
	m.mu.Unlock()
	for i, name := range names {
		t := topics[i]
		b.tags = map[string]string{"client-id": m.clientID, "topic": name}
		addT := func(metric, desc string, v float64, counter bool) { b.add(groupTopic, metric, desc, v, counter) }
		r, _, _, total := t.send.measure(now)
		addT("record-send-rate", "The average per-second number of records sent for a topic.", r, false)
		addT("record-send-total", "The total number of records sent for a topic.", total, true)
		r, _, _, total = t.bytes.measure(now)
		addT("byte-rate", "The average number of bytes sent per second for a topic.", r, false)
		addT("byte-total", "The total number of bytes sent for a topic.", total, true)
		_, avg, _, _ := t.compression.measure(now)
		addT("compression-rate", "The average compression rate of record batches for a topic.", avg, false)
		r, _, _, total = t.retry.measure(now)
		addT("record-retry-rate", "The average per-second number of retried record sends for a topic.", r, false)
		addT("record-retry-total", "The total number of retried record sends for a topic.", total, true)
		r, _, _, total = t.errors.measure(now)
		addT("record-error-rate", "The average per-second number of record sends that resulted in errors for a topic.", r, false)
		addT("record-error-total", "The total number of record sends that resulted in errors for a topic.", total, true)
	}
	return b.sorted()
}

// promName is a metric's Prometheus name.
func promName(m *Metric) string {
	return promPrefixes[m.Group] + strings.ReplaceAll(m.Name, "-", "_")
}

// writePrometheus writes ms in the text exposition format: one HELP and
// TYPE line per name, then its samples.
func writePrometheus(w io.Writer, ms Metrics) error {
	type family struct {
		name, help, typ string
		lines           []string
	}
	byName := map[string]*family{}
	var order []string
	for i := range ms {
		m := &ms[i]
		name := promName(m)
		f := byName[name]
		if f == nil {
			typ := "gauge"
			if m.Counter {
				typ = "counter"
			}
			f = &family{name: name, help: m.Description, typ: typ}
			byName[name] = f
			order = append(order, name)
		}
		keys := make([]string, 0, len(m.Tags))
		for k := range m.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var labels []string
		for _, k := range keys {
			labels = append(labels, fmt.Sprintf(`%s="%s"`, strings.ReplaceAll(k, "-", "_"), escapeLabel(m.Tags[k])))
		}
		f.lines = append(f.lines, fmt.Sprintf("%s{%s} %s", name, strings.Join(labels, ","), formatValue(m.Value)))
	}
	sort.Strings(order)
	var b strings.Builder
	for _, name := range order {
		f := byName[name]
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		for _, l := range f.lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
