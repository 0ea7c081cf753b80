package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Values is a validated set of properties over a table of definitions:
// the explicitly set values, with the table's defaults behind them.
type Values struct {
	defs map[string]*Def
	// set are the values in effect that are not built-in defaults.
	set map[string]string
	// static are those of server.properties when dynamic configs are
	// layered over them (WithDynamic); nil means set.
	static map[string]string
	// dynDefault and dynBroker are the cluster-wide and this broker's
	// dynamic configs in effect.
	dynDefault, dynBroker map[string]string
}

// Get returns the value of a property, set or default, and whether it was
// set explicitly. Asking for an undefined property is a programming error.
func (v *Values) Get(name string) (string, bool) {
	d, ok := v.defs[name]
	if !ok {
		panic("config: undefined property " + name)
	}
	if s, ok := v.set[name]; ok {
		return s, true
	}
	return d.Default, false
}

// String returns a property's value.
func (v *Values) String(name string) string { s, _ := v.Get(name); return strings.TrimSpace(s) }

// Int64 returns a numeric property's value.
func (v *Values) Int64(name string) int64 {
	n, _ := strconv.ParseInt(v.String(name), 10, 64)
	return n
}

// Int returns a numeric property's value.
func (v *Values) Int(name string) int { return int(v.Int64(name)) }

// Bool returns a boolean property's value.
func (v *Values) Bool(name string) bool { b, _ := parseBool(v.String(name)); return b }

// Float64 returns a numeric property as a float.
func (v *Values) Float64(name string) float64 {
	f, _ := strconv.ParseFloat(v.String(name), 64)
	return f
}

// List returns a list property's elements.
func (v *Values) List(name string) []string { return SplitList(v.String(name)) }

// IsSet reports whether the property was given explicitly.
func (v *Values) IsSet(name string) bool { _, ok := v.set[name]; return ok }

// Set returns the explicitly set properties.
func (v *Values) Set() map[string]string { return v.set }

// Listener is one entry of listeners or advertised.listeners.
type Listener struct {
	Name string // PLAINTEXT
	Host string
	Port int
}

// Addr is host:port.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// Broker is a broker's validated configuration.
type Broker struct {
	Values
	// Ignored lists Kafka properties that were given but mean nothing here.
	Ignored []string
}

// NewBroker validates props (Kafka broker property names) and returns the
// configuration. An unknown property or an invalid value is an error naming
// it; several problems are reported together.
func NewBroker(props map[string]string) (*Broker, error) {
	b := &Broker{Values: Values{defs: map[string]*Def{}, set: map[string]string{}}}
	for i := range BrokerDefs {
		b.defs[BrokerDefs[i].Name] = &BrokerDefs[i]
	}
	var errs []error
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := props[k]
		name := k
		if a, ok := aliases[k]; ok {
			name = a
		}
		d, ok := b.defs[name]
		if !ok {
			if slices.Contains(IgnoredBrokerProps, k) {
				b.Ignored = append(b.Ignored, k)
				continue
			}
			errs = append(errs, fmt.Errorf("unknown property %q", k))
			continue
		}
		if err := d.Check(val); err != nil {
			errs = append(errs, err)
			continue
		}
		b.set[name] = strings.TrimSpace(val)
	}
	if len(errs) == 0 {
		for _, name := range []string{"listeners", "advertised.listeners"} {
			if _, err := ParseListeners(b.String(name)); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
		if len(b.List("log.dirs")) == 0 {
			errs = append(errs, errors.New("log.dirs: no directory given"))
		}
		if len(b.List("controller.quorum.voters")) > 0 && len(b.List("etcd.endpoints")) > 0 {
			errs = append(errs, errors.New("controller.quorum.voters and etcd.endpoints: give one or the other"))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return b, nil
}

// ParseListeners parses NAME://host:port,... Only PLAINTEXT listeners are
// served.
func ParseListeners(v string) ([]Listener, error) {
	var out []Listener
	for _, e := range SplitList(v) {
		name, addr, ok := strings.Cut(e, "://")
		if !ok {
			return nil, fmt.Errorf("%q is not NAME://host:port", e)
		}
		if name != "PLAINTEXT" {
			return nil, fmt.Errorf("%q: only PLAINTEXT listeners are supported", e)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", e, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("%q: bad port", e)
		}
		out = append(out, Listener{Name: name, Host: host, Port: p})
	}
	return out, nil
}

// Listeners returns the parsed listeners.
func (b *Broker) Listeners() []Listener {
	l, _ := ParseListeners(b.String("listeners"))
	return l
}

// NodeID is node.id.
func (b *Broker) NodeID() int32 { return int32(b.Int("node.id")) }

// RetentionMs resolves log.retention.ms over minutes over hours.
func (b *Broker) RetentionMs() int64 {
	if b.IsSet("log.retention.ms") {
		return b.Int64("log.retention.ms")
	}
	if b.IsSet("log.retention.minutes") {
		m := b.Int64("log.retention.minutes")
		if m < 0 {
			return -1
		}
		return m * 60_000
	}
	h := b.Int64("log.retention.hours")
	if h < 0 {
		return -1
	}
	return h * 3_600_000
}

// RollMs resolves log.roll.ms over log.roll.hours.
func (b *Broker) RollMs() int64 {
	if b.IsSet("log.roll.ms") {
		return b.Int64("log.roll.ms")
	}
	return b.Int64("log.roll.hours") * 3_600_000
}

// FlushMs resolves log.flush.interval.ms (default: never).
func (b *Broker) FlushMs() int64 {
	if b.IsSet("log.flush.interval.ms") {
		return b.Int64("log.flush.interval.ms")
	}
	return maxLong
}

// TopicDefault returns the broker-level default of a topic config and
// where it comes from: the layer of the broker property in effect
// (dynamic or server.properties), else SourceDefault for the built-in
// default.
func (b *Broker) TopicDefault(d *TopicDef) (string, Source) {
	src := SourceDefault
	for _, n := range BrokerSynonyms(d.BrokerName) {
		if b.IsSet(n) {
			src = b.Source(n)
			break
		}
	}
	switch d.Name {
	case "retention.ms":
		return strconv.FormatInt(b.RetentionMs(), 10), src
	case "segment.ms":
		return strconv.FormatInt(b.RollMs(), 10), src
	case "flush.ms":
		return strconv.FormatInt(b.FlushMs(), 10), src
	}
	if _, ok := b.defs[d.BrokerName]; ok {
		v, _ := b.Get(d.BrokerName)
		return v, src
	}
	return d.Default, SourceDefault
}
