// Package kafka is Samsa's Kafka client: a pure-Go producer, consumer and
// admin client that speak Kafka's wire protocol to Samsa or Apache Kafka brokers, with
// the Java client's model, settings and defaults, and Go's generics,
// contexts and errors on top.
//
// # The producer's model
//
// A record goes through the same stages as in the Java client:
//
//	ProducerRecord[K, V]
//	  -> interceptors' OnSend                 (WithInterceptors)
//	  -> key and value Serializers            (Serializer[K], Serializer[V])
//	  -> wait for the topic's metadata        (max.block.ms)
//	  -> partitioner                          (record's Partition, WithPartitioner,
//	                                           murmur2 of the key, or uniform sticky)
//	  -> accumulator: one queue of batches per partition
//	                                          (batch.size, linger.ms, buffer.memory,
//	                                           compression.type)
//	  -> one sender goroutine per broker      (max.in.flight.requests.per.connection,
//	                                           max.request.size, acks, request.timeout.ms)
//	  -> retries with backoff                 (retries, retry.backoff.ms,
//	                                           retry.backoff.max.ms, delivery.timeout.ms)
//	  -> interceptors' OnAcknowledgement, then the callback, then the Future
//
// Send blocks only to wait for metadata of a topic it has not seen and for
// room in buffer.memory, both for at most max.block.ms. Everything after
// runs on the producer's goroutines: the sender of each broker drains the
// batches of the partitions that broker leads into ProduceRequests (at
// most one batch per partition per request), keeps up to
// max.in.flight.requests.per.connection of them in flight on its own
// connection and completes each record with its RecordMetadata (offset,
// timestamp) or an error. A manager goroutine fails records older than
// delivery.timeout.ms, whether queued or in flight, and obtains the
// producer id of the idempotent producer.
//
// # Memory
//
// As in Java, buffer.memory is handed out in batch buffers: a new batch
// takes batch.size bytes (or, for a record that does not fit in
// batch.size, just enough for it) and gives them back once its records
// have their outcome. Records are encoded straight into their batch's
// buffer; an uncompressed batch is written to the socket from that buffer
// (one vectored write per request, no copy), a compressed one is
// compressed into it. Buffers of batch.size are recycled. So the memory
// of queued and in-flight records stays within buffer.memory, plus one
// compression buffer per broker; a Send that finds none left waits up to
// max.block.ms. A batch is never larger than max.request.size, nor than
// buffer.memory (Java would fail every Send when batch.size exceeds
// buffer.memory).
//
// # Sending
//
// There are three ways to send, as in the Java client:
//
//	p, err := kafka.NewProducer(kafka.Config{"bootstrap.servers": "broker1:9092,broker2:9092"},
//		kafka.StringSerializer{}, kafka.StringSerializer{})
//	if err != nil { ... }
//	defer p.Close(ctx)
//	rec := kafka.ProducerRecord[string, string]{Topic: "CustomerCountry", Key: "Precision Products", Value: "France"}
//
//	// Fire and forget: errors after the record is queued are not seen.
//	p.Send(ctx, rec)
//
//	// Synchronous: wait for the broker's answer.
//	md, err := p.Send(ctx, rec).Get(ctx)
//
//	// Asynchronous: a callback gets the answer, exactly once.
//	p.SendWithCallback(ctx, rec, func(md kafka.RecordMetadata, err error) {
//		if err != nil { log.Print(err) }
//	})
//
// Flush sends everything queued at once and waits for it. Close sends and
// waits for everything, then stops all goroutines; when its context ends
// first, records still pending fail with ErrProducerClosed. Every record
// gets exactly one outcome.
//
// Callbacks and interceptors' OnAcknowledgement run on a sender goroutine
// (or on the caller's, for records that fail before being queued); they
// must be quick and must not call Flush or Close. Records of one partition
// complete in the order they were sent.
//
// # Configuration
//
// Config takes the Java producer's property names, as a map or a
// .properties file (LoadConfig). Defaults are the Java 4.x ones: acks=all,
// enable.idempotence=true, linger.ms=5, batch.size=16384,
// buffer.memory=33554432, max.block.ms=60000, compression.type=none,
// retries=2147483647, retry.backoff.ms=100, retry.backoff.max.ms=1000,
// delivery.timeout.ms=120000, request.timeout.ms=30000,
// max.in.flight.requests.per.connection=5, max.request.size=1048576,
// metadata.max.age.ms=300000, metadata.max.idle.ms=300000,
// reconnect.backoff.ms=50, reconnect.backoff.max.ms=1000,
// connections.max.idle.ms=540000, partitioner.adaptive.partitioning.enable=true,
// partitioner.availability.timeout.ms=0, partitioner.ignore.keys=false.
// ProducerConfigNames lists every accepted name.
//
// Settings are validated as Java's ProducerConfig and KafkaProducer do;
// an unknown setting or invalid value fails NewProducer with a
// *ConfigError naming it (errors.Is(err, ErrInvalidConfig)). In
// particular: enable.idempotence needs acks=all, retries > 0 and
// max.in.flight.requests.per.connection <= 5 — if the user set it to true
// a conflict is an error, if it is on by default it is turned off (and
// logged); transactional.id needs idempotence (so acks=all and at most 5
// requests in flight; enable.idempotence=false with it is an error),
// transaction.timeout.ms defaults to 60000; an explicit
// delivery.timeout.ms must be at least linger.ms + request.timeout.ms (the
// default is raised silently).
//
// What Java configures by class name is passed as Go values: serializers
// as NewProducer's arguments (key.serializer and value.serializer are
// accepted and ignored, as Java ignores them when given instances), a
// partitioner with WithPartitioner (partitioner.class may name only
// org.apache.kafka.clients.producer.RoundRobinPartitioner), interceptors
// with WithInterceptors (interceptor.classes must be empty). Serializers,
// partitioners and interceptors that read settings of their own claim them
// with ConfigAcceptor. compression.gzip.level, compression.lz4.level and
// compression.zstd.level (KIP-390) set the level of the codec chosen by
// compression.type, validated with Java's ranges. client.id defaults to
// producer-N, as in Java. Settings accepted for compatibility but without
// effect: client.dns.lookup, metadata.recovery.*, metric.reporters and
// enable.metrics.push. security.protocol must be PLAINTEXT: TLS and SASL
// are not implemented yet.
//
// # Partitioning
//
// A record with Partition set goes there. Otherwise a custom partitioner
// decides, if one is set. Otherwise a keyed record goes to
// (murmur2(key) & 0x7fffffff) % partitions, over all partitions, exactly
// as the Java client places it (Murmur2, KeyPartition). Records without a
// key (or all records, with partitioner.ignore.keys) use KIP-794's uniform
// sticky partitioning: they stick to one partition until batch.size bytes
// went there, then another is chosen at random among partitions with a
// leader, weighted toward shorter queues when
// partitioner.adaptive.partitioning.enable is on, and skipping brokers that
// have had data ready for partitioner.availability.timeout.ms (if > 0)
// without taking a produce.
//
// # Delivery guarantees
//
// With the defaults (acks=all, idempotence on) the producer gets a
// producer id from the cluster (InitProducerId) and numbers each
// partition's batches; the broker drops duplicates of retried batches and
// rejects gaps, so records are written once and in order even with five
// requests in flight and retries. When a batch is retried, the later
// batches of its partition are retried after it with their original
// sequence numbers. After a sequence is lost (OUT_OF_ORDER_SEQUENCE_NUMBER
// for the next expected batch, UNKNOWN_PRODUCER_ID, or a batch failed or
// expired with a sequence the broker may have seen) the producer bumps its
// epoch and restarts every partition's sequences at 0, as the Java
// client's idempotent producer does. DUPLICATE_SEQUENCE_NUMBER counts as
// success. If the cluster cannot grant a producer id (no InitProducerId,
// or no IDEMPOTENT_WRITE permission), idempotence that was only on by
// default is turned off with a warning; explicit enable.idempotence=true
// then fails every record.
//
// Without idempotence, max.in.flight.requests.per.connection=1 keeps order
// across retries; larger values may reorder records of a partition when a
// batch is retried, and retries may write duplicates.
//
// # Transactions
//
// A producer with a transactional.id writes records to several partitions
// atomically, as Java's transactional producer does (KIP-98):
//
//	p, err := kafka.NewProducer(kafka.Config{"bootstrap.servers": "localhost:9092",
//		"transactional.id": "my-transactional-id"}, kafka.StringSerializer{}, kafka.StringSerializer{})
//	if err != nil { ... }
//	if err := p.InitTransactions(ctx); err != nil { ... }
//	p.BeginTransaction()
//	for i := range 100 {
//		p.Send(ctx, kafka.ProducerRecord[string, string]{Topic: "my-topic", Key: strconv.Itoa(i), Value: strconv.Itoa(i)})
//	}
//	err = p.CommitTransaction(ctx)
//	switch {
//	case errors.Is(err, kafka.ErrTransactionAbortable):
//		p.AbortTransaction(ctx) // then retry the transaction
//	case err != nil:
//		p.Close(ctx) // fenced, unauthorized: not recoverable
//	}
//
// InitTransactions finds the transaction coordinator (FindCoordinator
// with key type 1) and gets the producer id of the transactional id
// (InitProducerId). That fences any older producer with the same
// transactional.id: its next send or commit fails with ErrProducerFenced
// and its open transaction is aborted. Records are sent only inside a
// transaction; before a partition's first batch of a transaction the
// producer names it to the coordinator (AddPartitionsToTxn, batching the
// partitions that wait, and retrying CONCURRENT_TRANSACTIONS after 20 ms
// as Java does). The batches are flagged transactional and carry the
// producer id, epoch and sequences. SendOffsetsToTransaction adds a
// consumer group's offsets (AddOffsetsToTxn, then TxnOffsetCommit to the
// group coordinator with the member's generation, member id and instance
// id from Consumer.GroupMetadata, KIP-447), so that a
// consume-transform-produce loop commits its input offsets with its
// output (see examples/transactional_etl). CommitTransaction sends every
// queued record, waits for them, then ends the transaction (EndTxn);
// AbortTransaction fails the records not sent yet with
// ErrTransactionAborted, waits for those in flight, and ends it with an
// abort, after which read_committed consumers never see its records.
// Close aborts an open transaction. The protocol is transactions v1: the
// client does not use KIP-890's later versions.
//
// The calls follow Java's state machine (UNINITIALIZED, INITIALIZING,
// READY, IN_TRANSACTION, COMMITTING_TRANSACTION, ABORTING_TRANSACTION,
// ABORTABLE_ERROR, FATAL_ERROR): a call out of order fails with
// ErrIllegalState naming the state, and so does a Send outside a
// transaction. A failed record or transactional request makes the
// transaction abortable: CommitTransaction (and every Send) then fails
// with an error matching ErrTransactionAbortable and the cause, and
// AbortTransaction gets the producer ready for the next transaction (with
// a new epoch if a sequence was lost). Fatal errors are those Java
// treats as fatal: ErrProducerFenced (PRODUCER_FENCED and
// INVALID_PRODUCER_EPOCH), ErrOutOfOrderSequence, ErrUnsupportedVersion
// and the cluster's and transactional id's authorization errors (an
// unauthorized topic or group only aborts the transaction, as in Java);
// after one, every call returns it and the producer must be closed.
// InitTransactions, SendOffsetsToTransaction, CommitTransaction and
// AbortTransaction wait at most max.block.ms; after ErrTimeout, calling
// the same method again resumes it.
//
// # Errors
//
// Errors match the package's sentinels with errors.Is: ErrTimeout (also
// ErrBufferExhausted), ErrRecordTooLarge, ErrSerialization,
// ErrNotEnoughReplicas, ErrAuthorization, ErrUnknownTopicOrPartition,
// ErrProducerFenced, ErrTransactionAbortable, ErrTransactionAborted,
// ErrIllegalState, and more. Broker error codes arrive as *BrokerError, which also matches
// franz-go's kerr values. Retriable reports whether an error is one Java
// classifies as retriable; the producer has already retried those until
// delivery.timeout.ms. Messages name the setting to change when there is
// one.
//
// # Metrics
//
// Producer.Metrics returns the Java producer's metrics under their Java
// names, groups (producer-metrics, producer-topic-metrics) and tags
// (client-id, topic): record-send-rate and -total, record-error-rate,
// record-retry-rate, batch-size-avg and -max, records-per-request-avg,
// compression-rate-avg, request-latency-avg and -max,
// record-queue-time-avg, record-size-avg, buffer-total-bytes,
// buffer-available-bytes, bufferpool-wait-time-ns-total, waiting-threads,
// produce-throttle-time-avg and -max, requests-in-flight, metadata-age,
// batch-split-rate, and per topic record-send, byte, compression-rate,
// record-retry and record-error. Rates, averages and maxima cover the last
// metrics.num.samples windows of metrics.sample.window.ms, as Java's
// sampled statistics do; an average or maximum with nothing recorded in
// that time is NaN, as in Java. Producer.WritePrometheus writes them in
// the Prometheus text format for a /metrics endpoint. Recording happens
// per batch and per request, never per record, so that metrics cost the
// send path nothing.
//
// # The consumer
//
// A Consumer[K, V] reads as Java's KafkaConsumer does: Subscribe (topic
// names or a regular expression) makes it a member of its group.id, whose
// coordinator balances the partitions among the members; Assign gives it
// partitions outside any rebalancing (the two exclude each other, as in
// Java). Poll returns the next records, at most max.poll.records, each
// with topic, partition, offset, key, value, headers, timestamp and its
// type, and leader epoch:
//
//	c, err := kafka.NewConsumer(kafka.Config{"bootstrap.servers": "broker1:9092", "group.id": "CountryCounter"},
//		kafka.StringDeserializer{}, kafka.StringDeserializer{})
//	if err != nil { ... }
//	defer c.Close(ctx)
//	c.Subscribe([]string{"customerCountries"}, nil)
//	for {
//		records, err := c.Poll(ctx)   // ctx's deadline is Java's poll timeout
//		if errors.Is(err, kafka.ErrWakeup) { break }
//		for _, r := range records.All() { ... }
//	}
//
// Everything that must happen on the application's goroutine happens
// inside Poll, as in Java: changing the assignment as the group decided,
// running the RebalanceListener's callbacks (OnPartitionsRevoked before the
// partitions move, while they are still assigned, so the callback can
// commit them; OnPartitionsAssigned after; OnPartitionsLost when the
// member was fenced or timed out), the callbacks of finished CommitAsync
// calls, and auto-commit. Meanwhile a group goroutine keeps the
// membership alive with heartbeats; if the application does not call Poll
// within max.poll.interval.ms it leaves the group (LeaveGroup, or a
// leaving heartbeat), and the next Poll reports the partitions lost and
// joins again. Wakeup, from any goroutine, makes the blocked call return
// ErrWakeup; Close, from any goroutine, makes it return
// ErrConsumerClosed.
//
// Fetching follows Java's Fetcher: one Fetch in flight per broker, for the
// assigned partitions it leads that have no records waiting, with
// fetch.min.bytes, fetch.max.wait.ms, fetch.max.bytes and
// max.partition.fetch.bytes, in a fetch session (KIP-227) so that each
// request names only the partitions whose position moved. Poll sends the
// next fetches before it returns records, so they arrive while the
// application works. Records are decompressed (every codec), their CRCs
// checked (check.crcs) and decoded on the fetching goroutine as a
// response arrives, so that decoding overlaps the application's work;
// Poll deserializes max.poll.records at a time. isolation.level=read_committed stops at the last stable
// offset and drops aborted transactions using the fetch response's list
// of them. A position without a committed offset, or out of range, is
// reset by auto.offset.reset (earliest, latest, none, by_duration:);
// after a leader change the position is validated with
// OffsetForLeaderEpoch, and a truncated log (or a fetch's diverging
// epoch, KIP-320) moves it back to where the logs agree, or, with none,
// fails Poll with ErrLogTruncation. Pause, Resume, Seek, SeekToBeginning,
// SeekToEnd, Position, Committed, OffsetsForTimes, BeginningOffsets,
// EndOffsets, PartitionsFor and ListTopics do what Java's do.
//
// # Groups
//
// group.protocol=classic runs JoinGroup/SyncGroup/Heartbeat with the
// leader assigning by partition.assignment.strategy: range, roundrobin,
// sticky and cooperative-sticky, under Java's names, with Java's
// ConsumerProtocol subscription (v3: topics, owned partitions,
// generation, rack) and assignment formats and the sticky assignors'
// user data, so a group may mix this client with Java, franz-go or
// librdkafka members. As in Java, the rebalance is eager (revoke
// everything before each join) unless every configured assignor is
// cooperative (KIP-429: revoke only what moves, then join again); the
// default, range and cooperative-sticky, is eager. group.instance.id makes
// a static member (KIP-345), which does not leave on Close so that a
// restart within session.timeout.ms gets its partitions back without a
// rebalance. group.protocol=consumer runs KIP-848's
// ConsumerGroupHeartbeat: the coordinator assigns (group.remote.assignor,
// or its default), and the member revokes, then takes, what it is told.
//
// # Commits
//
// Committed offsets go to the group's coordinator with the member's
// generation (or KIP-848 member epoch). CommitSync commits the positions
// of every assigned partition, that is the offsets after the records
// Poll returned, or the offsets (and metadata strings) given, and retries
// retriable failures until it succeeds, fails for good or
// default.api.timeout.ms (or its context) runs out; it first waits for
// earlier CommitAsync calls. CommitAsync sends once and reports to its
// callback, on a later Poll's goroutine, in commit order, so the
// documents' sequence-number pattern for retrying works. With
// enable.auto.commit, Poll commits the positions every
// auto.commit.interval.ms before it fetches new records, so only records
// returned by earlier Polls are ever committed; it also commits before a
// rebalance revokes partitions and in Close. A commit that finds the
// partitions given to another member fails with ErrCommitFailed.
//
// # Consumer configuration
//
// Config takes the Java consumer's property names with Java's 4.x
// defaults: group.protocol=classic, session.timeout.ms=45000,
// heartbeat.interval.ms=3000, partition.assignment.strategy=range then
// cooperative-sticky, enable.auto.commit=true,
// auto.commit.interval.ms=5000, auto.offset.reset=latest,
// fetch.min.bytes=1, fetch.max.wait.ms=500, fetch.max.bytes=52428800,
// max.partition.fetch.bytes=1048576, max.poll.records=500,
// max.poll.interval.ms=300000, isolation.level=read_uncommitted,
// allow.auto.create.topics=true, exclude.internal.topics=true,
// check.crcs=true, default.api.timeout.ms=60000,
// receive.buffer.bytes=65536, and the connection settings the producer
// shares. ConsumerConfigNames lists every accepted name. Validation is
// Java's: without group.id auto-commit is off and enable.auto.commit=true
// is an error; heartbeat.interval.ms must be below session.timeout.ms;
// group.remote.assignor may not be set with the classic protocol, nor
// partition.assignment.strategy, session.timeout.ms or
// heartbeat.interval.ms with the consumer protocol; group.instance.id
// follows Kafka's naming rule. Assignors are named by Java class, simple
// class name or protocol name; with client.rack set, range assigns as
// Java's rack-aware range does (KIP-881) and the sticky assignors prefer
// partitions on the member's rack; assignors of the application's own
// (PartitionAssignor, Java's ConsumerPartitionAssignor) are given with
// WithPartitionAssignors and named in partition.assignment.strategy by
// their Name. client.id defaults to consumer-<group>-N.
//
// Deserializers mirror the serializers (StringDeserializer,
// IntegerDeserializer, ..., DeserializerFunc). A record a deserializer
// rejects stops Poll with a *RecordDeserializationError naming its
// partition and offset; the position stays on it until the application
// Seeks past it.
//
// Consumer interceptors (WithConsumerInterceptors; interceptor.classes
// must be empty) see each Poll's records before the application, and
// may change or drop them, and hear of every successful commit: sync,
// async and automatic.
//
// Consumer.Metrics returns Java-named consumer metrics (records-consumed,
// bytes-consumed, fetch-rate and latency, records-lag-max and per
// partition records-lag, commit-rate and latency, assigned-partitions,
// rebalances, time between polls), and WritePrometheus exports them.
//
// # The admin client
//
// Admin (NewAdmin, Java's admin settings and defaults:
// default.api.timeout.ms=60000, connections.max.idle.ms=300000,
// receive.buffer.bytes=65536, retries) creates, lists, describes and
// deletes topics and adds partitions (at the controller), describes and
// incrementally alters configs (KIP-339), describes the cluster, lists,
// describes (classic groups with DescribeGroups, KIP-848 groups with
// ConsumerGroupDescribe) and deletes consumer groups, lists, alters and
// deletes their committed offsets, computes their lag (ConsumerGroupLag),
// lists offsets and deletes records, describes log directories, elects
// leaders (preferred and unclean), alters and lists partition
// reassignments, describes producers and transactions and lists
// transactions, and replaces whole configs (the legacy AlterConfigs,
// deprecated as in Java). Each call takes a context, returns
// every resource's result with its own error (matching kerr values such
// as kerr.TopicAlreadyExists), and retries what a moving controller or
// coordinator answers until default.api.timeout.ms.
//
// # Not yet
//
// TLS and SASL, transactions v2 (KIP-890) and produce by topic id
// (Produce v13) are not implemented; nor, in the admin client, ACLs and
// quotas.
//
// A batch the broker refuses as larger than its message.max.bytes
// (MESSAGE_TOO_LARGE) is split in two and sent again, as Java does, down
// to single records, which then fail with ErrRecordTooLarge.
package kafka
