package kafka

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestSerializers(t *testing.T) {
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"bytes", must(ByteArraySerializer{}.Serialize("t", nil, []byte{1, 2})), []byte{1, 2}},
		{"bytes nil", must(ByteArraySerializer{}.Serialize("t", nil, nil)), nil},
		{"string", must(StringSerializer{}.Serialize("t", nil, "héllo")), []byte("h\xc3\xa9llo")},
		{"integer", must(IntegerSerializer{}.Serialize("t", nil, -2)), []byte{0xff, 0xff, 0xff, 0xfe}},
		{"integer 258", must(IntegerSerializer{}.Serialize("t", nil, 258)), []byte{0, 0, 1, 2}},
		{"long", must(LongSerializer{}.Serialize("t", nil, 1<<40+5)), []byte{0, 0, 1, 0, 0, 0, 0, 5}},
		{"short", must(ShortSerializer{}.Serialize("t", nil, -1)), []byte{0xff, 0xff}},
		// Java: Float.floatToRawIntBits(1.5f) = 0x3fc00000.
		{"float", must(FloatSerializer{}.Serialize("t", nil, 1.5)), []byte{0x3f, 0xc0, 0, 0}},
		// Java: Double.doubleToRawLongBits(-2.0) = 0xc000000000000000.
		{"double", must(DoubleSerializer{}.Serialize("t", nil, -2)), []byte{0xc0, 0, 0, 0, 0, 0, 0, 0}},
		{"double NaN", must(DoubleSerializer{}.Serialize("t", nil, math.Float64frombits(0x7ff8000000000001))), []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 1}},
		{"void", must(VoidSerializer{}.Serialize("t", nil, struct{}{})), nil},
	}
	for _, c := range cases {
		if (c.got == nil) != (c.want == nil) || !bytes.Equal(c.got, c.want) {
			t.Errorf("%s: got %x, want %x", c.name, c.got, c.want)
		}
	}
}

func TestUUIDSerializer(t *testing.T) {
	const s = "123e4567-e89b-12d3-a456-426614174000"
	u, err := ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	if u[0] != 0x12 || u[15] != 0x00 || u[6] != 0x12 {
		t.Errorf("parsed bytes %x", u)
	}
	// Java's UUIDSerializer writes uuid.toString() in UTF-8: 36 bytes.
	b, _ := UUIDSerializer{}.Serialize("t", nil, u)
	if string(b) != s {
		t.Errorf("serialized %q, want %q", b, s)
	}
	if _, err := ParseUUID("123e4567e89b12d3a456426614174000"); err == nil {
		t.Error("parsed a UUID without dashes")
	}
	if _, err := ParseUUID("123e4567-e89b-12d3-a456-42661417400g"); err == nil {
		t.Error("parsed a UUID with a non-hex digit")
	}
}

func TestHeaders(t *testing.T) {
	var h Headers
	h.Add("a", []byte("1"))
	h.Add("b", nil)
	h.Add("a", []byte("2"))
	if v, ok := h.LastHeader("a"); !ok || string(v.Value) != "2" {
		t.Errorf("LastHeader(a) = %v %v", v, ok)
	}
	h.Remove("a")
	if len(h) != 1 || h[0].Key != "b" {
		t.Errorf("after Remove: %v", h)
	}
	if _, ok := h.LastHeader("a"); ok {
		t.Error("removed header found")
	}
}

func TestSerializeErr(t *testing.T) {
	base := errors.New("boom")
	err := serializeErr("key", "t", base)
	if !errors.Is(err, ErrSerialization) || !errors.Is(err, base) {
		t.Errorf("%v does not wrap both", err)
	}
	if Retriable(err) {
		t.Error("serialization errors are not retriable")
	}
}
