package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-io/samsa/kafka"
)

// Config configures a registry instance whose records live in a Kafka
// topic.
type Config struct {
	// BootstrapServers lists brokers of the cluster that holds the topic
	// (bootstrap.servers).
	BootstrapServers string
	// Topic is the compacted topic of the records, Confluent's
	// kafkastore.topic; default _schemas.
	Topic string
	// GroupID is the consumer group that elects the primary; default
	// samsa-schema-registry.
	GroupID string
	// URL is this instance's REST address as other instances reach it
	// (http://host:port), to which they forward writes while this one
	// is the primary.
	URL string
	// ReplicationFactor of the topic when the registry creates it;
	// default the smaller of 3 and the number of brokers.
	ReplicationFactor int16
	// Client holds further Kafka client settings for the registry's
	// producer, consumers and admin client (security settings, ...).
	Client kafka.Config
	// SessionTimeout bounds how long a primary that died without leaving
	// the group keeps the role (session.timeout.ms); default 10 s.
	SessionTimeout time.Duration
	Logger         *slog.Logger
}

// Defaults of Config.
const (
	DefaultTopic   = "_schemas"
	DefaultGroupID = "samsa-schema-registry"
)

// startTimeout bounds reading the topic to its end at startup.
const startTimeout = 60 * time.Second

// kafkaStore keeps the registry's records in a single-partition compacted
// topic. Its goroutines: the reader, which consumes the topic from the
// beginning into the cache for as long as the instance runs, and the
// elector, which keeps this instance in the election group. Both stop in
// close.
type kafkaStore struct {
	cfg    Config
	tp     kafka.TopicPartition
	st     *state
	log    *slog.Logger
	admin  *kafka.Admin
	prod   *kafka.Producer[[]byte, []byte]
	reader *kafka.Consumer[[]byte, []byte]
	elect  *kafka.Consumer[[]byte, []byte]

	isPrimary atomic.Bool // set by the elector's rebalance callbacks
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// New starts a registry instance on a Kafka cluster: it creates the topic
// if needed, reads it to the end, then joins the primary election. Serve
// it with Serve or Handler.
func New(ctx context.Context, cfg Config) (*Registry, error) {
	if cfg.BootstrapServers == "" {
		return nil, errors.New("registry: no bootstrap servers")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.GroupID == "" {
		cfg.GroupID = DefaultGroupID
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st := newState()
	s := &kafkaStore{cfg: cfg, tp: kafka.TopicPartition{Topic: cfg.Topic, Partition: 0}, st: st,
		log: cfg.Logger.With("component", "schema-registry")}
	if err := s.start(ctx); err != nil {
		s.close()
		return nil, err
	}
	return newRegistry(st, s, cfg.Logger), nil
}

func (s *kafkaStore) clientConfig(extra kafka.Config) kafka.Config {
	c := kafka.Config{"bootstrap.servers": s.cfg.BootstrapServers}
	maps.Copy(c, s.cfg.Client)
	maps.Copy(c, extra)
	return c
}

func (s *kafkaStore) start(ctx context.Context) error {
	var err error
	if s.admin, err = kafka.NewAdmin(s.clientConfig(nil), kafka.WithLogger(s.log)); err != nil {
		return err
	}
	if err := s.createTopic(ctx); err != nil {
		return err
	}
	s.prod, err = kafka.NewProducer(s.clientConfig(kafka.Config{"acks": "all", "linger.ms": "0"}),
		kafka.ByteArraySerializer{}, kafka.ByteArraySerializer{}, kafka.WithLogger(s.log))
	if err != nil {
		return err
	}
	s.reader, err = kafka.NewConsumer(s.clientConfig(kafka.Config{"auto.offset.reset": "earliest", "fetch.max.wait.ms": "100"}),
		kafka.ByteArrayDeserializer{}, kafka.ByteArrayDeserializer{}, kafka.WithLogger(s.log))
	if err != nil {
		return err
	}
	if err := s.reader.Assign([]kafka.TopicPartition{s.tp}); err != nil {
		return err
	}
	if err := s.reader.SeekToBeginning(s.tp); err != nil {
		return err
	}
	clientID := s.cfg.URL
	if clientID == "" {
		clientID = "samsa-schema-registry"
	}
	heartbeat := max(s.cfg.SessionTimeout/5, 100*time.Millisecond)
	s.elect, err = kafka.NewConsumer(s.clientConfig(kafka.Config{
		"group.id":           s.cfg.GroupID,
		"client.id":          clientID,
		"enable.auto.commit": "false",
		"auto.offset.reset":  "latest",
		// Sticky and cooperative: an instance joining or leaving does not
		// move the primary role off a live primary.
		"partition.assignment.strategy": "cooperative-sticky",
		"session.timeout.ms":            strconv.FormatInt(s.cfg.SessionTimeout.Milliseconds(), 10),
		"heartbeat.interval.ms":         strconv.FormatInt(heartbeat.Milliseconds(), 10),
	}), kafka.ByteArrayDeserializer{}, kafka.ByteArrayDeserializer{}, kafka.WithLogger(s.log))
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.read(runCtx)
	startCtx, cancelStart := context.WithTimeout(ctx, startTimeout)
	defer cancelStart()
	end, err := s.end(startCtx)
	if err != nil {
		return fmt.Errorf("registry: reading the end of %s: %w", s.cfg.Topic, err)
	}
	if err := s.st.waitApplied(startCtx, end); err != nil {
		return fmt.Errorf("registry: reading %s to offset %d: %w", s.cfg.Topic, end, err)
	}
	if err := s.elect.Subscribe([]string{s.cfg.Topic}, kafka.RebalanceListenerFuncs{
		Assigned: func(tps []kafka.TopicPartition) { s.setPrimary(tps, true) },
		Revoked:  func(tps []kafka.TopicPartition) { s.setPrimary(tps, false) },
		Lost:     func(tps []kafka.TopicPartition) { s.setPrimary(tps, false) },
	}); err != nil {
		return err
	}
	s.wg.Add(1)
	go s.runElection(runCtx)
	return nil
}

// createTopic creates the compacted topic unless it exists.
func (s *kafkaStore) createTopic(ctx context.Context) error {
	rf := s.cfg.ReplicationFactor
	if rf == 0 {
		cl, err := s.admin.DescribeCluster(ctx)
		if err != nil {
			return fmt.Errorf("registry: describing the cluster: %w", err)
		}
		rf = int16(min(3, len(cl.Nodes)))
	}
	res, err := s.admin.CreateTopics(ctx, false, kafka.NewTopic{Name: s.cfg.Topic, NumPartitions: 1, ReplicationFactor: rf,
		Configs: map[string]string{"cleanup.policy": "compact"}})
	if err == nil && len(res) > 0 {
		err = res[0].Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("registry: creating topic %s: %w", s.cfg.Topic, err)
	}
	return nil
}

func (s *kafkaStore) setPrimary(tps []kafka.TopicPartition, assigned bool) {
	for _, tp := range tps {
		if tp == s.tp {
			s.isPrimary.Store(assigned)
			s.log.Info("schema registry primary role", "primary", assigned, "url", s.cfg.URL)
		}
	}
}

// read is the reader goroutine: it applies every record of the topic to
// the cache, in order, until ctx ends.
func (s *kafkaStore) read(ctx context.Context) {
	defer s.wg.Done()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		recs, err := s.reader.Poll(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("reading the schemas topic", "err", err)
				sleep(ctx, 200*time.Millisecond)
			}
			continue
		}
		for _, r := range recs.All() {
			if err := s.st.apply(r.Offset, r.Key, r.Value); err != nil {
				s.log.Warn("skipping a record of the schemas topic", "offset", r.Offset, "err", err)
			}
		}
		// The position passes offsets that hold no record (compacted away,
		// control records), which waitApplied must count as read.
		if pos, err := s.reader.Position(ctx, s.tp); err == nil {
			s.st.advance(pos)
		}
	}
}

// runElection is the elector goroutine: polling keeps the member in the
// group, and the rebalance callbacks run inside Poll.
func (s *kafkaStore) runElection(ctx context.Context) {
	defer s.wg.Done()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := s.elect.Poll(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("schema registry election", "err", err)
			sleep(ctx, 200*time.Millisecond)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (s *kafkaStore) append(ctx context.Context, recs []record) (int64, error) {
	var last *kafka.Future
	for _, r := range recs {
		last = s.prod.Send(ctx, kafka.ProducerRecord[[]byte, []byte]{Topic: s.cfg.Topic, Key: r.key, Value: r.value})
	}
	// Records of one partition complete in order: the last one's outcome
	// covers the others (an earlier failure fails the later ones of an
	// idempotent producer).
	md, err := last.Get(ctx)
	if err != nil {
		return 0, err
	}
	return md.Offset + 1, nil
}

func (s *kafkaStore) end(ctx context.Context) (int64, error) {
	offs, err := s.admin.ListOffsets(ctx, map[kafka.TopicPartition]int64{s.tp: -1})
	if err != nil {
		return 0, err
	}
	return offs[s.tp], nil
}

// primary: this instance if its elector holds partition 0 of the topic;
// otherwise the member that does, found by describing the group, whose
// client.id is its URL. While the group rebalances nobody holds it, and
// primary waits.
func (s *kafkaStore) primary(ctx context.Context) (bool, string, error) {
	for {
		if s.isPrimary.Load() {
			return true, "", nil
		}
		ds, err := s.admin.DescribeConsumerGroups(ctx, s.cfg.GroupID)
		if err == nil && len(ds) == 1 && ds[0].Err != nil {
			err = ds[0].Err
		}
		if err == nil && len(ds) == 1 {
			for _, m := range ds[0].Members {
				for _, tp := range m.Assignment {
					if tp == s.tp {
						return m.ClientID == s.cfg.URL && s.cfg.URL != "", m.ClientID, nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("no primary elected")
			}
			return false, "", err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *kafkaStore) close() error {
	if s.cancel != nil {
		s.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	// Leave the group first, so that another instance takes over at once.
	if s.elect != nil {
		s.elect.Wakeup()
		errs = append(errs, s.elect.Close(ctx))
	}
	if s.reader != nil {
		s.reader.Wakeup()
		errs = append(errs, s.reader.Close(ctx))
	}
	s.wg.Wait()
	if s.prod != nil {
		errs = append(errs, s.prod.Close(ctx))
	}
	if s.admin != nil {
		errs = append(errs, s.admin.Close())
	}
	return errors.Join(errs...)
}
