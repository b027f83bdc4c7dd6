package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"settle/jobs"
	"settle/settlement"
)

// lockCycle locks a cycle's row for the transaction and returns its id and
// stage.
func lockCycle(ctx context.Context, tx *sql.Tx, date settlement.Date) (int64, settlement.Stage, error) {
	var id int64
	var state string
	err := tx.QueryRowContext(ctx, `SELECT id, state FROM cycles WHERE business_date = $1 AND seq = 1 FOR UPDATE`, string(date)).Scan(&id, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	return id, stageOf(state), err
}

// lockCycleRow locks a cycle's row for the transaction and loads it.
func lockCycleRow(ctx context.Context, tx *sql.Tx, date settlement.Date) (int64, settlement.Cycle, error) {
	c, id, err := scanCycle(tx.QueryRowContext(ctx, `SELECT `+cycleCols+` FROM cycles c WHERE c.business_date = $1 AND c.seq = 1 FOR UPDATE OF c`, string(date)))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, c, fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	return id, c, err
}

// DeferFile records a deferral if the domain allows it
// (settlement.CheckDeferral) on the facts read under both cycles' row
// locks.
func (j *JobStore) DeferFile(ctx context.Context, d jobs.Deferral) (jobs.DeferredFile, error) {
	var out jobs.DeferredFile
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return out, err
	}
	defer tx.Rollback()
	// The target may not exist yet; lock in date order.
	if err := j.openCycle(ctx, tx, d.To); err != nil {
		return out, err
	}
	back := d.To < d.From
	var from, to int64
	var fromStage, toStage settlement.Stage
	if back {
		if to, toStage, err = lockCycle(ctx, tx, d.To); err == nil {
			from, fromStage, err = lockCycle(ctx, tx, d.From)
		}
	} else if from, fromStage, err = lockCycle(ctx, tx, d.From); err == nil {
		to, toStage, err = lockCycle(ctx, tx, d.To)
	}
	if err != nil {
		return out, err
	}
	facts := settlement.DeferralFacts{Sender: d.Sender, FileID: d.FileID,
		From: settlement.Cycle{ID: settlement.CycleID(d.From), BusinessDate: d.From, Stage: fromStage},
		To:   settlement.Cycle{ID: settlement.CycleID(d.To), BusinessDate: d.To, Stage: toStage}}
	row, err := deferralFacts(ctx, tx, d, to, back, &facts, &out)
	if err != nil {
		return out, err
	}
	if err := settlement.CheckDeferral(facts); err != nil {
		return out, err
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO file_deferrals (file_row, from_cycle, to_cycle, reason, actor, recorded_at) VALUES ($1, $2, $3, $4, $5, coalesce($6::timestamptz, now())) RETURNING recorded_at`,
		row, from, to, d.Reason, d.Actor, j.now()).Scan(&out.At); err != nil {
		return out, err
	}
	// Which move of the file this is, and its outbox names' base (as its
	// acknowledgement's), so that each move's notice has a name of its own.
	var ack string
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM file_deferrals WHERE file_row = $1),
			coalesce((SELECT a.ack_name FROM acknowledgements a WHERE a.file_row = $1 ORDER BY a.id LIMIT 1), $2 || '.ack.json')`,
		row, out.Name).Scan(&out.Move, &ack); err != nil {
		return out, err
	}
	out.OutboxBase = strings.TrimSuffix(ack, ".ack.json")
	return out, tx.Commit()
}

// deferralFacts reads what the deferral rules look at: the file, the cycle
// it is in and the one it was accepted into, and its reversals (forward: a
// payment of it reversed already; back: a reversal that would come before
// its original's settlement in cycle to). It returns the file's row.
func deferralFacts(ctx context.Context, tx *sql.Tx, d jobs.Deferral, to int64, back bool, f *settlement.DeferralFacts, out *jobs.DeferredFile) (int64, error) {
	var row int64
	var in, accepted time.Time
	err := tx.QueryRowContext(ctx, `SELECT f.id, f.name, f.sha256, f.entries, cur.business_date, acc.business_date
		FROM files f JOIN cycles cur ON cur.id = file_cycle(f.id) JOIN cycles acc ON acc.id = f.cycle_id
		WHERE f.sender = $1 AND f.file_id = $2 AND f.status = 'ACCEPTED'`,
		string(d.Sender), d.FileID).Scan(&row, &out.Name, &out.SHA256, &out.Entries, &in, &accepted)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // f.Found stays false
	}
	if err != nil {
		return 0, err
	}
	f.Found, f.In, f.Accepted = true, settlement.Date(in.Format(time.DateOnly)), settlement.Date(accepted.Format(time.DateOnly))
	if back {
		err = tx.QueryRowContext(ctx, `SELECT r.payment_id, r.original_payment_id FROM payments r
			JOIN payments o ON o.sender = r.sender AND o.payment_id = r.original_payment_id AND o.kind = 'P'
			WHERE r.file_id = $1 AND r.kind = 'R' AND reversal_too_early(o.file_id, o.line, r.file_id, $2)
			ORDER BY r.line LIMIT 1`, row, to).Scan(&f.EarlyReversal, &f.Original)
	} else {
		err = tx.QueryRowContext(ctx, `SELECT p.payment_id, r.payment_id FROM payments p
			JOIN payments r ON r.sender = p.sender AND r.original_payment_id = p.payment_id
			WHERE p.file_id = $1 AND p.kind = 'P' ORDER BY p.line LIMIT 1`, row).Scan(&f.Reversed, &f.By)
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return row, err
}
