package cluster

import (
	"testing"
)

func TestKeysRoundTrip(t *testing.T) {
	k := newKeys("/samsa/")
	id := TopicID{1, 2, 3, 250, 251, 252, 253, 254, 255}
	cases := []struct {
		key  string
		want parsedKey
	}{
		{k.clusterID(), parsedKey{kind: keyClusterID}},
		{k.producerIDs(), parsedKey{kind: keyProducerIDs}},
		{k.broker(0), parsedKey{kind: keyBroker, broker: 0}},
		{k.broker(2147483647), parsedKey{kind: keyBroker, broker: 2147483647}},
		{k.controller() + "/694d7a1b2c3d", parsedKey{kind: keyController, name: "694d7a1b2c3d"}},
		{k.topic("orders.v1_x-y"), parsedKey{kind: keyTopic, name: "orders.v1_x-y"}},
		{k.topicConfig("orders"), parsedKey{kind: keyTopicConfig, name: "orders"}},
		{k.brokerConfig(7), parsedKey{kind: keyBrokerConfig, broker: 7}},
		{k.brokerConfig(DefaultBrokerConfigs), parsedKey{kind: keyBrokerConfig, broker: DefaultBrokerConfigs}},
		{k.groupConfig("billing"), parsedKey{kind: keyGroupConfig, name: "billing"}},
		{k.groupConfig("team/a"), parsedKey{kind: keyGroupConfig, name: "team/a"}},
		{k.partition(id, 12), parsedKey{kind: keyPartition, topicID: id, partition: 12}},
	}
	for _, c := range cases {
		if got := k.parse(c.key); got != c.want {
			t.Errorf("parse(%q) = %+v, want %+v", c.key, got, c.want)
		}
	}
	want := map[string]string{
		k.clusterID():                        "/samsa/cluster_id",
		k.broker(3):                          "/samsa/brokers/3",
		k.controller():                       "/samsa/controller",
		k.topic("t"):                         "/samsa/topics/t",
		k.topicConfig("t"):                   "/samsa/configs/topics/t",
		k.brokerConfig(3):                    "/samsa/configs/brokers/3",
		k.brokerConfig(DefaultBrokerConfigs): "/samsa/configs/brokers/default",
		k.partition(TopicID{}, 0):            "/samsa/partitions/AAAAAAAAAAAAAAAAAAAAAA/0",
		k.producerIDs():                      "/samsa/producer_ids",
		k.groupConfig("g"):                   "/samsa/configs/groups/g",
	}
	for got, w := range want {
		if got != w {
			t.Errorf("key %q, want %q", got, w)
		}
	}
}

func TestKeysRejectUnknown(t *testing.T) {
	k := newKeys("")
	for _, key := range []string{
		"/other/brokers/1",
		"/samsa/brokers/01",
		"/samsa/brokers/-1",
		"/samsa/brokers/x",
		"/samsa/brokers/1/extra",
		"/samsa/controller",
		"/samsa/topics/",
		"/samsa/partitions/notanid/0",
		"/samsa/partitions/AAAAAAAAAAAAAAAAAAAAAA/+1",
		"/samsa/configs/brokers/",
		"/samsa/configs/users/alice",
		"/samsa/future_thing",
		"/samsaX/cluster_id",
	} {
		if got := k.parse(key); got.kind != keyUnknown {
			t.Errorf("parse(%q) = %+v, want unknown", key, got)
		}
	}
}

// A topic named like another's prefix must not share its partitions'
// range: partition keys end with a slash before the partition id.
func TestKeysPrefixesAreExact(t *testing.T) {
	k := newKeys("")
	if p := k.partitions(TopicID{1}); p[len(p)-1] != '/' {
		t.Fatalf("partitions prefix %q has no trailing slash", p)
	}
	if k.brokers()[len(k.brokers())-1] != '/' || k.topics()[len(k.topics())-1] != '/' {
		t.Fatal("prefixes need trailing slashes")
	}
}

func TestParseVoters(t *testing.T) {
	v, err := ParseVoters("1@127.0.0.1:29091, 2@127.0.0.1:29092,3@[::1]:29093")
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 3 || v[0] != (Voter{1, "127.0.0.1", 29091}) || v[2].Host != "::1" {
		t.Fatalf("%+v", v)
	}
	if v[2].PeerURL() != "http://[::1]:29093" || v[0].ClientURL(1000) != "http://127.0.0.1:30091" {
		t.Fatalf("urls %s %s", v[2].PeerURL(), v[0].ClientURL(1000))
	}
	for _, bad := range []string{
		"1@127.0.0.1", "x@127.0.0.1:1", "1127.0.0.1:1", "1@:29091", "1@h:0", "1@h:70000",
		"1@h:1,1@h:2", "1@h:1,2@h:1", "-1@h:1",
	} {
		if _, err := ParseVoters(bad); err == nil {
			t.Errorf("ParseVoters(%q) accepted", bad)
		}
	}
	if v, err := ParseVoters(" "); err != nil || v != nil {
		t.Fatalf("empty: %v %v", v, err)
	}
}

func TestEtcdConfigModes(t *testing.T) {
	voters, _ := ParseVoters("1@127.0.0.1:29091,2@127.0.0.1:29092,3@127.0.0.1:29093")
	lone := EtcdConfig{NodeID: 1}
	if !lone.EmbedsMember() {
		t.Fatal("a lone broker embeds a member")
	}
	voter := EtcdConfig{NodeID: 2, Voters: voters}
	if !voter.EmbedsMember() {
		t.Fatal("a voter embeds a member")
	}
	client := EtcdConfig{NodeID: 4, Voters: voters, ClientPortOffset: 5}
	if client.EmbedsMember() {
		t.Fatal("a non-voter is a client")
	}
	want := []string{"http://127.0.0.1:29096", "http://127.0.0.1:29097", "http://127.0.0.1:29098"}
	if got := client.ClientEndpoints(nil); len(got) != 3 || got[0] != want[0] || got[2] != want[2] {
		t.Fatalf("client endpoints %v, want %v", got, want)
	}
	external := EtcdConfig{NodeID: 2, Voters: voters, Endpoints: []string{"http://10.0.0.1:2379"}}
	if external.EmbedsMember() || external.ClientEndpoints(nil)[0] != "http://10.0.0.1:2379" {
		t.Fatal("etcd.endpoints makes any broker a client")
	}
}
