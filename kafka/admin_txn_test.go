package kafka

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// servesAPI reports whether the broker at addr lists key in ApiVersions.
func servesAPI(t *testing.T, addr string, key kmsg.Key) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == int16(key) {
			return true
		}
	}
	return false
}

// skipUnlessServed skips the test if the cluster does not serve the API,
// after checking that the call fails as it must: with
// ErrUnsupportedVersion naming the API.
func skipUnlessServed(t *testing.T, tc *testCluster, key kmsg.Key, call func() error) {
	t.Helper()
	if servesAPI(t, tc.addrs[0], key) {
		return
	}
	name := kmsg.NameForKey(int16(key))
	if err := call(); !errors.Is(err, ErrUnsupportedVersion) || !strings.Contains(err.Error(), name) {
		t.Errorf("%s, which %s does not serve: %v", name, tc.name, err)
	}
	t.Skipf("%s does not serve %s (key %d) yet: the test runs once ApiVersions lists it", tc.name, name, key)
}

// TestSuiteAdminTransactions describes and lists an open transaction of
// a franz-go transactional producer, then the committed one: its
// transactional id (DescribeTransactions), the partition's active
// producer (DescribeProducers) and the listing with each filter
// (ListTransactions).
func TestSuiteAdminTransactions(t *testing.T) {
	forEachCluster(t, func(t *testing.T, tc *testCluster) {
		tc.createTopic(t, "admin-txn", 2)
		a := startAdmin(t, tc.addrs)
		ctx := testCtx(t)
		tp := TopicPartition{"admin-txn", 1}
		const id = "admin-txn-id"

		if !servesAPI(t, tc.addrs[0], kmsg.InitProducerID) || !servesAPI(t, tc.addrs[0], kmsg.EndTxn) {
			t.Skipf("%s serves no transactions", tc.name)
		}
		pr, err := kgo.NewClient(kgo.SeedBrokers(tc.addrs...), kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		if err := pr.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			r := &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Value: []byte{byte(i)}}
			if err := pr.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("transactional produce: %v", err)
			}
		}

		var pid int64 = -1
		t.Run("DescribeTransactions", func(t *testing.T) {
			skipUnlessServed(t, tc, kmsg.DescribeTransactions, func() error { _, err := a.DescribeTransactions(ctx, id); return err })
			d, err := a.DescribeTransactions(ctx, id, "admin-txn-unknown")
			if err != nil {
				t.Fatal(err)
			}
			if d[0].Err != nil || d[0].State != TransactionOngoing || d[0].ProducerID < 0 || d[0].StartTimestamp <= 0 ||
				d[0].Timeout <= 0 || !slices.Contains(d[0].Partitions, tp) || d[0].Coordinator < 0 || d[0].TransactionalID != id {
				t.Errorf("open transaction: %+v", d[0])
			}
			pid = d[0].ProducerID
			if !errors.Is(d[1].Err, kerr.TransactionalIDNotFound) || d[1].TransactionalID != "admin-txn-unknown" {
				t.Errorf("unknown transactional id: %+v", d[1])
			}
		})
		t.Run("DescribeProducers", func(t *testing.T) {
			skipUnlessServed(t, tc, kmsg.DescribeProducers, func() error { _, err := a.DescribeProducers(ctx, tp); return err })
			missing := TopicPartition{"admin-txn-missing", 0}
			res, err := a.DescribeProducers(ctx, tp, missing, TopicPartition{"admin-txn", 7})
			if err != nil {
				t.Fatal(err)
			}
			st := res[tp]
			if st.Err != nil || len(st.ActiveProducers) != 1 {
				t.Fatalf("producers of %s: %+v", tp, st)
			}
			if p := st.ActiveProducers[0]; (pid >= 0 && p.ProducerID != pid) || p.CurrentTransactionStartOffset != 0 || p.LastSequence != 2 {
				t.Errorf("the transactional producer: %+v (producer id %d)", p, pid)
			}
			if !errors.Is(res[missing].Err, kerr.UnknownTopicOrPartition) || !errors.Is(res[TopicPartition{"admin-txn", 7}].Err, kerr.UnknownTopicOrPartition) {
				t.Errorf("unknown partitions: %+v", res)
			}
		})
		t.Run("ListTransactions", func(t *testing.T) {
			skipUnlessServed(t, tc, kmsg.ListTransactions, func() error { _, err := a.ListTransactions(ctx, ListTransactionsFilter{}); return err })
			has := func(f ListTransactionsFilter) bool {
				t.Helper()
				list, err := a.ListTransactions(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range list {
					if l.TransactionalID == id {
						if l.State != TransactionOngoing || l.ProducerID < 0 || l.Coordinator < 0 {
							t.Errorf("listing: %+v", l)
						}
						return true
					}
				}
				return false
			}
			if !has(ListTransactionsFilter{}) || !has(ListTransactionsFilter{States: []TransactionState{TransactionOngoing}}) {
				t.Error("the open transaction is not listed")
			}
			if has(ListTransactionsFilter{States: []TransactionState{TransactionPrepareCommit}}) {
				t.Error("listed under another state")
			}
			if pid >= 0 && (!has(ListTransactionsFilter{ProducerIDs: []int64{pid}}) || has(ListTransactionsFilter{ProducerIDs: []int64{pid + 1000}})) {
				t.Error("producer id filter")
			}
			if has(ListTransactionsFilter{MinDuration: time.Hour}) {
				t.Error("listed as open for an hour")
			}
		})

		if err := pr.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		t.Run("AfterCommit", func(t *testing.T) {
			skipUnlessServed(t, tc, kmsg.DescribeTransactions, func() error { _, err := a.DescribeTransactions(ctx, id); return err })
			// Kafka and Samsa answer CompleteCommit, kfake Empty.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				d, err := a.DescribeTransactions(ctx, id)
				if err == nil && d[0].Err == nil && (d[0].State == TransactionCompleteCommit || d[0].State == TransactionEmpty) && len(d[0].Partitions) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("committed transaction: %+v %v", d, err)
				}
			}
			if servesAPI(t, tc.addrs[0], kmsg.DescribeProducers) {
				res, err := a.DescribeProducers(ctx, tp)
				if err != nil || res[tp].Err != nil {
					t.Fatalf("producers after the commit: %+v %v", res, err)
				}
				for _, p := range res[tp].ActiveProducers {
					if p.CurrentTransactionStartOffset != -1 {
						t.Errorf("a transaction still open after the commit: %+v", p)
					}
				}
			}
		})
	})
}
