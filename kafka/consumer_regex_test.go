package kafka

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestSubscribeRegexOnSamsa subscribes with a regular expression the
// group coordinator resolves (KIP-848): the consumer gets the partitions
// of the matching topics only, a matching topic created later joins the
// assignment without the consumer resolving anything, and subscribing to
// names again clears the expression.
func TestSubscribeRegexOnSamsa(t *testing.T) {
	tc := newSamsaCluster(t)
	for _, topic := range []string{"rx-a", "rx-b", "other-rx"} {
		tc.createTopic(t, topic, 2)
	}
	produceNumbered(t, tc.addrs, "rx-a", 2, 0, 10)
	c := startConsumer(t, consumerTestConfig(tc.addrs, "regex-group", "group.protocol", "consumer"), StringDeserializer{}, StringDeserializer{})
	if err := c.SubscribeRegex("rx-.*", nil); err != nil {
		t.Fatal(err)
	}
	topicsOf := func() []string {
		var out []string
		for _, tp := range c.Assignment() {
			out = append(out, tp.Topic)
		}
		return slices.Compact(out)
	}
	read := 0
	pollUntil(t, c, 30*time.Second, func(ConsumerRecord[string, string]) { read++ }, func() bool {
		return slices.Equal(topicsOf(), []string{"rx-a", "rx-b"}) && read == 10
	})
	if got := c.Subscription(); !slices.Equal(got, []string{"rx-a", "rx-b"}) {
		t.Errorf("Subscription() = %v", got)
	}
	tc.createTopic(t, "rx-c", 1)
	pollUntil(t, c, 30*time.Second, func(ConsumerRecord[string, string]) {}, func() bool {
		return slices.Equal(topicsOf(), []string{"rx-a", "rx-b", "rx-c"})
	})
	// Back to names: the expression is cleared.
	if err := c.Subscribe([]string{"other-rx"}, nil); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, c, 30*time.Second, func(ConsumerRecord[string, string]) {}, func() bool {
		return slices.Equal(topicsOf(), []string{"other-rx"})
	})
}

func TestSubscribeRegexChecks(t *testing.T) {
	classic := startConsumer(t, consumerTestConfig([]string{"127.0.0.1:1"}, "g"), StringDeserializer{}, StringDeserializer{})
	if err := classic.SubscribeRegex("a.*", nil); !errors.Is(err, ErrIllegalState) {
		t.Errorf("classic protocol: %v, want ErrIllegalState", err)
	}
	c := startConsumer(t, consumerTestConfig([]string{"127.0.0.1:1"}, "g", "group.protocol", "consumer"), StringDeserializer{}, StringDeserializer{})
	for _, bad := range []string{"", "a(b"} {
		if err := c.SubscribeRegex(bad, nil); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("regex %q: %v, want ErrInvalidTopic", bad, err)
		}
	}
	if err := c.SubscribeRegex("a.*", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Assign([]TopicPartition{{"a", 0}}); !errors.Is(err, ErrIllegalState) {
		t.Errorf("Assign while subscribed to a regular expression: %v", err)
	}
	_ = c.Unsubscribe(context.Background())
}
