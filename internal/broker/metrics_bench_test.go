package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The cost the metrics add to each produce request: one partition's
// counters and the request's counter and latency histogram.
func BenchmarkMetricsProduceRequest(b *testing.B) {
	m := newBrokerMetrics(&Broker{})
	s := &topicStats{}
	req := &request{key: int16(kmsg.Produce), received: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		m.inFlight.Add(1)
		m.produced(s, 16384, 150, false)
		m.requestDone(req)
	}
}
