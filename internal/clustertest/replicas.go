package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/internal/record"
)

// LogRecord is one record as a replica's segment files hold it.
type LogRecord struct {
	Offset int64
	Epoch  int32 // the batch's partition leader epoch
	Value  []byte
}

// ReadLog decodes every record of a partition replica straight from its
// segment files under dataDir. The broker may be running: a batch still
// being written at the end is left out.
func ReadLog(dataDir, topic string, partition int32) ([]LogRecord, error) {
	dir := filepath.Join(dataDir, fmt.Sprintf("%s-%d", topic, partition))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") {
			segs = append(segs, e.Name())
		}
	}
	sort.Strings(segs) // 20-digit base offsets sort as numbers
	var out []LogRecord
	for _, name := range segs {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if _, err := record.Batches(data, func(h record.Header, batch []byte) error {
			return record.EachRecord(&h, batch, 1<<30, func(r *record.Record) error {
				out = append(out, LogRecord{Offset: h.BaseOffset + int64(r.OffsetDelta), Epoch: h.PartitionLeaderEpoch,
					Value: append([]byte(nil), r.Value...)})
				return nil
			})
		}); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", dir, name, err)
		}
	}
	return out, nil
}

// SameRecords reports whether two replicas hold the same records at the
// same offsets in the same leader epochs.
func SameRecords(a, b []LogRecord) bool {
	return slices.EqualFunc(a, b, func(x, y LogRecord) bool {
		return x.Offset == y.Offset && x.Epoch == y.Epoch && string(x.Value) == string(y.Value)
	})
}

// below returns the records at offsets below hw.
func below(recs []LogRecord, hw int64) []LogRecord {
	i := sort.Search(len(recs), func(i int) bool { return recs[i].Offset >= hw })
	return recs[:i]
}

// WaitInSync waits until every partition of topic has all its replicas in
// the ISR.
func (c *Cluster) WaitInSync(topic string, limit time.Duration) {
	c.t.Helper()
	var addr string
	for _, b := range c.Brokers {
		if b.Running() {
			addr = b.Addr
			break
		}
	}
	c.WaitPartitions(addr, topic, "every replica in sync", limit, func(ps kadm.PartitionDetails) bool {
		for _, p := range ps {
			if p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
				return false
			}
		}
		return true
	})
}

// CheckReplicas compares, for every partition of topic, the logs of all
// its replicas on disk below the partition's high watermark: they must be
// identical. It returns how many records each partition has below the
// high watermark.
func (c *Cluster) CheckReplicas(topic string) map[int32]int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		c.t.Fatal(err)
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[int32]int{}
	for _, p := range md.Topics[topic].Partitions {
		end, ok := ends.Lookup(topic, p.Partition)
		if !ok || end.Err != nil {
			c.t.Fatalf("high watermark of %s-%d: %v", topic, p.Partition, end.Err)
		}
		var ref []LogRecord
		for i, id := range p.Replicas {
			recs, err := ReadLog(c.Broker(id).Data, topic, p.Partition)
			if err != nil {
				c.t.Fatalf("replica %d of %s-%d: %v", id, topic, p.Partition, err)
			}
			recs = below(recs, end.Offset)
			if n := int64(len(recs)); n > 0 && recs[n-1].Offset != end.Offset-1 {
				c.t.Errorf("replica %d of %s-%d ends at %d below the high watermark %d", id, topic, p.Partition, recs[n-1].Offset+1, end.Offset)
			}
			if i == 0 {
				ref = recs
				out[p.Partition] = len(recs)
				continue
			}
			if !SameRecords(ref, recs) {
				c.t.Errorf("%s-%d: replica %d and replica %d differ below the high watermark %d (%d and %d records)",
					topic, p.Partition, p.Replicas[0], id, end.Offset, len(ref), len(recs))
			}
		}
	}
	return out
}
