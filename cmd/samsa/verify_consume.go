package main

// samsa verify consume: Kafka's VerifiableConsumer. Reads in a consumer
// group and logs assignments, what it read and what it committed as JSON
// lines.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

// verifyCommitTimeout bounds one synchronous commit of verify consume.
const verifyCommitTimeout = 30 * time.Second

type verifyConsumeOptions struct {
	conn               connFlags
	topic              string
	groupID            string
	groupInstanceID    string
	groupProtocol      string
	maxMessages        int64
	autocommit         bool
	resetPolicy        string
	assignmentStrategy string
	consumerFile       string
	sessionTimeoutMs   int
	verbose            bool
}

const verifyConsumeLong = `Read a topic in a consumer group and log what happens as JSON lines, as
Kafka's VerifiableConsumer does:
  {"timestamp":...,"name":"startup_complete"}
  {"timestamp":...,"name":"partitions_assigned","partitions":[{"topic":"t","partition":0}]}
  {"timestamp":...,"name":"records_consumed","count":3,"partitions":[{"topic":"t","partition":0,"count":3,"minOffset":0,"maxOffset":2}]}
  {"timestamp":...,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":3}],"success":true}
  {"timestamp":...,"name":"partitions_revoked","partitions":[...]}
  {"timestamp":...,"name":"shutdown_complete"}
With --verbose each record is logged too, before its records_consumed line:
  {"timestamp":...,"name":"record_data","key":null,"value":"0","topic":"t","partition":0,"offset":0}
which samsa verify check needs. Unless --enable-autocommit, the offsets of
what was read are committed synchronously after each poll (a failed commit
is logged with "success":false and its "error"). The command ends after
--max-messages records (-1: never) or on Ctrl-C (SIGINT, SIGTERM), leaving
the group cleanly.`

const verifyConsumeExample = `  samsa verify consume --topic t --group-id checker --verbose > consumer.log
  samsa verify consume --topic t --group-id checker --max-messages 1000 --reset-policy latest
  samsa verify consume --topic t --group-id checker --assignment-strategy org.apache.kafka.clients.consumer.CooperativeStickyAssignor
  samsa verify consume --topic t --group-id checker --group-instance-id member-1 --session-timeout 10000`

func verifyConsumeCommand() *cobra.Command {
	var o verifyConsumeOptions
	cmd := &cobra.Command{
		Use:     "consume",
		Short:   "Read in a consumer group and log what was read and committed as JSON (VerifiableConsumer)",
		Long:    verifyConsumeLong,
		Example: verifyConsumeExample,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerifyConsume(cmd, &o) },
	}
	addConnFlags(cmd, &o.conn)
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to consume (required)")
	f.StringVar(&o.groupID, "group-id", "", "consumer group id (required)")
	f.StringVar(&o.groupInstanceID, "group-instance-id", "", "static membership id (group.instance.id)")
	f.StringVar(&o.groupProtocol, "group-protocol", "classic", "group protocol: classic or consumer (KIP-848)")
	f.Int64Var(&o.maxMessages, "max-messages", -1, "stop after this many records; -1 to read until stopped")
	f.BoolVar(&o.autocommit, "enable-autocommit", false, "let the consumer commit automatically (enable.auto.commit) instead of after each poll")
	f.StringVar(&o.resetPolicy, "reset-policy", "earliest", "where to start without a committed offset: earliest, latest or none (auto.offset.reset)")
	f.StringVar(&o.assignmentStrategy, "assignment-strategy", "org.apache.kafka.clients.consumer.RangeAssignor", "partition.assignment.strategy of the classic protocol")
	f.StringVar(&o.consumerFile, "consumer.config", "", "file of consumer settings (Java .properties syntax)")
	f.IntVar(&o.sessionTimeoutMs, "session-timeout", 30000, "session.timeout.ms of the classic protocol")
	f.BoolVar(&o.verbose, "verbose", false, "log every record (record_data), as samsa verify check needs")
	return cmd
}

func (o *verifyConsumeOptions) check() error {
	switch {
	case o.topic == "":
		return usagef("--topic is required")
	case o.groupID == "":
		return usagef("--group-id is required")
	case o.maxMessages < -1:
		return usagef("--max-messages %d: expected -1 or a count", o.maxMessages)
	case !slices.Contains([]string{"earliest", "latest", "none"}, o.resetPolicy):
		return usagef("--reset-policy %q: expected earliest, latest or none", o.resetPolicy)
	case o.groupProtocol != "classic" && o.groupProtocol != "consumer":
		return usagef("--group-protocol %q: expected classic or consumer", o.groupProtocol)
	case o.sessionTimeoutMs <= 0:
		return usagef("--session-timeout %d: must be positive", o.sessionTimeoutMs)
	}
	return nil
}

func (o *verifyConsumeOptions) settings(cmd *cobra.Command) (kafka.Config, error) {
	cfg, err := clientSettings(cmd, &o.conn, nonEmpty(o.consumerFile), nil)
	if err != nil {
		return nil, err
	}
	cfg["group.id"] = o.groupID
	cfg["group.protocol"] = o.groupProtocol
	cfg["enable.auto.commit"] = strconv.FormatBool(o.autocommit)
	cfg["auto.offset.reset"] = o.resetPolicy
	if o.groupInstanceID != "" {
		cfg["group.instance.id"] = o.groupInstanceID
	}
	// The consumer protocol leaves assignment and session timeout to the
	// coordinator; Java refuses them there.
	if o.groupProtocol == "classic" {
		cfg["partition.assignment.strategy"] = o.assignmentStrategy
		cfg["session.timeout.ms"] = strconv.Itoa(o.sessionTimeoutMs)
		if _, ok := cfg["heartbeat.interval.ms"]; !ok {
			// Java's default of 3000 must stay below the session timeout.
			cfg["heartbeat.interval.ms"] = strconv.Itoa(min(3000, o.sessionTimeoutMs/3))
		}
	}
	if _, ok := cfg["client.id"]; !ok {
		cfg["client.id"] = "verifiable-consumer"
	}
	return cfg, nil
}

// Parts of the consumer's events.
type (
	jsonPartition struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
	}
	jsonRecordSet struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Count     int64  `json:"count"`
		MinOffset int64  `json:"minOffset"`
		MaxOffset int64  `json:"maxOffset"`
	}
	jsonOffset struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}
	partitionsEvent struct {
		event
		Partitions []jsonPartition `json:"partitions"`
	}
	recordDataEvent struct {
		event
		Key       *string `json:"key"`
		Value     *string `json:"value"`
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		Offset    int64   `json:"offset"`
	}
)

func runVerifyConsume(cmd *cobra.Command, o *verifyConsumeOptions) error {
	if err := o.check(); err != nil {
		return err
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
	vc := &verifiableConsumer{o: o, c: c, out: &eventWriter{w: cmd.OutOrStdout()}}
	partitions := func(name string) func([]kafka.TopicPartition) {
		return func(tps []kafka.TopicPartition) { vc.out.emit(partitionsEvent{newEvent(name), toJSONPartitions(tps)}) }
	}
	// Partitions lost count as revoked, as in Kafka's VerifiableConsumer.
	err = c.Subscribe([]string{o.topic}, kafka.RebalanceListenerFuncs{
		Revoked:  partitions(evPartitionsRevoked),
		Assigned: partitions(evPartitionsAssigned),
	})
	if err != nil {
		c.Close(context.WithoutCancel(ctx))
		return err
	}
	vc.out.emit(newEvent(evStartupComplete))
	err = vc.run(ctx)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), verifyCommitTimeout)
	defer cancel()
	if cerr := c.Close(cctx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing the consumer: %w", cerr))
	}
	vc.out.emit(newEvent(evShutdownComplete))
	return errors.Join(err, vc.out.error())
}

func toJSONPartitions(tps []kafka.TopicPartition) []jsonPartition {
	out := make([]jsonPartition, len(tps))
	for i, tp := range tps {
		out[i] = jsonPartition{tp.Topic, tp.Partition}
	}
	return out
}

// verifiableConsumer polls, logs and commits; one goroutine runs it, and
// Poll runs the rebalance listener on that goroutine too.
type verifiableConsumer struct {
	o        *verifyConsumeOptions
	c        *kafka.Consumer[[]byte, []byte]
	out      *eventWriter
	consumed int64
}

// run reads until --max-messages or until ctx ends.
func (vc *verifiableConsumer) run(ctx context.Context) error {
	for vc.o.maxMessages < 0 || vc.consumed < vc.o.maxMessages {
		recs, err := vc.c.Poll(ctx)
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		offsets := vc.received(recs)
		if len(offsets) > 0 && !vc.o.autocommit {
			vc.commit(ctx, offsets)
		}
	}
	return nil
}

// received logs the records up to --max-messages (record_data with
// --verbose, then records_consumed) and returns the offsets to commit.
func (vc *verifiableConsumer) received(recs kafka.ConsumerRecords[[]byte, []byte]) map[kafka.TopicPartition]kafka.OffsetAndMetadata {
	var sets []jsonRecordSet
	offsets := map[kafka.TopicPartition]kafka.OffsetAndMetadata{}
	total := int64(0)
	for _, tp := range recs.Partitions() {
		rs := recs.Partition(tp)
		if left := vc.o.maxMessages - vc.consumed; vc.o.maxMessages >= 0 && int64(len(rs)) > left {
			rs = rs[:left]
		}
		if len(rs) == 0 {
			continue
		}
		if vc.o.verbose {
			for _, r := range rs {
				vc.out.emit(recordDataEvent{newEvent(evRecordData), nullableString(r.Key), nullableString(r.Value), r.Topic, r.Partition, r.Offset})
			}
		}
		first, last := rs[0].Offset, rs[len(rs)-1].Offset
		sets = append(sets, jsonRecordSet{tp.Topic, tp.Partition, int64(len(rs)), first, last})
		offsets[tp] = kafka.OffsetAndMetadata{Offset: last + 1}
		vc.consumed += int64(len(rs))
		total += int64(len(rs))
	}
	if total > 0 {
		vc.out.emit(struct {
			event
			Count      int64           `json:"count"`
			Partitions []jsonRecordSet `json:"partitions"`
		}{newEvent(evRecordsConsumed), total, sets})
	}
	return offsets
}

// commit commits offsets synchronously and logs the outcome. A Ctrl-C
// does not cut the commit short: the records were logged as read.
func (vc *verifiableConsumer) commit(ctx context.Context, offsets map[kafka.TopicPartition]kafka.OffsetAndMetadata) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyCommitTimeout)
	defer cancel()
	err := vc.c.CommitSyncOffsets(cctx, offsets)
	tps := make([]kafka.TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b kafka.TopicPartition) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	list := make([]jsonOffset, len(tps))
	for i, tp := range tps {
		list[i] = jsonOffset{tp.Topic, tp.Partition, offsets[tp].Offset}
	}
	ev := struct {
		event
		Offsets []jsonOffset `json:"offsets"`
		Success bool         `json:"success"`
		Error   string       `json:"error,omitempty"`
	}{event: newEvent(evOffsetsCommitted), Offsets: list, Success: err == nil}
	if err != nil {
		ev.Error = err.Error()
	}
	vc.out.emit(ev)
}

// nullableString is b as a JSON string, null for a null key or value.
func nullableString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}
