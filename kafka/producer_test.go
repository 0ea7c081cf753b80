package kafka

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

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
