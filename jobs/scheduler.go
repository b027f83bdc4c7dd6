package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// RunLog records every run of a scheduled job and is how instances agree
// on who runs what: a run is claimed by its (job, scheduled time), and only
// the instance whose claim succeeds runs it. Two instances firing for the
// same minute therefore run it once, and a restarted instance knows which
// runs were missed.
type RunLog interface {
	// Claim records the start of the run of job scheduled at t, by owner.
	// It returns ok=false when that run was already claimed (by anyone).
	Claim(ctx context.Context, job string, t time.Time, owner string) (id int64, ok bool, err error)
	// Finish records the outcome of a claimed run.
	Finish(ctx context.Context, id int64, outcome Outcome) error
	// Last returns the scheduled time of the latest claimed run of job.
	Last(ctx context.Context, job string) (t time.Time, ok bool, err error)
}

// Outcome is how a run ended.
type Outcome struct {
	Status string // "ok", "failed", "skipped"
	Counts map[string]int64
	Err    string
}

// Job is a scheduled job: a cron expression in the scheduler's zone, and
// the work to do for one scheduled time.
type Job struct {
	Name string
	Spec string // robfig/cron, five fields
	// BusinessDaysOnly skips runs scheduled on weekends and holidays.
	BusinessDaysOnly bool
	// Timeout bounds one run; 0 means JobTimeoutDefault.
	Timeout time.Duration
	Run     func(ctx context.Context, scheduled time.Time) (map[string]int64, error)
}

// JobTimeoutDefault bounds a run whose job sets none.
const JobTimeoutDefault = 2 * time.Hour

// CatchUpMax bounds how many missed runs of one job a start catches up.
const CatchUpMax = 31

// Scheduler runs jobs on robfig/cron schedules, by its injected clock:
// one run at a time per job, a panic recovered into a failed run, and each
// scheduled time run by exactly one instance (RunLog.Claim). The waits
// between runs are computed from the clock, not from cron's own timer, so
// a test (or a rehearsal) that sets the clock sets when jobs run.
type Scheduler struct {
	cal    *Calendar
	log    RunLog
	owner  string
	jobs   []Job
	scheds []cron.Schedule
	locks  map[string]*sync.Mutex
	now    func() time.Time
	logger *slog.Logger
}

// NewScheduler makes a scheduler for one instance named owner, on the
// machine's clock until SetClock.
func NewScheduler(cal *Calendar, log RunLog, owner string, logger *slog.Logger) *Scheduler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Scheduler{cal: cal, log: log, owner: owner, locks: map[string]*sync.Mutex{}, now: time.Now, logger: logger}
}

// SetClock sets the clock the scheduler reads.
func (s *Scheduler) SetClock(now func() time.Time) { s.now = now }

// Add registers a job; its spec is checked at once.
func (s *Scheduler) Add(j Job) error {
	sched, err := cron.ParseStandard(j.Spec)
	if err != nil {
		return fmt.Errorf("job %s: cron %q: %w", j.Name, j.Spec, err)
	}
	s.jobs = append(s.jobs, j)
	s.scheds = append(s.scheds, sched)
	s.locks[j.Name] = &sync.Mutex{}
	return nil
}

// Start catches up the runs missed while no instance was up, then runs
// each job at its scheduled times until ctx ends or the returned function
// is called; that function cancels a run under way and waits for it.
func (s *Scheduler) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	for _, j := range s.jobs {
		s.CatchUp(ctx, j)
	}
	var wg sync.WaitGroup
	for i, j := range s.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, j, s.scheds[i])
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// wakeMax bounds one wait, so a clock that jumps (a machine suspended, a
// clock stepped) is read again soon.
const wakeMax = time.Second

// loop runs j at each of its scheduled times, in order: a time that
// passed while a run lasted, or while the clock jumped (a machine
// suspended), is run late rather than lost, at most CatchUpMax in a row;
// past that the loop moves on to the next time ahead and says so.
func (s *Scheduler) loop(ctx context.Context, j Job, sched cron.Schedule) {
	next := sched.Next(s.now().In(s.cal.Location()))
	behind := 0
	for {
		wait := min(next.Sub(s.now()), wakeMax)
		if wait > 0 {
			behind = 0
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue // read the clock again
		}
		if ctx.Err() != nil {
			return
		}
		if behind++; behind > CatchUpMax {
			ahead := sched.Next(s.now().In(s.cal.Location()))
			s.logger.Warn("scheduled runs left behind; older runs need an operator", "job", j.Name, "from", next, "to", ahead, "max", CatchUpMax)
			next, behind = ahead, 0
			continue
		}
		// The run is named by the minute so that instances agree on its
		// identity.
		s.RunAt(ctx, j, next.Truncate(time.Minute))
		next = sched.Next(next)
	}
}

// CatchUp runs, in order, the scheduled times of j after its last recorded
// run and up to now that no instance ran. A job never run before starts
// from now: there is nothing to catch up.
func (s *Scheduler) CatchUp(ctx context.Context, j Job) {
	last, ok, err := s.log.Last(ctx, j.Name)
	if err != nil {
		s.logger.Error("catch-up: cannot read last run", "job", j.Name, "err", err)
		return
	}
	if !ok {
		return
	}
	sched, _ := cron.ParseStandard(j.Spec)
	now := s.now()
	t := last.In(s.cal.Location())
	for i := 0; i < CatchUpMax; i++ {
		t = sched.Next(t)
		if t.After(now) {
			return
		}
		s.logger.Info("catching up a missed run", "job", j.Name, "scheduled", t)
		s.RunAt(ctx, j, t)
	}
	s.logger.Warn("catch-up stopped at its bound; older runs need an operator", "job", j.Name, "max", CatchUpMax)
}

// RunAt runs j for scheduled time t unless another run of j is still going
// in this instance, the day is not a business day, or another instance has
// claimed t. It reports whether this instance ran it.
func (s *Scheduler) RunAt(ctx context.Context, j Job, t time.Time) bool {
	lock := s.locks[j.Name]
	if !lock.TryLock() {
		s.logger.Warn("skipped: previous run still going", "job", j.Name, "scheduled", t)
		return false
	}
	defer lock.Unlock()
	id, ok, err := s.log.Claim(ctx, j.Name, t, s.owner)
	if err != nil {
		s.logger.Error("cannot claim run", "job", j.Name, "scheduled", t, "err", err)
		return false
	}
	if !ok {
		s.logger.Debug("run claimed by another instance", "job", j.Name, "scheduled", t)
		return false
	}
	if j.BusinessDaysOnly && !s.cal.IsBusinessDay(s.cal.Today(t)) {
		why := "weekend"
		if n, hol := s.cal.Holiday(s.cal.Today(t)); hol {
			why = "holiday: " + n
		}
		s.finish(ctx, j, id, Outcome{Status: "skipped", Err: why})
		return true
	}
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = JobTimeoutDefault
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := s.now()
	counts, err := s.safeRun(rctx, j, t)
	out := Outcome{Status: "ok", Counts: counts}
	if err != nil {
		out.Status, out.Err = "failed", err.Error()
		s.logger.Error("job failed", "job", j.Name, "scheduled", t, "err", err, "took", s.now().Sub(start))
	} else {
		s.logger.Info("job done", "job", j.Name, "scheduled", t, "counts", counts, "took", s.now().Sub(start))
	}
	s.finish(ctx, j, id, out)
	return true
}

func (s *Scheduler) finish(ctx context.Context, j Job, id int64, out Outcome) {
	// Record the outcome even if the run's context was cancelled.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.log.Finish(fctx, id, out); err != nil {
		s.logger.Error("cannot record run outcome", "job", j.Name, "run", id, "err", err)
	}
}

// ErrPanic wraps a panic of a job into a failed run.
var ErrPanic = errors.New("job panicked")

func (s *Scheduler) safeRun(ctx context.Context, j Job, t time.Time) (counts map[string]int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrPanic, r, debug.Stack())
		}
	}()
	return j.Run(ctx, t)
}
