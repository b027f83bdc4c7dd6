package settlement

import "fmt"

// CheckCarry is the rule a gridlock resolution's move obeys in the store
// (jobs.CycleTx.SaveResolution): the entries a cycle of date from did not
// settle are carried to cycle to, a later one whose netting has not run
// yet, so that it nets them with its own files. Both stores ask it on the
// facts read under the cycles' locks.
func CheckCarry(from Date, to Cycle) error {
	switch {
	case to.BusinessDate <= from:
		return fmt.Errorf("%w: cycle %s is not after cycle %s: deferred entries move to a later cycle", ErrDeferral, CycleID(to.BusinessDate), CycleID(from))
	case !notNetted(to.Stage):
		return fmt.Errorf("%w: cycle %s is %s: deferred entries move only to a cycle not netted yet", ErrDeferral, CycleID(to.BusinessDate), to.Stage)
	}
	return nil
}

// CarryNotInError is the error of a deferred entry the store does not
// have in the cycle that deferred it: the ledger's record and the store
// disagree.
func CarryNotInError(sender BIC, id string, from Date, where string) error {
	return fmt.Errorf("%w: entry %s/%s deferred by cycle %s is %s", ErrDeferral, sender, id, CycleID(from), where)
}
