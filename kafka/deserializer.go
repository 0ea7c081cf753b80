package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Deserializer turns the bytes of a key or value back into a value (Java's
// org.apache.kafka.common.serialization.Deserializer), the reverse of a
// Serializer. data is nil for a null key or value; the built-in
// deserializers return the zero value for it, as Java's return null.
//
// NewConsumer calls Configure with the consumer's Config and whether the
// deserializer is for keys, and Close once when the consumer closes.
// Deserialize runs on the goroutine calling Poll. data aliases the fetch
// response: a deserializer that keeps it must not modify it. An error
// stops Poll at that record (see RecordDeserializationError).
type Deserializer[T any] interface {
	Configure(configs Config, isKey bool) error
	Deserialize(topic string, headers Headers, data []byte) (T, error)
	Close() error
}

// ByteArrayDeserializer passes the bytes through; null stays nil.
type ByteArrayDeserializer struct{ noConfig }

// Deserialize returns data.
func (ByteArrayDeserializer) Deserialize(_ string, _ Headers, data []byte) ([]byte, error) {
	return data, nil
}

// StringDeserializer reads UTF-8 text (Java's StringDeserializer). As for
// StringSerializer, key.deserializer.encoding,
// value.deserializer.encoding and deserializer.encoding may only name
// UTF-8.
type StringDeserializer struct{}

// AcceptsConfig claims the encoding settings.
func (StringDeserializer) AcceptsConfig(name string) bool {
	return name == "key.deserializer.encoding" || name == "value.deserializer.encoding" || name == "deserializer.encoding"
}

// Configure checks that any encoding setting names UTF-8.
func (StringDeserializer) Configure(c Config, isKey bool) error {
	name := "value.deserializer.encoding"
	if isKey {
		name = "key.deserializer.encoding"
	}
	return checkUTF8(c, name, "deserializer.encoding")
}

// Close does nothing.
func (StringDeserializer) Close() error { return nil }

// Deserialize returns the bytes as a string; null is "".
func (StringDeserializer) Deserialize(_ string, _ Headers, data []byte) (string, error) {
	return string(data), nil
}

// checkUTF8 fails if the first of the settings present names an encoding
// other than UTF-8.
func checkUTF8(c Config, names ...string) error {
	for _, n := range names {
		v, ok := c[n]
		if !ok {
			continue
		}
		switch strings.ToUpper(strings.TrimSpace(v)) {
		case "UTF8", "UTF-8":
			return nil
		}
		return configErr(n, v, "only UTF-8 is supported")
	}
	return nil
}

// fixedSize checks the length of a fixed-size encoding, as Java's
// deserializers do ("Size of data received by IntegerDeserializer is not
// 4").
func fixedSize(data []byte, n int, name string) error {
	if len(data) != n {
		return fmt.Errorf("size of data received by %s is not %d", name, n)
	}
	return nil
}

// IntegerDeserializer reads a 4-byte big-endian int32 (Java
// IntegerDeserializer).
type IntegerDeserializer struct{ noConfig }

// Deserialize decodes data; null is 0.
func (IntegerDeserializer) Deserialize(_ string, _ Headers, data []byte) (int32, error) {
	if data == nil {
		return 0, nil
	}
	if err := fixedSize(data, 4, "IntegerDeserializer"); err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(data)), nil
}

// LongDeserializer reads an 8-byte big-endian int64 (Java
// LongDeserializer).
type LongDeserializer struct{ noConfig }

// Deserialize decodes data; null is 0.
func (LongDeserializer) Deserialize(_ string, _ Headers, data []byte) (int64, error) {
	if data == nil {
		return 0, nil
	}
	if err := fixedSize(data, 8, "LongDeserializer"); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint64(data)), nil
}

// ShortDeserializer reads a 2-byte big-endian int16 (Java
// ShortDeserializer).
type ShortDeserializer struct{ noConfig }

// Deserialize decodes data; null is 0.
func (ShortDeserializer) Deserialize(_ string, _ Headers, data []byte) (int16, error) {
	if data == nil {
		return 0, nil
	}
	if err := fixedSize(data, 2, "ShortDeserializer"); err != nil {
		return 0, err
	}
	return int16(binary.BigEndian.Uint16(data)), nil
}

// FloatDeserializer reads the big-endian IEEE 754 bits of a float32 (Java
// FloatDeserializer).
type FloatDeserializer struct{ noConfig }

// Deserialize decodes data; null is 0.
func (FloatDeserializer) Deserialize(_ string, _ Headers, data []byte) (float32, error) {
	if data == nil {
		return 0, nil
	}
	if err := fixedSize(data, 4, "FloatDeserializer"); err != nil {
		return 0, err
	}
	return math.Float32frombits(binary.BigEndian.Uint32(data)), nil
}

// DoubleDeserializer reads the big-endian IEEE 754 bits of a float64
// (Java DoubleDeserializer).
type DoubleDeserializer struct{ noConfig }

// Deserialize decodes data; null is 0.
func (DoubleDeserializer) Deserialize(_ string, _ Headers, data []byte) (float64, error) {
	if data == nil {
		return 0, nil
	}
	if err := fixedSize(data, 8, "DoubleDeserializer"); err != nil {
		return 0, err
	}
	return math.Float64frombits(binary.BigEndian.Uint64(data)), nil
}

// VoidDeserializer accepts only null (Java VoidDeserializer).
type VoidDeserializer struct{ noConfig }

// Deserialize fails unless data is null.
func (VoidDeserializer) Deserialize(_ string, _ Headers, data []byte) (struct{}, error) {
	if data != nil {
		return struct{}{}, errors.New("data should be null for a VoidDeserializer")
	}
	return struct{}{}, nil
}

// UUIDDeserializer reads a UUID written in its string form, as Java's
// UUIDSerializer writes it.
type UUIDDeserializer struct{ noConfig }

// Deserialize parses data; null is the zero UUID.
func (UUIDDeserializer) Deserialize(_ string, _ Headers, data []byte) (UUID, error) {
	if data == nil {
		return UUID{}, nil
	}
	return ParseUUID(string(data))
}

// DeserializerFunc adapts a function to a Deserializer with no
// configuration.
type DeserializerFunc[T any] func(topic string, headers Headers, data []byte) (T, error)

// Configure does nothing.
func (DeserializerFunc[T]) Configure(Config, bool) error { return nil }

// Close does nothing.
func (DeserializerFunc[T]) Close() error { return nil }

// Deserialize calls f.
func (f DeserializerFunc[T]) Deserialize(topic string, headers Headers, data []byte) (T, error) {
	return f(topic, headers, data)
}
