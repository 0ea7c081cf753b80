package broker

// DeleteTopics, versions 0-6.
//
// v4 is flexible; v5 adds error messages (KIP-525 era); v6 names topics by
// name or by topic id (KIP-516). With delete.topic.enable=false the answer
// is TOPIC_DELETION_DISABLED from v3 on and INVALID_REQUEST before, which
// is what Kafka sends to clients that predate that error code.

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/cluster"
)

func init() { register(kmsg.DeleteTopics, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)

	// Before v6 only names are sent; normalize to the v6 form.
	targets := req.Topics
	if req.Version < 6 {
		targets = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			targets[i].Topic = &req.TopicNames[i]
		}
	}
	names := map[string]int{}
	ids := map[cluster.TopicID]int{}
	for _, rt := range targets {
		if rt.Topic != nil {
			names[*rt.Topic]++
		} else {
			ids[rt.TopicID]++
		}
	}

	for _, rt := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var err error
		switch {
		case rt.Topic != nil && rt.TopicID != cluster.TopicID{}:
			err = errorf(kerr.InvalidRequest, "You may not specify both topic name and topic id.")
		case rt.Topic == nil && rt.TopicID == cluster.TopicID{}:
			err = errorf(kerr.InvalidRequest, "Neither topic name nor id were specified.")
		case rt.Topic != nil && names[*rt.Topic] > 1:
			err = errorf(kerr.InvalidRequest, "Duplicate topic name.")
		case rt.Topic == nil && ids[rt.TopicID] > 1:
			err = errorf(kerr.InvalidRequest, "Duplicate topic id.")
		default:
			err = b.deleteRequestedTopic(&st, rt)
		}
		if err != nil {
			var ae *apiError
			if req.Version < 3 && errors.As(err, &ae) && ae.err == kerr.TopicDeletionDisabled {
				err = errorf(kerr.InvalidRequest, "topic deletion is disabled (delete.topic.enable=false)")
			}
			st.ErrorCode, st.ErrorMessage = errCode(err)
			if st.ErrorCode == kerr.UnknownServerError.Code {
				b.log.Error("delete topic failed", "topic", st.Topic, "err", err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// deleteRequestedTopic resolves a topic by name or id, fills in the other
// in the response, and deletes it.
func (b *Broker) deleteRequestedTopic(st *kmsg.DeleteTopicsResponseTopic, rt kmsg.DeleteTopicsRequestTopic) error {
	if rt.Topic == nil {
		t := b.getTopicByID(rt.TopicID)
		if t == nil {
			return errorf(kerr.UnknownTopicID, "no topic has id %s", cluster.TopicID(rt.TopicID))
		}
		name := t.name
		st.Topic = &name
		return b.deleteTopic(name)
	}
	if t := b.getTopic(*rt.Topic); t != nil {
		st.TopicID = t.id
	}
	return b.deleteTopic(*rt.Topic)
}
