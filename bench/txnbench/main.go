// Command txnbench measures transactions and the cost of idempotence on a
// Samsa broker, and compares the transaction rate with franz-go's kfake in
// the same run, both as processes on the same machine.
//
//	go run ./bench/txnbench [-runs 3] [-txns 2000] [-per-txn 100] [-size 100] [-idem-records 1000000] [-idem-runs 5] [-only samsa|kfake]
//
// Transactions: one franz-go transactional producer commits -txns
// transactions back to back, each of -per-txn records of -size bytes to a
// one-partition topic (Begin, Produce, Flush, EndTransaction(TryCommit)),
// after a warm-up of 20, on a fresh broker in each of -runs runs (the
// brokers' order alternating). It reports the medians of committed
// transactions per second, the p50 and p99 of a transaction's duration,
// the broker's CPU time per transaction and the time of each kind of
// request per transaction, and the median of the runs' ratios
// samsa/kfake. Both advertise
// transaction.version 2, so franz-go runs transactions v2 (KIP-890 part
// 2: no AddPartitionsToTxn) against them; each is run a second time with
// the producer capped to transactions v1 (EndTxn v4), as older clients
// speak it.
//
// Idempotence (samsa only): on the same broker, one franz-go producer
// (acks=all, linger 5 ms, no compression, 5 produce requests in flight)
// sends -idem-records records of -size bytes, once idempotent and once
// not (DisableIdempotentWrite; franz-go would otherwise keep one request
// in flight, which measures the client rather than the broker), each to
// a fresh topic, in pairs of runs of alternating order. It reports the
// median rates, the median of the pairs' ratios and the broker's CPU
// time per million records of each. See docs/performance.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/samsa-io/samsa/bench/internal/benchproc"
)

type options struct {
	txns, perTxn, size    int
	idemRecords, idemRuns int
	runs                  int
	only                  string
	timeout               time.Duration
}

// brokerSpec says how to run one kind of broker.
type brokerSpec struct {
	name string
	pkg  string // main package, relative to the module root
	bin  string
	args func(port int, dir string) []string
}

var specs = []*brokerSpec{
	{name: "samsa", pkg: "./cmd/samsa", args: func(port int, dir string) []string {
		return []string{"serve", "--listeners=PLAINTEXT://127.0.0.1:" + strconv.Itoa(port), "--log.dirs=" + dir, "--log-level=warn"}
	}},
	{name: "kfake", pkg: "./bench/kfakeserver", args: func(port int, dir string) []string {
		return []string{"-port=" + strconv.Itoa(port), "-dir=" + dir}
	}},
}

func main() {
	var o options
	flag.IntVar(&o.txns, "txns", 2000, "transactions to commit per broker")
	flag.IntVar(&o.perTxn, "per-txn", 100, "records per transaction")
	flag.IntVar(&o.size, "size", 100, "value size in bytes")
	flag.IntVar(&o.idemRecords, "idem-records", 1_000_000, "records per idempotence run (0 skips the idempotence runs)")
	flag.IntVar(&o.idemRuns, "idem-runs", 5, "pairs of idempotent and non-idempotent runs")
	flag.StringVar(&o.only, "only", "", "run one broker only: samsa or kfake")
	flag.IntVar(&o.runs, "runs", 3, "transaction runs per broker, in alternating order; medians are reported")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "limit for each broker")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "txnbench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.txns < 1 || o.perTxn < 1 || o.size < 0 || o.idemRecords < 0 || o.idemRuns < 1 || o.runs < 1 {
		return fmt.Errorf("-txns, -per-txn, -runs and -idem-runs must be positive, -size and -idem-records not negative")
	}
	root, err := benchproc.ModuleRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "txnbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	var run1 []*brokerSpec
	for _, s := range specs {
		if o.only != "" && s.name != o.only {
			continue
		}
		s.bin = filepath.Join(work, "bin", s.name)
		logf("building %s", s.pkg)
		if err := benchproc.GoBuild(context.Background(), root, s.pkg, s.bin); err != nil {
			return err
		}
		run1 = append(run1, s)
	}
	results := map[string][]txnResult{}
	var idem *idemResult
	for r := range o.runs {
		// Alternate the order, so that neither broker always runs on a
		// warmer (or busier) machine.
		order := slices.Clone(run1)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, s := range order {
			rs, ir, err := runBroker(o, s, work, idem == nil)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			for _, x := range rs {
				results[x.variant] = append(results[x.variant], x)
			}
			if ir != nil {
				idem = ir
			}
		}
	}
	report(o, results, idem)
	return nil
}

// runBroker starts one broker and runs the transactions, then on samsa
// the idempotence comparison if withIdem.
func runBroker(o options, s *brokerSpec, work string, withIdem bool) ([]txnResult, *idemResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	addr, port, err := benchproc.FreeLoopbackAddr()
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(work, s.name+"-data")
	if err := os.RemoveAll(dir); err != nil {
		return nil, nil, err
	}
	b, err := startBroker(s.name, s.bin, s.args(port, dir), addr, filepath.Join(work, s.name+".log"))
	if err != nil {
		return nil, nil, err
	}
	defer b.stop()
	if err := createTopic(ctx, addr, "txnbench"); err != nil {
		return nil, nil, fmt.Errorf("%w; %v", err, b.alive())
	}
	var out []txnResult
	for _, v1 := range []bool{false, true} {
		r, err := runTxns(ctx, b, "txnbench", o, v1)
		if err != nil {
			return nil, nil, fmt.Errorf("transactions: %w; %v", err, b.alive())
		}
		r.variant = s.name
		if v1 {
			r.variant += " (capped to transactions v1)"
		}
		logf("%s: %.0f transactions/s (p50 %.2f ms, p99 %.2f ms), broker CPU %.2f ms per transaction",
			r.variant, r.txnPerSec, ms(r.p50), ms(r.p99), r.cpuMsPerTxn)
		out = append(out, r)
	}
	if s.name != "samsa" || o.idemRecords == 0 || !withIdem {
		return out, nil, nil
	}
	ir, err := runIdempotence(ctx, b, o)
	if err != nil {
		return out, nil, fmt.Errorf("idempotence: %w; %v", err, b.alive())
	}
	return out, &ir, nil
}

func createTopic(ctx context.Context, addr, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	return nil
}

// txnResult is what the transaction run measured.
type txnResult struct {
	variant     string // the broker, and the protocol when capped
	txnPerSec   float64
	p50, p99    time.Duration
	cpuMsPerTxn float64
	// requestUs is, per API key, the time requests of that key took
	// from write to response read, in µs per transaction.
	requestUs map[int16]float64
}

// requestTimes sums the round trips of the client's requests by API key
// (a franz-go HookBrokerE2E).
type requestTimes struct {
	mu    sync.Mutex
	total map[int16]time.Duration
}

func (h *requestTimes) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	h.mu.Lock()
	h.total[key] += e2e.DurationE2E()
	h.mu.Unlock()
}

func (h *requestTimes) reset() map[int16]time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.total
	h.total = map[int16]time.Duration{}
	return t
}

const warmupTxns = 20

// runTxns commits o.txns transactions of o.perTxn records, one after the
// other, from one transactional producer; v1 caps it to transactions v1.
func runTxns(ctx context.Context, b *broker, topic string, o options, v1 bool) (txnResult, error) {
	times := &requestTimes{total: map[int16]time.Duration{}}
	opts := []kgo.Opt{
		kgo.WithHooks(times),
		kgo.SeedBrokers(b.addr),
		kgo.TransactionalID(fmt.Sprintf("txnbench-v1-%v", v1)),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}
	if v1 {
		// franz-go uses KIP-890 part 2 only if EndTxn v5 is allowed.
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
		opts = append(opts, kgo.MaxVersions(vs))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return txnResult{}, err
	}
	defer cl.Close()
	value := make([]byte, o.size)
	one := func() error {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
		var failed firstErr
		for range o.perTxn {
			cl.Produce(ctx, &kgo.Record{Value: value}, failed.promise)
		}
		if err := cl.Flush(ctx); err != nil {
			return err
		}
		if err := failed.get(); err != nil {
			return err
		}
		return cl.EndTransaction(ctx, kgo.TryCommit)
	}
	for range warmupTxns {
		if err := one(); err != nil {
			return txnResult{}, err
		}
	}
	cpu0, err := b.cpuSeconds()
	if err != nil {
		return txnResult{}, err
	}
	times.reset()
	durations := make([]time.Duration, 0, o.txns)
	start := time.Now()
	for range o.txns {
		t0 := time.Now()
		if err := one(); err != nil {
			return txnResult{}, err
		}
		durations = append(durations, time.Since(t0))
	}
	elapsed := time.Since(start)
	cpu1, err := b.cpuSeconds()
	if err != nil {
		return txnResult{}, err
	}
	slices.Sort(durations)
	perKey := map[int16]float64{}
	for k, d := range times.reset() {
		perKey[k] = float64(d) / float64(time.Microsecond) / float64(o.txns)
	}
	return txnResult{
		txnPerSec:   float64(o.txns) / elapsed.Seconds(),
		p50:         durations[len(durations)/2],
		p99:         durations[len(durations)*99/100],
		cpuMsPerTxn: (cpu1 - cpu0) * 1000 / float64(o.txns),
		requestUs:   perKey,
	}, nil
}

// idemResult compares producing with and without idempotence.
type idemResult struct {
	idempotent, plain       float64 // median records per second
	ratio                   float64 // median over the pairs of idempotent/plain
	cpuIdempotent, cpuPlain float64 // median broker CPU seconds per million records
}

// runIdempotence produces o.idemRecords records idempotently and not, in
// o.idemRuns pairs of alternating order, each run to a new topic.
func runIdempotence(ctx context.Context, b *broker, o options) (idemResult, error) {
	var idem, plain, ratios, cpuIdem, cpuPlain []float64
	for pair := range o.idemRuns {
		var rates [2]float64 // plain, idempotent
		for j := range 2 {
			idempotent := (j == 0) == (pair%2 == 1) // plain first in even pairs
			topic := fmt.Sprintf("idem-%d-%d", pair, j)
			if err := createTopic(ctx, b.addr, topic); err != nil {
				return idemResult{}, err
			}
			cpu0, err := b.cpuSeconds()
			if err != nil {
				return idemResult{}, err
			}
			rate, err := produce(ctx, b.addr, topic, o.idemRecords, o.size, idempotent)
			if err != nil {
				return idemResult{}, err
			}
			cpu1, err := b.cpuSeconds()
			if err != nil {
				return idemResult{}, err
			}
			cpuPerM := (cpu1 - cpu0) * 1e6 / float64(o.idemRecords)
			logf("samsa: %d records, idempotent %v: %.0f records/s, broker CPU %.2f s per million records", o.idemRecords, idempotent, rate, cpuPerM)
			if idempotent {
				rates[1] = rate
				idem, cpuIdem = append(idem, rate), append(cpuIdem, cpuPerM)
			} else {
				rates[0] = rate
				plain, cpuPlain = append(plain, rate), append(cpuPlain, cpuPerM)
			}
		}
		ratios = append(ratios, rates[1]/rates[0])
	}
	return idemResult{
		idempotent: median(idem), plain: median(plain), ratio: median(ratios),
		cpuIdempotent: median(cpuIdem), cpuPlain: median(cpuPlain),
	}, nil
}

// produce sends n records of size bytes asynchronously with acks=all,
// linger 5 ms, no compression and 5 requests in flight, and returns the
// records per second.
func produce(ctx context.Context, addr, topic string, n, size int, idempotent bool) (float64, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	value := make([]byte, size)
	var failed firstErr
	start := time.Now()
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, failed.promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if err := failed.get(); err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// firstErr keeps the first error of produce promises.
type firstErr struct{ err atomic.Pointer[error] }

func (f *firstErr) promise(_ *kgo.Record, err error) {
	if err != nil {
		f.err.CompareAndSwap(nil, &err)
	}
}

func (f *firstErr) get() error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func report(o options, results map[string][]txnResult, idem *idemResult) {
	variants := []string{"samsa", "kfake", "samsa (capped to transactions v1)", "kfake (capped to transactions v1)"}
	fmt.Printf("Transactions of %d records of %d bytes, committed back to back by one franz-go producer (%d transactions, median of %d runs):\n\n", o.perTxn, o.size, o.txns, o.runs)
	fmt.Println("| broker | transactions/s | p50 ms | p99 ms | broker CPU ms/txn |")
	fmt.Println("|---|---|---|---|---|")
	for _, v := range variants {
		rs := results[v]
		if len(rs) == 0 {
			continue
		}
		pick := func(f func(txnResult) float64) float64 {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = f(r)
			}
			return median(xs)
		}
		fmt.Printf("| %s | %.0f | %.2f | %.2f | %.2f |\n", v,
			pick(func(r txnResult) float64 { return r.txnPerSec }),
			pick(func(r txnResult) float64 { return ms(r.p50) }),
			pick(func(r txnResult) float64 { return ms(r.p99) }),
			pick(func(r txnResult) float64 { return r.cpuMsPerTxn }))
	}
	fmt.Println()
	for _, pair := range [][2]string{{variants[0], variants[1]}, {variants[2], variants[3]}} {
		sm, other := results[pair[0]], results[pair[1]]
		if len(sm) == 0 || len(other) != len(sm) {
			continue
		}
		ratios := make([]float64, len(sm))
		for i := range sm {
			ratios[i] = sm[i].txnPerSec / other[i].txnPerSec
		}
		fmt.Printf("%s / %s, median of the runs' ratios: %.2f\n", pair[0], pair[1], median(ratios))
	}
	reportRequests(results, variants)
	if idem != nil {
		fmt.Printf("\nIdempotence on samsa, %d records of %d bytes, acks=all, %d pairs of runs (medians):\n\n", o.idemRecords, o.size, o.idemRuns)
		fmt.Println("| producer | records/s | broker CPU s per million records |")
		fmt.Println("|---|---|---|")
		fmt.Printf("| not idempotent | %.0f | %.2f |\n", idem.plain, idem.cpuPlain)
		fmt.Printf("| idempotent | %.0f | %.2f |\n", idem.idempotent, idem.cpuIdempotent)
		fmt.Printf("\nidempotent/not idempotent throughput, median of the pairs: %.3f (idempotence costs %.1f%%)\n", idem.ratio, 100*(1-idem.ratio))
	}
}

// reportRequests prints the client's time in each kind of request per
// transaction (write to response read), the median over the runs.
func reportRequests(results map[string][]txnResult, variants []string) {
	keys := map[int16]bool{}
	for _, rs := range results {
		for _, r := range rs {
			for k := range r.requestUs {
				keys[k] = true
			}
		}
	}
	sorted := slices.Sorted(maps.Keys(keys))
	fmt.Print("\nRequest round trips, µs per transaction:\n\n| request |")
	var shown []string
	for _, v := range variants {
		if len(results[v]) > 0 {
			shown = append(shown, v)
			fmt.Printf(" %s |", v)
		}
	}
	fmt.Print("\n|---|" + strings.Repeat("---|", len(shown)) + "\n")
	for _, k := range sorted {
		fmt.Printf("| %s |", kmsg.NameForKey(k))
		for _, v := range shown {
			xs := make([]float64, len(results[v]))
			for i, r := range results[v] {
				xs[i] = r.requestUs[k]
			}
			fmt.Printf(" %.0f |", median(xs))
		}
		fmt.Println()
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "txnbench: "+format+"\n", args...)
}
