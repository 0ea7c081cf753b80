package broker

// The broker's membership in the cluster: it opens its cluster.Node (an
// embedded etcd member, a single one by default, or a client of the voters
// or of an external etcd), agrees on the cluster id, imports the metadata
// of a data directory written before the cluster existed, registers with
// its advertised listeners, registers again if its session is lost, and
// leaves through controlled shutdown.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/samsa-io/samsa/internal/cluster"
)

// nodeConfig turns the broker properties into the cluster node's
// configuration.
func (b *Broker) nodeConfig(dirs []string) (cluster.NodeConfig, error) {
	cfg := b.cfg
	voters, err := cluster.ParseVoters(strings.Join(cfg.List("controller.quorum.voters"), ","))
	if err != nil {
		return cluster.NodeConfig{}, err
	}
	ms := func(name string) time.Duration { return time.Duration(cfg.Int64(name)) * time.Millisecond }
	return cluster.NodeConfig{
		Etcd: cluster.EtcdConfig{
			NodeID:           b.nodeID,
			Voters:           voters,
			Endpoints:        cfg.List("etcd.endpoints"),
			DataDir:          filepath.Join(dirs[0], "etcd"),
			ClientPortOffset: cfg.Int("etcd.client.port.offset"),
			UnsafeNoFsync:    cfg.Bool("etcd.unsafe.no.fsync"),
			Logger:           b.log,
		},
		Prefix:         cfg.String("etcd.prefix"),
		SessionTimeout: ms("broker.session.timeout.ms"),
		Controller: cluster.ControllerConfig{
			UncleanLeaderElection:        cfg.Bool("unclean.leader.election.enable"),
			AutoLeaderRebalance:          cfg.Bool("auto.leader.rebalance.enable"),
			ImbalanceCheckInterval:       time.Duration(cfg.Int64("leader.imbalance.check.interval.seconds")) * time.Second,
			ImbalancePerBrokerPercentage: cfg.Int("leader.imbalance.per.broker.percentage"),
		},
		LeaseFile: filepath.Join(dirs[0], "broker.lease"),
		Logger:    b.log,
	}, nil
}

// openNode joins the metadata store, settles the cluster id with
// meta.properties and imports a single-node samsa-metadata.json once.
func (b *Broker) openNode(ctx context.Context, dirs []string) error {
	localID, missing, err := readMetaProperties(dirs, b.nodeID)
	if err != nil {
		return err
	}
	nc, err := b.nodeConfig(dirs)
	if err != nil {
		return err
	}
	if b.node, err = cluster.Open(ctx, nc); err != nil {
		return err
	}
	fail := func(err error) error {
		b.node.Close()
		return err
	}
	proposed := localID
	if proposed == "" {
		proposed = randomID()
	}
	// The first broker of a cluster decides its id; a data directory of
	// another cluster is refused, as Kafka refuses an inconsistent
	// cluster id.
	if b.clusterID, err = b.node.Store().InitClusterID(ctx, proposed); err != nil {
		return fail(fmt.Errorf("reading the cluster id: %w", err))
	}
	if localID != "" && localID != b.clusterID {
		return fail(fmt.Errorf("log.dirs belong to cluster %s, but the metadata store holds cluster %s", localID, b.clusterID))
	}
	if err := writeMetaProperties(missing, b.nodeID, b.clusterID); err != nil {
		return fail(err)
	}
	if imported, err := b.node.Store().ImportFileStoreDir(ctx, dirs[0], b.nodeID); err != nil {
		return fail(fmt.Errorf("importing samsa-metadata.json: %w", err))
	} else if imported {
		b.log.Info("imported the single-node metadata into the cluster metadata store", "dir", dirs[0])
	}
	b.pids = cluster.NewProducerIDs(b.node.Store())
	return nil
}

// registration is what the broker registers: its rack and advertised
// listeners.
func (b *Broker) registration() cluster.BrokerRegistration {
	reg := cluster.BrokerRegistration{NodeID: b.nodeID, Rack: b.cfg.String("broker.rack")}
	for _, l := range b.advertised {
		reg.Endpoints = append(reg.Endpoints, cluster.Endpoint{Listener: l.Name, Host: l.Host, Port: int32(l.Port), SecurityProtocol: "PLAINTEXT"})
	}
	return reg
}

// registerTimeout bounds a registration: a restarted broker whose lease
// file is gone waits for its previous registration to expire.
func (b *Broker) registerTimeout() time.Duration {
	return time.Duration(b.cfg.Int64("broker.session.timeout.ms"))*time.Millisecond + 30*time.Second
}

// register registers the broker and records its epoch.
func (b *Broker) register() error {
	ctx, cancel := context.WithTimeout(context.Background(), b.registerTimeout())
	defer cancel()
	go func() {
		select {
		case <-b.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	epoch, err := b.node.Register(ctx, b.registration())
	if err != nil {
		return fmt.Errorf("registering broker %d: %w", b.nodeID, err)
	}
	b.regEpoch.Store(epoch)
	return nil
}

// waitController waits, up to broker.session.timeout.ms, until the
// metadata names a controller (the first broker of a cluster elects
// itself moments after registering), and returns that snapshot.
func (b *Broker) waitController() *cluster.Snapshot {
	timer := time.NewTimer(time.Duration(b.cfg.Int64("broker.session.timeout.ms")) * time.Millisecond)
	defer timer.Stop()
	for {
		snap, next := b.node.Cache().Current()
		if snap.Controller.ID != cluster.NoLeader {
			return snap
		}
		select {
		case <-next:
		case <-timer.C:
			return snap
		case <-b.done:
			return snap
		}
	}
}

// keepSession registers the broker again whenever its session is lost
// (etcd stopped hearing from it for broker.session.timeout.ms). Until the
// new registration, the broker keeps acting on the metadata it has, as a
// Kafka broker that cannot reach the controller does: if etcd lost its
// quorum, nobody can change the metadata; if it was this broker that was
// cut off, the controller may have moved its leaderships, but an acks=all
// write still needs the ISR, whose followers now fetch elsewhere, and an
// ISR change needs the store. With the new registration (a new broker
// epoch), leaderships recorded before it wait for the controller (see
// cluster.PartitionState.LedBy).
func (b *Broker) keepSession() {
	defer b.bg.Done()
	for {
		select {
		case <-b.node.Done():
		case <-b.done:
			return
		}
		b.log.Warn("lost the cluster session; registering again")
		backoff := 100 * time.Millisecond
		for {
			err := b.register()
			if err == nil {
				break
			}
			select {
			case <-b.done:
				return
			case <-time.After(backoff):
			}
			b.log.Warn("registering again failed", "err", err)
			backoff = min(2*backoff, 5*time.Second)
		}
		b.log.Info("registered again", "broker.epoch", b.regEpoch.Load())
		b.kickApplier()
	}
}

// ControlledShutdown asks the controller to move this broker's
// leaderships to other in-sync replicas and to take it out of the ISRs,
// and waits until it has, or ctx ends. The broker keeps serving until
// Close; clients follow the leaderships through Metadata without errors
// reaching the application (Kafka's controlled.shutdown.enable).
func (b *Broker) ControlledShutdown(ctx context.Context) error {
	if b.regEpoch.Load() == 0 {
		return errors.New("controlled shutdown: the broker is not registered")
	}
	start := time.Now()
	if err := b.node.ControlledShutdown(ctx); err != nil {
		return err
	}
	// Wait until this broker has applied the result, so that it answers
	// NOT_LEADER_OR_FOLLOWER, with the new leader in Metadata, before it
	// goes.
	snap, err := b.node.Cache().Sync(ctx)
	if err != nil {
		return err
	}
	if err := b.waitApplied(ctx, snap.Revision); err != nil {
		return err
	}
	b.log.Info("controlled shutdown moved this broker's leaderships", "took", time.Since(start))
	return nil
}
