package broker

// brokerConn is a connection from this broker to another, for the replica
// fetchers: Kafka's framing with kmsg requests, one request at a time.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type brokerConn struct {
	nc       net.Conn
	br       *bufio.Reader
	clientID string
	corr     int32
	buf      []byte
	maxFrame int
}

// dialBroker connects to addr within timeout.
func dialBroker(addr, clientID string, timeout time.Duration, maxFrame int) (*brokerConn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return &brokerConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), clientID: clientID, maxFrame: maxFrame}, nil
}

func (c *brokerConn) close() { c.nc.Close() }

// roundTrip sends req (its version already set) and reads its response,
// both within timeout.
func (c *brokerConn) roundTrip(req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	c.corr++
	c.nc.SetDeadline(time.Now().Add(timeout))
	b := append(c.buf[:0], 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(c.corr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.clientID)))
	b = append(b, c.clientID...)
	if req.IsFlexible() {
		b = append(b, 0) // no tagged fields in the header
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	c.buf = b[:0]
	if _, err := c.nc.Write(b); err != nil {
		return nil, err
	}
	var sizeBuf [4]byte
	if _, err := io.ReadFull(c.br, sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int(int32(binary.BigEndian.Uint32(sizeBuf[:])))
	if size < 4 || size > c.maxFrame {
		return nil, fmt.Errorf("response frame of %d bytes outside [4, %d]", size, c.maxFrame)
	}
	frame := make([]byte, size)
	if _, err := io.ReadFull(c.br, frame); err != nil {
		return nil, err
	}
	if corr := int32(binary.BigEndian.Uint32(frame)); corr != c.corr {
		return nil, fmt.Errorf("response correlation id %d, expected %d", corr, c.corr)
	}
	body := frame[4:]
	if req.IsFlexible() {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, fmt.Errorf("response header: %w", err)
		}
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decoding %s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}
