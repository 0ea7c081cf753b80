package registry

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// seedBody is the body of the curl call that registers the Customer
// schema in the source documents, byte for byte.
const seedBody = `{"schema": "{\"namespace\": \"customerManagement.avro\", \"type\": \"record\", \"name\": \"Customer\",\"fields\": [{\"name\": \"id\", \"type\": \"int\"}, {\"name\": \"name\", \"type\": \"string\"},{\"name\": \"email\", \"type\": [\"null\",\"string\"], \"default\":\"null\"}]}"}`

const (
	customerV1 = `{"namespace":"customerManagement.avro","type":"record","name":"Customer","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"faxNumber","type":["null","string"],"default":null}]}`
	customerV2 = `{"namespace":"customerManagement.avro","type":"record","name":"Customer","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"email","type":["null","string"],"default":null}]}`
	// customerBad adds a field without a default: new readers cannot read
	// old records.
	customerBad = `{"namespace":"customerManagement.avro","type":"record","name":"Customer","fields":[{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"email","type":"string"}]}`
)

type client struct {
	t   *testing.T
	url string
}

func newTestServer(t *testing.T) *client {
	srv := httptest.NewServer(NewMemory(nil).Handler())
	t.Cleanup(srv.Close)
	return &client{t, srv.URL}
}

// do sends a request and returns the status and the decoded JSON answer.
func (c *client) do(method, path, body string) (int, any) {
	c.t.Helper()
	status, raw := c.raw(method, path, body)
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		c.t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, raw, err)
	}
	return status, v
}

func (c *client) raw(method, path, body string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != contentType {
		c.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// expect checks the status and, for errors, Confluent's error body.
func (c *client) expect(method, path, body string, status int, want string) any {
	c.t.Helper()
	got, v := c.do(method, path, body)
	if got != status {
		c.t.Fatalf("%s %s: status %d, want %d; body %v", method, path, got, status, v)
	}
	if want != "" {
		b, _ := json.Marshal(v)
		if !strings.Contains(string(b), want) {
			c.t.Fatalf("%s %s: answer %s does not contain %s", method, path, b, want)
		}
	}
	return v
}

func register(schema string) string {
	b, _ := json.Marshal(map[string]string{"schema": schema})
	return string(b)
}

func TestSeedCurlCall(t *testing.T) {
	c := newTestServer(t)
	status, raw := c.raw("POST", "/subjects/Customer/versions", seedBody)
	if status != 200 || string(raw) != `{"id":1}` {
		t.Fatalf("got %d %s, want 200 {\"id\":1}", status, raw)
	}
	// The same schema again is the same id, and no new version.
	c.expect("POST", "/subjects/Customer/versions", seedBody, 200, `{"id":1}`)
	c.expect("GET", "/subjects/Customer/versions", "", 200, `[1]`)
}

func TestEndpoints(t *testing.T) {
	c := newTestServer(t)
	c.expect("POST", "/subjects/customerContacts-value/versions", register(customerV1), 200, `{"id":1}`)
	c.expect("POST", "/subjects/customerContacts-value/versions", register(customerV2), 200, `{"id":2}`)
	// The same schema under another subject keeps its id.
	c.expect("POST", "/subjects/other/versions", register(customerV2), 200, `{"id":2}`)
	// White space does not make a schema different.
	c.expect("POST", "/subjects/other/versions", register(strings.ReplaceAll(customerV2, ",", ", ")), 200, `{"id":2}`)

	c.expect("GET", "/subjects", "", 200, `["customerContacts-value","other"]`)
	c.expect("GET", "/subjects?subjectPrefix=oth", "", 200, `["other"]`)
	c.expect("GET", "/subjects/customerContacts-value/versions", "", 200, `[1,2]`)
	c.expect("GET", "/subjects/customerContacts-value/versions/1", "", 200, `"id":1`)
	v := c.expect("GET", "/subjects/customerContacts-value/versions/latest", "", 200, `"version":2`).(map[string]any)
	if _, typed := v["schemaType"]; typed || v["schema"] != customerV2 || v["subject"] != "customerContacts-value" || v["id"] != 2.0 {
		t.Errorf("latest: %v", v)
	}
	if _, raw := c.raw("GET", "/subjects/customerContacts-value/versions/1/schema", ""); string(raw) != customerV1 {
		t.Errorf("raw schema %s", raw)
	}
	c.expect("GET", "/schemas/ids/1", "", 200, `"schema":`)
	if _, raw := c.raw("GET", "/schemas/ids/2/schema", ""); string(raw) != customerV2 {
		t.Errorf("raw schema by id %s", raw)
	}
	c.expect("GET", "/schemas/ids/2/subjects", "", 200, `["customerContacts-value","other"]`)
	c.expect("GET", "/schemas/ids/2/versions", "", 200, `[{"subject":"customerContacts-value","version":2},{"subject":"other","version":1}]`)
	c.expect("GET", "/schemas/types", "", 200, `["JSON","PROTOBUF","AVRO"]`)
	c.expect("POST", "/subjects/customerContacts-value", register(customerV1), 200, `"version":1`)
	c.expect("POST", "/subjects/customerContacts-value", register(customerBad), 404, `"error_code":40403`)
	c.expect("POST", "/subjects/nope", register(customerV1), 404, `"error_code":40401`)

	// Errors, with Confluent's codes.
	c.expect("GET", "/subjects/nope/versions", "", 404, `{"error_code":40401,"message":"Subject 'nope' not found."}`)
	c.expect("GET", "/subjects/nope/versions/1", "", 404, `"error_code":40401`)
	c.expect("GET", "/subjects/customerContacts-value/versions/0", "", 422, `"error_code":42202`)
	c.expect("GET", "/subjects/customerContacts-value/versions/foo", "", 422, `"error_code":42202`)
	c.expect("GET", "/subjects/customerContacts-value/versions/2147483648", "", 422, `"error_code":42202`)
	c.expect("GET", "/subjects/customerContacts-value/versions/7", "", 404, `{"error_code":40402,"message":"Version 7 not found."}`)
	c.expect("GET", "/schemas/ids/99", "", 404, `"error_code":40403`)
	c.expect("POST", "/subjects/s/versions", `{"schema":"{\"type\":\"record\""}`, 422, `"error_code":42201`)
	c.expect("POST", "/subjects/s/versions", `{"schema":"{\"type\":\"recordz\",\"name\":\"x\"}"}`, 422, `"error_code":42201`)
	c.expect("POST", "/subjects/s/versions", `{"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"Unknown\"}]}"}`, 422, `"error_code":42201`)
	c.expect("POST", "/subjects/s/versions", `{"schema":""}`, 422, `"error_code":42201`)
	c.expect("POST", "/subjects/s/versions", `not json`, 400, `"error_code":400`)
	c.expect("GET", "/nothing/here", "", 404, `"error_code":404`)
	c.expect("PATCH", "/subjects", "", 405, `"error_code":405`)
	c.expect("GET", "/subjects/s/versions", "", 404, `"error_code":40401`)
}

func TestBodyTooLarge(t *testing.T) {
	c := newTestServer(t)
	big := `{"schema":"` + strings.Repeat("x", 10<<20) + `"}`
	c.expect("POST", "/subjects/big/versions", big, 413, `"error_code":413`)
	c.expect("POST", "/compatibility/subjects/big/versions/latest", big, 413, `"error_code":413`)
	// Media types other than the registry's and JSON are refused.
	req, _ := http.NewRequest("POST", c.url+"/subjects/s/versions", bytes.NewReader([]byte(register(customerV1))))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("text/plain: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", c.url+"/subjects/s/versions", bytes.NewReader([]byte(register(customerV1))))
	req.Header.Set("Content-Type", "application/json")
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("application/json: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestCompatibilityLevels(t *testing.T) {
	c := newTestServer(t)
	c.expect("GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
	c.expect("POST", "/subjects/Customer/versions", register(customerV1), 200, `{"id":1}`)
	// BACKWARD: a new field without a default is refused, naming it.
	v := c.expect("POST", "/subjects/Customer/versions", register(customerBad), 409, `"error_code":40901`)
	if msg := v.(map[string]any)["message"].(string); !strings.Contains(msg, "'email'") || !strings.Contains(msg, "READER_FIELD_MISSING_DEFAULT_VALUE") {
		t.Errorf("message does not name the field: %s", msg)
	}
	c.expect("POST", "/compatibility/subjects/Customer/versions/latest", register(customerBad), 200, `{"is_compatible":false}`)
	v = c.expect("POST", "/compatibility/subjects/Customer/versions/1?verbose=true", register(customerBad), 200, `"is_compatible":false`)
	if msgs := v.(map[string]any)["messages"].([]any); len(msgs) == 0 || !strings.Contains(msgs[0].(string), "email") {
		t.Errorf("verbose messages: %v", msgs)
	}
	c.expect("POST", "/compatibility/subjects/Customer/versions?verbose=true", register(customerV2), 200, `{"is_compatible":true,"messages":[]}`)
	c.expect("POST", "/compatibility/subjects/Customer/versions/9", register(customerV2), 404, `"error_code":40402`)
	c.expect("POST", "/compatibility/subjects/nope/versions/latest", register(customerV2), 200, `{"is_compatible":true}`)

	// The faxNumber -> email evolution is fully compatible.
	c.expect("PUT", "/config/Customer", `{"compatibility":"FULL_TRANSITIVE"}`, 200, `{"compatibility":"FULL_TRANSITIVE"}`)
	c.expect("GET", "/config/Customer", "", 200, `{"compatibilityLevel":"FULL_TRANSITIVE"}`)
	c.expect("POST", "/subjects/Customer/versions", register(customerV2), 200, `{"id":2}`)

	// NONE accepts anything.
	c.expect("PUT", "/config/Customer", `{"compatibility":"NONE"}`, 200, `{"compatibility":"NONE"}`)
	c.expect("POST", "/subjects/Customer/versions", register(customerBad), 200, `{"id":3}`)
	c.expect("POST", "/subjects/Customer/versions", register(`"string"`), 200, `{"id":4}`)

	c.expect("PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 422, `"error_code":42203`)
	c.expect("PUT", "/config", `{"compatibility":"forward"}`, 200, `{"compatibility":"FORWARD"}`)
	c.expect("GET", "/config", "", 200, `{"compatibilityLevel":"FORWARD"}`)
	c.expect("GET", "/config/other", "", 404, `"error_code":40408`)
	c.expect("GET", "/config/other?defaultToGlobal=true", "", 200, `{"compatibilityLevel":"FORWARD"}`)
	c.expect("DELETE", "/config/Customer", "", 200, `{"compatibilityLevel":"NONE"}`)
	c.expect("DELETE", "/config", "", 200, `{"compatibilityLevel":"FORWARD"}`)
	c.expect("GET", "/config", "", 200, `{"compatibilityLevel":"BACKWARD"}`)
}

func TestModes(t *testing.T) {
	c := newTestServer(t)
	c.expect("GET", "/mode", "", 200, `{"mode":"READWRITE"}`)
	c.expect("PUT", "/mode", `{"mode":"SOMETIMES"}`, 422, `"error_code":42204`)
	c.expect("PUT", "/mode/s", `{"mode":"READONLY"}`, 200, `{"mode":"READONLY"}`)
	c.expect("POST", "/subjects/s/versions", register(customerV1), 422, `"error_code":42205`)
	c.expect("POST", "/subjects/t/versions", register(customerV1), 200, `{"id":1}`)
	c.expect("GET", "/mode/s", "", 200, `{"mode":"READONLY"}`)
	c.expect("GET", "/mode/t", "", 404, `"error_code":40409`)
	c.expect("DELETE", "/mode/s", "", 200, `{"mode":"READONLY"}`)
	c.expect("POST", "/subjects/s/versions", register(customerV1), 200, `{"id":1}`)
	// IMPORT keeps the ids and versions given.
	c.expect("PUT", "/mode", `{"mode":"IMPORT"}`, 422, `"error_code":42205`)
	c.expect("PUT", "/mode?force=true", `{"mode":"IMPORT"}`, 200, `{"mode":"IMPORT"}`)
	c.expect("POST", "/subjects/imported/versions", `{"schema":"\"long\"","id":100,"version":7}`, 200, `{"id":100}`)
	c.expect("GET", "/subjects/imported/versions/7", "", 200, `"id":100`)
	c.expect("PUT", "/mode", `{"mode":"READWRITE"}`, 200, `{"mode":"READWRITE"}`)
	c.expect("POST", "/subjects/imported/versions", `{"schema":"\"long\"","id":100}`, 422, `"error_code":42205`)
	// Ids continue after the highest one seen.
	c.expect("PUT", "/config", `{"compatibility":"NONE"}`, 200, "")
	c.expect("POST", "/subjects/t/versions", register(`"int"`), 200, `{"id":101}`)
}

func TestDeletes(t *testing.T) {
	c := newTestServer(t)
	c.expect("POST", "/subjects/s/versions", register(customerV1), 200, `{"id":1}`)
	c.expect("POST", "/subjects/s/versions", register(customerV2), 200, `{"id":2}`)
	c.expect("DELETE", "/subjects/s/versions/1?permanent=true", "", 404, `"error_code":40407`)
	c.expect("DELETE", "/subjects/s/versions/1", "", 200, `1`)
	c.expect("DELETE", "/subjects/s/versions/1", "", 404, `"error_code":40406`)
	c.expect("GET", "/subjects/s/versions", "", 200, `[2]`)
	c.expect("GET", "/subjects/s/versions?deleted=true", "", 200, `[1,2]`)
	c.expect("GET", "/subjects/s/versions/1", "", 404, `"error_code":40402`)
	c.expect("GET", "/subjects/s/versions/1?deleted=true", "", 200, `"deleted":true`)
	// A soft-deleted schema is still found by id.
	c.expect("GET", "/schemas/ids/1", "", 200, `"schema"`)
	c.expect("DELETE", "/subjects/s/versions/1?permanent=true", "", 200, `1`)
	c.expect("GET", "/schemas/ids/1", "", 404, `"error_code":40403`)

	c.expect("DELETE", "/subjects/s?permanent=true", "", 404, `"error_code":40405`)
	c.expect("DELETE", "/subjects/s", "", 200, `[2]`)
	c.expect("DELETE", "/subjects/s", "", 404, `"error_code":40404`)
	c.expect("GET", "/subjects", "", 200, `[]`)
	c.expect("GET", "/subjects?deleted=true", "", 200, `["s"]`)
	c.expect("DELETE", "/subjects/s?permanent=true", "", 200, `[2]`)
	c.expect("GET", "/subjects?deleted=true", "", 200, `[]`)
	c.expect("DELETE", "/subjects/s", "", 404, `"error_code":40401`)
	// Ids are never reused, even after a permanent delete.
	c.expect("POST", "/subjects/s/versions", register(`"string"`), 200, `{"id":3}`)
	// A schema whose id was deleted for good gets a new id.
	c.expect("PUT", "/config/s", `{"compatibility":"NONE"}`, 200, "")
	c.expect("POST", "/subjects/s/versions", register(customerV1), 200, `{"id":4}`)
	c.expect("GET", "/subjects/s/versions", "", 200, `[1,2]`)
}

func TestReferences(t *testing.T) {
	c := newTestServer(t)
	address := `{"type":"record","name":"Address","namespace":"com.example","fields":[{"name":"street","type":"string"}]}`
	c.expect("POST", "/subjects/address/versions", register(address), 200, `{"id":1}`)
	person := `{"type":"record","name":"Person","namespace":"com.example","fields":[{"name":"home","type":"Address"},{"name":"work","type":["null","com.example.Address"],"default":null}]}`
	body, _ := json.Marshal(map[string]any{"schema": person, "references": []Reference{{Name: "com.example.Address", Subject: "address", Version: 1}}})
	c.expect("POST", "/subjects/person/versions", register(person), 422, `"error_code":42201`)
	c.expect("POST", "/subjects/person/versions", string(body), 200, `{"id":2}`)
	c.expect("GET", "/subjects/person/versions/1", "", 200, `"references":[{"name":"com.example.Address","subject":"address","version":1}]`)
	c.expect("GET", "/schemas/ids/2", "", 200, `"references":[`)
	c.expect("GET", "/subjects/address/versions/1/referencedby", "", 200, `[2]`)
	c.expect("DELETE", "/subjects/address/versions/1", "", 422, `"error_code":42206`)
	c.expect("POST", "/subjects/person", string(body), 200, `"version":1`)
	bad, _ := json.Marshal(map[string]any{"schema": person, "references": []Reference{{Name: "x", Subject: "address", Version: 5}}})
	c.expect("POST", "/subjects/person2/versions", string(bad), 422, `"error_code":42201`)
}

func TestOtherSchemaTypes(t *testing.T) {
	c := newTestServer(t)
	c.expect("POST", "/subjects/j/versions", `{"schemaType":"JSON","schema":"{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"}}}"}`, 200, `{"id":1}`)
	c.expect("GET", "/subjects/j/versions/1", "", 200, `"schemaType":"JSON"`)
	c.expect("GET", "/schemas/ids/1", "", 200, `"schemaType":"JSON"`)
	c.expect("POST", "/subjects/j/versions", `{"schemaType":"JSON","schema":"{\"type\":"}`, 422, `"error_code":42201`)
	proto := "syntax = \"proto3\";\npackage x;\n// a comment {\nmessage Customer {\n  int32 id = 1;\n  map<string, string> tags = 2;\n}\n"
	b, _ := json.Marshal(map[string]string{"schemaType": "PROTOBUF", "schema": proto})
	c.expect("POST", "/subjects/p/versions", string(b), 200, `{"id":2}`)
	b, _ = json.Marshal(map[string]string{"schemaType": "PROTOBUF", "schema": "message Customer { int32 id = 1;"})
	c.expect("POST", "/subjects/p/versions", string(b), 422, `"error_code":42201`)
	c.expect("POST", "/subjects/p/versions", `{"schemaType":"XML","schema":"<a/>"}`, 422, `"error_code":42201`)
	// A different type under the same subject is incompatible unless NONE.
	c.expect("POST", "/subjects/p/versions", register(customerV1), 409, `"error_code":40901`)
}

// TestSameSchemaDifferentText registers schemas that differ from an
// earlier one only in what Avro's printing of a schema does not keep
// (key order, {"type":"string"} for "string", the namespace in the name
// or apart or inherited): each gets the existing id and version, and
// finds it by lookup; a field with a doc added is a different schema.
func TestSameSchemaDifferentText(t *testing.T) {
	c := newTestServer(t)
	c.expect("POST", "/subjects/Customer/versions", register(customerV1), 200, `{"id":1}`)
	same := []string{
		// Keys reordered.
		`{"fields":[{"type":"int","name":"id"},{"name":"name","type":"string"},{"default":null,"type":["null","string"],"name":"faxNumber"}],"name":"Customer","type":"record","namespace":"customerManagement.avro"}`,
		// The namespace in the name; a primitive as an object.
		`{"type":"record","name":"customerManagement.avro.Customer","fields":[{"name":"id","type":{"type":"int"}},{"name":"name","type":"string"},{"name":"faxNumber","type":["null",{"type":"string"}],"default":null}]}`,
	}
	for _, s := range same {
		c.expect("POST", "/subjects/Customer/versions", register(s), 200, `{"id":1}`)
		c.expect("POST", "/subjects/Customer", register(s), 200, `"version":1`)
	}
	c.expect("GET", "/subjects/Customer/versions", "", 200, `[1]`)
	// A nested record inherits its namespace from the enclosing one.
	outer := `{"type":"record","name":"Outer","namespace":"n","fields":[{"name":"in","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"}]}},{"name":"again","type":"Inner"}]}`
	outerFull := `{"type":"record","name":"n.Outer","fields":[{"name":"in","type":{"type":"record","name":"n.Inner","fields":[{"name":"x","type":"int"}]}},{"name":"again","type":"n.Inner"}]}`
	c.expect("POST", "/subjects/Outer/versions", register(outer), 200, `{"id":2}`)
	c.expect("POST", "/subjects/Outer/versions", register(outerFull), 200, `{"id":2}`)
	// A field with a doc of its own is another schema.
	c.expect("PUT", "/config/Customer", `{"compatibility":"NONE"}`, 200, "")
	other := strings.Replace(customerV1, `"default":null`, `"default":null,"doc":"fax"`, 1)
	c.expect("POST", "/subjects/Customer/versions", register(other), 200, `{"id":3}`)
}
