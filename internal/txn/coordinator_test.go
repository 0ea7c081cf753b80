package txn

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/record"
)

// fakeLog keeps the batches of each partition in memory.
type fakeLog struct {
	mu      sync.Mutex
	batches map[int32][][]byte
	fail    bool
}

func (l *fakeLog) Append(p int32, batch []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail {
		return errors.New("disk on fire")
	}
	if l.batches == nil {
		l.batches = map[int32][][]byte{}
	}
	l.batches[p] = append(l.batches[p], slices.Clone(batch))
	return nil
}

func (l *fakeLog) Replay(p int32, fn func([]byte) error) error {
	l.mu.Lock()
	bs := slices.Clone(l.batches[p])
	l.mu.Unlock()
	for _, b := range bs {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// marker is one written marker.
type marker struct {
	pid    int64
	epoch  int16
	commit bool
	tp     TopicPartition
}

type fakeMarkers struct {
	mu      sync.Mutex
	written []marker
	down    map[TopicPartition]bool // partitions whose leader is unreachable
}

func (m *fakeMarkers) WriteMarkers(pid int64, epoch int16, _ int32, commit bool, parts []TopicPartition) []TopicPartition {
	m.mu.Lock()
	defer m.mu.Unlock()
	var failed []TopicPartition
	for _, tp := range parts {
		if m.down[tp] {
			failed = append(failed, tp)
			continue
		}
		m.written = append(m.written, marker{pid, epoch, commit, tp})
	}
	return failed
}

func (m *fakeMarkers) setDown(tp TopicPartition, down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down == nil {
		m.down = map[TopicPartition]bool{}
	}
	m.down[tp] = down
}

func (m *fakeMarkers) all() []marker {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.written)
}

type fakePIDs struct{ next int64 }

func (p *fakePIDs) Next(context.Context) (int64, error) { p.next++; return p.next, nil }

type fakeTopics struct{}

func (fakeTopics) Partitions(topic string) (int32, bool) { return 4, topic != "missing" }

type harness struct {
	t       *testing.T
	c       *Coordinator
	log     *fakeLog
	markers *fakeMarkers
	now     time.Time
	mu      sync.Mutex
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, log: &fakeLog{}, markers: &fakeMarkers{}, now: time.Unix(1700000000, 0)}
	h.c = h.newCoordinator()
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

func (h *harness) newCoordinator() *Coordinator {
	c := New(Config{NumPartitions: 3, MaxTimeout: time.Minute, IDExpiration: time.Hour, MarkerRetry: time.Millisecond,
		Now: h.clock, DisableSchedule: true, Logger: slog.New(slog.DiscardHandler)}, h.log, h.markers, &fakePIDs{}, fakeTopics{})
	for p := range int32(3) {
		if err := c.Load(p, 7); err != nil {
			h.t.Fatal(err)
		}
	}
	h.t.Cleanup(c.Close)
	return c
}

func (h *harness) init(id string) InitProducerIDResult {
	h.t.Helper()
	res, err := h.c.InitProducerID(context.Background(), id, 10000, -1, -1, true)
	if err != nil {
		h.t.Fatalf("InitProducerId %s: %v", id, err)
	}
	return res
}

var tp0, tp1 = TopicPartition{"t", 0}, TopicPartition{"t", 1}

func TestPartitionForMatchesJava(t *testing.T) {
	// Java: "my-txn".hashCode() == -1061187895; abs % 50 == 45.
	if got := PartitionFor("my-txn", 50); got != 45 {
		t.Errorf("PartitionFor(my-txn) = %d, want 45", got)
	}
	// "polygenelubricants".hashCode() == Integer.MIN_VALUE: Kafka's abs gives 0.
	if got := PartitionFor("polygenelubricants", 50); got != 0 {
		t.Errorf("PartitionFor of a MinValue hash = %d, want 0", got)
	}
}

func TestCommitWritesMarkersAndCompletes(t *testing.T) {
	h := newHarness(t)
	res := h.init("a")
	if res.Epoch != 0 || res.ProducerID <= 0 {
		t.Fatalf("first InitProducerId: %+v", res)
	}
	if _, err := h.c.AddPartitions("a", res.ProducerID, res.Epoch, []TopicPartition{tp0, tp1}, true); err != nil {
		t.Fatal(err)
	}
	d, _ := h.c.Describe("a")
	if d.State != kmsg.TransactionStateOngoing || len(d.Partitions) != 2 {
		t.Fatalf("after AddPartitions: %+v", d)
	}
	if err := h.c.EndTxn("a", res.ProducerID, res.Epoch, true, true, time.Second); err != nil {
		t.Fatal(err)
	}
	want := []marker{{res.ProducerID, 0, true, tp0}, {res.ProducerID, 0, true, tp1}}
	if got := h.markers.all(); !slices.Equal(got, want) {
		t.Fatalf("markers %+v, want %+v", got, want)
	}
	if d, _ = h.c.Describe("a"); d.State != kmsg.TransactionStateCompleteCommit || len(d.Partitions) != 0 {
		t.Fatalf("after EndTxn: %+v", d)
	}
	// A retried commit succeeds; an abort of it does not.
	if err := h.c.EndTxn("a", res.ProducerID, res.Epoch, true, true, time.Second); err != nil {
		t.Errorf("retried commit: %v", err)
	}
	if err := h.c.EndTxn("a", res.ProducerID, res.Epoch, false, true, time.Second); err != kerr.InvalidTxnState {
		t.Errorf("abort after commit: %v, want INVALID_TXN_STATE", err)
	}
}

func TestEndTxnErrors(t *testing.T) {
	h := newHarness(t)
	res := h.init("a")
	if err := h.c.EndTxn("a", res.ProducerID, res.Epoch, true, true, time.Second); err != kerr.InvalidTxnState {
		t.Errorf("EndTxn with no transaction: %v", err)
	}
	if err := h.c.EndTxn("nope", res.ProducerID, res.Epoch, true, true, time.Second); err != kerr.InvalidProducerIDMapping {
		t.Errorf("EndTxn of an unknown id: %v", err)
	}
	if err := h.c.EndTxn("a", res.ProducerID, res.Epoch+1, true, false, time.Second); err != kerr.InvalidProducerEpoch {
		t.Errorf("EndTxn with another epoch, old version: %v", err)
	}
	if _, err := h.c.InitProducerID(context.Background(), "b", 0, -1, -1, true); err != kerr.InvalidTransactionTimeout {
		t.Errorf("timeout 0: %v", err)
	}
	if _, err := h.c.InitProducerID(context.Background(), "b", 61000, -1, -1, true); err != kerr.InvalidTransactionTimeout {
		t.Errorf("timeout above the maximum: %v", err)
	}
	errs, err := h.c.AddPartitions("a", res.ProducerID, res.Epoch, []TopicPartition{tp0, {"missing", 0}}, true)
	if err != nil || errs[tp0] != kerr.OperationNotAttempted || errs[TopicPartition{"missing", 0}] != kerr.UnknownTopicOrPartition {
		t.Errorf("AddPartitions with an unknown topic: %v %v", errs, err)
	}
	if err := h.c.Verify("a", res.ProducerID, res.Epoch, []TopicPartition{tp0}); err != kerr.InvalidTxnState {
		t.Errorf("Verify with no transaction: %v", err)
	}
}

// TestInitFencesAndAbortsOngoing: InitProducerId while a transaction is
// open bumps the epoch, aborts the transaction with markers at the new
// epoch (CONCURRENT_TRANSACTIONS until done), and the old epoch is fenced.
func TestInitFencesAndAbortsOngoing(t *testing.T) {
	h := newHarness(t)
	old := h.init("z")
	if _, err := h.c.AddPartitions("z", old.ProducerID, old.Epoch, []TopicPartition{tp0}, true); err != nil {
		t.Fatal(err)
	}
	h.markers.setDown(tp0, true)
	if _, err := h.c.InitProducerID(context.Background(), "z", 10000, -1, -1, true); err != kerr.ConcurrentTransactions {
		t.Fatalf("InitProducerId during a transaction: %v, want CONCURRENT_TRANSACTIONS", err)
	}
	if _, err := h.c.InitProducerID(context.Background(), "z", 10000, -1, -1, true); err != kerr.ConcurrentTransactions {
		t.Fatalf("InitProducerId while markers are pending: %v, want CONCURRENT_TRANSACTIONS", err)
	}
	h.markers.setDown(tp0, false)
	var res InitProducerIDResult
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := h.c.InitProducerID(context.Background(), "z", 10000, -1, -1, true)
		if err == nil {
			res = r
			break
		}
		if err != kerr.ConcurrentTransactions || time.Now().After(deadline) {
			t.Fatalf("InitProducerId after the abort: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	if res.ProducerID != old.ProducerID || res.Epoch != old.Epoch+2 {
		t.Fatalf("new producer %+v, want id %d epoch %d", res, old.ProducerID, old.Epoch+2)
	}
	if got := h.markers.all(); !slices.Equal(got, []marker{{old.ProducerID, old.Epoch + 1, false, tp0}}) {
		t.Fatalf("markers %+v, want one ABORT at the fencing epoch", got)
	}
	if err := h.c.EndTxn("z", old.ProducerID, old.Epoch, true, true, time.Second); err != kerr.ProducerFenced {
		t.Errorf("the zombie's EndTxn: %v, want PRODUCER_FENCED", err)
	}
	if _, err := h.c.AddPartitions("z", old.ProducerID, old.Epoch, []TopicPartition{tp1}, false); err != kerr.InvalidProducerEpoch {
		t.Errorf("the zombie's AddPartitions, old version: %v, want INVALID_PRODUCER_EPOCH", err)
	}
}

func TestTimedOutTransactionAborted(t *testing.T) {
	h := newHarness(t)
	res := h.init("slow")
	if _, err := h.c.AddPartitions("slow", res.ProducerID, res.Epoch, []TopicPartition{tp1}, true); err != nil {
		t.Fatal(err)
	}
	h.advance(9 * time.Second)
	h.c.AbortTimedOut()
	if d, _ := h.c.Describe("slow"); d.State != kmsg.TransactionStateOngoing {
		t.Fatalf("aborted before its timeout: %+v", d)
	}
	h.advance(2 * time.Second)
	h.c.AbortTimedOut()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, _ := h.c.Describe("slow")
		if d.State == kmsg.TransactionStateCompleteAbort {
			if d.Epoch != res.Epoch+1 {
				t.Fatalf("epoch %d after the timeout abort, want %d", d.Epoch, res.Epoch+1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not aborted: %+v", d)
		}
		time.Sleep(time.Millisecond)
	}
	if err := h.c.EndTxn("slow", res.ProducerID, res.Epoch, true, true, time.Second); err != kerr.ProducerFenced {
		t.Errorf("committing after the timeout abort: %v, want PRODUCER_FENCED", err)
	}
	// KIP-360: the producer may re-initialise with its id and old epoch.
	r, err := h.c.InitProducerID(context.Background(), "slow", 10000, res.ProducerID, res.Epoch, true)
	if err != nil || r.ProducerID != res.ProducerID || r.Epoch != res.Epoch+2 {
		t.Errorf("InitProducerId with the old epoch: %+v %v", r, err)
	}
}

// TestStateReloads: a new coordinator (another leader) replays the log
// and finishes a transaction it finds prepared.
func TestStateReloads(t *testing.T) {
	h := newHarness(t)
	res := h.init("r")
	if _, err := h.c.AddPartitions("r", res.ProducerID, res.Epoch, []TopicPartition{tp0, tp1}, true); err != nil {
		t.Fatal(err)
	}
	h.markers.setDown(tp1, true)
	if err := h.c.EndTxn("r", res.ProducerID, res.Epoch, true, true, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	h.c.Close()
	h.markers.setDown(tp1, false)
	c2 := h.newCoordinator()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := c2.Describe("r")
		if err != nil {
			t.Fatal(err)
		}
		if d.State == kmsg.TransactionStateCompleteCommit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reloaded coordinator did not complete the commit: %+v", d)
		}
		time.Sleep(time.Millisecond)
	}
	var commits int
	for _, m := range h.markers.all() {
		if m.tp == tp1 && m.commit {
			commits++
		}
	}
	if commits == 0 {
		t.Fatal("no COMMIT marker reached the partition that was down")
	}
}

func TestExpireIDs(t *testing.T) {
	h := newHarness(t)
	h.init("old")
	h.advance(2 * time.Hour)
	h.init("new")
	h.c.ExpireIDs()
	if _, err := h.c.Describe("old"); err != kerr.TransactionalIDNotFound {
		t.Errorf("idle id after transactional.id.expiration.ms: %v", err)
	}
	if _, err := h.c.Describe("new"); err != nil {
		t.Errorf("recent id: %v", err)
	}
	// The tombstone survives a reload.
	h.c.Close()
	c2 := h.newCoordinator()
	if _, err := c2.Describe("old"); err != kerr.TransactionalIDNotFound {
		t.Errorf("expired id after a reload: %v", err)
	}
}

func TestNotCoordinatorAndWriteFailure(t *testing.T) {
	h := newHarness(t)
	h.c.Unload(PartitionFor("x", 3))
	if _, err := h.c.InitProducerID(context.Background(), "x", 1000, -1, -1, true); err != kerr.NotCoordinator {
		t.Errorf("unloaded partition: %v, want NOT_COORDINATOR", err)
	}
	h.log.fail = true
	if _, err := h.c.InitProducerID(context.Background(), "y", 1000, -1, -1, true); err != kerr.CoordinatorNotAvailable {
		t.Errorf("failed write: %v, want COORDINATOR_NOT_AVAILABLE", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	m := &txnMeta{id: "rt", producerID: 42, prevProducerID: 41, epoch: 3, prevEpoch: -1, timeoutMs: 5000,
		state: kmsg.TransactionStateOngoing, parts: map[TopicPartition]struct{}{tp0: {}, {"u", 2}: {}}, startMs: 10, updateMs: 20}
	b, err := buildBatch("rt", m, 30)
	if err != nil {
		t.Fatal(err)
	}
	var got *txnMeta
	if err := eachRecord(b, func(id string, mm *txnMeta) { got = mm }); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.producerID != 42 || got.prevProducerID != 41 || got.epoch != 3 || got.state != m.state ||
		len(got.parts) != 2 || got.startMs != 10 || got.updateMs != 20 || got.timeoutMs != 5000 {
		t.Fatalf("decoded %+v from %+v", got, m)
	}
	tomb, _ := buildBatch("rt", nil, 30)
	var deleted bool
	if err := eachRecord(tomb, func(id string, mm *txnMeta) { deleted = id == "rt" && mm == nil }); err != nil || !deleted {
		t.Fatalf("tombstone: %v %v", deleted, err)
	}
	// A marker batch in the topic is skipped.
	if err := eachRecord(record.EndTxnMarker(1, 0, 0, true, 0), func(string, *txnMeta) { t.Fatal("marker decoded as a record") }); err != nil {
		t.Fatal(err)
	}
}

func FuzzTxnLogRecord(f *testing.F) {
	m := &txnMeta{id: "f", producerID: 1, prevProducerID: -1, epoch: 0, state: kmsg.TransactionStateOngoing,
		parts: map[TopicPartition]struct{}{tp0: {}}}
	b, _ := buildBatch("f", m, 0)
	h, _ := record.ParseHeader(b)
	record.EachRecord(&h, b, 1<<20, func(r *record.Record) error {
		f.Add(r.Key, r.Value)
		return nil
	})
	f.Add([]byte{0, 0, 0, 1, 'x'}, []byte(nil))
	f.Add([]byte{0, 1}, []byte{0, 0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		id, m, err := decodeRecord(key, value)
		if err != nil || m == nil {
			return
		}
		// What decodes re-encodes to a record that decodes the same.
		b, err := buildBatch(id, m, 0)
		if err != nil {
			t.Fatal(err)
		}
		var again *txnMeta
		if err := eachRecord(b, func(_ string, mm *txnMeta) { again = mm }); err != nil || again == nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if again.producerID != m.producerID || again.epoch != m.epoch || again.state != m.state || len(again.parts) != len(m.parts) {
			t.Fatalf("round trip changed %+v to %+v", m, again)
		}
	})
}
