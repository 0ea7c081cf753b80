package kafka

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestRoundTrip sends records synchronously with every codec and reads
// them back with franz-go: keys, values, headers and timestamps must be
// byte-identical, offsets as the producer reported.
func TestRoundTrip(t *testing.T) {
	checkLeaks(t)
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			c := newFake(t, kfake.NumBrokers(3), kfake.SeedTopics(3, "t"))
			p := startProducer(t, testConfig(c.ListenAddrs(), "compression.type", codec),
				ByteArraySerializer{}, ByteArraySerializer{})
			ctx := testCtx(t)
			type sent struct {
				key, value []byte
				headers    Headers
				ts         time.Time
				md         RecordMetadata
			}
			var all []sent
			base := time.UnixMilli(1_700_000_000_000)
			for i := range 20 {
				s := sent{
					value: []byte(fmt.Sprintf("value-%d-%s", i, codec)),
					ts:    base.Add(time.Duration(i) * time.Second),
				}
				if i%3 != 0 {
					s.key = []byte(fmt.Sprintf("key-%d", i))
				}
				if i%2 == 0 {
					s.headers = Headers{{Key: "h1", Value: []byte("v")}, {Key: "null", Value: nil}, {Key: "h1", Value: []byte{}}}
				}
				if i == 7 {
					s.value = nil // tombstone
				}
				md, err := p.Send(ctx, ProducerRecord[[]byte, []byte]{Topic: "t", Key: s.key, Value: s.value, Headers: s.headers, Timestamp: s.ts}).Get(ctx)
				if err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				if md.Topic != "t" || md.Offset < 0 || !md.Timestamp.Equal(s.ts) ||
					md.SerializedKeySize != sizeOrNull(s.key) || md.SerializedValueSize != sizeOrNull(s.value) {
					t.Fatalf("send %d: metadata %+v", i, md)
				}
				s.md = md
				all = append(all, s)
			}
			got := consumeAll(t, c.ListenAddrs(), "t", len(all))
			byPos := map[[2]int64]int{}
			for i, s := range all {
				byPos[[2]int64{int64(s.md.Partition), s.md.Offset}] = i
			}
			for _, r := range got {
				i, ok := byPos[[2]int64{int64(r.Partition), r.Offset}]
				if !ok {
					t.Fatalf("consumed unexpected record at %d/%d", r.Partition, r.Offset)
				}
				s := all[i]
				if !sameBytes(r.Key, s.key) || !sameBytes(r.Value, s.value) || !r.Timestamp.Equal(s.ts) {
					t.Errorf("record %d: got key %q value %q ts %v, want %q %q %v", i, r.Key, r.Value, r.Timestamp, s.key, s.value, s.ts)
				}
				if len(r.Headers) != len(s.headers) {
					t.Fatalf("record %d: %d headers, want %d", i, len(r.Headers), len(s.headers))
				}
				for j, h := range r.Headers {
					if h.Key != s.headers[j].Key || !sameBytes(h.Value, s.headers[j].Value) {
						t.Errorf("record %d header %d: got %q=%q want %q=%q", i, j, h.Key, h.Value, s.headers[j].Key, s.headers[j].Value)
					}
				}
			}
		})
	}
}

// TestSendModes covers the three send modes of the source documents:
// fire-and-forget, synchronous, asynchronous with a callback.
func TestSendModes(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(2, "CustomerCountry"))
	p := startProducer(t, testConfig(c.ListenAddrs()), StringSerializer{}, StringSerializer{})
	ctx := testCtx(t)

	// Fire and forget: the future is ignored; Flush makes sure it went.
	p.Send(ctx, ProducerRecord[string, string]{Topic: "CustomerCountry", Key: "Precision Products", Value: "France"})
	// Synchronous.
	md, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "CustomerCountry", Key: "Precision Products", Value: "France"}).Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.Partition != KeyPartition([]byte("Precision Products"), 2) || md.Offset != 1 {
		t.Errorf("sync send metadata %+v", md)
	}
	// Asynchronous.
	got := make(chan error, 1)
	p.SendWithCallback(ctx, ProducerRecord[string, string]{Topic: "CustomerCountry", Key: "Biomedical Materials", Value: "USA"},
		func(md RecordMetadata, err error) {
			if err == nil && md.Offset < 0 {
				err = fmt.Errorf("offset %d", md.Offset)
			}
			got <- err
		})
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, c.ListenAddrs(), "CustomerCountry", 3)
	if len(recs) != 3 {
		t.Errorf("consumed %d records, want 3", len(recs))
	}
}

// TestNullKeyAndValue checks that nil pointer and interface keys and
// values are written as null without calling the serializer.
func TestNullKeyAndValue(t *testing.T) {
	checkLeaks(t)
	c := newFake(t, kfake.SeedTopics(1, "t"))
	var calls atomic.Int64
	ks := SerializerFunc[*string](func(_ string, _ *Headers, v *string) ([]byte, error) {
		calls.Add(1)
		return []byte(*v), nil
	})
	vs := SerializerFunc[any](func(_ string, _ *Headers, v any) ([]byte, error) {
		calls.Add(1)
		return []byte(fmt.Sprint(v)), nil
	})
	p := startProducer(t, testConfig(c.ListenAddrs()), Serializer[*string](ks), Serializer[any](vs))
	ctx := testCtx(t)
	key := "k"
	for _, rec := range []ProducerRecord[*string, any]{
		{Topic: "t"},
		{Topic: "t", Key: &key, Value: 42},
	} {
		if _, err := p.Send(ctx, rec).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("serializers called %d times, want 2 (not for nil)", calls.Load())
	}
	recs := consumeAll(t, c.ListenAddrs(), "t", 2)
	if recs[0].Key != nil || recs[0].Value != nil {
		t.Errorf("nil key/value written as %q/%q", recs[0].Key, recs[0].Value)
	}
	if string(recs[1].Key) != "k" || string(recs[1].Value) != "42" {
		t.Errorf("record 1: %q/%q", recs[1].Key, recs[1].Value)
	}
}
