package main

import (
	"bufio"
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/internal/brokertest"
)

// cliTimeout bounds one command in a test, so that a hang fails the test
// with a message instead of running into go test's global timeout.
const cliTimeout = 60 * time.Second

// runCLI runs the samsa command line in-process with args and stdin, the
// way main assembles it, and returns what it wrote.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cobra.Command{Use: "samsa", SilenceUsage: true, SilenceErrors: true}
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// mustRun runs the command line and fails the test if it fails.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, stdin, args...)
	if err != nil {
		t.Fatalf("samsa %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// mustFail runs the command line and fails the test unless it fails with
// an error containing want.
func mustFail(t *testing.T, want string, args ...string) {
	t.Helper()
	_, _, err := runCLI(t, "", args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("samsa %s: error %v, want one containing %q", strings.Join(args, " "), err, want)
	}
}

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

	if out := mustRun(t, "", "topics", "--list", bs); out != "events\norders\n" {
		t.Errorf("list = %q, want events and orders", out)
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
	// topic lists both, in name order.
	out = mustRun(t, "", "topics", "--describe", bs)
	if !regexp.MustCompile(`(?m)^Topic: events\t.*\tPartitionCount: 2\t`).MatchString(out) ||
		strings.Index(out, "Topic: events") > strings.Index(out, "Topic: orders") {
		t.Errorf("describe of all topics:\n%s", out)
	}

	if out := mustRun(t, "", "topics", "--delete", bs, "--topic", "orders"); out != "" {
		t.Errorf("delete printed %q", out)
	}
	if out := mustRun(t, "", "topics", "list", bs); out != "events\n" {
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

func TestTopicsUsageErrors(t *testing.T) {
	// None of these reach a broker: nothing listens on port 1.
	bs := "--bootstrap-server=127.0.0.1:1"
	mustFail(t, "exactly one of", "topics", bs)
	mustFail(t, "exactly one of", "topics", "--create", "--list", bs)
	mustFail(t, "--topic is required", "topics", "create", bs)
	mustFail(t, "--topic is required", "topics", "--delete", bs)
	mustFail(t, "--partitions cannot be used with list", "topics", "list", "--partitions", "3", bs)
	mustFail(t, "--if-exists cannot be used with create", "topics", "create", "--topic", "x", "--if-exists", bs)
	mustFail(t, "--partitions must be at least 1", "topics", "create", "--topic", "x", "--partitions", "0", bs)
	mustFail(t, "expected key=value", "topics", "create", "--topic", "x", "--config", "retention.ms", bs)
}

func TestProduceConsumeKeyed(t *testing.T) {
	b := brokertest.Start(t)
	bs := "--bootstrap-server=" + b.Addr()
	// One partition, so the order read back is the order written.
	mustRun(t, "", "topics", "create", bs, "--topic", "keyed", "--partitions", "1")

	// Line 3 has no separator: reported with its number and skipped, the
	// lines after it still go out, and the exit status says so.
	in := "k1:v1\nk2:v2\nno separator\nk3:v3:with:colons\n:empty key\n"
	_, errOut, err := runCLI(t, in, "produce", bs, "--topic", "keyed", "--key-separator", ":")
	if err == nil || !strings.Contains(err.Error(), "1 of 5 lines") {
		t.Errorf("produce with a bad line: error %v, want one counting 1 of 5 lines", err)
	}
	if !strings.Contains(errOut, "line 3:") || strings.Count(errOut, "line ") != 1 {
		t.Errorf("produce stderr %q, want exactly one report, for line 3", errOut)
	}
	// Kafka's spelling of the same, synchronous this time.
	mustRun(t, "k4\tv4\n", "produce", bs, "--topic", "keyed", "--property", "parse.key=true", "--sync")

	out := mustRun(t, "", "consume", bs, "--topic", "keyed", "--from-beginning", "--property", "print.key=true", "--max-messages", "5")
	want := "k1\tv1\nk2\tv2\nk3\tv3:with:colons\n\tempty key\nk4\tv4\n"
	if out != want {
		t.Errorf("consume --from-beginning print.key:\n%q\nwant\n%q", out, want)
	}

	// Every column, in Kafka's order, with a custom separator.
	out = mustRun(t, "", "consume", bs, "--topic", "keyed", "--partition", "0", "--offset", "2", "--max-messages", "1",
		"--print-timestamp", "--print-partition", "--print-offset", "--print-headers", "--print-key", "--property", "key.separator=|")
	if re := regexp.MustCompile(`^CreateTime:\d{13}\|Partition:0\|Offset:2\|NO_HEADERS\|k3\|v3:with:colons\n$`); !re.MatchString(out) {
		t.Errorf("consume with every column = %q, want a match of %v", out, re)
	}

	// --timeout-ms ends a read that runs out of records before
	// --max-messages; the count goes to stderr as Kafka's does.
	out, errOut, err = runCLI(t, "", "consume", bs, "--topic", "keyed", "--partition", "0", "--offset", "earliest",
		"--max-messages", "100", "--timeout-ms", "1000")
	if err != nil || out != "v1\nv2\nv3:with:colons\nempty key\nv4\n" || !strings.Contains(errOut, "Processed a total of 5 messages") {
		t.Errorf("consume until timeout: err %v, stdout %q, stderr %q", err, out, errOut)
	}
}

func TestProduceConsumeCodecs(t *testing.T) {
	b := brokertest.Start(t)
	bs := "--bootstrap-server=" + b.Addr()
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			topic := "codec-" + codec
			mustRun(t, "", "topics", "create", bs, "--topic", topic, "--partitions", "1")
			in := strings.Repeat(codec+" compresses this line well\n", 50)
			mustRun(t, in, "produce", bs, "--topic", topic, "--compression-codec", codec,
				"--producer-property", "linger.ms=50") // so the lines share batches
			out := mustRun(t, "", "consume", bs, "--topic", topic, "--from-beginning", "--max-messages", "50")
			if out != in {
				t.Errorf("read back %d bytes, want the %d bytes written", len(out), len(in))
			}
		})
	}
}

func TestProduceUsageErrors(t *testing.T) {
	bs := "--bootstrap-server=127.0.0.1:1"
	mustFail(t, "--topic is required", "produce", bs)
	mustFail(t, `unknown property "parse.keys"`, "produce", bs, "--topic", "t", "--property", "parse.keys=true")
	mustFail(t, `unknown property "lingr.ms"`, "produce", bs, "--topic", "t", "--producer-property", "lingr.ms=5")
	mustFail(t, "enable.idempotence=true needs acks=all", "produce", bs, "--topic", "t",
		"--producer-property", "acks=1", "--producer-property", "enable.idempotence=true")
	mustFail(t, `compression "brotli"`, "produce", bs, "--topic", "t", "--compression-codec", "brotli")
	mustFail(t, "disagree", "produce", bs, "--topic", "t", "--compression-codec", "lz4", "--producer-property", "compression.type=zstd")
	mustFail(t, "disagree", "produce", bs, "--topic", "t", "--key-separator", ":", "--property", "key.separator=;")
}

func TestProducerOptsAcksWithoutIdempotence(t *testing.T) {
	// acks=1 alone turns idempotence off quietly, as in the Java client;
	// kgo would refuse acks=1 with idempotence on.
	for _, acks := range []string{"0", "1", "all", "-1"} {
		opts, err := producerOpts("", []string{"acks=" + acks})
		if err != nil {
			t.Fatalf("acks=%s: %v", acks, err)
		}
		cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers("127.0.0.1:1"))...)
		if err != nil {
			t.Errorf("acks=%s: kgo rejects the options: %v", acks, err)
			continue
		}
		cl.Close()
	}
}

func TestConsumeUsageErrors(t *testing.T) {
	bs := "--bootstrap-server=127.0.0.1:1"
	mustFail(t, "--topic is required", "consume", bs)
	mustFail(t, "--offset needs --partition", "consume", bs, "--topic", "t", "--offset", "5")
	mustFail(t, "cannot be used together", "consume", bs, "--topic", "t", "--partition", "0", "--offset", "5", "--from-beginning")
	mustFail(t, "cannot be used together", "consume", bs, "--topic", "t", "--partition", "0", "--group", "g")
	mustFail(t, "expected earliest, latest", "consume", bs, "--topic", "t", "--partition", "0", "--offset", "-3")
	mustFail(t, `unknown property "print.kye"`, "consume", bs, "--topic", "t", "--property", "print.kye=true")
}

func TestFormatter(t *testing.T) {
	rec := &kgo.Record{
		Key:       nil, // a null key prints as null.literal
		Value:     []byte("value"),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}},
		Timestamp: time.UnixMilli(1700000000000),
		Partition: 0,
		Offset:    5,
	}
	for _, tc := range []struct {
		props []string
		want  string
	}{
		{nil, "value\n"},
		{[]string{"print.key=true"}, "null\tvalue\n"},
		{[]string{"print.timestamp=true", "print.partition=true", "print.offset=true"}, "CreateTime:1700000000000\tPartition:0\tOffset:5\tvalue\n"},
		{[]string{"print.headers=true", "print.value=false"}, "a:1,b:null\n"},
		{[]string{"print.key=true", "null.literal=<nil>", "key.separator= => ", "line.separator=;"}, "<nil> => value;"},
		{[]string{"print.value=false"}, ""},
	} {
		o := &consumeOptions{properties: tc.props}
		fm, err := o.formatter()
		if err != nil {
			t.Fatalf("%v: %v", tc.props, err)
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		fm.write(w, rec)
		w.Flush()
		if buf.String() != tc.want {
			t.Errorf("%v: %q, want %q", tc.props, buf.String(), tc.want)
		}
	}
}

// TestConsumeGroupCommits: a console consumer in a group commits what it
// printed when it exits, so the next one of the group goes on from there.
func TestConsumeGroupCommits(t *testing.T) {
	b := brokertest.Start(t)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "grouped", "--partitions", "1")
	mustRun(t, "a\nb\nc\nd\ne\n", "produce", bs, "--topic", "grouped", "--sync")
	out := mustRun(t, "", "consume", bs, "--topic", "grouped", "--group", "console", "--from-beginning", "--max-messages", "3")
	if out != "a\nb\nc\n" {
		t.Fatalf("first consumer of the group read %q", out)
	}
	out = mustRun(t, "", "consume", bs, "--topic", "grouped", "--group", "console", "--from-beginning", "--max-messages", "2", "--timeout-ms", "10000")
	if out != "d\ne\n" {
		t.Fatalf("second consumer of the group read %q, want the two records after the first one's commit", out)
	}
}
