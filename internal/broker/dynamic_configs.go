package broker

// Dynamic broker configs (KIP-226) and consumer group configs (KIP-848).
//
// Both live in the cluster metadata (cluster.EtcdStore: per broker, the
// cluster-wide default, per group) and reach every broker with its
// snapshot. The applier layers a broker's own dynamic configs over the
// cluster-wide ones over server.properties (config.Broker.WithDynamic);
// when that changes, every topic without an override of its own takes the
// new default, every log is reconfigured and the cleaner gets its new
// settings. Group configs are read by the group coordinator at each
// KIP-848 heartbeat. The admin APIs change them with a compare-and-swap,
// so incremental changes from several brokers never lose each other's.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/group"
)

// dynamicState is the configuration in effect from the last applied
// snapshot. It is replaced whole, never modified.
type dynamicState struct {
	cfg *config.Broker // server.properties with the dynamic configs over it
	// perBroker and clusterDefault are the dynamic broker configs cfg was
	// built from, as stored.
	perBroker, clusterDefault map[string]string
	groups                    map[string]map[string]string // group configs by group id
}

// config returns the broker configuration in effect, dynamic configs
// included.
func (b *Broker) config() *config.Broker { return b.dyn.Load().cfg }

// applyDynamic takes the dynamic configs of snap and reports whether the
// broker configuration changed. The applier alone calls it.
func (b *Broker) applyDynamic(snap *cluster.Snapshot) bool {
	cur := b.dyn.Load()
	per, def := snap.BrokerConfigs[b.nodeID], snap.BrokerConfigs[cluster.DefaultBrokerConfigs]
	if maps.Equal(cur.perBroker, per) && maps.Equal(cur.clusterDefault, def) {
		if !maps.EqualFunc(cur.groups, snap.GroupConfigs, maps.Equal) {
			next := *cur
			next.groups = snap.GroupConfigs
			b.dyn.Store(&next)
		}
		return false
	}
	eff, skipped := b.cfg.WithDynamic(per, def)
	if len(skipped) > 0 {
		b.log.Warn("ignoring invalid dynamic broker configs", "configs", skipped)
	}
	b.dyn.Store(&dynamicState{cfg: eff, perBroker: per, clusterDefault: def, groups: snap.GroupConfigs})
	b.log.Info("applied dynamic broker configs", "broker", per, "cluster", def)
	if c := cleanerConfig(eff); c != b.logs.CleanerConfig() {
		b.logs.SetCleanerConfig(c)
	}
	return true
}

// groupConfig returns a consumer group's own settings for the group
// coordinator. Values the metadata holds that do not parse are ignored.
func (b *Broker) groupConfig(groupID string) group.GroupConfig {
	st := b.dyn.Load()
	m := st.groups[groupID]
	if m == nil {
		return group.GroupConfig{}
	}
	var gc group.GroupConfig
	if _, ok := m[config.GroupSessionTimeoutMs]; ok {
		gc.SessionTimeout = st.cfg.GroupDuration(m, config.GroupSessionTimeoutMs)
	}
	if _, ok := m[config.GroupHeartbeatIntervalMs]; ok {
		gc.HeartbeatInterval = st.cfg.GroupDuration(m, config.GroupHeartbeatIntervalMs)
	}
	return gc
}

// updateConfigs computes a resource's new configs from its current ones
// (update gets its own copy to modify).
type updateConfigs func(cur map[string]string) (map[string]string, error)

// alterConfigResource applies update to one resource of an
// (Incremental)AlterConfigs request that checkAlterResource passed.
func (b *Broker) alterConfigResource(typ kmsg.ConfigResourceType, name string, validateOnly bool, update updateConfigs) error {
	switch typ {
	case kmsg.ConfigResourceTypeBroker:
		return b.alterBrokerConfigs(name, validateOnly, update)
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.alterGroupConfigs(name, validateOnly, update)
	}
	return b.alterTopicConfigs(name, validateOnly, update)
}

// configDefFor returns how a resource type's config names are looked up
// by applyConfigOps.
func configDefFor(typ kmsg.ConfigResourceType) func(name string) (*config.Def, error) {
	switch typ {
	case kmsg.ConfigResourceTypeBroker:
		return func(name string) (*config.Def, error) {
			if d := config.FindBrokerDef(name); d != nil {
				return d, nil
			}
			return nil, errorf(kerr.InvalidConfig, "unknown broker config %q", name)
		}
	case kmsg.ConfigResourceTypeGroupConfig:
		return func(name string) (*config.Def, error) {
			if d := config.FindGroupDef(name); d != nil {
				return &d.Def, nil
			}
			return nil, errorf(kerr.InvalidConfig, "Unknown group config name: %s", name)
		}
	}
	return func(name string) (*config.Def, error) {
		if d := config.FindTopicDef(name); d != nil {
			return &d.Def, nil
		}
		return nil, errorf(kerr.InvalidConfig, "unknown topic config %q", name)
	}
}

// alterBrokerConfigs changes the dynamic configs of one broker (name its
// node id) or the cluster-wide ones (name empty). A node id must be a
// registered broker, as Kafka's controller requires.
func (b *Broker) alterBrokerConfigs(name string, validateOnly bool, update updateConfigs) error {
	id := cluster.DefaultBrokerConfigs
	snap := b.snapshot()
	if name != "" {
		n, _ := strconv.ParseInt(name, 10, 32) // checkAlterResource parsed it
		id = int32(n)
		if _, ok := snap.Broker(id); !ok {
			return errorf(kerr.BrokerIDNotRegistered, "No node with id %d found.", id)
		}
	}
	checked := func(cur map[string]string) (map[string]string, error) {
		next, err := update(cur)
		if err != nil {
			return nil, err
		}
		return next, checkBrokerConfigs(next)
	}
	if validateOnly {
		_, err := checked(maps.Clone(snap.BrokerConfigs[id]))
		return err
	}
	ctx, cancel := b.metadataContext()
	defer cancel()
	var next map[string]string
	rev, err := b.node.Store().UpdateBrokerConfigs(ctx, id, func(cur map[string]string) (map[string]string, error) {
		var err error
		next, err = checked(cur)
		return next, err
	})
	if err := b.configWriteError(err, "broker "+name); err != nil {
		return err
	}
	if err := b.waitApplied(ctx, rev); err != nil {
		return metadataError(err)
	}
	b.log.Info("altered dynamic broker configs", "broker", name, "configs", next)
	return nil
}

// checkBrokerConfigs validates a resource's whole set of dynamic broker
// configs: every one known (INVALID_CONFIG), dynamically updatable
// (INVALID_REQUEST, as Kafka answers for read-only configs) and valid
// (INVALID_CONFIG naming it).
func checkBrokerConfigs(configs map[string]string) error {
	var static []string
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		err := config.CheckDynamicBrokerConfig(k, configs[k])
		switch {
		case errors.Is(err, config.ErrNotDynamic):
			static = append(static, k)
		case err != nil:
			return errorf(kerr.InvalidConfig, "%v", err)
		}
	}
	if len(static) > 0 {
		return errorf(kerr.InvalidRequest, "Cannot update these configs dynamically: %s", strings.Join(static, ", "))
	}
	return nil
}

// alterGroupConfigs changes the configs of a consumer group, validated
// against the broker's group.consumer.min/max.* bounds. The group need
// not exist: its configs apply when it does.
func (b *Broker) alterGroupConfigs(name string, validateOnly bool, update updateConfigs) error {
	cfg := b.config()
	checked := func(cur map[string]string) (map[string]string, error) {
		next, err := update(cur)
		if err != nil {
			return nil, err
		}
		if err := cfg.CheckGroupConfigs(next); err != nil {
			return nil, errorf(kerr.InvalidConfig, "%v", err)
		}
		return next, nil
	}
	if validateOnly {
		_, err := checked(maps.Clone(b.snapshot().GroupConfigs[name]))
		return err
	}
	ctx, cancel := b.metadataContext()
	defer cancel()
	var next map[string]string
	rev, err := b.node.Store().UpdateGroupConfigs(ctx, name, func(cur map[string]string) (map[string]string, error) {
		var err error
		next, err = checked(cur)
		return next, err
	})
	if err := b.configWriteError(err, "group "+name); err != nil {
		return err
	}
	if err := b.waitApplied(ctx, rev); err != nil {
		return metadataError(err)
	}
	b.log.Info("altered group configs", "group", name, "configs", next)
	return nil
}

// configWriteError passes on a validation error and turns a failure of
// the metadata store into its Kafka error.
func (b *Broker) configWriteError(err error, what string) error {
	var ae *apiError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return err
	}
	return metadataError(fmt.Errorf("saving configs of %s: %w", what, err))
}

// describeBrokerDefaultConfigs describes the cluster-wide dynamic broker
// configs (the broker resource with an empty name): only those set, as
// Kafka lists them.
func (b *Broker) describeBrokerDefaultConfigs(names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	cfg := b.config()
	set := cfg.Layer(config.SourceDynamicDefaultBroker)
	want := configFilter(names)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range config.BrokerDefs {
		d := &config.BrokerDefs[i]
		v, ok := set[d.Name]
		if !ok || !want(d.Name) {
			continue
		}
		e := brokerConfigEntry(d, v, config.SourceDynamicDefaultBroker, docs)
		if synonyms {
			e.ConfigSynonyms = brokerSynonyms(cfg, d.Name, false)
		}
		out = append(out, e)
	}
	return out
}

// brokerConfigEntry is one DescribeConfigs entry of a broker property.
func brokerConfigEntry(d *config.Def, v string, src config.Source, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	e := kmsg.NewDescribeConfigsResponseResourceConfig()
	e.Name = d.Name
	if src != config.SourceDefault || v != "" {
		e.Value = &v // an unset property without a default is null
	}
	e.Source = kmsg.ConfigSource(src)
	e.IsDefault = src == config.SourceDefault
	e.ReadOnly = !config.IsDynamicBrokerProp(d.Name)
	e.ConfigType = configType(d.Type)
	if docs && d.Doc != "" {
		doc := d.Doc
		e.Documentation = &doc
	}
	return e
}

// brokerSynonyms lists where a broker property's value could come from,
// the one in effect first: each layer in order of precedence (this
// broker's dynamic configs unless perBroker is false, the cluster-wide
// ones, server.properties), each name of the setting within a layer, then
// the built-in defaults (Kafka's DynamicBrokerConfig synonyms).
func brokerSynonyms(cfg *config.Broker, name string, perBroker bool) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	add := func(name, value string, src config.Source) {
		s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		s.Name, s.Value, s.Source = name, &value, kmsg.ConfigSource(src)
		out = append(out, s)
	}
	chain := config.BrokerSynonyms(name)
	layers := []config.Source{config.SourceDynamicBroker, config.SourceDynamicDefaultBroker, config.SourceStaticBroker}
	if !perBroker {
		layers = layers[1:]
	}
	for _, src := range layers {
		m := cfg.Layer(src)
		for _, n := range chain {
			if v, ok := m[n]; ok {
				add(n, v, src)
			}
		}
	}
	for _, n := range chain {
		if d := config.FindBrokerDef(n); d != nil && d.Default != "" {
			add(n, d.Default, config.SourceDefault)
		}
	}
	return out
}

// describeGroupConfigs describes a consumer group's configs: its own
// (GROUP_CONFIG), else the broker's group.consumer.* default.
func (b *Broker) describeGroupConfigs(name string, names []string, synonyms, docs bool) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	if name == "" {
		return nil, errorf(kerr.InvalidRequest, "Group name must not be empty")
	}
	st := b.dyn.Load()
	overrides := st.groups[name]
	want := configFilter(names)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range config.GroupDefs {
		d := &config.GroupDefs[i]
		if !want(d.Name) {
			continue
		}
		v, set := st.cfg.GroupValue(overrides, d.Name)
		e := kmsg.NewDescribeConfigsResponseResourceConfig()
		e.Name, e.Value = d.Name, &v
		e.Source = kmsg.ConfigSourceDefaultConfig
		if set {
			e.Source = kmsg.ConfigSourceGroupConfig
		}
		e.IsDefault = !set
		e.ConfigType = configType(d.Type)
		if docs && d.Doc != "" {
			doc := d.Doc
			e.Documentation = &doc
		}
		if synonyms {
			if set {
				s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				s.Name, s.Value, s.Source = d.Name, &v, kmsg.ConfigSourceGroupConfig
				e.ConfigSynonyms = append(e.ConfigSynonyms, s)
			}
			e.ConfigSynonyms = append(e.ConfigSynonyms, brokerSynonyms(st.cfg, d.BrokerName, true)...)
		}
		out = append(out, e)
	}
	return out, nil
}
