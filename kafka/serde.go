package kafka

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
)

// Header is one record header. A nil Value is a null header value.
type Header struct {
	Key   string
	Value []byte
}

// Headers are a record's headers, in order; keys may repeat (Java's
// RecordHeaders).
type Headers []Header

// Add appends a header.
func (h *Headers) Add(key string, value []byte) { *h = append(*h, Header{Key: key, Value: value}) }

// Remove drops every header with the key.
func (h *Headers) Remove(key string) {
	out := (*h)[:0]
	for _, x := range *h {
		if x.Key != key {
			out = append(out, x)
		}
	}
	*h = out
}

// LastHeader returns the last header with the key (Java's
// Headers.lastHeader).
func (h Headers) LastHeader(key string) (Header, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Key == key {
			return h[i], true
		}
	}
	return Header{}, false
}

// Serializer turns a key or value into bytes (Java's
// org.apache.kafka.common.serialization.Serializer). Returning nil bytes
// writes a null key or value on the wire.
//
// NewProducer calls Configure with the producer's Config and whether the
// serializer is for keys; the Java client only does that for serializers
// it builds from class names, but in Go every serializer is passed in, so
// every one is configured. Close is called once when the producer closes.
// Serialize may add headers to the record. It must be safe for concurrent
// use, as Send is.
type Serializer[T any] interface {
	Configure(configs Config, isKey bool) error
	Serialize(topic string, headers *Headers, v T) ([]byte, error)
	Close() error
}

// ConfigAcceptor is implemented by serializers, partitioners and
// interceptors that read settings of their own from the producer's Config.
// Settings neither the producer nor any plug-in accepts fail NewProducer.
type ConfigAcceptor interface {
	AcceptsConfig(name string) bool
}

// noConfig provides do-nothing Configure and Close for the stateless
// built-in serializers.
type noConfig struct{}

// Configure does nothing.
func (noConfig) Configure(Config, bool) error { return nil }

// Close does nothing.
func (noConfig) Close() error { return nil }

// headerless is implemented by the built-in serializers, which never add
// headers: the producer calls them without a *Headers, which would
// otherwise cost an allocation per record.
type headerless[T any] interface {
	serialize(v T) ([]byte, error)
}

// ByteArraySerializer passes bytes through; a nil slice is null.
type ByteArraySerializer struct{ noConfig }

// Serialize returns v unchanged.
func (ByteArraySerializer) Serialize(_ string, _ *Headers, v []byte) ([]byte, error) { return v, nil }

func (ByteArraySerializer) serialize(v []byte) ([]byte, error) { return v, nil }

// StringSerializer writes a string's bytes. Java's StringSerializer
// encodes with key.serializer.encoding / value.serializer.encoding /
// serializer.encoding (default UTF-8); Go strings are already bytes, so only
// UTF-8 is accepted and the bytes are written as they are.
type StringSerializer struct{}

// AcceptsConfig claims the encoding settings.
func (StringSerializer) AcceptsConfig(name string) bool {
	return name == "key.serializer.encoding" || name == "value.serializer.encoding" || name == "serializer.encoding"
}

// Configure checks that any encoding setting names UTF-8.
func (StringSerializer) Configure(c Config, isKey bool) error {
	name := "value.serializer.encoding"
	if isKey {
		name = "key.serializer.encoding"
	}
	return checkUTF8(c, name, "serializer.encoding")
}

// Close does nothing.
func (StringSerializer) Close() error { return nil }

// Serialize returns the string's bytes.
func (StringSerializer) Serialize(_ string, _ *Headers, v string) ([]byte, error) {
	return []byte(v), nil
}

func (StringSerializer) serialize(v string) ([]byte, error) { return []byte(v), nil }

// IntegerSerializer writes a 4-byte big-endian int32 (Java
// IntegerSerializer).
type IntegerSerializer struct{ noConfig }

// Serialize encodes v.
func (IntegerSerializer) Serialize(_ string, _ *Headers, v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(nil, uint32(v)), nil
}

func (x IntegerSerializer) serialize(v int32) ([]byte, error) { return x.Serialize("", nil, v) }

// LongSerializer writes an 8-byte big-endian int64 (Java LongSerializer).
type LongSerializer struct{ noConfig }

// Serialize encodes v.
func (LongSerializer) Serialize(_ string, _ *Headers, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(v)), nil
}

func (x LongSerializer) serialize(v int64) ([]byte, error) { return x.Serialize("", nil, v) }

// ShortSerializer writes a 2-byte big-endian int16 (Java ShortSerializer).
type ShortSerializer struct{ noConfig }

// Serialize encodes v.
func (ShortSerializer) Serialize(_ string, _ *Headers, v int16) ([]byte, error) {
	return binary.BigEndian.AppendUint16(nil, uint16(v)), nil
}

func (x ShortSerializer) serialize(v int16) ([]byte, error) { return x.Serialize("", nil, v) }

// FloatSerializer writes the IEEE 754 bits of a float32, big-endian (Java
// FloatSerializer, Float.floatToRawIntBits).
type FloatSerializer struct{ noConfig }

// Serialize encodes v.
func (FloatSerializer) Serialize(_ string, _ *Headers, v float32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(nil, math.Float32bits(v)), nil
}

func (x FloatSerializer) serialize(v float32) ([]byte, error) { return x.Serialize("", nil, v) }

// DoubleSerializer writes the IEEE 754 bits of a float64, big-endian (Java
// DoubleSerializer).
type DoubleSerializer struct{ noConfig }

// Serialize encodes v.
func (DoubleSerializer) Serialize(_ string, _ *Headers, v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, math.Float64bits(v)), nil
}

func (x DoubleSerializer) serialize(v float64) ([]byte, error) { return x.Serialize("", nil, v) }

// VoidSerializer always writes null (Java VoidSerializer); use it with
// struct{} keys for records that never have one.
type VoidSerializer struct{ noConfig }

// Serialize returns nil.
func (VoidSerializer) Serialize(string, *Headers, struct{}) ([]byte, error) { return nil, nil }

func (VoidSerializer) serialize(struct{}) ([]byte, error) { return nil, nil }

// UUID is a 128-bit UUID in the byte order of its string form.
type UUID [16]byte

// String returns the canonical lower-case 8-4-4-4-12 form, as Java's
// UUID.toString does.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// ParseUUID parses the 8-4-4-4-12 hex form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("kafka: invalid UUID %q", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("kafka: invalid UUID %q", s)
	}
	return u, nil
}

// UUIDSerializer writes a UUID's string form as UTF-8, as Java's
// UUIDSerializer does (data.toString().getBytes(encoding)), not its 16 raw
// bytes.
type UUIDSerializer struct{ noConfig }

// Serialize encodes v.
func (UUIDSerializer) Serialize(_ string, _ *Headers, v UUID) ([]byte, error) {
	return []byte(v.String()), nil
}

func (x UUIDSerializer) serialize(v UUID) ([]byte, error) { return x.Serialize("", nil, v) }

// SerializerFunc adapts a function to a Serializer with no configuration.
type SerializerFunc[T any] func(topic string, headers *Headers, v T) ([]byte, error)

// Configure does nothing.
func (SerializerFunc[T]) Configure(Config, bool) error { return nil }

// Close does nothing.
func (SerializerFunc[T]) Close() error { return nil }

// Serialize calls f.
func (f SerializerFunc[T]) Serialize(topic string, headers *Headers, v T) ([]byte, error) {
	return f(topic, headers, v)
}

// serializeErr wraps a serializer failure so that it matches
// ErrSerialization (Java's SerializationException).
func serializeErr(what, topic string, err error) error {
	if errors.Is(err, ErrSerialization) {
		return err
	}
	return fmt.Errorf("%w: can't serialize %s of record to topic %s: %w", ErrSerialization, what, topic, err)
}
