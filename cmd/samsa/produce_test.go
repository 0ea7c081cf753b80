package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samsa-io/samsa/internal/brokertest"
)

func TestProduceKeysAndBadLines(t *testing.T) {
	b := brokertest.Start(t)
	bs := "--bootstrap-server=" + b.Addr()
	// One partition, so the order read back is the order written.
	mustRun(t, "", "topics", "create", bs, "--topic", "keyed", "--partitions", "1")

	// Line 3 has no separator: reported with its number and skipped, the
	// lines after it still go out, and the exit status says so.
	in := "k1:v1\nk2:v2\nno separator\nk3:v3:with:colons\n:empty key\n"
	_, errOut, err := runCLI(t, in, "produce", bs, "--topic", "keyed", "--key-separator", ":")
	if err == nil || !strings.Contains(err.Error(), "1 of 5 lines") || exitCode(err) != 1 {
		t.Errorf("produce with a bad line: error %v, want one counting 1 of 5 lines, exit status 1", err)
	}
	if !strings.Contains(errOut, "line 3: no key separator") || strings.Count(errOut, "line ") != 1 {
		t.Errorf("produce stderr %q, want exactly one report, for line 3", errOut)
	}
	// Kafka's spelling of the same, synchronous this time, with acks=1.
	mustRun(t, "k4\tv4\n", "produce", bs, "--topic", "keyed", "--property", "parse.key=true", "--sync", "--request-required-acks", "1")
	// ignore.error: a line without separator is a value with a null key.
	mustRun(t, "lonely\n", "produce", bs, "--topic", "keyed", "--property", "parse.key=true", "--property", "ignore.error=true")

	out := mustRun(t, "", "consume", bs, "--topic", "keyed", "--from-beginning", "--property", "print.key=true", "--max-messages", "6")
	want := "k1\tv1\nk2\tv2\nk3\tv3:with:colons\n\tempty key\nk4\tv4\nnull\tlonely\n"
	if out != want {
		t.Errorf("consume --from-beginning print.key:\n%q\nwant\n%q", out, want)
	}
}

func TestProduceHeadersFromFile(t *testing.T) {
	b := brokertest.Start(t)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "headed", "--partitions", "1")
	file := filepath.Join(t.TempDir(), "in.txt")
	// Kafka's format: headers, headers.delimiter, key, key.separator,
	// value. Line 2 lacks the headers delimiter; line 3 has no headers.
	os.WriteFile(file, []byte("h1:a,h2:b|k1=v1\nbroken line\n|k2=v2\nsolo|k3=NULL\n"), 0o644)
	_, errOut, err := runCLI(t, "", "produce", bs, "--topic", "headed", "--input", file,
		"--property", "parse.headers=true", "--property", "headers.delimiter=|",
		"--property", "parse.key=true", "--property", "key.separator==", "--property", "null.marker=NULL")
	if exitCode(err) != 1 || !strings.Contains(errOut, "line 2: no headers delimiter") {
		t.Errorf("produce: err %v, stderr %q; want line 2 reported and exit status 1", err, errOut)
	}
	out := mustRun(t, "", "consume", bs, "--topic", "headed", "--from-beginning", "--max-messages", "3",
		"--property", "print.headers=true", "--property", "print.key=true")
	want := "h1:a,h2:b\tk1\tv1\nNO_HEADERS\tk2\tv2\nsolo:null\tk3\tnull\n"
	if out != want {
		t.Errorf("consume with headers:\n%q\nwant\n%q", out, want)
	}
}

func TestProduceConsumeCodecs(t *testing.T) {
	b := brokertest.Start(t)
	bs := "--bootstrap-server=" + b.Addr()
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			topic := "codec-" + codec
			mustRun(t, "", "topics", "create", bs, "--topic", topic, "--partitions", "1")
			in := strings.Repeat(codec+" compresses this line well\n", 50)
			mustRun(t, in, "produce", bs, "--topic", topic, "--compression-codec", codec,
				"--producer-property", "linger.ms=50") // so the lines share batches
			out := mustRun(t, "", "consume", bs, "--topic", topic, "--from-beginning", "--max-messages", "50")
			if out != in {
				t.Errorf("read back %d bytes, want the %d bytes written", len(out), len(in))
			}
		})
	}
}

func TestProduceConfigFile(t *testing.T) {
	b := brokertest.Start(t)
	bs := "--bootstrap-server=" + b.Addr()
	mustRun(t, "", "topics", "create", bs, "--topic", "cfg", "--partitions", "1")
	file := filepath.Join(t.TempDir(), "producer.properties")
	os.WriteFile(file, []byte("acks=1\nlinger.ms=0\n"), 0o644)
	mustRun(t, "x\n", "produce", bs, "--topic", "cfg", "--producer.config", file)
	os.WriteFile(file, []byte("lingr.ms=0\n"), 0o644)
	mustFailUsage(t, "lingr.ms", "produce", bs, "--topic", "cfg", "--producer.config", file)
}

func TestProduceUsageErrors(t *testing.T) {
	bs := "--bootstrap-server=127.0.0.1:1"
	mustFailUsage(t, "--topic is required", "produce", bs)
	mustFailUsage(t, `unknown property "parse.keys"`, "produce", bs, "--topic", "t", "--property", "parse.keys=true")
	mustFailUsage(t, "lingr.ms", "produce", bs, "--topic", "t", "--producer-property", "lingr.ms=5")
	mustFailUsage(t, "enable.idempotence", "produce", bs, "--topic", "t",
		"--producer-property", "acks=1", "--producer-property", "enable.idempotence=true")
	mustFailUsage(t, "brotli", "produce", bs, "--topic", "t", "--compression-codec", "brotli")
	mustFailUsage(t, "disagree", "produce", bs, "--topic", "t", "--compression-codec", "lz4", "--producer-property", "compression.type=zstd")
	mustFailUsage(t, "disagree", "produce", bs, "--topic", "t", "--key-separator", ":", "--property", "key.separator=;")
	mustFailUsage(t, "disagree", "produce", bs, "--topic", "t", "--request-required-acks", "1", "--producer-property", "acks=all")
	mustFailUsage(t, "--input", "produce", bs, "--topic", "t", "--input", "/nonexistent/file")
	mustFailUsage(t, "headers.separator is empty", "produce", bs, "--topic", "t", "--property", "parse.headers=true", "--property", "headers.separator=")
}

func TestLineFormat(t *testing.T) {
	o := &produceOptions{properties: []string{"parse.headers=true", "parse.key=true"}}
	lf, err := o.lineFormat(false)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := lf.parse([]byte("a:1,b\tkey\tvalue"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Headers) != 2 || rec.Headers[0].Key != "a" || string(rec.Headers[0].Value) != "1" ||
		rec.Headers[1].Key != "b" || rec.Headers[1].Value != nil || string(rec.Key) != "key" || string(rec.Value) != "value" {
		t.Errorf("parsed %+v", rec)
	}
	if _, err := lf.parse([]byte("a:1\tno key separator")); err == nil || !strings.Contains(err.Error(), "no key separator") {
		t.Errorf("a line without key separator: %v", err)
	}
	// An empty value is not null.
	o = &produceOptions{}
	lf, _ = o.lineFormat(false)
	if rec, _ := lf.parse(nil); rec.Value == nil {
		t.Errorf("an empty line became a null value")
	}
}
