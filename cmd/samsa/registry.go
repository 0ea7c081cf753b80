package main

// samsa registry: a Confluent-compatible schema registry against any
// Kafka-compatible cluster, its records in the _schemas topic. samsa
// serve --schema-registry-listen runs the same inside the broker.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/internal/registry"
)

func init() { extraCommands = append(extraCommands, registryCommand) }

// registryOptions are the flags of samsa registry, and the settings the
// serve command passes on.
type registryOptions struct {
	bootstrap string
	listen    string
	advertise string
	topic     string
	groupID   string
}

func registryCommand() *cobra.Command {
	var (
		o        registryOptions
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run a schema registry (Confluent's REST API) on a Kafka cluster",
		Long: `Run a Confluent-compatible schema registry whose schemas live in the
compacted _schemas topic of the cluster at --bootstrap-server.

Several instances on one cluster share their state: one of them, elected
through a consumer group, writes; the others forward writes to it, at the
URL it advertises (--advertised-url, by default http://<listen address>),
and serve reads from their own copy of the topic.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			stop, err := startRegistry(cmd.Context(), o, logger)
			if err != nil {
				return err
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
			logger.Info("shutting down", "signal", (<-sig).String())
			return stop()
		},
	}
	cmd.Flags().StringVar(&o.bootstrap, "bootstrap-server", "127.0.0.1:9092", "Kafka brokers (bootstrap.servers) holding the schemas topic")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8081", "host:port of the REST API")
	cmd.Flags().StringVar(&o.advertise, "advertised-url", "", "URL other instances forward writes to (default http://<listen address>)")
	cmd.Flags().StringVar(&o.topic, "topic", registry.DefaultTopic, "topic of the schemas (Confluent's kafkastore.topic)")
	cmd.Flags().StringVar(&o.groupID, "group-id", registry.DefaultGroupID, "consumer group electing the instance that writes")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// startRegistry listens, starts a registry instance and serves it; stop
// closes it.
func startRegistry(ctx context.Context, o registryOptions, logger *slog.Logger) (stop func() error, err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	url := o.advertise
	if url == "" {
		url = "http://" + l.Addr().String()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r, err := registry.New(ctx, registry.Config{BootstrapServers: o.bootstrap, URL: url, Topic: o.topic, GroupID: o.groupID, Logger: logger})
	if err != nil {
		l.Close()
		return nil, err
	}
	go r.Serve(l)
	logger.Info("schema registry listening", "addr", l.Addr().String(), "url", url, "bootstrap", o.bootstrap)
	return r.Close, nil
}
