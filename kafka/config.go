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

// producerDefs is every producer setting of the Java client (4.x), with its
// default and the validation ProducerConfig applies.
var producerDefs = func() map[string]*propDef {
	defs := []*propDef{
		{name: "bootstrap.servers", typ: typeList, required: true, check: checkBootstrap},
		{name: "key.serializer", typ: typeClass, nullable: true},
		{name: "value.serializer", typ: typeClass, nullable: true},
		{name: "client.id", typ: typeString},
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
		{name: "retry.backoff.ms", typ: typeLong, def: "100", valid: atLeast(0)},
		{name: "retry.backoff.max.ms", typ: typeLong, def: "1000", valid: atLeast(0)},
		{name: "delivery.timeout.ms", typ: typeInt, def: "120000", valid: atLeast(0)},
		{name: "request.timeout.ms", typ: typeInt, def: "30000", valid: atLeast(0)},
		{name: "max.in.flight.requests.per.connection", typ: typeInt, def: "5", valid: atLeast(1)},
		{name: "max.request.size", typ: typeInt, def: "1048576", valid: atLeast(0)},
		{name: "partitioner.class", typ: typeClass, nullable: true},
		{name: "partitioner.ignore.keys", typ: typeBool, def: "false"},
		{name: "partitioner.adaptive.partitioning.enable", typ: typeBool, def: "true"},
		{name: "partitioner.availability.timeout.ms", typ: typeLong, def: "0", valid: atLeast(0)},
		{name: "interceptor.classes", typ: typeList},
		{name: "metadata.max.age.ms", typ: typeLong, def: "300000", valid: atLeast(0)},
		{name: "metadata.max.idle.ms", typ: typeLong, def: "300000", valid: atLeast(5000)},
		{name: "send.buffer.bytes", typ: typeInt, def: "131072", valid: atLeast(-1)},
		{name: "receive.buffer.bytes", typ: typeInt, def: "32768", valid: atLeast(-1)},
		{name: "reconnect.backoff.ms", typ: typeLong, def: "50", valid: atLeast(0)},
		{name: "reconnect.backoff.max.ms", typ: typeLong, def: "1000", valid: atLeast(0)},
		{name: "connections.max.idle.ms", typ: typeLong, def: "540000"},
		{name: "socket.connection.setup.timeout.ms", typ: typeLong, def: "10000", valid: atLeast(0)},
		{name: "socket.connection.setup.timeout.max.ms", typ: typeLong, def: "30000", valid: atLeast(0)},
		{name: "security.protocol", typ: typeString, def: "PLAINTEXT", oneOf: []string{"PLAINTEXT"}, fold: true},
		// The windows of rates, averages and maxima (Producer.Metrics).
		{name: "metrics.sample.window.ms", typ: typeLong, def: "30000", valid: atLeast(0)},
		{name: "metrics.num.samples", typ: typeInt, def: "2", valid: atLeast(1)},
		// Every metric this client keeps is at Java's INFO level, so
		// all levels record the same ones.
		{name: "metrics.recording.level", typ: typeString, def: "INFO", oneOf: []string{"INFO", "DEBUG", "TRACE"}},
		// Accepted so that Java property files load; they change nothing
		// here (DNS is Go's resolver; metrics are read with
		// Producer.Metrics and WritePrometheus, not Java reporter classes,
		// and are not pushed to the broker, KIP-714).
		{name: "client.dns.lookup", typ: typeString, def: "use_all_dns_ips", oneOf: []string{"use_all_dns_ips", "resolve_canonical_bootstrap_servers_only"}, noEffect: true},
		{name: "metadata.recovery.strategy", typ: typeString, def: "rebootstrap", oneOf: []string{"none", "rebootstrap"}, fold: true, noEffect: true},
		{name: "metadata.recovery.rebootstrap.trigger.ms", typ: typeLong, def: "300000", valid: atLeast(0), noEffect: true},
		{name: "metric.reporters", typ: typeList, noEffect: true},
		{name: "enable.metrics.push", typ: typeBool, def: "true", noEffect: true},
	}
	m := make(map[string]*propDef, len(defs))
	for _, d := range defs {
		m[d.name] = d
	}
	return m
}()

// ProducerConfigNames returns the names of every setting the producer
// accepts, sorted.
func ProducerConfigNames() []string {
	names := make([]string, 0, len(producerDefs))
	for n := range producerDefs {
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

// producerConfig is a validated Config with Java's cross-setting rules
// applied.
type producerConfig struct {
	raw Config // as given, for plug-ins' Configure

	bootstrap []string
	clientID  string

	acks            int16
	idempotent      bool
	transactionalID string
	txnTimeoutMs    int32

	linger       time.Duration
	batchSize    int
	bufferMemory int64
	maxBlock     time.Duration

	codec         record.Codec
	gzipLevel     int
	lz4Level      int
	zstdLevel     int
	retries       int
	retryBackoff  time.Duration
	retryBackoffM time.Duration
	deliveryTO    time.Duration
	requestTO     time.Duration
	maxInFlight   int
	maxRequest    int

	partitionerClass     string
	ignoreKeys           bool
	adaptivePartitioning bool
	availabilityTimeout  time.Duration

	metadataMaxAge  time.Duration
	metadataMaxIdle time.Duration
	sendBuffer      int
	receiveBuffer   int
	reconnect       time.Duration
	reconnectMax    time.Duration
	connMaxIdle     time.Duration
	connSetupTO     time.Duration

	metricsWindow  time.Duration
	metricsSamples int

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
	pc := &producerConfig{raw: cfg}
	if err := pc.checkSettings(cfg, extra); err != nil {
		return nil, err
	}
	get := func(name string) string {
		if v, ok := cfg[name]; ok {
			return strings.TrimSpace(v)
		}
		return producerDefs[name].def
	}
	i64 := func(name string) int64 {
		n, _ := strconv.ParseInt(get(name), 10, 64)
		return n
	}
	ms := func(name string) time.Duration {
		n := i64(name)
		if n > int64(math.MaxInt64/time.Millisecond) {
			n = int64(math.MaxInt64 / time.Millisecond)
		}
		return time.Duration(n) * time.Millisecond
	}
	b := func(name string) bool {
		v, _ := parseBool(get(name))
		return v
	}
	set := func(name string) bool {
		_, ok := cfg[name]
		return ok
	}

	pc.bootstrap = splitList(get("bootstrap.servers"))
	pc.clientID = get("client.id")
	switch strings.ToLower(get("acks")) {
	case "all", "-1":
		pc.acks = -1
	case "0":
		pc.acks = 0
	case "1":
		pc.acks = 1
	}
	pc.linger = ms("linger.ms")
	pc.batchSize = int(i64("batch.size"))
	pc.bufferMemory = i64("buffer.memory")
	pc.maxBlock = ms("max.block.ms")
	pc.codec, _ = record.ParseCodec(get("compression.type"))
	pc.gzipLevel = int(i64("compression.gzip.level"))
	pc.lz4Level = int(i64("compression.lz4.level"))
	pc.zstdLevel = int(i64("compression.zstd.level"))
	pc.retries = int(i64("retries"))
	pc.retryBackoff = ms("retry.backoff.ms")
	pc.retryBackoffM = ms("retry.backoff.max.ms")
	pc.requestTO = ms("request.timeout.ms")
	pc.deliveryTO = ms("delivery.timeout.ms")
	pc.maxInFlight = int(i64("max.in.flight.requests.per.connection"))
	pc.maxRequest = int(i64("max.request.size"))
	pc.partitionerClass = get("partitioner.class")
	pc.ignoreKeys = b("partitioner.ignore.keys")
	pc.adaptivePartitioning = b("partitioner.adaptive.partitioning.enable")
	pc.availabilityTimeout = ms("partitioner.availability.timeout.ms")
	pc.metadataMaxAge = ms("metadata.max.age.ms")
	pc.metadataMaxIdle = ms("metadata.max.idle.ms")
	pc.sendBuffer = int(i64("send.buffer.bytes"))
	pc.receiveBuffer = int(i64("receive.buffer.bytes"))
	pc.reconnect = ms("reconnect.backoff.ms")
	pc.reconnectMax = ms("reconnect.backoff.max.ms")
	pc.connMaxIdle = ms("connections.max.idle.ms")
	pc.connSetupTO = ms("socket.connection.setup.timeout.ms")
	pc.metricsWindow = ms("metrics.sample.window.ms")
	pc.metricsSamples = int(i64("metrics.num.samples"))
	pc.transactionalID = get("transactional.id")
	pc.txnTimeoutMs = int32(i64("transaction.timeout.ms"))

	// Java (CommonClientConfigs) turns exponential backoff off, rather than
	// failing, when the maximum is below the base.
	if pc.retryBackoffM < pc.retryBackoff {
		pc.retryBackoffM = pc.retryBackoff
	}
	if pc.reconnectMax < pc.reconnect {
		pc.reconnectMax = pc.reconnect
	}

	if err := pc.applyIdempotenceRules(set("enable.idempotence"), b("enable.idempotence"), set("transactional.id")); err != nil {
		return nil, err
	}

	// KafkaProducer.configureDeliveryTimeout: an explicit delivery.timeout.ms
	// below linger.ms + request.timeout.ms is an error; the default is
	// raised silently.
	if lr := pc.linger + pc.requestTO; pc.deliveryTO < lr {
		if set("delivery.timeout.ms") {
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
	if v := get("interceptor.classes"); v != "" {
		return nil, configErr("interceptor.classes", v, "Go cannot load Java classes; pass interceptors with kafka.WithInterceptors")
	}
	if pc.transactionalID != "" {
		return nil, configErr("transactional.id", pc.transactionalID, "transactions are not implemented by this client yet")
	}
	return pc, nil
}

// checkSettings validates each setting on its own: known (to the producer
// or a plug-in), well typed, in range, required ones present.
func (pc *producerConfig) checkSettings(cfg Config, extra func(name string) bool) error {
	names := make([]string, 0, len(cfg))
	for k := range cfg {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		d, ok := producerDefs[k]
		if !ok {
			if extra != nil && extra(k) {
				continue
			}
			return configErr(k, cfg[k], "unknown producer setting")
		}
		if err := d.validate(cfg[k]); err != nil {
			return configErr(k, cfg[k], err.Error())
		}
		if d.noEffect {
			pc.notes = append(pc.notes, k+" is accepted but has no effect in this client yet")
		}
	}
	for _, d := range producerDefs {
		if _, ok := cfg[d.name]; !ok && d.required {
			return configErr(d.name, "", "missing required setting, which has no default value")
		}
	}
	return nil
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
