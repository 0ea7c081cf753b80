package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// request is one decoded request of a connection.
type request struct {
	key           int16
	version       int16
	correlationID int32
	clientID      string
	body          kmsg.Request
	conn          *conn
	// frame is the request's bytes; body fields alias it.
	frame []byte
	// pooledFrame says frame came from framePools and goes back once
	// the request is served.
	pooledFrame bool
	// received is when the frame was read, for the request metrics.
	received time.Time
}

// Produce frames are the large ones of a busy broker; their buffers are
// reused, one pool per power-of-two size from 16 KiB to 64 MiB. Only
// Produce: its handler keeps nothing of the request once it returns (the
// log copies the batch to the file), while other handlers may keep byte
// slices of theirs (group metadata, for one).
const (
	minPooledFrameBits = 14
	maxPooledFrameBits = 26
)

var framePools [maxPooledFrameBits + 1]sync.Pool

// frameFor returns a buffer for a frame of size bytes whose first bytes
// are buffered in br.
func (c *conn) frameFor(br *bufio.Reader, size int) ([]byte, bool) {
	class := bits.Len(uint(size - 1))
	if class < minPooledFrameBits || class > maxPooledFrameBits {
		return make([]byte, size), false
	}
	if key, err := br.Peek(2); err != nil || binary.BigEndian.Uint16(key) != uint16(kmsg.Produce) {
		return make([]byte, size), false
	}
	if p, ok := framePools[class].Get().(*[]byte); ok {
		return (*p)[:size], true
	}
	return make([]byte, size, 1<<class), true
}

// releaseFrame returns a served request's frame to its pool.
func releaseFrame(req *request) {
	if !req.pooledFrame {
		return
	}
	f := req.frame[:cap(req.frame)]
	req.frame, req.body, req.pooledFrame = nil, nil, false
	framePools[bits.Len(uint(cap(f)-1))].Put(&f)
}

// maxQueuedPerConn bounds the requests a connection reads ahead of the one
// being served: clients pipeline up to max.in.flight.requests.per.connection
// (5 by default), and responses must still leave in order.
const maxQueuedPerConn = 8

// conn serves one client connection with two goroutines: the reader
// decodes frames into reqs; the server handles them one at a time, in
// order, and writes each response before taking the next. Either one
// closing the socket stops both.
type conn struct {
	b    *Broker
	nc   net.Conn
	log  *slog.Logger
	reqs chan *request
	out  []byte // response buffer, owned by the serve goroutine

	closeOnce sync.Once
}

func newConn(b *Broker, nc net.Conn) *conn {
	return &conn{
		b:    b,
		nc:   nc,
		log:  b.log.With("remote", nc.RemoteAddr().String()),
		reqs: make(chan *request, maxQueuedPerConn),
	}
}

func (c *conn) close() {
	c.closeOnce.Do(func() { c.nc.Close() })
}

// run serves the connection until it closes. The caller tracks it.
func (c *conn) run() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.serve()
	}()
	err := c.read()
	close(c.reqs)
	<-done
	c.close()
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.log.Debug("closing idle connection")
	default:
		c.log.Info("closing connection", "err", err)
	}
}

// read decodes frames until the connection fails or a frame is bad.
func (c *conn) read() error {
	br := bufio.NewReaderSize(c.nc, 16<<10)
	maxFrame := c.b.cfg.Int("socket.request.max.bytes")
	idle := time.Duration(c.b.cfg.Int64("connections.max.idle.ms")) * time.Millisecond
	var sizeBuf [4]byte
	for {
		if idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || int(size) > maxFrame {
			return fmt.Errorf("frame size %d outside [8, socket.request.max.bytes=%d]", size, maxFrame)
		}
		frame, pooled := c.frameFor(br, int(size))
		if _, err := io.ReadFull(br, frame); err != nil {
			return fmt.Errorf("reading %d-byte frame: %w", size, err)
		}
		req, err := decodeRequest(frame)
		if err != nil {
			return err
		}
		req.conn = c
		req.pooledFrame = pooled
		req.received = time.Now()
		c.b.metrics.inFlight.Add(1)
		c.reqs <- req
	}
}

// decodeRequest parses the request header and body of one frame. A
// request this broker cannot serve is an error, which closes the
// connection, except ApiVersions at an unknown version, which comes back as
// a request with version -1 to be answered with UNSUPPORTED_VERSION
// (KIP-511).
func decodeRequest(frame []byte) (*request, error) {
	if len(frame) < 8 {
		return nil, fmt.Errorf("frame of %d bytes is shorter than a request header", len(frame))
	}
	r := &request{
		key:           int16(binary.BigEndian.Uint16(frame[0:])),
		version:       int16(binary.BigEndian.Uint16(frame[2:])),
		correlationID: int32(binary.BigEndian.Uint32(frame[4:])),
		frame:         frame,
	}
	h, ok := handlers[r.key]
	if !ok {
		return nil, fmt.Errorf("unknown or unsupported API key %d", r.key)
	}
	if r.version < h.min || r.version > h.max {
		if r.key == int16(kmsg.ApiVersions) {
			r.version = -1
			return r, nil
		}
		return nil, fmt.Errorf("%s v%d not supported (serving v%d-v%d)", kmsg.NameForKey(r.key), r.version, h.min, h.max)
	}
	body := kmsg.RequestForKey(r.key)
	body.SetVersion(r.version)
	rest := frame[8:]
	if len(rest) < 2 {
		return nil, errors.New("truncated request header")
	}
	idLen := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if idLen > 0 {
		if int(idLen) > len(rest) {
			return nil, errors.New("client id longer than the frame")
		}
		r.clientID = string(rest[:idLen])
		rest = rest[idLen:]
	}
	if body.IsFlexible() {
		var err error
		if rest, err = skipTags(rest); err != nil {
			return nil, fmt.Errorf("request header: %w", err)
		}
	}
	if err := body.ReadFrom(rest); err != nil {
		return nil, fmt.Errorf("decoding %s v%d: %w", kmsg.NameForKey(r.key), r.version, err)
	}
	r.body = body
	return r, nil
}

// skipTags skips a tagged-field section (KIP-482).
func skipTags(b []byte) ([]byte, error) {
	n, used := binary.Uvarint(b)
	if used <= 0 || n > uint64(len(b)) {
		return nil, errors.New("bad tagged fields")
	}
	b = b[used:]
	for i := uint64(0); i < n; i++ {
		if _, used = binary.Uvarint(b); used <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[used:]
		size, used := binary.Uvarint(b)
		if used <= 0 || size > uint64(len(b)-used) {
			return nil, errors.New("bad tag size")
		}
		b = b[used+int(size):]
	}
	return b, nil
}

// serve handles queued requests in order.
func (c *conn) serve() {
	for req := range c.reqs {
		err := c.handle(req)
		c.b.metrics.requestDone(req)
		releaseFrame(req)
		if err != nil {
			c.log.Info("closing connection", "api", kmsg.NameForKey(req.key), "err", err)
			c.close()
			for range c.reqs { // let the reader finish
				c.b.metrics.inFlight.Add(-1)
			}
			return
		}
	}
}

func (c *conn) handle(req *request) error {
	if req.version < 0 { // ApiVersions at an unknown version: answer v0
		resp := &kmsg.ApiVersionsResponse{Version: 0, ErrorCode: kerr.UnsupportedVersion.Code}
		fillApiKeys(resp)
		return c.write(req, resp)
	}
	resp, err := handlers[req.key].fn(c.b, req)
	if err != nil {
		return err
	}
	if resp == nil {
		return nil
	}
	return c.write(req, resp)
}

// write frames and sends one response: size, correlation id, the header's
// tagged fields for flexible versions (except ApiVersions, whose response
// header is always v0), then the body.
func (c *conn) write(req *request, resp kmsg.Response) error {
	resp.SetVersion(max(req.version, 0))
	b := append(c.out[:0], 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(req.correlationID))
	if resp.IsFlexible() && req.key != int16(kmsg.ApiVersions) {
		b = append(b, 0)
	}
	if fr, ok := resp.(*fetchResponse); ok {
		return c.writeFetch(b, fr)
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	c.out = b
	if cap(c.out) > 1<<20 {
		c.out = nil // do not pin a large buffer to an idle connection
	}
	_, err := c.nc.Write(b)
	return err
}
