package main

// samsa produce: Kafka's console producer. One record per line of stdin.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() { extraCommands = append(extraCommands, produceCommand) }

// maxLineBytes bounds one line of input; far above any broker's
// message.max.bytes, so only a stream that is not line-oriented hits it.
const maxLineBytes = 64 << 20

// maxReportedFailures bounds the per-record delivery errors printed: when
// the topic is missing every record fails for the same reason, and the
// summary line says how many there were.
const maxReportedFailures = 100

type produceOptions struct {
	bootstrap     string
	topic         string
	properties    []string
	keySeparator  string
	codec         string
	producerProps []string
	sync          bool
}

func produceCommand() *cobra.Command {
	var o produceOptions
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Write stdin to a topic, one record per line (kafka-console-producer.sh)",
		Long: `Write stdin to a topic, one record per line, as kafka-console-producer.sh does.

With --property parse.key=true (separator: --property key.separator, default
a tab) or --key-separator, each line is key<separator>value, split at the
first separator. A line without the separator is reported with its line
number and skipped. The command flushes before it exits (also on Ctrl-C) and
exits non-zero if any line was not produced.

--producer-property takes Java producer settings: acks, enable.idempotence,
linger.ms, batch.size, compression.type, client.id, request.timeout.ms,
delivery.timeout.ms, retries, max.in.flight.requests.per.connection.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runProduce(cmd, &o) },
	}
	addBootstrapFlag(cmd, &o.bootstrap)
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to produce to (required)")
	f.StringArrayVar(&o.properties, "property", nil, "line reader property key=value (repeatable): parse.key, key.separator")
	f.StringVar(&o.keySeparator, "key-separator", "", "lines are key<separator>value (same as --property parse.key=true --property key.separator=...)")
	f.StringVar(&o.codec, "compression-codec", "", "none, gzip, snappy, lz4 or zstd (default none)")
	f.StringArrayVar(&o.producerProps, "producer-property", nil, "producer setting key=value with the Java client's name (repeatable)")
	f.BoolVar(&o.sync, "sync", false, "send each record on its own and wait for its acknowledgement before reading the next line")
	return cmd
}

// lineFormat is how a line becomes a record.
type lineFormat struct {
	parseKey  bool
	separator []byte
}

func (o *produceOptions) lineFormat(changedKeySep bool) (lineFormat, error) {
	props, err := parseKeyValues("--property", o.properties)
	if err != nil {
		return lineFormat{}, err
	}
	if err := checkKnown("--property", props, "parse.key", "key.separator"); err != nil {
		return lineFormat{}, err
	}
	lf := lineFormat{separator: []byte("\t")} // the console producer's default key.separator
	if v, ok := props["parse.key"]; ok {
		if lf.parseKey, err = parseBool("parse.key", v); err != nil {
			return lineFormat{}, err
		}
	}
	if v, ok := props["key.separator"]; ok {
		lf.separator = []byte(v)
	}
	if changedKeySep {
		if v, ok := props["key.separator"]; ok && v != o.keySeparator {
			return lineFormat{}, fmt.Errorf("--key-separator %q and --property key.separator=%q disagree", o.keySeparator, v)
		}
		lf.parseKey, lf.separator = true, []byte(o.keySeparator)
	}
	if lf.parseKey && len(lf.separator) == 0 {
		return lineFormat{}, errors.New("the key separator is empty")
	}
	return lf, nil
}

func runProduce(cmd *cobra.Command, o *produceOptions) error {
	if o.topic == "" {
		return errors.New("--topic is required")
	}
	lf, err := o.lineFormat(cmd.Flags().Changed("key-separator"))
	if err != nil {
		return err
	}
	opts, err := producerOpts(o.codec, o.producerProps)
	if err != nil {
		return err
	}
	opts = append(opts,
		kgo.DefaultProduceTopic(o.topic),
		// The Java producer asks for auto-creation in its metadata requests;
		// the broker's auto.create.topics.enable decides.
		kgo.AllowAutoTopicCreation(),
	)
	cl, err := newClient(o.bootstrap, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	p := &producer{cl: cl, lf: lf, sync: o.sync, stderr: &lockedWriter{w: cmd.ErrOrStderr()}}
	ctx := cmd.Context()
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	readErr := p.readLines(ctx, sigCtx, cmd.InOrStdin())
	// A second Ctrl-C during the flush kills the process the default way.
	stop()
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if readErr != nil {
		return fmt.Errorf("reading stdin after line %d: %w", p.lines, readErr)
	}
	if failed := p.failed(); failed > 0 {
		return fmt.Errorf("%d of %d lines were not produced", failed, p.lines)
	}
	return nil
}

// producer turns lines into records and keeps count of what failed.
type producer struct {
	cl     *kgo.Client
	lf     lineFormat
	sync   bool
	stderr *lockedWriter
	lines  int // lines read so far; written only by readLines

	mu         sync.Mutex
	skipped    int // lines without a key separator
	sendFailed int // records the broker did not take
}

func (p *producer) failed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.skipped + p.sendFailed
}

// line is one line of input and its 1-based number.
type line struct {
	n    int
	text []byte
}

// readLines produces every line of in until EOF or until stop is done
// (Ctrl-C). Records are produced with ctx, not stop, so that what was read
// before Ctrl-C is still delivered by the flush that follows.
func (p *producer) readLines(ctx, stop context.Context, in io.Reader) error {
	// Reading runs on its own goroutine so that Ctrl-C is noticed while a
	// terminal read blocks. It ends at EOF or, once done is closed, after
	// its current read returns; a read from a terminal never returns after
	// Ctrl-C, and that goroutine ends with the process.
	lines := make(chan line)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
		for n := 1; sc.Scan(); n++ {
			select {
			case lines <- line{n: n, text: bytes.Clone(sc.Bytes())}:
			case <-done:
				return
			}
		}
		readErr <- sc.Err()
	}()
	for {
		select {
		case <-stop.Done():
			return nil
		case l, ok := <-lines:
			if !ok {
				return <-readErr
			}
			p.lines = l.n
			p.produceLine(ctx, l)
		}
	}
}

func (p *producer) produceLine(ctx context.Context, l line) {
	rec := &kgo.Record{Value: l.text}
	if p.lf.parseKey {
		key, value, ok := bytes.Cut(l.text, p.lf.separator)
		if !ok {
			p.mu.Lock()
			p.skipped++
			p.mu.Unlock()
			p.stderr.printf("line %d: no key separator %q; skipped\n", l.n, p.lf.separator)
			return
		}
		rec.Key, rec.Value = key, value
	}
	if p.sync {
		p.delivered(l.n, p.cl.ProduceSync(ctx, rec).FirstErr())
		return
	}
	p.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { p.delivered(l.n, err) })
}

// delivered records the outcome of line n's record; it runs on kgo's
// goroutines for asynchronous sends.
func (p *producer) delivered(n int, err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	p.sendFailed++
	report := p.sendFailed <= maxReportedFailures
	p.mu.Unlock()
	if report {
		p.stderr.printf("line %d: not produced: %v\n", n, err)
	}
}

// lockedWriter serialises writes from kgo's callback goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) printf(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fmt.Fprintf(w.w, format, args...)
}

// producerKnownProps are the Java producer settings --producer-property
// understands, mapped onto kgo options by producerOpts.
var producerKnownProps = []string{
	"acks", "enable.idempotence", "linger.ms", "batch.size", "compression.type", "client.id",
	"request.timeout.ms", "delivery.timeout.ms", "retries", "max.in.flight.requests.per.connection",
}

// producerOpts maps --compression-codec and the Java producer settings to
// kgo options, with the Java client's defaults where kgo's differ.
func producerOpts(codecFlag string, kvs []string) ([]kgo.Opt, error) {
	props, err := parseKeyValues("--producer-property", kvs)
	if err != nil {
		return nil, err
	}
	if err := checkKnown("--producer-property", props, producerKnownProps...); err != nil {
		return nil, err
	}
	codecName := "none"
	if v, ok := props["compression.type"]; ok {
		codecName = v
		if codecFlag != "" && codecFlag != v {
			return nil, fmt.Errorf("--compression-codec %s and --producer-property compression.type=%s disagree", codecFlag, v)
		}
	}
	if codecFlag != "" {
		codecName = codecFlag
	}
	codec, err := kgoCodec(codecName)
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.ProducerBatchCompression(codec),
		// delivery.timeout.ms defaults to 2 minutes in Java; kgo's default
		// is to retry forever, which would make a flush against a dead
		// broker hang.
		kgo.RecordDeliveryTimeout(120 * time.Second),
	}

	// acks and enable.idempotence follow the Java rule: idempotence is on
	// by default and needs acks=all; if the user did not ask for it, other
	// acks turn it off quietly, if they did, the conflict is an error.
	acks := kgo.AllISRAcks()
	allAcks := true
	if v, ok := props["acks"]; ok {
		switch v {
		case "all", "-1":
		case "1":
			acks, allAcks = kgo.LeaderAck(), false
		case "0":
			acks, allAcks = kgo.NoAck(), false
		default:
			return nil, fmt.Errorf("acks=%q: expected all, -1, 1 or 0", v)
		}
	}
	idempotent := allAcks
	if v, ok := props["enable.idempotence"]; ok {
		if idempotent, err = parseBool("enable.idempotence", v); err != nil {
			return nil, err
		}
		if idempotent && !allAcks {
			return nil, fmt.Errorf("enable.idempotence=true needs acks=all, got acks=%s", props["acks"])
		}
	}
	opts = append(opts, kgo.RequiredAcks(acks))
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}

	for _, k := range []string{"linger.ms", "batch.size", "request.timeout.ms", "delivery.timeout.ms", "retries", "max.in.flight.requests.per.connection"} {
		v, ok := props[k]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s=%q: expected a non-negative integer", k, v)
		}
		ms := time.Duration(n) * time.Millisecond
		switch k {
		case "linger.ms":
			opts = append(opts, kgo.ProducerLinger(ms))
		case "batch.size":
			opts = append(opts, kgo.ProducerBatchMaxBytes(int32(n)))
		case "request.timeout.ms":
			opts = append(opts, kgo.ProduceRequestTimeout(ms))
		case "delivery.timeout.ms":
			opts = append(opts, kgo.RecordDeliveryTimeout(ms))
		case "retries":
			opts = append(opts, kgo.RecordRetries(int(n)))
		case "max.in.flight.requests.per.connection":
			opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(int(n)))
		}
	}
	if v, ok := props["client.id"]; ok {
		opts = append(opts, kgo.ClientID(v))
	}
	return opts, nil
}

// kgoCodec maps a Kafka compression.type name to kgo's codec.
func kgoCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: expected none, gzip, snappy, lz4 or zstd", name)
}
