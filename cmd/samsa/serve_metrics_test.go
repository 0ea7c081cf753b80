package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestServeLogFormat(t *testing.T) {
	var buf bytes.Buffer
	logger, err := newLoggerTo(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("listening", "addr", "127.0.0.1:9092")
	logger.Debug("not at info")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("--log-format json wrote %q: %v", buf.String(), err)
	}
	if line["msg"] != "listening" || line["addr"] != "127.0.0.1:9092" || line["level"] != "INFO" {
		t.Errorf("JSON log line %v", line)
	}
	buf.Reset()
	if logger, err = newLoggerTo(&buf, "info", "text"); err != nil {
		t.Fatal(err)
	}
	logger.Info("listening", "addr", "127.0.0.1:9092")
	if got := buf.String(); !strings.Contains(got, "level=INFO msg=listening addr=127.0.0.1:9092") {
		t.Errorf("text log line %q", got)
	}
	mustFail(t, "expected text or json", "serve", "--log-format=xml")
}

// samsa serve --metrics-listen --pprof: /readyz answers 200 once the
// broker is up, /metrics and pprof are served, and SIGTERM stops it.
func TestServeMetricsListen(t *testing.T) {
	brokerAddr, metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	done := make(chan error, 1)
	go func() {
		_, _, err := runCLI(t, "", "serve", "--listeners=PLAINTEXT://"+brokerAddr, "--log.dirs="+t.TempDir(),
			"--etcd.unsafe.no.fsync=true", "--metrics-listen="+metricsAddr, "--pprof", "--log-format=json", "--log-level=warn")
		done <- err
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + metricsAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(cliTimeout)
	for {
		if code, _ := get("/readyz"); code == http.StatusOK {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("samsa serve stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 after %v", cliTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "kafka_controller_kafkacontroller_active_controller_count 1") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, _ := get("/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/ with --pprof: %d", code)
	}
	// serve has registered for SIGTERM before the broker started.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("samsa serve after SIGTERM: %v", err)
		}
	case <-time.After(cliTimeout):
		t.Fatal("samsa serve did not stop after SIGTERM")
	}
}
