package broker_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/internal/record"
)

// logRecord is one record as a replica's segment files hold it.
type logRecord struct {
	offset int64
	epoch  int32 // the batch's partition leader epoch
	value  []byte
}

// readLogDir decodes every record of a partition replica straight from
// the segment files under dataDir (the broker may be running: a batch
// still being written at the end is left out).
func readLogDir(t testing.TB, dataDir, topic string, partition int32) []logRecord {
	t.Helper()
	dir := filepath.Join(dataDir, fmt.Sprintf("%s-%d", topic, partition))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading replica %s: %v", dir, err)
	}
	var segs []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") {
			segs = append(segs, e.Name())
		}
	}
	sort.Strings(segs) // 20-digit base offsets sort as numbers
	var out []logRecord
	for _, name := range segs {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := record.Batches(data, func(h record.Header, batch []byte) error {
			return record.EachRecord(&h, batch, 1<<30, func(r *record.Record) error {
				out = append(out, logRecord{offset: h.BaseOffset + int64(r.OffsetDelta), epoch: h.PartitionLeaderEpoch,
					value: append([]byte(nil), r.Value...)})
				return nil
			})
		}); err != nil {
			t.Fatalf("%s/%s: %v", dir, name, err)
		}
	}
	return out
}
