package broker

// LeaveGroup, versions 0-5: classic members leave their group.
//
// v3 leaves several members at once, static members by instance id alone
// (KIP-345); v4 is flexible; v5 adds a reason (KIP-800).

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.LeaveGroup, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.LeaveGroupRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp, nil
	}
	return c.LeaveGroup(groupRequestContext(r), req), nil
}
