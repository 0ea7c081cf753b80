package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ProducerRecord is a record to send (Java's ProducerRecord).
type ProducerRecord[K, V any] struct {
	Topic string
	// Partition, when not nil, sends the record to that partition and
	// skips the partitioner. A pointer, so that the zero value means "let
	// the partitioner choose" rather than partition 0; in Go 1.26 write
	// Partition: new(int32(3)).
	Partition *int32
	// Key and Value are serialized by the producer's serializers. A nil
	// pointer or interface is written as null without calling the
	// serializer; a null value is a tombstone on compacted topics.
	Key   K
	Value V
	// Headers are written in order; serializers may add more.
	Headers Headers
	// Timestamp is the record's CreateTime; the zero time means now. A
	// topic with message.timestamp.type=LogAppendTime replaces it with the
	// broker's time, which RecordMetadata then reports.
	Timestamp time.Time
}

// RecordMetadata is what the broker acknowledged for a record (Java's
// RecordMetadata). On error only Topic, Partition (-1 if none was chosen
// yet) and the sizes are set, and Offset is -1.
type RecordMetadata struct {
	Topic     string
	Partition int32
	// Offset is the record's offset, or -1 when unknown (acks=0, or a
	// duplicate the broker answered without its offset).
	Offset int64
	// Timestamp is the record's CreateTime, or the broker's append time
	// under LogAppendTime.
	Timestamp time.Time
	// SerializedKeySize and SerializedValueSize are the serialized sizes,
	// -1 for null.
	SerializedKeySize   int
	SerializedValueSize int
}

// Future is the pending outcome of one Send (Java's Future<RecordMetadata>).
type Future struct {
	done chan struct{}
	md   RecordMetadata
	err  error
}

func newFuture() *Future { return &Future{done: make(chan struct{})} }

func (f *Future) complete(md RecordMetadata, err error) {
	f.md, f.err = md, err
	close(f.done)
}

// Get waits for the outcome, or for ctx. A ctx ending does not cancel the
// send; the record may still be delivered.
func (f *Future) Get(ctx context.Context) (RecordMetadata, error) {
	select {
	case <-f.done:
		return f.md, f.err
	case <-ctx.Done():
		return RecordMetadata{}, ctx.Err()
	}
}

// Done is closed once the outcome is known.
func (f *Future) Done() <-chan struct{} { return f.done }

// Producer sends records to Kafka (Java's KafkaProducer). It is safe for
// concurrent use; one producer per application is usually best, as it
// batches across all its callers.
type Producer[K, V any] struct {
	core         *core
	keySer       Serializer[K]
	valSer       Serializer[V]
	keyPlain     headerless[K] // keySer, if built in
	valPlain     headerless[V]
	partitioner  Partitioner // nil: the built-in partitioner
	interceptors []ProducerInterceptor[K, V]
	keyNilable   bool
	valNilable   bool

	closed    atomic.Bool
	closeOnce sync.Once
	closeDone chan struct{}
	closeErr  error
}

// NewProducer validates cfg (Java property names; see the package
// documentation) and starts a producer. The serializers are configured with
// cfg and closed with the producer. Nothing is sent or dialed until the
// first Send, except a metadata request to learn the cluster.
func NewProducer[K, V any](cfg Config, keySer Serializer[K], valSer Serializer[V], opts ...Option) (*Producer[K, V], error) {
	if keySer == nil || valSer == nil {
		return nil, configErr("key.serializer", "", "NewProducer needs a key and a value serializer")
	}
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.consumerICs != nil {
		return nil, configErr("interceptor.classes", fmt.Sprintf("%T", o.consumerICs), "consumer interceptors do not apply to a producer")
	}
	if o.assignors != nil {
		return nil, configErr("partition.assignment.strategy", "", "partition assignors do not apply to a producer")
	}
	ics, err := interceptorsOf[ProducerInterceptor[K, V]](o.interceptors,
		fmt.Sprintf("ProducerInterceptor[%s, %s]", reflect.TypeFor[K](), reflect.TypeFor[V]()))
	if err != nil {
		return nil, err
	}
	plugins := []any{keySer, valSer, o.partitioner}
	for _, ic := range ics {
		plugins = append(plugins, ic)
	}
	accepts := func(name string) bool {
		for _, pl := range plugins {
			if a, ok := pl.(ConfigAcceptor); ok && a.AcceptsConfig(name) {
				return true
			}
		}
		return false
	}
	pc, err := parseProducerConfig(cfg, accepts)
	if err != nil {
		return nil, err
	}
	if err := keySer.Configure(cfg, true); err != nil {
		return nil, err
	}
	if err := valSer.Configure(cfg, false); err != nil {
		return nil, err
	}
	if pc.clientID == "" {
		// Java names unnamed producers producer-1, producer-2, ...: the
		// name goes in request headers and metric tags.
		pc.clientID = fmt.Sprintf("producer-%d", clientIDSeq.Add(1))
	}
	log := o.logger
	if log == nil {
		log = slog.Default()
	}
	for _, n := range pc.notes {
		log.Info("kafka: " + n)
	}
	part := o.partitioner
	if part == nil && pc.partitionerClass != "" {
		part = &RoundRobinPartitioner{}
	}
	var onAck func(RecordMetadata, error)
	if len(ics) > 0 {
		onAck = func(md RecordMetadata, err error) {
			for _, ic := range ics {
				ic.OnAcknowledgement(md, err)
			}
		}
	}
	p := &Producer[K, V]{
		core:         newCore(pc, log, o.dial, onAck),
		keySer:       keySer,
		valSer:       valSer,
		partitioner:  part,
		interceptors: ics,
		keyNilable:   nilable[K](),
		valNilable:   nilable[V](),
		closeDone:    make(chan struct{}),
	}
	p.keyPlain, _ = keySer.(headerless[K])
	p.valPlain, _ = valSer.(headerless[V])
	return p, nil
}

// clientIDSeq numbers producers without a client.id.
var clientIDSeq atomic.Int64

func nilable[T any]() bool {
	k := reflect.TypeFor[T]().Kind()
	return k == reflect.Pointer || k == reflect.Interface
}

// isNull reports whether v is a nil pointer or interface.
func isNull[T any](nilable bool, v T) bool {
	return nilable && reflect.ValueOf(&v).Elem().IsNil()
}

// Send queues a record and returns its future. It blocks only while
// waiting for the topic's metadata or for room in buffer.memory, for at
// most max.block.ms and no longer than ctx allows; ctx does not cancel the
// record once queued. Ignore the future to fire and forget, or call
// Get to wait for the answer (a synchronous send).
func (p *Producer[K, V]) Send(ctx context.Context, rec ProducerRecord[K, V]) *Future {
	f := newFuture()
	p.send(ctx, rec, nil, f)
	return f
}

// SendWithCallback queues a record and calls cb exactly once with its
// outcome (an asynchronous send). cb runs on the producer's I/O goroutine
// unless the record fails before being queued, in which case it runs
// before SendWithCallback returns; it must not block, and must not call
// Flush or Close. Callbacks of one partition run in send order.
func (p *Producer[K, V]) SendWithCallback(ctx context.Context, rec ProducerRecord[K, V], cb func(RecordMetadata, error)) {
	p.send(ctx, rec, cb, nil)
}

// send is Java's KafkaProducer.doSend: interceptors, serializers,
// metadata, partitioner, size checks, then the accumulator.
func (p *Producer[K, V]) send(ctx context.Context, rec ProducerRecord[K, V], cb func(RecordMetadata, error), fut *Future) {
	c := p.core
	if p.closed.Load() {
		c.failRecord(rec.Topic, -1, cb, fut, wrapErr(ErrProducerClosed, "cannot send after the producer is closed"))
		return
	}
	if c.txn != nil {
		// Checked again when the record is queued; failing here spares a
		// wait for metadata.
		c.acc.mu.Lock()
		err := c.acc.txnSendErr()
		c.acc.mu.Unlock()
		if err != nil {
			c.failRecord(rec.Topic, -1, cb, fut, err)
			return
		}
	}
	for _, ic := range p.interceptors {
		rec = ic.OnSend(rec)
	}
	key, value, headers, err := p.serialize(rec)
	if err != nil {
		c.failRecord(rec.Topic, -1, cb, fut, err)
		return
	}
	want := int32(-1)
	if rec.Partition != nil {
		if want = *rec.Partition; want < 0 {
			c.failRecord(rec.Topic, want, cb, fut, wrapErr(ErrInvalidPartition, "partition %d of record for topic %s is negative", want, rec.Topic))
			return
		}
	}
	// max.block.ms bounds the waits for metadata and for buffer memory
	// together; the clock starts at the first wait.
	var deadline time.Time
	cl, tm, ok := c.client.topicNow(rec.Topic, want)
	if !ok {
		deadline = time.Now().Add(c.cfg.maxBlock)
		if cl, tm, err = c.client.waitTopic(ctx, c.closing, rec.Topic, want, deadline, c.cfg.maxBlock); err != nil {
			c.failRecord(rec.Topic, want, cb, fut, err)
			return
		}
	}
	partition, err := p.choosePartition(rec, want, key, value, cl, tm)
	if err != nil {
		c.failRecord(rec.Topic, want, cb, fut, err)
		return
	}
	size := estimateSize(key, value, headers)
	if size > c.cfg.maxRequest {
		c.failRecord(rec.Topic, partition, cb, fut, wrapErr(ErrRecordTooLarge, "the record is %d bytes when serialized, which is larger than %d, the value of max.request.size", size, c.cfg.maxRequest))
		return
	}
	if int64(size) > c.cfg.bufferMemory {
		c.failRecord(rec.Topic, partition, cb, fut, wrapErr(ErrRecordTooLarge, "the record is %d bytes when serialized, which is larger than the total memory buffer configured with buffer.memory (%d)", size, c.cfg.bufferMemory))
		return
	}
	var ts int64
	if rec.Timestamp.IsZero() {
		ts = time.Now().UnixMilli()
	} else {
		ts = rec.Timestamp.UnixMilli()
	}
	req := appendReq{
		topic:     rec.Topic,
		tm:        tm,
		partition: partition,
		key:       key,
		value:     value,
		headers:   headers,
		meta: recMeta{
			callback:  cb,
			future:    fut,
			timestamp: ts,
			keySize:   sizeOrNull(key),
			valueSize: sizeOrNull(value),
		},
	}
	for {
		part, need, err := c.acc.append(&req)
		if err != nil {
			c.failRecord(rec.Topic, part, cb, fut, err)
			return
		}
		if need == 0 {
			return
		}
		buf, ok := c.pool.tryAllocate(need)
		if !ok {
			if deadline.IsZero() {
				deadline = time.Now().Add(c.cfg.maxBlock)
			}
			if buf, err = c.pool.allocate(ctx, c.closing, need, deadline, c.cfg.maxBlock); err != nil {
				if errors.Is(err, ErrBufferExhausted) {
					c.metrics.bufferExhausted.Add(1)
				}
				c.failRecord(rec.Topic, part, cb, fut, err)
				return
			}
		}
		req.buf, req.alloc = buf, need
	}
}

// serialize runs the serializers; a nil pointer or interface is null
// without them. Serializers may add headers, to a copy of the record's;
// the built-in ones do not, and are called without.
func (p *Producer[K, V]) serialize(rec ProducerRecord[K, V]) (key, value []byte, headers Headers, err error) {
	if p.keyPlain == nil || p.valPlain == nil {
		return p.serializeHeaders(rec)
	}
	if !isNull(p.keyNilable, rec.Key) {
		if key, err = p.keyPlain.serialize(rec.Key); err != nil {
			return nil, nil, nil, serializeErr("key", rec.Topic, err)
		}
	}
	if !isNull(p.valNilable, rec.Value) {
		if value, err = p.valPlain.serialize(rec.Value); err != nil {
			return nil, nil, nil, serializeErr("value", rec.Topic, err)
		}
	}
	return key, value, rec.Headers, nil
}

// serializeHeaders is serialize with serializers that may add headers.
func (p *Producer[K, V]) serializeHeaders(rec ProducerRecord[K, V]) (key, value []byte, headers Headers, err error) {
	headers = slices.Clone(rec.Headers)
	if !isNull(p.keyNilable, rec.Key) {
		if key, err = p.keySer.Serialize(rec.Topic, &headers, rec.Key); err != nil {
			return nil, nil, nil, serializeErr("key", rec.Topic, err)
		}
	}
	if !isNull(p.valNilable, rec.Value) {
		if value, err = p.valSer.Serialize(rec.Topic, &headers, rec.Value); err != nil {
			return nil, nil, nil, serializeErr("value", rec.Topic, err)
		}
	}
	return key, value, headers, nil
}

func sizeOrNull(b []byte) int32 {
	if b == nil {
		return -1
	}
	return int32(len(b))
}

// choosePartition applies, in order: the record's partition, a custom
// partitioner, the key's murmur2 hash, or -1 for the accumulator's uniform
// sticky choice (no key, or partitioner.ignore.keys).
func (p *Producer[K, V]) choosePartition(rec ProducerRecord[K, V], want int32, keyBytes, valBytes []byte, cl *Cluster, tm *topicMeta) (int32, error) {
	if want >= 0 {
		return want, nil
	}
	n := len(tm.partitions)
	if p.partitioner != nil {
		var key, val any
		if keyBytes != nil || !isNull(p.keyNilable, rec.Key) {
			key = rec.Key
		}
		if valBytes != nil || !isNull(p.valNilable, rec.Value) {
			val = rec.Value
		}
		part, err := p.partitioner.Partition(rec.Topic, key, keyBytes, val, valBytes, cl)
		if err != nil {
			return -1, fmt.Errorf("partitioner for topic %s: %w", rec.Topic, err)
		}
		if part < 0 || int(part) >= n {
			return -1, wrapErr(ErrInvalidPartition, "partitioner returned partition %d for topic %s, which has partitions [0, %d)", part, rec.Topic, n)
		}
		return part, nil
	}
	if keyBytes != nil && !p.core.cfg.ignoreKeys {
		return KeyPartition(keyBytes, n), nil
	}
	return -1, nil
}

// Flush sends every queued record at once, ignoring linger.ms, and waits
// until each record queued before the call has its outcome, or ctx ends.
func (p *Producer[K, V]) Flush(ctx context.Context) error {
	c := p.core
	waits := c.acc.beginFlush()
	defer c.acc.endFlush()
	c.wakeNode(-1)
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// PartitionsFor returns the partitions of a topic, waiting up to
// max.block.ms for its metadata.
func (p *Producer[K, V]) PartitionsFor(ctx context.Context, topic string) ([]PartitionInfo, error) {
	if p.closed.Load() {
		return nil, wrapErr(ErrProducerClosed, "cannot get partitions after the producer is closed")
	}
	c := p.core
	cl, _, ok := c.client.topicNow(topic, -1)
	if !ok {
		var err error
		if cl, _, err = c.client.waitTopic(ctx, c.closing, topic, -1, time.Now().Add(c.cfg.maxBlock), c.cfg.maxBlock); err != nil {
			return nil, err
		}
	}
	return cl.PartitionsForTopic(topic), nil
}

// Close stops taking records, sends every queued one and waits for all
// outcomes, then stops every goroutine and closes the connections,
// serializers, partitioner and interceptors; a transactional producer
// first aborts its open transaction, as Java's does. If ctx ends first,
// records still without an outcome fail with ErrProducerClosed (Java's
// close with a timeout) and Close returns ctx's error. Every callback and future gets
// exactly one outcome either way. Calling Close again waits for the first
// call.
func (p *Producer[K, V]) Close(ctx context.Context) error {
	first := false
	p.closeOnce.Do(func() { first = true })
	if !first {
		select {
		case <-p.closeDone:
			return p.closeErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.closed.Store(true)
	c := p.core
	if c.txn != nil {
		c.txn.closeTxn(ctx)
	}
	c.acc.beginClose()
	close(c.closing)
	c.wakeNode(-1)
	err := c.acc.waitIdle(ctx)
	if err != nil {
		c.acc.mu.Lock()
		done := c.acc.abortAll(wrapErr(ErrProducerClosed, "producer closed forcefully before the record was delivered"))
		c.acc.mu.Unlock()
		c.runCompletions(done)
	}
	c.cancel()
	c.wg.Wait()
	c.client.close()

	var errs []error
	errs = append(errs, err, p.keySer.Close(), p.valSer.Close())
	if p.partitioner != nil {
		errs = append(errs, p.partitioner.Close())
	}
	for _, ic := range p.interceptors {
		errs = append(errs, ic.Close())
	}
	p.closeErr = errors.Join(errs...)
	close(p.closeDone)
	return p.closeErr
}
