package registry

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// TestFranzGoClient drives the registry with franz-go's schema registry
// client: register, fetch, look up and check compatibility.
func TestFranzGoClient(t *testing.T) {
	srv := httptest.NewServer(NewMemory(nil).Handler())
	defer srv.Close()
	cl, err := sr.NewClient(sr.URLs(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ss, err := cl.CreateSchema(ctx, "customerContacts-value", sr.Schema{Schema: customerV1})
	if err != nil || ss.ID != 1 || ss.Version != 1 {
		t.Fatalf("create: %+v %v", ss, err)
	}
	ss, err = cl.CreateSchema(ctx, "customerContacts-value", sr.Schema{Schema: customerV2})
	if err != nil || ss.ID != 2 || ss.Version != 2 {
		t.Fatalf("create v2: %+v %v", ss, err)
	}
	s, err := cl.SchemaByID(ctx, 1)
	if err != nil || s.Schema != customerV1 || s.Type != sr.TypeAvro {
		t.Fatalf("by id: %+v %v", s, err)
	}
	ss, err = cl.SchemaByVersion(ctx, "customerContacts-value", -1)
	if err != nil || ss.Version != 2 || ss.ID != 2 {
		t.Fatalf("latest: %+v %v", ss, err)
	}
	ss, err = cl.LookupSchema(ctx, "customerContacts-value", sr.Schema{Schema: customerV1})
	if err != nil || ss.Version != 1 {
		t.Fatalf("lookup: %+v %v", ss, err)
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil || len(subjects) != 1 || subjects[0] != "customerContacts-value" {
		t.Fatalf("subjects: %v %v", subjects, err)
	}
	res, err := cl.CheckCompatibility(ctx, "customerContacts-value", -1, sr.Schema{Schema: customerBad})
	if err != nil || res.Is {
		t.Fatalf("compatibility of an incompatible schema: %+v %v", res, err)
	}
	res, err = cl.CheckCompatibility(ctx, "customerContacts-value", 2, sr.Schema{Schema: customerV1})
	if err != nil || !res.Is {
		t.Fatalf("compatibility: %+v %v", res, err)
	}
	_, err = cl.CreateSchema(ctx, "customerContacts-value", sr.Schema{Schema: customerBad})
	var re *sr.ResponseError
	if !asResponseError(err, &re) || re.ErrorCode != 40901 {
		t.Fatalf("incompatible create: %v", err)
	}
	for _, r := range cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFull}, "customerContacts-value") {
		if r.Err != nil || r.Level != sr.CompatFull {
			t.Fatalf("set compatibility: %+v", r)
		}
	}
	for _, r := range cl.Compatibility(ctx, "customerContacts-value") {
		if r.Err != nil || r.Level != sr.CompatFull {
			t.Fatalf("compatibility: %+v", r)
		}
	}
	if _, err := cl.SchemaByID(ctx, 42); !asResponseError(err, &re) || re.ErrorCode != 40403 {
		t.Fatalf("missing id: %v", err)
	}
}

func asResponseError(err error, re **sr.ResponseError) bool {
	return errors.As(err, re)
}
