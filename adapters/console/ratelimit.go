package console

import (
	"sync"
	"time"
)

// loginLimiter counts failed logins per source address in a fixed window.
// It limits the address, never the account: a stranger who types wrong
// passwords for an operator's name only slows himself down, so no lockout
// can be caused from outside.
type loginLimiter struct {
	mu       sync.Mutex
	failures map[string]*window
	max      int           // failures per window
	every    time.Duration // window length
}

type window struct {
	start  time.Time
	n      int
	logged bool // a refusal in this window was logged
}

// limiterAddrsMax bounds the table: when full, expired windows go first,
// then everything (a flood of addresses forgets, it never blocks the
// console).
const limiterAddrsMax = 10_000

func newLoginLimiter(max int, every time.Duration) *loginLimiter {
	return &loginLimiter{failures: map[string]*window{}, max: max, every: every}
}

// Allowed tells whether addr may try now; if not, after how long.
func (l *loginLimiter) Allowed(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.failures[addr]
	if w == nil || now.Sub(w.start) >= l.every {
		return true, 0
	}
	if w.n >= l.max {
		return false, w.start.Add(l.every).Sub(now)
	}
	return true, 0
}

// FirstRefusal tells whether a refusal of addr now is the first of its
// window: only that one is logged, so a flood of tries cannot fill the log.
func (l *loginLimiter) FirstRefusal(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.failures[addr]
	if w == nil || w.logged {
		return false
	}
	w.logged = true
	return true
}

// Failed counts a failed login of addr.
func (l *loginLimiter) Failed(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.failures[addr]
	if w == nil || now.Sub(w.start) >= l.every {
		if len(l.failures) >= limiterAddrsMax {
			for a, x := range l.failures {
				if now.Sub(x.start) >= l.every {
					delete(l.failures, a)
				}
			}
			if len(l.failures) >= limiterAddrsMax {
				clear(l.failures)
			}
		}
		w = &window{start: now}
		l.failures[addr] = w
	}
	w.n++
}
