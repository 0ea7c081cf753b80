package broker

// JoinGroup, versions 0-9: the join phase of the classic rebalance
// protocol (internal/group does the work).
//
// v1 adds the rebalance timeout (KIP-62); v4 requires a member id
// (KIP-394: the first JoinGroup is answered MEMBER_ID_REQUIRED with one);
// v5 adds group.instance.id (static membership, KIP-345); v6 is flexible;
// v7 returns the protocol type; v8 adds a reason (KIP-800); v9 tells a
// restarted static leader to skip the assignment (KIP-814). Kafka 4.0
// dropped v0-v1; they are served for old clients. The response waits
// until the rebalance's join phase ends.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.JoinGroup, 0, 9, handleJoinGroup) }

func handleJoinGroup(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.JoinGroupRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.NotCoordinator.Code, -1, req.MemberID
		return resp, nil
	}
	ctx, cancel := b.doneContext()
	defer cancel()
	resp := c.JoinGroup(ctx, groupRequestContext(r), req)
	if resp == nil {
		return nil, errBrokerClosing
	}
	return resp, nil
}
