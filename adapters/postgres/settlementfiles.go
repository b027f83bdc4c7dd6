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

// SettlementFiles are the accepted files a cycle's confirmations speak of
// (reportedFiles), each with the cycle it settled in or was deferred to,
// and the base of its outbox names (its acknowledgement's name without
// .ack.json: the file's name, or <name>.<16 hex> where the bank reused a
// name).
func (j *JobStore) SettlementFiles(ctx context.Context, date settlement.Date) ([]jobs.SettlementFile, error) {
	rows, err := j.db.QueryContext(ctx, `WITH r AS (`+reportedFiles+`)
		SELECT f.sender, f.name, f.file_id, f.entries, f.control_sum::text, r.reported::text, r.own::text,
			EXISTS (SELECT 1 FROM payments p WHERE p.file_id = f.id AND p.kind = 'P'),
			coalesce((SELECT a.ack_name FROM acknowledgements a WHERE a.file_row = f.id ORDER BY a.id LIMIT 1), f.name || '.ack.json')
		FROM r JOIN files f ON f.id = r.id ORDER BY f.id`, string(date))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.SettlementFile
	for rows.Next() {
		var f jobs.SettlementFile
		var sender, sum, cycle, own, ack string
		if err := rows.Scan(&sender, &f.Name, &f.FileID, &f.Entries, &sum, &cycle, &own, &f.HasPayments, &ack); err != nil {
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

// DeferredEntries streams the payments and reversals of the files
// deferred out of a cycle (reportedFiles with another cycle than this
// one), by sender, file and line.
func (j *JobStore) DeferredEntries(ctx context.Context, date settlement.Date) iter.Seq2[jobs.DeferredEntry, error] {
	return func(yield func(jobs.DeferredEntry, error) bool) {
		rows, err := j.db.QueryContext(ctx, `WITH r AS (`+reportedFiles+`)
			SELECT p.sender, f.name, f.file_id, p.line, p.payment_id, p.kind, p.debtor, p.creditor, p.amount::text, p.currency, r.reported::text
			FROM r JOIN files f ON f.id = r.id JOIN payments p ON p.file_id = f.id
			WHERE r.reported <> $1::date
			ORDER BY p.sender, f.id, p.line`, string(date))
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
