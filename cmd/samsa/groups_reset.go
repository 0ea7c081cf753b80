package main

// samsa groups --reset-offsets: kafka-consumer-groups.sh's offset reset.
// The new offsets are planned from the partitions' earliest and latest
// offsets, the group's committed ones or a timestamp lookup, printed, and
// committed with --execute, only while the group has no members.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

// resetPlan is the reset spec of the flags.
type resetPlan struct {
	kind   string // the spec flag, e.g. "to-earliest"
	offset int64  // to-offset, shift-by
	at     time.Time
	file   map[string][]fileOffset // by group ("" for any) from --from-file
}

// fileOffset is one line of a --from-file CSV.
type fileOffset struct {
	tp     kafka.TopicPartition
	offset int64
}

// resetSpecs are the reset flags, one of which is required.
var resetSpecs = []string{"to-earliest", "to-latest", "to-current", "to-offset", "shift-by", "to-datetime", "by-duration", "from-file"}

// now is the clock of --by-duration; a variable for tests.
var now = time.Now

func (o *groupsOptions) resetSpec(cmd *cobra.Command) (*resetPlan, error) {
	flags := cmd.Flags()
	var set []string
	for _, s := range resetSpecs {
		if flags.Changed(s) {
			set = append(set, "--"+s)
		}
	}
	if len(set) != 1 {
		return nil, usagef("reset-offsets: exactly one of --%s is required, got %d", strings.Join(resetSpecs, ", --"), len(set))
	}
	if o.dryRun && o.execute {
		return nil, usagef("--dry-run and --execute cannot be used together")
	}
	p := &resetPlan{kind: strings.TrimPrefix(set[0], "--")}
	scopes := btoi(len(o.topics) > 0) + btoi(o.allTopics)
	switch {
	case p.kind == "from-file" && scopes > 0:
		return nil, usagef("--from-file names its partitions: no --topic or --all-topics")
	case p.kind != "from-file" && scopes != 1:
		return nil, usagef("reset-offsets: one of --topic or --all-topics is required")
	}
	if _, _, err := parseTopicPartitions(o.topics); err != nil {
		return nil, err
	}
	var err error
	switch p.kind {
	case "to-offset":
		if o.toOffset < 0 {
			return nil, usagef("--to-offset %d: cannot be negative", o.toOffset)
		}
		p.offset = o.toOffset
	case "shift-by":
		p.offset = o.shiftBy
	case "to-datetime":
		p.at, err = parseKafkaDatetime(o.toDatetime)
	case "by-duration":
		var d time.Duration
		d, err = parseISODuration(o.byDuration)
		p.at = now().Add(-d)
	case "from-file":
		p.file, err = readOffsetsFile(o.fromFile)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// datetimeLayouts are the forms --to-datetime takes: Kafka's
// yyyy-MM-dd'T'HH:mm:ss.SSS, with or without the milliseconds, with an
// optional zone.
var datetimeLayouts = []string{
	"2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05.000",
	"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05",
}

func parseKafkaDatetime(s string) (time.Time, error) {
	for _, l := range datetimeLayouts {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("--to-datetime %q: expected YYYY-MM-DDTHH:mm:SS.sss, optionally followed by Z or a zone such as +02:00", s)
}

var isoDuration = regexp.MustCompile(`^([-+]?)P(?:([-+]?\d+)D)?(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+(?:[.,]\d{1,9})?)S)?)?$`)

// parseISODuration reads an ISO-8601 duration as Java's Duration.parse
// does: PnDTnHnMn.nS, days being 24 hours.
func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || strings.HasSuffix(strings.ToUpper(s), "T") || m[2]+m[3]+m[4]+m[5] == "" {
		return 0, usagef("--by-duration %q: expected an ISO-8601 duration such as P1DT2H30M or PT15M", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+2] != "" {
			n, err := strconv.ParseInt(m[i+2], 10, 64)
			if err != nil {
				return 0, usagef("--by-duration %q: %v", s, err)
			}
			d += time.Duration(n) * unit
		}
	}
	if m[5] != "" {
		f, err := strconv.ParseFloat(strings.Replace(m[5], ",", ".", 1), 64)
		if err != nil {
			return 0, usagef("--by-duration %q: %v", s, err)
		}
		d += time.Duration(f * float64(time.Second))
	}
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}

// readOffsetsFile reads --from-file: CSV lines topic,partition,offset, or
// group,topic,partition,offset as --export writes for several groups.
func readOffsetsFile(path string) (map[string][]fileOffset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErr(fmt.Errorf("--from-file: %w", err))
	}
	defer f.Close()
	return parseOffsetsCSV(f, path)
}

func parseOffsetsCSV(r io.Reader, name string) (map[string][]fileOffset, error) {
	out := map[string][]fileOffset{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, ",")
		group := ""
		switch len(cols) {
		case 3:
		case 4:
			group, cols = strings.TrimSpace(cols[0]), cols[1:]
		default:
			return nil, usagef("%s:%d: expected topic,partition,offset, got %q", name, n, line)
		}
		p, perr := strconv.ParseInt(strings.TrimSpace(cols[1]), 10, 32)
		off, oerr := strconv.ParseInt(strings.TrimSpace(cols[2]), 10, 64)
		if perr != nil || oerr != nil || p < 0 || off < 0 || strings.TrimSpace(cols[0]) == "" {
			return nil, usagef("%s:%d: expected topic,partition,offset, got %q", name, n, line)
		}
		tp := kafka.TopicPartition{Topic: strings.TrimSpace(cols[0]), Partition: int32(p)}
		out[group] = append(out[group], fileOffset{tp, off})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// activeGroupErr is Kafka's refusal to reset a group with members.
func activeGroupErr(group, state string) error {
	//lint:ignore ST1005 Kafka's message, verbatim
	return fmt.Errorf("Assignments can only be reset if the group '%s' is inactive, but the current state is %s.", group, state)
}

func resetOffsets(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, o *groupsOptions, plan *resetPlan) error {
	descs, err := waitingFor(cmd, "describing groups", func() ([]kafka.GroupDescription, error) {
		return adm.DescribeConsumerGroups(ctx, o.groups...)
	})
	if err != nil {
		return fmt.Errorf("describe groups: %w", err)
	}
	for _, d := range descs {
		if d.Err != nil {
			return fmt.Errorf("describe group %s: %w", d.GroupID, d.Err)
		}
		if d.State != "Empty" && !groupMissing(d) {
			return activeGroupErr(d.GroupID, d.State)
		}
	}
	if !o.execute && !o.dryRun {
		fmt.Fprintln(cmd.ErrOrStderr(), "WARN: No action will be performed as the --execute option is missing. Add --dry-run to keep this behaviour explicitly, or --execute to reset.")
	}
	out := cmd.OutOrStdout()
	const format = "%-30s %-30s %-10s %-15s\n"
	if !o.export {
		fmt.Fprintln(out)
		fmt.Fprintf(out, format, "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET")
	}
	for _, g := range o.groups {
		offsets, err := planGroupReset(ctx, cmd, adm, o, plan, g)
		if err != nil {
			return err
		}
		tps := make([]kafka.TopicPartition, 0, len(offsets))
		for tp := range offsets {
			tps = append(tps, tp)
		}
		sortPartitions(tps)
		for _, tp := range tps {
			switch {
			case o.export && len(o.groups) > 1:
				fmt.Fprintf(out, "%s,%s,%d,%d\n", g, tp.Topic, tp.Partition, offsets[tp].Offset)
			case o.export:
				fmt.Fprintf(out, "%s,%d,%d\n", tp.Topic, tp.Partition, offsets[tp].Offset)
			default:
				fmt.Fprintf(out, format, g, tp.Topic, strconv.Itoa(int(tp.Partition)), strconv.FormatInt(offsets[tp].Offset, 10))
			}
		}
		if !o.execute || len(offsets) == 0 {
			continue
		}
		res, err := waitingFor(cmd, "committing the offsets of group "+g, func() (map[kafka.TopicPartition]error, error) {
			return adm.AlterConsumerGroupOffsets(ctx, g, offsets)
		})
		if err != nil {
			return fmt.Errorf("reset offsets of group %s: %w", g, err)
		}
		for _, tp := range tps {
			if err := res[tp]; err != nil {
				return fmt.Errorf("reset offsets of group %s: %s: %w", g, tp, err)
			}
		}
	}
	return nil
}

// planGroupReset computes the new offsets of one group.
func planGroupReset(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, o *groupsOptions, plan *resetPlan, group string) (map[kafka.TopicPartition]kafka.OffsetAndMetadata, error) {
	var committed map[kafka.TopicPartition]kafka.OffsetAndMetadata
	if o.allTopics || plan.kind == "to-current" || plan.kind == "shift-by" {
		var err error
		committed, err = waitingFor(cmd, "fetching the offsets of group "+group, func() (map[kafka.TopicPartition]kafka.OffsetAndMetadata, error) {
			return adm.ListConsumerGroupOffsets(ctx, group)
		})
		if err != nil {
			return nil, fmt.Errorf("offsets of group %s: %w", group, err)
		}
	}
	var tps []kafka.TopicPartition
	wanted := map[kafka.TopicPartition]int64{} // from-file
	switch {
	case plan.kind == "from-file":
		lines := append(append([]fileOffset{}, plan.file[""]...), plan.file[group]...)
		for _, l := range lines {
			if _, dup := wanted[l.tp]; !dup {
				tps = append(tps, l.tp)
			}
			wanted[l.tp] = l.offset
		}
		if len(plan.file) > 0 && len(lines) == 0 {
			return nil, fmt.Errorf("--from-file has no offsets for group %s", group)
		}
	case o.allTopics:
		for tp := range committed {
			tps = append(tps, tp)
		}
	default:
		var err error
		if tps, err = topicPartitions(ctx, cmd, adm, o.topics); err != nil {
			return nil, err
		}
	}
	existing, err := existingPartitions(ctx, cmd, adm, tps)
	if err != nil {
		return nil, err
	}
	if len(existing) < len(tps) {
		for _, tp := range tps {
			if !containsTP(existing, tp) {
				return nil, fmt.Errorf("partition %s does not exist", tp)
			}
		}
	}
	earliest, err := listOffsetsAt(ctx, cmd, adm, tps, -2)
	if err != nil {
		return nil, err
	}
	latest, err := listOffsetsAt(ctx, cmd, adm, tps, -1)
	if err != nil {
		return nil, err
	}
	var atTime map[kafka.TopicPartition]int64
	if !plan.at.IsZero() {
		if atTime, err = listOffsetsAt(ctx, cmd, adm, tps, plan.at.UnixMilli()); err != nil {
			return nil, err
		}
	}
	out := make(map[kafka.TopicPartition]kafka.OffsetAndMetadata, len(tps))
	for _, tp := range tps {
		var off int64
		switch plan.kind {
		case "to-earliest":
			off = earliest[tp]
		case "to-latest":
			off = latest[tp]
		case "to-current":
			off = latest[tp]
			if om, ok := committed[tp]; ok && om.Offset >= 0 {
				off = om.Offset
			}
		case "to-offset":
			off = plan.offset
		case "shift-by":
			om, ok := committed[tp]
			if !ok || om.Offset < 0 {
				return nil, fmt.Errorf("cannot shift the offset of partition %s of group %s: it has no committed offset", tp, group)
			}
			off = om.Offset + plan.offset
		case "to-datetime", "by-duration":
			off = atTime[tp]
			if off < 0 { // no record at or after the time
				off = latest[tp]
			}
		case "from-file":
			off = wanted[tp]
		}
		out[tp] = kafka.OffsetAndMetadata{Offset: clampOffset(cmd, tp, off, earliest[tp], latest[tp])}
	}
	return out, nil
}

// clampOffset moves an offset outside the log to its start or end, with
// Kafka's warning.
func clampOffset(cmd *cobra.Command, tp kafka.TopicPartition, off, earliest, latest int64) int64 {
	switch {
	case off < earliest:
		fmt.Fprintf(cmd.ErrOrStderr(), "New offset (%d) is lower than earliest offset for topic partition %s. Value will be set to %d\n", off, tp, earliest)
		return earliest
	case off > latest:
		fmt.Fprintf(cmd.ErrOrStderr(), "New offset (%d) is higher than latest offset for topic partition %s. Value will be set to %d\n", off, tp, latest)
		return latest
	}
	return off
}

func containsTP(tps []kafka.TopicPartition, tp kafka.TopicPartition) bool {
	for _, x := range tps {
		if x == tp {
			return true
		}
	}
	return false
}

// listOffsetsAt returns each partition's offset at ts: -2 the earliest,
// -1 the latest, else the first at or after ts ms (-1 if none).
func listOffsetsAt(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, tps []kafka.TopicPartition, ts int64) (map[kafka.TopicPartition]int64, error) {
	if len(tps) == 0 {
		return map[kafka.TopicPartition]int64{}, nil
	}
	at := make(map[kafka.TopicPartition]int64, len(tps))
	for _, tp := range tps {
		at[tp] = ts
	}
	res, err := waitingFor(cmd, "listing offsets", func() (map[kafka.TopicPartition]int64, error) { return adm.ListOffsets(ctx, at) })
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	return res, nil
}
