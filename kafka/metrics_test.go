package kafka

import (
	"bytes"
	"context"
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestWindowedStat checks rates, averages and maxima over sample windows,
// and that old samples drop out, as Java's SampledStat and Rate do.
func TestWindowedStat(t *testing.T) {
	w := newWindowed(time.Second, 2)
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	w.record(at(0), 10, 1, 10)
	w.record(at(500*time.Millisecond), 20, 1, 20)
	// Under one full window the rate is counted over num.samples-1
	// windows: 30 in at least 1 s.
	if rate, avg, mx, total := w.measure(at(500 * time.Millisecond)); rate != 30 || avg != 15 || mx != 20 || total != 30 {
		t.Errorf("first window: rate %v avg %v max %v total %v", rate, avg, mx, total)
	}
	w.record(at(1200*time.Millisecond), 5, 1, 5) // a second sample
	if rate, avg, mx, _ := w.measure(at(1500 * time.Millisecond)); math.Abs(rate-35/1.5) > 1e-9 || avg != 35.0/3 || mx != 20 {
		t.Errorf("two windows: rate %v avg %v max %v", rate, avg, mx)
	}
	// After 2 s the first sample is obsolete.
	if rate, avg, mx, total := w.measure(at(2100 * time.Millisecond)); rate != 5 || avg != 5 || mx != 5 || total != 35 {
		t.Errorf("after the first sample expired: rate %v avg %v max %v total %v", rate, avg, mx, total)
	}
	// Long after, nothing is left but the total.
	if rate, avg, mx, total := w.measure(at(time.Minute)); rate != 0 || !math.IsNaN(avg) || !math.IsNaN(mx) || total != 35 {
		t.Errorf("idle: rate %v avg %v max %v total %v", rate, avg, mx, total)
	}
}

func metricValue(t *testing.T, ms Metrics, name string) float64 {
	t.Helper()
	v, ok := ms.Value(name)
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	return v
}

func topicMetricValue(t *testing.T, ms Metrics, topic, name string) float64 {
	t.Helper()
	v, ok := ms.TopicValue(topic, name)
	if !ok {
		t.Fatalf("no metric %s for topic %s", name, topic)
	}
	return v
}

// TestProducerMetrics sends compressible records through a broker that
// refuses the first produce with a retriable error, plus one record that
// cannot be serialized, and checks the main Java producer metrics.
func TestProducerMetrics(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(3, "t"))
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas})
	vs := SerializerFunc[string](func(_ string, _ *Headers, v string) ([]byte, error) {
		if v == "bad" {
			return nil, errors.New("bad value")
		}
		return []byte(v), nil
	})
	p := startProducer(t, testConfig(c.ListenAddrs(), "compression.type", "lz4", "linger.ms", "20", "client.id", "metrics-test"),
		StringSerializer{}, Serializer[string](vs))
	ctx := testCtx(t)
	ms := p.Metrics()
	if v := metricValue(t, ms, "record-send-total"); v != 0 {
		t.Errorf("record-send-total %v before sending", v)
	}
	if v := metricValue(t, ms, "buffer-total-bytes"); v != 33554432 {
		t.Errorf("buffer-total-bytes %v", v)
	}
	o := newOutcomes()
	const n = 500
	value := strings.Repeat("compressible ", 8) // 104 bytes
	for i := range n {
		p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "t", Value: value}, o.callback(i))
	}
	if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "bad"}).Get(ctx); !errors.Is(err, ErrSerialization) {
		t.Fatalf("bad record: %v", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	o.wait(t, 10*time.Second)
	for i := range n {
		if o.errs[i] != nil {
			t.Fatalf("record %d: %v", i, o.errs[i])
		}
	}
	ms = p.Metrics()
	sent, retried := metricValue(t, ms, "record-send-total"), metricValue(t, ms, "record-retry-total")
	// Records are counted each time they are sent, as in Java.
	if retried < 1 || sent != n+retried {
		t.Errorf("record-send-total %v, record-retry-total %v, want %d + retries", sent, retried, n)
	}
	if v := topicMetricValue(t, ms, "t", "record-send-total"); v != sent {
		t.Errorf("topic record-send-total %v, want %v", v, sent)
	}
	if v := topicMetricValue(t, ms, "t", "record-retry-total"); v != retried {
		t.Errorf("topic record-retry-total %v, want %v", v, retried)
	}
	if v := metricValue(t, ms, "record-error-total"); v != 1 {
		t.Errorf("record-error-total %v, want 1", v)
	}
	if v := metricValue(t, ms, "record-send-rate"); v <= 0 {
		t.Errorf("record-send-rate %v", v)
	}
	if v := metricValue(t, ms, "compression-rate-avg"); !(v > 0 && v < 0.5) {
		t.Errorf("compression-rate-avg %v for repetitive text with lz4", v)
	}
	if v := topicMetricValue(t, ms, "t", "compression-rate"); !(v > 0 && v < 0.5) {
		t.Errorf("topic compression-rate %v", v)
	}
	avg, mx := metricValue(t, ms, "batch-size-avg"), metricValue(t, ms, "batch-size-max")
	if !(avg > 61 && avg <= mx && mx <= 16384) {
		t.Errorf("batch-size avg %v max %v", avg, mx)
	}
	if v := topicMetricValue(t, ms, "t", "byte-total"); v < avg {
		t.Errorf("topic byte-total %v", v)
	}
	if v := metricValue(t, ms, "records-per-request-avg"); v < 1 || v > n {
		t.Errorf("records-per-request-avg %v", v)
	}
	if v := metricValue(t, ms, "record-size-avg"); v < 104 || v > 120 {
		t.Errorf("record-size-avg %v for 104-byte values", v)
	}
	lavg, lmax := metricValue(t, ms, "request-latency-avg"), metricValue(t, ms, "request-latency-max")
	if !(lavg >= 0 && lmax >= lavg && lmax < 10000) {
		t.Errorf("request-latency avg %v max %v", lavg, lmax)
	}
	if v := metricValue(t, ms, "request-total"); v < 2 {
		t.Errorf("request-total %v", v)
	}
	if v := metricValue(t, ms, "record-queue-time-max"); v < 0 || v > 10000 {
		t.Errorf("record-queue-time-max %v", v)
	}
	if v := metricValue(t, ms, "produce-throttle-time-max"); v != 0 {
		t.Errorf("produce-throttle-time-max %v", v)
	}
	// Every buffer is back once everything is acknowledged.
	if v := metricValue(t, ms, "buffer-available-bytes"); v != 33554432 {
		t.Errorf("buffer-available-bytes %v after Flush", v)
	}
	if v := metricValue(t, ms, "requests-in-flight"); v != 0 {
		t.Errorf("requests-in-flight %v after Flush", v)
	}
	if v := metricValue(t, ms, "metadata-age"); v < 0 || v > 60 {
		t.Errorf("metadata-age %v", v)
	}
	for _, m := range ms {
		if m.Tags["client-id"] != "metrics-test" {
			t.Errorf("%s tagged %v", m.Name, m.Tags)
		}
	}
}

// TestBufferMetrics checks buffer-available-bytes while records wait, and
// the wait time and exhaustion counts when buffer.memory stays full.
func TestBufferMetrics(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true // never answered
	})
	p := startProducer(t, testConfig(c.ListenAddrs(), "buffer.memory", "2000", "batch.size", "500", "linger.ms", "60000", "max.block.ms", "100"),
		VoidSerializer{}, ByteArraySerializer{})
	ctx := testCtx(t)
	p.SendWithCallback(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: make([]byte, 100)}, nil)
	if v := metricValue(t, p.Metrics(), "buffer-available-bytes"); v != 1500 {
		t.Errorf("buffer-available-bytes %v with one 500-byte batch", v)
	}
	// 4 batches of 4 records fill buffer.memory; the next record waits
	// max.block.ms and fails.
	var err error
	for i := 0; i < 50 && err == nil; i++ {
		p.SendWithCallback(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: make([]byte, 100)},
			func(_ RecordMetadata, e error) { err = e })
	}
	if !errors.Is(err, ErrBufferExhausted) {
		t.Fatalf("got %v, want ErrBufferExhausted", err)
	}
	ms := p.Metrics()
	if v := metricValue(t, ms, "buffer-exhausted-total"); v != 1 {
		t.Errorf("buffer-exhausted-total %v", v)
	}
	if v := metricValue(t, ms, "bufferpool-wait-time-ns-total"); v < float64(100*time.Millisecond) {
		t.Errorf("bufferpool-wait-time-ns-total %v, want at least max.block.ms", v)
	}
	if v := metricValue(t, ms, "buffer-available-bytes"); v != 0 {
		t.Errorf("buffer-available-bytes %v when full", v)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_ = p.Close(cctx) // the broker answers nothing: fail the rest now
}

// TestThrottleMetric answers a produce with a throttle time (KIP-219): the
// metric shows it and the producer holds back its next request as long.
func TestThrottleMetric(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	var answered time.Time
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		resp.ThrottleMillis = 300
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.LogAppendTime = -1
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		answered = time.Now()
		return resp, nil, true // only the first produce; the rest go to kfake
	})
	// Without idempotence: the broker never saw the first batch's
	// sequence.
	p := startProducer(t, testConfig(c.ListenAddrs(), "enable.idempotence", "false"), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "a"}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "b"}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(answered); waited < 300*time.Millisecond {
		t.Errorf("next produce answered %v after a 300 ms throttle", waited)
	}
	ms := p.Metrics()
	if v := metricValue(t, ms, "produce-throttle-time-max"); v != 300 {
		t.Errorf("produce-throttle-time-max %v", v)
	}
	if v := metricValue(t, ms, "produce-throttle-time-avg"); v != 150 {
		t.Errorf("produce-throttle-time-avg %v, want (300+0)/2", v)
	}
}

var promLine = regexp.MustCompile(`^([a-z_]+)\{((?:[a-z_]+="(?:[^"\\]|\\.)*",?)*)\} (\S+)$`)

// TestWritePrometheus checks the text exposition format: HELP and TYPE
// once per name before its samples, counters for totals, labels escaped.
func TestWritePrometheus(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(2, "a", "b"))
	p := startProducer(t, testConfig(c.ListenAddrs(), "client.id", `app "one"\prod`), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	for i := range 10 {
		for _, topic := range []string{"a", "b"} {
			if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: topic, Value: strconv.Itoa(i)}).Get(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf bytes.Buffer
	if err := p.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	types := map[string]string{}
	samples := map[string]string{}
	var current string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name := strings.Fields(line)[2]
			if _, dup := types[name]; dup {
				t.Errorf("HELP for %s twice", name)
			}
			current = name
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) != 4 || f[2] != current || (f[3] != "gauge" && f[3] != "counter") {
				t.Errorf("bad TYPE line %q", line)
			}
			types[f[2]] = f[3]
		default:
			m := promLine.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("bad sample line %q", line)
				continue
			}
			if m[1] != current {
				t.Errorf("sample %s under the HELP of %s", m[1], current)
			}
			if _, err := strconv.ParseFloat(m[3], 64); err != nil {
				t.Errorf("bad value in %q", line)
			}
			samples[m[1]+"{"+m[2]+"}"] = m[3]
		}
	}
	id := `client_id="app \"one\"\\prod"`
	for key, want := range map[string]string{
		"kafka_producer_record_send_total{" + id + "}":                  "20",
		"kafka_producer_topic_record_send_total{" + id + `,topic="a"}`:  "10",
		"kafka_producer_topic_record_send_total{" + id + `,topic="b"}`:  "10",
		"kafka_producer_buffer_total_bytes{" + id + "}":                 "33554432",
		"kafka_producer_buffer_available_bytes{" + id + "}":             "33554432",
		"kafka_producer_record_error_total{" + id + "}":                 "0",
		"kafka_producer_topic_record_error_total{" + id + `,topic="a"}`: "0",
		"kafka_producer_record_retry_rate{" + id + "}":                  "0",
		"kafka_producer_topic_record_retry_total{" + id + `,topic="b"}`: "0",
		"kafka_producer_compression_rate_avg{" + id + "}":               "1",
		"kafka_producer_topic_compression_rate{" + id + `,topic="b"}`:   "1",
		"kafka_producer_records_per_request_avg{" + id + "}":            "1",
		"kafka_producer_record_size_max{" + id + "}":                    "8",
		"kafka_producer_requests_in_flight{" + id + "}":                 "0",
		"kafka_producer_produce_throttle_time_max{" + id + "}":          "0",
		"kafka_producer_bufferpool_wait_time_ns_total{" + id + "}":      "0",
		"kafka_producer_buffer_exhausted_total{" + id + "}":             "0",
		"kafka_producer_batch_split_total{" + id + "}":                  "0",
		"kafka_producer_waiting_threads{" + id + "}":                    "0",
	} {
		if got := samples[key]; got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	// Values that vary from run to run: present and positive.
	for _, key := range []string{
		"kafka_producer_topic_byte_total{" + id + `,topic="a"}`,
		"kafka_producer_outgoing_byte_total{" + id + "}",
		"kafka_producer_batch_size_max{" + id + "}",
		"kafka_producer_request_latency_max{" + id + "}",
		"kafka_producer_topic_record_send_rate{" + id + `,topic="a"}`,
		"kafka_producer_record_send_rate{" + id + "}",
		"kafka_producer_request_total{" + id + "}",
	} {
		if v, err := strconv.ParseFloat(samples[key], 64); err != nil || !(v > 0) {
			t.Errorf("%s = %q, want > 0", key, samples[key])
		}
	}
	for name, typ := range types {
		if (typ == "counter") != strings.HasSuffix(name, "_total") {
			t.Errorf("%s is a %s", name, typ)
		}
	}
	if len(types) < 35 {
		t.Errorf("%d metric names", len(types))
	}
}
