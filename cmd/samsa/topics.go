package main

// samsa topics: kafka-topics.sh's --create, --list, --describe, --alter and
// --delete, also spelt as subcommands (samsa topics create ...).

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/kafka"
)

func init() { extraCommands = append(extraCommands, topicsCommand) }

// topicsOptions are the flags of every form of the command.
type topicsOptions struct {
	conn              connFlags
	topic             string
	partitions        int32
	replicationFactor int16
	replicaAssignment string
	configs           []string
	ifNotExists       bool
	ifExists          bool
	excludeInternal   bool

	// The partition filters of --describe.
	underReplicated, unavailable, atMinISR, underMinISR bool
}

const topicsLong = `Create, list, describe, alter and delete topics, with kafka-topics.sh's flags.

Either form works:
  samsa topics --create --topic orders --partitions 3
  samsa topics create --topic orders --partitions 3

Without --partitions or --replication-factor the broker's num.partitions and
default.replication.factor apply; --replica-assignment places the replicas
instead ("1:2,2:3": partition 0 on brokers 1 and 2, partition 1 on 2 and 3).

--describe prints, per topic, a line with the topic id, partition count,
replication factor and the configs set on the topic or the broker (not
defaults), then a line per partition with its leader, replicas and in-sync
replicas. --under-replicated-partitions, --unavailable-partitions,
--at-min-isr-partitions and --under-min-isr-partitions print only the
partitions in that condition. Without --topic every topic is described;
--topic may be a regular expression for --list, --describe, --alter and
--delete.`

const topicsExample = `  samsa topics --create --topic orders --partitions 3 --replication-factor 1 --config retention.ms=86400000
  samsa topics --list --exclude-internal
  samsa topics --describe --topic orders
  samsa topics --describe --under-replicated-partitions
  samsa topics --alter --topic orders --partitions 6
  samsa topics --delete --topic orders --if-exists`

var topicsActions = []action{
	{"create", "create a topic"},
	{"list", "list the topics"},
	{"describe", "describe topics: partitions, leaders, replicas, ISR, configs"},
	{"alter", "raise a topic's partition count"},
	{"delete", "delete topics"},
}

func topicsCommand() *cobra.Command {
	var o topicsOptions
	cmd := &cobra.Command{
		Use:     "topics",
		Short:   "Create, list, describe, alter and delete topics (kafka-topics.sh)",
		Long:    topicsLong,
		Example: topicsExample,
		Args:    noArgs,
	}
	return actionCommand(cmd, topicsActions, func(c *cobra.Command) { addTopicsFlags(c, &o) },
		func(cmd *cobra.Command, act string, _ []string) error { return runTopics(cmd, act, &o) })
}

func addTopicsFlags(cmd *cobra.Command, o *topicsOptions) {
	addConnFlags(cmd, &o.conn)
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic name (a regular expression for list, describe, alter, delete)")
	f.Int32Var(&o.partitions, "partitions", 0, "number of partitions (create: default the broker's num.partitions; alter: the new total)")
	f.Int16Var(&o.replicationFactor, "replication-factor", 0, "replicas per partition (create; default the broker's default.replication.factor)")
	f.StringVar(&o.replicaAssignment, "replica-assignment", "", "create: brokers of each partition's replicas, e.g. 1:2,2:3 (partitions by comma, brokers by colon)")
	f.StringArrayVar(&o.configs, "config", nil, "topic config key=value (create; repeatable), e.g. --config retention.ms=3600000")
	f.BoolVar(&o.ifNotExists, "if-not-exists", false, "create: do nothing if the topic exists")
	f.BoolVar(&o.ifExists, "if-exists", false, "describe, alter, delete: do nothing if the topic does not exist")
	f.BoolVar(&o.excludeInternal, "exclude-internal", false, "list, describe: leave out internal topics such as __consumer_offsets")
	f.BoolVar(&o.underReplicated, "under-replicated-partitions", false, "describe: only partitions with fewer in-sync replicas than replicas")
	f.BoolVar(&o.unavailable, "unavailable-partitions", false, "describe: only partitions without a leader")
	f.BoolVar(&o.atMinISR, "at-min-isr-partitions", false, "describe: only partitions whose in-sync replicas are exactly min.insync.replicas")
	f.BoolVar(&o.underMinISR, "under-min-isr-partitions", false, "describe: only partitions with fewer in-sync replicas than min.insync.replicas")
}

// topicsFlagActions is which actions each flag belongs to.
var topicsFlagActions = map[string][]string{
	"topic":                       {"create", "list", "describe", "alter", "delete"},
	"partitions":                  {"create", "alter"},
	"replication-factor":          {"create"},
	"replica-assignment":          {"create"},
	"config":                      {"create"},
	"if-not-exists":               {"create"},
	"if-exists":                   {"describe", "alter", "delete"},
	"exclude-internal":            {"list", "describe"},
	"under-replicated-partitions": {"describe"},
	"unavailable-partitions":      {"describe"},
	"at-min-isr-partitions":       {"describe"},
	"under-min-isr-partitions":    {"describe"},
}

func runTopics(cmd *cobra.Command, act string, o *topicsOptions) error {
	if err := checkFlagsFor(cmd, act, topicsFlagActions); err != nil {
		return err
	}
	if (act == "create" || act == "alter" || act == "delete") && o.topic == "" {
		return usagef("%s: --topic is required", act)
	}
	var nt kafka.NewTopic
	if act == "create" {
		var err error
		if nt, err = o.newTopic(cmd); err != nil {
			return err
		}
	}
	if act == "alter" {
		if !cmd.Flags().Changed("partitions") {
			return usagef("alter: --partitions is required (the only change kafka-topics.sh --alter makes)")
		}
		if o.partitions < 1 {
			return usagef("--partitions must be at least 1, got %d", o.partitions)
		}
	}
	adm, err := o.conn.admin(cmd)
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx := cmd.Context()
	out := cmd.OutOrStdout()

	switch act {
	case "create":
		return createTopic(cmd, adm, nt, o.ifNotExists)
	case "list":
		return listTopics(ctx, cmd, adm, o)
	case "describe":
		return describeTopics(ctx, cmd, adm, out, o)
	case "alter":
		return alterTopics(ctx, cmd, adm, o)
	case "delete":
		return deleteTopics(ctx, cmd, adm, o)
	}
	return fmt.Errorf("unknown action %q", act)
}

// newTopic checks the create flags and returns the topic to create.
func (o *topicsOptions) newTopic(cmd *cobra.Command) (kafka.NewTopic, error) {
	flags := cmd.Flags()
	nt := kafka.NewTopic{Name: o.topic}
	if flags.Changed("partitions") {
		if o.partitions < 1 {
			return nt, usagef("--partitions must be at least 1, got %d", o.partitions)
		}
		nt.NumPartitions = o.partitions
	}
	if flags.Changed("replication-factor") {
		if o.replicationFactor < 1 {
			return nt, usagef("--replication-factor must be at least 1, got %d", o.replicationFactor)
		}
		nt.ReplicationFactor = o.replicationFactor
	}
	if o.replicaAssignment != "" {
		if nt.NumPartitions > 0 || nt.ReplicationFactor > 0 {
			return nt, usagef("--replica-assignment cannot be used with --partitions or --replication-factor")
		}
		ra, err := parseReplicaAssignment(o.replicaAssignment)
		if err != nil {
			return nt, err
		}
		nt.ReplicaAssignment = ra
	}
	kv, err := parseKeyValues("--config", o.configs)
	if err != nil {
		return nt, err
	}
	nt.Configs = kv
	return nt, nil
}

// parseReplicaAssignment reads kafka-topics.sh's --replica-assignment:
// partitions separated by commas, each a colon-separated broker list.
func parseReplicaAssignment(s string) (map[int32][]int32, error) {
	out := map[int32][]int32{}
	width := -1
	for p, part := range strings.Split(s, ",") {
		var brokers []int32
		for _, b := range strings.Split(part, ":") {
			id, err := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
			if err != nil || id < 0 {
				return nil, usagef("--replica-assignment %q: %q is not a broker id", s, b)
			}
			for _, seen := range brokers {
				if seen == int32(id) {
					return nil, usagef("--replica-assignment %q: partition %d names broker %d twice", s, p, id)
				}
			}
			brokers = append(brokers, int32(id))
		}
		if width >= 0 && len(brokers) != width {
			return nil, usagef("--replica-assignment %q: every partition needs the same number of replicas", s)
		}
		width = len(brokers)
		out[int32(p)] = brokers
	}
	return out, nil
}

func createTopic(cmd *cobra.Command, adm *kafka.Admin, nt kafka.NewTopic, ifNotExists bool) error {
	res, err := waitingFor(cmd, "creating topic "+nt.Name, func() ([]kafka.TopicResult, error) {
		return adm.CreateTopics(cmd.Context(), false, nt)
	})
	if err == nil {
		err = res[0].Err
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		if ifNotExists {
			return nil
		}
		return fmt.Errorf("topic %q already exists", nt.Name)
	case err != nil:
		return fmt.Errorf("create topic %q: %w", nt.Name, err)
	}
	if strings.ContainsAny(nt.Name, "._") {
		// kafka-topics.sh's warning: metric names replace '.' with '_'.
		fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.")
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Created topic %s.\n", nt.Name)
	return nil
}

// matchTopics returns the topics --topic names: all of them without it,
// the one named if it exists, else those the name matches as a regular
// expression (kafka-topics.sh's --topic is one). It lists internal topics
// unless excludeInternal.
func matchTopics(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, pattern string, excludeInternal bool) ([]kafka.TopicDescription, error) {
	all, err := waitingFor(cmd, "listing topics", func() ([]kafka.TopicDescription, error) {
		return adm.ListTopics(ctx, !excludeInternal)
	})
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	if pattern == "" {
		return all, nil
	}
	for _, d := range all {
		if d.Name == pattern {
			return []kafka.TopicDescription{d}, nil
		}
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, nil // not a pattern: a topic that does not exist
	}
	var out []kafka.TopicDescription
	for _, d := range all {
		if re.MatchString(d.Name) {
			out = append(out, d)
		}
	}
	return out, nil
}

func listTopics(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, o *topicsOptions) error {
	ts, err := matchTopics(ctx, cmd, adm, o.topic, o.excludeInternal)
	if err != nil {
		return err
	}
	for _, d := range ts {
		fmt.Fprintln(cmd.OutOrStdout(), d.Name)
	}
	return nil
}

// missingTopic is the error for a --topic that matched nothing.
func missingTopic(topic string, ifExists bool) error {
	if ifExists {
		return nil
	}
	return fmt.Errorf("topic %q does not exist", topic)
}

func describeTopics(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, out io.Writer, o *topicsOptions) error {
	found, err := matchTopics(ctx, cmd, adm, o.topic, o.excludeInternal)
	if err != nil {
		return err
	}
	if len(found) == 0 && o.topic != "" {
		return missingTopic(o.topic, o.ifExists)
	}
	for _, d := range found {
		if d.Err != nil {
			return fmt.Errorf("describe topic %q: %w", d.Name, d.Err)
		}
	}
	if len(found) == 0 {
		return nil
	}
	resources := make([]kafka.ConfigResource, len(found))
	for i, d := range found {
		resources[i] = kafka.ConfigResource{Type: kafka.ConfigResourceTopic, Name: d.Name}
	}
	configs, err := waitingFor(cmd, "describing topic configs", func() ([]kafka.ConfigResult, error) {
		return adm.DescribeConfigs(ctx, resources...)
	})
	if err != nil {
		return fmt.Errorf("describe topic configs: %w", err)
	}
	filtered := o.underReplicated || o.unavailable || o.atMinISR || o.underMinISR
	for i, d := range found {
		if configs[i].Err != nil {
			return fmt.Errorf("describe configs of topic %q: %w", d.Name, configs[i].Err)
		}
		if filtered {
			minISR := 1
			if e, ok := configs[i].Entry("min.insync.replicas"); ok {
				if n, err := strconv.Atoi(e.Value); err == nil {
					minISR = n
				}
			}
			for _, p := range d.Partitions {
				if o.partitionSelected(p, minISR) {
					writePartition(out, p)
				}
			}
			continue
		}
		writeTopicDescription(out, d, configs[i].Entries)
	}
	return nil
}

// partitionSelected reports whether the describe filters keep p.
func (o *topicsOptions) partitionSelected(p kafka.PartitionInfo, minISR int) bool {
	isr := len(p.InSyncReplicas)
	return o.underReplicated && isr < len(p.Replicas) ||
		o.unavailable && p.Leader == nil ||
		o.atMinISR && isr == minISR ||
		o.underMinISR && isr < minISR
}

// writeTopicDescription prints one topic as kafka-topics.sh --describe
// does: a summary line whose Configs are the ones not at their default,
// then one tab-indented line per partition.
func writeTopicDescription(out io.Writer, d kafka.TopicDescription, configs []kafka.ConfigEntry) {
	var set []string
	for _, c := range configs {
		if !c.IsDefault {
			v := c.Value
			if c.Sensitive || c.IsNull {
				v = "null"
			}
			set = append(set, c.Name+"="+v)
		}
	}
	sort.Strings(set)
	rf := 0
	if len(d.Partitions) > 0 {
		rf = len(d.Partitions[0].Replicas)
	}
	fmt.Fprintf(out, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
		d.Name, kafkaUUID(d.ID), len(d.Partitions), rf, strings.Join(set, ","))
	for _, p := range d.Partitions {
		writePartition(out, p)
	}
}

func writePartition(out io.Writer, p kafka.PartitionInfo) {
	leader := "none"
	if p.Leader != nil {
		leader = strconv.Itoa(int(p.Leader.ID))
	}
	fmt.Fprintf(out, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s",
		p.Topic, p.Partition, leader, joinInt32(p.Replicas), joinInt32(p.InSyncReplicas))
	if len(p.OfflineReplicas) > 0 {
		fmt.Fprintf(out, "\tOffline: %s", joinInt32(p.OfflineReplicas))
	}
	fmt.Fprintln(out)
}

func alterTopics(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, o *topicsOptions) error {
	found, err := matchTopics(ctx, cmd, adm, o.topic, false)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return missingTopic(o.topic, o.ifExists)
	}
	totals := map[string]int32{}
	for _, d := range found {
		totals[d.Name] = o.partitions
	}
	res, err := waitingFor(cmd, "adding partitions", func() (map[string]error, error) {
		return adm.CreatePartitions(ctx, false, totals)
	})
	if err != nil {
		return fmt.Errorf("alter partitions: %w", err)
	}
	var errs []error
	for _, d := range found {
		if err := res[d.Name]; err != nil {
			errs = append(errs, fmt.Errorf("alter topic %q: %w", d.Name, err))
		}
	}
	return errors.Join(errs...)
}

func deleteTopics(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, o *topicsOptions) error {
	found, err := matchTopics(ctx, cmd, adm, o.topic, false)
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return missingTopic(o.topic, o.ifExists)
	}
	names := make([]string, len(found))
	for i, d := range found {
		names[i] = d.Name
	}
	res, err := waitingFor(cmd, "deleting topics", func() (map[string]error, error) {
		return adm.DeleteTopics(ctx, names...)
	})
	if err != nil {
		return fmt.Errorf("delete topics: %w", err)
	}
	var errs []error
	for _, n := range names {
		if err := res[n]; err != nil && !(o.ifExists && errors.Is(err, kerr.UnknownTopicOrPartition)) {
			errs = append(errs, fmt.Errorf("delete topic %q: %w", n, err))
		}
	}
	// kafka-topics.sh --delete prints nothing on success either.
	return errors.Join(errs...)
}

// kafkaUUID formats a topic ID as Kafka's Uuid.toString does: URL-safe
// base64 without padding.
func kafkaUUID(id kafka.UUID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}
