package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// summary is the median of each measured number over a client's runs.
type summary struct {
	recordsPerS     float64
	cpuSeconds      float64
	cpuPerMRecords  float64
	allocsPerRecord float64
	peakRSSMiB      float64
}

func medianOf(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func summarize(rs []result) summary {
	return summary{
		recordsPerS:     medianOf(rs, func(r result) float64 { return r.RecordsPerS }),
		cpuSeconds:      medianOf(rs, func(r result) float64 { return r.CPUSeconds }),
		cpuPerMRecords:  medianOf(rs, func(r result) float64 { return r.CPUSeconds / float64(r.Records) * 1e6 }),
		allocsPerRecord: medianOf(rs, func(r result) float64 { return float64(r.Allocs) / float64(r.Records) }),
		peakRSSMiB:      medianOf(rs, func(r result) float64 { return float64(r.PeakRSSKiB) / 1024 }),
	}
}

// report prints one row per case and client, then Samsa's ratios to
// franz-go: throughput (higher is better) and CPU per record, allocations
// and peak RSS (lower is better).
func report(w io.Writer, o options, cases []benchCase, clients []string, results map[string]map[string][]result) {
	sep, start, end := "\t", "", "\t"
	var tw io.Writer
	var flush func()
	if o.markdown {
		sep, start, end = " | ", "| ", " |"
		tw, flush = w, func() {}
	} else {
		t := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		tw, flush = t, func() { t.Flush() }
	}
	row := func(cols ...string) { fmt.Fprintln(tw, start+strings.Join(cols, sep)+end) }
	if o.mode == "consume" {
		rcvbuf := "each client's own (samsa 65536, franz OS default)"
		switch {
		case o.rcvbuf == -1:
			rcvbuf = "OS default (-1) on both"
		case o.rcvbuf >= 0:
			rcvbuf = fmt.Sprintf("%d on both", o.rcvbuf)
		}
		fmt.Fprintf(w, "consumers, broker %s, %d partitions, fetch.max.bytes=%d, max.partition.fetch.bytes=%d, fetch.max.wait.ms=%d, receive buffer %s; median of %d run(s)\n\n",
			o.broker, o.partitions, fetchMaxBytes, maxPartitionFetchBytes, fetchMaxWaitMs, rcvbuf, o.runs)
	} else {
		fmt.Fprintf(w, "producers, broker %s, %d partitions, acks=all, linger.ms=%d, batch.size=%d, buffer.memory=%d, idempotent; median of %d run(s)\n\n",
			o.broker, o.partitions, lingerMs, batchBytes, bufferMemory, o.runs)
	}
	row("case", "client", "records/s", "CPU s", "CPU s/1M rec", "allocs/rec", "peak RSS MiB")
	if o.markdown {
		row("---", "---", "---:", "---:", "---:", "---:", "---:")
	}
	for _, bc := range cases {
		for _, cl := range clients {
			rs := results[bc.String()][cl]
			if len(rs) == 0 {
				continue
			}
			s := summarize(rs)
			row(bc.String(), cl, fmt.Sprintf("%.0f", s.recordsPerS), fmt.Sprintf("%.2f", s.cpuSeconds),
				fmt.Sprintf("%.2f", s.cpuPerMRecords), fmt.Sprintf("%.2f", s.allocsPerRecord), fmt.Sprintf("%.1f", s.peakRSSMiB))
		}
		sr, fr := results[bc.String()]["samsa"], results[bc.String()]["franz"]
		if len(sr) > 0 && len(fr) > 0 {
			s, f := summarize(sr), summarize(fr)
			row(bc.String(), "samsa/franz",
				fmt.Sprintf("%.2fx", s.recordsPerS/f.recordsPerS),
				fmt.Sprintf("%.2fx", s.cpuSeconds/f.cpuSeconds),
				fmt.Sprintf("%.2fx", s.cpuPerMRecords/f.cpuPerMRecords),
				fmt.Sprintf("%.2fx", s.allocsPerRecord/max(f.allocsPerRecord, 1e-9)),
				fmt.Sprintf("%.2fx", s.peakRSSMiB/f.peakRSSMiB))
		}
	}
	flush()
}
