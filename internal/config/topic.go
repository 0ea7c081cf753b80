package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Source says where a config value came from, numbered as DescribeConfigs
// reports it.
type Source int8

// Config sources (DescribeConfigsResponse ConfigSource).
const (
	SourceDynamicTopic         Source = 1
	SourceDynamicBroker        Source = 2
	SourceDynamicDefaultBroker Source = 3
	SourceStaticBroker         Source = 4
	SourceDefault              Source = 5
	SourceGroup                Source = 8
)

// FindTopicDef returns the definition of a topic config, or nil.
func FindTopicDef(name string) *TopicDef {
	for i := range TopicDefs {
		if TopicDefs[i].Name == name {
			return &TopicDefs[i]
		}
	}
	return nil
}

// CheckTopicConfig validates one topic config override.
func CheckTopicConfig(name, value string) error {
	d := FindTopicDef(name)
	if d == nil {
		return fmt.Errorf("unknown topic config %q", name)
	}
	return d.Check(value)
}

// Topic is a topic's effective configuration: its own overrides over the
// broker's defaults.
type Topic struct {
	Broker    *Broker
	Overrides map[string]string
}

// Value returns the effective value of a topic config and its source.
func (t Topic) Value(name string) (string, Source) {
	if v, ok := t.Overrides[name]; ok {
		return v, SourceDynamicTopic
	}
	d := FindTopicDef(name)
	if d == nil {
		panic("config: undefined topic config " + name)
	}
	if t.Broker == nil {
		return d.Default, SourceDefault
	}
	return t.Broker.TopicDefault(d)
}

// String returns the effective value of a topic config.
func (t Topic) String(name string) string { v, _ := t.Value(name); return strings.TrimSpace(v) }

// Int64 returns the effective value of a numeric topic config.
func (t Topic) Int64(name string) int64 {
	n, _ := strconv.ParseInt(t.String(name), 10, 64)
	return n
}

// Bool returns the effective value of a boolean topic config.
func (t Topic) Bool(name string) bool { b, _ := parseBool(t.String(name)); return b }

// Float64 returns a numeric config as a float.
func (t Topic) Float64(name string) float64 {
	f, _ := strconv.ParseFloat(t.String(name), 64)
	return f
}
