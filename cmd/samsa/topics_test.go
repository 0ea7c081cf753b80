package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/internal/brokertest"
)

func TestTopicsCreateListDescribeDelete(t *testing.T) {
	// A node id other than 0 and a default partition count other than 1,
	// so the output is seen to come from the broker.
	b := brokertest.Start(t, "node.id=7", "num.partitions=2")
	bs := "--bootstrap-server=" + b.Addr()

	// Both spellings: kafka-topics.sh's action flags and subcommands.
	if out := mustRun(t, "", "topics", "--create", bs, "--topic", "orders", "--partitions", "3",
		"--replication-factor", "1", "--config", "retention.ms=3600000", "--config", "cleanup.policy=compact"); out != "Created topic orders.\n" {
		t.Errorf("create output %q", out)
	}
	if out := mustRun(t, "", "topics", "create", bs, "--topic", "events"); out != "Created topic events.\n" {
		t.Errorf("create output %q", out)
	}
	mustFail(t, `topic "orders" already exists`, "topics", "create", bs, "--topic", "orders")
	if out := mustRun(t, "", "topics", "create", bs, "--topic", "orders", "--if-not-exists"); out != "" {
		t.Errorf("create --if-not-exists of an existing topic printed %q", out)
	}
	// --replica-assignment instead of a count: two partitions on broker 7.
	mustRun(t, "", "topics", "create", bs, "--topic", "placed", "--replica-assignment", "7,7")

	if out := mustRun(t, "", "topics", "--list", bs, "--exclude-internal"); out != "events\norders\nplaced\n" {
		t.Errorf("list = %q, want events, orders and placed", out)
	}
	if out := mustRun(t, "", "topics", "--list", bs, "--topic", "ev.*"); out != "events\n" {
		t.Errorf("list --topic ev.* = %q", out)
	}

	out := mustRun(t, "", "topics", "describe", bs, "--topic", "orders")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	head := regexp.MustCompile(`^Topic: orders\tTopicId: ([A-Za-z0-9_-]{22})\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: (.*)$`)
	m := head.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("describe header %q does not match %v", lines[0], head)
	}
	if m[1] == "AAAAAAAAAAAAAAAAAAAAAA" {
		t.Errorf("describe shows the zero topic id")
	}
	configs := strings.Split(m[2], ",")
	for _, want := range []string{"cleanup.policy=compact", "retention.ms=3600000"} {
		if !slices.Contains(configs, want) {
			t.Errorf("describe Configs %q lack %s", m[2], want)
		}
	}
	wantParts := []string{
		"\tTopic: orders\tPartition: 0\tLeader: 7\tReplicas: 7\tIsr: 7",
		"\tTopic: orders\tPartition: 1\tLeader: 7\tReplicas: 7\tIsr: 7",
		"\tTopic: orders\tPartition: 2\tLeader: 7\tReplicas: 7\tIsr: 7",
	}
	if got := lines[1:]; strings.Join(got, "\n") != strings.Join(wantParts, "\n") {
		t.Errorf("describe partitions:\n%q\nwant\n%q", got, wantParts)
	}

	// The broker's num.partitions applied to events; describing every
	// topic lists all, in name order.
	out = mustRun(t, "", "topics", "--describe", bs, "--exclude-internal")
	if !regexp.MustCompile(`(?m)^Topic: events\t.*\tPartitionCount: 2\t`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^Topic: placed\t.*\tPartitionCount: 2\tReplicationFactor: 1\t`).MatchString(out) ||
		strings.Index(out, "Topic: events") > strings.Index(out, "Topic: orders") {
		t.Errorf("describe of all topics:\n%s", out)
	}

	// Partition filters: one healthy broker has none under-replicated or
	// unavailable; with min.insync.replicas=1 every partition is at it.
	if out := mustRun(t, "", "topics", "--describe", bs, "--under-replicated-partitions"); out != "" {
		t.Errorf("--under-replicated-partitions printed %q", out)
	}
	if out := mustRun(t, "", "topics", "--describe", bs, "--unavailable-partitions"); out != "" {
		t.Errorf("--unavailable-partitions printed %q", out)
	}
	out = mustRun(t, "", "topics", "--describe", bs, "--topic", "orders", "--at-min-isr-partitions")
	if strings.Join(strings.Split(strings.TrimSuffix(out, "\n"), "\n"), "\n") != strings.Join(wantParts, "\n") {
		t.Errorf("--at-min-isr-partitions printed %q", out)
	}

	// --alter --partitions raises the count.
	if out := mustRun(t, "", "topics", "--alter", bs, "--topic", "orders", "--partitions", "5"); out != "" {
		t.Errorf("alter printed %q", out)
	}
	if out := mustRun(t, "", "topics", "describe", bs, "--topic", "orders"); !strings.Contains(out, "PartitionCount: 5\t") {
		t.Errorf("describe after alter:\n%s", out)
	}
	mustFail(t, "alter topic", "topics", "alter", bs, "--topic", "orders", "--partitions", "2")
	mustFail(t, `topic "nope" does not exist`, "topics", "alter", bs, "--topic", "nope", "--partitions", "2")

	if out := mustRun(t, "", "topics", "--delete", bs, "--topic", "orders"); out != "" {
		t.Errorf("delete printed %q", out)
	}
	if out := mustRun(t, "", "topics", "list", bs, "--exclude-internal"); out != "events\nplaced\n" {
		t.Errorf("list after delete = %q", out)
	}
	mustFail(t, `topic "orders" does not exist`, "topics", "describe", bs, "--topic", "orders")
	mustFail(t, `topic "orders" does not exist`, "topics", "delete", bs, "--topic", "orders")
	if out := mustRun(t, "", "topics", "delete", bs, "--topic", "orders", "--if-exists"); out != "" {
		t.Errorf("delete --if-exists printed %q", out)
	}
	if out := mustRun(t, "", "topics", "describe", bs, "--topic", "orders", "--if-exists"); out != "" {
		t.Errorf("describe --if-exists printed %q", out)
	}
}

func TestTopicsCommandConfig(t *testing.T) {
	b := brokertest.Start(t)
	// --command-config's settings reach the client: an unknown one is
	// refused as a usage error, a valid one works.
	dir := t.TempDir()
	good := filepath.Join(dir, "good.properties")
	bad := filepath.Join(dir, "bad.properties")
	os.WriteFile(good, []byte("# client settings\nrequest.timeout.ms=20000\nclient.id=ops\n"), 0o644)
	os.WriteFile(bad, []byte("no.such.setting=1\n"), 0o644)
	mustRun(t, "", "topics", "--list", "--bootstrap-server", b.Addr(), "--command-config", good)
	mustFailUsage(t, "no.such.setting", "topics", "--list", "--bootstrap-server", b.Addr(), "--command-config", bad)
	mustFailUsage(t, "reading client properties", "topics", "--list", "--bootstrap-server", b.Addr(), "--command-config", filepath.Join(dir, "missing"))
}

func TestTopicsUsageErrors(t *testing.T) {
	// None of these reach a broker: nothing listens on port 1.
	bs := "--bootstrap-server=127.0.0.1:1"
	mustFailUsage(t, "exactly one of", "topics", bs)
	mustFailUsage(t, "exactly one of", "topics", "--create", "--list", bs)
	mustFailUsage(t, "--topic is required", "topics", "create", bs)
	mustFailUsage(t, "--topic is required", "topics", "--delete", bs)
	mustFailUsage(t, "--partitions is required", "topics", "--alter", "--topic", "x", bs)
	mustFailUsage(t, "--partitions cannot be used with list", "topics", "list", "--partitions", "3", bs)
	mustFailUsage(t, "--if-exists cannot be used with create", "topics", "create", "--topic", "x", "--if-exists", bs)
	mustFailUsage(t, "--partitions must be at least 1", "topics", "create", "--topic", "x", "--partitions", "0", bs)
	mustFailUsage(t, "expected key=value", "topics", "create", "--topic", "x", "--config", "retention.ms", bs)
	mustFailUsage(t, "cannot be used with --partitions", "topics", "create", "--topic", "x", "--partitions", "2", "--replica-assignment", "1,2", bs)
	mustFailUsage(t, "same number of replicas", "topics", "create", "--topic", "x", "--replica-assignment", "1:2,3", bs)
	mustFailUsage(t, "unknown flag", "topics", "create", "--topic", "x", "--partition", "3", bs)
}
