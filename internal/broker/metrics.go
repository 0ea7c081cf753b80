package broker

// The broker's Prometheus metrics, named after Kafka's JMX metrics
// (kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=t becomes
// kafka_server_brokertopicmetrics_bytes_in_total{topic="t"}); the full
// mapping is in docs/operations.md. Each broker has its own registry, so
// brokers in one process do not share metrics.
//
// The request path only adds to atomic counters: per topic on a
// topicStats that the topic and its partition replicas point to, per API
// on a counter and a histogram looked up by API key in an array. Every
// gauge (partitions, ISR state, log sizes, groups, consumer lag,
// connections) is read from the broker's state when Prometheus scrapes,
// by brokerCollector.

import (
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/group"
)

// topicStats are one topic's traffic counters on this broker (Kafka's
// BrokerTopicMetrics). A topic's value is replaced on every metadata
// change; its stats pointer is carried over as long as the topic id stays.
type topicStats struct {
	bytesIn               atomic.Uint64
	bytesOut              atomic.Uint64
	messagesIn            atomic.Uint64
	produceRequests       atomic.Uint64
	failedProduceRequests atomic.Uint64
	fetchRequests         atomic.Uint64
	failedFetchRequests   atomic.Uint64
}

// brokerMetrics holds the broker's counters and its registry.
type brokerMetrics struct {
	reg *prometheus.Registry
	// all sums every topic's stats, including topics since deleted and
	// requests for topics this broker does not know.
	all                 topicStats
	replicationBytesIn  atomic.Uint64 // appended by this broker's replica fetchers
	replicationBytesOut atomic.Uint64 // sent to followers
	isrShrinks          atomic.Uint64
	isrExpands          atomic.Uint64
	inFlight            atomic.Int64 // requests read and not yet answered
	producePurgatory    atomic.Int64 // acks=all produces waiting for the high watermark
	fetchPurgatory      atomic.Int64 // fetches waiting for fetch.min.bytes
	connectionsCreated  atomic.Uint64
	// ready is set once Start has registered the broker, applied the
	// metadata and started accepting connections (/readyz).
	ready atomic.Bool
	// apis holds each served API's request metrics by API key; fetches
	// have the extra FetchConsumer and FetchFollower series Kafka has.
	apis                         [kmsg.MaxKey + 1]apiMetrics
	fetchConsumer, fetchFollower apiMetrics
}

// apiMetrics are one request name's counter and latency histogram.
type apiMetrics struct {
	requests    prometheus.Counter
	totalTimeMs prometheus.Observer
}

func (m *apiMetrics) observe(ms float64) {
	m.requests.Inc()
	m.totalTimeMs.Observe(ms)
}

// requestTimeBucketsMs are the buckets of the request latency histograms,
// in milliseconds as Kafka's TotalTimeMs: from a cached produce or fetch
// to a long-polling fetch (fetch.max.wait.ms is 500 by default) and an
// acks=all produce waiting up to its request.timeout.ms (30 s).
var requestTimeBucketsMs = []float64{0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000}

func newBrokerMetrics(b *Broker) *brokerMetrics {
	m := &brokerMetrics{reg: prometheus.NewRegistry()}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_network_requestmetrics_requests_total",
		Help: "Requests answered, by API (Kafka's RequestMetrics RequestsPerSec); Fetch also counts as FetchConsumer or FetchFollower.",
	}, []string{"request"})
	totalTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kafka_network_requestmetrics_total_time_ms",
		Help:    "Time from a request's arrival to its response being written, in ms, by API (Kafka's RequestMetrics TotalTimeMs).",
		Buckets: requestTimeBucketsMs,
	}, []string{"request"})
	series := func(name string) apiMetrics {
		return apiMetrics{requests: requests.WithLabelValues(name), totalTimeMs: totalTime.WithLabelValues(name)}
	}
	for _, h := range apiKeys() {
		m.apis[h.key] = series(kafkaRequestName(h.key))
	}
	m.fetchConsumer, m.fetchFollower = series("FetchConsumer"), series("FetchFollower")
	m.reg.MustRegister(requests, totalTime, &brokerCollector{b: b},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// kafkaRequestNames are Kafka's names of the APIs kmsg spells otherwise;
// dashboards built for Kafka's request label find them under these.
var kafkaRequestNames = map[string]string{
	"InitProducerID":               "InitProducerId",
	"AlterPartitionAssignments":    "AlterPartitionReassignments",
	"DescribeACLs":                 "DescribeAcls",
	"CreateACLs":                   "CreateAcls",
	"DeleteACLs":                   "DeleteAcls",
	"SASLHandshake":                "SaslHandshake",
	"SASLAuthenticate":             "SaslAuthenticate",
	"DescribeUserSCRAMCredentials": "DescribeUserScramCredentials",
	"AlterUserSCRAMCredentials":    "AlterUserScramCredentials",
}

// kafkaRequestName is the request label of an API: Kafka's name for it.
func kafkaRequestName(key int16) string {
	name := kmsg.NameForKey(key)
	if k, ok := kafkaRequestNames[name]; ok {
		return k
	}
	return name
}

// requestDone records a request answered (or dropped with its
// connection) and how long it took since it was read.
func (m *brokerMetrics) requestDone(req *request) {
	m.inFlight.Add(-1)
	if req.key < 0 || int(req.key) >= len(m.apis) || m.apis[req.key].requests == nil {
		return
	}
	ms := float64(time.Since(req.received)) / float64(time.Millisecond)
	m.apis[req.key].observe(ms)
	if req.key == int16(kmsg.Fetch) {
		if fr, ok := req.body.(*kmsg.FetchRequest); ok && fetchReplica(fr) >= 0 {
			m.fetchFollower.observe(ms)
		} else {
			m.fetchConsumer.observe(ms)
		}
	}
}

// fetchReplica is the broker id of a follower's fetch, -1 for a consumer.
func fetchReplica(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// produced records one partition's produce: the bytes and records
// appended, or a failure. s is nil for a topic this broker does not
// know.
func (m *brokerMetrics) produced(s *topicStats, bytes, records int64, failed bool) {
	for _, s := range [2]*topicStats{s, &m.all} {
		if s == nil {
			continue
		}
		s.produceRequests.Add(1)
		if failed {
			s.failedProduceRequests.Add(1)
			continue
		}
		s.bytesIn.Add(uint64(bytes))
		s.messagesIn.Add(uint64(records))
	}
}

// produceFailedLate records an acks=all produce appended but answered with
// an error (timed out, leadership lost, ISR shrunk meanwhile).
func (m *brokerMetrics) produceFailedLate(s *topicStats) {
	if s != nil {
		s.failedProduceRequests.Add(1)
	}
	m.all.failedProduceRequests.Add(1)
}

// fetched records what a fetch answered, once, after any wait: the record
// bytes sent per topic (to consumers as bytes out, to followers as
// replication bytes out) and each partition's failure. resp.topics holds
// one part per item, in order (it runs before dropUnchanged).
func (m *brokerMetrics) fetched(follower bool, items []fetchItem, resp *fetchResponse) {
	var (
		cur                    *topicStats
		reqs, failed, bytesOut uint64
	)
	flush := func() {
		for _, s := range [2]*topicStats{cur, &m.all} {
			if s == nil {
				continue
			}
			s.fetchRequests.Add(reqs)
			if failed > 0 {
				s.failedFetchRequests.Add(failed)
			}
			if bytesOut > 0 && !follower {
				s.bytesOut.Add(bytesOut)
			}
		}
		if bytesOut > 0 && follower {
			m.replicationBytesOut.Add(bytesOut)
		}
		reqs, failed, bytesOut = 0, 0, 0
	}
	i := 0
	for ti := range resp.topics {
		parts := resp.topics[ti].parts
		for pi := range parts {
			if i >= len(items) {
				break
			}
			var s *topicStats
			if p := items[i].part; p != nil {
				s = p.stats
			}
			i++
			if s != cur && reqs > 0 {
				flush()
			}
			cur = s
			reqs++
			if parts[pi].errCode != 0 {
				failed++
			}
			bytesOut += uint64(parts[pi].recordsSize())
		}
	}
	if reqs > 0 {
		flush()
	}
}

// Descriptions of the metrics read at scrape time.
var (
	topicLabel     = []string{"topic"}
	partitionLabel = []string{"topic", "partition"}
	lagLabels      = []string{"group", "topic", "partition"}

	descBytesIn        = prometheus.NewDesc("kafka_server_brokertopicmetrics_bytes_in_total", "Record bytes produced to the topic by clients (BytesInPerSec).", topicLabel, nil)
	descBytesOut       = prometheus.NewDesc("kafka_server_brokertopicmetrics_bytes_out_total", "Record bytes fetched from the topic by consumers (BytesOutPerSec).", topicLabel, nil)
	descMessagesIn     = prometheus.NewDesc("kafka_server_brokertopicmetrics_messages_in_total", "Records produced to the topic (MessagesInPerSec).", topicLabel, nil)
	descProduceReqs    = prometheus.NewDesc("kafka_server_brokertopicmetrics_total_produce_requests_total", "Partition appends asked of the topic by produce requests (TotalProduceRequestsPerSec).", topicLabel, nil)
	descFailedProduce  = prometheus.NewDesc("kafka_server_brokertopicmetrics_failed_produce_requests_total", "Partition appends answered with an error (FailedProduceRequestsPerSec).", topicLabel, nil)
	descFetchReqs      = prometheus.NewDesc("kafka_server_brokertopicmetrics_total_fetch_requests_total", "Partition reads asked of the topic by fetch requests, consumers' and followers' (TotalFetchRequestsPerSec).", topicLabel, nil)
	descFailedFetch    = prometheus.NewDesc("kafka_server_brokertopicmetrics_failed_fetch_requests_total", "Partition reads answered with an error (FailedFetchRequestsPerSec).", topicLabel, nil)
	descAllBytesIn     = prometheus.NewDesc("kafka_server_brokertopicmetrics_all_topics_bytes_in_total", "Record bytes produced by clients, all topics (BytesInPerSec without a topic).", nil, nil)
	descAllBytesOut    = prometheus.NewDesc("kafka_server_brokertopicmetrics_all_topics_bytes_out_total", "Record bytes fetched by consumers, all topics.", nil, nil)
	descAllMessagesIn  = prometheus.NewDesc("kafka_server_brokertopicmetrics_all_topics_messages_in_total", "Records produced, all topics.", nil, nil)
	descAllProduceReqs = prometheus.NewDesc("kafka_server_brokertopicmetrics_all_topics_total_produce_requests_total", "Partition appends asked by produce requests, all topics.", nil, nil)
	descAllFailedProd  = prometheus.NewDesc("kafka_server_brokertopicmetrics_all_topics_failed_produce_requests_total", "Partition appends answered with an error, all topics.", nil, nil)
	descAllFetchReqs   = prometheus.NewDesc("kafka_server_brokertopicmetrics_all_topics_total_fetch_requests_total", "Partition reads asked by fetch requests, all topics.", nil, nil)
	descAllFailedFetch = prometheus.NewDesc("kafka_server_brokertopicmetrics_all_topics_failed_fetch_requests_total", "Partition reads answered with an error, all topics.", nil, nil)
	descReplBytesIn    = prometheus.NewDesc("kafka_server_brokertopicmetrics_replication_bytes_in_total", "Record bytes this broker's followers copied from leaders (ReplicationBytesInPerSec).", nil, nil)
	descReplBytesOut   = prometheus.NewDesc("kafka_server_brokertopicmetrics_replication_bytes_out_total", "Record bytes sent to followers (ReplicationBytesOutPerSec).", nil, nil)

	descInFlight  = prometheus.NewDesc("kafka_network_requestchannel_requests_in_flight", "Requests read from clients and not yet answered.", nil, nil)
	descPurgatory = prometheus.NewDesc("kafka_server_delayedoperationpurgatory_purgatory_size", "Requests parked in a purgatory: Produce (acks=all waiting for the ISR), Fetch (waiting for fetch.min.bytes) (DelayedOperationPurgatory PurgatorySize).", []string{"delayed_operation"}, nil)
	descConns     = prometheus.NewDesc("kafka_server_socket_server_metrics_connection_count", "Open client connections (socket-server-metrics connection-count).", nil, nil)
	descConnsMade = prometheus.NewDesc("kafka_server_socket_server_metrics_connection_creation_total", "Client connections accepted (socket-server-metrics connection-creation-total).", nil, nil)

	descLeaders      = prometheus.NewDesc("kafka_server_replicamanager_leader_count", "Partitions this broker leads (ReplicaManager LeaderCount).", nil, nil)
	descPartitions   = prometheus.NewDesc("kafka_server_replicamanager_partition_count", "Partition replicas on this broker (ReplicaManager PartitionCount).", nil, nil)
	descUnderRepl    = prometheus.NewDesc("kafka_server_replicamanager_under_replicated_partitions", "Partitions this broker leads whose ISR is smaller than their replica set (ReplicaManager UnderReplicatedPartitions).", nil, nil)
	descUnderMinISR  = prometheus.NewDesc("kafka_server_replicamanager_under_min_isr_partition_count", "Partitions this broker leads whose ISR is smaller than min.insync.replicas: acks=all produces fail (ReplicaManager UnderMinIsrPartitionCount).", nil, nil)
	descAtMinISR     = prometheus.NewDesc("kafka_server_replicamanager_at_min_isr_partition_count", "Partitions this broker leads whose ISR is exactly min.insync.replicas (ReplicaManager AtMinIsrPartitionCount).", nil, nil)
	descISRShrinks   = prometheus.NewDesc("kafka_server_replicamanager_isr_shrinks_total", "ISR shrinks of partitions this broker leads (ReplicaManager IsrShrinksPerSec).", nil, nil)
	descISRExpands   = prometheus.NewDesc("kafka_server_replicamanager_isr_expands_total", "ISR expansions of partitions this broker leads (ReplicaManager IsrExpandsPerSec).", nil, nil)
	descActiveCtrl   = prometheus.NewDesc("kafka_controller_kafkacontroller_active_controller_count", "1 on the broker that is the active controller, else 0 (KafkaController ActiveControllerCount).", nil, nil)
	descOffline      = prometheus.NewDesc("kafka_controller_kafkacontroller_offline_partitions_count", "Partitions without a live leader; reported by the active controller, 0 elsewhere (KafkaController OfflinePartitionsCount).", nil, nil)
	descGlobalTopics = prometheus.NewDesc("kafka_controller_kafkacontroller_global_topic_count", "Topics in the cluster; reported by the active controller, 0 elsewhere (KafkaController GlobalTopicCount).", nil, nil)
	descGlobalParts  = prometheus.NewDesc("kafka_controller_kafkacontroller_global_partition_count", "Partitions in the cluster; reported by the active controller, 0 elsewhere (KafkaController GlobalPartitionCount).", nil, nil)
	descLogSize      = prometheus.NewDesc("kafka_log_log_size", "Bytes of the partition replica's segments on this broker (Log Size).", partitionLabel, nil)
	descLogStart     = prometheus.NewDesc("kafka_log_log_start_offset", "The partition replica's log start offset (Log LogStartOffset).", partitionLabel, nil)
	descLogEnd       = prometheus.NewDesc("kafka_log_log_end_offset", "The partition replica's log end offset (Log LogEndOffset).", partitionLabel, nil)
	descGroups       = prometheus.NewDesc("kafka_coordinator_group_groupmetadatamanager_num_groups", "Groups this broker coordinates, by type (classic, consumer) and state (GroupMetadataManager NumGroups, NumGroupsStable, ...).", []string{"type", "state"}, nil)
	descOffsets      = prometheus.NewDesc("kafka_coordinator_group_groupmetadatamanager_num_offsets", "Committed offsets this broker holds as group coordinator (GroupMetadataManager NumOffsets).", nil, nil)
	descRebalances   = prometheus.NewDesc("kafka_server_group_coordinator_metrics_group_rebalance_total", "Rebalances of classic groups this broker coordinated (group-coordinator-metrics group-rebalance-count).", nil, nil)
	descCGRebalances = prometheus.NewDesc("kafka_server_group_coordinator_metrics_consumer_group_rebalance_total", "New target assignments of KIP-848 consumer groups this broker coordinated (group-coordinator-metrics consumer-group-rebalance-count).", nil, nil)
	descCommitted    = prometheus.NewDesc("kafka_consumergroup_committed_offset", "A group's committed offset, for groups this broker coordinates and partitions it holds a replica of.", lagLabels, nil)
	descLag          = prometheus.NewDesc("kafka_consumergroup_lag", "High watermark minus the committed offset (0 if ahead), for groups this broker coordinates and partitions it holds a replica of.", lagLabels, nil)
	descLagTruncated = prometheus.NewDesc("kafka_consumergroup_lag_series_dropped", "Lag series left out of this scrape because there were more than the limit.", nil, nil)
	allDescs         = []*prometheus.Desc{
		descBytesIn, descBytesOut, descMessagesIn, descProduceReqs, descFailedProduce, descFetchReqs, descFailedFetch,
		descAllBytesIn, descAllBytesOut, descAllMessagesIn, descAllProduceReqs, descAllFailedProd, descAllFetchReqs, descAllFailedFetch,
		descReplBytesIn, descReplBytesOut, descInFlight, descPurgatory, descConns, descConnsMade,
		descLeaders, descPartitions, descUnderRepl, descUnderMinISR, descAtMinISR, descISRShrinks, descISRExpands,
		descActiveCtrl, descOffline, descGlobalTopics, descGlobalParts, descLogSize, descLogStart, descLogEnd,
		descGroups, descOffsets, descRebalances, descCGRebalances, descCommitted, descLag, descLagTruncated,
	}
)

// groupStates are the states reported for each group type even when no
// group is in them, so that an alert on a state has a series to watch.
var groupStates = map[string][]string{
	"classic":  {"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"},
	"consumer": {"Empty", "Assigning", "Reconciling", "Stable"},
}

// maxLagSeries bounds the consumer lag series of one scrape: groups times
// partitions grows with what clients do.
const maxLagSeries = 50000

// brokerCollector reads the broker's state at scrape time.
type brokerCollector struct{ b *Broker }

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	m := b.metrics
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descAllBytesIn, m.all.bytesIn.Load())
	counter(descAllBytesOut, m.all.bytesOut.Load())
	counter(descAllMessagesIn, m.all.messagesIn.Load())
	counter(descAllProduceReqs, m.all.produceRequests.Load())
	counter(descAllFailedProd, m.all.failedProduceRequests.Load())
	counter(descAllFetchReqs, m.all.fetchRequests.Load())
	counter(descAllFailedFetch, m.all.failedFetchRequests.Load())
	counter(descReplBytesIn, m.replicationBytesIn.Load())
	counter(descReplBytesOut, m.replicationBytesOut.Load())
	counter(descISRShrinks, m.isrShrinks.Load())
	counter(descISRExpands, m.isrExpands.Load())
	counter(descConnsMade, m.connectionsCreated.Load())
	gauge(descInFlight, float64(m.inFlight.Load()))
	gauge(descPurgatory, float64(m.producePurgatory.Load()), "Produce")
	gauge(descPurgatory, float64(m.fetchPurgatory.Load()), "Fetch")
	b.connsMu.Lock()
	conns := len(b.conns)
	b.connsMu.Unlock()
	gauge(descConns, float64(conns))

	topics := b.allTopics()
	c.collectTopics(ch, topics)
	c.collectController(ch)
	c.collectGroups(ch, topics)
}

// collectTopics reports the per-topic counters and the state of every
// partition replica on this broker.
func (c *brokerCollector) collectTopics(ch chan<- prometheus.Metric, topics []*topic) {
	var leaders, replicas, underRepl, underMin, atMin int
	for _, t := range topics {
		hosted := slices.ContainsFunc(t.partitions, func(p *partition) bool { return p != nil })
		if s := t.stats; s != nil && (hosted || s.produceRequests.Load() > 0 || s.fetchRequests.Load() > 0) {
			for _, v := range []struct {
				d *prometheus.Desc
				n *atomic.Uint64
			}{
				{descBytesIn, &s.bytesIn}, {descBytesOut, &s.bytesOut}, {descMessagesIn, &s.messagesIn},
				{descProduceReqs, &s.produceRequests}, {descFailedProduce, &s.failedProduceRequests},
				{descFetchReqs, &s.fetchRequests}, {descFailedFetch, &s.failedFetchRequests},
			} {
				ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n.Load()), t.name)
			}
		}
		for i, p := range t.partitions {
			if p == nil {
				continue
			}
			replicas++
			part := strconv.Itoa(i)
			ch <- prometheus.MustNewConstMetric(descLogSize, prometheus.GaugeValue, float64(p.log.Size()), t.name, part)
			ch <- prometheus.MustNewConstMetric(descLogStart, prometheus.GaugeValue, float64(p.log.LogStartOffset()), t.name, part)
			ch <- prometheus.MustNewConstMetric(descLogEnd, prometheus.GaugeValue, float64(p.log.LogEndOffset()), t.name, part)
			leader, _, st := p.role()
			if !leader {
				continue
			}
			leaders++
			isr := len(st.ISR)
			// Replicas a reassignment is adding are not expected in the
			// ISR yet (Kafka's isUnderReplicated).
			if isr < len(st.Replicas)-len(st.AddingReplicas) {
				underRepl++
			}
			switch {
			case isr < t.minISR:
				underMin++
			case isr == t.minISR:
				atMin++
			}
		}
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(descLeaders, leaders)
	gauge(descPartitions, replicas)
	gauge(descUnderRepl, underRepl)
	gauge(descUnderMinISR, underMin)
	gauge(descAtMinISR, atMin)
}

// collectController reports the controller's metrics: the cluster-wide
// counts only from the active controller, as Kafka does, so that a sum
// over brokers counts each once.
func (c *brokerCollector) collectController(ch chan<- prometheus.Metric) {
	snap := c.b.snapshot()
	active := snap.Controller.ID == c.b.nodeID && c.b.regEpoch.Load() > 0
	var offline, topicCount, partitions int
	if active {
		for _, t := range snap.Topics {
			topicCount++
			for _, ps := range t.Partitions {
				partitions++
				if _, live := snap.Brokers[ps.Leader]; ps.Leader == cluster.NoLeader || !live {
					offline++
				}
			}
		}
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(descActiveCtrl, boolInt(active))
	gauge(descOffline, offline)
	gauge(descGlobalTopics, topicCount)
	gauge(descGlobalParts, partitions)
}

// collectGroups reports the groups this broker coordinates and their lag
// on the partitions it holds a replica of: exact where it leads, within
// one replica fetch where it follows.
func (c *brokerCollector) collectGroups(ch chan<- prometheus.Metric, topics []*topic) {
	var stats []group.GroupStats
	var classicRebalances, consumerRebalances int64
	if coord := c.b.groups.coord.Load(); coord != nil {
		stats = coord.Stats(true)
		classicRebalances, consumerRebalances = coord.Rebalances()
	}
	ch <- prometheus.MustNewConstMetric(descRebalances, prometheus.CounterValue, float64(classicRebalances))
	ch <- prometheus.MustNewConstMetric(descCGRebalances, prometheus.CounterValue, float64(consumerRebalances))
	counts := map[[2]string]int{}
	for typ, states := range groupStates {
		for _, st := range states {
			counts[[2]string{typ, st}] = 0
		}
	}
	byName := make(map[string]*topic, len(topics))
	for _, t := range topics {
		byName[t.name] = t
	}
	offsets, lagSeries, dropped := 0, 0, 0
	for _, g := range stats {
		counts[[2]string{g.Type, g.State}]++
		offsets += len(g.Offsets)
		for _, o := range g.Offsets {
			t := byName[o.Topic]
			if t == nil || o.Partition < 0 || int(o.Partition) >= len(t.partitions) || t.partitions[o.Partition] == nil {
				continue
			}
			if lagSeries >= maxLagSeries {
				dropped++
				continue
			}
			lagSeries++
			hw := t.partitions[o.Partition].highWatermark()
			part := strconv.Itoa(int(o.Partition))
			ch <- prometheus.MustNewConstMetric(descCommitted, prometheus.GaugeValue, float64(o.Offset), g.ID, o.Topic, part)
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(max(hw-o.Offset, 0)), g.ID, o.Topic, part)
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(descGroups, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(descOffsets, prometheus.GaugeValue, float64(offsets))
	ch <- prometheus.MustNewConstMetric(descLagTruncated, prometheus.GaugeValue, float64(dropped))
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}
