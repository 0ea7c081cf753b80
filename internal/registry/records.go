package registry

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The records of the _schemas topic, in Confluent's format (see doc.go).

// Key types.
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyMode          = "MODE"
	keyNoop          = "NOOP"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyClearSubject  = "CLEAR_SUBJECT"
)

// recordKey is the key of every record. Subject is null for the global
// CONFIG and MODE records; Version is set only for SCHEMA.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

// version is the value of a SCHEMA record: one version of a subject.
type version struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"` // omitted for AVRO
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

// configValue is the value of a CONFIG record.
type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

// modeValue is the value of a MODE record.
type modeValue struct {
	Mode string `json:"mode"`
}

// subjectValue is the value of DELETE_SUBJECT (every version up to
// Version is deleted) and CLEAR_SUBJECT records.
type subjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version,omitempty"`
}

// Limits on what a record may hold; a record breaking them is skipped.
const (
	maxSubjectBytes = 1 << 16
	maxVersion      = 1<<31 - 1
)

func schemaKey(subject string, v int) []byte {
	return mustJSON(recordKey{KeyType: keySchema, Subject: &subject, Version: v, Magic: 1})
}

// subjectKey is the key of CONFIG and MODE records; "" is the global one.
func subjectKey(keyType, subject string) []byte {
	k := recordKey{KeyType: keyType}
	if subject != "" {
		k.Subject = &subject
	}
	return mustJSON(k)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are marshaled
	}
	return b
}

// change is one decoded record of the topic.
type change struct {
	key     recordKey
	subject string   // "" for global CONFIG and MODE
	tomb    bool     // a null value: delete
	schema  *version // SCHEMA
	config  string   // CONFIG compatibilityLevel
	mode    string   // MODE
	upTo    int      // DELETE_SUBJECT
}

var errSkip = errors.New("record ignored")

// parseRecord decodes a record of the _schemas topic. Record types the
// registry does not use (NOOP, and any it does not know) return errSkip.
func parseRecord(key, value []byte) (change, error) {
	var c change
	if len(key) == 0 {
		return c, fmt.Errorf("record without a key")
	}
	if err := json.Unmarshal(key, &c.key); err != nil {
		return c, fmt.Errorf("bad key: %v", err)
	}
	if c.key.Subject != nil {
		c.subject = *c.key.Subject
	}
	if len(c.subject) > maxSubjectBytes {
		return c, fmt.Errorf("subject of %d bytes", len(c.subject))
	}
	c.tomb = value == nil
	switch c.key.KeyType {
	case keySchema:
		if c.subject == "" || c.key.Version < 1 {
			return c, fmt.Errorf("SCHEMA key without subject or version")
		}
		if c.tomb {
			return c, nil
		}
		var v version
		if err := json.Unmarshal(value, &v); err != nil {
			return c, fmt.Errorf("bad SCHEMA value: %v", err)
		}
		if v.ID < 0 || v.Subject != c.subject || v.Version != c.key.Version {
			return c, fmt.Errorf("SCHEMA value does not match its key")
		}
		t, ok := normalizeType(v.SchemaType)
		if !ok {
			return c, fmt.Errorf("unknown schema type %q", v.SchemaType)
		}
		v.SchemaType = t
		c.schema = &v
	case keyConfig:
		if c.tomb {
			return c, nil
		}
		var v configValue
		if err := json.Unmarshal(value, &v); err != nil {
			return c, fmt.Errorf("bad CONFIG value: %v", err)
		}
		if !validCompatibility(v.CompatibilityLevel) {
			return c, fmt.Errorf("unknown compatibility level %q", v.CompatibilityLevel)
		}
		c.config = v.CompatibilityLevel
	case keyMode:
		if c.tomb {
			return c, nil
		}
		var v modeValue
		if err := json.Unmarshal(value, &v); err != nil {
			return c, fmt.Errorf("bad MODE value: %v", err)
		}
		if !validMode(v.Mode) {
			return c, fmt.Errorf("unknown mode %q", v.Mode)
		}
		c.mode = v.Mode
	case keyDeleteSubject, keyClearSubject:
		if c.subject == "" || c.tomb {
			return c, errSkip
		}
		var v subjectValue
		if err := json.Unmarshal(value, &v); err != nil {
			return c, fmt.Errorf("bad %s value: %v", c.key.KeyType, err)
		}
		c.upTo = v.Version
	default:
		return c, errSkip
	}
	return c, nil
}
