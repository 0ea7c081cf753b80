// Command kfakeserver runs franz-go's kfake as a single-broker cluster in a
// process of its own, with its data persisted to a directory, so that
// bench/brokerbench can measure its CPU time and memory from /proc exactly
// as it measures a samsa broker.
//
//	go run ./bench/kfakeserver -port 9092 -dir /tmp/kfake-data
//
// It stops cleanly on SIGTERM or SIGINT, writing the -cpuprofile if asked.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9092, "loopback port to listen on (127.0.0.1)")
	dir := flag.String("dir", "", "data directory (kfake.DataDir); empty keeps everything in memory")
	partitions := flag.Int("partitions", 1, "partitions of auto-created topics and of CreateTopics with -1 partitions")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()

	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kfakeserver:", err)
			os.Exit(1)
		}
		defer stop()
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(*port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
	}
	if *dir != "" {
		opts = append(opts, kfake.DataDir(*dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfakeserver:", err)
		os.Exit(1)
	}
	fmt.Println("kfakeserver: listening on", c.ListenAddrs()[0])

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	c.Close()
}

// startCPUProfile profiles until the returned function is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
