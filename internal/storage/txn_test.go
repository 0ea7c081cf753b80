package storage

import (
	"fmt"
	"slices"
	"testing"

	"github.com/samsa-io/samsa/internal/record"
)

// txnBatch builds a transactional batch of n keyed records.
func txnBatch(t testing.TB, pid int64, epoch int16, seq int32, ts int64, kv ...string) []byte {
	t.Helper()
	b := record.NewBuilder(record.None)
	b.ProducerID, b.ProducerEpoch, b.BaseSequence, b.Transactional = pid, epoch, seq, true
	for i := 0; i < len(kv); i += 2 {
		b.Add(ts, record.Record{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func marker(pid int64, epoch int16, commit bool, ts int64) []byte {
	return record.EndTxnMarker(pid, epoch, 0, commit, ts)
}

// appendHW appends and moves the high watermark to the log end, as a
// single-replica leader does.
func appendHW(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res := mustAppend(t, l, b)
	l.SetHighWatermark(l.LogEndOffset())
	return res
}

func TestTxnLastStableOffsetAndAbortedIndex(t *testing.T) {
	f := newFixture(t, NewMemFS(), testConfig())
	l := f.log()
	appendHW(t, l, txnBatch(t, 7, 0, 0, f.now.UnixMilli(), "a", "1", "b", "2")) // 0-1
	appendHW(t, l, batch(t, 0, 1, f.now.UnixMilli()))                           // 2
	appendHW(t, l, txnBatch(t, 8, 0, 0, f.now.UnixMilli(), "c", "3"))           // 3
	if lso := l.LastStableOffset(); lso != 0 {
		t.Fatalf("LSO %d with producer 7's transaction open at 0, want 0", lso)
	}
	if !l.HasOngoingTxn(7) || !l.HasOngoingTxn(8) || l.HasOngoingTxn(9) {
		t.Fatal("ongoing transactions not tracked")
	}
	appendHW(t, l, marker(7, 0, false, f.now.UnixMilli())) // 4: abort 7
	if lso := l.LastStableOffset(); lso != 3 {
		t.Fatalf("LSO %d after 7 aborted, with 8 open at 3, want 3", lso)
	}
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 0, LastOffset: 4, LastStableOffset: 3}}
	if got := l.AbortedTxns(0, 10); !slices.Equal(got, want) {
		t.Fatalf("aborted %+v, want %+v", got, want)
	}
	if got := l.AbortedTxns(5, 10); len(got) != 0 {
		t.Fatalf("aborted from offset 5: %+v, want none", got)
	}
	// A marker above the high watermark keeps its transaction unstable.
	mustAppend(t, l, marker(8, 0, true, f.now.UnixMilli())) // 5
	if lso := l.LastStableOffset(); lso != 3 {
		t.Fatalf("LSO %d with 8's marker not replicated, want 3", lso)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if lso := l.LastStableOffset(); lso != 6 {
		t.Fatalf("LSO %d once everything is replicated, want 6", lso)
	}
	// An older epoch's marker is refused.
	if _, err := l.Append(marker(7, 0, true, 0), 0, -1); err != nil {
		t.Fatalf("marker at the same epoch: %v", err)
	}
	appendHW(t, l, txnBatch(t, 7, 2, 0, f.now.UnixMilli(), "d", "4"))
	if _, err := l.Append(marker(7, 1, false, 0), 0, -1); err == nil {
		t.Fatal("a marker of an older epoch was written")
	}

	// The index is on disk in Kafka's format and survives a restart.
	b, err := readFile(f.fs, fileName(l.dir, 0, txnIndexSuffix))
	if err != nil || len(b) != txnIndexEntrySize {
		t.Fatalf("txnindex: %d bytes, %v", len(b), err)
	}
	l = f.reopen()
	if got := l.AbortedTxns(0, 10); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("aborted after reopen: %+v", got)
	}
	if lso := l.LastStableOffset(); lso != 7 {
		t.Fatalf("LSO %d after reopen with 7 open at 7, want 7", lso)
	}
}

// TestTxnSnapshotKeepsOngoing: a snapshot taken at a roll holds the open
// transaction's first offset (Kafka's snapshot v1 currentTxnFirstOffset),
// so a restart that replays only from the snapshot still knows it.
func TestTxnSnapshotKeepsOngoing(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 300
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	appendHW(t, l, txnBatch(t, 5, 1, 0, f.now.UnixMilli(), "k", "open"))
	for i := range 10 {
		appendHW(t, l, batch(t, i, 2, f.now.UnixMilli()))
	}
	if n := len(l.segments); n < 3 {
		t.Fatalf("%d segments, want a few rolls", n)
	}
	l.bg.Wait()
	snap, err := readFile(f.fs, fileName(l.dir, l.active().base, snapshotSuffix))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := decodeSnapshot(snap, 0)
	if err != nil {
		t.Fatal(err)
	}
	if off, ok := ps.ongoing[5]; !ok || off != 0 {
		t.Fatalf("snapshot ongoing %v, want producer 5 from 0", ps.ongoing)
	}
	l = f.reopen()
	if lso := l.LastStableOffset(); lso != 0 {
		t.Fatalf("LSO %d after reopen, want 0", lso)
	}
	appendHW(t, l, marker(5, 1, true, f.now.UnixMilli()))
	if lso, end := l.LastStableOffset(), l.LogEndOffset(); lso != end {
		t.Fatalf("LSO %d after the commit, want the log end %d", lso, end)
	}
}

// TestTxnIndexRebuiltAfterCrash: a crash that loses the unsynced index is
// recovered by replaying the log.
func TestTxnIndexRebuiltAfterCrash(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 1 // the log is synced; the index file is not
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	appendHW(t, l, txnBatch(t, 3, 0, 0, f.now.UnixMilli(), "x", "1"))
	appendHW(t, l, marker(3, 0, false, f.now.UnixMilli()))
	appendHW(t, l, txnBatch(t, 4, 0, 0, f.now.UnixMilli(), "y", "2"))
	f.fs.Remove(fileName(l.dir, 0, txnIndexSuffix))
	l = f.crash()
	want := []AbortedTxn{{ProducerID: 3, FirstOffset: 0, LastOffset: 1, LastStableOffset: 2}}
	if got := l.AbortedTxns(0, 100); !slices.Equal(got, want) {
		t.Fatalf("aborted after the crash: %+v, want %+v", got, want)
	}
	if !l.HasOngoingTxn(4) {
		t.Fatal("the open transaction was lost in the crash")
	}
}

// TestTxnFollowerTruncation: a follower truncated below a marker forgets
// the aborted transaction and has the transaction open again.
func TestTxnFollowerTruncation(t *testing.T) {
	f := newFixture(t, NewMemFS(), testConfig())
	l := f.log()
	appendHW(t, l, txnBatch(t, 3, 0, 0, f.now.UnixMilli(), "x", "1"))
	appendHW(t, l, marker(3, 0, false, f.now.UnixMilli()))
	if _, err := l.TruncateTo(1); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTxns(0, 100); len(got) != 0 {
		t.Fatalf("aborted after truncating the marker away: %+v", got)
	}
	if !l.HasOngoingTxn(3) {
		t.Fatal("the transaction is not open again")
	}
}

// TestCompactionDropsAbortedKeepsMarkers: the cleaner removes aborted
// records (and never lets them shadow committed ones), keeps markers
// while delete.retention.ms runs, and stops at the first unstable offset.
func TestCompactionDropsAbortedKeepsMarkers(t *testing.T) {
	cfg := compactConfig()
	cfg.SegmentBytes = 200
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	ts := f.now.UnixMilli()
	appendHW(t, l, keyed(t, ts, "k", "committed"))                // 0
	appendHW(t, l, txnBatch(t, 9, 0, 0, ts, "k", "aborted"))      // 1
	appendHW(t, l, marker(9, 0, false, ts))                       // 2
	appendHW(t, l, txnBatch(t, 10, 0, 0, ts, "j", "kept"))        // 3
	appendHW(t, l, marker(10, 0, true, ts))                       // 4
	appendHW(t, l, txnBatch(t, 11, 0, 0, ts, "open", "unstable")) // 5
	for i := range 6 {
		appendHW(t, l, keyed(t, ts, fmt.Sprint("filler", i), "x"))
	}
	if _, err := f.m.CleanNow(l); err != nil {
		t.Fatal(err)
	}
	got := readKeyed(t, l)
	if got[0] != "k=committed" {
		t.Errorf("offset 0 is %q: the aborted record shadowed the committed one", got[0])
	}
	if _, ok := got[1]; ok {
		t.Errorf("the aborted record is still at offset 1")
	}
	if got[3] != "j=kept" || got[5] != "open=unstable" {
		t.Errorf("committed or open records lost: %v", got)
	}
	var markers int
	for _, s := range l.segments {
		r := chunkReader{f: s.file, size: s.size.Load()}
		for pos := int64(0); pos < r.size; {
			h, _, err := r.batchAt(pos)
			if err != nil {
				t.Fatal(err)
			}
			if h.Control() {
				markers++
			}
			pos += int64(h.Size())
		}
	}
	if markers != 2 {
		t.Errorf("%d markers after cleaning, want both kept within delete.retention.ms", markers)
	}
	if end := l.cleaner.firstDirty.Load(); end > 5 {
		t.Errorf("cleaned up to %d, past the open transaction at 5", end)
	}
}

func TestDecodeTxnIndex(t *testing.T) {
	a := AbortedTxn{ProducerID: 1, FirstOffset: 2, LastOffset: 3, LastStableOffset: 4}
	b := appendTxnIndexEntry(appendTxnIndexEntry(nil, a), a)
	got, err := decodeTxnIndex(b)
	if err != nil || len(got) != 2 || got[1] != a {
		t.Fatalf("decode: %+v %v", got, err)
	}
	if _, err := decodeTxnIndex(b[:40]); err == nil {
		t.Error("a torn entry decoded")
	}
	bad := slices.Clone(b)
	bad[1] = 9
	if _, err := decodeTxnIndex(bad); err == nil {
		t.Error("an unknown entry version decoded")
	}
}

func FuzzTxnIndex(f *testing.F) {
	f.Add(appendTxnIndexEntry(nil, AbortedTxn{1, 2, 3, 4}))
	f.Add([]byte{0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeTxnIndex(b)
		if err != nil {
			return
		}
		var again []byte
		for _, e := range es {
			if e.LastOffset < e.FirstOffset {
				t.Fatalf("decoded an empty range %+v", e)
			}
			again = appendTxnIndexEntry(again, e)
		}
		if !slices.Equal(again, b) && len(b) > 0 {
			t.Fatalf("re-encoding changed %x to %x", b, again)
		}
	})
}

// TestTxnEpochBumpMarker: a transactions v2 marker carries the epoch after
// the bump (KIP-890); the log takes it, then the producer's next
// transaction at that epoch from sequence 0, and refuses the old epoch.
func TestTxnEpochBumpMarker(t *testing.T) {
	f := newFixture(t, NewMemFS(), testConfig())
	l := f.log()
	ts := f.now.UnixMilli()
	appendHW(t, l, txnBatch(t, 5, 3, 0, ts, "a", "1"))
	appendHW(t, l, txnBatch(t, 5, 3, 1, ts, "b", "2"))
	if !l.HasOngoingTxnAt(5, 3) || l.HasOngoingTxnAt(5, 4) {
		t.Fatal("the open transaction is not the one of epoch 3")
	}
	appendHW(t, l, marker(5, 4, true, ts))
	if l.HasOngoingTxnAt(5, 4) || l.HasOngoingTxn(5) {
		t.Fatal("a transaction is open after its marker")
	}
	appendHW(t, l, txnBatch(t, 5, 4, 0, ts, "c", "3"))
	if !l.HasOngoingTxnAt(5, 4) {
		t.Fatal("the transaction of epoch 4 is not open")
	}
	if _, err := l.Append(txnBatch(t, 5, 3, 2, ts, "d", "4"), 0, -1); err == nil {
		t.Fatal("a batch of the epoch before the bump was written")
	}
	appendHW(t, l, marker(5, 5, false, ts))
	if lso := l.LastStableOffset(); lso != l.LogEndOffset() {
		t.Fatalf("LSO %d, want the log end %d", lso, l.LogEndOffset())
	}
}
