package kafka

import (
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSuiteFetchByTopicID checks that the consumer fetches by topic id
// (Fetch v13 and later) and follows a topic deleted and created again
// under the same name: the new topic's id replaces the old one in the
// fetch session, the old position is out of range in the new topic, and
// auto.offset.reset=earliest reads the new records.
func TestSuiteFetchByTopicID(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "reborn", 1)
		produceNumbered(t, tc.addrs, "reborn", 1, 0, 10)
		c := startConsumer(t, consumerTestConfig(tc.addrs, "", "metadata.max.age.ms", "500"), StringDeserializer{}, StringDeserializer{})
		tp := TopicPartition{"reborn", 0}
		if err := c.Assign([]TopicPartition{tp}); err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t)
		var got []string
		pollUntil(t, c, 20*time.Second, func(r ConsumerRecord[string, string]) { got = append(got, r.Value) }, func() bool { return len(got) == 10 })

		// The fetch connection speaks Fetch v13 or later.
		leader, ok := c.core.cl.cluster().LeaderFor("reborn", 0)
		if !ok {
			t.Fatal("no leader for reborn-0")
		}
		conn, err := c.core.cl.nodeConn(ctx, leader.ID, connFetch)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := conn.version(int16(kmsg.Fetch)); v < 13 {
			t.Fatalf("Fetch v%d, want topic ids (v13+)", v)
		}
		oldID := c.core.cl.cluster().topic("reborn").id

		a := startAdmin(t, tc.addrs)
		if res, err := a.DeleteTopics(ctx, "reborn"); err != nil || res["reborn"] != nil {
			t.Fatalf("delete: %v %+v", err, res)
		}
		// Creating it again may have to wait until the deletion is done.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			res, err := a.CreateTopics(ctx, false, NewTopic{Name: "reborn", NumPartitions: 1, ReplicationFactor: 1})
			if err == nil && res[0].Err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("create again: %v %+v", err, res)
			}
		}
		p := startProducer(t, testConfig(tc.addrs), StringSerializer{}, StringSerializer{})
		for i := range 3 {
			if _, err := p.Send(ctx, ProducerRecord[string, string]{Topic: "reborn", Value: "new-" + strconv.Itoa(i)}).Get(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got = nil
		pollUntil(t, c, 30*time.Second, func(r ConsumerRecord[string, string]) { got = append(got, r.Value) }, func() bool { return len(got) >= 3 })
		if got[0] != "new-0" || got[1] != "new-1" || got[2] != "new-2" || len(got) != 3 {
			t.Fatalf("after the topic came back, read %v, want new-0..new-2", got)
		}
		if newID := c.core.cl.cluster().topic("reborn").id; newID == oldID {
			t.Errorf("topic id unchanged after the topic was created again")
		}
	})
}
