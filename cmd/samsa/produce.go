package main

// samsa produce: Kafka's console producer. One record per line of stdin
// (or of --input), parsed as its LineMessageReader does.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

func init() { extraCommands = append(extraCommands, produceCommand) }

// maxLineBytes bounds one line of input; far above any broker's
// message.max.bytes, so only a stream that is not line-oriented hits it.
const maxLineBytes = 64 << 20

// maxReportedFailures bounds the per-line errors printed: when the topic
// is missing every record fails for the same reason, and the summary line
// says how many there were.
const maxReportedFailures = 100

type produceOptions struct {
	conn          connFlags
	topic         string
	input         string
	properties    []string
	keySeparator  string
	codec         string
	producerProps []string
	producerFile  string
	acks          string
	sync          bool
}

const produceLong = `Write lines to a topic, one record per line, as kafka-console-producer.sh does.

Lines come from stdin, or from --input FILE. --property configures the line
reader with Kafka's names:
  parse.key=true          each line is key<key.separator>value
  key.separator=SEP       default a tab (--key-separator SEP sets both)
  parse.headers=true      each line starts with headers, then headers.delimiter
  headers.delimiter=SEP   between the headers and the rest; default a tab
  headers.separator=SEP   between headers; default ","
  headers.key.separator=S between a header's key and value; default ":"
  null.marker=STRING      a key, value or header value equal to it is null
  ignore.error=true       a line without the key separator becomes a value
                          with a null key instead of an error
A line that cannot be parsed is reported on stderr with its line number and
skipped; the others are still produced, and the exit status is 1.

--producer-property and --producer.config take the Java producer's settings
(acks, linger.ms, batch.size, enable.idempotence, ...). The command flushes
before it exits, also on Ctrl-C.`

const produceExample = `  samsa produce --topic orders
  samsa produce --topic orders --property parse.key=true --property key.separator=: < orders.txt
  samsa produce --topic orders --property parse.headers=true --input orders.txt   # "h1:v1,h2:v2<TAB>value"
  samsa produce --topic orders --compression-codec zstd --producer-property linger.ms=50
  samsa produce --topic orders --sync --request-required-acks 1`

func produceCommand() *cobra.Command {
	var o produceOptions
	cmd := &cobra.Command{
		Use:     "produce",
		Short:   "Write lines to a topic, one record per line (kafka-console-producer.sh)",
		Long:    produceLong,
		Example: produceExample,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runProduce(cmd, &o) },
	}
	addConnFlags(cmd, &o.conn)
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to produce to (required)")
	f.StringVar(&o.input, "input", "", "read lines from this file instead of stdin")
	f.StringArrayVar(&o.properties, "property", nil, "line reader property key=value (repeatable); see above")
	f.StringVar(&o.keySeparator, "key-separator", "", "lines are key<separator>value (same as --property parse.key=true --property key.separator=...)")
	f.StringVar(&o.codec, "compression-codec", "", "none, gzip, snappy, lz4 or zstd (the producer's compression.type)")
	f.StringArrayVar(&o.producerProps, "producer-property", nil, "producer setting key=value with the Java client's name (repeatable)")
	f.StringVar(&o.producerFile, "producer.config", "", "file of producer settings (Java .properties syntax)")
	f.StringVar(&o.acks, "request-required-acks", "", "the producer's acks: all, -1, 1 or 0")
	f.BoolVar(&o.sync, "sync", false, "send each record on its own and wait for its acknowledgement before reading the next line")
	return cmd
}

// lineFormat is how a line becomes a record (Kafka's LineMessageReader).
type lineFormat struct {
	parseKey, parseHeaders, ignoreError              bool
	keySeparator, headersDelimiter, headersSeparator []byte
	headersKeySeparator, nullMarker                  []byte
}

func (o *produceOptions) lineFormat(changedKeySep bool) (lineFormat, error) {
	props, err := parseKeyValues("--property", o.properties)
	if err != nil {
		return lineFormat{}, err
	}
	if err := checkKnown("--property", props, "parse.key", "key.separator", "parse.headers", "headers.delimiter",
		"headers.separator", "headers.key.separator", "null.marker", "ignore.error"); err != nil {
		return lineFormat{}, err
	}
	lf := lineFormat{ // the console producer's defaults
		keySeparator:        []byte("\t"),
		headersDelimiter:    []byte("\t"),
		headersSeparator:    []byte(","),
		headersKeySeparator: []byte(":"),
	}
	for name, dst := range map[string]*bool{"parse.key": &lf.parseKey, "parse.headers": &lf.parseHeaders, "ignore.error": &lf.ignoreError} {
		if v, ok := props[name]; ok {
			if *dst, err = parseBool(name, v); err != nil {
				return lineFormat{}, err
			}
		}
	}
	for name, dst := range map[string]*[]byte{"key.separator": &lf.keySeparator, "headers.delimiter": &lf.headersDelimiter,
		"headers.separator": &lf.headersSeparator, "headers.key.separator": &lf.headersKeySeparator, "null.marker": &lf.nullMarker} {
		if v, ok := props[name]; ok {
			*dst = []byte(v)
		}
	}
	if changedKeySep {
		if v, ok := props["key.separator"]; ok && v != o.keySeparator {
			return lineFormat{}, usagef("--key-separator %q and --property key.separator=%q disagree", o.keySeparator, v)
		}
		lf.parseKey, lf.keySeparator = true, []byte(o.keySeparator)
	}
	for _, s := range []struct {
		on   bool
		name string
		sep  []byte
	}{
		{lf.parseKey, "key.separator", lf.keySeparator},
		{lf.parseHeaders, "headers.delimiter", lf.headersDelimiter},
		{lf.parseHeaders, "headers.separator", lf.headersSeparator},
		{lf.parseHeaders, "headers.key.separator", lf.headersKeySeparator},
	} {
		if s.on && len(s.sep) == 0 {
			return lineFormat{}, usagef("--property %s is empty", s.name)
		}
	}
	return lf, nil
}

// parse turns one line into a record.
func (lf *lineFormat) parse(text []byte) (kafka.ProducerRecord[[]byte, []byte], error) {
	var rec kafka.ProducerRecord[[]byte, []byte]
	rest := text
	if lf.parseHeaders {
		hs, after, ok := bytes.Cut(rest, lf.headersDelimiter)
		if !ok {
			return rec, fmt.Errorf("no headers delimiter %q found", lf.headersDelimiter)
		}
		rest = after
		if len(hs) > 0 {
			for _, h := range bytes.Split(hs, lf.headersSeparator) {
				k, v, ok := bytes.Cut(h, lf.headersKeySeparator)
				if len(k) == 0 {
					return rec, fmt.Errorf("header %q has an empty key", h)
				}
				if !ok {
					rec.Headers.Add(string(k), nil) // no value: null, as in Kafka
					continue
				}
				rec.Headers.Add(string(k), lf.nullable(v))
			}
		}
	}
	if lf.parseKey {
		key, value, ok := bytes.Cut(rest, lf.keySeparator)
		switch {
		case ok:
			rec.Key, rec.Value = lf.nullable(key), lf.nullable(value)
		case lf.ignoreError:
			rec.Value = lf.nullable(rest)
		default:
			return rec, fmt.Errorf("no key separator %q found", lf.keySeparator)
		}
		return rec, nil
	}
	rec.Value = lf.nullable(rest)
	return rec, nil
}

// nullable returns nil for null.marker, else a non-nil copy of b (an
// empty value is not null).
func (lf *lineFormat) nullable(b []byte) []byte {
	if lf.nullMarker != nil && bytes.Equal(b, lf.nullMarker) {
		return nil
	}
	return append([]byte{}, b...)
}

// settings merges the producer settings of the flags.
func (o *produceOptions) settings(cmd *cobra.Command) (kafka.Config, error) {
	props, err := parseKeyValues("--producer-property", o.producerProps)
	if err != nil {
		return nil, err
	}
	var files []string
	if o.producerFile != "" {
		files = append(files, o.producerFile)
	}
	cfg, err := o.conn.config(files, props)
	if err != nil {
		return nil, err
	}
	flags := cmd.Flags()
	if flags.Changed("compression-codec") {
		if v, ok := props["compression.type"]; ok && v != o.codec {
			return nil, usagef("--compression-codec %s and --producer-property compression.type=%s disagree", o.codec, v)
		}
		cfg["compression.type"] = o.codec
	}
	if flags.Changed("request-required-acks") {
		if v, ok := props["acks"]; ok && v != o.acks {
			return nil, usagef("--request-required-acks %s and --producer-property acks=%s disagree", o.acks, v)
		}
		cfg["acks"] = o.acks
	}
	if _, ok := cfg["client.id"]; !ok {
		cfg["client.id"] = "console-producer"
	}
	return cfg, nil
}

func runProduce(cmd *cobra.Command, o *produceOptions) error {
	if o.topic == "" {
		return usagef("--topic is required")
	}
	lf, err := o.lineFormat(cmd.Flags().Changed("key-separator"))
	if err != nil {
		return err
	}
	cfg, err := o.settings(cmd)
	if err != nil {
		return err
	}
	in := cmd.InOrStdin()
	if o.input != "" {
		f, err := os.Open(o.input)
		if err != nil {
			return usageErr(fmt.Errorf("--input: %w", err))
		}
		defer f.Close()
		in = f
	}
	kp, err := kafka.NewProducer(cfg, kafka.ByteArraySerializer{}, kafka.ByteArraySerializer{}, kafka.WithLogger(toolLogger(cmd)))
	if err != nil {
		return clientConfigErr(err)
	}
	ctx := cmd.Context()
	p := &producer{kp: kp, topic: o.topic, lf: lf, sync: o.sync, stderr: &lockedWriter{w: cmd.ErrOrStderr()}}
	prog := startProgress(cmd.ErrOrStderr(), p.status)
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	readErr := p.readLines(ctx, sigCtx, in)
	// A second Ctrl-C during the flush kills the process the default way.
	stop()
	ferr := kp.Flush(ctx)
	cerr := kp.Close(ctx)
	prog.stop()
	if err := errors.Join(ferr, cerr); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if readErr != nil {
		return fmt.Errorf("reading input after line %d: %w", p.lines.Load(), readErr)
	}
	if bad, failed := p.failures(); bad+failed > 0 {
		return fmt.Errorf("%d of %d lines were not produced (%d could not be parsed, %d failed to send)", bad+failed, p.lines.Load(), bad, failed)
	}
	return nil
}

// producer turns lines into records and keeps count of what failed.
type producer struct {
	kp     *kafka.Producer[[]byte, []byte]
	topic  string
	lf     lineFormat
	sync   bool
	stderr *lockedWriter
	lines  atomic.Int64 // lines read so far

	mu         sync.Mutex
	badLines   int // lines that could not be parsed
	sendFailed int // records the cluster did not take
	acked      int
}

func (p *producer) failures() (bad, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.badLines, p.sendFailed
}

func (p *producer) status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%d lines read, %d records acknowledged, %d failed", p.lines.Load(), p.acked, p.badLines+p.sendFailed)
}

// line is one line of input and its 1-based number.
type line struct {
	n    int
	text []byte
}

// readLines produces every line of in until EOF or until stop is done
// (Ctrl-C). Records are sent with ctx, not stop, so that what was read
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
			case lines <- line{n: n, text: bytes.Clone(bytes.TrimSuffix(sc.Bytes(), []byte("\r")))}:
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
			p.lines.Store(int64(l.n))
			p.produceLine(ctx, l)
		}
	}
}

func (p *producer) produceLine(ctx context.Context, l line) {
	rec, err := p.lf.parse(l.text)
	if err != nil {
		p.mu.Lock()
		p.badLines++
		report := p.badLines+p.sendFailed <= maxReportedFailures
		p.mu.Unlock()
		if report {
			p.stderr.printf("line %d: %v; skipped: %q\n", l.n, err, truncate(l.text, 80))
		}
		return
	}
	rec.Topic = p.topic
	if p.sync {
		_, err := p.kp.Send(ctx, rec).Get(ctx)
		p.delivered(l.n, err)
		return
	}
	p.kp.SendWithCallback(ctx, rec, func(_ kafka.RecordMetadata, err error) { p.delivered(l.n, err) })
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// delivered records the outcome of line n's record; it runs on the
// producer's goroutines for asynchronous sends.
func (p *producer) delivered(n int, err error) {
	p.mu.Lock()
	if err == nil {
		p.acked++
		p.mu.Unlock()
		return
	}
	p.sendFailed++
	report := p.badLines+p.sendFailed <= maxReportedFailures
	p.mu.Unlock()
	if report {
		p.stderr.printf("line %d: not produced: %v\n", n, err)
	}
}
