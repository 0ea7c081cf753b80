package broker

// Metadata, versions 0-13.
//
// v4 adds allow_auto_topic_creation (KIP-204: before v4 topics are always
// auto-created when auto.create.topics.enable is set); v10 adds topic ids
// (KIP-516); v13 a top-level error code. Authorized operations (v8+) are
// reported as "not requested" (-2147483648) since no authorizer runs.

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
	resp.ClusterID = &b.clusterID
	resp.ControllerID = b.nodeID
	resp.AuthorizedOperations = authorizedOpsUnknown
	for _, l := range b.advertised {
		resp.Brokers = append(resp.Brokers, kmsg.MetadataResponseBroker{
			NodeID: b.nodeID, Host: l.Host, Port: int32(l.Port), Rack: b.rack(),
		})
		break // one listener is advertised to clients
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
	mt := kmsg.MetadataResponseTopic{
		Topic:                &name,
		TopicID:              t.id,
		IsInternal:           isInternalTopic(name),
		AuthorizedOperations: authorizedOpsUnknown,
		Partitions:           make([]kmsg.MetadataResponseTopicPartition, len(t.partitions)),
	}
	for i := range t.partitions {
		mt.Partitions[i] = kmsg.MetadataResponseTopicPartition{
			Partition:   int32(i),
			Leader:      b.nodeID,
			LeaderEpoch: leaderEpoch,
			Replicas:    []int32{b.nodeID},
			ISR:         []int32{b.nodeID},
		}
	}
	return mt
}

// rack is broker.rack, or nil.
func (b *Broker) rack() *string {
	if r := b.cfg.String("broker.rack"); r != "" {
		return &r
	}
	return nil
}
