package confluent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/samsa-io/samsa/kafka/avro"
)

// serdeResult is what a serde sub-benchmark of BenchmarkSerde measured
// in the final run of each -count, for the ratio.
type serdeResult struct {
	nsPerOp, allocsPerOp float64
}

var (
	serdeMu      sync.Mutex // guards serdeResults
	serdeResults = map[string][]serdeResult{}
)

// medianResult is the median ns/op and allocs/op of a serde's results.
func medianResult(rs []serdeResult) serdeResult {
	median := func(f func(serdeResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return serdeResult{
		nsPerOp:     median(func(r serdeResult) float64 { return r.nsPerOp }),
		allocsPerOp: median(func(r serdeResult) float64 { return r.allocsPerOp }),
	}
}

// benchSerde runs op in b.Loop and keeps its ns/op and allocs/op under
// name.
func benchSerde(b *testing.B, name string, op func() error) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	n := float64(b.N)
	serdeMu.Lock()
	serdeResults[name] = append(serdeResults[name], serdeResult{
		nsPerOp:     float64(b.Elapsed().Nanoseconds()) / n,
		allocsPerOp: float64(after.Mallocs-before.Mallocs) / n,
	})
	serdeMu.Unlock()
}

// BenchmarkSerde serializes and deserializes seed 000's Customer record
// (version 2) with Samsa's kafka/avro serde and with confluent-kafka-go's
// avrov2 serde, against one Samsa registry, ids and schemas from each
// client's cache. Each writes with the registered schema: Samsa's
// serializer with its own schema text (auto.register.schemas, the
// default, cached after the first record), confluent's by id
// (use.schema.id; its default derives a schema from the Go type by
// reflection on every record, which is slower). Samsa's deserializer
// reads as a consumer of version 2 (reader schema), confluent's with the
// writer's schema. The ratio sub-benchmark reports Samsa's time and
// allocations over confluent's, medians of the runs so far with -count:
// below 1, Samsa's serde is faster.
func BenchmarkSerde(b *testing.B) {
	url := newRegistry(b)
	cl := avro.NewClient(url)
	cc := newConfluentClient(b, url)
	c := customerV2{ID: 42, Name: "Precision Products", Email: str("sales@example.com")}

	b.Run("samsa", func(b *testing.B) {
		ser := samsaSerializer[customerV2](b, cl, customerV2Schema)
		de := samsaDeserializer[customerV2](b, cl, customerV2Schema)
		benchSerde(b, "samsa", func() error {
			data, err := ser.Serialize(topic, nil, c)
			if err != nil {
				return err
			}
			got, err := de.Deserialize(topic, nil, data)
			if err == nil && got.ID != c.ID {
				err = fmt.Errorf("read %+v", got)
			}
			return err
		})
	})

	b.Run("confluent", func(b *testing.B) {
		id, err := cc.Register(subject, avroSchema(customerV2Schema), false)
		if err != nil {
			b.Fatal(err)
		}
		ser := confluentSerializer(b, cc, id)
		de := confluentDeserializer(b, cc, false)
		benchSerde(b, "confluent", func() error {
			data, err := ser.Serialize(topic, &c)
			if err != nil {
				return err
			}
			var got customerV2
			if err := de.DeserializeInto(topic, data, &got); err != nil {
				return err
			}
			if got.ID != c.ID {
				return fmt.Errorf("read %+v", got)
			}
			return nil
		})
	})

	b.Run("ratio", func(b *testing.B) {
		serdeMu.Lock()
		rs, rc := serdeResults["samsa"], serdeResults["confluent"]
		serdeMu.Unlock()
		if len(rs) == 0 || len(rc) == 0 {
			b.Skip("needs BenchmarkSerde/samsa and BenchmarkSerde/confluent in the same run")
		}
		s, cf := medianResult(rs), medianResult(rc)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(s.nsPerOp/cf.nsPerOp, "samsa/confluent-ns")
		b.ReportMetric(s.allocsPerOp/cf.allocsPerOp, "samsa/confluent-allocs")
	})
}

// BenchmarkLookup measures registry lookups of a schema by id, in
// lookups per second: from the client's cache (Samsa's kafka/avro client
// and, for comparison, confluent's), one goroutine; and from the server,
// uncached GET /schemas/ids/{id} over HTTP keep-alive connections to a
// Samsa registry on loopback, 4 goroutines per core. The server answers
// from its in-memory cache of the _schemas topic, as every instance
// does, so the in-memory store used here measures the same path.
func BenchmarkLookup(b *testing.B) {
	url := newRegistry(b)
	cl := avro.NewClient(url)
	ctx := context.Background()
	id, err := cl.Register(ctx, subject, customerV2Schema)
	if err != nil {
		b.Fatal(err)
	}
	lookupsPerSecond := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	}

	b.Run("cache/samsa", func(b *testing.B) {
		if _, err := cl.SchemaByID(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cl.SchemaByID(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
		lookupsPerSecond(b)
	})

	b.Run("cache/confluent", func(b *testing.B) {
		cc := newConfluentClient(b, url)
		if _, err := cc.GetBySubjectAndID("", id); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cc.GetBySubjectAndID("", id); err != nil {
				b.Fatal(err)
			}
		}
		lookupsPerSecond(b)
	})

	b.Run("server", func(b *testing.B) {
		const perCore = 4
		hc := &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: perCore * runtime.GOMAXPROCS(0)},
		}
		defer hc.CloseIdleConnections()
		path := fmt.Sprintf("%s/schemas/ids/%d", url, id)
		b.ReportAllocs()
		b.SetParallelism(perCore)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := get(hc, path); err != nil {
					b.Error(err)
					return
				}
			}
		})
		lookupsPerSecond(b)
	})
}

// get fetches url and reads the whole answer, so the connection is
// reused.
func get(hc *http.Client, url string) error {
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
