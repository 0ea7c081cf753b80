package main

// samsa verify produce: Kafka's VerifiableProducer. Sends the values 0, 1,
// 2, ... and logs the outcome of each as a JSON line.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

type verifyProduceOptions struct {
	conn          connFlags
	topic         string
	maxMessages   int64
	throughput    float64
	acks          string
	producerFile  string
	valuePrefix   int
	prefixed      bool // --value-prefix was given
	createTimeMs  int64
	repeatingKeys int
}

const verifyProduceLong = `Send numbered records and log each outcome as a JSON line, as Kafka's
VerifiableProducer does.

The value of the n-th record (from 0) is n, or P.n with --value-prefix P;
keys are null, or with --repeating-keys K cycle through 0 .. K-1. Lines:
  {"timestamp":...,"name":"startup_complete"}
  {"timestamp":...,"name":"producer_send_success","key":null,"value":"0","topic":"t","partition":1,"offset":0}
  {"timestamp":...,"name":"producer_send_error","exception":"org.apache.kafka.common.errors.TimeoutException","message":"...","topic":"t","key":null,"value":"7"}
  {"timestamp":...,"name":"shutdown_complete"}
  {"timestamp":...,"name":"tool_data","sent":100,"acked":100,"target_throughput":-1,"avg_throughput":2345.6}
The command ends after --max-messages records (-1: never) or on Ctrl-C
(SIGINT, SIGTERM), in both cases after every record sent has its outcome.
A record that fails is logged, not fatal: the exit status is 0 unless the
tool itself could not run.`

const verifyProduceExample = `  samsa verify produce --topic t --max-messages 100000 --throughput 5000 > producer.log
  samsa verify produce --topic t --acks 1 --value-prefix 2 --repeating-keys 10 --producer.config producer.properties`

func verifyProduceCommand() *cobra.Command {
	var o verifyProduceOptions
	cmd := &cobra.Command{
		Use:     "produce",
		Short:   "Send numbered records and log every acknowledgement as JSON (VerifiableProducer)",
		Long:    verifyProduceLong,
		Example: verifyProduceExample,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runVerifyProduce(cmd, &o) },
	}
	addConnFlags(cmd, &o.conn)
	f := cmd.Flags()
	f.StringVar(&o.topic, "topic", "", "topic to produce to (required)")
	f.Int64Var(&o.maxMessages, "max-messages", -1, "number of records to send; -1 to send until stopped")
	f.Float64Var(&o.throughput, "throughput", -1, "maximum records per second; -1 for no limit")
	f.StringVar(&o.acks, "acks", "-1", "the producer's acks: -1 (all), 1 or 0")
	f.StringVar(&o.producerFile, "producer.config", "", "file of producer settings (Java .properties syntax)")
	f.IntVar(&o.valuePrefix, "value-prefix", 0, "values are <prefix>.<n>, to tell the records of several producers apart")
	f.Int64Var(&o.createTimeMs, "message-create-time", -1, "CreateTime of the first record in milliseconds since the epoch; later ones advance with the clock (-1: now)")
	f.IntVar(&o.repeatingKeys, "repeating-keys", 0, "keys cycle through 0 .. N-1 (default: null keys)")
	return cmd
}

func (o *verifyProduceOptions) check(cmd *cobra.Command) error {
	switch {
	case o.topic == "":
		return usagef("--topic is required")
	case o.maxMessages < -1:
		return usagef("--max-messages %d: expected -1 or a count", o.maxMessages)
	case o.throughput == 0:
		return usagef("--throughput 0 would send nothing: give a positive rate, or -1 for no limit")
	case cmd.Flags().Changed("repeating-keys") && o.repeatingKeys <= 0:
		return usagef("--repeating-keys %d: must be positive", o.repeatingKeys)
	case o.createTimeMs < -1:
		return usagef("--message-create-time %d: expected -1 or milliseconds since the epoch", o.createTimeMs)
	}
	o.prefixed = cmd.Flags().Changed("value-prefix")
	switch o.acks {
	case "all", "-1", "0", "1":
		return nil
	}
	return usagef("--acks %q: expected -1, all, 0 or 1", o.acks)
}

func runVerifyProduce(cmd *cobra.Command, o *verifyProduceOptions) error {
	if err := o.check(cmd); err != nil {
		return err
	}
	cfg, err := clientSettings(cmd, &o.conn, nonEmpty(o.producerFile), nil)
	if err != nil {
		return err
	}
	cfg["acks"] = o.acks
	if _, ok := cfg["client.id"]; !ok {
		cfg["client.id"] = "verifiable-producer"
	}
	p, err := kafka.NewProducer(cfg, kafka.ByteArraySerializer{}, kafka.ByteArraySerializer{}, kafka.WithLogger(toolLogger(cmd)))
	if err != nil {
		return clientConfigErr(err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	vp := &verifiableProducer{o: o, p: p, out: &eventWriter{w: cmd.OutOrStdout()}}
	start := time.Now()
	vp.out.emit(newEvent(evStartupComplete))
	vp.run(ctx)
	// The records sent still get their outcome, also after Ctrl-C.
	closeErr := p.Close(context.WithoutCancel(cmd.Context()))
	vp.out.emit(newEvent(evShutdownComplete))
	sent, acked := vp.counts()
	vp.out.emit(struct {
		event
		Sent             int64   `json:"sent"`
		Acked            int64   `json:"acked"`
		TargetThroughput float64 `json:"target_throughput"`
		AvgThroughput    float64 `json:"avg_throughput"`
	}{newEvent(evToolData), sent, acked, o.throughput, float64(acked) / time.Since(start).Seconds()})
	if closeErr != nil && !errors.Is(closeErr, kafka.ErrProducerClosed) {
		return fmt.Errorf("closing the producer: %w", closeErr)
	}
	return vp.out.error()
}

// verifiableProducer sends and logs. run owns the sending; the counters
// are shared with the producer's callbacks under mu.
type verifiableProducer struct {
	o   *verifyProduceOptions
	p   *kafka.Producer[[]byte, []byte]
	out *eventWriter

	mu          sync.Mutex
	sent, acked int64
}

func (vp *verifiableProducer) counts() (sent, acked int64) {
	vp.mu.Lock()
	defer vp.mu.Unlock()
	return vp.sent, vp.acked
}

// run sends until --max-messages or until ctx ends.
func (vp *verifiableProducer) run(ctx context.Context) {
	o := vp.o
	thr := newThrottle(o.throughput)
	keyed := o.repeatingKeys > 0
	for n := int64(0); (o.maxMessages < 0 || n < o.maxMessages) && ctx.Err() == nil; n++ {
		thr.wait(n)
		value := strconv.FormatInt(n, 10)
		if o.prefixed {
			value = strconv.Itoa(o.valuePrefix) + "." + value
		}
		var key *string
		if keyed {
			k := strconv.FormatInt(n%int64(o.repeatingKeys), 10)
			key = &k
		}
		rec := kafka.ProducerRecord[[]byte, []byte]{Topic: o.topic, Value: []byte(value)}
		if key != nil {
			rec.Key = []byte(*key) // else nil: a null key
		}
		if o.createTimeMs >= 0 {
			rec.Timestamp = time.UnixMilli(o.createTimeMs).Add(time.Since(thr.start))
		}
		vp.mu.Lock()
		vp.sent++
		vp.mu.Unlock()
		vp.p.SendWithCallback(ctx, rec, func(md kafka.RecordMetadata, err error) { vp.completed(key, value, md, err) })
	}
}

// completed logs one record's outcome.
func (vp *verifiableProducer) completed(key *string, value string, md kafka.RecordMetadata, err error) {
	if err != nil {
		vp.out.emit(struct {
			event
			Exception string  `json:"exception"`
			Message   string  `json:"message"`
			Topic     string  `json:"topic"`
			Key       *string `json:"key"`
			Value     string  `json:"value"`
		}{newEvent(evSendError), exceptionName(err), err.Error(), vp.o.topic, key, value})
		return
	}
	vp.mu.Lock()
	vp.acked++
	vp.mu.Unlock()
	vp.out.emit(struct {
		event
		Key       *string `json:"key"`
		Value     string  `json:"value"`
		Topic     string  `json:"topic"`
		Partition int32   `json:"partition"`
		Offset    int64   `json:"offset"`
	}{newEvent(evSendSuccess), key, value, md.Topic, md.Partition, md.Offset})
}
