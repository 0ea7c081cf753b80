package cluster

import (
	"strconv"
	"strings"
)

// DefaultPrefix is the etcd key prefix of a Samsa cluster's metadata.
const DefaultPrefix = "/samsa"

// defaultBrokerConfigName names the cluster-wide dynamic broker config,
// Kafka's broker resource with an empty name.
const defaultBrokerConfigName = "default"

// DefaultBrokerConfigs is the broker id under which Snapshot.BrokerConfigs
// keeps the cluster-wide dynamic broker configs.
const DefaultBrokerConfigs int32 = -1

// keyKind says what a key under the prefix holds.
type keyKind int

const (
	keyUnknown keyKind = iota
	keyClusterID
	keyBroker
	keyController
	keyTopic
	keyTopicConfig
	keyBrokerConfig
	keyGroupConfig
	keyPartition
	keyProducerIDs
)

// keys builds and parses the key layout documented in doc.go.
type keys struct {
	prefix string // without a trailing slash
}

func newKeys(prefix string) keys {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return keys{prefix: strings.TrimRight(prefix, "/")}
}

func (k keys) root() string      { return k.prefix + "/" }
func (k keys) clusterID() string { return k.prefix + "/cluster_id" }
func (k keys) brokers() string   { return k.prefix + "/brokers/" }
func (k keys) broker(id int32) string {
	return k.brokers() + strconv.Itoa(int(id))
}

// controller is the election prefix; concurrency.Election adds "/" and the
// candidate's lease id.
func (k keys) controller() string { return k.prefix + "/controller" }
func (k keys) topics() string     { return k.prefix + "/topics/" }
func (k keys) topic(name string) string {
	return k.topics() + name
}
func (k keys) topicConfig(name string) string { return k.prefix + "/configs/topics/" + name }
func (k keys) brokerConfig(id int32) string {
	name := defaultBrokerConfigName
	if id != DefaultBrokerConfigs {
		name = strconv.Itoa(int(id))
	}
	return k.prefix + "/configs/brokers/" + name
}

func (k keys) groupConfigs() string            { return k.prefix + "/configs/groups/" }
func (k keys) groupConfig(group string) string { return k.groupConfigs() + group }

// partitions is the prefix of every partition of one topic incarnation.
func (k keys) partitions(id TopicID) string { return k.prefix + "/partitions/" + id.String() + "/" }
func (k keys) partition(id TopicID, p int32) string {
	return k.partitions(id) + strconv.Itoa(int(p))
}
func (k keys) producerIDs() string { return k.prefix + "/producer_ids" }

// parsedKey is a key taken apart.
type parsedKey struct {
	kind      keyKind
	name      string  // topic or group name, or the election candidate's lease id
	broker    int32   // broker id (keyBroker, keyBrokerConfig)
	topicID   TopicID // keyPartition
	partition int32   // keyPartition
}

// parse takes a key apart; keys it does not know are keyUnknown.
func (k keys) parse(key string) parsedKey {
	rest, ok := strings.CutPrefix(key, k.root())
	if !ok {
		return parsedKey{}
	}
	// A group id may hold slashes: it is all that follows the prefix.
	if group, ok := strings.CutPrefix(rest, "configs/groups/"); ok && group != "" {
		return parsedKey{kind: keyGroupConfig, name: group}
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1 && parts[0] == "cluster_id":
		return parsedKey{kind: keyClusterID}
	case len(parts) == 1 && parts[0] == "producer_ids":
		return parsedKey{kind: keyProducerIDs}
	case len(parts) == 2 && parts[0] == "brokers":
		if id, ok := parseID(parts[1]); ok {
			return parsedKey{kind: keyBroker, broker: id}
		}
	case len(parts) == 2 && parts[0] == "controller" && parts[1] != "":
		return parsedKey{kind: keyController, name: parts[1]}
	case len(parts) == 2 && parts[0] == "topics" && parts[1] != "":
		return parsedKey{kind: keyTopic, name: parts[1]}
	case len(parts) == 3 && parts[0] == "configs" && parts[1] == "topics" && parts[2] != "":
		return parsedKey{kind: keyTopicConfig, name: parts[2]}
	case len(parts) == 3 && parts[0] == "configs" && parts[1] == "brokers":
		if parts[2] == defaultBrokerConfigName {
			return parsedKey{kind: keyBrokerConfig, broker: DefaultBrokerConfigs}
		}
		if id, ok := parseID(parts[2]); ok {
			return parsedKey{kind: keyBrokerConfig, broker: id}
		}
	case len(parts) == 3 && parts[0] == "partitions":
		var id TopicID
		if err := id.UnmarshalText([]byte(parts[1])); err != nil {
			return parsedKey{}
		}
		if p, ok := parseID(parts[2]); ok {
			return parsedKey{kind: keyPartition, topicID: id, partition: p}
		}
	}
	return parsedKey{}
}

// parseID parses a non-negative decimal int32 in canonical form (no sign,
// no leading zeros), so that every id has exactly one key.
func parseID(s string) (int32, bool) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return int32(n), true
}
