package kafka

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The admin client's calls about where partitions live: log directories,
// leader elections, partition reassignments (KIP-455), and the legacy
// whole-config AlterConfigs.

// The request versions of the admin calls of this file and of
// admin_txn.go join the client's table (conn.go), so that connections
// negotiate them; a broker without one of these keys fails the call with
// ErrUnsupportedVersion naming the API.
func init() {
	for k, v := range map[kmsg.Key][2]int16{
		// v0-v2 replace the whole config set; deprecated by KIP-339.
		kmsg.AlterConfigs: {0, 2},
		// v3 adds a top-level error code, v4 the directories' total and
		// usable bytes (KIP-827).
		kmsg.DescribeLogDirs: {0, 4},
		// v1 chooses the election type (KIP-460).
		kmsg.ElectLeaders: {0, 2},
		// v1 may refuse a change of replication factor (KIP-860).
		kmsg.AlterPartitionAssignments:  {0, 1},
		kmsg.ListPartitionReassignments: {0, 0},
		// KIP-664; ListTransactions v1 filters by duration (KIP-994).
		kmsg.DescribeProducers:    {0, 0},
		kmsg.DescribeTransactions: {0, 0},
		kmsg.ListTransactions:     {0, 1},
	} {
		clientVersions[int16(k)] = v
	}
}

// ReplicaInfo is one partition's replica in a log directory.
type ReplicaInfo struct {
	// Size is the replica's size on disk, in bytes.
	Size int64
	// OffsetLag is how far a future replica is behind the current one
	// (0 for a current replica).
	OffsetLag int64
	// IsFuture marks a replica being moved to this directory
	// (AlterReplicaLogDirs).
	IsFuture bool
}

// LogDirDescription is one log directory of a broker, or the error
// describing it (such as KAFKA_STORAGE_ERROR for an offline directory).
type LogDirDescription struct {
	Err      error
	Replicas map[TopicPartition]ReplicaInfo
	// TotalBytes and UsableBytes are the size and free space of the
	// directory's file system, -1 when the broker does not say
	// (DescribeLogDirs before v4).
	TotalBytes  int64
	UsableBytes int64
}

// BrokerLogDirs is a broker's log directories by path, or the error
// describing them.
type BrokerLogDirs struct {
	Dirs map[string]LogDirDescription
	Err  error
}

// DescribeLogDirs describes the log directories of brokers (of every
// broker if none are given): each directory's replicas with their size,
// offset lag and whether they are future replicas, and the directory's
// total and usable bytes when the broker gives them. A broker that is not
// in the cluster, or fails, has its own error; the call's error is the
// first failure that is not a broker's answer (such as
// ErrUnsupportedVersion).
func (a *Admin) DescribeLogDirs(ctx context.Context, brokers ...int32) (map[int32]BrokerLogDirs, error) {
	out := map[int32]BrokerLogDirs{}
	var cl *Cluster
	err := a.call(ctx, func(ctx context.Context) error {
		var err error
		cl, err = a.cl.metadataFor(ctx, []string{}, false)
		return err
	})
	if err != nil {
		return out, err
	}
	if len(brokers) == 0 {
		for _, n := range cl.Nodes() {
			brokers = append(brokers, n.ID)
		}
	}
	// The brokers are asked at once, so that a dead one, retried until
	// the call's time runs out, does not hold up the others.
	results := make([]BrokerLogDirs, len(brokers))
	errs := make([]error, len(brokers))
	var wg sync.WaitGroup
	for i, id := range brokers {
		if _, ok := cl.nodes[id]; !ok {
			results[i] = BrokerLogDirs{Err: fmt.Errorf("%w: broker %d is not in the cluster", ErrNetwork, id)}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.call(ctx, func(ctx context.Context) error {
				req := kmsg.NewPtrDescribeLogDirsRequest() // nil Topics: every partition
				kresp, err := a.requestTo(ctx, id, req)
				if err != nil {
					return err
				}
				results[i] = logDirsOf(kresp.(*kmsg.DescribeLogDirsResponse))
				return nil
			})
		}()
	}
	wg.Wait()
	var firstErr error
	for i, id := range brokers {
		if errs[i] != nil {
			results[i] = BrokerLogDirs{Err: errs[i]}
			if firstErr == nil {
				firstErr = errs[i]
			}
		}
		out[id] = results[i]
	}
	return out, firstErr
}

func logDirsOf(resp *kmsg.DescribeLogDirsResponse) BrokerLogDirs {
	if err := brokerErr(resp.ErrorCode, nil); err != nil {
		return BrokerLogDirs{Err: err}
	}
	res := BrokerLogDirs{Dirs: make(map[string]LogDirDescription, len(resp.Dirs))}
	for _, d := range resp.Dirs {
		ld := LogDirDescription{Err: brokerErr(d.ErrorCode, nil), Replicas: map[TopicPartition]ReplicaInfo{},
			TotalBytes: d.TotalBytes, UsableBytes: d.UsableBytes}
		if resp.Version < 4 {
			ld.TotalBytes, ld.UsableBytes = -1, -1
		}
		for _, t := range d.Topics {
			for _, p := range t.Partitions {
				ld.Replicas[TopicPartition{t.Topic, p.Partition}] = ReplicaInfo{Size: p.Size, OffsetLag: p.OffsetLag, IsFuture: p.IsFuture}
			}
		}
		res.Dirs[d.Dir] = ld
	}
	return res
}

// ElectionType is the kind of leader election ElectLeaders asks for
// (KIP-460).
type ElectionType int8

// Kafka's election types.
const (
	// ElectionPreferred moves leadership to the preferred replica (the
	// first of the partition's replicas) if it is live and in sync.
	ElectionPreferred ElectionType = 0
	// ElectionUnclean elects a leader for a partition without one, from
	// outside the ISR if need be: records only the old leader had are
	// lost.
	ElectionUnclean ElectionType = 1
)

func (t ElectionType) String() string {
	switch t {
	case ElectionPreferred:
		return "PREFERRED"
	case ElectionUnclean:
		return "UNCLEAN"
	}
	return fmt.Sprintf("ElectionType(%d)", int8(t))
}

// ElectLeaders runs leader elections for partitions, or for every
// partition if partitions is nil (the answer then leaves out the
// partitions that need none, as Kafka's does). Each partition has its own
// outcome: nil, or errors such as kerr.ElectionNotNeeded (the preferred
// replica leads already, or the partition has a leader),
// kerr.PreferredLeaderNotAvailable, kerr.EligibleLeadersNotAvailable or
// kerr.UnknownTopicOrPartition. An unclean election needs a broker with
// ElectLeaders v1 (Kafka 2.4).
func (a *Admin) ElectLeaders(ctx context.Context, electionType ElectionType, partitions []TopicPartition) (map[TopicPartition]error, error) {
	out := map[TopicPartition]error{}
	err := a.call(ctx, func(ctx context.Context) error {
		conn, err := a.controllerConn(ctx)
		if err != nil {
			return err
		}
		if v, ok := conn.version(int16(kmsg.ElectLeaders)); ok && v == 0 && electionType != ElectionPreferred {
			return wrapErr(ErrUnsupportedVersion, "broker %s supports only preferred elections (ElectLeaders v0)", conn.addr)
		}
		req := kmsg.NewPtrElectLeadersRequest()
		req.ElectionType = int8(electionType)
		req.TimeoutMillis = int32(a.cfg.requestTO / time.Millisecond)
		if partitions != nil {
			req.Topics = []kmsg.ElectLeadersRequestTopic{} // empty, not null: none
			eachTopic(partitions, func(topic string, parts []TopicPartition) {
				rt := kmsg.NewElectLeadersRequestTopic()
				rt.Topic = topic
				for _, tp := range parts {
					rt.Partitions = append(rt.Partitions, tp.Partition)
				}
				req.Topics = append(req.Topics, rt)
			})
		}
		kresp, err := conn.request(ctx, req)
		if err != nil {
			return err
		}
		resp := kresp.(*kmsg.ElectLeadersResponse)
		if err := brokerErr(resp.ErrorCode, nil); err != nil {
			return err
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				out[TopicPartition{rt.Topic, rp.Partition}] = brokerErr(rp.ErrorCode, rp.ErrorMessage)
			}
		}
		return nil
	})
	return out, err
}

// NewPartitionReassignment is the replicas a partition is to move to,
// the first being the preferred leader.
type NewPartitionReassignment struct {
	TargetReplicas []int32
}

// AlterPartitionReassignments starts, replaces or cancels the
// reassignments of partitions (KIP-455): a partition mapped to a
// NewPartitionReassignment moves to its target replicas, one mapped to
// nil has its reassignment in progress cancelled. Each partition has its
// own outcome: nil once the reassignment is recorded (the new replicas
// then catch up, and ListPartitionReassignments shows it until they
// have), or errors such as kerr.UnknownTopicOrPartition,
// kerr.InvalidReplicaAssignment (an empty target, a broker named twice or
// not in the cluster) or kerr.NoReassignmentInProgress (a cancellation
// with nothing to cancel).
func (a *Admin) AlterPartitionReassignments(ctx context.Context, reassignments map[TopicPartition]*NewPartitionReassignment) (map[TopicPartition]error, error) {
	out := map[TopicPartition]error{}
	err := a.call(ctx, func(ctx context.Context) error {
		conn, err := a.controllerConn(ctx)
		if err != nil {
			return err
		}
		req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		req.TimeoutMillis = int32(a.cfg.requestTO / time.Millisecond)
		var left []TopicPartition
		for _, tp := range keysOf(reassignments) {
			if _, done := out[tp]; !done {
				left = append(left, tp)
			}
		}
		eachTopic(left, func(topic string, parts []TopicPartition) {
			rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			rt.Topic = topic
			for _, tp := range parts {
				p := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
				p.Partition = tp.Partition
				if r := reassignments[tp]; r != nil {
					// Non-nil, even when empty: an empty list is a
					// target (which the broker refuses), not a
					// cancellation.
					p.Replicas = append([]int32{}, r.TargetReplicas...)
				}
				rt.Partitions = append(rt.Partitions, p)
			}
			req.Topics = append(req.Topics, rt)
		})
		kresp, err := conn.request(ctx, req)
		if err != nil {
			return err
		}
		resp := kresp.(*kmsg.AlterPartitionAssignmentsResponse)
		if retryCode(resp.ErrorCode) {
			return brokerErr(resp.ErrorCode, resp.ErrorMessage)
		}
		top := brokerErr(resp.ErrorCode, resp.ErrorMessage)
		var retry error
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				tp := TopicPartition{rt.Topic, rp.Partition}
				if retryCode(rp.ErrorCode) {
					retry = brokerErr(rp.ErrorCode, rp.ErrorMessage)
					continue
				}
				out[tp] = brokerErr(rp.ErrorCode, rp.ErrorMessage)
			}
		}
		if top != nil {
			// A top-level error (such as CLUSTER_AUTHORIZATION_FAILED)
			// is every partition's.
			for _, tp := range left {
				out[tp] = top
			}
		}
		return retry
	})
	return out, err
}

// PartitionReassignment is a reassignment in progress.
type PartitionReassignment struct {
	// Replicas are the partition's replicas now: the target followed by
	// the replicas being removed.
	Replicas []int32
	// AddingReplicas are the target's replicas still catching up.
	AddingReplicas []int32
	// RemovingReplicas are the replicas leaving once they have.
	RemovingReplicas []int32
}

// ListPartitionReassignments lists the reassignments in progress of
// partitions, or of every partition if none are given. Partitions without
// one are left out.
func (a *Admin) ListPartitionReassignments(ctx context.Context, partitions ...TopicPartition) (map[TopicPartition]PartitionReassignment, error) {
	out := map[TopicPartition]PartitionReassignment{}
	err := a.call(ctx, func(ctx context.Context) error {
		conn, err := a.controllerConn(ctx)
		if err != nil {
			return err
		}
		req := kmsg.NewPtrListPartitionReassignmentsRequest()
		req.TimeoutMillis = int32(a.cfg.requestTO / time.Millisecond)
		if len(partitions) > 0 {
			eachTopic(partitions, func(topic string, parts []TopicPartition) {
				rt := kmsg.NewListPartitionReassignmentsRequestTopic()
				rt.Topic = topic
				for _, tp := range parts {
					rt.Partitions = append(rt.Partitions, tp.Partition)
				}
				req.Topics = append(req.Topics, rt)
			})
		}
		kresp, err := conn.request(ctx, req)
		if err != nil {
			return err
		}
		resp := kresp.(*kmsg.ListPartitionReassignmentsResponse)
		if err := brokerErr(resp.ErrorCode, resp.ErrorMessage); err != nil {
			return err
		}
		clear(out)
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				out[TopicPartition{rt.Topic, rp.Partition}] = PartitionReassignment{
					Replicas: rp.Replicas, AddingReplicas: rp.AddingReplicas, RemovingReplicas: rp.RemovingReplicas}
			}
		}
		return nil
	})
	return out, err
}

// AlterConfigs replaces the whole configuration of resources: the
// settings given become the resource's overrides, and every override left
// out goes back to its default (Java's deprecated alterConfigs, KIP-133);
// with validateOnly nothing changes. A bad setting or value fails the
// resource with kerr.InvalidConfig or kerr.InvalidRequest.
//
// Deprecated: IncrementalAlterConfigs changes only the settings named,
// so concurrent changes of other settings are not lost.
func (a *Admin) AlterConfigs(ctx context.Context, validateOnly bool, configs map[ConfigResource]map[string]string) (map[ConfigResource]error, error) {
	out := map[ConfigResource]error{}
	resources := make([]ConfigResource, 0, len(configs))
	for r := range configs {
		resources = append(resources, r)
	}
	sort.Slice(resources, func(i, j int) bool {
		if resources[i].Type != resources[j].Type {
			return resources[i].Type < resources[j].Type
		}
		return resources[i].Name < resources[j].Name
	})
	done := func(r ConfigResource) bool { _, ok := out[r]; return ok }
	build := func(rs []ConfigResource) kmsg.Request {
		req := kmsg.NewPtrAlterConfigsRequest()
		req.ValidateOnly = validateOnly
		for _, r := range rs {
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(r.Type), r.Name
			for _, name := range sortedKeys(configs[r]) {
				c := kmsg.NewAlterConfigsRequestResourceConfig()
				c.Name, c.Value = name, kmsg.StringPtr(configs[r][name])
				rr.Configs = append(rr.Configs, c)
			}
			req.Resources = append(req.Resources, rr)
		}
		return req
	}
	err := a.call(ctx, func(ctx context.Context) error {
		var retry error
		err := a.perBroker(ctx, resources, done, build, func(kresp kmsg.Response) {
			for _, rr := range kresp.(*kmsg.AlterConfigsResponse).Resources {
				if retryCode(rr.ErrorCode) {
					retry = brokerErr(rr.ErrorCode, rr.ErrorMessage)
					continue
				}
				out[ConfigResource{ConfigResourceType(rr.ResourceType), rr.ResourceName}] = brokerErr(rr.ErrorCode, rr.ErrorMessage)
			}
		})
		if err != nil {
			return err
		}
		return retry
	})
	return out, err
}
