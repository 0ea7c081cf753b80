package group

import "unicode/utf16"

// JavaStringHashCode is Java's String.hashCode of s: the sum of
// c[i]*31^(n-1-i) over the UTF-16 code units c of s, in int32 arithmetic.
// Kafka places a group with it, so Samsa must compute it the same way for
// every string, including those outside the Basic Multilingual Plane
// (two code units each).
func JavaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return h
}

// kafkaAbs is Kafka's Utils.abs: the absolute value, except that
// MinInt32, which has none, maps to 0 (Math.abs would leave it negative).
func kafkaAbs(n int32) int32 {
	switch {
	case n == -1<<31:
		return 0
	case n < 0:
		return -n
	}
	return n
}

// PartitionFor returns the __consumer_offsets partition that holds a
// group, as Kafka's GroupCoordinatorService.partitionFor computes it:
// abs(groupId.hashCode()) % offsets.topic.num.partitions.
func PartitionFor(groupID string, numPartitions int32) int32 {
	return kafkaAbs(JavaStringHashCode(groupID)) % numPartitions
}
