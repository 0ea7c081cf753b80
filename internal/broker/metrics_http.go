package broker

// The operations endpoint on metrics.listen (samsa serve --metrics-listen):
// /metrics for Prometheus, /healthz (the process serves HTTP), /readyz
// (the broker is registered, has applied the cluster metadata and takes
// connections; 503 with the reason otherwise), and, with
// metrics.pprof.enable, Go's profiler under /debug/pprof/. It is plain
// HTTP: bind it to a loopback or management address.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	// metricsScrapeTimeout bounds one /metrics answer; a scrape of a
	// broker with many partitions and groups takes milliseconds.
	metricsScrapeTimeout = 10 * time.Second
	// metricsMaxScrapes bounds concurrent /metrics requests.
	metricsMaxScrapes = 4
	// metricsShutdownTimeout bounds the wait for open HTTP requests
	// (a pprof profile can run for its seconds parameter) at Close.
	metricsShutdownTimeout = 2 * time.Second
)

// metricsServer is the HTTP server on metrics.listen.
type metricsServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{} // closed when Serve returns
}

// startMetricsServer listens on metrics.listen, if set, and serves the
// operations endpoints in the background until stopMetricsServer.
func (b *Broker) startMetricsServer() error {
	addr := b.cfg.String("metrics.listen")
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: metricsMaxScrapes,
		Timeout:             metricsScrapeTimeout,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if reason := b.notReady(); reason != "" {
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if b.cfg.Bool("metrics.pprof.enable") {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s := &metricsServer{
		ln: ln,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelDebug),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Warn("metrics endpoint stopped", "err", err)
		}
	}()
	b.http = s
	b.log.Info("serving metrics", "addr", ln.Addr().String(), "pprof", b.cfg.Bool("metrics.pprof.enable"))
	return nil
}

// stopMetricsServer closes the endpoint and waits for its goroutine.
func (b *Broker) stopMetricsServer() {
	s := b.http
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
}

// MetricsAddr returns the address the metrics endpoint listens on, or ""
// when metrics.listen is not set.
func (b *Broker) MetricsAddr() string {
	if b.http == nil {
		return ""
	}
	return b.http.ln.Addr().String()
}

// notReady returns why the broker should not take traffic yet, or "".
func (b *Broker) notReady() string {
	b.connsMu.Lock()
	closed := b.closed
	b.connsMu.Unlock()
	if closed {
		return "the broker is shutting down"
	}
	if b.regEpoch.Load() == 0 {
		return "the broker is not registered in the cluster yet"
	}
	select {
	case <-b.node.Done():
		return "the broker lost its cluster session and is registering again"
	default:
	}
	b.topicsMu.RLock()
	applied := b.appliedRev
	b.topicsMu.RUnlock()
	if applied == 0 {
		return "the broker has not applied the cluster metadata yet"
	}
	if !b.metrics.ready.Load() {
		return "the broker is not accepting connections yet"
	}
	return ""
}
