// Command brokerbench compares a Samsa broker with franz-go's kfake under
// the same producer and consumer load, on the same machine, in one run.
//
//	go run ./bench/brokerbench [-records 1000000] [-size 100] [-partitions 1] [-runs 1] [-only samsa|kfake]
//
// It builds ./cmd/samsa and ./bench/kfakeserver, then for each run and each
// broker starts the broker as a child process on a free loopback port with a
// fresh data directory, creates the topic, produces the records with one
// franz-go client (acks=all, linger 5 ms, no compression), consumes them all
// back from offset 0 without a group, and stops the broker. Broker CPU time
// comes from /proc/<pid>/stat (utime+stime) around each phase; broker memory
// is the peak of /proc/<pid>/status VmHWM and 100 ms samples of VmRSS. With
// -runs > 1 every number reported is the median over the runs. See
// docs/performance.md for what the numbers mean and the targets.
//
// Setting SAMSA_BENCH_CPUPROFILE=<dir> runs ./bench/samsaprof (the broker
// in-process under pprof) in place of ./cmd/samsa, and kfakeserver with
// -cpuprofile, and leaves one CPU profile per broker and run in <dir>.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/samsa-io/samsa/bench/internal/benchproc"
)

// cpuProfileEnv names the (deliberately undocumented in -help) variable
// that turns on CPU profiles of the brokers.
const cpuProfileEnv = "SAMSA_BENCH_CPUPROFILE"

const benchTopic = "brokerbench"

type options struct {
	records    int
	size       int
	partitions int
	runs       int
	only       string
	markdown   bool
	workDir    string
	keep       bool
	timeout    time.Duration
	profileDir string
}

// brokerSpec says how to run one kind of broker.
type brokerSpec struct {
	name string
	pkg  string // main package to build, relative to the module root
	bin  string // built binary
	// args are the command line for a broker on 127.0.0.1:port keeping its
	// data in dir; profile is a CPU profile file to write, or "".
	args func(port int, dir, profile string, partitions int) []string
}

func brokerSpecs(profiling bool) []*brokerSpec {
	samsa := &brokerSpec{
		name: "samsa",
		pkg:  "./cmd/samsa",
		args: func(port int, dir, _ string, partitions int) []string {
			return []string{"serve",
				"--listeners=PLAINTEXT://127.0.0.1:" + strconv.Itoa(port),
				"--log.dirs=" + dir,
				"--num.partitions=" + strconv.Itoa(partitions),
				"--log-level=warn",
			}
		},
	}
	if profiling {
		samsa.pkg = "./bench/samsaprof"
		samsa.args = func(port int, dir, profile string, partitions int) []string {
			return []string{
				"-listen=127.0.0.1:" + strconv.Itoa(port),
				"-dir=" + dir,
				"-partitions=" + strconv.Itoa(partitions),
				"-cpuprofile=" + profile,
			}
		}
	}
	kfake := &brokerSpec{
		name: "kfake",
		pkg:  "./bench/kfakeserver",
		args: func(port int, dir, profile string, partitions int) []string {
			return []string{
				"-port=" + strconv.Itoa(port),
				"-dir=" + dir,
				"-partitions=" + strconv.Itoa(partitions),
				"-cpuprofile=" + profile,
			}
		},
	}
	return []*brokerSpec{samsa, kfake}
}

func main() {
	var o options
	flag.IntVar(&o.records, "records", 1_000_000, "records to produce and consume per run")
	flag.IntVar(&o.size, "size", 100, "value size in bytes")
	flag.IntVar(&o.partitions, "partitions", 1, "partitions of the benchmark topic")
	flag.IntVar(&o.runs, "runs", 1, "runs per broker; every number reported is the median")
	flag.StringVar(&o.only, "only", "", "run one broker only: samsa or kfake")
	flag.BoolVar(&o.markdown, "markdown", false, "print the results as a Markdown table")
	flag.StringVar(&o.workDir, "workdir", "", "where binaries, data and broker logs go (default: a new directory under $TMPDIR)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (data and broker logs) afterwards")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "limit for each broker run")
	flag.Parse()
	o.profileDir = os.Getenv(cpuProfileEnv)
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "brokerbench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.records < 1 || o.size < 0 || o.partitions < 1 || o.runs < 1 {
		return fmt.Errorf("-records, -partitions and -runs must be positive, -size not negative")
	}
	specs := brokerSpecs(o.profileDir != "")
	if o.only != "" {
		var kept []*brokerSpec
		for _, s := range specs {
			if s.name == o.only {
				kept = append(kept, s)
			}
		}
		if len(kept) == 0 {
			return fmt.Errorf("-only %q: want samsa or kfake", o.only)
		}
		specs = kept
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
		if abs, err := filepath.Abs(o.profileDir); err == nil {
			o.profileDir = abs
		}
	}

	root, err := benchproc.ModuleRoot()
	if err != nil {
		return err
	}
	work := o.workDir
	if work == "" {
		if work, err = os.MkdirTemp("", "brokerbench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	} else {
		defer fmt.Fprintln(os.Stderr, "brokerbench: kept", work)
	}

	ctx := context.Background()
	for _, s := range specs {
		s.bin = filepath.Join(work, "bin", s.name)
		logf("building %s", s.pkg)
		if err := benchproc.GoBuild(ctx, root, s.pkg, s.bin); err != nil {
			return err
		}
	}

	results := map[string][]measurement{}
	for r := 1; r <= o.runs; r++ {
		// Alternate the order so neither broker always runs on a warmer (or
		// more tired) machine.
		order := specs
		if r%2 == 0 {
			order = []*brokerSpec{}
			for i := len(specs) - 1; i >= 0; i-- {
				order = append(order, specs[i])
			}
		}
		for _, s := range order {
			m, err := runOnce(o, s, r, work)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", r, s.name, err)
			}
			logf("run %d/%d %s: produce %.0f rec/s (p50 %.2f ms, p99 %.2f ms), consume %.0f rec/s, broker CPU %.2f+%.2f s/1M rec, peak RSS %.1f MiB",
				r, o.runs, s.name, m.produceRecS, m.p50Ms, m.p99Ms, m.consumeRecS, m.cpuProducePerM, m.cpuConsumePerM, m.rssMiB)
			results[s.name] = append(results[s.name], m)
		}
	}
	report(os.Stdout, o, results)
	return nil
}

// measurement is what one run of one broker measured.
type measurement struct {
	setup                topicSetup
	produceRecS          float64
	produceMBs           float64
	p50Ms, p99Ms         float64
	consumeRecS          float64
	consumeMBs           float64
	cpuProducePerM       float64 // broker CPU seconds per million records
	cpuConsumePerM       float64
	rssMiB               float64
	diskMiB              float64
	clientCPUProducePerM float64 // this process's CPU seconds per million records
	clientCPUConsumePerM float64
}

func runOnce(o options, s *brokerSpec, run int, work string) (m measurement, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	dataDir := filepath.Join(work, fmt.Sprintf("%s-run%d-data", s.name, run))
	if err := os.RemoveAll(dataDir); err != nil {
		return m, err
	}
	addr, port, err := benchproc.FreeLoopbackAddr()
	if err != nil {
		return m, err
	}
	profile := ""
	if o.profileDir != "" {
		profile = filepath.Join(o.profileDir, fmt.Sprintf("%s-run%d.pprof", s.name, run))
	}
	logPath := filepath.Join(work, fmt.Sprintf("%s-run%d.log", s.name, run))
	p, err := startBroker(s.name, s.bin, s.args(port, dataDir, profile, o.partitions), addr, dataDir, logPath)
	if err != nil {
		return m, err
	}
	stopped := false
	defer func() {
		if !stopped {
			p.stop()
		}
	}()

	if m.setup, err = createTopic(ctx, addr, benchTopic, o.partitions); err != nil {
		return m, fmt.Errorf("%w; %v", err, p.alive())
	}

	millions := float64(o.records) / 1e6
	megabytes := float64(o.records) * float64(o.size) / 1e6
	brokerCPU0, selfCPU0, err := cpuNow(p)
	if err != nil {
		return m, err
	}

	pr, err := produce(ctx, addr, benchTopic, o.records, o.size)
	if err != nil {
		return m, fmt.Errorf("produce: %w; %v", err, p.alive())
	}
	brokerCPU1, selfCPU1, err := cpuNow(p)
	if err != nil {
		return m, err
	}
	m.produceRecS = float64(o.records) / pr.elapsed.Seconds()
	m.produceMBs = megabytes / pr.elapsed.Seconds()
	m.p50Ms = float64(pr.p50) / float64(time.Millisecond)
	m.p99Ms = float64(pr.p99) / float64(time.Millisecond)
	m.cpuProducePerM = (brokerCPU1 - brokerCPU0) / millions
	m.clientCPUProducePerM = (selfCPU1 - selfCPU0) / millions

	elapsed, err := consume(ctx, addr, benchTopic, o.partitions, o.records, o.size)
	if err != nil {
		return m, fmt.Errorf("consume: %w; %v", err, p.alive())
	}
	brokerCPU2, selfCPU2, err := cpuNow(p)
	if err != nil {
		return m, err
	}
	m.consumeRecS = float64(o.records) / elapsed.Seconds()
	m.consumeMBs = megabytes / elapsed.Seconds()
	m.cpuConsumePerM = (brokerCPU2 - brokerCPU1) / millions
	m.clientCPUConsumePerM = (selfCPU2 - selfCPU1) / millions

	m.rssMiB = p.peakRSSMiB()
	stopped = true
	if err := p.stop(); err != nil {
		return m, err
	}
	m.diskMiB = dirSizeMiB(dataDir)
	if !o.keep {
		os.RemoveAll(dataDir)
	}
	return m, nil
}

// cpuNow reads the broker's and this process's CPU seconds.
func cpuNow(p *brokerProc) (broker, self float64, err error) {
	if err := p.alive(); err != nil {
		return 0, 0, err
	}
	if broker, err = p.cpuSeconds(); err != nil {
		return 0, 0, err
	}
	self, err = benchproc.CPUSeconds("self")
	return broker, self, err
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "brokerbench: "+format+"\n", args...)
}
