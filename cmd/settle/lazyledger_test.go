package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
