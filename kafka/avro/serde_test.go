package avro

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/samsa-io/samsa/internal/registry"
	"github.com/samsa-io/samsa/kafka"
)

const (
	customerV1 = `{"namespace":"customerManagement.avro","type":"record","name":"Customer","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"faxNumber","type":["null","string"],"default":null}]}`
	customerV2 = `{"namespace":"customerManagement.avro","type":"record","name":"Customer","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}`
)

type customerV1T struct {
	ID        int32   `avro:"id"`
	Name      string  `avro:"name"`
	FaxNumber *string `avro:"faxNumber"`
}

type customerV2T struct {
	ID    int32   `avro:"id"`
	Name  string  `avro:"name"`
	Email *string `avro:"email"`
}

func newRegistry(t testing.TB) *Client {
	srv := httptest.NewServer(registry.NewMemory(nil).Handler())
	t.Cleanup(srv.Close)
	return NewClient(srv.URL)
}

func str(s string) *string { return &s }

func TestWireFormat(t *testing.T) {
	cl := newRegistry(t)
	ser, err := NewSerializer[customerV2T](cl, customerV2)
	if err != nil {
		t.Fatal(err)
	}
	if err := ser.Configure(kafka.Config{}, false); err != nil {
		t.Fatal(err)
	}
	b, err := ser.Serialize("customerContacts", nil, customerV2T{ID: 1, Name: "yifan", Email: str("y@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	// Magic byte 0, id 1, then Avro: zigzag int 1 = 0x02, string
	// "yifan", union branch 1 = 0x02, string.
	want := append([]byte{0, 0, 0, 0, 1, 0x02, 0x0a}, "yifan"...)
	want = append(want, 0x02, 0x1a)
	want = append(want, "y@example.com"...)
	if !bytes.Equal(b, want) {
		t.Fatalf("got % x\nwant % x", b, want)
	}
	// The id is the registry's, under <topic>-value.
	id, err := cl.Lookup(t.Context(), "customerContacts-value", customerV2)
	if err != nil || id != 1 {
		t.Fatalf("lookup: %d %v", id, err)
	}
	// Bytes made by hand in Confluent's format decode.
	body, err := avro.Marshal(avro.MustParse(customerV2), map[string]any{"id": 7, "name": "hand", "email": nil})
	if err != nil {
		t.Fatal(err)
	}
	hand := binary.BigEndian.AppendUint32([]byte{0}, 1)
	de, _ := NewDeserializer[customerV2T](cl, "")
	got, err := de.Deserialize("customerContacts", nil, append(hand, body...))
	if err != nil || got.ID != 7 || got.Name != "hand" || got.Email != nil {
		t.Fatalf("hand-made bytes: %+v %v", got, err)
	}
	if _, err := de.Deserialize("t", nil, []byte{1, 0, 0, 0, 1}); !errors.Is(err, ErrUnknownMagicByte) {
		t.Errorf("bad magic: %v", err)
	}
	if _, err := de.Deserialize("t", nil, []byte{0, 0, 0, 0, 9, 0}); err == nil {
		t.Error("unknown id decoded")
	}
}

// TestCustomerEvolution: records written with faxNumber and with email,
// read by a consumer of each version.
func TestCustomerEvolution(t *testing.T) {
	cl := newRegistry(t)
	old, _ := NewSerializer[customerV1T](cl, customerV1)
	cur, _ := NewSerializer[customerV2T](cl, customerV2)
	old.Configure(kafka.Config{}, false)
	cur.Configure(kafka.Config{}, false)
	b1, err := old.Serialize("c", nil, customerV1T{ID: 1, Name: "old", FaxNumber: str("555-1234")})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := cur.Serialize("c", nil, customerV2T{ID: 2, Name: "new", Email: str("new@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	newReader, _ := NewDeserializer[customerV2T](cl, customerV2)
	oldReader, _ := NewDeserializer[customerV1T](cl, customerV1)
	if c, err := newReader.Deserialize("c", nil, b1); err != nil || c.ID != 1 || c.Name != "old" || c.Email != nil {
		t.Errorf("new reader, old record: %+v %v", c, err)
	}
	if c, err := newReader.Deserialize("c", nil, b2); err != nil || c.Email == nil || *c.Email != "new@example.com" {
		t.Errorf("new reader, new record: %+v %v", c, err)
	}
	if c, err := oldReader.Deserialize("c", nil, b2); err != nil || c.ID != 2 || c.FaxNumber != nil {
		t.Errorf("old reader, new record: %+v %v", c, err)
	}
	// Generic maps, with the writer's schema.
	generic, _ := NewDeserializer[map[string]any](cl, "")
	if m, err := generic.Deserialize("c", nil, b1); err != nil || m["faxNumber"] != "555-1234" {
		t.Errorf("generic: %v %v", m, err)
	}
}

func TestSettings(t *testing.T) {
	cl := newRegistry(t)
	ser, _ := NewSerializer[customerV2T](cl, customerV2)
	if err := ser.Configure(kafka.Config{"auto.register.schemas": "false"}, false); err != nil {
		t.Fatal(err)
	}
	var re *RegistryError
	if _, err := ser.Serialize("t", nil, customerV2T{}); !errors.As(err, &re) || re.Code != 40401 {
		t.Fatalf("unregistered schema without auto-register: %v", err)
	}
	if err := ser.Configure(kafka.Config{"value.subject.name.strategy": "io.confluent.kafka.serializers.subject.RecordNameStrategy"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ser.Serialize("t", nil, customerV2T{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Lookup(t.Context(), "customerManagement.avro.Customer", customerV2); err != nil {
		t.Errorf("RecordNameStrategy subject: %v", err)
	}
	ser.Configure(kafka.Config{"key.subject.name.strategy": "TopicRecordNameStrategy"}, true)
	if _, err := ser.Serialize("t", nil, customerV2T{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Lookup(t.Context(), "t-customerManagement.avro.Customer", customerV2); err != nil {
		t.Errorf("TopicRecordNameStrategy subject: %v", err)
	}
	if err := ser.Configure(kafka.Config{"value.subject.name.strategy": "Nope"}, false); err == nil {
		t.Error("bad strategy accepted")
	}
	if !ser.AcceptsConfig("schema.registry.url") || ser.AcceptsConfig("acks") {
		t.Error("AcceptsConfig")
	}

	// use.latest.version writes with the subject's latest schema.
	if _, err := cl.Register(t.Context(), "latest-value", customerV1); err != nil {
		t.Fatal(err)
	}
	id2, _ := cl.Register(t.Context(), "latest-value", customerV2)
	gen, _ := NewSerializer[map[string]any](cl, customerV1)
	gen.Configure(kafka.Config{"use.latest.version": "true", "auto.register.schemas": "false"}, false)
	b, err := gen.Serialize("latest", nil, map[string]any{"id": 1, "name": "n", "email": nil})
	if err != nil || binary.BigEndian.Uint32(b[1:5]) != uint32(id2) {
		t.Fatalf("use.latest.version: % x %v", b, err)
	}
}

// TestLenientSchema: the registry accepts a string default for a union
// (as Confluent's does); the deserializer still reads records of it.
func TestLenientSchema(t *testing.T) {
	seed := `{"namespace": "customerManagement.avro", "type": "record", "name": "Customer","fields": [{"name": "id", "type": "int"}, {"name": "name", "type": "string"},{"name": "email", "type": ["null","string"], "default":"null"}]}`
	cl := newRegistry(t)
	ser, err := NewSerializer[customerV2T](cl, seed)
	if err != nil {
		t.Fatal(err)
	}
	ser.Configure(kafka.Config{}, false)
	b, err := ser.Serialize("c", nil, customerV2T{ID: 3, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	de, _ := NewDeserializer[customerV1T](NewClient(cl.url), customerV1)
	if c, err := de.Deserialize("c", nil, b); err != nil || c.ID != 3 {
		t.Errorf("%+v %v", c, err)
	}
}

// BenchmarkSerde serializes and deserializes the Customer record, ids and
// schemas from the cache.
func BenchmarkSerde(b *testing.B) {
	cl := newRegistry(b)
	ser, _ := NewSerializer[customerV2T](cl, customerV2)
	ser.Configure(kafka.Config{}, false)
	de, _ := NewDeserializer[customerV2T](cl, customerV2)
	c := customerV2T{ID: 42, Name: "Precision Products", Email: str("sales@example.com")}
	b.ReportAllocs()
	for b.Loop() {
		data, err := ser.Serialize("customerContacts", nil, c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := de.Deserialize("customerContacts", nil, data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSerializeReusesWriters: records serialized one after another and
// from several goroutines, after a failed encoding, each carry their own
// bytes; once the id is cached, a record costs its output and the boxing
// of the value, not a registry context or a subject string.
func TestSerializeReusesWriters(t *testing.T) {
	cl := newRegistry(t)
	ser, _ := NewSerializer[map[string]any](cl, customerV2)
	ser.Configure(kafka.Config{}, false)
	if _, err := ser.Serialize("c", nil, map[string]any{"id": 1}); err == nil {
		t.Fatal("a record without a name encoded")
	}
	de, _ := NewDeserializer[customerV2T](cl, "")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				id := g*1000 + i
				name := strings.Repeat("n", i)
				b, err := ser.Serialize("c", nil, map[string]any{"id": id, "name": name, "email": nil})
				if err != nil {
					t.Error(err)
					return
				}
				if c, err := de.Deserialize("c", nil, b); err != nil || int(c.ID) != id || c.Name != name {
					t.Errorf("record %d: %+v %v", id, c, err)
					return
				}
			}
		})
	}
	wg.Wait()

	typed, _ := NewSerializer[customerV2T](cl, customerV2)
	typed.Configure(kafka.Config{}, false)
	c := customerV2T{ID: 1, Name: "n"}
	if _, err := typed.Serialize("c", nil, c); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := typed.Serialize("c", nil, c); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Errorf("Serialize with a cached id: %v allocations, want at most 2", allocs)
	}
}
