//go:build linux

package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// keyedLoad produces updates of a fixed set of keys, round robin, with an
// idempotent acks=all producer at a bounded rate. The value of a key's
// update is its sequence number for that key, so the latest value of each
// key can be compared with what was acknowledged.
type keyedLoad struct {
	cl   *kgo.Client
	keys int

	mu        sync.Mutex // guards attempted, acked, nAcked, nFailed
	attempted []int64    // per key: the highest sequence handed to the producer, -1 if none
	acked     []int64    // per key: the highest sequence acknowledged, -1 if none
	nAcked    int
	nFailed   int

	cancel context.CancelFunc
	done   chan struct{}
}

func startKeyedLoad(t *testing.T, addr, topic string, keys, perSecond int) *keyedLoad {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.MaxBufferedRecords(1000),
	)
	if err != nil {
		t.Fatal(err)
	}
	l := &keyedLoad{cl: cl, keys: keys, attempted: make([]int64, keys), acked: make([]int64, keys), done: make(chan struct{})}
	for k := range keys {
		l.attempted[k], l.acked[k] = -1, -1
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(ctx, perSecond)
	return l
}

func (l *keyedLoad) run(ctx context.Context, perSecond int) {
	defer close(l.done)
	start := time.Now()
	pad := strings.Repeat("v", 80)
	for i := 0; ctx.Err() == nil; i++ {
		// Keep to the rate: a burst after an outage catches up at most
		// to where the rate says.
		if ahead := time.Duration(i)*time.Second/time.Duration(perSecond) - time.Since(start); ahead > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(ahead):
			}
		}
		k := i % l.keys
		l.mu.Lock()
		l.attempted[k]++
		seq := l.attempted[k]
		l.mu.Unlock()
		r := &kgo.Record{Key: []byte(keyName(k)), Value: []byte(fmt.Sprintf("%d %s", seq, pad))}
		l.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if err != nil {
				l.nFailed++
				return
			}
			l.nAcked++
			l.acked[k] = max(l.acked[k], seq)
		})
	}
}

// stop stops producing and waits up to limit for the records in flight;
// those still unanswered count as neither acknowledged nor failed.
func (l *keyedLoad) stop(limit time.Duration) {
	l.cancel()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := l.cl.Flush(ctx); err != nil {
		l.cl.UnsafeAbortBufferedRecords()
	}
	l.cl.Close()
}

func keyName(k int) string { return fmt.Sprintf("key-%05d", k) }

// cleanerFiles lists the .cleaned and .swap files of a partition
// directory: a segment the cleaner is rewriting or swapping in.
func cleanerFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".cleaned") || strings.HasSuffix(e.Name(), ".swap") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestKilledWhileCleaning SIGKILLs a single broker again and again while
// its cleaner rewrites the segments of a compacted topic under a keyed
// acks=all load. The cleaner's reads are throttled, so that a pass takes
// most of a second and kills land in the middle of rewrites. After the
// last restart, with the cleaner off, no .cleaned or .swap file is left,
// the log reads from offset 0 with increasing offsets, and each key's
// latest value is its latest acknowledged update (or a later one whose
// produce was not answered).
func TestKilledWhileCleaning(t *testing.T) {
	c := Start(t, built(t), 1,
		"offsets.topic.num.partitions=1",
		"log.cleaner.backoff.ms=20",
		"log.cleaner.io.max.bytes.per.second=2000000",
	)
	b := c.Broker(1)
	const topic, keys = "compacted", 5000
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	cfg := map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("65536"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	}
	if r, err := adm.CreateTopic(ctx, 1, 1, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, r.Err)
	}
	dir := filepath.Join(b.Data, topic+"-0")

	load := startKeyedLoad(t, b.Addr, topic, keys, 5000)
	time.Sleep(3 * time.Second) // a few MB of updates, the cleaner at work
	const kills = 12
	midClean := 0
	for range kills {
		time.Sleep(time.Duration(100+rand.IntN(700)) * time.Millisecond)
		b.Kill()
		if files := cleanerFiles(t, dir); len(files) > 0 {
			midClean++
		}
		b.Restart()
	}
	time.Sleep(time.Second)
	load.stop(20 * time.Second)

	// A last kill in the middle of a pass, then a start with the cleaner
	// off, so that any .cleaned or .swap file found was left by the crash
	// and not cleaned up at startup.
	deadline := time.Now().Add(10 * time.Second)
	for len(cleanerFiles(t, dir)) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b.Kill()
	if len(cleanerFiles(t, dir)) > 0 {
		midClean++
	}
	f, err := os.OpenFile(b.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "log.cleaner.enable=false")
	f.Close()
	b.Restart()
	if files := cleanerFiles(t, dir); len(files) > 0 {
		t.Errorf("after a restart, cleaner files remain: %v", files)
	}
	logData, _ := os.ReadFile(b.logs.Name())
	passes := strings.Count(string(logData), "cleaned log")
	t.Logf("%d kills, %d of them while a segment was being rewritten or swapped; %d cleaning passes completed", kills+1, midClean, passes)
	if midClean == 0 {
		t.Error("no kill found the cleaner rewriting a segment")
	}
	if passes == 0 {
		t.Error("the cleaner completed no pass")
	}
	if strings.Contains(string(logData), "cleaning a compacted log") {
		t.Error("a cleaning pass failed (see the broker log)")
	}

	// Read everything from offset 0.
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := starts.Lookup(topic, 0); s.Err != nil || s.Offset != 0 {
		t.Fatalf("log start offset %d (%v), want 0", s.Offset, s.Err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	consumer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	latest := map[string]int64{}
	read, prev := 0, int64(-1)
	for prev < end.Offset-1 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("reading from offset 0 (at %d of %d): %v", prev+1, end.Offset, err)
		}
		fs.EachError(func(_ string, _ int32, err error) {
			t.Fatalf("reading from offset 0 (at %d of %d): %v", prev+1, end.Offset, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= prev {
				t.Fatalf("offset %d after %d", r.Offset, prev)
			}
			prev = r.Offset
			read++
			seq, err := strconv.ParseInt(strings.Fields(string(r.Value))[0], 10, 64)
			if err != nil {
				t.Fatalf("offset %d: value %q", r.Offset, r.Value)
			}
			latest[string(r.Key)] = seq
		})
	}

	load.mu.Lock()
	defer load.mu.Unlock()
	t.Logf("%d updates acknowledged, %d failed, %d read back up to offset %d", load.nAcked, load.nFailed, read, end.Offset)
	bad := 0
	for k := range keys {
		got, ok := latest[keyName(k)]
		acked, attempted := load.acked[k], load.attempted[k]
		switch {
		case !ok && acked >= 0:
			t.Errorf("%s: missing, update %d was acknowledged", keyName(k), acked)
		case ok && (got < acked || got > attempted):
			t.Errorf("%s: latest update read %d, acknowledged %d, last sent %d", keyName(k), got, acked, attempted)
		default:
			continue
		}
		if bad++; bad == 10 {
			t.Fatal("more keys wrong")
		}
	}
	if load.nAcked == 0 || read >= load.nAcked {
		t.Errorf("%d records read back of %d acknowledged: the log was not compacted", read, load.nAcked)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("ran out of time")
	}
}
