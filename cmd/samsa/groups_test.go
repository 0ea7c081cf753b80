package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/kafka"
)

// fillPartitions writes n records to each partition of topic.
func fillPartitions(t *testing.T, addr, topic string, partitions, n int) {
	t.Helper()
	p, err := kafka.NewProducer(kafka.Config{"bootstrap.servers": addr}, kafka.StringSerializer{}, kafka.StringSerializer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	defer p.Close(ctx)
	for part := range partitions {
		for i := range n {
			pp := int32(part)
			p.Send(ctx, kafka.ProducerRecord[string, string]{Topic: topic, Partition: &pp, Value: "p" + strconv.Itoa(part) + "-" + strconv.Itoa(i)})
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// joinGroup starts a member of group reading topic and waits until it
// has partitions; the member leaves when the test ends or stop is called.
func joinGroup(t *testing.T, addr, group, topic string) (stop func()) {
	t.Helper()
	c, err := kafka.NewConsumer(kafka.Config{"bootstrap.servers": addr, "group.id": group, "client.id": "member-1"},
		kafka.ByteArrayDeserializer{}, kafka.ByteArrayDeserializer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe([]string{topic}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(cliTimeout)
	for len(c.Assignment()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("member of %s got no partitions", group)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		c.Poll(ctx)
		cancel()
	}
	// Keep polling so the member stays in the group.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			c.Poll(pctx)
			pcancel()
		}
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		c.Close(context.Background())
	}
	t.Cleanup(stop)
	return stop
}

// offsetsTable parses the rows of groups --describe into
// "topic/partition" -> [current, end, lag, consumer].
func offsetsTable(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	header := false
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 9 && f[0] == "GROUP" && f[1] == "TOPIC" && f[3] == "CURRENT-OFFSET" && f[8] == "CLIENT-ID" {
			header = true
			continue
		}
		if header && len(f) == 9 {
			rows[f[1]+"/"+f[2]] = []string{f[3], f[4], f[5], f[6]}
		}
	}
	if !header {
		t.Fatalf("no offsets table in\n%s", out)
	}
	return rows
}

func TestGroupsListDescribeResetDelete(t *testing.T) {
	b := brokertest.Start(t)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "test", "--partitions", "3")
	fillPartitions(t, b.Addr(), "test", 3, 20)
	if out := mustRun(t, "", "consume", bs, "--topic", "test", "--group", "g1", "--from-beginning", "--max-messages", "60"); strings.Count(out, "\n") != 60 {
		t.Fatalf("consumed %d lines, want 60", strings.Count(out, "\n"))
	}

	if out := mustRun(t, "", "groups", "--list", bs); out != "g1\n" {
		t.Errorf("list = %q", out)
	}
	if out := mustRun(t, "", "groups", "list", bs, "--state"); !regexp.MustCompile(`^GROUP +STATE\ng1 +Empty\n$`).MatchString(out) {
		t.Errorf("list --state = %q", out)
	}
	if out := mustRun(t, "", "groups", "--list", bs, "--state", "Stable"); !regexp.MustCompile(`^GROUP +STATE\n$`).MatchString(out) {
		t.Errorf("list --state Stable = %q", out)
	}

	out := mustRun(t, "", "groups", "--describe", bs, "--group", "g1")
	if !strings.Contains(out, "Consumer group 'g1' has no active members.") {
		t.Errorf("describe of an empty group:\n%s", out)
	}
	rows := offsetsTable(t, out)
	for p := range 3 {
		if got := rows["test/"+strconv.Itoa(p)]; strings.Join(got, " ") != "20 20 0 -" {
			t.Errorf("describe partition %d: %v, want current 20, end 20, lag 0, no consumer", p, got)
		}
	}

	// The dry run (the default) prints the plan and changes nothing.
	out = mustRun(t, "", "groups", "--reset-offsets", bs, "--group", "g1", "--topic", "test", "--to-earliest")
	plan := regexp.MustCompile(`(?m)^g1 +test +([0-9]) +([0-9]+) *$`).FindAllStringSubmatch(out, -1)
	if !regexp.MustCompile(`(?m)^GROUP {26}TOPIC {26}PARTITION  NEW-OFFSET`).MatchString(out) || len(plan) != 3 || plan[0][2] != "0" {
		t.Errorf("reset --to-earliest plan:\n%s", out)
	}
	if rows := offsetsTable(t, mustRun(t, "", "groups", "describe", bs, "--group", "g1")); rows["test/0"][0] != "20" {
		t.Errorf("the dry run changed the offsets: %v", rows)
	}

	// Partition 1 to offset 10; a consumer of the group then starts there.
	out = mustRun(t, "", "groups", "reset-offsets", bs, "--group", "g1", "--topic", "test:1", "--to-offset", "10", "--execute")
	if !regexp.MustCompile(`(?m)^g1 +test +1 +10 *$`).MatchString(out) || strings.Contains(out, "test                           0") {
		t.Errorf("reset --to-offset 10 output:\n%s", out)
	}
	rows = offsetsTable(t, mustRun(t, "", "groups", "describe", bs, "--group", "g1"))
	if got := strings.Join(rows["test/1"], " "); got != "10 20 10 -" {
		t.Errorf("partition 1 after the reset: %s", got)
	}
	out = mustRun(t, "", "consume", bs, "--topic", "test", "--group", "g1", "--max-messages", "10", "--timeout-ms", "10000",
		"--property", "print.partition=true", "--property", "print.offset=true")
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 10 || lines[0] != "Partition:1\tOffset:10\tp1-10" {
		t.Errorf("the group's consumer after the reset read:\n%s", out)
	}

	// --shift-by, --to-datetime, --by-duration, --from-file, clamping.
	mustRun(t, "", "groups", "--reset-offsets", bs, "--group", "g1", "--topic", "test:0", "--shift-by", "-5", "--execute")
	future := time.Now().Add(time.Hour).Format("2006-01-02T15:04:05.000")
	out = mustRun(t, "", "groups", "--reset-offsets", bs, "--group", "g1", "--topic", "test:2", "--to-datetime", future, "--dry-run")
	if !regexp.MustCompile(`(?m)^g1 +test +2 +20 *$`).MatchString(out) {
		t.Errorf("--to-datetime in the future: want the end:\n%s", out)
	}
	out = mustRun(t, "", "groups", "--reset-offsets", bs, "--group", "g1", "--topic", "test:2", "--to-datetime", "2000-01-01T00:00:00.000Z")
	if !regexp.MustCompile(`(?m)^g1 +test +2 +0 *$`).MatchString(out) {
		t.Errorf("--to-datetime in the past: want the start:\n%s", out)
	}
	out = mustRun(t, "", "groups", "--reset-offsets", bs, "--group", "g1", "--topic", "test:2", "--by-duration", "P1DT2H")
	if !regexp.MustCompile(`(?m)^g1 +test +2 +0 *$`).MatchString(out) {
		t.Errorf("--by-duration P1DT2H: want the start:\n%s", out)
	}
	csv := filepath.Join(t.TempDir(), "offsets.csv")
	os.WriteFile(csv, []byte("test,2,7\n"), 0o644)
	mustRun(t, "", "groups", "--reset-offsets", bs, "--group", "g1", "--from-file", csv, "--execute")
	out, errOut, err := runCLI(t, "", "groups", "--reset-offsets", bs, "--group", "g1", "--topic", "test:0", "--to-offset", "1000", "--export")
	if err != nil || out != "test,0,20\n" || !strings.Contains(errOut, "is higher than latest offset") {
		t.Errorf("--to-offset past the end --export: err %v, stdout %q, stderr %q", err, out, errOut)
	}
	rows = offsetsTable(t, mustRun(t, "", "groups", "describe", bs, "--group", "g1"))
	if rows["test/0"][0] != "15" || rows["test/2"][0] != "7" {
		t.Errorf("after --shift-by -5 and --from-file: %v", rows)
	}
	out = mustRun(t, "", "groups", "--reset-offsets", bs, "--group", "g1", "--all-topics", "--to-current")
	if !regexp.MustCompile(`(?m)^g1 +test +0 +15 *$`).MatchString(out) || !regexp.MustCompile(`(?m)^g1 +test +2 +7 *$`).MatchString(out) {
		t.Errorf("--all-topics --to-current:\n%s", out)
	}
	mustRun(t, "", "groups", "--reset-offsets", bs, "--group", "g1", "--all-topics", "--to-latest", "--execute")

	// An active group is refused, dry run or not, and cannot be deleted.
	stop := joinGroup(t, b.Addr(), "g1", "test")
	mustFail(t, "Assignments can only be reset if the group 'g1' is inactive, but the current state is Stable.",
		"groups", "--reset-offsets", bs, "--group", "g1", "--topic", "test", "--to-earliest", "--execute")
	mustFail(t, "Assignments can only be reset", "groups", "--reset-offsets", bs, "--group", "g1", "--topic", "test", "--to-earliest")
	out = mustRun(t, "", "groups", "--describe", bs, "--group", "g1", "--members", "--verbose")
	if !regexp.MustCompile(`(?m)^GROUP +CONSUMER-ID +HOST +CLIENT-ID +#PARTITIONS +ASSIGNMENT\ng1 +\S+ +\S+ +member-1 +3 +test\(0,1,2\)$`).MatchString(out) {
		t.Errorf("describe --members --verbose:\n%s", out)
	}
	out = mustRun(t, "", "groups", "--describe", bs, "--group", "g1", "--state")
	if !regexp.MustCompile(`(?m)^GROUP +COORDINATOR \(ID\) +ASSIGNMENT-STRATEGY +STATE +#MEMBERS\ng1 +127\.0\.0\.1:\d+  \(0\) +\S+ +Stable +1$`).MatchString(out) {
		t.Errorf("describe --state:\n%s", out)
	}
	rows = offsetsTable(t, mustRun(t, "", "groups", "--describe", bs, "--group", "g1"))
	if rows["test/0"][3] == "-" {
		t.Errorf("describe of an active group shows no consumer: %v", rows)
	}
	out, _, err = runCLI(t, "", "groups", "--delete", bs, "--group", "g1")
	if err == nil || !strings.Contains(out, "* Group 'g1' could not be deleted") {
		t.Errorf("delete of an active group: err %v, out %q", err, out)
	}
	stop()

	// Once the member left: delete offsets of the topic, then the group.
	out = mustRun(t, "", "groups", "--delete-offsets", bs, "--group", "g1", "--topic", "test:0")
	if !regexp.MustCompile(`(?m)^test +0 +Successful`).MatchString(out) {
		t.Errorf("delete-offsets:\n%s", out)
	}
	rows = offsetsTable(t, mustRun(t, "", "groups", "--describe", bs, "--group", "g1"))
	if rows["test/0"] != nil {
		t.Errorf("partition 0 still has an offset: %v", rows)
	}
	if out := mustRun(t, "", "groups", "delete", bs, "--group", "g1"); out != "Deletion of requested consumer groups ('g1') was successful.\n" {
		t.Errorf("delete: %q", out)
	}
	mustFail(t, "consumer group 'g1' does not exist", "groups", "--describe", bs, "--group", "g1")
	if out := mustRun(t, "", "groups", "--list", bs); out != "" {
		t.Errorf("list after delete: %q", out)
	}
}

func TestGroupsUsageErrors(t *testing.T) {
	bs := "--bootstrap-server=127.0.0.1:1"
	mustFailUsage(t, "exactly one of", "groups", bs)
	mustFailUsage(t, "--group (or --all-groups) is required", "groups", "--describe", bs)
	mustFailUsage(t, "exactly one of --to-earliest", "groups", "--reset-offsets", "--group", "g", "--topic", "t", bs)
	mustFailUsage(t, "exactly one of --to-earliest", "groups", "--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--to-latest", bs)
	mustFailUsage(t, "one of --topic or --all-topics", "groups", "--reset-offsets", "--group", "g", "--to-earliest", bs)
	mustFailUsage(t, "--dry-run and --execute", "groups", "--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--dry-run", "--execute", bs)
	mustFailUsage(t, "--to-datetime", "groups", "--reset-offsets", "--group", "g", "--topic", "t", "--to-datetime", "yesterday", bs)
	mustFailUsage(t, "--by-duration", "groups", "--reset-offsets", "--group", "g", "--topic", "t", "--by-duration", "1h", bs)
	mustFailUsage(t, "not a partition number", "groups", "--reset-offsets", "--group", "g", "--topic", "t:x", "--to-earliest", bs)
	mustFailUsage(t, "--execute cannot be used with describe", "groups", "--describe", "--group", "g", "--execute", bs)
	mustFailUsage(t, "--topic is required", "groups", "--delete-offsets", "--group", "g", bs)
	mustFailUsage(t, "--verbose needs --members", "groups", "--describe", "--group", "g", "--verbose", bs)
}

func TestParseISODuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT15M": 15 * time.Minute, "P1DT2H": 26 * time.Hour, "PT0.5S": 500 * time.Millisecond,
		"P2D": 48 * time.Hour, "-PT1H": -time.Hour, "PT1H30M10S": time.Hour + 30*time.Minute + 10*time.Second,
	} {
		if got, err := parseISODuration(in); err != nil || got != want {
			t.Errorf("parseISODuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1H", "P1H", "PT1D"} {
		if _, err := parseISODuration(bad); err == nil {
			t.Errorf("parseISODuration(%q) succeeded", bad)
		}
	}
}

func TestParseKafkaDatetime(t *testing.T) {
	got, err := parseKafkaDatetime("2024-03-01T12:30:00.250Z")
	if err != nil || !got.Equal(time.Date(2024, 3, 1, 12, 30, 0, 250e6, time.UTC)) {
		t.Errorf("with zone: %v, %v", got, err)
	}
	got, err = parseKafkaDatetime("2024-03-01T12:30:00.000")
	if err != nil || !got.Equal(time.Date(2024, 3, 1, 12, 30, 0, 0, time.Local)) {
		t.Errorf("local: %v, %v", got, err)
	}
	if _, err := parseKafkaDatetime("2024-03-01T12:30:00+02:00"); err != nil {
		t.Errorf("zone offset: %v", err)
	}
}
