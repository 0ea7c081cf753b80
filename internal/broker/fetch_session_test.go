package broker_test

import (
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
)

// sessionFetch sends one Fetch v12 on nc with the given session id and
// epoch; partitions lists the partitions named in the request, each
// fetched from its offset.
func sessionFetch(t *testing.T, nc net.Conn, topic string, id, epoch int32, partitions map[int32]int64) *kmsg.FetchResponse {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = -1
	req.MaxBytes = 4 << 20
	req.SessionID, req.SessionEpoch = id, epoch
	if len(partitions) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		for p, offset := range partitions {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offset, 1<<20
			rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	resp, err := roundTrip(nc, req, 9)
	if err != nil {
		t.Fatalf("fetch (session %d, epoch %d): %v", id, epoch, err)
	}
	return resp.(*kmsg.FetchResponse)
}

// responded lists the partitions of a fetch response with their high
// watermarks.
func responded(fr *kmsg.FetchResponse) map[int32]int64 {
	out := map[int32]int64{}
	for _, rt := range fr.Topics {
		for _, rp := range rt.Partitions {
			out[rp.Partition] = rp.HighWatermark
		}
	}
	return out
}

// A fetch session (KIP-227): the opening fetch names every partition and
// gets a session id; incremental fetches carry epochs 1, 2, ... and get
// only the partitions with news; a wrong epoch is
// INVALID_FETCH_SESSION_EPOCH and an unknown id FETCH_SESSION_ID_NOT_FOUND.
func TestFetchSessionEpochs(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, "num.partitions=2")
	ctx := testContext(t, time.Minute)
	const topic = "sessions"
	createTopic(ctx, t, newAdmin(t, b.Addr()), topic, 2, nil)
	cl := newKgo(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(p int32) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0)
	produce(1)

	nc := dialRaw(t, b.Addr())
	defer nc.Close()
	open := sessionFetch(t, nc, topic, 0, 0, map[int32]int64{0: 0, 1: 0})
	if open.ErrorCode != 0 || open.SessionID == 0 {
		t.Fatalf("opening fetch: error %v, session id %d", kerr.ErrorForCode(open.ErrorCode), open.SessionID)
	}
	if got := responded(open); len(got) != 2 {
		t.Fatalf("opening fetch answered partitions %v, want both", got)
	}
	id := open.SessionID

	// Epoch 1, positions moved to the end: nothing new, so an empty
	// answer.
	inc := sessionFetch(t, nc, topic, id, 1, map[int32]int64{0: 1, 1: 1})
	if inc.ErrorCode != 0 {
		t.Fatalf("first incremental fetch: %v", kerr.ErrorForCode(inc.ErrorCode))
	}
	if got := responded(inc); len(got) != 0 {
		t.Errorf("first incremental fetch answered %v, want no partition", got)
	}

	// A record on partition 1 only: epoch 2, naming no partition, gets
	// partition 1 alone.
	produce(1)
	inc = sessionFetch(t, nc, topic, id, 2, nil)
	if inc.ErrorCode != 0 {
		t.Fatalf("second incremental fetch: %v", kerr.ErrorForCode(inc.ErrorCode))
	}
	if got := responded(inc); len(got) != 1 || got[1] != 2 {
		t.Errorf("second incremental fetch answered %v, want partition 1 with high watermark 2", got)
	}

	// A repeated epoch is refused; the session survives it.
	if inc = sessionFetch(t, nc, topic, id, 2, nil); inc.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Errorf("repeated epoch 2: %v, want INVALID_FETCH_SESSION_EPOCH", kerr.ErrorForCode(inc.ErrorCode))
	}
	if inc = sessionFetch(t, nc, topic, id, 3, map[int32]int64{1: 2}); inc.ErrorCode != 0 {
		t.Errorf("epoch 3 after a refused fetch: %v", kerr.ErrorForCode(inc.ErrorCode))
	}
	if inc = sessionFetch(t, nc, topic, id+1000, 1, nil); inc.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("unknown session: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(inc.ErrorCode))
	}
	// Closing (epoch -1) removes it.
	sessionFetch(t, nc, topic, id, -1, nil)
	if inc = sessionFetch(t, nc, topic, id, 4, nil); inc.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("closed session: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(inc.ErrorCode))
	}
}
