package broker

// ListGroups, versions 0-5: the groups this broker coordinates.
//
// v3 is flexible; v4 adds a state filter and each group's state (KIP-518);
// v5 a type filter and each group's type, classic or consumer (KIP-848).

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListGroups, 0, 5, handleListGroups) }

func handleListGroups(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListGroupsRequest)
	c := b.groups.coordinator()
	if c == nil {
		// No __consumer_offsets: no groups.
		return req.ResponseKind(), nil
	}
	return c.ListGroups(req), nil
}
