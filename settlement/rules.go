package settlement

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The stage machine's rules, in one place. A cycle moves one stage at a
// time (Cycle.Advance), and each move has a precondition on facts the
// step gathers from the store and the ledger:
//
//	OPEN → FROZEN          none: the cut-off is the scheduler's calendar
//	FROZEN → NETTED        no reversal waits for its original's cycle to
//	                       settle; the positions balance; no cap is breached
//	NETTED → RECORDED      the positions balance; no cap in force now is
//	                       breached; every bank of them is on the ledger
//	RECORDED → SETTLED     the positions balance; no cap is breached
//
// (a cap breach does not stop a cycle whose gridlock the ledger resolves:
// Facts.LedgerResolves)
//	SETTLED → RECONCILED   none
//	RECONCILED → REPORTED  none
//
// Besides the moves: a netting that breached the caps is kept only while
// the cycle is frozen (CheckNetAttempt), and a file is deferred only under
// CheckDeferral's rules.

// Errors a cycle stops on; an operator acts, then re-runs.
var (
	ErrCapBreach = errors.New("net debit cap exceeded")
	// ErrOriginalPending: the cycle holds a reversal whose original's
	// cycle has not settled; the ledger would refuse it.
	ErrOriginalPending = errors.New("a reversal's original has not settled")
	// ErrNotOnLedger: a bank of the cycle is not in the ledger's registry.
	ErrNotOnLedger = errors.New("banks not registered on the ledger")
	// ErrDeferral: the deferral is not possible as asked; the message says
	// why.
	ErrDeferral = errors.New("cannot defer")
)

// Facts are what a move's precondition looks at, gathered by the step that
// makes it. Each rule looks only at the facts it names, and a fact left
// empty holds nothing against the move: so a step may check early with
// what it knows so far (the waiting reversals, before it reads a single
// entry) and once more with everything when it advances.
type Facts struct {
	// Pending are reversals of the cycle whose original's cycle has not
	// settled (at most a few are named in the error).
	Pending []PendingReversal
	// Positions are the cycle's net positions: computed (to NETTED) or as
	// stored (after).
	Positions []Position
	// Caps are the net debit caps in force now.
	Caps []Cap
	// Unregistered are banks of the positions that the ledger's registry
	// lacks.
	Unregistered []BIC
	// LedgerResolves: the ledger's gridlock resolution decides what of the
	// cycle settles (the scheme's setting is auto, or the operator asked
	// for it): a cap breach is not the cycle's stop, because the ledger
	// defers, payment by payment, what does not fit (Queues.Resolve, the
	// chaincode's one copy). The positions are then the cycle's gross ones
	// until it settles, and the ledger's split after.
	LedgerResolves bool
}

// PendingReversal is a reversal waiting for its original's cycle to
// settle.
type PendingReversal struct {
	Sender        BIC
	ID, Original  string
	OriginalCycle Date
	Stage         Stage // of the original's cycle
}

// Precondition tells whether a cycle may move to stage to on the facts f:
// nil if it may, or the rule it breaks.
func Precondition(to Stage, f Facts) error {
	switch to {
	case StageNetted:
		if len(f.Pending) > 0 {
			return PendingError(f.Pending)
		}
		if err := AssertBalanced(f.Positions); err != nil {
			return err
		}
		return f.checkCaps()
	case StageRecorded:
		if err := AssertBalanced(f.Positions); err != nil {
			return err
		}
		if err := f.checkCaps(); err != nil {
			return err
		}
		return RegistryError(f.Unregistered)
	case StageSettled:
		if err := AssertBalanced(f.Positions); err != nil {
			return err
		}
		return f.checkCaps()
	}
	return nil
}

// checkCaps refuses a breach unless the ledger resolves it.
func (f Facts) checkCaps() error {
	if f.LedgerResolves {
		return nil
	}
	return CheckCaps(f.Positions, f.Caps)
}

// CheckCaps refuses positions that breach the caps.
func CheckCaps(positions []Position, caps []Cap) error {
	if b := CapBreaches(positions, caps); len(b) > 0 {
		return CapError(b)
	}
	return nil
}

// PendingShown is how many waiting reversals an error names; a step asks
// the store for one more, to know whether there are more.
const PendingShown = 5

// PendingError names the waiting reversals (the first few) and what the
// operator can do.
func PendingError(ps []PendingReversal) error {
	var list []string
	for _, x := range ps[:min(len(ps), PendingShown)] {
		list = append(list, fmt.Sprintf("%s/%s reverses %s of %s, which is %s", x.Sender, x.ID, x.Original,
			CycleID(x.OriginalCycle), x.Stage))
	}
	more := ""
	if len(ps) > PendingShown {
		more = " (and more)"
	}
	return fmt.Errorf("%w: %s%s; run the earlier cycle to its settlement first, or defer the reversal's file (cycle defer), then re-run",
		ErrOriginalPending, strings.Join(list, "; "), more)
}

// CapError names the breaches (the first few) and what the operator can do.
func CapError(b []CapBreach) error {
	const shown = 5
	var list []string
	for _, x := range b[:min(len(b), shown)] {
		list = append(list, fmt.Sprintf("%s %s net %s, cap %s", x.Bank, x.Currency,
			FormatAmount(x.Net, x.Currency), FormatAmount(x.Cap, x.Currency)))
	}
	more := ""
	if len(b) > shown {
		more = fmt.Sprintf(" (and %d more)", len(b)-shown)
	}
	return fmt.Errorf("%w: %s%s; raise the cap once the bank has funded, or defer its files to a later cycle (cycle defer), then re-run",
		ErrCapBreach, strings.Join(list, "; "), more)
}

// RegistryError names the banks the ledger does not know, or is nil if
// there are none: the chaincode would refuse the first chunk naming one,
// with the chunks before it already written.
func RegistryError(missing []BIC) error {
	if len(missing) == 0 {
		return nil
	}
	names := make([]string, len(missing))
	for i, b := range missing {
		names[i] = string(b)
	}
	slices.Sort(names)
	return fmt.Errorf("%w: %s; register them on the ledger (settle ledger register-banks --from-store), then re-run",
		ErrNotOnLedger, strings.Join(names, ", "))
}

// CheckNetAttempt: a netting that breached the caps is kept (a new
// revision of positions, with its breaches) only while the cycle stays
// frozen.
func (c *Cycle) CheckNetAttempt() error {
	if c.Stage != StageFrozen {
		return fmt.Errorf("%w: cycle of %s is %s, not %s", ErrStage, c.BusinessDate, c.Stage, StageFrozen)
	}
	return nil
}

// DeferralFacts are what the deferral rules look at, gathered by the
// store under both cycles' locks.
type DeferralFacts struct {
	Sender BIC
	FileID string
	From   Cycle // the cycle the file is asked to leave
	To     Cycle // the cycle it is asked to go to
	// Found: the sender has an accepted file of that id; In is the cycle
	// it is in now (deferrals counted) and Accepted the one it was
	// accepted into.
	Found    bool
	In       Date
	Accepted Date
	// Reversed (moving forward): a payment of the file that is reversed
	// already, and By, the reversal.
	Reversed, By string
	// EarlyReversal (moving back): a reversal of the file that would come
	// before its original's settlement in To, and its Original.
	EarlyReversal, Original string
}

// CheckDeferral tells whether a file may be deferred: its cycle is not
// netted (nothing of it is on the ledger) and holds it; forward, it goes
// into an open cycle, and only while no payment of it is reversed; back
// (correcting a deferral), into a cycle not netted yet and not before the
// one it was accepted into, and not so far that one of its reversals would
// come before its original's settlement.
func CheckDeferral(f DeferralFacts) error {
	back := f.To.BusinessDate < f.From.BusinessDate
	switch {
	case !notNetted(f.From.Stage):
		return fromNettedError(f)
	case !back && f.To.Stage != StageOpen:
		return fmt.Errorf("%w: cycle %s is %s: a file can be deferred only into an open cycle", ErrDeferral, f.To.ID, f.To.Stage)
	case back && !notNetted(f.To.Stage):
		return fmt.Errorf("%w: cycle %s is %s: a file can move back only into a cycle not netted yet", ErrDeferral, f.To.ID, f.To.Stage)
	case !f.Found:
		return notFoundError(f)
	case f.In != f.From.BusinessDate:
		return notInError(f)
	case back && f.To.BusinessDate < f.Accepted:
		return fmt.Errorf("%w: file %s of %s was accepted into cycle %s; it cannot move back before it", ErrDeferral, f.FileID, f.Sender, CycleID(f.Accepted))
	case back && f.EarlyReversal != "":
		return fmt.Errorf("%w: reversal %s of file %s would come before its original %s settles", ErrDeferral, f.EarlyReversal, f.FileID, f.Original)
	case !back && f.Reversed != "":
		return fmt.Errorf("%w: payment %s of file %s is already reversed by %s; a reversal must follow its original's settlement", ErrDeferral, f.Reversed, f.FileID, f.By)
	}
	return nil
}

// CheckDeferralRequest is the part of CheckDeferral that a four-eyes
// request to defer is checked against when it is made: the file is
// accepted and in cycle From, and From is not netted. Only From and the
// file are known then (To is read again, with everything else, when the
// approval carries the deferral out under both cycles' locks); so a request
// that can never be carried out is refused at once, by the same rules and
// in the same words as the deferral itself.
func CheckDeferralRequest(f DeferralFacts) error {
	switch {
	case !f.Found:
		return notFoundError(f)
	case f.In != f.From.BusinessDate:
		return notInError(f)
	case !notNetted(f.From.Stage):
		return fromNettedError(f)
	}
	return nil
}

// notNetted: nothing of a cycle at stage s is netted, so none of it is on
// the ledger and its files may still move.
func notNetted(s Stage) bool { return s == StageOpen || s == StageFrozen }

func fromNettedError(f DeferralFacts) error {
	return fmt.Errorf("%w: cycle %s is %s: a file can be deferred only before its cycle is netted", ErrDeferral, f.From.ID, f.From.Stage)
}

func notFoundError(f DeferralFacts) error {
	return fmt.Errorf("%w: %s has no accepted file %s", ErrDeferral, f.Sender, f.FileID)
}

func notInError(f DeferralFacts) error {
	return fmt.Errorf("%w: file %s of %s is in cycle %s, not %s", ErrDeferral, f.FileID, f.Sender, CycleID(f.In), CycleID(f.From.BusinessDate))
}
