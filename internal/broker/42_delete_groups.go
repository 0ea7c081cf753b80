package broker

// DeleteGroups, versions 0-2: empty groups are deleted with their
// committed offsets (KIP-229); a group with members gets NON_EMPTY_GROUP.
//
// v1 adds throttling; v2 is flexible.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteGroups, 0, 2, handleDeleteGroups) }

func handleDeleteGroups(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DeleteGroupsRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for _, g := range req.Groups {
			resp.Groups = append(resp.Groups, kmsg.DeleteGroupsResponseGroup{Group: g, ErrorCode: kerr.NotCoordinator.Code})
		}
		return resp, nil
	}
	return c.DeleteGroups(req), nil
}
