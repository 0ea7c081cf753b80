package kafka

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testLogger logs to stderr when SAMSA_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("SAMSA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// packageGoroutines returns the stacks of goroutines running this
// package's code, other than tests themselves.
func packageGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "samsa-io/samsa/kafka.") && !strings.Contains(g, "testing.tRunner") &&
			!strings.Contains(g, "samsa/kafka.packageGoroutines") {
			out = append(out, g)
		}
	}
	return out
}

// checkLeaks fails the test if any goroutine of the package is still
// running once the test and its cleanups are done. Register it first so
// that its cleanup runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			left := packageGoroutines()
			if len(left) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutine(s) leaked:\n%s", len(left), strings.Join(left, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// newFake starts a kfake cluster closed at the end of the test.
func newFake(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// testConfig returns a config for the cluster with fast test timings
// over extra settings (key, value pairs).
func testConfig(addrs []string, kv ...string) Config {
	cfg := Config{
		"bootstrap.servers": strings.Join(addrs, ","),
		"linger.ms":         "0",
		"retry.backoff.ms":  "10",
		"max.block.ms":      "5000",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	return cfg
}

// startProducer makes a producer closed at the end of the test.
func startProducer[K, V any](t *testing.T, cfg Config, ks Serializer[K], vs Serializer[V], opts ...Option) *Producer[K, V] {
	t.Helper()
	opts = append([]Option{WithLogger(testLogger())}, opts...)
	p, err := NewProducer(cfg, ks, vs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consumeAll reads n records from topic with kgo, from the start.
func consumeAll(t *testing.T, addrs []string, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, ctx.Err())
		}
		for _, e := range fs.Errors() {
			t.Logf("fetch error: %v", e.Err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}
