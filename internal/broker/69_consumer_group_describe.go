package broker

// ConsumerGroupDescribe, versions 0-1: KIP-848 groups, their epochs,
// assignor and members with their current and target assignments.
//
// v1 adds each member's type (KIP-1099); authorized operations are
// reported as not requested, since no authorizer runs.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ConsumerGroupDescribe, 0, 1, handleConsumerGroupDescribe) }

func handleConsumerGroupDescribe(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ConsumerGroupDescribeRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group, dg.ErrorCode = g, kerr.NotCoordinator.Code
			resp.Groups = append(resp.Groups, dg)
		}
		return resp, nil
	}
	return c.ConsumerGroupDescribe(req), nil
}
