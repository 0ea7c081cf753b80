package broker_test

import (
	"testing"

	"github.com/samsa-io/samsa/internal/clustertest"
)

// logRecord is one record as a replica's segment files hold it.
type logRecord = clustertest.LogRecord

// readLogDir decodes every record of a partition replica straight from
// the segment files under dataDir.
func readLogDir(t testing.TB, dataDir, topic string, partition int32) []logRecord {
	t.Helper()
	recs, err := clustertest.ReadLog(dataDir, topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
