package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// RecordNetting appends a cycle's net positions and bilateral obligations
// as a new revision (1 for the first),
// in one transaction. It asserts the positions balance before writing:
// a broken invariant is a bug and nothing is written.
func (s *Store) RecordNetting(ctx context.Context, cycle int64, ps []settlement.Position, obs []settlement.Obligation) (revision int, err error) {
	if err := settlement.AssertBalanced(ps); err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if revision, err = recordNetting(ctx, tx, cycle, ps, obs); err != nil {
		return 0, err
	}
	return revision, tx.Commit()
}

// recordNetting writes a new revision of a cycle's positions and
// obligations inside tx.
func recordNetting(ctx context.Context, tx *sql.Tx, cycle int64, ps []settlement.Position, obs []settlement.Obligation) (revision int, err error) {
	// The cycle row lock serialises two writers of the same cycle.
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM cycles WHERE id = $1 FOR UPDATE`, cycle); err != nil {
		return 0, err
	}
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(revision), 0) + 1 FROM net_positions WHERE cycle_id = $1`, cycle).Scan(&revision); err != nil {
		return 0, err
	}
	type posRow struct{ Bank, Currency, Sent, Received, Net string }
	type obRow struct{ Debtor, Creditor, Currency, Amount string }
	pr := make([]posRow, len(ps))
	for i, p := range ps {
		pr[i] = posRow{string(p.Bank), p.Currency.Code(), p.Sent.String(), p.Received.String(), p.Net.String()}
	}
	or := make([]obRow, len(obs))
	for i, o := range obs {
		or[i] = obRow{string(o.From), string(o.To), o.Currency.Code(), o.Amount.String()}
	}
	pj, _ := json.Marshal(pr)
	oj, _ := json.Marshal(or)
	// One statement per table from a JSON array: a cycle has at most a few
	// thousand positions, so no COPY is needed here.
	if _, err := tx.ExecContext(ctx, `INSERT INTO net_positions (cycle_id, revision, bank, currency, sent, received, net)
		SELECT $1, $2, x."Bank", x."Currency", x."Sent"::numeric, x."Received"::numeric, x."Net"::numeric
		FROM jsonb_to_recordset($3::jsonb) AS x("Bank" text, "Currency" text, "Sent" text, "Received" text, "Net" text)`,
		cycle, revision, string(pj)); err != nil {
		return 0, fmt.Errorf("net positions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO obligations (cycle_id, revision, debtor, creditor, currency, amount)
		SELECT $1, $2, x."Debtor", x."Creditor", x."Currency", x."Amount"::numeric
		FROM jsonb_to_recordset($3::jsonb) AS x("Debtor" text, "Creditor" text, "Currency" text, "Amount" text)`,
		cycle, revision, string(oj)); err != nil {
		return 0, fmt.Errorf("obligations: %w", err)
	}
	return revision, nil
}

// Positions returns the latest revision of a cycle's net positions, and
// asserts again, where they are relied upon, that they balance.
func (s *Store) Positions(ctx context.Context, cycle int64) ([]settlement.Position, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT bank, currency, sent::text, received::text, net::text FROM net_positions
		WHERE cycle_id = $1 AND revision = (SELECT max(revision) FROM net_positions WHERE cycle_id = $1)
		ORDER BY currency, bank`, cycle)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []settlement.Position
	for rows.Next() {
		var bank, cur, sent, recv, net string
		if err := rows.Scan(&bank, &cur, &sent, &recv, &net); err != nil {
			return nil, err
		}
		c, err := settlement.ParseCurrency(cur)
		if err != nil {
			return nil, err
		}
		p := settlement.Position{Bank: settlement.BIC(bank), Currency: c}
		for _, x := range []struct {
			s string
			d *decimal.Decimal
		}{{sent, &p.Sent}, {recv, &p.Received}, {net, &p.Net}} {
			if *x.d, err = decimal.NewFromString(x.s); err != nil {
				return nil, err
			}
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, settlement.AssertBalanced(out)
}
