package main

// samsa groups: kafka-consumer-groups.sh's --list, --describe, --delete,
// --delete-offsets and --reset-offsets (groups_reset.go), also spelt as
// subcommands (samsa groups describe ...).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

func init() { extraCommands = append(extraCommands, groupsCommand) }

type groupsOptions struct {
	conn      connFlags
	groups    []string
	allGroups bool
	topics    []string
	allTopics bool
	state     string
	members   bool
	offsets   bool
	verbose   bool

	// --reset-offsets: one spec, and --dry-run (the default) or --execute.
	toEarliest, toLatest, toCurrent bool
	toOffset, shiftBy               int64
	toDatetime, byDuration          string
	fromFile                        string
	dryRun, execute, export         bool
}

// stateAll is --state given without a value: show every state.
const stateAll = "*"

const groupsLong = `List, describe and delete consumer groups and reset their offsets, with
kafka-consumer-groups.sh's flags.

Either form works:
  samsa groups --describe --group billing
  samsa groups describe --group billing

--describe shows, per partition, the group's committed offset
(CURRENT-OFFSET), the log end offset, the LAG between them and the member
that has the partition; --members lists the members (--verbose adds their
partitions), --state the group's state, assignor and member count.

--reset-offsets changes where a group resumes. It needs the group to have no
members (stop its consumers first), one of --to-earliest, --to-latest,
--to-current, --to-offset N, --shift-by N, --to-datetime
YYYY-MM-DDTHH:mm:SS.sss (local time unless a zone such as Z or +02:00
follows), --by-duration PnDTnHnMnS (that long ago) or --from-file FILE (CSV
lines topic,partition,offset), and which partitions: --topic t (every
partition), --topic t:0,1 (repeatable) or --all-topics (every partition the
group has committed). Without --execute it only prints the plan (--dry-run);
with --execute it commits the new offsets. Offsets outside a partition's
log are moved to its start or end.`

const groupsExample = `  samsa groups --list
  samsa groups --list --state Stable,Empty
  samsa groups --describe --group billing
  samsa groups --describe --group billing --members --verbose
  samsa groups --reset-offsets --group billing --topic orders --to-earliest --execute
  samsa groups --reset-offsets --group billing --topic orders:1 --to-offset 10 --dry-run
  samsa groups --reset-offsets --group billing --all-topics --by-duration PT1H --execute
  samsa groups --delete-offsets --group billing --topic orders
  samsa groups --delete --group billing`

var groupsActions = []action{
	{"list", "list the consumer groups"},
	{"describe", "describe groups: offsets and lag per partition, members, state"},
	{"delete", "delete groups that have no members, with their offsets"},
	{"delete-offsets", "delete a group's committed offsets of topics"},
	{"reset-offsets", "change a group's committed offsets"},
}

func groupsCommand() *cobra.Command {
	var o groupsOptions
	cmd := &cobra.Command{
		Use:     "groups",
		Short:   "List, describe, delete consumer groups and reset their offsets (kafka-consumer-groups.sh)",
		Long:    groupsLong,
		Example: groupsExample,
		// Positional arguments: the states of `--list --state Stable`,
		// which pflag cannot give to a flag whose value is optional.
		Args: cobra.ArbitraryArgs,
	}
	return actionCommand(cmd, groupsActions, func(c *cobra.Command) { addGroupsFlags(c, &o) },
		func(cmd *cobra.Command, act string, args []string) error { return runGroups(cmd, act, args, &o) })
}

func addGroupsFlags(cmd *cobra.Command, o *groupsOptions) {
	addConnFlags(cmd, &o.conn)
	f := cmd.Flags()
	f.StringArrayVar(&o.groups, "group", nil, "consumer group (repeatable)")
	f.BoolVar(&o.allGroups, "all-groups", false, "describe, delete, reset-offsets: every consumer group")
	f.StringArrayVar(&o.topics, "topic", nil, "topic, or topic:0,1 for some partitions (repeatable)")
	f.BoolVar(&o.allTopics, "all-topics", false, "reset-offsets: every partition the group has committed")
	f.StringVar(&o.state, "state", "", "list: show states, or only groups in these comma-separated states; describe: the group's state")
	f.Lookup("state").NoOptDefVal = stateAll
	f.BoolVar(&o.members, "members", false, "describe: the members")
	f.BoolVar(&o.offsets, "offsets", false, "describe: offsets and lag per partition (the default)")
	f.BoolVar(&o.verbose, "verbose", false, "describe --members: each member's partitions")
	f.BoolVar(&o.toEarliest, "to-earliest", false, "reset to the start of each partition")
	f.BoolVar(&o.toLatest, "to-latest", false, "reset to the end of each partition")
	f.BoolVar(&o.toCurrent, "to-current", false, "reset to the committed offset (the end where none)")
	f.Int64Var(&o.toOffset, "to-offset", 0, "reset to this offset")
	f.Int64Var(&o.shiftBy, "shift-by", 0, "move the committed offset by N (negative: back)")
	f.StringVar(&o.toDatetime, "to-datetime", "", "reset to the first record at or after YYYY-MM-DDTHH:mm:SS.sss")
	f.StringVar(&o.byDuration, "by-duration", "", "reset to the first record at or after this long ago, PnDTnHnMnS")
	f.StringVar(&o.fromFile, "from-file", "", "reset to the offsets of a CSV file: topic,partition,offset per line")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the new offsets without changing them (the default)")
	f.BoolVar(&o.execute, "execute", false, "commit the new offsets")
	f.BoolVar(&o.export, "export", false, "print the new offsets as CSV (topic,partition,offset), for --from-file")
}

var groupsFlagActions = map[string][]string{
	"group":       {"describe", "delete", "delete-offsets", "reset-offsets"},
	"all-groups":  {"describe", "delete", "reset-offsets"},
	"topic":       {"delete-offsets", "reset-offsets"},
	"all-topics":  {"reset-offsets"},
	"state":       {"list", "describe"},
	"members":     {"describe"},
	"offsets":     {"describe"},
	"verbose":     {"describe"},
	"to-earliest": {"reset-offsets"},
	"to-latest":   {"reset-offsets"},
	"to-current":  {"reset-offsets"},
	"to-offset":   {"reset-offsets"},
	"shift-by":    {"reset-offsets"},
	"to-datetime": {"reset-offsets"},
	"by-duration": {"reset-offsets"},
	"from-file":   {"reset-offsets"},
	"dry-run":     {"reset-offsets"},
	"execute":     {"reset-offsets"},
	"export":      {"reset-offsets"},
}

func runGroups(cmd *cobra.Command, act string, args []string, o *groupsOptions) error {
	if err := checkFlagsFor(cmd, act, groupsFlagActions); err != nil {
		return err
	}
	if len(args) > 0 {
		if act != "list" || o.state != stateAll || len(args) != 1 {
			return usagef("unexpected arguments %q", args)
		}
		o.state = args[0] // --list --state Stable
	}
	if err := o.checkGroups(cmd, act); err != nil {
		return err
	}
	var plan *resetPlan
	if act == "reset-offsets" {
		var err error
		if plan, err = o.resetSpec(cmd); err != nil {
			return err
		}
	}
	if act == "describe" && btoi(o.members)+btoi(o.offsets)+btoi(cmd.Flags().Changed("state")) > 1 {
		return usagef("describe: only one of --members, --offsets and --state")
	}
	if o.verbose && !o.members {
		return usagef("--verbose needs --members")
	}
	adm, err := o.conn.admin(cmd)
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx := cmd.Context()
	if o.allGroups {
		listed, err := waitingFor(cmd, "listing groups", func() ([]kafka.GroupListing, error) { return adm.ListConsumerGroups(ctx) })
		if err != nil {
			return fmt.Errorf("list groups: %w", err)
		}
		o.groups = nil
		for _, g := range listed {
			o.groups = append(o.groups, g.GroupID)
		}
	}
	switch act {
	case "list":
		return listGroups(ctx, cmd, adm, o)
	case "describe":
		return describeGroups(ctx, cmd, adm, o)
	case "delete":
		return deleteGroups(ctx, cmd, adm, o)
	case "delete-offsets":
		return deleteGroupOffsets(ctx, cmd, adm, o)
	case "reset-offsets":
		return resetOffsets(ctx, cmd, adm, o, plan)
	}
	return fmt.Errorf("unknown action %q", act)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkGroups checks the group selection of an action.
func (o *groupsOptions) checkGroups(cmd *cobra.Command, act string) error {
	switch {
	case act == "list":
		return nil
	case o.allGroups && len(o.groups) > 0:
		return usagef("--group and --all-groups cannot be used together")
	case !o.allGroups && len(o.groups) == 0:
		return usagef("%s: --group (or --all-groups) is required", act)
	case act == "delete-offsets" && len(o.groups) != 1:
		return usagef("delete-offsets: exactly one --group")
	case act == "delete-offsets" && len(o.topics) == 0:
		return usagef("delete-offsets: --topic is required")
	}
	for _, g := range o.groups {
		if strings.TrimSpace(g) == "" {
			return usagef("--group: empty group id")
		}
	}
	return nil
}

func listGroups(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, o *groupsOptions) error {
	listed, err := waitingFor(cmd, "listing groups", func() ([]kafka.GroupListing, error) { return adm.ListConsumerGroups(ctx) })
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	out := cmd.OutOrStdout()
	if o.state == "" {
		for _, g := range listed {
			fmt.Fprintln(out, g.GroupID)
		}
		return nil
	}
	var want []string
	if o.state != stateAll {
		for _, s := range strings.Split(o.state, ",") {
			want = append(want, strings.ToLower(strings.TrimSpace(s)))
		}
	}
	var rows [][]string
	for _, g := range listed {
		if want == nil || slices.Contains(want, strings.ToLower(g.State)) {
			rows = append(rows, []string{g.GroupID, g.State})
		}
	}
	groupLen := 15
	for _, r := range rows {
		groupLen = max(groupLen, len(r[0]))
	}
	format := "%-" + strconv.Itoa(groupLen) + "s %s\n"
	fmt.Fprintf(out, format, "GROUP", "STATE")
	for _, r := range rows {
		fmt.Fprintf(out, format, r[0], r[1])
	}
	return nil
}

// groupMissing is whether a described group does not exist: Kafka reports
// such a group as Dead.
func groupMissing(d kafka.GroupDescription) bool {
	return d.State == "Dead" || d.State == ""
}

func describeGroups(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, o *groupsOptions) error {
	descs, err := waitingFor(cmd, "describing groups", func() ([]kafka.GroupDescription, error) {
		return adm.DescribeConsumerGroups(ctx, o.groups...)
	})
	if err != nil {
		return fmt.Errorf("describe groups: %w", err)
	}
	out := cmd.OutOrStdout()
	var errs []error
	for _, d := range descs {
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("describe group %s: %w", d.GroupID, d.Err))
			continue
		}
		switch {
		case o.members:
			if groupMissing(d) {
				errs = append(errs, fmt.Errorf("consumer group '%s' does not exist", d.GroupID))
				continue
			}
			writeGroupMembers(out, d, o.verbose)
		case cmd.Flags().Changed("state"):
			if groupMissing(d) {
				errs = append(errs, fmt.Errorf("consumer group '%s' does not exist", d.GroupID))
				continue
			}
			writeGroupState(out, d)
		default:
			if err := describeGroupOffsets(ctx, cmd, adm, out, d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// lagRow is one line of describe's offsets table.
type lagRow struct {
	tp                 kafka.TopicPartition
	current, end       string
	lag                string
	member, host, clID string
}

func describeGroupOffsets(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, out io.Writer, d kafka.GroupDescription) error {
	committed, err := waitingFor(cmd, "fetching the offsets of group "+d.GroupID, func() (map[kafka.TopicPartition]kafka.OffsetAndMetadata, error) {
		return adm.ListConsumerGroupOffsets(ctx, d.GroupID)
	})
	if err != nil {
		return fmt.Errorf("offsets of group %s: %w", d.GroupID, err)
	}
	if groupMissing(d) && len(committed) == 0 {
		return fmt.Errorf("consumer group '%s' does not exist", d.GroupID)
	}
	rows := map[kafka.TopicPartition]*lagRow{}
	row := func(tp kafka.TopicPartition) *lagRow {
		r := rows[tp]
		if r == nil {
			r = &lagRow{tp: tp, current: "-", end: "-", lag: "-", member: "-", host: "-", clID: "-"}
			rows[tp] = r
		}
		return r
	}
	for _, m := range d.Members {
		for _, tp := range m.Assignment {
			r := row(tp)
			r.member, r.host, r.clID = m.MemberID, m.Host, m.ClientID
		}
	}
	for tp, om := range committed {
		if om.Offset >= 0 {
			row(tp).current = strconv.FormatInt(om.Offset, 10)
		} else {
			row(tp)
		}
	}
	tps := make([]kafka.TopicPartition, 0, len(rows))
	for tp := range rows {
		tps = append(tps, tp)
	}
	sortPartitions(tps)
	ends, err := logEndOffsets(ctx, cmd, adm, tps)
	if err != nil {
		return err
	}
	for tp, end := range ends {
		r := rows[tp]
		r.end = strconv.FormatInt(end, 10)
		if om, ok := committed[tp]; ok && om.Offset >= 0 {
			r.lag = strconv.FormatInt(max(0, end-om.Offset), 10)
		}
	}
	switch {
	case len(d.Members) == 0:
		fmt.Fprintf(out, "\nConsumer group '%s' has no active members.\n", d.GroupID)
	case strings.Contains(d.State, "Rebalance") || d.State == "Assigning" || d.State == "Reconciling":
		fmt.Fprintf(out, "\nWarning: Consumer group '%s' is rebalancing.\n", d.GroupID)
	}
	if len(tps) == 0 {
		return nil
	}
	groupLen, topicLen, memberLen, hostLen := 15, 15, 15, 15
	for _, r := range rows {
		groupLen = max(groupLen, len(d.GroupID))
		topicLen = max(topicLen, len(r.tp.Topic))
		memberLen = max(memberLen, len(r.member))
		hostLen = max(hostLen, len(r.host))
	}
	format := fmt.Sprintf("%%-%ds %%-%ds %%-10s %%-15s %%-15s %%-15s %%-%ds %%-%ds %%s\n", groupLen, topicLen, memberLen, hostLen)
	fmt.Fprintln(out)
	fmt.Fprintf(out, format, "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
	for _, tp := range tps {
		r := rows[tp]
		fmt.Fprintf(out, format, d.GroupID, tp.Topic, strconv.Itoa(int(tp.Partition)), r.current, r.end, r.lag, r.member, r.host, r.clID)
	}
	return nil
}

// logEndOffsets returns the log end offsets of the partitions that exist;
// those of deleted topics are left out (describe shows "-").
func logEndOffsets(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, tps []kafka.TopicPartition) (map[kafka.TopicPartition]int64, error) {
	existing, err := existingPartitions(ctx, cmd, adm, tps)
	if err != nil || len(existing) == 0 {
		return nil, err
	}
	at := make(map[kafka.TopicPartition]int64, len(existing))
	for _, tp := range existing {
		at[tp] = -1 // latest
	}
	ends, err := waitingFor(cmd, "listing log end offsets", func() (map[kafka.TopicPartition]int64, error) { return adm.ListOffsets(ctx, at) })
	if err != nil {
		return nil, fmt.Errorf("log end offsets: %w", err)
	}
	return ends, nil
}

// existingPartitions keeps the partitions whose topic and partition
// exist: asking for the offsets of others would wait for a leader until
// the call times out.
func existingPartitions(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, tps []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	counts, err := partitionCounts(ctx, cmd, adm, topicsOf(tps))
	if err != nil {
		return nil, err
	}
	var out []kafka.TopicPartition
	for _, tp := range tps {
		if tp.Partition < counts[tp.Topic] {
			out = append(out, tp)
		}
	}
	return out, nil
}

// partitionCounts returns the partition count of each topic that exists.
func partitionCounts(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, topics []string) (map[string]int32, error) {
	out := map[string]int32{}
	if len(topics) == 0 {
		return out, nil
	}
	descs, err := waitingFor(cmd, "describing topics", func() ([]kafka.TopicDescription, error) { return adm.DescribeTopics(ctx, topics...) })
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	for _, d := range descs {
		if d.Err == nil {
			out[d.Name] = int32(len(d.Partitions))
		}
	}
	return out, nil
}

func topicsOf(tps []kafka.TopicPartition) []string {
	var out []string
	for _, tp := range tps {
		if !slices.Contains(out, tp.Topic) {
			out = append(out, tp.Topic)
		}
	}
	sort.Strings(out)
	return out
}

func sortPartitions(tps []kafka.TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// writeGroupMembers prints describe --members as Kafka does.
func writeGroupMembers(out io.Writer, d kafka.GroupDescription, verbose bool) {
	if len(d.Members) == 0 {
		fmt.Fprintf(out, "\nConsumer group '%s' has no active members.\n", d.GroupID)
		return
	}
	groupLen, memberLen, hostLen, clientLen := max(15, len(d.GroupID)), 15, 15, 15
	for _, m := range d.Members {
		memberLen = max(memberLen, len(m.MemberID))
		hostLen = max(hostLen, len(m.Host))
		clientLen = max(clientLen, len(m.ClientID))
	}
	format := fmt.Sprintf("%%-%ds %%-%ds %%-%ds %%-%ds %%-15s", groupLen, memberLen, hostLen, clientLen)
	fmt.Fprintln(out)
	if verbose {
		fmt.Fprintf(out, format+" %s\n", "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT")
	} else {
		fmt.Fprintf(out, format+"\n", "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
	}
	for _, m := range d.Members {
		n := strconv.Itoa(len(m.Assignment))
		if verbose {
			fmt.Fprintf(out, format+" %s\n", d.GroupID, m.MemberID, m.Host, m.ClientID, n, assignmentString(m.Assignment))
		} else {
			fmt.Fprintf(out, format+"\n", d.GroupID, m.MemberID, m.Host, m.ClientID, n)
		}
	}
}

// assignmentString writes partitions as Kafka's --verbose does:
// topic(0,1), other(2).
func assignmentString(tps []kafka.TopicPartition) string {
	if len(tps) == 0 {
		return "-"
	}
	byTopic := map[string][]int32{}
	for _, tp := range tps {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	var parts []string
	for _, t := range topicsOf(tps) {
		ps := byTopic[t]
		slices.Sort(ps)
		parts = append(parts, t+"("+joinInt32(ps)+")")
	}
	return strings.Join(parts, ", ")
}

// writeGroupState prints describe --state, as Kafka does: the
// coordinator as host:port and its id.
func writeGroupState(out io.Writer, d kafka.GroupDescription) {
	coord := "-"
	if c := d.Coordinator; c.ID >= 0 && c.Host != "" {
		coord = fmt.Sprintf("%s:%d  (%d)", c.Host, c.Port, c.ID)
	}
	format := fmt.Sprintf("%%-%ds %%-%ds %%-20s %%-15s %%s\n", max(25, len(d.GroupID)), max(25, len(coord)))
	fmt.Fprintln(out)
	fmt.Fprintf(out, format, "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS")
	assignor := d.Assignor
	if assignor == "" {
		assignor = "-"
	}
	fmt.Fprintf(out, format, d.GroupID, coord, assignor, d.State, strconv.Itoa(len(d.Members)))
}

func deleteGroups(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, o *groupsOptions) error {
	if len(o.groups) == 0 {
		return nil // --all-groups with none
	}
	res, err := waitingFor(cmd, "deleting groups", func() (map[string]error, error) { return adm.DeleteConsumerGroups(ctx, o.groups...) })
	if err != nil {
		return fmt.Errorf("delete groups: %w", err)
	}
	var ok, failed []string
	for _, g := range o.groups {
		if res[g] == nil {
			ok = append(ok, g)
		} else {
			failed = append(failed, g)
		}
	}
	out := cmd.OutOrStdout()
	if len(failed) == 0 {
		fmt.Fprintf(out, "Deletion of requested consumer groups ('%s') was successful.\n", strings.Join(ok, "', '"))
		return nil
	}
	fmt.Fprintln(out, "Deletion of some consumer groups failed:")
	for _, g := range failed {
		fmt.Fprintf(out, "* Group '%s' could not be deleted due to: %v\n", g, res[g])
	}
	if len(ok) > 0 {
		fmt.Fprintf(out, "\nThese consumer groups were deleted successfully: '%s'\n", strings.Join(ok, "', '"))
	}
	return fmt.Errorf("%d of %d groups were not deleted", len(failed), len(o.groups))
}

// parseTopicPartitions reads --topic values: t (every partition) or
// t:0,1.
func parseTopicPartitions(values []string) (whole []string, some []kafka.TopicPartition, err error) {
	for _, v := range values {
		topic, parts, hasParts := strings.Cut(v, ":")
		if topic == "" {
			return nil, nil, usagef("--topic %q: no topic name", v)
		}
		if !hasParts {
			whole = append(whole, topic)
			continue
		}
		for _, p := range strings.Split(parts, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
			if err != nil || n < 0 {
				return nil, nil, usagef("--topic %q: %q is not a partition number", v, p)
			}
			some = append(some, kafka.TopicPartition{Topic: topic, Partition: int32(n)})
		}
	}
	return whole, some, nil
}

// topicPartitions expands --topic values to partitions; a topic that does
// not exist is an error.
func topicPartitions(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, values []string) ([]kafka.TopicPartition, error) {
	whole, some, err := parseTopicPartitions(values)
	if err != nil {
		return nil, err
	}
	topics := append([]string{}, whole...)
	topics = append(topics, topicsOf(some)...)
	counts, err := partitionCounts(ctx, cmd, adm, topics)
	if err != nil {
		return nil, err
	}
	var out []kafka.TopicPartition
	for _, t := range whole {
		n, ok := counts[t]
		if !ok {
			return nil, fmt.Errorf("topic %q does not exist", t)
		}
		for p := int32(0); p < n; p++ {
			out = append(out, kafka.TopicPartition{Topic: t, Partition: p})
		}
	}
	for _, tp := range some {
		n, ok := counts[tp.Topic]
		if !ok {
			return nil, fmt.Errorf("topic %q does not exist", tp.Topic)
		}
		if tp.Partition >= n {
			return nil, fmt.Errorf("topic %q has no partition %d (it has %d)", tp.Topic, tp.Partition, n)
		}
		if !slices.Contains(out, tp) {
			out = append(out, tp)
		}
	}
	sortPartitions(out)
	return out, nil
}

func deleteGroupOffsets(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, o *groupsOptions) error {
	group := o.groups[0]
	tps, err := topicPartitions(ctx, cmd, adm, o.topics)
	if err != nil {
		return err
	}
	res, err := waitingFor(cmd, "deleting offsets of group "+group, func() (map[kafka.TopicPartition]error, error) {
		return adm.DeleteConsumerGroupOffsets(ctx, group, tps...)
	})
	if err != nil {
		return fmt.Errorf("delete offsets of group %s: %w", group, err)
	}
	out := cmd.OutOrStdout()
	const format = "%-30s %-15s %-60s\n"
	fmt.Fprintln(out)
	fmt.Fprintf(out, format, "TOPIC", "PARTITION", "STATUS")
	failed := 0
	for _, tp := range tps {
		status := "Successful"
		if err := res[tp]; err != nil {
			status = "Error: " + err.Error()
			failed++
		}
		fmt.Fprintf(out, format, tp.Topic, strconv.Itoa(int(tp.Partition)), status)
	}
	if failed > 0 {
		return fmt.Errorf("deleting offsets of group %s failed for %d of %d partitions", group, failed, len(tps))
	}
	return nil
}
