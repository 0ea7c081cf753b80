package broker

// Metadata, versions 0-13.
//
// v4 adds allow_auto_topic_creation (KIP-204: before v4 topics are always
// auto-created when auto.create.topics.enable is set); v10 adds topic ids
// (KIP-516); v13 a top-level error code. Authorized operations (v8+) are
// reported as "not requested" (-2147483648) since no authorizer runs.
// Every broker answers from its copy of the cluster metadata: all live
// brokers with their advertised listeners, the controller, and each
// partition's leader, leader epoch, replicas, ISR and offline replicas
// (replicas whose broker is not registered). A partition without a leader
// carries LEADER_NOT_AVAILABLE.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/cluster"
)

func init() { register(kmsg.Metadata, 0, 13, handleMetadata) }

const authorizedOpsUnknown = -2147483648

func handleMetadata(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	snap := b.snapshot()
	resp.ClusterID = &b.clusterID
	resp.ControllerID = snap.Controller.ID
	resp.AuthorizedOperations = authorizedOpsUnknown
	for _, id := range snap.BrokerIDs() {
		if ep, ok := b.clientEndpoint(snap, id); ok {
			reg := snap.Brokers[id]
			resp.Brokers = append(resp.Brokers, kmsg.MetadataResponseBroker{
				NodeID: id, Host: ep.Host, Port: ep.Port, Rack: rackOf(reg),
			})
		}
	}

	// A null topic list (or, before v1, an empty one) asks for every topic.
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, t := range b.allTopics() {
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
		}
		return resp, nil
	}
	autoCreate := req.AllowAutoTopicCreation || req.Version < 4
	for _, rt := range req.Topics {
		var t *topic
		var name string
		switch {
		case rt.Topic != nil:
			name = *rt.Topic
			t = b.getTopic(name)
		case rt.TopicID != cluster.TopicID{}:
			t = b.getTopicByID(rt.TopicID)
		}
		if t == nil && name != "" && autoCreate {
			var err error
			t, err = b.autoCreateTopic(name)
			if err != nil {
				code, _ := errCode(err)
				resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{
					ErrorCode: code, Topic: &name, TopicID: rt.TopicID, AuthorizedOperations: authorizedOpsUnknown,
				})
				continue
			}
		}
		if t == nil {
			mt := kmsg.MetadataResponseTopic{
				ErrorCode: kerr.UnknownTopicOrPartition.Code, TopicID: rt.TopicID, AuthorizedOperations: authorizedOpsUnknown,
			}
			if rt.Topic != nil {
				mt.Topic = rt.Topic
			} else {
				mt.ErrorCode = kerr.UnknownTopicID.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t))
	}
	return resp, nil
}

func (b *Broker) metadataTopic(t *topic) kmsg.MetadataResponseTopic {
	name := t.name
	snap := b.snapshot()
	mt := kmsg.MetadataResponseTopic{
		Topic:                &name,
		TopicID:              t.id,
		IsInternal:           isInternalTopic(name),
		AuthorizedOperations: authorizedOpsUnknown,
		Partitions:           make([]kmsg.MetadataResponseTopicPartition, len(t.meta.Partitions)),
	}
	for i, ps := range t.meta.Partitions {
		mp := kmsg.MetadataResponseTopicPartition{
			Partition:   int32(i),
			Leader:      ps.Leader,
			LeaderEpoch: ps.LeaderEpoch,
			Replicas:    ps.Replicas,
			ISR:         ps.ISR,
		}
		for _, id := range ps.Replicas {
			if _, ok := snap.Broker(id); !ok {
				mp.OfflineReplicas = append(mp.OfflineReplicas, id)
			}
		}
		if ps.Leader == cluster.NoLeader {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions[i] = mp
	}
	return mt
}

// clientEndpoint is the address a broker advertises for the listener
// clients of this broker use: the endpoint with the same listener name,
// else its first.
func (b *Broker) clientEndpoint(snap *cluster.Snapshot, id int32) (cluster.Endpoint, bool) {
	reg, ok := snap.Broker(id)
	if !ok || len(reg.Endpoints) == 0 {
		return cluster.Endpoint{}, false
	}
	if len(b.advertised) > 0 {
		for _, ep := range reg.Endpoints {
			if ep.Listener == b.advertised[0].Name {
				return ep, true
			}
		}
	}
	return reg.Endpoints[0], true
}

// rackOf is a registration's broker.rack, or nil.
func rackOf(reg cluster.BrokerRegistration) *string {
	if reg.Rack != "" {
		r := reg.Rack
		return &r
	}
	return nil
}
