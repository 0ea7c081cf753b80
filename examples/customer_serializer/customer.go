// Command customer_serializer is the custom serializer of the source
// documents (Kafka: The Definitive Guide, chapter 3): a Customer is
// written as a 4-byte id, a 4-byte name length and the name in UTF-8, all
// big-endian. As the book warns, such hand-made formats are fragile when
// the type changes; prefer Avro with a schema registry.
//
//	go run ./examples/customer_serializer -bootstrap localhost:9092 -topic customerContacts
package main

import (
	"encoding/binary"

	"github.com/samsa-io/samsa/kafka"
)

// Customer is the book's example type.
type Customer struct {
	ID   int32
	Name string
}

// CustomerSerializer implements kafka.Serializer[*Customer]. A nil
// customer is written as null (the producer does that without calling
// Serialize; the check is kept for direct callers).
type CustomerSerializer struct{}

// Configure has nothing to configure.
func (CustomerSerializer) Configure(kafka.Config, bool) error { return nil }

// Serialize writes id, name length (0 for an empty name) and name.
func (CustomerSerializer) Serialize(_ string, _ *kafka.Headers, c *Customer) ([]byte, error) {
	if c == nil {
		return nil, nil
	}
	b := make([]byte, 0, 8+len(c.Name))
	b = binary.BigEndian.AppendUint32(b, uint32(c.ID))
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.Name)))
	return append(b, c.Name...), nil
}

// Close has nothing to close.
func (CustomerSerializer) Close() error { return nil }
