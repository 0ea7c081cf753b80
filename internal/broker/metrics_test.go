package broker_test

// The metrics endpoint: /metrics scraped and parsed with Prometheus' text
// parser before and after traffic, /healthz, /readyz and pprof, the ISR
// metrics of a replicated cluster losing a follower, and consumer lag.

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
)

// metrics is one parsed scrape.
type metrics map[string]*dto.MetricFamily

// scrape fetches and parses /metrics of the endpoint at addr.
func scrape(t *testing.T, addr string) metrics {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %s: %s", resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// value returns the value of the series of name whose labels include
// labels ("k=v" each): a counter's or gauge's value, a histogram's sample
// count; or -1 if there is no such series.
func (m metrics) value(name string, labels ...string) float64 {
	mf := m[name]
	if mf == nil {
		return -1
	}
	for _, s := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range s.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		if !slices.ContainsFunc(labels, func(l string) bool { k, v, _ := strings.Cut(l, "="); return have[k] != v }) {
			switch {
			case s.Counter != nil:
				return s.GetCounter().GetValue()
			case s.Gauge != nil:
				return s.GetGauge().GetValue()
			case s.Histogram != nil:
				return float64(s.GetHistogram().GetSampleCount())
			case s.Untyped != nil:
				return s.GetUntyped().GetValue()
			}
		}
	}
	return -1
}

// sum adds the values of every series of name.
func (m metrics) sum(name string) float64 {
	var n float64
	for _, s := range m[name].GetMetric() {
		n += s.GetGauge().GetValue() + s.GetCounter().GetValue()
	}
	return n
}

// httpStatus returns the status and body of a GET of path on addr.
func httpStatus(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitMetric scrapes addr until cond holds of the scrape, for up to 30 s.
func waitMetric(t *testing.T, addr, what string, cond func(metrics) bool) metrics {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := scrape(t, addr)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited 30s for %s", addr, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, "metrics.listen=127.0.0.1:0")
	addr := b.MetricsAddr()
	if addr == "" {
		t.Fatal("no metrics address with metrics.listen set")
	}
	if code, body := httpStatus(t, addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := httpStatus(t, addr, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz of a started broker: %d %s", code, body)
	}
	if code, _ := httpStatus(t, addr, "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without metrics.pprof.enable: %d, want 404", code)
	}

	ctx := testContext(t, time.Minute)
	const topic, n, size = "metered", 500, 100
	if _, err := newAdmin(t, b.Addr()).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, addr)
	for _, name := range []string{"kafka_server_replicamanager_leader_count", "kafka_controller_kafkacontroller_active_controller_count",
		"kafka_server_socket_server_metrics_connection_count", "go_goroutines", "kafka_log_log_size"} {
		if before[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	if v := before.value("kafka_controller_kafkacontroller_active_controller_count"); v != 1 {
		t.Errorf("active controller count of a single broker: %v", v)
	}
	if v := before.value("kafka_server_brokertopicmetrics_messages_in_total", "topic="+topic); v != 0 {
		t.Errorf("messages in of a new topic: %v", v)
	}

	cl := newKgo(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%0*d", size, i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}

	after := scrape(t, addr)
	if v := after.value("kafka_server_brokertopicmetrics_messages_in_total", "topic="+topic); v != n {
		t.Errorf("messages in: %v, want %d", v, n)
	}
	if v := after.value("kafka_server_brokertopicmetrics_bytes_in_total", "topic="+topic); v < n*size {
		t.Errorf("bytes in: %v, want at least %d", v, n*size)
	}
	if v := after.value("kafka_server_brokertopicmetrics_bytes_out_total", "topic="+topic); v < n*size {
		t.Errorf("bytes out: %v, want at least %d", v, n*size)
	}
	for _, name := range []string{"kafka_server_brokertopicmetrics_all_topics_messages_in_total", "kafka_server_brokertopicmetrics_all_topics_bytes_in_total",
		"kafka_server_brokertopicmetrics_all_topics_bytes_out_total"} {
		if after.value(name) < after.value(strings.Replace(name, "_all_topics", "", 1), "topic="+topic) {
			t.Errorf("%s: %v, less than the topic's", name, after.value(name))
		}
	}
	if v := after.value("kafka_server_brokertopicmetrics_failed_produce_requests_total", "topic="+topic); v != 0 {
		t.Errorf("failed produce requests: %v", v)
	}
	for _, req := range []string{"Produce", "Fetch", "FetchConsumer", "Metadata"} {
		was, is := before.value("kafka_network_requestmetrics_requests_total", "request="+req), after.value("kafka_network_requestmetrics_requests_total", "request="+req)
		if is <= max(was, 0) {
			t.Errorf("%s requests: %v before, %v after", req, was, is)
		}
		if h := after.value("kafka_network_requestmetrics_total_time_ms", "request="+req); h != is {
			t.Errorf("%s latency histogram has %v samples, the counter %v", req, h, is)
		}
	}
	if v := after.value("kafka_log_log_size", "topic="+topic, "partition=0"); v < n*size {
		t.Errorf("log size: %v, want at least %d", v, n*size)
	}
	if v := after.value("kafka_log_log_end_offset", "topic="+topic, "partition=0"); v != n {
		t.Errorf("log end offset: %v, want %d", v, n)
	}
	if v := after.value("kafka_log_log_start_offset", "topic="+topic, "partition=0"); v != 0 {
		t.Errorf("log start offset: %v", v)
	}
	if v := after.value("kafka_server_replicamanager_under_replicated_partitions"); v != 0 {
		t.Errorf("under-replicated partitions of a single broker: %v", v)
	}
	if v := after.value("kafka_server_socket_server_metrics_connection_count"); v < 1 {
		t.Errorf("connection count with a client connected: %v", v)
	}
	// Nothing waits once the client has everything.
	if v := after.value("kafka_server_delayedoperationpurgatory_purgatory_size", "delayed_operation=Produce"); v != 0 {
		t.Errorf("produce purgatory: %v", v)
	}

	// A produce to a partition the topic does not have fails, and counts
	// as failed for the topic.
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 5
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rawRequest(t, b.Addr(), req, 9).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code == 0 {
		t.Error("produce to partition 5 of a 1-partition topic succeeded")
	}
	if v := scrape(t, addr).value("kafka_server_brokertopicmetrics_failed_produce_requests_total", "topic="+topic); v != 1 {
		t.Errorf("failed produce requests after one failed: %v", v)
	}
}

func TestMetricsPprofFlag(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, "metrics.listen=127.0.0.1:0", "metrics.pprof.enable=true")
	if code, _ := httpStatus(t, b.MetricsAddr(), "/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/ with metrics.pprof.enable: %d", code)
	}
	if code, _ := httpStatus(t, b.MetricsAddr(), "/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Errorf("/debug/pprof/goroutine: %d", code)
	}
}

// A group's lag appears on the broker that coordinates it, and its
// rebalances count.
func TestMetricsConsumerGroupLag(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, "metrics.listen=127.0.0.1:0", "group.initial.rebalance.delay.ms=0")
	ctx := testContext(t, time.Minute)
	const topic, n = "lagging", 10
	adm := newAdmin(t, b.Addr())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newKgo(t, b.Addr(), kgo.DefaultProduceTopic(topic))
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
	if resp, err := adm.CommitOffsets(ctx, "reader", offsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	m := scrape(t, b.MetricsAddr())
	if v := m.value("kafka_consumergroup_lag", "group=reader", "topic="+topic, "partition=0"); v != n-4 {
		t.Errorf("lag: %v, want %d", v, n-4)
	}
	if v := m.value("kafka_consumergroup_committed_offset", "group=reader", "topic="+topic, "partition=0"); v != 4 {
		t.Errorf("committed offset: %v, want 4", v)
	}
	if v := m.value("kafka_coordinator_group_groupmetadatamanager_num_groups", "type=classic", "state=Empty"); v != 1 {
		t.Errorf("classic groups in state Empty: %v, want 1", v)
	}

	// A member of a classic group joins: one rebalance, then Stable.
	consumer := newKgo(t, b.Addr(), kgo.ConsumerGroup("members"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < n; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	m = waitMetric(t, b.MetricsAddr(), "the group Stable with no lag", func(m metrics) bool {
		return m.value("kafka_coordinator_group_groupmetadatamanager_num_groups", "type=classic", "state=Stable") == 1 &&
			m.value("kafka_consumergroup_lag", "group=members", "topic="+topic, "partition=0") == 0
	})
	if v := m.value("kafka_server_group_coordinator_metrics_group_rebalance_total"); v < 1 {
		t.Errorf("rebalances: %v", v)
	}
	if v := m.value("kafka_coordinator_group_groupmetadatamanager_num_offsets"); v != 2 {
		t.Errorf("committed offsets: %v, want 2", v)
	}
}

// Halting a follower: its leader's under-replicated partitions and ISR
// shrinks rise; one broker of the cluster is the active controller.
func TestMetricsReplicatedCluster(t *testing.T) {
	t.Parallel()
	c := brokertest.StartCluster(t, 3, "metrics.listen=127.0.0.1:0",
		"replica.lag.time.max.ms=1000", "replica.fetch.wait.max.ms=100")
	ctx := testContext(t, 2*time.Minute)
	const topic = "watched"
	mt := createReplicated(t, c, topic, 1, 3, map[string]*string{"min.insync.replicas": strp("2")})
	leader := c.Broker(mt.Partitions[0].Leader)
	var followers []*brokertest.Broker
	for _, b := range c.Brokers {
		if b != leader {
			followers = append(followers, b)
		}
	}
	cl := newKgo(t, leader.Addr(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("on three replicas")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	controllers := 0.0
	for _, b := range c.Brokers {
		controllers += scrape(t, b.MetricsAddr()).value("kafka_controller_kafkacontroller_active_controller_count")
	}
	if controllers != 1 {
		t.Errorf("active controllers summed over the cluster: %v", controllers)
	}
	m := scrape(t, leader.MetricsAddr())
	if v := m.value("kafka_server_replicamanager_under_replicated_partitions"); v != 0 {
		t.Errorf("under-replicated before a follower stops: %v", v)
	}
	if v := m.value("kafka_server_brokertopicmetrics_replication_bytes_out_total"); v <= 0 {
		t.Errorf("replication bytes out of the leader: %v", v)
	}
	if v := m.value("kafka_network_requestmetrics_requests_total", "request=FetchFollower"); v <= 0 {
		t.Errorf("follower fetches served by the leader: %v", v)
	}
	if v := scrape(t, followers[0].MetricsAddr()).value("kafka_server_brokertopicmetrics_replication_bytes_in_total"); v <= 0 {
		t.Errorf("replication bytes in of a follower: %v", v)
	}
	shrinks := m.value("kafka_server_replicamanager_isr_shrinks_total")

	if err := followers[1].Halt(); err != nil {
		t.Fatal(err)
	}
	m = waitMetric(t, leader.MetricsAddr(), "an under-replicated partition", func(m metrics) bool {
		return m.value("kafka_server_replicamanager_under_replicated_partitions") >= 1
	})
	if v := m.value("kafka_server_replicamanager_isr_shrinks_total"); v <= shrinks {
		t.Errorf("ISR shrinks: %v, was %v", v, shrinks)
	}
	if v := m.value("kafka_server_replicamanager_at_min_isr_partition_count"); v < 1 {
		t.Errorf("partitions at min.insync.replicas: %v", v)
	}
	if v := m.value("kafka_server_replicamanager_under_min_isr_partition_count"); v != 0 {
		t.Errorf("partitions under min.insync.replicas: %v", v)
	}
	if v := m.sum("kafka_server_replicamanager_leader_count"); v < 1 {
		t.Errorf("leader count: %v", v)
	}
}
