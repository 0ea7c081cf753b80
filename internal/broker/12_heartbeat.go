package broker

// Heartbeat, versions 0-4: a classic member is alive, and learns of a
// rebalance (REBALANCE_IN_PROGRESS).
//
// v3 adds group.instance.id (KIP-345); v4 is flexible.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Heartbeat, 0, 4, handleHeartbeat) }

func handleHeartbeat(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.HeartbeatRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp, nil
	}
	return c.Heartbeat(groupRequestContext(r), req), nil
}
