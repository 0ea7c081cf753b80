package main

// samsa verify: the verifiable producer and consumer of Kafka's system
// tests (verify_produce.go, verify_consume.go), which log every
// acknowledgement and every record read as JSON lines, and samsa verify
// check (verify_check.go), which compares the two logs.

import (
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

func init() { extraCommands = append(extraCommands, verifyCommand) }

func verifyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verifiable producer and consumer, and a check of what was lost (Kafka's system-test tools)",
		Long: `Find lost, duplicated and reordered records under faults, as Kafka's system
tests do with VerifiableProducer and VerifiableConsumer:
  samsa verify produce   sends numbered records and logs each acknowledgement
  samsa verify consume   reads in a consumer group and logs what it read
  samsa verify check     compares the two logs
Both tools write one JSON object per line on stdout, with Kafka's event
names and fields, so that the logs of a run with broker failures, restarts
and rebalances can be checked afterwards.`,
		Example: `  samsa verify produce --topic t --max-messages 100000 --throughput 5000 > producer.log &
  samsa verify consume --topic t --group-id checker --verbose > consumer.log &
  # ... restart brokers, wait, stop the consumer with Ctrl-C ...
  samsa verify check --producer-log producer.log --consumer-log consumer.log`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown subcommand %q of samsa verify: expected produce, consume or check", args[0])
			}
			return usagef("samsa verify needs a subcommand: produce, consume or check")
		},
	}
	cmd.AddCommand(verifyProduceCommand(), verifyConsumeCommand(), verifyCheckCommand())
	return cmd
}

// event is what every JSON line starts with: when (milliseconds since the
// epoch) and what happened.
type event struct {
	Timestamp int64  `json:"timestamp"`
	Name      string `json:"name"`
}

// The event names of Kafka's verifiable tools.
const (
	evStartupComplete    = "startup_complete"
	evShutdownComplete   = "shutdown_complete"
	evSendSuccess        = "producer_send_success"
	evSendError          = "producer_send_error"
	evToolData           = "tool_data"
	evPartitionsAssigned = "partitions_assigned"
	evPartitionsRevoked  = "partitions_revoked"
	evRecordsConsumed    = "records_consumed"
	evRecordData         = "record_data"
	evOffsetsCommitted   = "offsets_committed"
)

func newEvent(name string) event { return event{Timestamp: time.Now().UnixMilli(), Name: name} }

// eventWriter writes events as JSON lines; the producer's callbacks emit
// from its goroutines, so a line is written whole under mu.
type eventWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error // the first write error; later events are dropped
}

func (e *eventWriter) emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the event types are fixed; this is a bug
	}
	b = append(b, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *eventWriter) error() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// javaExceptions names the client's errors as the Java exceptions a
// VerifiableProducer log would carry, so that tools reading such logs
// recognise them.
var javaExceptions = []struct {
	err  error
	name string
}{
	{kafka.ErrBufferExhausted, "BufferExhaustedException"},
	{kafka.ErrTimeout, "TimeoutException"},
	{kafka.ErrRecordTooLarge, "RecordTooLargeException"},
	{kafka.ErrNotEnoughReplicasAfterAppend, "NotEnoughReplicasAfterAppendException"},
	{kafka.ErrNotEnoughReplicas, "NotEnoughReplicasException"},
	{kafka.ErrUnknownTopicOrPartition, "UnknownTopicOrPartitionException"},
	{kafka.ErrNotLeaderOrFollower, "NotLeaderOrFollowerException"},
	{kafka.ErrLeaderNotAvailable, "LeaderNotAvailableException"},
	{kafka.ErrAuthorization, "TopicAuthorizationException"},
	{kafka.ErrInvalidTopic, "InvalidTopicException"},
	{kafka.ErrCorruptRecord, "CorruptRecordException"},
	{kafka.ErrInvalidRecord, "InvalidRecordException"},
	{kafka.ErrOutOfOrderSequence, "OutOfOrderSequenceException"},
	{kafka.ErrUnknownProducerID, "UnknownProducerIdException"},
	{kafka.ErrProducerFenced, "ProducerFencedException"},
	{kafka.ErrNetwork, "NetworkException"},
	{kafka.ErrProducerClosed, "IllegalStateException"},
}

// exceptionName is the Java exception class for err, in the
// org.apache.kafka.common.errors package as Java reports it, else the
// broker's error name, else "KafkaException".
func exceptionName(err error) string {
	for _, e := range javaExceptions {
		if errors.Is(err, e.err) {
			if e.name == "IllegalStateException" {
				return "java.lang." + e.name
			}
			return "org.apache.kafka.common.errors." + e.name
		}
	}
	var be *kafka.BrokerError
	if errors.As(err, &be) {
		return be.Name
	}
	return "org.apache.kafka.common.KafkaException"
}
