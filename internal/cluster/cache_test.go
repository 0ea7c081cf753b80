package cluster

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

type cacheFeed struct {
	st  *cacheState
	k   keys
	rev int64
}

func (f *cacheFeed) put(key, value string) {
	f.rev++
	f.st.apply(mvccpb.PUT, &mvccpb.KeyValue{Key: []byte(key), Value: []byte(value), CreateRevision: f.rev, ModRevision: f.rev})
}

func (f *cacheFeed) del(key string) {
	f.rev++
	f.st.apply(mvccpb.DELETE, &mvccpb.KeyValue{Key: []byte(key), ModRevision: f.rev})
}

func (f *cacheFeed) snapshot() *Snapshot { return f.st.snapshot(f.rev) }

func TestCacheStateSnapshots(t *testing.T) {
	k := newKeys("")
	f := &cacheFeed{st: newCacheState(k, slog.Default()), k: k}
	idT, idU := TopicID{1}, TopicID{2}
	part := `{"replicas":[1,2],"isr":[1,2],"leader":1,"leaderEpoch":0,"partitionEpoch":0}`

	// Partitions before their topic record: not visible yet.
	f.put(k.partition(idT, 0), part)
	f.put(k.partition(idT, 1), part)
	if s := f.snapshot(); s.Topic("t") != nil || len(s.Topics) != 0 {
		t.Fatalf("topic visible before its record: %v", s.TopicNames())
	}
	f.put(k.topic("t"), `{"id":"`+idT.String()+`"}`)
	f.put(k.topicConfig("t"), `{"retention.ms":"7"}`)
	f.put(k.topic("u"), `{"id":"`+idU.String()+`"}`)
	f.put(k.partition(idU, 0), part)
	s1 := f.snapshot()
	tt := s1.Topic("t")
	if tt == nil || tt.ID != idT || len(tt.Partitions) != 2 || tt.Configs["retention.ms"] != "7" || s1.TopicByID(idT) != tt {
		t.Fatalf("topic t: %+v", tt)
	}
	if p := tt.Partitions[1]; p.ModRevision != 2 || p.Leader != 1 {
		t.Fatalf("partition 1: %+v", p)
	}

	// A change to t leaves s1 untouched and shares u.
	f.put(k.partition(idT, 0), `{"replicas":[1,2],"isr":[2],"leader":2,"leaderEpoch":1,"partitionEpoch":1}`)
	s2 := f.snapshot()
	if s1.Topic("t").Partitions[0].Leader != 1 || s2.Topic("t").Partitions[0].Leader != 2 {
		t.Fatal("an old snapshot changed, or the new one missed the change")
	}
	if s1.Topic("u") != s2.Topic("u") {
		t.Fatal("an unchanged topic is not shared between snapshots")
	}

	// Brokers, controller candidates, configs, producer ids, cluster id.
	f.put(k.broker(1), `{"nodeId":1,"rack":"a"}`)
	f.put(k.broker(2), `{"nodeId":2}`)
	f.put(k.controller()+"/bbb", "2")
	f.put(k.controller()+"/aaa", "1")
	f.put(k.brokerConfig(DefaultBrokerConfigs), `{"x":"y"}`)
	f.put(k.producerIDs(), "3000")
	f.put(k.clusterID(), "cid")
	f.put(k.prefix+"/some_future_kind/1", "ignored")
	s3 := f.snapshot()
	if len(s3.Brokers) != 2 || s3.Brokers[1].Rack != "a" || s3.Brokers[1].Epoch != 8 {
		t.Fatalf("brokers %+v", s3.Brokers)
	}
	if s3.Controller != (ControllerInfo{ID: 2, Epoch: 10}) {
		t.Fatalf("controller %+v: the lowest create revision wins", s3.Controller)
	}
	if s3.BrokerConfigs[DefaultBrokerConfigs]["x"] != "y" || s3.NextProducerID != 3000 || s3.ClusterID != "cid" {
		t.Fatalf("snapshot %+v", s3)
	}
	f.del(k.controller() + "/bbb")
	f.del(k.broker(1))
	s4 := f.snapshot()
	if s4.Controller != (ControllerInfo{ID: 1, Epoch: 11}) || len(s4.Brokers) != 1 || len(s3.Brokers) != 2 {
		t.Fatalf("after deletes: controller %+v brokers %v (before %v)", s4.Controller, s4.Brokers, s3.Brokers)
	}

	// Deleting a topic removes it, its id and its configs.
	f.del(k.topic("t"))
	f.del(k.topicConfig("t"))
	f.del(k.partition(idT, 0))
	f.del(k.partition(idT, 1))
	s5 := f.snapshot()
	if s5.Topic("t") != nil || s5.TopicByID(idT) != nil || s5.Topic("u") == nil || s4.Topic("t") == nil {
		t.Fatalf("after delete: %v", s5.TopicNames())
	}
	// Recreated under the same name with a new id: nothing of the old one.
	idT2 := TopicID{3}
	f.put(k.partition(idT2, 0), part)
	f.put(k.topic("t"), `{"id":"`+idT2.String()+`"}`)
	s6 := f.snapshot()
	if tt := s6.Topic("t"); tt == nil || tt.ID != idT2 || len(tt.Partitions) != 1 || tt.Configs != nil {
		t.Fatalf("recreated topic %+v", tt)
	}
	// Undecodable values are ignored.
	f.put(k.broker(9), "{not json")
	if _, ok := f.snapshot().Brokers[9]; ok {
		t.Fatal("undecodable registration accepted")
	}
}

func TestCacheDetectsCompaction(t *testing.T) {
	n := startLone(t)
	ctx := testCtx(t)
	var last int64
	for range 3 {
		resp, err := n.Client().Put(ctx, DefaultPrefix+"/cluster_id", "x")
		if err != nil {
			t.Fatal(err)
		}
		last = resp.Header.Revision
	}
	if _, err := n.Client().Compact(ctx, last); err != nil {
		t.Fatal(err)
	}
	// A watch resuming from before the compaction fails as compacted; the
	// cache then reloads everything.
	st := newCacheState(n.cache.k, slog.Default())
	st.rev = 1
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := n.cache.watch(wctx, st); !errors.Is(err, errCompacted) {
		t.Fatalf("watch from a compacted revision: %v", err)
	}
	before, err := n.cache.WaitRevision(ctx, last)
	if err != nil || before.ClusterID != "x" {
		t.Fatalf("cache before reload: %+v %v", before, err)
	}
	nst, err := n.cache.load(ctx)
	if err != nil || nst.rev < last {
		t.Fatalf("reload at %d: %v", nst.rev, err)
	}
	if after := n.cache.Snapshot(); !reflect.DeepEqual(snapshotContent(after), snapshotContent(before)) || after.Revision < before.Revision {
		t.Fatalf("reload changed the metadata:\n%+v\n%+v", after, before)
	}
}
