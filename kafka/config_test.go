package kafka

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/record"
	"github.com/twmb/franz-go/pkg/kfake"
)

func parse(t *testing.T, kv ...string) (*producerConfig, error) {
	t.Helper()
	cfg := Config{"bootstrap.servers": "localhost:9092"}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	return parseProducerConfig(cfg, nil)
}

func TestConfigDefaults(t *testing.T) {
	pc, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"acks", pc.acks, int16(-1)},
		{"enable.idempotence", pc.idempotent, true},
		{"linger.ms", pc.linger, 5 * time.Millisecond},
		{"batch.size", pc.batchSize, 16384},
		{"buffer.memory", pc.bufferMemory, int64(33554432)},
		{"max.block.ms", pc.maxBlock, 60 * time.Second},
		{"compression.type", pc.codec, record.None},
		{"compression.gzip.level", pc.gzipLevel, -1},
		{"compression.lz4.level", pc.lz4Level, 9},
		{"compression.zstd.level", pc.zstdLevel, 3},
		{"retries", pc.retries, 2147483647},
		{"retry.backoff.ms", pc.retryBackoff, 100 * time.Millisecond},
		{"retry.backoff.max.ms", pc.retryBackoffM, time.Second},
		{"delivery.timeout.ms", pc.deliveryTO, 120 * time.Second},
		{"request.timeout.ms", pc.requestTO, 30 * time.Second},
		{"max.in.flight.requests.per.connection", pc.maxInFlight, 5},
		{"max.request.size", pc.maxRequest, 1048576},
		{"partitioner.ignore.keys", pc.ignoreKeys, false},
		{"partitioner.adaptive.partitioning.enable", pc.adaptivePartitioning, true},
		{"partitioner.availability.timeout.ms", pc.availabilityTimeout, time.Duration(0)},
		{"metadata.max.age.ms", pc.metadataMaxAge, 5 * time.Minute},
		{"metadata.max.idle.ms", pc.metadataMaxIdle, 5 * time.Minute},
		{"send.buffer.bytes", pc.sendBuffer, 131072},
		{"receive.buffer.bytes", pc.receiveBuffer, 32768},
		{"reconnect.backoff.ms", pc.reconnect, 50 * time.Millisecond},
		{"reconnect.backoff.max.ms", pc.reconnectMax, time.Second},
		{"connections.max.idle.ms", pc.connMaxIdle, 540 * time.Second},
		{"transaction.timeout.ms", pc.txnTimeoutMs, int32(60000)},
		{"client.id", pc.clientID, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The table is consistent: every default passes its own validation.
	for _, name := range ProducerConfigNames() {
		d := producerDefs[name]
		if d.required || (d.nullable && d.def == "") { // no default, or null
			continue
		}
		if err := d.validate(d.def); err != nil {
			t.Errorf("default of %s: %v", name, err)
		}
	}
	if len(ProducerConfigNames()) < 40 {
		t.Errorf("only %d settings", len(ProducerConfigNames()))
	}
	pc, err = parse(t, "client.dns.lookup", "use_all_dns_ips")
	if err != nil || len(pc.notes) != 1 || !strings.Contains(pc.notes[0], "client.dns.lookup") {
		t.Errorf("no-effect setting: %v %v", pc.notes, err)
	}
	pc, err = parse(t, "metrics.num.samples", "3", "metrics.sample.window.ms", "1000")
	if err != nil || len(pc.notes) != 0 || pc.metricsSamples != 3 || pc.metricsWindow != time.Second {
		t.Errorf("metrics settings: %d samples of %v, notes %v, %v", pc.metricsSamples, pc.metricsWindow, pc.notes, err)
	}
}

// TestConfigInvalid checks that each invalid setting fails with an error
// that names it.
func TestConfigInvalid(t *testing.T) {
	cases := []struct {
		kv   []string
		name string
	}{
		{[]string{"no.such.setting", "1"}, "no.such.setting"},
		{[]string{"acks", "2"}, "acks"},
		{[]string{"acks", "some"}, "acks"},
		{[]string{"linger.ms", "-1"}, "linger.ms"},
		{[]string{"linger.ms", "soon"}, "linger.ms"},
		{[]string{"batch.size", "-5"}, "batch.size"},
		{[]string{"retries", "-1"}, "retries"},
		{[]string{"max.in.flight.requests.per.connection", "0"}, "max.in.flight.requests.per.connection"},
		{[]string{"compression.type", "brotli"}, "compression.type"},
		{[]string{"compression.gzip.level", "0"}, "compression.gzip.level"},
		{[]string{"compression.gzip.level", "10"}, "compression.gzip.level"},
		{[]string{"compression.lz4.level", "18"}, "compression.lz4.level"},
		{[]string{"compression.zstd.level", "23"}, "compression.zstd.level"},
		{[]string{"enable.idempotence", "yes"}, "enable.idempotence"},
		{[]string{"metadata.max.idle.ms", "4999"}, "metadata.max.idle.ms"},
		{[]string{"send.buffer.bytes", "-2"}, "send.buffer.bytes"},
		{[]string{"request.timeout.ms", "2147483648"}, "request.timeout.ms"},
		{[]string{"bootstrap.servers", ""}, "bootstrap.servers"},
		{[]string{"bootstrap.servers", "nohost"}, "bootstrap.servers"},
		{[]string{"bootstrap.servers", "host:99999"}, "bootstrap.servers"},
		{[]string{"security.protocol", "SASL_SSL"}, "security.protocol"},
		{[]string{"partitioner.class", "com.example.BananaPartitioner"}, "partitioner.class"},
		{[]string{"interceptor.classes", "com.example.Audit"}, "interceptor.classes"},
		{[]string{"transactional.id", ""}, "transactional.id"},
		// Explicit idempotence conflicts fail construction.
		{[]string{"enable.idempotence", "true", "acks", "1"}, "acks"},
		{[]string{"enable.idempotence", "true", "retries", "0"}, "retries"},
		{[]string{"enable.idempotence", "true", "max.in.flight.requests.per.connection", "6"}, "max.in.flight.requests.per.connection"},
		// A transactional.id needs idempotence, even where it would
		// otherwise be turned off silently.
		{[]string{"transactional.id", "tx", "acks", "1"}, "transactional.id"},
		{[]string{"transactional.id", "tx", "enable.idempotence", "false"}, "transactional.id"},
		{[]string{"transactional.id", "tx", "max.in.flight.requests.per.connection", "6"}, "transactional.id"},
		// An explicit delivery.timeout.ms must cover linger.ms +
		// request.timeout.ms.
		{[]string{"delivery.timeout.ms", "1000", "linger.ms", "500", "request.timeout.ms", "600"}, "delivery.timeout.ms"},
	}
	for _, c := range cases {
		_, err := parse(t, c.kv...)
		var ce *ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%v: got %v, want a ConfigError", c.kv, err)
			continue
		}
		if ce.Name != c.name || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%v: error %q names %q, want %q", c.kv, err, ce.Name, c.name)
		}
	}
	if _, err := parseProducerConfig(Config{}, nil); err == nil || !strings.Contains(err.Error(), "bootstrap.servers") {
		t.Errorf("missing bootstrap.servers: %v", err)
	}
}

func TestConfigIdempotenceImplicit(t *testing.T) {
	for _, kv := range [][]string{
		{"acks", "1"},
		{"acks", "0"},
		{"retries", "0"},
		{"max.in.flight.requests.per.connection", "6"},
	} {
		pc, err := parse(t, kv...)
		if err != nil {
			t.Fatalf("%v: %v", kv, err)
		}
		if pc.idempotent {
			t.Errorf("%v: idempotence stayed on by default", kv)
		}
		if len(pc.notes) == 0 {
			t.Errorf("%v: no note explains that idempotence is off", kv)
		}
	}
	pc, err := parse(t, "acks", "-1", "max.in.flight.requests.per.connection", "5")
	if err != nil || !pc.idempotent || pc.acks != -1 {
		t.Errorf("acks=-1: idempotent=%v acks=%d err=%v", pc != nil && pc.idempotent, pc.acks, err)
	}
	pc, err = parse(t, "acks", "ALL", "enable.idempotence", "false")
	if err != nil || pc.idempotent {
		t.Errorf("enable.idempotence=false: %v %v", pc, err)
	}
	// transactional.id implies idempotence, with transaction.timeout.ms
	// defaulting to Java's 60 s.
	pc, err = parse(t, "transactional.id", "tx")
	if err != nil || !pc.idempotent || pc.transactionalID != "tx" || pc.txnTimeoutMs != 60000 {
		t.Errorf("transactional.id: %+v %v", pc, err)
	}
}

func TestConfigDeliveryTimeoutDefaultRaised(t *testing.T) {
	pc, err := parse(t, "linger.ms", "100000", "request.timeout.ms", "50000")
	if err != nil {
		t.Fatal(err)
	}
	if pc.deliveryTO != 150*time.Second {
		t.Errorf("delivery.timeout.ms = %v, want linger.ms + request.timeout.ms", pc.deliveryTO)
	}
	// retry.backoff.max.ms below retry.backoff.ms disables the growth.
	pc, err = parse(t, "retry.backoff.ms", "500", "retry.backoff.max.ms", "100")
	if err != nil || pc.retryBackoffM != 500*time.Millisecond {
		t.Errorf("retry.backoff.max.ms = %v, %v", pc.retryBackoffM, err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "producer.properties")
	text := "# a comment\n! another\n" +
		"bootstrap.servers = a:9092,\\\n   b:9093\n" +
		"acks:all\n" +
		"client.id=my\\ client\\u0021\n" +
		"linger.ms 20\n" +
		"\n   compression.type=zstd  \n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		"bootstrap.servers": "a:9092,b:9093",
		"acks":              "all",
		"client.id":         "my client!",
		"linger.ms":         "20",
		"compression.type":  "zstd  ",
	}
	if len(cfg) != len(want) {
		t.Errorf("got %d settings %v, want %d", len(cfg), cfg, len(want))
	}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("%s = %q, want %q", k, cfg[k], v)
		}
	}
	pc, err := parseProducerConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.bootstrap) != 2 || pc.codec != record.Zstd || pc.clientID != "my client!" {
		t.Errorf("parsed %+v", pc)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file loaded")
	}
}

// TestConfigPluginSettings checks that a setting claimed by a serializer
// passes, and that the serializer validates it.
func TestConfigPluginSettings(t *testing.T) {
	cfg := Config{"bootstrap.servers": "localhost:1", "key.serializer.encoding": "UTF8"}
	p, err := NewProducer(cfg, StringSerializer{}, ByteArraySerializer{}, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	cfg["key.serializer.encoding"] = "latin1"
	_, err = NewProducer(cfg, StringSerializer{}, ByteArraySerializer{})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Name != "key.serializer.encoding" {
		t.Errorf("latin1: %v", err)
	}
	// Without a serializer that reads it, the setting is unknown.
	_, err = NewProducer(cfg, ByteArraySerializer{}, ByteArraySerializer{})
	if !errors.As(err, &ce) || ce.Name != "key.serializer.encoding" || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("unclaimed: %v", err)
	}
}

// TestCompressionLevels checks that compression.<codec>.level takes
// effect: the same records compress smaller at a codec's highest level
// than at its fastest, and the extremes of Java's ranges are accepted.
func TestCompressionLevels(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	rng := rand.New(rand.NewPCG(9, 9))
	words := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau")
	values := make([]string, 300)
	for i := range values {
		var b strings.Builder
		for b.Len() < 200 {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteString(strconv.Itoa(rng.IntN(50)))
		}
		values[i] = b.String()
	}
	ratio := func(kv ...string) float64 {
		t.Helper()
		p := startProducer(t, testConfig(c.ListenAddrs(), append([]string{"linger.ms", "1000", "batch.size", "1000000"}, kv...)...),
			StringSerializer{}, StringSerializer{})
		ctx := testCtx(t)
		for _, v := range values {
			p.Send(ctx, ProducerRecord[string, string]{Topic: "t", Partition: new(int32(0)), Value: v})
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		r, _ := p.Metrics().Value("compression-rate-avg")
		if errs, _ := p.Metrics().Value("record-error-total"); errs != 0 {
			t.Fatalf("%v: %v records failed", kv, errs)
		}
		return r
	}
	for _, tc := range []struct {
		codec, setting, fast, best string
	}{
		{"gzip", "compression.gzip.level", "1", "9"},
		{"lz4", "compression.lz4.level", "1", "17"},
		{"zstd", "compression.zstd.level", "-131072", "22"},
	} {
		fast := ratio("compression.type", tc.codec, tc.setting, tc.fast)
		best := ratio("compression.type", tc.codec, tc.setting, tc.best)
		def := ratio("compression.type", tc.codec)
		t.Logf("%s: level %s %.3f, default %.3f, level %s %.3f", tc.codec, tc.fast, fast, def, tc.best, best)
		if !(best < fast) || !(def > 0 && def < 1) {
			t.Errorf("%s: compressed to %.3f at level %s and %.3f at level %s (default %.3f)", tc.codec, fast, tc.fast, best, tc.best, def)
		}
	}
}
