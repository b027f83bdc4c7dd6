package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"settle/adapters/httpapi"
	"settle/jobs"
	"settle/ledger/fabric"
	"settle/settlement"
)

// A ledger that cannot be reached fails as unavailable, and is not tried
// again by every caller: the next attempt waits lazyRetry.
func TestLazyLedgerDownIsUnavailableAndNotHammered(t *testing.T) {
	var opens atomic.Int32
	l := &lazyLedger{open: func(context.Context) (*fabric.Client, error) {
		opens.Add(1)
		return nil, errors.New("channel settlement: connection refused")
	}}
	ctx := context.Background()
	for range 3 {
		_, _, err := l.Cycle(ctx, "C2026-11-24")
		if !errors.Is(err, jobs.ErrLedgerUnavailable) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("got %v; want unavailable with the cause", err)
		}
	}
	for r, err := range l.CyclePayments(ctx, "C2026-11-24") {
		if !errors.Is(err, jobs.ErrLedgerUnavailable) {
			t.Fatalf("payments: %+v %v", r, err)
		}
	}
	if n := opens.Load(); n != 1 {
		t.Fatalf("%d connection attempts within %s, want 1", n, lazyRetry)
	}
	l.mu.Lock()
	l.tried = time.Now().Add(-lazyRetry) // the retry delay has passed
	l.mu.Unlock()
	if _, err := l.Tx(ctx, "tx"); !errors.Is(err, jobs.ErrLedgerUnavailable) || opens.Load() != 2 {
		t.Fatalf("after %s: %v, %d attempts; want a second attempt", lazyRetry, err, opens.Load())
	}
}

// While one caller connects, the others are told so at once instead of
// queueing behind it, and a read floor given meanwhile is kept for the
// client.
func TestLazyLedgerConnectingAnswersAtOnce(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	l := &lazyLedger{open: func(context.Context) (*fabric.Client, error) {
		close(started)
		<-release
		return nil, errors.New("gave up")
	}}
	done := make(chan error, 1)
	go func() {
		_, err := l.SetCap(context.Background(), settlement.Cap{Bank: "SHBKKRSE"})
		done <- err
	}()
	<-started
	start := time.Now()
	_, err := l.RecordChunk(context.Background(), jobs.Chunk{Cycle: "C2026-11-24", ID: "000000"})
	if !errors.Is(err, jobs.ErrLedgerUnavailable) || !strings.Contains(err.Error(), "connecting") || time.Since(start) > time.Second {
		t.Fatalf("while connecting: %v after %s", err, time.Since(start))
	}
	l.ReadAfter(7)
	l.ReadAfter(5)
	close(release)
	if err := <-done; !errors.Is(err, jobs.ErrLedgerUnavailable) {
		t.Fatalf("the connecting caller: %v", err)
	}
	if l.floor != 7 {
		t.Fatalf("read floor %d, want 7 kept for the client", l.floor)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("closing a ledger never connected: %v", err)
	}
}

// A step refused because another instance has the cycle is acknowledged
// (counted as busy); any other failure goes back to the broker.
func TestCountStepsLeavesBusyCyclesToTheirHolder(t *testing.T) {
	m := httpapi.NewMetrics()
	m.Describe("settle_cycle_steps_total", "counter", "steps")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := jobs.NewEvent(jobs.TopicCycleNetted, "2026-11-24", time.Now())
	for _, c := range []struct {
		err, want error
	}{
		{fmt.Errorf("2026-11-24: %w", jobs.ErrBusy), nil},
		{jobs.ErrLedgerUnavailable, jobs.ErrLedgerUnavailable},
		{nil, nil},
	} {
		h := countSteps(func(context.Context, jobs.Event) error { return c.err }, m, quiet)
		if got := h(context.Background(), e); !errors.Is(got, c.want) || (c.want == nil && got != nil) {
			t.Fatalf("step failing with %v: handler returned %v, want %v", c.err, got, c.want)
		}
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, outcome := range []string{"busy", "error", "ok"} {
		if !strings.Contains(rec.Body.String(), `outcome="`+outcome+`"} 1`) {
			t.Fatalf("metrics lack outcome %s:\n%s", outcome, rec.Body)
		}
	}
}

// A ledger call whose context ends while the client is still connecting
// returns at once, as unavailable with the context's error; the attempt
// goes on for the next caller (issue 12: SIGTERM during a ledger write).
func TestLazyLedgerCallerStopsWithItsContext(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	l := &lazyLedger{open: func(context.Context) (*fabric.Client, error) {
		close(started)
		<-release
		return nil, errors.New("connection refused")
	}}
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.RecordChunk(ctx, jobs.Chunk{Cycle: "C2026-11-24", ID: "c1"})
		done <- err
	}()
	<-started
	cancel() // SIGTERM
	select {
	case err := <-done:
		if !errors.Is(err, jobs.ErrLedgerUnavailable) || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v; want unavailable and canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the ledger call outlived its context while connecting")
	}
	l.mu.Lock()
	connecting := l.connecting
	l.mu.Unlock()
	if !connecting {
		t.Fatal("the connection attempt was dropped with the caller")
	}
}
