// Package confluent tests Samsa's schema registry and Avro serdes against
// confluent-kafka-go's: its schemaregistry client registers, fetches and
// checks compatibility against internal/registry, and records written by
// kafka/avro are read by its Avro deserializer (serde/avrov2) and the
// other way round, for seed 000's Customer record in both versions
// (faxNumber replaced by email). Its benchmarks compare the two serdes
// and measure registry lookups per second, from the client's cache and
// from the server.
//
// It is a module of its own so that confluent-kafka-go, which requires
// about 240 modules, stays out of the main module's go.mod. Only the
// pure-Go packages schemaregistry and schemaregistry/serde/avrov2 are
// imported, never the kafka package, which needs cgo; the tests run with
// CGO_ENABLED=0. The version is v2.6.1 because in later releases such as
// v2.11 the serde package imports the kafka package (for kafka.Header), so
// the serdes need cgo too.
//
//	cd interop/confluent && CGO_ENABLED=0 go test ./...
//	cd interop/confluent && CGO_ENABLED=0 go test -run '^$' -bench . -benchmem
package confluent
