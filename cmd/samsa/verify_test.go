package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/kafka"
)

// jsonEvent is any line of the verifiable tools' logs.
type jsonEvent struct {
	Timestamp  int64   `json:"timestamp"`
	Name       string  `json:"name"`
	Key        *string `json:"key"`
	Value      *string `json:"value"`
	Topic      string  `json:"topic"`
	Partition  int32   `json:"partition"`
	Offset     int64   `json:"offset"`
	Count      int64   `json:"count"`
	Sent       int64   `json:"sent"`
	Acked      int64   `json:"acked"`
	Success    bool    `json:"success"`
	Partitions []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Count     int64  `json:"count"`
		MinOffset int64  `json:"minOffset"`
		MaxOffset int64  `json:"maxOffset"`
	} `json:"partitions"`
}

// parseEvents parses a JSON-lines log; every line must be an event.
func parseEvents(t *testing.T, out string) []jsonEvent {
	t.Helper()
	var evs []jsonEvent
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev jsonEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.Name == "" || ev.Timestamp == 0 {
			t.Fatalf("line %q is not an event (%v)", l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func countEvents(evs []jsonEvent, name string) int {
	n := 0
	for _, ev := range evs {
		if ev.Name == name {
			n++
		}
	}
	return n
}

// writeLog saves a tool's output for verify check.
func writeLog(t *testing.T, name, out string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkSummary returns the counts of verify check's first lines.
func checkSummary(t *testing.T, out string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		name, rest, ok := strings.Cut(l, ": ")
		if !ok || strings.HasPrefix(l, " ") {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(rest, "%d", &n); err == nil {
			got[name] = n
		}
	}
	return got
}

func TestVerifyHealthyBroker(t *testing.T) {
	b := brokertest.Start(t, noJoinDelay)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "v", "--partitions", "3")

	prodOut := mustRun(t, "", "verify", "produce", bs, "--topic", "v", "--max-messages", "300", "--repeating-keys", "7")
	evs := parseEvents(t, prodOut)
	if evs[0].Name != evStartupComplete || evs[len(evs)-2].Name != evShutdownComplete || evs[len(evs)-1].Name != evToolData {
		t.Fatalf("producer log does not run startup_complete ... shutdown_complete, tool_data:\n%s", prodOut)
	}
	if n := countEvents(evs, evSendSuccess); n != 300 {
		t.Errorf("%d producer_send_success, want 300", n)
	}
	if td := evs[len(evs)-1]; td.Sent != 300 || td.Acked != 300 {
		t.Errorf("tool_data sent %d acked %d, want 300 and 300", td.Sent, td.Acked)
	}
	values := map[string]bool{}
	for _, ev := range evs {
		if ev.Name == evSendSuccess {
			if ev.Key == nil || ev.Value == nil || ev.Topic != "v" || ev.Offset < 0 {
				t.Fatalf("producer_send_success without key, value, topic or offset: %+v", ev)
			}
			values[*ev.Value] = true
		}
	}
	for i := range 300 {
		if !values[fmt.Sprint(i)] {
			t.Fatalf("value %d was not acknowledged", i)
		}
	}

	consOut := mustRun(t, "", "verify", "consume", bs, "--topic", "v", "--group-id", "verifier", "--max-messages", "300", "--verbose")
	evs = parseEvents(t, consOut)
	if evs[0].Name != evStartupComplete || evs[len(evs)-1].Name != evShutdownComplete {
		t.Fatalf("consumer log does not run startup_complete ... shutdown_complete:\n%s", consOut)
	}
	if countEvents(evs, evPartitionsAssigned) == 0 || countEvents(evs, evOffsetsCommitted) == 0 || countEvents(evs, evRecordData) != 300 {
		t.Errorf("consumer log lacks assignment or commits, or has not 300 record_data:\n%s", consOut)
	}
	consumed := int64(0)
	for _, ev := range evs {
		switch ev.Name {
		case evRecordsConsumed:
			consumed += ev.Count
			for _, p := range ev.Partitions {
				if p.MaxOffset-p.MinOffset+1 != p.Count {
					t.Errorf("records_consumed partition %+v: offsets and count disagree", p)
				}
			}
		case evOffsetsCommitted:
			if !ev.Success {
				t.Errorf("a commit failed: %+v", ev)
			}
		}
	}
	if consumed != 300 {
		t.Errorf("records_consumed count %d records, want 300", consumed)
	}
	// The group committed what it read.
	lag := mustRun(t, "", "groups", "--describe", bs, "--group", "verifier")
	for _, l := range strings.Split(lag, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 5 && f[1] == "v" && f[5] != "0" {
			t.Errorf("lag after verify consume: %s", l)
		}
	}

	prodLog, consLog := writeLog(t, "producer.log", prodOut), writeLog(t, "consumer.log", consOut)
	out := mustRun(t, "", "verify", "check", "--producer-log", prodLog, "--consumer-log", consLog)
	got := checkSummary(t, out)
	if got["acknowledged"] != 300 || got["consumed"] != 300 || got["lost"] != 0 || got["duplicated"] != 0 || got["out of order"] != 0 {
		t.Errorf("verify check on a healthy broker:\n%s", out)
	}
	// Reading the topic instead of a consumer log gives the same.
	out = mustRun(t, "", "verify", "check", bs, "--producer-log", prodLog)
	if got := checkSummary(t, out); got["acknowledged"] != 300 || got["consumed"] != 300 || got["lost"] != 0 || got["duplicated"] != 0 {
		t.Errorf("verify check reading the topic:\n%s", out)
	}
}

func TestVerifyCheckReportsDeletedRecords(t *testing.T) {
	b := brokertest.Start(t, noJoinDelay)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "d", "--partitions", "2")
	// Keys spread the records over both partitions.
	prodOut := mustRun(t, "", "verify", "produce", bs, "--topic", "d", "--max-messages", "200", "--value-prefix", "4", "--repeating-keys", "10")

	// Delete the first 12 records of partition 0 before anyone reads them.
	const cut = 12
	var deleted []string
	for _, ev := range parseEvents(t, prodOut) {
		if ev.Name == evSendSuccess && ev.Partition == 0 && ev.Offset < cut {
			deleted = append(deleted, fmt.Sprintf("d-0 offset %d key %q value %q", ev.Offset, *ev.Key, *ev.Value))
		}
	}
	if len(deleted) != cut {
		t.Fatalf("partition 0 got %d of the records below offset %d; the test needs %d", len(deleted), cut, cut)
	}
	slices.Sort(deleted)
	adm, err := kafka.NewAdmin(kafka.Config{"bootstrap.servers": b.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := adm.DeleteRecords(ctx, map[kafka.TopicPartition]int64{{Topic: "d", Partition: 0}: cut})
	if err != nil || res[kafka.TopicPartition{Topic: "d", Partition: 0}].Err != nil {
		t.Fatalf("DeleteRecords: %v %+v", err, res)
	}

	consOut := mustRun(t, "", "verify", "consume", bs, "--topic", "d", "--group-id", "g", "--max-messages", fmt.Sprint(200-cut), "--verbose")
	prodLog, consLog := writeLog(t, "producer.log", prodOut), writeLog(t, "consumer.log", consOut)
	for _, args := range [][]string{
		{"--consumer-log", consLog},
		{bs, "--topic", "d"}, // the topic itself
	} {
		out, _, err := runCLI(t, "", append([]string{"verify", "check", "--producer-log", prodLog}, args...)...)
		if exitCode(err) != 1 || !strings.Contains(fmt.Sprint(err), fmt.Sprintf("%d acknowledged records were lost", cut)) {
			t.Errorf("verify check %v: %v, want exit status 1 for %d lost", args, err, cut)
		}
		got := checkSummary(t, out)
		if got["acknowledged"] != 200 || got["lost"] != cut || got["duplicated"] != 0 || got["out of order"] != 0 {
			t.Errorf("verify check %v:\n%s", args, out)
		}
		_, listing, _ := strings.Cut(out, "\nLost:\n")
		var listed []string
		for _, l := range strings.Split(strings.TrimSpace(listing), "\n") {
			listed = append(listed, strings.TrimSpace(l))
		}
		slices.Sort(listed)
		if !slices.Equal(listed, deleted) {
			t.Errorf("verify check %v lists as lost\n%s\nwant exactly the deleted\n%s", args, strings.Join(listed, "\n"), strings.Join(deleted, "\n"))
		}
	}
}

func TestVerifyCheckDuplicatesAndOrder(t *testing.T) {
	ev := func(name, topic string, p int32, off int64, value string) string {
		return fmt.Sprintf(`{"timestamp":1,"name":%q,"key":null,"value":%q,"topic":%q,"partition":%d,"offset":%d}`, name, value, topic, p, off)
	}
	prod := strings.Join([]string{
		`{"timestamp":1,"name":"startup_complete"}`,
		ev(evSendSuccess, "t", 0, 0, "0"),
		ev(evSendSuccess, "t", 0, 1, "1"),
		ev(evSendSuccess, "t", 0, 3, "2"),
		ev(evSendSuccess, "t", 1, 0, "3"),
		`{"timestamp":1,"name":"producer_send_error","exception":"x","message":"y","topic":"t","key":null,"value":"4"}`,
	}, "\n")
	cons := strings.Join([]string{
		"a stray line the check skips",
		ev(evRecordData, "t", 0, 0, "0"),
		ev(evRecordData, "t", 0, 1, "1"),
		ev(evRecordData, "t", 0, 2, "0"), // written twice, and out of order
		ev(evRecordData, "t", 0, 3, "2"),
		ev(evRecordData, "t", 0, 3, "2"), // read again: not a failure
		ev(evRecordData, "t", 1, 0, "3"),
		ev(evRecordData, "t", 1, 1, "4"), // failed send that was written
	}, "\n")
	out := mustRun(t, "", "verify", "check", "--producer-log", writeLog(t, "p", prod), "--consumer-log", writeLog(t, "c", cons))
	got := checkSummary(t, out)
	want := map[string]int{"acknowledged": 4, "consumed": 7, "lost": 0, "duplicated": 1, "out of order": 1, "not acknowledged": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d, want %d", k, got[k], v)
		}
	}
	for _, s := range []string{"consumed: 7 records at 6 offsets (1 read again)", `t-0 offset 2 value "0" (first at t-0 offset 0)`, `t-0 offset 2 value "0" (after "1")`} {
		if !strings.Contains(out, s) {
			t.Errorf("verify check output lacks %q:\n%s", s, out)
		}
	}

	// A consumer log without record_data cannot be checked.
	noData := `{"timestamp":1,"name":"records_consumed","count":1,"partitions":[{"topic":"t","partition":0,"count":1,"minOffset":0,"maxOffset":0}]}`
	mustFailUsage(t, "--verbose", "verify", "check", "--producer-log", writeLog(t, "p", prod), "--consumer-log", writeLog(t, "c", noData))
}

func TestVerifyConsumeStopsOnSignal(t *testing.T) {
	b := brokertest.Start(t, noJoinDelay)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "s", "--partitions", "2")
	mustRun(t, "", "verify", "produce", bs, "--topic", "s", "--max-messages", "50")

	// The test listens for SIGINT too, so that the signal never ends the
	// test binary whatever the command's state.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT)
	defer signal.Stop(sigs)

	root := newRoot()
	var out syncBuffer // read while the command writes it
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"verify", "consume", bs, "--topic", "s", "--group-id", "sig"}) // no --max-messages: runs until stopped
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(context.Background()) }()
	deadline := time.Now().Add(cliTimeout)
	for !strings.Contains(out.String(), `"offsets_committed"`) {
		if time.Now().After(deadline) {
			t.Fatalf("verify consume did not commit within %v:\n%s", cliTimeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("verify consume after SIGINT: %v", err)
		}
	case <-time.After(cliTimeout):
		t.Fatalf("verify consume did not stop on SIGINT:\n%s", out.String())
	}
	evs := parseEvents(t, out.String())
	if evs[len(evs)-1].Name != evShutdownComplete {
		t.Errorf("the log does not end with shutdown_complete:\n%s", out.String())
	}
}

func TestVerifyUsageErrors(t *testing.T) {
	bs := "--bootstrap-server=127.0.0.1:1"
	for _, c := range []struct {
		want string
		args []string
	}{
		{"needs a subcommand", []string{"verify"}},
		{"--topic is required", []string{"verify", "produce", bs}},
		{"--acks", []string{"verify", "produce", bs, "--topic", "t", "--acks", "2"}},
		{"--repeating-keys", []string{"verify", "produce", bs, "--topic", "t", "--repeating-keys", "0"}},
		{"invalid argument", []string{"verify", "produce", bs, "--topic", "t", "--max-messages", "lots"}},
		{"--group-id is required", []string{"verify", "consume", bs, "--topic", "t"}},
		{"--reset-policy", []string{"verify", "consume", bs, "--topic", "t", "--group-id", "g", "--reset-policy", "smallest"}},
		{"unknown flag", []string{"verify", "consume", bs, "--topic", "t", "--group-id", "g", "--frobnicate"}},
		{"--producer-log is required", []string{"verify", "check"}},
		{"no such file", []string{"verify", "check", "--producer-log", "/nonexistent/producer.log"}},
	} {
		mustFailUsage(t, c.want, c.args...)
	}
}
