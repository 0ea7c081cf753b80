package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/samsa-io/samsa/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCustomerSerializer(t *testing.T) {
	b, err := CustomerSerializer{}.Serialize("t", nil, &Customer{ID: 258, Name: "é"})
	want := []byte{0, 0, 1, 2, 0, 0, 0, 2, 0xc3, 0xa9}
	if err != nil || !bytes.Equal(b, want) {
		t.Errorf("got %x %v, want %x", b, err, want)
	}
	if b, _ := (CustomerSerializer{}).Serialize("t", nil, nil); b != nil {
		t.Errorf("nil customer: %x", b)
	}
}

// TestCustomerRoundTrip sends customers, one of them nil (a tombstone),
// and reads the bytes back.
func TestCustomerRoundTrip(t *testing.T) {
	c, err := kfake.NewCluster(kfake.SeedTopics(1, "customerContacts"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addrs := strings.Join(c.ListenAddrs(), ",")
	if err := run(addrs, "customerContacts"); err != nil {
		t.Fatal(err)
	}
	p, err := kafka.NewProducer(kafka.Config{"bootstrap.servers": addrs}, kafka.IntegerSerializer{}, CustomerSerializer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := p.Send(ctx, kafka.ProducerRecord[int32, *Customer]{Topic: "customerContacts", Key: 2}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("customerContacts"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) < 2 && ctx.Err() == nil {
		recs = append(recs, cl.PollFetches(ctx).Records()...)
	}
	if len(recs) != 2 {
		t.Fatalf("consumed %d records", len(recs))
	}
	if !bytes.Equal(recs[0].Value, []byte("\x00\x00\x00\x01\x00\x00\x00\x05yifan")) || !bytes.Equal(recs[0].Key, []byte{0, 0, 0, 1}) {
		t.Errorf("customer record %x / %x", recs[0].Key, recs[0].Value)
	}
	if recs[1].Value != nil {
		t.Errorf("nil customer written as %x, want null", recs[1].Value)
	}
}
