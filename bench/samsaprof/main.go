// Command samsaprof runs a Samsa broker in-process under the Go CPU
// profiler, so bench/brokerbench can show where the broker's CPU goes under
// its load. The broker has no profiling flag of its own; this harness starts
// internal/broker the way `samsa serve` does.
//
//	go run ./bench/samsaprof -listen 127.0.0.1:9092 -dir /tmp/samsa-data -cpuprofile samsa.pprof
//
// brokerbench uses it in place of ./cmd/samsa when SAMSA_BENCH_CPUPROFILE
// is set. The profile covers the time from listening to SIGTERM or SIGINT;
// the clean shutdown after that is not in it.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"

	"github.com/samsa-io/samsa/internal/broker"
	"github.com/samsa-io/samsa/internal/config"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9092", "host:port of the PLAINTEXT listener")
	dir := flag.String("dir", "./samsa-data", "log.dirs")
	partitions := flag.Int("partitions", 1, "num.partitions (partitions of auto-created topics)")
	cpuProfile := flag.String("cpuprofile", "", "CPU profile to write (required)")
	flag.Parse()
	if err := run(*listen, *dir, *partitions, *cpuProfile); err != nil {
		fmt.Fprintln(os.Stderr, "samsaprof:", err)
		os.Exit(1)
	}
}

func run(listen, dir string, partitions int, cpuProfile string) error {
	if cpuProfile == "" {
		return fmt.Errorf("-cpuprofile is required")
	}
	cfg, err := config.NewBroker(map[string]string{
		"listeners":      "PLAINTEXT://" + listen,
		"log.dirs":       dir,
		"num.partitions": strconv.Itoa(partitions),
	})
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.New(cfg, logger)
	if err != nil {
		return err
	}
	f, err := os.Create(cpuProfile)
	if err != nil {
		b.Close()
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Close()
		return err
	}
	if err := b.Start(); err != nil {
		pprof.StopCPUProfile()
		b.Close()
		return err
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	pprof.StopCPUProfile()
	return b.Close()
}
