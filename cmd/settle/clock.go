package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// clockEnv names the rehearsal clock: SETTLE_CLOCK=T makes the process
// start at instant T (RFC 3339) and run on from there at the machine's
// pace; SETTLE_CLOCK=T@R says that T was the time at the machine's instant
// R, so that several processes (a service and the commands run beside it)
// share one clock. It exists so that tests and rehearsals choose the day
// and the time of day (before or after the cut-off, a Friday, the eve of a
// holiday) instead of inheriting the machine's; the service warns at start
// when it is set. Durations (timeouts, backoffs, lockouts) stay on the
// machine's monotonic clock: only what the time is, is moved.
const clockEnv = "SETTLE_CLOCK"

// clock is the one clock of the process: every command passes it to what
// asks the time (the pipeline, the intake's cut-off, the scheduler, the
// resume pass, the calendar's today).
var clock = time.Now

// clockOffset is how far the rehearsal clock stands from the machine's.
var clockOffset time.Duration

// setClock reads clockEnv once, at start.
func setClock() error {
	v := os.Getenv(clockEnv)
	if v == "" {
		return nil
	}
	now, err := parseClock(v, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", clockEnv, err)
	}
	clockOffset = now
	clock = func() time.Time { return time.Now().Add(clockOffset) }
	return nil
}

// parseClock returns the offset from the machine's clock (at machine time
// m) that v names.
func parseClock(v string, m time.Time) (time.Duration, error) {
	ts, rs, anchored := strings.Cut(v, "@")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return 0, fmt.Errorf("want T or T@R, RFC 3339 instants: %v", err)
	}
	r := m
	if anchored {
		if r, err = time.Parse(time.RFC3339Nano, rs); err != nil {
			return 0, fmt.Errorf("want T or T@R, RFC 3339 instants: %v", err)
		}
	}
	return t.Sub(r), nil
}
