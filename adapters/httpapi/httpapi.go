// Package httpapi serves the operator's HTTP endpoints: liveness,
// readiness and Prometheus metrics. Metrics are prometheus/client_golang
// collectors: each counter and histogram is updated with atomics, and a
// scrape reads them without holding any lock of the paths that update
// them, so a slow scraper cannot stall the intake or the event handlers.
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the service's registry. Its methods keep the small API the
// service was written against (a name and label pairs); a metric's label
// names are fixed by its first use.
type Metrics struct {
	reg *prometheus.Registry

	mu      sync.Mutex // guards the maps below, never held during a scrape
	help    map[string]string
	kind    map[string]string
	buckets map[string][]float64
	vecs    map[string]any // *prometheus.CounterVec, *GaugeVec or *HistogramVec
	labels  map[string][]string
}

// NewMetrics makes an empty registry.
func NewMetrics() *Metrics {
	return &Metrics{reg: prometheus.NewRegistry(), help: map[string]string{}, kind: map[string]string{},
		buckets: map[string][]float64{}, vecs: map[string]any{}, labels: map[string][]string{}}
}

// Registry is the underlying registry, for collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Describe declares a metric: "counter", "gauge" or "histogram" (of
// seconds, with the default buckets unless DescribeHistogram says).
func (m *Metrics) Describe(name, kind, help string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.help[name], m.kind[name] = help, kind
}

// DescribeHistogram declares a histogram with its buckets.
func (m *Metrics) DescribeHistogram(name, help string, buckets []float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.help[name], m.kind[name], m.buckets[name] = help, "histogram", buckets
}

// vec returns the collector of name, creating and registering it with the
// label names of kv at first use.
func (m *Metrics) vec(name, kind string, kv []string) (any, []string) {
	names := make([]string, 0, len(kv)/2)
	values := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		names, values = append(names, kv[i]), append(values, kv[i+1])
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vecs[name]; ok {
		if strings.Join(m.labels[name], ",") != strings.Join(names, ",") {
			panic(fmt.Sprintf("httpapi: metric %s used with labels %v, first with %v", name, names, m.labels[name]))
		}
		return v, values
	}
	if k := m.kind[name]; k != "" {
		kind = k
	}
	help := m.help[name]
	if help == "" {
		help = name
	}
	var v any
	var c prometheus.Collector
	switch kind {
	case "gauge":
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, names)
		v, c = g, g
	case "histogram":
		b := m.buckets[name]
		if b == nil {
			b = prometheus.DefBuckets
		}
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: b}, names)
		v, c = h, h
	default:
		cv := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, names)
		v, c = cv, cv
	}
	m.reg.MustRegister(c)
	m.vecs[name], m.labels[name] = v, names
	return v, values
}

// Add adds d to a counter (or gauge) with labels as name/value pairs.
func (m *Metrics) Add(name string, d float64, kv ...string) {
	v, values := m.vec(name, "counter", kv)
	switch v := v.(type) {
	case *prometheus.CounterVec:
		v.WithLabelValues(values...).Add(d)
	case *prometheus.GaugeVec:
		v.WithLabelValues(values...).Add(d)
	}
}

// Set sets a gauge.
func (m *Metrics) Set(name string, x float64, kv ...string) {
	if v, values := m.vec(name, "gauge", kv); v != nil {
		if g, ok := v.(*prometheus.GaugeVec); ok {
			g.WithLabelValues(values...).Set(x)
		}
	}
}

// Observe records one value (seconds, for a duration) in a histogram.
func (m *Metrics) Observe(name string, x float64, kv ...string) {
	if v, values := m.vec(name, "histogram", kv); v != nil {
		if h, ok := v.(*prometheus.HistogramVec); ok {
			h.WithLabelValues(values...).Observe(x)
		}
	}
}

// Since observes the seconds since start in a histogram.
func (m *Metrics) Since(name string, start time.Time, kv ...string) {
	m.Observe(name, time.Since(start).Seconds(), kv...)
}

// ServeHTTP writes the exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
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
