package kafka_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/samsa-io/samsa/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
)

// The three ways to send of the source documents, against an in-memory
// cluster.
func Example_sendModes() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "CustomerCountry"))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	cfg := kafka.Config{"bootstrap.servers": strings.Join(cluster.ListenAddrs(), ",")}
	p, err := kafka.NewProducer(cfg, kafka.StringSerializer{}, kafka.StringSerializer{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	defer p.Close(ctx)

	// Fire and forget.
	p.Send(ctx, kafka.ProducerRecord[string, string]{Topic: "CustomerCountry", Key: "Precision Products", Value: "France"})

	// Synchronous send.
	md, err := p.Send(ctx, kafka.ProducerRecord[string, string]{Topic: "CustomerCountry", Key: "Precision Products", Value: "France"}).Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sync:", md.Topic, md.Partition, md.Offset)

	// Asynchronous send with a callback.
	done := make(chan struct{})
	p.SendWithCallback(ctx, kafka.ProducerRecord[string, string]{Topic: "CustomerCountry", Key: "Biomedical Materials", Value: "USA"},
		func(md kafka.RecordMetadata, err error) {
			if err != nil {
				log.Print(err)
			} else {
				fmt.Println("async:", md.Topic, md.Partition, md.Offset)
			}
			close(done)
		})
	<-done
	// Output:
	// sync: CustomerCountry 0 1
	// async: CustomerCountry 0 2
}

// Reading the producer's metrics, as Java's producer.metrics() does, and
// serving them to Prometheus.
func ExampleProducer_Metrics() {
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "CustomerCountry"))
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	cfg := kafka.Config{
		"bootstrap.servers": strings.Join(cluster.ListenAddrs(), ","),
		"client.id":         "billing",
	}
	p, err := kafka.NewProducer(cfg, kafka.StringSerializer{}, kafka.StringSerializer{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	defer p.Close(ctx)
	for _, customer := range []string{"Precision Products", "Biomedical Materials", "Banana"} {
		if _, err := p.Send(ctx, kafka.ProducerRecord[string, string]{Topic: "CustomerCountry", Key: customer, Value: "USA"}).Get(ctx); err != nil {
			log.Fatal(err)
		}
	}
	metrics := p.Metrics()
	sent, _ := metrics.Value("record-send-total")
	failed, _ := metrics.Value("record-error-total")
	perTopic, _ := metrics.TopicValue("CustomerCountry", "record-send-total")
	fmt.Println("sent:", sent, "failed:", failed, "to CustomerCountry:", perTopic)

	// An HTTP handler for /metrics would call p.WritePrometheus(w).
	var b strings.Builder
	if err := p.WritePrometheus(&b); err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "kafka_producer_record_send_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// sent: 3 failed: 0 to CustomerCountry: 3
	// kafka_producer_record_send_total{client_id="billing"} 3
}
