package broker_test

// Dynamic broker configs (KIP-226) and consumer group configs (KIP-848)
// through kadm and raw requests, on one broker and on a cluster.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
)

// brokerConfig returns one config of a broker as it describes it ("" for
// the cluster-wide defaults), and whether it was listed.
func brokerConfig(ctx context.Context, t *testing.T, adm *kadm.Client, name string, broker ...int32) (kadm.Config, bool) {
	t.Helper()
	rcs, err := adm.DescribeBrokerConfigs(ctx, broker...)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			t.Fatalf("describe broker %q: %v", rc.Name, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == name {
				return c, true
			}
		}
	}
	return kadm.Config{}, false
}

// derefString is *p, or "" for nil.
func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// waitTopicConfig waits until a topic config, as described by the broker
// adm talks to, has value and source (a broker that does not know the
// topic yet is asked again).
func waitTopicConfig(ctx context.Context, t *testing.T, adm *kadm.Client, topic, name, value string, src kmsg.ConfigSource) {
	t.Helper()
	var last string
	for {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err == nil {
			var rc kadm.ResourceConfig
			if rc, err = rcs.On(topic, nil); err == nil {
				err = rc.Err
			}
			for _, c := range rc.Configs {
				if c.Key == name {
					if c.MaybeValue() == value && c.Source == src {
						return
					}
					last = fmt.Sprintf("%q from %v", c.MaybeValue(), c.Source)
				}
			}
		}
		if err != nil {
			last = err.Error()
		}
		if ctx.Err() != nil {
			t.Fatalf("%s %s: %s, want %q from %v", topic, name, last, value, src)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDynamicBrokerConfigs(t *testing.T) {
	b := brokertest.Start(t, "log.retention.check.interval.ms=100", "log.retention.hours=168")
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())
	set := func(name, value string) kadm.AlterConfig {
		return kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: strp(value)}
	}
	createTopic(ctx, t, adm, "aging", 1, map[string]*string{"segment.bytes": strp("1024")})
	createTopic(ctx, t, adm, "kept", 1, map[string]*string{"retention.ms": strp("-1")})
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	ts := make([]int64, 30)
	for i := range ts {
		ts[i] = old
	}
	produceTimestamped(ctx, t, b.Addr(), "aging", ts)
	if c := describedConfig(ctx, t, adm, "aging", "retention.ms"); c.MaybeValue() != "604800000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("retention.ms = %q from %v before any dynamic config", c.MaybeValue(), c.Source)
	}

	// A cluster-wide default reaches topics without an override, and
	// retention deletes the old segments.
	if msg, err := alterErr(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{set("log.retention.ms", "600000")})); err != nil {
		t.Fatalf("cluster-wide log.retention.ms: %v (%s)", err, msg)
	}
	waitTopicConfig(ctx, t, adm, "aging", "retention.ms", "600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	waitTopicConfig(ctx, t, adm, "kept", "retention.ms", "-1", kmsg.ConfigSourceDynamicTopicConfig)
	for {
		offs, err := adm.ListStartOffsets(ctx, "aging")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := offs.Lookup("aging", 0); o.Offset > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("old segments not deleted after a cluster-wide log.retention.ms")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c, ok := brokerConfig(ctx, t, adm, "log.retention.ms"); !ok || c.MaybeValue() != "600000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("cluster-wide log.retention.ms described as %q from %v (listed %v)", c.MaybeValue(), c.Source, ok)
	}

	// This broker's own value wins over the default; synonyms list every
	// layer in order of precedence.
	if msg, err := alterErr(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{set("log.retention.ms", "1200000")}, 0)); err != nil {
		t.Fatalf("per-broker log.retention.ms: %v (%s)", err, msg)
	}
	waitTopicConfig(ctx, t, adm, "aging", "retention.ms", "1200000", kmsg.ConfigSourceDynamicBrokerConfig)
	c, _ := brokerConfig(ctx, t, adm, "log.retention.ms", 0)
	var syn []string
	for _, s := range c.Synonyms {
		syn = append(syn, s.Key+"="+derefString(s.Value)+"@"+s.Source.String())
	}
	if want := "log.retention.ms=1200000@DYNAMIC_BROKER_CONFIG log.retention.ms=600000@DYNAMIC_DEFAULT_BROKER_CONFIG log.retention.hours=168@STATIC_BROKER_CONFIG log.retention.hours=168@DEFAULT_CONFIG"; c.Source != kmsg.ConfigSourceDynamicBrokerConfig || strings.Join(syn, " ") != want {
		t.Errorf("log.retention.ms from %v, synonyms %v, want %s", c.Source, syn, want)
	}
	topicSyn := describedConfig(ctx, t, adm, "kept", "retention.ms").Synonyms
	if len(topicSyn) < 2 || topicSyn[0].Source != kmsg.ConfigSourceDynamicTopicConfig || topicSyn[1].Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Errorf("topic retention.ms synonyms %+v, want the override then the per-broker value", topicSyn)
	}

	// Deleting it falls back to the cluster-wide default.
	if msg, err := alterErr(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.retention.ms"}}, 0)); err != nil {
		t.Fatalf("delete per-broker log.retention.ms: %v (%s)", err, msg)
	}
	waitTopicConfig(ctx, t, adm, "aging", "retention.ms", "600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)

	// Refused: read-only, unknown, bad values, unregistered brokers.
	for _, tc := range []struct {
		name   string
		op     kadm.AlterConfig
		broker []int32
		want   *kerr.Error
		msg    string
	}{
		{"read-only", set("listeners", "PLAINTEXT://127.0.0.1:1"), []int32{0}, kerr.InvalidRequest, "Cannot update these configs dynamically: listeners"},
		{"read-only default", set("node.id", "4"), nil, kerr.InvalidRequest, "node.id"},
		{"unknown", set("no.such.config", "1"), nil, kerr.InvalidConfig, "no.such.config"},
		{"bad value", set("log.retention.ms", "soon"), nil, kerr.InvalidConfig, "log.retention.ms"},
		{"out of range", set("log.cleaner.min.cleanable.ratio", "2"), []int32{0}, kerr.InvalidConfig, "log.cleaner.min.cleanable.ratio"},
	} {
		msg, err := alterErr(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{tc.op}, tc.broker...))
		if !errIs(err, tc.want) || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %v (%q), want %v mentioning %q", tc.name, err, msg, tc.want, tc.msg)
		}
	}

	// A broker that is not registered (kadm would not send it).
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
	rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	rc.Name, rc.Value = "log.retention.ms", strp("1000")
	rr.Configs = append(rr.Configs, rc)
	raw := rawRequest(t, b.Addr(), &kmsg.IncrementalAlterConfigsRequest{Resources: []kmsg.IncrementalAlterConfigsRequestResource{rr}}, 1).(*kmsg.IncrementalAlterConfigsResponse)
	if len(raw.Resources) != 1 || raw.Resources[0].ErrorCode != kerr.BrokerIDNotRegistered.Code {
		t.Errorf("unregistered broker: %+v, want BROKER_ID_NOT_REGISTERED", raw.Resources)
	}

	// validateOnly checks without changing anything.
	if msg, err := alterErr(adm.ValidateAlterBrokerConfigs(ctx, []kadm.AlterConfig{set("log.retention.ms", "1")})); err != nil {
		t.Fatalf("validate: %v (%s)", err, msg)
	}
	if _, err := alterErr(adm.ValidateAlterBrokerConfigs(ctx, []kadm.AlterConfig{set("log.retention.ms", "x")})); !errIs(err, kerr.InvalidConfig) {
		t.Errorf("validate a bad value: %v, want INVALID_CONFIG", err)
	}
	if c := describedConfig(ctx, t, adm, "aging", "retention.ms"); c.MaybeValue() != "600000" {
		t.Errorf("validateOnly changed retention.ms to %q", c.MaybeValue())
	}

	// APPEND to a list config starts from its default.
	if msg, err := alterErr(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "log.cleanup.policy", Value: strp("compact")}})); err != nil {
		t.Fatalf("append: %v (%s)", err, msg)
	}
	waitTopicConfig(ctx, t, adm, "kept", "cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicDefaultBrokerConfig)

	// The cleaner takes new settings live.
	if msg, err := alterErr(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		set("log.cleaner.io.max.bytes.per.second", "1048576"), set("log.cleaner.backoff.ms", "250"), set("log.cleaner.threads", "2"),
	}, 0)); err != nil {
		t.Fatalf("cleaner configs: %v (%s)", err, msg)
	}
	if cc := b.CleanerConfig(); cc.IOMaxBytesPerSecond != 1048576 || cc.BackoffMs != 250 || cc.Threads != 2 {
		t.Errorf("cleaner config %+v after a dynamic change", cc)
	}

	// The legacy AlterConfigs replaces the cluster-wide set.
	if msg, err := alterErr(adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "message.max.bytes", Value: strp("2000000")}})); err != nil {
		t.Fatalf("legacy alter: %v (%s)", err, msg)
	}
	waitTopicConfig(ctx, t, adm, "aging", "max.message.bytes", "2000000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	waitTopicConfig(ctx, t, adm, "aging", "retention.ms", "604800000", kmsg.ConfigSourceStaticBrokerConfig)

	// Dynamic configs survive a restart.
	b.Restart()
	adm = newAdmin(t, b.Addr())
	waitTopicConfig(ctx, t, adm, "aging", "max.message.bytes", "2000000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	if cc := b.CleanerConfig(); cc.Threads != 2 {
		t.Errorf("cleaner threads %d after a restart, want 2", cc.Threads)
	}
}

func TestDynamicBrokerConfigsCluster(t *testing.T) {
	c := brokertest.StartCluster(t, 3)
	ctx := testContext(t, 2*adminTimeout)
	adm := newAdmin(t, c.Broker(1).Addr())
	createTopic(ctx, t, adm, "everywhere", 3, nil)
	admins := []*kadm.Client{newAdmin(t, c.Broker(1).Addr()), newAdmin(t, c.Broker(2).Addr()), newAdmin(t, c.Broker(3).Addr())}

	if msg, err := alterErr(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: strp("600000")}})); err != nil {
		t.Fatalf("cluster-wide: %v (%s)", err, msg)
	}
	for _, a := range admins {
		waitTopicConfig(ctx, t, a, "everywhere", "retention.ms", "600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	}
	// Broker 2's own value, sent through broker 1, applies to broker 2
	// only.
	if msg, err := alterErr(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: strp("900000")}}, 2)); err != nil {
		t.Fatalf("broker 2: %v (%s)", err, msg)
	}
	waitTopicConfig(ctx, t, admins[1], "everywhere", "retention.ms", "900000", kmsg.ConfigSourceDynamicBrokerConfig)
	for {
		if cfg, _ := brokerConfig(ctx, t, adm, "log.retention.ms", 2); cfg.MaybeValue() == "900000" && cfg.Source == kmsg.ConfigSourceDynamicBrokerConfig {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("broker 2 does not describe its own log.retention.ms")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, i := range []int{0, 2} {
		waitTopicConfig(ctx, t, admins[i], "everywhere", "retention.ms", "600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	}
	if msg, err := alterErr(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.retention.ms"}}, 2)); err != nil {
		t.Fatalf("delete broker 2's: %v (%s)", err, msg)
	}
	waitTopicConfig(ctx, t, admins[1], "everywhere", "retention.ms", "600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
}

// groupConfigs describes a group's configs on a raw connection.
func groupConfigs(t *testing.T, addr, group string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	req.Resources = append(req.Resources, r)
	req.IncludeSynonyms = true
	resp := rawRequest(t, addr, req, 4).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe group %s: %+v", group, resp.Resources)
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

// alterGroupConfig sets (or with a nil value deletes) one group config
// and returns the resource's error.
func alterGroupConfig(t *testing.T, addr, group, name string, value *string, validateOnly bool) (int16, string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value, c.Op = name, value, kmsg.IncrementalAlterConfigOpSet
	if value == nil {
		c.Op = kmsg.IncrementalAlterConfigOpDelete
	}
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	resp := rawRequest(t, addr, req, 1).(*kmsg.IncrementalAlterConfigsResponse)
	if len(resp.Resources) != 1 {
		t.Fatalf("%d resources in the response", len(resp.Resources))
	}
	var msg string
	if resp.Resources[0].ErrorMessage != nil {
		msg = *resp.Resources[0].ErrorMessage
	}
	return resp.Resources[0].ErrorCode, msg
}

func TestGroupConfigs(t *testing.T) {
	b := brokertest.Start(t, "group.consumer.min.heartbeat.interval.ms=500")
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())
	createTopic(ctx, t, adm, "work", 2, nil)
	const group = "tuned"

	if cfgs := groupConfigs(t, b.Addr(), group); cfgs["consumer.heartbeat.interval.ms"].Source != kmsg.ConfigSourceDefaultConfig ||
		*cfgs["consumer.heartbeat.interval.ms"].Value != "5000" || *cfgs["consumer.session.timeout.ms"].Value != "45000" {
		t.Fatalf("default group configs %+v", cfgs)
	}
	for _, tc := range []struct {
		name, value string
		want        *kerr.Error
	}{
		{"consumer.heartbeat.interval.ms", "100", kerr.InvalidConfig}, // below group.consumer.min.heartbeat.interval.ms
		{"consumer.session.timeout.ms", "1000", kerr.InvalidConfig},   // below group.consumer.min.session.timeout.ms
		{"consumer.rebalance.magic", "1", kerr.InvalidConfig},
	} {
		if code, msg := alterGroupConfig(t, b.Addr(), group, tc.name, strp(tc.value), false); code != tc.want.Code || !strings.Contains(msg, tc.name) {
			t.Errorf("%s=%s: %v (%q), want %v", tc.name, tc.value, kerr.ErrorForCode(code), msg, tc.want)
		}
	}
	if code, msg := alterGroupConfig(t, b.Addr(), group, "consumer.heartbeat.interval.ms", strp("700"), true); code != 0 {
		t.Fatalf("validateOnly: %v (%s)", kerr.ErrorForCode(code), msg)
	}
	if c := groupConfigs(t, b.Addr(), group)["consumer.heartbeat.interval.ms"]; c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("validateOnly changed the group config: %+v", c)
	}
	if code, msg := alterGroupConfig(t, b.Addr(), group, "consumer.heartbeat.interval.ms", strp("1000"), false); code != 0 {
		t.Fatalf("set: %v (%s)", kerr.ErrorForCode(code), msg)
	}
	c := groupConfigs(t, b.Addr(), group)["consumer.heartbeat.interval.ms"]
	if *c.Value != "1000" || c.Source != kmsg.ConfigSourceGroupConfig || len(c.ConfigSynonyms) < 2 ||
		c.ConfigSynonyms[1].Name != "group.consumer.heartbeat.interval.ms" {
		t.Errorf("consumer.heartbeat.interval.ms described as %+v", c)
	}

	// A KIP-848 member is told the group's interval, and a change at its
	// next heartbeat. Finding the coordinator creates __consumer_offsets.
	for {
		err := adm.FindGroupCoordinators(ctx, group).Error()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("find coordinator: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberEpoch, hb.RebalanceTimeoutMillis = group, 0, 30000
	hb.SubscribedTopicNames, hb.Topics = []string{"work"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	heartbeat := func() *kmsg.ConsumerGroupHeartbeatResponse {
		t.Helper()
		for {
			resp := rawRequest(t, b.Addr(), hb, 0).(*kmsg.ConsumerGroupHeartbeatResponse)
			err := kerr.ErrorForCode(resp.ErrorCode)
			if err == nil {
				return resp
			}
			if !kerr.IsRetriable(err) || ctx.Err() != nil {
				t.Fatalf("heartbeat: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	resp := heartbeat()
	if resp.HeartbeatIntervalMillis != 1000 {
		t.Errorf("heartbeat interval %d, want the group's 1000", resp.HeartbeatIntervalMillis)
	}
	hb.MemberID, hb.MemberEpoch = *resp.MemberID, resp.MemberEpoch
	hb.SubscribedTopicNames, hb.Topics, hb.RebalanceTimeoutMillis = nil, nil, -1
	if code, msg := alterGroupConfig(t, b.Addr(), group, "consumer.heartbeat.interval.ms", strp("2000"), false); code != 0 {
		t.Fatalf("change: %v (%s)", kerr.ErrorForCode(code), msg)
	}
	if resp := heartbeat(); resp.HeartbeatIntervalMillis != 2000 {
		t.Errorf("heartbeat interval %d after the change, want 2000", resp.HeartbeatIntervalMillis)
	}
	if code, msg := alterGroupConfig(t, b.Addr(), group, "consumer.heartbeat.interval.ms", nil, false); code != 0 {
		t.Fatalf("delete: %v (%s)", kerr.ErrorForCode(code), msg)
	}
	if resp := heartbeat(); resp.HeartbeatIntervalMillis != 5000 {
		t.Errorf("heartbeat interval %d after deleting the group config, want 5000", resp.HeartbeatIntervalMillis)
	}
}
