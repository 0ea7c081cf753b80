package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The admin client's consumer-group calls. Each group's requests go to its
// coordinator, found with FindCoordinator and found again when it moves.

// GroupListing is a group as ListConsumerGroups sees it.
type GroupListing struct {
	GroupID      string
	ProtocolType string // "consumer" for consumer groups
	State        string // Stable, Empty, PreparingRebalance, ...
	Type         string // classic or consumer (KIP-848), if the broker says
}

// ListConsumerGroups lists the consumer groups of every broker.
func (a *Admin) ListConsumerGroups(ctx context.Context) ([]GroupListing, error) {
	found := map[string]GroupListing{}
	err := a.call(ctx, func(ctx context.Context) error {
		cl, err := a.cl.metadataFor(ctx, []string{}, false)
		if err != nil {
			return err
		}
		for _, n := range cl.Nodes() {
			conn, err := a.cl.conn(ctx, nodeAddr(&n), connAdmin)
			if err != nil {
				return err
			}
			kresp, err := conn.request(ctx, kmsg.NewPtrListGroupsRequest())
			if err != nil {
				return err
			}
			resp := kresp.(*kmsg.ListGroupsResponse)
			if err := brokerErr(resp.ErrorCode, nil); err != nil {
				return fmt.Errorf("listing the groups of broker %d: %w", n.ID, err)
			}
			for _, g := range resp.Groups {
				if g.ProtocolType == consumerProtocolType || g.ProtocolType == "" {
					found[g.Group] = GroupListing{GroupID: g.Group, ProtocolType: g.ProtocolType, State: g.GroupState, Type: g.GroupType}
				}
			}
		}
		return nil
	})
	out := make([]GroupListing, 0, len(found))
	for _, g := range found {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GroupID < out[j].GroupID })
	return out, err
}

// MemberDescription is one member of a group.
type MemberDescription struct {
	MemberID   string
	InstanceID string
	ClientID   string
	Host       string
	Assignment []TopicPartition
}

// GroupDescription describes a consumer group, or holds the error
// describing it.
type GroupDescription struct {
	GroupID string
	State   string
	// Type is "classic" or "consumer" (KIP-848).
	Type string
	// Assignor is the classic group's assignor (its protocol), or the
	// KIP-848 group's server assignor.
	Assignor string
	Members  []MemberDescription
	// Coordinator is the broker that answered for the group (ID -1 if
	// unknown).
	Coordinator Node
	Err         error
}

// groupAdmin runs a request at a group's coordinator, retrying while the
// coordinator moves or loads.
func (a *Admin) groupAdmin(ctx context.Context, group string, req kmsg.Request, code func(kmsg.Response) int16) (kmsg.Response, error) {
	return a.groupAdminAt(ctx, &coordinator{cl: a.cl, group: group}, req, code)
}

// groupAdminAt is groupAdmin through co, which then knows the
// coordinator that answered.
func (a *Admin) groupAdminAt(ctx context.Context, co *coordinator, req kmsg.Request, code func(kmsg.Response) int16) (kmsg.Response, error) {
	backoff := func(n int) time.Duration { return expBackoff(a.cfg.retryBackoff, a.cfg.retryBackoffM, n) }
	return co.groupRequest(ctx, req, a.cfg.requestTO, backoff, code)
}

// DescribeConsumerGroups describes groups: state, assignor and members
// with their assignments. KIP-848 groups are described with
// ConsumerGroupDescribe, classic ones with DescribeGroups.
func (a *Admin) DescribeConsumerGroups(ctx context.Context, groups ...string) ([]GroupDescription, error) {
	out := make([]GroupDescription, len(groups))
	var firstErr error
	for i, g := range groups {
		err := a.call(ctx, func(ctx context.Context) error {
			co := &coordinator{cl: a.cl, group: g}
			d, err := a.describeGroup(ctx, co, g)
			d.Coordinator = co.lastNode()
			out[i] = d
			return err
		})
		if err != nil {
			out[i] = GroupDescription{GroupID: g, Err: err}
			if firstErr == nil && !isBrokerError(err) {
				firstErr = err
			}
		}
	}
	return out, firstErr
}

func isBrokerError(err error) bool {
	_, ok := err.(*BrokerError)
	return ok
}

// describeGroup describes one group, trying KIP-848's description first.
func (a *Admin) describeGroup(ctx context.Context, co *coordinator, group string) (GroupDescription, error) {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	kresp, err := a.groupAdminAt(ctx, co, req, func(r kmsg.Response) int16 {
		if gs := r.(*kmsg.ConsumerGroupDescribeResponse).Groups; len(gs) > 0 {
			return gs[0].ErrorCode
		}
		return 0
	})
	if err == nil {
		if gs := kresp.(*kmsg.ConsumerGroupDescribeResponse).Groups; len(gs) > 0 && gs[0].ErrorCode == 0 {
			return a.consumerGroupDescription(ctx, &gs[0]), nil
		}
	} else if !isUnsupported(err) {
		return GroupDescription{}, err
	}
	// A classic group (the KIP-848 description says it does not know
	// it), or a broker without KIP-848.
	dreq := kmsg.NewPtrDescribeGroupsRequest()
	dreq.Groups = []string{group}
	kresp, err = a.groupAdminAt(ctx, co, dreq, func(r kmsg.Response) int16 {
		if gs := r.(*kmsg.DescribeGroupsResponse).Groups; len(gs) > 0 {
			return gs[0].ErrorCode
		}
		return 0
	})
	if err != nil {
		return GroupDescription{}, err
	}
	gs := kresp.(*kmsg.DescribeGroupsResponse).Groups
	if len(gs) == 0 {
		return GroupDescription{}, fmt.Errorf("%w: no description of group %s", ErrNetwork, group)
	}
	g := gs[0]
	if err := brokerErr(g.ErrorCode, g.ErrorMessage); err != nil {
		return GroupDescription{}, err
	}
	d := GroupDescription{GroupID: group, State: g.State, Type: "classic", Assignor: g.Protocol}
	for _, m := range g.Members {
		md := MemberDescription{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			md.InstanceID = *m.InstanceID
		}
		ma := kmsg.NewConsumerMemberAssignment()
		if len(m.MemberAssignment) > 0 && ma.ReadFrom(m.MemberAssignment) == nil {
			for _, t := range ma.Topics {
				for _, p := range t.Partitions {
					md.Assignment = append(md.Assignment, TopicPartition{t.Topic, p})
				}
			}
		}
		sortTPs(md.Assignment)
		d.Members = append(d.Members, md)
	}
	return d, nil
}

func isUnsupported(err error) bool { return errors.Is(err, ErrUnsupportedVersion) }

// consumerGroupDescription converts a KIP-848 description; topic names
// come with the assignments (or from the metadata, by id).
func (a *Admin) consumerGroupDescription(ctx context.Context, g *kmsg.ConsumerGroupDescribeResponseGroup) GroupDescription {
	d := GroupDescription{GroupID: g.Group, State: g.State, Type: "consumer", Assignor: g.AssignorName}
	var cl *Cluster
	for _, m := range g.Members {
		md := MemberDescription{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			md.InstanceID = *m.InstanceID
		}
		for _, t := range m.Assignment.TopicPartitions {
			name := t.Topic
			if name == "" {
				if cl == nil {
					cl, _ = a.cl.metadataFor(ctx, nil, false)
				}
				if cl != nil {
					name, _ = cl.topicByID(t.TopicID)
				}
			}
			for _, p := range t.Partitions {
				md.Assignment = append(md.Assignment, TopicPartition{name, p})
			}
		}
		sortTPs(md.Assignment)
		d.Members = append(d.Members, md)
	}
	return d
}

// DeleteConsumerGroups deletes groups without members, and their
// committed offsets; a group with members fails with kerr.NonEmptyGroup.
func (a *Admin) DeleteConsumerGroups(ctx context.Context, groups ...string) (map[string]error, error) {
	out := map[string]error{}
	var firstErr error
	for _, g := range groups {
		err := a.call(ctx, func(ctx context.Context) error {
			req := kmsg.NewPtrDeleteGroupsRequest()
			req.Groups = []string{g}
			kresp, err := a.groupAdmin(ctx, g, req, func(r kmsg.Response) int16 {
				if gs := r.(*kmsg.DeleteGroupsResponse).Groups; len(gs) > 0 {
					return gs[0].ErrorCode
				}
				return 0
			})
			if err != nil {
				return err
			}
			for _, rg := range kresp.(*kmsg.DeleteGroupsResponse).Groups {
				out[rg.Group] = brokerErr(rg.ErrorCode, rg.ErrorMessage)
			}
			return nil
		})
		if err != nil {
			out[g] = err
			if firstErr == nil && !isBrokerError(err) {
				firstErr = err
			}
		}
	}
	return out, firstErr
}

// ListConsumerGroupOffsets returns a group's committed offsets: of the
// partitions given, or of every partition if none are.
func (a *Admin) ListConsumerGroupOffsets(ctx context.Context, group string, partitions ...TopicPartition) (map[TopicPartition]OffsetAndMetadata, error) {
	var out map[TopicPartition]OffsetAndMetadata
	err := a.call(ctx, func(ctx context.Context) error {
		kresp, err := a.groupAdmin(ctx, group, offsetFetchRequest(group, partitions), offsetFetchCode)
		if err != nil {
			return err
		}
		offsets, unstable, err := parseOffsetFetch(kresp.(*kmsg.OffsetFetchResponse))
		if unstable {
			return wrapErr(ErrCoordinatorNotAvailable, "offsets of group %s have a transaction pending", group)
		}
		out = offsets
		return err
	})
	return out, err
}

// AlterConsumerGroupOffsets sets a group's committed offsets, as the
// consumer-groups tool's --reset-offsets does. The group must have no
// members (kerr.UnknownMemberID otherwise).
func (a *Admin) AlterConsumerGroupOffsets(ctx context.Context, group string, offsets map[TopicPartition]OffsetAndMetadata) (map[TopicPartition]error, error) {
	out := map[TopicPartition]error{}
	err := a.call(ctx, func(ctx context.Context) error {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation, req.RetentionTimeMillis = group, -1, -1
		req.Topics = commitTopics(offsets)
		kresp, err := a.groupAdmin(ctx, group, req, func(r kmsg.Response) int16 {
			for _, t := range r.(*kmsg.OffsetCommitResponse).Topics {
				for _, p := range t.Partitions {
					if coordinatorError(p.ErrorCode) || p.ErrorCode == kerr.CoordinatorLoadInProgress.Code {
						return p.ErrorCode
					}
				}
			}
			return 0
		})
		if err != nil {
			return err
		}
		for _, rt := range kresp.(*kmsg.OffsetCommitResponse).Topics {
			for _, rp := range rt.Partitions {
				out[TopicPartition{rt.Topic, rp.Partition}] = brokerErr(rp.ErrorCode, nil)
			}
		}
		return nil
	})
	return out, err
}

// DeleteConsumerGroupOffsets deletes a group's committed offsets of
// partitions; the group must not be reading them
// (kerr.GroupSubscribedToTopic otherwise).
func (a *Admin) DeleteConsumerGroupOffsets(ctx context.Context, group string, partitions ...TopicPartition) (map[TopicPartition]error, error) {
	out := map[TopicPartition]error{}
	err := a.call(ctx, func(ctx context.Context) error {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		eachTopic(partitions, func(topic string, parts []TopicPartition) {
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = topic
			for _, tp := range parts {
				p := kmsg.NewOffsetDeleteRequestTopicPartition()
				p.Partition = tp.Partition
				rt.Partitions = append(rt.Partitions, p)
			}
			req.Topics = append(req.Topics, rt)
		})
		kresp, err := a.groupAdmin(ctx, group, req, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).ErrorCode })
		if err != nil {
			return err
		}
		resp := kresp.(*kmsg.OffsetDeleteResponse)
		if err := brokerErr(resp.ErrorCode, nil); err != nil {
			return err
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				out[TopicPartition{rt.Topic, rp.Partition}] = brokerErr(rp.ErrorCode, nil)
			}
		}
		return nil
	})
	return out, err
}

// GroupLag is how far a group is behind on one partition.
type GroupLag struct {
	// Committed is the group's committed offset, -1 if none.
	Committed int64
	// End is the partition's high watermark.
	End int64
	// Lag is End - Committed, or End when nothing is committed.
	Lag int64
}

// ConsumerGroupLag computes a group's lag on every partition it has
// committed offsets for (the consumer-groups tool's --describe).
func (a *Admin) ConsumerGroupLag(ctx context.Context, group string) (map[TopicPartition]GroupLag, error) {
	committed, err := a.ListConsumerGroupOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	at := make(map[TopicPartition]int64, len(committed))
	for tp := range committed {
		at[tp] = -1
	}
	ends, err := a.ListOffsets(ctx, at)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]GroupLag, len(committed))
	for tp, om := range committed {
		end := ends[tp]
		out[tp] = GroupLag{Committed: om.Offset, End: end, Lag: max(0, end-om.Offset)}
	}
	return out, nil
}
