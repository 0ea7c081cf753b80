package config

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"
)

// Dynamic broker configs (KIP-226) are broker properties changed while the
// cluster runs, stored in the cluster metadata per broker or as a
// cluster-wide default. A broker's configuration in effect layers them,
// highest precedence first: its own dynamic configs, the cluster-wide
// ones, server.properties, the built-in defaults.

// cleanerProps are the log cleaner's reconfigurable properties (Kafka's
// LogCleaner.ReconfigurableConfigs that Samsa implements).
var cleanerProps = []string{
	"log.cleaner.threads",
	"log.cleaner.dedupe.buffer.size",
	"log.cleaner.io.max.bytes.per.second",
	"log.cleaner.backoff.ms",
}

// brokerSynonyms are the broker properties with more than one name for
// one setting, in order of precedence (Kafka's brokerConfigSynonyms).
var brokerSynonyms = [][]string{
	{"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
	{"log.roll.ms", "log.roll.hours"},
}

// dynamicBrokerProps are the broker properties that may be changed while
// running: the defaults of topic configs (Kafka's DynamicLogConfig), with
// their synonyms, and the cleaner's.
var dynamicBrokerProps = func() map[string]bool {
	m := map[string]bool{}
	for _, d := range TopicDefs {
		m[d.BrokerName] = true
		for _, s := range BrokerSynonyms(d.BrokerName) {
			m[s] = true
		}
	}
	for _, n := range cleanerProps {
		m[n] = true
	}
	return m
}()

// BrokerSynonyms returns the names of the setting a broker property
// belongs to, in order of precedence; a property without synonyms is
// alone in the list.
func BrokerSynonyms(name string) []string {
	for _, g := range brokerSynonyms {
		for _, n := range g {
			if n == name {
				return g
			}
		}
	}
	return []string{name}
}

// IsDynamicBrokerProp reports whether a broker property can be changed
// while the broker runs.
func IsDynamicBrokerProp(name string) bool { return dynamicBrokerProps[name] }

// FindBrokerDef returns the definition of a broker property (by its name
// or an alias), or nil.
func FindBrokerDef(name string) *Def {
	if a, ok := aliases[name]; ok {
		name = a
	}
	for i := range BrokerDefs {
		if BrokerDefs[i].Name == name {
			return &BrokerDefs[i]
		}
	}
	return nil
}

// Errors of CheckDynamicBrokerConfig.
var (
	ErrUnknownBrokerConfig = errors.New("unknown broker config")
	ErrNotDynamic          = errors.New("cannot be updated dynamically")
)

// CheckDynamicBrokerConfig validates one dynamic broker config:
// ErrUnknownBrokerConfig, ErrNotDynamic, or the value's error.
func CheckDynamicBrokerConfig(name, value string) error {
	d := FindBrokerDef(name)
	switch {
	case d == nil:
		return fmt.Errorf("%w %q", ErrUnknownBrokerConfig, name)
	case !dynamicBrokerProps[name]:
		return fmt.Errorf("%s %w", name, ErrNotDynamic)
	}
	return d.Check(value)
}

// WithDynamic returns the configuration in effect with dynamic configs
// over b's: perBroker (this broker's) over clusterDefault. Configs that
// are unknown, not dynamic or invalid are left out and listed in skipped,
// so that a bad value in the metadata never stops a broker. A dynamic
// config replaces every synonym below it, as Kafka's does: a dynamic
// log.retention.hours wins over a static log.retention.ms.
func (b *Broker) WithDynamic(perBroker, clusterDefault map[string]string) (eff *Broker, skipped []string) {
	static := b.static
	if static == nil {
		static = b.set
	}
	eff = &Broker{Values: Values{defs: b.defs, static: static}, Ignored: b.Ignored}
	eff.set = maps.Clone(static)
	layer := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			if CheckDynamicBrokerConfig(k, v) != nil {
				skipped = append(skipped, k)
				continue
			}
			for _, s := range BrokerSynonyms(k) {
				delete(eff.set, s)
			}
			out[k] = v
		}
		return out
	}
	// Synonyms are removed layer by layer, so the default layer goes
	// first.
	eff.dynDefault = layer(clusterDefault)
	maps.Copy(eff.set, eff.dynDefault)
	eff.dynBroker = layer(perBroker)
	maps.Copy(eff.set, eff.dynBroker)
	return eff, skipped
}

// Source says which layer a property's value in effect comes from.
func (v *Values) Source(name string) Source {
	if _, ok := v.set[name]; !ok {
		return SourceDefault
	}
	if _, ok := v.dynBroker[name]; ok {
		return SourceDynamicBroker
	}
	if _, ok := v.dynDefault[name]; ok {
		return SourceDynamicDefaultBroker
	}
	if _, ok := v.Layer(SourceStaticBroker)[name]; ok {
		return SourceStaticBroker
	}
	return SourceDefault
}

// Layer returns the properties set at one level: SourceDynamicBroker,
// SourceDynamicDefaultBroker or SourceStaticBroker (server.properties).
// The map must not be modified.
func (v *Values) Layer(src Source) map[string]string {
	switch src {
	case SourceDynamicBroker:
		return v.dynBroker
	case SourceDynamicDefaultBroker:
		return v.dynDefault
	case SourceStaticBroker:
		if v.static != nil {
			return v.static
		}
		return v.set
	}
	return nil
}

// Group configs (KIP-848): settings of one consumer group, over the
// broker's group.consumer.* defaults.
const (
	GroupSessionTimeoutMs    = "consumer.session.timeout.ms"
	GroupHeartbeatIntervalMs = "consumer.heartbeat.interval.ms"
)

// GroupDefs are the group configs, with the broker property each one
// defaults to. DescribeConfigs lists them in this order.
var GroupDefs = []TopicDef{
	{Def{Name: GroupSessionTimeoutMs, Type: Int, Default: "45000", Min: 1, Max: maxInt,
		Doc: "how long a member of the group may go without heartbeating before it is fenced"}, "group.consumer.session.timeout.ms"},
	{Def{Name: GroupHeartbeatIntervalMs, Type: Int, Default: "5000", Min: 1, Max: maxInt,
		Doc: "how often the group's members are told to heartbeat"}, "group.consumer.heartbeat.interval.ms"},
}

// FindGroupDef returns the definition of a group config, or nil.
func FindGroupDef(name string) *TopicDef {
	for i := range GroupDefs {
		if GroupDefs[i].Name == name {
			return &GroupDefs[i]
		}
	}
	return nil
}

// GroupValue returns a group config's value in effect: the group's own,
// else the broker's default; set reports the former.
func (b *Broker) GroupValue(overrides map[string]string, name string) (value string, set bool) {
	if v, ok := overrides[name]; ok {
		return v, true
	}
	d := FindGroupDef(name)
	if d == nil {
		panic("config: undefined group config " + name)
	}
	v, _ := b.Get(d.BrokerName)
	return v, false
}

// CheckGroupConfigs validates a group's configs as a whole, within the
// broker's group.consumer.min/max.* bounds (Kafka's GroupConfig.validate).
func (b *Broker) CheckGroupConfigs(overrides map[string]string) error {
	for k, v := range overrides {
		d := FindGroupDef(k)
		if d == nil {
			return fmt.Errorf("unknown group config %q", k)
		}
		if err := d.Check(v); err != nil {
			return err
		}
	}
	value := func(name string) int64 {
		v, _ := b.GroupValue(overrides, name)
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	for _, c := range []struct{ name, min, max string }{
		{GroupSessionTimeoutMs, "group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms"},
		{GroupHeartbeatIntervalMs, "group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms"},
	} {
		if _, ok := overrides[c.name]; !ok {
			continue
		}
		n := value(c.name)
		if lo := b.Int64(c.min); n < lo {
			return fmt.Errorf("%s must be greater than or equal to %s (%d)", c.name, c.min, lo)
		}
		if hi := b.Int64(c.max); n > hi {
			return fmt.Errorf("%s must be less than or equal to %s (%d)", c.name, c.max, hi)
		}
	}
	if value(GroupHeartbeatIntervalMs) >= value(GroupSessionTimeoutMs) {
		return fmt.Errorf("%s must be less than %s", GroupHeartbeatIntervalMs, GroupSessionTimeoutMs)
	}
	return nil
}

// GroupDuration returns a group config in effect as a duration.
func (b *Broker) GroupDuration(overrides map[string]string, name string) time.Duration {
	v, _ := b.GroupValue(overrides, name)
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.Duration(n) * time.Millisecond
}
