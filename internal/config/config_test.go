package config

import (
	"errors"
	"strings"
	"testing"
)

func TestNewBrokerDefaults(t *testing.T) {
	b, err := NewBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Listeners(); len(got) != 1 || got[0].Addr() != "127.0.0.1:9092" {
		t.Errorf("listeners = %v, want 127.0.0.1:9092", got)
	}
	if got := b.List("log.dirs"); len(got) != 1 || got[0] != "./samsa-data" {
		t.Errorf("log.dirs = %v", got)
	}
	if b.NodeID() != 0 || b.Int("num.partitions") != 1 || !b.Bool("auto.create.topics.enable") {
		t.Errorf("unexpected defaults: node %d partitions %d", b.NodeID(), b.Int("num.partitions"))
	}
	// The cluster properties take Kafka's defaults.
	for name, want := range map[string]int64{
		"broker.session.timeout.ms": 9000, "replica.lag.time.max.ms": 30000,
		"offsets.topic.replication.factor": 3, "leader.imbalance.check.interval.seconds": 300,
		"leader.imbalance.per.broker.percentage": 10, "replica.fetch.wait.max.ms": 500,
		"replica.fetch.max.bytes": 1048576, "default.replication.factor": 1,
	} {
		if got := b.Int64(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	if !b.Bool("auto.leader.rebalance.enable") || !b.Bool("controlled.shutdown.enable") || len(b.List("controller.quorum.voters")) != 0 {
		t.Errorf("auto.leader.rebalance.enable, controlled.shutdown.enable true and no voters by default")
	}
	if got := b.RetentionMs(); got != 168*3_600_000 {
		t.Errorf("retention = %d, want 7 days", got)
	}
}

func TestNewBrokerRejects(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"no.such.thing": "1"}, `unknown property "no.such.thing"`},
		{map[string]string{"num.partitions": "x"}, "num.partitions"},
		{map[string]string{"num.partitions": "0"}, "num.partitions: 0 is out of range"},
		{map[string]string{"auto.create.topics.enable": "yes"}, "auto.create.topics.enable"},
		{map[string]string{"listeners": "127.0.0.1:9092"}, "listeners"},
		{map[string]string{"listeners": "SSL://127.0.0.1:9093"}, "only PLAINTEXT"},
		{map[string]string{"log.message.timestamp.type": "Wall"}, "log.message.timestamp.type"},
		{map[string]string{"controller.quorum.voters": "1@h:1", "etcd.endpoints": "http://h:2379"}, "one or the other"},
		{map[string]string{"broker.session.timeout.ms": "10"}, "broker.session.timeout.ms"},
	} {
		_, err := NewBroker(tc.props)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.props, err, tc.want)
		}
	}
}

func TestAliasesAndPrecedence(t *testing.T) {
	b, err := NewBroker(map[string]string{
		"broker.id": "3", "log.dir": "/tmp/x", "flush.messages": "1",
		"log.retention.minutes": "10", "log.retention.hours": "1", "log.roll.ms": "1000",
		"num.io.threads": "8",
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.NodeID() != 3 || b.String("log.dirs") != "/tmp/x" || b.Int64("log.flush.interval.messages") != 1 {
		t.Errorf("aliases not applied")
	}
	if b.RetentionMs() != 600_000 {
		t.Errorf("retention minutes should win over hours, got %d", b.RetentionMs())
	}
	if b.RollMs() != 1000 {
		t.Errorf("roll = %d", b.RollMs())
	}
	if len(b.Ignored) != 1 || b.Ignored[0] != "num.io.threads" {
		t.Errorf("ignored = %v", b.Ignored)
	}
	tc := Topic{Broker: b, Overrides: map[string]string{"segment.bytes": "2048"}}
	if v, src := tc.Value("segment.bytes"); v != "2048" || src != SourceDynamicTopic {
		t.Errorf("segment.bytes = %s/%d", v, src)
	}
	if v, src := tc.Value("retention.ms"); v != "600000" || src != SourceStaticBroker {
		t.Errorf("retention.ms = %s/%d", v, src)
	}
	if v, src := tc.Value("cleanup.policy"); v != "delete" || src != SourceDefault {
		t.Errorf("cleanup.policy = %s/%d", v, src)
	}
}

func TestParseProperties(t *testing.T) {
	in := "# comment\n! also\nlisteners=PLAINTEXT://127.0.0.1:9\n  log.dirs : /a,\\\n   /b\nempty=\n"
	p, err := ParseProperties(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if p["listeners"] != "PLAINTEXT://127.0.0.1:9" || p["log.dirs"] != "/a,/b" || p["empty"] != "" || len(p) != 3 {
		t.Errorf("parsed %q", p)
	}
	if _, err := ParseProperties(strings.NewReader("novalue\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("want line error, got %v", err)
	}
}

func TestTopicConfigCheck(t *testing.T) {
	if err := CheckTopicConfig("cleanup.policy", "compact,delete"); err != nil {
		t.Error(err)
	}
	if err := CheckTopicConfig("cleanup.policy", "shred"); err == nil {
		t.Error("bad policy accepted")
	}
	if err := CheckTopicConfig("retention.ms", "-2"); err == nil {
		t.Error("retention.ms -2 accepted")
	}
	if err := CheckTopicConfig("nope", "1"); err == nil {
		t.Error("unknown topic config accepted")
	}
}

func TestWithDynamic(t *testing.T) {
	b, err := NewBroker(map[string]string{"log.retention.ms": "1000", "log.segment.bytes": "2048", "message.max.bytes": "5000"})
	if err != nil {
		t.Fatal(err)
	}
	eff, skipped := b.WithDynamic(
		map[string]string{"log.segment.bytes": "4096", "listeners": "PLAINTEXT://h:1"},
		map[string]string{"log.segment.bytes": "3072", "log.retention.hours": "2", "log.cleaner.threads": "x"})
	if len(skipped) != 2 {
		t.Errorf("skipped %v, want listeners and the bad log.cleaner.threads", skipped)
	}
	for _, tc := range []struct {
		name, value string
		src         Source
	}{
		{"log.segment.bytes", "4096", SourceDynamicBroker},
		{"log.retention.hours", "2", SourceDynamicDefaultBroker},
		{"message.max.bytes", "5000", SourceStaticBroker},
		{"log.cleaner.threads", "1", SourceDefault},
		{"listeners", defaultListenAddr, SourceDefault},
	} {
		if v, _ := eff.Get(tc.name); v != tc.value || eff.Source(tc.name) != tc.src {
			t.Errorf("%s = %q from %d, want %q from %d", tc.name, v, eff.Source(tc.name), tc.value, tc.src)
		}
	}
	// A dynamic synonym replaces the static one, as in Kafka.
	if got := eff.RetentionMs(); got != 2*3_600_000 {
		t.Errorf("retention = %d, want 2h from the dynamic log.retention.hours", got)
	}
	topic := Topic{Broker: eff}
	if v, src := topic.Value("retention.ms"); v != "7200000" || src != SourceDynamicDefaultBroker {
		t.Errorf("topic retention.ms = %q from %d", v, src)
	}
	if v, src := topic.Value("segment.bytes"); v != "4096" || src != SourceDynamicBroker {
		t.Errorf("topic segment.bytes = %q from %d", v, src)
	}
	if b.RetentionMs() != 1000 {
		t.Errorf("the static configuration changed")
	}
}

func TestCheckDynamicAndGroupConfigs(t *testing.T) {
	if err := CheckDynamicBrokerConfig("log.retention.ms", "60000"); err != nil {
		t.Error(err)
	}
	if err := CheckDynamicBrokerConfig("log.dirs", "/x"); !errors.Is(err, ErrNotDynamic) {
		t.Errorf("log.dirs: %v", err)
	}
	if err := CheckDynamicBrokerConfig("no.such", "1"); !errors.Is(err, ErrUnknownBrokerConfig) {
		t.Errorf("no.such: %v", err)
	}
	b, _ := NewBroker(map[string]string{"group.consumer.min.heartbeat.interval.ms": "1000"})
	for _, tc := range []struct {
		cfg  map[string]string
		want string
	}{
		{map[string]string{GroupHeartbeatIntervalMs: "2000"}, ""},
		{map[string]string{GroupHeartbeatIntervalMs: "500"}, "group.consumer.min.heartbeat.interval.ms"},
		{map[string]string{GroupSessionTimeoutMs: "90000"}, "group.consumer.max.session.timeout.ms"},
		{map[string]string{GroupSessionTimeoutMs: "45000", GroupHeartbeatIntervalMs: "15000"}, ""},
		{map[string]string{"consumer.other": "1"}, "consumer.other"},
	} {
		err := b.CheckGroupConfigs(tc.cfg)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
