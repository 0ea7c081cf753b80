// Package avro is an Avro serializer and deserializer for Samsa's Kafka
// client, backed by a Confluent-compatible schema registry, as
// Confluent's KafkaAvroSerializer and KafkaAvroDeserializer are.
//
// A serialized value is Confluent's wire format:
//
//	byte 0      magic byte 0
//	bytes 1-4   schema id, big-endian int32
//	bytes 5-    the value in Avro's binary encoding
//
// The Serializer registers its schema under the subject its strategy
// names (auto.register.schemas, on by default), or looks it up, or with
// use.latest.version writes with the subject's latest schema; it caches
// the id. The Deserializer fetches the writer's schema by id (cached) and,
// given a reader schema, resolves one against the other, so a consumer
// built for a newer schema reads older records and the other way round.
// Values are Go structs with avro tags, or map[string]any, through
// github.com/hamba/avro/v2.
//
//	cl := avro.NewClient("http://127.0.0.1:8081")
//	ser, _ := avro.NewSerializer[Customer](cl, customerSchema)
//	p, _ := kafka.NewProducer(kafka.Config{"bootstrap.servers": "127.0.0.1:9092"}, kafka.StringSerializer{}, ser)
package avro
