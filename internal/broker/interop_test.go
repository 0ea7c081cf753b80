package broker_test

// Interop tests: real third-party clients (franz-go, sarama, kafka-go)
// against an in-process broker, plus raw-protocol tests of the connection
// layer (many connections, pipelining, idle timeout) and of retention as a
// client sees it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
)

// TestInteropMurmur2 checks the test's own murmur2 against Kafka's
// UtilsTest vectors and sarama's partition vectors (checked by sarama
// against the Java partitioner), so the partition assertions below measure
// clients and broker against Kafka rather than against themselves.
func TestInteropMurmur2(t *testing.T) {
	for in, want := range map[string]int32{
		"21":                       -973932308,
		"foobar":                   -790332482,
		"a-little-bit-long-string": -985981536,
		"abc":                      479470107,
	} {
		if got := murmur2([]byte(in)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
	for key, want := range map[string]int32{"foo": 16, "bar": 45, "baz": 80, "kafka": 80, "sarama": 11} {
		if got := keyPartition([]byte(key), 100); got != want {
			t.Errorf("partition of %q among 100 = %d, want %d", key, got, want)
		}
	}
	// The mask, not abs: "21" hashes to -973932308; masked that is
	// 1173551340, partition 40 of 100 (abs would give 8).
	if got := keyPartition([]byte("21"), 100); got != 40 {
		t.Errorf("partition of %q among 100 = %d, want 40", "21", got)
	}
}

const (
	interopRecords    = 10_000
	interopPartitions = 3
)

// interopClient is one third-party client: how it creates a topic,
// produces (acks=all, keyed, murmur2 partitioning, the codec given) and
// reads n records back from the start of every partition.
type interopClient struct {
	name    string
	create  func(ctx context.Context, t *testing.T, addr, topic string)
	produce func(ctx context.Context, t *testing.T, addr, topic, codec string, recs []testRecord)
	consume func(ctx context.Context, t *testing.T, addr, topic string, n int) []consumed
}

// TestInterop runs every client with every codec: create a 3-partition
// topic with the client's admin API, produce 10,000 keyed records with
// headers and explicit timestamps, read them all back with the client's
// consumer, and compare byte for byte. Partitioning is the client's (each
// is configured for Kafka's murmur2); the test checks where the broker
// stored each record.
func TestInterop(t *testing.T) {
	b := brokertest.Start(t)
	clients := []interopClient{
		{"kgo", kgoCreate, kgoProduce, kgoConsume},
		saramaClient("sarama-v3.6", sarama.V3_6_0_0),
		saramaClient("sarama-default", sarama.KafkaVersion{}),
		{"kafka-go", kafkaGoCreate, kafkaGoProduce, kafkaGoConsume},
	}
	recs := genRecords(interopRecords, 1)
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, codec := range codecs {
				t.Run(codec, func(t *testing.T) {
					ctx := testContext(t, 90*time.Second)
					topic := fmt.Sprintf("interop-%s-%s", c.name, codec)
					c.create(ctx, t, b.Addr(), topic)
					if t.Failed() {
						return
					}
					c.produce(ctx, t, b.Addr(), topic, codec, recs)
					if t.Failed() {
						return
					}
					got := c.consume(ctx, t, b.Addr(), topic, len(recs))
					checkConsumed(t, recs, got, interopPartitions)
					checkEndOffsets(ctx, t, b.Addr(), topic, got)
				})
			}
		})
	}
}

// checkEndOffsets asserts that ListOffsets(latest) of every partition
// equals the number of records consumed from it: nothing extra is stored
// beyond what the consumer saw.
func checkEndOffsets(ctx context.Context, t *testing.T, addr, topic string, got []consumed) {
	t.Helper()
	counts := make([]int64, interopPartitions)
	for _, c := range got {
		if c.Partition >= 0 && c.Partition < interopPartitions {
			counts[c.Partition]++
		}
	}
	ends, err := newAdmin(t, addr).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Errorf("ListOffsets(latest) of %s: %v", topic, err)
		return
	}
	for p := range int32(interopPartitions) {
		o, ok := ends.Lookup(topic, p)
		switch {
		case !ok:
			t.Errorf("ListOffsets(latest): no answer for %s-%d", topic, p)
		case o.Err != nil:
			t.Errorf("ListOffsets(latest) %s-%d: %v", topic, p, o.Err)
		case o.Offset != counts[p]:
			t.Errorf("ListOffsets(latest) %s-%d = %d, consumed %d records", topic, p, o.Offset, counts[p])
		}
	}
}

// --- franz-go kgo ---

func kgoCreate(ctx context.Context, t *testing.T, addr, topic string) {
	resp, err := newAdmin(t, addr).CreateTopic(ctx, interopPartitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Errorf("kadm CreateTopic %s: %v", topic, err)
	}
}

// kgoProduce uses kgo's defaults otherwise, idempotence included: that is
// what a kgo user gets.
func kgoProduce(ctx context.Context, t *testing.T, addr, topic, codec string, recs []testRecord) {
	cl := newKgo(t, addr,
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgoCodec(codec)),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // nil hasher: Kafka's murmur2
	)
	var (
		mu       sync.Mutex
		firstErr error
		failed   int
	)
	for i := range recs {
		r := &recs[i]
		kr := &kgo.Record{Key: r.Key, Value: r.Value, Timestamp: time.UnixMilli(r.TimestampMs)}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		cl.Produce(ctx, kr, func(kr *kgo.Record, err error) {
			if err == nil && kr.Partition != keyPartition(kr.Key, interopPartitions) {
				err = fmt.Errorf("kgo partitioned key %q to %d, murmur2 says %d", kr.Key, kr.Partition, keyPartition(kr.Key, interopPartitions))
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				failed++
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Errorf("kgo flush: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if failed > 0 {
		t.Errorf("kgo: %d of %d produces failed, first: %v", failed, len(recs), firstErr)
	}
}

func kgoConsume(ctx context.Context, t *testing.T, addr, topic string, n int) []consumed {
	start := map[int32]kgo.Offset{}
	for p := range int32(interopPartitions) {
		start[p] = kgo.NewOffset().AtStart()
	}
	cl := newKgo(t, addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	var out []consumed
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Errorf("kgo: consumed %d of %d records before the deadline", len(out), n)
			return out
		}
		if errs := fs.Errors(); len(errs) > 0 {
			t.Errorf("kgo fetch %s-%d: %v", errs[0].Topic, errs[0].Partition, errs[0].Err)
			return out
		}
		fs.EachRecord(func(r *kgo.Record) {
			c := consumed{
				testRecord: testRecord{Key: r.Key, Value: r.Value, TimestampMs: r.Timestamp.UnixMilli()},
				Partition:  r.Partition,
				Offset:     r.Offset,
			}
			for _, h := range r.Headers {
				c.Headers = append(c.Headers, header{h.Key, h.Value})
			}
			out = append(out, c)
		})
	}
	return out
}

// --- IBM/sarama ---

// saramaClient runs sarama at a protocol version; the zero version keeps
// sarama's default.
func saramaClient(name string, version sarama.KafkaVersion) interopClient {
	config := func(codec string) *sarama.Config {
		cfg := sarama.NewConfig()
		if version != (sarama.KafkaVersion{}) {
			cfg.Version = version
		}
		cfg.ClientID = "samsa-interop-" + name
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Return.Successes = true
		cfg.Producer.Return.Errors = true
		// sarama hashes keys with FNV-1a by default; this is its
		// Java-compatible partitioner.
		cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
		cfg.Producer.Compression = saramaCodec(codec)
		cfg.Consumer.Return.Errors = true
		cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
		return cfg
	}
	return interopClient{
		name: name,
		create: func(ctx context.Context, t *testing.T, addr, topic string) {
			admin, err := sarama.NewClusterAdmin([]string{addr}, config("none"))
			if err != nil {
				t.Errorf("sarama NewClusterAdmin: %v", err)
				return
			}
			defer admin.Close()
			err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: interopPartitions, ReplicationFactor: 1}, false)
			if err != nil {
				t.Errorf("sarama CreateTopic %s: %v", topic, err)
			}
		},
		produce: func(ctx context.Context, t *testing.T, addr, topic, codec string, recs []testRecord) {
			saramaProduce(ctx, t, config(codec), addr, topic, recs)
		},
		consume: func(ctx context.Context, t *testing.T, addr, topic string, n int) []consumed {
			return saramaConsume(ctx, t, config("none"), addr, topic, n)
		},
	}
}

func saramaCodec(name string) sarama.CompressionCodec {
	switch name {
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	return sarama.CompressionNone
}

func saramaProduce(ctx context.Context, t *testing.T, cfg *sarama.Config, addr, topic string, recs []testRecord) {
	p, err := sarama.NewAsyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Errorf("sarama NewAsyncProducer: %v", err)
		return
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := range recs {
			r := &recs[i]
			m := &sarama.ProducerMessage{
				Topic:     topic,
				Key:       sarama.ByteEncoder(r.Key),
				Value:     sarama.ByteEncoder(r.Value),
				Timestamp: time.UnixMilli(r.TimestampMs),
			}
			for _, h := range r.Headers {
				m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
			}
			select {
			case p.Input() <- m:
			case <-stop:
				return
			}
		}
	}()
	var failed int
	var firstErr error
	for done := 0; done < len(recs); done++ {
		select {
		case m := <-p.Successes():
			key, _ := m.Key.Encode()
			if want := keyPartition(key, interopPartitions); m.Partition != want {
				t.Errorf("sarama partitioned key %q to %d, murmur2 says %d", key, m.Partition, want)
				return
			}
		case pe := <-p.Errors():
			if firstErr == nil {
				firstErr = pe.Err
			}
			failed++
		case <-ctx.Done():
			t.Errorf("sarama: %d of %d produces answered before the deadline", done, len(recs))
			p.AsyncClose()
			return
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("sarama producer close: %v", err)
	}
	if failed > 0 {
		t.Errorf("sarama: %d of %d produces failed, first: %v", failed, len(recs), firstErr)
	}
}

func saramaConsume(ctx context.Context, t *testing.T, cfg *sarama.Config, addr, topic string, n int) []consumed {
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Errorf("sarama NewConsumer: %v", err)
		return nil
	}
	defer c.Close()
	msgs := make(chan *sarama.ConsumerMessage, 1024)
	errs := make(chan error, interopPartitions)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for p := range int32(interopPartitions) {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Errorf("sarama ConsumePartition %s-%d: %v", topic, p, err)
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case m := <-pc.Messages():
					select {
					case msgs <- m:
					case <-stop:
						return
					}
				case e := <-pc.Errors():
					errs <- e
					return
				case <-stop:
					return
				}
			}
		}()
	}
	var out []consumed
	for len(out) < n {
		select {
		case m := <-msgs:
			cm := consumed{
				testRecord: testRecord{Key: m.Key, Value: m.Value, TimestampMs: m.Timestamp.UnixMilli()},
				Partition:  m.Partition,
				Offset:     m.Offset,
			}
			for _, h := range m.Headers {
				cm.Headers = append(cm.Headers, header{string(h.Key), h.Value})
			}
			out = append(out, cm)
		case err := <-errs:
			t.Errorf("sarama consumer: %v", err)
			return out
		case <-ctx.Done():
			t.Errorf("sarama: consumed %d of %d records before the deadline", len(out), n)
			return out
		}
	}
	return out
}

// --- segmentio/kafka-go ---

func kafkaGoCreate(ctx context.Context, t *testing.T, addr, topic string) {
	cl := &kafka.Client{Addr: kafka.TCP(addr)}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: interopPartitions, ReplicationFactor: 1}},
	})
	if err == nil {
		err = resp.Errors[topic]
	}
	if err != nil {
		t.Errorf("kafka-go CreateTopics %s: %v", topic, err)
	}
}

func kafkaGoCodec(name string) kafka.Compression {
	switch name {
	case "gzip":
		return kafka.Gzip
	case "snappy":
		return kafka.Snappy
	case "lz4":
		return kafka.Lz4
	case "zstd":
		return kafka.Zstd
	}
	return 0
}

func kafkaGoProduce(ctx context.Context, t *testing.T, addr, topic, codec string, recs []testRecord) {
	w := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		Compression:  kafkaGoCodec(codec),
		BatchSize:    1000,
		// The default 1 s batch timer would only slow the last batches.
		BatchTimeout: 10 * time.Millisecond,
	}
	msgs := make([]kafka.Message, len(recs))
	for i := range recs {
		r := &recs[i]
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value, Time: time.UnixMilli(r.TimestampMs)}
		for _, h := range r.Headers {
			msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		var we kafka.WriteErrors
		if errors.As(err, &we) {
			t.Errorf("kafka-go: %d of %d writes failed, first: %v", we.Count(), len(recs), firstNonNil(we))
		} else {
			t.Errorf("kafka-go WriteMessages: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		t.Errorf("kafka-go writer close: %v", err)
	}
}

func firstNonNil(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func kafkaGoConsume(ctx context.Context, t *testing.T, addr, topic string, n int) []consumed {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan kafka.Message, 1024)
	errs := make(chan error, interopPartitions)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait
	for p := range interopPartitions {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:     []string{addr},
			Topic:       topic,
			Partition:   p,
			StartOffset: kafka.FirstOffset,
			MinBytes:    1,
			MaxBytes:    1 << 20,
			MaxWait:     250 * time.Millisecond,
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errs <- fmt.Errorf("partition %d: %w", p, err)
					}
					return
				}
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var out []consumed
	for len(out) < n {
		select {
		case m := <-msgs:
			c := consumed{
				testRecord: testRecord{Key: m.Key, Value: m.Value, TimestampMs: m.Time.UnixMilli()},
				Partition:  int32(m.Partition),
				Offset:     m.Offset,
			}
			for _, h := range m.Headers {
				c.Headers = append(c.Headers, header{h.Key, h.Value})
			}
			out = append(out, c)
		case err := <-errs:
			t.Errorf("kafka-go reader: %v", err)
			return out
		case <-ctx.Done():
			t.Errorf("kafka-go: consumed %d of %d records before the deadline", len(out), n)
			return out
		}
	}
	return out
}

// --- retention ---

// TestRetentionDeletesOldSegments fills a topic with segment.bytes=1024
// while retention cannot run, then restarts the broker on the same data with
// a 100 ms retention check and retention.bytes=4096: the log start offset
// must move past 0, a fetch at 0 must answer OFFSET_OUT_OF_RANGE, and the
// old segment files must be gone. Two brokers make "before" a fixed number
// rather than a race with the retention thread.
func TestRetentionDeletesOldSegments(t *testing.T) {
	const (
		topic          = "retention"
		segmentBytes   = 1024
		retentionBytes = 4096
		records        = 300
	)
	first := brokertest.Start(t, "log.segment.bytes=1024", "log.retention.check.interval.ms=3600000")
	dir := first.Dir
	partDir := filepath.Join(dir, topic+"-0")
	ctx := testContext(t, 60*time.Second)

	adm := newAdmin(t, first.Addr())
	seg, ret := fmt.Sprint(segmentBytes), fmt.Sprint(retentionBytes)
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": &seg, "retention.bytes": &ret}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("CreateTopic %s: %v", topic, err)
	}
	// One record per batch (synchronous produce), about 170 bytes each: a
	// 1024-byte segment holds a handful. Idempotence off: this test is
	// about retention, not InitProducerId.
	cl := newKgo(t, first.Addr(), kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0))
	recs := genRecords(records, 2)
	for i := range recs {
		r := &kgo.Record{Key: recs[i].Key, Value: recs[i].Value, Timestamp: time.UnixMilli(recs[i].TimestampMs)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	cl.Close()
	if err := first.Close(); err != nil {
		t.Fatalf("closing the first broker: %v", err)
	}
	before := segmentFiles(t, partDir)
	if len(before) < 20 {
		t.Fatalf("%d segment files after %d records with segment.bytes=%d, want >= 20: %v", len(before), records, segmentBytes, before)
	}

	b := brokertest.Start(t, "log.dirs="+dir, "log.retention.check.interval.ms=100")
	adm = newAdmin(t, b.Addr())
	var start int64
	for {
		offs, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatalf("ListOffsets(earliest): %v", err)
		}
		o, ok := offs.Lookup(topic, 0)
		if !ok || o.Err != nil {
			t.Fatalf("ListOffsets(earliest) %s-0: found %v, err %v", topic, ok, o.Err)
		}
		if start = o.Offset; start > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("log start offset still 0 at the deadline (retention.bytes=%d, log.retention.check.interval.ms=100, %d segments)",
				retentionBytes, len(segmentFiles(t, partDir)))
		case <-time.After(50 * time.Millisecond):
		}
	}

	// Whole segments go, the newest ones stay: what is left is at most
	// retention.bytes plus the active segment, and starts at the log start.
	after := segmentFiles(t, partDir)
	if maxLeft := retentionBytes/segmentBytes + 2; len(after) > maxLeft || len(after) >= len(before) {
		t.Errorf("%d segment files after retention (%d before), want at most %d: %v", len(after), len(before), maxLeft, after)
	}
	if len(after) > 0 {
		if base := segmentBaseOffset(t, after[0]); base != start {
			t.Errorf("oldest segment file %s, log start offset %d: want them equal", after[0], start)
		}
	}
	if start >= records {
		t.Errorf("log start offset %d: retention deleted everything (%d records)", start, records)
	}

	// A consumer positioned at 0 is told its offset is gone.
	topicID := topicIDOf(ctx, t, b.Addr(), topic)
	fetchAt := func(offset int64) kmsg.FetchResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, offset, 1<<20
		rp.LogStartOffset = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, newKgo(t, b.Addr()))
		if err != nil {
			t.Fatalf("fetch at %d: %v", offset, err)
		}
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch at %d: top-level error %d, %d topics", offset, resp.ErrorCode, len(resp.Topics))
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := fetchAt(0); p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Errorf("fetch at offset 0 below log start %d: error %v, want OFFSET_OUT_OF_RANGE", start, kerr.ErrorForCode(p.ErrorCode))
	}
	p := fetchAt(start)
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Errorf("fetch at the log start offset %d: error %v, %d bytes", start, kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
	if p.LogStartOffset != start {
		t.Errorf("fetch response log start offset %d, ListOffsets said %d", p.LogStartOffset, start)
	}
}

// topicIDOf asks Metadata for a topic's id (Fetch v13+ names topics by id).
func topicIDOf(ctx context.Context, t *testing.T, addr, topic string) [16]byte {
	t.Helper()
	tds, err := newAdmin(t, addr).ListTopics(ctx, topic)
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		t.Fatalf("metadata of %s: found %v, err %v", topic, ok, td.Err)
	}
	return td.ID
}

// --- connections ---

// TestConcurrentConnections holds 1,000 client connections open at once and
// checks each gets a valid ApiVersions answer on its own socket.
func TestConcurrentConnections(t *testing.T) {
	const conns = 1000
	// Both ends live in this process: two descriptors per connection.
	raiseFileLimit(t, 2*conns+256)
	b := brokertest.Start(t)

	ncs := make([]net.Conn, conns)
	t.Cleanup(func() {
		for _, nc := range ncs {
			if nc != nil {
				nc.Close()
			}
		}
	})
	// Dial with bounded concurrency so a burst of SYNs does not overflow
	// the listen backlog; every connection stays open until the end.
	var wg sync.WaitGroup
	errs := make([]error, conns)
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ncs[i], errs[i] = net.DialTimeout("tcp", b.Addr(), 10*time.Second)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("dialing %d connections: %v", conns, err)
	}

	// Every connection now asks at once, alternating a non-flexible (v2,
	// header v1) and a flexible (v3, header v2) ApiVersions.
	deadline := time.Now().Add(60 * time.Second)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc := ncs[i]
			nc.SetDeadline(deadline)
			req := apiVersionsRequest(int16(2 + i%2))
			resp, err := roundTrip(nc, req, int32(i)+1)
			if err == nil {
				err = checkApiVersions(resp)
			}
			if err != nil {
				errs[i] = fmt.Errorf("connection %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			if failed < 5 {
				t.Error(err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d connections did not get a valid ApiVersions response", failed, conns)
	}
}

// raiseFileLimit makes sure the process may open need descriptors, raising
// the soft limit toward the hard one, or skips the test.
func raiseFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot read RLIMIT_NOFILE: %v", err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d descriptors this test needs", lim.Max, need)
	}
	old := lim
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot raise RLIMIT_NOFILE from %d to %d: %v", old.Cur, need, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// TestPipelinedRequestsAnsweredInOrder writes 50 requests of mixed APIs
// and header versions in one go before reading anything: the answers must
// come back in request order, each decodable as the response to its request.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	const n = 50
	b := brokertest.Start(t)
	nc, err := net.DialTimeout("tcp", b.Addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(60 * time.Second))

	reqs := make([]kmsg.Request, n)
	ids := make([]int32, n)
	var buf []byte
	for i := range n {
		switch i % 4 {
		case 0:
			reqs[i] = apiVersionsRequest(0)
		case 1:
			m := kmsg.NewPtrMetadataRequest()
			m.SetVersion(1) // header v1; null topics = all
			reqs[i] = m
		case 2:
			reqs[i] = apiVersionsRequest(3)
		case 3:
			m := kmsg.NewPtrMetadataRequest()
			m.SetVersion(12) // flexible: header v2
			reqs[i] = m
		}
		ids[i] = int32(1000 + 7*i) // distinct, not consecutive
		buf = appendRequest(buf, reqs[i], ids[i], "samsa-pipeline-test")
	}
	if _, err := nc.Write(buf); err != nil {
		t.Fatalf("writing %d pipelined requests: %v", n, err)
	}
	for i := range n {
		id, rest, err := readFrame(nc)
		if err != nil {
			t.Fatalf("response %d of %d: %v", i+1, n, err)
		}
		if id != ids[i] {
			t.Fatalf("response %d has correlation id %d, want %d (request order)", i+1, id, ids[i])
		}
		resp, err := decodeResponse(reqs[i], rest)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		switch r := resp.(type) {
		case *kmsg.ApiVersionsResponse:
			if err := checkApiVersions(r); err != nil {
				t.Errorf("response %d: %v", i+1, err)
			}
		case *kmsg.MetadataResponse:
			if len(r.Brokers) != 1 {
				t.Errorf("response %d: Metadata v%d lists %d brokers, want 1", i+1, r.Version, len(r.Brokers))
			}
		}
	}
}

// TestIdleConnectionClosed checks connections.max.idle.ms: the broker
// closes a connection that has sent nothing for that long, whether it never
// sent a request or went quiet after one.
func TestIdleConnectionClosed(t *testing.T) {
	b := brokertest.Start(t, "connections.max.idle.ms=200")
	for _, used := range []bool{false, true} {
		t.Run(fmt.Sprintf("after_request=%v", used), func(t *testing.T) {
			nc, err := net.DialTimeout("tcp", b.Addr(), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if used {
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				resp, err := roundTrip(nc, apiVersionsRequest(3), 1)
				if err == nil {
					err = checkApiVersions(resp)
				}
				if err != nil {
					t.Fatalf("ApiVersions before going idle: %v", err)
				}
			}
			// Generous next to 200 ms, so only a broker that never
			// closes fails.
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := nc.Read(make([]byte, 1))
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Fatal("idle connection still open 10s after connections.max.idle.ms=200")
			case n > 0:
				t.Fatalf("read %d unexpected bytes from an idle connection", n)
			case !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET):
				t.Fatalf("reading an idle connection: %v, want EOF", err)
			}
		})
	}
}
