package kafka

import (
	"bytes"
	"errors"
	"testing"

	"github.com/samsa-io/samsa/internal/record"
)

// FuzzReadRecord checks that the consumer's record decoder, which gives
// keys and values as spans, accepts and decodes exactly what
// record.ReadRecord does.
func FuzzReadRecord(f *testing.F) {
	for _, r := range []record.Record{
		{},
		{TimestampDelta: -5, OffsetDelta: 300, Key: []byte{}, Value: []byte("v")},
		{OffsetDelta: 1, Key: []byte("k"), Value: bytes.Repeat([]byte("x"), 200)},
		{Headers: []record.RecordHeader{{Key: "h", Value: []byte("1")}, {Key: "", Value: nil}}},
	} {
		f.Add(record.AppendRecord(nil, &r), 0)
		f.Add(append([]byte{1, 2, 3}, record.AppendRecord(nil, &r)...), 3)
	}
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 0)
	f.Fuzz(func(t *testing.T, b []byte, at int) {
		if at < 0 || at > len(b) {
			return
		}
		want, wantN, wantErr := record.ReadRecord(b[at:])
		var rr rawRecord
		var tsDelta int64
		var offDelta int32
		var hdrs Headers
		end, err := readRecord(b, at, &rr, &tsDelta, &offDelta, &hdrs)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, record.ReadRecord's %v", err, wantErr)
		}
		if err != nil {
			if err.Error() != wantErr.Error() || !errors.Is(err, record.ErrBadRecords) {
				t.Fatalf("error %q, record.ReadRecord's %q", err, wantErr)
			}
			return
		}
		if end != at+wantN || tsDelta != want.TimestampDelta || offDelta != want.OffsetDelta {
			t.Fatalf("end %d, deltas %d %d; want %d, %d %d", end, tsDelta, offDelta, at+wantN, want.TimestampDelta, want.OffsetDelta)
		}
		for _, kv := range []struct {
			got  span
			want []byte
		}{{rr.key, want.Key}, {rr.value, want.Value}} {
			got := spanOf(b, kv.got)
			if (got == nil) != (kv.want == nil) || !bytes.Equal(got, kv.want) || cap(got) != cap(kv.want) {
				t.Fatalf("bytes %q (cap %d), want %q (cap %d)", got, cap(got), kv.want, cap(kv.want))
			}
		}
		if len(hdrs) != len(want.Headers) || (hdrs == nil) != (want.Headers == nil) {
			t.Fatalf("headers %v, want %v", hdrs, want.Headers)
		}
		for i, h := range hdrs {
			w := want.Headers[i]
			if h.Key != w.Key || (h.Value == nil) != (w.Value == nil) || !bytes.Equal(h.Value, w.Value) {
				t.Fatalf("header %d: %v, want %v", i, h, w)
			}
		}
	})
}
