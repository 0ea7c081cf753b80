package kafka

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The class names of Java's assignors, as partition.assignment.strategy
// takes them.
const (
	rangeAssignorClass             = "org.apache.kafka.clients.consumer.RangeAssignor"
	roundRobinAssignorClass        = "org.apache.kafka.clients.consumer.RoundRobinAssignor"
	stickyAssignorClass            = "org.apache.kafka.clients.consumer.StickyAssignor"
	cooperativeStickyAssignorClass = "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
)

// consumerDefs is every consumer setting of the Java client (4.x), with its
// default and the validation ConsumerConfig applies.
var consumerDefs = defsByName(commonDefs(), []*propDef{
	{name: "key.deserializer", typ: typeClass, nullable: true},
	{name: "value.deserializer", typ: typeClass, nullable: true},
	{name: "group.id", typ: typeString, nullable: true},
	{name: "group.instance.id", typ: typeString, nullable: true, check: checkInstanceID},
	{name: "group.protocol", typ: typeString, def: "classic", oneOf: []string{"classic", "consumer"}, fold: true},
	{name: "group.remote.assignor", typ: typeString, nullable: true},
	{name: "session.timeout.ms", typ: typeInt, def: "45000"},
	{name: "heartbeat.interval.ms", typ: typeInt, def: "3000"},
	{name: "partition.assignment.strategy", typ: typeList, def: rangeAssignorClass + "," + cooperativeStickyAssignorClass},
	{name: "enable.auto.commit", typ: typeBool, def: "true"},
	{name: "auto.commit.interval.ms", typ: typeInt, def: "5000", valid: atLeast(0)},
	{name: "client.rack", typ: typeString},
	{name: "max.partition.fetch.bytes", typ: typeInt, def: "1048576", valid: atLeast(0)},
	{name: "receive.buffer.bytes", typ: typeInt, def: "65536", valid: atLeast(-1)},
	{name: "fetch.min.bytes", typ: typeInt, def: "1", valid: atLeast(0)},
	{name: "fetch.max.bytes", typ: typeInt, def: "52428800", valid: atLeast(0)},
	{name: "fetch.max.wait.ms", typ: typeInt, def: "500", valid: atLeast(0)},
	{name: "auto.offset.reset", typ: typeString, def: "latest", check: checkOffsetReset},
	{name: "check.crcs", typ: typeBool, def: "true"},
	{name: "default.api.timeout.ms", typ: typeInt, def: "60000", valid: atLeast(0)},
	{name: "max.poll.records", typ: typeInt, def: "500", valid: atLeast(1)},
	{name: "max.poll.interval.ms", typ: typeInt, def: "300000", valid: atLeast(1)},
	{name: "exclude.internal.topics", typ: typeBool, def: "true"},
	{name: "isolation.level", typ: typeString, def: "read_uncommitted", oneOf: []string{"read_committed", "read_uncommitted"}},
	{name: "allow.auto.create.topics", typ: typeBool, def: "true"},
	// Java's internal switch, used by Kafka Streams: a closing member
	// does not send LeaveGroup.
	{name: "internal.leave.group.on.close", typ: typeBool, def: "true"},
	{name: "internal.throw.on.fetch.stable.offset.unsupported", typ: typeBool, def: "false", noEffect: true},
})

// ConsumerConfigNames returns the names of every setting the consumer
// accepts, sorted.
func ConsumerConfigNames() []string { return sortedNames(consumerDefs) }

// validInstanceID is JoinGroupRequest.validateGroupInstanceId's rule.
var validInstanceID = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

func checkInstanceID(v string) error {
	switch {
	case v == "":
		return errors.New("group instance id must be non-empty string")
	case v == "." || v == "..":
		return errors.New("group instance id cannot be \".\" or \"..\"")
	case len(v) > 249:
		return errors.New("group instance id can't be longer than 249 characters")
	case !validInstanceID.MatchString(v):
		return errors.New("group instance id contains characters other than ASCII alphanumerics, '.', '_' and '-'")
	}
	return nil
}

// assignorNames maps the names partition.assignment.strategy accepts (the
// Java class, its simple name, or the protocol name) to protocol names.
var assignorNames = map[string]string{
	rangeAssignorClass: "range", "RangeAssignor": "range", "range": "range",
	roundRobinAssignorClass: "roundrobin", "RoundRobinAssignor": "roundrobin", "roundrobin": "roundrobin",
	stickyAssignorClass: "sticky", "StickyAssignor": "sticky", "sticky": "sticky",
	cooperativeStickyAssignorClass: "cooperative-sticky", "CooperativeStickyAssignor": "cooperative-sticky", "cooperative-sticky": "cooperative-sticky",
}

// assignorsOf resolves partition.assignment.strategy to protocol names,
// given the consumer's own assignors (WithPartitionAssignors): those
// alone unless the setting is explicit, which must then name each.
func assignorsOf(s settings, custom []PartitionAssignor) ([]string, map[string]PartitionAssignor, error) {
	byName := map[string]PartitionAssignor{}
	var order []string
	for _, a := range custom {
		if a == nil {
			return nil, nil, configErr("partition.assignment.strategy", "", "WithPartitionAssignors was given a nil assignor")
		}
		n := a.Name()
		if n == "" {
			return nil, nil, configErr("partition.assignment.strategy", "", fmt.Sprintf("assignor %T has an empty name", a))
		}
		if _, dup := byName[n]; dup {
			return nil, nil, configErr("partition.assignment.strategy", n, "WithPartitionAssignors was given two assignors of this name")
		}
		byName[n] = a
		order = append(order, n)
	}
	if len(custom) > 0 && !s.set("partition.assignment.strategy") {
		return order, byName, nil
	}
	v := s.get("partition.assignment.strategy")
	var names []string
	for _, n := range splitList(v) {
		name := n
		if _, ok := byName[n]; !ok {
			if name, ok = assignorNames[n]; !ok {
				return nil, nil, configErr("partition.assignment.strategy", v, fmt.Sprintf("%q is neither one of the built-in assignors %s, %s, %s, %s (or their protocol names range, roundrobin, sticky, cooperative-sticky) nor the name of an assignor given with WithPartitionAssignors; Java classes cannot be loaded",
					n, rangeAssignorClass, roundRobinAssignorClass, stickyAssignorClass, cooperativeStickyAssignorClass))
			}
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, n := range order {
		if !slices.Contains(names, n) {
			return nil, nil, configErr("partition.assignment.strategy", v, fmt.Sprintf("does not name the assignor %q given with WithPartitionAssignors", n))
		}
	}
	return names, byName, nil
}

// resetKind is an auto.offset.reset strategy.
type resetKind int8

const (
	resetLatest resetKind = iota
	resetEarliest
	resetNone
	resetByDuration
)

// offsetReset is a parsed auto.offset.reset (AutoOffsetResetStrategy).
type offsetReset struct {
	kind resetKind
	dur  time.Duration // for resetByDuration
}

func (r offsetReset) String() string {
	switch r.kind {
	case resetEarliest:
		return "earliest"
	case resetNone:
		return "none"
	case resetByDuration:
		return "by_duration:" + r.dur.String()
	}
	return "latest"
}

func checkOffsetReset(v string) error {
	_, err := parseOffsetReset(v)
	return err
}

func parseOffsetReset(v string) (offsetReset, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	switch s {
	case "latest":
		return offsetReset{kind: resetLatest}, nil
	case "earliest":
		return offsetReset{kind: resetEarliest}, nil
	case "none":
		return offsetReset{kind: resetNone}, nil
	}
	if rest, ok := strings.CutPrefix(s, "by_duration:"); ok {
		d, err := parseISODuration(rest)
		if err != nil {
			return offsetReset{}, fmt.Errorf("%s: the value after by_duration: must be an ISO-8601 duration such as PT1H or P1DT12H", err)
		}
		if d < 0 {
			return offsetReset{}, errors.New("negative duration is not supported")
		}
		return offsetReset{kind: resetByDuration, dur: d}, nil
	}
	return offsetReset{}, errors.New("the value must be either 'earliest', 'latest', 'none' or of the format 'by_duration:<PnDTnHnMn.nS.>'")
}

// isoDuration is the form java.time.Duration.parse accepts: PnDTnHnMn.nS,
// with optional signs, case-insensitive.
var isoDuration = regexp.MustCompile(`^([-+]?)p(?:([-+]?[0-9]+)d)?(t(?:([-+]?[0-9]+)h)?(?:([-+]?[0-9]+)m)?(?:([-+]?[0-9]+)(?:[.,]([0-9]{0,9}))?s)?)?$`)

func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(strings.ToLower(s))
	if m == nil || (m[2] == "" && m[3] == "") || m[3] == "t" {
		return 0, fmt.Errorf("%q is not an ISO-8601 duration", s)
	}
	var total float64
	for i, unit := range map[int]time.Duration{2: 24 * time.Hour, 4: time.Hour, 5: time.Minute, 6: time.Second} {
		if m[i] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		total += float64(n) * float64(unit)
	}
	if m[7] != "" {
		frac, _ := strconv.ParseFloat("0."+m[7], 64)
		if strings.HasPrefix(m[6], "-") {
			frac = -frac
		}
		total += frac * float64(time.Second)
	}
	if m[1] == "-" {
		total = -total
	}
	if math.Abs(total) > float64(math.MaxInt64) {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return time.Duration(total), nil
}

// consumerConfig is a validated Config with Java's cross-setting rules
// applied.
type consumerConfig struct {
	netConfig
	raw Config // as given, for deserializers' Configure

	groupID        string // "" without a group
	instanceID     string // group.instance.id, "" if none
	protocol848    bool   // group.protocol=consumer
	remoteAssignor string
	sessionTO      time.Duration
	heartbeat      time.Duration
	assignors      []string                     // protocol names, in preference order
	custom         map[string]PartitionAssignor // WithPartitionAssignors, by name

	autoCommit         bool
	autoCommitInterval time.Duration
	rack               string

	maxPartitionFetch int32
	fetchMin          int32
	fetchMax          int32
	fetchMaxWait      time.Duration
	reset             offsetReset
	checkCRCs         bool
	apiTimeout        time.Duration
	maxPollRecords    int
	maxPollInterval   time.Duration
	excludeInternal   bool
	readCommitted     bool
	leaveOnClose      bool

	// notes are the adjustments made silently, logged by NewConsumer.
	notes []string
}

// parseConsumerConfig validates cfg. extra reports whether a plug-in
// (deserializer) reads a setting the consumer does not know; custom are
// the assignors given with WithPartitionAssignors.
func parseConsumerConfig(cfg Config, extra func(name string) bool, custom []PartitionAssignor) (*consumerConfig, error) {
	notes, err := checkSettings(cfg, consumerDefs, "consumer", extra)
	if err != nil {
		return nil, err
	}
	s := settings{cfg, consumerDefs}
	cc := &consumerConfig{raw: cfg, netConfig: s.net(), notes: notes}
	// The consumer keeps metadata of the topics it reads for as long as
	// it reads them.
	cc.metadataMaxIdle = time.Duration(math.MaxInt64)
	cc.autoCreateTopics = s.bool("allow.auto.create.topics")

	cc.groupID = s.get("group.id")
	if s.set("group.id") && cc.groupID == "" {
		return nil, configErr("group.id", cfg["group.id"], "must not be empty; leave it unset for a consumer without a group")
	}
	cc.instanceID = s.get("group.instance.id")
	cc.protocol848 = strings.EqualFold(s.get("group.protocol"), "consumer")
	cc.remoteAssignor = s.get("group.remote.assignor")
	cc.sessionTO = s.ms("session.timeout.ms")
	cc.heartbeat = s.ms("heartbeat.interval.ms")
	if cc.assignors, cc.custom, err = assignorsOf(s, custom); err != nil {
		return nil, err
	}
	cc.autoCommit = s.bool("enable.auto.commit")
	cc.autoCommitInterval = s.ms("auto.commit.interval.ms")
	cc.rack = s.get("client.rack")
	cc.maxPartitionFetch = int32(s.i64("max.partition.fetch.bytes"))
	cc.fetchMin = int32(s.i64("fetch.min.bytes"))
	cc.fetchMax = int32(s.i64("fetch.max.bytes"))
	cc.fetchMaxWait = s.ms("fetch.max.wait.ms")
	cc.reset, _ = parseOffsetReset(s.get("auto.offset.reset"))
	cc.checkCRCs = s.bool("check.crcs")
	cc.apiTimeout = s.ms("default.api.timeout.ms")
	cc.maxPollRecords = int(s.i64("max.poll.records"))
	cc.maxPollInterval = s.ms("max.poll.interval.ms")
	cc.excludeInternal = s.bool("exclude.internal.topics")
	cc.readCommitted = s.get("isolation.level") == "read_committed"
	cc.leaveOnClose = s.bool("internal.leave.group.on.close")

	if err := cc.applyGroupRules(s); err != nil {
		return nil, err
	}
	if v := s.get("interceptor.classes"); v != "" {
		return nil, configErr("interceptor.classes", v, "Go cannot load Java classes; pass interceptors with kafka.WithConsumerInterceptors")
	}
	return cc, nil
}

// applyGroupRules mirrors ConsumerConfig's and the coordinators' checks
// that involve several settings.
func (cc *consumerConfig) applyGroupRules(s settings) error {
	// ConsumerConfig.maybeOverrideEnableAutoCommit: without a group there
	// is nothing to commit to.
	if cc.groupID == "" {
		if s.set("enable.auto.commit") && cc.autoCommit {
			return configErr("enable.auto.commit", s.cfg["enable.auto.commit"], "cannot be set to true when default group id (null) is used")
		}
		cc.autoCommit = false
		return nil
	}
	// ConsumerConfig.checkUnsupportedConfigs: each protocol refuses the
	// settings only the other one has.
	unsupported := []string{"group.remote.assignor"}
	protocol := "CLASSIC"
	if cc.protocol848 {
		unsupported = []string{"partition.assignment.strategy", "heartbeat.interval.ms", "session.timeout.ms"}
		protocol = "CONSUMER"
	}
	var bad []string
	for _, n := range unsupported {
		if strings.TrimSpace(s.cfg[n]) != "" {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return configErr(strings.Join(bad, ", "), "", "cannot be set when group.protocol="+protocol)
	}
	if cc.protocol848 {
		if len(cc.custom) > 0 {
			return configErr("partition.assignment.strategy", "", "assignors given with WithPartitionAssignors run only with group.protocol=classic; with the consumer protocol the broker assigns (group.remote.assignor)")
		}
		return nil
	}
	if len(cc.assignors) == 0 {
		return configErr("partition.assignment.strategy", s.cfg["partition.assignment.strategy"], "must name at least one assignor for a consumer with a group.id")
	}
	// Java's Heartbeat: the session must outlive several heartbeats.
	if cc.heartbeat >= cc.sessionTO {
		return configErr("heartbeat.interval.ms", s.get("heartbeat.interval.ms"), "heartbeat must be set lower than the session timeout (session.timeout.ms)")
	}
	return nil
}
