package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"time"
	"unicode/utf8"

	"github.com/lib/pq"

	"settle/jobs"
	"settle/settlement"
)

// The ledger's gridlock resolution as the store keeps it (migration 0080,
// payment_deferrals): one row per entry a cycle's resolution deferred, in
// the transaction that marks the cycle settled. An entry settles in the
// cycle its latest move went to, or in its file's cycle (payment_cycle).

// ledgerTxIDMax is payment_deferrals.ledger_tx's bound (ledger_txs'
// tx_id's).
const ledgerTxIDMax = 128

// refsHere locates the refs unnested from $2..$5 (sender, id, times,
// waiting; the index is seq + 1): located has each found entry's row and
// the cycle it is in now (payment_cycle's answer, computed set-wise: its
// file's cycle once per file, its latest move by the index). Each step is
// materialised so that the planner never runs a per-row function over
// the payments table.
const refsHere = `refs AS MATERIALIZED (
		SELECT r.sender, r.id, r.times, r.waiting, r.ord - 1 AS seq
		FROM unnest($2::text[], $3::text[], $4::int[], $5::bool[]) WITH ORDINALITY AS r(sender, id, times, waiting, ord)),
	found AS MATERIALIZED (
		SELECT refs.seq, refs.sender, refs.id, refs.times, refs.waiting, p.file_id, p.line
		FROM refs JOIN payments p ON p.sender = refs.sender AND p.payment_id = refs.id),
	file_cycles AS MATERIALIZED (
		SELECT x.file_id, file_cycle(x.file_id) AS cycle FROM (SELECT DISTINCT file_id FROM found) x),
	located AS MATERIALIZED (
		SELECT found.*, coalesce(m.to_cycle, fc.cycle) AS cycle
		FROM found JOIN file_cycles fc ON fc.file_id = found.file_id
		LEFT JOIN LATERAL (
			SELECT d.to_cycle FROM payment_deferrals d WHERE d.file_row = found.file_id AND d.line = found.line
			ORDER BY d.id DESC LIMIT 1) m ON true)`

// resolutionRefs are a resolution's entries as the arrays one statement
// unnests, in the record's order (the array index is seq + 1).
type resolutionRefs struct {
	senders, ids pq.StringArray
	times        pq.Int64Array
	waiting      pq.BoolArray
}

// refsOf checks what the store can check of the refs alone (each named
// once, times at least 1) and puts them in arrays.
func refsOf(r jobs.Resolution) (resolutionRefs, error) {
	n := len(r.Deferred)
	out := resolutionRefs{senders: make(pq.StringArray, n), ids: make(pq.StringArray, n), times: make(pq.Int64Array, n), waiting: make(pq.BoolArray, n)}
	seen := make(map[[2]string]int, n)
	for i, d := range r.Deferred {
		k := [2]string{string(d.Sender), d.ID}
		if j, dup := seen[k]; dup {
			return out, fmt.Errorf("resolution: entry %s/%s deferred twice (at %d and %d)", d.Sender, d.ID, j, i)
		}
		seen[k] = i
		if d.Times < 1 {
			return out, fmt.Errorf("resolution: entry %s/%s deferred %d times: at least once", d.Sender, d.ID, d.Times)
		}
		out.senders[i], out.ids[i], out.times[i], out.waiting[i] = string(d.Sender), d.ID, int64(d.Times), d.Waiting
	}
	return out, nil
}

// SaveResolution records the ledger's resolution of the cycle being
// updated: each deferred entry moves to cycle r.To (opened if need be,
// locked after this one: cycles are locked in date order, as DeferFile
// does), which settlement.CheckCarry must allow. Each entry must be in
// this cycle now: of its files and not moved out, or carried into it. One
// INSERT ... SELECT over the unnested refs writes every row or none.
//
// A cycle's resolution is recorded once: called again (a rerun after a
// crash) with exactly the recorded moves it writes nothing; any other
// resolution of a cycle that has one recorded is refused, naming the
// first difference (the ledger wrote one record per cycle, so the two
// must agree). With nothing deferred and none recorded there is nothing
// to do.
func (c *cycleTx) SaveResolution(r jobs.Resolution) error {
	refs, err := refsOf(r)
	if err != nil {
		return err
	}
	var recorded int
	if err := c.tx.QueryRowContext(c.ctx, `SELECT count(*) FROM payment_deferrals WHERE from_cycle = $1`, c.id).Scan(&recorded); err != nil {
		return err
	}
	if recorded > 0 {
		return c.sameResolution(r, refs, recorded)
	}
	if len(r.Deferred) == 0 {
		return nil
	}
	if n := utf8.RuneCountInString(r.TxID); n == 0 || n > ledgerTxIDMax {
		return fmt.Errorf("resolution of %s: ledger transaction id %q: 1 to %d characters", c.date, r.TxID, ledgerTxIDMax)
	}
	if _, err := settlement.ParseDate(string(r.To)); err != nil {
		return err
	}
	// The order first, before a cycle is opened for nothing.
	if err := settlement.CheckCarry(c.date, settlement.Cycle{BusinessDate: r.To, Stage: settlement.StageOpen}); err != nil {
		return err
	}
	if err := c.j.openCycle(c.ctx, c.tx, r.To); err != nil {
		return err
	}
	to, stage, err := lockCycle(c.ctx, c.tx, r.To)
	if err != nil {
		return err
	}
	if err := settlement.CheckCarry(c.date, settlement.Cycle{ID: settlement.CycleID(r.To), BusinessDate: r.To, Stage: stage}); err != nil {
		return err
	}
	res, err := c.tx.ExecContext(c.ctx, `WITH `+refsHere+`
		INSERT INTO payment_deferrals (file_row, line, from_cycle, to_cycle, seq, times, waiting, ledger_tx, recorded_at)
		SELECT file_id, line, $1, $6, seq, times, waiting, $7, coalesce($8::timestamptz, now()) FROM located
		WHERE cycle = $1 AND (SELECT count(*) FROM located WHERE cycle = $1) = cardinality($2::text[])`,
		c.id, refs.senders, refs.ids, refs.times, refs.waiting, to, r.TxID, c.j.now())
	if err != nil {
		return fmt.Errorf("resolution of %s: %w", c.date, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == int64(len(r.Deferred)) {
		return err
	}
	return c.notHere(refs)
}

// notHere names the first ref (in the record's order) that is not an
// entry in this cycle now: the ledger and the store disagree.
func (c *cycleTx) notHere(refs resolutionRefs) error {
	var sender, id string
	var found bool
	var in sql.NullTime
	err := c.tx.QueryRowContext(c.ctx, `WITH `+refsHere+`
		SELECT refs.sender, refs.id, l.file_id IS NOT NULL, cy.business_date
		FROM refs LEFT JOIN located l ON l.seq = refs.seq LEFT JOIN cycles cy ON cy.id = l.cycle
		WHERE l.cycle IS DISTINCT FROM $1
		ORDER BY refs.seq LIMIT 1`, c.id, refs.senders, refs.ids, refs.times, refs.waiting).Scan(&sender, &id, &found, &in)
	if err != nil {
		return fmt.Errorf("resolution of %s: not every entry was recorded, and none is found missing: %w", c.date, err)
	}
	where := "unknown to the store"
	if found && in.Valid {
		where = fmt.Sprintf("in cycle %s, not in it", settlement.CycleID(settlement.Date(in.Time.Format(time.DateOnly))))
	}
	return settlement.CarryNotInError(settlement.BIC(sender), id, c.date, where)
}

// sameResolution accepts r if it is exactly the resolution recorded for
// the cycle (recorded rows): the same entries in the same order, each with
// the same target, times, waiting and transaction.
func (c *cycleTx) sameResolution(r jobs.Resolution, refs resolutionRefs, recorded int) error {
	var same int
	var first string
	err := c.tx.QueryRowContext(c.ctx, `WITH r AS (
			SELECT * FROM unnest($2::text[], $3::text[], $4::int[], $5::bool[]) WITH ORDINALITY AS r(sender, id, times, waiting, ord)),
		m AS (
			SELECT r.ord, r.sender, r.id, d.id IS NOT NULL AS same FROM r
			LEFT JOIN payments p ON p.sender = r.sender AND p.payment_id = r.id
			LEFT JOIN payment_deferrals d ON d.file_row = p.file_id AND d.line = p.line AND d.from_cycle = $1
				AND d.seq = r.ord - 1 AND d.times = r.times AND d.waiting = r.waiting AND d.ledger_tx = $6
				AND d.to_cycle = (SELECT x.id FROM cycles x WHERE x.business_date = $7::date AND x.seq = 1))
		SELECT count(*) FILTER (WHERE same),
			coalesce((SELECT m.sender || '/' || m.id FROM m WHERE NOT m.same ORDER BY m.ord LIMIT 1), '')
		FROM m`, c.id, refs.senders, refs.ids, refs.times, refs.waiting, r.TxID, dateArg(r.To)).Scan(&same, &first)
	if err != nil {
		return fmt.Errorf("resolution of %s: %w", c.date, err)
	}
	if same == len(r.Deferred) && same == recorded {
		return nil
	}
	if first == "" {
		first = "none; it lacks some of the recorded ones"
	}
	return fmt.Errorf("%w: cycle %s has a resolution recorded already (%d moves); this one (%d moves to %s, transaction %s) differs, first at entry %s",
		settlement.ErrDeferral, settlement.CycleID(c.date), recorded, len(r.Deferred), settlement.CycleID(r.To), r.TxID, first)
}

// dateArg is a date for a query, NULL if it is not one (it matches
// nothing then, rather than failing the cast).
func dateArg(d settlement.Date) any {
	if _, err := settlement.ParseDate(string(d)); err != nil {
		return nil
	}
	return string(d)
}

// CarriedEntries streams the entries whose latest move is to the cycle of
// date (carried into it and not deferred again out of it), in the order
// of the records that moved them: by the deferring cycle, then the place
// in its record. Each comes as CycleEntries gives an entry, with the cycle
// that deferred it last (From), its file's cycle (Own) and the ledger's
// count of deferrals (Times).
func (j *JobStore) CarriedEntries(ctx context.Context, date settlement.Date) iter.Seq2[jobs.CarriedEntry, error] {
	return func(yield func(jobs.CarriedEntry, error) bool) {
		id, err := j.cycleID(ctx, j.db, date)
		if err != nil {
			yield(jobs.CarriedEntry{}, err)
			return
		}
		// The files' cycles once a file, not once a row.
		rows, err := j.db.QueryContext(ctx, `WITH m AS MATERIALIZED (
				SELECT d.file_row, d.line, d.seq, d.times, fc.business_date AS from_date, fc.seq AS from_seq
				FROM payment_deferrals d JOIN cycles fc ON fc.id = d.from_cycle
				WHERE d.to_cycle = $1
				  AND NOT EXISTS (SELECT 1 FROM payment_deferrals n WHERE n.file_row = d.file_row AND n.line = d.line AND n.from_cycle = $1)),
			own AS MATERIALIZED (
				SELECT x.file_row, oc.business_date, f.file_id FROM (SELECT DISTINCT file_row FROM m) x
				JOIN files f ON f.id = x.file_row JOIN cycles oc ON oc.id = file_cycle(x.file_row))
			SELECT `+entryRow+`, m.from_date, own.business_date, m.times, own.file_id
			FROM m JOIN payments p ON p.file_id = m.file_row AND p.line = m.line JOIN own ON own.file_row = m.file_row
			ORDER BY m.from_date, m.from_seq, m.seq`, id)
		if err != nil {
			yield(jobs.CarriedEntry{}, err)
			return
		}
		defer rows.Close()
		dec := entryDecoder{j: j, files: map[string]entryFile{}, curs: map[string]settlement.Currency{}}
		for rows.Next() {
			var ce jobs.CarriedEntry
			var row string
			var from, own time.Time
			if err := rows.Scan(&row, &ce.Entry.Remittance, &from, &own, &ce.Times, &ce.FileID); err != nil {
				yield(ce, err)
				return
			}
			if err := dec.decode(ctx, row, &ce.StoredEntry); err != nil {
				yield(ce, err)
				return
			}
			ce.From, ce.Own = settlement.Date(from.Format(time.DateOnly)), settlement.Date(own.Format(time.DateOnly))
			if !yield(ce, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(jobs.CarriedEntry{}, err)
		}
	}
}
