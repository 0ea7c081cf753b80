package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/internal/brokertest"
)

func TestConfigsDescribeAlter(t *testing.T) {
	b := brokertest.Start(t, "node.id=3")
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "orders", "--partitions", "1")

	if out := mustRun(t, "", "configs", "--describe", bs, "--entity-type", "topics", "--entity-name", "orders"); out != "Dynamic configs for topic orders are:\n" {
		t.Errorf("describe of a topic without overrides: %q", out)
	}
	out := mustRun(t, "", "configs", "--alter", bs, "--entity-type", "topics", "--entity-name", "orders",
		"--add-config", "retention.ms=86400000,cleanup.policy=[compact,delete]")
	if out != "Completed updating config for topic orders.\n" {
		t.Errorf("alter output %q", out)
	}
	out = mustRun(t, "", "configs", "describe", bs, "--topic", "orders")
	want := "Dynamic configs for topic orders are:\n" +
		"  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete, DEFAULT_CONFIG:log.cleanup.policy=delete}\n" +
		"  retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000, DEFAULT_CONFIG:log.retention.hours=168}\n"
	if out != want {
		t.Errorf("describe after alter:\n%s\nwant\n%s", out, want)
	}
	// The effect reaches the topic: kafka-topics --describe shows it too.
	if out := mustRun(t, "", "topics", "--describe", bs, "--topic", "orders"); !strings.Contains(out, "retention.ms=86400000") {
		t.Errorf("topics --describe after alter:\n%s", out)
	}

	// --all lists defaults too.
	out = mustRun(t, "", "configs", "--describe", bs, "--topic", "orders", "--all")
	if !strings.HasPrefix(out, "All configs for topic orders are:\n") || !regexp.MustCompile(`(?m)^  segment.bytes=\d+ sensitive=false synonyms=\{DEFAULT_CONFIG:`).MatchString(out) {
		t.Errorf("describe --all:\n%s", out)
	}

	// --delete-config returns a config to its default; a file adds.
	mustRun(t, "", "configs", "--alter", bs, "--topic", "orders", "--delete-config", "retention.ms")
	file := filepath.Join(t.TempDir(), "topic.properties")
	os.WriteFile(file, []byte("max.message.bytes=2000000\n"), 0o644)
	mustRun(t, "", "configs", "alter", bs, "--topic", "orders", "--add-config-file", file)
	out = mustRun(t, "", "configs", "--describe", bs, "--topic", "orders")
	if strings.Contains(out, "retention.ms") || !strings.Contains(out, "max.message.bytes=2000000") {
		t.Errorf("describe after delete-config and add-config-file:\n%s", out)
	}
	mustFail(t, "altering config for topic orders", "configs", "--alter", bs, "--topic", "orders", "--add-config", "no.such.config=1")
	mustFail(t, "altering config for topic missing", "configs", "--alter", bs, "--topic", "missing", "--add-config", "retention.ms=1")

	// Brokers: the broker's configs by id; without a name, every broker.
	out = mustRun(t, "", "configs", "--describe", bs, "--entity-type", "brokers", "--all")
	if !strings.HasPrefix(out, "All configs for broker 3 are:\n") || !strings.Contains(out, "  node.id=3 ") {
		t.Errorf("describe brokers --all:\n%s", out)
	}
	if out := mustRun(t, "", "configs", "--describe", bs, "--broker", "3"); out != "Dynamic configs for broker 3 are:\n" {
		t.Errorf("describe broker 3: %q", out)
	}
}

func TestConfigsUsageErrors(t *testing.T) {
	bs := "--bootstrap-server=127.0.0.1:1"
	mustFailUsage(t, "exactly one of", "configs", bs, "--topic", "t")
	mustFailUsage(t, "exactly one entity", "configs", "--describe", bs)
	mustFailUsage(t, "exactly one entity", "configs", "--describe", bs, "--topic", "t", "--broker", "1")
	mustFailUsage(t, "expected topics, brokers or groups", "configs", "--describe", bs, "--entity-type", "users", "--entity-name", "x")
	mustFailUsage(t, "--add-config, --add-config-file or --delete-config is required", "configs", "--alter", bs, "--topic", "t")
	mustFailUsage(t, "unbalanced", "configs", "--alter", bs, "--topic", "t", "--add-config", "a=[x,y")
	mustFailUsage(t, "both added and deleted", "configs", "--alter", bs, "--topic", "t", "--add-config", "a=1", "--delete-config", "a")
	mustFailUsage(t, "--add-config cannot be used with describe", "configs", "--describe", bs, "--topic", "t", "--add-config", "a=1")
	mustFailUsage(t, "expected a broker id", "configs", "--describe", bs, "--broker", "one")
	mustFailUsage(t, "an entity name is required", "configs", "--alter", bs, "--entity-type", "topics", "--add-config", "a=1")
}

func TestParseAddConfig(t *testing.T) {
	got, err := parseAddConfig("a=1, b=[x,y],c=")
	if err != nil || len(got) != 3 || got["a"] != "1" || got["b"] != "x,y" || got["c"] != "" {
		t.Errorf("parseAddConfig = %v, %v", got, err)
	}
}

func TestConfigsBrokersAndGroups(t *testing.T) {
	b := brokertest.Start(t, "node.id=2")
	bs := "--bootstrap-server=" + b.Addr()

	// Cluster-wide broker defaults.
	out := mustRun(t, "", "configs", "--alter", bs, "--entity-type", "brokers", "--entity-default", "--add-config", "log.retention.ms=600000")
	if out != "Completed updating default config for brokers in the cluster.\n" {
		t.Errorf("alter broker defaults: %q", out)
	}
	want := "Default configs for brokers in the cluster are:\n" +
		"  log.retention.ms=600000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=600000, DEFAULT_CONFIG:log.retention.hours=168}\n"
	if out := mustRun(t, "", "configs", "--describe", bs, "--entity-type", "brokers", "--entity-default"); out != want {
		t.Errorf("describe broker defaults:\n%s\nwant\n%s", out, want)
	}

	// One broker's own value, and back.
	mustRun(t, "", "configs", "--alter", bs, "--broker", "2", "--add-config", "log.cleaner.backoff.ms=1000")
	want = "Dynamic configs for broker 2 are:\n" +
		"  log.cleaner.backoff.ms=1000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.cleaner.backoff.ms=1000, DEFAULT_CONFIG:log.cleaner.backoff.ms=15000}\n"
	if out := mustRun(t, "", "configs", "--describe", bs, "--broker", "2"); out != want {
		t.Errorf("describe broker 2:\n%s\nwant\n%s", out, want)
	}
	mustRun(t, "", "configs", "--alter", bs, "--broker", "2", "--delete-config", "log.cleaner.backoff.ms")
	if out := mustRun(t, "", "configs", "--describe", bs, "--broker", "2"); out != "Dynamic configs for broker 2 are:\n" {
		t.Errorf("describe broker 2 after delete-config: %q", out)
	}
	mustFail(t, "Cannot update these configs dynamically", "configs", "--alter", bs, "--broker", "2", "--add-config", "log.dirs=/elsewhere")

	// Group configs.
	mustRun(t, "", "configs", "--alter", bs, "--entity-type", "groups", "--entity-name", "billing", "--add-config", "consumer.session.timeout.ms=50000")
	want = "Dynamic configs for group billing are:\n" +
		"  consumer.session.timeout.ms=50000 sensitive=false synonyms={GROUP_CONFIG:consumer.session.timeout.ms=50000, DEFAULT_CONFIG:group.consumer.session.timeout.ms=45000}\n"
	if out := mustRun(t, "", "configs", "--describe", bs, "--group", "billing"); out != want {
		t.Errorf("describe group:\n%s\nwant\n%s", out, want)
	}
	mustFail(t, "altering config for group billing", "configs", "--alter", bs, "--group", "billing", "--add-config", "consumer.session.timeout.ms=1000")
}
