// Package cluster holds the cluster metadata a broker serves: the cluster
// id, topics with their ids, partition counts and config overrides, and the
// producer id allocator.
//
// # Single-node store
//
// A single-node broker keeps this metadata in one JSON file,
// `samsa-metadata.json`, in its first log directory, replaced atomically
// (written to a temporary file, fsynced, renamed, directory fsynced) on every
// change:
//
//	{
//	  "version": 1,
//	  "nextProducerId": 4000,          // next block of producer ids starts here
//	  "topics": {
//	    "orders": {"id": "<base64url topic id>", "partitions": 3,
//	               "configs": {"retention.ms": "3600000"}}
//	  }
//	}
//
// Producer ids are handed out in blocks of ProducerIDBlockSize: the store
// records the end of the block before any id from it is used, so ids are
// never reused after a crash.
package cluster
