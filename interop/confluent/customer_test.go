package confluent

import (
	"net/http/httptest"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"

	"github.com/samsa-io/samsa/internal/registry"
)

// Seed 000's Customer record: the first version has a fax number, the
// second replaces it by an email address.
const (
	customerV1Schema = `{"namespace":"customerManagement.avro","type":"record","name":"Customer","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"faxNumber","type":["null","string"],"default":null}]}`
	customerV2Schema = `{"namespace":"customerManagement.avro","type":"record","name":"Customer","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}`
	// customerBadSchema adds email without a default: a reader of it
	// cannot read records written without it, so BACKWARD refuses it.
	customerBadSchema = `{"namespace":"customerManagement.avro","type":"record","name":"Customer","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"email","type":"string"}]}`
)

type customerV1 struct {
	ID        int32   `avro:"id"`
	Name      string  `avro:"name"`
	FaxNumber *string `avro:"faxNumber"`
}

type customerV2 struct {
	ID    int32   `avro:"id"`
	Name  string  `avro:"name"`
	Email *string `avro:"email"`
}

const (
	topic   = "customerContacts"
	subject = topic + "-value"
)

func str(s string) *string { return &s }

// newRegistry serves a Samsa registry (in memory) on a loopback port and
// returns its URL.
func newRegistry(t testing.TB) string {
	srv := httptest.NewServer(registry.NewMemory(nil).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// newConfluentClient returns confluent-kafka-go's registry client of url.
func newConfluentClient(t testing.TB, url string) schemaregistry.Client {
	cc, err := schemaregistry.NewClient(schemaregistry.NewConfig(url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func avroSchema(text string) schemaregistry.SchemaInfo {
	return schemaregistry.SchemaInfo{Schema: text, SchemaType: "AVRO"}
}
