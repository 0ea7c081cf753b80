package main

// samsa topics: kafka-topics.sh's --create/--list/--describe/--delete, also
// spelt as subcommands (samsa topics create ...) with the same flags.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { extraCommands = append(extraCommands, topicsCommand) }

// topicsOptions are the flags of every form of the command.
type topicsOptions struct {
	bootstrap         string
	topic             string
	partitions        int32
	replicationFactor int16
	configs           []string
	ifNotExists       bool
	ifExists          bool

	// The action flags of the kafka-topics.sh form.
	create, list, describe, delete bool
}

const topicsLong = `Create, list, describe and delete topics, with kafka-topics.sh's flags.

Either form works:
  samsa topics --create --topic orders --partitions 3
  samsa topics create --topic orders --partitions 3

Without --partitions or --replication-factor the broker's num.partitions
and default.replication.factor apply. --describe without --topic describes
every topic.`

func topicsCommand() *cobra.Command {
	var o topicsOptions
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create, list, describe and delete topics (kafka-topics.sh)",
		Long:  topicsLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var actions []string
			for _, a := range []struct {
				name string
				set  bool
			}{{"create", o.create}, {"list", o.list}, {"describe", o.describe}, {"delete", o.delete}} {
				if a.set {
					actions = append(actions, a.name)
				}
			}
			if len(actions) != 1 {
				return errors.New("exactly one of --create, --list, --describe or --delete is required (or the subcommand form: samsa topics create ...)")
			}
			return runTopics(cmd, actions[0], &o)
		},
	}
	addTopicsFlags(cmd, &o)
	cmd.Flags().BoolVar(&o.create, "create", false, "create a topic")
	cmd.Flags().BoolVar(&o.list, "list", false, "list all topics")
	cmd.Flags().BoolVar(&o.describe, "describe", false, "describe a topic, or all topics without --topic")
	cmd.Flags().BoolVar(&o.delete, "delete", false, "delete a topic")

	for _, action := range []string{"create", "list", "describe", "delete"} {
		sub := &cobra.Command{
			Use:   action,
			Short: "Same as samsa topics --" + action,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runTopics(cmd, action, &o)
			},
		}
		addTopicsFlags(sub, &o)
		cmd.AddCommand(sub)
	}
	return cmd
}

func addTopicsFlags(cmd *cobra.Command, o *topicsOptions) {
	addBootstrapFlag(cmd, &o.bootstrap)
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic name")
	f.Int32Var(&o.partitions, "partitions", 0, "number of partitions (create; default: the broker's num.partitions)")
	f.Int16Var(&o.replicationFactor, "replication-factor", 0, "replicas per partition (create; default: the broker's default.replication.factor)")
	f.StringArrayVar(&o.configs, "config", nil, "topic config key=value (create; repeatable), e.g. --config retention.ms=3600000")
	f.BoolVar(&o.ifNotExists, "if-not-exists", false, "create: do nothing if the topic exists")
	f.BoolVar(&o.ifExists, "if-exists", false, "describe, delete: do nothing if the topic does not exist")
}

func runTopics(cmd *cobra.Command, action string, o *topicsOptions) error {
	flags := cmd.Flags()
	// Like kafka-topics.sh, refuse flags that mean nothing for the action
	// rather than ignore them: `--delete --partitions 3` is a mistake.
	for _, r := range []struct {
		flag    string
		actions []string
	}{
		{"topic", []string{"create", "describe", "delete"}},
		{"partitions", []string{"create"}},
		{"replication-factor", []string{"create"}},
		{"config", []string{"create"}},
		{"if-not-exists", []string{"create"}},
		{"if-exists", []string{"describe", "delete"}},
	} {
		if flags.Changed(r.flag) && !slices.Contains(r.actions, action) {
			return fmt.Errorf("--%s cannot be used with %s", r.flag, action)
		}
	}
	if (action == "create" || action == "delete") && o.topic == "" {
		return fmt.Errorf("%s: --topic is required", action)
	}

	cl, err := newClient(o.bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
	defer cancel()
	out := cmd.OutOrStdout()

	switch action {
	case "create":
		partitions, rf := int32(-1), int16(-1) // -1: the broker's default (CreateTopics v4+, KIP-464)
		if flags.Changed("partitions") {
			if o.partitions < 1 {
				return fmt.Errorf("--partitions must be at least 1, got %d", o.partitions)
			}
			partitions = o.partitions
		}
		if flags.Changed("replication-factor") {
			if o.replicationFactor < 1 {
				return fmt.Errorf("--replication-factor must be at least 1, got %d", o.replicationFactor)
			}
			rf = o.replicationFactor
		}
		return createTopic(ctx, adm, out, o, partitions, rf)
	case "list":
		return listTopics(ctx, adm, out)
	case "describe":
		return describeTopics(ctx, adm, out, o)
	case "delete":
		return deleteTopic(ctx, adm, o)
	}
	return fmt.Errorf("unknown action %q", action)
}

func createTopic(ctx context.Context, adm *kadm.Client, out io.Writer, o *topicsOptions, partitions int32, rf int16) error {
	kv, err := parseKeyValues("--config", o.configs)
	if err != nil {
		return err
	}
	configs := make(map[string]*string, len(kv))
	for k, v := range kv {
		configs[k] = kadm.StringPtr(v)
	}
	resp, err := adm.CreateTopic(ctx, partitions, rf, configs, o.topic)
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		if o.ifNotExists {
			return nil
		}
		return fmt.Errorf("topic %q already exists", o.topic)
	case err != nil:
		return topicError("create topic", o.topic, err, resp.ErrMessage)
	}
	fmt.Fprintf(out, "Created topic %s.\n", o.topic)
	return nil
}

func listTopics(ctx context.Context, adm *kadm.Client, out io.Writer) error {
	// kafka-topics.sh --list shows internal topics too (unless
	// --exclude-internal), so ask for them.
	details, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, name := range details.Names() {
		fmt.Fprintln(out, name)
	}
	return nil
}

func describeTopics(ctx context.Context, adm *kadm.Client, out io.Writer, o *topicsOptions) error {
	var names []string
	if o.topic != "" {
		names = []string{o.topic}
	}
	details, err := adm.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return fmt.Errorf("describe topics: %w", err)
	}
	var found []kadm.TopicDetail
	for _, d := range details.Sorted() {
		switch {
		case errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			if o.ifExists {
				continue
			}
			return fmt.Errorf("topic %q does not exist", d.Topic)
		case d.Err != nil:
			return topicError("describe topic", d.Topic, d.Err, "")
		}
		found = append(found, d)
	}
	if len(found) == 0 {
		return nil
	}
	topicNames := make([]string, len(found))
	for i, d := range found {
		topicNames[i] = d.Topic
	}
	configs, err := adm.DescribeTopicConfigs(ctx, topicNames...)
	if err != nil {
		return fmt.Errorf("describe topic configs: %w", err)
	}
	for _, d := range found {
		rc, err := configs.On(d.Topic, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			return topicError("describe configs of topic", d.Topic, err, rc.ErrMessage)
		}
		writeTopicDescription(out, d, rc.Configs)
	}
	return nil
}

// writeTopicDescription prints one topic as kafka-topics.sh --describe
// does: a summary line whose Configs are the ones not at their default,
// then one tab-indented line per partition.
func writeTopicDescription(out io.Writer, d kadm.TopicDetail, configs []kadm.Config) {
	var set []string
	for _, c := range configs {
		if c.Source != kmsg.ConfigSourceDefaultConfig {
			set = append(set, c.Key+"="+c.MaybeValue())
		}
	}
	sort.Strings(set)
	partitions := d.Partitions.Sorted()
	rf := 0
	if len(partitions) > 0 {
		rf = len(partitions[0].Replicas)
	}
	fmt.Fprintf(out, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
		d.Topic, kafkaUUID(d.ID), len(partitions), rf, strings.Join(set, ","))
	for _, p := range partitions {
		leader := "none"
		if p.Leader >= 0 {
			leader = strconv.Itoa(int(p.Leader))
		}
		fmt.Fprintf(out, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s\n",
			d.Topic, p.Partition, leader, joinInt32(p.Replicas), joinInt32(p.ISR))
	}
}

func deleteTopic(ctx context.Context, adm *kadm.Client, o *topicsOptions) error {
	resp, err := adm.DeleteTopic(ctx, o.topic)
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		if o.ifExists {
			return nil
		}
		return fmt.Errorf("topic %q does not exist", o.topic)
	case err != nil:
		return topicError("delete topic", o.topic, err, resp.ErrMessage)
	}
	// kafka-topics.sh --delete prints nothing on success either.
	return nil
}

// topicError words a failed topic operation, with the broker's message
// when it sent one.
func topicError(op, topic string, err error, brokerMsg string) error {
	if brokerMsg != "" {
		return fmt.Errorf("%s %q: %w: %s", op, topic, err, brokerMsg)
	}
	return fmt.Errorf("%s %q: %w", op, topic, err)
}

// kafkaUUID formats a topic ID as Kafka's Uuid.toString does: URL-safe
// base64 without padding.
func kafkaUUID(id kadm.TopicID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func joinInt32(xs []int32) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(int(x))
	}
	return strings.Join(s, ",")
}
