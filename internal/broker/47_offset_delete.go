package broker

// OffsetDelete, version 0 (KIP-496): deletes a group's committed offsets
// of topics the group does not consume (GROUP_SUBSCRIBED_TO_TOPIC for
// those it does); a classic group with members that is not a consumer
// group gets NON_EMPTY_GROUP.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetDelete, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.OffsetDeleteRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp, nil
	}
	return c.OffsetDelete(req), nil
}
