package storage

import (
	"errors"
	"math"
	"testing"

	"github.com/samsa-io/samsa/internal/record"
)

// leaderLog produces, on a separate log, the batches a follower fetches.
func leaderBatches(t *testing.T, epochs []int32) ([]byte, *Log) {
	t.Helper()
	cfg := testConfig()
	cfg.SegmentBytes = 600
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	for i, ep := range epochs {
		b := idemBatch(t, 11, 0, int32(i*2), 2, int64(100+i))
		if _, err := l.Append(b, ep, -1); err != nil {
			t.Fatal(err)
		}
	}
	var all []byte
	next := int64(0)
	for next < l.LogEndOffset() {
		rr, err := l.Read(next, 1<<20, math.MaxInt64, true)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, rr.Size)
		rr.File.ReadAt(buf, rr.Pos)
		record.Batches(buf, func(h record.Header, b []byte) error {
			all = append(all, b...)
			next = h.NextOffset()
			return nil
		})
	}
	return all, l
}

func TestFollowerAppendAndTruncate(t *testing.T) {
	data, leader := leaderBatches(t, []int32{0, 0, 0, 1, 1, 3, 3, 3, 3, 3})
	cfg := testConfig()
	cfg.SegmentBytes = 600
	f := newFixture(t, NewMemFS(), cfg)
	l := f.log()
	// Fetched in pieces of whole batches.
	var batches [][]byte
	record.Batches(data, func(h record.Header, b []byte) error {
		batches = append(batches, b)
		return nil
	})
	for i := 0; i < len(batches); i += 3 {
		var chunk []byte
		for _, b := range batches[i:min(i+3, len(batches))] {
			chunk = append(chunk, b...)
		}
		if _, err := l.AppendAsFollower(chunk); err != nil {
			t.Fatalf("AppendAsFollower at batch %d: %v", i, err)
		}
	}
	if l.LogEndOffset() != leader.LogEndOffset() {
		t.Fatalf("follower log end %d, leader %d", l.LogEndOffset(), leader.LogEndOffset())
	}
	// Same epochs as the leader.
	for _, ep := range []int32{0, 1, 2, 3} {
		fe, fo := l.EndOffsetForEpoch(ep)
		le, lo := leader.EndOffsetForEpoch(ep)
		if fe != le || fo != lo {
			t.Errorf("EndOffsetForEpoch(%d): follower %d,%d leader %d,%d", ep, fe, fo, le, lo)
		}
	}
	// A batch not at the log end is refused.
	if _, err := l.AppendAsFollower(batches[2]); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("re-append of an old batch: %v", err)
	}
	// Producer state followed: as leader, a retry of the last batch is a
	// duplicate and the next sequence is accepted.
	retry := idemBatch(t, 11, 0, 18, 2, 1)
	if res := mustAppend(t, l, retry); !res.Duplicate || res.FirstOffset != 18 {
		t.Fatalf("retry on the former follower: %+v", res)
	}

	// Truncation in the middle of a batch removes the whole batch.
	end, err := l.TruncateTo(13)
	if err != nil || end != 12 {
		t.Fatalf("TruncateTo(13) = %d, %v; want 12", end, err)
	}
	if ep, off := l.EndOffsetForEpoch(3); ep != 3 || off != 12 {
		t.Errorf("after truncation EndOffsetForEpoch(3) = %d, %d", ep, off)
	}
	offs, _ := readAllRecords(t, l, 0)
	checkDense(t, offs, 0)
	if len(offs) != 12 {
		t.Fatalf("%d records after truncation, want 12", len(offs))
	}
	// The producer state went back too: sequence 12 follows on.
	if _, err := l.Append(idemBatch(t, 11, 0, 14, 1, 1), 3, -1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence after truncation: %v, want out of order", err)
	}
	if res := mustAppend(t, l, idemBatch(t, 11, 0, 12, 2, 1)); res.FirstOffset != 12 {
		t.Fatalf("append after truncation at %d", res.FirstOffset)
	}
	// Truncation survives a crash once synced (it syncs).
	l = f.crash()
	if l.LogEndOffset() < 12 {
		t.Fatalf("log end %d after crash", l.LogEndOffset())
	}
	// Truncate to a segment boundary, and to before everything.
	second := l.segments[1].base
	if end, err := l.TruncateTo(second); err != nil || end != second {
		t.Fatalf("TruncateTo(segment base %d) = %d, %v", second, end, err)
	}
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 100 || l.Size() != 0 {
		t.Fatalf("after TruncateFullyAndStartAt(100): start %d end %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
	b := batch(t, 0, 2, 1)
	putBase(b, 100)
	if _, err := l.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	l = f.reopen()
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 102 {
		t.Fatalf("after restart: start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
}

func TestHighWatermarkCheckpoint(t *testing.T) {
	f := newFixture(t, NewMemFS(), testConfig())
	l := f.log()
	for i := 0; i < 5; i++ {
		mustAppend(t, l, batch(t, i, 1, 1))
	}
	l.SetHighWatermark(3)
	l = f.reopen()
	if hw := l.HighWatermark(); hw != 3 {
		t.Fatalf("high watermark %d after restart, want 3", hw)
	}
	if err := l.AssignEpochStart(4); err != nil {
		t.Fatal(err)
	}
	if ep, end := l.EndOffsetForEpoch(0); ep != 0 || end != 5 {
		t.Errorf("EndOffsetForEpoch(0) = %d, %d after epoch 4 started at 5", ep, end)
	}
	if l.LatestEpoch() != 4 {
		t.Errorf("latest epoch %d", l.LatestEpoch())
	}
}
