package record

import "testing"

func TestEndTxnMarker(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b := EndTxnMarker(42, 3, 9, commit, 1000)
		h, err := ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Control() || !h.Transactional() || h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != -1 || h.NumRecords != 1 {
			t.Fatalf("marker header %+v", h)
		}
		if err := CheckCRC(b); err != nil {
			t.Fatal(err)
		}
		got, epoch, ok, err := ParseEndTxnMarker(&h, b)
		if err != nil || !ok || got != commit || epoch != 9 {
			t.Fatalf("parsed commit %v epoch %d ok %v err %v, want commit %v epoch 9", got, epoch, ok, err, commit)
		}
	}
	// A data batch is not a marker.
	bl := NewBuilder(None)
	bl.Add(0, Record{Value: []byte("x")})
	data, _ := bl.Build(nil)
	h, _ := ParseHeader(data)
	if _, _, _, err := ParseEndTxnMarker(&h, data); err == nil {
		t.Fatal("a data batch parsed as a marker")
	}
}

func FuzzParseEndTxnMarker(f *testing.F) {
	f.Add(EndTxnMarker(1, 0, 0, true, 0))
	f.Add(EndTxnMarker(7, 5, -1, false, 99))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil || h.Size() != len(b) {
			return
		}
		commit, epoch, ok, err := ParseEndTxnMarker(&h, b)
		if err != nil || !ok {
			return
		}
		// What parses as a marker is one EndTxnMarker writes.
		again := EndTxnMarker(h.ProducerID, h.ProducerEpoch, epoch, commit, 0)
		h2, _ := ParseHeader(again)
		c2, e2, ok2, err2 := ParseEndTxnMarker(&h2, again)
		if err2 != nil || !ok2 || c2 != commit || e2 != epoch {
			t.Fatalf("re-built marker parses as %v %d %v %v", c2, e2, ok2, err2)
		}
	})
}
