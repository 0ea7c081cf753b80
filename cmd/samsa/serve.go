package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
	"github.com/samsa-io/samsa/internal/registry"
)

// propFlags are the flags named after broker properties (--log.dirs, ...).
var propFlags = map[string]struct{}{}

// shutdownTimeout bounds closing the broker after SIGTERM or SIGINT, once
// the controlled shutdown is over.
const shutdownTimeout = 10 * time.Second

func serveCommand() *cobra.Command {
	var (
		configFile string
		overrides  []string
		logLevel   string
		logFormat  string
		registryAt string
		metricsAt  string
		pprof      bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker (single node on 127.0.0.1:9092 by default)",
		Long: `Run a Samsa broker.

With no flags it serves a single-node cluster on 127.0.0.1:9092 with data in
./samsa-data, its metadata in an embedded etcd member under
./samsa-data/etcd. Brokers form a cluster with node.id and
controller.quorum.voters=1@host:port,2@host:port,3@host:port (each listed
broker embeds one etcd member, its peer port given) or
etcd.endpoints=http://host:2379,... (an external etcd). On SIGTERM the
broker hands its leaderships to other replicas before it stops.
Broker properties use Kafka's names and defaults; give them in
a server.properties file (--config), as flags named after them
(--log.dirs=/var/lib/samsa), or as --override key=value; flags win over the
file. An unknown property or a bad value stops startup with a message naming
it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLoggerFormat(logLevel, logFormat)
			if err != nil {
				return err
			}
			props := map[string]string{}
			if configFile != "" {
				if props, err = config.LoadProperties(configFile); err != nil {
					return err
				}
			}
			cmd.Flags().Visit(func(f *pflag.Flag) {
				if _, isProp := propFlags[f.Name]; isProp {
					props[f.Name] = f.Value.String()
				}
			})
			for _, o := range overrides {
				k, v, ok := strings.Cut(o, "=")
				if !ok {
					return fmt.Errorf("--override %q: expected key=value", o)
				}
				props[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			// The short operations flags win over the properties they set.
			if cmd.Flags().Changed("metrics-listen") {
				props["metrics.listen"] = metricsAt
			}
			if cmd.Flags().Changed("pprof") {
				props["metrics.pprof.enable"] = strconv.FormatBool(pprof)
			}
			cfg, err := config.NewBroker(props)
			if err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			for _, k := range cfg.Ignored {
				logger.Warn("ignoring Kafka property with no effect in Samsa", "property", k)
			}
			return serve(cfg, logger, registryAt)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "server.properties file with Kafka broker property names")
	cmd.Flags().StringArrayVar(&overrides, "override", nil, "broker property key=value (repeatable), e.g. --override log.dirs=/var/lib/samsa")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "text (key=value) or json (one object per line)")
	cmd.Flags().StringVar(&metricsAt, "metrics-listen", "", "serve Prometheus /metrics, /healthz and /readyz over HTTP on host:port (e.g. 127.0.0.1:9644); the property metrics.listen")
	cmd.Flags().BoolVar(&pprof, "pprof", false, "also serve Go's profiler under /debug/pprof/ on the metrics listener; the property metrics.pprof.enable")
	cmd.Flags().StringVar(&registryAt, "schema-registry-listen", "", "also serve a schema registry on host:port (e.g. 127.0.0.1:8081), stored in this cluster's _schemas topic")
	for _, d := range config.BrokerDefs {
		usage := "broker property " + d.Name
		if d.Default != "" {
			usage += " (default " + d.Default + ")"
		}
		if d.Doc != "" {
			usage += "; " + d.Doc
		}
		cmd.Flags().String(d.Name, "", usage)
		propFlags[d.Name] = struct{}{}
	}
	return cmd
}

func newLogger(level string) (*slog.Logger, error) { return newLoggerFormat(level, "text") }

// newLoggerFormat returns a logger to stderr at level, writing slog's
// text (key=value) or JSON lines.
func newLoggerFormat(level, format string) (*slog.Logger, error) {
	return newLoggerTo(os.Stderr, level, format)
}

func newLoggerTo(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: expected text or json", format)
}

// controlledShutdownTimeout bounds the wait for the controller to move
// this broker's leaderships away after SIGTERM or SIGINT.
const controlledShutdownTimeout = 30 * time.Second

func serve(cfg *config.Broker, logger *slog.Logger, registryAt string) error {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	b, err := start(cfg, logger, sig)
	if err != nil {
		return err
	}
	stopRegistry := func() error { return nil }
	if registryAt != "" {
		if stopRegistry, err = startRegistry(context.Background(), registryOptions{bootstrap: b.Addr(), listen: registryAt,
			topic: registry.DefaultTopic, groupID: registry.DefaultGroupID}, logger); err != nil {
			b.Close()
			return err
		}
	}
	s := <-sig
	// The registry goes first: it leaves its group while the broker is up.
	if err := stopRegistry(); err != nil {
		logger.Warn("closing the schema registry", "err", err)
	}
	logger.Info("shutting down", "signal", s.String())
	done := make(chan error, 1)
	go func() {
		if cfg.Bool("controlled.shutdown.enable") {
			ctx, cancel := context.WithTimeout(context.Background(), controlledShutdownTimeout)
			if err := b.ControlledShutdown(ctx); err != nil {
				logger.Warn("controlled shutdown did not finish; closing anyway", "err", err)
			}
			cancel()
		}
		done <- b.Close()
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		logger.Info("shut down cleanly")
		return nil
	case <-time.After(controlledShutdownTimeout + shutdownTimeout):
		return fmt.Errorf("shutdown did not finish within %v", controlledShutdownTimeout+shutdownTimeout)
	case s := <-sig:
		return fmt.Errorf("shutdown interrupted by a second %s", s)
	}
}

// start opens and starts the broker. With controller.quorum.voters it
// waits for a quorum of voters; a signal meanwhile gives up.
func start(cfg *config.Broker, logger *slog.Logger, sig <-chan os.Signal) (*broker.Broker, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		b   *broker.Broker
		err error
	}
	started := make(chan result, 1)
	go func() {
		b, err := broker.NewContext(ctx, cfg, logger)
		if err == nil {
			if err = b.Start(); err != nil {
				b.Close()
				b = nil
			}
		}
		started <- result{b, err}
	}()
	select {
	case r := <-started:
		return r.b, r.err
	case s := <-sig:
		logger.Info("interrupted during startup", "signal", s.String())
		cancel()
		if r := <-started; r.b != nil {
			r.b.Close()
		}
		return nil, fmt.Errorf("startup interrupted by %s", s)
	}
}
