package config

import "math"

const (
	maxShort = math.MaxInt16
	maxInt   = math.MaxInt32
	maxLong  = math.MaxInt64
)

var (
	cleanupPolicies   = []string{"delete", "compact"}
	compressionTypes  = []string{"producer", "uncompressed", "none", "gzip", "snappy", "lz4", "zstd"}
	timestampTypes    = []string{"CreateTime", "LogAppendTime"}
	consumerAssignors = []string{"uniform", "range",
		"org.apache.kafka.coordinator.group.assignor.UniformAssignor",
		"org.apache.kafka.coordinator.group.assignor.RangeAssignor"}
	maxLongStr        = "9223372036854775807"
	defaultListenAddr = "PLAINTEXT://127.0.0.1:9092"
)

// TopicDefs are the topic-level configs, with the broker property each one
// defaults to. DescribeConfigs lists them in this order.
var TopicDefs = []TopicDef{
	{Def{Name: "cleanup.policy", Type: List, Default: "delete", OneOf: cleanupPolicies}, "log.cleanup.policy"},
	{Def{Name: "compression.type", Type: String, Default: "producer", OneOf: compressionTypes}, "compression.type"},
	{Def{Name: "delete.retention.ms", Type: Long, Default: "86400000", Min: 0, Max: maxLong}, "log.cleaner.delete.retention.ms"},
	{Def{Name: "file.delete.delay.ms", Type: Long, Default: "60000", Min: 0, Max: maxLong}, "log.segment.delete.delay.ms"},
	{Def{Name: "flush.messages", Type: Long, Default: maxLongStr, Min: 1, Max: maxLong}, "log.flush.interval.messages"},
	{Def{Name: "flush.ms", Type: Long, Default: maxLongStr, Min: 0, Max: maxLong}, "log.flush.interval.ms"},
	{Def{Name: "index.interval.bytes", Type: Int, Default: "4096", Min: 0, Max: maxInt}, "log.index.interval.bytes"},
	{Def{Name: "max.compaction.lag.ms", Type: Long, Default: maxLongStr, Min: 1, Max: maxLong}, "log.cleaner.max.compaction.lag.ms"},
	{Def{Name: "max.message.bytes", Type: Int, Default: "1048588", Min: 0, Max: maxInt}, "message.max.bytes"},
	{Def{Name: "message.timestamp.after.max.ms", Type: Long, Default: "3600000", Min: 0, Max: maxLong}, "log.message.timestamp.after.max.ms"},
	{Def{Name: "message.timestamp.before.max.ms", Type: Long, Default: maxLongStr, Min: 0, Max: maxLong}, "log.message.timestamp.before.max.ms"},
	{Def{Name: "message.timestamp.type", Type: String, Default: "CreateTime", OneOf: timestampTypes}, "log.message.timestamp.type"},
	{Def{Name: "min.cleanable.dirty.ratio", Type: Double, Default: "0.5", Min: 0, Max: 1}, "log.cleaner.min.cleanable.ratio"},
	{Def{Name: "min.compaction.lag.ms", Type: Long, Default: "0", Min: 0, Max: maxLong}, "log.cleaner.min.compaction.lag.ms"},
	{Def{Name: "min.insync.replicas", Type: Int, Default: "1", Min: 1, Max: maxInt}, "min.insync.replicas"},
	{Def{Name: "retention.bytes", Type: Long, Default: "-1", Min: -1, Max: maxLong}, "log.retention.bytes"},
	{Def{Name: "retention.ms", Type: Long, Default: "604800000", Min: -1, Max: maxLong}, "log.retention.ms"},
	{Def{Name: "segment.bytes", Type: Int, Default: "1073741824", Min: 14, Max: maxInt}, "log.segment.bytes"},
	{Def{Name: "segment.index.bytes", Type: Int, Default: "10485760", Min: 8, Max: maxInt}, "log.index.size.max.bytes"},
	{Def{Name: "segment.ms", Type: Long, Default: "604800000", Min: 1, Max: maxLong}, "log.roll.ms"},
	{Def{Name: "unclean.leader.election.enable", Type: Bool, Default: "false"}, "unclean.leader.election.enable"},
}

// TopicDef is a topic config and the broker property that supplies its
// default.
type TopicDef struct {
	Def
	BrokerName string
}

// BrokerDefs are the broker properties Samsa acts on.
var BrokerDefs = []Def{
	{Name: "node.id", Type: Int, Default: "0", Min: 0, Max: maxInt, Doc: "this broker's id (broker.id is an alias)"},
	{Name: "listeners", Type: List, Default: defaultListenAddr, Doc: "where the broker listens, NAME://host:port"},
	{Name: "advertised.listeners", Type: List, Doc: "addresses given to clients; defaults to listeners"},
	{Name: "log.dirs", Type: List, Default: "./samsa-data", Doc: "where partition logs live (log.dir is an alias)"},
	{Name: "broker.rack", Type: String, Nullable: true},
	{Name: "num.partitions", Type: Int, Default: "1", Min: 1, Max: maxInt},
	{Name: "default.replication.factor", Type: Int, Default: "1", Min: 1, Max: maxShort},
	{Name: "auto.create.topics.enable", Type: Bool, Default: "true"},
	{Name: "delete.topic.enable", Type: Bool, Default: "true"},
	{Name: "message.max.bytes", Type: Int, Default: "1048588", Min: 0, Max: maxInt},
	{Name: "compression.type", Type: String, Default: "producer", OneOf: compressionTypes},
	{Name: "log.segment.bytes", Type: Int, Default: "1073741824", Min: 14, Max: maxInt},
	{Name: "log.roll.ms", Type: Long, Nullable: true, Min: 1, Max: maxLong},
	{Name: "log.roll.hours", Type: Int, Default: "168", Min: 1, Max: maxInt},
	{Name: "log.retention.ms", Type: Long, Nullable: true, Min: -1, Max: maxLong},
	{Name: "log.retention.minutes", Type: Int, Nullable: true, Min: -1, Max: maxInt},
	{Name: "log.retention.hours", Type: Int, Default: "168", Min: -1, Max: maxInt},
	{Name: "log.retention.bytes", Type: Long, Default: "-1", Min: -1, Max: maxLong},
	{Name: "log.retention.check.interval.ms", Type: Long, Default: "300000", Min: 1, Max: maxLong},
	{Name: "log.cleanup.policy", Type: List, Default: "delete", OneOf: cleanupPolicies},
	{Name: "log.cleaner.delete.retention.ms", Type: Long, Default: "86400000", Min: 0, Max: maxLong},
	{Name: "log.cleaner.enable", Type: Bool, Default: "true"},
	{Name: "log.cleaner.threads", Type: Int, Default: "1", Min: 0, Max: maxInt},
	{Name: "log.cleaner.dedupe.buffer.size", Type: Long, Default: "134217728", Min: 0, Max: maxLong},
	{Name: "log.cleaner.io.max.bytes.per.second", Type: Double, Default: "1.7976931348623157E308", Min: 0},
	{Name: "log.cleaner.backoff.ms", Type: Long, Default: "15000", Min: 0, Max: maxLong},
	{Name: "log.cleaner.min.cleanable.ratio", Type: Double, Default: "0.5", Min: 0, Max: 1},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: Long, Default: "0", Min: 0, Max: maxLong},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: Long, Default: maxLongStr, Min: 1, Max: maxLong},
	{Name: "log.segment.delete.delay.ms", Type: Long, Default: "60000", Min: 0, Max: maxLong},
	{Name: "log.flush.interval.messages", Type: Long, Default: maxLongStr, Min: 1, Max: maxLong, Doc: "flush.messages is an alias"},
	{Name: "log.flush.interval.ms", Type: Long, Nullable: true, Min: 0, Max: maxLong, Doc: "flush.ms is an alias"},
	{Name: "log.flush.scheduler.interval.ms", Type: Long, Default: "1000", Min: 1, Max: maxLong},
	{Name: "log.flush.offset.checkpoint.interval.ms", Type: Int, Default: "60000", Min: 0, Max: maxInt},
	{Name: "log.index.interval.bytes", Type: Int, Default: "4096", Min: 0, Max: maxInt},
	{Name: "log.index.size.max.bytes", Type: Int, Default: "10485760", Min: 4, Max: maxInt},
	{Name: "log.message.timestamp.type", Type: String, Default: "CreateTime", OneOf: timestampTypes},
	{Name: "log.message.timestamp.before.max.ms", Type: Long, Default: maxLongStr, Min: 0, Max: maxLong},
	{Name: "log.message.timestamp.after.max.ms", Type: Long, Default: "3600000", Min: 0, Max: maxLong},
	{Name: "min.insync.replicas", Type: Int, Default: "1", Min: 1, Max: maxInt},
	{Name: "unclean.leader.election.enable", Type: Bool, Default: "false"},
	{Name: "socket.request.max.bytes", Type: Int, Default: "104857600", Min: 1, Max: maxInt},
	{Name: "connections.max.idle.ms", Type: Long, Default: "600000", Min: -1, Max: maxLong},
	{Name: "offsets.topic.num.partitions", Type: Int, Default: "50", Min: 1, Max: maxInt, Doc: "partitions of __consumer_offsets, fixed once it exists"},
	{Name: "offsets.topic.replication.factor", Type: Int, Default: "3", Min: 1, Max: maxShort, Doc: "replicas of each __consumer_offsets partition, capped by the live brokers when it is created"},
	{Name: "offsets.commit.timeout.ms", Type: Int, Default: "5000", Min: 1, Max: maxInt, Doc: "how long a group coordinator write waits for the in-sync replicas"},
	{Name: "offsets.topic.segment.bytes", Type: Int, Default: "104857600", Min: 1, Max: maxInt},
	{Name: "offsets.retention.minutes", Type: Int, Default: "10080", Min: 1, Max: maxInt},
	{Name: "offsets.retention.check.interval.ms", Type: Long, Default: "600000", Min: 1, Max: maxLong},
	{Name: "offset.metadata.max.bytes", Type: Int, Default: "4096", Min: 0, Max: maxInt},
	{Name: "group.min.session.timeout.ms", Type: Int, Default: "6000", Min: 0, Max: maxInt},
	{Name: "group.max.session.timeout.ms", Type: Int, Default: "1800000", Min: 0, Max: maxInt},
	{Name: "group.initial.rebalance.delay.ms", Type: Int, Default: "3000", Min: 0, Max: maxInt},
	{Name: "group.max.size", Type: Int, Default: "2147483647", Min: 1, Max: maxInt},
	{Name: "group.consumer.session.timeout.ms", Type: Int, Default: "45000", Min: 1, Max: maxInt},
	{Name: "group.consumer.heartbeat.interval.ms", Type: Int, Default: "5000", Min: 1, Max: maxInt},
	{Name: "group.consumer.min.session.timeout.ms", Type: Int, Default: "45000", Min: 1, Max: maxInt, Doc: "the lowest consumer.session.timeout.ms a group config may set"},
	{Name: "group.consumer.max.session.timeout.ms", Type: Int, Default: "60000", Min: 1, Max: maxInt, Doc: "the highest consumer.session.timeout.ms a group config may set"},
	{Name: "group.consumer.min.heartbeat.interval.ms", Type: Int, Default: "5000", Min: 1, Max: maxInt, Doc: "the lowest consumer.heartbeat.interval.ms a group config may set"},
	{Name: "group.consumer.max.heartbeat.interval.ms", Type: Int, Default: "15000", Min: 1, Max: maxInt, Doc: "the highest consumer.heartbeat.interval.ms a group config may set"},
	{Name: "group.consumer.max.size", Type: Int, Default: "2147483647", Min: 1, Max: maxInt},
	{Name: "transaction.state.log.num.partitions", Type: Int, Default: "50", Min: 1, Max: maxInt, Doc: "partitions of __transaction_state, fixed once it exists"},
	{Name: "transaction.state.log.replication.factor", Type: Int, Default: "3", Min: 1, Max: maxShort, Doc: "replicas of each __transaction_state partition, capped by the live brokers when it is created"},
	{Name: "transaction.state.log.min.isr", Type: Int, Default: "2", Min: 1, Max: maxInt, Doc: "min.insync.replicas of __transaction_state, capped by its replication factor"},
	{Name: "transaction.state.log.segment.bytes", Type: Int, Default: "104857600", Min: 1, Max: maxInt},
	{Name: "transaction.max.timeout.ms", Type: Int, Default: "900000", Min: 1, Max: maxInt, Doc: "the largest transaction.timeout.ms a producer may ask for"},
	{Name: "transactional.id.expiration.ms", Type: Int, Default: "604800000", Min: 1, Max: maxInt, Doc: "how long a transactional id without transactions is kept"},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: Int, Default: "10000", Min: 1, Max: maxInt, Doc: "how often transactions past their timeout are aborted"},
	{Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: Int, Default: "3600000", Min: 1, Max: maxInt, Doc: "how often expired transactional ids are removed"},
	// The cluster: where its metadata lives (etcd) and how the controller
	// and replication behave.
	{Name: "controller.quorum.voters", Type: List, Doc: "id@host:port of each broker that embeds an etcd member, the port being that member's peer port (Kafka's KRaft syntax); with neither this nor etcd.endpoints the broker embeds a single member"},
	{Name: "etcd.endpoints", Type: List, Doc: "client URLs of an external etcd cluster holding the metadata; the broker then embeds no member"},
	{Name: "etcd.client.port.offset", Type: Int, Default: "1000", Min: 1, Max: 65535, Doc: "a voter's etcd member serves clients on its peer port plus this"},
	{Name: "etcd.prefix", Type: String, Default: "/samsa", Doc: "etcd key prefix of the cluster's metadata"},
	{Name: "etcd.unsafe.no.fsync", Type: Bool, Default: "false", Doc: "for tests only: the embedded etcd member skips fsync, so a machine crash can lose cluster metadata"},
	{Name: "broker.session.timeout.ms", Type: Int, Default: "9000", Min: 1000, Max: maxInt, Doc: "how long a broker that stopped heartbeating stays registered"},
	{Name: "controlled.shutdown.enable", Type: Bool, Default: "true", Doc: "move leaderships away before a broker stops"},
	{Name: "auto.leader.rebalance.enable", Type: Bool, Default: "true"},
	{Name: "leader.imbalance.check.interval.seconds", Type: Long, Default: "300", Min: 1, Max: maxLong},
	{Name: "leader.imbalance.per.broker.percentage", Type: Int, Default: "10", Min: 0, Max: maxInt},
	{Name: "replica.lag.time.max.ms", Type: Long, Default: "30000", Min: 1, Max: maxLong, Doc: "a follower that has not caught up for this long leaves the ISR"},
	{Name: "replica.fetch.max.bytes", Type: Int, Default: "1048576", Min: 0, Max: maxInt},
	{Name: "replica.fetch.response.max.bytes", Type: Int, Default: "10485760", Min: 0, Max: maxInt},
	{Name: "replica.fetch.wait.max.ms", Type: Int, Default: "500", Min: 0, Max: maxInt},
	{Name: "replica.fetch.min.bytes", Type: Int, Default: "1", Min: 0, Max: maxInt},
	{Name: "replica.fetch.backoff.ms", Type: Int, Default: "1000", Min: 0, Max: maxInt},
	{Name: "replica.socket.timeout.ms", Type: Int, Default: "30000", Min: 1, Max: maxInt},
	{Name: "group.consumer.assignors", Type: List, Default: "uniform,range", OneOf: consumerAssignors, Doc: "server-side assignors of KIP-848 groups, the first the default"},
	// Operations: Samsa's own, Kafka exposes JMX instead.
	{Name: "metrics.listen", Type: String, Nullable: true, Doc: "host:port of an HTTP endpoint serving Prometheus /metrics, /healthz and /readyz; off when empty"},
	{Name: "metrics.pprof.enable", Type: Bool, Default: "false", Doc: "also serve Go's profiler under /debug/pprof/ on metrics.listen"},
}

// aliases maps alternative property names onto the names above.
var aliases = map[string]string{
	"broker.id":      "node.id",
	"log.dir":        "log.dirs",
	"flush.messages": "log.flush.interval.messages",
	"flush.ms":       "log.flush.interval.ms",
}

// IgnoredBrokerProps are properties common in a Kafka server.properties
// that have no meaning for Samsa (thread pools, ZooKeeper, socket buffers of
// the JVM network layer, KRaft roles). They are accepted with a warning so an
// existing file works.
var IgnoredBrokerProps = []string{
	"num.network.threads", "num.io.threads", "num.recovery.threads.per.data.dir",
	"num.replica.fetchers", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
	"process.roles", "controller.listener.names", "listener.security.protocol.map",
	"inter.broker.listener.name", "zookeeper.connect", "zookeeper.connection.timeout.ms",
	"broker.heartbeat.interval.ms",
	"log.preallocate", "queued.max.requests",
}
