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

// noJoinDelay spares the tests the 3 seconds a new group waits for more
// members.
const noJoinDelay = "group.initial.rebalance.delay.ms=0"

// perfTotalLine is the final line of kafka-producer-perf-test.sh.
var perfTotalLine = regexp.MustCompile(`^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, ` +
	`(\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$`)

// perfWindowLine is its progress line.
var perfWindowLine = regexp.MustCompile(`^\d+ records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency, [\d.]+ ms max latency\.$`)

// topicRecords counts the records in a topic from its partitions' start
// and end offsets.
func topicRecords(t *testing.T, addr, topic string, partitions int32) int64 {
	t.Helper()
	adm, err := kafka.NewAdmin(kafka.Config{"bootstrap.servers": addr})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start, end := map[kafka.TopicPartition]int64{}, map[kafka.TopicPartition]int64{}
	for p := range partitions {
		tp := kafka.TopicPartition{Topic: topic, Partition: p}
		start[tp], end[tp] = -2, -1 // earliest, latest
	}
	first, err := adm.ListOffsets(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	last, err := adm.ListOffsets(ctx, end)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for tp := range end {
		n += last[tp] - first[tp]
	}
	return n
}

// lastLine is the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func TestPerfProduceAndConsume(t *testing.T) {
	b := brokertest.Start(t, noJoinDelay)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "perf", "--partitions", "2")

	// Kafka's spelling: several settings after one --producer-props.
	out := mustRun(t, "", "perf", "produce", bs, "--topic", "perf", "--num-records", "3000", "--record-size", "100",
		"--throughput", "-1", "--producer-props", "acks=1", "linger.ms=2")
	m := perfTotalLine.FindStringSubmatch(lastLine(out))
	if m == nil {
		t.Fatalf("perf produce output does not end with Kafka's summary line:\n%s", out)
	}
	if m[1] != "3000" {
		t.Errorf("summary counts %s records, want 3000: %s", m[1], m[0])
	}
	for i, q := range []string{m[6], m[7], m[8], m[9]} { // percentiles never decrease
		if i > 0 && atoi(t, q) < atoi(t, []string{m[6], m[7], m[8], m[9]}[i-1]) {
			t.Errorf("percentiles out of order: %s", m[0])
		}
	}
	if n := topicRecords(t, b.Addr(), "perf", 2); n != 3000 {
		t.Errorf("topic holds %d records, want 3000", n)
	}

	out = mustRun(t, "", "perf", "consume", bs, "--topic", "perf", "--messages", "3000", "--timeout", "30000")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec" {
		t.Fatalf("perf consume output, want the CSV header and one line:\n%s", out)
	}
	cols := strings.Split(lines[1], ", ")
	if len(cols) != 10 || cols[4] != "3000" {
		t.Fatalf("CSV line %q: want 10 columns with 3000 messages in the fifth", lines[1])
	}
	// 3000 records of 100 bytes, in MB of 1024*1024 bytes.
	if cols[2] != "0.2861" {
		t.Errorf("data.consumed.in.MB = %s, want 0.2861", cols[2])
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}$`).MatchString(cols[0]) {
		t.Errorf("start.time %q is not in Kafka's default date format", cols[0])
	}

	// Detailed stats, no header, another date format; the group read
	// nothing yet, so it starts from the beginning.
	out = mustRun(t, "", "perf", "consume", bs, "--topic", "perf", "--messages", "3000", "--show-detailed-stats",
		"--reporting-interval", "1", "--hide-header", "--date-format", "yyyy-MM-dd'T'HH:mm:ss.SSS", "--group", "detailed")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		cols := strings.Split(l, ", ")
		if len(cols) != 10 || cols[1] != "0" || !strings.Contains(cols[0], "T") {
			t.Errorf("detailed line %q: want 10 columns, thread 0, a time with T", l)
		}
	}
	if last := strings.Split(lastLine(out), ", "); len(last) < 5 || last[4] != "3000" {
		t.Errorf("last detailed line %q does not count 3000 messages", lastLine(out))
	}

	// More messages than there are: an error after --timeout, with the
	// summary of what was read.
	out, _, err := runCLI(t, "", "perf", "consume", bs, "--topic", "perf", "--messages", "4000", "--timeout", "3000")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "timeout (3000 ms) exceeded") {
		t.Errorf("perf consume past the end: %v, want a timeout error", err)
	}
	if cols := strings.Split(lastLine(out), ", "); len(cols) != 10 || cols[4] != "3000" {
		t.Errorf("perf consume past the end printed %q, want the 3000 read", lastLine(out))
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPerfProduceThroughputAndProgress(t *testing.T) {
	defer func(d time.Duration) { perfReportInterval = d }(perfReportInterval)
	perfReportInterval = 300 * time.Millisecond
	b := brokertest.Start(t, noJoinDelay)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "slow", "--partitions", "1")

	const records, rate = 300, 150 // two seconds at least
	start := time.Now()
	out := mustRun(t, "", "perf", "produce", bs, "--topic", "slow", "--num-records", strconv.Itoa(records),
		"--record-size", "10", "--throughput", strconv.Itoa(rate))
	elapsed := time.Since(start)
	if least := time.Duration((records - 1) * int64(time.Second) / rate); elapsed < least {
		t.Errorf("%d records at --throughput %d took %v, want at least %v", records, rate, elapsed, least)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	m := perfTotalLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil || m[1] != strconv.Itoa(records) {
		t.Fatalf("perf produce output:\n%s", out)
	}
	if got, _ := strconv.ParseFloat(m[2], 64); got > rate*1.05 {
		t.Errorf("reported %s records/sec above --throughput %d", m[2], rate)
	}
	windows := 0
	for _, l := range lines[:len(lines)-1] {
		if !perfWindowLine.MatchString(l) {
			t.Errorf("unexpected line %q", l)
		}
		windows++
	}
	if windows < 3 {
		t.Errorf("%d progress lines in two seconds at an interval of %v:\n%s", windows, perfReportInterval, out)
	}
}

func TestPerfProducePayloadsAndTransactions(t *testing.T) {
	b := brokertest.Start(t, noJoinDelay)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "payloads", "--partitions", "1")
	file := filepath.Join(t.TempDir(), "payloads")
	os.WriteFile(file, []byte("alpha|beta|gamma|"), 0o644)
	out := mustRun(t, "", "perf", "produce", bs, "--topic", "payloads", "--num-records", "30", "--payload-file", file,
		"--payload-delimiter", "|", "--print-metrics")
	if !strings.Contains(out, "30 records sent") || !strings.Contains(out, "Metric Name") ||
		!regexp.MustCompile(`producer-metrics:record-send-total:\{client-id=perf-producer-client\} +: 30\.000`).MatchString(out) {
		t.Errorf("perf produce --print-metrics output:\n%s", out)
	}
	got := mustRun(t, "", "consume", bs, "--topic", "payloads", "--from-beginning", "--max-messages", "30")
	for _, v := range strings.Split(strings.TrimSpace(got), "\n") {
		if v != "alpha" && v != "beta" && v != "gamma" {
			t.Fatalf("record %q is not one of the payloads", v)
		}
	}

	// Transactions committed every 50 ms; a read_committed consumer sees
	// them all, in order with --payload-monotonic.
	mustRun(t, "", "topics", "create", bs, "--topic", "txn", "--partitions", "1")
	out = mustRun(t, "", "perf", "produce", bs, "--topic", "txn", "--num-records", "500", "--payload-monotonic",
		"--throughput", "2000", "--transactional-id", "perf-txn", "--transaction-duration-ms", "50")
	if !strings.HasPrefix(lastLine(out), "500 records sent") {
		t.Errorf("transactional perf produce:\n%s", out)
	}
	got = mustRun(t, "", "consume", bs, "--topic", "txn", "--from-beginning", "--max-messages", "500", "--isolation-level", "read_committed")
	values := strings.Split(strings.TrimSpace(got), "\n")
	if len(values) != 500 || values[0] != "0" || values[499] != "499" {
		t.Errorf("read_committed read %d records, first %q last %q", len(values), values[0], values[len(values)-1])
	}
}

func TestPerfUsageErrors(t *testing.T) {
	bs := "--bootstrap-server=127.0.0.1:1"
	for _, c := range []struct {
		want string
		args []string
	}{
		{"needs a subcommand", []string{"perf"}},
		{"unknown subcommand", []string{"perf", "producer"}},
		{"--topic is required", []string{"perf", "produce", bs, "--num-records", "1", "--record-size", "1"}},
		{"--num-records is required", []string{"perf", "produce", bs, "--topic", "t", "--record-size", "1"}},
		{"exactly one of", []string{"perf", "produce", bs, "--topic", "t", "--num-records", "1"}},
		{"exactly one of", []string{"perf", "produce", bs, "--topic", "t", "--num-records", "1", "--record-size", "1", "--payload-monotonic"}},
		{"--throughput 0", []string{"perf", "produce", bs, "--topic", "t", "--num-records", "1", "--record-size", "1", "--throughput", "0"}},
		{"unexpected arguments", []string{"perf", "produce", bs, "--topic", "t", "--num-records", "1", "--record-size", "1", "acks=1"}},
		{"lingr.ms", []string{"perf", "produce", bs, "--topic", "t", "--num-records", "1", "--record-size", "1", "--producer-props", "lingr.ms=1"}},
		{"invalid argument", []string{"perf", "produce", bs, "--topic", "t", "--num-records", "many", "--record-size", "1"}},
		{"--payload-file", []string{"perf", "produce", bs, "--topic", "t", "--num-records", "1", "--payload-file", "/nonexistent"}},
		{"--messages is required", []string{"perf", "consume", bs, "--topic", "t"}},
		{"--date-format", []string{"perf", "consume", bs, "--topic", "t", "--messages", "1", "--date-format", "yyyy-MM-dd'T"}},
		{"unknown flag", []string{"perf", "consume", bs, "--topic", "t", "--messages", "1", "--frobnicate"}},
	} {
		mustFailUsage(t, c.want, c.args...)
	}
}

func TestJavaDateFormat(t *testing.T) {
	ts := time.Date(2024, time.March, 5, 14, 7, 9, 42*int(time.Millisecond), time.UTC)
	for pattern, want := range map[string]string{
		"yyyy-MM-dd HH:mm:ss:SSS":    "2024-03-05 14:07:09:042",
		"yy/M/d h:mm a":              "24/3/5 2:07 PM",
		"EEE, d MMM yyyy 'at' HH:mm": "Tue, 5 Mar 2024 at 14:07",
		"yyyy-MM-dd'T'HH:mm:ssXXX":   "2024-03-05T14:07:09Z",
		"''HH''":                     "'14'",
	} {
		f, err := javaDateFormat(pattern)
		if err != nil {
			t.Errorf("%q: %v", pattern, err)
			continue
		}
		if got := f(ts); got != want {
			t.Errorf("%q formats %q, want %q", pattern, got, want)
		}
	}
	if _, err := javaDateFormat("yyyy-QQ"); err == nil {
		t.Errorf("an unknown pattern letter was accepted")
	}
}

func TestPerfStatsPercentiles(t *testing.T) {
	s := newPerfStats(1_000_000, nil)
	if s.sampling != 2 || cap(s.latencies) != 500001 {
		t.Fatalf("1,000,000 records: sampling %d, %d samples; want every 2nd, 500,001", s.sampling, cap(s.latencies))
	}
	s = newPerfStats(1000, nil)
	for i := range 1000 {
		s.completed(int64(i), time.Now().Add(-time.Duration(i)*time.Millisecond), 10, nil)
	}
	m := perfTotalLine.FindStringSubmatch(s.total())
	if m == nil || m[1] != "1000" {
		t.Fatalf("summary %q", s.total())
	}
	// Latencies 0..999 ms: the p-th percentile is about p*1000.
	for i, want := range []int{500, 950, 990, 999} {
		if got := atoi(t, m[6+i]); got < want-2 || got > want+2 {
			t.Errorf("percentile %d = %d ms, want about %d: %s", i, got, want, m[0])
		}
	}
}

func TestThrottle(t *testing.T) {
	clock := time.Unix(1000, 0)
	var slept time.Duration
	sleeps := 0
	thr := newThrottle(1000)
	thr.start, thr.now = clock, func() time.Time { return clock }
	thr.sleep = func(d time.Duration) { slept += d; sleeps++; clock = clock.Add(d) }
	for n := range int64(100) {
		thr.wait(n)
		clock = clock.Add(100 * time.Microsecond) // sending takes a little
	}
	// 100 records at 1000/s are due over 99 ms; sending took 10 ms of it,
	// and pauses are at least minThrottleSleep.
	if slept < 85*time.Millisecond || slept > 90*time.Millisecond {
		t.Errorf("slept %v for 100 records at 1000/s, want about 89ms", slept)
	}
	if sleeps > 50 {
		t.Errorf("%d sleeps: pauses shorter than %v", sleeps, minThrottleSleep)
	}
	unlimited := newThrottle(-1)
	unlimited.sleep = func(time.Duration) { t.Fatal("an unlimited throttle slept") }
	unlimited.wait(1 << 40)
}

func TestPerfAndVerifyHelp(t *testing.T) {
	for _, c := range [][]string{{"perf", "produce"}, {"perf", "consume"}, {"verify", "produce"}, {"verify", "consume"}, {"verify", "check"}} {
		out := mustRun(t, "", append(c, "--help")...)
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "--bootstrap-server") || !strings.Contains(out, "--command-config") {
			t.Errorf("samsa %s --help lacks examples or connection flags:\n%s", strings.Join(c, " "), out)
		}
	}
}
