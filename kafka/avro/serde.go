package avro

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/samsa-io/samsa/kafka"
)

// magicByte starts every value in Confluent's wire format, followed by
// the 4-byte big-endian schema id and the Avro binary encoding.
const magicByte = 0

// headerLen is the length of the magic byte and schema id.
const headerLen = 5

// ErrUnknownMagicByte is returned for data that is not in Confluent's wire
// format.
var ErrUnknownMagicByte = errors.New("avro: unknown magic byte")

// SubjectNameStrategy names the subject a record's schema is registered
// under (Confluent's key.subject.name.strategy and
// value.subject.name.strategy).
type SubjectNameStrategy func(topic string, isKey bool, schema avro.Schema) string

// TopicNameStrategy is <topic>-key or <topic>-value, the default.
func TopicNameStrategy(topic string, isKey bool, _ avro.Schema) string {
	if isKey {
		return topic + "-key"
	}
	return topic + "-value"
}

// RecordNameStrategy is the full name of the record.
func RecordNameStrategy(_ string, _ bool, s avro.Schema) string { return recordName(s) }

// TopicRecordNameStrategy is <topic>-<full name of the record>.
func TopicRecordNameStrategy(topic string, _ bool, s avro.Schema) string {
	return topic + "-" + recordName(s)
}

func recordName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

// strategyByName maps a strategy setting, short or as Confluent's Java
// class name, to the strategy.
func strategyByName(name string) (SubjectNameStrategy, bool) {
	switch name[strings.LastIndexByte(name, '.')+1:] {
	case "TopicNameStrategy":
		return TopicNameStrategy, true
	case "RecordNameStrategy":
		return RecordNameStrategy, true
	case "TopicRecordNameStrategy":
		return TopicRecordNameStrategy, true
	}
	return nil, false
}

// The settings the serdes read from the producer's or consumer's Config,
// with Confluent's names.
const (
	cfgURL          = "schema.registry.url"
	cfgAutoRegister = "auto.register.schemas"
	cfgUseLatest    = "use.latest.version"
	cfgKeyStrategy  = "key.subject.name.strategy"
	cfgValStrategy  = "value.subject.name.strategy"
)

func accepts(name string) bool {
	switch name {
	case cfgURL, cfgAutoRegister, cfgUseLatest, cfgKeyStrategy, cfgValStrategy:
		return true
	}
	return false
}

// requestTimeout bounds a registry call made while serializing or
// deserializing, which have no context of their own.
const requestTimeout = 30 * time.Second

// Serializer writes values of T (Go structs with avro tags, maps, or any
// type hamba/avro encodes) in Confluent's wire format with its schema, as
// Confluent's KafkaAvroSerializer does. It claims the settings
// schema.registry.url (ignored: the Client is given), auto.register.schemas
// (default true), use.latest.version (default false) and
// key/value.subject.name.strategy (TopicNameStrategy, RecordNameStrategy or
// TopicRecordNameStrategy, short or as Confluent's class names).
type Serializer[T any] struct {
	client *Client
	text   string
	schema avro.Schema

	// Set by Configure, before any Serialize.
	isKey        bool
	autoRegister bool
	useLatest    bool
	strategy     SubjectNameStrategy

	mu       sync.Mutex        // guards ids and subjects
	ids      map[string]int    // subject -> id of schema under it
	subjects map[string]string // topic -> subject, for the strategy and isKey set
}

// maxCachedSubjects bounds a Serializer's cache of subjects by topic;
// past it, the strategy names the subject of each record anew.
const maxCachedSubjects = 10000

// NewSerializer returns a serializer writing T with the schema text.
func NewSerializer[T any](client *Client, schema string) (*Serializer[T], error) {
	s, err := client.Parse(schema)
	if err != nil {
		return nil, fmt.Errorf("avro: %w", err)
	}
	return &Serializer[T]{client: client, text: schema, schema: s, autoRegister: true, strategy: TopicNameStrategy, ids: map[string]int{}, subjects: map[string]string{}}, nil
}

// AcceptsConfig claims the serde's settings.
func (s *Serializer[T]) AcceptsConfig(name string) bool { return accepts(name) }

// Configure reads the serde's settings.
func (s *Serializer[T]) Configure(c kafka.Config, isKey bool) error {
	s.isKey = isKey
	defer s.forgetSubjects()
	var err error
	if s.autoRegister, err = boolSetting(c, cfgAutoRegister, true); err != nil {
		return err
	}
	if s.useLatest, err = boolSetting(c, cfgUseLatest, false); err != nil {
		return err
	}
	name := cfgValStrategy
	if isKey {
		name = cfgKeyStrategy
	}
	if v, ok := c[name]; ok {
		st, ok := strategyByName(strings.TrimSpace(v))
		if !ok {
			return fmt.Errorf("avro: %s=%q: expected TopicNameStrategy, RecordNameStrategy or TopicRecordNameStrategy", name, v)
		}
		s.strategy = st
	}
	return nil
}

// WithStrategy sets the subject name strategy (instead of the setting).
func (s *Serializer[T]) WithStrategy(st SubjectNameStrategy) *Serializer[T] {
	s.strategy = st
	s.forgetSubjects()
	return s
}

// forgetSubjects empties the cache of subjects by topic, which the
// strategy and isKey determine.
func (s *Serializer[T]) forgetSubjects() {
	s.mu.Lock()
	clear(s.subjects)
	s.mu.Unlock()
}

func boolSetting(c kafka.Config, name string, def bool) (bool, error) {
	v, ok := c[name]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return def, fmt.Errorf("avro: %s=%q: expected true or false", name, v)
	}
	return b, nil
}

// Close does nothing.
func (s *Serializer[T]) Close() error { return nil }

// writers pools the Avro writers Serialize encodes with, so that a
// record costs one allocation, its output, once its id is cached.
var writers = sync.Pool{New: func() any { return avro.NewWriter(nil, 512) }}

// maxPooledWriterBytes keeps the writer of an unusually large record out
// of the pool, so the pool does not hold on to its buffer.
const maxPooledWriterBytes = 64 << 10

// Serialize encodes v: magic byte, schema id, Avro binary.
func (s *Serializer[T]) Serialize(topic string, _ *kafka.Headers, v T) ([]byte, error) {
	subject, id, cached := s.cached(topic)
	schema := s.schema
	if !cached {
		var err error
		if id, schema, err = s.idFor(subject); err != nil {
			return nil, err
		}
	}
	w := writers.Get().(*avro.Writer)
	w.Reset(nil)
	w.Error = nil
	var header [headerLen]byte
	header[0] = magicByte
	binary.BigEndian.PutUint32(header[1:], uint32(id))
	w.Write(header[:])
	w.WriteVal(schema, v)
	var out []byte
	err := w.Error
	if err == nil {
		out = bytes.Clone(w.Buffer())
	}
	if cap(w.Buffer()) <= maxPooledWriterBytes {
		writers.Put(w)
	}
	if err != nil {
		return nil, fmt.Errorf("avro: encoding for subject %s: %w", subject, err)
	}
	return out, nil
}

// cached returns the subject of a topic and, unless use.latest.version
// asks the client each time, the id to write under it, from the
// serializer's caches; cached is false when the id is not cached.
func (s *Serializer[T]) cached(topic string) (subject string, id int, cached bool) {
	s.mu.Lock()
	subject, ok := s.subjects[topic]
	if ok && !s.useLatest {
		id, cached = s.ids[subject]
	}
	s.mu.Unlock()
	if !ok {
		subject = s.strategy(topic, s.isKey, s.schema)
		s.mu.Lock()
		if len(s.subjects) < maxCachedSubjects {
			s.subjects[topic] = subject
		}
		s.mu.Unlock()
	}
	return subject, id, cached
}

// idFor returns the schema id to write under a subject, and the schema
// to encode with: the serializer's own (registered, or looked up), or
// with use.latest.version the subject's latest.
func (s *Serializer[T]) idFor(subject string) (int, avro.Schema, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if s.useLatest {
		return s.client.Latest(ctx, subject)
	}
	s.mu.Lock()
	id, ok := s.ids[subject]
	s.mu.Unlock()
	if ok {
		return id, s.schema, nil
	}
	var err error
	if s.autoRegister {
		id, err = s.client.Register(ctx, subject, s.text)
	} else {
		id, err = s.client.Lookup(ctx, subject, s.text)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("avro: schema for subject %s: %w", subject, err)
	}
	s.mu.Lock()
	s.ids[subject] = id
	s.mu.Unlock()
	return id, s.schema, nil
}

// Deserializer reads values in Confluent's wire format into T. With a
// reader schema it resolves each record's writer schema against it, per
// Avro's rules: fields the writer lacks take the reader's defaults,
// fields the reader lacks are skipped, types are promoted. Without one it
// decodes with the writer's schema.
type Deserializer[T any] struct {
	client *Client
	reader avro.Schema

	mu       sync.Mutex          // guards resolved
	resolved map[int]avro.Schema // writer id -> schema to decode with
}

// NewDeserializer returns a deserializer into T; readerSchema may be ""
// to decode with each record's writer schema.
func NewDeserializer[T any](client *Client, readerSchema string) (*Deserializer[T], error) {
	d := &Deserializer[T]{client: client, resolved: map[int]avro.Schema{}}
	if readerSchema != "" {
		s, err := client.Parse(readerSchema)
		if err != nil {
			return nil, fmt.Errorf("avro: %w", err)
		}
		d.reader = s
	}
	return d, nil
}

// AcceptsConfig claims the serde's settings.
func (d *Deserializer[T]) AcceptsConfig(name string) bool { return accepts(name) }

// Configure does nothing: the Client is given.
func (d *Deserializer[T]) Configure(kafka.Config, bool) error { return nil }

// Close does nothing.
func (d *Deserializer[T]) Close() error { return nil }

// Deserialize decodes data; null data is T's zero value.
func (d *Deserializer[T]) Deserialize(_ string, _ kafka.Headers, data []byte) (T, error) {
	var v T
	if data == nil {
		return v, nil
	}
	if len(data) < headerLen || data[0] != magicByte {
		return v, ErrUnknownMagicByte
	}
	id := int(binary.BigEndian.Uint32(data[1:headerLen]))
	schema, err := d.schemaFor(id)
	if err != nil {
		return v, err
	}
	if err := avro.Unmarshal(schema, data[headerLen:], &v); err != nil {
		return v, fmt.Errorf("avro: decoding with schema %d: %w", id, err)
	}
	return v, nil
}

func (d *Deserializer[T]) schemaFor(id int) (avro.Schema, error) {
	d.mu.Lock()
	s, ok := d.resolved[id]
	d.mu.Unlock()
	if ok {
		return s, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	writer, err := d.client.SchemaByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("avro: schema %d: %w", id, err)
	}
	s = writer
	if d.reader != nil {
		if s, err = avro.NewSchemaCompatibility().Resolve(d.reader, writer); err != nil {
			return nil, fmt.Errorf("avro: reader schema cannot read schema %d: %w", id, err)
		}
	}
	d.mu.Lock()
	d.resolved[id] = s
	d.mu.Unlock()
	return s, nil
}
