package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestEpochBump injects the errors after which an idempotent producer
// must bump its epoch and restart its sequences: the records still arrive,
// once each, written under the new epoch.
func TestEpochBump(t *testing.T) {
	for _, e := range []*kerr.Error{kerr.OutOfOrderSequenceNumber, kerr.UnknownProducerID} {
		t.Run(e.Message, func(t *testing.T) {
			checkLeaks(t)
			c := newFake(t, kfake.SeedTopics(1, "t"))
			inits := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.InitProducerID}, Observe: true, Count: -1})
			p := startProducer(t, testConfig(c.ListenAddrs()), StringSerializer{}, StringSerializer{})
			ctx := testCtx(t)
			if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "0"}).Get(ctx); err != nil {
				t.Fatal(err)
			}
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: e})
			for i := 1; i <= 3; i++ {
				md, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: strconv.Itoa(i)}).Get(ctx)
				if err != nil || md.Offset != int64(i) {
					t.Fatalf("record %d: %+v %v", i, md, err)
				}
			}
			// An idempotent producer bumps its epoch itself.
			if inits.Hits() != 1 {
				t.Errorf("%d InitProducerId requests, want 1", inits.Hits())
			}
			recs := consumeAll(t, c.ListenAddrs(), "t", 4)
			if recs[0].ProducerEpoch != 0 || recs[1].ProducerEpoch != 1 || recs[1].ProducerID != recs[0].ProducerID {
				t.Errorf("epochs %d then %d (ids %d, %d), want 0 then 1 on the same id",
					recs[0].ProducerEpoch, recs[1].ProducerEpoch, recs[0].ProducerID, recs[1].ProducerID)
			}
			for i, r := range recs {
				if string(r.Value) != strconv.Itoa(i) {
					t.Errorf("offset %d holds %q", i, r.Value)
				}
			}
		})
	}
}

// TestNonRetriable checks that a non-retriable broker error fails the
// record at once, matching its sentinel and kerr, and that the producer
// goes on (bumping its epoch, since the failed batch had a sequence).
func TestNonRetriable(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	p := startProducer(t, testConfig(c.ListenAddrs()), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed})
	_, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "a"}).Get(ctx)
	var be *BrokerError
	if !errors.Is(err, ErrAuthorization) || !errors.Is(err, kerr.TopicAuthorizationFailed) || !errors.As(err, &be) || Retriable(err) {
		t.Fatalf("got %v", err)
	}
	if be.Name != "TOPIC_AUTHORIZATION_FAILED" {
		t.Errorf("name %q", be.Name)
	}
	md, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "b"}).Get(ctx)
	if err != nil || md.Offset != 0 {
		t.Fatalf("next record: %+v %v", md, err)
	}
}

// TestRetriesZero checks retries=0 (idempotence then off by default): a
// retriable error fails the record without a retry.
func TestRetriesZero(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	obs := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Observe: true, Count: -1})
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas})
	p := startProducer(t, testConfig(c.ListenAddrs(), "retries", "0"), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	_, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "a"}).Get(ctx)
	if !errors.Is(err, ErrNotEnoughReplicas) || !Retriable(err) {
		t.Fatalf("got %v", err)
	}
	if obs.Hits() != 1 {
		t.Errorf("%d produce requests, want 1", obs.Hits())
	}
}

// countingConn records, per connection, the API keys of requests written
// and not yet answered, to measure pipelining.
type countingConn struct {
	net.Conn
	mu      *sync.Mutex
	maxOut  *int
	pending []int16
	rbuf    []byte
	// onProduce, if set, gets every produce request written.
	onProduce func(*kmsg.ProduceRequest)
}

func (c *countingConn) Write(b []byte) (int, error) {
	if len(b) >= 6 {
		c.mu.Lock()
		key := int16(binary.BigEndian.Uint16(b[4:]))
		if key == int16(kmsg.Produce) && c.onProduce != nil {
			c.onProduce(decodeProduceFrame(b))
		}
		c.pending = append(c.pending, key)
		n := 0
		for _, k := range c.pending {
			if k == int16(kmsg.Produce) {
				n++
			}
		}
		*c.maxOut = max(*c.maxOut, n)
		c.mu.Unlock()
	}
	return c.Conn.Write(b)
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.rbuf = append(c.rbuf, b[:n]...)
	for len(c.rbuf) >= 4 {
		size := int(binary.BigEndian.Uint32(c.rbuf))
		if len(c.rbuf) < 4+size {
			break
		}
		c.rbuf = c.rbuf[4+size:]
		if len(c.pending) > 0 {
			c.pending = c.pending[1:]
		}
	}
	c.mu.Unlock()
	return n, err
}

// TestPipelining checks that a sender keeps several produce requests in
// flight on its connection, never more than
// max.in.flight.requests.per.connection.
func TestPipelining(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(4, "t"))
	// Slow every produce down so that requests pile up.
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		time.Sleep(5 * time.Millisecond)
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
	p := startProducer(t, testConfig(c.ListenAddrs(), "max.in.flight.requests.per.connection", "3", "batch.size", "100"),
		StringSerializer{}, StringSerializer{}, WithDialer(dial))
	ctx := testCtx(t)
	o := newOutcomes()
	const n = 300
	for i := range n {
		part := int32(i % 4)
		p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "t", Partition: &part, Value: strconv.Itoa(i)}, o.callback(i))
	}
	o.wait(t, 20*time.Second)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("at most %d produce requests in flight", maxOut)
	if maxOut > 3 {
		t.Errorf("%d produce requests in flight, max.in.flight.requests.per.connection is 3", maxOut)
	}
	if maxOut < 2 {
		t.Errorf("at most %d produce request in flight: no pipelining", maxOut)
	}
	for i := range n {
		if o.errs[i] != nil {
			t.Fatalf("record %d: %v", i, o.errs[i])
		}
	}
}

// decodeProduceFrame decodes a produce request frame as written by the
// client: size, key, version, correlation id, client id, tags if flexible,
// body.
func decodeProduceFrame(b []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = int16(binary.BigEndian.Uint16(b[6:]))
	body := b[12:]
	if n := int16(binary.BigEndian.Uint16(body)); n > 0 {
		body = body[2+int(n):]
	} else {
		body = body[2:]
	}
	if req.IsFlexible() {
		body = body[1:] // no tagged fields
	}
	if err := req.ReadFrom(body); err != nil {
		panic(err)
	}
	return req
}

// TestMaxRequestSize checks that max.request.size caps the record bytes of
// each produce request, with several partitions' batches per request.
func TestMaxRequestSize(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(8, "t"))
	var (
		mu       sync.Mutex
		maxOut   int
		maxBytes int
		maxParts int
	)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: conn, mu: &mu, maxOut: &maxOut, onProduce: func(req *kmsg.ProduceRequest) {
			total, parts := 0, 0
			for _, t := range req.Topics {
				for _, p := range t.Partitions {
					total += len(p.Records)
					parts++
				}
			}
			maxBytes, maxParts = max(maxBytes, total), max(maxParts, parts)
		}}, nil
	}
	p := startProducer(t, testConfig(c.ListenAddrs(), "max.request.size", "1200", "batch.size", "500", "linger.ms", "50"),
		StringSerializer{}, StringSerializer{}, WithDialer(dial))
	ctx := testCtx(t)
	o := newOutcomes()
	const n = 160
	for i := range n {
		part := int32(i % 8)
		p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "t", Partition: &part, Value: string(make([]byte, 80))}, o.callback(i))
	}
	o.wait(t, 20*time.Second)
	for i := range n {
		if o.errs[i] != nil {
			t.Fatalf("record %d: %v", i, o.errs[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("largest request: %d record bytes in %d partitions", maxBytes, maxParts)
	if maxBytes > 1200 {
		t.Errorf("a produce request carried %d record bytes, max.request.size is 1200", maxBytes)
	}
	if maxParts < 2 {
		t.Errorf("requests carried at most %d partition; several batches should share a request", maxParts)
	}
}

// TestDuplicateSequence checks that DUPLICATE_SEQUENCE_NUMBER counts as
// success.
func TestDuplicateSequence(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.DuplicateSequenceNumber})
	p := startProducer(t, testConfig(c.ListenAddrs()), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "a"}).Get(ctx); err != nil {
		t.Fatalf("duplicate: %v", err)
	}
}
