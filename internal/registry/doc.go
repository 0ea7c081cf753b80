// Package registry is Samsa's schema registry: Confluent's REST API
// (subjects, versions, schemas by id, compatibility checks, config and
// mode, soft and permanent deletes, schema references) over a Kafka
// topic, so that any number of instances share one state.
//
// # The _schemas topic
//
// Every change is a record of a compacted topic with one partition
// (Confluent's kafkastore.topic, default _schemas), in Confluent's format,
// keys and values JSON:
//
//	SCHEMA          key   {"keytype":"SCHEMA","subject":"s","version":1,"magic":1}
//	                value {"subject":"s","version":1,"id":1,"schemaType":"JSON",
//	                       "references":[...],"schema":"...","deleted":false}
//	                      (schemaType omitted for AVRO; deleted:true is a
//	                      soft delete; a null value deletes for good)
//	CONFIG          key   {"keytype":"CONFIG","subject":null,"magic":0}  (null: global)
//	                value {"compatibilityLevel":"BACKWARD"}; null resets
//	MODE            key   {"keytype":"MODE","subject":"s","magic":0}
//	                value {"mode":"READONLY"}; null resets
//	DELETE_SUBJECT  value {"subject":"s","version":3}: versions up to 3 deleted
//	CLEAR_SUBJECT   value {"subject":"s"}: soft-deleted versions removed
//
// Samsa writes SCHEMA, CONFIG and MODE records; it also reads
// DELETE_SUBJECT and CLEAR_SUBJECT, which Confluent's registry writes, and
// skips NOOP and key types it does not know. A record it cannot parse is
// logged and skipped. Keys are the compaction keys, so the topic keeps
// the latest state of each subject version, config and mode.
//
// Schema ids are allocated by the primary as one more than the highest id
// it has read from the topic, so they are never reused while the topic
// keeps a record that carried them (a permanent delete's tombstone is
// removed by compaction only after delete.retention.ms). Registering a
// schema that is already registered, under any subject, returns its id.
//
// # Instances and the primary
//
// Each instance runs two goroutines of the Kafka store: the reader, a
// consumer without a group assigned to partition 0 that reads the topic
// from the beginning into the instance's cache (state) for as long as it
// runs, and the elector, a member of the consumer group
// samsa-schema-registry subscribed to the same topic. The group's
// assignor (cooperative-sticky, so the role stays with a live primary
// when others join or leave) gives the single partition to exactly one
// member: that instance is the primary, the only one that writes. Its client.id is its
// advertised URL, so the others find it by describing the group, and
// forward writes there over HTTP. A primary that closes leaves the group
// at once; one that dies is replaced after session.timeout.ms (10 s by
// default).
//
// A write on the primary holds a mutex, reads the topic to its end (the
// end offset from ListOffsets), decides against the up-to-date cache,
// appends its records with acks=all, and answers only once the reader has
// applied them. A forwarding instance, after the primary's answer, also
// reads the topic to its end before answering, so a client reads its own
// writes from either instance. Reads are served from the instance's
// cache; one that finds nothing (404) first reads the topic to its end
// and looks again, so a schema registered through any instance is found
// through every other at once. Other reads may lag a write through
// another instance by the reader's poll (up to fetch.max.wait.ms, 100 ms).
//
// # Limits
//
// A request body is at most 2 MiB (413 beyond). Avro schemas are
// checked with the registry's own parser and resolution rules (avro.go,
// compat.go); JSON Schema and Protobuf schemas get a syntax check only,
// and any change of them is compatible.
package registry
