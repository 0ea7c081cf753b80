package broker_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/internal/cluster"
	"github.com/samsa-io/samsa/internal/record"
	"github.com/samsa-io/samsa/internal/storage"
)

// A data directory written by a single-node broker before the cluster
// metadata moved to etcd (samsa-metadata.json beside the logs) keeps its
// topics, their ids, configs and records; the file is imported once.
func TestImportsSingleNodeMetadata(t *testing.T) {
	dir := t.TempDir()
	fs, err := cluster.OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	var id cluster.TopicID
	rand.Read(id[:])
	if err := fs.CreateTopic("legacy", cluster.Topic{ID: id, Partitions: 2, Configs: map[string]string{"retention.ms": "123456789"}}); err != nil {
		t.Fatal(err)
	}
	oldPID, err := fs.NextProducerID()
	if err != nil {
		t.Fatal(err)
	}
	m, err := storage.OpenManager(storage.ManagerConfig{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		l, err := m.Create(storage.TopicPartition{Topic: "legacy", Partition: p}, id, storage.LogConfig{
			SegmentBytes: 1 << 20, SegmentIndexBytes: 1 << 20, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1,
			FlushMessages: 1 << 62, FlushMs: 1 << 62, CleanupPolicy: "delete"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			bl := record.NewBuilder(record.None)
			bl.Add(time.Now().UnixMilli(), record.Record{Value: []byte{byte('a' + p), byte('0' + i)}})
			batch, err := bl.Build(nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(batch, 0, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	b := brokertest.Start(t, "log.dirs="+dir)
	ctx := testContext(t, time.Minute)
	adm := newAdmin(t, b.Addr())
	details, err := adm.ListTopics(ctx, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	td := details["legacy"]
	if td.Err != nil || td.ID != kadm.TopicID(id) || len(td.Partitions) != 2 {
		t.Fatalf("imported topic: %+v (want id %v, 2 partitions)", td, id)
	}
	if c := describedConfig(ctx, t, adm, "legacy", "retention.ms"); c.Value == nil || *c.Value != "123456789" {
		t.Errorf("imported retention.ms: %+v", c)
	}
	cl := newKgo(t, b.Addr(), kgo.ConsumeTopics("legacy"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	for len(got) < 6 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consuming the imported topic: %v (have %d of 6)", err, len(got))
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	if _, err := os.Stat(filepath.Join(dir, "samsa-metadata.json")); !os.IsNotExist(err) {
		t.Errorf("samsa-metadata.json still in place after the import: %v", err)
	}
	// Producer ids handed out by the old store are never handed out again.
	prod := newKgo(t, b.Addr(), kgo.DefaultProduceTopic("legacy"))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if pid, _, err := prod.ProducerID(ctx); err != nil || pid <= oldPID {
		t.Errorf("producer id %d (%v) after the import; the file store had handed out %d", pid, err, oldPID)
	}

	// A topic deleted after the import stays deleted across a restart.
	if _, err := adm.DeleteTopic(ctx, "legacy"); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	adm = newAdmin(t, b.Addr())
	if details, err := adm.ListTopics(ctx); err != nil || len(details) != 0 {
		t.Fatalf("topics after deleting the imported one and restarting: %v %v", details.Names(), err)
	}
}
