// Package cluster holds the cluster metadata a broker serves: the cluster
// id, live brokers, the controller, topics with their ids, partitions with
// replicas, leaders and ISRs, dynamic configs and the producer id
// allocator; and the controller's logic over them.
//
// Metadata lives in etcd (EtcdStore), read through a watched in-memory
// Cache on every broker. The single-node JSON store (FileStore) predates it;
// it is only read, to import an old data directory, and is described at
// the end.
//
// # Reaching etcd
//
// EtcdConfig turns Kafka-style settings into one of three modes:
//
//   - A lone broker (neither controller.quorum.voters nor etcd.endpoints)
//     embeds a single-member etcd with its data in <first log dir>/etcd,
//     serving on loopback ports the system picks.
//   - controller.quorum.voters=1@host:port,2@host:port,3@host:port lists
//     the brokers that embed one etcd member each; host:port is the
//     member's peer URL and the member serves clients on port +
//     etcd.client.port.offset (default 1000). The members find each other
//     through the initial cluster derived from the list (member names
//     samsa-<node id>). A broker not in the list is a client of the
//     voters.
//   - etcd.endpoints=http://a:2379,... makes any broker a client of an
//     external etcd cluster.
//
// etcd's own log goes to the broker's slog handler at warning level and
// above.
//
// # Key layout
//
// Every key lives under a prefix, "/samsa" unless configured. Values are
// JSON unless noted; ids are decimal without leading zeros; topic ids are
// Kafka's base64url form (22 characters, no padding).
//
//	/samsa/cluster_id                  cluster id, plain text; written once
//	                                   by the first broker (InitClusterID)
//	/samsa/brokers/<node id>           BrokerRegistration, attached to the
//	                                   broker's session lease, so it
//	                                   vanishes when the broker stops
//	                                   heartbeating; its create revision is
//	                                   the broker epoch
//	    {"nodeId":1,"incarnationId":"…","rack":"r1",
//	     "endpoints":[{"listener":"PLAINTEXT","host":"h","port":9092,
//	                   "securityProtocol":"PLAINTEXT"}],
//	     "shuttingDown":true}                 (during controlled shutdown)
//	/samsa/controller/<lease id hex>   controller election (etcd's
//	                                   concurrency.Election): one key per
//	                                   candidate, value its node id, under
//	                                   its lease; the candidate whose key
//	                                   has the lowest create revision is the
//	                                   controller, and that revision is the
//	                                   controller epoch
//	/samsa/topics/<name>               {"id":"<topic id>"}
//	/samsa/configs/topics/<name>       topic config overrides,
//	                                   {"retention.ms":"3600000"}; absent
//	                                   if none
//	/samsa/configs/brokers/<node id>   dynamic broker configs of one broker,
//	                                   {"log.retention.ms":"600000"};
//	                                   absent if none
//	/samsa/configs/brokers/default     cluster-wide dynamic broker configs,
//	                                   same form; a broker's own win
//	/samsa/configs/groups/<group id>   configs of one consumer group
//	                                   (KIP-848), {"consumer.heartbeat.
//	                                   interval.ms":"3000"}; the group id
//	                                   is everything after the prefix,
//	                                   slashes included; absent if none
//	/samsa/partitions/<topic id>/<p>   PartitionState of partition p:
//	    {"replicas":[1,2,3],"isr":[1,2],"leader":1,
//	     "leaderEpoch":4,"partitionEpoch":9}
//	                                   during a reassignment (KIP-455)
//	                                   replicas is the target followed by
//	                                   the replicas being removed, and two
//	                                   more fields (absent otherwise) say
//	                                   which replicas the target adds and
//	                                   which it removes:
//	    {"replicas":[2,3,1],"isr":[1,2],"leader":1,
//	     "leaderEpoch":4,"partitionEpoch":10,
//	     "addingReplicas":[3],"removingReplicas":[1]}
//	/samsa/producer_ids                start of the next free producer id
//	                                   block, decimal text
//
// Further kinds of metadata (ACLs, SCRAM credentials, quotas) take new
// prefixes beside these; readers ignore keys they do not know.
//
// # Consistency rules
//
//   - Partitions are keyed by topic id, so a topic deleted and created
//     again under the same name never mixes with its predecessor.
//     CreateTopic writes the partitions first (several transactions if
//     there are more than etcd's per-transaction limit allows) and the
//     topic record last, only if the name is free; readers see a topic
//     only once its record exists, so never half created. DeleteTopic
//     removes the record, configs and all partitions in one transaction.
//   - Every change of a partition bumps its partitionEpoch and is a
//     compare-and-swap on the key's mod revision, which is the same as a
//     compare on the stored epoch. leaderEpoch grows only when the leader
//     changes.
//   - ISR changes come from the partition leader (AlterISR, Kafka's
//     AlterPartition), validated against the leader, leader epoch and
//     partition epoch the leader last saw. Leader elections come from the
//     controller, whose writes are also fenced on its election key still
//     having the create revision it was elected with. Elections and
//     reassignments a client asks for (ElectLeaders,
//     AlterPartitionReassignments) are written by the broker that
//     received the request, decided on the state it read and guarded by
//     the compare-and-swap alone.
//   - Dynamic broker and group configs are changed by a compare-and-swap
//     on the key's mod revision (UpdateBrokerConfigs,
//     UpdateGroupConfigs), so concurrent incremental changes from
//     several brokers never lose each other's.
//   - Producer id blocks of ProducerIDBlockSize are taken by a
//     compare-and-swap on /samsa/producer_ids, so they are unique across
//     the cluster.
//
// # The cache
//
// Cache reads the whole prefix at one revision, then watches from the next
// revision and applies events in order; each watch response becomes a new
// immutable Snapshot. Snapshot.Revision says exactly which writes it
// reflects; every write of EtcdStore returns its revision, and
// Cache.WaitRevision(rev) waits until the cache reflects it, so a broker
// reads its own writes. Cache.Sync is a linearizable barrier.
//
// # The controller
//
// Every registered broker campaigns for controller. The elected one
// watches the cache: when a broker's registration vanishes or says it is
// shutting down, its partitions get a new leader, the first replica in
// assignment order that is live and in the ISR, and it leaves the ISRs
// (an ISR never becomes empty: it keeps its last member, and the
// partition waits without a leader for that member, unless
// unclean.leader.election.enable lets a live out-of-sync replica lead).
// Every leader.imbalance.check.interval.seconds, if
// auto.leader.rebalance.enable, brokers whose share of partitions they
// prefer but do not lead exceeds leader.imbalance.per.broker.percentage
// get their leaderships back. New topics are placed by PlaceReplicas
// (Kafka's rack-aware round-robin placement).
//
// A partition reassignment starts with the state above: the added
// replicas follow the leader and join the ISR once caught up. When all of
// them are in the ISR the controller completes it in one write: replicas
// becomes the target, the removed replicas leave the ISR, a removed
// leader gives way to the first live target replica in the ISR (a new
// leader epoch), and addingReplicas and removingReplicas go. Brokers that
// no longer hold a replica stop it and delete its log. Cancelling reverts
// to the original replicas (replicas without addingReplicas).
//
// A broker that registers again (a restart, or a lost session) gets a new
// broker epoch, and the controller treats it as Kafka treats a bounced
// broker: in a partition whose state was last written before that epoch,
// it counts as dead if it leads the partition, or sits in the ISR of a
// partition that has a leader, so its leadership moves and it leaves the
// ISR, then rejoins as a follower. This holds even when the cache saw the
// old registration expire and the new one appear at once. A partition
// with a single replica keeps it as leader. The broker side of the rule is
// PartitionState.LedBy: a broker acts as leader only of partitions whose
// state was written after its registration (or that have one replica).
//
// # Restarting after a crash
//
// A broker records its session's lease id in <first log dir>/broker.lease
// (NodeConfig.LeaseFile). Restarted after a crash, it revokes that lease
// before registering, so its previous registration and controller
// candidacy vanish at once instead of blocking it for
// broker.session.timeout.ms. Without the file it waits for them to
// expire, as a Kafka broker waits out its previous session.
//
// # Single-node store
//
// A single-node broker without etcd keeps its metadata in one JSON file,
// `samsa-metadata.json`, in its first log directory, replaced atomically
// (written to a temporary file, fsynced, renamed, directory fsynced) on every
// change:
//
//	{
//	  "version": 1,
//	  "nextProducerId": 4000,          // next block of producer ids starts here
//	  "topics": {
//	    "orders": {"id": "<base64url topic id>", "partitions": 3,
//	               "configs": {"retention.ms": "3600000"}}
//	  }
//	}
//
// Producer ids are handed out in blocks of ProducerIDBlockSize: the store
// records the end of the block before any id from it is used, so ids are
// never reused after a crash.
//
// The broker no longer writes this file. A data directory that has one
// is imported into etcd at startup (ImportFileStoreDir: every partition
// with the importing broker as its only replica, the producer id counter
// past every id the file handed out), and the file is renamed to
// samsa-metadata.json.imported so that the import happens once.
package cluster
