//go:build linux

package main

import (
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
)

// profiledServeCommand, as the first argument, makes this program a
// broker under the CPU profiler instead of the benchmark: `samsa serve`
// has no profiling flag, so with -cpuprofile the benchmark runs itself
// as each broker.
const profiledServeCommand = "profiled-broker"

// profiledServe starts internal/broker from a server.properties file as
// `samsa serve --config` does, profiles its CPU from the moment it serves
// until SIGTERM or SIGINT, then closes it (without a controlled shutdown).
func profiledServe(args []string) error {
	fs := flag.NewFlagSet(profiledServeCommand, flag.ContinueOnError)
	configFile := fs.String("config", "", "server.properties")
	profile := fs.String("cpuprofile", "", "CPU profile to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configFile == "" || *profile == "" {
		return errors.New("-config and -cpuprofile are required")
	}
	props, err := config.LoadProperties(*configFile)
	if err != nil {
		return err
	}
	cfg, err := config.NewBroker(props)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.New(cfg, logger)
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		b.Close()
		return err
	}
	f, err := os.Create(*profile)
	if err != nil {
		b.Close()
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Close()
		return err
	}
	<-sig
	pprof.StopCPUProfile()
	return b.Close()
}
