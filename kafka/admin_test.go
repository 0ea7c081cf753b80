package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func startAdmin(t *testing.T, addrs []string) *Admin {
	t.Helper()
	a, err := NewAdmin(Config{"bootstrap.servers": strings.Join(addrs, ","), "retry.backoff.ms": "10", "default.api.timeout.ms": "20000"}, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// TestSuiteAdminTopics creates, lists, describes, grows and deletes
// topics, with the errors: topic exists, unknown topic, invalid config,
// not enough brokers for the replication factor, fewer partitions.
func TestSuiteAdminTopics(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		a := startAdmin(t, tc.addrs)
		ctx := testCtx(t)
		res, err := a.CreateTopics(ctx, false,
			NewTopic{Name: "admin-a", NumPartitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "60000"}},
			NewTopic{Name: "admin-b"},
			NewTopic{Name: "admin-bad-config", NumPartitions: 1, Configs: map[string]string{"retention.ms": "soon"}},
			NewTopic{Name: "admin-bad-rf", NumPartitions: 1, ReplicationFactor: 5},
		)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || res[0].NumPartitions != 3 || res[0].ID == (UUID{}) || res[1].Err != nil {
			t.Errorf("created: %+v %+v", res[0], res[1])
		}
		// kfake does not check config values; Kafka and Samsa do.
		checksValues := tc.name != "kfake"
		if checksValues && !errors.Is(res[2].Err, kerr.InvalidConfig) && !errors.Is(res[2].Err, kerr.InvalidRequest) {
			t.Errorf("invalid config value: %v", res[2].Err)
		}
		if !errors.Is(res[3].Err, kerr.InvalidReplicationFactor) {
			t.Errorf("replication factor above the brokers: %v", res[3].Err)
		}
		res, err = a.CreateTopics(ctx, false, NewTopic{Name: "admin-a", NumPartitions: 1})
		if err != nil || !errors.Is(res[0].Err, kerr.TopicAlreadyExists) {
			t.Errorf("existing topic: %v %v", res, err)
		}
		res, err = a.CreateTopics(ctx, true, NewTopic{Name: "admin-validate", NumPartitions: 2})
		if err != nil || res[0].Err != nil {
			t.Errorf("validate only: %v %v", res, err)
		}

		topics, err := a.ListTopics(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, td := range topics {
			names[td.Name] = true
			if td.Internal {
				t.Errorf("internal topic %s listed", td.Name)
			}
		}
		if !names["admin-a"] || !names["admin-b"] || names["admin-validate"] || (checksValues && names["admin-bad-config"]) {
			t.Errorf("listed %v", names)
		}
		desc, err := a.DescribeTopics(ctx, "admin-a", "admin-missing")
		if err != nil || desc[0].Err != nil || len(desc[0].Partitions) != 3 || desc[0].Partitions[0].Leader == nil {
			t.Errorf("describe: %+v %v", desc, err)
		}
		if !errors.Is(desc[1].Err, ErrUnknownTopicOrPartition) {
			t.Errorf("describe of a missing topic: %v", desc[1].Err)
		}

		grown, err := a.CreatePartitions(ctx, false, map[string]int32{"admin-a": 5, "admin-b": 0})
		if err != nil || grown["admin-a"] != nil || !errors.Is(grown["admin-b"], kerr.InvalidPartitions) {
			t.Errorf("create partitions: %v %v", grown, err)
		}
		if desc, _ := a.DescribeTopics(ctx, "admin-a"); len(desc[0].Partitions) != 5 {
			t.Errorf("after growing: %d partitions", len(desc[0].Partitions))
		}

		deleted, err := a.DeleteTopics(ctx, "admin-b", "admin-missing")
		if err != nil || deleted["admin-b"] != nil || !errors.Is(deleted["admin-missing"], kerr.UnknownTopicOrPartition) {
			t.Errorf("delete: %v %v", deleted, err)
		}
		cd, err := a.DescribeCluster(ctx)
		if err != nil || len(cd.Nodes) == 0 || cd.Controller < 0 {
			t.Errorf("cluster: %+v %v", cd, err)
		}
	})
}

// TestSuiteAdminConfigs describes and changes a topic's settings.
func TestSuiteAdminConfigs(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "admin-configs", 1)
		a := startAdmin(t, tc.addrs)
		ctx := testCtx(t)
		topic := ConfigResource{ConfigResourceTopic, "admin-configs"}
		res, err := a.DescribeConfigs(ctx, topic)
		if err != nil || res[0].Err != nil {
			t.Fatalf("describe: %+v %v", res, err)
		}
		if e, ok := res[0].Entry("retention.ms"); !ok || e.Value != "604800000" || !e.IsDefault {
			t.Errorf("default retention.ms: %+v %v", e, ok)
		}
		changed, err := a.IncrementalAlterConfigs(ctx, false, map[ConfigResource][]AlterConfigOp{topic: {{Name: "retention.ms", Op: ConfigSet, Value: "3600000"}}})
		if err != nil || changed[topic] != nil {
			t.Fatalf("alter: %v %v", changed, err)
		}
		res, _ = a.DescribeConfigs(ctx, topic)
		if e, _ := res[0].Entry("retention.ms"); e.Value != "3600000" || e.IsDefault || e.Source != "DYNAMIC_TOPIC_CONFIG" {
			t.Errorf("after alter: %+v", e)
		}
		changed, err = a.IncrementalAlterConfigs(ctx, false, map[ConfigResource][]AlterConfigOp{topic: {{Name: "retention.ms", Op: ConfigSet, Value: "soon"}}})
		if err != nil || (changed[topic] == nil && tc.name != "kfake") { // kfake does not check values
			t.Errorf("invalid value: %v %v", changed, err)
		}
		changed, err = a.IncrementalAlterConfigs(ctx, false, map[ConfigResource][]AlterConfigOp{topic: {{Name: "retention.ms", Op: ConfigDelete}}})
		if err != nil || changed[topic] != nil {
			t.Errorf("delete: %v %v", changed, err)
		}
		res, _ = a.DescribeConfigs(ctx, topic)
		if e, _ := res[0].Entry("retention.ms"); e.Value != "604800000" {
			t.Errorf("after delete: %+v", e)
		}
		missing := ConfigResource{ConfigResourceTopic, "admin-no-such-topic"}
		if res, err := a.DescribeConfigs(ctx, missing); err != nil || !errors.Is(res[0].Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("describe of a missing topic: %+v %v", res, err)
		}
	})
}

// TestSuiteAdminGroups lists and describes a live group, computes its
// lag, resets and deletes its offsets and deletes it, with the errors of
// a group that still has members.
func TestSuiteAdminGroups(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "admin-groups", 2)
		produceNumbered(t, tc.addrs, "admin-groups", 2, 0, 20)
		c := startConsumer(t, consumerTestConfig(tc.addrs, "admin-group", "enable.auto.commit", "false", "client.id", "reader"), StringDeserializer{}, StringDeserializer{})
		if err := c.Subscribe([]string{"admin-groups"}, nil); err != nil {
			t.Fatal(err)
		}
		n := 0
		pollUntil(t, c, 10*time.Second, func(ConsumerRecord[string, string]) { n++ }, func() bool { return n == 20 })
		ctx := testCtx(t)
		p0, p1 := TopicPartition{"admin-groups", 0}, TopicPartition{"admin-groups", 1}
		if err := c.CommitSyncOffsets(ctx, map[TopicPartition]OffsetAndMetadata{p0: {Offset: 4}, p1: {Offset: 10}}); err != nil {
			t.Fatal(err)
		}
		a := startAdmin(t, tc.addrs)
		groups, err := a.ListConsumerGroups(ctx)
		found := false
		for _, g := range groups {
			found = found || g.GroupID == "admin-group"
		}
		if err != nil || !found {
			t.Errorf("list: %v %v", groups, err)
		}
		desc, err := a.DescribeConsumerGroups(ctx, "admin-group")
		if err != nil || desc[0].Err != nil || len(desc[0].Members) != 1 || desc[0].Members[0].ClientID != "reader" ||
			len(desc[0].Members[0].Assignment) != 2 || desc[0].Type != "classic" {
			t.Errorf("describe: %+v %v", desc, err)
		}
		// A KIP-848 group is described with ConsumerGroupDescribe.
		c848 := startConsumer(t, consumerTestConfig(tc.addrs, "admin-group-848", "group.protocol", "consumer"), StringDeserializer{}, StringDeserializer{})
		if err := c848.Subscribe([]string{"admin-groups"}, nil); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, c848, 10*time.Second, func(ConsumerRecord[string, string]) {}, func() bool { return len(c848.Assignment()) == 2 })
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			desc, err = a.DescribeConsumerGroups(ctx, "admin-group-848")
			if err == nil && desc[0].Err == nil && len(desc[0].Members) == 1 && len(desc[0].Members[0].Assignment) == 2 && desc[0].Type == "consumer" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("describe of a KIP-848 group: %+v %v", desc, err)
			}
			// The assignment shows once the member has reported it.
			ctx1, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, _ = c848.Poll(ctx1)
			cancel()
		}
		lag, err := a.ConsumerGroupLag(ctx, "admin-group")
		if err != nil || lag[p0].Lag != 6 || lag[p1].Lag != 0 || lag[p0].End != 10 {
			t.Errorf("lag: %+v %v", lag, err)
		}
		if res, err := a.DeleteConsumerGroups(ctx, "admin-group"); err != nil || !errors.Is(res["admin-group"], kerr.NonEmptyGroup) {
			t.Errorf("delete of a group with members: %v %v", res, err)
		}
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}

		altered, err := a.AlterConsumerGroupOffsets(ctx, "admin-group", map[TopicPartition]OffsetAndMetadata{p0: {Offset: 1, Metadata: "reset"}})
		if err != nil || altered[p0] != nil {
			t.Errorf("alter offsets: %v %v", altered, err)
		}
		offsets, err := a.ListConsumerGroupOffsets(ctx, "admin-group")
		if err != nil || offsets[p0].Offset != 1 || offsets[p0].Metadata != "reset" || offsets[p1].Offset != 10 {
			t.Errorf("offsets: %v %v", offsets, err)
		}
		deleted, err := a.DeleteConsumerGroupOffsets(ctx, "admin-group", p1)
		if err != nil || deleted[p1] != nil {
			t.Errorf("delete offsets: %v %v", deleted, err)
		}
		if offsets, _ := a.ListConsumerGroupOffsets(ctx, "admin-group"); len(offsets) != 1 {
			t.Errorf("offsets after deleting one: %v", offsets)
		}
		if res, err := a.DeleteConsumerGroups(ctx, "admin-group"); err != nil || res["admin-group"] != nil {
			t.Errorf("delete: %v %v", res, err)
		}
		if offsets, err := a.ListConsumerGroupOffsets(ctx, "admin-group"); err != nil || len(offsets) != 0 {
			t.Errorf("offsets of a deleted group: %v %v", offsets, err)
		}
	})
}

// TestSuiteAdminDeleteRecords deletes records before an offset and checks
// the new log start offset.
func TestSuiteAdminDeleteRecords(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "admin-records", 1)
		produceNumbered(t, tc.addrs, "admin-records", 1, 0, 10)
		a := startAdmin(t, tc.addrs)
		ctx := testCtx(t)
		tp := TopicPartition{"admin-records", 0}
		res, err := a.DeleteRecords(ctx, map[TopicPartition]int64{tp: 5})
		if err != nil || res[tp].Err != nil || res[tp].LowWatermark != 5 {
			t.Fatalf("delete records: %+v %v", res, err)
		}
		if begin, err := a.ListOffsets(ctx, map[TopicPartition]int64{tp: -2}); err != nil || begin[tp] != 5 {
			t.Errorf("log start after deleting: %v %v", begin, err)
		}
		if res, err := a.DeleteRecords(ctx, map[TopicPartition]int64{tp: 100}); err != nil || !errors.Is(res[tp].Err, kerr.OffsetOutOfRange) {
			t.Errorf("delete beyond the end: %+v %v", res, err)
		}
	})
}

// TestAdminConfig checks the admin client's settings.
func TestAdminConfig(t *testing.T) {
	if _, err := NewAdmin(Config{"bootstrap.servers": "localhost:9092", "acks": "all"}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("a producer setting: %v", err)
	}
	a, err := NewAdmin(Config{"bootstrap.servers": "localhost:9092"}, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.apiTimeout != time.Minute || a.cfg.connMaxIdle != 5*time.Minute || a.cfg.receiveBuffer != 65536 || !strings.HasPrefix(a.cfg.clientID, "adminclient-") {
		t.Errorf("defaults %+v", a.cfg)
	}
	_ = a.Close()
	if _, err := a.ListTopics(context.Background(), false); !errors.Is(err, ErrAdminClosed) {
		t.Errorf("after Close: %v", err)
	}
}
