package main

// samsa verify check: compares what a verifiable producer had
// acknowledged with what verifiable consumers read (or with the topic
// itself), and reports the records lost, duplicated and out of order.

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

// maxLogLineBytes bounds one line of a log; a record_data line holds one
// key and one value.
const maxLogLineBytes = 64 << 20

type verifyCheckOptions struct {
	conn         connFlags
	producerLogs []string
	consumerLogs []string
	topics       []string
	timeoutMs    int64
	maxListed    int
}

const verifyCheckLong = `Compare what samsa verify produce logged as acknowledged with what samsa
verify consume --verbose logged as read, and report:
  lost          acknowledged records never read: acknowledged writes the
                cluster lost (each is listed)
  duplicated    a value read at more than one offset: a record written twice
  out of order  in a partition, a record whose value (the producer's
                sequence number) is lower than one at a lower offset
  read again    offsets read more than once (normal after a rebalance or
                restart: at-least-once delivery); not a failure
Records are matched by topic and value, so several producers in one run
need distinct --value-prefix values. Give several --consumer-log files when
several consumers shared the work. Without --consumer-log the check reads
the topics of the acknowledged records (or --topic) itself, from the start
of each partition to its current end, at --bootstrap-server.

The exit status is 1 if any acknowledged record was lost, else 0.`

const verifyCheckExample = `  samsa verify check --producer-log producer.log --consumer-log consumer.log
  samsa verify check --producer-log producer.log --consumer-log c1.log --consumer-log c2.log
  samsa verify check --producer-log producer.log --bootstrap-server broker1:9092 --topic t`

func verifyCheckCommand() *cobra.Command {
	var o verifyCheckOptions
	cmd := &cobra.Command{
		Use:     "check",
		Short:   "Report records lost, duplicated or out of order between verify produce and verify consume logs",
		Long:    verifyCheckLong,
		Example: verifyCheckExample,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerifyCheck(cmd, &o) },
	}
	addConnFlags(cmd, &o.conn)
	f := cmd.Flags()
	f.StringArrayVar(&o.producerLogs, "producer-log", nil, "JSON-lines log of samsa verify produce (required; repeatable)")
	f.StringArrayVar(&o.consumerLogs, "consumer-log", nil, "JSON-lines log of samsa verify consume --verbose (repeatable); without it the topic is read")
	f.StringSliceVar(&o.topics, "topic", nil, "topics to read when no --consumer-log is given (default: those of the acknowledged records)")
	f.Int64Var(&o.timeoutMs, "timeout-ms", 30000, "when reading the topic: give up after this many milliseconds without progress")
	f.IntVar(&o.maxListed, "max-listed", 1000, "list at most this many records of each kind; -1 lists all")
	return cmd
}

func runVerifyCheck(cmd *cobra.Command, o *verifyCheckOptions) error {
	switch {
	case len(o.producerLogs) == 0:
		return usagef("--producer-log is required")
	case len(o.consumerLogs) > 0 && len(o.topics) > 0:
		return usagef("--topic is for reading the topic; it cannot be used with --consumer-log")
	case o.timeoutMs <= 0:
		return usagef("--timeout-ms %d: must be positive", o.timeoutMs)
	case o.maxListed < -1:
		return usagef("--max-listed %d: expected -1 or a count", o.maxListed)
	}
	ck := newChecker()
	for _, f := range o.producerLogs {
		if err := readLog(f, ck.producerEvent); err != nil {
			return err
		}
	}
	for _, f := range o.consumerLogs {
		before, batches := ck.reads, ck.consumedBatches
		if err := readLog(f, ck.consumerEvent); err != nil {
			return err
		}
		if ck.reads == before && ck.consumedBatches > batches {
			return usagef("consumer log %s has records_consumed but no record_data events: run samsa verify consume with --verbose", f)
		}
	}
	if len(o.consumerLogs) == 0 {
		topics := o.topics
		if len(topics) == 0 {
			topics = ck.ackedTopics()
		}
		if len(topics) == 0 {
			return fmt.Errorf("no acknowledged records in %s, and no --topic to read", strings.Join(o.producerLogs, ", "))
		}
		if err := o.readTopics(cmd, topics, ck); err != nil {
			return err
		}
	}
	r := ck.report()
	r.print(cmd.OutOrStdout(), o.maxListed)
	if len(r.lost) > 0 {
		return fmt.Errorf("%d acknowledged records were lost", len(r.lost))
	}
	return nil
}

// logEvent holds the fields of the events the check reads.
type logEvent struct {
	Name      string  `json:"name"`
	Key       *string `json:"key"`
	Value     *string `json:"value"`
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Count     int64   `json:"count"`
}

// readLog passes each event of a JSON-lines log to fn. Lines that are not
// JSON objects (a stray log line) are skipped; a malformed object is an
// error naming its line.
func readLog(path string, fn func(*logEvent)) error {
	f, err := os.Open(path)
	if err != nil {
		return usageErr(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLogLineBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var ev logEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		fn(&ev)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// recordID identifies a record of a verifiable producer: its value is
// unique in its topic.
type recordID struct{ topic, value string }

// position is where a record is in the log.
type position struct {
	tp     kafka.TopicPartition
	offset int64
}

func comparePositions(a, b position) int {
	return cmp.Or(strings.Compare(a.tp.Topic, b.tp.Topic), cmp.Compare(a.tp.Partition, b.tp.Partition), cmp.Compare(a.offset, b.offset))
}

// readRecord is a record at one position as read.
type readRecord struct {
	key, value *string
	times      int // how often it was read
}

// ackedRecord is where the producer was told a record went.
type ackedRecord struct {
	pos position
	key *string
}

// checker gathers the acknowledgements and the reads.
type checker struct {
	acked           map[recordID]ackedRecord
	read            map[position]*readRecord
	byValue         map[recordID][]position // distinct positions of each value read
	reads           int64                   // record_data events and records read
	consumedBatches int64                   // records_consumed events
}

func newChecker() *checker {
	return &checker{acked: map[recordID]ackedRecord{}, read: map[position]*readRecord{}, byValue: map[recordID][]position{}}
}

func (ck *checker) producerEvent(ev *logEvent) {
	if ev.Name != evSendSuccess || ev.Value == nil {
		return
	}
	id := recordID{ev.Topic, *ev.Value}
	if _, ok := ck.acked[id]; !ok {
		ck.acked[id] = ackedRecord{position{kafka.TopicPartition{Topic: ev.Topic, Partition: ev.Partition}, ev.Offset}, ev.Key}
	}
}

func (ck *checker) consumerEvent(ev *logEvent) {
	switch ev.Name {
	case evRecordsConsumed:
		ck.consumedBatches++
	case evRecordData:
		ck.add(position{kafka.TopicPartition{Topic: ev.Topic, Partition: ev.Partition}, ev.Offset}, ev.Key, ev.Value)
	}
}

// add notes one read of the record at pos.
func (ck *checker) add(pos position, key, value *string) {
	ck.reads++
	if r, ok := ck.read[pos]; ok {
		r.times++
		return
	}
	ck.read[pos] = &readRecord{key: key, value: value, times: 1}
	if value != nil {
		id := recordID{pos.tp.Topic, *value}
		ck.byValue[id] = append(ck.byValue[id], pos)
	}
}

func (ck *checker) ackedTopics() []string {
	var ts []string
	for id := range ck.acked {
		if !slices.Contains(ts, id.topic) {
			ts = append(ts, id.topic)
		}
	}
	slices.Sort(ts)
	return ts
}

// finding is one record reported: where, its value, and for a duplicate
// or a reordering the position or value it is compared with.
type finding struct {
	pos   position
	key   *string
	value string
	note  string
}

type checkCounts struct {
	acked, read, lost, duplicated, outOfOrder int
}

type checkReport struct {
	acked, reads, readAgain, notAcked int
	distinct                          int
	lost, duplicated, outOfOrder      []finding
	partitions                        map[kafka.TopicPartition]*checkCounts
}

func (ck *checker) report() *checkReport {
	r := &checkReport{acked: len(ck.acked), reads: int(ck.reads), distinct: len(ck.read), partitions: map[kafka.TopicPartition]*checkCounts{}}
	counts := func(tp kafka.TopicPartition) *checkCounts {
		c, ok := r.partitions[tp]
		if !ok {
			c = &checkCounts{}
			r.partitions[tp] = c
		}
		return c
	}
	for id, a := range ck.acked {
		counts(a.pos.tp).acked++
		if _, ok := ck.byValue[id]; !ok {
			counts(a.pos.tp).lost++
			r.lost = append(r.lost, finding{pos: a.pos, key: a.key, value: id.value})
		}
	}
	for pos, rr := range ck.read {
		counts(pos.tp).read++
		r.readAgain += rr.times - 1
		if rr.value != nil {
			if _, ok := ck.acked[recordID{pos.tp.Topic, *rr.value}]; !ok {
				r.notAcked++
			}
		}
	}
	for id, ps := range ck.byValue {
		if len(ps) < 2 {
			continue
		}
		slices.SortFunc(ps, comparePositions)
		for _, p := range ps[1:] {
			counts(p.tp).duplicated++
			r.duplicated = append(r.duplicated, finding{pos: p, key: ck.read[p].key, value: id.value,
				note: fmt.Sprintf("first at %s offset %d", ps[0].tp, ps[0].offset)})
		}
	}
	r.outOfOrder = ck.outOfOrder()
	for _, f := range r.outOfOrder {
		counts(f.pos.tp).outOfOrder++
	}
	for _, fs := range [][]finding{r.lost, r.duplicated, r.outOfOrder} {
		slices.SortFunc(fs, func(a, b finding) int { return comparePositions(a.pos, b.pos) })
	}
	return r
}

// outOfOrder walks each partition in offset order and finds the records
// whose sequence number (the value, or the part after "prefix.") is below
// one already seen from the same producer (prefix).
func (ck *checker) outOfOrder() []finding {
	positions := make([]position, 0, len(ck.read))
	for pos := range ck.read {
		positions = append(positions, pos)
	}
	slices.SortFunc(positions, comparePositions)
	var out []finding
	type seen struct {
		seq   int64
		value string
	}
	var tp kafka.TopicPartition
	var highest map[string]seen
	for i, pos := range positions {
		if i == 0 || pos.tp != tp {
			tp, highest = pos.tp, map[string]seen{}
		}
		rr := ck.read[pos]
		if rr.value == nil {
			continue
		}
		prefix, seq, ok := sequenceOf(*rr.value)
		if !ok {
			continue
		}
		if h, ok := highest[prefix]; ok && seq < h.seq {
			out = append(out, finding{pos: pos, key: rr.key, value: *rr.value, note: fmt.Sprintf("after %q", h.value)})
			continue
		}
		highest[prefix] = seen{seq, *rr.value}
	}
	return out
}

// sequenceOf splits a verifiable producer's value "n" or "prefix.n".
func sequenceOf(v string) (prefix string, seq int64, ok bool) {
	num := v
	if p, n, found := strings.Cut(v, "."); found {
		prefix, num = p, n
	}
	seq, err := strconv.ParseInt(num, 10, 64)
	return prefix, seq, err == nil
}

func (r *checkReport) print(w io.Writer, maxListed int) {
	fmt.Fprintf(w, "acknowledged: %d\n", r.acked)
	fmt.Fprintf(w, "consumed: %d records at %d offsets (%d read again)\n", r.reads, r.distinct, r.readAgain)
	fmt.Fprintf(w, "lost: %d (acknowledged, never consumed)\n", len(r.lost))
	fmt.Fprintf(w, "duplicated: %d (the same value at more than one offset)\n", len(r.duplicated))
	fmt.Fprintf(w, "out of order: %d (a lower sequence number after a higher one in a partition)\n", len(r.outOfOrder))
	fmt.Fprintf(w, "not acknowledged: %d (consumed, never acknowledged)\n", r.notAcked)

	tps := make([]kafka.TopicPartition, 0, len(r.partitions))
	for tp := range r.partitions {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b kafka.TopicPartition) int { return comparePositions(position{tp: a}, position{tp: b}) })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTOPIC\tPARTITION\tACKNOWLEDGED\tCONSUMED\tLOST\tDUPLICATED\tOUT-OF-ORDER")
	for _, tp := range tps {
		c := r.partitions[tp]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", tp.Topic, tp.Partition, c.acked, c.read, c.lost, c.duplicated, c.outOfOrder)
	}
	tw.Flush()

	for _, section := range []struct {
		title string
		fs    []finding
	}{{"Lost", r.lost}, {"Duplicated", r.duplicated}, {"Out of order", r.outOfOrder}} {
		if len(section.fs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", section.title)
		for i, f := range section.fs {
			if maxListed >= 0 && i >= maxListed {
				fmt.Fprintf(w, "  ... and %d more (--max-listed)\n", len(section.fs)-i)
				break
			}
			fmt.Fprintf(w, "  %s offset %d", f.pos.tp, f.pos.offset)
			if f.key != nil {
				fmt.Fprintf(w, " key %q", *f.key)
			}
			fmt.Fprintf(w, " value %q", f.value)
			if f.note != "" {
				fmt.Fprintf(w, " (%s)", f.note)
			}
			fmt.Fprintln(w)
		}
	}
}

// readTopics reads every partition of topics from its start to its end
// as of now, without a group, into ck.
func (o *verifyCheckOptions) readTopics(cmd *cobra.Command, topics []string, ck *checker) error {
	cfg, err := clientSettings(cmd, &o.conn, nil, nil)
	if err != nil {
		return err
	}
	cfg["client.id"] = "verify-check"
	c, err := kafka.NewConsumer(cfg, kafka.ByteArrayDeserializer{}, kafka.ByteArrayDeserializer{}, kafka.WithLogger(toolLogger(cmd)))
	if err != nil {
		return clientConfigErr(err)
	}
	ctx := cmd.Context()
	defer c.Close(context.WithoutCancel(ctx))
	var tps []kafka.TopicPartition
	for _, t := range topics {
		parts, err := c.PartitionsFor(ctx, t)
		if err != nil {
			return fmt.Errorf("partitions of topic %s: %w", t, err)
		}
		if len(parts) == 0 {
			return fmt.Errorf("topic %q does not exist", t)
		}
		for _, p := range parts {
			tps = append(tps, kafka.TopicPartition{Topic: t, Partition: p.Partition})
		}
	}
	if err := c.Assign(tps); err != nil {
		return err
	}
	if err := c.SeekToBeginning(tps...); err != nil {
		return err
	}
	end, err := c.EndOffsets(ctx, tps...)
	if err != nil {
		return fmt.Errorf("end offsets: %w", err)
	}
	var n atomic.Int64
	prog := startProgress(cmd.ErrOrStderr(), func() string { return fmt.Sprintf("reading the topics: %d records so far", n.Load()) })
	defer prog.stop()
	timeout := time.Duration(o.timeoutMs) * time.Millisecond
	lastProgress := time.Now()
	remaining := slices.Clone(tps)
	for len(remaining) > 0 {
		pctx, cancel := context.WithTimeout(ctx, min(time.Second, timeout))
		recs, err := c.Poll(pctx)
		cancel()
		if err != nil {
			return fmt.Errorf("reading the topics: %w", err)
		}
		for _, rec := range recs.All() {
			ck.add(position{kafka.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}, rec.Offset}, nullableString(rec.Key), nullableString(rec.Value))
			n.Add(1)
			lastProgress = time.Now()
		}
		var left []kafka.TopicPartition
		for _, tp := range remaining {
			pos, err := c.Position(ctx, tp)
			if err != nil {
				return fmt.Errorf("position of %s: %w", tp, err)
			}
			if pos < end[tp] {
				left = append(left, tp)
			}
		}
		remaining = left
		if len(remaining) > 0 && time.Since(lastProgress) > timeout {
			return fmt.Errorf("reading the topics: no record for %v with %d partitions not read to their end (first %s); --timeout-ms sets the wait",
				timeout, len(remaining), remaining[0])
		}
	}
	return nil
}
