package broker

// CreateTopics, versions 0-7.
//
// v1 adds validate_only and error messages (KIP-108); v4 allows -1 for the
// partition count and replication factor, meaning the broker defaults
// num.partitions and default.replication.factor (KIP-464); v5 is flexible
// and returns the new topic's partition count, replication factor and
// configs (KIP-525); v7 its topic id (KIP-516). Partitions are placed
// over the live brokers as Kafka places them (rack-aware round robin); a
// manual replica assignment may name any registered brokers.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreateTopics, 0, 7, handleCreateTopics) }

func handleCreateTopics(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)

	// A name given twice is answered once, with INVALID_REQUEST, and not
	// created (Kafka's ControllerApis.createTopics).
	count := make(map[string]int, len(req.Topics))
	for i := range req.Topics {
		count[req.Topics[i].Topic]++
	}
	answeredDup := map[string]bool{}
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewCreateTopicsResponseTopic() // partitions, replication -1
		st.Topic = rt.Topic
		if count[rt.Topic] > 1 {
			if answeredDup[rt.Topic] {
				continue
			}
			answeredDup[rt.Topic] = true
			st.ErrorCode, st.ErrorMessage = errCode(errorf(kerr.InvalidRequest, "Duplicate topic name."))
			resp.Topics = append(resp.Topics, st)
			continue
		}
		t, err := b.createRequestedTopic(rt, req.ValidateOnly)
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errCode(err)
			if st.ErrorCode == kerr.UnknownServerError.Code {
				b.log.Error("create topic failed", "topic", rt.Topic, "err", err)
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID = t.id // zero with validate_only: nothing was created
		st.NumPartitions = int32(len(t.partitions))
		st.ReplicationFactor = t.replicationFactor()
		if req.Version >= 5 {
			for _, c := range topicConfigEntries(t.cfg, nil, false, false) {
				st.Configs = append(st.Configs, kmsg.CreateTopicsResponseTopicConfig{
					Name: c.Name, Value: c.Value, ReadOnly: c.ReadOnly, Source: int8(c.Source), IsSensitive: c.IsSensitive,
				})
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// createRequestedTopic checks a manual assignment, if any, and creates (or,
// validating only, checks) one topic.
func (b *Broker) createRequestedTopic(rt *kmsg.CreateTopicsRequestTopic, validateOnly bool) (*topic, error) {
	partitions, replication := rt.NumPartitions, rt.ReplicationFactor
	var assignment [][]int32
	if len(rt.ReplicaAssignment) > 0 {
		// Kafka's ReplicationControlManager.createTopic rules and messages.
		if rt.ReplicationFactor != -1 {
			return nil, errorf(kerr.InvalidRequest, "A manual partition assignment was specified, but replication factor was not set to -1.")
		}
		if rt.NumPartitions != -1 {
			return nil, errorf(kerr.InvalidRequest, "A manual partition assignment was specified, but numPartitions was not set to -1.")
		}
		snap := b.snapshot()
		assignment = make([][]int32, len(rt.ReplicaAssignment))
		rf := 0 // the first partition's replica count sets the topic's
		for _, a := range rt.ReplicaAssignment {
			if a.Partition >= 0 && int(a.Partition) < len(assignment) && assignment[a.Partition] != nil {
				return nil, errorf(kerr.InvalidReplicaAssignment, "Found multiple manual partition assignments for partition %d", a.Partition)
			}
			if err := checkManualAssignment(snap, a.Replicas, rf); err != nil {
				return nil, err
			}
			if a.Partition < 0 || int(a.Partition) >= len(assignment) {
				return nil, errorf(kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence")
			}
			assignment[a.Partition] = a.Replicas
			rf = len(a.Replicas)
		}
		partitions, replication = int32(len(rt.ReplicaAssignment)), int16(rf)
	} else {
		// Zero or below -1 gets Kafka's own messages; createTopic applies
		// the defaults for -1 and checks what it can place.
		if rt.ReplicationFactor == 0 || rt.ReplicationFactor < -1 {
			return nil, errorf(kerr.InvalidReplicationFactor, "Replication factor was set to an invalid non-positive value.")
		}
		if rt.NumPartitions == 0 || rt.NumPartitions < -1 {
			return nil, errorf(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
		}
	}
	var configs map[string]string
	for _, c := range rt.Configs {
		// A null value sets nothing (Kafka's controller treats it as the
		// absence of an override).
		if c.Value == nil {
			continue
		}
		if configs == nil {
			configs = make(map[string]string, len(rt.Configs))
		}
		configs[c.Name] = *c.Value
	}
	return b.createTopic(rt.Topic, partitions, replication, configs, assignment, validateOnly)
}
