package memstore

import (
	"context"
	"fmt"
	"iter"
	"sort"
	"unicode/utf8"

	"settle/jobs"
	"settle/settlement"
)

// The ledger's gridlock resolution as the Postgres store keeps it
// (payment_deferrals): one move per entry a cycle's resolution deferred.
// An entry settles in the cycle its latest move went to, or in its file's
// cycle (entryCycle, the Postgres store's payment_cycle).

// payMove is one move of an entry by a cycle's resolution.
type payMove struct {
	ref      rowRef
	from, to settlement.Date
	seq      int // its place in from's record
	times    int
	waiting  bool
	tx       string
}

func keyOf(r rowRef) idKey { return idKey{r.f.rec.Sender, r.entry().ID} }

// entryCycle is the cycle an entry settles in now: its latest move's
// target, or its file's cycle.
func (s *Store) entryCycle(r rowRef) settlement.Date {
	if i, ok := s.lastMove[keyOf(r)]; ok {
		return s.payMoves[i].to
	}
	return s.fileCycle(r.f)
}

// SaveResolution records the ledger's resolution of the cycle being
// updated, as the Postgres store does: each deferred entry must be in the
// cycle now (of its files and not moved out, or carried into it) and
// moves to cycle r.To, which settlement.CheckCarry must allow (opened if
// there is none, when the update succeeds). A cycle's resolution is
// recorded once: exactly the recorded moves again write nothing, any
// other resolution is refused; nothing deferred and none recorded is
// nothing to do.
func (t *cycleTx) SaveResolution(r jobs.Resolution) error {
	s := t.s
	if err := checkRefs(r); err != nil {
		return err
	}
	if recorded := append(s.movesFrom(t.date), t.moves...); len(recorded) > 0 {
		return sameResolution(t.date, recorded, r)
	}
	if len(r.Deferred) == 0 {
		return nil
	}
	if n := utf8.RuneCountInString(r.TxID); n == 0 || n > ledgerTxIDMax {
		return fmt.Errorf("resolution of %s: ledger transaction id %q: 1 to %d characters", t.date, r.TxID, ledgerTxIDMax)
	}
	if _, err := settlement.ParseDate(string(r.To)); err != nil {
		return err
	}
	to, exists := s.cycles[r.To]
	if !exists {
		to = settlement.NewCycle(r.To, s.now())
	}
	if err := settlement.CheckCarry(t.date, to); err != nil {
		return err
	}
	moves := make([]payMove, 0, len(r.Deferred))
	for i, d := range r.Deferred {
		ref, ok := s.ids[idKey{d.Sender, d.ID}]
		if !ok {
			return settlement.CarryNotInError(d.Sender, d.ID, t.date, "unknown to the store")
		}
		if in := s.entryCycle(ref); in != t.date {
			return settlement.CarryNotInError(d.Sender, d.ID, t.date, fmt.Sprintf("in cycle %s, not in it", settlement.CycleID(in)))
		}
		moves = append(moves, payMove{ref: ref, from: t.date, to: r.To, seq: i, times: d.Times, waiting: d.Waiting, tx: r.TxID})
	}
	t.moves = moves
	if !exists {
		t.open = r.To
	}
	return nil
}

// checkRefs is what can be checked of a resolution's refs alone: each
// named once, deferred at least once.
func checkRefs(r jobs.Resolution) error {
	seen := make(map[idKey]int, len(r.Deferred))
	for i, d := range r.Deferred {
		k := idKey{d.Sender, d.ID}
		if j, dup := seen[k]; dup {
			return fmt.Errorf("resolution: entry %s/%s deferred twice (at %d and %d)", d.Sender, d.ID, j, i)
		}
		seen[k] = i
		if d.Times < 1 {
			return fmt.Errorf("resolution: entry %s/%s deferred %d times: at least once", d.Sender, d.ID, d.Times)
		}
	}
	return nil
}

// movesFrom are the recorded moves out of cycle date.
func (s *Store) movesFrom(date settlement.Date) []payMove {
	var out []payMove
	for _, m := range s.payMoves {
		if m.from == date {
			out = append(out, m)
		}
	}
	return out
}

// sameResolution accepts r if it is exactly the resolution recorded for
// cycle date: the same entries in the same order, each with the same
// target, times, waiting and transaction.
func sameResolution(date settlement.Date, recorded []payMove, r jobs.Resolution) error {
	byKey := make(map[idKey]payMove, len(recorded))
	for _, m := range recorded {
		byKey[keyOf(m.ref)] = m
	}
	same, first := 0, ""
	for i, d := range r.Deferred {
		m, ok := byKey[idKey{d.Sender, d.ID}]
		if ok && m.seq == i && m.to == r.To && m.times == d.Times && m.waiting == d.Waiting && m.tx == r.TxID {
			same++
		} else if first == "" {
			first = string(d.Sender) + "/" + d.ID
		}
	}
	if same == len(r.Deferred) && same == len(recorded) {
		return nil
	}
	if first == "" {
		first = "none; it lacks some of the recorded ones"
	}
	return fmt.Errorf("%w: cycle %s has a resolution recorded already (%d moves); this one (%d moves to %s, transaction %s) differs, first at entry %s",
		settlement.ErrDeferral, settlement.CycleID(date), len(recorded), len(r.Deferred), settlement.CycleID(r.To), r.TxID, first)
}

// keepResolution keeps what a successful update's SaveResolution checked:
// the cycle it moves entries to, opened, and the moves.
func (s *Store) keepResolution(t *cycleTx) {
	if t.open != "" {
		if _, ok := s.cycles[t.open]; !ok {
			s.cycles[t.open] = settlement.NewCycle(t.open, s.now())
		}
	}
	for _, m := range t.moves {
		s.lastMove[keyOf(m.ref)] = len(s.payMoves)
		s.payMoves = append(s.payMoves, m)
	}
}

// CarriedEntries streams the entries whose latest move is to the cycle of
// date, by the deferring cycle and then the place in its record, each with
// that cycle (From), its file's cycle (Own) and the ledger's count of
// deferrals. They are read under the lock at the start.
func (s *Store) CarriedEntries(_ context.Context, date settlement.Date) iter.Seq2[jobs.CarriedEntry, error] {
	return func(yield func(jobs.CarriedEntry, error) bool) {
		s.mu.Lock()
		if _, ok := s.cycles[date]; !ok {
			s.mu.Unlock()
			yield(jobs.CarriedEntry{}, fmt.Errorf("%s: %w", date, jobs.ErrNoCycle))
			return
		}
		var moves []payMove
		for _, i := range s.lastMove {
			if m := s.payMoves[i]; m.to == date {
				moves = append(moves, m)
			}
		}
		sort.Slice(moves, func(i, j int) bool {
			if moves[i].from != moves[j].from {
				return moves[i].from < moves[j].from
			}
			return moves[i].seq < moves[j].seq
		})
		out := make([]jobs.CarriedEntry, len(moves))
		for i, m := range moves {
			f := m.ref.f
			out[i] = jobs.CarriedEntry{StoredEntry: jobs.StoredEntry{Sender: f.rec.Sender, Entry: *m.ref.entry(), FileSHA256: f.rec.SHA256, FileName: f.rec.Name},
				FileID: f.rec.FileID, From: m.from, Own: s.fileCycle(f), Times: m.times}
		}
		s.mu.Unlock()
		for _, ce := range out {
			if !yield(ce, nil) {
				return
			}
		}
	}
}
