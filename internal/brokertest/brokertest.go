// Package brokertest starts real Samsa brokers in-process for tests: on a
// random loopback port, with data in a temporary directory.
package brokertest

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
)

// Broker is a running test broker.
type Broker struct {
	*broker.Broker
	t     testing.TB
	Dir   string
	props map[string]string
}

// Start starts a broker configured by props ("key=value" broker
// properties over test defaults: 127.0.0.1:0, a temporary log dir) and
// closes it when the test ends.
func Start(t testing.TB, props ...string) *Broker {
	t.Helper()
	dir := t.TempDir()
	m := map[string]string{
		"listeners": "PLAINTEXT://127.0.0.1:0",
		"log.dirs":  dir,
	}
	for _, p := range props {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			t.Fatalf("brokertest: property %q is not key=value", p)
		}
		m[k] = v
	}
	b := &Broker{t: t, Dir: dir, props: m}
	b.start()
	t.Cleanup(func() { b.Close() })
	return b
}

func (b *Broker) start() {
	b.t.Helper()
	cfg, err := config.NewBroker(b.props)
	if err != nil {
		b.t.Fatalf("brokertest: %v", err)
	}
	level := slog.LevelWarn
	if os.Getenv("SAMSA_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	br, err := broker.New(cfg, logger)
	if err != nil {
		b.t.Fatalf("brokertest: %v", err)
	}
	if err := br.Start(); err != nil {
		b.t.Fatalf("brokertest: %v", err)
	}
	b.Broker = br
}

// Restart closes the broker cleanly and starts it again on the same data
// and the same port.
func (b *Broker) Restart() {
	b.t.Helper()
	addr := b.Addr()
	if err := b.Broker.Close(); err != nil {
		b.t.Fatalf("brokertest: close: %v", err)
	}
	b.props["listeners"] = "PLAINTEXT://" + addr
	b.start()
}
