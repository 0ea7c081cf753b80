package kafka

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func parseConsumer(kv ...string) (*consumerConfig, error) {
	cfg := Config{"bootstrap.servers": "localhost:9092"}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	return parseConsumerConfig(cfg, nil, nil)
}

// TestConsumerConfigDefaults checks the Java 4.x consumer defaults.
func TestConsumerConfigDefaults(t *testing.T) {
	cc, err := parseConsumer("group.id", "g")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"group.id", cc.groupID, "g"},
		{"group.instance.id", cc.instanceID, ""},
		{"group.protocol", cc.protocol848, false},
		{"group.remote.assignor", cc.remoteAssignor, ""},
		{"session.timeout.ms", cc.sessionTO, 45 * time.Second},
		{"heartbeat.interval.ms", cc.heartbeat, 3 * time.Second},
		{"partition.assignment.strategy", strings.Join(cc.assignors, ","), "range,cooperative-sticky"},
		{"enable.auto.commit", cc.autoCommit, true},
		{"auto.commit.interval.ms", cc.autoCommitInterval, 5 * time.Second},
		{"auto.offset.reset", cc.reset, offsetReset{kind: resetLatest}},
		{"fetch.min.bytes", cc.fetchMin, int32(1)},
		{"fetch.max.wait.ms", cc.fetchMaxWait, 500 * time.Millisecond},
		{"fetch.max.bytes", cc.fetchMax, int32(52428800)},
		{"max.partition.fetch.bytes", cc.maxPartitionFetch, int32(1048576)},
		{"max.poll.records", cc.maxPollRecords, 500},
		{"max.poll.interval.ms", cc.maxPollInterval, 300 * time.Second},
		{"isolation.level", cc.readCommitted, false},
		{"allow.auto.create.topics", cc.autoCreateTopics, true},
		{"exclude.internal.topics", cc.excludeInternal, true},
		{"check.crcs", cc.checkCRCs, true},
		{"default.api.timeout.ms", cc.apiTimeout, 60 * time.Second},
		{"request.timeout.ms", cc.requestTO, 30 * time.Second},
		{"receive.buffer.bytes", cc.receiveBuffer, 65536},
		{"send.buffer.bytes", cc.sendBuffer, 131072},
		{"metadata.max.age.ms", cc.metadataMaxAge, 5 * time.Minute},
		{"retry.backoff.ms", cc.retryBackoff, 100 * time.Millisecond},
		{"connections.max.idle.ms", cc.connMaxIdle, 540 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, name := range ConsumerConfigNames() {
		d := consumerDefs[name]
		if d.required || (d.nullable && d.def == "") {
			continue
		}
		if err := d.validate(d.def); err != nil {
			t.Errorf("default of %s: %v", name, err)
		}
	}
	// Without a group there is nothing to auto-commit to.
	if cc, err := parseConsumer(); err != nil || cc.autoCommit {
		t.Errorf("no group: auto-commit %v, %v", cc.autoCommit, err)
	}
}

// TestConsumerConfigInvalid checks that each invalid setting, alone or
// against another, fails with an error naming it.
func TestConsumerConfigInvalid(t *testing.T) {
	cases := []struct {
		kv   []string
		name string
	}{
		{[]string{"no.such.setting", "1"}, "no.such.setting"},
		{[]string{"linger.ms", "5"}, "linger.ms"}, // a producer setting
		{[]string{"group.id", ""}, "group.id"},
		{[]string{"group.id", "g", "group.instance.id", "has space"}, "group.instance.id"},
		{[]string{"group.id", "g", "group.instance.id", ""}, "group.instance.id"},
		{[]string{"group.protocol", "eager"}, "group.protocol"},
		{[]string{"auto.offset.reset", "smallest"}, "auto.offset.reset"},
		{[]string{"auto.offset.reset", "by_duration:1h"}, "auto.offset.reset"},
		{[]string{"auto.offset.reset", "by_duration:-PT1H"}, "auto.offset.reset"},
		{[]string{"isolation.level", "READ_COMMITTED"}, "isolation.level"},
		{[]string{"max.poll.records", "0"}, "max.poll.records"},
		{[]string{"max.poll.interval.ms", "0"}, "max.poll.interval.ms"},
		{[]string{"fetch.max.wait.ms", "-1"}, "fetch.max.wait.ms"},
		{[]string{"fetch.min.bytes", "x"}, "fetch.min.bytes"},
		{[]string{"partition.assignment.strategy", "com.example.MyAssignor"}, "partition.assignment.strategy"},
		{[]string{"group.id", "g", "partition.assignment.strategy", ""}, "partition.assignment.strategy"},
		{[]string{"enable.auto.commit", "true"}, "enable.auto.commit"},
		{[]string{"group.id", "g", "heartbeat.interval.ms", "45000"}, "heartbeat.interval.ms"},
		{[]string{"group.id", "g", "group.remote.assignor", "uniform"}, "group.remote.assignor"},
		{[]string{"group.id", "g", "group.protocol", "consumer", "session.timeout.ms", "10000"}, "session.timeout.ms"},
		{[]string{"group.id", "g", "group.protocol", "consumer", "partition.assignment.strategy", "range"}, "partition.assignment.strategy"},
		{[]string{"interceptor.classes", "com.example.I"}, "interceptor.classes"},
		{[]string{"security.protocol", "SSL"}, "security.protocol"},
	}
	for _, c := range cases {
		_, err := parseConsumer(c.kv...)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(ce.Name, c.name) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%v: got %v, want an error naming %s", c.kv, err, c.name)
		}
	}
	// NewConsumer checks the deserializers and reports the same errors.
	if _, err := NewConsumer(Config{"bootstrap.servers": "localhost:9092", "max.poll.records": "0"}, StringDeserializer{}, StringDeserializer{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewConsumer: %v", err)
	}
	if _, err := NewConsumer(Config{"bootstrap.servers": "localhost:9092", "value.deserializer.encoding": "UTF-16"}, StringDeserializer{}, StringDeserializer{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewConsumer with a UTF-16 deserializer: %v", err)
	}
}

// TestConsumerConfigValid checks settings Java accepts.
func TestConsumerConfigValid(t *testing.T) {
	cc, err := parseConsumer("group.id", "g", "group.protocol", "CONSUMER", "group.remote.assignor", "uniform",
		"auto.offset.reset", "by_duration:P1DT2H30M", "isolation.level", "read_committed", "group.instance.id", "pod-1.a_b",
		"key.deserializer", "org.apache.kafka.common.serialization.StringDeserializer")
	if err != nil {
		t.Fatal(err)
	}
	if !cc.protocol848 || cc.remoteAssignor != "uniform" || !cc.readCommitted || cc.instanceID != "pod-1.a_b" ||
		cc.reset.kind != resetByDuration || cc.reset.dur != 26*time.Hour+30*time.Minute {
		t.Errorf("parsed %+v", cc)
	}
	cc, err = parseConsumer("group.id", "g", "partition.assignment.strategy",
		"org.apache.kafka.clients.consumer.CooperativeStickyAssignor, RoundRobinAssignor,sticky")
	if err != nil || strings.Join(cc.assignors, ",") != "cooperative-sticky,roundrobin,sticky" {
		t.Errorf("assignors %v %v", cc.assignors, err)
	}
	for in, want := range map[string]time.Duration{
		"PT1H": time.Hour, "pt15m": 15 * time.Minute, "PT0.5S": 500 * time.Millisecond, "P2D": 48 * time.Hour, "PT-1M": -time.Minute,
	} {
		if got, err := parseISODuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"P", "PT", "1H", "P1H", "PT1D"} {
		if _, err := parseISODuration(in); err == nil {
			t.Errorf("%s parsed", in)
		}
	}
}

// TestConsumerClientID checks Java's default client ids.
func TestConsumerClientID(t *testing.T) {
	c, err := NewConsumer(Config{"bootstrap.servers": "localhost:9092", "group.id": "orders"}, StringDeserializer{}, StringDeserializer{}, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	if id := c.core.cfg.clientID; !strings.HasPrefix(id, "consumer-orders-") {
		t.Errorf("client.id %q", id)
	}
	if err := c.Assign([]TopicPartition{{"t", 0}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe([]string{"t"}, nil); !errors.Is(err, ErrIllegalState) {
		t.Errorf("Subscribe after Assign: %v", err)
	}
	noGroup, err := NewConsumer(Config{"bootstrap.servers": "localhost:9092"}, StringDeserializer{}, StringDeserializer{}, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer noGroup.Close(t.Context())
	if err := noGroup.Subscribe([]string{"t"}, nil); !errors.Is(err, ErrInvalidGroupID) {
		t.Errorf("Subscribe without group.id: %v", err)
	}
	if err := noGroup.CommitSync(t.Context()); !errors.Is(err, ErrInvalidGroupID) {
		t.Errorf("CommitSync without group.id: %v", err)
	}
	if _, err := noGroup.Poll(t.Context()); !errors.Is(err, ErrIllegalState) {
		t.Errorf("Poll without assignment: %v", err)
	}
}
