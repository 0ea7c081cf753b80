package txn

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (h *harness) endV2(c *Coordinator, id string, pid int64, epoch int16, commit bool, wait time.Duration) (EndResult, *kerr.Error) {
	h.t.Helper()
	return c.EndTxnV2(context.Background(), id, pid, epoch, commit, wait)
}

// waitState waits until id reaches state on coordinator c.
func waitState(t *testing.T, c *Coordinator, id string, state kmsg.TransactionState) Description {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := c.Describe(id)
		if err == nil && d.State == state {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v (%v), want state %s", id, d, err, state)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestEndTxnV2BumpsEpochAndRetries: a transactions v2 end bumps the
// epoch, writes the markers at the bumped epoch and answers it; a retry at
// the previous epoch gets the same answer, the other outcome
// INVALID_TXN_STATE; an abort with no transaction bumps again; the
// previous epoch is fenced once the producer moved on.
func TestEndTxnV2BumpsEpochAndRetries(t *testing.T) {
	h := newHarness(t)
	res := h.init("v2")
	pid := res.ProducerID
	if _, err := h.c.AddPartitions("v2", pid, 0, []TopicPartition{tp0}, true); err != nil {
		t.Fatal(err)
	}
	got, err := h.endV2(h.c, "v2", pid, 0, true, time.Second)
	if err != nil || got != (EndResult{pid, 1}) {
		t.Fatalf("EndTxn v5: %+v %v, want producer %d epoch 1", got, err, pid)
	}
	if ms := h.markers.all(); len(ms) != 1 || ms[0] != (marker{pid, 1, true, tp0}) {
		t.Fatalf("markers %+v, want one COMMIT at epoch 1", ms)
	}
	if d := waitState(t, h.c, "v2", kmsg.TransactionStateCompleteCommit); d.Epoch != 1 {
		t.Fatalf("completed at epoch %d, want 1", d.Epoch)
	}
	if got, err := h.endV2(h.c, "v2", pid, 0, true, time.Second); err != nil || got != (EndResult{pid, 1}) {
		t.Errorf("retried commit: %+v %v, want the first answer", got, err)
	}
	if _, err := h.endV2(h.c, "v2", pid, 0, false, time.Second); err != kerr.InvalidTxnState {
		t.Errorf("abort at the previous epoch after a commit: %v, want INVALID_TXN_STATE", err)
	}
	if _, err := h.endV2(h.c, "v2", pid, 1, true, time.Second); err != kerr.InvalidTxnState {
		t.Errorf("commit with no transaction: %v, want INVALID_TXN_STATE", err)
	}
	if got, err := h.endV2(h.c, "v2", pid, 1, false, time.Second); err != nil || got != (EndResult{pid, 2}) {
		t.Errorf("abort with no transaction: %+v %v, want epoch 2", got, err)
	}
	if _, err := h.endV2(h.c, "v2", pid, 0, true, time.Second); err != kerr.ProducerFenced {
		t.Errorf("end at an epoch two bumps old: %v, want PRODUCER_FENCED", err)
	}
	if _, err := h.c.AddPartitions("v2", pid, 1, []TopicPartition{tp0}, true); err != kerr.ProducerFenced {
		t.Errorf("add at the previous epoch: %v, want PRODUCER_FENCED", err)
	}
	if _, err := h.c.AddPartitions("v2", pid, 2, []TopicPartition{tp1}, true); err != nil {
		t.Errorf("add at the new epoch: %v", err)
	}
}

// TestEndTxnV2OverflowAndFailover: at epoch MaxInt16-1 the end hands out a
// new producer id with epoch 0; the transaction, prepared with its markers
// unwritten, moves to another coordinator, which completes it from the log
// (the next producer id, the client version) and answers the retry at the
// old producer id and epoch with the new ones.
func TestEndTxnV2OverflowAndFailover(t *testing.T) {
	h := newHarness(t)
	res := h.init("ov")
	pid := res.ProducerID
	// Bring the epoch to the limit as that many transactions would.
	s := h.c.shards[PartitionFor("ov", 3)]
	s.mu.Lock()
	m := s.txns["ov"].clone()
	m.epoch = math.MaxInt16 - 1
	if err := s.write(m); err != nil {
		t.Fatal(err)
	}
	s.txns["ov"] = m
	s.mu.Unlock()
	const last = math.MaxInt16 - 1
	if _, err := h.c.AddPartitions("ov", pid, last, []TopicPartition{tp0, tp1}, true); err != nil {
		t.Fatal(err)
	}
	h.markers.setDown(tp1, true)
	got, err := h.endV2(h.c, "ov", pid, last, true, 10*time.Millisecond)
	if err != nil || got.ProducerID == pid || got.ProducerID < 0 || got.Epoch != 0 {
		t.Fatalf("EndTxn v5 at epoch %d: %+v %v, want a new producer id at epoch 0", last, got, err)
	}
	newPID := got.ProducerID
	if d, _ := h.c.Describe("ov"); d.State != kmsg.TransactionStatePrepareCommit || d.ProducerID != pid || d.Epoch != math.MaxInt16 {
		t.Fatalf("prepared: %+v, want PrepareCommit of producer %d at epoch %d", d, pid, math.MaxInt16)
	}
	if got, err := h.endV2(h.c, "ov", pid, last, true, 10*time.Millisecond); err != nil || got != (EndResult{newPID, 0}) {
		t.Errorf("retry while prepared: %+v %v, want producer %d epoch 0", got, err, newPID)
	}

	// Another coordinator takes the partition between prepare and complete.
	h.c.Close()
	h.markers.setDown(tp1, false)
	c2 := h.newCoordinator()
	if got, err := h.endV2(c2, "ov", pid, last, true, 5*time.Second); err != nil || got != (EndResult{newPID, 0}) {
		t.Errorf("retry on the new coordinator: %+v %v, want producer %d epoch 0", got, err, newPID)
	}
	d := waitState(t, c2, "ov", kmsg.TransactionStateCompleteCommit)
	if d.ProducerID != newPID || d.Epoch != 0 {
		t.Fatalf("completed as %+v, want producer %d epoch 0", d, newPID)
	}
	for _, mk := range h.markers.all() {
		if mk.pid != pid || mk.epoch != math.MaxInt16 || !mk.commit {
			t.Errorf("marker %+v, want COMMIT of producer %d at epoch %d", mk, pid, math.MaxInt16)
		}
	}
	// Once complete, the retry still gets the same answer, on a third
	// coordinator too; the new producer id works.
	if got, err := h.endV2(c2, "ov", pid, last, true, time.Second); err != nil || got != (EndResult{newPID, 0}) {
		t.Errorf("retry once complete: %+v %v", got, err)
	}
	c2.Close()
	c3 := h.newCoordinator()
	if got, err := h.endV2(c3, "ov", pid, last, true, time.Second); err != nil || got != (EndResult{newPID, 0}) {
		t.Errorf("retry on a third coordinator: %+v %v", got, err)
	}
	if _, err := c3.AddPartitions("ov", newPID, 0, []TopicPartition{tp0}, true); err != nil {
		t.Errorf("add with the new producer id: %v", err)
	}
	if _, err := c3.AddPartitions("ov", pid, last, []TopicPartition{tp0}, true); err != kerr.InvalidProducerIDMapping {
		t.Errorf("add with the old producer id: %v, want INVALID_PRODUCER_ID_MAPPING", err)
	}
}

// TestEndTxnV1AndV2Alternate: a transactional id used by a v1 client and a
// v2 client in turn (each after its InitProducerId) works both ways, and
// an abort the coordinator starts is not taken for a v2 end.
func TestEndTxnV1AndV2Alternate(t *testing.T) {
	h := newHarness(t)
	res := h.init("alt")
	pid := res.ProducerID
	if _, err := h.c.AddPartitions("alt", pid, 0, []TopicPartition{tp0}, true); err != nil {
		t.Fatal(err)
	}
	if got, err := h.endV2(h.c, "alt", pid, 0, true, time.Second); err != nil || got.Epoch != 1 {
		t.Fatalf("v2 end: %+v %v", got, err)
	}
	waitState(t, h.c, "alt", kmsg.TransactionStateCompleteCommit)
	v1, err := h.c.InitProducerID(context.Background(), "alt", 10000, -1, -1, true)
	if err != nil || v1.Epoch != 2 {
		t.Fatalf("v1 InitProducerId after a v2 end: %+v %v", v1, err)
	}
	if _, err := h.c.AddPartitions("alt", pid, 2, []TopicPartition{tp1}, true); err != nil {
		t.Fatal(err)
	}
	if err := h.c.EndTxn("alt", pid, 2, true, true, time.Second); err != nil {
		t.Fatalf("v1 end: %v", err)
	}
	if _, err := h.endV2(h.c, "alt", pid, 1, true, time.Second); err != kerr.ProducerFenced {
		t.Errorf("v2 retry after a v1 end: %v, want PRODUCER_FENCED", err)
	}
	v2, err := h.c.InitProducerID(context.Background(), "alt", 10000, -1, -1, true)
	if err != nil || v2.Epoch != 3 {
		t.Fatalf("InitProducerId after the v1 end: %+v %v", v2, err)
	}
	// A timed-out v2 transaction is aborted with a fence: the producer's
	// end at its epoch is fenced, not taken for a retry.
	if _, err := h.c.AddPartitions("alt", pid, 3, []TopicPartition{tp0}, true); err != nil {
		t.Fatal(err)
	}
	h.advance(time.Minute)
	h.c.AbortTimedOut()
	waitState(t, h.c, "alt", kmsg.TransactionStateCompleteAbort)
	if _, err := h.endV2(h.c, "alt", pid, 3, false, time.Second); err != kerr.ProducerFenced {
		t.Errorf("v2 end after a timeout abort: %v, want PRODUCER_FENCED", err)
	}
}
