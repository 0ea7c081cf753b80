//go:build linux

// Command replbench measures what replication costs a producer: the same
// franz-go producer against one `samsa serve` broker with an RF=1 topic and
// against three brokers with an RF=3 topic (min.insync.replicas=2), in one
// run, on the same machine, and prints both and the ratio.
//
//	go run ./bench/replbench [-records 1000000] [-size 100] [-partitions 6] [-runs 3] [-samsa path] [-only 1|3] [-markdown]
//
// It builds ./cmd/samsa (or runs the binary given with -samsa), then for
// each run and each setup starts the brokers as child processes on free
// loopback ports with fresh data directories (the three brokers are the
// three voters of controller.quorum.voters, each embedding an etcd member;
// the single broker embeds a lone member), creates the topic, waits until
// every replica is in sync and every partition has taken one acks=all
// write (the time that first write took is reported too), and produces
// the records with one franz-go client: acks=all, idempotent, kgo's
// default linger and batching, no compression. It reports records/s and
// MB/s, the per-record latency (from the Produce call to its
// acknowledgement, so including time spent in the client's buffer), the
// latency of produce requests (written to answered), and the CPU seconds
// each broker process, the producer and the whole machine used while
// producing, from /proc. The setups alternate their order from run to
// run; with -runs > 1 every number is the median over the runs.
//
// -cpuprofile <dir> runs each broker in-process under the Go CPU profiler
// (this program re-executed as a broker, starting internal/broker as
// `samsa serve` does) and leaves one profile per broker and run in <dir>
// for `go tool pprof`. Linux only: CPU times come from /proc.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/samsa-io/samsa/bench/internal/benchproc"
)

const benchTopic = "replbench"

type options struct {
	samsa      string
	records    int
	size       int
	partitions int
	runs       int
	markdown   bool
	workDir    string
	keep       bool
	timeout    time.Duration
	profileDir string
	only       int
}

// setup is one of the two configurations compared.
type setup struct {
	name    string
	brokers int
	rf      int
}

var setups = []setup{
	{name: "1 broker, RF=1", brokers: 1, rf: 1},
	{name: "3 brokers, RF=3", brokers: 3, rf: 3},
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == profiledServeCommand {
		if err := profiledServe(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "replbench broker:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.samsa, "samsa", "", "samsa binary to run (default: build ./cmd/samsa)")
	flag.IntVar(&o.records, "records", 1_000_000, "records to produce per run and setup")
	flag.IntVar(&o.size, "size", 100, "value size in bytes")
	flag.IntVar(&o.partitions, "partitions", 6, "partitions of the benchmark topic")
	flag.IntVar(&o.runs, "runs", 3, "runs per setup; every number reported is the median")
	flag.BoolVar(&o.markdown, "markdown", false, "print the results as Markdown tables")
	flag.StringVar(&o.workDir, "workdir", "", "where binaries, data and broker logs go (default: a new directory under $TMPDIR)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (data and broker logs) afterwards")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "limit for each run of one setup")
	flag.IntVar(&o.only, "only", 0, "run one setup only: 1 (one broker) or 3 (three brokers)")
	flag.StringVar(&o.profileDir, "cpuprofile", "", "directory for a CPU profile of every broker and run (brokers run in-process under pprof)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "replbench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.records < 1 || o.size < 0 || o.partitions < 1 || o.runs < 1 {
		return fmt.Errorf("-records, -partitions and -runs must be positive, -size not negative")
	}
	if o.only != 0 && o.only != 1 && o.only != 3 {
		return fmt.Errorf("-only %d: want 1 or 3", o.only)
	}
	work := o.workDir
	var err error
	if work == "" {
		if work, err = os.MkdirTemp("", "replbench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	} else {
		defer logf("kept %s", work)
	}
	if o.profileDir != "" {
		if o.profileDir, err = filepath.Abs(o.profileDir); err != nil {
			return err
		}
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}

	var launcher launcher
	switch {
	case o.profileDir != "":
		self, err := os.Executable()
		if err != nil {
			return err
		}
		launcher = profiledLauncher(self)
	case o.samsa != "":
		launcher = serveLauncher(o.samsa)
	default:
		bin := filepath.Join(work, "bin", "samsa")
		logf("building ./cmd/samsa")
		if err := buildSamsa(bin); err != nil {
			return err
		}
		launcher = serveLauncher(bin)
	}

	results := map[string][]measurement{}
	for r := 1; r <= o.runs; r++ {
		// Alternate the order so that neither setup always runs on a
		// warmer (or more tired) machine.
		order := setups
		if r%2 == 0 {
			order = []setup{setups[1], setups[0]}
		}
		for _, s := range order {
			if o.only != 0 && o.only != s.brokers {
				continue
			}
			m, err := runOnce(o, s, r, work, launcher)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", r, s.name, err)
			}
			logf("run %d/%d %s: first acks=all write to every partition %.0f ms; %.0f records/s, %.1f MB/s, record p50 %.1f ms p99 %.1f ms, request p50 %.1f ms p99 %.1f ms, broker CPU %v s, producer CPU %.2f s, machine busy %.0f%%",
				r, o.runs, s.name, m.warmUpMs, m.recordsPerSec, m.mbPerSec, m.recordP50Ms, m.recordP99Ms, m.requestP50Ms, m.requestP99Ms,
				fmtSeconds(m.brokerCPU), m.producerCPU, m.machineBusy*100)
			results[s.name] = append(results[s.name], m)
		}
	}
	report(os.Stdout, o, results)
	return nil
}

// runOnce starts the brokers of one setup, creates the topic, produces and
// stops the brokers.
func runOnce(o options, s setup, run int, work string, launch launcher) (m measurement, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	dir := filepath.Join(work, fmt.Sprintf("run%d-%dbrokers", run, s.brokers))
	profile := ""
	if o.profileDir != "" {
		profile = filepath.Join(o.profileDir, fmt.Sprintf("run%d-%dbrokers", run, s.brokers))
	}
	c, err := startCluster(ctx, launch, s.brokers, dir, profile)
	if err != nil {
		return m, err
	}
	defer func() {
		if stopErr := c.stop(); err == nil && stopErr != nil {
			err = stopErr
		}
		if !o.keep {
			os.RemoveAll(dir)
		}
	}()
	if err := createTopic(ctx, c.seeds(), benchTopic, o.partitions, s.rf); err != nil {
		return m, fmt.Errorf("%w; %v", err, c.alive())
	}

	warm, err := warmUp(ctx, c.seeds(), benchTopic, o.partitions)
	if err != nil {
		return m, fmt.Errorf("%w; %v", err, c.alive())
	}

	cpu0, err := c.cpuSeconds()
	if err != nil {
		return m, err
	}
	self0, err := benchproc.CPUSeconds("self")
	if err != nil {
		return m, err
	}
	machine0, err := machineCPU()
	if err != nil {
		return m, err
	}
	pr, err := produce(ctx, c.seeds(), benchTopic, o.records, o.size)
	if err != nil {
		return m, fmt.Errorf("produce: %w; %v", err, c.alive())
	}
	cpu1, err := c.cpuSeconds()
	if err != nil {
		return m, err
	}
	self1, _ := benchproc.CPUSeconds("self")
	machine1, _ := machineCPU()

	secs := pr.elapsed.Seconds()
	m = measurement{
		recordsPerSec: float64(o.records) / secs,
		mbPerSec:      float64(o.records) * float64(o.size) / 1e6 / secs,
		recordP50Ms:   ms(pr.recordP50),
		recordP99Ms:   ms(pr.recordP99),
		requestP50Ms:  ms(pr.requestP50),
		requestP99Ms:  ms(pr.requestP99),
		requests:      pr.requests,
		producerCPU:   self1 - self0,
		elapsed:       secs,
		machineBusy:   machine1.busyShare(machine0),
		machineCPU:    machine1.busySeconds(machine0),
		warmUpMs:      ms(warm),
	}
	for i := range cpu1 {
		m.brokerCPU = append(m.brokerCPU, cpu1[i]-cpu0[i])
	}
	return m, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtSeconds(v []float64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2f", x)
	}
	return s
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "replbench: "+format+"\n", args...)
}
