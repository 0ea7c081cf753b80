package main

// samsa perf consume: kafka-consumer-perf-test.sh. Reads --messages
// records in a consumer group and prints Kafka's CSV summary.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

// perfConsumeHeader is the CSV header of kafka-consumer-perf-test.sh; with
// --show-detailed-stats the first two columns are time and threadId.
const (
	perfConsumeHeader         = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec"
	perfConsumeDetailedHeader = "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec"
	perfConsumeFetchColumns   = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
)

type perfConsumeOptions struct {
	conn              connFlags
	topic             string
	messages          int64
	group             string
	fromLatest        bool
	fetchSize         int
	socketBufferSize  int
	timeoutMs         int64
	consumerFile      string
	showDetailedStats bool
	reportingMs       int64
	hideHeader        bool
	dateFormat        string
	printMetrics      bool
}

const perfConsumeLong = `Read records and report throughput, as kafka-consumer-perf-test.sh does.

The consumer joins --group (default perf-consumer-<random>), subscribes to
--topic and reads from the start of the log (--from-latest: the end) until it
has read --messages records, or until no record arrived for --timeout
milliseconds, which is an error. It then prints Kafka's CSV line:
  start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
where rebalance.time.ms is the time spent joining the group and the fetch
columns leave it out; MB are 1024*1024 bytes of keys and values. With
--show-detailed-stats a line per --reporting-interval reports that interval
instead (time, threadId, ...), and a last line the rest. --date-format takes a Java SimpleDateFormat
pattern.`

const perfConsumeExample = `  samsa perf consume --topic perf --messages 1000000
  samsa perf consume --topic perf --messages 1000000 --show-detailed-stats --reporting-interval 1000
  samsa perf consume --topic perf --messages 100000 --group bench --fetch-size 4194304 --hide-header`

func perfConsumeCommand() *cobra.Command {
	var o perfConsumeOptions
	cmd := &cobra.Command{
		Use:     "consume",
		Short:   "Measure consumer throughput (kafka-consumer-perf-test.sh)",
		Long:    perfConsumeLong,
		Example: perfConsumeExample,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runPerfConsume(cmd, &o) },
	}
	addConnFlags(cmd, &o.conn)
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to consume (required)")
	f.Int64Var(&o.messages, "messages", 0, "number of records to read (required)")
	f.StringVar(&o.group, "group", "", "consumer group id (default perf-consumer-<random>)")
	f.BoolVar(&o.fromLatest, "from-latest", false, "start at the end of the log when the group has no committed offset, rather than the start")
	f.IntVar(&o.fetchSize, "fetch-size", 1024*1024, "bytes fetched per partition per request (max.partition.fetch.bytes)")
	f.IntVar(&o.socketBufferSize, "socket-buffer-size", 2*1024*1024, "socket receive buffer in bytes (receive.buffer.bytes)")
	f.Int64Var(&o.timeoutMs, "timeout", 10000, "fail if no record arrives for this many milliseconds")
	f.StringVar(&o.consumerFile, "consumer.config", "", "file of consumer settings (Java .properties syntax)")
	f.BoolVar(&o.showDetailedStats, "show-detailed-stats", false, "print a line per --reporting-interval instead of the summary")
	f.Int64Var(&o.reportingMs, "reporting-interval", 5000, "milliseconds between lines of --show-detailed-stats")
	f.BoolVar(&o.hideHeader, "hide-header", false, "do not print the CSV header")
	f.StringVar(&o.dateFormat, "date-format", "yyyy-MM-dd HH:mm:ss:SSS", "format of the times, a Java SimpleDateFormat pattern")
	f.BoolVar(&o.printMetrics, "print-metrics", false, "print the consumer's metrics at the end")
	return cmd
}

func (o *perfConsumeOptions) check(cmd *cobra.Command) error {
	switch {
	case o.topic == "":
		return usagef("--topic is required")
	case !cmd.Flags().Changed("messages"):
		return usagef("--messages is required")
	case o.messages <= 0:
		return usagef("--messages %d: must be positive", o.messages)
	case o.fetchSize <= 0 || o.socketBufferSize <= 0:
		return usagef("--fetch-size and --socket-buffer-size must be positive")
	case o.timeoutMs <= 0:
		return usagef("--timeout %d: must be positive", o.timeoutMs)
	case o.reportingMs <= 0:
		return usagef("--reporting-interval %d: must be positive", o.reportingMs)
	}
	if o.group == "" {
		o.group = "perf-consumer-" + strconv.Itoa(rand.IntN(100000))
	}
	return nil
}

// settings are Kafka's perf consumer's: its group, fetch size, socket
// buffer and reset policy over the file's settings, CRC checks off.
func (o *perfConsumeOptions) settings(cmd *cobra.Command) (kafka.Config, error) {
	cfg, err := clientSettings(cmd, &o.conn, nonEmpty(o.consumerFile), nil)
	if err != nil {
		return nil, err
	}
	cfg["group.id"] = o.group
	cfg["max.partition.fetch.bytes"] = strconv.Itoa(o.fetchSize)
	cfg["receive.buffer.bytes"] = strconv.Itoa(o.socketBufferSize)
	cfg["auto.offset.reset"] = "earliest"
	if o.fromLatest {
		cfg["auto.offset.reset"] = "latest"
	}
	cfg["check.crcs"] = "false"
	if _, ok := cfg["client.id"]; !ok {
		cfg["client.id"] = "perf-consumer-client"
	}
	return cfg, nil
}

func runPerfConsume(cmd *cobra.Command, o *perfConsumeOptions) error {
	if err := o.check(cmd); err != nil {
		return err
	}
	format, err := javaDateFormat(o.dateFormat)
	if err != nil {
		return usageErr(fmt.Errorf("--date-format: %w", err))
	}
	cfg, err := o.settings(cmd)
	if err != nil {
		return err
	}
	c, err := kafka.NewConsumer(cfg, kafka.ByteArrayDeserializer{}, kafka.ByteArrayDeserializer{}, kafka.WithLogger(toolLogger(cmd)))
	if err != nil {
		return clientConfigErr(err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()
	if !o.hideHeader {
		header := perfConsumeHeader
		if o.showDetailedStats {
			header = perfConsumeDetailedHeader
		}
		fmt.Fprintln(out, header+perfConsumeFetchColumns)
	}
	r := &perfReader{c: c, o: o, out: out, stderr: cmd.ErrOrStderr(), format: format}
	r.start = time.Now()
	r.joinStart = r.start
	err = c.Subscribe([]string{o.topic}, kafka.RebalanceListenerFuncs{
		Revoked:  func([]kafka.TopicPartition) { r.rebalancing(true) },
		Assigned: func([]kafka.TopicPartition) { r.rebalancing(false) },
	})
	if err == nil {
		err = r.read(ctx)
	}
	end := time.Now()
	switch {
	case !o.showDetailedStats:
		r.summary(end)
	case r.messages > r.lastMessage:
		r.detail(end) // the last, partial interval
	}
	if o.printMetrics {
		printMetrics(out, c.Metrics())
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 10*time.Second)
	defer cancel()
	if cerr := c.Close(cctx); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
		err = errors.Join(err, fmt.Errorf("closing the consumer: %w", cerr))
	}
	return err
}

// perfReader reads and measures (Kafka's ConsumerPerformance.consume).
// Poll runs the rebalance listener on the reading goroutine, so one
// goroutine owns all of it.
type perfReader struct {
	c      *kafka.Consumer[[]byte, []byte]
	o      *perfConsumeOptions
	out    io.Writer
	stderr io.Writer
	format func(time.Time) string

	start       time.Time
	joinStart   time.Time
	joinTime    time.Duration // in rebalances since start
	messages    int64
	bytes       int64
	lastReport  time.Time
	lastJoin    time.Duration
	lastBytes   int64
	lastMessage int64

	// mu guards messages between the reading goroutine, which alone
	// writes it, and the progress line's.
	mu sync.Mutex
}

// rebalancing notes the start (revoked) or end (assigned) of a rebalance;
// the time between counts as rebalance.time.ms.
func (r *perfReader) rebalancing(started bool) {
	if started {
		r.joinStart = time.Now()
		return
	}
	r.joinTime += time.Since(r.joinStart)
}

// read polls until --messages records, --timeout without one, or ctx.
func (r *perfReader) read(ctx context.Context) error {
	timeout := time.Duration(r.o.timeoutMs) * time.Millisecond
	interval := time.Duration(r.o.reportingMs) * time.Millisecond
	lastConsumed := time.Now()
	r.lastReport = r.start
	prog := startProgress(r.stderr, func() string {
		r.mu.Lock()
		defer r.mu.Unlock()
		return fmt.Sprintf("%d of %d records read", r.messages, r.o.messages)
	})
	defer prog.stop()
	for r.messages < r.o.messages {
		pctx, cancel := context.WithDeadline(ctx, lastConsumed.Add(timeout))
		recs, err := r.c.Poll(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil // Ctrl-C: report what was read
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		now := time.Now()
		if recs.IsEmpty() {
			if now.Sub(lastConsumed) >= timeout {
				return fmt.Errorf("exiting before consuming the expected number of messages: timeout (%d ms) exceeded after %d of %d; --timeout sets it",
					r.o.timeoutMs, r.messages, r.o.messages)
			}
			continue
		}
		lastConsumed = now
		r.mu.Lock()
		for _, rec := range recs.All() {
			if r.messages >= r.o.messages {
				break
			}
			r.messages++
			r.bytes += int64(max(rec.SerializedKeySize, 0) + max(rec.SerializedValueSize, 0))
		}
		r.mu.Unlock()
		if r.o.showDetailedStats && now.Sub(r.lastReport) >= interval {
			r.detail(now)
		}
	}
	return nil
}

// detail prints the line of --show-detailed-stats for the interval since
// the last one.
func (r *perfReader) detail(now time.Time) {
	elapsed := now.Sub(r.lastReport)
	join := r.joinTime - r.lastJoin
	fetch := elapsed - join
	intervalMB := float64(r.bytes-r.lastBytes) / mb
	intervalMsgs := float64(r.messages - r.lastMessage)
	fetchMBs, fetchMsgs := 0.0, 0.0
	if fetch > 0 {
		fetchMBs, fetchMsgs = intervalMB/fetch.Seconds(), intervalMsgs/fetch.Seconds()
	}
	fmt.Fprintf(r.out, "%s, %d, %.4f, %.4f, %d, %.4f, %d, %d, %.4f, %.4f\n",
		r.format(now), 0, float64(r.bytes)/mb, intervalMB/elapsed.Seconds(), r.messages, intervalMsgs/elapsed.Seconds(),
		join.Milliseconds(), fetch.Milliseconds(), fetchMBs, fetchMsgs)
	r.lastReport, r.lastJoin, r.lastBytes, r.lastMessage = now, r.joinTime, r.bytes, r.messages
}

// summary prints the CSV line of the whole run.
func (r *perfReader) summary(end time.Time) {
	elapsed := end.Sub(r.start).Seconds()
	fetch := end.Sub(r.start) - r.joinTime
	totalMB := float64(r.bytes) / mb
	fetchMBs, fetchMsgs := 0.0, 0.0
	if fetch > 0 {
		fetchMBs, fetchMsgs = totalMB/fetch.Seconds(), float64(r.messages)/fetch.Seconds()
	}
	fmt.Fprintf(r.out, "%s, %s, %.4f, %.4f, %d, %.4f, %d, %d, %.4f, %.4f\n",
		r.format(r.start), r.format(end), totalMB, totalMB/elapsed, r.messages, float64(r.messages)/elapsed,
		r.joinTime.Milliseconds(), fetch.Milliseconds(), fetchMBs, fetchMsgs)
}
