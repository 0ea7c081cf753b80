package kafka

import (
	"context"
	"encoding/binary"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestOldBrokerVersions runs against clusters that advertise older Kafka
// versions. Kafka 2.1 does not know ApiVersions v4, so the client must
// retry at the version the v0 answer names (KIP-511); each connection then
// uses the highest version both sides know.
func TestOldBrokerVersions(t *testing.T) {
	cases := []struct {
		name                                string
		versions                            *kversion.Versions
		apiVersions, produce, meta, initPID int16
	}{
		{"2.1", kversion.V2_1_0(), 2, 7, 7, 1},
		{"0.11", kversion.V0_11_0(), 1, 3, 4, 0},
		{"stable", kversion.Stable(), 4, 12, 12, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			c := newFake(t, kfake.SeedTopics(2, "t"), kfake.MaxVersions(tc.versions))
			p := startProducer(t, testConfig(c.ListenAddrs()), StringSerializer{}, StringSerializer{})
			ctx := testCtx(t)
			for i := range 5 {
				if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Key: strconv.Itoa(i), Value: "v"}).Get(ctx); err != nil {
					t.Fatal(err)
				}
			}
			want := map[int16]int16{
				int16(kmsg.ApiVersions):    tc.apiVersions,
				int16(kmsg.Produce):        tc.produce,
				int16(kmsg.Metadata):       tc.meta,
				int16(kmsg.InitProducerID): tc.initPID,
			}
			cl := p.core.client
			cl.mu.Lock()
			defer cl.mu.Unlock()
			checked := 0
			for k, slot := range cl.conns {
				slot.mu.Lock()
				if slot.conn != nil && k.kind == connProduce {
					checked++
					for key, v := range want {
						if got, _ := slot.conn.version(key); got != v {
							t.Errorf("%s: negotiated v%d, want v%d", kmsg.NameForKey(key), got, v)
						}
					}
				}
				slot.mu.Unlock()
			}
			if checked == 0 {
				t.Error("no produce connection to check")
			}
			recs := consumeAll(t, c.ListenAddrs(), "t", 5)
			if len(recs) != 5 || recs[0].ProducerID < 0 {
				t.Errorf("records %d, producer id %d", len(recs), recs[0].ProducerID)
			}
		})
	}
}

// idConn records the client id of every request written.
type idConn struct {
	net.Conn
	ids chan<- string
}

func (c *idConn) Write(b []byte) (int, error) {
	if len(b) >= 14 {
		if n := int(int16(binary.BigEndian.Uint16(b[12:]))); n >= 0 && 14+n <= len(b) {
			select {
			case c.ids <- string(b[14 : 14+n]):
			default:
			}
		}
	}
	return c.Conn.Write(b)
}

// TestClientID checks that client.id goes in every request header.
func TestClientID(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	ids := make(chan string, 100)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idConn{Conn: conn, ids: ids}, nil
	}
	p := startProducer(t, testConfig(c.ListenAddrs(), "client.id", "billing-app"), StringSerializer{}, StringSerializer{}, WithDialer(dial))
	ctx := testCtx(t)
	if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "v"}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	n := len(ids)
	if n < 3 { // ApiVersions, Metadata, InitProducerId, Produce at least
		t.Errorf("saw %d requests", n)
	}
	for range n {
		if id := <-ids; id != "billing-app" {
			t.Errorf("client id %q", id)
		}
	}
}

// TestMetadataMaxAge checks that metadata is refreshed every
// metadata.max.age.ms without anything being sent.
func TestMetadataMaxAge(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	got := make(chan struct{}, 100)
	c.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		select {
		case got <- struct{}{}:
		default:
		}
		return nil, nil, false
	})
	startProducer(t, testConfig(c.ListenAddrs(), "metadata.max.age.ms", "20"), StringSerializer{}, StringSerializer{})
	timeout := time.After(10 * time.Second)
	for i := range 4 {
		select {
		case <-got:
		case <-timeout:
			t.Fatalf("%d metadata requests in 10s", i)
		}
	}
}

// TestIdleReconnect checks that connections idle for
// connections.max.idle.ms are closed, and that the producer dials again.
func TestIdleReconnect(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	p := startProducer(t, testConfig(c.ListenAddrs(), "connections.max.idle.ms", "50"), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)
	if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "a"}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	produceConn := func() *brokerConn {
		cl := p.core.client
		cl.mu.Lock()
		defer cl.mu.Unlock()
		for k, slot := range cl.conns {
			if k.kind == connProduce {
				slot.mu.Lock()
				defer slot.mu.Unlock()
				return slot.conn
			}
		}
		return nil
	}
	first := produceConn()
	if first == nil {
		t.Fatal("no produce connection")
	}
	for deadline := time.Now().Add(5 * time.Second); first.alive(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("idle connection not closed")
		}
	}
	md, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Value: "b"}).Get(ctx)
	if err != nil || md.Offset != 1 {
		t.Fatalf("after idle close: %+v %v", md, err)
	}
	if produceConn() == first {
		t.Error("the closed connection was reused")
	}
}
