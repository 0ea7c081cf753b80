// Command banana_partitioner is the custom partitioner of the source
// documents (Kafka: The Definitive Guide, chapter 3): records of the
// biggest customer, "Banana", get a partition of their own, the last one,
// and every other customer is hashed over the remaining partitions.
//
//	go run ./examples/banana_partitioner -bootstrap localhost:9092 -topic CustomerCountry
package main

import (
	"errors"
	"fmt"

	"github.com/samsa-io/samsa/kafka"
)

// BananaPartitioner implements kafka.Partitioner. The book's Java version
// has two bugs that this one fixes: it returns numPartitions (one past the
// last partition) for Banana, and it uses Math.abs on the hash, which stays
// negative for Integer.MIN_VALUE; Kafka's own partitioner masks the sign
// bit instead (Utils.toPositive), as done here.
type BananaPartitioner struct {
	// Customer is the key that gets the last partition; the book
	// hard-codes "Banana" and suggests passing it in configuration.
	Customer string
}

// Partition sends Customer to the last partition and hashes the rest over
// the others.
func (b BananaPartitioner) Partition(topic string, key any, keyBytes []byte, _ any, _ []byte, cluster *kafka.Cluster) (int32, error) {
	numPartitions, _ := cluster.PartitionCountForTopic(topic)
	name, ok := key.(string)
	if keyBytes == nil || !ok {
		// The Java version throws InvalidRecordException.
		return 0, errors.New("we expect all messages to have customer name as key")
	}
	if numPartitions < 2 {
		return 0, fmt.Errorf("topic %s needs at least 2 partitions, has %d", topic, numPartitions)
	}
	if name == b.Customer {
		return int32(numPartitions - 1), nil
	}
	return (kafka.Murmur2(keyBytes) & 0x7fffffff) % int32(numPartitions-1), nil
}

// Close does nothing.
func (BananaPartitioner) Close() error { return nil }
