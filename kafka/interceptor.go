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
