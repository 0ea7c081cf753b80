package kafka

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// coordinator finds and connects to a group's coordinator broker
// (FindCoordinator), for the group goroutine and for commits and offset
// fetches from the application's goroutines alike, or to a transactional
// id's transaction coordinator.
//
// Locks: mu is held during a lookup, so that concurrent callers share it;
// it is taken before client.mu and never while waiting on the group.
type coordinator struct {
	cl    *client
	group string // the group id, or the transactional id
	// keyType is FindCoordinator's key type: 0 for a group, 1 for a
	// transactional id.
	keyType int8

	mu   sync.Mutex
	addr string // REQUIRES: mu held; "" while unknown
	node Node   // REQUIRES: mu held; the coordinator last found
}

// lastNode returns the coordinator last found (ID -1 if none).
func (co *coordinator) lastNode() Node {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.addr == "" && co.node.Host == "" {
		return Node{ID: -1}
	}
	return co.node
}

// conn returns a connection to the coordinator, looking it up first if it
// is unknown. Errors are retriable unless the group is not allowed.
func (co *coordinator) conn(ctx context.Context) (*brokerConn, error) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.addr == "" {
		node, err := co.find(ctx)
		if err != nil {
			return nil, err
		}
		co.addr, co.node = net.JoinHostPort(node.Host, strconv.Itoa(int(node.Port))), node
	}
	conn, err := co.cl.conn(ctx, co.addr, connGroup)
	if err != nil {
		co.addr = ""
		return nil, err
	}
	return conn, nil
}

// invalidate forgets the coordinator after NOT_COORDINATOR,
// COORDINATOR_NOT_AVAILABLE or a network error, if conn is still its
// connection (or conn is nil).
func (co *coordinator) invalidate(conn *brokerConn) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if conn == nil || conn.addr == co.addr {
		co.addr = ""
	}
}

// find asks any broker where the group's coordinator is.
func (co *coordinator) find(ctx context.Context) (Node, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = co.keyType
	// Both layouts: kmsg writes the one of the version the broker takes
	// (v4 batches keys, KIP-699).
	req.CoordinatorKey = co.group
	req.CoordinatorKeys = []string{co.group}
	kresp, err := co.cl.requestAny(ctx, req)
	if err != nil {
		return Node{}, err
	}
	resp := kresp.(*kmsg.FindCoordinatorResponse)
	code, msg, id, host, port := resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port
	if len(resp.Coordinators) > 0 {
		c := resp.Coordinators[0]
		code, msg, id, host, port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
	}
	if err := brokerErr(code, msg); err != nil {
		return Node{}, err
	}
	return Node{ID: id, Host: host, Port: port}, nil
}

// coordinatorError reports whether a group error code means the
// coordinator moved or is not ready, so that the request should go to a
// freshly looked-up coordinator.
func coordinatorError(code int16) bool {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code:
		return true
	}
	return false
}

// groupRequest sends req to the coordinator with the timeout and retries
// what a moving or loading coordinator answers (Java's coordinator
// request futures), until ctx ends. errCode extracts the response's
// top-level error code. Other errors come back with the response for the
// caller to handle.
func (co *coordinator) groupRequest(ctx context.Context, req kmsg.Request, timeout time.Duration, backoff func(int) time.Duration, errCode func(kmsg.Response) int16) (kmsg.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := co.groupRequestOnce(ctx, req, timeout)
		if err == nil {
			code := errCode(resp)
			if !coordinatorError(code) && code != kerr.CoordinatorLoadInProgress.Code {
				return resp, nil
			}
			if coordinatorError(code) {
				co.invalidate(nil)
			}
			err = brokerErr(code, nil)
		}
		if ctx.Err() != nil || !Retriable(err) {
			return nil, err
		}
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return nil, err
		}
	}
}

// groupRequestOnce sends req to the coordinator once; a coordinator error
// in the response or a failed connection forgets the coordinator.
func (co *coordinator) groupRequestOnce(ctx context.Context, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	conn, err := co.conn(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := conn.requestTimeout(ctx, req, timeout)
	if err != nil {
		if ctx.Err() == nil {
			co.invalidate(conn)
		}
		return nil, err
	}
	return resp, nil
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
