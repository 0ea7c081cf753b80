package kafka

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/brokertest"
)

// TestSamsaBrokerRoundTrip runs the round trip against Samsa's own broker:
// every codec, keyed records placed by murmur2, read back byte-identical
// with franz-go. The broker does not serve InitProducerId yet, so this
// also covers idempotence turning itself off. It is skipped until the
// broker's storage layer replaces its contract stub.
func TestSamsaBrokerRoundTrip(t *testing.T) {
	if _, err := os.Stat("../internal/storage/contract_stub.go"); err == nil {
		t.Skip("internal/storage is still a contract stub")
	}
	checkLeaks(t)
	b := brokertest.Start(t, "num.partitions=3")
	addrs := []string{b.Addr()}
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			topic := "samsa-" + codec
			p := startProducer(t, testConfig(addrs, "compression.type", codec, "linger.ms", "5"), StringSerializer{}, ByteArraySerializer{})
			ctx := testCtx(t)
			o := newOutcomes()
			const n = 300
			base := time.UnixMilli(1_700_000_000_000)
			for i := range n {
				rec := ProducerRecord[string, []byte]{
					Topic:     topic,
					Key:       fmt.Sprintf("key-%d", i%17),
					Value:     []byte(fmt.Sprintf("value-%d", i)),
					Headers:   Headers{{Key: "i", Value: []byte(fmt.Sprint(i))}},
					Timestamp: base.Add(time.Duration(i) * time.Millisecond),
				}
				p.SendWithCallback(ctx, rec, o.callback(i))
			}
			o.wait(t, 20*time.Second)
			for i := range n {
				if o.errs[i] != nil {
					t.Fatalf("record %d: %v", i, o.errs[i])
				}
				if want := KeyPartition([]byte(fmt.Sprintf("key-%d", i%17)), 3); o.mds[i].Partition != want {
					t.Errorf("record %d in partition %d, want %d", i, o.mds[i].Partition, want)
				}
			}
			for _, r := range consumeAll(t, addrs, topic, n) {
				var i int
				if _, err := fmt.Sscan(string(r.Headers[0].Value), &i); err != nil {
					t.Fatal(err)
				}
				md := o.mds[i]
				if r.Partition != md.Partition || r.Offset != md.Offset || string(r.Key) != fmt.Sprintf("key-%d", i%17) ||
					string(r.Value) != fmt.Sprintf("value-%d", i) || !r.Timestamp.Equal(base.Add(time.Duration(i)*time.Millisecond)) {
					t.Errorf("record %d read back as %d/%d %q=%q at %v", i, r.Partition, r.Offset, r.Key, r.Value, r.Timestamp)
				}
			}
		})
	}
}
