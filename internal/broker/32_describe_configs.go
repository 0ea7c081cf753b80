package broker

// DescribeConfigs, versions 0-4.
//
// v1 replaces is_default with the config source and adds synonyms
// (KIP-226); v3 adds the config type and documentation (KIP-569); v4 is
// flexible. Topic resources list every topic config with its effective
// value: the topic's override (DYNAMIC_TOPIC_CONFIG), else the broker
// property it defaults to when server.properties sets it
// (STATIC_BROKER_CONFIG), else the built-in default (DEFAULT_CONFIG).
// Broker resources are answered for this node's id only, as Kafka does;
// the empty name, Kafka's cluster-wide dynamic defaults, has no entries
// because dynamic broker configs are not supported, which is also why
// every broker config is read-only. Naming configs filters the list
// (unknown names are left out, not errors); an empty or null list means
// all (Kafka's ConfigHelper).

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/config"
)

func init() { register(kmsg.DescribeConfigs, 0, 4, handleDescribeConfigs) }

func handleDescribeConfigs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i := range req.Resources {
		rr := &req.Resources[i]
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			res.Configs, err = b.describeTopicConfigs(rr.ResourceName, rr.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		case kmsg.ConfigResourceTypeBroker:
			res.Configs, err = b.describeBrokerConfigs(rr.ResourceName, rr.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		default:
			err = errorf(kerr.InvalidRequest, "Unsupported resource type: %d", rr.ResourceType)
		}
		if err != nil {
			res.Configs = nil
			res.ErrorCode, res.ErrorMessage = errCode(err)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func (b *Broker) describeTopicConfigs(name string, names []string, synonyms, docs bool) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	t := b.getTopic(name)
	if t == nil {
		return nil, errorf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	return topicConfigEntries(t.cfg, names, synonyms, docs), nil
}

// topicConfigEntries describes a topic's effective configs, those named
// (all when names is empty), in config.TopicDefs order.
func topicConfigEntries(cfg config.Topic, names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	want := configFilter(names)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range config.TopicDefs {
		d := &config.TopicDefs[i]
		if !want(d.Name) {
			continue
		}
		v, src := cfg.Value(d.Name)
		e := kmsg.NewDescribeConfigsResponseResourceConfig()
		e.Name = d.Name
		e.Value = &v
		e.Source = kmsg.ConfigSource(src)
		e.IsDefault = src == config.SourceDefault // v0's only notion of source
		e.ConfigType = configType(d.Type)
		if docs && d.Doc != "" {
			doc := d.Doc
			e.Documentation = &doc
		}
		if synonyms {
			e.ConfigSynonyms = topicSynonyms(cfg, d)
		}
		out = append(out, e)
	}
	return out
}

// topicBrokerSynonyms lists, for topic configs whose broker default has
// more than one name, those names in order of precedence (Kafka's
// ServerTopicConfigSynonyms with DynamicBrokerConfig.brokerConfigSynonyms).
// Every other topic config has one: TopicDef.BrokerName.
var topicBrokerSynonyms = map[string][]string{
	"retention.ms": {"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
	"segment.ms":   {"log.roll.ms", "log.roll.hours"},
}

// topicSynonyms lists where a topic config's value could come from, the
// one in effect first: the topic override, then each broker property set
// in server.properties, then each broker property's built-in default
// (Kafka's ConfigHelper order, without dynamic broker configs).
func topicSynonyms(cfg config.Topic, d *config.TopicDef) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	add := func(name, value string, src config.Source) {
		s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		s.Name, s.Value, s.Source = name, &value, kmsg.ConfigSource(src)
		out = append(out, s)
	}
	if v, ok := cfg.Overrides[d.Name]; ok {
		add(d.Name, v, config.SourceDynamicTopic)
	}
	chain := topicBrokerSynonyms[d.Name]
	if chain == nil {
		chain = []string{d.BrokerName}
	}
	if cfg.Broker != nil {
		for _, n := range chain {
			if findBrokerDef(n) == nil {
				continue
			}
			if v, set := cfg.Broker.Get(n); set {
				add(n, v, config.SourceStaticBroker)
			}
		}
	}
	for _, n := range chain {
		if bd := findBrokerDef(n); bd != nil && bd.Default != "" {
			add(n, bd.Default, config.SourceDefault)
		}
	}
	return out
}

func (b *Broker) describeBrokerConfigs(name string, names []string, synonyms, docs bool) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	if name == "" {
		// Cluster-wide dynamic defaults: there are none.
		return nil, nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return nil, errorf(kerr.InvalidRequest, "Broker id must be an integer, but it is: %s", name)
	}
	if int32(id) != b.nodeID {
		return nil, errorf(kerr.InvalidRequest, "Unexpected broker id, expected %d or empty string, but received %s", b.nodeID, name)
	}
	want := configFilter(names)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range config.BrokerDefs {
		d := &config.BrokerDefs[i]
		if !want(d.Name) {
			continue
		}
		v, set := b.cfg.Get(d.Name)
		e := kmsg.NewDescribeConfigsResponseResourceConfig()
		e.Name = d.Name
		if set || v != "" {
			e.Value = &v // an unset property without a default is null
		}
		e.Source = kmsg.ConfigSourceDefaultConfig
		if set {
			e.Source = kmsg.ConfigSourceStaticBrokerConfig
		}
		e.IsDefault = !set
		e.ReadOnly = true // dynamic broker configs are not supported
		e.ConfigType = configType(d.Type)
		if docs && d.Doc != "" {
			doc := d.Doc
			e.Documentation = &doc
		}
		if synonyms {
			if set {
				s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				s.Name, s.Value, s.Source = d.Name, &v, kmsg.ConfigSourceStaticBrokerConfig
				e.ConfigSynonyms = append(e.ConfigSynonyms, s)
			}
			if d.Default != "" {
				s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				def := d.Default
				s.Name, s.Value, s.Source = d.Name, &def, kmsg.ConfigSourceDefaultConfig
				e.ConfigSynonyms = append(e.ConfigSynonyms, s)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// configFilter reports whether a config was asked for.
func configFilter(names []string) func(string) bool {
	if len(names) == 0 {
		return func(string) bool { return true }
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return func(n string) bool { return set[n] }
}

// findBrokerDef returns the definition of a broker property, or nil.
func findBrokerDef(name string) *config.Def {
	for i := range config.BrokerDefs {
		if config.BrokerDefs[i].Name == name {
			return &config.BrokerDefs[i]
		}
	}
	return nil
}

// configType maps a property type to DescribeConfigs' ConfigType (v3+).
func configType(t config.Type) kmsg.ConfigType {
	switch t {
	case config.String:
		return kmsg.ConfigTypeString
	case config.Int:
		return kmsg.ConfigTypeInt
	case config.Long:
		return kmsg.ConfigTypeLong
	case config.Bool:
		return kmsg.ConfigTypeBoolean
	case config.Double:
		return kmsg.ConfigTypeDouble
	case config.List:
		return kmsg.ConfigTypeList
	}
	return kmsg.ConfigTypeUnknown
}
