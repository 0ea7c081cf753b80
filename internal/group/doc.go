// Package group is the group coordinator: consumer groups of the classic
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and of the
// KIP-848 protocol (ConsumerGroupHeartbeat), and the committed offsets of
// both, stored in Kafka's __consumer_offsets topic with Kafka's own record
// schemas so that a replay of the topic rebuilds the state. It knows
// nothing of the network: the broker decodes requests with kmsg and hands
// them here, and gives the coordinator its partitions through the Log
// interface and its topic metadata through Topics.
//
// # Placement and state
//
// A group lives in partition abs(javaStringHashCode(group.id)) %
// offsets.topic.num.partitions of __consumer_offsets (PartitionFor), the
// same mapping Kafka uses. Each partition the broker leads is a shard with
// its own mutex, owning that partition's groups, offsets and timers;
// writes to the partition happen under the mutex, so the order of the
// records is the order in which the state changed. Load replays a
// partition; until it is done, requests for its groups are answered with
// COORDINATOR_LOAD_IN_PROGRESS, and requests for groups of partitions not
// loaded with NOT_COORDINATOR.
//
// Offsets and KIP-848 groups change only by records: a request computes
// the records, appends them as one batch and then applies them with the
// same code the load uses, so what a load rebuilds is what was served.
// Classic groups keep their rebalance in memory and write a GroupMetadata
// record at the points Kafka does (group created, generation completed
// with the leader's assignment, group emptied, static member replaced);
// they load as Stable with their members, or Empty, and members that do
// not heartbeat after a load time out.
//
// JoinGroup and SyncGroup wait for the rebalance: the coordinator parks
// the request on a channel the rebalance completes. Timeouts (sessions,
// the rebalance timeout, group.initial.rebalance.delay.ms, KIP-848
// revocation, offset expiry) run on a Clock, so tests drive them; their
// callbacks take the shard's mutex, and a callback whose timer was
// replaced or cancelled meanwhile does nothing. The coordinator starts no
// goroutine of its own; Close stops every timer.
//
// Lock order: a shard's mutex is taken before whatever the Log and Topics
// implementations lock (the broker's topic map, the partition log); they
// never call back into the coordinator.
//
// # Records
//
// Every record of __consumer_offsets has a key that starts with an int16
// record type followed by the key's fields in the non-flexible encoding
// (int16-length strings), and a value that starts with an int16 version;
// a null value is a tombstone that deletes the key. Samsa writes the
// versions Kafka 4.0 writes and reads every version Kafka has written:
//
//	type key fields             value
//	 0   group, topic, partition OffsetCommitValue (legacy key; read only)
//	 1   group, topic, partition OffsetCommitValue v3: offset, leader epoch,
//	                             metadata, commit timestamp (v1, with an
//	                             expire timestamp, for commits that carry a
//	                             retention time)
//	 2   group                   GroupMetadataValue v3: protocol type,
//	                             generation, protocol, leader, state
//	                             timestamp, members (id, instance id, client
//	                             id and host, timeouts, subscription,
//	                             assignment)
//	 3   group                   ConsumerGroupMetadataValue v0: group epoch
//	 4   group                   ConsumerGroupPartitionMetadataValue v0: the
//	                             subscribed topics' id, name, partitions
//	 5   group, member           ConsumerGroupMemberMetadataValue v0:
//	                             instance and rack ids, client id and host,
//	                             subscribed names and regular expression,
//	                             rebalance timeout, server assignor
//	 6   group                   ConsumerGroupTargetAssignmentMetadataValue
//	                             v0: the target assignment's epoch
//	 7   group, member           ConsumerGroupTargetAssignmentMemberValue v0:
//	                             the member's target partitions
//	 8   group, member           ConsumerGroupCurrentMemberAssignmentValue
//	                             v0: member epoch, previous epoch, state
//	                             (0 stable, 1 unrevoked, 2 unreleased
//	                             partitions), assigned partitions, partitions
//	                             pending revocation
//	16   group, regex            ConsumerGroupRegularExpressionValue v0: the
//	                             topics the expression resolved to
//
// Types 0-2 are kmsg's OffsetCommitKey/Value and GroupMetadataKey/Value.
// Types 3-16 are flexible values (compact strings and arrays, a tagged
// field section after each struct); tagged fields Samsa does not know are
// skipped. Types 9-15 and 17 on (share and streams groups) are skipped
// when loading, as Kafka skips record types it does not know.
//
// # Differences from Kafka
//
//   - A KIP-848 member that joins again (epoch 0) while the group still
//     has it is taken as starting over with no partitions; Kafka answers
//     FENCED_MEMBER_EPOCH until the member's session times out.
//   - A static member may leave with epoch -2 without its instance id
//     (franz-go does); Kafka answers INVALID_REQUEST and keeps the
//     instance id taken until the member's session times out.
//   - Groups do not mix protocols: a classic JoinGroup to a KIP-848 group
//     with members gets INCONSISTENT_GROUP_PROTOCOL, a ConsumerGroupHeartbeat
//     to a classic group with members GROUP_ID_NOT_FOUND. Empty groups
//     convert either way, as in Kafka.
//   - The uniform assignor is Samsa's own sticky balancer (each member
//     keeps what it can; partitions move only to even out counts), and
//     range gives contiguous ranges with static members first. Kafka's
//     placements differ in detail; both balance the same way.
//   - Subscription regular expressions use Go's RE2 syntax, which is the
//     syntax Kafka documents (RE2/J), are resolved during heartbeats (at
//     most once a second per expression) and never match
//     __consumer_offsets or __transaction_state.
//   - Ties in classic protocol selection go to the leader's preference
//     (Kafka: hash order).
//
// # Transactional offsets
//
// TxnOffsetCommit (txn_offsets.go) writes offset commit records as the
// producer's transactional batch (producer id and epoch, transactional
// attribute, no sequence). They stay pending, per producer, until the
// transaction's marker is written to the partition: a COMMIT (control
// record type 1) makes them committed offsets, an ABORT (type 0) drops
// them. A load replays the same way. OffsetFetch with require_stable
// answers UNSTABLE_OFFSET_COMMIT for a partition with pending offsets.
package group
