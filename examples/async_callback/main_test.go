package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAsyncCallback(t *testing.T) {
	c, err := kfake.NewCluster(kfake.SeedTopics(3, "CustomerCountry"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out strings.Builder
	failed, err := run(strings.Join(c.ListenAddrs(), ","), "CustomerCountry", &out)
	if err != nil || failed != 0 {
		t.Fatalf("failed %d, %v", failed, err)
	}
	// Each customer lands in its murmur2 partition; offsets count per
	// partition from 0.
	var want []string
	next := map[int32]int{}
	for _, customer := range []string{"Biomedical Materials", "Precision Products", "Banana"} {
		p := kafka.KeyPartition([]byte(customer), 3)
		want = append(want, fmt.Sprintf("CustomerCountry-%d@%d", p, next[p]))
		next[p]++
	}
	got := strings.Fields(out.String())
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("callbacks printed %v, want %v", got, want)
	}
}

// TestAsyncCallbackError checks that the callback gets the broker's error
// for every record, exactly once.
func TestAsyncCallbackError(t *testing.T) {
	c, err := kfake.NewCluster(kfake.SeedTopics(3, "CustomerCountry"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.TopicAuthorizationFailed, Count: -1})
	var out strings.Builder
	failed, err := run(strings.Join(c.ListenAddrs(), ","), "CustomerCountry", &out)
	if err != nil || failed != 3 {
		t.Fatalf("failed %d, %v", failed, err)
	}
	re := regexp.MustCompile(`(?m)^record for CustomerCountry failed: .*TOPIC_AUTHORIZATION_FAILED.*$`)
	if n := len(re.FindAllString(out.String(), -1)); n != 3 {
		t.Errorf("%d error lines:\n%s", n, out.String())
	}
}
