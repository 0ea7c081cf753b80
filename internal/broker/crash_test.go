//go:build linux

package broker_test

// Durability across SIGKILL. The broker runs as a child process (`samsa
// serve`, built once per test run) so that it can be killed with no chance
// to flush, close or checkpoint anything; it is then restarted on the same
// log dir and port and must serve every acknowledged record exactly once,
// at the offset it was acknowledged with, with indexes that agree with the
// segments, and must remember idempotent producers' sequences.
//
// SIGKILL does not drop the page cache, so what these tests catch is
// acknowledging before a write(2), buffering in user space, recovery that
// mis-reads or mis-truncates an unclean tail, indexes rebuilt wrong, and
// producer state not rebuilt from the log. Losing unsynced page cache is
// the job of storage's crash tests on its in-memory FS.
//
// Linux only: the child gets Pdeathsig so that it dies with the test.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
)

const crashPartitions = 3

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and SIGKILLs a broker process")
	}
	bin := buildSamsa(t)

	t.Run("acknowledged records survive SIGKILL", func(t *testing.T) {
		testCrashUnderLoad(t, bin, 3000,
			"log.segment.bytes=32768", "log.index.interval.bytes=1024")
	})
	t.Run("acknowledged records survive SIGKILL with flush.messages=1", func(t *testing.T) {
		testCrashUnderLoad(t, bin, 1500, "log.flush.interval.messages=1")
	})
	t.Run("idempotent producer resends after SIGKILL", func(t *testing.T) {
		testIdempotentResendAfterCrash(t, bin)
	})
}

// buildSamsa builds cmd/samsa into a temporary directory.
func buildSamsa(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside a Go module")
	}
	bin := filepath.Join(t.TempDir(), "samsa")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/samsa")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/samsa: %v\n%s", err, out)
	}
	return bin
}

// samsaProcess is a broker running as a child process.
type samsaProcess struct {
	t     *testing.T
	bin   string
	dir   string
	addr  string
	props []string
	logs  *os.File

	cmd    *exec.Cmd
	exited chan struct{}
}

func newSamsaProcess(t *testing.T, bin string, props ...string) *samsaProcess {
	t.Helper()
	tmp := t.TempDir()
	logs, err := os.Create(filepath.Join(tmp, "samsa.log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &samsaProcess{t: t, bin: bin, dir: filepath.Join(tmp, "data"), addr: freeLoopbackAddr(t), props: props, logs: logs}
	t.Cleanup(func() {
		if p.running() {
			p.kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("broker log (tail):\n%s", b)
		}
		logs.Close()
	})
	return p
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (p *samsaProcess) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// start runs `samsa serve` and waits until it answers ApiVersions.
func (p *samsaProcess) start() {
	p.t.Helper()
	args := []string{"serve", "--log-level", "info",
		"--override", "listeners=PLAINTEXT://" + p.addr,
		"--override", "log.dirs=" + p.dir,
		"--override", fmt.Sprintf("num.partitions=%d", crashPartitions)}
	for _, prop := range p.props {
		args = append(args, "--override", prop)
	}
	fmt.Fprintf(p.logs, "=== start %s\n", strings.Join(args, " "))
	cmd := exec.Command(p.bin, args...)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(p.exited)
	}()

	// Recovery may rescan segments, so allow a minute.
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-p.exited:
			p.t.Fatalf("samsa serve exited during startup: %v", cmd.ProcessState)
		default:
		}
		if nc, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			resp, err := roundTrip(nc, apiVersionsRequest(3), 1)
			nc.Close()
			if err == nil && checkApiVersions(resp) == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("samsa serve on %s not answering after a minute", p.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *samsaProcess) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	fmt.Fprintf(p.logs, "=== SIGKILL\n")
}

// stop shuts the broker down cleanly with SIGTERM.
func (p *samsaProcess) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	if !p.cmd.ProcessState.Success() {
		p.t.Errorf("samsa serve after SIGTERM: %v", p.cmd.ProcessState)
	}
}

// ackedRecord is a record whose produce was acknowledged.
type ackedRecord struct {
	partition int32
	offset    int64
	value     string
}

// testCrashUnderLoad produces numbered records to a 3-partition topic with
// an idempotent acks=all kgo producer, SIGKILLs the broker once at least
// minAcked are acknowledged, restarts it and checks the log against the
// acknowledgements.
func testCrashUnderLoad(t *testing.T, bin string, minAcked int, props ...string) {
	p := newSamsaProcess(t, bin, props...)
	p.start()
	const topic = "crash-load"
	if n := autoCreateTopic(t, p.addr, topic); n != crashPartitions {
		t.Fatalf("auto-created %s with %d partitions, want %d (num.partitions)", topic, n, crashPartitions)
	}

	acked := produceUntilKilled(t, p, topic, minAcked)
	t.Logf("%d records acknowledged before SIGKILL", len(acked))

	p.start()
	nc := dialRaw(t, p.addr)
	logs := make([][]fetchedRecord, crashPartitions)
	for part := range int32(crashPartitions) {
		logs[part] = readPartition(t, nc, topic, part)
	}
	checkAcked(t, logs, acked)
	checkRandomReads(t, nc, topic, logs)

	// The recovered log takes new records right after its end.
	cl := newKgo(t, p.addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for part := range int32(crashPartitions) {
		r := &kgo.Record{Partition: part, Value: []byte("after-restart")}
		if err := cl.ProduceSync(testContext(t, time.Minute), r).FirstErr(); err != nil {
			t.Fatalf("produce after restart: %v", err)
		}
		if want := int64(len(logs[part])); r.Offset != want {
			t.Errorf("partition %d: first record after restart at offset %d, want %d", part, r.Offset, want)
		}
	}
	cl.Close()
	nc.Close()

	p.stop()
	checkSegmentFiles(t, p.dir, topic)
}

// produceUntilKilled produces records 0, 1, 2, ... (value = the decimal
// sequence number, partition = number mod 3) until at least minAcked are
// acknowledged, SIGKILLs the broker while the producer is still going, and
// returns what was acknowledged.
func produceUntilKilled(t *testing.T, p *samsaProcess, topic string, minAcked int) []ackedRecord {
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(2000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	var (
		mu      sync.Mutex
		acked   []ackedRecord
		nAcked  atomic.Int64
		prodErr error
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := 0; ctx.Err() == nil; seq++ {
			r := &kgo.Record{Partition: int32(seq % crashPartitions), Value: strconv.AppendInt(nil, int64(seq), 10)}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					return // not acknowledged: may or may not be in the log
				}
				mu.Lock()
				acked = append(acked, ackedRecord{r.Partition, r.Offset, string(r.Value)})
				mu.Unlock()
				nAcked.Add(1)
			})
		}
	}()

	deadline := time.Now().Add(90 * time.Second)
	for nAcked.Load() < int64(minAcked) {
		if time.Now().After(deadline) {
			mu.Lock()
			prodErr = fmt.Errorf("only %d records acknowledged after 90s", len(acked))
			mu.Unlock()
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.kill() // mid-load: the producer has records in flight
	cancel()
	<-done
	// AbortBufferedRecords waits for every in-flight request's answer,
	// which never comes for a request the kill caught in flight; nothing
	// can be acknowledged by a dead broker anyway, so wait only briefly.
	abortCtx, abortCancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := cl.AbortBufferedRecords(abortCtx); err != nil {
		cl.UnsafeAbortBufferedRecords()
	}
	abortCancel()

	mu.Lock()
	defer mu.Unlock()
	if prodErr != nil {
		t.Fatal(prodErr)
	}
	return slices.Clone(acked)
}

// fetchedRecord is one record read back from the log.
type fetchedRecord struct {
	offset int64
	value  string
}

// fetchOnce sends one Fetch v12 for a partition at offset (no session, no
// waiting) and returns the decoded batches' records from the first batch
// on, with the partition's high watermark.
func fetchOnce(t *testing.T, nc net.Conn, topic string, partition int32, offset int64, maxBytes int32) (recs []fetchedRecord, firstBatchBase int64, hw int64) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 0
	req.MaxBytes = 4 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = maxBytes
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	resp, err := roundTrip(nc, req, 100)
	if err != nil {
		t.Fatalf("fetch %s/%d at %d: %v", topic, partition, offset, err)
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch %s/%d at %d: error %d, %d topics", topic, partition, offset, fr.ErrorCode, len(fr.Topics))
	}
	pr := fr.Topics[0].Partitions[0]
	if pr.ErrorCode != 0 {
		t.Fatalf("fetch %s/%d at %d: %v", topic, partition, offset, kerr.ErrorForCode(pr.ErrorCode))
	}
	firstBatchBase = -1
	_, err = record.Batches(pr.RecordBatches, func(h record.Header, batch []byte) error {
		if err := record.CheckCRC(batch); err != nil {
			return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		if firstBatchBase < 0 {
			firstBatchBase = h.BaseOffset
		}
		return record.EachRecord(&h, batch, 64<<20, func(r *record.Record) error {
			recs = append(recs, fetchedRecord{h.BaseOffset + int64(r.OffsetDelta), string(r.Value)})
			return nil
		})
	})
	if err != nil {
		t.Fatalf("fetch %s/%d at %d: %v", topic, partition, offset, err)
	}
	return recs, firstBatchBase, pr.HighWatermark
}

// readPartition reads a partition from offset 0 to its high watermark and
// checks that the offsets are dense from 0.
func readPartition(t *testing.T, nc net.Conn, topic string, partition int32) []fetchedRecord {
	t.Helper()
	var out []fetchedRecord
	for {
		next := int64(len(out))
		recs, _, hw := fetchOnce(t, nc, topic, partition, next, 1<<20)
		if next >= hw {
			return out
		}
		progressed := false
		for _, r := range recs {
			if r.offset < next {
				continue // the first batch may start before the fetch offset
			}
			if r.offset != next {
				t.Fatalf("partition %d: offset %d follows %d; offsets must be dense", partition, r.offset, next-1)
			}
			if r.offset >= hw {
				break
			}
			out = append(out, r)
			next++
			progressed = true
		}
		if !progressed {
			t.Fatalf("partition %d: fetch at %d (high watermark %d) returned no records", partition, next, hw)
		}
	}
}

// checkAcked asserts that every acknowledged record is in the log at its
// acknowledged offset, and that no value appears twice anywhere.
func checkAcked(t *testing.T, logs [][]fetchedRecord, acked []ackedRecord) {
	t.Helper()
	where := map[string]string{}
	reports := 0
	report := func(format string, args ...any) {
		t.Helper()
		if reports++; reports <= 10 {
			t.Errorf(format, args...)
		}
	}
	total := 0
	for part, recs := range logs {
		total += len(recs)
		for _, r := range recs {
			pos := fmt.Sprintf("%d/%d", part, r.offset)
			if prev, dup := where[r.value]; dup {
				report("value %q at %s and at %s", r.value, prev, pos)
			}
			where[r.value] = pos
			if seq, err := strconv.Atoi(r.value); err == nil && seq%crashPartitions != part {
				report("value %q in partition %d, produced to %d", r.value, part, seq%crashPartitions)
			}
		}
	}
	for _, a := range acked {
		recs := logs[a.partition]
		switch {
		case a.offset >= int64(len(recs)):
			report("acknowledged %q at %d/%d is gone: the partition ends at %d", a.value, a.partition, a.offset, len(recs))
		case recs[a.offset].value != a.value:
			report("acknowledged %q at %d/%d, the log has %q there", a.value, a.partition, a.offset, recs[a.offset].value)
		}
	}
	if reports > 10 {
		t.Errorf("... %d problems in all", reports)
	}
	t.Logf("log holds %d records, %d acknowledged", total, len(acked))
}

// checkRandomReads fetches at random offsets with a tiny byte limit: the
// answer must start with the batch holding that offset (found through the
// offset index) and hold the record read sequentially there.
func checkRandomReads(t *testing.T, nc net.Conn, topic string, logs [][]fetchedRecord) {
	t.Helper()
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	for part, recs := range logs {
		if len(recs) == 0 {
			continue
		}
		for range 40 {
			off := rng.Int64N(int64(len(recs)))
			got, base, _ := fetchOnce(t, nc, topic, int32(part), off, 1)
			if base > off {
				t.Fatalf("seed %d: fetch at %d/%d starts with the batch at %d", seed, part, off, base)
			}
			i := slices.IndexFunc(got, func(r fetchedRecord) bool { return r.offset == off })
			if i < 0 {
				t.Fatalf("seed %d: fetch at %d/%d (first batch at %d) does not hold that offset", seed, part, off, base)
			}
			if got[i].value != recs[off].value {
				t.Fatalf("seed %d: fetch at %d/%d returned %q, a sequential read %q", seed, part, off, got[i].value, recs[off].value)
			}
		}
	}
}

// checkSegmentFiles reads the partition directories of a cleanly stopped
// broker: segments must hold valid batches with dense offsets, each named
// by its first offset, and every offset-index entry must point at a batch
// boundary such that a lookup through it finds every later offset (Kafka's
// OffsetIndex: 4-byte offset relative to the segment, 4-byte position).
func checkSegmentFiles(t *testing.T, dataDir, topic string) {
	t.Helper()
	for part := range crashPartitions {
		dir := filepath.Join(dataDir, fmt.Sprintf("%s-%d", topic, part))
		segs := segmentFiles(t, dir)
		if len(segs) == 0 {
			t.Fatalf("%s: no segments", dir)
		}
		next := int64(0)
		for _, name := range segs {
			base := segmentBaseOffset(t, name)
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if base != next {
				t.Errorf("%s/%s: segment base %d, previous segment ended before %d", dir, name, base, next)
			}
			batches := map[int32]batchSpan{} // by position in the segment
			var order []int32
			pos := 0
			used, err := record.Batches(data, func(h record.Header, batch []byte) error {
				if err := record.CheckCRC(batch); err != nil {
					return fmt.Errorf("batch at position %d: %w", pos, err)
				}
				if h.BaseOffset != next {
					return fmt.Errorf("batch at position %d has base offset %d, want %d", pos, h.BaseOffset, next)
				}
				batches[int32(pos)] = batchSpan{h.BaseOffset, h.LastOffset()}
				order = append(order, int32(pos))
				next = h.NextOffset()
				pos += len(batch)
				return nil
			})
			if err != nil || used != len(data) {
				t.Errorf("%s/%s: %d of %d bytes are whole batches: %v", dir, name, used, len(data), err)
				continue
			}
			checkOffsetIndex(t, filepath.Join(dir, strings.TrimSuffix(name, ".log")+".index"), base, next, batches, order)
		}
	}
}

// batchSpan is the offsets of one batch of a segment.
type batchSpan struct{ first, last int64 }

func checkOffsetIndex(t *testing.T, path string, segBase, segEnd int64, batches map[int32]batchSpan, order []int32) {
	t.Helper()
	idx, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: missing", path)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(idx)%8 != 0 {
		t.Errorf("%s: %d bytes, not a whole number of 8-byte entries", path, len(idx))
	}
	prevOff, prevPos := int64(-1), int32(-1)
	for i := 0; i+8 <= len(idx); i += 8 {
		rel := int32(binary.BigEndian.Uint32(idx[i:]))
		pos := int32(binary.BigEndian.Uint32(idx[i+4:]))
		if i > 0 && rel == 0 && pos == 0 {
			if !bytes.Equal(idx[i:], make([]byte, len(idx)-i)) {
				t.Errorf("%s: zero entry %d followed by non-zero entries", path, i/8)
			}
			break // preallocated space
		}
		off := segBase + int64(rel)
		if off <= prevOff || (i > 0 && pos <= prevPos) {
			t.Errorf("%s: entry %d (%d, %d) does not increase on (%d, %d)", path, i/8, off, pos, prevOff, prevPos)
		}
		prevOff, prevPos = off, pos
		b, ok := batches[pos]
		if !ok {
			t.Errorf("%s: entry %d (offset %d) points at position %d, not a batch boundary", path, i/8, off, pos)
			continue
		}
		if off < b.first || off >= segEnd {
			t.Errorf("%s: entry %d maps offset %d to the batch of offsets %d-%d", path, i/8, off, b.first, b.last)
		}
		// A lookup for any offset >= off starts scanning at pos: no
		// batch before pos may hold such an offset.
		if k := slices.Index(order, pos); k > 0 {
			if before := batches[order[k-1]]; before.last >= off {
				t.Errorf("%s: entry %d maps offset %d to position %d, but the batch before holds offsets up to %d",
					path, i/8, off, pos, before.last)
			}
		}
	}
}

// testIdempotentResendAfterCrash produces five idempotent batches with raw
// requests, SIGKILLs the broker, restarts it and resends: the retries must
// get their original offsets (the producer state is rebuilt from the log),
// and sequence and epoch checks must still hold.
func testIdempotentResendAfterCrash(t *testing.T, bin string) {
	p := newSamsaProcess(t, bin)
	p.start()
	const topic = "crash-idempotent"
	autoCreateTopic(t, p.addr, topic)

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr))
	if err != nil {
		t.Fatal(err)
	}
	initReq := kmsg.NewPtrInitProducerIDRequest()
	initReq.TransactionTimeoutMillis = 60_000
	initResp, err := initReq.RequestWith(testContext(t, time.Minute), cl)
	cl.Close()
	if err != nil {
		t.Fatalf("InitProducerId: %v", err)
	}
	if initResp.ErrorCode != 0 || initResp.ProducerID < 0 {
		t.Fatalf("InitProducerId: error %v, producer id %d", kerr.ErrorForCode(initResp.ErrorCode), initResp.ProducerID)
	}
	pid, epoch := initResp.ProducerID, initResp.ProducerEpoch

	// Batch i holds 3 records with sequences 3i, 3i+1, 3i+2.
	const perBatch = 3
	batch := func(i int, epoch int16, baseSeq int32) []byte {
		bl := record.NewBuilder(record.None)
		bl.ProducerID, bl.ProducerEpoch, bl.BaseSequence = pid, epoch, baseSeq
		for j := range perBatch {
			bl.Add(time.Now().UnixMilli(), record.Record{Value: fmt.Appendf(nil, "idem-%d-%d-%d", epoch, i, j)})
		}
		b, err := bl.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var corr int32
	send := func(nc net.Conn, b []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		corr++
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		return produceRaw(t, nc, topic, b, corr)
	}

	nc := dialRaw(t, p.addr)
	var offsets []int64
	for i := range 5 {
		r := send(nc, batch(i, epoch, int32(perBatch*i)))
		if r.ErrorCode != 0 {
			t.Fatalf("batch %d: %v", i, kerr.ErrorForCode(r.ErrorCode))
		}
		if want := int64(perBatch * i); r.BaseOffset != want {
			t.Fatalf("batch %d at offset %d, want %d", i, r.BaseOffset, want)
		}
		offsets = append(offsets, r.BaseOffset)
	}
	nc.Close()

	p.kill()
	p.start()
	nc = dialRaw(t, p.addr)

	for _, i := range []int{4, 3} {
		r := send(nc, batch(i, epoch, int32(perBatch*i)))
		if r.ErrorCode != 0 || r.BaseOffset != offsets[i] {
			t.Errorf("resent batch %d after restart: error %v, base offset %d, want its original offset %d",
				i, kerr.ErrorForCode(r.ErrorCode), r.BaseOffset, offsets[i])
		}
	}
	recs := readPartition(t, nc, topic, 0)
	if len(recs) != 5*perBatch {
		t.Errorf("partition holds %d records after the resends, want %d", len(recs), 5*perBatch)
	}
	checkUniqueValues(t, recs)

	r := send(nc, batch(5, epoch, 5*perBatch))
	if r.ErrorCode != 0 || r.BaseOffset != 5*perBatch {
		t.Errorf("batch 5 after restart: error %v, base offset %d, want %d", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset, 5*perBatch)
	}
	// Batch 7 skips batch 6's sequences.
	r = send(nc, batch(7, epoch, 7*perBatch))
	if r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Errorf("batch with sequence %d after %d: error %v, want OUT_OF_ORDER_SEQUENCE_NUMBER",
			7*perBatch, 6*perBatch-1, kerr.ErrorForCode(r.ErrorCode))
	}
	// A new epoch starts again at sequence 0; after it, the old epoch is
	// fenced.
	r = send(nc, batch(0, epoch+1, 0))
	if r.ErrorCode != 0 || r.BaseOffset != 6*perBatch {
		t.Errorf("epoch %d sequence 0: error %v, base offset %d, want %d", epoch+1, kerr.ErrorForCode(r.ErrorCode), r.BaseOffset, 6*perBatch)
	}
	r = send(nc, batch(6, epoch, 6*perBatch))
	if r.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Errorf("old epoch %d after %d: error %v, want INVALID_PRODUCER_EPOCH", epoch, epoch+1, kerr.ErrorForCode(r.ErrorCode))
	}

	recs = readPartition(t, nc, topic, 0)
	if len(recs) != 7*perBatch {
		t.Errorf("partition holds %d records, want %d", len(recs), 7*perBatch)
	}
	checkUniqueValues(t, recs)
}

func checkUniqueValues(t *testing.T, recs []fetchedRecord) {
	t.Helper()
	seen := map[string]int64{}
	for _, r := range recs {
		if prev, dup := seen[r.value]; dup {
			t.Errorf("value %q at offsets %d and %d", r.value, prev, r.offset)
		}
		seen[r.value] = r.offset
	}
}
