package group

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups serves DescribeGroups. A KIP-848 group is described by
// ConsumerGroupDescribe; here it is reported Dead, as Kafka does (with
// GROUP_ID_NOT_FOUND from v6, KIP-1043).
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		c.describeGroup(id, req.Version, &dg)
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeGroup(id string, version int16, dg *kmsg.DescribeGroupsResponseGroup) {
	if id == "" {
		dg.ErrorCode = kerr.InvalidGroupID.Code
		return
	}
	s, code := c.shardFor(id)
	if code != nil {
		dg.ErrorCode = code.Code
		return
	}
	defer s.mu.Unlock()
	g := s.classic[id]
	if g == nil {
		dg.State = stateDead.String()
		if version >= 6 {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " not found."
			if s.consumer[id] != nil {
				msg = "Group " + id + " is not a classic group."
			}
			dg.ErrorMessage = &msg
		}
		return
	}
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		dg.Protocol = g.protocolName
	}
	for _, m := range g.orderedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if stable {
			dm.ProtocolMetadata = m.metadata(g.protocolName)
			if m.assignment != nil {
				dm.MemberAssignment = m.assignment
			}
		}
		dg.Members = append(dg.Members, dm)
	}
}

// ListGroups serves ListGroups, with the state filter (v4+, KIP-518,
// case-insensitive) and the type filter (v5+, KIP-848).
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	states := map[string]bool{}
	for _, st := range req.StatesFilter {
		states[strings.ToLower(strings.TrimSpace(st))] = true
	}
	types := map[string]bool{}
	for _, t := range req.TypesFilter {
		types[strings.ToLower(strings.TrimSpace(t))] = true
	}
	keep := func(state, typ string) bool {
		return (len(states) == 0 || states[strings.ToLower(state)]) && (len(types) == 0 || types[typ])
	}
	for _, s := range c.shards {
		s.mu.Lock()
		switch s.status {
		case shardLoading:
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		case shardActive:
			for _, id := range s.groupIDs() {
				lg := kmsg.NewListGroupsResponseGroup()
				lg.Group = id
				if g := s.classic[id]; g != nil {
					lg.ProtocolType, lg.GroupState, lg.GroupType = g.protocolType, g.state.String(), "classic"
				} else {
					g := s.consumer[id]
					lg.ProtocolType, lg.GroupState, lg.GroupType = consumerProtocolType, g.state(), "consumer"
				}
				if keep(lg.GroupState, lg.GroupType) {
					resp.Groups = append(resp.Groups, lg)
				}
			}
		}
		s.mu.Unlock()
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return resp
}

// DeleteGroups serves DeleteGroups: an empty group is deleted with its
// committed offsets.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		if err := c.deleteGroup(id); err != nil {
			dg.ErrorCode = err.Code
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(id string) *kerr.Error {
	if id == "" {
		return kerr.InvalidGroupID
	}
	s, code := c.shardFor(id)
	if code != nil {
		return code
	}
	defer s.mu.Unlock()
	var recs []coordRecord
	switch g, cg := s.classic[id], s.consumer[id]; {
	case g != nil:
		switch g.state {
		case stateDead:
			return kerr.GroupIDNotFound
		case stateEmpty:
		default:
			return kerr.NonEmptyGroup
		}
	case cg != nil:
		if !cg.isEmpty() {
			return kerr.NonEmptyGroup
		}
	default:
		return kerr.GroupIDNotFound
	}
	for topic, parts := range s.offsets[id] {
		for p := range parts {
			recs = append(recs, offsetTombstone(id, topic, p))
		}
	}
	recs = append(recs, s.groupTombstones(id)...)
	if err := s.commit(recs); err != nil {
		return writeError(err)
	}
	s.c.logger.Info("deleted group", "group", id)
	return nil
}
