package broker_test

// Consumer groups against real clients: franz-go (classic range and
// cooperative-sticky, and KIP-848 with the server-side assignor), sarama's
// ConsumerGroup and kafka-go's Reader share a topic's partitions, hand a
// departed or dead member's partitions to the others, and resume from
// committed offsets after the broker restarts.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
)

const (
	groupPartitions = 6
	groupTimeout    = 3 * time.Minute
	// memberSession is the classic clients' session.timeout.ms, and
	// broker's group.consumer.session.timeout.ms for KIP-848 members.
	memberSession = 3 * time.Second
)

// groupBrokerProps make rebalances quick: no initial rebalance delay,
// short KIP-848 sessions and heartbeats.
var groupBrokerProps = []string{
	"group.initial.rebalance.delay.ms=0",
	"group.min.session.timeout.ms=1000",
	"group.consumer.session.timeout.ms=3000",
	"group.consumer.heartbeat.interval.ms=250",
	"offsets.topic.num.partitions=10",
}

// killableDialer dials real connections and can sever them all at once
// and refuse new ones: the client is then dead to the broker, with no
// LeaveGroup and no heartbeats, as if its process were killed.
type killableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

var errKilled = errors.New("member killed")

func (d *killableDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil, errKilled
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

// Dial is DialContext for clients that take a proxy.Dialer (sarama).
func (d *killableDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		c.Close()
	}
}

// ownership tracks which member owns which partitions, from the clients'
// assignment callbacks.
type ownership struct {
	mu    sync.Mutex
	owned map[string]map[int32]bool
}

func newOwnership() *ownership { return &ownership{owned: map[string]map[int32]bool{}} }

func (o *ownership) assign(member string, ps []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.owned[member] == nil {
		o.owned[member] = map[int32]bool{}
	}
	for _, p := range ps {
		o.owned[member][p] = true
	}
}

func (o *ownership) revoke(member string, ps []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range ps {
		delete(o.owned[member], p)
	}
}

func (o *ownership) drop(member string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.owned, member)
}

// set replaces a member's partitions (for clients that report whole
// assignments).
func (o *ownership) set(member string, ps []int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.owned[member] = map[int32]bool{}
	for _, p := range ps {
		o.owned[member][p] = true
	}
}

func (o *ownership) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var parts []string
	for _, m := range slices.Sorted(maps.Keys(o.owned)) {
		parts = append(parts, fmt.Sprintf("%s:%v", m, slices.Sorted(maps.Keys(o.owned[m]))))
	}
	return strings.Join(parts, " ")
}

// divided reports whether exactly members own the partitions, each one
// its fair share, with no partition owned twice.
func (o *ownership) divided(members []string, numPartitions int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := map[int32]bool{}
	total := 0
	for m, ps := range o.owned {
		if len(ps) > 0 && !slices.Contains(members, m) {
			return false
		}
		for p := range ps {
			if seen[p] {
				return false
			}
			seen[p] = true
			total++
		}
	}
	lo, hi := numPartitions/len(members), (numPartitions+len(members)-1)/len(members)
	for _, m := range members {
		if n := len(o.owned[m]); n < lo || n > hi {
			return false
		}
	}
	return total == numPartitions
}

// waitDivided waits until members divide the partitions, and fails the
// test after limit.
func (o *ownership) waitDivided(t testing.TB, members []string, numPartitions int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if o.divided(members, numPartitions) {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("after %v %v do not divide %d partitions: %s", limit, members, numPartitions, o)
	return 0
}

// groupTopic starts a broker for group tests and creates a topic.
func groupTopic(t *testing.T, props ...string) (*brokertest.Broker, string) {
	t.Helper()
	b := brokertest.Start(t, append(slices.Clone(groupBrokerProps), props...)...)
	topic := "grp-" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-")
	ctx := testContext(t, groupTimeout)
	resp, err := newAdmin(t, b.Addr()).CreateTopic(ctx, groupPartitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	return b, topic
}

// kgoMember is a franz-go group member polling in the background.
type kgoMember struct {
	name   string
	cl     *kgo.Client
	dialer *killableDialer
	stop   context.CancelFunc
	done   chan struct{}
}

// kgoGroupOpts are the group options of one franz-go flavour.
type kgoFlavour struct {
	name string
	opts []kgo.Opt
}

var kgoFlavours = []kgoFlavour{
	{"range", []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}},
	{"cooperative-sticky", []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}},
	{"kip848", []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer()}},
}

// memberHooks let a test watch members of any client library: the
// partitions each is given, and each record it consumes.
type memberHooks struct {
	assigned func(member string, partitions []int32)
	record   func(member string, partition int32, offset int64, key []byte)
}

func startKgoMember(t testing.TB, addr, group, topic, name string, own *ownership, hooks *memberHooks, opts ...kgo.Opt) *kgoMember {
	t.Helper()
	m := &kgoMember{name: name, dialer: &killableDialer{}, done: make(chan struct{})}
	base := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.Dialer(m.dialer.DialContext),
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(memberSession),
		kgo.HeartbeatInterval(250 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			if hooks != nil && hooks.assigned != nil {
				hooks.assigned(name, a[topic])
			}
			own.assign(name, a[topic])
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			// Commit what was processed before giving partitions up.
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				t.Logf("%s: commit on revoke: %v", name, err)
			}
			own.revoke(name, r[topic])
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) { own.revoke(name, l[topic]) }),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(200 * time.Millisecond),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				if hooks != nil && hooks.record != nil {
					hooks.record(name, r.Partition, r.Offset, r.Key)
				}
				cl.MarkCommitRecords(r)
			})
		}
	}()
	t.Cleanup(m.close)
	return m
}

// close leaves the group (committing marked offsets) and stops polling.
func (m *kgoMember) close() {
	m.stop()
	<-m.done
	m.cl.Close()
}

// kill makes the member vanish without leaving: no more heartbeats.
func (m *kgoMember) kill() {
	m.dialer.kill()
	m.stop()
	<-m.done
}

func TestGroupKgoDivideAndTakeOver(t *testing.T) {
	for _, fl := range kgoFlavours {
		t.Run(fl.name, func(t *testing.T) {
			t.Parallel()
			b, topic := groupTopic(t)
			own := newOwnership()
			var members []*kgoMember
			for i := range 3 {
				members = append(members, startKgoMember(t, b.Addr(), "g", topic, fmt.Sprintf("m%d", i), own, nil, fl.opts...))
			}
			own.waitDivided(t, []string{"m0", "m1", "m2"}, groupPartitions, time.Minute)
			wantType := "classic"
			if fl.name == "kip848" {
				wantType = "consumer"
			}
			if typ := groupType(testContext(t, time.Minute), t, newKgo(t, b.Addr()), "g"); typ != wantType {
				t.Fatalf("group type %q, want %q", typ, wantType)
			}

			// m1 leaves: the others take its partitions.
			members[1].close()
			own.drop("m1")
			took := own.waitDivided(t, []string{"m0", "m2"}, groupPartitions, time.Minute)
			t.Logf("after a leave the group was divided again in %v", took)

			// m2 dies: no leave, no heartbeats. Its partitions move within
			// the session timeout (plus a rebalance).
			members[2].kill()
			own.drop("m2")
			took = own.waitDivided(t, []string{"m0"}, groupPartitions, time.Minute)
			t.Logf("after a member died the partitions moved in %v", took)
			if took > memberSession+5*time.Second {
				t.Errorf("takeover took %v, session timeout is %v", took, memberSession)
			}
		})
	}
}

// groupMember is one consumer of a group, of any client library.
type groupMember interface {
	close() // leave the group
	kill()  // vanish without leaving
}

// saramaMember is a sarama ConsumerGroup member consuming in the
// background.
type saramaMember struct {
	name   string
	group  sarama.ConsumerGroup
	dialer *killableDialer
	stop   context.CancelFunc
	done   chan struct{}
}

type saramaHandler struct {
	name  string
	topic string
	own   *ownership
	hooks *memberHooks
}

func (h *saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	ps := s.Claims()[h.topic]
	if h.hooks != nil && h.hooks.assigned != nil {
		h.hooks.assigned(h.name, ps)
	}
	h.own.set(h.name, ps)
	return nil
}

func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error {
	h.own.set(h.name, nil)
	return nil
}

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		if h.hooks != nil && h.hooks.record != nil {
			h.hooks.record(h.name, msg.Partition, msg.Offset, msg.Key)
		}
		s.MarkMessage(msg, "")
	}
	return nil
}

func startSaramaMember(t *testing.T, addr, group, topic, name string, own *ownership, hooks *memberHooks) *saramaMember {
	t.Helper()
	m := &saramaMember{name: name, dialer: &killableDialer{}, done: make(chan struct{})}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = name
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = m.dialer
	cfg.Consumer.Group.Session.Timeout = memberSession
	cfg.Consumer.Group.Heartbeat.Interval = 250 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	g, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.group = g
	h := &saramaHandler{name: name, topic: topic, own: own, hooks: hooks}
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	go func() {
		for range g.Errors() {
		}
	}()
	t.Cleanup(func() {
		m.stop()
		<-m.done
		m.group.Close()
	})
	return m
}

func (m *saramaMember) close() {
	m.stop()
	<-m.done
	m.group.Close()
}

func (m *saramaMember) kill() {
	m.dialer.kill()
	m.stop()
	<-m.done
}

// kafkaGoMember is a kafka-go Reader with a GroupID, reading in the
// background.
type kafkaGoMember struct {
	name   string
	r      *kafka.Reader
	dialer *killableDialer
	stop   context.CancelFunc
	done   chan struct{}
}

func startKafkaGoMember(t *testing.T, addr, group, topic, name string, hooks *memberHooks) *kafkaGoMember {
	t.Helper()
	m := &kafkaGoMember{name: name, dialer: &killableDialer{}, done: make(chan struct{})}
	m.r = kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{addr},
		GroupID:           group,
		Topic:             topic,
		Dialer:            &kafka.Dialer{ClientID: name, DialFunc: m.dialer.DialContext, Timeout: 10 * time.Second},
		SessionTimeout:    memberSession,
		HeartbeatInterval: 250 * time.Millisecond,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		CommitInterval:    200 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		MaxWait:           200 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    200 * time.Millisecond,
		GroupBalancers:    []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			msg, err := m.r.ReadMessage(ctx)
			if err != nil {
				continue
			}
			if hooks != nil && hooks.record != nil {
				hooks.record(name, int32(msg.Partition), msg.Offset, msg.Key)
			}
		}
	}()
	t.Cleanup(func() { m.stop(); <-m.done; m.r.Close() })
	return m
}

func (m *kafkaGoMember) close() {
	m.stop()
	<-m.done
	m.r.Close()
}

func (m *kafkaGoMember) kill() {
	m.dialer.kill()
	m.stop()
	<-m.done
}

// describedOwnership is the classic group's assignment as the broker
// reports it (DescribeGroups), by client id.
func describedOwnership(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string) *ownership {
	t.Helper()
	own := newOwnership()
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe groups: %v", err)
	}
	g := described[group]
	if g.State != "Stable" {
		return own
	}
	for _, m := range g.Members {
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, tp := range a.Topics {
			if tp.Topic == topic {
				own.assign(m.ClientID, tp.Partitions)
			}
		}
	}
	return own
}

func waitDescribedDivided(t *testing.T, adm *kadm.Client, group, topic string, members []string, limit time.Duration) time.Duration {
	t.Helper()
	ctx := testContext(t, limit+10*time.Second)
	start := time.Now()
	var own *ownership
	for time.Since(start) < limit {
		own = describedOwnership(ctx, t, adm, group, topic)
		if own.divided(members, groupPartitions) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after %v %v do not divide the partitions: %s", limit, members, own)
	return 0
}

func TestGroupSaramaDivideAndTakeOver(t *testing.T) {
	t.Parallel()
	b, topic := groupTopic(t)
	own := newOwnership()
	var members []groupMember
	for i := range 3 {
		members = append(members, startSaramaMember(t, b.Addr(), "g", topic, fmt.Sprintf("s%d", i), own, nil))
	}
	own.waitDivided(t, []string{"s0", "s1", "s2"}, groupPartitions, time.Minute)
	members[1].close()
	own.drop("s1")
	own.waitDivided(t, []string{"s0", "s2"}, groupPartitions, time.Minute)
	members[2].kill()
	own.drop("s2")
	if took := own.waitDivided(t, []string{"s0"}, groupPartitions, time.Minute); took > memberSession+5*time.Second {
		t.Errorf("takeover took %v, session timeout is %v", took, memberSession)
	}
}

func TestGroupKafkaGoDivideAndTakeOver(t *testing.T) {
	t.Parallel()
	b, topic := groupTopic(t)
	adm := newAdmin(t, b.Addr())
	var members []groupMember
	for i := range 3 {
		members = append(members, startKafkaGoMember(t, b.Addr(), "g", topic, fmt.Sprintf("k%d", i), nil))
	}
	waitDescribedDivided(t, adm, "g", topic, []string{"k0", "k1", "k2"}, time.Minute)
	members[1].close()
	waitDescribedDivided(t, adm, "g", topic, []string{"k0", "k2"}, time.Minute)
	members[2].kill()
	if took := waitDescribedDivided(t, adm, "g", topic, []string{"k0"}, time.Minute); took > memberSession+5*time.Second {
		t.Errorf("takeover took %v, session timeout is %v", took, memberSession)
	}
}

// churnRecords is how many records the churn test consumes.
const churnRecords = 30000

// consumptionLog records what every member consumed. At each assignment
// it reads the group's committed offsets from the broker: a member must
// never consume below what was committed when it got the partition, so
// a record is consumed twice only if it was not committed.
type consumptionLog struct {
	t     *testing.T
	adm   *kadm.Client
	group string
	topic string

	mu         sync.Mutex
	times      map[string]int             // key -> times consumed
	floor      map[string]map[int32]int64 // member -> partition -> committed offset at assignment
	violations []string
}

func newConsumptionLog(t *testing.T, adm *kadm.Client, group, topic string) *consumptionLog {
	return &consumptionLog{t: t, adm: adm, group: group, topic: topic, times: map[string]int{}, floor: map[string]map[int32]int64{}}
}

func (l *consumptionLog) hooks(checkFloor bool) *memberHooks {
	h := &memberHooks{record: l.record}
	if checkFloor {
		h.assigned = l.assigned
	}
	return h
}

func (l *consumptionLog) assigned(member string, ps []int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	committed, err := l.adm.FetchOffsets(ctx, l.group)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.violations = append(l.violations, fmt.Sprintf("fetching committed offsets at %s's assignment: %v", member, err))
		return
	}
	if l.floor[member] == nil {
		l.floor[member] = map[int32]int64{}
	}
	for _, p := range ps {
		l.floor[member][p] = 0
		if o, ok := committed.Lookup(l.topic, p); ok && o.At > 0 {
			l.floor[member][p] = o.At
		}
	}
}

func (l *consumptionLog) record(member string, p int32, off int64, key []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.times[string(key)]++
	if f, ok := l.floor[member][p]; ok && off < f && len(l.violations) < 10 {
		l.violations = append(l.violations, fmt.Sprintf("%s consumed partition %d offset %d below the offset %d committed when it was assigned", member, p, off, f))
	}
}

func (l *consumptionLog) distinct() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.times)
}

// waitDistinct waits until n distinct records were consumed.
func (l *consumptionLog) waitDistinct(t *testing.T, n int, limit time.Duration) {
	t.Helper()
	for start := time.Now(); time.Since(start) < limit; time.Sleep(20 * time.Millisecond) {
		if l.distinct() >= n {
			return
		}
	}
	t.Fatalf("after %v only %d distinct records of %d consumed", limit, l.distinct(), n)
}

// produceSlowly writes n keyed records in chunks, so consumers are still
// at work while members come and go.
func produceSlowly(ctx context.Context, t *testing.T, addr, topic string, n int) {
	cl := newKgo(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(2*time.Millisecond))
	for i := 0; i < n && ctx.Err() == nil; i++ {
		cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "key-%06d", i), Value: fmt.Appendf(nil, "value-%d", i)}, func(_ *kgo.Record, err error) {
			if err != nil && ctx.Err() == nil {
				t.Errorf("produce: %v", err)
			}
		})
		if i%500 == 499 {
			cl.Flush(ctx)
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Errorf("flush: %v", err)
	}
}

// waitAllCommitted waits until the group's committed offsets reach the
// end of every partition.
func waitAllCommitted(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string, limit time.Duration) {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for start := time.Now(); time.Since(start) < limit; time.Sleep(50 * time.Millisecond) {
		committed, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			last = err.Error()
			continue
		}
		behind := []string{}
		ends.Each(func(e kadm.ListedOffset) {
			if o, ok := committed.Lookup(topic, e.Partition); !ok || o.At < e.Offset {
				behind = append(behind, fmt.Sprintf("p%d %d<%d", e.Partition, o.At, e.Offset))
			}
		})
		if len(behind) == 0 {
			return
		}
		last = strings.Join(behind, ", ")
	}
	t.Fatalf("committed offsets did not reach the end: %s", last)
}

// churnClient starts group members of one client library.
type churnClient struct {
	name       string
	checkFloor bool // the client reports assignments before it fetches offsets
	start      func(t *testing.T, addr, group, topic, name string, hooks *memberHooks) groupMember
}

func kgoChurnClient(fl kgoFlavour) churnClient {
	return churnClient{name: "kgo-" + fl.name, checkFloor: true, start: func(t *testing.T, addr, group, topic, name string, hooks *memberHooks) groupMember {
		return startKgoMember(t, addr, group, topic, name, newOwnership(), hooks, fl.opts...)
	}}
}

// TestGroupChurnLosesNothing consumes 30,000 records with three members
// while one leaves, another joins and one dies: every record is consumed,
// none below what was committed, and in the end everything is committed.
func TestGroupChurnLosesNothing(t *testing.T) {
	clients := []churnClient{
		kgoChurnClient(kgoFlavours[0]),
		kgoChurnClient(kgoFlavours[1]),
		kgoChurnClient(kgoFlavours[2]),
		{name: "sarama", checkFloor: false, start: func(t *testing.T, addr, group, topic, name string, hooks *memberHooks) groupMember {
			// sarama fetches offsets before Setup, so a floor read in
			// Setup proves nothing; the end check still applies.
			return startSaramaMember(t, addr, group, topic, name, newOwnership(), hooks)
		}},
		{name: "kafka-go", start: func(t *testing.T, addr, group, topic, name string, hooks *memberHooks) groupMember {
			return startKafkaGoMember(t, addr, group, topic, name, hooks)
		}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b, topic := groupTopic(t)
			ctx := testContext(t, groupTimeout)
			adm := newAdmin(t, b.Addr())
			log := newConsumptionLog(t, adm, "churn", topic)
			hooks := log.hooks(c.checkFloor)
			go produceSlowly(ctx, t, b.Addr(), topic, churnRecords)
			m := map[string]groupMember{}
			for _, name := range []string{"a", "b", "c"} {
				m[name] = c.start(t, b.Addr(), "churn", topic, name, hooks)
			}
			log.waitDistinct(t, churnRecords/3, time.Minute)
			m["b"].close() // leaves
			m["d"] = c.start(t, b.Addr(), "churn", topic, "d", hooks)
			log.waitDistinct(t, 2*churnRecords/3, time.Minute)
			m["c"].kill() // dies
			log.waitDistinct(t, churnRecords, time.Minute)
			waitAllCommitted(ctx, t, adm, "churn", topic, time.Minute)

			log.mu.Lock()
			defer log.mu.Unlock()
			for _, v := range log.violations {
				t.Error(v)
			}
			dups := 0
			for _, n := range log.times {
				dups += n - 1
			}
			t.Logf("%d records consumed, %d of them again", len(log.times), dups)
		})
	}
}

// groupType is the group's type as ListGroups v5 reports it.
func groupType(ctx context.Context, t *testing.T, cl *kgo.Client, group string) string {
	t.Helper()
	resp, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range resp.Groups {
		if g.Group == group {
			return g.GroupType
		}
	}
	return ""
}

// TestGroupStaticMemberRestartKeepsAssignment restarts a static member
// (group.instance.id) within its session timeout: it gets its partitions
// back and the other members see no rebalance.
func TestGroupStaticMemberRestartKeepsAssignment(t *testing.T) {
	for _, fl := range []kgoFlavour{kgoFlavours[0], kgoFlavours[2]} {
		t.Run(fl.name, func(t *testing.T) {
			t.Parallel()
			b, topic := groupTopic(t)
			own := newOwnership()
			var mu sync.Mutex
			assignments := map[string]int{}
			hooks := &memberHooks{assigned: func(m string, ps []int32) {
				mu.Lock()
				assignments[m]++
				mu.Unlock()
			}}
			start := func(name, instance string) *kgoMember {
				return startKgoMember(t, b.Addr(), "static", topic, name, own, hooks, append(slices.Clone(fl.opts), kgo.InstanceID(instance))...)
			}
			m1 := start("m1", "i1")
			start("m0", "i0")
			start("m2", "i2")
			own.waitDivided(t, []string{"m0", "m1", "m2"}, groupPartitions, time.Minute)
			time.Sleep(time.Second) // let any trailing rebalance settle
			own.mu.Lock()
			before := slices.Sorted(maps.Keys(own.owned["m1"]))
			own.mu.Unlock()
			mu.Lock()
			counts := maps.Clone(assignments)
			mu.Unlock()

			m1.close() // a static member does not leave the group
			start("m1-restarted", "i1")
			own.drop("m1")
			own.waitDivided(t, []string{"m0", "m1-restarted", "m2"}, groupPartitions, memberSession)
			own.mu.Lock()
			after := slices.Sorted(maps.Keys(own.owned["m1-restarted"]))
			own.mu.Unlock()
			if !slices.Equal(before, after) {
				t.Errorf("restarted static member owns %v, had %v", after, before)
			}
			time.Sleep(time.Second)
			mu.Lock()
			defer mu.Unlock()
			for _, m := range []string{"m0", "m2"} {
				if assignments[m] != counts[m] {
					t.Errorf("%s was assigned partitions %d times after the restart: the group rebalanced", m, assignments[m]-counts[m])
				}
			}
		})
	}
}

// consumeAndCommit consumes at least n records of topic in group with a
// franz-go consumer, commits exactly what it consumed and leaves. It
// returns the committed offset of every partition it read.
func consumeAndCommit(ctx context.Context, t *testing.T, addr, group, topic string, n int) map[int32]int64 {
	t.Helper()
	cl := newKgo(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	next := map[int32]int64{}
	got := 0
	for got < n {
		fs := cl.PollRecords(ctx, n-got)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			next[r.Partition] = r.Offset + 1
			got++
		})
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close()
	return next
}

// checkResume consumes the rest of topic in group and checks that every
// partition resumes exactly at its committed offset.
func checkResume(ctx context.Context, t *testing.T, addr, group, topic string, committed map[int32]int64, total int) {
	t.Helper()
	cl := newKgo(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	first := map[int32]int64{}
	got := 0
	want := total
	for _, o := range committed {
		want -= int(o)
	}
	for got < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("after the restart consumed %d of %d: %v", got, want, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
			got++
		})
	}
	for p, o := range committed {
		if f, ok := first[p]; ok && f != o {
			t.Errorf("partition %d resumed at offset %d, committed %d", p, f, o)
		}
	}
	if got != want {
		t.Errorf("consumed %d records after the restart, want %d", got, want)
	}
}

func produceN(ctx context.Context, t *testing.T, addr, topic string, n int) {
	t.Helper()
	cl := newKgo(t, addr, kgo.DefaultProduceTopic(topic))
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGroupResumesAfterRestart(t *testing.T) {
	t.Parallel()
	b, topic := groupTopic(t)
	ctx := testContext(t, groupTimeout)
	produceN(ctx, t, b.Addr(), topic, 600)
	committed := consumeAndCommit(ctx, t, b.Addr(), "resume", topic, 250)
	b.Restart()
	checkResume(ctx, t, b.Addr(), "resume", topic, committed, 600)
}

// TestGroupOffsetsSurviveSIGKILL commits offsets, kills the broker process
// with SIGKILL, restarts it, and resumes a consumer at the committed
// offsets.
func TestGroupOffsetsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and SIGKILLs a broker process")
	}
	p := newSamsaProcess(t, buildSamsa(t), groupBrokerProps...)
	p.start()
	ctx := testContext(t, groupTimeout)
	topic := "sigkill"
	resp, err := newAdmin(t, p.addr).CreateTopic(ctx, groupPartitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	produceN(ctx, t, p.addr, topic, 600)
	committed := consumeAndCommit(ctx, t, p.addr, "survivor", topic, 250)
	p.kill()
	p.start()
	checkResume(ctx, t, p.addr, "survivor", topic, committed, 600)
}

// rawJoin sends the JoinGroup round trips of KIP-394 with the given
// protocol metadata and returns the final response.
func rawJoin(ctx context.Context, t *testing.T, cl *kgo.Client, group string, sessionMs int32, metadata []byte) *kmsg.JoinGroupResponse {
	t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = group, sessionMs, 5000, "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: metadata}}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode == kerr.MemberIDRequired.Code {
		req.MemberID = resp.MemberID
		if resp, err = req.RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	return resp
}

func rawSync(ctx context.Context, t *testing.T, cl *kgo.Client, group, member string, generation int32, assignment []byte) int16 {
	t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation = group, member, generation
	req.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: member, MemberAssignment: assignment}}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.ErrorCode
}

func describedGroup(ctx context.Context, t *testing.T, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	d, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	return d[group]
}

// TestGroupBadInput sends what misbehaving clients send: each gets
// Kafka's error code and the group stays consistent.
func TestGroupBadInput(t *testing.T) {
	t.Parallel()
	b, topic := groupTopic(t)
	ctx := testContext(t, groupTimeout)
	cl := newKgo(t, b.Addr())
	adm := kadm.NewClient(cl)
	sub := kmsg.NewConsumerMemberMetadata()
	sub.Topics = []string{topic}
	metadata := sub.AppendTo(nil)

	t.Run("JoinGroup with no protocols", func(t *testing.T) {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.SessionTimeoutMillis, req.ProtocolType = "no-protocols", 10000, "consumer"
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
			t.Errorf("error %d, want INCONSISTENT_GROUP_PROTOCOL", resp.ErrorCode)
		}
		if g := describedGroup(ctx, t, adm, "no-protocols"); g.State != "Empty" || len(g.Members) != 0 {
			t.Errorf("group after the bad join: %s with %d members", g.State, len(g.Members))
		}
	})

	t.Run("SyncGroup with a wrong generation", func(t *testing.T) {
		j := rawJoin(ctx, t, cl, "wrong-gen", 10000, metadata)
		if j.ErrorCode != 0 {
			t.Fatalf("join: %d", j.ErrorCode)
		}
		if code := rawSync(ctx, t, cl, "wrong-gen", j.MemberID, j.Generation+1, []byte{}); code != kerr.IllegalGeneration.Code {
			t.Errorf("sync: error %d, want ILLEGAL_GENERATION", code)
		}
		if g := describedGroup(ctx, t, adm, "wrong-gen"); g.State != "CompletingRebalance" || len(g.Members) != 1 {
			t.Errorf("group after the bad sync: %s with %d members", g.State, len(g.Members))
		}
		if code := rawSync(ctx, t, cl, "wrong-gen", j.MemberID, j.Generation, []byte{}); code != 0 {
			t.Errorf("sync with the right generation: %d", code)
		}
	})

	t.Run("OffsetCommit for an unknown topic", func(t *testing.T) {
		offsets := kadm.Offsets{}
		offsets.Add(kadm.Offset{Topic: "no-such-topic", Partition: 0, At: 5})
		offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0})
		resp, err := adm.CommitOffsets(ctx, "commits", offsets)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := resp.Lookup("no-such-topic", 0); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
		}
		if r, _ := resp.Lookup(topic, 0); r.Err != nil {
			t.Errorf("known topic in the same request: %v", r.Err)
		}
	})

	t.Run("1 MiB member metadata", func(t *testing.T) {
		big := append(slices.Clone(metadata), make([]byte, 1<<20)...)
		j := rawJoin(ctx, t, cl, "big", 10000, big)
		if j.ErrorCode != 0 || len(j.Members) != 1 {
			t.Fatalf("join: %d", j.ErrorCode)
		}
		// The group's record would not fit __consumer_offsets'
		// max.message.bytes: Kafka answers UNKNOWN_SERVER_ERROR and
		// rebalances.
		if code := rawSync(ctx, t, cl, "big", j.MemberID, j.Generation, []byte{}); code != kerr.UnknownServerError.Code {
			t.Errorf("sync: %d, want UNKNOWN_SERVER_ERROR", code)
		}
		if g := describedGroup(ctx, t, adm, "big"); g.State != "PreparingRebalance" || len(g.Members) != 1 {
			t.Errorf("group after the failed sync: %s with %d members", g.State, len(g.Members))
		}
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Group = "big"
		leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: j.MemberID}}
		if resp, err := leave.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 || resp.Members[0].ErrorCode != 0 {
			t.Fatalf("leave: %v %+v", err, resp)
		}
		if g := describedGroup(ctx, t, adm, "big"); g.State != "Empty" {
			t.Errorf("group after the member left: %s", g.State)
		}
	})

	t.Run("a member that never heartbeats", func(t *testing.T) {
		j := rawJoin(ctx, t, cl, "silent", 1000, metadata)
		if j.ErrorCode != 0 {
			t.Fatalf("join: %d", j.ErrorCode)
		}
		if code := rawSync(ctx, t, cl, "silent", j.MemberID, j.Generation, []byte{}); code != 0 {
			t.Fatalf("sync: %d", code)
		}
		deadline := time.Now().Add(10 * time.Second)
		for describedGroup(ctx, t, adm, "silent").State != "Empty" {
			if time.Now().After(deadline) {
				t.Fatalf("group still %s after the member's 1s session", describedGroup(ctx, t, adm, "silent").State)
			}
			time.Sleep(100 * time.Millisecond)
		}
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.MemberID, hb.Generation = "silent", j.MemberID, j.Generation
		if resp, err := hb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.UnknownMemberID.Code {
			t.Errorf("heartbeat of the expired member: %v %+v", err, resp)
		}
	})
}

// TestGroupCoordinatorPlacement checks Kafka's placement with the default
// 50 partitions: "my-group" hashes to -1906497762, so its records go to
// __consumer_offsets partition 12, with Kafka's key and value layouts.
func TestGroupCoordinatorPlacement(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t)
	ctx := testContext(t, groupTimeout)
	cl := newKgo(t, b.Addr())
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "placed"); err != nil {
		t.Fatal(err)
	}

	// FindCoordinator: one key (v3) and a batch (v6).
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "my-group"
	resp := rawRequest(t, b.Addr(), fc, 3).(*kmsg.FindCoordinatorResponse)
	if resp.ErrorCode != 0 || resp.NodeID != 0 || fmt.Sprintf("%s:%d", resp.Host, resp.Port) != b.Addr() {
		t.Fatalf("FindCoordinator v3: %+v", resp)
	}
	fc.CoordinatorKeys = []string{"a", "b"}
	resp = rawRequest(t, b.Addr(), fc, 6).(*kmsg.FindCoordinatorResponse)
	if len(resp.Coordinators) != 2 || resp.Coordinators[1].Key != "b" || resp.Coordinators[1].ErrorCode != 0 {
		t.Fatalf("FindCoordinator v6: %+v", resp.Coordinators)
	}
	fc.CoordinatorType = 1
	if r := rawRequest(t, b.Addr(), fc, 6).(*kmsg.FindCoordinatorResponse); r.Coordinators[0].ErrorCode != 0 || r.Coordinators[0].NodeID != 0 {
		t.Errorf("transaction coordinator: %+v", r.Coordinators[0])
	}

	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "placed", Partition: 1, At: 42, LeaderEpoch: 0, Metadata: "md"})
	if r, err := adm.CommitOffsets(ctx, "my-group", offsets); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	topics, err := adm.ListTopics(ctx, "__consumer_offsets")
	if err != nil || len(topics["__consumer_offsets"].Partitions) != 50 {
		t.Fatalf("__consumer_offsets: %v %+v", err, topics)
	}
	rc := newKgo(t, b.Addr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"__consumer_offsets": {12: kgo.NewOffset().AtStart()},
	}), kgo.FetchMaxWait(200*time.Millisecond))
	fs := rc.PollFetches(ctx)
	if fs.NumRecords() == 0 {
		t.Fatalf("nothing in __consumer_offsets-12: %v", fs.Errors())
	}
	r := fs.Records()[0]
	var key kmsg.OffsetCommitKey
	if err := key.ReadFrom(r.Key); err != nil || key.Version != 1 || key.Group != "my-group" || key.Topic != "placed" || key.Partition != 1 {
		t.Fatalf("key %+v (%v)", key, err)
	}
	var value kmsg.OffsetCommitValue
	if err := value.ReadFrom(r.Value); err != nil || value.Version != 3 || value.Offset != 42 || value.Metadata != "md" {
		t.Fatalf("value %+v (%v)", value, err)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cfgs.On("__consumer_offsets", nil); err != nil || !slices.ContainsFunc(c.Configs, func(c kadm.Config) bool {
		return c.Key == "cleanup.policy" && c.MaybeValue() == "compact"
	}) {
		t.Errorf("__consumer_offsets is not compacted: %v %+v", err, c.Configs)
	}
}

// TestGroupAdmin drives the admin APIs: list with a state filter,
// describe (classic and KIP-848), offset fetch and delete, group delete.
func TestGroupAdmin(t *testing.T) {
	t.Parallel()
	b, topic := groupTopic(t)
	ctx := testContext(t, groupTimeout)
	cl := newKgo(t, b.Addr())
	adm := kadm.NewClient(cl)
	produceN(ctx, t, b.Addr(), topic, 60)
	ownC, ownN := newOwnership(), newOwnership()
	classic := startKgoMember(t, b.Addr(), "classic", topic, "c0", ownC, nil)
	startKgoMember(t, b.Addr(), "next-gen", topic, "n0", ownN, nil, kgoFlavours[2].opts...)
	ownC.waitDivided(t, []string{"c0"}, groupPartitions, time.Minute)
	ownN.waitDivided(t, []string{"n0"}, groupPartitions, time.Minute)

	stable, err := adm.ListGroups(ctx, "Stable")
	if err != nil || len(stable) != 2 {
		t.Fatalf("stable groups: %v %v", err, stable)
	}
	d := describedGroup(ctx, t, adm, "classic")
	if d.State != "Stable" || d.ProtocolType != "consumer" || len(d.Members) != 1 || d.Members[0].ClientID != "c0" {
		t.Errorf("describe classic: %+v", d)
	}
	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Groups = []string{"next-gen", "classic"}
	cgr, err := cgd.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if g := cgr.Groups[0]; g.ErrorCode != 0 || g.State != "Stable" || len(g.Members) != 1 || g.Members[0].ClientID != "n0" ||
		len(g.Members[0].Assignment.TopicPartitions) != 1 || len(g.Members[0].Assignment.TopicPartitions[0].Partitions) != groupPartitions {
		t.Errorf("describe next-gen: %+v", g)
	}
	if cgr.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("ConsumerGroupDescribe of a classic group: %d", cgr.Groups[1].ErrorCode)
	}

	// A group with members cannot be deleted; once empty it can, offsets
	// and all.
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 3, At: 7})
	if _, err := adm.CommitOffsets(ctx, "idle", offsets); err != nil {
		t.Fatal(err)
	}
	del, err := adm.DeleteGroups(ctx, "classic", "idle", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(del["classic"].Err, kerr.NonEmptyGroup) || del["idle"].Err != nil || !errors.Is(del["missing"].Err, kerr.GroupIDNotFound) {
		t.Errorf("delete groups: %+v", del)
	}
	if f, err := adm.FetchOffsets(ctx, "idle"); err != nil || len(f) != 0 {
		t.Errorf("offsets of the deleted group: %v %v", err, f)
	}

	// OffsetDelete: not for topics the group consumes.
	waitAllCommitted(ctx, t, adm, "classic", topic, time.Minute)
	classic.close()
	waitEmpty := time.Now().Add(10 * time.Second)
	for describedGroup(ctx, t, adm, "classic").State != "Empty" && time.Now().Before(waitEmpty) {
		time.Sleep(50 * time.Millisecond)
	}
	committed, err := adm.FetchOffsets(ctx, "classic")
	if err != nil {
		t.Fatal(err)
	}
	var ps []int32
	committed.Each(func(o kadm.OffsetResponse) { ps = append(ps, o.Partition) })
	if len(ps) == 0 {
		t.Fatal("the classic member committed nothing")
	}
	set := kadm.TopicsSet{}
	set.Add(topic, ps...)
	dr, err := adm.DeleteOffsets(ctx, "classic", set)
	if err != nil || dr.Error() != nil {
		t.Fatalf("offset delete: %v %v", err, dr.Error())
	}
	if f, _ := adm.FetchOffsets(ctx, "classic"); len(f) != 0 {
		t.Errorf("offsets left after OffsetDelete: %v", f)
	}
	set = kadm.TopicsSet{}
	set.Add(topic, 0)
	if dr, err := adm.DeleteOffsets(ctx, "next-gen", set); err != nil || !errors.Is(dr.Error(), kerr.GroupSubscribedToTopic) {
		t.Errorf("offset delete of a consumed topic: %v %v", err, dr.Error())
	}
}

// The benchmarks run Samsa and franz-go's kfake in the same process under
// the same load and report both and their ratio (samsa/kfake). Run them
// with, for example:
//
//	go test ./internal/broker -run '^$' -bench BenchmarkGroup -benchtime 3x

const (
	benchMembers    = 10
	benchPartitions = 100
	benchHeartbeat  = 200 * time.Millisecond
)

// benchBrokers starts Samsa and kfake, each with topic, and returns their
// addresses by name.
func benchBrokers(b *testing.B, topic string) map[string]string {
	b.Helper()
	hb := fmt.Sprint(benchHeartbeat.Milliseconds())
	sb := brokertest.Start(b, append(slices.Clone(groupBrokerProps), "group.consumer.heartbeat.interval.ms="+hb)...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := newAdmin(b, sb.Addr()).CreateTopic(ctx, benchPartitions, 1, nil, topic); err != nil {
		b.Fatal(err)
	}
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(benchPartitions, topic),
		kfake.BrokerConfigs(map[string]string{
			"group.consumer.heartbeat.interval.ms": hb, "group.consumer.session.timeout.ms": "3000", "group.min.session.timeout.ms": "1000",
		}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(kf.Close)
	return map[string]string{"samsa": sb.Addr(), "kfake": kf.ListenAddrs()[0]}
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkGroupRebalanceAfterLeave measures, for 10 members on a
// 100-partition topic, the time from one member leaving to the other
// nine owning every partition again. The target is two heartbeat
// intervals.
func BenchmarkGroupRebalanceAfterLeave(b *testing.B) {
	for _, fl := range []kgoFlavour{kgoFlavours[0], kgoFlavours[2]} {
		b.Run(fl.name, func(b *testing.B) {
			addrs := benchBrokers(b, "rebalance")
			took := map[string][]time.Duration{}
			for i := range b.N {
				for _, name := range []string{"samsa", "kfake"} {
					group := fmt.Sprintf("g%d", i)
					own := newOwnership()
					var members []*kgoMember
					var names []string
					for j := range benchMembers {
						n := fmt.Sprintf("m%d", j)
						names = append(names, n)
						members = append(members, startKgoMember(b, addrs[name], group, "rebalance", n, own, nil,
							append(slices.Clone(fl.opts), kgo.HeartbeatInterval(benchHeartbeat))...))
					}
					own.waitDivided(b, names, benchPartitions, time.Minute)
					time.Sleep(time.Second) // no rebalance still in flight
					start := time.Now()
					members[0].close()
					own.drop("m0")
					own.waitDivided(b, names[1:], benchPartitions, time.Minute)
					took[name] = append(took[name], time.Since(start))
					for _, m := range members[1:] {
						m.close()
					}
				}
			}
			b.Logf("samsa %v kfake %v", took["samsa"], took["kfake"])
			s, k := median(took["samsa"]), median(took["kfake"])
			b.ReportMetric(float64(s.Milliseconds()), "samsa-ms")
			b.ReportMetric(float64(k.Milliseconds()), "kfake-ms")
			b.ReportMetric(float64(s)/float64(k), "samsa/kfake")
			b.ReportMetric(float64(s)/float64(benchHeartbeat), "samsa-heartbeats")
			if s > 2*benchHeartbeat {
				b.Logf("samsa took %v, more than two heartbeat intervals (%v)", s, 2*benchHeartbeat)
			}
		})
	}
}

// BenchmarkGroupOffsetCommit measures OffsetCommit throughput: 10 clients
// committing one offset per request, as fast as they can, for two seconds.
func BenchmarkGroupOffsetCommit(b *testing.B) {
	addrs := benchBrokers(b, "commits")
	rates := map[string][]float64{}
	for range b.N {
		for _, name := range []string{"samsa", "kfake"} {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			var wg sync.WaitGroup
			var mu sync.Mutex
			total := 0
			for c := range benchMembers {
				// Raw OffsetCommit requests (kgo finds and caches the
				// coordinator), so that the clients' own work is small
				// and the same for both brokers.
				cl := newKgo(b, addrs[name])
				tds, err := kadm.NewClient(cl).ListTopics(ctx, "commits")
				if err != nil {
					b.Fatal(err)
				}
				topicID := tds["commits"].ID
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := 0
					for at := int64(0); ctx.Err() == nil; at++ {
						req := kmsg.NewPtrOffsetCommitRequest()
						req.Group = fmt.Sprintf("committer-%d", c)
						req.Generation = -1
						rt := kmsg.NewOffsetCommitRequestTopic()
						rt.Topic, rt.TopicID = "commits", topicID // by id from v10
						rp := kmsg.NewOffsetCommitRequestTopicPartition()
						rp.Partition, rp.Offset = int32(c), at
						rt.Partitions = append(rt.Partitions, rp)
						req.Topics = append(req.Topics, rt)
						resp, err := req.RequestWith(ctx, cl)
						if err == nil && resp.Topics[0].Partitions[0].ErrorCode == 0 {
							n++
						}
					}
					mu.Lock()
					total += n
					mu.Unlock()
				}()
			}
			wg.Wait()
			cancel()
			rates[name] = append(rates[name], float64(total)/2)
		}
	}
	s, k := slices.Max(rates["samsa"]), slices.Max(rates["kfake"])
	b.ReportMetric(s, "samsa-commits/s")
	b.ReportMetric(k, "kfake-commits/s")
	b.ReportMetric(s/k, "samsa/kfake")
}

// TestGroupCloseWithWaitingJoin closes the broker while a JoinGroup waits
// for the initial rebalance delay: Close must not wait for the rebalance.
func TestGroupCloseWithWaitingJoin(t *testing.T) {
	t.Parallel()
	b := brokertest.Start(t, "group.initial.rebalance.delay.ms=60000")
	ctx := testContext(t, groupTimeout)
	cl := newKgo(t, b.Addr(), kgo.RequestRetries(0))
	errc := make(chan error, 1)
	go func() {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = "waiting", 10000, 120000, "consumer"
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && resp.ErrorCode == kerr.MemberIDRequired.Code {
			req.MemberID = resp.MemberID
			resp, err = req.RequestWith(ctx, cl)
		}
		if err == nil {
			err = fmt.Errorf("join answered with error %d during the delay", resp.ErrorCode)
		}
		errc <- err
	}()
	// Let the second JoinGroup park in the rebalance.
	deadline := time.Now().Add(10 * time.Second)
	for describedGroup(ctx, t, kadm.NewClient(newKgo(t, b.Addr())), "waiting").State != "PreparingRebalance" {
		if time.Now().After(deadline) {
			t.Fatal("the join did not start a rebalance")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %v with a JoinGroup waiting", took)
	}
	if err := <-errc; err == nil {
		t.Error("the waiting JoinGroup succeeded after Close")
	}
}
