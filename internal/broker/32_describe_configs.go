package broker

// DescribeConfigs, versions 0-4.
//
// v1 replaces is_default with the config source and adds synonyms
// (KIP-226); v3 adds the config type and documentation (KIP-569); v4 is
// flexible. Topic resources list every topic config with its effective
// value: the topic's override (DYNAMIC_TOPIC_CONFIG), else the broker
// property it defaults to, from this broker's dynamic configs
// (DYNAMIC_BROKER_CONFIG), the cluster-wide ones
// (DYNAMIC_DEFAULT_BROKER_CONFIG) or server.properties
// (STATIC_BROKER_CONFIG), else the built-in default (DEFAULT_CONFIG).
// Broker resources are answered for this node's id only, as Kafka does,
// every property with the layer its value comes from; the empty name
// lists the cluster-wide dynamic configs set. Properties that cannot be
// changed dynamically are read-only. Group resources (KIP-848) list the
// group's configs: its own (GROUP_CONFIG), else the broker's default.
// Naming configs filters the list (unknown names are left out, not
// errors); an empty or null list means all (Kafka's ConfigHelper).

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
		case kmsg.ConfigResourceTypeGroupConfig:
			res.Configs, err = b.describeGroupConfigs(rr.ResourceName, rr.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
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

// topicSynonyms lists where a topic config's value could come from, the
// one in effect first: the topic override, then the broker property it
// defaults to, layer by layer (Kafka's ConfigHelper order).
func topicSynonyms(cfg config.Topic, d *config.TopicDef) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	if v, ok := cfg.Overrides[d.Name]; ok {
		s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		s.Name, s.Value, s.Source = d.Name, &v, kmsg.ConfigSourceDynamicTopicConfig
		out = append(out, s)
	}
	if cfg.Broker != nil && config.FindBrokerDef(d.BrokerName) != nil {
		out = append(out, brokerSynonyms(cfg.Broker, d.BrokerName, true)...)
	}
	return out
}

func (b *Broker) describeBrokerConfigs(name string, names []string, synonyms, docs bool) ([]kmsg.DescribeConfigsResponseResourceConfig, error) {
	if name == "" {
		return b.describeBrokerDefaultConfigs(names, synonyms, docs), nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return nil, errorf(kerr.InvalidRequest, "Broker id must be an integer, but it is: %s", name)
	}
	if int32(id) != b.nodeID {
		return nil, errorf(kerr.InvalidRequest, "Unexpected broker id, expected %d or empty string, but received %s", b.nodeID, name)
	}
	cfg := b.config()
	want := configFilter(names)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range config.BrokerDefs {
		d := &config.BrokerDefs[i]
		if !want(d.Name) {
			continue
		}
		v, _ := cfg.Get(d.Name)
		e := brokerConfigEntry(d, v, cfg.Source(d.Name), docs)
		if synonyms {
			e.ConfigSynonyms = brokerSynonyms(cfg, d.Name, true)
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
