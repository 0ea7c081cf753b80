package main

// Interop with Kafka clients that are not Go: kcat (librdkafka) and
// kafka-python, against `samsa serve` run as a real process, the way a
// user runs it. CI installs both (.ci/run); elsewhere the test skips when
// they are missing.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/testport"
)

// externalTimeout bounds each external client run, so that a client
// waiting forever on the broker fails the test with its output.
const externalTimeout = 2 * time.Minute

func TestInteropExternalClients(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs samsa serve as a process; skipped with -short")
	}
	kcat, kcatErr := exec.LookPath("kcat")
	python, pyErr := findKafkaPython(t)
	if kcatErr != nil && pyErr != nil {
		missingTool(t, fmt.Sprintf("neither kcat (%v) nor kafka-python (%v)", kcatErr, pyErr))
	}

	srv := startServe(t, buildSamsa(t))

	t.Run("kcat", func(t *testing.T) {
		if kcatErr != nil {
			missingTool(t, "kcat: "+kcatErr.Error())
		}
		testKcat(t, kcat, srv.addr)
	})
	t.Run("kafka-python", func(t *testing.T) {
		if pyErr != nil {
			missingTool(t, "kafka-python: "+pyErr.Error())
		}
		testKafkaPython(t, python, srv.addr)
	})
	t.Run("kcat group", func(t *testing.T) {
		if kcatErr != nil {
			missingTool(t, "kcat: "+kcatErr.Error())
		}
		testKcatGroup(t, kcat, srv.addr)
	})
	t.Run("kafka-python group", func(t *testing.T) {
		if pyErr != nil {
			missingTool(t, "kafka-python: "+pyErr.Error())
		}
		testKafkaPythonGroup(t, python, srv.addr)
	})

	srv.stop(t)
}

// missingTool skips the test, or fails it in CI, where .ci/run installs
// the clients and a skip would hide that they never ran.
func missingTool(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI must install it (apt-get install kcat python3-kafka)", why)
	}
	t.Skipf("%s; install with apt-get install kcat python3-kafka", why)
}

// findKafkaPython returns a python3 that can import kafka-python. Debian's
// python3-kafka installs for /usr/bin/python3, which need not be the
// python3 first on PATH (pyenv, virtualenvs).
func findKafkaPython(t *testing.T) (string, error) {
	var candidates []string
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3")
	var errs []error
	for _, py := range slices.Compact(candidates) {
		cmd := exec.Command(py, "-c", "import kafka.producer, kafka.consumer")
		// Not the package directory: "import kafka" from the module root
		// would find Samsa's own kafka/ directory.
		cmd.Dir = t.TempDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v: %s", py, err, bytes.TrimSpace(out)))
			continue
		}
		return py, nil
	}
	return "", errors.Join(errs...)
}

// buildSamsa builds this command into a temporary directory.
func buildSamsa(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "samsa")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found to build samsa: %v", err)
	}
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// server is a running `samsa serve` process.
type server struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process was waited for
	err    error         // the Wait result, valid after exited is closed
	log    *syncBuffer
}

// startServe runs `samsa serve` on a free loopback port with data in a
// temporary directory and waits until it accepts connections.
func startServe(t *testing.T, bin string) *server {
	t.Helper()
	port := freePort(t)
	s := &server{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		exited: make(chan struct{}),
		log:    &syncBuffer{},
	}
	s.cmd = exec.Command(bin, "serve",
		"--override", "listeners=PLAINTEXT://"+s.addr,
		"--override", "log.dirs="+t.TempDir())
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start samsa serve: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("samsa serve output:\n%s", s.log.String())
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			conn.Close()
			return s
		}
		select {
		case <-s.exited:
			t.Fatalf("samsa serve exited before listening: %v\n%s", s.err, s.log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("samsa serve not listening on %s after 30s: %v", s.addr, err)
		}
	}
}

// stop sends SIGTERM and expects a clean exit (status 0) within the 10
// seconds serve allows itself for shutdown.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-s.exited:
		if s.err != nil {
			t.Errorf("samsa serve after SIGTERM: %v (want exit status 0)\n%s", s.err, s.log.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("samsa serve still running 10s after SIGTERM\n%s", s.log.String())
	}
}

// freePort picks a loopback port nobody listens on (testport: below the
// ephemeral range, so that no outgoing connection takes it before serve
// binds it).
func freePort(t *testing.T) int {
	t.Helper()
	return testport.Free(t, 1)[0]
}

// runTool runs an external client with stdin, failing the test (with its
// output) if it fails or runs past externalTimeout.
func runTool(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), externalTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func testKcat(t *testing.T, kcat, addr string) {
	// A topic nobody created: librdkafka's producer has the broker create
	// it (auto.create.topics.enable defaults to true; num.partitions to
	// 1, so the order read back is the order written).
	const topic = "kcat-interop"
	var want []string
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "key-%d:value %d\n", i, i)
		want = append(want, fmt.Sprintf("key-%d=value %d", i, i))
	}
	runTool(t, in.String(), kcat, "-b", addr, "-P", "-t", topic, "-K:", "-z", "snappy")

	out := runTool(t, "", kcat, "-b", addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k=%s\n")
	if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("kcat read back %d lines:\n%s\nwant %d lines, key=value in produce order", len(got), out, len(want))
	}

	out = runTool(t, "", kcat, "-b", addr, "-L")
	if !strings.Contains(out, `topic "`+topic+`" with 1 partitions`) {
		t.Errorf("kcat -L does not list %s with 1 partition:\n%s", topic, out)
	}
}

// kafkaPythonScript produces n keyed records with acks=all and gzip, then
// reads the topic from the start without a consumer group and prints
// key=value per record.
const kafkaPythonScript = `
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition

bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all', compression_type='gzip')
futures = [producer.send(topic, key=b'key-%d' % i, value=b'value %d' % i) for i in range(n)]
producer.flush()
for f in futures:
    f.get(timeout=30)  # raises if the record was not acknowledged
producer.close()

consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                         auto_offset_reset='earliest', enable_auto_commit=False,
                         consumer_timeout_ms=10000)
partitions = consumer.partitions_for_topic(topic)
if not partitions:
    sys.exit('no partitions for topic %s' % topic)
consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
read = 0
for msg in consumer:
    print('%s=%s' % (msg.key.decode(), msg.value.decode()))
    read += 1
    if read == n:
        break
consumer.close()
`

func testKafkaPython(t *testing.T, python, addr string) {
	const (
		topic = "python-interop"
		n     = 100
	)
	script := filepath.Join(t.TempDir(), "interop.py")
	if err := os.WriteFile(script, []byte(kafkaPythonScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runTool(t, "", python, script, addr, topic, strconv.Itoa(n))
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("key-%d=value %d", i, i))
	}
	// One partition (the broker's num.partitions), so the order holds too.
	if !slices.Equal(got, want) {
		t.Errorf("kafka-python read back %d records:\n%s\nwant %d, key=value in produce order", len(got), out, n)
	}
}

// testKcatGroup consumes as a member of a consumer group (kcat -G, the
// balanced consumer of librdkafka) twice: the second run, after more
// records were produced, starts at the offsets the first one committed.
func testKcatGroup(t *testing.T, kcat, addr string) {
	const (
		topic = "kcat-group"
		group = "kcat-group-g"
	)
	lines := func(from, to int) (string, []string) {
		var in strings.Builder
		var want []string
		for i := from; i < to; i++ {
			fmt.Fprintf(&in, "key-%d:value %d\n", i, i)
			want = append(want, fmt.Sprintf("key-%d=value %d", i, i))
		}
		return in.String(), want
	}
	consume := func(n int) []string {
		out := runTool(t, "", kcat, "-b", addr, "-G", group, "-X", "auto.offset.reset=earliest",
			"-c", strconv.Itoa(n), "-q", "-f", "%k=%s\n", topic)
		return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	}
	in, want := lines(0, 50)
	runTool(t, in, kcat, "-b", addr, "-P", "-t", topic, "-K:")
	if got := consume(50); !slices.Equal(got, want) {
		t.Fatalf("kcat -G read %d records:\n%s\nwant %d in produce order", len(got), strings.Join(got, "\n"), len(want))
	}
	in, want = lines(50, 60)
	runTool(t, in, kcat, "-b", addr, "-P", "-t", topic, "-K:")
	if got := consume(10); !slices.Equal(got, want) {
		t.Fatalf("second kcat -G of the group read:\n%s\nwant the 10 new records only (it must resume at the committed offset)", strings.Join(got, "\n"))
	}
}

// kafkaPythonGroupScript consumes n records as a member of a group,
// commits, and prints key=value per record.
const kafkaPythonGroupScript = `
import sys
from kafka import KafkaConsumer

bootstrap, topic, group, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                         auto_offset_reset='earliest', enable_auto_commit=False,
                         consumer_timeout_ms=30000)
read = 0
for msg in consumer:
    print('%s=%s' % (msg.key.decode(), msg.value.decode()))
    read += 1
    if read == n:
        break
consumer.commit()
consumer.close()
if read != n:
    sys.exit('read %d records, want %d' % (read, n))
`

// testKafkaPythonGroup consumes with kafka-python's group consumer twice;
// the second consumer of the group resumes at the first one's commit.
func testKafkaPythonGroup(t *testing.T, python, addr string) {
	const (
		topic = "python-interop" // written by the kafka-python subtest: 100 records
		group = "python-group"
	)
	script := filepath.Join(t.TempDir(), "group.py")
	if err := os.WriteFile(script, []byte(kafkaPythonGroupScript), 0o644); err != nil {
		t.Fatal(err)
	}
	read := func(n int) []string {
		out := runTool(t, "", python, script, addr, topic, group, strconv.Itoa(n))
		return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	}
	first, second := read(60), read(40)
	var want []string
	for i := range 100 {
		want = append(want, fmt.Sprintf("key-%d=value %d", i, i))
	}
	if got := append(first, second...); !slices.Equal(got, want) {
		t.Errorf("two kafka-python group consumers read:\n%s\nthen\n%s\nwant records 0-59 then 60-99", strings.Join(first, "\n"), strings.Join(second, "\n"))
	}
}

// syncBuffer collects a process's output, which os/exec copies on its own
// goroutine while the test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
