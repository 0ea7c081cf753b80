package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/storage"
)

const dumpT0 = int64(1_700_000_000_000)

func dumpTestConfig() storage.LogConfig {
	return storage.LogConfig{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		SegmentIndexBytes:  10 << 20,
		IndexIntervalBytes: 1, // an index entry for every batch but the first
		RetentionMs:        -1,
		RetentionBytes:     -1,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		CleanupPolicy:      "delete",
	}
}

type dumpRecord struct {
	key, value []byte
	headers    []record.RecordHeader
	ts         int64
}

// dumpBatch is a batch the test writes, and where the log put it.
type dumpBatch struct {
	codec         record.Codec
	producerID    int64
	epoch         int16
	baseSeq       int32
	transactional bool
	control       bool
	logAppendTime int64 // -1 for CreateTime
	recs          []dumpRecord

	data  []byte // as written: offsets, leader epoch (and CRC) set by the log
	pos   int64
	first int64
}

func (b *dumpBatch) build(t *testing.T) []byte {
	t.Helper()
	bl := record.NewBuilder(b.codec)
	bl.ProducerID, bl.ProducerEpoch, bl.BaseSequence = b.producerID, b.epoch, b.baseSeq
	bl.Transactional, bl.Control = b.transactional, b.control
	for _, r := range b.recs {
		bl.Add(r.ts, record.Record{Key: r.key, Value: r.value, Headers: r.headers})
	}
	data, err := bl.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (b *dumpBatch) header(t *testing.T) record.Header {
	t.Helper()
	h, err := record.ParseHeader(b.data)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const leaderEpoch = 3

// dumpTestBatches are batches of every kind dump-log distinguishes: keys,
// null keys, tombstones and headers, every codec, an idempotent producer,
// a transaction with its commit marker, and LogAppendTime.
func dumpTestBatches() []*dumpBatch {
	plain := func(codec record.Codec, n int, prefix string, ts int64) *dumpBatch {
		b := &dumpBatch{codec: codec, producerID: -1, epoch: -1, baseSeq: -1, logAppendTime: -1}
		for i := range n {
			b.recs = append(b.recs, dumpRecord{
				key:   fmt.Appendf(nil, "%s-key-%d", prefix, i),
				value: []byte(strings.Repeat(prefix+" value ", 20) + strconv.Itoa(i)),
				ts:    ts + int64(i),
			})
		}
		return b
	}
	first := &dumpBatch{codec: record.None, producerID: -1, epoch: -1, baseSeq: -1, logAppendTime: -1, recs: []dumpRecord{
		{key: []byte("k0"), value: []byte("v0"), headers: []record.RecordHeader{{Key: "h1", Value: []byte("x")}, {Key: "h2"}}, ts: dumpT0},
		{value: []byte("no key"), ts: dumpT0 + 1},
		{key: []byte("k2"), ts: dumpT0 + 2}, // a tombstone
	}}
	idem := plain(record.None, 3, "idem", dumpT0+100)
	idem.producerID, idem.epoch, idem.baseSeq = 1000, 2, 0
	txn := plain(record.None, 2, "txn", dumpT0+200)
	txn.producerID, txn.epoch, txn.baseSeq, txn.transactional = 2000, 0, 0, true
	marker := &dumpBatch{codec: record.None, producerID: 2000, epoch: 0, baseSeq: -1, transactional: true, control: true, logAppendTime: -1,
		recs: []dumpRecord{{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 5}, ts: dumpT0 + 300}}}
	lat := plain(record.Zstd, 2, "lat", dumpT0+400)
	lat.logAppendTime = dumpT0 + 5000
	return []*dumpBatch{
		first,
		plain(record.Gzip, 4, "gzip", dumpT0+10),
		plain(record.Snappy, 2, "snappy", dumpT0+20),
		plain(record.LZ4, 2, "lz4", dumpT0+30),
		plain(record.Zstd, 3, "zstd", dumpT0+40),
		idem, txn, marker, lat,
		plain(record.None, 1, "last", dumpT0+500),
	}
}

// writeDumpPartition writes the batches through the storage layer into a
// partition directory of a fresh log dir and returns the open log.
func writeDumpPartition(t *testing.T, m *storage.Manager, topic string, batches []*dumpBatch) *storage.Log {
	t.Helper()
	l, err := m.Create(storage.TopicPartition{Topic: topic, Partition: 0}, [16]byte{1, 2, 3}, dumpTestConfig())
	if err != nil {
		t.Fatal(err)
	}
	pos := int64(0)
	for _, b := range batches {
		data := b.build(t)
		if b.control {
			// A transaction marker reaches a log as the leader's
			// coordinator writes it; here, as a replica copies it.
			record.SetBaseOffset(data, l.LogEndOffset())
			record.SetPartitionLeaderEpoch(data, leaderEpoch)
			if _, err := l.AppendAsFollower(data); err != nil {
				t.Fatalf("AppendAsFollower: %v", err)
			}
		} else if _, err := l.Append(data, leaderEpoch, b.logAppendTime); err != nil {
			t.Fatalf("Append: %v", err)
		}
		b.data, b.pos = data, pos
		b.first = b.header(t).BaseOffset
		pos += int64(len(data))
	}
	return l
}

func openDumpManager(t *testing.T) (*storage.Manager, string) {
	t.Helper()
	dir := t.TempDir()
	m, err := storage.OpenManager(storage.ManagerConfig{FS: storage.OSFS, Dirs: []string{dir}, Defaults: dumpTestConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, dir
}

// wantBatchLine is Kafka's line for a batch, from what the test wrote.
func wantBatchLine(t *testing.T, b *dumpBatch, valid bool) string {
	h := b.header(t)
	tsType, maxTs := "CreateTime", int64(-1)
	for _, r := range b.recs {
		maxTs = max(maxTs, r.ts)
	}
	if b.logAppendTime >= 0 {
		tsType, maxTs = "LogAppendTime", b.logAppendTime
	}
	lastSeq := int32(-1)
	if b.baseSeq >= 0 {
		lastSeq = b.baseSeq + int32(len(b.recs)) - 1
	}
	return fmt.Sprintf("baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d producerEpoch: %d "+
		"partitionLeaderEpoch: %d isTransactional: %t isControl: %t deleteHorizonMs: OptionalLong.empty position: %d %s: %d size: %d "+
		"magic: 2 compresscodec: %s crc: %d isvalid: %t",
		b.first, b.first+int64(len(b.recs))-1, len(b.recs), b.baseSeq, lastSeq, b.producerID, b.epoch,
		leaderEpoch, b.transactional, b.control, b.pos, tsType, maxTs, len(b.data),
		b.codec, binary.BigEndian.Uint32(b.data[17:21]), valid && h.CRC == record.ComputeCRC(b.data))
}

// wantRecordLines are Kafka's lines for a batch's records.
func wantRecordLines(b *dumpBatch, printData bool) []string {
	var lines []string
	for i, r := range b.recs {
		ts := r.ts
		tsType := "CreateTime"
		if b.logAppendTime >= 0 {
			tsType, ts = "LogAppendTime", b.logAppendTime
		}
		seq := int32(-1)
		if b.baseSeq >= 0 {
			seq = b.baseSeq + int32(i)
		}
		var keys []string
		for _, h := range r.headers {
			keys = append(keys, h.Key)
		}
		line := fmt.Sprintf("| offset: %d %s: %d keySize: %d valueSize: %d sequence: %d headerKeys: [%s]",
			b.first+int64(i), tsType, ts, sizeOf(r.key), sizeOf(r.value), seq, strings.Join(keys, ","))
		switch {
		case b.control:
			line += " endTxnMarker: COMMIT coordinatorEpoch: 5"
		case printData:
			if r.key != nil {
				line += " key: " + string(r.key)
			}
			if r.value != nil {
				line += " payload: " + string(r.value)
			}
		}
		lines = append(lines, line)
	}
	return lines
}

func segmentPath(dir, topic string) string {
	return filepath.Join(dir, topic+"-0", "00000000000000000000.log")
}

// hashDir returns the contents and modification times of a directory's
// files, to show that a dump changed nothing.
func hashDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fmt.Sprintf("%x %v", sha256.Sum256(data), fi.ModTime().UnixNano())
	}
	return out
}

func TestDumpLogSegment(t *testing.T) {
	m, dir := openDumpManager(t)
	batches := dumpTestBatches()
	l := writeDumpPartition(t, m, "events", batches)
	seg := segmentPath(dir, "events")
	before := hashDir(t, filepath.Dir(seg))

	// The broker's log stays open while dump-log reads its files.
	want := []string{"Dumping " + seg, "Log starting offset: 0"}
	shallow := slicesClone(want)
	deep := slicesClone(want)
	for _, b := range batches {
		want = append(want, wantBatchLine(t, b, true))
		want = append(want, wantRecordLines(b, true)...)
		shallow = append(shallow, wantBatchLine(t, b, true))
		deep = append(deep, wantBatchLine(t, b, true))
		deep = append(deep, wantRecordLines(b, false)...)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--print-data-log"}, want},
		{[]string{"--deep-iteration"}, deep},
		{nil, shallow},
	} {
		out, errOut, err := runCLI(t, "", append([]string{"dump-log", "--files", seg}, tc.args...)...)
		if err != nil || errOut != "" {
			t.Fatalf("dump-log %v: %v\n%s", tc.args, err, errOut)
		}
		if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("dump-log %v:\n%s\nwant\n%s", tc.args, out, strings.Join(tc.want, "\n"))
		}
	}

	// --skip-record-metadata leaves keys and values.
	out := mustRun(t, "", "dump-log", "--files", seg, "--print-data-log", "--skip-record-metadata")
	if !strings.Contains(out, "\n| key: k0 payload: v0\n") || strings.Contains(out, "| offset:") {
		t.Errorf("--skip-record-metadata output:\n%s", out)
	}
	// --max-bytes stops after the whole batches within the limit.
	out = mustRun(t, "", "dump-log", "--files", seg, "--max-bytes", strconv.FormatInt(batches[2].pos+1, 10))
	if n := strings.Count(out, "baseOffset: "); n != 2 {
		t.Errorf("--max-bytes through the third batch's first byte printed %d batches, want 2:\n%s", n, out)
	}

	if after := hashDir(t, filepath.Dir(seg)); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("dump-log changed the partition's files:\n%v\nthen\n%v", before, after)
	}
	// And the log goes on as before.
	if _, err := l.Append((&dumpBatch{codec: record.None, producerID: -1, epoch: -1, baseSeq: -1,
		recs: []dumpRecord{{key: []byte("more"), ts: dumpT0 + 600}}}).build(t), leaderEpoch, -1); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, "", "dump-log", "--files", seg, "--deep-iteration")
	if n := strings.Count(out, "baseOffset: "); n != len(batches)+1 {
		t.Errorf("after one more append the dump shows %d batches, want %d", n, len(batches)+1)
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// corruptCopy writes data under the segment's name in a new directory.
func corruptCopy(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDumpLogCorruptSegment(t *testing.T) {
	m, dir := openDumpManager(t)
	batches := dumpTestBatches()
	writeDumpPartition(t, m, "events", batches)
	good, err := os.ReadFile(segmentPath(dir, "events"))
	if err != nil {
		t.Fatal(err)
	}
	last := batches[len(batches)-1]
	third := batches[2]
	withLength := func(pos int64, length uint32) []byte {
		b := bytes.Clone(good)
		binary.BigEndian.PutUint32(b[pos+8:], length)
		return b
	}
	backwards := bytes.Clone(good)
	binary.BigEndian.PutUint64(backwards[third.pos:], 1) // the CRC does not cover the base offset
	flipped := bytes.Clone(good)
	flipped[third.pos+record.HeaderSize+3] ^= 0x40
	badMagic := bytes.Clone(good)
	badMagic[third.pos+16] = 7
	// A batch whose CRC is right but whose header counts one record too
	// many: only reading the records finds it.
	badCount := bytes.Clone(good)
	hdr := badCount[third.pos : third.pos+int64(len(third.data))]
	binary.BigEndian.PutUint32(hdr[57:], uint32(len(third.recs)+1))
	binary.BigEndian.PutUint32(hdr[17:], record.ComputeCRC(hdr))

	for _, tc := range []struct {
		name       string
		data       []byte
		args       []string
		pos        int64
		shown      int    // batches printed in full before the bad one
		badLine    bool   // the bad batch's own line is printed
		invalid    bool   // and shows isvalid: false
		reason     string // in the report
		invalidEnd int64  // the "Found N invalid bytes" count, if any
	}{
		{name: "flipped byte", data: flipped, pos: third.pos, shown: 2, badLine: true, invalid: true, reason: "its stored CRC-32C"},
		{name: "offsets going backwards", data: backwards, pos: third.pos, shown: 2, badLine: true,
			reason: "base offset 1 is below 7, where the batch before ends"},
		{name: "bad magic", data: badMagic, pos: third.pos, shown: 2, reason: "magic 7: only batches of the v2 format"},
		{name: "truncated tail", data: good[:last.pos+30], pos: last.pos, shown: len(batches) - 1,
			reason: "but only 18 are left", invalidEnd: 30},
		{name: "torn frame", data: good[:last.pos+5], pos: last.pos, shown: len(batches) - 1,
			reason: "too few to frame a batch", invalidEnd: 5},
		{name: "short length", data: withLength(batches[1].pos, 7), pos: batches[1].pos, shown: 1,
			reason: "its length field says 7 bytes follow, fewer than the 49 of a batch header"},
		{name: "huge length", data: withLength(batches[1].pos, 0x7ffffff0), pos: batches[1].pos, shown: 1,
			reason: "its length field says 2147483632 bytes follow but only", invalidEnd: int64(len(good)) - batches[1].pos},
		{name: "negative length", data: withLength(batches[4].pos, 0xfffffff0), pos: batches[4].pos, shown: 4,
			reason: "its length field says -16 bytes follow"},
		{name: "record count", data: badCount, args: []string{"--deep-iteration"}, pos: third.pos, shown: 2, badLine: true,
			reason: "its records: record batch record count does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := corruptCopy(t, tc.data)
			args := append([]string{"dump-log", "--print-data-log", "--files", path}, tc.args...)
			out, _, err := runCLI(t, "", args...)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("corrupt batch at position %d", tc.pos)) {
				t.Fatalf("error %v, want one naming position %d", err, tc.pos)
			}
			report := regexp.MustCompile(`(?m)^Corrupt batch at position (\d+): (.*)\. The rest of 00000000000000000000\.log is not read\.$`)
			m := report.FindStringSubmatch(out)
			if m == nil || m[1] != strconv.FormatInt(tc.pos, 10) || !strings.Contains(m[2], tc.reason) {
				t.Fatalf("report %q, want position %d and %q; output:\n%s", m, tc.pos, tc.reason, out)
			}
			if !strings.HasSuffix(out, m[0]+"\n") {
				t.Errorf("output goes on after the report:\n%s", out)
			}
			// Every batch before the bad one is shown whole, records
			// included; none after it.
			for i, b := range batches {
				line := wantBatchLine(t, b, true)
				if shown := strings.Contains(out, line); shown != (i < tc.shown) {
					t.Errorf("batch %d at %d shown: %v, want %v", i, b.pos, shown, i < tc.shown)
				}
				if i < tc.shown && !strings.Contains(out, strings.Join(wantRecordLines(b, true), "\n")) {
					t.Errorf("records of batch %d missing", i)
				}
			}
			if got := strings.Contains(out, fmt.Sprintf("position: %d CreateTime", tc.pos)); got != tc.badLine {
				t.Errorf("the bad batch's own line shown: %v, want %v", got, tc.badLine)
			}
			if got := strings.Contains(out, "isvalid: false"); got != tc.invalid {
				t.Errorf("a batch shown as invalid: %v, want %v", got, tc.invalid)
			}
			if tc.invalidEnd > 0 && !strings.Contains(out, fmt.Sprintf("Found %d invalid bytes at the end of 00000000000000000000.log\n", tc.invalidEnd)) {
				t.Errorf("no count of %d invalid bytes at the end:\n%s", tc.invalidEnd, out)
			}
		})
	}

	// Several files: each is dumped whatever happened to the one before,
	// and the exit status reports the problem.
	bad := corruptCopy(t, flipped)
	out, _, err := runCLI(t, "", "dump-log", "--files", bad+","+segmentPath(dir, "events"))
	if err == nil || strings.Count(out, "Dumping ") != 2 || strings.Count(out, "isvalid: true") != 2+len(batches) {
		t.Errorf("dump of a corrupt and a good file: err %v, output:\n%s", err, out)
	}
}

func TestDumpLogIndexes(t *testing.T) {
	m, dir := openDumpManager(t)
	batches := dumpTestBatches()
	writeDumpPartition(t, m, "events", batches)
	seg := segmentPath(dir, "events")
	index := strings.TrimSuffix(seg, ".log") + ".index"
	timeIndex := strings.TrimSuffix(seg, ".log") + ".timeindex"

	// With index.interval.bytes=1 every batch but the first is indexed at
	// its position by its last offset.
	var want []string
	for _, b := range batches[1:] {
		want = append(want, fmt.Sprintf("offset: %d position: %d", b.first+int64(len(b.recs))-1, b.pos))
	}
	out := mustRun(t, "", "dump-log", "--files", index)
	if want := "Dumping " + index + "\n" + strings.Join(want, "\n") + "\n"; out != want {
		t.Errorf("index dump:\n%s\nwant\n%s", out, want)
	}
	out = mustRun(t, "", "dump-log", "--files", timeIndex)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")[1:]
	if len(lines) == 0 {
		t.Fatalf("time index dump shows no entries:\n%s", out)
	}
	for _, line := range lines {
		var ts, off int64
		if _, err := fmt.Sscanf(line, "timestamp: %d offset: %d", &ts, &off); err != nil {
			t.Fatalf("time index line %q: %v", line, err)
		}
	}

	// Checks only: nothing printed but the file names.
	out = mustRun(t, "", "dump-log", "--verify-index-only", "--files", index+","+timeIndex)
	if out != "Dumping "+index+"\nDumping "+timeIndex+"\n" {
		t.Errorf("--verify-index-only of good indexes printed:\n%s", out)
	}
	out = mustRun(t, "", "dump-log", "--index-sanity-check", "--files", index+","+timeIndex)
	if !strings.Contains(out, index+" passed sanity check.\n") || !strings.Contains(out, timeIndex+" passed sanity check.\n") {
		t.Errorf("--index-sanity-check of good indexes printed:\n%s", out)
	}

	// A broken copy: one entry points inside a batch, one names an offset
	// other than its batch's last, one time entry has the wrong timestamp.
	broken := t.TempDir()
	copyFile := func(src string) []byte {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	ix := copyFile(index)
	binary.BigEndian.PutUint32(ix[1*8+4:], binary.BigEndian.Uint32(ix[1*8+4:])+1) // entry 1: batch 2's position + 1
	binary.BigEndian.PutUint32(ix[3*8:], binary.BigEndian.Uint32(ix[3*8:])-1)     // entry 3: batch 4 (zstd, 3 records) last offset - 1
	tix := copyFile(timeIndex)
	binary.BigEndian.PutUint64(tix, binary.BigEndian.Uint64(tix)+7)
	for name, data := range map[string][]byte{
		filepath.Base(seg): copyFile(seg), filepath.Base(index): ix, filepath.Base(timeIndex): tix,
	} {
		if err := os.WriteFile(filepath.Join(broken, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bIndex, bTimeIndex := filepath.Join(broken, filepath.Base(index)), filepath.Join(broken, filepath.Base(timeIndex))
	out, errOut, err := runCLI(t, "", "dump-log", "--verify-index-only", "--files", bIndex)
	lastOf := func(b *dumpBatch) int64 { return b.first + int64(len(b.recs)) - 1 }
	for _, want := range []string{
		"Mismatches in :" + bIndex + "\n",
		fmt.Sprintf("  Index offset: %d, position %d is not the start of a batch\n", lastOf(batches[2]), batches[2].pos+1),
		fmt.Sprintf("  Index offset: %d, log offset: %d\n", lastOf(batches[4])-1, lastOf(batches[4])),
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("broken index: stderr lacks %q:\n%s", want, errOut)
		}
	}
	if err == nil || strings.Count(errOut, "  Index offset:") != 2 || out != "Dumping "+bIndex+"\n" {
		t.Errorf("broken index: err %v, stdout %q, stderr:\n%s", err, out, errOut)
	}
	_, errOut, err = runCLI(t, "", "dump-log", "--verify-index-only", "--files", bTimeIndex)
	if err == nil || !strings.Contains(errOut, "Found timestamp mismatch in :"+bTimeIndex+"\n") ||
		!regexp.MustCompile(`  Index timestamp: \d+, log timestamp: \d+\n`).MatchString(errOut) {
		t.Errorf("broken time index: err %v, stderr:\n%s", err, errOut)
	}

	// The startup check fails on an index that is not whole entries, or
	// whose entries go backwards.
	if err := os.WriteFile(bIndex, ix[:len(ix)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "", "dump-log", "--index-sanity-check", "--files", bIndex)
	if err == nil || !strings.Contains(err.Error(), "failed the sanity check: found 69 bytes which is not a multiple of 8") {
		t.Errorf("sanity check of a torn index: %v", err)
	}
	swapped := bytes.Clone(ix)
	copy(swapped[8:16], ix[16:24])
	copy(swapped[16:24], ix[8:16])
	if err := os.WriteFile(bIndex, swapped, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, "", "dump-log", "--index-sanity-check", "--files", bIndex)
	if err == nil || !strings.Contains(err.Error(), "entry 2") {
		t.Errorf("sanity check of an index going backwards: %v", err)
	}
}

func TestDumpLogProducerSnapshot(t *testing.T) {
	m, dir := openDumpManager(t)
	cfg := dumpTestConfig()
	cfg.SegmentBytes = 1 // every append after the first rolls, writing a snapshot
	l, err := m.Create(storage.TopicPartition{Topic: "snap", Partition: 0}, [16]byte{4}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := &dumpBatch{codec: record.None, producerID: 1000, epoch: 2, baseSeq: 0, recs: []dumpRecord{
		{key: []byte("a"), ts: dumpT0}, {key: []byte("b"), ts: dumpT0 + 1}, {key: []byte("c"), ts: dumpT0 + 7},
	}}
	second := &dumpBatch{codec: record.None, producerID: 1000, epoch: 2, baseSeq: 3, recs: []dumpRecord{{key: []byte("d"), ts: dumpT0 + 9}}}
	for _, b := range []*dumpBatch{first, second} {
		if _, err := l.Append(b.build(t), leaderEpoch, -1); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	snapshot := filepath.Join(dir, "snap-0", "00000000000000000003.snapshot")
	out := mustRun(t, "", "dump-log", "--files", snapshot)
	want := fmt.Sprintf("Dumping %s\nproducerId: 1000 producerEpoch: 2 coordinatorEpoch: -1 currentTxnFirstOffset: OptionalLong.empty "+
		"lastTimestamp: %d firstSequence: 0 lastSequence: 2 lastOffset: 2 offsetDelta: 2 timestamp: %d\n", snapshot, dumpT0+7, dumpT0+7)
	if out != want {
		t.Errorf("snapshot dump:\n%s\nwant\n%s", out, want)
	}

	data, err := os.ReadFile(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1
	bad := filepath.Join(t.TempDir(), "00000000000000000003.snapshot")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "", "dump-log", "--files", bad); err == nil || !strings.Contains(err.Error(), "CRC is no longer valid") {
		t.Errorf("dump of a corrupt snapshot: %v", err)
	}
}

func TestDumpLogTransactionLogDecoder(t *testing.T) {
	key := func(typ int16, id string) []byte {
		return (&kmsg.TxnMetadataKey{Version: typ, TransactionalID: id}).AppendTo(nil)
	}
	ongoing := kmsg.NewTxnMetadataValue()
	ongoing.ProducerID, ongoing.ProducerEpoch, ongoing.TimeoutMillis = 4000, 1, 60000
	ongoing.State = 1
	ongoing.Topics = []kmsg.TxnMetadataValueTopic{{Topic: "orders", Partitions: []int32{0, 2}}, {Topic: "<audit>", Partitions: []int32{1}}}
	ongoing.LastUpdateTimestamp, ongoing.StartTimestamp = dumpT0+100, dumpT0+50
	committed := ongoing
	committed.Version, committed.State, committed.Topics = 1, 4, []kmsg.TxnMetadataValueTopic{}
	committed.PreviousProducerID, committed.ClientTransactionVersion = 3999, 2
	empty := kmsg.NewTxnMetadataValue()
	empty.ProducerID, empty.TimeoutMillis, empty.LastUpdateTimestamp, empty.StartTimestamp = 4001, 1000, dumpT0, -1

	batch := &dumpBatch{codec: record.None, producerID: -1, epoch: -1, baseSeq: -1, logAppendTime: -1, recs: []dumpRecord{
		{key: key(0, "tx-1"), value: ongoing.AppendTo(nil), ts: dumpT0},
		{key: key(0, "tx-1"), value: committed.AppendTo(nil), ts: dumpT0},
		{key: key(0, "tx-2"), value: empty.AppendTo(nil), ts: dumpT0},
		{key: key(0, "tx-3"), ts: dumpT0},
		{key: key(5, "other"), value: []byte{0, 0}, ts: dumpT0},
		{key: key(0, "tx-4"), value: []byte{0, 0, 1}, ts: dumpT0},
		{key: key(0, "tx-5"), value: []byte{0, 9, 0, 0}, ts: dumpT0},
	}}
	m, dir := openDumpManager(t)
	writeDumpPartition(t, m, "__transaction_state", []*dumpBatch{batch})
	out := mustRun(t, "", "dump-log", "--transaction-log-decoder", "--files", segmentPath(dir, "__transaction_state"))
	for i, want := range []string{
		`key: {"type":"0","data":{"transactionalId":"tx-1"}} payload: {"version":"0","data":{"producerId":4000,"producerEpoch":1,` +
			`"transactionTimeoutMs":60000,"transactionStatus":1,"transactionPartitions":[{"topic":"orders","partitionIds":[0,2]},` +
			`{"topic":"<audit>","partitionIds":[1]}],"transactionLastUpdateTimestampMs":1700000000100,"transactionStartTimestampMs":1700000000050}}`,
		`key: {"type":"0","data":{"transactionalId":"tx-1"}} payload: {"version":"1","data":{"producerId":4000,"previousProducerId":3999,` +
			`"producerEpoch":1,"transactionTimeoutMs":60000,"transactionStatus":4,"transactionPartitions":[],` +
			`"transactionLastUpdateTimestampMs":1700000000100,"transactionStartTimestampMs":1700000000050,"clientTransactionVersion":2}}`,
		`key: {"type":"0","data":{"transactionalId":"tx-2"}} payload: {"version":"0","data":{"producerId":4001,"producerEpoch":0,` +
			`"transactionTimeoutMs":1000,"transactionStatus":0,"transactionPartitions":null,"transactionLastUpdateTimestampMs":1700000000000,` +
			`"transactionStartTimestampMs":-1}}`,
		`key: {"type":"0","data":{"transactionalId":"tx-3"}} payload: <DELETE>`,
		`key: Unknown record type 5 at offset 4, skipping.`,
		`key: Error at offset 5, skipping. malformed transaction log value:`,
		`key: Error at offset 6, skipping. unknown version 9 of the transaction log value`,
	} {
		re := regexp.MustCompile(`(?m)^\| offset: ` + strconv.Itoa(i) + ` CreateTime: \d+ keySize: \d+ valueSize: -?\d+ sequence: -1 headerKeys: \[\] ` +
			regexp.QuoteMeta(want))
		if !re.MatchString(out) {
			t.Errorf("record %d: no line matching\n%s\nin\n%s", i, want, out)
		}
	}
}

func TestDumpLogOffsetsDecoder(t *testing.T) {
	b := brokertest.Start(t, "offsets.topic.num.partitions=1")
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "orders", "--partitions", "2")

	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	producer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for i := range 7 {
		r := &kgo.Record{Topic: "orders", Partition: int32(i % 2), Value: []byte(strconv.Itoa(i))}
		if err := producer.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumerGroup("dump-group"), kgo.ConsumeTopics("orders"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	for seen := 0; seen < 7; {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 7 records: %v", seen, err)
		}
		seen += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	consumer.Close()

	// The broker keeps running: its __consumer_offsets segment is live.
	seg := segmentPath(b.Dir, "__consumer_offsets")
	out, errOut, err := runCLI(t, "", "dump-log", "--offsets-decoder", "--files", seg)
	if err != nil {
		t.Fatalf("dump-log --offsets-decoder: %v\n%s", err, errOut)
	}
	for p, offset := range map[int]int{0: 4, 1: 3} {
		re := regexp.MustCompile(`(?m)^\| offset: \d+ CreateTime: \d+ keySize: \d+ valueSize: \d+ sequence: -1 headerKeys: \[\] ` +
			regexp.QuoteMeta(fmt.Sprintf(`key: {"type":"1","data":{"group":"dump-group","topic":"orders","partition":%d}} `, p)) +
			regexp.QuoteMeta(fmt.Sprintf(`payload: {"version":"3","data":{"offset":%d,"leaderEpoch":`, offset)) +
			`-?\d+,"metadata":"[^"]*","commitTimestamp":\d+}}$`)
		if !re.MatchString(out) {
			t.Errorf("no commit of offset %d for partition %d in:\n%s", offset, p, out)
		}
	}
	// The group's own records, whichever protocol the client chose.
	classic := regexp.MustCompile(`key: {"type":"2","data":{"group":"dump-group"}} payload: {"version":"\d","data":{"protocolType":"consumer",` +
		`"generation":1,.*"subscription":{"topics":\["orders"\]`)
	kip848 := regexp.MustCompile(`key: {"type":"5","data":{"groupId":"dump-group","memberId":"[^"]+"}} ` +
		`payload: {"version":"0","data":{.*"subscribedTopicNames":\["orders"\]`)
	if !classic.MatchString(out) && !kip848.MatchString(out) {
		t.Errorf("no group metadata record with the subscription in:\n%s", out)
	}
}

// dumpSeedSegment is a segment of batches of every kind, with records of
// __consumer_offsets and __transaction_state, for the fuzz corpus.
func dumpSeedSegment(t testing.TB) []byte {
	var seg []byte
	next := int64(0)
	add := func(bl *record.Builder, recs ...record.Record) {
		for i, r := range recs {
			bl.Add(dumpT0+int64(i), r)
		}
		b, err := bl.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		record.SetBaseOffset(b, next)
		next += int64(len(recs))
		seg = append(seg, b...)
	}
	sub := (&kmsg.ConsumerMemberMetadata{Version: 3, Topics: []string{"orders"}}).AppendTo(nil)
	assign := (&kmsg.ConsumerMemberAssignment{Version: 3,
		Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: "orders", Partitions: []int32{0}}}}).AppendTo(nil)
	gm := kmsg.NewGroupMetadataValue()
	gm.Version, gm.ProtocolType, gm.Generation = 3, "consumer", 1
	gm.Members = []kmsg.GroupMetadataValueMember{{MemberID: "m", ClientID: "c", ClientHost: "/h", Subscription: sub, Assignment: assign}}
	txn := kmsg.NewTxnMetadataValue()
	txn.Version, txn.Topics = 1, []kmsg.TxnMetadataValueTopic{{Topic: "t", Partitions: []int32{1}}}
	add(record.NewBuilder(record.None),
		record.Record{Key: (&kmsg.OffsetCommitKey{Version: 1, Group: "g", Topic: "t"}).AppendTo(nil),
			Value: (&kmsg.OffsetCommitValue{Version: 3, Offset: 5}).AppendTo(nil)},
		record.Record{Key: (&kmsg.GroupMetadataKey{Version: 2, Group: "g"}).AppendTo(nil), Value: gm.AppendTo(nil)},
		record.Record{Key: (&kmsg.TxnMetadataKey{TransactionalID: "tx"}).AppendTo(nil), Value: txn.AppendTo(nil)},
		record.Record{Key: []byte("k"), Headers: []record.RecordHeader{{Key: "h", Value: []byte("v")}}},
	)
	for _, codec := range []record.Codec{record.Gzip, record.Snappy, record.LZ4, record.Zstd} {
		add(record.NewBuilder(codec), record.Record{Key: []byte("a"), Value: bytes.Repeat([]byte("x"), 100)}, record.Record{Value: []byte("b")})
	}
	idem := record.NewBuilder(record.None)
	idem.ProducerID, idem.ProducerEpoch, idem.BaseSequence, idem.Transactional = 7, 1, 0, true
	add(idem, record.Record{Value: []byte("t")})
	marker := record.NewBuilder(record.None)
	marker.ProducerID, marker.ProducerEpoch, marker.Transactional, marker.Control = 7, 1, true, true
	add(marker, record.Record{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 1}})
	return seg
}

// FuzzDumpSegment feeds arbitrary bytes to dump-log as a segment file, and
// as index, time index, snapshot and transaction index files against it:
// whatever the bytes, it reports and returns, it does not panic.
func FuzzDumpSegment(f *testing.F) {
	seed := dumpSeedSegment(f)
	f.Add(seed)
	f.Add(seed[:len(seed)-10])
	ix := binary.BigEndian.AppendUint32(nil, 0)
	f.Add(binary.BigEndian.AppendUint32(ix, 61))
	f.Fuzz(func(t *testing.T, data []byte) {
		var dumps int
		for _, o := range []dumpLogOptions{
			{},
			{deepIteration: true, printDataLog: true},
			{deepIteration: true, printDataLog: true, offsetsDecoder: true},
			{deepIteration: true, printDataLog: true, transactionDecoder: true},
		} {
			o.maxBytes, o.maxMessageSize, o.maxDecompressedBytes = math.MaxInt32, 1<<20, 1<<20
			var out bytes.Buffer
			d := &dumper{opts: &o, out: bufio.NewWriter(&out), errOut: io.Discard}
			err := d.dumpSegment("fuzz.log", bytes.NewReader(data), int64(len(data)))
			d.out.Flush()
			if err == nil {
				dumps++
				if n := strings.Count(out.String(), "baseOffset: "); n != len(scanSegment(bytes.NewReader(data), int64(len(data))).batches) {
					t.Fatalf("the dump shows %d batches, the scan finds another number", n)
				}
			}
		}
		seg := scanSegment(bytes.NewReader(data), int64(len(data)))
		if dumps > 0 && seg.err != nil {
			t.Fatalf("a dump passes the segment, the index scan stops at %v", seg.err)
		}
		checkOffsetIndex(parseOffsetIndex(data, 3), seg, 1<<20)
		checkTimeIndex(parseTimeIndex(data, 3), seg.batches)
		sanityCheckOffsetIndex(data, 3, seg.size)
		sanityCheckTimeIndex(data, 3)
		zeroTail(data, offsetIndexEntrySize)
		d := &dumper{opts: &dumpLogOptions{}, out: bufio.NewWriter(io.Discard), errOut: io.Discard}
		d.dumpSnapshot("fuzz.snapshot", data)
		d.dumpTxnIndex("fuzz.txnindex", data)
	})
}

func TestDumpLogUsage(t *testing.T) {
	mustFail(t, "--files is required", "dump-log")
	mustFail(t, "cannot be used together", "dump-log", "--files", "x.log", "--offsets-decoder", "--transaction-log-decoder")
	mustFail(t, "no such file", "dump-log", "--files", filepath.Join(t.TempDir(), "00000000000000000000.log"))
	_, errOut, err := runCLI(t, "", "dump-log", "--files", "notes.txt")
	if err != nil || !strings.Contains(errOut, "Ignoring unknown file notes.txt") {
		t.Errorf("unknown file: err %v, stderr %q", err, errOut)
	}
}
