package sftp

import (
	"sort"
	"strings"
	"sync"
	"time"

	"settle/jobs"
)

// guard keeps what the server knows about its callers before they log in:
// failed logins, backoff and connections per source address.
//
// Failed logins are counted per source and user together: a stranger who
// fails as NACFKRSE from 198.51.100.7 locks out NACFKRSE from 198.51.100.7
// only, never the bank's own address (issue 12, item 1). They are also
// counted per source alone, and a source that keeps failing is made to
// wait before its next connection is served, longer each time (backoff),
// whatever user it tries. No count is kept per user alone: that count is
// the one anyone on the Internet could fill.
type guard struct {
	now         func() time.Time
	pairs       *failureTracker // "source|user"
	sources     *failureTracker // "source"
	backoffFrom int
	backoffBase time.Duration
	backoffMax  time.Duration
	perSource   int

	mu    sync.Mutex
	conns map[string]int // open connections per source, authenticated or not
	drops map[string]int64
}

// sourceFailuresMax bounds what is kept per source for backoff; the
// backoff is capped long before that many failures.
const sourceFailuresMax = 64

func newGuard(cfg Config) *guard {
	return &guard{
		now:         cfg.Now,
		pairs:       newFailureTracker(cfg.LoginFailuresMax, cfg.LoginFailureWindow),
		sources:     newFailureTracker(sourceFailuresMax, cfg.LoginFailureWindow),
		backoffFrom: cfg.LoginBackoffAfter,
		backoffBase: cfg.LoginBackoffBase,
		backoffMax:  cfg.LoginBackoffMax,
		perSource:   cfg.ConnectionsPerSourceMax,
		conns:       make(map[string]int),
		drops:       make(map[string]int64),
	}
}

func pairKey(source, user string) string { return source + "|" + user }

// fail records one failed login of user from source at t.
func (g *guard) fail(source, user string, t time.Time) {
	g.sources.add(source, t)
	if user != "" {
		g.pairs.add(pairKey(source, user), t)
	}
}

// unfail takes back the failure recorded at t.
func (g *guard) unfail(source, user string, t time.Time) {
	g.sources.remove(source, t)
	if user != "" {
		g.pairs.remove(pairKey(source, user), t)
	}
}

// lockedPair reports whether user is locked out from source.
func (g *guard) lockedPair(source, user string) bool {
	return g.pairs.locked(pairKey(source, user), g.now())
}

// backoff returns how long source must still wait before its next
// connection is served: 0 below backoffFrom failures, then backoffBase,
// doubling with each further failure up to backoffMax, counted from its
// latest failure.
func (g *guard) backoff(source string) time.Duration {
	now := g.now()
	n, last := g.sources.last(source, now)
	if n < g.backoffFrom {
		return 0
	}
	d := g.backoffBase
	for i := g.backoffFrom; i < n && d < g.backoffMax; i++ {
		d *= 2
	}
	d = min(d, g.backoffMax)
	if wait := last.Add(d).Sub(now); wait > 0 {
		return wait
	}
	return 0
}

// connect counts a new connection from source, or refuses it when the
// source already holds perSource of them.
func (g *guard) connect(source string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns[source] >= g.perSource {
		return false
	}
	g.conns[source]++
	return true
}

func (g *guard) disconnect(source string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns[source]--; g.conns[source] <= 0 {
		delete(g.conns, source)
	}
}

// drop counts one connection ended before login, by reason.
func (g *guard) drop(reason string) {
	g.mu.Lock()
	g.drops[reason]++
	g.mu.Unlock()
}

// Lockout is one lock an operator may lift (the value is the jobs layer's,
// so the console reads it without importing this adapter).
type Lockout = jobs.Lockout

// lockouts lists the locks in force, sources first then pairs, sorted.
func (g *guard) lockouts() []Lockout {
	now := g.now()
	var out []Lockout
	for _, src := range g.sources.keys(now) {
		if wait := g.backoff(src); wait > 0 {
			n, _ := g.sources.last(src, now)
			out = append(out, Lockout{Source: src, Failures: n, Until: now.Add(wait)})
		}
	}
	for _, k := range g.pairs.keys(now) {
		if !g.pairs.locked(k, now) {
			continue
		}
		src, user, _ := strings.Cut(k, "|")
		n, oldest := g.pairs.first(k, now)
		out = append(out, Lockout{Source: src, User: user, Failures: n, Until: oldest.Add(g.pairs.window)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].User < out[j].User
	})
	return out
}

// unlock forgets the failures of user from source and the source's
// backoff; user "" forgets every user's failures from source. It returns
// how many locks it lifted.
func (g *guard) unlock(source, user string) int {
	before := len(g.lockouts())
	g.sources.forget(source)
	if user == "" {
		g.pairs.forgetPrefix(source + "|")
	} else {
		g.pairs.forget(pairKey(source, user))
	}
	return before - len(g.lockouts())
}

// dropCounts is a copy of the pre-login drop counters.
func (g *guard) dropCounts() map[string]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int64, len(g.drops))
	for k, v := range g.drops {
		out[k] = v
	}
	return out
}
