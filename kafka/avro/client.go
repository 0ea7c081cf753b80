package avro

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
)

// Client talks to a Confluent-compatible schema registry (Samsa's or
// Confluent's) and caches what it learns: schemas by id and ids by
// subject and schema never change once registered, so both are kept for
// the client's lifetime.
type Client struct {
	url  string
	http *http.Client

	mu    sync.Mutex               // guards the maps
	byID  map[int]*registered      // id -> schema
	ids   map[subjectSchema]int    // (subject, schema text) -> id
	latst map[string]latestVersion // subject -> latest version, when use.latest.version
	parse map[string]*parsedSchema // schema text -> parsed
}

type subjectSchema struct{ subject, schema string }

type registered struct {
	text   string
	schema avro.Schema
}

type latestVersion struct {
	id     int
	schema avro.Schema
	at     time.Time
}

type parsedSchema struct {
	schema avro.Schema
	err    error
}

// latestTTL is how long use.latest.version trusts its cached latest
// version before asking again (Confluent's latest.cache.ttl.sec).
const latestTTL = time.Minute

// NewClient returns a client of the registry at baseURL
// (schema.registry.url), e.g. http://127.0.0.1:8081.
func NewClient(baseURL string) *Client {
	return &Client{
		url:   strings.TrimSuffix(baseURL, "/"),
		http:  &http.Client{Timeout: 30 * time.Second},
		byID:  map[int]*registered{},
		ids:   map[subjectSchema]int{},
		latst: map[string]latestVersion{},
		parse: map[string]*parsedSchema{},
	}
}

// RegistryError is an error answer of the registry, with its HTTP status
// and Confluent error code (40401 subject not found, 40901 incompatible,
// ...).
type RegistryError struct {
	Status  int
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *RegistryError) Error() string {
	return fmt.Sprintf("schema registry: %s (HTTP %d, error code %d)", e.Message, e.Status, e.Code)
}

func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("schema registry: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &RegistryError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return e
	}
	return json.Unmarshal(b, out)
}

// Register registers a schema under a subject, or finds it registered,
// and returns its id.
func (c *Client) Register(ctx context.Context, subject, schema string) (int, error) {
	key := subjectSchema{subject, schema}
	c.mu.Lock()
	id, ok := c.ids[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	var out struct {
		ID int `json:"id"`
	}
	if err := c.call(ctx, http.MethodPost, "/subjects/"+url.PathEscape(subject)+"/versions", map[string]string{"schema": schema}, &out); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.ids[key] = out.ID
	c.mu.Unlock()
	return out.ID, nil
}

// Lookup finds the id of a schema already registered under a subject,
// without registering it (auto.register.schemas=false).
func (c *Client) Lookup(ctx context.Context, subject, schema string) (int, error) {
	key := subjectSchema{subject, schema}
	c.mu.Lock()
	id, ok := c.ids[key]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	var out struct {
		ID int `json:"id"`
	}
	if err := c.call(ctx, http.MethodPost, "/subjects/"+url.PathEscape(subject), map[string]string{"schema": schema}, &out); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.ids[key] = out.ID
	c.mu.Unlock()
	return out.ID, nil
}

// Latest returns the id and schema of a subject's latest version
// (use.latest.version), cached for a minute.
func (c *Client) Latest(ctx context.Context, subject string) (int, avro.Schema, error) {
	c.mu.Lock()
	l, ok := c.latst[subject]
	c.mu.Unlock()
	if ok && time.Since(l.at) < latestTTL {
		return l.id, l.schema, nil
	}
	var out struct {
		ID     int    `json:"id"`
		Schema string `json:"schema"`
	}
	if err := c.call(ctx, http.MethodGet, "/subjects/"+url.PathEscape(subject)+"/versions/latest", nil, &out); err != nil {
		return 0, nil, err
	}
	s, err := c.Parse(out.Schema)
	if err != nil {
		return 0, nil, err
	}
	c.mu.Lock()
	c.latst[subject] = latestVersion{out.ID, s, time.Now()}
	c.mu.Unlock()
	return out.ID, s, nil
}

// SchemaByID returns the schema of an id, from the cache when it can.
func (c *Client) SchemaByID(ctx context.Context, id int) (avro.Schema, error) {
	c.mu.Lock()
	r, ok := c.byID[id]
	c.mu.Unlock()
	if ok {
		return r.schema, nil
	}
	var out struct {
		SchemaType string `json:"schemaType"`
		Schema     string `json:"schema"`
	}
	if err := c.call(ctx, http.MethodGet, fmt.Sprintf("/schemas/ids/%d", id), nil, &out); err != nil {
		return nil, err
	}
	if out.SchemaType != "" && out.SchemaType != "AVRO" {
		return nil, fmt.Errorf("schema %d is %s, not AVRO", id, out.SchemaType)
	}
	s, err := c.Parse(out.Schema)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.byID[id] = &registered{out.Schema, s}
	c.mu.Unlock()
	return s, nil
}

// Parse parses an Avro schema, leniently as registries accept them: a
// field default that does not fit the field's type (such as the common
// "default": "null" of a ["null", ...] union) is replaced by null for a
// union that starts with null and dropped otherwise, as it does not
// change how data is encoded.
func (c *Client) Parse(text string) (avro.Schema, error) {
	c.mu.Lock()
	p, ok := c.parse[text]
	c.mu.Unlock()
	if ok {
		return p.schema, p.err
	}
	s, err := parseLenient(text)
	c.mu.Lock()
	if len(c.parse) < maxParsed {
		c.parse[text] = &parsedSchema{s, err}
	}
	c.mu.Unlock()
	return s, err
}

// maxParsed bounds the cache of parsed schema texts.
const maxParsed = 10000

func parseLenient(text string) (avro.Schema, error) {
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err == nil || !strings.Contains(err.Error(), "invalid default") {
		return s, err
	}
	var v any
	if json.Unmarshal([]byte(text), &v) != nil {
		return nil, err
	}
	fixDefaults(v)
	fixed, _ := json.Marshal(v)
	if s, err2 := avro.ParseWithCache(string(fixed), "", &avro.SchemaCache{}); err2 == nil {
		return s, nil
	}
	return nil, err
}

// fixDefaults rewrites the defaults of union fields that begin with null
// to null, where they are not already.
func fixDefaults(v any) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			fixDefaults(e)
		}
	case map[string]any:
		if fields, ok := x["fields"].([]any); ok {
			for _, f := range fields {
				fm, ok := f.(map[string]any)
				if !ok {
					continue
				}
				if u, ok := fm["type"].([]any); ok && len(u) > 0 && u[0] == "null" {
					if d, has := fm["default"]; has && d != nil {
						fm["default"] = nil
					}
				}
			}
		}
		for _, e := range x {
			fixDefaults(e)
		}
	}
}
