package broker

// DescribeGroups, versions 0-6: classic groups, their state, protocol and
// members (with metadata and assignment when Stable).
//
// v1 adds throttling; v3 authorized operations (reported as not requested:
// no authorizer runs); v4 instance ids (KIP-345); v5 is flexible; v6
// answers GROUP_ID_NOT_FOUND with a message for a group that does not
// exist or is a KIP-848 group (KIP-1043), which earlier versions report as
// Dead with no error.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeGroups, 0, 6, handleDescribeGroups) }

func handleDescribeGroups(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeGroupsRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode = g, kerr.NotCoordinator.Code
			resp.Groups = append(resp.Groups, dg)
		}
		return resp, nil
	}
	return c.DescribeGroups(req), nil
}
