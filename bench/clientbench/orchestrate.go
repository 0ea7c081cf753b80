package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchCase is one workload: records of size bytes with a codec.
type benchCase struct {
	records int
	size    int
	codec   string
}

func (c benchCase) String() string {
	return fmt.Sprintf("%d x %d B, %s", c.records, c.size, c.codec)
}

func parseCases(spec, codecs string) ([]benchCase, error) {
	var out []benchCase
	for _, s := range strings.Split(spec, ",") {
		n, sz, ok := strings.Cut(strings.TrimSpace(s), "x")
		records, err1 := strconv.Atoi(n)
		size, err2 := strconv.Atoi(sz)
		if !ok || err1 != nil || err2 != nil || records < 1 || size < 1 {
			return nil, fmt.Errorf("bad case %q: want RECORDSxBYTES", s)
		}
		for _, c := range strings.Split(codecs, ",") {
			switch c = strings.TrimSpace(c); c {
			case "none", "lz4":
				out = append(out, benchCase{records, size, c})
			default:
				return nil, fmt.Errorf("codec %q: want none or lz4", c)
			}
		}
	}
	return out, nil
}

func orchestrate(o options, cases []benchCase, clients []string) error {
	for _, c := range clients {
		if c != "samsa" && c != "franz" {
			return fmt.Errorf("client %q: want samsa or franz", c)
		}
	}
	work, err := os.MkdirTemp("", "clientbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.cpuProfile != "" {
		if err := os.MkdirAll(o.cpuProfile, 0o755); err != nil {
			return err
		}
	}

	addr, stop, err := startBroker(o, work)
	if err != nil {
		return err
	}
	defer stop()
	logf("broker %s at %s", o.broker, addr)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	results := map[string]map[string][]result{} // case -> client -> runs
	for ci, bc := range cases {
		results[bc.String()] = map[string][]result{}
		if o.mode == "consume" {
			if err := consumeCase(o, self, addr, ci, bc, clients, results); err != nil {
				return err
			}
			continue
		}
		for run := 1; run <= o.runs; run++ {
			order := clients
			if run%2 == 0 {
				order = []string{}
				for i := len(clients) - 1; i >= 0; i-- {
					order = append(order, clients[i])
				}
			}
			for _, cl := range order {
				topic := fmt.Sprintf("clientbench-produce-%d-%s-%d", ci, cl, run)
				if err := createTopic(addr, topic, o.partitions); err != nil {
					return err
				}
				r, err := runClient(o, self, "produce", cl, addr, topic, bc, run)
				deleteTopic(addr, topic)
				if err != nil {
					return fmt.Errorf("%s, %s, run %d: %w", bc, cl, run, err)
				}
				logf("%s run %d %-5s: %9.0f records/s, %6.2f CPU s, %5.2f allocs/record, peak RSS %6.1f MiB, %d errors",
					bc, run, cl, r.RecordsPerS, r.CPUSeconds, float64(r.Allocs)/float64(r.Records), float64(r.PeakRSSKiB)/1024, r.Errors)
				results[bc.String()][cl] = append(results[bc.String()][cl], r)
			}
		}
	}
	report(os.Stdout, o, cases, clients, results)
	return nil
}

// consumeCase fills a topic with the case's records (Samsa's producer),
// then reads it from the beginning with every client, o.runs times.
func consumeCase(o options, self, addr string, ci int, bc benchCase, clients []string, results map[string]map[string][]result) error {
	topic := fmt.Sprintf("clientbench-consume-%d", ci)
	if err := createTopic(addr, topic, o.partitions); err != nil {
		return err
	}
	defer deleteTopic(addr, topic)
	fill, err := runClient(o, self, "produce", "samsa", addr, topic, bc, 0)
	if err != nil {
		return fmt.Errorf("%s, filling %s: %w", bc, topic, err)
	}
	logf("%s: filled %s at %.0f records/s", bc, topic, fill.RecordsPerS)
	// The producer's warm-up record is in the topic too.
	all := bc
	all.records++
	for run := 1; run <= o.runs; run++ {
		order := clients
		if run%2 == 0 {
			order = slices.Clone(clients)
			slices.Reverse(order)
		}
		for _, cl := range order {
			r, err := runClient(o, self, "consume", cl, addr, topic, all, run)
			if err != nil {
				return fmt.Errorf("%s, %s, run %d: %w", bc, cl, run, err)
			}
			logf("%s run %d %-5s: %9.0f records/s, %6.2f CPU s (%.2f user, %.2f sys), %5.2f allocs/record, %.0f MiB allocated, peak RSS %6.1f MiB, %d minor faults, %d+%d context switches",
				bc, run, cl, r.RecordsPerS, r.CPUSeconds, r.UserSeconds, r.SysSeconds, float64(r.Allocs)/float64(r.Records),
				float64(r.AllocBytes)/(1<<20), float64(r.PeakRSSKiB)/1024, r.MinorFaults, r.VolSwitches, r.InvolSwitches)
			results[bc.String()][cl] = append(results[bc.String()][cl], r)
		}
	}
	return nil
}

// runClient runs one measured client in a child process.
func runClient(o options, self, mode, client, addr, topic string, bc benchCase, run int) (result, error) {
	args := []string{"-client", "-mode", mode,
		"-name", client, "-bootstrap", addr, "-topic", topic,
		"-records", strconv.Itoa(bc.records), "-size", strconv.Itoa(bc.size), "-codec", bc.codec,
		"-receive-buffer", strconv.Itoa(o.rcvbuf)}
	if o.cpuProfile != "" {
		args = append(args, "-cpuprofile", filepath.Join(o.cpuProfile,
			fmt.Sprintf("%s-%s-%d-%d-%s-run%d.pprof", mode, client, bc.records, bc.size, bc.codec, run)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return result{}, err
	}
	var r result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return result{}, fmt.Errorf("client output %q: %w", stdout.String(), err)
	}
	if r.Errors > 0 {
		return r, fmt.Errorf("%d records failed, first: %s", r.Errors, r.FirstError)
	}
	return r, nil
}

// startBroker starts the broker o.broker names and returns its address and
// a function that stops it.
func startBroker(o options, work string) (string, func(), error) {
	switch o.broker {
	case "kfake":
		self, err := os.Executable()
		if err != nil {
			return "", nil, err
		}
		port, err := freePort()
		if err != nil {
			return "", nil, err
		}
		return startChild(filepath.Join(work, "kfake.log"), self,
			"-serve-kfake", "-port", strconv.Itoa(port), "-partitions", strconv.Itoa(o.partitions))
	case "samsa":
		root, err := moduleRoot()
		if err != nil {
			return "", nil, err
		}
		bin := filepath.Join(work, "samsa")
		logf("building ./cmd/samsa")
		build := exec.Command("go", "build", "-o", bin, "./cmd/samsa")
		build.Dir = root
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return "", nil, fmt.Errorf("go build ./cmd/samsa: %w", err)
		}
		port, err := freePort()
		if err != nil {
			return "", nil, err
		}
		return startChild(filepath.Join(work, "samsa.log"), bin, "serve",
			"--listeners=PLAINTEXT://127.0.0.1:"+strconv.Itoa(port),
			"--log.dirs="+filepath.Join(work, "samsa-data"),
			"--num.partitions="+strconv.Itoa(o.partitions),
			"--log-level=warn")
	default:
		if _, _, err := net.SplitHostPort(o.broker); err != nil {
			return "", nil, fmt.Errorf("-broker %q: want kfake, samsa or host:port", o.broker)
		}
		return o.broker, func() {}, nil
	}
}

// startChild runs a broker process and waits until it accepts connections
// on the port given as its flag.
func startChild(logPath, bin string, args ...string) (string, func(), error) {
	var addr string
	for i, a := range args {
		switch {
		case a == "-port" && i+1 < len(args):
			addr = "127.0.0.1:" + args[i+1]
		case strings.HasPrefix(a, "--listeners=PLAINTEXT://"):
			addr = strings.TrimPrefix(a, "--listeners=PLAINTEXT://")
		}
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return "", nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); lf.Close() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return addr, stop, nil
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logPath)
			return "", nil, fmt.Errorf("%s exited (%v): %s", bin, err, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("%s did not listen on %s within 30s", bin, addr)
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the samsa module")
	}
	return filepath.Dir(mod), nil
}

func admin(addr string) (*kadm.Client, func(), error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

func createTopic(addr, topic string, partitions int) error {
	adm, done, err := admin(addr)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// deleteTopic frees the broker's memory (kfake keeps everything in RAM).
func deleteTopic(addr, topic string) {
	adm, done, err := admin(addr)
	if err != nil {
		return
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = adm.DeleteTopics(ctx, topic)
}

// serveKfake is the -serve-kfake child: a one-broker kfake cluster until
// SIGTERM.
func serveKfake(args []string) error {
	fs := flag.NewFlagSet("serve-kfake", flag.ContinueOnError)
	port := fs.Int("port", 9092, "port on 127.0.0.1")
	partitions := fs.Int("partitions", 6, "default partitions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(*port),
		kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(*partitions))
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	c.Close()
	return nil
}
