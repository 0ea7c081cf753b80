package main

// Shared plumbing of the client tools (topics, produce, consume).
//
// The tools are built on franz-go's kgo and kadm for now. Samsa's own client
// (the kafka/ package) will replace them once it has a producer, consumer
// and admin client; the flags and the output, which follow Kafka's
// kafka-topics.sh and console producer/consumer, stay as they are.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultBootstrap is where `samsa serve` listens with no flags.
const defaultBootstrap = "127.0.0.1:9092"

// adminTimeout bounds one admin operation, as the Java AdminClient's
// default.api.timeout.ms (60000) does; without it a wrong
// --bootstrap-server would retry forever.
const adminTimeout = 60 * time.Second

// addBootstrapFlag registers --bootstrap-server, Kafka's name for the
// comma-separated list of brokers to contact first.
func addBootstrapFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "bootstrap-server", defaultBootstrap, "host:port of the broker(s) to connect to, comma-separated")
}

// newClient connects a kgo client to the comma-separated bootstrap list.
func newClient(bootstrap string, opts ...kgo.Opt) (*kgo.Client, error) {
	var seeds []string
	for _, s := range strings.Split(bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("--bootstrap-server: no broker address given")
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cl, nil
}

// parseKeyValues turns repeated "k=v" flag values into a map. flag names
// the flag in errors. A later value for the same key wins, as it does in
// Kafka's tools.
func parseKeyValues(flag string, kvs []string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: expected key=value", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

// checkKnown fails on the first key of m that known does not hold, listing
// what is understood; a misspelt property silently ignored is worse than
// an error.
func checkKnown(flag string, m map[string]string, known ...string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			return fmt.Errorf("%s: unknown property %q (understood: %s)", flag, k, strings.Join(known, ", "))
		}
	}
	return nil
}

// parseBool reads a Kafka-style boolean property value.
func parseBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q: expected true or false", name, v)
}
