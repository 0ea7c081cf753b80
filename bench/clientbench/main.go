// Command clientbench compares Samsa's Go clients (package kafka) with
// franz-go's (kgo), against the same broker in the same run.
//
//	go run ./bench/clientbench [-mode produce|consume] [-broker kfake|samsa|host:port] [-runs 3]
//
// -mode produce (the default) measures the producers with the same
// settings: acks=all, idempotence on, linger 5 ms, batch.size 1 MiB,
// buffer.memory 32 MiB. -mode consume fills a topic once with Samsa's
// producer, then measures each consumer reading it all from the beginning
// (every partition assigned, no group) with Java's fetch defaults
// (fetch.max.bytes 50 MiB, max.partition.fetch.bytes 1 MiB,
// fetch.max.wait.ms 500).
//
// The default cases are 1,000,000 records of 100 bytes and 200,000 records
// of 1 KiB, each without compression and with lz4. For every case and
// client it prints records/s, the client's CPU seconds (user + system,
// getrusage), heap allocations per record (runtime.MemStats.Mallocs), the
// client's peak resident set size (ru_maxrss), and Samsa's ratio to
// franz-go for each.
//
// Neither the broker nor the clients share a process with the orchestrator
// or with each other: the broker is a child process (kfake, run by this
// same binary with -serve-kfake, or `samsa serve` built from ./cmd/samsa),
// and each measurement runs in a fresh child process (this binary with
// -client), so that CPU time, allocations and peak RSS are the client's
// alone. Records carry no key (the uniform sticky partitioner on both
// sides, switching partitions after batch.size bytes), and values come
// from the same deterministic pool of moderately compressible text.
//
// -receive-buffer N (consume mode) gives both consumers the same socket
// receive buffer: N bytes, or the OS default with autotuning for -1. By
// default each keeps its own: Java's receive.buffer.bytes=65536 for
// Samsa's consumer, the OS default for franz-go, which sets none.
//
// -cpuprofile DIR writes a CPU profile of every client run to DIR.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

type options struct {
	broker     string
	partitions int
	runs       int
	cases      string
	clients    string
	timeout    time.Duration
	cpuProfile string
	markdown   bool
	mode       string
	rcvbuf     int // receive.buffer.bytes for both consumers; ownDefault: each its own
}

// ownDefault as -receive-buffer leaves each consumer its own socket receive
// buffer default: Java's 65536 bytes for Samsa's, the OS's for franz-go.
const ownDefault = -2

func main() {
	// Child modes: a broker, or one measured client run.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "-serve-kfake":
			if err := serveKfake(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "clientbench kfake:", err)
				os.Exit(1)
			}
			return
		case "-client":
			if err := clientMain(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "clientbench client:", err)
				os.Exit(1)
			}
			return
		}
	}

	var o options
	flag.StringVar(&o.broker, "broker", "kfake", "kfake (child process), samsa (builds ./cmd/samsa and runs `samsa serve`), or host:port of a running broker")
	flag.IntVar(&o.partitions, "partitions", 6, "partitions of each benchmark topic")
	flag.IntVar(&o.runs, "runs", 1, "runs of every case and client; the median is reported")
	flag.StringVar(&o.cases, "cases", "1000000x100,200000x1024", "comma-separated RECORDSxBYTES cases")
	flag.StringVar(&o.clients, "clients", "franz,samsa", "clients to run, in this order (reversed on even runs)")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "limit for each client run")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "directory for a CPU profile of each client run")
	flag.BoolVar(&o.markdown, "markdown", false, "print the results as a Markdown table")
	flag.StringVar(&o.mode, "mode", "produce", "produce (measure the producers) or consume (fill a topic, then measure the consumers reading it)")
	flag.IntVar(&o.rcvbuf, "receive-buffer", ownDefault, "consume mode: SO_RCVBUF bytes for both consumers (receive.buffer.bytes; -1 the OS default with autotuning); -2 leaves each its own default (Samsa's 65536 as in Java, franz-go's the OS's)")
	codecs := flag.String("codecs", "none,lz4", "compression.type values to run")
	flag.Parse()
	cs, err := parseCases(o.cases, *codecs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "clientbench:", err)
		os.Exit(2)
	}
	if err := orchestrate(o, cs, strings.Split(o.clients, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "clientbench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "clientbench: "+format+"\n", args...)
}
