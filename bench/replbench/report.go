//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
)

// targetRatio is the least throughput of three brokers with RF=3 relative
// to one broker with RF=1 that Samsa is held to (docs/performance.md).
const targetRatio = 0.5

// measurement is what one run of one setup measured.
type measurement struct {
	recordsPerSec, mbPerSec    float64
	recordP50Ms, recordP99Ms   float64
	requestP50Ms, requestP99Ms float64
	requests                   int
	brokerCPU                  []float64 // CPU seconds of each broker process while producing
	producerCPU                float64   // CPU seconds of this process while producing
	elapsed                    float64   // seconds
	machineBusy                float64   // share of all CPUs busy while producing
	machineCPU                 float64   // busy CPU seconds of the whole machine
	warmUpMs                   float64   // first acks=all write to every partition after creation
}

func (m *measurement) brokerCPUTotal() float64 {
	var s float64
	for _, v := range m.brokerCPU {
		s += v
	}
	return s
}

type metric struct {
	name   string
	format string
	get    func(m *measurement, records int) float64
}

var metrics = []metric{
	{"throughput (records/s)", "%.0f", func(m *measurement, _ int) float64 { return m.recordsPerSec }},
	{"throughput (MB/s)", "%.1f", func(m *measurement, _ int) float64 { return m.mbPerSec }},
	{"record latency p50 (ms)", "%.1f", func(m *measurement, _ int) float64 { return m.recordP50Ms }},
	{"record latency p99 (ms)", "%.1f", func(m *measurement, _ int) float64 { return m.recordP99Ms }},
	{"produce request latency p50 (ms)", "%.2f", func(m *measurement, _ int) float64 { return m.requestP50Ms }},
	{"produce request latency p99 (ms)", "%.2f", func(m *measurement, _ int) float64 { return m.requestP99Ms }},
	{"produce requests", "%.0f", func(m *measurement, _ int) float64 { return float64(m.requests) }},
	{"records per produce request", "%.0f", func(m *measurement, records int) float64 {
		if m.requests == 0 {
			return 0
		}
		return float64(records) / float64(m.requests)
	}},
	{"broker CPU, all brokers (s per 1M records)", "%.2f", func(m *measurement, records int) float64 {
		return m.brokerCPUTotal() / (float64(records) / 1e6)
	}},
	{"producer CPU (s per 1M records)", "%.2f", func(m *measurement, records int) float64 {
		return m.producerCPU / (float64(records) / 1e6)
	}},
	{"machine CPU busy, all processes (s)", "%.2f", func(m *measurement, _ int) float64 { return m.machineCPU }},
	{"CPU of other processes on the machine (s)", "%.2f", func(m *measurement, _ int) float64 {
		return max(0, m.machineCPU-m.brokerCPUTotal()-m.producerCPU)
	}},
	{"machine CPU busy (% of all CPUs)", "%.0f", func(m *measurement, _ int) float64 { return m.machineBusy * 100 }},
	{"elapsed (s)", "%.2f", func(m *measurement, _ int) float64 { return m.elapsed }},
	{"first write to a new topic, before the run (ms)", "%.0f", func(m *measurement, _ int) float64 { return m.warmUpMs }},
}

// median of get over runs; 0 when there are none.
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
	one, three := results[setups[0].name], results[setups[1].name]
	fmt.Fprintf(w, "\nreplbench: %d records x %d B, %d partitions, acks=all, idempotent, kgo default linger and batching, no compression; median of %d run(s)\n",
		o.records, o.size, o.partitions, o.runs)
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s\n\n", cpuModel(), runtime.NumCPU(), runtime.Version())

	header := []string{"metric", setups[0].name, setups[1].name, "ratio (3/1)"}
	var rows [][]string
	var ratio float64
	for i, mt := range metrics {
		get := func(m *measurement) float64 { return mt.get(m, o.records) }
		a, b := median(one, get), median(three, get)
		r := "-"
		if a != 0 {
			r = fmt.Sprintf("%.2f", b/a)
		}
		if i == 0 && a != 0 {
			ratio = b / a
		}
		rows = append(rows, []string{mt.name, fmt.Sprintf(mt.format, a), fmt.Sprintf(mt.format, b), r})
	}
	writeTable(w, o.markdown, header, rows)

	switch {
	case len(one) == 0 || len(three) == 0:
		fmt.Fprintf(w, "\nthroughput ratio (3 brokers RF=3 / 1 broker RF=1): - (one setup only); target >= %.2f\n\n", targetRatio)
	case ratio >= targetRatio:
		fmt.Fprintf(w, "\nthroughput ratio (3 brokers RF=3 / 1 broker RF=1): %.2f; target >= %.2f: met\n\n", ratio, targetRatio)
	default:
		fmt.Fprintf(w, "\nthroughput ratio (3 brokers RF=3 / 1 broker RF=1): %.2f; target >= %.2f: MISSED\n\n", ratio, targetRatio)
	}
	if len(three) == 0 {
		return
	}

	// Where the CPU went in the three-broker setup, broker by broker.
	header = []string{"3 brokers, CPU while producing", "s", "s per 1M records"}
	rows = nil
	millions := float64(o.records) / 1e6
	for i := range setups[1].brokers {
		v := median(three, func(m *measurement) float64 {
			if i < len(m.brokerCPU) {
				return m.brokerCPU[i]
			}
			return 0
		})
		rows = append(rows, []string{fmt.Sprintf("broker %d", i+1), fmt.Sprintf("%.2f", v), fmt.Sprintf("%.2f", v/millions)})
	}
	for _, x := range []struct {
		name string
		get  func(*measurement) float64
	}{
		{"all brokers", (*measurement).brokerCPUTotal},
		{"producer", func(m *measurement) float64 { return m.producerCPU }},
		{"other processes", func(m *measurement) float64 { return max(0, m.machineCPU-m.brokerCPUTotal()-m.producerCPU) }},
		{"whole machine (all processes)", func(m *measurement) float64 { return m.machineCPU }},
	} {
		v := median(three, x.get)
		rows = append(rows, []string{x.name, fmt.Sprintf("%.2f", v), fmt.Sprintf("%.2f", v/millions)})
	}
	writeTable(w, o.markdown, header, rows)
}

func writeTable(w io.Writer, markdown bool, header []string, rows [][]string) {
	if markdown {
		fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
		sep := []string{"---"}
		for range header[1:] {
			sep = append(sep, "--:")
		}
		fmt.Fprintln(w, "|"+strings.Join(sep, "|")+"|")
		for _, r := range rows {
			fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range append([][]string{header}, rows...) {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
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
