package jobs_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"settle/jobs"
	"settle/jobs/memstore"
	"settle/settlement"
)

// runLog is the scheduler's run log in memory (memstore, whose RunLog
// passes the contract suite Postgres passes: storetest.RunRunLog).
func runLog() *memstore.Store {
	return memstore.New(func() time.Time { return time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) })
}

// outcome is what the log holds of the run named key ("job@UTC time").
func outcome(log *memstore.Store, key string) jobs.Outcome {
	for _, r := range log.Runs() {
		if r.Key() == key {
			return r.Outcome
		}
	}
	return jobs.Outcome{}
}

func seoul(t *testing.T) *time.Location {
	loc, err := time.LoadLocation(jobs.DefaultZone)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestCalendar(t *testing.T) {
	hol, err := jobs.ParseHolidays(strings.NewReader("# Korean public holidays\n2026-12-25 Christmas\n\n2027-01-01 New Year\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := jobs.NewCalendar(seoul(t), hol)
	for d, want := range map[settlement.Date]bool{"2026-11-24": true, "2026-11-28": false, "2026-11-29": false, "2026-12-25": false, "2026-12-24": true} {
		if got := c.IsBusinessDay(d); got != want {
			t.Errorf("IsBusinessDay(%s) = %v", d, got)
		}
	}
	if n := c.Next("2026-12-24"); n != "2026-12-28" {
		t.Errorf("after Thursday 24 Dec comes Christmas, a weekend, then Monday 28; got %s", n)
	}
	if n := c.Next("2026-12-31"); n != "2027-01-04" {
		t.Errorf("after 31 Dec: New Year, a weekend, then 4 Jan; got %s", n)
	}
	// 23:30 UTC on the 24th is already the 25th in Seoul.
	if d := c.Today(time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)); d != "2026-11-25" {
		t.Errorf("Today in Seoul = %s", d)
	}
	if _, err := jobs.ParseHolidays(strings.NewReader("2026-13-01 bad\n")); err == nil {
		t.Error("a bad holiday line must be an error")
	}
}

func TestTwoInstancesRunEachScheduleOnce(t *testing.T) {
	log := runLog()
	cal := jobs.NewCalendar(seoul(t), nil)
	var runs atomic.Int64
	j := jobs.Job{Name: "cutoff", Spec: "0 18 * * *", Run: func(context.Context, time.Time) (map[string]int64, error) {
		runs.Add(1)
		time.Sleep(10 * time.Millisecond)
		return nil, nil
	}}
	a := jobs.NewScheduler(cal, log, "a", nil)
	b := jobs.NewScheduler(cal, log, "b", nil)
	for _, s := range []*jobs.Scheduler{a, b} {
		if err := s.Add(j); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 24, 18, 0, 0, 0, cal.Location())
	var wg sync.WaitGroup
	var ran atomic.Int64
	for i := 0; i < 20; i++ {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.RunAt(context.Background(), j, at) {
				ran.Add(1)
			}
		}()
	}
	wg.Wait()
	if runs.Load() != 1 || ran.Load() != 1 {
		t.Fatalf("the 18:00 run ran %d times (reported %d), want exactly once", runs.Load(), ran.Load())
	}
}

func TestCatchUpRunsMissedBusinessDaysInOrder(t *testing.T) {
	log := runLog()
	cal := jobs.NewCalendar(seoul(t), map[settlement.Date]string{"2026-11-26": "a holiday"})
	var got []string
	j := jobs.Job{Name: "cycle", Spec: "0 23 * * *", BusinessDaysOnly: true, Run: func(_ context.Context, t time.Time) (map[string]int64, error) {
		got = append(got, t.Format("2006-01-02"))
		return map[string]int64{"files": 1}, nil
	}}
	s := jobs.NewScheduler(cal, log, "a", nil)
	if err := s.Add(j); err != nil {
		t.Fatal(err)
	}
	// Never run before: nothing to catch up.
	s.CatchUp(context.Background(), j)
	if len(got) != 0 {
		t.Fatalf("first start caught up %v", got)
	}
	// Last run Monday 23 Nov 23:00; down until Saturday 28 Nov noon.
	log.Claim(context.Background(), "cycle", time.Date(2026, 11, 23, 23, 0, 0, 0, cal.Location()), "old")
	s.SetClock(func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, cal.Location()) })
	s.CatchUp(context.Background(), j)
	want := []string{"2026-11-24", "2026-11-25", "2026-11-27"} // the 26th is a holiday
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("caught up %v, want %v", got, want)
	}
	// The holiday run is recorded as skipped, with the reason.
	k := "cycle@" + time.Date(2026, 11, 26, 23, 0, 0, 0, cal.Location()).UTC().Format(time.RFC3339)
	if o := outcome(log, k); o.Status != "skipped" || !strings.Contains(o.Err, "holiday") {
		t.Fatalf("holiday run recorded as %+v", o)
	}
	// Catching up again runs nothing twice.
	s.CatchUp(context.Background(), j)
	if len(got) != 3 {
		t.Fatalf("second catch-up re-ran: %v", got)
	}
}

func TestPanicBecomesFailedRun(t *testing.T) {
	log := runLog()
	cal := jobs.NewCalendar(time.UTC, nil)
	j := jobs.Job{Name: "boom", Spec: "* * * * *", Run: func(context.Context, time.Time) (map[string]int64, error) { panic("bad invariant") }}
	s := jobs.NewScheduler(cal, log, "a", nil)
	s.Add(j)
	if !s.RunAt(context.Background(), j, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)) {
		t.Fatal("did not run")
	}
	o := log.Runs()[0].Outcome
	if o.Status != "failed" || !strings.Contains(o.Err, "bad invariant") {
		t.Fatalf("panic recorded as %+v", o)
	}
	if err := s.Add(jobs.Job{Name: "x", Spec: "not cron"}); err == nil {
		t.Fatal("bad cron spec accepted")
	}
}

// TestStartRunsByTheInjectedClock: Start runs a job when the scheduler's
// clock reaches its scheduled time, whatever the machine's clock says:
// here 300 ms before Friday 18:00 in Seoul, before a weekend and a
// holiday; then the clock jumps over both, and the times it passed run
// late, in order, skipped by the calendar. Stop cancels a run under way.
func TestStartRunsByTheInjectedClock(t *testing.T) {
	log := runLog()
	cal := jobs.NewCalendar(seoul(t), map[settlement.Date]string{"2027-03-01": "Independence Movement Day"})
	started := time.Now()
	var mu sync.Mutex
	offset := time.Date(2027, 2, 26, 17, 59, 59, 700_000_000, cal.Location()).Sub(started) // Friday
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(offset)
	}
	ran := make(chan time.Time, 4)
	release := make(chan struct{})
	var cancelled atomic.Bool
	j := jobs.Job{Name: "cycle", Spec: "0 18 * * *", BusinessDaysOnly: true, Run: func(ctx context.Context, at time.Time) (map[string]int64, error) {
		ran <- at
		if at.Weekday() == time.Friday {
			<-release
			return nil, nil
		}
		<-ctx.Done() // Tuesday's lasts until stopped
		cancelled.Store(true)
		return nil, ctx.Err()
	}}
	s := jobs.NewScheduler(cal, log, "a", nil)
	s.SetClock(clock)
	if err := s.Add(j); err != nil {
		t.Fatal(err)
	}
	stop := s.Start(context.Background())
	defer stop()
	select {
	case at := <-ran:
		if want := time.Date(2027, 2, 26, 18, 0, 0, 0, cal.Location()); !at.Equal(want) {
			t.Fatalf("ran for %s, want %s", at, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not run when the clock reached 18:00")
	}
	close(release)
	// The clock jumps to Monday (a holiday) 18:00:01: the times it passed
	// run late, in order, and the calendar skips them: Saturday's and
	// Sunday's as a weekend, Monday's as a holiday.
	mu.Lock()
	offset = time.Date(2027, 3, 1, 18, 0, 1, 0, cal.Location()).Sub(time.Now())
	mu.Unlock()
	var skipped []string
	deadline := time.Now().Add(10 * time.Second)
	for len(skipped) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		skipped = skipped[:0]
		for _, r := range log.Runs() {
			if r.Outcome.Status == "skipped" {
				skipped = append(skipped, r.Key()+" "+r.Outcome.Err)
			}
		}
	}
	if len(skipped) != 3 || !strings.Contains(skipped[0], "2027-02-27T09:00:00Z weekend") || !strings.Contains(skipped[1], "2027-02-28T09:00:00Z weekend") ||
		!strings.Contains(skipped[2], "2027-03-01T09:00:00Z holiday: Independence Movement Day") {
		t.Fatalf("skipped runs %v; want Saturday's and Sunday's as a weekend and Monday's as a holiday", skipped)
	}
	mu.Lock()
	offset = time.Date(2027, 3, 2, 17, 59, 59, 800_000_000, cal.Location()).Sub(time.Now())
	mu.Unlock()
	select {
	case at := <-ran:
		if want := time.Date(2027, 3, 2, 18, 0, 0, 0, cal.Location()); !at.Equal(want) {
			t.Fatalf("ran for %s, want Tuesday's %s", at, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Tuesday's run did not start")
	}
	stop() // with Tuesday's run under way
	if !cancelled.Load() {
		t.Fatal("stop did not cancel the run under way")
	}
}
