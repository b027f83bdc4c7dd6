package memstore

import (
	"context"
	"fmt"
	"time"

	"settle/jobs"
)

var _ jobs.RunLog = (*Store)(nil)

// Run is one claimed run of a scheduled job (the job_runs table): who
// claimed it, and its outcome once finished ("running" until then).
type Run struct {
	ID          int64
	Job         string
	ScheduledAt time.Time // UTC
	Owner       string
	Outcome     jobs.Outcome
	FinishedAt  time.Time
}

// Key names a run as "job@scheduled time in UTC, RFC 3339".
func (r Run) Key() string { return r.Job + "@" + r.ScheduledAt.Format(time.RFC3339) }

// Claim records the start of the run of job scheduled at t by owner; a
// run of the same job at the same instant, claimed by anyone, is not
// claimed again (job_runs' unique (job, scheduled_at)).
func (s *Store) Claim(_ context.Context, job string, t time.Time, owner string) (int64, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := t.UTC()
	for _, r := range s.runs {
		if r.Job == job && r.ScheduledAt.Equal(at) {
			return 0, false, nil
		}
	}
	id := int64(len(s.runs) + 1)
	s.runs = append(s.runs, Run{ID: id, Job: job, ScheduledAt: at, Owner: owner, Outcome: jobs.Outcome{Status: "running"}})
	return id, true, nil
}

// Finish records a claimed run's outcome; an outcome other than ok,
// failed or skipped is refused, as the Postgres store refuses it. An
// unknown id changes nothing.
func (s *Store) Finish(_ context.Context, id int64, o jobs.Outcome) error {
	switch o.Status {
	case "ok", "failed", "skipped":
	default:
		return fmt.Errorf("run outcome %q", o.Status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id >= 1 && id <= int64(len(s.runs)) {
		s.runs[id-1].Outcome, s.runs[id-1].FinishedAt = o, s.now()
	}
	return nil
}

// Last is the scheduled time of the latest claimed run of job (the
// greatest, whatever order they were claimed in).
func (s *Store) Last(_ context.Context, job string) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last time.Time
	ok := false
	for _, r := range s.runs {
		if r.Job == job && (!ok || r.ScheduledAt.After(last)) {
			last, ok = r.ScheduledAt, true
		}
	}
	return last, ok, nil
}

// Runs are the claimed runs in claim order, for a test to read what the
// scheduler recorded (as the job_runs table shows it).
func (s *Store) Runs() []Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Run(nil), s.runs...)
}
