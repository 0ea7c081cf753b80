package registry

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/samsa-io/samsa/internal/brokertest"
)

// instance starts a registry instance on a broker, served on a random
// loopback port.
func instance(t *testing.T, bootstrap string) (*Registry, *client) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := New(ctx, Config{BootstrapServers: bootstrap, URL: url, SessionTimeout: 6 * time.Second})
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	go r.Serve(l)
	t.Cleanup(func() { r.Close() })
	return r, &client{t, url}
}

func waitPrimary(t *testing.T, r *Registry) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !r.store.(*kafkaStore).isPrimary.Load() {
		if time.Now().After(deadline) {
			t.Fatal("no primary after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitMembers waits until the instances' group is stable with n members.
func waitMembers(t *testing.T, r *Registry, n int) {
	t.Helper()
	s := r.store.(*kafkaStore)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds, err := s.admin.DescribeConsumerGroups(context.Background(), s.cfg.GroupID)
		if err == nil && len(ds) == 1 && ds[0].State == "Stable" && len(ds[0].Members) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not stable with %d members after 30 s: %+v %v", n, ds, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTwoInstances runs two instances on one broker: a write through
// either is readable through both at once, and closing the primary moves
// writes to the other.
func TestTwoInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	r1, c1 := instance(t, b.Addr())
	waitPrimary(t, r1)
	r2, c2 := instance(t, b.Addr())
	// The second instance joining does not move the role.
	waitMembers(t, r1, 2)
	if !r1.store.(*kafkaStore).isPrimary.Load() || r2.store.(*kafkaStore).isPrimary.Load() {
		t.Fatal("the primary role moved when a second instance joined")
	}

	// Through the primary, read back through the other.
	c1.expect("POST", "/subjects/Customer/versions", seedBody, 200, `{"id":1}`)
	c2.expect("GET", "/subjects/Customer/versions/1", "", 200, `"id":1`)
	// Through the other: forwarded, and readable at once on both.
	c2.expect("PUT", "/config/Customer", `{"compatibility":"NONE"}`, 200, `{"compatibility":"NONE"}`)
	c2.expect("POST", "/subjects/Customer/versions", register(customerBad), 200, `{"id":2}`)
	c2.expect("GET", "/subjects/Customer/versions", "", 200, `[1,2]`)
	c1.expect("GET", "/subjects/Customer/versions", "", 200, `[1,2]`)
	c1.expect("GET", "/config/Customer", "", 200, `NONE`)
	// Errors come back from the primary as they are.
	c2.expect("GET", "/subjects/Customer/versions/3", "", 404, `"error_code":40402`)
	c2.expect("PUT", "/config", `{"compatibility":"NEVER"}`, 422, `"error_code":42203`)

	// Closing the primary hands writes to the other.
	if err := r1.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	waitPrimary(t, r2)
	c2.expect("POST", "/subjects/other/versions", register(customerV1), 200, `{"id":3}`)
	c2.expect("POST", "/subjects/other/versions", register(`"string"`), 409, `"error_code":40901`)
	c2.expect("PUT", "/config/other", `{"compatibility":"NONE"}`, 200, "")
	c2.expect("POST", "/subjects/other/versions", register(`"string"`), 200, `{"id":4}`)

	// A third instance reads the whole history from the topic.
	_, c3 := instance(t, b.Addr())
	c3.expect("GET", "/subjects", "", 200, `["Customer","other"]`)
	c3.expect("GET", "/schemas/ids/4", "", 200, `"schema":"\"string\""`)
	c3.expect("POST", "/subjects/third/versions", register(`"long"`), 200, `{"id":5}`)
	c2.expect("GET", "/subjects/third/versions/1", "", 200, `"id":5`)
}
