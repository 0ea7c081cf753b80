package main

// Shared plumbing of the client tools (topics, produce, consume, groups,
// configs): the connection flags every tool takes, the settings handed to
// the kafka/ package's clients, usage errors (exit status 2) and the
// progress line of slow operations.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

// defaultBootstrap is where `samsa serve` listens with no flags.
const defaultBootstrap = "127.0.0.1:9092"

// bootstrapEnv overrides defaultBootstrap, so that a shell session
// pointed at one cluster need not repeat --bootstrap-server.
const bootstrapEnv = "SAMSA_BOOTSTRAP"

// connFlags are the flags of every client tool that say how to reach the
// cluster.
type connFlags struct {
	bootstrap     string
	commandConfig string
}

// addConnFlags registers --bootstrap-server, Kafka's name for the
// comma-separated list of brokers to contact first, and --command-config,
// the client properties file (security settings, timeouts) of Kafka's
// admin tools.
func addConnFlags(cmd *cobra.Command, c *connFlags) {
	def := defaultBootstrap
	if v := strings.TrimSpace(os.Getenv(bootstrapEnv)); v != "" {
		def = v
	}
	cmd.Flags().StringVar(&c.bootstrap, "bootstrap-server", def, "host:port of the broker(s) to connect to, comma-separated (default from $"+bootstrapEnv+")")
	cmd.Flags().StringVar(&c.commandConfig, "command-config", "", "file of client properties (Java .properties syntax), e.g. security.protocol, request.timeout.ms")
}

// config returns the client settings: --command-config's, then the files
// and key=value settings of the tool (later ones win), with
// bootstrap.servers from --bootstrap-server.
func (c *connFlags) config(files []string, kvs map[string]string) (kafka.Config, error) {
	cfg := kafka.Config{}
	for _, f := range append([]string{c.commandConfig}, files...) {
		if f == "" {
			continue
		}
		fc, err := kafka.LoadConfig(f)
		if err != nil {
			return nil, usageErr(fmt.Errorf("reading client properties: %w", err))
		}
		for k, v := range fc {
			cfg[k] = v
		}
	}
	for k, v := range kvs {
		cfg[k] = v
	}
	var seeds []string
	for _, s := range strings.Split(c.bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, usageErr(errors.New("--bootstrap-server: no broker address given"))
	}
	cfg["bootstrap.servers"] = strings.Join(seeds, ",")
	return cfg, nil
}

// admin makes the admin client of a tool.
func (c *connFlags) admin(cmd *cobra.Command) (*kafka.Admin, error) {
	cfg, err := c.config(nil, nil)
	if err != nil {
		return nil, err
	}
	adm, err := kafka.NewAdmin(cfg, kafka.WithLogger(toolLogger(cmd)))
	if err != nil {
		return nil, clientConfigErr(err)
	}
	return adm, nil
}

// toolLogger sends the client's warnings to stderr; its informational
// messages are not for a command line.
func toolLogger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// clientConfigErr makes a setting the client refused a usage error: the
// user gave it.
func clientConfigErr(err error) error {
	if errors.Is(err, kafka.ErrInvalidConfig) {
		return usageErr(err)
	}
	return err
}

// usageError is a command line that cannot work as given; main exits with
// status 2 for it, as Kafka's tools do.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErr(err error) error { return &usageError{err} }

func usagef(format string, args ...any) error { return usageErr(fmt.Errorf(format, args...)) }

// exitCode is the process exit status for the error a command returned:
// 0 for none, 2 for a usage error, 1 for any other failure.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// action is one mode of a tool, spelt both as Kafka's action flag
// (--create) and as a subcommand (create).
type action struct {
	name  string
	short string
}

// actionCommand builds a tool that takes its mode in either form:
// `samsa topics --create ...` as kafka-topics.sh, or `samsa topics create
// ...`. addFlags registers the tool's flags on the command and on each
// subcommand (bound to the same variables); run gets the chosen mode.
func actionCommand(cmd *cobra.Command, actions []action, addFlags func(*cobra.Command), run func(cmd *cobra.Command, action string, args []string) error) *cobra.Command {
	chosen := make([]bool, len(actions))
	names := make([]string, len(actions))
	for i, a := range actions {
		names[i] = "--" + a.name
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var set []string
		for i, a := range actions {
			if chosen[i] {
				set = append(set, a.name)
			}
		}
		if len(set) != 1 {
			return usagef("exactly one of %s is required (or the subcommand form: %s %s ...)",
				strings.Join(names, ", "), cmd.CommandPath(), actions[0].name)
		}
		return run(cmd, set[0], args)
	}
	addFlags(cmd)
	for i, a := range actions {
		cmd.Flags().BoolVar(&chosen[i], a.name, false, a.short)
		sub := &cobra.Command{
			Use:   a.name,
			Short: a.short + " (same as " + cmd.Name() + " --" + a.name + ")",
			Args:  cmd.Args,
			RunE: func(cmd *cobra.Command, args []string) error {
				return run(cmd, a.name, args)
			},
		}
		addFlags(sub)
		cmd.AddCommand(sub)
	}
	return cmd
}

// checkFlagsFor refuses flags that mean nothing for the action rather than
// ignore them, as Kafka's tools do: `--delete --partitions 3` is a
// mistake. allowed maps a flag to the actions it belongs to.
func checkFlagsFor(cmd *cobra.Command, act string, allowed map[string][]string) error {
	names := make([]string, 0, len(allowed))
	for f := range allowed {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		if cmd.Flags().Changed(f) && !slices.Contains(allowed[f], act) {
			return usagef("--%s cannot be used with %s", f, act)
		}
	}
	return nil
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
			return nil, usagef("%s %q: expected key=value", flag, kv)
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
			return usagef("%s: unknown property %q (understood: %s)", flag, k, strings.Join(known, ", "))
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
	return false, usagef("%s=%q: expected true or false", name, v)
}

func joinInt32(xs []int32) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(int(x))
	}
	return strings.Join(s, ",")
}

// Progress lines: an operation that takes longer than progressDelay says
// on stderr what it is waiting for, and again every progressInterval when
// its status changed, so that a slow broker is not mistaken for a hang.
// Variables so that tests can shorten them.
var (
	progressDelay    = 3 * time.Second
	progressInterval = 5 * time.Second
)

// progress reports status() on w while an operation runs; stop ends it
// and waits for its goroutine.
type progress struct {
	stop func()
}

// startProgress starts reporting; status returns the line to print, ""
// for nothing to say.
func startProgress(w io.Writer, status func() string) *progress {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		t := time.NewTimer(progressDelay)
		defer t.Stop()
		last := ""
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if s := status(); s != "" && s != last {
				fmt.Fprintf(w, "samsa: %s (%ds)\n", s, int(time.Since(start).Seconds()))
				last = s
			}
			t.Reset(progressInterval)
		}
	}()
	return &progress{stop: func() { cancel(); wg.Wait() }}
}

// waitingFor runs fn with a progress line naming what it waits for.
func waitingFor[T any](cmd *cobra.Command, what string, fn func() (T, error)) (T, error) {
	p := startProgress(cmd.ErrOrStderr(), func() string { return "waiting for the cluster: " + what })
	defer p.stop()
	return fn()
}

// lockedWriter serialises writes from the clients' callback goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) printf(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(w.w, format, args...)
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
