package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// clientVersions are the request versions this client implements, by API
// key. A connection uses, per key, the highest version both it and the
// broker support (ApiVersions, KIP-35).
var clientVersions = map[int16][2]int16{
	int16(kmsg.ApiVersions): {0, 4},
	// v10 returns topic ids (KIP-516), which KIP-848 assignments use;
	// v13 (KIP-1102) adds nothing a client needs.
	int16(kmsg.Metadata): {1, 12},
	// v3 is the first with record batches (magic 2); v13 names topics by
	// id only.
	int16(kmsg.Produce): {3, 12},
	// v3+ can bump the epoch of an existing producer id (KIP-360).
	int16(kmsg.InitProducerID): {0, 4},
	// Transactions, in the protocol of KIP-98 (transactions v1): v4 of
	// AddPartitionsToTxn is for brokers only, and the later versions of the
	// others belong to KIP-890's transactions v2. TxnOffsetCommit v3 carries
	// the consumer's generation and member id (KIP-447).
	int16(kmsg.AddPartitionsToTxn): {0, 3},
	int16(kmsg.AddOffsetsToTxn):    {0, 3},
	int16(kmsg.EndTxn):             {0, 3},
	int16(kmsg.TxnOffsetCommit):    {0, 3},

	// The consumer's. Fetch v4 brings the isolation level and aborted
	// transactions (KIP-98), v7 fetch sessions (KIP-227), v9 the current
	// leader epoch (KIP-320), v12 the diverging epoch; v13 names topics by
	// id only (KIP-516); v15 moves the replica id out of consumers'
	// requests, v16 adds the new leader to errors, v17 a follower's log
	// directory, none of which a consumer sends or needs.
	int16(kmsg.Fetch): {4, 17},
	// v4 adds the current leader epoch; v7 the max-timestamp lookup.
	int16(kmsg.ListOffsets):          {1, 8},
	int16(kmsg.OffsetForLeaderEpoch): {2, 4},
	// v4 batches keys (KIP-699).
	int16(kmsg.FindCoordinator): {0, 6},
	// v4 needs a member id first (KIP-394), v5 static membership (KIP-345).
	int16(kmsg.JoinGroup):  {0, 9},
	int16(kmsg.SyncGroup):  {0, 5},
	int16(kmsg.Heartbeat):  {0, 4},
	int16(kmsg.LeaveGroup): {0, 5},
	// v9 carries a KIP-848 member epoch.
	int16(kmsg.OffsetCommit): {2, 9},
	int16(kmsg.OffsetFetch):  {1, 9},
	// KIP-848; v1 has the client choose its member id (KIP-1082).
	int16(kmsg.ConsumerGroupHeartbeat): {0, 1},

	// The admin client's. CreateTopics v5 returns the topic's settings,
	// v7 its id; DeleteTopics v6 takes ids too.
	int16(kmsg.CreateTopics):            {2, 7},
	int16(kmsg.DeleteTopics):            {1, 6},
	int16(kmsg.CreatePartitions):        {0, 3},
	int16(kmsg.DescribeConfigs):         {1, 4},
	int16(kmsg.IncrementalAlterConfigs): {0, 1},
	int16(kmsg.DescribeCluster):         {0, 1},
	int16(kmsg.DeleteRecords):           {0, 2},
	// v4 filters by state, v5 by type (KIP-848).
	int16(kmsg.ListGroups):            {0, 5},
	int16(kmsg.DescribeGroups):        {0, 5},
	int16(kmsg.DeleteGroups):          {0, 2},
	int16(kmsg.OffsetDelete):          {0, 0},
	int16(kmsg.ConsumerGroupDescribe): {0, 1},
}

// Client software name and version sent in ApiVersions v3+ (KIP-511).
const (
	clientSoftwareName    = "samsa-go"
	clientSoftwareVersion = "0.1.0"
)

// maxResponseBytes bounds the size of one response frame, so a corrupt
// length prefix cannot make us allocate gigabytes.
const maxResponseBytes = 256 << 20

// connOptions configure a broker connection.
type connOptions struct {
	clientID       string
	dial           func(ctx context.Context, network, addr string) (net.Conn, error)
	setupTimeout   time.Duration // socket.connection.setup.timeout.ms
	requestTimeout time.Duration // request.timeout.ms
	sendBuffer     int           // send.buffer.bytes, -1 = OS default
	receiveBuffer  int           // receive.buffer.bytes, -1 = OS default
	maxIdle        time.Duration // connections.max.idle.ms
}

// pendingReq is a request written to the socket whose response has not
// been read yet.
type pendingReq struct {
	corr     int32
	req      kmsg.Request
	deadline time.Time
	cb       func(kmsg.Response, error)
}

// brokerConn is one TCP connection to a broker. Requests are pipelined:
// any number may be written before their responses arrive, and Kafka
// answers them in order on a connection, so responses are matched to the
// oldest pending request and checked by correlation id. Callers bound the
// pipeline depth (max.in.flight.requests.per.connection for produce).
//
// Goroutines: one reader, started by dialConn, which exits when the
// connection dies. Locks: wmu (writes) is taken before mu; mu is a leaf.
type brokerConn struct {
	addr string
	nc   net.Conn
	opts connOptions
	fmtr *kmsg.RequestFormatter

	// versions holds the negotiated version per API key; it is written
	// during the handshake, before the connection is shared, and only read
	// after.
	versions map[int16]int16

	wmu  sync.Mutex // serializes correlation ids and socket writes
	corr int32
	wbuf []byte

	mu      sync.Mutex
	pending []*pendingReq // REQUIRES: mu held
	err     error         // REQUIRES: mu held; non-nil once dead
	lastUse time.Time     // REQUIRES: mu held

	notify     chan struct{} // cap 1: pending grew or the connection died
	readerDone chan struct{}
}

// dialConn connects to addr and negotiates API versions.
func dialConn(ctx context.Context, addr string, o connOptions) (*brokerConn, error) {
	dctx := ctx
	if o.setupTimeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, o.setupTimeout)
		defer cancel()
	}
	nc, err := o.dial(dctx, "tcp", addr)
	if err != nil {
		return nil, wrapErr(ErrNetwork, "connecting to %s: %v", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		// send.buffer.bytes / receive.buffer.bytes; -1 keeps the OS default.
		if o.sendBuffer >= 0 {
			_ = tc.SetWriteBuffer(o.sendBuffer)
		}
		if o.receiveBuffer >= 0 {
			_ = tc.SetReadBuffer(o.receiveBuffer)
		}
	}
	c := &brokerConn{
		addr:       addr,
		nc:         nc,
		opts:       o,
		fmtr:       kmsg.NewRequestFormatter(kmsg.FormatterClientID(o.clientID)),
		versions:   map[int16]int16{int16(kmsg.ApiVersions): clientVersions[int16(kmsg.ApiVersions)][1]},
		lastUse:    time.Now(),
		notify:     make(chan struct{}, 1),
		readerDone: make(chan struct{}),
	}
	go c.readLoop()
	if err := c.handshake(dctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// handshake negotiates versions with ApiVersions. A broker that does not
// know our ApiVersions version answers with a v0 response listing its own
// range (KIP-511), and we retry with the highest it supports.
func (c *brokerConn) handshake(ctx context.Context) error {
	for attempt := 0; attempt < 2; attempt++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName = clientSoftwareName
		req.ClientSoftwareVersion = clientSoftwareVersion
		kresp, err := c.request(ctx, req)
		if err != nil {
			return err
		}
		resp := kresp.(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode == 35 { // UNSUPPORTED_VERSION
			for _, k := range resp.ApiKeys {
				if k.ApiKey == int16(kmsg.ApiVersions) {
					c.versions[int16(kmsg.ApiVersions)] = min(k.MaxVersion, clientVersions[int16(kmsg.ApiVersions)][1])
				}
			}
			continue
		}
		if err := brokerErr(resp.ErrorCode, nil); err != nil {
			return fmt.Errorf("ApiVersions to %s: %w", c.addr, err)
		}
		versions := map[int16]int16{}
		for _, k := range resp.ApiKeys {
			cv, ok := clientVersions[k.ApiKey]
			if !ok {
				continue
			}
			v := min(cv[1], k.MaxVersion)
			if v >= max(cv[0], k.MinVersion) {
				versions[k.ApiKey] = v
			}
		}
		if _, ok := versions[int16(kmsg.ApiVersions)]; !ok {
			versions[int16(kmsg.ApiVersions)] = 0
		}
		c.versions = versions
		return nil
	}
	return wrapErr(ErrUnsupportedVersion, "broker %s rejected every ApiVersions version", c.addr)
}

// version returns the negotiated version of an API, or false if the broker
// and this client share none.
func (c *brokerConn) version(key int16) (int16, bool) {
	v, ok := c.versions[key]
	return v, ok
}

// alive reports whether the connection can take requests.
func (c *brokerConn) alive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil
}

// send writes req and arranges for cb to get its response. A nil return
// means cb will be called exactly once, from another goroutine or, if the
// connection dies during the write, from this one. With noResponse (produce
// with acks=0, which the broker never answers) cb is called with (nil, nil)
// once the request is written. An error return means the request was not
// sent and cb will not be called.
func (c *brokerConn) send(req kmsg.Request, noResponse bool, cb func(kmsg.Response, error)) error {
	return c.sendTimeout(req, noResponse, c.opts.requestTimeout, cb)
}

// sendTimeout is send with a response timeout other than
// request.timeout.ms: a JoinGroup waits for the whole rebalance, a Fetch
// for fetch.max.wait.ms on top of the request's own time.
func (c *brokerConn) sendTimeout(req kmsg.Request, noResponse bool, timeout time.Duration, cb func(kmsg.Response, error)) error {
	v, ok := c.version(req.Key())
	if !ok {
		return wrapErr(ErrUnsupportedVersion, "broker %s does not support %s at versions %d-%d",
			c.addr, kmsg.NameForKey(req.Key()), clientVersions[req.Key()][0], clientVersions[req.Key()][1])
	}
	req.SetVersion(v)
	if t, ok := req.(interface {
		kmsg.TimeoutRequest
		kmsg.SetTimeoutRequest
	}); ok && t.Timeout() == 0 {
		t.SetTimeout(int32(c.opts.requestTimeout / time.Millisecond))
	}

	c.wmu.Lock()
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		c.wmu.Unlock()
		return err
	}
	c.corr++
	corr := c.corr
	now := time.Now()
	c.lastUse = now
	if !noResponse {
		c.pending = append(c.pending, &pendingReq{corr: corr, req: req, deadline: now.Add(timeout), cb: cb})
	}
	c.mu.Unlock()
	if !noResponse {
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}

	_ = c.nc.SetWriteDeadline(now.Add(c.opts.requestTimeout))
	var err error
	if pr, ok := req.(*produceRequest); ok {
		err = c.writeProduce(pr, corr)
	} else {
		buf := c.fmtr.AppendRequest(c.wbuf[:0], req, corr)
		_, err = c.nc.Write(buf)
		if cap(buf) <= 1<<20 {
			c.wbuf = buf[:0]
		}
	}
	c.wmu.Unlock()
	if err != nil {
		err = wrapErr(ErrNetwork, "writing %s to %s: %v", kmsg.NameForKey(req.Key()), c.addr, err)
		c.fail(err)
		if noResponse {
			return err
		}
		return nil
	}
	if noResponse {
		cb(nil, nil)
	}
	return nil
}

// produceRequest is a produce request whose record batches are written
// from their own buffers, never copied into the request's: the embedded
// kmsg request carries the version and decodes the response, topics the
// contents (which kmsg's Topics would duplicate).
type produceRequest struct {
	*kmsg.ProduceRequest
	topics []produceTopic
}

// writeProduce writes a produce request with one vectored write (writev)
// of its encoded fields and batches. On a connection that is not a plain
// TCP connection (a custom dialer's), the frame is assembled and written
// at once instead, as other requests are.
// REQUIRES: c.wmu held.
func (c *brokerConn) writeProduce(pr *produceRequest, corr int32) error {
	segs, scratch := produceSegments(c.wbuf[:0], pr.Version, corr, c.opts.clientID, pr.TransactionID, pr.Acks, pr.TimeoutMillis, pr.topics)
	if cap(scratch) <= 1<<20 {
		c.wbuf = scratch[:0]
	}
	if _, ok := c.nc.(*net.TCPConn); ok {
		bufs := net.Buffers(segs)
		_, err := bufs.WriteTo(c.nc)
		return err
	}
	size := 0
	for _, s := range segs {
		size += len(s)
	}
	frame := make([]byte, 0, size)
	for _, s := range segs {
		frame = append(frame, s...)
	}
	_, err := c.nc.Write(frame)
	return err
}

// request sends req and waits for its response or ctx.
func (c *brokerConn) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return c.requestTimeout(ctx, req, c.opts.requestTimeout)
}

// requestTimeout is request with a response timeout other than
// request.timeout.ms (see sendTimeout).
func (c *brokerConn) requestTimeout(ctx context.Context, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	type result struct {
		resp kmsg.Response
		err  error
	}
	ch := make(chan result, 1)
	if err := c.sendTimeout(req, false, timeout, func(r kmsg.Response, err error) { ch <- result{r, err} }); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-ctx.Done():
		// The response will still be read and dropped; the connection
		// stays usable.
		return nil, ctx.Err()
	}
}

// readLoop reads responses in order until the connection dies.
func (c *brokerConn) readLoop() {
	defer close(c.readerDone)
	var sizeBuf [4]byte
	for {
		head, ok := c.waitPending()
		if !ok {
			return
		}
		_ = c.nc.SetReadDeadline(head.deadline)
		if _, err := io.ReadFull(c.nc, sizeBuf[:]); err != nil {
			c.fail(c.readErr(head, err))
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 4 || size > maxResponseBytes {
			c.fail(wrapErr(ErrNetwork, "response from %s has invalid size %d", c.addr, size))
			return
		}
		frame := make([]byte, size)
		if _, err := io.ReadFull(c.nc, frame); err != nil {
			c.fail(c.readErr(head, err))
			return
		}
		if corr := int32(binary.BigEndian.Uint32(frame)); corr != head.corr {
			c.fail(wrapErr(ErrNetwork, "response from %s has correlation id %d, expected %d", c.addr, corr, head.corr))
			return
		}
		c.mu.Lock()
		if c.err != nil || len(c.pending) == 0 || c.pending[0] != head {
			// The connection failed meanwhile (a write error, close),
			// and fail already gave every pending request its outcome.
			c.mu.Unlock()
			return
		}
		c.pending = c.pending[1:]
		c.lastUse = time.Now()
		c.mu.Unlock()
		resp, err := decodeResponse(head.req, frame[4:])
		head.cb(resp, err)
	}
}

func (c *brokerConn) readErr(head *pendingReq, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return wrapErr(ErrTimeout, "no response to %s from %s within request.timeout.ms (%v)",
			kmsg.NameForKey(head.req.Key()), c.addr, c.opts.requestTimeout)
	}
	return wrapErr(ErrNetwork, "reading from %s: %v", c.addr, err)
}

// waitPending waits until a request is pending and returns the oldest. It
// closes the connection after connections.max.idle.ms without requests.
func (c *brokerConn) waitPending() (*pendingReq, bool) {
	var idle *time.Timer
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for {
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			return nil, false
		}
		if len(c.pending) > 0 {
			head := c.pending[0]
			c.mu.Unlock()
			return head, true
		}
		idleFor := time.Since(c.lastUse)
		c.mu.Unlock()

		var idleC <-chan time.Time
		if c.opts.maxIdle > 0 {
			if idleFor >= c.opts.maxIdle {
				c.fail(wrapErr(ErrNetwork, "connection to %s idle for connections.max.idle.ms", c.addr))
				return nil, false
			}
			if idle == nil {
				idle = time.NewTimer(c.opts.maxIdle - idleFor)
			} else {
				idle.Reset(c.opts.maxIdle - idleFor)
			}
			idleC = idle.C
		}
		select {
		case <-c.notify:
		case <-idleC:
		}
	}
}

// fail kills the connection and fails every pending request with err.
func (c *brokerConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pend := c.pending
	c.pending = nil
	c.mu.Unlock()
	_ = c.nc.Close()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	for _, p := range pend {
		p.cb(nil, err)
	}
}

// close kills the connection and waits for its reader.
func (c *brokerConn) close() {
	c.fail(wrapErr(ErrNetwork, "connection to %s closed", c.addr))
	<-c.readerDone
}

// decodeResponse parses a response body (after the correlation id).
func decodeResponse(req kmsg.Request, body []byte) (kmsg.Response, error) {
	resp := req.ResponseKind()
	// Flexible responses carry tagged fields in their header, except
	// ApiVersions, whose response header is always v0 so that a client can
	// read it before it knows the broker's versions.
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	err := resp.ReadFrom(body)
	if resp.Key() == int16(kmsg.ApiVersions) {
		// A broker that does not support our version answers with v0.
		if av := resp.(*kmsg.ApiVersionsResponse); err != nil || av.ErrorCode == 35 {
			v0 := kmsg.NewPtrApiVersionsResponse()
			v0.Version = 0
			if err0 := v0.ReadFrom(body); err0 == nil {
				return v0, nil
			}
		}
	}
	if err != nil {
		return nil, wrapErr(ErrNetwork, "decoding %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

// skipTags skips a tagged-field section: a count, then (tag, size, bytes)
// triples, all unsigned varints.
func skipTags(b []byte) ([]byte, error) {
	n, used := binary.Uvarint(b)
	if used <= 0 {
		return nil, wrapErr(ErrNetwork, "bad tagged fields in response header")
	}
	b = b[used:]
	for ; n > 0; n-- {
		if _, used = binary.Uvarint(b); used <= 0 {
			return nil, wrapErr(ErrNetwork, "bad tagged field in response header")
		}
		b = b[used:]
		size, used := binary.Uvarint(b)
		if used <= 0 || size > uint64(len(b)-used) {
			return nil, wrapErr(ErrNetwork, "bad tagged field in response header")
		}
		b = b[used+int(size):]
	}
	return b, nil
}
