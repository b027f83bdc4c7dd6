package postgres

import (
	"context"
	"database/sql"
	"iter"
	"strings"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/settlement"
)

// reportedFiles are the accepted files a cycle's settlement confirmations
// speak of, with what each confirmation says: the files whose cycle is now
// this one (they settled in it), and the files that were in it, by
// acceptance or by a deferral, and are now in a later cycle (deferred to
// that one). A file that passed through the cycle and was moved back to
// an earlier one is not this cycle's to report.
//
// Once the cycle is netted, which files settled in it and which left it
// cannot change (a deferral into or out of a cycle needs it not netted
// yet); where a deferred file is may, until its new cycle is netted, and
// the confirmation names the cycle it is in when written.
const reportedFiles = `WITH c AS (SELECT id, business_date FROM cycles WHERE business_date = $1 AND seq = 1),
	cand AS (
		SELECT f.id FROM files f, c WHERE f.cycle_id = c.id
		UNION SELECT d.file_row FROM file_deferrals d, c WHERE d.to_cycle = c.id OR d.from_cycle = c.id),
	rep AS (
		SELECT f.id, c.business_date AS here, oc.business_date AS own, tc.business_date AS now
		FROM cand JOIN files f ON f.id = cand.id AND f.status = 'ACCEPTED' CROSS JOIN c
		JOIN cycles oc ON oc.id = f.cycle_id
		JOIN cycles tc ON tc.id = file_cycle(f.id))
	SELECT id, own, now AS reported FROM rep WHERE now >= here`

// carriedFiles are the accepted files with entries that the ledger's
// gridlock resolution carried into the cycle of $1 and did not defer
// again out of it (their latest move is to it): they settle in it, and
// its confirmations speak of them too. Such a file is never one of
// reportedFiles: a resolution defers only out of a cycle that settled, so
// the file's own cycle settled before the one it is carried into, and
// reportedFiles lists only files whose cycle is this one or later. Were a
// file both, SettlementFiles would keep its reportedFiles row only.
const carriedFiles = `SELECT DISTINCT d.file_row AS id FROM payment_deferrals d, c
	WHERE d.to_cycle = c.id
	  AND NOT EXISTS (SELECT 1 FROM payment_deferrals n WHERE n.file_row = d.file_row AND n.line = d.line AND n.from_cycle = c.id)`

// SettlementFiles are the accepted files a cycle's confirmations speak of
// (reportedFiles), each with the cycle it settled in or was deferred to,
// then, with Carried, those whose entries were carried into it
// (carriedFiles; Cycle is this one); each with the base of its outbox
// names (its acknowledgement's name without .ack.json: the file's name,
// or <name>.<16 hex> where the bank reused a name). Own is the cycle a
// file was accepted into.
func (j *JobStore) SettlementFiles(ctx context.Context, date settlement.Date) ([]jobs.SettlementFile, error) {
	rows, err := j.db.QueryContext(ctx, `WITH r AS (`+reportedFiles+`),
		c AS (SELECT id, business_date FROM cycles WHERE business_date = $1 AND seq = 1),
		k AS (`+carriedFiles+`),
		l AS (
			SELECT r.id, r.own, r.reported, false AS carried FROM r
			UNION ALL
			SELECT f.id, oc.business_date, c.business_date, true FROM k CROSS JOIN c
			JOIN files f ON f.id = k.id AND f.status = 'ACCEPTED' JOIN cycles oc ON oc.id = f.cycle_id
			WHERE k.id NOT IN (SELECT r.id FROM r))
		SELECT f.sender, f.name, f.file_id, f.entries, f.control_sum::text, l.reported::text, l.own::text, l.carried,
			EXISTS (SELECT 1 FROM payments p WHERE p.file_id = f.id AND p.kind = 'P'),
			coalesce((SELECT a.ack_name FROM acknowledgements a WHERE a.file_row = f.id ORDER BY a.id LIMIT 1), f.name || '.ack.json')
		FROM l JOIN files f ON f.id = l.id ORDER BY l.carried, f.id`, string(date))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.SettlementFile
	for rows.Next() {
		var f jobs.SettlementFile
		var sender, sum, cycle, own, ack string
		if err := rows.Scan(&sender, &f.Name, &f.FileID, &f.Entries, &sum, &cycle, &own, &f.Carried, &f.HasPayments, &ack); err != nil {
			return nil, err
		}
		f.Sender, f.Cycle, f.Own = settlement.BIC(sender), settlement.Date(cycle), settlement.Date(own)
		f.OutboxBase = strings.TrimSuffix(ack, ".ack.json")
		if f.ControlSum, err = decimal.NewFromString(sum); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// DeferredEntries streams the payments and reversals a cycle deferred, by
// sender, file and line: those of the files deferred out of it
// (reportedFiles with another cycle than this one), each with the cycle
// its file is in now, and those the ledger's gridlock resolution deferred
// out of it (payment_deferrals from it), each with the cycle that move
// went to. No entry is both: a file deferred out of a cycle left it
// before its netting, a resolution defers at its settlement.
func (j *JobStore) DeferredEntries(ctx context.Context, date settlement.Date) iter.Seq2[jobs.DeferredEntry, error] {
	return func(yield func(jobs.DeferredEntry, error) bool) {
		rows, err := j.db.QueryContext(ctx, `WITH r AS (`+reportedFiles+`),
			e AS (
				SELECT p.sender, f.name, f.file_id, p.line, p.payment_id, p.kind, p.debtor, p.creditor, p.amount, p.currency, r.reported, f.id AS frow
				FROM r JOIN files f ON f.id = r.id JOIN payments p ON p.file_id = f.id
				WHERE r.reported <> $1::date
				UNION ALL
				SELECT p.sender, f.name, f.file_id, p.line, p.payment_id, p.kind, p.debtor, p.creditor, p.amount, p.currency, tc.business_date, f.id
				FROM cycles c JOIN payment_deferrals d ON d.from_cycle = c.id JOIN cycles tc ON tc.id = d.to_cycle
				JOIN payments p ON p.file_id = d.file_row AND p.line = d.line JOIN files f ON f.id = p.file_id
				WHERE c.business_date = $1 AND c.seq = 1)
			SELECT sender, name, file_id, line, payment_id, kind, debtor, creditor, amount::text, currency, reported::text
			FROM e ORDER BY sender, frow, line`, string(date))
		if err != nil {
			yield(jobs.DeferredEntry{}, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanDeferred(rows)
			if !yield(e, err) || err != nil {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(jobs.DeferredEntry{}, err)
		}
	}
}

func scanDeferred(rows *sql.Rows) (jobs.DeferredEntry, error) {
	var e jobs.DeferredEntry
	var sender, kind, debtor, creditor, amount, cur, to string
	if err := rows.Scan(&sender, &e.File, &e.FileID, &e.Line, &e.ID, &kind, &debtor, &creditor, &amount, &cur, &to); err != nil {
		return e, err
	}
	c, err := settlement.ParseCurrency(cur)
	if err != nil {
		return e, err
	}
	if e.Amount, err = decimal.NewFromString(amount); err != nil {
		return e, err
	}
	e.Sender, e.Kind, e.Debtor, e.Creditor, e.Currency, e.To = settlement.BIC(sender), settlement.Kind(kind[0]),
		settlement.BIC(debtor), settlement.BIC(creditor), c, settlement.Date(to)
	return e, nil
}
