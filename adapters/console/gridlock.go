package console

import (
	"context"
	"net/http"

	"settle/jobs"
	"settle/settlement"
)

// GridlockDesk is the ledger's gridlock resolution as the cycle page shows
// it (issue 19): what a settled cycle deferred, what a held one would.
type GridlockDesk interface {
	// Deferral is the ledger's record of a settled cycle; ok false when
	// it deferred nothing and carried nothing in.
	Deferral(ctx context.Context, cycle string) (d jobs.LedgerDeferral, ok bool, err error)
	// DryRun is what the ledger's resolution of a declared cycle would
	// settle and defer, written nowhere; declared false when the cycle's
	// files are not on the ledger yet.
	DryRun(ctx context.Context, cycle string) (d jobs.LedgerDeferral, declared bool, err error)
}

// resolutionShown bounds the deferred payments one page lists (the
// record's counts cover all of them; `settle cycle resolve --dry-run
// --format json` and the banks' reports list every one).
const resolutionShown = 200

// resolutionView is the cycle page's gridlock section.
type resolutionView struct {
	// Settled: the ledger's record of a settled cycle; else a held
	// cycle's dry run (Declared) or why there is none.
	Settled    bool
	Declared   bool
	Record     jobs.LedgerDeferral
	Shown      []jobs.LedgerDeferred
	More       int
	Problem    string
	CanResolve bool // an operator, a pipeline, a cycle held on its caps
}

// resolution is the gridlock section of a cycle's page, or nil when the
// cycle has none to show: settled with nothing deferred or carried, or not
// held on its caps.
func (s *Server) resolution(r *http.Request, sess *session, v cycleView) *resolutionView {
	if s.cfg.Gridlock == nil {
		return nil
	}
	c := v.Cycle
	rv := &resolutionView{}
	var ok bool
	var err error
	switch {
	case !c.Stage.Before(settlement.StageSettled):
		rv.Settled = true
		rv.Record, ok, err = s.cfg.Gridlock.Deferral(r.Context(), c.ID)
		if err == nil && !ok {
			return nil
		}
	case v.Hold != nil && v.Unblock == "caps":
		rv.CanResolve = sess.user.Role == RoleOperator && s.cfg.ResolveCycle != nil
		rv.Record, rv.Declared, err = s.cfg.Gridlock.DryRun(r.Context(), c.ID)
	default:
		return nil
	}
	if err != nil {
		rv.Problem = "the ledger did not answer: " + err.Error()
		return rv
	}
	rv.Shown = rv.Record.Deferred
	if len(rv.Shown) > resolutionShown {
		rv.Shown, rv.More = rv.Shown[:resolutionShown], len(rv.Shown)-resolutionShown
	}
	return rv
}

// cycleResolve is the operator resolving a cycle held on its caps with the
// ledger's gridlock resolution in one step: the pipeline's Resolve, as
// `settle cycle resolve` calls it, run and logged as a cycle run is.
func (s *Server) cycleResolve(w http.ResponseWriter, r *http.Request, sess *session) {
	s.startRun(w, r, sess, "cycle.resolve", s.cfg.ResolveCycle)
}
