package cluster

import (
	"context"
	"errors"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ImportFileStore copies a single-node store's metadata into etcd, for a
// broker that moves from samsa-metadata.json to etcd: every topic keeps
// its id and configs, every partition gets nodeID as its only replica,
// leader and ISR, and the producer id counter moves past every id the file
// store may have handed out. Topics already in etcd are left alone, so
// importing twice is harmless.
func (s *EtcdStore) ImportFileStore(ctx context.Context, fs *FileStore, nodeID int32) error {
	for name, t := range fs.Topics() {
		parts := make([]PartitionState, t.Partitions)
		for i := range parts {
			parts[i] = PartitionState{Replicas: []int32{nodeID}, ISR: []int32{nodeID}, Leader: nodeID}
		}
		_, err := s.CreateTopic(ctx, NewTopic{Name: name, ID: t.ID, Configs: t.Configs, Partitions: parts})
		if err != nil && !errors.Is(err, ErrTopicExists) {
			return err
		}
	}
	fs.mu.Lock()
	floor := fs.state.NextProducerID // the end of the last reserved block
	fs.mu.Unlock()
	return s.raiseProducerIDFloor(ctx, floor)
}

// raiseProducerIDFloor makes the next producer id block start at floor or
// later.
func (s *EtcdStore) raiseProducerIDFloor(ctx context.Context, floor int64) error {
	key := s.k.producerIDs()
	for {
		resp, err := s.cli.Get(ctx, key)
		if err != nil {
			return err
		}
		var cur, modRev int64
		if len(resp.Kvs) > 0 {
			modRev = resp.Kvs[0].ModRevision
			if cur, err = strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64); err != nil {
				return err
			}
		}
		if cur >= floor {
			return nil
		}
		tresp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(clientv3.OpPut(key, strconv.FormatInt(floor, 10))).Commit()
		if err != nil {
			return err
		}
		if tresp.Succeeded {
			return nil
		}
	}
}
