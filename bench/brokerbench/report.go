package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
)

// Targets Samsa is held to (docs/performance.md).
const (
	targetThroughputRatio = 1.10  // Samsa/kfake, produce and consume
	targetCPURatio        = 0.50  // Samsa/kfake broker CPU per record
	targetRSSMiB          = 200.0 // Samsa peak broker RSS
)

// metric is one row of the report.
type metric struct {
	name   string
	get    func(*measurement) float64
	format string
	// target judges the Samsa and kfake medians ("" when the row has no
	// target); ratio is Samsa/kfake.
	target func(samsa, kfake, ratio float64, haveKfake bool) string
}

func ratioAtLeast(want float64) func(_, _, ratio float64, haveKfake bool) string {
	return func(_, _, ratio float64, haveKfake bool) string {
		return verdict(fmt.Sprintf("ratio >= %.2f", want), haveKfake, ratio >= want)
	}
}

func ratioAtMost(want float64) func(_, _, ratio float64, haveKfake bool) string {
	return func(_, _, ratio float64, haveKfake bool) string {
		return verdict(fmt.Sprintf("ratio <= %.2f", want), haveKfake, ratio <= want)
	}
}

func verdict(target string, measurable, met bool) string {
	switch {
	case !measurable:
		return target
	case met:
		return target + ": met"
	default:
		return target + ": MISSED"
	}
}

var metrics = []metric{
	{"produce throughput (records/s)", func(m *measurement) float64 { return m.produceRecS }, "%.0f", ratioAtLeast(targetThroughputRatio)},
	{"produce throughput (MB/s)", func(m *measurement) float64 { return m.produceMBs }, "%.1f", nil},
	{"produce latency p50 (ms)", func(m *measurement) float64 { return m.p50Ms }, "%.2f", nil},
	{"produce latency p99 (ms)", func(m *measurement) float64 { return m.p99Ms }, "%.2f", nil},
	{"consume throughput (records/s)", func(m *measurement) float64 { return m.consumeRecS }, "%.0f", ratioAtLeast(targetThroughputRatio)},
	{"consume throughput (MB/s)", func(m *measurement) float64 { return m.consumeMBs }, "%.1f", nil},
	{"broker CPU produce (s per 1M records)", func(m *measurement) float64 { return m.cpuProducePerM }, "%.2f", nil},
	{"broker CPU consume (s per 1M records)", func(m *measurement) float64 { return m.cpuConsumePerM }, "%.2f", nil},
	{"broker CPU total (s per 1M records)", func(m *measurement) float64 { return m.cpuProducePerM + m.cpuConsumePerM }, "%.2f", ratioAtMost(targetCPURatio)},
	{"broker peak RSS (MiB)", func(m *measurement) float64 { return m.rssMiB }, "%.1f",
		func(samsa, _, _ float64, _ bool) string {
			return verdict(fmt.Sprintf("samsa < %.0f MiB", targetRSSMiB), samsa > 0, samsa < targetRSSMiB)
		}},
	{"data on disk (MiB)", func(m *measurement) float64 { return m.diskMiB }, "%.1f", nil},
	{"client CPU produce (s per 1M records)", func(m *measurement) float64 { return m.clientCPUProducePerM }, "%.2f", nil},
	{"client CPU consume (s per 1M records)", func(m *measurement) float64 { return m.clientCPUConsumePerM }, "%.2f", nil},
}

// median of the metric over runs; 0 when there are none.
func median(runs []measurement, get func(*measurement) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	v := make([]float64, len(runs))
	for i := range runs {
		v[i] = get(&runs[i])
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func report(w io.Writer, o options, results map[string][]measurement) {
	fmt.Fprintf(w, "\nbrokerbench: %d records x %d B, %d partition(s), acks=all, linger 5 ms, no compression; median of %d run(s)\n",
		o.records, o.size, o.partitions, o.runs)
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s, kfake %s\n", cpuModel(), runtime.NumCPU(), runtime.Version(), moduleVersion("github.com/twmb/franz-go/pkg/kfake"))
	for _, name := range []string{"samsa", "kfake"} {
		if runs := results[name]; len(runs) > 0 {
			s := runs[0].setup
			fmt.Fprintf(w, "%s: topic via %s, idempotent producer %v\n", name, s.how, s.idempotent)
		}
	}
	fmt.Fprintln(w)

	samsaRuns, kfakeRuns := results["samsa"], results["kfake"]
	header := []string{"metric", "samsa", "kfake", "ratio", "target"}
	var rows [][]string
	for _, mt := range metrics {
		s, k := median(samsaRuns, mt.get), median(kfakeRuns, mt.get)
		row := []string{mt.name, cell(mt.format, s, len(samsaRuns) > 0), cell(mt.format, k, len(kfakeRuns) > 0), "-", ""}
		ratio := 0.0
		both := len(samsaRuns) > 0 && len(kfakeRuns) > 0 && k != 0
		if both {
			ratio = s / k
			row[3] = fmt.Sprintf("%.2f", ratio)
		}
		if mt.target != nil && len(samsaRuns) > 0 {
			row[4] = mt.target(s, k, ratio, both)
		}
		rows = append(rows, row)
	}
	if o.markdown {
		writeMarkdown(w, header, rows)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range append([][]string{header}, rows...) {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

func cell(format string, v float64, have bool) string {
	if !have {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func writeMarkdown(w io.Writer, header []string, rows [][]string) {
	fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
	fmt.Fprintln(w, "|---|--:|--:|--:|---|")
	for _, r := range rows {
		fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
	}
}

// cpuModel is the "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// moduleVersion is the version of a dependency of the module, as go.mod
// selects it.
func moduleVersion(path string) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", path).Output()
	if err != nil {
		return "(unknown version)"
	}
	return strings.TrimSpace(string(out))
}
