package kafka

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// clientError is a sentinel error. Sentinels form a small tree (a buffer
// exhaustion is a timeout, as Java's BufferExhaustedException extends
// TimeoutException), so errors.Is(err, ErrTimeout) holds for both.
type clientError struct {
	msg       string
	retriable bool
	parent    error
}

func (e *clientError) Error() string     { return e.msg }
func (e *clientError) Unwrap() error     { return e.parent }
func (e *clientError) isRetriable() bool { return e.retriable }

// The errors the client returns. Test with errors.Is; Retriable tells
// whether retrying the operation may succeed, as Java's RetriableException
// does.
var (
	// ErrInvalidConfig is a setting the Java client would reject
	// (ConfigException). The message names the setting.
	ErrInvalidConfig error = &clientError{msg: "kafka: invalid configuration"}
	// ErrTimeout is Java's TimeoutException: a record was not delivered
	// within delivery.timeout.ms, Send waited longer than max.block.ms, or a
	// request got no answer within request.timeout.ms.
	ErrTimeout error = &clientError{msg: "kafka: timed out", retriable: true}
	// ErrBufferExhausted means the records waiting to be sent filled
	// buffer.memory for longer than max.block.ms. It is an ErrTimeout.
	ErrBufferExhausted error = &clientError{msg: "kafka: buffer exhausted", retriable: true, parent: ErrTimeout}
	// ErrRecordTooLarge is a record larger than max.request.size or
	// buffer.memory, or a batch the broker refused as larger than its
	// message.max.bytes (MESSAGE_TOO_LARGE).
	ErrRecordTooLarge error = &clientError{msg: "kafka: record too large"}
	// ErrSerialization is a failure of the key or value serializer.
	ErrSerialization error = &clientError{msg: "kafka: serialization failed"}
	// ErrInvalidPartition is a partition outside the topic's partitions
	// returned by a custom partitioner.
	ErrInvalidPartition error = &clientError{msg: "kafka: invalid partition"}
	// ErrProducerClosed is returned by operations on a closed producer
	// (Java's IllegalStateException "Cannot perform operation after
	// producer has been closed").
	ErrProducerClosed error = &clientError{msg: "kafka: producer closed"}
	// ErrNetwork is a broken or refused connection (NetworkException).
	ErrNetwork error = &clientError{msg: "kafka: network error", retriable: true}

	// Broker error codes, matched by errors.Is against a *BrokerError.
	ErrNotEnoughReplicas            error = &clientError{msg: "kafka: not enough in-sync replicas", retriable: true}
	ErrNotEnoughReplicasAfterAppend error = &clientError{msg: "kafka: not enough in-sync replicas after append", retriable: true}
	ErrAuthorization                error = &clientError{msg: "kafka: not authorized"}
	ErrUnknownTopicOrPartition      error = &clientError{msg: "kafka: unknown topic or partition", retriable: true}
	ErrNotLeaderOrFollower          error = &clientError{msg: "kafka: not leader or follower", retriable: true}
	ErrLeaderNotAvailable           error = &clientError{msg: "kafka: leader not available", retriable: true}
	ErrInvalidTopic                 error = &clientError{msg: "kafka: invalid topic"}
	ErrCorruptRecord                error = &clientError{msg: "kafka: corrupt record", retriable: true}
	ErrInvalidRecord                error = &clientError{msg: "kafka: invalid record"}
	ErrOutOfOrderSequence           error = &clientError{msg: "kafka: out of order sequence number"}
	ErrUnknownProducerID            error = &clientError{msg: "kafka: unknown producer id"}
	ErrProducerFenced               error = &clientError{msg: "kafka: producer fenced"}
	ErrUnsupportedVersion           error = &clientError{msg: "kafka: unsupported version"}

	// ErrNotController is a request that needs the cluster's controller
	// sent to another broker; the admin client finds the controller again.
	ErrNotController error = &clientError{msg: "kafka: not controller", retriable: true}
	// ErrAdminClosed is returned by calls on a closed admin client.
	ErrAdminClosed error = &clientError{msg: "kafka: admin client closed"}

	// The consumer's errors.

	// ErrConsumerClosed is returned by operations on a closed consumer.
	ErrConsumerClosed error = &clientError{msg: "kafka: consumer closed"}
	// ErrWakeup is returned by the blocking call that Wakeup interrupted
	// (Java's WakeupException).
	ErrWakeup error = &clientError{msg: "kafka: woken up"}
	// ErrIllegalState is a call the client's state does not allow: Poll
	// without a subscription or assignment, Subscribe after Assign, Seek
	// on a partition not assigned, a transactional call out of order or a
	// Send outside a transaction (Java's IllegalStateException).
	ErrIllegalState error = &clientError{msg: "kafka: illegal state"}
	// ErrInvalidGroupID is a group operation (Subscribe, commits) on a
	// consumer without group.id.
	ErrInvalidGroupID error = &clientError{msg: "kafka: invalid group id"}
	// ErrCommitFailed means the group rebalanced and the partitions
	// went to another member before the commit arrived (Java's
	// CommitFailedException); retrying cannot help.
	ErrCommitFailed error = &clientError{msg: "kafka: commit failed"}
	// ErrRebalanceInProgress is a commit during a rebalance; commit again
	// after the next Poll.
	ErrRebalanceInProgress error = &clientError{msg: "kafka: rebalance in progress"}
	// ErrFencedInstanceID means another consumer joined with this
	// group.instance.id.
	ErrFencedInstanceID error = &clientError{msg: "kafka: fenced instance id"}
	// ErrUnknownMemberID and ErrIllegalGeneration are membership errors the
	// consumer handles by rejoining its group.
	ErrUnknownMemberID   error = &clientError{msg: "kafka: unknown member id"}
	ErrIllegalGeneration error = &clientError{msg: "kafka: illegal generation"}
	// ErrCoordinatorNotAvailable is a group coordinator that is moving or
	// loading; the consumer finds it again and retries.
	ErrCoordinatorNotAvailable error = &clientError{msg: "kafka: coordinator not available", retriable: true}
	// ErrOffsetOutOfRange is a fetch position outside the partition's log
	// with auto.offset.reset=none; see OffsetOutOfRangeError.
	ErrOffsetOutOfRange error = &clientError{msg: "kafka: offset out of range"}
	// ErrNoOffset is a partition without a committed offset under
	// auto.offset.reset=none (Java's NoOffsetForPartitionException).
	ErrNoOffset error = &clientError{msg: "kafka: no offset for partition"}
	// ErrLogTruncation is a position past the end of the log after the
	// leader changed and the log was truncated, under
	// auto.offset.reset=none (Java's LogTruncationException).
	ErrLogTruncation error = &clientError{msg: "kafka: log truncation detected"}
	// ErrDeserialization is a failure of the key or value deserializer;
	// see RecordDeserializationError.
	ErrDeserialization error = &clientError{msg: "kafka: deserialization failed"}
)

// codeSentinels maps broker error codes to the sentinel they match.
var codeSentinels = map[int16]error{
	kerr.RequestTimedOut.Code:                    ErrTimeout,
	kerr.MessageTooLarge.Code:                    ErrRecordTooLarge,
	kerr.RecordListTooLarge.Code:                 ErrRecordTooLarge,
	kerr.NotEnoughReplicas.Code:                  ErrNotEnoughReplicas,
	kerr.NotEnoughReplicasAfterAppend.Code:       ErrNotEnoughReplicasAfterAppend,
	kerr.TopicAuthorizationFailed.Code:           ErrAuthorization,
	kerr.ClusterAuthorizationFailed.Code:         ErrAuthorization,
	kerr.TransactionalIDAuthorizationFailed.Code: ErrAuthorization,
	kerr.UnknownTopicOrPartition.Code:            ErrUnknownTopicOrPartition,
	kerr.NotLeaderForPartition.Code:              ErrNotLeaderOrFollower,
	kerr.LeaderNotAvailable.Code:                 ErrLeaderNotAvailable,
	kerr.InvalidTopicException.Code:              ErrInvalidTopic,
	kerr.CorruptMessage.Code:                     ErrCorruptRecord,
	kerr.InvalidRecord.Code:                      ErrInvalidRecord,
	kerr.OutOfOrderSequenceNumber.Code:           ErrOutOfOrderSequence,
	kerr.UnknownProducerID.Code:                  ErrUnknownProducerID,
	kerr.InvalidProducerEpoch.Code:               ErrProducerFenced,
	kerr.ProducerFenced.Code:                     ErrProducerFenced,
	kerr.UnsupportedVersion.Code:                 ErrUnsupportedVersion,
	kerr.NetworkException.Code:                   ErrNetwork,
	kerr.GroupAuthorizationFailed.Code:           ErrAuthorization,
	kerr.RebalanceInProgress.Code:                ErrRebalanceInProgress,
	kerr.FencedInstanceID.Code:                   ErrFencedInstanceID,
	kerr.UnknownMemberID.Code:                    ErrUnknownMemberID,
	kerr.IllegalGeneration.Code:                  ErrIllegalGeneration,
	kerr.CoordinatorNotAvailable.Code:            ErrCoordinatorNotAvailable,
	kerr.NotCoordinator.Code:                     ErrCoordinatorNotAvailable,
	kerr.CoordinatorLoadInProgress.Code:          ErrCoordinatorNotAvailable,
	kerr.OffsetOutOfRange.Code:                   ErrOffsetOutOfRange,
	kerr.InvalidGroupID.Code:                     ErrInvalidGroupID,
	kerr.NotController.Code:                      ErrNotController,
}

// codeHints say which setting fixes an error the user can fix.
var codeHints = map[int16]string{
	kerr.MessageTooLarge.Code:                    "the batch is larger than the broker's message.max.bytes (topic max.message.bytes); lower batch.size or max.request.size, or raise the broker limit",
	kerr.RecordListTooLarge.Code:                 "lower batch.size or max.request.size",
	kerr.NotEnoughReplicas.Code:                  "fewer in-sync replicas than the topic's min.insync.replicas; acks=all cannot be satisfied",
	kerr.NotEnoughReplicasAfterAppend.Code:       "fewer in-sync replicas than min.insync.replicas after the append",
	kerr.TopicAuthorizationFailed.Code:           "the principal lacks WRITE on the topic",
	kerr.ClusterAuthorizationFailed.Code:         "the principal lacks IDEMPOTENT_WRITE on the cluster; grant it or set enable.idempotence=false",
	kerr.InvalidRequiredAcks.Code:                "acks must be 0, 1 or all",
	kerr.RequestTimedOut.Code:                    "the broker did not replicate within request.timeout.ms",
	kerr.GroupAuthorizationFailed.Code:           "the principal lacks READ on the group (group.id)",
	kerr.InvalidSessionTimeout.Code:              "session.timeout.ms must be within the broker's group.min.session.timeout.ms and group.max.session.timeout.ms",
	kerr.InvalidTransactionTimeout.Code:          "transaction.timeout.ms must not exceed the broker's transaction.max.timeout.ms",
	kerr.TransactionalIDAuthorizationFailed.Code: "the principal lacks WRITE on the transactional id (transactional.id)",
	kerr.ProducerFenced.Code:                     "another producer with the same transactional.id started (InitTransactions); close this one",
	kerr.FencedInstanceID.Code:                   "another consumer uses the same group.instance.id",
	kerr.OffsetMetadataTooLarge.Code:             "the commit's metadata string is longer than the broker's offset.metadata.max.bytes",
	kerr.UnsupportedAssignor.Code:                "group.remote.assignor names an assignor the broker does not have",
	kerr.InconsistentGroupProtocol.Code:          "the group's members share no assignor (partition.assignment.strategy) or use another group.protocol",
}

// BrokerError is an error code returned by a broker. errors.Is matches it
// against the package's sentinels (ErrNotEnoughReplicas, ...) and against
// franz-go's kerr values (kerr.NotEnoughReplicas, ...).
type BrokerError struct {
	Code    int16
	Name    string
	Message string // the broker's error message, if it sent one
}

func (e *BrokerError) Error() string {
	s := "kafka: broker error " + e.Name
	if k := kerr.TypedErrorForCode(e.Code); k != nil && k.Code == e.Code && k.Description != "" {
		s += ": " + k.Description
	}
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	if h, ok := codeHints[e.Code]; ok {
		s += "; " + h
	}
	return s
}

// Unwrap returns franz-go's kerr value for the code, so errors.Is works
// with kerr.
func (e *BrokerError) Unwrap() error { return kerr.ErrorForCode(e.Code) }

// Is matches the sentinel mapped to the code.
func (e *BrokerError) Is(target error) bool {
	s, ok := codeSentinels[e.Code]
	return ok && errors.Is(s, target)
}

func (e *BrokerError) isRetriable() bool { return kerr.IsRetriable(kerr.ErrorForCode(e.Code)) }

// brokerErr returns nil for code 0 and a *BrokerError otherwise.
func brokerErr(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	e := &BrokerError{Code: code, Name: fmt.Sprintf("UNKNOWN_SERVER_ERROR(%d)", code)}
	if k := kerr.TypedErrorForCode(code); k != nil && k.Code == code {
		e.Name = k.Message
	}
	if code == kerr.NotLeaderForPartition.Code {
		e.Name = "NOT_LEADER_OR_FOLLOWER" // Java's name since Kafka 2.6 (KIP-392)
	}
	if msg != nil {
		e.Message = *msg
	}
	return e
}

type retriabler interface{ isRetriable() bool }

// Retriable reports whether err is of a kind that retrying may fix,
// following Java's classification (subclasses of RetriableException):
// timeouts, network errors, leader changes, unknown topics while metadata
// propagates, too few in-sync replicas. The producer already retries these
// until delivery.timeout.ms; a retriable error from Send means that time
// ran out.
func Retriable(err error) bool {
	var r retriabler
	if errors.As(err, &r) {
		return r.isRetriable()
	}
	return false
}

// ConfigError is an invalid setting. It matches ErrInvalidConfig.
type ConfigError struct {
	Name   string
	Value  string
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("kafka: invalid configuration %s: %s", e.Name, e.Reason)
	}
	return fmt.Sprintf("kafka: invalid configuration %s=%q: %s", e.Name, e.Value, e.Reason)
}

func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

func configErr(name, value, reason string) error {
	return &ConfigError{Name: name, Value: value, Reason: reason}
}

// wrapErr attaches detail to a sentinel: errors.Is(result, sentinel) holds.
func wrapErr(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
