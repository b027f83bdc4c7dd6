// Package httpapi serves the operator's HTTP endpoints: liveness,
// readiness and Prometheus metrics in the text exposition format (written
// here directly: a handful of counters and gauges do not need a client
// library).
package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Metrics is a small registry of labelled counters and gauges.
type Metrics struct {
	mu     sync.Mutex
	help   map[string]string
	kind   map[string]string
	values map[string]map[string]float64 // name -> rendered labels -> value
}

// NewMetrics makes an empty registry.
func NewMetrics() *Metrics {
	return &Metrics{help: map[string]string{}, kind: map[string]string{}, values: map[string]map[string]float64{}}
}

// Describe declares a metric ("counter" or "gauge").
func (m *Metrics) Describe(name, kind, help string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.help[name], m.kind[name] = help, kind
	if m.values[name] == nil {
		m.values[name] = map[string]float64{}
	}
}

func labels(kv []string) string {
	if len(kv) == 0 {
		return ""
	}
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		v := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(kv[i+1])
		parts = append(parts, fmt.Sprintf(`%s="%s"`, kv[i], v))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Add adds d to a counter (or gauge) with labels as name/value pairs.
func (m *Metrics) Add(name string, d float64, kv ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.values[name] == nil {
		m.values[name] = map[string]float64{}
	}
	m.values[name][labels(kv)] += d
}

// Set sets a gauge.
func (m *Metrics) Set(name string, v float64, kv ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.values[name] == nil {
		m.values[name] = map[string]float64{}
	}
	m.values[name][labels(kv)] = v
}

// ServeHTTP writes the exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	names := make([]string, 0, len(m.values))
	for n := range m.values {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if h := m.help[n]; h != "" {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", n, h, n, m.kind[n])
		}
		ls := make([]string, 0, len(m.values[n]))
		for l := range m.values[n] {
			ls = append(ls, l)
		}
		sort.Strings(ls)
		for _, l := range ls {
			fmt.Fprintf(w, "%s%s %g\n", n, l, m.values[n][l])
		}
	}
}

// Check is a readiness check: nil when the dependency answers.
type Check func(ctx context.Context) error

// Serve runs /healthz (the process answers), /readyz (every check passes)
// and /metrics on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, m *Metrics, checks map[string]Check) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		cctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		names := make([]string, 0, len(checks))
		for n := range checks {
			names = append(names, n)
		}
		sort.Strings(names)
		failed := false
		var b strings.Builder
		for _, n := range names {
			if err := checks[n](cctx); err != nil {
				failed = true
				fmt.Fprintf(&b, "%s: %v\n", n, err)
			} else {
				fmt.Fprintf(&b, "%s: ok\n", n)
			}
		}
		if failed {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprint(w, b.String())
	})
	mux.Handle("/metrics", m)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}
