package kafka

// ProducerInterceptor sees every record before it is serialized and every
// outcome before the record's callback (Java's ProducerInterceptor).
//
// OnSend may return a modified record; it runs on the goroutine calling
// Send. OnAcknowledgement runs on the producer's I/O goroutine with the
// record's metadata or error (also for records that failed before being
// sent), so it must be fast. Both are called concurrently for different
// records. Close is called when the producer closes.
type ProducerInterceptor[K, V any] interface {
	OnSend(rec ProducerRecord[K, V]) ProducerRecord[K, V]
	OnAcknowledgement(md RecordMetadata, err error)
	Close() error
}

// ConsumerInterceptor sees the records of every Poll before the
// application does, and the offsets of every successful commit (Java's
// ConsumerInterceptor).
//
// OnConsume runs inside Poll, after deserialization, and returns the
// records Poll returns: the same, fewer, or changed ones. The consumer's
// positions have already moved past every fetched record, so a record an
// interceptor drops is not fetched again. OnCommit runs on the goroutine
// that learns of the commit's success: CommitSync's, or Poll's (and
// CommitSync's and Close's) for asynchronous commits and auto-commits,
// before their callbacks. Close is called when the consumer closes.
type ConsumerInterceptor[K, V any] interface {
	OnConsume(recs []ConsumerRecord[K, V]) []ConsumerRecord[K, V]
	OnCommit(offsets map[TopicPartition]OffsetAndMetadata)
	Close() error
}
