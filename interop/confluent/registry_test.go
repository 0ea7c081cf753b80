package confluent

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"
)

// TestConfluentClient drives the Samsa registry with confluent-kafka-go's
// schemaregistry client: register, fetch by id and by subject and
// version, look up, check compatibility, set compatibility and config.
func TestConfluentClient(t *testing.T) {
	cc := newConfluentClient(t, newRegistry(t))

	id1, err := cc.Register(subject, avroSchema(customerV1Schema), false)
	if err != nil || id1 != 1 {
		t.Fatalf("register v1: id %d, %v", id1, err)
	}
	id2, err := cc.Register(subject, avroSchema(customerV2Schema), false)
	if err != nil || id2 != 2 {
		t.Fatalf("register v2: id %d, %v", id2, err)
	}
	// Registering the same schema again, past the client's cache, returns
	// the existing id.
	if err := cc.ClearCaches(); err != nil {
		t.Fatal(err)
	}
	if id, err := cc.Register(subject, avroSchema(customerV1Schema), false); err != nil || id != id1 {
		t.Fatalf("register v1 again: id %d, %v", id, err)
	}

	// By id, with and without the subject.
	info, err := cc.GetBySubjectAndID("", id1)
	if err != nil || info.Schema != customerV1Schema {
		t.Fatalf("schema %d: %+v, %v", id1, info, err)
	}
	info, err = cc.GetBySubjectAndID(subject, id2)
	if err != nil || info.Schema != customerV2Schema {
		t.Fatalf("schema %d of %s: %+v, %v", id2, subject, info, err)
	}
	if _, err := cc.GetBySubjectAndID("", 42); restCode(err) != 40403 {
		t.Fatalf("unknown id: %v", err)
	}

	// By subject and version.
	md, err := cc.GetSchemaMetadata(subject, 1)
	if err != nil || md.ID != id1 || md.Version != 1 || md.Subject != subject || md.Schema != customerV1Schema {
		t.Fatalf("version 1: %+v, %v", md, err)
	}
	md, err = cc.GetLatestSchemaMetadata(subject)
	if err != nil || md.ID != id2 || md.Version != 2 {
		t.Fatalf("latest: %+v, %v", md, err)
	}
	if _, err := cc.GetLatestSchemaMetadata("nobody-value"); restCode(err) != 40401 {
		t.Fatalf("unknown subject: %v", err)
	}
	versions, err := cc.GetAllVersions(subject)
	if err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("versions: %v, %v", versions, err)
	}
	subjects, err := cc.GetAllSubjects()
	if err != nil || !slices.Equal(subjects, []string{subject}) {
		t.Fatalf("subjects: %v, %v", subjects, err)
	}
	sv, err := cc.GetSubjectsAndVersionsByID(id2)
	if err != nil || len(sv) != 1 || sv[0].Subject != subject || sv[0].Version != 2 {
		t.Fatalf("subjects and versions of %d: %+v, %v", id2, sv, err)
	}

	// Look up without registering.
	if id, err := cc.GetID(subject, avroSchema(customerV2Schema), false); err != nil || id != id2 {
		t.Fatalf("lookup v2: id %d, %v", id, err)
	}
	if v, err := cc.GetVersion(subject, avroSchema(customerV1Schema), false); err != nil || v != 1 {
		t.Fatalf("version of v1: %d, %v", v, err)
	}
	if _, err := cc.GetID(subject, avroSchema(customerBadSchema), false); restCode(err) != 40403 {
		t.Fatalf("lookup of an unregistered schema: %v", err)
	}

	// Compatibility, against the latest version and against version 1.
	if ok, err := cc.TestSubjectCompatibility(subject, avroSchema(customerV1Schema)); err != nil || !ok {
		t.Fatalf("v1 against latest: %v, %v", ok, err)
	}
	if ok, err := cc.TestSubjectCompatibility(subject, avroSchema(customerBadSchema)); err != nil || ok {
		t.Fatalf("incompatible schema against latest: %v, %v", ok, err)
	}
	if ok, err := cc.TestCompatibility(subject, 1, avroSchema(customerV2Schema)); err != nil || !ok {
		t.Fatalf("v2 against version 1: %v, %v", ok, err)
	}

	// Compatibility levels and config, global and per subject.
	if c, err := cc.GetDefaultCompatibility(); err != nil || c != schemaregistry.Backward {
		t.Fatalf("default compatibility: %v, %v", c, err)
	}
	if c, err := cc.UpdateCompatibility(subject, schemaregistry.Full); err != nil || c != schemaregistry.Full {
		t.Fatalf("set FULL on %s: %v, %v", subject, c, err)
	}
	if c, err := cc.GetCompatibility(subject); err != nil || c != schemaregistry.Full {
		t.Fatalf("compatibility of %s: %v, %v", subject, c, err)
	}
	if c, err := cc.UpdateDefaultCompatibility(schemaregistry.BackwardTransitive); err != nil || c != schemaregistry.BackwardTransitive {
		t.Fatalf("set default: %v, %v", c, err)
	}
	if c, err := cc.GetDefaultCompatibility(); err != nil || c != schemaregistry.BackwardTransitive {
		t.Fatalf("default compatibility after set: %v, %v", c, err)
	}
	cfg, err := cc.UpdateConfig(subject, schemaregistry.ServerConfig{CompatibilityUpdate: schemaregistry.ForwardTransitive})
	if err != nil || cfg.CompatibilityUpdate != schemaregistry.ForwardTransitive {
		t.Fatalf("config of %s: %+v, %v", subject, cfg, err)
	}
	cfg, err = cc.GetConfig(subject, false)
	if err != nil || cfg.CompatibilityLevel != schemaregistry.ForwardTransitive {
		t.Fatalf("config of %s: %+v, %v", subject, cfg, err)
	}
	if cfg, err = cc.GetDefaultConfig(); err != nil || cfg.CompatibilityLevel != schemaregistry.BackwardTransitive {
		t.Fatalf("default config: %+v, %v", cfg, err)
	}

	// Soft, then permanent, delete of a version.
	if v, err := cc.DeleteSubjectVersion(subject, 2, false); err != nil || v != 2 {
		t.Fatalf("delete version 2: %d, %v", v, err)
	}
	if v, err := cc.DeleteSubjectVersion(subject, 2, true); err != nil || v != 2 {
		t.Fatalf("permanently delete version 2: %d, %v", v, err)
	}
	if versions, err := cc.GetAllVersions(subject); err != nil || !slices.Equal(versions, []int{1}) {
		t.Fatalf("versions after delete: %v, %v", versions, err)
	}
}

// TestIncompatibleRefused: under BACKWARD, a schema that adds a field
// without a default is refused with 409 / 40901 and a message naming the
// field; under NONE the same schema registers.
func TestIncompatibleRefused(t *testing.T) {
	cc := newConfluentClient(t, newRegistry(t))
	if _, err := cc.Register(subject, avroSchema(customerV1Schema), false); err != nil {
		t.Fatal(err)
	}
	_, err := cc.Register(subject, avroSchema(customerBadSchema), false)
	var re *rest.Error
	if !errors.As(err, &re) || re.Code != 40901 {
		t.Fatalf("incompatible schema under BACKWARD: %v", err)
	}
	if !strings.Contains(re.Message, "email") {
		t.Errorf("the message does not name the field email: %q", re.Message)
	}
	if _, err := cc.UpdateCompatibility(subject, schemaregistry.None); err != nil {
		t.Fatal(err)
	}
	if id, err := cc.Register(subject, avroSchema(customerBadSchema), false); err != nil || id != 2 {
		t.Fatalf("the same schema under NONE: id %d, %v", id, err)
	}
}

// restCode is the Confluent error code of a registry error, or 0.
func restCode(err error) int {
	var re *rest.Error
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}
