package kafka

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// Config holds client settings by their Java property names
// ("bootstrap.servers", "acks", "linger.ms", ...). Values are strings, as in
// a .properties file. A setting the producer does not know, or a value the
// Java client would reject, fails NewProducer with an error naming it.
type Config map[string]string

// LoadConfig reads a Java .properties file (key=value or key: value lines,
// # and ! comments, backslash continuations and escapes).
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg, err := ReadConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ReadConfig parses .properties text; see LoadConfig.
func ReadConfig(r io.Reader) (Config, error) {
	cfg := Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var logical strings.Builder
	continued := false
	for sc.Scan() {
		line := sc.Text()
		if !continued {
			line = strings.TrimLeft(line, " \t\f")
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
		} else {
			line = strings.TrimLeft(line, " \t\f")
		}
		// An odd number of trailing backslashes continues the line.
		n := len(line) - len(strings.TrimRight(line, `\`))
		continued = n%2 == 1
		if continued {
			line = line[:len(line)-1]
		}
		logical.WriteString(line)
		if continued {
			continue
		}
		k, v := splitProperty(logical.String())
		cfg[k] = v
		logical.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if logical.Len() > 0 {
		k, v := splitProperty(logical.String())
		cfg[k] = v
	}
	return cfg, nil
}

// splitProperty splits a logical .properties line at the first unescaped
// '=', ':' or whitespace and unescapes both halves.
func splitProperty(line string) (string, string) {
	i := 0
	for i < len(line) {
		c := line[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			break
		}
		i++
	}
	if i > len(line) {
		i = len(line)
	}
	key := line[:i]
	rest := strings.TrimLeft(line[i:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return unescapeProperty(key), unescapeProperty(rest)
}

func unescapeProperty(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+4 < len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+5], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += 4
					continue
				}
			}
			b.WriteByte('u')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// propType is a setting's type, as Java's ConfigDef names it.
type propType int

const (
	typeString propType = iota
	typeInt
	typeLong
	typeBool
	typeList
	typeClass
	typePassword
)

func (t propType) String() string {
	return [...]string{"string", "int", "long", "boolean", "list", "class", "password"}[t]
}

// propDef is one producer setting: its Java default, type and validation.
type propDef struct {
	name string
	typ  propType
	// def is the Java default; "" with nullable means null.
	def      string
	nullable bool
	// required settings have no default (bootstrap.servers).
	required bool
	// valid bounds numeric values, as Java's ConfigDef.Range.
	valid *bounds
	// oneOf lists the allowed values (case-insensitive where fold is set).
	oneOf []string
	fold  bool
	// noEffect marks settings that are accepted for compatibility with
	// Java property files but change nothing in this client yet.
	noEffect bool
	// check is an extra validation beyond type and range.
	check func(v string) error
}

// bounds is an inclusive numeric range.
type bounds struct{ min, max int64 }

const (
	maxInt32 = math.MaxInt32
	maxInt64 = math.MaxInt64
)

// atLeast and between mirror ConfigDef.Range.atLeast and between.
func atLeast(n int64) *bounds    { return &bounds{n, maxInt64} }
func between(a, b int64) *bounds { return &bounds{a, b} }

// commonDefs are the settings the producer and the consumer share, with
// the same defaults and validation (Java's CommonClientConfigs).
// receive.buffer.bytes is not among them: its default differs.
func commonDefs() []*propDef {
	return []*propDef{
		{name: "bootstrap.servers", typ: typeList, required: true, check: checkBootstrap},
		{name: "client.id", typ: typeString},
		{name: "retry.backoff.ms", typ: typeLong, def: "100", valid: atLeast(0)},
		{name: "retry.backoff.max.ms", typ: typeLong, def: "1000", valid: atLeast(0)},
		{name: "request.timeout.ms", typ: typeInt, def: "30000", valid: atLeast(0)},
		{name: "interceptor.classes", typ: typeList},
		{name: "metadata.max.age.ms", typ: typeLong, def: "300000", valid: atLeast(0)},
		{name: "send.buffer.bytes", typ: typeInt, def: "131072", valid: atLeast(-1)},
		{name: "reconnect.backoff.ms", typ: typeLong, def: "50", valid: atLeast(0)},
		{name: "reconnect.backoff.max.ms", typ: typeLong, def: "1000", valid: atLeast(0)},
		{name: "connections.max.idle.ms", typ: typeLong, def: "540000"},
		{name: "socket.connection.setup.timeout.ms", typ: typeLong, def: "10000", valid: atLeast(0)},
		{name: "socket.connection.setup.timeout.max.ms", typ: typeLong, def: "30000", valid: atLeast(0)},
		{name: "security.protocol", typ: typeString, def: "PLAINTEXT", oneOf: []string{"PLAINTEXT"}, fold: true},
		// The windows of rates, averages and maxima (Metrics).
		{name: "metrics.sample.window.ms", typ: typeLong, def: "30000", valid: atLeast(0)},
		{name: "metrics.num.samples", typ: typeInt, def: "2", valid: atLeast(1)},
		// Every metric this client keeps is at Java's INFO level, so
		// all levels record the same ones.
		{name: "metrics.recording.level", typ: typeString, def: "INFO", oneOf: []string{"INFO", "DEBUG", "TRACE"}},
		// Accepted so that Java property files load; they change nothing
		// here (DNS is Go's resolver; metrics are read with Metrics and
		// WritePrometheus, not Java reporter classes, and are not pushed
		// to the broker, KIP-714).
		{name: "client.dns.lookup", typ: typeString, def: "use_all_dns_ips", oneOf: []string{"use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"}, noEffect: true},
		{name: "metadata.recovery.strategy", typ: typeString, def: "rebootstrap", oneOf: []string{"none", "rebootstrap"}, fold: true, noEffect: true},
		{name: "metadata.recovery.rebootstrap.trigger.ms", typ: typeLong, def: "300000", valid: atLeast(0), noEffect: true},
		{name: "metric.reporters", typ: typeList, noEffect: true},
		{name: "enable.metrics.push", typ: typeBool, def: "true", noEffect: true},
	}
}

// defsByName indexes setting definitions by name.
func defsByName(lists ...[]*propDef) map[string]*propDef {
	m := map[string]*propDef{}
	for _, defs := range lists {
		for _, d := range defs {
			m[d.name] = d
		}
	}
	return m
}

// producerDefs is every producer setting of the Java client (4.x), with its
// default and the validation ProducerConfig applies.
var producerDefs = defsByName(commonDefs(), []*propDef{
	{name: "key.serializer", typ: typeClass, nullable: true},
	{name: "value.serializer", typ: typeClass, nullable: true},
	{name: "acks", typ: typeString, def: "all", oneOf: []string{"all", "-1", "0", "1"}, fold: true},
	{name: "enable.idempotence", typ: typeBool, def: "true"},
	{name: "transactional.id", typ: typeString, nullable: true, check: nonEmpty},
	{name: "transaction.timeout.ms", typ: typeInt, def: "60000"},
	{name: "linger.ms", typ: typeLong, def: "5", valid: atLeast(0)},
	{name: "batch.size", typ: typeInt, def: "16384", valid: atLeast(0)},
	{name: "buffer.memory", typ: typeLong, def: "33554432", valid: atLeast(0)},
	{name: "max.block.ms", typ: typeLong, def: "60000", valid: atLeast(0)},
	{name: "compression.type", typ: typeString, def: "none", oneOf: []string{"none", "gzip", "snappy", "lz4", "zstd"}},
	// The levels of KIP-390, validated as Java does.
	{name: "compression.gzip.level", typ: typeInt, def: "-1", check: levelCheck(record.Gzip)},
	{name: "compression.lz4.level", typ: typeInt, def: "9", check: levelCheck(record.LZ4)},
	{name: "compression.zstd.level", typ: typeInt, def: "3", check: levelCheck(record.Zstd)},
	{name: "retries", typ: typeInt, def: "2147483647", valid: between(0, maxInt32)},
	{name: "delivery.timeout.ms", typ: typeInt, def: "120000", valid: atLeast(0)},
	{name: "max.in.flight.requests.per.connection", typ: typeInt, def: "5", valid: atLeast(1)},
	{name: "max.request.size", typ: typeInt, def: "1048576", valid: atLeast(0)},
	{name: "partitioner.class", typ: typeClass, nullable: true},
	{name: "partitioner.ignore.keys", typ: typeBool, def: "false"},
	{name: "partitioner.adaptive.partitioning.enable", typ: typeBool, def: "true"},
	{name: "partitioner.availability.timeout.ms", typ: typeLong, def: "0", valid: atLeast(0)},
	{name: "metadata.max.idle.ms", typ: typeLong, def: "300000", valid: atLeast(5000)},
	{name: "receive.buffer.bytes", typ: typeInt, def: "32768", valid: atLeast(-1)},
})

// ProducerConfigNames returns the names of every setting the producer
// accepts, sorted.
func ProducerConfigNames() []string { return sortedNames(producerDefs) }

func sortedNames(defs map[string]*propDef) []string {
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func checkBootstrap(v string) error {
	addrs := splitList(v)
	if len(addrs) == 0 {
		return errors.New("no bootstrap servers given")
	}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return fmt.Errorf("invalid url %q: want host:port", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("invalid port in %q", a)
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// validate checks v against d's type, range and allowed values.
func (d *propDef) validate(v string) error {
	t := strings.TrimSpace(v)
	if t == "" && d.check != nil {
		return d.check(t)
	}
	if t == "" && (d.nullable || d.typ == typeList || (d.typ == typeString && len(d.oneOf) == 0)) {
		return nil
	}
	switch d.typ {
	case typeInt, typeLong:
		bits := 32
		if d.typ == typeLong {
			bits = 64
		}
		n, err := strconv.ParseInt(t, 10, bits)
		if err != nil {
			return fmt.Errorf("%q is not a valid %s", v, d.typ)
		}
		if r := d.valid; r != nil && (n < r.min || n > r.max) {
			if r.max == maxInt64 {
				return fmt.Errorf("value %d must be at least %d", n, r.min)
			}
			return fmt.Errorf("value %d must be between %d and %d", n, r.min, r.max)
		}
	case typeBool:
		if _, err := parseBool(t); err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
	}
	if len(d.oneOf) > 0 {
		ok := slices.ContainsFunc(d.oneOf, func(s string) bool {
			if d.fold {
				return strings.EqualFold(s, t)
			}
			return s == t
		})
		if !ok {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(d.oneOf, ", "))
		}
	}
	if d.check != nil {
		return d.check(t)
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", v)
}

// netConfig holds the settings of connections and metadata that every
// client (producer, consumer) has.
type netConfig struct {
	bootstrap []string
	clientID  string

	requestTO       time.Duration
	retryBackoff    time.Duration
	retryBackoffM   time.Duration
	metadataMaxAge  time.Duration
	metadataMaxIdle time.Duration
	sendBuffer      int
	receiveBuffer   int
	reconnect       time.Duration
	reconnectMax    time.Duration
	connMaxIdle     time.Duration
	connSetupTO     time.Duration
	// autoCreateTopics is what metadata requests ask for
	// (allow.auto.create.topics for the consumer; always for the
	// producer, whose brokers decide with auto.create.topics.enable).
	autoCreateTopics bool

	metricsWindow  time.Duration
	metricsSamples int
}

// settings reads a validated Config, falling back to the defaults.
type settings struct {
	cfg  Config
	defs map[string]*propDef
}

func (s settings) get(name string) string {
	if v, ok := s.cfg[name]; ok {
		return strings.TrimSpace(v)
	}
	return s.defs[name].def
}

func (s settings) i64(name string) int64 {
	n, _ := strconv.ParseInt(s.get(name), 10, 64)
	return n
}

func (s settings) ms(name string) time.Duration {
	n := s.i64(name)
	if n > int64(math.MaxInt64/time.Millisecond) {
		n = int64(math.MaxInt64 / time.Millisecond)
	}
	return time.Duration(n) * time.Millisecond
}

func (s settings) bool(name string) bool {
	v, _ := parseBool(s.get(name))
	return v
}

func (s settings) set(name string) bool {
	_, ok := s.cfg[name]
	return ok
}

// net reads the shared connection and metadata settings.
func (s settings) net() netConfig {
	nc := netConfig{
		bootstrap:        splitList(s.get("bootstrap.servers")),
		clientID:         s.get("client.id"),
		requestTO:        s.ms("request.timeout.ms"),
		retryBackoff:     s.ms("retry.backoff.ms"),
		retryBackoffM:    s.ms("retry.backoff.max.ms"),
		metadataMaxAge:   s.ms("metadata.max.age.ms"),
		sendBuffer:       int(s.i64("send.buffer.bytes")),
		receiveBuffer:    int(s.i64("receive.buffer.bytes")),
		reconnect:        s.ms("reconnect.backoff.ms"),
		reconnectMax:     s.ms("reconnect.backoff.max.ms"),
		connMaxIdle:      s.ms("connections.max.idle.ms"),
		connSetupTO:      s.ms("socket.connection.setup.timeout.ms"),
		metricsWindow:    s.ms("metrics.sample.window.ms"),
		metricsSamples:   int(s.i64("metrics.num.samples")),
		autoCreateTopics: true,
	}
	// Java (CommonClientConfigs) turns exponential backoff off, rather than
	// failing, when the maximum is below the base.
	if nc.retryBackoffM < nc.retryBackoff {
		nc.retryBackoffM = nc.retryBackoff
	}
	if nc.reconnectMax < nc.reconnect {
		nc.reconnectMax = nc.reconnect
	}
	return nc
}

// checkSettings validates each setting on its own: known (to the client
// or a plug-in), well typed, in range, required ones present. It returns
// notes on settings accepted without effect. kind names the client in
// errors ("producer", "consumer").
func checkSettings(cfg Config, defs map[string]*propDef, kind string, extra func(name string) bool) ([]string, error) {
	var notes []string
	names := make([]string, 0, len(cfg))
	for k := range cfg {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		d, ok := defs[k]
		if !ok {
			if extra != nil && extra(k) {
				continue
			}
			return nil, configErr(k, cfg[k], "unknown "+kind+" setting")
		}
		if err := d.validate(cfg[k]); err != nil {
			return nil, configErr(k, cfg[k], err.Error())
		}
		if d.noEffect {
			notes = append(notes, k+" is accepted but has no effect in this client yet")
		}
	}
	for _, d := range defs {
		if _, ok := cfg[d.name]; !ok && d.required {
			return nil, configErr(d.name, "", "missing required setting, which has no default value")
		}
	}
	return notes, nil
}

// producerConfig is a validated Config with Java's cross-setting rules
// applied.
type producerConfig struct {
	netConfig
	raw Config // as given, for plug-ins' Configure

	acks            int16
	idempotent      bool
	transactionalID string
	txnTimeoutMs    int32

	linger       time.Duration
	batchSize    int
	bufferMemory int64
	maxBlock     time.Duration

	codec       record.Codec
	gzipLevel   int
	lz4Level    int
	zstdLevel   int
	retries     int
	deliveryTO  time.Duration
	maxInFlight int
	maxRequest  int

	partitionerClass     string
	ignoreKeys           bool
	adaptivePartitioning bool
	availabilityTimeout  time.Duration

	// notes are the adjustments made silently (Java logs them at info or
	// warn), logged by NewProducer.
	notes []string
}

// roundRobinPartitionerClass is the Java class name that maps to
// RoundRobinPartitioner.
const roundRobinPartitionerClass = "org.apache.kafka.clients.producer.RoundRobinPartitioner"

// parseProducerConfig validates cfg. extra reports whether a plug-in
// (serializer, partitioner, interceptor) reads a setting the producer does
// not know.
func parseProducerConfig(cfg Config, extra func(name string) bool) (*producerConfig, error) {
	notes, err := checkSettings(cfg, producerDefs, "producer", extra)
	if err != nil {
		return nil, err
	}
	s := settings{cfg, producerDefs}
	pc := &producerConfig{raw: cfg, netConfig: s.net(), notes: notes}
	switch strings.ToLower(s.get("acks")) {
	case "all", "-1":
		pc.acks = -1
	case "0":
		pc.acks = 0
	case "1":
		pc.acks = 1
	}
	pc.metadataMaxIdle = s.ms("metadata.max.idle.ms")
	pc.linger = s.ms("linger.ms")
	pc.batchSize = int(s.i64("batch.size"))
	pc.bufferMemory = s.i64("buffer.memory")
	pc.maxBlock = s.ms("max.block.ms")
	pc.codec, _ = record.ParseCodec(s.get("compression.type"))
	pc.gzipLevel = int(s.i64("compression.gzip.level"))
	pc.lz4Level = int(s.i64("compression.lz4.level"))
	pc.zstdLevel = int(s.i64("compression.zstd.level"))
	pc.retries = int(s.i64("retries"))
	pc.deliveryTO = s.ms("delivery.timeout.ms")
	pc.maxInFlight = int(s.i64("max.in.flight.requests.per.connection"))
	pc.maxRequest = int(s.i64("max.request.size"))
	pc.partitionerClass = s.get("partitioner.class")
	pc.ignoreKeys = s.bool("partitioner.ignore.keys")
	pc.adaptivePartitioning = s.bool("partitioner.adaptive.partitioning.enable")
	pc.availabilityTimeout = s.ms("partitioner.availability.timeout.ms")
	pc.transactionalID = s.get("transactional.id")
	pc.txnTimeoutMs = int32(s.i64("transaction.timeout.ms"))

	if err := pc.applyIdempotenceRules(s.set("enable.idempotence"), s.bool("enable.idempotence"), s.set("transactional.id")); err != nil {
		return nil, err
	}

	// KafkaProducer.configureDeliveryTimeout: an explicit delivery.timeout.ms
	// below linger.ms + request.timeout.ms is an error; the default is
	// raised silently.
	if lr := pc.linger + pc.requestTO; pc.deliveryTO < lr {
		if s.set("delivery.timeout.ms") {
			return nil, configErr("delivery.timeout.ms", cfg["delivery.timeout.ms"],
				"should be equal to or larger than linger.ms + request.timeout.ms")
		}
		pc.deliveryTO = lr
		pc.notes = append(pc.notes, "delivery.timeout.ms raised to linger.ms + request.timeout.ms")
	}

	switch pc.partitionerClass {
	case "", roundRobinPartitionerClass, "RoundRobinPartitioner":
	default:
		return nil, configErr("partitioner.class", pc.partitionerClass,
			"Go cannot load Java classes; only "+roundRobinPartitionerClass+" is known by name, pass others with kafka.WithPartitioner")
	}
	if v := s.get("interceptor.classes"); v != "" {
		return nil, configErr("interceptor.classes", v, "Go cannot load Java classes; pass interceptors with kafka.WithInterceptors")
	}
	return pc, nil
}

// applyIdempotenceRules mirrors ProducerConfig's idempotence validation:
// idempotence needs acks=all, retries > 0 and at most 5 requests in flight.
// If the user set enable.idempotence=true, a conflict is an error; if it is
// on by default, it is turned off. A transactional.id needs idempotence.
func (pc *producerConfig) applyIdempotenceRules(explicit, enabled, txnSet bool) error {
	if enabled {
		conflict := func(name, val, msg string) error {
			if explicit {
				return configErr(name, val, msg)
			}
			pc.notes = append(pc.notes, "idempotence disabled: "+msg)
			enabled = false
			return nil
		}
		if pc.retries == 0 {
			if err := conflict("retries", "0", "must be non-zero when using the idempotent producer (enable.idempotence=true)"); err != nil {
				return err
			}
		}
		if pc.acks != -1 {
			if err := conflict("acks", strconv.Itoa(int(pc.acks)), "must be all in order to use the idempotent producer (enable.idempotence=true); otherwise idempotence cannot be guaranteed"); err != nil {
				return err
			}
		}
		if pc.maxInFlight > 5 {
			if err := conflict("max.in.flight.requests.per.connection", strconv.Itoa(pc.maxInFlight), "must be at most 5 to use the idempotent producer (enable.idempotence=true)"); err != nil {
				return err
			}
		}
	}
	pc.idempotent = enabled
	if txnSet && !enabled {
		return configErr("transactional.id", pc.transactionalID, "cannot set a transactional.id without also enabling idempotence")
	}
	return nil
}
