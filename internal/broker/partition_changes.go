package broker

// Changes to a partition's replicas and leader that clients ask for:
// leader elections (ElectLeaders) and reassignments
// (AlterPartitionReassignments). Kafka sends them to its controller; here
// the broker that receives one decides it with the cluster package's
// decision functions and writes it to the metadata store itself, a
// compare-and-swap on the partition epoch, so it never overwrites a
// change it did not see (an ISR change, the controller's election). The
// controller carries a reassignment on from there.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/internal/cluster"
)

// decidePartition computes a partition's next state from its current one
// in snap; changed false means nothing to write.
type decidePartition func(snap *cluster.Snapshot, cur cluster.PartitionState) (next cluster.PartitionState, changed bool, err error)

// changePartition writes what decide makes of a partition's current
// state, starting from snap. If the state changed before the write, it
// catches up with the store and decides again on the newer state. It
// returns the revision of the write, 0 if decide changed nothing.
func (b *Broker) changePartition(ctx context.Context, snap *cluster.Snapshot, topic string, partition int32, decide decidePartition) (int64, error) {
	for {
		ts := snap.Topic(topic)
		if ts == nil || partition < 0 || int(partition) >= len(ts.Partitions) {
			return 0, errorf(kerr.UnknownTopicOrPartition, "partition %d of topic %q does not exist", partition, topic)
		}
		cur := ts.Partitions[partition]
		next, changed, err := decide(snap, cur)
		if err != nil || !changed {
			return 0, err
		}
		written, err := b.node.Store().CompareAndSwapPartition(ctx, ts.ID, partition, cur, next)
		switch {
		case err == nil:
			return written.ModRevision, nil
		case errors.Is(err, cluster.ErrStalePartitionEpoch):
			if snap, err = b.node.Cache().Sync(ctx); err != nil {
				return 0, metadataError(err)
			}
		case errors.Is(err, cluster.ErrNoSuchPartition):
			return 0, errorf(kerr.UnknownTopicOrPartition, "partition %d of topic %q does not exist", partition, topic)
		default:
			return 0, metadataError(err)
		}
	}
}

// partitionChangeError turns an error of the cluster package's decisions
// into the Kafka error code it stands for, with its message.
func partitionChangeError(err error) error {
	var ae *apiError
	for _, m := range []struct {
		err  error
		code *kerr.Error
	}{
		{cluster.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
		{cluster.ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
		{cluster.ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
		{cluster.ErrInvalidReassignment, kerr.InvalidReplicaAssignment},
		{cluster.ErrNoReassignment, kerr.NoReassignmentInProgress},
	} {
		if errors.Is(err, m.err) {
			return errorf(m.code, "%v", err)
		}
	}
	if err == nil || errors.As(err, &ae) {
		return err
	}
	return metadataError(err)
}

// requestContext is the context of a request that carries a timeout
// (timeout_ms): it ends after it, or after metadataTimeout if the request
// gives none, or when the broker closes.
func (b *Broker) requestContext(timeoutMs int32) (context.Context, context.CancelFunc) {
	timeout := metadataTimeout
	if timeoutMs > 0 {
		timeout = time.Duration(timeoutMs) * time.Millisecond
	}
	ctx, cancel := b.doneContext()
	ctx, cancel2 := context.WithTimeout(ctx, timeout)
	return ctx, func() { cancel2(); cancel() }
}
