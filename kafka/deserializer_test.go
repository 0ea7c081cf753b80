package kafka

import (
	"errors"
	"testing"
)

// TestDeserializersMirrorSerializers round-trips every built-in type and
// checks Java's behaviour on null and on data of the wrong size.
func TestDeserializersMirrorSerializers(t *testing.T) {
	roundTrip := func(name string, ok bool) {
		if !ok {
			t.Errorf("%s does not round-trip", name)
		}
	}
	b, _ := IntegerSerializer{}.Serialize("t", nil, -12345)
	i, err := IntegerDeserializer{}.Deserialize("t", nil, b)
	roundTrip("int32", err == nil && i == -12345)
	b, _ = LongSerializer{}.Serialize("t", nil, 1<<40)
	l, err := LongDeserializer{}.Deserialize("t", nil, b)
	roundTrip("int64", err == nil && l == 1<<40)
	b, _ = ShortSerializer{}.Serialize("t", nil, -7)
	s, err := ShortDeserializer{}.Deserialize("t", nil, b)
	roundTrip("int16", err == nil && s == -7)
	b, _ = FloatSerializer{}.Serialize("t", nil, 1.5)
	f, err := FloatDeserializer{}.Deserialize("t", nil, b)
	roundTrip("float32", err == nil && f == 1.5)
	b, _ = DoubleSerializer{}.Serialize("t", nil, -2.25)
	d, err := DoubleDeserializer{}.Deserialize("t", nil, b)
	roundTrip("float64", err == nil && d == -2.25)
	b, _ = StringSerializer{}.Serialize("t", nil, "héllo")
	str, err := StringDeserializer{}.Deserialize("t", nil, b)
	roundTrip("string", err == nil && str == "héllo")
	u, _ := ParseUUID("123e4567-e89b-12d3-a456-426614174000")
	b, _ = UUIDSerializer{}.Serialize("t", nil, u)
	u2, err := UUIDDeserializer{}.Deserialize("t", nil, b)
	roundTrip("UUID", err == nil && u2 == u)
	raw, err := ByteArrayDeserializer{}.Deserialize("t", nil, []byte{1, 2})
	roundTrip("bytes", err == nil && len(raw) == 2)

	// Null is the zero value; a wrong size is an error.
	if v, err := (IntegerDeserializer{}).Deserialize("t", nil, nil); v != 0 || err != nil {
		t.Errorf("null int32: %v %v", v, err)
	}
	if raw, err := (ByteArrayDeserializer{}).Deserialize("t", nil, nil); raw != nil || err != nil {
		t.Errorf("null bytes: %v %v", raw, err)
	}
	if _, err := (LongDeserializer{}).Deserialize("t", nil, []byte{1, 2, 3}); err == nil {
		t.Error("3 bytes as int64")
	}
	if _, err := (VoidDeserializer{}).Deserialize("t", nil, []byte{}); err == nil {
		t.Error("non-null data for VoidDeserializer")
	}
	if err := (StringDeserializer{}).Configure(Config{"key.deserializer.encoding": "latin1"}, true); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("latin1: %v", err)
	}
	if err := (StringDeserializer{}).Configure(Config{"deserializer.encoding": "UTF8"}, false); err != nil {
		t.Errorf("UTF8: %v", err)
	}
	fn := DeserializerFunc[int](func(_ string, h Headers, data []byte) (int, error) { return len(data) + len(h), nil })
	if n, err := fn.Deserialize("t", Headers{{Key: "a"}}, []byte("xy")); n != 3 || err != nil {
		t.Errorf("func: %d %v", n, err)
	}
}
