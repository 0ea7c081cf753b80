package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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

// importedSuffix is added to samsa-metadata.json once it is imported.
const importedSuffix = ".imported"

// ImportFileStoreDir imports the single-node store in dir, if there is
// one, with ImportFileStore, then renames its file to
// samsa-metadata.json.imported, so that it is imported once: a topic
// deleted afterwards must not come back at the next start. It reports
// whether there was a store to import.
func (s *EtcdStore) ImportFileStoreDir(ctx context.Context, dir string, nodeID int32) (bool, error) {
	path := filepath.Join(dir, fileStoreName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	fs, err := OpenFileStore(dir)
	if err != nil {
		return false, err
	}
	if err := s.ImportFileStore(ctx, fs, nodeID); err != nil {
		return false, err
	}
	if err := os.Rename(path, path+importedSuffix); err != nil {
		return false, err
	}
	return true, syncDir(dir)
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
