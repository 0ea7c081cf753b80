package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/examples/internal/extest"
	"github.com/samsa-io/samsa/internal/registry"
)

func TestAvroCustomer(t *testing.T) {
	_, addrs := extest.Cluster(t, 1, "customerContacts")
	srv := httptest.NewServer(registry.NewMemory(nil).Handler())
	defer srv.Close()
	var out strings.Builder
	if err := run(addrs, srv.URL, "customerContacts", &out); err != nil {
		t.Fatalf("%v; output:\n%s", err, out.String())
	}
	want := "customer 1 Precision Products email=null\ncustomer 2 Laboratory Equipment email=sales@example.com\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}
