package broker_test

// Admin API tests: franz-go's kadm, and raw kmsg requests (through kgo, or
// on a raw connection where a test needs a particular version), against an
// in-process broker. Each test starts its own broker.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/brokertest"
	"github.com/samsa-io/samsa/internal/config"
)

// adminTimeout bounds each test; it only has to be long enough for a
// loaded CI machine.
const adminTimeout = 60 * time.Second

func strp(s string) *string { return &s }

// createTopic creates a topic with kadm and fails the test on any error.
func createTopic(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, -1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v (%s)", topic, err, resp.ErrMessage)
	}
	return resp
}

// rawRequest sends req at version v on a new raw connection.
func rawRequest(t *testing.T, addr string, req kmsg.Request, v int16) kmsg.Response {
	t.Helper()
	nc := dialRaw(t, addr)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(adminTimeout))
	req.SetVersion(v)
	resp, err := roundTrip(nc, req, 7)
	if err != nil {
		t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), v, err)
	}
	return resp
}

// produceTimestamped produces one record per batch (synchronously) to
// partition 0 of an empty topic with the given timestamps, checking each
// gets the next offset. The producer is idempotent (kgo's default), so this
// also goes through InitProducerId.
func produceTimestamped(ctx context.Context, t *testing.T, addr, topic string, ts []int64) {
	t.Helper()
	cl := newKgo(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	for i, ms := range ts {
		r := &kgo.Record{Value: fmt.Appendf(nil, "record %d", i), Timestamp: time.UnixMilli(ms)}
		res, err := cl.ProduceSync(ctx, r).First()
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if res.Offset != int64(i) {
			t.Fatalf("record %d got offset %d", i, res.Offset)
		}
	}
	cl.Close()
}

func errIs(err error, want *kerr.Error) bool { return errors.Is(err, want) }

// TestAdminApiVersionsListsAdminAPIs checks every admin API is advertised
// at the versions handled.
func TestAdminApiVersionsListsAdminAPIs(t *testing.T) {
	b := brokertest.Start(t)
	resp := rawRequest(t, b.Addr(), kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse)
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	for key, want := range map[kmsg.Key][2]int16{
		kmsg.ListOffsets: {0, 10}, kmsg.CreateTopics: {0, 7}, kmsg.DeleteTopics: {0, 6},
		kmsg.DeleteRecords: {0, 2}, kmsg.InitProducerID: {0, 5}, kmsg.OffsetForLeaderEpoch: {0, 4},
		kmsg.DescribeConfigs: {0, 4}, kmsg.AlterConfigs: {0, 2}, kmsg.DescribeLogDirs: {0, 4},
		kmsg.CreatePartitions: {0, 3}, kmsg.IncrementalAlterConfigs: {0, 1}, kmsg.DescribeCluster: {0, 2},
	} {
		if got[int16(key)] != want {
			t.Errorf("%s advertised as %v, want %v", kmsg.NameForKey(int16(key)), got[int16(key)], want)
		}
	}
}

func TestAdminCreateTopics(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())

	resp := createTopic(ctx, t, adm, "orders", 3, map[string]*string{"retention.ms": strp("3600000"), "cleanup.policy": strp("compact")})
	if resp.ID == (kadm.TopicID{}) || resp.NumPartitions != 3 || resp.ReplicationFactor != 1 {
		t.Errorf("create response: id %v, %d partitions, replication %d; want an id, 3, 1", resp.ID, resp.NumPartitions, resp.ReplicationFactor)
	}
	if c := resp.Configs["retention.ms"]; c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("create response retention.ms = %q from %v, want 3600000 from DYNAMIC_TOPIC_CONFIG", c.MaybeValue(), c.Source)
	}
	if c := resp.Configs["segment.bytes"]; c.MaybeValue() != "1073741824" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("create response segment.bytes = %q from %v, want the default", c.MaybeValue(), c.Source)
	}
	if len(resp.Configs) != len(config.TopicDefs) {
		t.Errorf("create response lists %d configs, want all %d", len(resp.Configs), len(config.TopicDefs))
	}
	tds, err := adm.ListTopics(ctx, "orders")
	if err != nil || tds["orders"].Err != nil || len(tds["orders"].Partitions) != 3 || tds["orders"].ID != resp.ID {
		t.Errorf("metadata of orders: %v %+v", err, tds["orders"])
	}

	// validate_only creates nothing.
	vr, err := adm.ValidateCreateTopics(ctx, 2, -1, nil, "dry-run")
	if err != nil || vr["dry-run"].Err != nil || vr["dry-run"].NumPartitions != 2 {
		t.Errorf("validate-only create: %v %+v", err, vr["dry-run"])
	}
	if tds, err := adm.ListTopics(ctx); err != nil || tds.Has("dry-run") {
		t.Errorf("validate-only create made the topic (err %v)", err)
	}

	for _, tc := range []struct {
		name        string
		topic       string
		partitions  int32
		replication int16
		configs     map[string]*string
		want        *kerr.Error
		msg         string // a substring of the error message
	}{
		{"duplicate", "orders", 1, -1, nil, kerr.TopicAlreadyExists, "orders"},
		{"bad name", "bad/name", 1, -1, nil, kerr.InvalidTopicException, "bad/name"},
		{"name too long", strings.Repeat("x", 250), 1, -1, nil, kerr.InvalidTopicException, "249"},
		{"bad config value", "badcfg", 1, -1, map[string]*string{"retention.ms": strp("soon")}, kerr.InvalidConfig, "retention.ms"},
		{"unknown config", "badcfg", 1, -1, map[string]*string{"retention.msec": strp("1")}, kerr.InvalidConfig, "retention.msec"},
		{"out of range", "badcfg", 1, -1, map[string]*string{"min.insync.replicas": strp("0")}, kerr.InvalidConfig, "min.insync.replicas"},
		{"zero partitions", "zero", 0, -1, nil, kerr.InvalidPartitions, "non-positive"},
		{"replication 3", "rf3", 1, 3, nil, kerr.InvalidReplicationFactor, ""},
		{"replication 0", "rf0", 1, 0, nil, kerr.InvalidReplicationFactor, "non-positive"},
	} {
		resp, err := adm.CreateTopic(ctx, tc.partitions, tc.replication, tc.configs, tc.topic)
		if err == nil {
			err = resp.Err
		}
		if !errIs(err, tc.want) || !strings.Contains(resp.ErrMessage, tc.msg) {
			t.Errorf("%s: error %v (%q), want %v mentioning %q", tc.name, err, resp.ErrMessage, tc.want, tc.msg)
		}
	}

	// -1 partitions and replication take num.partitions and
	// default.replication.factor.
	resp = createTopic(ctx, t, adm, "defaults", -1, nil)
	if resp.NumPartitions != 1 || resp.ReplicationFactor != 1 {
		t.Errorf("defaults: %d partitions, replication %d", resp.NumPartitions, resp.ReplicationFactor)
	}
}

func TestAdminCreateTopicsRaw(t *testing.T) {
	b := brokertest.Start(t, "node.id=3")
	req := func(topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsRequest {
		r := kmsg.NewPtrCreateTopicsRequest()
		r.TimeoutMillis = 10_000
		r.Topics = topics
		return r
	}
	topic := func(name string, partitions int32, replication int16, assignment ...[]int32) kmsg.CreateTopicsRequestTopic {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, replication
		for i, a := range assignment {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = int32(i), a
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
		}
		return rt
	}
	resp := rawRequest(t, b.Addr(), req(
		topic("manual", -1, -1, []int32{3}, []int32{3}),
		topic("elsewhere", -1, -1, []int32{4}),
		topic("twice", -1, -1, []int32{3, 3}),
		topic("mixed", 2, -1, []int32{3}),
		topic("dup", 1, -1), topic("dup", 1, -1),
	), 7).(*kmsg.CreateTopicsResponse)
	got := map[string]kmsg.CreateTopicsResponseTopic{}
	for _, st := range resp.Topics {
		if _, seen := got[st.Topic]; seen {
			t.Errorf("topic %s answered twice", st.Topic)
		}
		got[st.Topic] = st
	}
	if st := got["manual"]; st.ErrorCode != 0 || st.NumPartitions != 2 || st.ReplicationFactor != 1 || st.TopicID == [16]byte{} {
		t.Errorf("manual assignment on this node: %+v", st)
	}
	for name, want := range map[string]*kerr.Error{
		"elsewhere": kerr.InvalidReplicaAssignment,
		"twice":     kerr.InvalidReplicaAssignment,
		"mixed":     kerr.InvalidRequest,
		"dup":       kerr.InvalidRequest,
	} {
		if st := got[name]; st.ErrorCode != want.Code || st.ErrorMessage == nil {
			t.Errorf("%s: error %v (message %v), want %v with a message", name, kerr.ErrorForCode(st.ErrorCode), st.ErrorMessage, want)
		}
	}

	// v4 (not flexible, no configs in the response) still creates.
	resp4 := rawRequest(t, b.Addr(), req(topic("old-client", 2, 1)), 4).(*kmsg.CreateTopicsResponse)
	if len(resp4.Topics) != 1 || resp4.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics v4: %+v", resp4.Topics)
	}
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = strp("old-client")
	md.Topics = append(md.Topics, mt)
	mr := rawRequest(t, b.Addr(), md, 12).(*kmsg.MetadataResponse)
	if len(mr.Topics) != 1 || mr.Topics[0].ErrorCode != 0 || len(mr.Topics[0].Partitions) != 2 {
		t.Errorf("metadata after CreateTopics v4: %+v", mr.Topics)
	}
}

func TestAdminDescribeConfigs(t *testing.T) {
	b := brokertest.Start(t, "log.retention.hours=24", "num.partitions=2")
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())
	createTopic(ctx, t, adm, "described", 1, map[string]*string{"retention.bytes": strp("100000")})

	rcs, err := adm.DescribeTopicConfigs(ctx, "described")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("described", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe described: %v %v", err, rc.Err)
	}
	byName := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		byName[c.Key] = c
	}
	for i := range config.TopicDefs {
		if _, ok := byName[config.TopicDefs[i].Name]; !ok {
			t.Errorf("topic config %s not described", config.TopicDefs[i].Name)
		}
	}
	if len(byName) != len(config.TopicDefs) {
		t.Errorf("%d configs described, want %d", len(byName), len(config.TopicDefs))
	}
	check := func(name, value string, src kmsg.ConfigSource, synonyms ...string) {
		t.Helper()
		c := byName[name]
		if c.MaybeValue() != value || c.Source != src || c.Sensitive {
			t.Errorf("%s = %q from %v (sensitive %v), want %q from %v", name, c.MaybeValue(), c.Source, c.Sensitive, value, src)
		}
		var got []string
		for _, s := range c.Synonyms {
			got = append(got, fmt.Sprintf("%v:%s=%s", s.Source, s.Key, *s.Value))
		}
		if !slices.Equal(got, synonyms) {
			t.Errorf("%s synonyms %q, want %q", name, got, synonyms)
		}
	}
	check("retention.bytes", "100000", kmsg.ConfigSourceDynamicTopicConfig,
		"DYNAMIC_TOPIC_CONFIG:retention.bytes=100000", "DEFAULT_CONFIG:log.retention.bytes=-1")
	check("retention.ms", "86400000", kmsg.ConfigSourceStaticBrokerConfig,
		"STATIC_BROKER_CONFIG:log.retention.hours=24", "DEFAULT_CONFIG:log.retention.hours=168")
	check("max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig,
		"DEFAULT_CONFIG:message.max.bytes=1048588")

	// Named configs filter; unknown names are simply absent. Types come
	// with v3.
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "described"
	rr.ConfigNames = []string{"segment.bytes", "cleanup.policy", "no.such.config"}
	req.Resources = append(req.Resources, rr)
	req.IncludeDocumentation = true
	resp := rawRequest(t, b.Addr(), req, 4).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 || len(resp.Resources[0].Configs) != 2 {
		t.Fatalf("filtered describe: %+v", resp.Resources)
	}
	for _, c := range resp.Resources[0].Configs {
		want := map[string]kmsg.ConfigType{"segment.bytes": kmsg.ConfigTypeInt, "cleanup.policy": kmsg.ConfigTypeList}[c.Name]
		if c.ConfigType != want || c.ReadOnly {
			t.Errorf("%s: type %v read-only %v, want %v, false", c.Name, c.ConfigType, c.ReadOnly, want)
		}
	}

	// v0 reports is_default instead of a source.
	req.Resources[0].ConfigNames = []string{"segment.bytes", "retention.bytes"}
	resp0 := rawRequest(t, b.Addr(), req, 0).(*kmsg.DescribeConfigsResponse)
	if len(resp0.Resources) != 1 || len(resp0.Resources[0].Configs) != 2 {
		t.Fatalf("v0 describe: %+v", resp0.Resources)
	}
	for _, c := range resp0.Resources[0].Configs {
		if c.IsDefault != (c.Name == "segment.bytes") {
			t.Errorf("v0 %s is_default %v", c.Name, c.IsDefault)
		}
	}

	// Unknown topic, bad name.
	rcs, err = adm.DescribeTopicConfigs(ctx, "no-such-topic", "bad/name")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]*kerr.Error{"no-such-topic": kerr.UnknownTopicOrPartition, "bad/name": kerr.InvalidTopicException} {
		if rc, _ := rcs.On(name, nil); !errIs(rc.Err, want) {
			t.Errorf("describe %s: %v, want %v", name, rc.Err, want)
		}
	}

	// Broker configs: this node's id only, every property read-only.
	bcs, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bcs.On("0", nil)
	if err != nil || bc.Err != nil {
		t.Fatalf("describe broker 0: %v %v", err, bc.Err)
	}
	if len(bc.Configs) != len(config.BrokerDefs) {
		t.Errorf("%d broker configs described, want %d", len(bc.Configs), len(config.BrokerDefs))
	}
	for _, c := range bc.Configs {
		switch c.Key {
		case "log.retention.hours":
			if c.MaybeValue() != "24" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
				t.Errorf("log.retention.hours = %q from %v", c.MaybeValue(), c.Source)
			}
		case "delete.topic.enable":
			if c.MaybeValue() != "true" || c.Source != kmsg.ConfigSourceDefaultConfig {
				t.Errorf("delete.topic.enable = %q from %v", c.MaybeValue(), c.Source)
			}
		case "log.retention.ms":
			if c.Value != nil {
				t.Errorf("unset log.retention.ms has value %q, want null", *c.Value)
			}
		}
	}
	breq := kmsg.NewPtrDescribeConfigsRequest()
	for _, name := range []string{"0", "", "5", "zero"} {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, name
		breq.Resources = append(breq.Resources, r)
	}
	bresp := rawRequest(t, b.Addr(), breq, 4).(*kmsg.DescribeConfigsResponse)
	for _, res := range bresp.Resources {
		var configs int
		for _, c := range res.Configs {
			if c.ReadOnly != !config.IsDynamicBrokerProp(c.Name) {
				t.Errorf("broker config %s: read-only %v", c.Name, c.ReadOnly)
			}
			configs++
		}
		switch res.ResourceName {
		case "0":
			if res.ErrorCode != 0 || configs == 0 {
				t.Errorf("broker 0: error %d, %d configs", res.ErrorCode, configs)
			}
		case "":
			// Kafka's cluster-wide dynamic defaults: none set.
			if res.ErrorCode != 0 || configs != 0 {
				t.Errorf("broker \"\": error %d, %d configs, want none", res.ErrorCode, configs)
			}
		default:
			if res.ErrorCode != kerr.InvalidRequest.Code {
				t.Errorf("broker %q: error %v, want INVALID_REQUEST", res.ResourceName, kerr.ErrorForCode(res.ErrorCode))
			}
		}
	}
}

// describedConfig returns one topic config as described.
func describedConfig(ctx context.Context, t *testing.T, adm *kadm.Client, topic, name string) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c
		}
	}
	t.Fatalf("%s: config %s not described", topic, name)
	return kadm.Config{}
}

func alterErr(resps kadm.AlterConfigsResponses, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if len(resps) != 1 {
		return "", fmt.Errorf("%d responses", len(resps))
	}
	return resps[0].ErrMessage, resps[0].Err
}

func TestAdminIncrementalAlterConfigs(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())
	const topic = "altered"
	createTopic(ctx, t, adm, topic, 1, nil)

	set := func(name, value string) kadm.AlterConfig {
		return kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: strp(value)}
	}
	if msg, err := alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		set("max.message.bytes", "2000"),
		set("segment.bytes", "1024"),
	}, topic)); err != nil {
		t.Fatalf("alter: %v (%s)", err, msg)
	}
	if c := describedConfig(ctx, t, adm, topic, "max.message.bytes"); c.MaybeValue() != "2000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("max.message.bytes = %q from %v after SET", c.MaybeValue(), c.Source)
	}

	// Applied live: produce validation uses the new max.message.bytes,
	// and the log rolls at the new segment.bytes.
	nc := dialRaw(t, b.Addr())
	if pr := produceRaw(t, nc, topic, goodBatch(t, 200), 1); pr.ErrorCode != kerr.MessageTooLarge.Code {
		t.Errorf("a 200-record batch after max.message.bytes=2000: error %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(pr.ErrorCode))
	}
	for i := range 10 {
		if pr := produceRaw(t, nc, topic, goodBatch(t, 20), int32(2+i)); pr.ErrorCode != 0 {
			t.Fatalf("produce %d: %v", i, kerr.ErrorForCode(pr.ErrorCode))
		}
	}
	if segs := segmentFiles(t, filepath.Join(b.Dir, topic+"-0")); len(segs) < 3 {
		t.Errorf("%d segments after 10 batches of ~600 bytes with segment.bytes=1024, want >= 3: %v", len(segs), segs)
	}

	// APPEND to a list starts from the default when there is no override.
	if msg, err := alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: strp("compact")},
	}, topic)); err != nil {
		t.Fatalf("append: %v (%s)", err, msg)
	}
	if c := describedConfig(ctx, t, adm, topic, "cleanup.policy"); c.MaybeValue() != "delete,compact" {
		t.Errorf("cleanup.policy = %q after APPEND compact, want delete,compact", c.MaybeValue())
	}

	// validate_only changes nothing; bad values and ops name the config.
	if msg, err := alterErr(adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{set("max.message.bytes", "3000")}, topic)); err != nil {
		t.Errorf("validate-only alter: %v (%s)", err, msg)
	}
	if c := describedConfig(ctx, t, adm, topic, "max.message.bytes"); c.MaybeValue() != "2000" {
		t.Errorf("validate-only alter changed max.message.bytes to %q", c.MaybeValue())
	}
	for _, tc := range []struct {
		name  string
		op    kadm.AlterConfig
		topic string
		want  *kerr.Error
		msg   string
	}{
		{"bad value", set("retention.ms", "later"), topic, kerr.InvalidConfig, "retention.ms"},
		{"unknown config", set("retention.minutes", "1"), topic, kerr.InvalidConfig, "retention.minutes"},
		{"append to non-list", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "retention.ms", Value: strp("1")}, topic, kerr.InvalidConfig, "retention.ms"},
		{"bad list element", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: strp("shred")}, topic, kerr.InvalidConfig, "cleanup.policy"},
		{"unknown topic", set("retention.ms", "1000"), "no-such-topic", kerr.UnknownTopicOrPartition, ""},
	} {
		msg, err := alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{tc.op}, tc.topic))
		if !errIs(err, tc.want) || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %v (%q), want %v mentioning %q", tc.name, err, msg, tc.want, tc.msg)
		}
	}

	// DELETE goes back to the default; SUBTRACT removes a list element.
	if msg, err := alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.DeleteConfig, Name: "max.message.bytes"},
		{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: strp("delete")},
	}, topic)); err != nil {
		t.Fatalf("delete/subtract: %v (%s)", err, msg)
	}
	if c := describedConfig(ctx, t, adm, topic, "max.message.bytes"); c.MaybeValue() != "1048588" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("max.message.bytes = %q from %v after DELETE", c.MaybeValue(), c.Source)
	}

	// Broker resources: a read-only broker config is refused.
	if msg, err := alterErr(adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{set("log.dirs", "/elsewhere")}, 0)); !errIs(err, kerr.InvalidRequest) || !strings.Contains(msg, "Cannot update these configs dynamically") {
		t.Errorf("alter broker config: %v (%q), want INVALID_REQUEST: Cannot update these configs dynamically", err, msg)
	}

	// Raw: a config named twice, a null SET value.
	for _, name := range []string{"dupkeys", "nullvalue"} {
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", strp("1000")
		rr.Configs = append(rr.Configs, c)
		if name == "dupkeys" {
			rr.Configs = append(rr.Configs, c)
		} else {
			rr.Configs[0].Value = nil
		}
		rawResp := rawRequest(t, b.Addr(), &kmsg.IncrementalAlterConfigsRequest{Resources: []kmsg.IncrementalAlterConfigsRequestResource{rr}}, 1).(*kmsg.IncrementalAlterConfigsResponse)
		if len(rawResp.Resources) != 1 || rawResp.Resources[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("%s: %+v, want INVALID_REQUEST", name, rawResp.Resources)
		}
	}

	// The override survives a restart.
	b.Restart()
	adm = newAdmin(t, b.Addr())
	if c := describedConfig(ctx, t, adm, topic, "cleanup.policy"); c.MaybeValue() != "compact" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("after restart cleanup.policy = %q from %v, want compact from DYNAMIC_TOPIC_CONFIG", c.MaybeValue(), c.Source)
	}
	if c := describedConfig(ctx, t, adm, topic, "segment.bytes"); c.MaybeValue() != "1024" {
		t.Errorf("after restart segment.bytes = %q, want 1024", c.MaybeValue())
	}
}

func TestAdminAlterConfigsReplacesOverrides(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())
	const topic = "replaced"
	createTopic(ctx, t, adm, topic, 1, map[string]*string{"retention.bytes": strp("100000"), "max.message.bytes": strp("5000")})

	if msg, err := alterErr(adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: strp("600000")}}, topic)); err != nil {
		t.Fatalf("legacy alter: %v (%s)", err, msg)
	}
	if c := describedConfig(ctx, t, adm, topic, "segment.ms"); c.MaybeValue() != "600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("segment.ms = %q from %v", c.MaybeValue(), c.Source)
	}
	// Left out of the request: back to the default.
	if c := describedConfig(ctx, t, adm, topic, "retention.bytes"); c.MaybeValue() != "-1" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.bytes = %q from %v, want the default after a legacy alter without it", c.MaybeValue(), c.Source)
	}
	if _, err := alterErr(adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: strp("0")}}, topic)); !errIs(err, kerr.InvalidConfig) {
		t.Errorf("segment.ms=0: %v, want INVALID_CONFIG", err)
	}
	if _, err := alterErr(adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: strp("3")}}, 0)); !errIs(err, kerr.InvalidRequest) {
		t.Errorf("legacy alter of a broker: %v, want INVALID_REQUEST", err)
	}

	// The same resource twice: both rejected.
	req := kmsg.NewPtrAlterConfigsRequest()
	for range 2 {
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		req.Resources = append(req.Resources, rr)
	}
	resp := rawRequest(t, b.Addr(), req, 1).(*kmsg.AlterConfigsResponse)
	if len(resp.Resources) != 2 || resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code || resp.Resources[1].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("duplicate resource: %+v", resp.Resources)
	}
	if c := describedConfig(ctx, t, adm, topic, "segment.ms"); c.MaybeValue() != "600000" {
		t.Errorf("rejected request changed segment.ms to %q", c.MaybeValue())
	}
}

func TestAdminCreatePartitions(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())
	const topic = "growing"
	createTopic(ctx, t, adm, topic, 1, nil)

	partitions := func() int {
		t.Helper()
		tds, err := adm.ListTopics(ctx, topic)
		if err != nil || tds[topic].Err != nil {
			t.Fatalf("metadata: %v %v", err, tds[topic].Err)
		}
		return len(tds[topic].Partitions)
	}
	if resp, err := adm.ValidateUpdatePartitions(ctx, 3, topic); err != nil || resp[topic].Err != nil {
		t.Fatalf("validate-only: %v %+v", err, resp[topic])
	}
	if n := partitions(); n != 1 {
		t.Fatalf("validate-only create partitions left %d partitions, want 1", n)
	}
	if resp, err := adm.UpdatePartitions(ctx, 3, topic); err != nil || resp[topic].Err != nil {
		t.Fatalf("grow to 3: %v %+v", err, resp[topic])
	}
	if n := partitions(); n != 3 {
		t.Fatalf("%d partitions after growing to 3", n)
	}
	// The new partition takes records.
	cl := newKgo(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 2, Value: []byte("new partition")}).FirstErr(); err != nil {
		t.Fatalf("produce to the new partition: %v", err)
	}

	for _, tc := range []struct {
		count int
		msg   string
	}{
		{2, "The topic growing currently has 3 partition(s); 2 would not be an increase."},
		{3, "Topic already has 3 partition(s)."},
	} {
		resp, err := adm.UpdatePartitions(ctx, tc.count, topic)
		if err != nil || !errIs(resp[topic].Err, kerr.InvalidPartitions) || resp[topic].ErrMessage != tc.msg {
			t.Errorf("update to %d: %v %v %q, want INVALID_PARTITIONS %q", tc.count, err, resp[topic].Err, resp[topic].ErrMessage, tc.msg)
		}
	}
	if resp, err := adm.UpdatePartitions(ctx, 2, "no-such-topic"); err != nil || !errIs(resp["no-such-topic"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown topic: %v %+v", err, resp["no-such-topic"])
	}

	// Manual assignments: this node or nothing (the refused one first, or
	// the count would no longer be an increase).
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 10_000
	for _, replicas := range [][]int32{{1}, {0}} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, 4
		rt.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: replicas}}
		req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
		resp := rawRequest(t, b.Addr(), req, 3).(*kmsg.CreatePartitionsResponse)
		want := int16(0)
		if replicas[0] != 0 {
			want = kerr.InvalidReplicaAssignment.Code
		}
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != want {
			t.Errorf("assignment %v: %+v, want error %v", replicas, resp.Topics, kerr.ErrorForCode(want))
		}
	}
	if n := partitions(); n != 4 {
		t.Fatalf("%d partitions after a manual assignment to 4", n)
	}

	b.Restart()
	adm = newAdmin(t, b.Addr())
	if n := partitions(); n != 4 {
		t.Errorf("%d partitions after restart, want 4", n)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := ends.Lookup(topic, 2); !ok || o.Offset != 1 {
		t.Errorf("end offset of partition 2 after restart: %+v, want 1", o)
	}
}

func TestAdminListOffsetsAndDeleteRecords(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())
	const topic = "offsets"
	createTopic(ctx, t, adm, topic, 1, nil)

	// Ten records a second apart, except record 6, the newest of all.
	base := time.Now().Add(-time.Hour).UnixMilli()
	ts := make([]int64, 10)
	for i := range ts {
		ts[i] = base + int64(i)*1000
	}
	ts[6] = base + 30_000
	produceTimestamped(ctx, t, b.Addr(), topic, ts)

	lookup := func(lo kadm.ListedOffsets, err error) kadm.ListedOffset {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		o, ok := lo.Lookup(topic, 0)
		if !ok || o.Err != nil {
			t.Fatalf("no offset for %s-0: %+v", topic, o)
		}
		return o
	}
	if o := lookup(adm.ListStartOffsets(ctx, topic)); o.Offset != 0 {
		t.Errorf("start offset %d, want 0", o.Offset)
	}
	if o := lookup(adm.ListEndOffsets(ctx, topic)); o.Offset != 10 || o.LeaderEpoch != 0 {
		t.Errorf("end offset %d epoch %d, want 10, 0", o.Offset, o.LeaderEpoch)
	}
	if o := lookup(adm.ListOffsetsAfterMilli(ctx, base+3500, topic)); o.Offset != 4 || o.Timestamp != base+4000 {
		t.Errorf("offset after %d: %d at %d, want 4 at %d", base+3500, o.Offset, o.Timestamp, base+4000)
	}
	if o := lookup(adm.ListOffsetsAfterMilli(ctx, base+10_000, topic)); o.Offset != 6 || o.Timestamp != base+30_000 {
		t.Errorf("offset after %d: %d at %d, want 6 (the only later record)", base+10_000, o.Offset, o.Timestamp)
	}
	if o := lookup(adm.ListMaxTimestampOffsets(ctx, topic)); o.Offset != 6 || o.Timestamp != base+30_000 {
		t.Errorf("max timestamp offset %d at %d, want 6 at %d", o.Offset, o.Timestamp, base+30_000)
	}

	// Raw requests for what kadm hides.
	listReq := func(timestamp int64, epoch int32) *kmsg.ListOffsetsRequest {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch, rp.MaxNumOffsets = timestamp, epoch, 5
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	list := func(timestamp int64, epoch int32, v int16) kmsg.ListOffsetsResponseTopicPartition {
		t.Helper()
		resp := rawRequest(t, b.Addr(), listReq(timestamp, epoch), v).(*kmsg.ListOffsetsResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("ListOffsets v%d: %+v", v, resp.Topics)
		}
		return resp.Topics[0].Partitions[0]
	}
	for _, tc := range []struct {
		name      string
		timestamp int64
		epoch     int32
		v         int16
		err       *kerr.Error
		offset    int64
	}{
		{"after every record", base + 60_000, -1, 10, nil, -1},
		{"newer leader epoch", -1, 1, 10, kerr.UnknownLeaderEpoch, -1},
		{"older leader epoch", -1, -2, 10, kerr.FencedLeaderEpoch, -1},
		{"current leader epoch", -1, 0, 10, nil, 10},
		{"max timestamp before v7", -3, -1, 6, kerr.UnsupportedVersion, -1},
		{"earliest local", -4, -1, 8, nil, 0},
		{"latest tiered", -5, -1, 9, nil, -1},
		{"pending upload", -6, -1, 10, kerr.UnsupportedVersion, -1},
		{"earliest v1", -2, -1, 1, nil, 0},
	} {
		p := list(tc.timestamp, tc.epoch, tc.v)
		if kerr.ErrorForCode(p.ErrorCode) != errOrNil(tc.err) || p.Offset != tc.offset {
			t.Errorf("%s: error %v offset %d, want %v, %d", tc.name, kerr.ErrorForCode(p.ErrorCode), p.Offset, errOrNil(tc.err), tc.offset)
		}
	}
	if p := list(-1, -1, 0); !slices.Equal(p.OldStyleOffsets, []int64{10, 0}) {
		t.Errorf("v0 latest: %v, want [10 0]", p.OldStyleOffsets)
	}
	dupReq := listReq(-1, -1)
	dupReq.Topics[0].Partitions = append(dupReq.Topics[0].Partitions, dupReq.Topics[0].Partitions[0])
	for _, p := range rawRequest(t, b.Addr(), dupReq, 10).(*kmsg.ListOffsetsResponse).Topics[0].Partitions {
		if p.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("partition listed twice: %v, want INVALID_REQUEST", kerr.ErrorForCode(p.ErrorCode))
		}
	}

	// DeleteRecords moves the low watermark.
	deleteTo := func(offset int64) kadm.DeleteRecordsResponse {
		t.Helper()
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: offset})
		resps, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := resps.Lookup(topic, 0)
		if !ok {
			t.Fatalf("no DeleteRecords response for %s-0", topic)
		}
		return r
	}
	if r := deleteTo(4); r.Err != nil || r.LowWatermark != 4 {
		t.Errorf("delete before 4: %v, low watermark %d", r.Err, r.LowWatermark)
	}
	if o := lookup(adm.ListStartOffsets(ctx, topic)); o.Offset != 4 {
		t.Errorf("start offset %d after deleting before 4", o.Offset)
	}
	if r := deleteTo(2); r.Err != nil || r.LowWatermark != 4 {
		t.Errorf("delete before 2 (already deleted): %v, low watermark %d, want 4", r.Err, r.LowWatermark)
	}
	if r := deleteTo(11); !errIs(r.Err, kerr.OffsetOutOfRange) {
		t.Errorf("delete beyond the high watermark: %v, want OFFSET_OUT_OF_RANGE", r.Err)
	}
	if r := deleteTo(-1); r.Err != nil || r.LowWatermark != 10 {
		t.Errorf("delete to the high watermark: %v, low watermark %d, want 10", r.Err, r.LowWatermark)
	}
	if o := lookup(adm.ListStartOffsets(ctx, topic)); o.Offset != 10 {
		t.Errorf("start offset %d after deleting everything", o.Offset)
	}
	if p := list(-1, -1, 0); !slices.Equal(p.OldStyleOffsets, []int64{10}) {
		t.Errorf("v0 latest of an emptied log: %v, want [10]", p.OldStyleOffsets)
	}

	// A compacted topic keeps its records.
	createTopic(ctx, t, adm, "compacted", 1, map[string]*string{"cleanup.policy": strp("compact")})
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "compacted", Partition: 0, At: 0})
	resps, err := adm.DeleteRecords(ctx, os)
	if r, _ := resps.Lookup("compacted", 0); err != nil || !errIs(r.Err, kerr.PolicyViolation) {
		t.Errorf("delete records of a compacted topic: %v %v, want POLICY_VIOLATION", err, r.Err)
	}
}

// errOrNil makes a nil *kerr.Error compare equal to kerr.ErrorForCode(0).
func errOrNil(e *kerr.Error) error {
	if e == nil {
		return nil
	}
	return e
}

func TestAdminOffsetForLeaderEpoch(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())
	const topic = "epochs"
	createTopic(ctx, t, adm, topic, 1, nil)

	endOf := func(epoch int32) kadm.OffsetForLeaderEpoch {
		t.Helper()
		var req kadm.OffsetForLeaderEpochRequest
		req.Add(topic, 0, epoch)
		resps, err := adm.OffsetForLeaderEpoch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := resps[topic][0]
		if !ok || r.Err != nil {
			t.Fatalf("OffsetForLeaderEpoch %s-0: %+v", topic, r)
		}
		return r
	}
	if r := endOf(0); r.LeaderEpoch != 0 || r.EndOffset != 0 {
		t.Errorf("empty log, epoch 0: epoch %d end %d, want 0, 0", r.LeaderEpoch, r.EndOffset)
	}
	produceTimestamped(ctx, t, b.Addr(), topic, []int64{time.Now().UnixMilli(), time.Now().UnixMilli()})
	if r := endOf(0); r.LeaderEpoch != 0 || r.EndOffset != 2 {
		t.Errorf("epoch 0: epoch %d end %d, want 0, 2", r.LeaderEpoch, r.EndOffset)
	}
	if r := endOf(7); r.LeaderEpoch != -1 || r.EndOffset != -1 {
		t.Errorf("unknown epoch 7: epoch %d end %d, want -1, -1", r.LeaderEpoch, r.EndOffset)
	}

	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	for _, name := range []string{topic, "no-such-topic"} {
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = name
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = 3, 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp := rawRequest(t, b.Addr(), req, 4).(*kmsg.OffsetForLeaderEpochResponse)
	if len(resp.Topics) != 2 {
		t.Fatalf("%d topics answered", len(resp.Topics))
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("current leader epoch 3: %v, want UNKNOWN_LEADER_EPOCH", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := resp.Topics[1].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	// v0 has no current leader epoch: no check.
	resp0 := rawRequest(t, b.Addr(), req, 0).(*kmsg.OffsetForLeaderEpochResponse)
	if p := resp0.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.EndOffset != 2 {
		t.Errorf("v0: error %v end %d, want 2", kerr.ErrorForCode(p.ErrorCode), p.EndOffset)
	}
}

func TestAdminDescribeLogDirs(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())
	createTopic(ctx, t, adm, "sized", 2, nil)
	createTopic(ctx, t, adm, "other", 1, nil)
	produceTimestamped(ctx, t, b.Addr(), "sized", []int64{time.Now().UnixMilli()})

	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[0]
	dir, err := filepath.Abs(b.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 1 {
		t.Fatalf("%d log dirs described, want 1: %v", len(dirs), dirs)
	}
	d, ok := dirs[dir]
	if !ok || d.Err != nil {
		t.Fatalf("log dir %s not described (%v): %v", dir, d.Err, dirs)
	}
	if d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
		t.Errorf("total %d usable %d bytes", d.TotalBytes, d.UsableBytes)
	}
	if p, ok := d.Topics.Lookup("sized", 0); !ok || p.Size <= 0 {
		t.Errorf("sized-0: %+v (found %v), want a size > 0", p, ok)
	}
	for _, tp := range []struct {
		topic string
		p     int32
	}{{"sized", 1}, {"other", 0}} {
		if _, ok := d.Topics.Lookup(tp.topic, tp.p); !ok {
			t.Errorf("%s-%d not listed", tp.topic, tp.p)
		}
	}

	// Asking for one partition lists only it.
	var s kadm.TopicsSet
	s.Add("sized", 1)
	one, err := adm.DescribeBrokerLogDirs(ctx, 0, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := one[dir].Topics; len(got) != 1 || len(got["sized"]) != 1 {
		t.Errorf("describing sized-1 only: %v", got)
	}
}

func TestAdminDescribeCluster(t *testing.T) {
	b := brokertest.Start(t, "node.id=4", "broker.rack=r1")
	_, port, err := net.SplitHostPort(b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for v := range int16(3) {
		resp := rawRequest(t, b.Addr(), kmsg.NewPtrDescribeClusterRequest(), v).(*kmsg.DescribeClusterResponse)
		if resp.ErrorCode != 0 || resp.ClusterID != b.ClusterID() || resp.ControllerID != 4 {
			t.Errorf("v%d: error %d cluster %q controller %d", v, resp.ErrorCode, resp.ClusterID, resp.ControllerID)
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 4 || strconv.Itoa(int(resp.Brokers[0].Port)) != port ||
			resp.Brokers[0].Rack == nil || *resp.Brokers[0].Rack != "r1" || resp.Brokers[0].IsFenced {
			t.Errorf("v%d brokers: %+v", v, resp.Brokers)
		}
		if resp.ClusterAuthorizedOperations != -2147483648 {
			t.Errorf("v%d authorized operations %d", v, resp.ClusterAuthorizedOperations)
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	if resp := rawRequest(t, b.Addr(), req, 1).(*kmsg.DescribeClusterResponse); resp.ErrorCode != kerr.MismatchedEndpointType.Code {
		t.Errorf("controller endpoint type: %v, want MISMATCHED_ENDPOINT_TYPE", kerr.ErrorForCode(resp.ErrorCode))
	}
	// Through kgo, which picks the version.
	resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(testContext(t, adminTimeout), newKgo(t, b.Addr()))
	if err != nil || resp.ClusterID != b.ClusterID() {
		t.Errorf("DescribeCluster through kgo: %v, cluster %q", err, resp.ClusterID)
	}
}

func TestAdminInitProducerID(t *testing.T) {
	b := brokertest.Start(t)
	initPID := func(txnID *string, pid int64, epoch int16, v int16) *kmsg.InitProducerIDResponse {
		t.Helper()
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = txnID, 60_000
		req.ProducerID, req.ProducerEpoch = pid, epoch
		return rawRequest(t, b.Addr(), req, v).(*kmsg.InitProducerIDResponse)
	}
	seen := map[int64]bool{}
	take := func(resp *kmsg.InitProducerIDResponse) int64 {
		t.Helper()
		if resp.ErrorCode != 0 || resp.ProducerID < 0 || resp.ProducerEpoch != 0 {
			t.Fatalf("InitProducerId: error %v id %d epoch %d", kerr.ErrorForCode(resp.ErrorCode), resp.ProducerID, resp.ProducerEpoch)
		}
		if seen[resp.ProducerID] {
			t.Fatalf("producer id %d handed out twice", resp.ProducerID)
		}
		seen[resp.ProducerID] = true
		return resp.ProducerID
	}
	for v := range int16(6) {
		take(initPID(nil, -1, -1, v))
	}
	// KIP-360: a producer sending its id and epoch gets a fresh id.
	last := take(initPID(nil, -1, -1, 5))
	take(initPID(nil, last, 0, 4))

	if resp := initPID(nil, last, -1, 4); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("id without epoch: %v, want INVALID_REQUEST", kerr.ErrorForCode(resp.ErrorCode))
	}
	// A transactional id keeps its producer id and has its epoch bumped.
	first := initPID(strp("txn"), -1, -1, 4)
	again := initPID(strp("txn"), -1, -1, 4)
	if first.ErrorCode != 0 || again.ErrorCode != 0 || again.ProducerID != first.ProducerID || again.ProducerEpoch != first.ProducerEpoch+1 {
		t.Errorf("transactional id: %v id %d epoch %d, then %v id %d epoch %d; want the same id, epoch bumped",
			kerr.ErrorForCode(first.ErrorCode), first.ProducerID, first.ProducerEpoch,
			kerr.ErrorForCode(again.ErrorCode), again.ProducerID, again.ProducerEpoch)
	}

	// Unique across restarts, and an idempotent kgo producer works.
	b.Restart()
	for range 3 {
		take(initPID(nil, -1, -1, 4))
	}
	ctx := testContext(t, adminTimeout)
	createTopic(ctx, t, newAdmin(t, b.Addr()), "idempotent", 1, nil)
	produceTimestamped(ctx, t, b.Addr(), "idempotent", []int64{time.Now().UnixMilli()})
}

func TestAdminDeleteTopics(t *testing.T) {
	b := brokertest.Start(t)
	ctx := testContext(t, adminTimeout)
	adm := newAdmin(t, b.Addr())
	createTopic(ctx, t, adm, "doomed", 2, nil)
	byID := createTopic(ctx, t, adm, "doomed-by-id", 1, nil)
	createTopic(ctx, t, adm, "survivor", 1, nil)
	produceTimestamped(ctx, t, b.Addr(), "doomed", []int64{time.Now().UnixMilli()})

	resp, err := adm.DeleteTopic(ctx, "doomed")
	if err != nil || resp.Err != nil {
		t.Fatalf("delete doomed: %v %v", err, resp.Err)
	}
	if resp, err := adm.DeleteTopic(ctx, "doomed"); err == nil && !errIs(resp.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete doomed again: %v, want UNKNOWN_TOPIC_OR_PARTITION", resp.Err)
	}

	// v6 by topic id.
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 10_000
	for _, id := range [][16]byte{byID.ID, {1, 2, 3}} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		req.Topics = append(req.Topics, rt)
	}
	dresp := rawRequest(t, b.Addr(), req, 6).(*kmsg.DeleteTopicsResponse)
	if len(dresp.Topics) != 2 {
		t.Fatalf("%d topics answered", len(dresp.Topics))
	}
	if st := dresp.Topics[0]; st.ErrorCode != 0 || st.Topic == nil || *st.Topic != "doomed-by-id" {
		t.Errorf("delete by id: error %v name %v", kerr.ErrorForCode(st.ErrorCode), st.Topic)
	}
	if st := dresp.Topics[1]; st.ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("delete by unknown id: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(st.ErrorCode))
	}

	gone := func() {
		t.Helper()
		md := kmsg.NewPtrMetadataRequest()
		for _, name := range []string{"doomed", "doomed-by-id", "survivor"} {
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = strp(name)
			md.Topics = append(md.Topics, mt)
		}
		mr := rawRequest(t, b.Addr(), md, 12).(*kmsg.MetadataResponse)
		for _, mt := range mr.Topics {
			want := kerr.UnknownTopicOrPartition.Code
			if *mt.Topic == "survivor" {
				want = 0
			}
			if mt.ErrorCode != want {
				t.Errorf("metadata of %s: %v, want %v", *mt.Topic, kerr.ErrorForCode(mt.ErrorCode), kerr.ErrorForCode(want))
			}
		}
	}
	gone()
	b.Restart()
	gone()
	// A re-created topic starts empty.
	adm = newAdmin(t, b.Addr())
	createTopic(ctx, t, adm, "doomed", 1, nil)
	ends, err := adm.ListEndOffsets(ctx, "doomed")
	if o, _ := ends.Lookup("doomed", 0); err != nil || o.Offset != 0 {
		t.Errorf("re-created topic: end offset %d (%v), want 0", o.Offset, err)
	}
}

func TestAdminDeleteTopicsDisabled(t *testing.T) {
	b := brokertest.Start(t, "delete.topic.enable=false")
	ctx := testContext(t, adminTimeout)
	createTopic(ctx, t, newAdmin(t, b.Addr()), "kept", 1, nil)
	for v, want := range map[int16]*kerr.Error{2: kerr.InvalidRequest, 5: kerr.TopicDeletionDisabled} {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TopicNames = []string{"kept"}
		resp := rawRequest(t, b.Addr(), req, v).(*kmsg.DeleteTopicsResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != want.Code {
			t.Errorf("v%d: %+v, want %v", v, resp.Topics, want)
		}
	}
}
