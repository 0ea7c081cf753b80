package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// outcomes counts the callbacks of records sent with SendWithCallback.
type outcomes struct {
	mu    sync.Mutex
	calls map[int]int
	errs  map[int]error
	mds   map[int]RecordMetadata
	wg    sync.WaitGroup
}

func newOutcomes() *outcomes {
	return &outcomes{calls: map[int]int{}, errs: map[int]error{}, mds: map[int]RecordMetadata{}}
}

func (o *outcomes) callback(i int) func(RecordMetadata, error) {
	o.wg.Add(1)
	return func(md RecordMetadata, err error) {
		o.mu.Lock()
		o.calls[i]++
		first := o.calls[i] == 1
		o.errs[i], o.mds[i] = err, md
		o.mu.Unlock()
		if first {
			o.wg.Done()
		}
	}
}

// wait waits for every callback, failing the test after d.
func (o *outcomes) wait(t *testing.T, d time.Duration) {
	t.Helper()
	ch := make(chan struct{})
	go func() { o.wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("callbacks did not all run within %v", d)
	}
}

// exactlyOnce checks that records 0..n-1 each had one callback.
func (o *outcomes) exactlyOnce(t *testing.T, n int) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range n {
		if o.calls[i] != 1 {
			t.Errorf("record %d: %d callbacks, want 1", i, o.calls[i])
		}
	}
}

// TestIgnoreKeys checks partitioner.ignore.keys: keyed records are spread
// as if they had no key.
func TestIgnoreKeys(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(4, "t"))
	p := startProducer(t, testConfig(c.ListenAddrs(), "partitioner.ignore.keys", "true", "batch.size", "200"), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	o := newOutcomes()
	for i := range 200 {
		p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "t", Key: "same", Value: strings.Repeat("x", 50)}, o.callback(i))
	}
	o.wait(t, 10*time.Second)
	parts := map[int32]bool{}
	for _, md := range o.mds {
		parts[md.Partition] = true
	}
	if len(parts) < 2 {
		t.Errorf("one key went to partitions %v; ignore.keys should spread it", parts)
	}
}

// TestOrderingUnderRetries sends with 5 requests in flight while the
// broker fails some produces before writing (NOT_LEADER_OR_FOLLOWER, so
// later in-flight batches get OUT_OF_ORDER_SEQUENCE_NUMBER) and others
// after writing (REQUEST_TIMED_OUT, so the retry is a duplicate). Every
// record must be written once, in order.
func TestOrderingUnderRetries(t *testing.T) {
	for _, every := range [][2]int64{{5, 7}, {3, 4}} {
		t.Run(fmt.Sprintf("every_%d_%d", every[0], every[1]), func(t *testing.T) {
			testOrderingUnderRetries(t, every[0], every[1])
		})
	}
}

func testOrderingUnderRetries(t *testing.T, timedOutEvery, notLeaderEvery int64) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(2, "t"))
	var n1, n2 atomic.Int64
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: -1,
		When: func(kmsg.Request) bool { return n1.Add(1)%timedOutEvery == 2 }})
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotLeaderForPartition, Count: -1,
		When: func(kmsg.Request) bool { return n2.Add(1)%notLeaderEvery == 3 }})
	// A little delay per produce lets requests pile up on the
	// connection, so that the faults hit requests with others in flight
	// behind them; the dialer measures how many.
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		time.Sleep(time.Millisecond)
		return nil, nil, false
	})
	var (
		mu     sync.Mutex
		maxOut int
	)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: conn, mu: &mu, maxOut: &maxOut}, nil
	}
	p := startProducer(t, testConfig(c.ListenAddrs(), "batch.size", "120", "retry.backoff.ms", "1", "retry.backoff.max.ms", "5"),
		IntegerSerializer{}, StringSerializer{}, WithDialer(dial))
	ctx := testCtx(t)
	o := newOutcomes()
	const n = 400
	for i := range n {
		part := int32(i % 2)
		p.SendWithCallback(ctx, ProducerRecord[int32, string]{Topic: "t", Partition: &part, Key: int32(i), Value: strconv.Itoa(i)}, o.callback(i))
	}
	o.wait(t, 20*time.Second)
	o.exactlyOnce(t, n)
	for i := range n {
		if o.errs[i] != nil {
			t.Fatalf("record %d: %v", i, o.errs[i])
		}
	}
	if n1.Load() < 10 || n2.Load() < 10 {
		t.Fatalf("only %d/%d produce requests seen; faults barely fired", n1.Load(), n2.Load())
	}
	mu.Lock()
	if maxOut != 5 {
		t.Errorf("at most %d produce requests in flight, want max.in.flight.requests.per.connection=5", maxOut)
	}
	mu.Unlock()
	recs := consumeAll(t, c.ListenAddrs(), "t", n)
	last := map[int32]int{0: -2, 1: -1}
	seen := map[int]bool{}
	for _, r := range recs {
		v, _ := strconv.Atoi(string(r.Value))
		if seen[v] {
			t.Errorf("record %d written twice", v)
		}
		seen[v] = true
		if v != last[r.Partition]+2 {
			t.Errorf("partition %d: record %d follows %d", r.Partition, v, last[r.Partition])
		}
		last[r.Partition] = v
		if o.mds[v].Offset != r.Offset {
			t.Errorf("record %d: callback offset %d, log offset %d", v, o.mds[v].Offset, r.Offset)
		}
	}
	if len(recs) != n {
		t.Errorf("consumed %d records, want %d", len(recs), n)
	}
}

// TestDeliveryTimeout checks that records the broker keeps refusing with
// a retriable error fail after delivery.timeout.ms, each callback once.
func TestDeliveryTimeout(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(3, "t"))
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	p := startProducer(t, testConfig(c.ListenAddrs(), "delivery.timeout.ms", "300", "request.timeout.ms", "200"),
		StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	o := newOutcomes()
	const n = 30
	start := time.Now()
	for i := range n {
		p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "t", Key: strconv.Itoa(i), Value: "v"}, o.callback(i))
	}
	o.wait(t, 10*time.Second)
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("records failed after %v, before delivery.timeout.ms", el)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	o.exactlyOnce(t, n)
	for i := range n {
		err := o.errs[i]
		if !errors.Is(err, ErrTimeout) || !Retriable(err) || !strings.Contains(err.Error(), "delivery.timeout.ms") {
			t.Errorf("record %d: %v, want a delivery timeout", i, err)
		}
	}
}

// TestDeliveryTimeoutInFlight drops every produce response: batches
// expire while in flight, and the late end of their requests changes
// nothing.
func TestDeliveryTimeoutInFlight(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	var blackhole atomic.Bool
	blackhole.Store(true)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if blackhole.Load() {
			return nil, nil, true // no answer
		}
		return nil, nil, false
	})
	p, err := NewProducer(testConfig(c.ListenAddrs(), "delivery.timeout.ms", "400", "request.timeout.ms", "300"),
		StringSerializer{}, StringSerializer{}, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	o := newOutcomes()
	const n = 10
	for i := range n {
		p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "t", Value: strconv.Itoa(i)}, o.callback(i))
	}
	o.wait(t, 10*time.Second)
	for i := range n {
		if !errors.Is(o.errs[i], ErrTimeout) {
			t.Errorf("record %d: %v", i, o.errs[i])
		}
	}
	// The broker answers again. The expired batches had sequences the
	// broker may have seen, so the producer bumps its epoch and starts
	// over at sequence 0; new records go through.
	blackhole.Store(false)
	md, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "after"}).Get(ctx)
	if err != nil || md.Offset != 0 {
		t.Fatalf("after expiry: %+v %v", md, err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	o.exactlyOnce(t, n)
	recs := consumeAll(t, c.ListenAddrs(), "t", 1)
	if string(recs[0].Value) != "after" || recs[0].ProducerEpoch < 1 {
		t.Errorf("record %q with epoch %d", recs[0].Value, recs[0].ProducerEpoch)
	}
}

// TestBufferExhausted fills buffer.memory while the broker does not
// answer: Send blocks for max.block.ms, then fails.
func TestBufferExhausted(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true
	})
	// Batches of 500 bytes hold 4 records of 107 bytes: buffer.memory
	// holds 4 batches, 16 records, all sent but never answered.
	p := startProducer(t, testConfig(c.ListenAddrs(), "buffer.memory", "2000", "batch.size", "500", "linger.ms", "60000", "max.block.ms", "300"),
		VoidSerializer{}, ByteArraySerializer{})
	ctx := testCtx(t)
	o := newOutcomes()
	val := make([]byte, 100)
	var (
		blocked time.Duration
		failed  = -1
	)
	for i := 0; i < 100 && failed < 0; i++ {
		start := time.Now()
		// A record that fails before it is queued gets its callback
		// before SendWithCallback returns.
		p.SendWithCallback(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: val}, o.callback(i))
		blocked = time.Since(start)
		o.mu.Lock()
		if o.calls[i] > 0 {
			failed = i
		}
		o.mu.Unlock()
	}
	if failed < 0 {
		t.Fatal("100 records fit in 2000 bytes of buffer.memory")
	}
	err := o.errs[failed]
	if !errors.Is(err, ErrBufferExhausted) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("record %d: %v, want ErrBufferExhausted", failed, err)
	}
	if !strings.Contains(err.Error(), "buffer.memory") || !strings.Contains(err.Error(), "max.block.ms") {
		t.Errorf("error %q does not name buffer.memory and max.block.ms", err)
	}
	if blocked < 300*time.Millisecond {
		t.Errorf("Send failed after %v, before max.block.ms", blocked)
	}
	if failed != 16 {
		t.Errorf("%d records fit in 4 batches of 4, want 16", failed)
	}
	// A record larger than the whole buffer fails at once.
	_, err = p.Send(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: make([]byte, 3000)}).Get(ctx)
	if !errors.Is(err, ErrRecordTooLarge) || !strings.Contains(err.Error(), "buffer.memory") {
		t.Errorf("3000-byte record: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_ = p.Close(cctx)
	o.exactlyOnce(t, failed+1)
}

// TestRecordTooLarge checks that a record over max.request.size fails
// before anything is sent.
func TestRecordTooLarge(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	obs := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Observe: true, Count: -1})
	p := startProducer(t, testConfig(c.ListenAddrs(), "max.request.size", "1000"), VoidSerializer{}, ByteArraySerializer{})
	ctx := testCtx(t)
	_, err := p.Send(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: make([]byte, 1000)}).Get(ctx)
	if !errors.Is(err, ErrRecordTooLarge) || Retriable(err) || !strings.Contains(err.Error(), "max.request.size") {
		t.Fatalf("got %v", err)
	}
	if _, err := p.Send(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: make([]byte, 800)}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	if obs.Hits() != 1 {
		t.Errorf("%d produce requests, want 1 (the large record must not be sent)", obs.Hits())
	}
}

// TestSerializerError checks that a failing serializer fails the send with
// ErrSerialization and nothing reaches the broker.
func TestSerializerError(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	obs := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Observe: true, Count: -1})
	boom := errors.New("boom")
	vs := SerializerFunc[string](func(topic string, _ *Headers, v string) ([]byte, error) {
		if v == "bad" {
			return nil, boom
		}
		return []byte(v), nil
	})
	p := startProducer(t, testConfig(c.ListenAddrs()), StringSerializer{}, Serializer[string](vs))
	ctx := testCtx(t)
	var cbErr error
	p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "t", Value: "bad"}, func(_ RecordMetadata, err error) { cbErr = err })
	if !errors.Is(cbErr, ErrSerialization) || !errors.Is(cbErr, boom) {
		t.Errorf("callback got %v before SendWithCallback returned", cbErr)
	}
	_, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "bad"}).Get(ctx)
	if !errors.Is(err, ErrSerialization) {
		t.Errorf("future got %v", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if obs.Hits() != 0 {
		t.Errorf("%d produce requests sent", obs.Hits())
	}
}

// TestCloseForced checks Close whose context ends while the broker does
// not answer: every pending record fails with ErrProducerClosed.
func TestCloseForced(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(2, "t"))
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, true
	})
	p, err := NewProducer(testConfig(c.ListenAddrs()), StringSerializer{}, StringSerializer{}, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	o := newOutcomes()
	const n = 40
	for i := range n {
		p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "t", Key: strconv.Itoa(i), Value: "v"}, o.callback(i))
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := p.Close(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v", err)
	}
	o.exactlyOnce(t, n)
	for i := range n {
		if !errors.Is(o.errs[i], ErrProducerClosed) {
			t.Errorf("record %d: %v", i, o.errs[i])
		}
	}
}

// TestUnknownTopic checks that Send gives up on a topic that never shows
// up after max.block.ms.
func TestUnknownTopic(t *testing.T) {
	checkLeaks(t)
	c := newFake(t)
	p := startProducer(t, testConfig(c.ListenAddrs(), "max.block.ms", "300"), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	start := time.Now()
	_, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "nope", Value: "v"}).Get(ctx)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "max.block.ms") {
		t.Errorf("got %v", err)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Errorf("gave up after %v", time.Since(start))
	}
	// A canceled context ends the wait early.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Send(cctx, ProducerRecord[string, string]{Topic: "nope", Value: "v"}).Get(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

// TestBootstrapOneDown lists a dead address first in bootstrap.servers.
func TestBootstrapOneDown(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	addrs := append([]string{"127.0.0.1:1"}, c.ListenAddrs()...)
	p := startProducer(t, testConfig(addrs), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	for i := range 5 {
		if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: strconv.Itoa(i)}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	parts, err := p.PartitionsFor(ctx, "t")
	if err != nil || len(parts) != 1 || parts[0].Leader == nil {
		t.Errorf("PartitionsFor: %v %v", parts, err)
	}
}

// TestLeaderMove moves a partition's leader: the producer gets
// NOT_LEADER_OR_FOLLOWER, refreshes its metadata and sends to the new one.
func TestLeaderMove(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.NumBrokers(3), kfake.SeedTopics(1, "t"))
	p := startProducer(t, testConfig(c.ListenAddrs()), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	md, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "a"}).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := c.LeaderFor("t", 0)
	next := (old + 1) % 3
	if err := c.MoveTopicPartition("t", 0, next); err != nil {
		t.Fatal(err)
	}
	md2, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "b"}).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md2.Offset != md.Offset+1 {
		t.Errorf("offsets %d then %d", md.Offset, md2.Offset)
	}
	if n, _ := p.core.client.cluster().LeaderFor("t", 0); n.ID != next {
		t.Errorf("cached leader %d, want %d", n.ID, next)
	}
}

// TestAcksZero checks acks=0: no answers, offsets unknown, records
// written.
func TestAcksZero(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	p := startProducer(t, testConfig(c.ListenAddrs(), "acks", "0"), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	for i := range 10 {
		md, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: strconv.Itoa(i)}).Get(ctx)
		if err != nil || md.Offset != -1 {
			t.Fatalf("record %d: %+v %v", i, md, err)
		}
	}
	recs := consumeAll(t, c.ListenAddrs(), "t", 10)
	for i, r := range recs {
		if string(r.Value) != strconv.Itoa(i) || r.ProducerID != -1 {
			t.Errorf("record %d: %q pid %d", i, r.Value, r.ProducerID)
		}
	}
}

type auditInterceptor struct {
	acks   atomic.Int64
	errs   atomic.Int64
	closed atomic.Bool
}

func (a *auditInterceptor) OnSend(r ProducerRecord[string, string]) ProducerRecord[string, string] {
	r.Value += "!"
	r.Headers = append(r.Headers, Header{Key: "audited", Value: []byte("yes")})
	return r
}

func (a *auditInterceptor) OnAcknowledgement(md RecordMetadata, err error) {
	if err != nil {
		a.errs.Add(1)
	} else {
		a.acks.Add(1)
	}
}

func (a *auditInterceptor) Close() error { a.closed.Store(true); return nil }

func TestInterceptors(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	ic := &auditInterceptor{}
	p, err := NewProducer(testConfig(c.ListenAddrs()), StringSerializer{}, StringSerializer{},
		WithLogger(testLogger()), WithInterceptors[string, string](ic))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for i := range 5 {
		if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: strconv.Itoa(i)}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Partition: new(int32(-1)), Value: "x"}).Get(ctx); err == nil {
		t.Error("negative partition accepted")
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ic.acks.Load() != 5 || ic.errs.Load() != 1 || !ic.closed.Load() {
		t.Errorf("acks %d errs %d closed %v", ic.acks.Load(), ic.errs.Load(), ic.closed.Load())
	}
	for i, r := range consumeAll(t, c.ListenAddrs(), "t", 5) {
		if string(r.Value) != fmt.Sprintf("%d!", i) || len(r.Headers) != 1 || r.Headers[0].Key != "audited" {
			t.Errorf("record %d: %q %v", i, r.Value, r.Headers)
		}
	}
	// Interceptors of another type are refused.
	_, err = NewProducer(testConfig(c.ListenAddrs()), StringSerializer{}, ByteArraySerializer{}, WithInterceptors[string, string](ic))
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("mismatched interceptor: %v", err)
	}
}

// TestIdempotenceUnsupported answers InitProducerId with
// UNSUPPORTED_VERSION: default idempotence turns itself off, explicit
// idempotence fails the records.
func TestIdempotenceUnsupported(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	c.ControlKey(int16(kmsg.InitProducerID), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp, nil, true
	})
	ctx := testCtx(t)
	p := startProducer(t, testConfig(c.ListenAddrs()), StringSerializer{}, StringSerializer{})
	if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "a"}).Get(ctx); err != nil {
		t.Fatalf("implicit idempotence: %v", err)
	}
	recs := consumeAll(t, c.ListenAddrs(), "t", 1)
	if recs[0].ProducerID != -1 {
		t.Errorf("record written with producer id %d", recs[0].ProducerID)
	}
	p2 := startProducer(t, testConfig(c.ListenAddrs(), "enable.idempotence", "true"), StringSerializer{}, StringSerializer{})
	_, err := p2.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "b"}).Get(ctx)
	if !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("explicit idempotence: %v", err)
	}
}

// TestBrokerRemoved removes a broker and moves every leader while records
// are being sent: all records arrive once, in order per partition.
func TestBrokerRemoved(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.NumBrokers(3), kfake.SeedTopics(3, "t"))
	p := startProducer(t, testConfig(c.ListenAddrs(), "batch.size", "200"), IntegerSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	o := newOutcomes()
	const n = 300
	for i := range n {
		if i == n/3 {
			if err := c.RemoveNode(c.LeaderFor("t", 0)); err != nil {
				t.Fatal(err)
			}
		}
		if i == 2*n/3 {
			c.ShufflePartitionLeaders()
		}
		part := int32(i % 3)
		p.SendWithCallback(ctx, ProducerRecord[int32, string]{Topic: "t", Partition: &part, Key: int32(i), Value: strconv.Itoa(i)}, o.callback(i))
	}
	o.wait(t, 20*time.Second)
	o.exactlyOnce(t, n)
	for i := range n {
		if o.errs[i] != nil {
			t.Fatalf("record %d: %v", i, o.errs[i])
		}
	}
	last := map[int32]int{0: -3, 1: -2, 2: -1}
	for _, r := range consumeAll(t, c.ListenAddrs(), "t", n) {
		v, _ := strconv.Atoi(string(r.Value))
		if v != last[r.Partition]+3 {
			t.Errorf("partition %d: record %d follows %d", r.Partition, v, last[r.Partition])
		}
		last[r.Partition] = v
	}
}

// TestSplitTooLarge sends batches larger than the broker's
// message.max.bytes: they are split until they fit and every record
// arrives once, in order; a single record over the limit fails with
// ErrRecordTooLarge naming the setting.
func TestSplitTooLarge(t *testing.T) {
	// Without idempotence, order across retries needs one request in
	// flight, as in Java.
	for _, kv := range [][]string{
		{"enable.idempotence", "true"},
		{"enable.idempotence", "false", "max.in.flight.requests.per.connection", "1"},
	} {
		t.Run(strings.Join(kv, "="), func(t *testing.T) {
			checkLeaks(t)
			c := newFake(t, kfake.SeedTopics(1, "t"), kfake.BrokerConfigs(map[string]string{"message.max.bytes": "700"}))
			p := startProducer(t, testConfig(c.ListenAddrs(), append([]string{"linger.ms", "100"}, kv...)...),
				IntegerSerializer{}, StringSerializer{})
			ctx := testCtx(t)
			o := newOutcomes()
			const n = 40
			for i := range n {
				p.SendWithCallback(ctx, ProducerRecord[int32, string]{Topic: "t", Key: int32(i), Value: fmt.Sprintf("%03d%s", i, strings.Repeat("x", 60))}, o.callback(i))
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			o.wait(t, 10*time.Second)
			o.exactlyOnce(t, n)
			for i := range n {
				if o.errs[i] != nil || o.mds[i].Offset != int64(i) {
					t.Fatalf("record %d: %+v %v", i, o.mds[i], o.errs[i])
				}
			}
			for i, r := range consumeAll(t, c.ListenAddrs(), "t", n) {
				if !strings.HasPrefix(string(r.Value), fmt.Sprintf("%03d", i)) {
					t.Errorf("offset %d holds %q", i, r.Value[:3])
				}
			}
			_, err := p.Send(ctx, ProducerRecord[int32, string]{Topic: "t", Value: strings.Repeat("y", 800)}).Get(ctx)
			if !errors.Is(err, ErrRecordTooLarge) || !strings.Contains(err.Error(), "message.max.bytes") {
				t.Errorf("800-byte record: %v", err)
			}
		})
	}
}

// TestRecordLargerThanBatch sends records larger than batch.size (but
// within max.request.size) among small ones: each large one gets a batch
// of its own, sized to fit, and every buffer goes back to buffer.memory.
func TestRecordLargerThanBatch(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	p := startProducer(t, testConfig(c.ListenAddrs(), "batch.size", "500", "linger.ms", "50", "buffer.memory", "20000"),
		VoidSerializer{}, ByteArraySerializer{})
	ctx := testCtx(t)
	o := newOutcomes()
	const n = 40
	for i := range n {
		size := 50
		if i%5 == 0 {
			size = 3000
		}
		p.SendWithCallback(ctx, ProducerRecord[struct{}, []byte]{Topic: "t", Value: bytes.Repeat([]byte{byte(i)}, size)}, o.callback(i))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	o.wait(t, 10*time.Second)
	for i := range n {
		if o.errs[i] != nil || o.mds[i].Offset != int64(i) {
			t.Fatalf("record %d: %+v %v", i, o.mds[i], o.errs[i])
		}
	}
	for i, r := range consumeAll(t, c.ListenAddrs(), "t", n) {
		if want := map[bool]int{true: 3000, false: 50}[i%5 == 0]; len(r.Value) != want || r.Value[0] != byte(i) {
			t.Errorf("offset %d: %d bytes of %d", i, len(r.Value), r.Value[0])
		}
	}
	if v, _ := p.Metrics().Value("buffer-available-bytes"); v != 20000 {
		t.Errorf("buffer-available-bytes %v after Flush, want all 20000", v)
	}
}
