package main

// samsa perf: the performance tests of Kafka's kafka-producer-perf-test.sh
// (perf_produce.go) and kafka-consumer-perf-test.sh (perf_consume.go), and
// what they share with samsa verify: the throughput throttle, client
// settings that may carry bootstrap.servers, Java date patterns and the
// metrics table.

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

func init() { extraCommands = append(extraCommands, perfCommand) }

func perfCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "perf",
		Short: "Measure producer and consumer throughput and latency (kafka-*-perf-test.sh)",
		Long: `Measure what the cluster sustains, as Kafka's perf test scripts do:
  samsa perf produce   is kafka-producer-perf-test.sh
  samsa perf consume   is kafka-consumer-perf-test.sh
with the same flags and the same output, so that numbers compare with
Kafka's.`,
		Example: `  samsa perf produce --topic perf --num-records 1000000 --record-size 100 --throughput -1
  samsa perf consume --topic perf --messages 1000000`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown subcommand %q of samsa perf: expected produce or consume", args[0])
			}
			return usagef("samsa perf needs a subcommand: produce or consume")
		},
	}
	cmd.AddCommand(perfProduceCommand(), perfConsumeCommand())
	return cmd
}

// clientSettings merges the client settings of a tool: files, then
// key=value settings. Kafka's perf and verifiable tools accept
// bootstrap.servers among those settings, so when --bootstrap-server is
// not given one found there is used instead of the default.
func clientSettings(cmd *cobra.Command, conn *connFlags, files []string, kvs map[string]string) (kafka.Config, error) {
	if !cmd.Flags().Changed("bootstrap-server") {
		found := kvs["bootstrap.servers"]
		for i := len(files) - 1; i >= 0 && found == ""; i-- {
			if files[i] == "" {
				continue
			}
			if fc, err := kafka.LoadConfig(files[i]); err == nil {
				found = fc["bootstrap.servers"]
			}
		}
		if found != "" {
			conn.bootstrap = found
		}
	}
	return conn.config(files, kvs)
}

// nonEmpty drops empty strings, so that an unset file flag adds no file.
func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// minThrottleSleep is the shortest pause of a throttle: shorter sleeps
// cost more in wake-ups than they smooth the rate, so the debt is let
// grow to this before paying it at once.
const minThrottleSleep = 2 * time.Millisecond

// throttle holds a sender to a target rate (Kafka's ThroughputThrottler):
// the n-th send is due at start + n/rate, and a sender ahead of that
// sleeps until it is due. A sender that fell behind (a slow broker) does
// not burst to catch up beyond what the schedule allows, so the average
// rate over the run never exceeds the target.
type throttle struct {
	perSec float64 // records per second; <= 0 is unlimited
	start  time.Time
	now    func() time.Time    // time.Now, or a test's clock
	sleep  func(time.Duration) // time.Sleep, or a test's
}

func newThrottle(perSec float64) *throttle {
	return &throttle{perSec: perSec, start: time.Now(), now: time.Now, sleep: time.Sleep}
}

// wait returns when the send numbered n (from 0) may go.
func (t *throttle) wait(n int64) {
	if t.perSec <= 0 {
		return
	}
	due := t.start.Add(time.Duration(float64(n) / t.perSec * float64(time.Second)))
	if d := due.Sub(t.now()); d >= minThrottleSleep {
		t.sleep(d)
	}
}

// mb is Kafka's megabyte in its perf tools: 1024 * 1024 bytes.
const mb = 1024.0 * 1024.0

// javaDateFormat turns a java.text.SimpleDateFormat pattern, as Kafka's
// tools take in --date-format, into a formatter. It knows the letters
// used for timestamps: y M d H h k K m s S a E z Z X, and 'quoted' text.
func javaDateFormat(pattern string) (func(time.Time) string, error) {
	type part struct {
		letter byte // 0 for literal text
		n      int
		text   string
	}
	var parts []part
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(pattern[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", pattern)
			}
			text := pattern[i+1 : i+1+j]
			if j == 0 {
				text = "'" // '' is a quote
			}
			parts = append(parts, part{text: text})
			i += j + 2
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			if !strings.ContainsRune("yMdHhkKmsSaEzZX", rune(c)) {
				return nil, fmt.Errorf("pattern letter %q of %q is not supported", c, pattern)
			}
			j := i
			for j < len(pattern) && pattern[j] == c {
				j++
			}
			parts = append(parts, part{letter: c, n: j - i})
			i = j
		default:
			parts = append(parts, part{text: string(c)})
			i++
		}
	}
	return func(t time.Time) string {
		var b strings.Builder
		num := func(v, n int) { fmt.Fprintf(&b, "%0*d", n, v) }
		for _, p := range parts {
			switch p.letter {
			case 0:
				b.WriteString(p.text)
			case 'y':
				if p.n == 2 {
					num(t.Year()%100, 2)
				} else {
					num(t.Year(), p.n)
				}
			case 'M':
				switch {
				case p.n >= 4:
					b.WriteString(t.Month().String())
				case p.n == 3:
					b.WriteString(t.Month().String()[:3])
				default:
					num(int(t.Month()), p.n)
				}
			case 'd':
				num(t.Day(), p.n)
			case 'H':
				num(t.Hour(), p.n)
			case 'k':
				h := t.Hour()
				if h == 0 {
					h = 24
				}
				num(h, p.n)
			case 'h':
				h := t.Hour() % 12
				if h == 0 {
					h = 12
				}
				num(h, p.n)
			case 'K':
				num(t.Hour()%12, p.n)
			case 'm':
				num(t.Minute(), p.n)
			case 's':
				num(t.Second(), p.n)
			case 'S':
				num(t.Nanosecond()/int(time.Millisecond), p.n)
			case 'a':
				b.WriteString(t.Format("PM"))
			case 'E':
				if p.n >= 4 {
					b.WriteString(t.Weekday().String())
				} else {
					b.WriteString(t.Weekday().String()[:3])
				}
			case 'z':
				b.WriteString(t.Format("MST"))
			case 'Z':
				b.WriteString(t.Format("-0700"))
			case 'X':
				b.WriteString(t.Format("Z07:00"))
			}
		}
		return b.String()
	}, nil
}

// printMetrics writes a client's metrics as Kafka's tools do with
// --print-metrics: "group:name:{tags}" padded to the longest, then the
// value with three decimals.
func printMetrics(w io.Writer, ms kafka.Metrics) {
	names := make([]string, len(ms))
	width := len("Metric Name")
	for i, m := range ms {
		keys := make([]string, 0, len(m.Tags))
		for k := range m.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		tags := make([]string, len(keys))
		for j, k := range keys {
			tags[j] = k + "=" + m.Tags[k]
		}
		names[i] = m.Group + ":" + m.Name + ":{" + strings.Join(tags, ", ") + "}"
		width = max(width, len(names[i]))
	}
	fmt.Fprintf(w, "\n%-*s   %s\n", width, "Metric Name", "Value")
	for i, m := range ms {
		v := m.Value
		if math.IsInf(v, 0) {
			v = math.NaN()
		}
		fmt.Fprintf(w, "%-*s : %.3f\n", width, names[i], v)
	}
}
