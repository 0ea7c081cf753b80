package confluent

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"

	"github.com/samsa-io/samsa/kafka"
	"github.com/samsa-io/samsa/kafka/avro"
)

// samsaSerializer returns kafka/avro's value serializer of T, with
// auto-registration on as by default.
func samsaSerializer[T any](t testing.TB, cl *avro.Client, schema string) *avro.Serializer[T] {
	ser, err := avro.NewSerializer[T](cl, schema)
	if err != nil {
		t.Fatal(err)
	}
	if err := ser.Configure(kafka.Config{}, false); err != nil {
		t.Fatal(err)
	}
	return ser
}

func samsaDeserializer[T any](t testing.TB, cl *avro.Client, readerSchema string) *avro.Deserializer[T] {
	de, err := avro.NewDeserializer[T](cl, readerSchema)
	if err != nil {
		t.Fatal(err)
	}
	return de
}

// confluentSerializer returns confluent-kafka-go's value serializer
// writing with the schema of the id, or with the subject's latest
// version when id is -1. Neither registers the Go type's derived schema.
func confluentSerializer(t testing.TB, cc schemaregistry.Client, id int) *avrov2.Serializer {
	conf := avrov2.NewSerializerConfig()
	conf.AutoRegisterSchemas = false
	if id < 0 {
		conf.UseLatestVersion = true
	} else {
		conf.UseSchemaID = id
	}
	ser, err := avrov2.NewSerializer(cc, serde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	return ser
}

// confluentDeserializer returns confluent-kafka-go's value deserializer;
// with useLatest it resolves each writer schema against the subject's
// latest version, as a reader of that version.
func confluentDeserializer(t testing.TB, cc schemaregistry.Client, useLatest bool) *avrov2.Deserializer {
	conf := avrov2.NewDeserializerConfig()
	conf.UseLatestVersion = useLatest
	de, err := avrov2.NewDeserializer(cc, serde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	return de
}

// TestSerdeInterop: seed 000's Customer records, in both versions,
// written by Samsa's serializer and read by confluent-kafka-go's Avro
// deserializer, and the other way round. The two serializers write the
// same bytes.
func TestSerdeInterop(t *testing.T) {
	url := newRegistry(t)
	cl := avro.NewClient(url)
	cc := newConfluentClient(t, url)

	oldC := customerV1{ID: 1, Name: "Precision Products", FaxNumber: str("555-1234")}
	newC := customerV2{ID: 2, Name: "Precision Products", Email: str("sales@example.com")}

	// Samsa's producers of each version register the schemas (ids 1, 2).
	s1, err := samsaSerializer[customerV1](t, cl, customerV1Schema).Serialize(topic, nil, oldC)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := samsaSerializer[customerV2](t, cl, customerV2Schema).Serialize(topic, nil, newC)
	if err != nil {
		t.Fatal(err)
	}

	// Confluent's writers of each version, with the registered schemas:
	// version 1 by id, version 2 as the subject's latest.
	c1, err := confluentSerializer(t, cc, 1).Serialize(topic, &oldC)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := confluentSerializer(t, cc, -1).Serialize(topic, &newC)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s1, c1) || !bytes.Equal(s2, c2) {
		t.Errorf("the serializers disagree:\nsamsa     v1 % x\nconfluent v1 % x\nsamsa     v2 % x\nconfluent v2 % x", s1, c1, s2, c2)
	}

	// Samsa's records, read by confluent's deserializer: each version
	// with its own schema, ...
	cWriter := confluentDeserializer(t, cc, false)
	var gotOld customerV1
	if err := cWriter.DeserializeInto(topic, s1, &gotOld); err != nil || !reflect.DeepEqual(gotOld, oldC) {
		t.Errorf("confluent reads samsa's v1 record: %+v, %v", gotOld, err)
	}
	var gotNew customerV2
	if err := cWriter.DeserializeInto(topic, s2, &gotNew); err != nil || !reflect.DeepEqual(gotNew, newC) {
		t.Errorf("confluent reads samsa's v2 record: %+v, %v", gotNew, err)
	}
	// ... the old record by a reader of the latest version (email null),
	cLatest := confluentDeserializer(t, cc, true)
	gotNew = customerV2{}
	if err := cLatest.DeserializeInto(topic, s1, &gotNew); err != nil || !reflect.DeepEqual(gotNew, customerV2{ID: 1, Name: oldC.Name}) {
		t.Errorf("confluent's v2 reader reads samsa's v1 record: %+v, %v", gotNew, err)
	}
	// ... and the new record into the old struct (faxNumber null).
	gotOld = customerV1{}
	if err := cWriter.DeserializeInto(topic, s2, &gotOld); err != nil || !reflect.DeepEqual(gotOld, customerV1{ID: 2, Name: newC.Name}) {
		t.Errorf("confluent reads samsa's v2 record as v1: %+v, %v", gotOld, err)
	}

	// Confluent's records, read by Samsa's deserializers, each with a
	// reader schema, and into a generic map with the writer's.
	r1 := samsaDeserializer[customerV1](t, cl, customerV1Schema)
	r2 := samsaDeserializer[customerV2](t, cl, customerV2Schema)
	if got, err := r1.Deserialize(topic, nil, c1); err != nil || !reflect.DeepEqual(got, oldC) {
		t.Errorf("samsa's v1 reader reads confluent's v1 record: %+v, %v", got, err)
	}
	if got, err := r2.Deserialize(topic, nil, c2); err != nil || !reflect.DeepEqual(got, newC) {
		t.Errorf("samsa's v2 reader reads confluent's v2 record: %+v, %v", got, err)
	}
	if got, err := r2.Deserialize(topic, nil, c1); err != nil || !reflect.DeepEqual(got, customerV2{ID: 1, Name: oldC.Name}) {
		t.Errorf("samsa's v2 reader reads confluent's v1 record: %+v, %v", got, err)
	}
	if got, err := r1.Deserialize(topic, nil, c2); err != nil || !reflect.DeepEqual(got, customerV1{ID: 2, Name: newC.Name}) {
		t.Errorf("samsa's v1 reader reads confluent's v2 record: %+v, %v", got, err)
	}
	generic := samsaDeserializer[map[string]any](t, cl, "")
	if m, err := generic.Deserialize(topic, nil, c1); err != nil || m["faxNumber"] != "555-1234" || m["id"] != 1 {
		t.Errorf("samsa's generic reader reads confluent's v1 record: %v, %v", m, err)
	}
}

// TestConfluentAutoRegister: confluent's serializer with its defaults
// derives a schema from the Go type and registers it with the Samsa
// registry; Samsa's deserializer reads the record with it.
func TestConfluentAutoRegister(t *testing.T) {
	url := newRegistry(t)
	cc := newConfluentClient(t, url)
	ser, err := avrov2.NewSerializer(cc, serde.ValueSerde, avrov2.NewSerializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	c := customerV2{ID: 3, Name: "auto", Email: str("auto@example.com")}
	b, err := ser.Serialize("auto", &c)
	if err != nil {
		t.Fatal(err)
	}
	md, err := cc.GetLatestSchemaMetadata("auto-value")
	if err != nil || md.ID != 1 {
		t.Fatalf("derived schema not registered: %+v, %v", md, err)
	}
	got, err := samsaDeserializer[customerV2](t, avro.NewClient(url), "").Deserialize("auto", nil, b)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("samsa reads the record: %+v, %v", got, err)
	}
}
