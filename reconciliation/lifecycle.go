package reconciliation

import "sort"

// Break states. A break's history is a list of events, never edited: it is
// opened by a run, may be put under investigation and resolved by an
// operator with a note, or closed by a later run that no longer finds it.
const (
	StateOpen          = "OPEN"
	StateInvestigating = "INVESTIGATING"
	StateResolved      = "RESOLVED"
	StateClosed        = "CLOSED" // gone on re-run
)

// ClosedGone is the reason recorded when a re-run no longer finds a break
// (for example a ledger event that arrived late).
const ClosedGone = "not found on re-run"

// Plan is what a reconciliation run changes in the break register: which
// breaks to open, and which still-open ones (by key) to close as gone.
// Breaks found again are left as they are, so a re-run is idempotent.
type Plan struct {
	Open  []Break
	Close []string
}

// PlanRun compares the breaks a run found with those still open or under
// investigation (by key). A resolved break found again is opened anew: the
// operator's resolution did not make the difference go away.
func PlanRun(found []Break, active map[string]bool) Plan {
	var p Plan
	seen := make(map[string]bool, len(found))
	for _, b := range found {
		k := b.Key()
		if seen[k] {
			continue
		}
		seen[k] = true
		if !active[k] {
			p.Open = append(p.Open, b)
		}
	}
	for k := range active {
		if !seen[k] {
			p.Close = append(p.Close, k)
		}
	}
	sort.Strings(p.Close)
	return p
}
