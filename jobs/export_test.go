package jobs

import "time"

// SetNow lets tests move a scheduler's clock.
func SetNow(s *Scheduler, now func() time.Time) { s.now = now }
