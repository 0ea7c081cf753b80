package main

// samsa consume: Kafka's console consumer, printing records as its
// DefaultMessageFormatter does.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { extraCommands = append(extraCommands, consumeCommand) }

type consumeOptions struct {
	bootstrap     string
	topic         string
	group         string
	fromBeginning bool
	partition     int32
	offset        string
	maxMessages   int
	timeoutMs     int
	properties    []string

	// Short forms of the print.* properties.
	printKey, printPartition, printOffset, printTimestamp, printHeaders bool
}

func consumeCommand() *cobra.Command {
	var o consumeOptions
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Print records of a topic, one per line (kafka-console-consumer.sh)",
		Long: `Print records of a topic, one per line, as kafka-console-consumer.sh does.

Without --group every partition of the topic is read directly (no consumer
group, nothing committed), from the end, or from the start with
--from-beginning. --partition with --offset earliest|latest|N reads one
partition from that offset.

The output is the value; --property print.key=true (print.partition,
print.offset, print.timestamp, print.headers, print.value) adds columns in
Kafka's order, separated by key.separator (default a tab), e.g.
  CreateTime:1700000000000	Partition:0	Offset:5	key	value
Other formatter properties: line.separator, headers.separator,
headers.key.separator, null.literal.

The command ends after --max-messages records, after --timeout-ms without a
record, or on Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runConsume(cmd, &o) },
	}
	addBootstrapFlag(cmd, &o.bootstrap)
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to consume (required)")
	f.StringVar(&o.group, "group", "", "consumer group id (needs a broker serving consumer groups)")
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the earliest offset rather than the end")
	f.Int32Var(&o.partition, "partition", 0, "consume only this partition")
	f.StringVar(&o.offset, "offset", "latest", "with --partition: earliest, latest or an offset")
	f.IntVar(&o.maxMessages, "max-messages", 0, "exit after this many records (default: no limit)")
	f.IntVar(&o.timeoutMs, "timeout-ms", 0, "exit if no record arrives for this many milliseconds (default: wait forever)")
	f.StringArrayVar(&o.properties, "property", nil, "formatter property key=value (repeatable), e.g. print.key=true")
	f.BoolVar(&o.printKey, "print-key", false, "same as --property print.key=true")
	f.BoolVar(&o.printPartition, "print-partition", false, "same as --property print.partition=true")
	f.BoolVar(&o.printOffset, "print-offset", false, "same as --property print.offset=true")
	f.BoolVar(&o.printTimestamp, "print-timestamp", false, "same as --property print.timestamp=true")
	f.BoolVar(&o.printHeaders, "print-headers", false, "same as --property print.headers=true")
	return cmd
}

func runConsume(cmd *cobra.Command, o *consumeOptions) error {
	if o.topic == "" {
		return errors.New("--topic is required")
	}
	if o.maxMessages < 0 || o.timeoutMs < 0 {
		return errors.New("--max-messages and --timeout-ms cannot be negative")
	}
	fm, err := o.formatter()
	if err != nil {
		return err
	}
	opts, err := o.clientOpts(cmd)
	if err != nil {
		return err
	}
	cl, err := newClient(o.bootstrap, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.group != "" {
		if err := checkGroupsServed(ctx, cl); err != nil {
			return err
		}
	}
	out := bufio.NewWriter(cmd.OutOrStdout())
	n, err := consumeLoop(ctx, cl, out, fm, o.maxMessages, time.Duration(o.timeoutMs)*time.Millisecond, cmd.ErrOrStderr())
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if o.group != "" {
		// Like Kafka's console consumer, commit what was printed before
		// leaving the group, also after Ctrl-C.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if cerr := cl.CommitUncommittedOffsets(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("committing offsets of group %s: %w", o.group, cerr)
		}
		cancel()
	}
	// Kafka's console consumer ends with this line on stderr too.
	fmt.Fprintf(cmd.ErrOrStderr(), "Processed a total of %d messages\n", n)
	return err
}

// clientOpts chooses what to read and from where: a group, one partition,
// or every partition of the topic directly.
func (o *consumeOptions) clientOpts(cmd *cobra.Command) ([]kgo.Opt, error) {
	flags := cmd.Flags()
	start := kgo.NewOffset().AtEnd()
	if o.fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{
		kgo.FetchMaxWait(500 * time.Millisecond), // the Java fetch.max.wait.ms default
		kgo.ConsumeResetOffset(start),
	}
	switch {
	case flags.Changed("offset") && !flags.Changed("partition"):
		return nil, errors.New("--offset needs --partition")
	case flags.Changed("offset") && o.fromBeginning:
		return nil, errors.New("--from-beginning and --offset cannot be used together")
	case o.group != "" && flags.Changed("partition"):
		return nil, errors.New("--group and --partition cannot be used together")
	case o.group != "":
		return append(opts, kgo.ConsumeTopics(o.topic), kgo.ConsumerGroup(o.group)), nil
	case flags.Changed("partition"):
		if o.partition < 0 {
			return nil, fmt.Errorf("--partition %d: cannot be negative", o.partition)
		}
		if !o.fromBeginning {
			var err error
			if start, err = parseStartOffset(o.offset); err != nil {
				return nil, err
			}
		}
		return append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			o.topic: {o.partition: start},
		})), nil
	default:
		return append(opts, kgo.ConsumeTopics(o.topic)), nil
	}
}

func parseStartOffset(s string) (kgo.Offset, error) {
	switch s {
	case "earliest":
		return kgo.NewOffset().AtStart(), nil
	case "latest":
		return kgo.NewOffset().AtEnd(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return kgo.Offset{}, fmt.Errorf("--offset %q: expected earliest, latest or a non-negative offset", s)
	}
	return kgo.NewOffset().At(n), nil
}

// checkGroupsServed fails early when the broker lacks the group APIs: kgo
// would otherwise retry finding a coordinator until --timeout-ms, with no
// hint why nothing arrives.
func checkGroupsServed(ctx context.Context, cl *kgo.Client) error {
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	served := map[int16]bool{}
	for _, k := range resp.ApiKeys {
		served[k.ApiKey] = true
	}
	for _, k := range []kmsg.Key{kmsg.FindCoordinator, kmsg.JoinGroup, kmsg.SyncGroup, kmsg.OffsetFetch} {
		if !served[int16(k)] {
			return fmt.Errorf("--group: the broker does not serve consumer groups (no %s); without --group the topic is read directly", kmsg.NameForKey(int16(k)))
		}
	}
	return nil
}

// consumeLoop prints records until max records (0: no limit), until
// timeout passes without one (0: no timeout) or until ctx ends. It returns
// how many records it printed.
func consumeLoop(ctx context.Context, cl *kgo.Client, out *bufio.Writer, fm *formatter, max int, timeout time.Duration, stderr io.Writer) (int, error) {
	n := 0
	for max == 0 || n < max {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			pollCtx, cancel = context.WithTimeout(ctx, timeout)
		}
		fs := cl.PollRecords(pollCtx, max-n) // max-n <= 0 polls without a limit
		timedOut := pollCtx.Err() != nil
		cancel()
		if ctx.Err() != nil || fs.IsClientClosed() {
			return n, nil // Ctrl-C
		}
		var fatal error
		fs.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			fmt.Fprintf(stderr, "%s-%d: %v\n", topic, p, err)
			if errors.Is(err, kgo.ErrClientClosed) {
				fatal = err
			}
		})
		if fatal != nil {
			return n, fatal
		}
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			fm.write(out, r)
			got++
		})
		n += got
		if err := out.Flush(); err != nil {
			return n, err
		}
		if got == 0 && timedOut {
			return n, nil
		}
	}
	return n, nil
}

// formatter prints a record as Kafka's DefaultMessageFormatter does:
// timestamp, partition, offset, headers, key, value, each optional, in that
// order, separated by key.separator.
type formatter struct {
	printTimestamp, printPartition, printOffset, printHeaders, printKey, printValue bool

	keySeparator, lineSeparator, headersSeparator, headersKeySeparator, nullLiteral string
}

func (o *consumeOptions) formatter() (*formatter, error) {
	props, err := parseKeyValues("--property", o.properties)
	if err != nil {
		return nil, err
	}
	fm := &formatter{
		printValue:          true,
		keySeparator:        "\t",
		lineSeparator:       "\n",
		headersSeparator:    ",",
		headersKeySeparator: ":",
		nullLiteral:         "null",
	}
	bools := map[string]*bool{
		"print.timestamp": &fm.printTimestamp, "print.partition": &fm.printPartition,
		"print.offset": &fm.printOffset, "print.headers": &fm.printHeaders,
		"print.key": &fm.printKey, "print.value": &fm.printValue,
	}
	strs := map[string]*string{
		"key.separator": &fm.keySeparator, "line.separator": &fm.lineSeparator,
		"headers.separator": &fm.headersSeparator, "headers.key.separator": &fm.headersKeySeparator,
		"null.literal": &fm.nullLiteral,
	}
	known := slices.Sorted(maps.Keys(bools))
	known = append(known, slices.Sorted(maps.Keys(strs))...)
	if err := checkKnown("--property", props, known...); err != nil {
		return nil, err
	}
	for k, v := range props {
		if dst, ok := bools[k]; ok {
			if *dst, err = parseBool(k, v); err != nil {
				return nil, err
			}
		} else {
			*strs[k] = v
		}
	}
	fm.printKey = fm.printKey || o.printKey
	fm.printPartition = fm.printPartition || o.printPartition
	fm.printOffset = fm.printOffset || o.printOffset
	fm.printTimestamp = fm.printTimestamp || o.printTimestamp
	fm.printHeaders = fm.printHeaders || o.printHeaders
	return fm, nil
}

func (f *formatter) write(w *bufio.Writer, r *kgo.Record) {
	// Each column is followed by key.separator when another column comes
	// after it; the last by line.separator. Kafka writes nothing at all
	// for a record when every column is off.
	var cols []string
	if f.printTimestamp {
		switch r.Attrs.TimestampType() {
		case 0:
			cols = append(cols, "CreateTime:"+strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		case 1:
			cols = append(cols, "LogAppendTime:"+strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		default:
			cols = append(cols, "NO_TIMESTAMP")
		}
	}
	if f.printPartition {
		cols = append(cols, "Partition:"+strconv.Itoa(int(r.Partition)))
	}
	if f.printOffset {
		cols = append(cols, "Offset:"+strconv.FormatInt(r.Offset, 10))
	}
	if f.printHeaders {
		cols = append(cols, f.headers(r.Headers))
	}
	if f.printKey {
		cols = append(cols, f.bytes(r.Key))
	}
	if f.printValue {
		cols = append(cols, f.bytes(r.Value))
	}
	for i, c := range cols {
		w.WriteString(c)
		if i < len(cols)-1 {
			w.WriteString(f.keySeparator)
		} else {
			w.WriteString(f.lineSeparator)
		}
	}
}

func (f *formatter) headers(hs []kgo.RecordHeader) string {
	if len(hs) == 0 {
		return "NO_HEADERS"
	}
	var s []byte
	for i, h := range hs {
		if i > 0 {
			s = append(s, f.headersSeparator...)
		}
		s = append(s, h.Key...)
		s = append(s, f.headersKeySeparator...)
		s = append(s, f.bytes(h.Value)...)
	}
	return string(s)
}

// bytes prints a key, value or header value; a null one as null.literal.
func (f *formatter) bytes(b []byte) string {
	if b == nil {
		return f.nullLiteral
	}
	return string(b)
}
