package main

// samsa perf produce: kafka-producer-perf-test.sh. Sends --num-records
// records as fast as allowed, measures each one's latency from Send to
// acknowledgement and prints Kafka's progress and summary lines.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

// perfReportInterval is how often perf produce prints a progress line
// (Kafka's perf test reports every 5 seconds); a variable for tests.
var perfReportInterval = 5 * time.Second

// maxLatencySamples bounds the latencies kept for the percentiles, as
// Kafka's perf test keeps every n-th one so that at most 500,000 remain.
const maxLatencySamples = 500000

// defaultPerfTransactionalID is Kafka's transactional.id for a run given
// --transaction-duration-ms without --transactional-id.
const defaultPerfTransactionalID = "performance-producer-default-transactional-id"

type perfProduceOptions struct {
	conn             connFlags
	topic            string
	numRecords       int64
	recordSize       int
	payloadFile      string
	payloadDelimiter string
	payloadMonotonic bool
	throughput       float64
	producerProps    []string
	producerFile     string
	transactionalID  string
	txnDurationMs    int64
	printMetrics     bool
}

const perfProduceLong = `Send records and report throughput and latency, as
kafka-producer-perf-test.sh does.

The payload is --record-size random bytes (the same for every record), one
of the payloads in --payload-file (split at --payload-delimiter, picked at
random per record), or with --payload-monotonic the record's number. Keys
are null. --throughput caps the rate in records per second (-1: as fast as
the producer goes). --producer-props and --producer.config take the Java
producer's settings; Kafka's form "--producer-props acks=1 linger.ms=5" with
several settings after one flag works too. --transactional-id (or
--transaction-duration-ms alone) sends in transactions committed every
--transaction-duration-ms.

Every 5 seconds a line reports that window:
  N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency.
and at the end the whole run, latency measured from send to acknowledgement,
percentiles over a sample of at most 500,000 records:
  N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th.
MB are 1024*1024 bytes, as in Kafka. Records that fail are reported on
stderr and make the exit status 1.`

const perfProduceExample = `  samsa perf produce --topic perf --num-records 1000000 --record-size 100 --throughput -1
  samsa perf produce --topic perf --num-records 100000 --record-size 1000 --throughput 5000 --producer-props acks=1 linger.ms=10
  samsa perf produce --topic perf --num-records 10000 --payload-file payloads.txt --throughput -1 --print-metrics
  samsa perf produce --topic perf --num-records 100000 --record-size 100 --throughput -1 --transactional-id perf-txn`

func perfProduceCommand() *cobra.Command {
	var o perfProduceOptions
	cmd := &cobra.Command{
		Use:     "produce",
		Short:   "Measure producer throughput and latency (kafka-producer-perf-test.sh)",
		Long:    perfProduceLong,
		Example: perfProduceExample,
		Args:    cobra.ArbitraryArgs, // Kafka's --producer-props k=v k=v
		RunE:    func(cmd *cobra.Command, args []string) error { return runPerfProduce(cmd, &o, args) },
	}
	addConnFlags(cmd, &o.conn)
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to produce to (required)")
	f.Int64Var(&o.numRecords, "num-records", 0, "number of records to send (required)")
	f.IntVar(&o.recordSize, "record-size", 0, "bytes per record; one of --record-size, --payload-file, --payload-monotonic is required")
	f.StringVar(&o.payloadFile, "payload-file", "", "file of payloads, separated by --payload-delimiter; each record takes one at random")
	f.StringVar(&o.payloadDelimiter, "payload-delimiter", `\n`, `separator of the payloads in --payload-file (\n, \t and \r are understood)`)
	f.BoolVar(&o.payloadMonotonic, "payload-monotonic", false, "the payload of record i is i, in decimal")
	f.Float64Var(&o.throughput, "throughput", -1, "maximum records per second; -1 for no limit")
	f.StringArrayVar(&o.producerProps, "producer-props", nil, "producer setting key=value with the Java client's name (repeatable; also several values after one flag)")
	f.StringVar(&o.producerFile, "producer.config", "", "file of producer settings (Java .properties syntax)")
	f.StringVar(&o.transactionalID, "transactional-id", "", "send in transactions with this transactional.id")
	f.Int64Var(&o.txnDurationMs, "transaction-duration-ms", 0, "commit the transaction after this many milliseconds (default 3000 with --transactional-id)")
	f.BoolVar(&o.printMetrics, "print-metrics", false, "print the producer's metrics at the end")
	return cmd
}

// check validates the flags; the settings after --producer-props come as
// args.
func (o *perfProduceOptions) check(cmd *cobra.Command, args []string) error {
	flags := cmd.Flags()
	payloads := 0
	for _, name := range []string{"record-size", "payload-file", "payload-monotonic"} {
		if flags.Changed(name) {
			payloads++
		}
	}
	switch {
	case o.topic == "":
		return usagef("--topic is required")
	case !flags.Changed("num-records"):
		return usagef("--num-records is required")
	case o.numRecords <= 0:
		return usagef("--num-records %d: must be positive", o.numRecords)
	case payloads != 1:
		return usagef("exactly one of --record-size, --payload-file and --payload-monotonic is required")
	case flags.Changed("record-size") && o.recordSize <= 0:
		return usagef("--record-size %d: must be positive", o.recordSize)
	case o.throughput == 0:
		return usagef("--throughput 0 would send nothing: give a positive rate, or -1 for no limit")
	case flags.Changed("transaction-duration-ms") && o.txnDurationMs <= 0:
		return usagef("--transaction-duration-ms %d: must be positive", o.txnDurationMs)
	case len(args) > 0 && !flags.Changed("producer-props"):
		return usagef("unexpected arguments %q (settings go after --producer-props)", args)
	}
	for _, a := range args {
		if !strings.Contains(a, "=") {
			return usagef("unexpected argument %q: --producer-props takes key=value", a)
		}
	}
	if o.transactionalID == "" && flags.Changed("transaction-duration-ms") {
		o.transactionalID = defaultPerfTransactionalID
	}
	if o.transactionalID != "" && o.txnDurationMs == 0 {
		o.txnDurationMs = 3000
	}
	return nil
}

// settings merges the producer settings of the flags.
func (o *perfProduceOptions) settings(cmd *cobra.Command, args []string) (kafka.Config, error) {
	props, err := parseKeyValues("--producer-props", append(slices.Clone(o.producerProps), args...))
	if err != nil {
		return nil, err
	}
	cfg, err := clientSettings(cmd, &o.conn, nonEmpty(o.producerFile), props)
	if err != nil {
		return nil, err
	}
	if o.transactionalID != "" {
		cfg["transactional.id"] = o.transactionalID
	}
	if _, ok := cfg["client.id"]; !ok {
		cfg["client.id"] = "perf-producer-client"
	}
	return cfg, nil
}

// payloads returns the record values to choose from, or nil when each
// record's value is made from its number.
func (o *perfProduceOptions) payloads() ([][]byte, error) {
	switch {
	case o.payloadMonotonic:
		return nil, nil
	case o.recordSize > 0:
		// Random capital letters, as Kafka's perf test, so that
		// compression has something realistic to do.
		p := make([]byte, o.recordSize)
		for i := range p {
			p[i] = byte('A' + rand.IntN(26))
		}
		return [][]byte{p}, nil
	}
	data, err := os.ReadFile(o.payloadFile)
	if err != nil {
		return nil, usageErr(fmt.Errorf("--payload-file: %w", err))
	}
	delim := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\r`, "\r").Replace(o.payloadDelimiter)
	if delim == "" {
		return nil, usagef("--payload-delimiter is empty")
	}
	ps := bytes.Split(data, []byte(delim))
	for len(ps) > 0 && len(ps[len(ps)-1]) == 0 {
		ps = ps[:len(ps)-1] // a trailing delimiter ends the last payload
	}
	if len(ps) == 0 {
		return nil, usagef("--payload-file %s holds no payload", o.payloadFile)
	}
	return ps, nil
}

func runPerfProduce(cmd *cobra.Command, o *perfProduceOptions, args []string) error {
	if err := o.check(cmd, args); err != nil {
		return err
	}
	cfg, err := o.settings(cmd, args)
	if err != nil {
		return err
	}
	payloads, err := o.payloads()
	if err != nil {
		return err
	}
	p, err := kafka.NewProducer(cfg, kafka.ByteArraySerializer{}, kafka.ByteArraySerializer{}, kafka.WithLogger(toolLogger(cmd)))
	if err != nil {
		return clientConfigErr(err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Closing and flushing still run after Ctrl-C, to report on what was
	// sent.
	finish := context.WithoutCancel(cmd.Context())

	out := &lockedWriter{w: cmd.OutOrStdout()}
	stats := newPerfStats(o.numRecords, &lockedWriter{w: cmd.ErrOrStderr()})
	sendErr := o.send(ctx, p, payloads, stats, out)

	err = p.Flush(finish)
	stats.stopReports()
	out.printf("%s\n", stats.total())
	if o.printMetrics {
		printMetrics(out, p.Metrics())
	}
	err = errors.Join(sendErr, err, p.Close(finish))
	if failed := stats.failed(); failed > 0 {
		err = errors.Join(err, fmt.Errorf("%d records failed", failed))
	}
	return err
}

// send sends the records, reporting progress on out every
// perfReportInterval, until they are all sent or ctx ends.
func (o *perfProduceOptions) send(ctx context.Context, p *kafka.Producer[[]byte, []byte], payloads [][]byte, stats *perfStats, out *lockedWriter) error {
	txn := o.transactionalID != ""
	if txn {
		if err := p.InitTransactions(ctx); err != nil {
			return fmt.Errorf("initializing transactions of %s: %w", o.transactionalID, err)
		}
	}
	stats.startReports(out)
	thr := newThrottle(o.throughput)
	thr.start = stats.start
	txnDuration := time.Duration(o.txnDurationMs) * time.Millisecond
	var txnStart time.Time
	inTxn := false
	for i := int64(0); i < o.numRecords && ctx.Err() == nil; i++ {
		thr.wait(i)
		if txn && !inTxn {
			if err := p.BeginTransaction(); err != nil {
				return err
			}
			inTxn, txnStart = true, time.Now()
		}
		var value []byte
		switch {
		case payloads == nil:
			value = strconv.AppendInt(nil, i, 10)
		case len(payloads) == 1:
			value = payloads[0]
		default:
			value = payloads[rand.IntN(len(payloads))]
		}
		sendStart := time.Now()
		size := len(value)
		p.SendWithCallback(ctx, kafka.ProducerRecord[[]byte, []byte]{Topic: o.topic, Value: value},
			func(_ kafka.RecordMetadata, err error) { stats.completed(i, sendStart, size, err) })
		if inTxn && time.Since(txnStart) >= txnDuration {
			if err := p.CommitTransaction(ctx); err != nil {
				return fmt.Errorf("committing a transaction: %w", err)
			}
			inTxn = false
		}
	}
	if inTxn {
		if err := p.CommitTransaction(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("committing a transaction: %w", err)
		}
	}
	return nil
}

// perfStats are the measurements of perf produce (Kafka's
// ProducerPerformance.Stats). completed runs on the producer's
// goroutines, the reports on their own; mu guards everything below it.
type perfStats struct {
	start    time.Time
	sampling int64 // keep the latency of every sampling-th record
	stderr   *lockedWriter

	mu                       sync.Mutex
	count, bytes             int64
	totalLatency, maxLatency int64 // milliseconds
	latencies                []int32
	errors                   int64

	winStart                       time.Time
	winCount, winBytes             int64
	winTotalLatency, winMaxLatency int64

	stopReports func()
}

func newPerfStats(numRecords int64, stderr *lockedWriter) *perfStats {
	sampling := numRecords / min(numRecords, maxLatencySamples)
	now := time.Now()
	return &perfStats{
		start:       now,
		winStart:    now,
		sampling:    sampling,
		stderr:      stderr,
		latencies:   make([]int32, 0, numRecords/sampling+1),
		stopReports: func() {},
	}
}

// completed records the outcome of record i, sent at sendStart.
func (s *perfStats) completed(i int64, sendStart time.Time, size int, err error) {
	if err != nil {
		s.mu.Lock()
		s.errors++
		report := s.errors <= maxReportedFailures
		s.mu.Unlock()
		if report {
			s.stderr.printf("samsa: record %d failed: %v\n", i, err)
		}
		return
	}
	latency := time.Since(sendStart).Milliseconds()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	s.bytes += int64(size)
	s.totalLatency += latency
	s.maxLatency = max(s.maxLatency, latency)
	s.winCount++
	s.winBytes += int64(size)
	s.winTotalLatency += latency
	s.winMaxLatency = max(s.winMaxLatency, latency)
	if i%s.sampling == 0 && len(s.latencies) < cap(s.latencies) {
		s.latencies = append(s.latencies, int32(min(latency, 1<<31-1)))
	}
}

func (s *perfStats) failed() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errors
}

// startReports prints a progress line on out every perfReportInterval
// until stopReports.
func (s *perfStats) startReports(out *lockedWriter) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(perfReportInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				out.printf("%s\n", s.window())
			}
		}
	}()
	s.stopReports = func() { close(done); wg.Wait() }
}

// window returns the progress line of the window now ending and starts
// the next.
func (s *perfStats) window() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	elapsedMs := float64(now.Sub(s.winStart).Microseconds()) / 1000
	avg := 0.0
	if s.winCount > 0 {
		avg = float64(s.winTotalLatency) / float64(s.winCount)
	}
	line := fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.",
		s.winCount, 1000*float64(s.winCount)/elapsedMs, 1000*float64(s.winBytes)/elapsedMs/mb, avg, float64(s.winMaxLatency))
	s.winStart = now
	s.winCount, s.winBytes, s.winTotalLatency, s.winMaxLatency = 0, 0, 0, 0
	return line
}

// total returns the summary line of the run, in Kafka's format.
func (s *perfStats) total() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	elapsedMs := float64(time.Since(s.start).Microseconds()) / 1000
	avg := 0.0
	if s.count > 0 {
		avg = float64(s.totalLatency) / float64(s.count)
	}
	p := percentiles(s.latencies, 0.5, 0.95, 0.99, 0.999)
	return fmt.Sprintf("%d records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "+
		"%d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.",
		s.count, 1000*float64(s.count)/elapsedMs, 1000*float64(s.bytes)/elapsedMs/mb, avg, float64(s.maxLatency),
		p[0], p[1], p[2], p[3])
}

// percentiles sorts the samples and returns the value at each fraction
// qs of them, 0 when there are none.
// REQUIRES: the caller owns samples (it is sorted in place).
func percentiles(samples []int32, qs ...float64) []int32 {
	slices.Sort(samples)
	out := make([]int32, len(qs))
	if len(samples) == 0 {
		return out
	}
	for i, q := range qs {
		out[i] = samples[min(int(q*float64(len(samples))), len(samples)-1)]
	}
	return out
}
