package broker

// ConsumerGroupHeartbeat, versions 0-1: the KIP-848 consumer protocol.
// Members heartbeat their subscription and the partitions they own; the
// coordinator computes the assignment (uniform or range assignor) and
// moves each member to it, revoking partitions before another member gets
// them.
//
// v1 makes the client generate its member id (KIP-1082) and adds
// subscription regular expressions.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ConsumerGroupHeartbeat, 0, 1, handleConsumerGroupHeartbeat) }

func handleConsumerGroupHeartbeat(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ConsumerGroupHeartbeatRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp, nil
	}
	return c.ConsumerGroupHeartbeat(groupRequestContext(r), req), nil
}
