package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Errors of the etcd store, besides those shared with FileStore and the
// ISR change errors.
var (
	// ErrPartitionExists: partitions were added concurrently.
	ErrPartitionExists = errors.New("partition already exists")
	// ErrNotController: a controller write was fenced because this broker
	// no longer holds the controller election.
	ErrNotController = errors.New("no longer the controller")
	// ErrRegistrationLost: the broker's registration is gone (its session
	// expired) or belongs to a newer incarnation.
	ErrRegistrationLost = errors.New("broker registration lost")
)

// maxOpsPerTxn stays below etcd's default --max-txn-ops (128), so that an
// external etcd needs no tuning.
const maxOpsPerTxn = 100

// EtcdStore reads and writes the cluster metadata in etcd. Every write
// returns the etcd revision it committed at; Cache.WaitRevision with it
// lets the writer read its own write from the cache. Its methods are safe
// for concurrent use.
type EtcdStore struct {
	cli *clientv3.Client
	k   keys
}

// NewEtcdStore returns a store for the metadata under prefix ("" means
// DefaultPrefix).
func NewEtcdStore(cli *clientv3.Client, prefix string) *EtcdStore {
	return &EtcdStore{cli: cli, k: newKeys(prefix)}
}

// Client is the store's etcd client.
func (s *EtcdStore) Client() *clientv3.Client { return s.cli }

func notExists(key string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
}

func exists(key string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are encoded
	}
	return string(b)
}

// InitClusterID stores proposed as the cluster id unless one is stored
// already, and returns the stored one: the first broker of a new cluster
// decides it.
func (s *EtcdStore) InitClusterID(ctx context.Context, proposed string) (string, error) {
	key := s.k.clusterID()
	resp, err := s.cli.Txn(ctx).If(notExists(key)).
		Then(clientv3.OpPut(key, proposed)).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return "", err
	}
	if resp.Succeeded {
		return proposed, nil
	}
	return string(resp.Responses[0].GetResponseRange().Kvs[0].Value), nil
}

// RegisterBroker registers a live broker under lease, Kafka's broker
// registration: the key vanishes when the lease ends. If another process
// holds the node id, it waits until that registration expires or ctx ends
// (a restarted broker waits out its previous session, as in Kafka). It
// returns the broker epoch.
func (s *EtcdStore) RegisterBroker(ctx context.Context, lease clientv3.LeaseID, reg BrokerRegistration) (int64, error) {
	key := s.k.broker(reg.NodeID)
	val := mustJSON(reg)
	for {
		resp, err := s.cli.Txn(ctx).If(notExists(key)).
			Then(clientv3.OpPut(key, val, clientv3.WithLease(lease))).
			Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return 0, err
		}
		if resp.Succeeded {
			return resp.Header.Revision, nil
		}
		kv := resp.Responses[0].GetResponseRange().Kvs[0]
		if clientv3.LeaseID(kv.Lease) == lease {
			reg.Epoch = kv.CreateRevision
			if _, err := s.UpdateBroker(ctx, lease, reg); err != nil {
				return 0, err
			}
			return kv.CreateRevision, nil
		}
		if err := s.waitDeleted(ctx, key, resp.Header.Revision); err != nil {
			var other BrokerRegistration
			_ = json.Unmarshal(kv.Value, &other)
			return 0, fmt.Errorf("node.id %d is registered by another broker (incarnation %s): %w",
				reg.NodeID, other.IncarnationID, err)
		}
	}
}

// waitDeleted waits until key is deleted after revision rev.
func (s *EtcdStore) waitDeleted(ctx context.Context, key string, rev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for wr := range s.cli.Watch(wctx, key, clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.DELETE {
				return nil
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("watch ended")
}

// UpdateBroker rewrites a broker's registration (reg.Epoch identifies it),
// e.g. to announce controlled shutdown.
func (s *EtcdStore) UpdateBroker(ctx context.Context, lease clientv3.LeaseID, reg BrokerRegistration) (int64, error) {
	key := s.k.broker(reg.NodeID)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", reg.Epoch)).
		Then(clientv3.OpPut(key, mustJSON(reg), clientv3.WithLease(lease))).Commit()
	if err != nil {
		return 0, err
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%w: node.id %d epoch %d", ErrRegistrationLost, reg.NodeID, reg.Epoch)
	}
	return resp.Header.Revision, nil
}

// NewTopic is a topic to create.
type NewTopic struct {
	Name    string
	ID      TopicID
	Configs map[string]string // dynamic overrides
	// Partitions are the initial states, from InitialPartitions.
	Partitions []PartitionState
}

// InitialPartitions turns a replica assignment into the first states of
// new partitions: the ISR is every replica that is live in s (all of them
// when the assignment came from PlaceReplicas), the leader the first of
// those.
func InitialPartitions(assignment [][]int32, s *Snapshot) []PartitionState {
	out := make([]PartitionState, len(assignment))
	for i, replicas := range assignment {
		isr := filterIDs(replicas, func(id int32) bool { return s.status(id) == brokerAlive })
		if len(isr) == 0 {
			isr = append([]int32(nil), replicas...)
		}
		leader := NoLeader
		for _, id := range isr {
			if s.status(id) == brokerAlive {
				leader = id
				break
			}
		}
		out[i] = PartitionState{Replicas: append([]int32(nil), replicas...), ISR: isr, Leader: leader}
	}
	return out
}

// CreateTopic writes a new topic. Partitions go first, under keys of the
// new topic id, in transactions of at most maxOpsPerTxn operations; the
// topic record last, so a topic is never seen without all its
// partitions. It fails with ErrTopicExists if the name is taken.
func (s *EtcdStore) CreateTopic(ctx context.Context, t NewTopic) (int64, error) {
	if len(t.Partitions) == 0 {
		return 0, fmt.Errorf("%w: a topic needs partitions", ErrInvalidPartitions)
	}
	topicKey := s.k.topic(t.Name)
	if resp, err := s.cli.Get(ctx, topicKey, clientv3.WithCountOnly()); err != nil {
		return 0, err
	} else if resp.Count > 0 {
		return 0, ErrTopicExists
	}
	if _, written, err := s.putNewPartitions(ctx, t.ID, 0, t.Partitions, nil); err != nil {
		s.cleanupPartitions(t.ID, 0, written)
		if errors.Is(err, ErrPartitionExists) {
			err = fmt.Errorf("topic id %s is in use: %w", t.ID, ErrTopicExists)
		}
		return 0, err
	}
	ops := []clientv3.Op{clientv3.OpPut(topicKey, mustJSON(topicRecord{ID: t.ID}))}
	if len(t.Configs) > 0 {
		ops = append(ops, clientv3.OpPut(s.k.topicConfig(t.Name), mustJSON(t.Configs)))
	} else {
		ops = append(ops, clientv3.OpDelete(s.k.topicConfig(t.Name)))
	}
	resp, err := s.cli.Txn(ctx).If(notExists(topicKey)).Then(ops...).Commit()
	if err != nil {
		// The topic may or may not exist now: leave its partitions.
		return 0, err
	}
	if !resp.Succeeded {
		s.cleanupPartitions(t.ID, 0, int32(len(t.Partitions)))
		return 0, ErrTopicExists
	}
	return resp.Header.Revision, nil
}

// putNewPartitions writes partitions first.. of topic id, each only if its
// key is new, and all under the extra conditions. It returns the revision
// of the last write and how many partitions it wrote.
func (s *EtcdStore) putNewPartitions(ctx context.Context, id TopicID, first int32, parts []PartitionState, extra []clientv3.Cmp) (rev int64, written int32, err error) {
	for start := 0; start < len(parts); start += maxOpsPerTxn {
		end := min(start+maxOpsPerTxn, len(parts))
		cmps := append([]clientv3.Cmp(nil), extra...)
		var ops []clientv3.Op
		for i := start; i < end; i++ {
			st := parts[i]
			st.ModRevision = 0
			key := s.k.partition(id, first+int32(i))
			cmps = append(cmps, notExists(key))
			ops = append(ops, clientv3.OpPut(key, mustJSON(st)))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			// The outcome is unknown: count the chunk as written, so that a
			// clean-up covers it.
			return 0, int32(end), err
		}
		if !resp.Succeeded {
			return 0, int32(start), ErrPartitionExists
		}
		rev = resp.Header.Revision
	}
	return rev, int32(len(parts)), nil
}

// cleanupPartitions removes partitions first..first+n-1 of a topic id
// whose creation failed, key by key so that nothing else is touched. Best
// effort: leftovers are never read, since no topic record points at them.
func (s *EtcdStore) cleanupPartitions(id TopicID, first, n int32) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	for start := int32(0); start < n; start += maxOpsPerTxn {
		var ops []clientv3.Op
		for i := start; i < min(start+maxOpsPerTxn, n); i++ {
			ops = append(ops, clientv3.OpDelete(s.k.partition(id, first+i)))
		}
		if _, err := s.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return
		}
	}
}

// DeleteTopic removes a topic, its configs and all its partitions in one
// transaction.
func (s *EtcdStore) DeleteTopic(ctx context.Context, name string) (int64, error) {
	topicKey := s.k.topic(name)
	for {
		resp, err := s.cli.Get(ctx, topicKey)
		if err != nil {
			return 0, err
		}
		if len(resp.Kvs) == 0 {
			return 0, ErrNoSuchTopic
		}
		kv := resp.Kvs[0]
		var rec topicRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return 0, fmt.Errorf("topic %s: %w", name, err)
		}
		tresp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(topicKey), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(topicKey),
				clientv3.OpDelete(s.k.topicConfig(name)),
				clientv3.OpDelete(s.k.partitions(rec.ID), clientv3.WithPrefix())).Commit()
		if err != nil {
			return 0, err
		}
		if tresp.Succeeded {
			return tresp.Header.Revision, nil
		}
	}
}

// SetTopicConfigs replaces a topic's dynamic config overrides.
func (s *EtcdStore) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) (int64, error) {
	op := clientv3.OpDelete(s.k.topicConfig(name))
	if len(configs) > 0 {
		op = clientv3.OpPut(s.k.topicConfig(name), mustJSON(configs))
	}
	resp, err := s.cli.Txn(ctx).If(exists(s.k.topic(name))).Then(op).Commit()
	if err != nil {
		return 0, err
	}
	if !resp.Succeeded {
		return 0, ErrNoSuchTopic
	}
	return resp.Header.Revision, nil
}

// UpdateTopicConfigs replaces a topic's dynamic config overrides with what
// update computes from the current ones (nil if none; update may modify
// it). The write is a compare-and-swap on the overrides and the topic
// record, so concurrent updates, from any broker, never lose each other's
// changes: on a conflict update runs again on the newer overrides.
func (s *EtcdStore) UpdateTopicConfigs(ctx context.Context, name string, update func(cur map[string]string) (map[string]string, error)) (int64, error) {
	topicKey, key := s.k.topic(name), s.k.topicConfig(name)
	for {
		resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(topicKey), clientv3.OpGet(key)).Commit()
		if err != nil {
			return 0, err
		}
		tkvs, ckvs := resp.Responses[0].GetResponseRange().Kvs, resp.Responses[1].GetResponseRange().Kvs
		if len(tkvs) == 0 {
			return 0, ErrNoSuchTopic
		}
		var cur map[string]string
		var modRev int64
		if len(ckvs) > 0 {
			if err := json.Unmarshal(ckvs[0].Value, &cur); err != nil {
				return 0, fmt.Errorf("%s: %w", key, err)
			}
			modRev = ckvs[0].ModRevision
		}
		next, err := update(cur)
		if err != nil {
			return 0, err
		}
		op := clientv3.OpDelete(key)
		if len(next) > 0 {
			op = clientv3.OpPut(key, mustJSON(next))
		}
		tresp, err := s.cli.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(topicKey), "=", tkvs[0].ModRevision),
			clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(op).Commit()
		if err != nil {
			return 0, err
		}
		if tresp.Succeeded {
			return tresp.Header.Revision, nil
		}
	}
}

// CreatePartitions adds partitions to topic t, which must still have id
// and exactly first partitions. parts come from InitialPartitions.
func (s *EtcdStore) CreatePartitions(ctx context.Context, name string, id TopicID, first int32, parts []PartitionState) (int64, error) {
	topicKey := s.k.topic(name)
	sameTopic := clientv3.Compare(clientv3.Value(topicKey), "=", mustJSON(topicRecord{ID: id}))
	if first > 0 {
		// The partitions so far must all be there: the topic did not
		// shrink or get recreated under us.
		if err := s.requirePartition(ctx, id, first-1); err != nil {
			return 0, err
		}
	}
	if len(parts) == 0 {
		return 0, fmt.Errorf("%w: no partitions to add", ErrInvalidPartitions)
	}
	rev, _, err := s.putNewPartitions(ctx, id, first, parts, []clientv3.Cmp{sameTopic})
	if errors.Is(err, ErrPartitionExists) {
		if resp, gerr := s.cli.Get(ctx, topicKey); gerr == nil &&
			(len(resp.Kvs) == 0 || string(resp.Kvs[0].Value) != mustJSON(topicRecord{ID: id})) {
			return 0, ErrNoSuchTopic
		}
	}
	return rev, err
}

func (s *EtcdStore) requirePartition(ctx context.Context, id TopicID, p int32) error {
	resp, err := s.cli.Get(ctx, s.k.partition(id, p), clientv3.WithCountOnly())
	if err != nil {
		return err
	}
	if resp.Count == 0 {
		return ErrNoSuchPartition
	}
	return nil
}

// SetBrokerConfigs replaces the dynamic configs of broker id, or the
// cluster-wide ones for DefaultBrokerConfigs.
func (s *EtcdStore) SetBrokerConfigs(ctx context.Context, id int32, configs map[string]string) (int64, error) {
	key := s.k.brokerConfig(id)
	var err error
	var rev int64
	if len(configs) == 0 {
		var resp *clientv3.DeleteResponse
		if resp, err = s.cli.Delete(ctx, key); err == nil {
			rev = resp.Header.Revision
		}
	} else {
		var resp *clientv3.PutResponse
		if resp, err = s.cli.Put(ctx, key, mustJSON(configs)); err == nil {
			rev = resp.Header.Revision
		}
	}
	return rev, err
}

// UpdateBrokerConfigs replaces the dynamic configs of broker id, or the
// cluster-wide ones for DefaultBrokerConfigs, with what update computes
// from the current ones (nil if none; update may modify it), as a
// compare-and-swap retried on conflict, so concurrent incremental changes
// never lose each other's. An error of update is returned as it is.
func (s *EtcdStore) UpdateBrokerConfigs(ctx context.Context, id int32, update func(cur map[string]string) (map[string]string, error)) (int64, error) {
	return s.updateConfigs(ctx, s.k.brokerConfig(id), update)
}

// UpdateGroupConfigs is UpdateBrokerConfigs for the configs of a consumer
// group; the group need not exist.
func (s *EtcdStore) UpdateGroupConfigs(ctx context.Context, group string, update func(cur map[string]string) (map[string]string, error)) (int64, error) {
	if group == "" {
		return 0, errors.New("empty group id")
	}
	return s.updateConfigs(ctx, s.k.groupConfig(group), update)
}

// updateConfigs is a compare-and-swap on a JSON map of configs; an empty
// result deletes the key.
func (s *EtcdStore) updateConfigs(ctx context.Context, key string, update func(cur map[string]string) (map[string]string, error)) (int64, error) {
	for {
		resp, err := s.cli.Get(ctx, key)
		if err != nil {
			return 0, err
		}
		var cur map[string]string
		var modRev int64
		if len(resp.Kvs) > 0 {
			if err := json.Unmarshal(resp.Kvs[0].Value, &cur); err != nil {
				return 0, fmt.Errorf("%s: %w", key, err)
			}
			modRev = resp.Kvs[0].ModRevision
		}
		next, err := update(cur)
		if err != nil {
			return 0, err
		}
		op := clientv3.OpDelete(key)
		if len(next) > 0 {
			op = clientv3.OpPut(key, mustJSON(next))
		}
		tresp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).Then(op).Commit()
		if err != nil {
			return 0, err
		}
		if tresp.Succeeded {
			return tresp.Header.Revision, nil
		}
	}
}

// AllocateProducerIDBlock reserves ProducerIDBlockSize producer ids unique
// across the cluster and returns the first: a compare-and-swap on the
// counter, retried on conflict.
func (s *EtcdStore) AllocateProducerIDBlock(ctx context.Context) (int64, error) {
	key := s.k.producerIDs()
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	kvs := resp.Kvs
	for {
		var start, modRev int64
		if len(kvs) > 0 {
			modRev = kvs[0].ModRevision
			if start, err = strconv.ParseInt(string(kvs[0].Value), 10, 64); err != nil {
				return 0, fmt.Errorf("%s: %w", key, err)
			}
		}
		// On conflict the Else branch returns the counter's new value, so
		// a retry costs one round trip.
		tresp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
			Then(clientv3.OpPut(key, strconv.FormatInt(start+ProducerIDBlockSize, 10))).
			Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return 0, err
		}
		if tresp.Succeeded {
			return start, nil
		}
		kvs = tresp.Responses[0].GetResponseRange().Kvs
	}
}

// CompareAndSwapPartition replaces a partition's state cur (as read, with
// its ModRevision) with next, whose PartitionEpoch must be cur's plus one.
// fence adds conditions (the controller's election key). It fails with
// ErrStalePartitionEpoch if the state changed since cur was read,
// ErrNoSuchPartition if it is gone, ErrNotController if a fence failed.
func (s *EtcdStore) CompareAndSwapPartition(ctx context.Context, id TopicID, partition int32, cur, next PartitionState, fence ...clientv3.Cmp) (PartitionState, error) {
	if next.PartitionEpoch != cur.PartitionEpoch+1 {
		return cur, fmt.Errorf("partition epoch must go from %d to %d, not %d", cur.PartitionEpoch, cur.PartitionEpoch+1, next.PartitionEpoch)
	}
	key := s.k.partition(id, partition)
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", cur.ModRevision)}, fence...)
	val := next
	val.ModRevision = 0
	resp, err := s.cli.Txn(ctx).If(cmps...).
		Then(clientv3.OpPut(key, mustJSON(val))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return cur, err
	}
	if resp.Succeeded {
		next.ModRevision = resp.Header.Revision
		return next, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	switch {
	case len(kvs) == 0:
		return cur, ErrNoSuchPartition
	case kvs[0].ModRevision != cur.ModRevision:
		return cur, fmt.Errorf("%w: partition %d changed at revision %d", ErrStalePartitionEpoch, partition, kvs[0].ModRevision)
	default:
		return cur, ErrNotController
	}
}

// AlterISR applies a partition leader's ISR change (Kafka's
// AlterPartition): it reads the partition and the live brokers at one
// revision, validates the request against the partition epoch, and writes
// with a compare-and-swap. It returns the partition's state after the
// request.
func (s *EtcdStore) AlterISR(ctx context.Context, req ISRChange) (PartitionState, error) {
	topicKey := s.k.topic(req.Topic)
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(topicKey),
		clientv3.OpGet(s.k.brokers(), clientv3.WithPrefix())).Commit()
	if err != nil {
		return PartitionState{}, err
	}
	tkvs := resp.Responses[0].GetResponseRange().Kvs
	if len(tkvs) == 0 {
		return PartitionState{}, ErrNoSuchTopic
	}
	var rec topicRecord
	if err := json.Unmarshal(tkvs[0].Value, &rec); err != nil {
		return PartitionState{}, err
	}
	brokers := map[int32]BrokerRegistration{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		var b BrokerRegistration
		if json.Unmarshal(kv.Value, &b) == nil {
			brokers[b.NodeID] = b
		}
	}
	presp, err := s.cli.Get(ctx, s.k.partition(rec.ID, req.Partition))
	if err != nil {
		return PartitionState{}, err
	}
	if len(presp.Kvs) == 0 {
		return PartitionState{}, ErrNoSuchPartition
	}
	cur, err := decodePartition(presp.Kvs[0])
	if err != nil {
		return PartitionState{}, err
	}
	snap := &Snapshot{Brokers: brokers}
	next, changed, err := applyISRChange(cur, req, snap.status)
	if err != nil || !changed {
		return cur, err
	}
	return s.CompareAndSwapPartition(ctx, rec.ID, req.Partition, cur, next)
}

func decodePartition(kv *mvccpb.KeyValue) (PartitionState, error) {
	var st PartitionState
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		return st, fmt.Errorf("%s: %w", kv.Key, err)
	}
	st.ModRevision = kv.ModRevision
	return st, nil
}
