package broker

// SyncGroup, versions 0-5: the leader hands the group's assignment to the
// coordinator and every member gets its own.
//
// v3 adds group.instance.id (KIP-345); v4 is flexible; v5 adds the
// protocol type and name, checked against the group's (KIP-559). A
// follower's response waits for the leader's assignment.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.SyncGroup, 0, 5, handleSyncGroup) }

func handleSyncGroup(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.SyncGroupRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp, nil
	}
	ctx, cancel := b.doneContext()
	defer cancel()
	resp := c.SyncGroup(ctx, groupRequestContext(r), req)
	if resp == nil {
		return nil, errBrokerClosing
	}
	return resp, nil
}
