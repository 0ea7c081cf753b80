package main

// The output formats of samsa consume: Kafka's DefaultMessageFormatter,
// JSON lines and nothing (NoOpMessageFormatter).

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/samsa-io/samsa/kafka"
)

// consumedRecord is what the console consumer reads.
type consumedRecord = kafka.ConsumerRecord[[]byte, []byte]

// recordFormatter writes one record.
type recordFormatter interface {
	write(w *bufio.Writer, r *consumedRecord)
}

// formatterNames maps the accepted --formatter values, Kafka's class names
// among them, to the formats.
var formatterNames = map[string]string{
	"default":                             "default",
	"kafka.tools.DefaultMessageFormatter": "default",
	"org.apache.kafka.tools.consumer.DefaultMessageFormatter": "default",
	"json":                             "json",
	"noop":                             "noop",
	"kafka.tools.NoOpMessageFormatter": "noop",
	"org.apache.kafka.tools.consumer.NoOpMessageFormatter": "noop",
}

// formatter returns the --formatter configured by --property and the
// print flags.
func (o *consumeOptions) formatter() (recordFormatter, error) {
	name := o.formatterName
	if name == "" {
		name = "default"
	}
	kind, ok := formatterNames[name]
	if !ok {
		return nil, usagef("--formatter %q: expected one of %s", name, strings.Join(slices.Sorted(maps.Keys(formatterNames)), ", "))
	}
	props, err := parseKeyValues("--property", o.properties)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "json":
		if err := checkKnown("--property", props, "line.separator"); err != nil {
			return nil, err
		}
		jf := &jsonFormatter{lineSeparator: "\n"}
		if v, ok := props["line.separator"]; ok {
			jf.lineSeparator = v
		}
		return jf, nil
	case "noop":
		return noopFormatter{}, nil
	}
	fm := &defaultFormatter{
		printValue:          true,
		keySeparator:        "\t",
		lineSeparator:       "\n",
		headersSeparator:    ",",
		headersKeySeparator: ":",
		nullLiteral:         "null",
	}
	bools := map[string]*bool{
		"print.timestamp": &fm.printTimestamp, "print.partition": &fm.printPartition,
		"print.offset": &fm.printOffset, "print.headers": &fm.printHeaders,
		"print.key": &fm.printKey, "print.value": &fm.printValue,
	}
	strs := map[string]*string{
		"key.separator": &fm.keySeparator, "line.separator": &fm.lineSeparator,
		"headers.separator": &fm.headersSeparator, "headers.key.separator": &fm.headersKeySeparator,
		"null.literal": &fm.nullLiteral,
	}
	known := slices.Sorted(maps.Keys(bools))
	known = append(known, slices.Sorted(maps.Keys(strs))...)
	if err := checkKnown("--property", props, known...); err != nil {
		return nil, err
	}
	for k, v := range props {
		if dst, ok := bools[k]; ok {
			if *dst, err = parseBool(k, v); err != nil {
				return nil, err
			}
		} else {
			*strs[k] = v
		}
	}
	fm.printKey = fm.printKey || o.printKey
	fm.printPartition = fm.printPartition || o.printPartition
	fm.printOffset = fm.printOffset || o.printOffset
	fm.printTimestamp = fm.printTimestamp || o.printTimestamp
	fm.printHeaders = fm.printHeaders || o.printHeaders
	return fm, nil
}

// defaultFormatter prints a record as Kafka's DefaultMessageFormatter
// does: timestamp, partition, offset, headers, key, value, each optional,
// in that order, separated by key.separator.
type defaultFormatter struct {
	printTimestamp, printPartition, printOffset, printHeaders, printKey, printValue bool

	keySeparator, lineSeparator, headersSeparator, headersKeySeparator, nullLiteral string
}

func (f *defaultFormatter) write(w *bufio.Writer, r *consumedRecord) {
	// Each column is followed by key.separator when another column comes
	// after it; the last by line.separator. Kafka writes nothing at all
	// for a record when every column is off.
	var cols []string
	if f.printTimestamp {
		switch r.TimestampType {
		case kafka.CreateTime, kafka.LogAppendTime:
			cols = append(cols, r.TimestampType.String()+":"+strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		default:
			cols = append(cols, "NO_TIMESTAMP")
		}
	}
	if f.printPartition {
		cols = append(cols, "Partition:"+strconv.Itoa(int(r.Partition)))
	}
	if f.printOffset {
		cols = append(cols, "Offset:"+strconv.FormatInt(r.Offset, 10))
	}
	if f.printHeaders {
		cols = append(cols, f.headers(r.Headers))
	}
	if f.printKey {
		cols = append(cols, f.bytes(r.Key))
	}
	if f.printValue {
		cols = append(cols, f.bytes(r.Value))
	}
	for i, c := range cols {
		w.WriteString(c)
		if i < len(cols)-1 {
			w.WriteString(f.keySeparator)
		} else {
			w.WriteString(f.lineSeparator)
		}
	}
}

func (f *defaultFormatter) headers(hs kafka.Headers) string {
	if len(hs) == 0 {
		return "NO_HEADERS"
	}
	var s []byte
	for i, h := range hs {
		if i > 0 {
			s = append(s, f.headersSeparator...)
		}
		s = append(s, h.Key...)
		s = append(s, f.headersKeySeparator...)
		s = append(s, f.bytes(h.Value)...)
	}
	return string(s)
}

// bytes prints a key, value or header value; a null one as null.literal.
func (f *defaultFormatter) bytes(b []byte) string {
	if b == nil {
		return f.nullLiteral
	}
	return string(b)
}

// jsonFormatter writes one JSON object per record.
type jsonFormatter struct {
	lineSeparator string
}

// jsonRecord is the JSON form of a record. Key and value are strings, or
// base64 (with the encoding field set) when they are not UTF-8; null
// stays null.
type jsonRecord struct {
	Topic         string       `json:"topic"`
	Partition     int32        `json:"partition"`
	Offset        int64        `json:"offset"`
	Timestamp     int64        `json:"timestamp"`
	TimestampType string       `json:"timestampType"`
	Key           *string      `json:"key"`
	KeyEncoding   string       `json:"keyEncoding,omitempty"`
	Value         *string      `json:"value"`
	ValueEncoding string       `json:"valueEncoding,omitempty"`
	Headers       []jsonHeader `json:"headers"`
}

type jsonHeader struct {
	Key           string  `json:"key"`
	Value         *string `json:"value"`
	ValueEncoding string  `json:"valueEncoding,omitempty"`
}

// jsonBytes returns b as a JSON string value and its encoding ("" for
// plain UTF-8, "base64" otherwise); nil for null.
func jsonBytes(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s, "base64"
}

func (f *jsonFormatter) write(w *bufio.Writer, r *consumedRecord) {
	jr := jsonRecord{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Timestamp: r.Timestamp.UnixMilli(), TimestampType: r.TimestampType.String(),
		Headers: []jsonHeader{},
	}
	if r.TimestampType == kafka.NoTimestampType {
		jr.Timestamp = -1
	}
	jr.Key, jr.KeyEncoding = jsonBytes(r.Key)
	jr.Value, jr.ValueEncoding = jsonBytes(r.Value)
	for _, h := range r.Headers {
		v, enc := jsonBytes(h.Value)
		jr.Headers = append(jr.Headers, jsonHeader{Key: h.Key, Value: v, ValueEncoding: enc})
	}
	b, _ := json.Marshal(jr) // cannot fail: strings and numbers only
	w.Write(b)
	w.WriteString(f.lineSeparator)
}

// noopFormatter prints nothing, as Kafka's NoOpMessageFormatter; the
// count at the end still says how many records were read.
type noopFormatter struct{}

func (noopFormatter) write(*bufio.Writer, *consumedRecord) {}
