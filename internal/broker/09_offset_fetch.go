package broker

// OffsetFetch, versions 0-9: committed offsets.
//
// v2 adds a group error and fetching every offset with a null topic list;
// v5 returns leader epochs (KIP-320); v6 is flexible; v7 adds
// require_stable (KIP-447; with no transactions nothing is ever pending);
// v8 fetches several groups at once (KIP-709); v9 carries a KIP-848
// member id and epoch, checked when given. A partition without a
// committed offset gets offset -1.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetFetch, 0, 9, handleOffsetFetch) }

func handleOffsetFetch(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.OffsetFetchRequest)
	c := b.groups.coordinator()
	if c == nil {
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		if req.Version >= 8 {
			for _, g := range req.Groups {
				rg := kmsg.NewOffsetFetchResponseGroup()
				rg.Group, rg.ErrorCode = g.Group, kerr.NotCoordinator.Code
				resp.Groups = append(resp.Groups, rg)
			}
			return resp, nil
		}
		resp.ErrorCode = kerr.NotCoordinator.Code
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.ErrorCode = p, -1, kerr.NotCoordinator.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	return c.OffsetFetch(groupRequestContext(r), req), nil
}
