package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/samsa-io/samsa/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The settings both clients run with.
const (
	lingerMs     = 5
	batchBytes   = 1 << 20
	bufferMemory = 32 << 20
)

// result is what one client run measured; the child prints it as JSON.
type result struct {
	Client      string  `json:"client"`
	Records     int     `json:"records"`
	Size        int     `json:"size"`
	Codec       string  `json:"codec"`
	Seconds     float64 `json:"seconds"`
	RecordsPerS float64 `json:"records_per_s"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	Allocs      uint64  `json:"allocs"`
	AllocBytes  uint64  `json:"alloc_bytes"`
	PeakRSSKiB  int64   `json:"peak_rss_kib"`
	// The split of CPUSeconds and what drives system time: minor page
	// faults and voluntary (blocking) and involuntary context switches.
	UserSeconds   float64 `json:"user_seconds"`
	SysSeconds    float64 `json:"sys_seconds"`
	MinorFaults   int64   `json:"minor_faults"`
	VolSwitches   int64   `json:"voluntary_switches"`
	InvolSwitches int64   `json:"involuntary_switches"`
	Errors        int64   `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
}

// producer is what the measured loop needs from either client.
type producer interface {
	// send queues value and arranges for done to be called once.
	send(ctx context.Context, value []byte)
	flush(ctx context.Context) error
	close()
}

// outcome counts completions for both clients.
type outcome struct {
	acked    atomic.Int64
	failed   atomic.Int64
	firstErr sync.Once
	err      atomic.Value
}

func (o *outcome) done(err error) {
	if err != nil {
		o.failed.Add(1)
		o.firstErr.Do(func() { o.err.Store(err.Error()) })
		return
	}
	o.acked.Add(1)
}

func clientMain(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	mode := fs.String("mode", "produce", "produce or consume")
	name := fs.String("name", "samsa", "samsa or franz")
	bootstrap := fs.String("bootstrap", "", "broker address")
	topic := fs.String("topic", "", "topic")
	records := fs.Int("records", 1000, "records to send or read")
	size := fs.Int("size", 100, "value bytes")
	codec := fs.String("codec", "none", "none or lz4")
	profile := fs.String("cpuprofile", "", "CPU profile file")
	rcvbuf := fs.Int("receive-buffer", ownDefault, "consumer SO_RCVBUF bytes; -1 OS default; -2 the client's own default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	// measure times run, with its CPU, allocations and peak RSS.
	measure := func(run func() error) (result, error) {
		if *profile != "" {
			f, err := os.Create(*profile)
			if err != nil {
				return result{}, err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return result{}, err
			}
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
		runtime.GC()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		ru0 := rusage()
		start := time.Now()
		if err := run(); err != nil {
			return result{}, err
		}
		elapsed := time.Since(start)
		ru1 := rusage()
		runtime.ReadMemStats(&ms1)
		return result{
			Client:      *name,
			Records:     *records,
			Size:        *size,
			Codec:       *codec,
			Seconds:     elapsed.Seconds(),
			RecordsPerS: float64(*records) / elapsed.Seconds(),
			CPUSeconds:  ru1.cpu() - ru0.cpu(),
			Allocs:      ms1.Mallocs - ms0.Mallocs,
			AllocBytes:  ms1.TotalAlloc - ms0.TotalAlloc,
			PeakRSSKiB:  peakRSSKiB(),

			UserSeconds:   tv(ru1.Utime) - tv(ru0.Utime),
			SysSeconds:    tv(ru1.Stime) - tv(ru0.Stime),
			MinorFaults:   int64(ru1.Minflt - ru0.Minflt),
			VolSwitches:   int64(ru1.Nvcsw - ru0.Nvcsw),
			InvolSwitches: int64(ru1.Nivcsw - ru0.Nivcsw),
		}, nil
	}

	var r result
	var err error
	switch *mode {
	case "produce":
		r, err = produceRun(ctx, *name, *bootstrap, *topic, *records, *size, *codec, measure)
	case "consume":
		r, err = consumeRun(ctx, *name, *bootstrap, *topic, *records, *rcvbuf, measure)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// produceRun sends records records and returns what it measured. The
// clock starts after one record was acknowledged (connections, metadata,
// producer id) and stops at the last acknowledgement.
func produceRun(ctx context.Context, name, bootstrap, topic string, records, size int, codec string, measure func(run func() error) (result, error)) (result, error) {
	values := valuePool(size)
	var out outcome
	var p producer
	var err error
	switch name {
	case "samsa":
		p, err = newSamsa(bootstrap, topic, codec, &out)
	case "franz":
		p, err = newFranz(bootstrap, topic, codec, &out)
	default:
		return result{}, fmt.Errorf("unknown client %q", name)
	}
	if err != nil {
		return result{}, err
	}
	defer p.close()

	p.send(ctx, values[0])
	if err := p.flush(ctx); err != nil {
		return result{}, err
	}
	if out.failed.Load() > 0 {
		return result{}, fmt.Errorf("warm-up record failed: %v", out.err.Load())
	}
	out.acked.Store(0)

	r, err := measure(func() error {
		for i := range records {
			p.send(ctx, values[i%len(values)])
		}
		return p.flush(ctx)
	})
	if err != nil {
		return r, err
	}
	if got := out.acked.Load() + out.failed.Load(); got != int64(records) {
		return r, fmt.Errorf("%d outcomes for %d records", got, records)
	}
	r.Errors = out.failed.Load()
	if v, ok := out.err.Load().(string); ok {
		r.FirstError = v
	}
	return r, nil
}

// usage is this process's resource usage (getrusage).
type usage struct{ syscall.Rusage }

func rusage() usage {
	var u usage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u.Rusage)
	return u
}

// cpu is the user + system CPU time.
func (u usage) cpu() float64 { return tv(u.Utime) + tv(u.Stime) }

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// peakRSSKiB is this process's peak resident set size (Linux: KiB).
func peakRSSKiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss)
}

// valuePool returns 1024 values of size bytes: words drawn from a small
// vocabulary with a fixed seed, so both clients send the same bytes and lz4
// finds a realistic amount to compress (roughly 2x).
func valuePool(size int) [][]byte {
	words := strings.Fields(`customer order invoice France USA Banana Precision Products
		Biomedical Materials shipped pending paid refund priority standard express
		warehouse Seoul Berlin Lyon Austin quantity price discount total status`)
	rng := rand.New(rand.NewPCG(42, 7))
	pool := make([][]byte, 1024)
	for i := range pool {
		b := make([]byte, 0, size+16)
		for len(b) < size {
			if rng.IntN(4) == 0 {
				b = fmt.Appendf(b, "%d ", rng.IntN(100000))
			} else {
				b = append(b, words[rng.IntN(len(words))]...)
				b = append(b, ' ')
			}
		}
		pool[i] = b[:size]
	}
	return pool
}

// samsaProducer drives package kafka.
type samsaProducer struct {
	p     *kafka.Producer[[]byte, []byte]
	cb    func(kafka.RecordMetadata, error)
	topic string
}

func newSamsa(bootstrap, topic, codec string, out *outcome) (producer, error) {
	cfg := kafka.Config{
		"bootstrap.servers": bootstrap,
		"acks":              "all",
		"linger.ms":         fmt.Sprint(lingerMs),
		"batch.size":        fmt.Sprint(batchBytes),
		"buffer.memory":     fmt.Sprint(bufferMemory),
		"compression.type":  codec,
	}
	p, err := kafka.NewProducer(cfg, kafka.ByteArraySerializer{}, kafka.ByteArraySerializer{})
	if err != nil {
		return nil, err
	}
	return &samsaProducer{p: p, cb: func(_ kafka.RecordMetadata, err error) { out.done(err) }, topic: topic}, nil
}

func (s *samsaProducer) send(ctx context.Context, v []byte) {
	s.p.SendWithCallback(ctx, kafka.ProducerRecord[[]byte, []byte]{Topic: s.topic, Value: v}, s.cb)
}

func (s *samsaProducer) flush(ctx context.Context) error { return s.p.Flush(ctx) }

func (s *samsaProducer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = s.p.Close(ctx)
}

// franzProducer drives franz-go's kgo with the same settings.
type franzProducer struct {
	cl      *kgo.Client
	promise func(*kgo.Record, error)
	topic   string
}

func newFranz(bootstrap, topic, codec string, out *outcome) (producer, error) {
	comp := kgo.NoCompression()
	switch codec {
	case "none":
	case "lz4":
		comp = kgo.Lz4Compression()
	default:
		return nil, errors.New("franz: unsupported codec " + codec)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(lingerMs*time.Millisecond),
		kgo.ProducerBatchMaxBytes(batchBytes),
		kgo.ProducerBatchCompression(comp),
		// buffer.memory; the record count limit is set high enough never
		// to bind first.
		kgo.MaxBufferedBytes(bufferMemory),
		kgo.MaxBufferedRecords(1<<30),
		// Java's sticky partitioner moves on after batch.size bytes.
		kgo.RecordPartitioner(kgo.UniformBytesPartitioner(batchBytes, true, true, nil)),
	)
	if err != nil {
		return nil, err
	}
	return &franzProducer{cl: cl, promise: func(_ *kgo.Record, err error) { out.done(err) }, topic: topic}, nil
}

func (f *franzProducer) send(ctx context.Context, v []byte) {
	f.cl.Produce(ctx, &kgo.Record{Topic: f.topic, Value: v}, f.promise)
}

func (f *franzProducer) flush(ctx context.Context) error { return f.cl.Flush(ctx) }

func (f *franzProducer) close() { f.cl.Close() }
