package jobs_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"settle/jobs"
)

// TestTwoInstancesOneRunOnPostgres: two schedulers (two instances) claim
// runs through the real job_runs table; each scheduled time runs once,
// a restarted instance catches up what nobody ran, and every run is
// recorded with its outcome and counts.
func TestTwoInstancesOneRunOnPostgres(t *testing.T) {
	w := newPostgresWorld(t)
	var runs atomic.Int64
	j := jobs.Job{Name: "cycle", Spec: "0 18 * * 1-5", BusinessDaysOnly: true,
		Run: func(context.Context, time.Time) (map[string]int64, error) {
			runs.Add(1)
			time.Sleep(20 * time.Millisecond)
			return map[string]int64{"files": 3}, nil
		}}
	a := jobs.NewScheduler(w.cal, w.pgJobs, "instance-a", w.quiet)
	b := jobs.NewScheduler(w.cal, w.pgJobs, "instance-b", w.quiet)
	a.Add(j)
	b.Add(j)
	at := time.Date(2026, 11, 24, 18, 0, 0, 0, w.cal.Location())
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.RunAt(context.Background(), j, at) }()
	}
	wg.Wait()
	if runs.Load() != 1 {
		t.Fatalf("the 18:00 run ran %d times across two instances", runs.Load())
	}
	// Nobody ran Wednesday to Friday; an instance starting on Saturday
	// catches the three up, in order.
	later := jobs.NewScheduler(w.cal, w.pgJobs, "instance-c", w.quiet)
	later.Add(j)
	later.SetClock(func() time.Time { return time.Date(2026, 11, 28, 9, 0, 0, 0, w.cal.Location()) })
	later.CatchUp(context.Background(), j)
	if runs.Load() != 4 {
		t.Fatalf("after catch-up %d runs, want 4", runs.Load())
	}
	var n, ok int
	w.pgJobs.DB().QueryRowContext(w.ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'OK' AND detail->'counts'->>'files' = '3') FROM job_runs`).Scan(&n, &ok)
	if n != 4 || ok != 4 {
		t.Fatalf("job_runs: %d rows, %d ok with counts", n, ok)
	}
}
