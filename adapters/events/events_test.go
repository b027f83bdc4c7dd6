package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/jobs"
	"settle/settlement"
)

func newBus(t *testing.T) *Bus {
	t.Helper()
	db, err := postgres.OpenDB(pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := New(db, nil)
	b.PollInterval = 20 * time.Millisecond
	b.Retry = &middleware.Retry{MaxRetries: 2, InitialInterval: 10 * time.Millisecond, Multiplier: 1}
	if err := b.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

func date(i int) settlement.Date {
	return settlement.Date(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly))
}

// collect runs the bus until want distinct dates were handled or the
// deadline passes, and returns how often each date was seen.
func collect(t *testing.T, b *Bus, want int, handle func(jobs.Event) error) map[settlement.Date]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[settlement.Date]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(ctx, func(_ context.Context, e jobs.Event) error {
			if err := handle(e); err != nil {
				return err
			}
			mu.Lock()
			seen[e.Date]++
			n := len(seen)
			mu.Unlock()
			if n >= want {
				time.AfterFunc(300*time.Millisecond, cancel) // let duplicates, if any, show up
			}
			return nil
		})
	}()
	<-done
	return seen
}

func TestOutboxPublishesOnlyCommittedEvents(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	for i, commit := range []bool{true, false, true} {
		tx, err := b.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.PublishTx(ctx, tx, jobs.NewEvent(jobs.TopicCycleFrozen, date(i), time.Now())); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := collect(t, b, 2, func(jobs.Event) error { return nil })
	if len(seen) != 2 || seen[date(0)] != 1 || seen[date(2)] != 1 || seen[date(1)] != 0 {
		t.Fatalf("want the two committed events once each, got %v", seen)
	}
}

// TestConcurrentPublishersLoseNothing: transactions that commit out of
// order (the trap of bigserial offsets) are all delivered, once.
func TestConcurrentPublishersLoseNothing(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	const n = 60
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx, err := b.db.BeginTx(ctx, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if err := b.PublishTx(ctx, tx, jobs.NewEvent(jobs.TopicCycleNetted, date(i), time.Now())); err != nil {
				t.Error(err)
				tx.Rollback()
				return
			}
			time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond) // commit in a random order
			if err := tx.Commit(); err != nil {
				t.Error(err)
			}
		}()
	}
	// Start consuming while publishers are still committing.
	seen := collect(t, b, n, func(jobs.Event) error { return nil })
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("delivered %d of %d events", len(seen), n)
	}
	for d, c := range seen {
		if c != 1 {
			t.Errorf("%s delivered %d times", d, c)
		}
	}
}

func TestFailingHandlerGoesToPoisonQueueAndReplays(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	bad := jobs.NewEvent(jobs.TopicCycleSettled, "2026-11-24", time.Now())
	good := jobs.NewEvent(jobs.TopicCycleSettled, "2026-11-25", time.Now())
	for _, e := range []jobs.Event{bad, good} {
		if err := b.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	attempts := 0
	seen := collect(t, b, 1, func(e jobs.Event) error {
		if e.Date == bad.Date {
			attempts++
			return fmt.Errorf("ledger unavailable: %w", errors.New("no peers"))
		}
		return nil
	})
	if seen[good.Date] != 1 || seen[bad.Date] != 0 {
		t.Fatalf("seen %v", seen)
	}
	if attempts != 3 { // the first try and two retries
		t.Fatalf("handler tried %d times, want 3", attempts)
	}
	ps, err := b.ListPoisoned(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Event.Date != bad.Date || ps[0].Topic != jobs.TopicCycleSettled || ps[0].Reason == "" {
		t.Fatalf("poison queue: %+v", ps)
	}
	if _, err := b.Replay(ctx, ps[0].UUID); err != nil {
		t.Fatal(err)
	}
	seen = collect(t, b, 1, func(jobs.Event) error { return nil })
	if seen[bad.Date] != 1 {
		t.Fatalf("replayed event not handled: %v", seen)
	}
	if _, err := b.Replay(ctx, "no-such-uuid"); err == nil {
		t.Fatal("replaying an unknown message must fail")
	}
}
