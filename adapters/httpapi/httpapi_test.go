package httpapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEndpoints(t *testing.T) {
	m := NewMetrics()
	m.Describe("settle_files_total", "counter", "Files taken from the inboxes, by status.")
	m.Add("settle_files_total", 2, "status", "ACCEPTED")
	m.Add("settle_files_total", 1, "status", `RE"JECTED`)
	m.Set("settle_cycle_stage", 3, "cycle", "C2026-11-24")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dbDown := true
	go Serve(ctx, ln, m, map[string]Check{"database": func(context.Context) error {
		if dbDown {
			return errors.New("connection refused")
		}
		return nil
	}})
	get := func(path string) (int, string) {
		r, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "database: connection refused") {
		t.Fatalf("readyz with the database down: %d %q", code, body)
	}
	dbDown = false
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		"# TYPE settle_files_total counter",
		`settle_files_total{status="ACCEPTED"} 2`,
		`settle_files_total{status="RE\"JECTED"} 1`,
		`settle_cycle_stage{cycle="C2026-11-24"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// blockingWriter is a scraper that stops reading.
type blockingWriter struct {
	h       http.Header
	started chan struct{}
	release chan struct{}
	once    bool
}

func (b *blockingWriter) Header() http.Header { return b.h }
func (b *blockingWriter) WriteHeader(int)     {}
func (b *blockingWriter) Write(p []byte) (int, error) {
	if !b.once {
		b.once = true
		close(b.started)
		<-b.release
	}
	return len(p), nil
}

// A scrape that stalls does not stall the counters (issue 12, also-fix
// list: the hand-written exposition held the registry's lock while it
// wrote), and histograms are served.
func TestSlowScraperDoesNotStallCounters(t *testing.T) {
	m := NewMetrics()
	m.Describe("settle_files_total", "counter", "Files.")
	m.DescribeHistogram("settle_intake_file_seconds", "Intake latency of one file.", []float64{0.1, 1})
	m.Add("settle_files_total", 1, "outcome", "accepted")
	m.Observe("settle_intake_file_seconds", 0.05, "outcome", "accepted")
	w := &blockingWriter{h: http.Header{}, started: make(chan struct{}), release: make(chan struct{})}
	scraped := make(chan struct{})
	go func() {
		m.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		close(scraped)
	}()
	<-w.started
	added := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			m.Add("settle_files_total", 1, "outcome", "accepted")
			m.Observe("settle_intake_file_seconds", 0.5, "outcome", "accepted")
		}
		close(added)
	}()
	select {
	case <-added:
	case <-time.After(30 * time.Second):
		t.Fatal("counters stalled behind a scrape that does not read")
	}
	close(w.release)
	<-scraped
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`settle_files_total{outcome="accepted"} 1001`,
		"# TYPE settle_intake_file_seconds histogram",
		`settle_intake_file_seconds_bucket{outcome="accepted",le="0.1"} 1`,
		`settle_intake_file_seconds_count{outcome="accepted"} 1001`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
