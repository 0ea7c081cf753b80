package registry

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// record is one key/value to append to the log; a nil value is a
// tombstone.
type record struct {
	key, value []byte
}

// store is the log the registry keeps its records in, and the primary
// election around it. The Kafka store (kafkastore.go) is the real one;
// tests also use an in-memory one.
type store interface {
	// append writes records in order, acknowledged by every in-sync
	// replica, and returns the offset after the last one.
	append(ctx context.Context, recs []record) (int64, error)
	// end returns the offset after the last record of the log.
	end(ctx context.Context) (int64, error)
	// primary reports whether this instance is the one that writes, and
	// otherwise the URL of the one that does.
	primary(ctx context.Context) (self bool, url string, err error)
	close() error
}

// Registry is a schema registry instance: the REST API over a cache of
// the _schemas topic.
type Registry struct {
	st      *state
	store   store
	log     *slog.Logger
	handler http.Handler
	client  *http.Client // forwards writes to the primary

	// writeMu serializes writes on the primary: each reads the cache up
	// to the end of the log, decides, appends and waits to read its own
	// records back before the next one starts.
	writeMu sync.Mutex

	srvMu  sync.Mutex // guards srvs
	srvs   []*http.Server
	closed bool
}

// requestTimeout bounds one REST request's work, forwarding and waiting
// for the log included (Confluent's kafkastore.timeout.ms plays this part).
const requestTimeout = 30 * time.Second

func newRegistry(st *state, s store, logger *slog.Logger) *Registry {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{st: st, store: s, log: logger, client: &http.Client{Timeout: requestTimeout}}
	r.handler = r.routes()
	return r
}

// Handler returns the REST API's HTTP handler.
func (r *Registry) Handler() http.Handler { return r.handler }

// Serve serves the REST API on l until Close.
func (r *Registry) Serve(l net.Listener) error {
	srv := &http.Server{Handler: r.handler, ReadHeaderTimeout: 10 * time.Second}
	r.srvMu.Lock()
	if r.closed {
		r.srvMu.Unlock()
		l.Close()
		return http.ErrServerClosed
	}
	r.srvs = append(r.srvs, srv)
	r.srvMu.Unlock()
	return srv.Serve(l)
}

// Close stops serving and leaves the primary election; another instance
// takes over writes.
func (r *Registry) Close() error {
	r.srvMu.Lock()
	r.closed = true
	srvs := r.srvs
	r.srvMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range srvs {
		if s.Shutdown(ctx) != nil {
			s.Close()
		}
	}
	return r.store.close()
}

// catchUp waits until the cache holds every record in the log.
func (r *Registry) catchUp(ctx context.Context) error {
	end, err := r.store.end(ctx)
	if err != nil {
		return errStore("Error while reading the end of the log: %v", err)
	}
	if err := r.st.waitApplied(ctx, end); err != nil {
		return newErr(http.StatusInternalServerError, codeOperationTimeout, "Timed out reading the log to offset %d", end)
	}
	return nil
}

// commit appends records and waits until the cache has applied them.
func (r *Registry) commit(ctx context.Context, recs ...record) error {
	if len(recs) == 0 {
		return nil
	}
	end, err := r.store.append(ctx, recs)
	if err != nil {
		return errStore("Error while writing to the log: %v", err)
	}
	if err := r.st.waitApplied(ctx, end); err != nil {
		return newErr(http.StatusInternalServerError, codeOperationTimeout, "Timed out waiting to read back offset %d", end-1)
	}
	return nil
}

// registerRequest is the body of POST /subjects/{s}/versions and of
// lookups and compatibility checks.
type registerRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []Reference `json:"references"`
	// ID and Version are given only in IMPORT mode.
	ID      int `json:"id"`
	Version int `json:"version"`
}

// lookupRef resolves a reference against the cache.
func (r *Registry) lookupRef(ref Reference) (*version, error) {
	if ref.Subject == "" || ref.Name == "" {
		return nil, errInvalidSchema("Invalid schema reference %+v: name and subject are required", ref)
	}
	vs := r.st.versions(ref.Subject, false)
	if len(vs) == 0 {
		return nil, errInvalidSchema("Invalid schema reference %s: subject %s not found", ref.Name, ref.Subject)
	}
	if ref.Version == -1 {
		return vs[len(vs)-1], nil
	}
	for _, v := range vs {
		if v.Version == ref.Version {
			return v, nil
		}
	}
	return nil, errInvalidSchema("Invalid schema reference %s: subject %s has no version %d", ref.Name, ref.Subject, ref.Version)
}

// parsed is a validated schema.
type parsed struct {
	schemaType string
	canonical  string
	refs       []Reference
	avro       *avroType // AVRO only
}

func (p *parsed) identity() string { return schemaIdentity(p.schemaType, p.canonical, p.refs) }

// parse validates a request's schema.
func (r *Registry) parse(req *registerRequest) (*parsed, error) {
	t, ok := normalizeType(req.SchemaType)
	if !ok {
		return nil, errInvalidSchema("Invalid schema type %s", req.SchemaType)
	}
	if strings.TrimSpace(req.Schema) == "" {
		return nil, errInvalidSchema("Empty schema")
	}
	at, err := validateSchema(t, req.Schema, req.References, r.lookupRef)
	if err != nil {
		if e, ok := err.(*Error); ok {
			return nil, e
		}
		return nil, errInvalidSchema("%s", err.Error())
	}
	refs := req.References
	if len(refs) == 0 {
		refs = nil
	}
	return &parsed{schemaType: t, canonical: canonicalText(t, req.Schema), refs: refs, avro: at}, nil
}

// incompatibilities checks a new schema against earlier versions at a
// level and returns Confluent-style messages; none means compatible.
func (r *Registry) incompatibilities(p *parsed, against []*version, level string) []string {
	backward, forward, _ := levelChecks(level)
	if !backward && !forward {
		return nil
	}
	var msgs []string
	for i := len(against) - 1; i >= 0; i-- {
		old := against[i]
		oldType, _ := normalizeType(old.SchemaType)
		var found []string
		switch {
		case oldType != p.schemaType:
			found = []string{fmt.Sprintf("{errorType:'TYPE_MISMATCH', description:'Incompatible schema type %s, the earlier schema is %s', additionalInfo:'%s'}", p.schemaType, oldType, p.schemaType)}
		case p.schemaType != typeAvro:
			// JSON Schema and Protobuf: syntax only; see docs/compatibility.md.
		default:
			ot, err := validateSchema(typeAvro, old.Schema, old.References, r.lookupRef)
			if err != nil {
				found = []string{fmt.Sprintf("{errorType:'INVALID_EARLIER_SCHEMA', description:'%v'}", err)}
				break
			}
			if backward {
				found = append(found, avroReads(p.avro, ot, "new", "old")...)
			}
			if forward {
				found = append(found, avroReads(ot, p.avro, "old", "new")...)
			}
		}
		if len(found) > 0 {
			msgs = append(msgs, found...)
			msgs = append(msgs, fmt.Sprintf("{oldSchemaVersion: %d}", old.Version),
				fmt.Sprintf("{oldSchema: '%s'}", old.Schema), fmt.Sprintf("{compatibility: '%s'}", level))
		}
	}
	return msgs
}

// checkTargets are the versions a new schema must be compatible with at
// a level: the latest, or all for the transitive levels.
func checkTargets(vs []*version, level string) []*version {
	if _, _, transitive := levelChecks(level); transitive || len(vs) == 0 {
		return vs
	}
	return vs[len(vs)-1:]
}

func writable(mode, subject string) error {
	switch mode {
	case modeReadOnly, modeReadOnlyOverride:
		return errNotPermitted("Subject %s is in read-only mode", subject)
	}
	return nil
}

// register adds a schema to a subject, or finds it there; the caller
// holds writeMu and has caught up with the log.
func (r *Registry) register(ctx context.Context, subject string, req *registerRequest) (int, error) {
	mode := r.st.effectiveMode(subject)
	if err := writable(mode, subject); err != nil {
		return 0, err
	}
	if (req.ID != 0 || req.Version != 0) && mode != modeImport {
		return 0, errNotPermitted("Subject %s is not in import mode", subject)
	}
	if req.ID < 0 || req.Version < 0 {
		return 0, errInvalidSchema("Invalid id or version")
	}
	p, err := r.parse(req)
	if err != nil {
		return 0, err
	}
	all := r.st.versions(subject, true)
	var live []*version
	for _, v := range all {
		if !v.Deleted {
			live = append(live, v)
		}
	}
	for _, v := range live {
		if schemaIdentity(v.SchemaType, canonicalText(v.SchemaType, v.Schema), v.References) == p.identity() {
			if req.ID != 0 && req.ID != v.ID {
				return 0, newErr(http.StatusUnprocessableEntity, codeIDMismatch, "Schema already registered with id %d instead of input id %d", v.ID, req.ID)
			}
			return v.ID, nil
		}
	}
	if mode != modeImport {
		level := r.st.effectiveCompatibility(subject)
		if msgs := r.incompatibilities(p, checkTargets(live, level), level); len(msgs) > 0 {
			return 0, newErr(http.StatusConflict, codeIncompatible,
				"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]", subject, strings.Join(msgs, ", "))
		}
	}
	id, ver, err := r.allocate(subject, req, p, all)
	if err != nil {
		return 0, err
	}
	v := version{Subject: subject, Version: ver, ID: id, References: p.refs, Schema: p.canonical}
	if p.schemaType != typeAvro {
		v.SchemaType = p.schemaType
	}
	return id, r.commit(ctx, record{schemaKey(subject, ver), mustJSON(v)})
}

// allocate picks the id and version of a new registration.
func (r *Registry) allocate(subject string, req *registerRequest, p *parsed, all []*version) (id, ver int, err error) {
	r.st.mu.RLock()
	existing, known := r.st.bySchema[p.identity()]
	next := r.st.maxID + 1
	taken := r.st.ids[req.ID]
	r.st.mu.RUnlock()
	switch {
	case req.ID != 0:
		if taken != nil && schemaIdentity(taken.schemaType, canonicalText(taken.schemaType, taken.schema), taken.refs) != p.identity() {
			return 0, 0, errNotPermitted("Overwrite new schema with id %d is not permitted.", req.ID)
		}
		id = req.ID
	case known:
		id = existing
	default:
		id = next
	}
	if len(all) > 0 {
		ver = all[len(all)-1].Version + 1
	} else {
		ver = 1
	}
	if req.Version != 0 {
		for _, v := range all {
			if v.Version == req.Version {
				return 0, 0, errNotPermitted("Version %d of subject %s already exists", req.Version, subject)
			}
		}
		ver = req.Version
	}
	return id, ver, nil
}

// deleteSubject soft-deletes a subject's versions, or removes the
// soft-deleted ones for good.
func (r *Registry) deleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	if err := writable(r.st.effectiveMode(subject), subject); err != nil {
		return nil, err
	}
	all := r.st.versions(subject, true)
	if len(all) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	var recs []record
	out := []int{}
	for _, v := range all {
		switch {
		case !permanent && !v.Deleted:
			if len(r.st.referencedBy(subject, v.Version)) > 0 {
				return nil, newErr(http.StatusUnprocessableEntity, codeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}.", subject, v.Version)
			}
			cp := *v
			cp.Deleted = true
			recs = append(recs, record{schemaKey(subject, v.Version), mustJSON(cp)})
			out = append(out, v.Version)
		case permanent && !v.Deleted:
			return nil, newErr(http.StatusNotFound, codeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
		case permanent:
			recs = append(recs, record{schemaKey(subject, v.Version), nil})
			out = append(out, v.Version)
		}
	}
	if !permanent && len(recs) == 0 {
		return nil, newErr(http.StatusNotFound, codeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
	}
	if permanent {
		if _, ok := r.st.compatibility(subject); ok {
			recs = append(recs, record{subjectKey(keyConfig, subject), nil})
		}
		if _, ok := r.st.modeOf(subject); ok {
			recs = append(recs, record{subjectKey(keyMode, subject), nil})
		}
	}
	return out, r.commit(ctx, recs...)
}

// deleteVersion soft-deletes one version, or removes a soft-deleted one
// for good.
func (r *Registry) deleteVersion(ctx context.Context, subject, verText string, permanent bool) (int, error) {
	if err := writable(r.st.effectiveMode(subject), subject); err != nil {
		return 0, err
	}
	n, err := parseVersion(verText)
	if err != nil {
		return 0, err
	}
	// "latest" is the latest live version for a soft delete.
	v, err := r.findVersion(subject, verText, permanent || n != -1)
	if err != nil {
		return 0, err
	}
	if !permanent {
		if v.Deleted {
			return 0, newErr(http.StatusNotFound, codeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, v.Version)
		}
		if len(r.st.referencedBy(subject, v.Version)) > 0 {
			return 0, newErr(http.StatusUnprocessableEntity, codeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}.", subject, v.Version)
		}
		cp := *v
		cp.Deleted = true
		return v.Version, r.commit(ctx, record{schemaKey(subject, v.Version), mustJSON(cp)})
	}
	if !v.Deleted {
		return 0, newErr(http.StatusNotFound, codeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.Version)
	}
	return v.Version, r.commit(ctx, record{schemaKey(subject, v.Version), nil})
}

// parseVersion reads a version path parameter: a number in [1, 2^31-1],
// or "latest" (also -1), which is returned as -1.
func parseVersion(s string) (int, error) {
	if s == "latest" || s == "-1" {
		return -1, nil
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' || n > maxVersion/10 {
			return 0, errInvalidVersion(s)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > maxVersion {
		return 0, errInvalidVersion(s)
	}
	return n, nil
}

// findVersion resolves a subject's version; deleted says whether
// soft-deleted versions count.
func (r *Registry) findVersion(subject, verText string, deleted bool) (*version, error) {
	n, err := parseVersion(verText)
	if err != nil {
		return nil, err
	}
	vs := r.st.versions(subject, deleted)
	if len(vs) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	if n == -1 {
		return vs[len(vs)-1], nil
	}
	i := slices.IndexFunc(vs, func(v *version) bool { return v.Version == n })
	if i < 0 {
		return nil, errVersionNotFound(n)
	}
	return vs[i], nil
}
