package memstore

import (
	"fmt"

	"settle/settlement"
)

// addEntry records a problem of the entry whose id is id.
func addEntry(ps *settlement.Problems, id string, line int, field, code, format string, args ...any) {
	ps.Add(settlement.Problem{Line: line, Field: field, Code: code, Message: fmt.Sprintf(format, args...), Entry: id})
}

// diagnose lists every entry of nf that the schema's deferred checks
// refuse, as the Postgres store's diagnosis of a refused COPY does: ids
// used before (in an earlier file of the sender, or earlier in this one),
// then reversals whose original is unknown, a reversal, not in an earlier
// cycle, different, or reversed already. No problem: the file may be kept.
func (s *Store) diagnose(nf *file, ps *settlement.Problems) {
	s.diagnoseIDs(nf, ps)
	s.diagnoseReversals(nf, ps)
}

// diagnoseIDs is the unique (sender, payment id) check: another file's row
// comes first, else the first line of this file with the id.
func (s *Store) diagnoseIDs(nf *file, ps *settlement.Problems) {
	first := map[string]int{} // id -> its first line in nf
	rows := 0
	for _, e := range nf.entries {
		field := "payment_id"
		if e.Kind == settlement.KindReversal {
			field = "reversal_id"
		}
		prev, seen := first[e.ID]
		if !seen {
			first[e.ID] = e.Line
		}
		if rows > problemsListMax {
			continue
		}
		if q, ok := s.ids[idKey{nf.rec.Sender, e.ID}]; ok {
			rows++
			addEntry(ps, e.ID, e.Line, field, settlement.CodeDuplicatePaymentID, "id %s is already used by the same sender in file %s (%s) line %d",
				e.ID, q.f.rec.FileID, q.f.rec.Name, q.entry().Line)
		} else if seen {
			rows++
			addEntry(ps, e.ID, e.Line, field, settlement.CodeDuplicatePaymentID, "id %s is already used at line %d of this file", e.ID, prev)
		}
	}
}

// original is the row a reversal of sender names, as the schema finds it:
// a payment before a reversal, another (earlier) file's row before this
// file's, then the first line.
func (s *Store) original(nf *file, orig string) (rowRef, bool) {
	var best rowRef
	found := false
	better := func(r rowRef) bool {
		if !found {
			return true
		}
		bp, rp := best.entry().Kind == settlement.KindPayment, r.entry().Kind == settlement.KindPayment
		return rp && !bp
	}
	if q, ok := s.ids[idKey{nf.rec.Sender, orig}]; ok {
		best, found = q, true
	}
	for i := range nf.entries {
		if r := (rowRef{nf, i}); nf.entries[i].ID == orig && better(r) {
			best, found = r, true
		}
	}
	return best, found
}

// diagnoseReversals is payments_check_reversal and the unique (sender,
// original) check, in the Postgres store's words.
func (s *Store) diagnoseReversals(nf *file, ps *settlement.Problems) {
	firstRev := map[string]int{} // original -> the line of its first reversal in nf
	rows := 0
	for _, r := range nf.entries {
		if r.Kind != settlement.KindReversal {
			continue
		}
		prevLine, prevSeen := firstRev[r.Original]
		if !prevSeen {
			firstRev[r.Original] = r.Line
		}
		if rows++; rows > problemsListMax+1 {
			continue
		}
		s.checkReversal(nf, &r, ps)
		const field = "original_payment_id"
		if q, ok := s.reversals[idKey{nf.rec.Sender, r.Original}]; ok {
			addEntry(ps, r.ID, r.Line, field, settlement.CodeAlreadyReversed, "payment %s is already reversed in file %s line %d", r.Original, q.f.rec.FileID, q.entry().Line)
		} else if prevSeen {
			addEntry(ps, r.ID, r.Line, field, settlement.CodeAlreadyReversed, "payment %s is already reversed at line %d of this file", r.Original, prevLine)
		}
	}
}

// checkReversal is payments_check_reversal on one reversal r of nf.
func (s *Store) checkReversal(nf *file, r *settlement.Entry, ps *settlement.Problems) {
	const field = "original_payment_id"
	ref, found := s.original(nf, r.Original)
	switch {
	case !found:
		addEntry(ps, r.ID, r.Line, field, settlement.CodeOriginalUnknown, "no payment %s of this sender is known", r.Original)
		return
	case ref.entry().Kind != settlement.KindPayment:
		addEntry(ps, r.ID, r.Line, field, settlement.CodeOriginalUnknown, "%s is a reversal, not a payment", r.Original)
		return
	case ref.f == nf || !(s.entryCycle(ref) < nf.rec.Cycle):
		// reversal_too_early: the same file, or a cycle not before the
		// reversal's (dates order cycles: one cycle a day), where the
		// original settles now: its file's cycle, or where the ledger's
		// resolution carried it.
		addEntry(ps, r.ID, r.Line, field, settlement.CodeOriginalUnsettled, "payment %s is in this same cycle and not settled yet; a reversal must follow its settlement", r.Original)
		return
	}
	o := ref.entry()
	if r.Debtor != o.Debtor {
		addEntry(ps, r.ID, r.Line, "original_debtor_bic", settlement.CodeOriginalMismatch, "payment %s has debtor %s, not %s", r.Original, o.Debtor, r.Debtor)
	}
	if r.Creditor != o.Creditor {
		addEntry(ps, r.ID, r.Line, "original_creditor_bic", settlement.CodeOriginalMismatch, "payment %s has creditor %s, not %s", r.Original, o.Creditor, r.Creditor)
	}
	if r.Currency != o.Currency {
		addEntry(ps, r.ID, r.Line, "currency", settlement.CodeOriginalMismatch, "payment %s is in %s, not %s", r.Original, o.Currency.Code(), r.Currency.Code())
	} else if !r.Amount.Equal(o.Amount) {
		addEntry(ps, r.ID, r.Line, "amount", settlement.CodeOriginalMismatch, "payment %s is of %s, not %s", r.Original,
			settlement.FormatAmount(o.Amount, o.Currency), settlement.FormatAmount(r.Amount, r.Currency))
	}
}

// fileCycle is the cycle a file settles in now: its last deferral's
// target, or the cycle it was accepted into (file_cycle).
func (s *Store) fileCycle(f *file) settlement.Date {
	for i := len(s.deferrals) - 1; i >= 0; i-- {
		if s.deferrals[i].row == f.row {
			return s.deferrals[i].to
		}
	}
	return f.rec.Cycle
}
