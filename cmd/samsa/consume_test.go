package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/kafka"
)

func TestConsumePartitionOffsetAndColumns(t *testing.T) {
	b := brokertest.Start(t)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "cols", "--partitions", "1")
	mustRun(t, "k1:v1\nk2:v2\nk3:v3:with:colons\nk4:v4\n", "produce", bs, "--topic", "cols", "--key-separator", ":")

	// Every column, in Kafka's order, with a custom separator.
	out := mustRun(t, "", "consume", bs, "--topic", "cols", "--partition", "0", "--offset", "2", "--max-messages", "1",
		"--print-timestamp", "--print-partition", "--print-offset", "--print-headers", "--print-key", "--property", "key.separator=|")
	if re := regexp.MustCompile(`^CreateTime:\d{13}\|Partition:0\|Offset:2\|NO_HEADERS\|k3\|v3:with:colons\n$`); !re.MatchString(out) {
		t.Errorf("consume with every column = %q, want a match of %v", out, re)
	}

	// --timeout-ms ends a read that runs out of records before
	// --max-messages; the count goes to stderr as Kafka's does.
	out, errOut, err := runCLI(t, "", "consume", bs, "--topic", "cols", "--partition", "0", "--offset", "earliest",
		"--max-messages", "100", "--timeout-ms", "1000")
	if err != nil || out != "v1\nv2\nv3:with:colons\nv4\n" || !strings.Contains(errOut, "Processed a total of 4 messages") {
		t.Errorf("consume until timeout: err %v, stdout %q, stderr %q", err, out, errOut)
	}
	// --offset latest with nothing new: times out with nothing.
	out, errOut, err = runCLI(t, "", "consume", bs, "--topic", "cols", "--partition", "0", "--offset", "latest", "--timeout-ms", "500")
	if err != nil || out != "" || !strings.Contains(errOut, "Processed a total of 0 messages") {
		t.Errorf("consume --offset latest: err %v, stdout %q, stderr %q", err, out, errOut)
	}
	// Without --from-beginning a read starts at the end.
	out, _, err = runCLI(t, "", "consume", bs, "--topic", "cols", "--timeout-ms", "500")
	if err != nil || out != "" {
		t.Errorf("consume from the end: err %v, stdout %q", err, out)
	}
	mustFail(t, `topic "missing" does not exist`, "consume", bs, "--topic", "missing", "--consumer-property", "allow.auto.create.topics=false", "--timeout-ms", "500")
}

func TestConsumeJSON(t *testing.T) {
	b := brokertest.Start(t)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "js", "--partitions", "1")
	mustRun(t, "h:1\tk\tv\n", "produce", bs, "--topic", "js", "--property", "parse.headers=true", "--property", "parse.key=true")
	for _, name := range []string{"json"} {
		out := mustRun(t, "", "consume", bs, "--topic", "js", "--from-beginning", "--max-messages", "1", "--formatter", name)
		var got jsonRecord
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("--formatter %s printed %q: %v", name, out, err)
		}
		if got.Topic != "js" || got.Partition != 0 || got.Offset != 0 || got.Key == nil || *got.Key != "k" || got.Value == nil || *got.Value != "v" ||
			got.TimestampType != "CreateTime" || got.Timestamp < time.Now().Add(-time.Hour).UnixMilli() ||
			len(got.Headers) != 1 || got.Headers[0].Key != "h" || *got.Headers[0].Value != "1" {
			t.Errorf("--formatter %s: %+v", name, got)
		}
	}
	// Kafka's NoOpMessageFormatter prints nothing but counts.
	out, errOut, err := runCLI(t, "", "consume", bs, "--topic", "js", "--from-beginning", "--max-messages", "1",
		"--formatter", "org.apache.kafka.tools.consumer.NoOpMessageFormatter")
	if err != nil || out != "" || !strings.Contains(errOut, "Processed a total of 1 messages") {
		t.Errorf("noop formatter: err %v, stdout %q, stderr %q", err, out, errOut)
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
	out = mustRun(t, "", "consume", bs, "--topic", "grouped", "--group", "console", "--from-beginning", "--max-messages", "2", "--timeout-ms", "10000",
		"--isolation-level", "read_committed")
	if out != "d\ne\n" {
		t.Fatalf("second consumer of the group read %q, want the two records after the first one's commit", out)
	}
}

func TestConsumeUsageErrors(t *testing.T) {
	bs := "--bootstrap-server=127.0.0.1:1"
	mustFailUsage(t, "--topic is required", "consume", bs)
	mustFailUsage(t, "--offset needs --partition", "consume", bs, "--topic", "t", "--offset", "5")
	mustFailUsage(t, "cannot be used together", "consume", bs, "--topic", "t", "--partition", "0", "--offset", "5", "--from-beginning")
	mustFailUsage(t, "cannot be used together", "consume", bs, "--topic", "t", "--partition", "0", "--group", "g")
	mustFailUsage(t, "expected earliest, latest", "consume", bs, "--topic", "t", "--partition", "0", "--offset", "-3")
	mustFailUsage(t, `unknown property "print.kye"`, "consume", bs, "--topic", "t", "--property", "print.kye=true")
	mustFailUsage(t, "--isolation-level", "consume", bs, "--topic", "t", "--isolation-level", "serializable")
	mustFailUsage(t, "--formatter", "consume", bs, "--topic", "t", "--formatter", "xml")
	mustFailUsage(t, "fetch.max.wiat.ms", "consume", bs, "--topic", "t", "--consumer-property", "fetch.max.wiat.ms=1")
}

func TestFormatter(t *testing.T) {
	rec := &consumedRecord{
		Key:       nil, // a null key prints as null.literal
		Value:     []byte("value"),
		Headers:   kafka.Headers{{Key: "a", Value: []byte("1")}, {Key: "b", Value: nil}},
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
	// JSON: a value that is not UTF-8 is base64.
	rec.Value = []byte{0xff, 0xfe}
	fm, _ := (&consumeOptions{formatterName: "json"}).formatter()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	fm.write(w, rec)
	w.Flush()
	want := `{"topic":"","partition":0,"offset":5,"timestamp":1700000000000,"timestampType":"CreateTime","key":null,"value":"//4=","valueEncoding":"base64","headers":[{"key":"a","value":"1"},{"key":"b","value":null}]}` + "\n"
	if buf.String() != want {
		t.Errorf("json: %s\nwant %s", buf.String(), want)
	}
}
