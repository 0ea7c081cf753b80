package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestErrorClassification(t *testing.T) {
	cases := []struct {
		err       error
		sentinel  error
		retriable bool
	}{
		{brokerErr(kerr.NotEnoughReplicas.Code, nil), ErrNotEnoughReplicas, true},
		{brokerErr(kerr.NotEnoughReplicasAfterAppend.Code, nil), ErrNotEnoughReplicasAfterAppend, true},
		{brokerErr(kerr.NotLeaderForPartition.Code, nil), ErrNotLeaderOrFollower, true},
		{brokerErr(kerr.UnknownTopicOrPartition.Code, nil), ErrUnknownTopicOrPartition, true},
		{brokerErr(kerr.LeaderNotAvailable.Code, nil), ErrLeaderNotAvailable, true},
		{brokerErr(kerr.RequestTimedOut.Code, nil), ErrTimeout, true},
		{brokerErr(kerr.CorruptMessage.Code, nil), ErrCorruptRecord, true},
		{brokerErr(kerr.TopicAuthorizationFailed.Code, nil), ErrAuthorization, false},
		{brokerErr(kerr.ClusterAuthorizationFailed.Code, nil), ErrAuthorization, false},
		{brokerErr(kerr.MessageTooLarge.Code, nil), ErrRecordTooLarge, false},
		{brokerErr(kerr.InvalidTopicException.Code, nil), ErrInvalidTopic, false},
		{brokerErr(kerr.OutOfOrderSequenceNumber.Code, nil), ErrOutOfOrderSequence, false},
		{brokerErr(kerr.UnsupportedVersion.Code, nil), ErrUnsupportedVersion, false},
		{wrapErr(ErrBufferExhausted, "x"), ErrTimeout, true},
		{wrapErr(ErrNetwork, "x"), ErrNetwork, true},
		{fmt.Errorf("outer: %w", wrapErr(ErrSerialization, "x")), ErrSerialization, false},
		{configErr("acks", "2", "bad"), ErrInvalidConfig, false},
		{wrapErr(ErrProducerClosed, "x"), ErrProducerClosed, false},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.sentinel) {
			t.Errorf("%v does not match %v", c.err, c.sentinel)
		}
		if Retriable(c.err) != c.retriable {
			t.Errorf("Retriable(%v) = %v", c.err, !c.retriable)
		}
	}
	if Retriable(context.Canceled) || Retriable(errors.New("x")) || Retriable(nil) {
		t.Error("foreign errors are not retriable")
	}
	if errors.Is(brokerErr(kerr.NotEnoughReplicas.Code, nil), ErrAuthorization) {
		t.Error("NOT_ENOUGH_REPLICAS matched ErrAuthorization")
	}
	if brokerErr(0, nil) != nil {
		t.Error("code 0 is not an error")
	}
}

func TestBrokerErrorMessage(t *testing.T) {
	msg := "batch is 2000000 bytes"
	err := brokerErr(kerr.MessageTooLarge.Code, &msg)
	s := err.Error()
	for _, want := range []string{"MESSAGE_TOO_LARGE", msg, "message.max.bytes", "batch.size"} {
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Error("does not match kerr.MessageTooLarge")
	}
	if s := brokerErr(kerr.NotLeaderForPartition.Code, nil).Error(); !strings.Contains(s, "NOT_LEADER_OR_FOLLOWER") {
		t.Errorf("%q: want Java's name", s)
	}
	if s := brokerErr(9999, nil).Error(); !strings.Contains(s, "9999") {
		t.Errorf("unknown code: %q", s)
	}
}
