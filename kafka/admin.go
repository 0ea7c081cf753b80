package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Admin manages topics, configs, consumer groups and records (Java's
// AdminClient). Every call takes a context, returns per-resource results
// with their own errors, and an error of its own when the call as a whole
// failed. Retriable failures (a broker or controller moving, a
// coordinator loading) are retried until the context or
// default.api.timeout.ms ends. An Admin is safe for concurrent use.
type Admin struct {
	cfg    *adminConfig
	log    *slog.Logger
	cl     *client
	closed atomic.Bool
}

// adminDefs is every admin setting of the Java client (4.x) this client
// has, with Java's default and validation.
var adminDefs = defsByName(commonDefs(), []*propDef{
	{name: "receive.buffer.bytes", typ: typeInt, def: "65536", valid: atLeast(-1)},
	{name: "connections.max.idle.ms", typ: typeLong, def: "300000"},
	{name: "default.api.timeout.ms", typ: typeInt, def: "60000", valid: atLeast(0)},
	{name: "retries", typ: typeInt, def: "2147483647", valid: between(0, maxInt32)},
})

// AdminConfigNames returns the names of every setting the admin client
// accepts, sorted.
func AdminConfigNames() []string { return sortedNames(adminDefs) }

// adminConfig is a validated admin Config.
type adminConfig struct {
	netConfig
	apiTimeout time.Duration
	retries    int
}

// adminSeq numbers admin clients without a client.id.
var adminSeq atomic.Int64

// NewAdmin validates cfg (Java's admin property names and defaults) and
// makes an admin client. Nothing is sent until the first call, except a
// metadata request to learn the cluster.
func NewAdmin(cfg Config, opts ...Option) (*Admin, error) {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	if o.partitioner != nil || o.interceptors != nil || o.consumerICs != nil || o.assignors != nil {
		return nil, configErr("interceptor.classes", "", "partitioners, interceptors and assignors do not apply to the admin client")
	}
	notes, err := checkSettings(cfg, adminDefs, "admin", nil)
	if err != nil {
		return nil, err
	}
	s := settings{cfg, adminDefs}
	ac := &adminConfig{netConfig: s.net(), apiTimeout: s.ms("default.api.timeout.ms"), retries: int(s.i64("retries"))}
	ac.autoCreateTopics = false
	ac.metadataMaxIdle = s.ms("metadata.max.age.ms")
	if v := s.get("interceptor.classes"); v != "" {
		return nil, configErr("interceptor.classes", v, "the admin client has no interceptors")
	}
	if ac.clientID == "" {
		ac.clientID = fmt.Sprintf("adminclient-%d", adminSeq.Add(1))
	}
	log := o.logger
	if log == nil {
		log = slog.Default()
	}
	for _, n := range notes {
		log.Info("kafka: " + n)
	}
	return &Admin{cfg: ac, log: log, cl: newClient(&ac.netConfig, log, o.dial, ErrAdminClosed)}, nil
}

// Close closes the connections. Calls in progress fail with
// ErrAdminClosed.
func (a *Admin) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	a.cl.close()
	return nil
}

// call runs fn, retrying what it reports as retriable with backoff until
// it succeeds, fails otherwise, the retries setting runs out, or ctx (or
// default.api.timeout.ms) ends.
func (a *Admin) call(ctx context.Context, fn func(ctx context.Context) error) error {
	if a.closed.Load() {
		return wrapErr(ErrAdminClosed, "the admin client is closed")
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.apiTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil || !Retriable(err) || attempt >= a.cfg.retries {
			return err
		}
		a.log.Debug("kafka: admin call failed, retrying", "err", err)
		if serr := sleepCtx(ctx, expBackoff(a.cfg.retryBackoff, a.cfg.retryBackoffM, attempt+1)); serr != nil {
			return fmt.Errorf("%w: gave up after %d attempts (default.api.timeout.ms is %v): %w", ErrTimeout, attempt+1, a.cfg.apiTimeout, err)
		}
	}
}

// controllerConn connects to the controller, which creates and deletes
// topics and partitions.
func (a *Admin) controllerConn(ctx context.Context) (*brokerConn, error) {
	cl, err := a.cl.metadataFor(ctx, []string{}, false)
	if err != nil {
		return nil, err
	}
	n, ok := cl.nodes[cl.controller]
	if !ok {
		return nil, wrapErr(ErrNotController, "the cluster has no controller now")
	}
	return a.cl.conn(ctx, nodeAddr(n), connAdmin)
}

// retryCodes marks the per-resource codes worth another attempt: the
// controller moved or the request timed out while the cluster was busy.
func retryCode(code int16) bool {
	return code == kerr.NotController.Code || code == kerr.RequestTimedOut.Code
}

// NewTopic is a topic to create. Zero NumPartitions and ReplicationFactor
// leave them to the broker's defaults (num.partitions,
// default.replication.factor); ReplicaAssignment, if set, places each
// partition's replicas instead.
type NewTopic struct {
	Name              string
	NumPartitions     int32
	ReplicationFactor int16
	ReplicaAssignment map[int32][]int32
	Configs           map[string]string
}

// TopicResult is the outcome of creating one topic.
type TopicResult struct {
	Name              string
	ID                UUID
	NumPartitions     int32
	ReplicationFactor int16
	Err               error
}

// CreateTopics creates topics; with validateOnly the controller checks
// them without creating anything. A topic that exists fails with
// kerr.TopicAlreadyExists, an impossible replication factor with
// kerr.InvalidReplicationFactor, a bad config with kerr.InvalidConfig.
func (a *Admin) CreateTopics(ctx context.Context, validateOnly bool, topics ...NewTopic) ([]TopicResult, error) {
	out := make([]TopicResult, len(topics))
	todo := map[string]int{}
	for i, t := range topics {
		out[i].Name = t.Name
		todo[t.Name] = i
	}
	err := a.call(ctx, func(ctx context.Context) error {
		conn, err := a.controllerConn(ctx)
		if err != nil {
			return err
		}
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = int32(a.cfg.requestTO / time.Millisecond)
		req.ValidateOnly = validateOnly
		for _, t := range topics {
			if _, ok := todo[t.Name]; !ok {
				continue
			}
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = t.Name, -1, -1
			if t.NumPartitions > 0 {
				rt.NumPartitions = t.NumPartitions
			}
			if t.ReplicationFactor > 0 {
				rt.ReplicationFactor = t.ReplicationFactor
			}
			for _, p := range sortedKeys(t.ReplicaAssignment) {
				ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
				ra.Partition, ra.Replicas = p, t.ReplicaAssignment[p]
				rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
			}
			for _, k := range sortedKeys(t.Configs) {
				c := kmsg.NewCreateTopicsRequestTopicConfig()
				c.Name, c.Value = k, kmsg.StringPtr(t.Configs[k])
				rt.Configs = append(rt.Configs, c)
			}
			req.Topics = append(req.Topics, rt)
		}
		kresp, err := conn.request(ctx, req)
		if err != nil {
			return err
		}
		var retry error
		for _, rt := range kresp.(*kmsg.CreateTopicsResponse).Topics {
			i, ok := todo[rt.Topic]
			if !ok {
				continue
			}
			if retryCode(rt.ErrorCode) {
				retry = brokerErr(rt.ErrorCode, rt.ErrorMessage)
				continue
			}
			delete(todo, rt.Topic)
			out[i] = TopicResult{Name: rt.Topic, ID: rt.TopicID, NumPartitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor,
				Err: brokerErr(rt.ErrorCode, rt.ErrorMessage)}
		}
		return retry
	})
	return out, err
}

func sortedKeys[K int32 | string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// DeleteTopics deletes topics; an unknown topic fails with
// kerr.UnknownTopicOrPartition.
func (a *Admin) DeleteTopics(ctx context.Context, names ...string) (map[string]error, error) {
	out := map[string]error{}
	err := a.call(ctx, func(ctx context.Context) error {
		conn, err := a.controllerConn(ctx)
		if err != nil {
			return err
		}
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = int32(a.cfg.requestTO / time.Millisecond)
		for _, n := range names {
			if _, done := out[n]; done {
				continue
			}
			// Both layouts: v6 names topics in Topics.
			req.TopicNames = append(req.TopicNames, n)
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, t)
		}
		kresp, err := conn.request(ctx, req)
		if err != nil {
			return err
		}
		var retry error
		for _, rt := range kresp.(*kmsg.DeleteTopicsResponse).Topics {
			if rt.Topic == nil {
				continue
			}
			if retryCode(rt.ErrorCode) {
				retry = brokerErr(rt.ErrorCode, rt.ErrorMessage)
				continue
			}
			out[*rt.Topic] = brokerErr(rt.ErrorCode, rt.ErrorMessage)
		}
		return retry
	})
	return out, err
}

// TopicDescription describes a topic, or holds the error describing it.
type TopicDescription struct {
	Name       string
	ID         UUID
	Internal   bool
	Partitions []PartitionInfo
	Err        error
}

// ListTopics returns every topic, with internal ones (such as
// __consumer_offsets) only if includeInternal.
func (a *Admin) ListTopics(ctx context.Context, includeInternal bool) ([]TopicDescription, error) {
	var out []TopicDescription
	err := a.call(ctx, func(ctx context.Context) error {
		cl, err := a.cl.metadataFor(ctx, nil, false)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, name := range cl.Topics() {
			if d := describeTopic(cl, name); includeInternal || !d.Internal {
				out = append(out, d)
			}
		}
		return nil
	})
	return out, err
}

// DescribeTopics describes topics: id, partitions, leaders, replicas.
func (a *Admin) DescribeTopics(ctx context.Context, names ...string) ([]TopicDescription, error) {
	out := make([]TopicDescription, len(names))
	err := a.call(ctx, func(ctx context.Context) error {
		cl, err := a.cl.metadataFor(ctx, names, false)
		if err != nil {
			return err
		}
		for i, name := range names {
			out[i] = describeTopic(cl, name)
		}
		return nil
	})
	return out, err
}

func describeTopic(cl *Cluster, name string) TopicDescription {
	m, ok := cl.topics[name]
	if !ok {
		return TopicDescription{Name: name, Err: wrapErr(ErrUnknownTopicOrPartition, "topic %s", name)}
	}
	return TopicDescription{Name: name, ID: m.id, Internal: m.internal, Partitions: cl.PartitionsForTopic(name), Err: m.err}
}

// CreatePartitions raises topics' partition counts to the totals given;
// with validateOnly nothing changes. A lower count fails with
// kerr.InvalidPartitions.
func (a *Admin) CreatePartitions(ctx context.Context, validateOnly bool, totals map[string]int32) (map[string]error, error) {
	out := map[string]error{}
	err := a.call(ctx, func(ctx context.Context) error {
		conn, err := a.controllerConn(ctx)
		if err != nil {
			return err
		}
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = int32(a.cfg.requestTO / time.Millisecond)
		req.ValidateOnly = validateOnly
		for _, name := range sortedKeys(totals) {
			if _, done := out[name]; done {
				continue
			}
			t := kmsg.NewCreatePartitionsRequestTopic()
			t.Topic, t.Count = name, totals[name]
			req.Topics = append(req.Topics, t)
		}
		kresp, err := conn.request(ctx, req)
		if err != nil {
			return err
		}
		var retry error
		for _, rt := range kresp.(*kmsg.CreatePartitionsResponse).Topics {
			if retryCode(rt.ErrorCode) {
				retry = brokerErr(rt.ErrorCode, rt.ErrorMessage)
				continue
			}
			out[rt.Topic] = brokerErr(rt.ErrorCode, rt.ErrorMessage)
		}
		return retry
	})
	return out, err
}

// ClusterDescription is the cluster's id, controller and brokers.
type ClusterDescription struct {
	ClusterID  string
	Controller int32
	Nodes      []Node
}

// DescribeCluster describes the cluster (DescribeCluster, or Metadata on
// brokers without it).
func (a *Admin) DescribeCluster(ctx context.Context) (ClusterDescription, error) {
	var out ClusterDescription
	err := a.call(ctx, func(ctx context.Context) error {
		kresp, err := a.cl.requestAny(ctx, kmsg.NewPtrDescribeClusterRequest())
		if errors.Is(err, ErrUnsupportedVersion) {
			cl, err := a.cl.metadataFor(ctx, []string{}, false)
			if err != nil {
				return err
			}
			out = ClusterDescription{ClusterID: cl.clusterID, Controller: cl.controller, Nodes: cl.Nodes()}
			return nil
		}
		if err != nil {
			return err
		}
		resp := kresp.(*kmsg.DescribeClusterResponse)
		if err := brokerErr(resp.ErrorCode, resp.ErrorMessage); err != nil {
			return err
		}
		out = ClusterDescription{ClusterID: resp.ClusterID, Controller: resp.ControllerID}
		for _, b := range resp.Brokers {
			n := Node{ID: b.NodeID, Host: b.Host, Port: b.Port}
			if b.Rack != nil {
				n.Rack = *b.Rack
			}
			out.Nodes = append(out.Nodes, n)
		}
		sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].ID < out.Nodes[j].ID })
		return nil
	})
	return out, err
}

// ConfigResourceType is what a config belongs to.
type ConfigResourceType int8

// The config resource types, Kafka's codes.
const (
	ConfigResourceTopic  ConfigResourceType = 2
	ConfigResourceBroker ConfigResourceType = 4
	// ConfigResourceBrokerLogger is a broker's log levels.
	ConfigResourceBrokerLogger ConfigResourceType = 8
	// ConfigResourceGroup is a group's configs (KIP-848).
	ConfigResourceGroup ConfigResourceType = 32
)

// ConfigResource names a topic, a broker (by id; "" for the cluster-wide
// defaults), a broker's loggers or a group.
type ConfigResource struct {
	Type ConfigResourceType
	Name string
}

// ConfigEntry is one setting of a resource.
type ConfigEntry struct {
	Name  string
	Value string
	// IsNull is set for a setting without a value (such as a password the
	// broker does not reveal).
	IsNull    bool
	Source    string // kmsg.ConfigSource's name: DEFAULT_CONFIG, DYNAMIC_TOPIC_CONFIG, ...
	IsDefault bool
	ReadOnly  bool
	Sensitive bool
	// Synonyms are the settings this value comes from, highest precedence
	// first (the entry's own among them), when asked for with
	// DescribeConfigsOptions.IncludeSynonyms.
	Synonyms []ConfigSynonym
}

// ConfigSynonym is one layer of a setting: a topic override, a dynamic
// broker config, a static broker property, a default.
type ConfigSynonym struct {
	Name   string
	Value  string
	Source string
}

// DescribeConfigsOptions are Java's DescribeConfigsOptions.
type DescribeConfigsOptions struct {
	// IncludeSynonyms asks for each entry's synonyms (Java's default:
	// false).
	IncludeSynonyms bool
}

// ConfigResult is the configuration of one resource, or the error
// describing it.
type ConfigResult struct {
	Resource ConfigResource
	Entries  []ConfigEntry
	Err      error
}

// Entry returns the entry with the name.
func (r ConfigResult) Entry(name string) (ConfigEntry, bool) {
	for _, e := range r.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return ConfigEntry{}, false
}

// brokerFor returns the broker a resource's request must go to: the
// broker a broker resource names, or -1 for any.
func brokerFor(r ConfigResource) int32 {
	if r.Type == ConfigResourceBroker || r.Type == ConfigResourceBrokerLogger {
		if id, err := strconv.Atoi(r.Name); err == nil {
			return int32(id)
		}
	}
	return -1
}

// requestTo sends req to broker id, or to any broker for -1.
func (a *Admin) requestTo(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	if id < 0 {
		return a.cl.requestAny(ctx, req)
	}
	cl, err := a.cl.metadataFor(ctx, []string{}, false)
	if err != nil {
		return nil, err
	}
	n, ok := cl.nodes[id]
	if !ok {
		return nil, wrapErr(ErrNetwork, "broker %d is not in the cluster", id)
	}
	conn, err := a.cl.conn(ctx, nodeAddr(n), connAdmin)
	if err != nil {
		return nil, err
	}
	return conn.request(ctx, req)
}

// perBroker sends, for each broker the resources not yet done must go to
// (any broker for topics), the request build makes of them, and hands
// the response to handle.
func (a *Admin) perBroker(ctx context.Context, resources []ConfigResource, done func(ConfigResource) bool,
	build func([]ConfigResource) kmsg.Request, handle func(kmsg.Response),
) error {
	groups := map[int32][]ConfigResource{}
	for _, r := range resources {
		if !done(r) {
			groups[brokerFor(r)] = append(groups[brokerFor(r)], r)
		}
	}
	for id, rs := range groups {
		kresp, err := a.requestTo(ctx, id, build(rs))
		if err != nil {
			return err
		}
		handle(kresp)
	}
	return nil
}

// DescribeConfigs returns the settings of resources.
func (a *Admin) DescribeConfigs(ctx context.Context, resources ...ConfigResource) ([]ConfigResult, error) {
	return a.DescribeConfigsWith(ctx, DescribeConfigsOptions{}, resources...)
}

// DescribeConfigsWith is DescribeConfigs with options.
func (a *Admin) DescribeConfigsWith(ctx context.Context, opts DescribeConfigsOptions, resources ...ConfigResource) ([]ConfigResult, error) {
	found := map[ConfigResource]ConfigResult{}
	done := func(r ConfigResource) bool { _, ok := found[r]; return ok }
	build := func(rs []ConfigResource) kmsg.Request {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeSynonyms = opts.IncludeSynonyms
		for _, r := range rs {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(r.Type), r.Name
			req.Resources = append(req.Resources, rr)
		}
		return req
	}
	err := a.call(ctx, func(ctx context.Context) error {
		return a.perBroker(ctx, resources, done, build, func(kresp kmsg.Response) {
			for _, rr := range kresp.(*kmsg.DescribeConfigsResponse).Resources {
				r := ConfigResource{ConfigResourceType(rr.ResourceType), rr.ResourceName}
				res := ConfigResult{Resource: r, Err: brokerErr(rr.ErrorCode, rr.ErrorMessage)}
				for _, c := range rr.Configs {
					e := ConfigEntry{Name: c.Name, IsNull: c.Value == nil, Source: c.Source.String(), IsDefault: c.IsDefault || c.Source == kmsg.ConfigSourceDefaultConfig,
						ReadOnly: c.ReadOnly, Sensitive: c.IsSensitive}
					if c.Value != nil {
						e.Value = *c.Value
					}
					for _, syn := range c.ConfigSynonyms {
						cs := ConfigSynonym{Name: syn.Name, Source: syn.Source.String()}
						if syn.Value != nil {
							cs.Value = *syn.Value
						}
						e.Synonyms = append(e.Synonyms, cs)
					}
					res.Entries = append(res.Entries, e)
				}
				sort.Slice(res.Entries, func(i, j int) bool { return res.Entries[i].Name < res.Entries[j].Name })
				found[r] = res
			}
		})
	})
	out := make([]ConfigResult, len(resources))
	for i, r := range resources {
		out[i] = found[r]
		out[i].Resource = r
		if _, ok := found[r]; !ok && err == nil {
			out[i].Err = fmt.Errorf("%w: no answer for %v", ErrNetwork, r)
		}
	}
	return out, err
}

// AlterConfigOpType is how IncrementalAlterConfigs changes a setting.
type AlterConfigOpType int8

// The operations of KIP-339.
const (
	ConfigSet      AlterConfigOpType = 0
	ConfigDelete   AlterConfigOpType = 1 // back to the default
	ConfigAppend   AlterConfigOpType = 2 // to a list
	ConfigSubtract AlterConfigOpType = 3 // from a list
)

// AlterConfigOp is one change of a setting.
type AlterConfigOp struct {
	Name  string
	Op    AlterConfigOpType
	Value string
}

// IncrementalAlterConfigs changes settings of resources, leaving the
// others as they are (KIP-339); with validateOnly nothing changes. An
// unknown setting or invalid value fails the resource with
// kerr.InvalidConfig or kerr.InvalidRequest.
func (a *Admin) IncrementalAlterConfigs(ctx context.Context, validateOnly bool, changes map[ConfigResource][]AlterConfigOp) (map[ConfigResource]error, error) {
	out := map[ConfigResource]error{}
	resources := make([]ConfigResource, 0, len(changes))
	for r := range changes {
		resources = append(resources, r)
	}
	done := func(r ConfigResource) bool { _, ok := out[r]; return ok }
	build := func(rs []ConfigResource) kmsg.Request {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.ValidateOnly = validateOnly
		for _, r := range rs {
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceType(r.Type), r.Name
			for _, op := range changes[r] {
				c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				c.Name, c.Op = op.Name, kmsg.IncrementalAlterConfigOp(op.Op)
				if op.Op != ConfigDelete {
					c.Value = kmsg.StringPtr(op.Value)
				}
				rr.Configs = append(rr.Configs, c)
			}
			req.Resources = append(req.Resources, rr)
		}
		return req
	}
	err := a.call(ctx, func(ctx context.Context) error {
		return a.perBroker(ctx, resources, done, build, func(kresp kmsg.Response) {
			for _, rr := range kresp.(*kmsg.IncrementalAlterConfigsResponse).Resources {
				out[ConfigResource{ConfigResourceType(rr.ResourceType), rr.ResourceName}] = brokerErr(rr.ErrorCode, rr.ErrorMessage)
			}
		})
	})
	return out, err
}

// DeletedRecords is the outcome of deleting one partition's records: its
// new log start offset, or the error.
type DeletedRecords struct {
	LowWatermark int64
	Err          error
}

// DeleteRecords deletes the records of partitions before the offsets
// given (-1: all of them, up to the high watermark), at their leaders.
func (a *Admin) DeleteRecords(ctx context.Context, before map[TopicPartition]int64) (map[TopicPartition]DeletedRecords, error) {
	var out map[TopicPartition]DeletedRecords
	err := a.call(ctx, func(ctx context.Context) error {
		var err error
		out, err = perLeader(ctx, a.cl, keysOf(before), func(ctx context.Context, conn *brokerConn, _ map[TopicPartition]int32, tps []TopicPartition) (map[TopicPartition]DeletedRecords, error) {
			req := kmsg.NewPtrDeleteRecordsRequest()
			req.TimeoutMillis = int32(a.cfg.requestTO / time.Millisecond)
			eachTopic(tps, func(topic string, parts []TopicPartition) {
				rt := kmsg.NewDeleteRecordsRequestTopic()
				rt.Topic = topic
				for _, tp := range parts {
					p := kmsg.NewDeleteRecordsRequestTopicPartition()
					p.Partition, p.Offset = tp.Partition, before[tp]
					rt.Partitions = append(rt.Partitions, p)
				}
				req.Topics = append(req.Topics, rt)
			})
			kresp, err := conn.request(ctx, req)
			if err != nil {
				return nil, err
			}
			res := map[TopicPartition]DeletedRecords{}
			for _, rt := range kresp.(*kmsg.DeleteRecordsResponse).Topics {
				for _, rp := range rt.Partitions {
					tp := TopicPartition{rt.Topic, rp.Partition}
					if partitionAnswer(tp, rp.ErrorCode) == errRetryPartition {
						continue
					}
					res[tp] = DeletedRecords{LowWatermark: rp.LowWatermark, Err: brokerErr(rp.ErrorCode, nil)}
				}
			}
			return res, nil
		})
		return err
	})
	return out, err
}

// ListOffsets returns, per partition, the offset at a timestamp (ms), or
// the earliest (-2) or latest (-1) offset, read_uncommitted.
func (a *Admin) ListOffsets(ctx context.Context, at map[TopicPartition]int64) (map[TopicPartition]int64, error) {
	out := map[TopicPartition]int64{}
	err := a.call(ctx, func(ctx context.Context) error {
		res, err := listOffsets(ctx, a.cl, false, at)
		for tp, r := range res {
			out[tp] = r.offset
		}
		return err
	})
	return out, err
}
