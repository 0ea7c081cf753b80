//go:build linux

package clustertest

// Fault tests of a three-broker cluster run as processes. They take a few
// minutes together and are skipped with -short. SAMSA_FAULT_MINUTES=2
// runs the leader-kill test for that long, killing every 10 s, as a
// release check does.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// bin is cmd/samsa, built once for the package's tests.
var bin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "clustertest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "samsa")
	return m.Run()
}

// built returns the samsa binary, building it at the first call.
func built(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs brokers as processes; skipped with -short")
	}
	if _, err := os.Stat(bin); err != nil {
		b := Build(t)
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// clusterProps are every test's broker properties: replicated topics,
// followers that notice lost leaders fast.
var clusterProps = []string{
	"default.replication.factor=3",
	"min.insync.replicas=2",
	"offsets.topic.num.partitions=3",
	"replica.fetch.backoff.ms=200",
}

func createTopic(t *testing.T, c *Cluster, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 3, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	c.WaitInSync(topic, 30*time.Second)
}

// leaderOf returns the broker leading a partition.
func leaderOf(t *testing.T, c *Cluster, topic string, partition int32) *Broker {
	t.Helper()
	for _, b := range c.Brokers {
		if !b.Running() {
			continue
		}
		ps, err := Partitions(b.Addr, topic)
		if err == nil && ps[partition].Leader > 0 {
			return c.Broker(ps[partition].Leader)
		}
	}
	t.Fatalf("no leader of %s-%d", topic, partition)
	return nil
}

// verify reads the topic back and checks it against the load's
// acknowledgements, then the replicas' logs against each other.
func verify(t *testing.T, c *Cluster, load *Load, topic string, partitions int32) {
	t.Helper()
	c.WaitInSync(topic, time.Minute)
	acked := load.Acked()
	consumed := ReadAll(t, c.Seeds(), topic, partitions)
	lost, dup, reordered, problems := Check(acked, consumed)
	total := 0
	for _, recs := range consumed {
		total += len(recs)
	}
	t.Logf("%d records acknowledged, %d read back: %d lost, %d duplicated, %d out of order", len(acked), total, lost, dup, reordered)
	for _, p := range problems {
		t.Error(p)
	}
	counts := c.CheckReplicas(topic)
	t.Logf("replicas identical below the high watermark: %v records per partition", counts)
}

func faultMinutes() float64 {
	m, _ := strconv.ParseFloat(os.Getenv("SAMSA_FAULT_MINUTES"), 64)
	return m
}

// SIGKILL the leader of the first partition every few seconds under load,
// restarting it each time: no acknowledged record is lost, none is
// duplicated, each partition keeps its order, and the replicas end up
// identical. Each kill's unavailability window (until every partition
// takes writes again) is reported.
func TestLeaderKilledUnderLoad(t *testing.T) {
	c := Start(t, built(t), 3, clusterProps...)
	const topic, partitions = "kills", 3
	createTopic(t, c, topic, partitions)
	load := StartLoad(t, c.Seeds(), topic, partitions)
	load.WaitAcked(500, 30*time.Second)

	kills, interval := 3, 5*time.Second
	if m := faultMinutes(); m > 0 {
		interval = 10 * time.Second
		kills = int(m * float64(time.Minute) / float64(interval))
	}
	var killTimes []time.Time
	var killed []int32
	for i := range kills {
		if i > 0 {
			time.Sleep(interval)
		}
		b := leaderOf(t, c, topic, 0)
		at := time.Now()
		b.Kill()
		killTimes, killed = append(killTimes, at), append(killed, b.ID)
		b.Restart()
		// The next kill comes once every partition takes writes again.
		if !load.WaitAvailable(at, time.Minute) {
			t.Errorf("kill %d (broker %d): a partition took no write for a minute", i+1, b.ID)
		}
		load.WaitAcked(100, time.Minute)
	}
	time.Sleep(2 * time.Second)
	load.Stop(30 * time.Second)

	var worst time.Duration
	for i, at := range killTimes {
		w := load.Unavailable(at)
		t.Logf("kill %d (broker %d): every partition took writes again after %v", i+1, killed[i], w)
		if w < 0 {
			t.Errorf("kill %d: a partition took no write after it", i+1)
		}
		worst = max(worst, w)
	}
	if worst > 10*time.Second {
		t.Errorf("worst unavailability %v, target under 10s", worst)
	}
	if n, errs := load.Failed(); n > 0 {
		t.Logf("%d produces failed (the producer's delivery timeout; first: %v)", n, errs)
	}
	verify(t, c, load, topic, partitions)
}

// With two of three replicas killed, acks=all writes are not acknowledged
// (the ISR cannot shrink below min.insync.replicas without the metadata
// quorum either), and the survivor still serves what was committed.
func TestTwoOfThreeKilled(t *testing.T) {
	c := Start(t, built(t), 3, clusterProps...)
	const topic = "survivor"
	createTopic(t, c, topic, 1)
	leader := leaderOf(t, c, topic, 0)
	load := StartLoad(t, []string{leader.Addr}, topic, 1)
	load.WaitAcked(200, 30*time.Second)
	load.Stop(30 * time.Second)
	committed := load.Acked()

	for _, b := range c.Brokers {
		if b != leader {
			b.Kill()
		}
	}
	// Not idempotent: a producer id needs the metadata quorum, and the
	// point is what the leader answers.
	cl, err := kgo.NewClient(kgo.SeedBrokers(leader.Addr), kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProduceRequestTimeout(3*time.Second), kgo.RecordDeliveryTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}, &kgo.Record{Value: []byte("after 2")})
	for _, r := range results {
		switch {
		case r.Err == nil:
			t.Errorf("acks=all write acknowledged at offset %d with two of three replicas dead", r.Record.Offset)
		case errors.Is(r.Err, kerr.NotEnoughReplicas), errors.Is(r.Err, kerr.RequestTimedOut),
			errors.Is(r.Err, kgo.ErrRecordTimeout), errors.Is(r.Err, context.DeadlineExceeded):
			t.Logf("acks=all write refused: %v", r.Err)
		default:
			t.Errorf("acks=all write failed with %v, want NOT_ENOUGH_REPLICAS or a timeout", r.Err)
		}
	}
	consumed := ReadAll(t, []string{leader.Addr}, topic, 1)
	lost, dup, reordered, problems := Check(committed, consumed)
	if lost+dup+reordered > 0 {
		t.Errorf("reading committed records from the survivor: %d lost, %d duplicated, %d reordered: %v", lost, dup, reordered, problems)
	}
	t.Logf("read %d committed records from the survivor", len(consumed[0]))
}

// SIGSTOP the leader for longer than its session: the others elect a new
// leader; the paused one, resumed, acknowledges nothing the rest of the
// cluster does not keep.
func TestLeaderPaused(t *testing.T) {
	c := Start(t, built(t), 3, clusterProps...)
	const topic, partitions = "paused", 3
	createTopic(t, c, topic, partitions)
	load := StartLoad(t, c.Seeds(), topic, partitions)
	load.WaitAcked(500, 30*time.Second)
	pause := 12 * time.Second // longer than broker.session.timeout.ms
	if faultMinutes() > 0 {
		pause = 20 * time.Second
	}
	b := leaderOf(t, c, topic, 0)
	at := time.Now()
	b.Pause()
	time.Sleep(pause)
	b.Resume()
	load.WaitAcked(200, time.Minute)
	load.Stop(30 * time.Second)
	t.Logf("broker %d paused %v; every partition took new writes again %v after the pause began", b.ID, pause, load.Unavailable(at))
	verify(t, c, load, topic, partitions)
}

// SIGTERM each broker in turn under load, restarting it after: a producer
// with default retries sees no error.
func TestRollingControlledShutdown(t *testing.T) {
	c := Start(t, built(t), 3, clusterProps...)
	const topic, partitions = "rolling", 3
	createTopic(t, c, topic, partitions)
	load := StartLoad(t, c.Seeds(), topic, partitions)
	load.WaitAcked(500, 30*time.Second)
	for _, b := range c.Brokers {
		start := time.Now()
		b.Terminate()
		t.Logf("broker %d stopped %v after SIGTERM", b.ID, time.Since(start))
		load.WaitAcked(100, time.Minute)
		b.Restart()
		c.WaitInSync(topic, time.Minute)
		load.WaitAcked(100, time.Minute)
	}
	load.Stop(30 * time.Second)
	if n, errs := load.Failed(); n > 0 {
		t.Errorf("%d produces failed during the rolling restart: %v", n, errs)
	}
	verify(t, c, load, topic, partitions)
}

// kcat (librdkafka) produces and consumes across a SIGKILL of the
// partition's leader.
func TestKcatAcrossLeaderKill(t *testing.T) {
	c := Start(t, built(t), 3, clusterProps...)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat not found; CI must install it (apt-get install kcat)")
		}
		t.Skip("kcat not found; install with apt-get install kcat")
	}
	const topic, half = "kcat", 100
	createTopic(t, c, topic, 1)
	brokers := strings.Join(c.Seeds(), ",")
	produce := func(from int) {
		t.Helper()
		var lines strings.Builder
		for i := from; i < from+half; i++ {
			fmt.Fprintf(&lines, "%d\n", i)
		}
		cmd := exec.Command(kcat, "-P", "-b", brokers, "-t", topic, "-p", "0",
			"-X", "acks=all", "-X", "enable.idempotence=true", "-X", "message.timeout.ms=60000")
		cmd.Stdin = strings.NewReader(lines.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v\n%s", err, out)
		}
	}
	// The consumer starts once a produce has shown that the leader serves
	// the new partition: a ListOffsets that reaches the leader before it
	// applied the topic gets UNKNOWN_TOPIC_OR_PARTITION, which kcat does
	// not retry.
	produce(0)
	var out, errOut strings.Builder
	consumer := exec.Command(kcat, "-C", "-b", brokers, "-t", topic, "-p", "0", "-o", "beginning",
		"-c", strconv.Itoa(2*half), "-f", "%o %s\n")
	consumer.Stdout, consumer.Stderr = &out, &errOut
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kcat -C stderr:\n%s", errOut.String())
		}
	})
	if err := consumer.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- consumer.Wait() }()
	defer consumer.Process.Kill()

	leader := leaderOf(t, c, topic, 0)
	leader.Kill()
	leader.Restart()
	produce(half)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("kcat -C: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("kcat -C read %d lines in 2 minutes", strings.Count(out.String(), "\n"))
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2*half {
		t.Fatalf("kcat consumed %d records, want %d", len(lines), 2*half)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("%d %d", i, i); l != want {
			t.Fatalf("kcat record %d: %q, want %q", i, l, want)
		}
	}
}
