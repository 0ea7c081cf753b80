// Command avro_customer is the Customer schema evolution of the source
// documents: one producer still writes customers with a fax number, an
// upgraded one writes them with an email address, and a consumer built
// for the new schema reads both (old records have no email).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/samsa-io/samsa/kafka"
	"github.com/samsa-io/samsa/kafka/avro"
)

// The original schema and its successor, faxNumber replaced by email.
const (
	schemaV1 = `{"namespace": "customerManagement.avro", "type": "record", "name": "Customer",
 "fields": [
  {"name": "id", "type": "int"},
  {"name": "name", "type": "string"},
  {"name": "faxNumber", "type": ["null", "string"], "default": null}]}`
	schemaV2 = `{"namespace": "customerManagement.avro", "type": "record", "name": "Customer",
 "fields": [
  {"name": "id", "type": "int"},
  {"name": "name", "type": "string"},
  {"name": "email", "type": ["null", "string"], "default": null}]}`
)

// CustomerV1 is the customer as pre-upgrade applications know it.
type CustomerV1 struct {
	ID        int32   `avro:"id"`
	Name      string  `avro:"name"`
	FaxNumber *string `avro:"faxNumber"`
}

// Customer is the customer after the upgrade.
type Customer struct {
	ID    int32   `avro:"id"`
	Name  string  `avro:"name"`
	Email *string `avro:"email"`
}

func main() {
	bootstrap := flag.String("bootstrap", "localhost:9092", "bootstrap.servers")
	registryURL := flag.String("registry", "http://localhost:8081", "schema.registry.url")
	topic := flag.String("topic", "customerContacts", "topic")
	flag.Parse()
	if err := run(*bootstrap, *registryURL, *topic, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(bootstrap, registryURL, topic string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := avro.NewClient(registryURL)
	cfg := kafka.Config{"bootstrap.servers": bootstrap, "schema.registry.url": registryURL}

	fax := "+33 1 23 45 67 89"
	if err := produce(ctx, cfg, cl, schemaV1, topic, CustomerV1{ID: 1, Name: "Precision Products", FaxNumber: &fax}); err != nil {
		return err
	}
	email := "sales@example.com"
	if err := produce(ctx, cfg, cl, schemaV2, topic, Customer{ID: 2, Name: "Laboratory Equipment", Email: &email}); err != nil {
		return err
	}

	de, err := avro.NewDeserializer[Customer](cl, schemaV2)
	if err != nil {
		return err
	}
	c, err := kafka.NewConsumer(kafka.Config{"bootstrap.servers": bootstrap, "schema.registry.url": registryURL,
		"group.id": "avro-customer", "auto.offset.reset": "earliest"}, kafka.StringDeserializer{}, de)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if err := c.Subscribe([]string{topic}, nil); err != nil {
		return err
	}
	for seen := 0; seen < 2; {
		recs, err := c.Poll(ctx)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("read %d of 2 customers: %w", seen, ctx.Err())
		}
		for _, r := range recs.All() {
			email := "null"
			if r.Value.Email != nil {
				email = *r.Value.Email
			}
			fmt.Fprintf(out, "customer %d %s email=%s\n", r.Value.ID, r.Value.Name, email)
			seen++
		}
	}
	return nil
}

// produce sends one customer with a producer whose serializer writes the
// given schema version.
func produce[T any](ctx context.Context, cfg kafka.Config, cl *avro.Client, schema, topic string, v T) error {
	ser, err := avro.NewSerializer[T](cl, schema)
	if err != nil {
		return err
	}
	p, err := kafka.NewProducer(cfg, kafka.StringSerializer{}, ser)
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	_, err = p.Send(ctx, kafka.ProducerRecord[string, T]{Topic: topic, Value: v}).Get(ctx)
	return err
}
