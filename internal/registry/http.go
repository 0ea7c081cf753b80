package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// contentType is the registry's media type; responses carry it.
const contentType = "application/vnd.schemaregistry.v1+json"

// maxBodyBytes bounds a request body. A schema must also fit in one
// record of the _schemas topic (message.max.bytes, about 1 MiB by
// default), so larger bodies could never be stored anyway.
const maxBodyBytes = 2 << 20

// forwardedHeader marks a write forwarded by another instance, which the
// receiver must not forward again.
const forwardedHeader = "X-Samsa-Registry-Forwarded"

func (r *Registry) routes() http.Handler {
	mux := http.NewServeMux()
	get := func(p string, h func(*http.Request) (any, error)) { mux.HandleFunc("GET "+p, r.read(h)) }
	write := func(m, p string, h func(context.Context, *http.Request, []byte) (any, error)) {
		mux.HandleFunc(m+" "+p, r.write(h))
	}
	get("/{$}", func(*http.Request) (any, error) { return map[string]any{}, nil })
	get("/subjects", r.getSubjects)
	get("/subjects/{subject}/versions", r.getVersions)
	get("/subjects/{subject}/versions/{version}", r.getVersion)
	get("/subjects/{subject}/versions/{version}/schema", r.getVersionSchema)
	get("/subjects/{subject}/versions/{version}/referencedby", r.getReferencedBy)
	get("/schemas/ids/{id}", r.getSchemaByID)
	get("/schemas/ids/{id}/schema", r.getRawSchemaByID)
	get("/schemas/ids/{id}/subjects", r.getIDSubjects)
	get("/schemas/ids/{id}/versions", r.getIDVersions)
	get("/schemas/types", func(*http.Request) (any, error) { return schemaTypes, nil })
	get("/config", r.getConfig)
	get("/config/{subject}", r.getConfig)
	get("/mode", r.getMode)
	get("/mode/{subject}", r.getMode)
	mux.HandleFunc("POST /subjects/{subject}", r.withBody(r.lookup))
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions", r.withBody(r.checkCompatibility))
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", r.withBody(r.checkCompatibility))
	write("POST", "/subjects/{subject}/versions", r.postVersion)
	write("DELETE", "/subjects/{subject}", r.deleteSubjectHandler)
	write("DELETE", "/subjects/{subject}/versions/{version}", r.deleteVersionHandler)
	write("PUT", "/config", r.putConfig)
	write("PUT", "/config/{subject}", r.putConfig)
	write("DELETE", "/config", r.deleteConfig)
	write("DELETE", "/config/{subject}", r.deleteConfig)
	write("PUT", "/mode", r.putMode)
	write("PUT", "/mode/{subject}", r.putMode)
	write("DELETE", "/mode/{subject}", r.deleteMode)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if _, pattern := mux.Handler(req); pattern == "" {
			// The mux's own 404 and 405, answered in the registry's format.
			status := http.StatusNotFound
			if req.Method != http.MethodGet && req.Method != http.MethodHead && methodAllowedElsewhere(mux, req) {
				status = http.StatusMethodNotAllowed
			}
			writeError(w, newErr(status, status, "HTTP %d %s", status, http.StatusText(status)))
			return
		}
		mux.ServeHTTP(w, req)
	})
}

// methodAllowedElsewhere reports whether the path is served for another
// method, which makes a miss a 405 rather than a 404.
func methodAllowedElsewhere(mux *http.ServeMux, req *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		r2 := req.Clone(req.Context())
		r2.Method = m
		if _, p := mux.Handler(r2); p != "" {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	b, _ := json.Marshal(v)
	w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = errStore("%v", err)
	}
	writeJSON(w, e.Status, map[string]any{"error_code": e.Code, "message": e.Message})
}

// rawSchema marks a handler result written as the schema text itself
// (the .../schema endpoints).
type rawSchema string

// read serves a request from this instance's cache. What the cache does
// not have may be in the log already, written through another instance a
// moment ago: before answering 404, read the log to its end and look
// again, so that a schema registered anywhere is found everywhere.
func (r *Registry) read(h func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		v, err := h(req)
		if e := (*Error)(nil); errors.As(err, &e) && e.Status == http.StatusNotFound {
			ctx, cancel := context.WithTimeout(req.Context(), requestTimeout)
			if r.catchUp(ctx) == nil {
				v, err = h(req)
			}
			cancel()
		}
		if err != nil {
			writeError(w, err)
			return
		}
		if s, ok := v.(rawSchema); ok {
			w.Header().Set("Content-Type", contentType)
			io.WriteString(w, string(s))
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// readBody reads a request body within maxBodyBytes, checking its media
// type.
func readBody(w http.ResponseWriter, req *http.Request) ([]byte, error) {
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
		case mt == contentType, mt == "application/vnd.schemaregistry+json", mt == "application/json", mt == "application/octet-stream":
			err = nil
		default:
			err = fmt.Errorf("unsupported")
		}
		if err != nil {
			return nil, newErr(http.StatusUnsupportedMediaType, http.StatusUnsupportedMediaType, "HTTP 415 Unsupported Media Type")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, newErr(http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, "Request body is larger than %d bytes", maxBodyBytes)
		}
		return nil, newErr(http.StatusBadRequest, http.StatusBadRequest, "Error reading the request body: %v", err)
	}
	return body, nil
}

func decodeBody(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return newErr(http.StatusBadRequest, http.StatusBadRequest, "Invalid request body: %v", err)
	}
	return nil
}

// withBody is read for the POST endpoints that do not write: lookup and
// compatibility checks.
func (r *Registry) withBody(h func(*http.Request, []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		// The body is read once: read may run the handler twice.
		body, err := readBody(nil, req)
		r.read(func(req *http.Request) (any, error) {
			if err != nil {
				return nil, err
			}
			return h(req, body)
		})(w, req)
	}
}

// write runs a writing handler on the primary: here if this instance is
// it, else by forwarding the request there.
func (r *Registry) write(h func(context.Context, *http.Request, []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		body, err := readBody(w, req)
		if err != nil {
			writeError(w, err)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), requestTimeout)
		defer cancel()
		self, url, err := r.store.primary(ctx)
		if err != nil {
			writeError(w, newErr(http.StatusInternalServerError, codeForwardingFailed, "Error while forwarding the request to the primary: %v", err))
			return
		}
		if !self {
			if req.Header.Get(forwardedHeader) != "" {
				writeError(w, newErr(http.StatusInternalServerError, codeForwardingFailed, "Forwarded request reached an instance that is not the primary"))
				return
			}
			r.forward(ctx, w, req, url, body)
			return
		}
		v, err := r.locked(ctx, req, body, h)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (r *Registry) locked(ctx context.Context, req *http.Request, body []byte, h func(context.Context, *http.Request, []byte) (any, error)) (any, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.catchUp(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req, body)
}

// forward sends a write to the primary and relays its answer; on success
// it waits until this instance has read the write from the log, so that
// a read here right after sees it.
func (r *Registry) forward(ctx context.Context, w http.ResponseWriter, req *http.Request, url string, body []byte) {
	if url == "" {
		writeError(w, newErr(http.StatusInternalServerError, codeForwardingFailed, "The primary has no advertised URL to forward to"))
		return
	}
	out, err := http.NewRequestWithContext(ctx, req.Method, strings.TrimSuffix(url, "/")+req.URL.RequestURI(), strings.NewReader(string(body)))
	if err != nil {
		writeError(w, newErr(http.StatusInternalServerError, codeForwardingFailed, "Error while forwarding the request to the primary: %v", err))
		return
	}
	out.Header.Set("Content-Type", contentType)
	out.Header.Set(forwardedHeader, "1")
	resp, err := r.client.Do(out)
	if err != nil {
		writeError(w, newErr(http.StatusInternalServerError, codeForwardingFailed, "Error while forwarding the request to the primary %s: %v", url, err))
		return
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		writeError(w, newErr(http.StatusInternalServerError, codeForwardingFailed, "Error while reading the primary's answer: %v", err))
		return
	}
	if resp.StatusCode == http.StatusOK {
		if err := r.catchUp(ctx); err != nil {
			writeError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
}

// ---- handlers ----

func boolParam(req *http.Request, name string) bool {
	b, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return b
}

func (r *Registry) getSubjects(req *http.Request) (any, error) {
	return r.st.subjectNames(boolParam(req, "deleted"), req.URL.Query().Get("subjectPrefix")), nil
}

func (r *Registry) getVersions(req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	vs := r.st.versions(subject, boolParam(req, "deleted"))
	if len(vs) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	out := make([]int, len(vs))
	for i, v := range vs {
		out[i] = v.Version
	}
	return out, nil
}

// versionJSON is a subject version as the API shows it.
type versionJSON struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted,omitempty"`
}

func showVersion(v *version) versionJSON {
	out := versionJSON{Subject: v.Subject, Version: v.Version, ID: v.ID, SchemaType: v.SchemaType,
		References: v.References, Schema: v.Schema, Deleted: v.Deleted}
	if out.SchemaType == typeAvro {
		out.SchemaType = "" // Confluent omits the default type
	}
	return out
}

func (r *Registry) getVersion(req *http.Request) (any, error) {
	v, err := r.findVersion(req.PathValue("subject"), req.PathValue("version"), boolParam(req, "deleted"))
	if err != nil {
		return nil, err
	}
	return showVersion(v), nil
}

func (r *Registry) getVersionSchema(req *http.Request) (any, error) {
	v, err := r.findVersion(req.PathValue("subject"), req.PathValue("version"), boolParam(req, "deleted"))
	if err != nil {
		return nil, err
	}
	return rawSchema(v.Schema), nil
}

func (r *Registry) getReferencedBy(req *http.Request) (any, error) {
	v, err := r.findVersion(req.PathValue("subject"), req.PathValue("version"), false)
	if err != nil {
		return nil, err
	}
	out := r.st.referencedBy(v.Subject, v.Version)
	if out == nil {
		out = []int{}
	}
	return out, nil
}

func (r *Registry) schemaID(req *http.Request) (int, *idEntry, error) {
	text := req.PathValue("id")
	id, err := strconv.Atoi(text)
	if err != nil || id < 0 {
		return 0, nil, errSchemaNotFound("Schema %s not found", text)
	}
	e := r.st.byID(id)
	if e == nil {
		return 0, nil, errSchemaNotFound("Schema %d not found", id)
	}
	return id, e, nil
}

func (r *Registry) getSchemaByID(req *http.Request) (any, error) {
	_, e, err := r.schemaID(req)
	if err != nil {
		return nil, err
	}
	out := struct {
		SchemaType string      `json:"schemaType,omitempty"`
		Schema     string      `json:"schema"`
		References []Reference `json:"references,omitempty"`
	}{Schema: e.schema, References: e.refs}
	if e.schemaType != typeAvro {
		out.SchemaType = e.schemaType
	}
	return out, nil
}

func (r *Registry) getRawSchemaByID(req *http.Request) (any, error) {
	_, e, err := r.schemaID(req)
	if err != nil {
		return nil, err
	}
	return rawSchema(e.schema), nil
}

func (r *Registry) getIDSubjects(req *http.Request) (any, error) {
	id, _, err := r.schemaID(req)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, v := range r.st.idUses(id, boolParam(req, "deleted")) {
		if len(out) == 0 || out[len(out)-1] != v.Subject {
			out = append(out, v.Subject)
		}
	}
	return out, nil
}

func (r *Registry) getIDVersions(req *http.Request) (any, error) {
	id, _, err := r.schemaID(req)
	if err != nil {
		return nil, err
	}
	type sv struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := []sv{}
	for _, v := range r.st.idUses(id, boolParam(req, "deleted")) {
		out = append(out, sv{v.Subject, v.Version})
	}
	return out, nil
}

func (r *Registry) lookup(req *http.Request, body []byte) (any, error) {
	subject := req.PathValue("subject")
	var rr registerRequest
	if err := decodeBody(body, &rr); err != nil {
		return nil, err
	}
	vs := r.st.versions(subject, boolParam(req, "deleted"))
	if len(vs) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	p, err := r.parse(&rr)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if schemaIdentity(v.SchemaType, canonicalText(v.SchemaType, v.Schema), v.References) == p.identity() {
			return showVersion(v), nil
		}
	}
	return nil, errSchemaNotFound("Schema not found")
}

func (r *Registry) checkCompatibility(req *http.Request, body []byte) (any, error) {
	subject := req.PathValue("subject")
	var rr registerRequest
	if err := decodeBody(body, &rr); err != nil {
		return nil, err
	}
	level := r.st.effectiveCompatibility(subject)
	live := r.st.versions(subject, false)
	var against []*version
	if verText := req.PathValue("version"); verText != "" {
		n, err := parseVersion(verText)
		if err != nil {
			return nil, err
		}
		switch v, err := r.findVersion(subject, verText, false); {
		case err == nil:
			against = []*version{v}
		case n == -1 && len(live) == 0:
			// Nothing to be incompatible with.
		default:
			return nil, err
		}
	} else {
		against = checkTargets(live, level)
	}
	p, err := r.parse(&rr)
	if err != nil {
		return nil, err
	}
	msgs := r.incompatibilities(p, against, level)
	out := map[string]any{"is_compatible": len(msgs) == 0}
	if boolParam(req, "verbose") {
		if msgs == nil {
			msgs = []string{}
		}
		out["messages"] = msgs
	}
	return out, nil
}

func (r *Registry) postVersion(ctx context.Context, req *http.Request, body []byte) (any, error) {
	var rr registerRequest
	if err := decodeBody(body, &rr); err != nil {
		return nil, err
	}
	id, err := r.register(ctx, req.PathValue("subject"), &rr)
	if err != nil {
		return nil, err
	}
	return map[string]int{"id": id}, nil
}

func (r *Registry) deleteSubjectHandler(ctx context.Context, req *http.Request, _ []byte) (any, error) {
	return r.deleteSubject(ctx, req.PathValue("subject"), boolParam(req, "permanent"))
}

func (r *Registry) deleteVersionHandler(ctx context.Context, req *http.Request, _ []byte) (any, error) {
	return r.deleteVersion(ctx, req.PathValue("subject"), req.PathValue("version"), boolParam(req, "permanent"))
}

func (r *Registry) getConfig(req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	if subject == "" {
		return map[string]string{"compatibilityLevel": r.st.effectiveCompatibility("")}, nil
	}
	if l, ok := r.st.compatibility(subject); ok {
		return map[string]string{"compatibilityLevel": l}, nil
	}
	if boolParam(req, "defaultToGlobal") {
		return map[string]string{"compatibilityLevel": r.st.effectiveCompatibility(subject)}, nil
	}
	return nil, newErr(http.StatusNotFound, codeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
}

func (r *Registry) putConfig(ctx context.Context, req *http.Request, body []byte) (any, error) {
	var c struct {
		Compatibility string `json:"compatibility"`
	}
	if err := decodeBody(body, &c); err != nil {
		return nil, err
	}
	level := strings.ToUpper(c.Compatibility)
	if !validCompatibility(level) {
		return nil, newErr(http.StatusUnprocessableEntity, codeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	subject := req.PathValue("subject")
	if err := r.commit(ctx, record{subjectKey(keyConfig, subject), mustJSON(configValue{level})}); err != nil {
		return nil, err
	}
	return map[string]string{"compatibility": level}, nil
}

func (r *Registry) deleteConfig(ctx context.Context, req *http.Request, _ []byte) (any, error) {
	subject := req.PathValue("subject")
	old, ok := r.st.compatibility(subject)
	if subject != "" && !ok {
		return nil, newErr(http.StatusNotFound, codeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	if subject == "" {
		old = r.st.effectiveCompatibility("")
	}
	if ok {
		if err := r.commit(ctx, record{subjectKey(keyConfig, subject), nil}); err != nil {
			return nil, err
		}
	}
	return map[string]string{"compatibilityLevel": old}, nil
}

func (r *Registry) getMode(req *http.Request) (any, error) {
	subject := req.PathValue("subject")
	if subject == "" {
		return map[string]string{"mode": r.st.effectiveMode("")}, nil
	}
	if m, ok := r.st.modeOf(subject); ok {
		return map[string]string{"mode": m}, nil
	}
	if boolParam(req, "defaultToGlobal") {
		return map[string]string{"mode": r.st.effectiveMode(subject)}, nil
	}
	return nil, newErr(http.StatusNotFound, codeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject)
}

func (r *Registry) putMode(ctx context.Context, req *http.Request, body []byte) (any, error) {
	var m modeValue
	if err := decodeBody(body, &m); err != nil {
		return nil, err
	}
	mode := strings.ToUpper(m.Mode)
	if !validMode(mode) {
		return nil, newErr(http.StatusUnprocessableEntity, codeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT.")
	}
	subject := req.PathValue("subject")
	if mode == modeImport && !boolParam(req, "force") {
		var existing bool
		if subject == "" {
			existing = len(r.st.subjectNames(true, "")) > 0
		} else {
			existing = len(r.st.versions(subject, true)) > 0
		}
		if existing {
			return nil, errNotPermitted("Cannot import since found existing subjects")
		}
	}
	if err := r.commit(ctx, record{subjectKey(keyMode, subject), mustJSON(modeValue{mode})}); err != nil {
		return nil, err
	}
	return map[string]string{"mode": mode}, nil
}

func (r *Registry) deleteMode(ctx context.Context, req *http.Request, _ []byte) (any, error) {
	subject := req.PathValue("subject")
	old, ok := r.st.modeOf(subject)
	if !ok {
		return nil, newErr(http.StatusNotFound, codeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject)
	}
	if err := r.commit(ctx, record{subjectKey(keyMode, subject), nil}); err != nil {
		return nil, err
	}
	return map[string]string{"mode": old}, nil
}
