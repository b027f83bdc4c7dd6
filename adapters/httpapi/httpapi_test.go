package httpapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
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
