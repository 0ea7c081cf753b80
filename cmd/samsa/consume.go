package main

// samsa consume: Kafka's console consumer, printing records as its
// DefaultMessageFormatter does, or as JSON lines.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

func init() { extraCommands = append(extraCommands, consumeCommand) }

// commitInterval is how often a console consumer in a group commits what
// it printed, besides at exit (the Java consumer's auto.commit.interval.ms
// default).
const commitInterval = 5 * time.Second

type consumeOptions struct {
	conn          connFlags
	topic         string
	group         string
	fromBeginning bool
	partition     int32
	offset        string
	maxMessages   int
	timeoutMs     int
	isolation     string
	formatterName string
	properties    []string
	consumerProps []string
	consumerFile  string

	// Short forms of the print.* properties.
	printKey, printPartition, printOffset, printTimestamp, printHeaders bool
}

const consumeLong = `Print the records of a topic, one per line, as kafka-console-consumer.sh does.

Without --group every partition of the topic is read directly (no consumer
group, nothing committed), from the end, or from the start with
--from-beginning. --partition with --offset earliest|latest|N reads one
partition from that offset. With --group the consumer joins the group,
starts where the group left off (else at the end, or at the start with
--from-beginning), and commits what it printed every 5 seconds and when it
exits, also on Ctrl-C.

The output is the value; --property print.key=true (print.partition,
print.offset, print.timestamp, print.headers, print.value=false) adds
columns in Kafka's order, separated by key.separator (default a tab), e.g.
  CreateTime:1700000000000	Partition:0	Offset:5	key	value
Other properties: line.separator, headers.separator, headers.key.separator,
null.literal.

--formatter picks the output: default (Kafka's DefaultMessageFormatter, also
accepted by its class names kafka.tools.DefaultMessageFormatter and
org.apache.kafka.tools.consumer.DefaultMessageFormatter), json (one JSON
object per record: topic, partition, offset, timestamp, timestampType, key,
value, headers; a key or value that is not UTF-8 is base64 with
keyEncoding/valueEncoding "base64") or noop (prints nothing; also
NoOpMessageFormatter's class names).

The command ends after --max-messages records, after --timeout-ms without a
record, or on Ctrl-C (SIGINT, SIGTERM), and prints "Processed a total of N
messages" on stderr.`

const consumeExample = `  samsa consume --topic orders --from-beginning
  samsa consume --topic orders --group billing --max-messages 10
  samsa consume --topic orders --partition 1 --offset 42 --property print.key=true --property print.offset=true
  samsa consume --topic orders --from-beginning --formatter json --timeout-ms 5000
  samsa consume --topic orders --isolation-level read_committed --consumer-property fetch.max.wait.ms=100`

func consumeCommand() *cobra.Command {
	var o consumeOptions
	cmd := &cobra.Command{
		Use:     "consume",
		Short:   "Print the records of a topic, one per line (kafka-console-consumer.sh)",
		Long:    consumeLong,
		Example: consumeExample,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runConsume(cmd, &o) },
	}
	addConnFlags(cmd, &o.conn)
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to consume (required)")
	f.StringVar(&o.group, "group", "", "consumer group id: join the group and commit what was printed")
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the earliest offset when there is no committed one, rather than the end")
	f.Int32Var(&o.partition, "partition", 0, "consume only this partition")
	f.StringVar(&o.offset, "offset", "latest", "with --partition: earliest, latest or an offset")
	f.IntVar(&o.maxMessages, "max-messages", 0, "exit after this many records (default: no limit)")
	f.IntVar(&o.timeoutMs, "timeout-ms", 0, "exit if no record arrives for this many milliseconds (default: wait forever)")
	f.StringVar(&o.isolation, "isolation-level", "read_uncommitted", "read_committed to skip aborted transactions and stop at open ones, or read_uncommitted")
	f.StringVar(&o.formatterName, "formatter", "default", "output format: default, json or noop (or Kafka's formatter class names)")
	f.StringArrayVar(&o.properties, "property", nil, "formatter property key=value (repeatable), e.g. print.key=true")
	f.StringArrayVar(&o.consumerProps, "consumer-property", nil, "consumer setting key=value with the Java client's name (repeatable)")
	f.StringVar(&o.consumerFile, "consumer.config", "", "file of consumer settings (Java .properties syntax)")
	f.BoolVar(&o.printKey, "print-key", false, "same as --property print.key=true")
	f.BoolVar(&o.printPartition, "print-partition", false, "same as --property print.partition=true")
	f.BoolVar(&o.printOffset, "print-offset", false, "same as --property print.offset=true")
	f.BoolVar(&o.printTimestamp, "print-timestamp", false, "same as --property print.timestamp=true")
	f.BoolVar(&o.printHeaders, "print-headers", false, "same as --property print.headers=true")
	return cmd
}

// startAt is where a partition read without a group starts.
type startAt struct {
	earliest, latest bool
	offset           int64
}

// check validates the flag combination and returns where --partition
// starts.
func (o *consumeOptions) check(cmd *cobra.Command) (startAt, error) {
	flags := cmd.Flags()
	start := startAt{latest: true}
	if o.fromBeginning {
		start = startAt{earliest: true}
	}
	switch {
	case o.topic == "":
		return start, usagef("--topic is required")
	case o.maxMessages < 0 || o.timeoutMs < 0:
		return start, usagef("--max-messages and --timeout-ms cannot be negative")
	case o.isolation != "read_committed" && o.isolation != "read_uncommitted":
		return start, usagef("--isolation-level %q: expected read_committed or read_uncommitted", o.isolation)
	case flags.Changed("offset") && !flags.Changed("partition"):
		return start, usagef("--offset needs --partition")
	case flags.Changed("offset") && o.fromBeginning:
		return start, usagef("--from-beginning and --offset cannot be used together")
	case o.group != "" && flags.Changed("partition"):
		return start, usagef("--group and --partition cannot be used together")
	case flags.Changed("partition") && o.partition < 0:
		return start, usagef("--partition %d: cannot be negative", o.partition)
	}
	if flags.Changed("offset") {
		switch o.offset {
		case "earliest":
			start = startAt{earliest: true}
		case "latest":
			start = startAt{latest: true}
		default:
			n, err := strconv.ParseInt(o.offset, 10, 64)
			if err != nil || n < 0 {
				return start, usagef("--offset %q: expected earliest, latest or a non-negative offset", o.offset)
			}
			start = startAt{offset: n}
		}
	}
	return start, nil
}

// settings merges the consumer settings of the flags.
func (o *consumeOptions) settings() (kafka.Config, error) {
	props, err := parseKeyValues("--consumer-property", o.consumerProps)
	if err != nil {
		return nil, err
	}
	var files []string
	if o.consumerFile != "" {
		files = append(files, o.consumerFile)
	}
	cfg, err := o.conn.config(files, props)
	if err != nil {
		return nil, err
	}
	cfg["isolation.level"] = o.isolation
	if _, ok := cfg["auto.offset.reset"]; !ok || o.fromBeginning {
		cfg["auto.offset.reset"] = "latest"
		if o.fromBeginning {
			cfg["auto.offset.reset"] = "earliest"
		}
	}
	if o.group != "" {
		if g, ok := cfg["group.id"]; ok && g != o.group {
			return nil, usagef("--group %s and group.id=%s disagree", o.group, g)
		}
		cfg["group.id"] = o.group
	}
	if _, ok := cfg["enable.auto.commit"]; !ok {
		// What was printed is committed explicitly, so that records
		// fetched past --max-messages are not.
		cfg["enable.auto.commit"] = "false"
	}
	if _, ok := cfg["client.id"]; !ok {
		cfg["client.id"] = "console-consumer"
	}
	return cfg, nil
}

func runConsume(cmd *cobra.Command, o *consumeOptions) error {
	start, err := o.check(cmd)
	if err != nil {
		return err
	}
	fm, err := o.formatter()
	if err != nil {
		return err
	}
	cfg, err := o.settings()
	if err != nil {
		return err
	}
	c, err := kafka.NewConsumer(cfg, kafka.ByteArrayDeserializer{}, kafka.ByteArrayDeserializer{}, kafka.WithLogger(toolLogger(cmd)))
	if err != nil {
		return clientConfigErr(err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cs := &consoleConsumer{c: c, fm: fm, stderr: cmd.ErrOrStderr(), printed: map[kafka.TopicPartition]kafka.OffsetAndMetadata{}}
	prog := startProgress(cmd.ErrOrStderr(), cs.status)
	err = cs.start(ctx, cmd, o, start)
	out := bufio.NewWriter(cmd.OutOrStdout())
	if err == nil {
		err = cs.loop(ctx, out, o.group != "", o.maxMessages, time.Duration(o.timeoutMs)*time.Millisecond)
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	prog.stop()
	// Like Kafka's console consumer, commit what was printed before
	// leaving the group, also after Ctrl-C.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 10*time.Second)
	defer cancel()
	if o.group != "" && len(cs.printed) > 0 {
		if cerr := c.CommitSyncOffsets(cctx, cs.printed); cerr != nil && err == nil {
			err = fmt.Errorf("committing the offsets of group %s: %w", o.group, cerr)
		}
	}
	if cerr := c.Close(cctx); cerr != nil && err == nil {
		err = fmt.Errorf("closing the consumer: %w", cerr)
	}
	// Kafka's console consumer ends with this line on stderr too.
	fmt.Fprintf(cmd.ErrOrStderr(), "Processed a total of %d messages\n", cs.count())
	return err
}

// consoleConsumer prints records and keeps what it printed.
type consoleConsumer struct {
	c      *kafka.Consumer[[]byte, []byte]
	fm     recordFormatter
	stderr interface{ Write([]byte) (int, error) }

	// printed is the offset after the last record printed per partition:
	// what the group commits. Only the polling goroutine uses it.
	printed map[kafka.TopicPartition]kafka.OffsetAndMetadata

	mu sync.Mutex
	n  int // records printed; read by the progress line
}

func (cs *consoleConsumer) count() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.n
}

func (cs *consoleConsumer) status() string {
	return fmt.Sprintf("waiting for records (%d so far)", cs.count())
}

// start subscribes (with a group) or assigns the partitions to read.
func (cs *consoleConsumer) start(ctx context.Context, cmd *cobra.Command, o *consumeOptions, start startAt) error {
	if o.group != "" {
		return cs.c.Subscribe([]string{o.topic}, nil)
	}
	if cmd.Flags().Changed("partition") {
		tp := kafka.TopicPartition{Topic: o.topic, Partition: o.partition}
		if err := cs.c.Assign([]kafka.TopicPartition{tp}); err != nil {
			return err
		}
		switch {
		case start.earliest:
			return cs.c.SeekToBeginning(tp)
		case start.latest:
			return cs.c.SeekToEnd(tp)
		}
		return cs.c.Seek(tp, start.offset)
	}
	parts, err := cs.c.PartitionsFor(ctx, o.topic)
	if err != nil {
		return fmt.Errorf("partitions of topic %s: %w", o.topic, err)
	}
	if len(parts) == 0 {
		return fmt.Errorf("topic %q does not exist", o.topic)
	}
	tps := make([]kafka.TopicPartition, len(parts))
	for i, p := range parts {
		tps[i] = kafka.TopicPartition{Topic: o.topic, Partition: p.Partition}
	}
	return cs.c.Assign(tps)
}

// loop prints records until max records (0: no limit), until timeout
// passes without one (0: no timeout) or until ctx ends (Ctrl-C).
func (cs *consoleConsumer) loop(ctx context.Context, out *bufio.Writer, group bool, max int, timeout time.Duration) error {
	lastCommit := time.Now()
	for max == 0 || cs.count() < max {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			pollCtx, cancel = context.WithTimeout(ctx, timeout)
		}
		recs, err := cs.c.Poll(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		if recs.IsEmpty() && timeout > 0 {
			return nil
		}
		for _, r := range recs.All() {
			if max > 0 && cs.count() >= max {
				break
			}
			cs.fm.write(out, &r)
			cs.printed[kafka.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = kafka.OffsetAndMetadata{Offset: r.Offset + 1}
			cs.mu.Lock()
			cs.n++
			cs.mu.Unlock()
		}
		if err := out.Flush(); err != nil {
			return err
		}
		if group && time.Since(lastCommit) >= commitInterval && len(cs.printed) > 0 {
			lastCommit = time.Now()
			offsets := make(map[kafka.TopicPartition]kafka.OffsetAndMetadata, len(cs.printed))
			for tp, om := range cs.printed {
				offsets[tp] = om
			}
			cs.c.CommitAsyncOffsets(offsets, func(_ map[kafka.TopicPartition]kafka.OffsetAndMetadata, err error) {
				if err != nil && !errors.Is(err, kafka.ErrConsumerClosed) {
					fmt.Fprintf(cs.stderr, "samsa: committing offsets: %v\n", err)
				}
			})
		}
	}
	return nil
}
