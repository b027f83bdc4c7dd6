package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// SaveNetAttempt keeps a netting that breached the caps; the cycle stays
// frozen.
func (j *JobStore) SaveNetAttempt(ctx context.Context, date settlement.Date, res *settlement.Result, breaches []settlement.CapBreach) error {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id, stage, err := lockCycle(ctx, tx, date)
	if err != nil {
		return err
	}
	if stage != settlement.StageFrozen {
		return fmt.Errorf("%w: cycle of %s is %s, not %s", settlement.ErrStage, date, stage, settlement.StageFrozen)
	}
	if err := (&cycleTx{ctx: ctx, tx: tx, id: id, actor: j.Actor}).SaveNetting(res, breaches); err != nil {
		return err
	}
	return tx.Commit()
}

// DeferFile records a deferral after checking, under both cycles' row
// locks, that the file is accepted and in the first cycle, that this cycle
// is not netted (nothing of it on the ledger), that the target is open,
// and that no payment of the file has been reversed.
func (j *JobStore) DeferFile(ctx context.Context, d jobs.Deferral) (jobs.DeferredFile, error) {
	var out jobs.DeferredFile
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return out, err
	}
	defer tx.Rollback()
	// The target may not exist yet; lock in date order (from < to).
	if _, err := tx.ExecContext(ctx, `INSERT INTO cycles (business_date, seq) VALUES ($1, 1) ON CONFLICT (business_date, seq) DO NOTHING`, string(d.To)); err != nil {
		return out, err
	}
	from, fromStage, err := lockCycle(ctx, tx, d.From)
	if err != nil {
		return out, err
	}
	to, toStage, err := lockCycle(ctx, tx, d.To)
	if err != nil {
		return out, err
	}
	if fromStage != settlement.StageOpen && fromStage != settlement.StageFrozen {
		return out, fmt.Errorf("%w: cycle %s is %s: a file can be deferred only before its cycle is netted", jobs.ErrDeferral, settlement.CycleID(d.From), fromStage)
	}
	if toStage != settlement.StageOpen {
		return out, fmt.Errorf("%w: cycle %s is %s: a file can be deferred only into an open cycle", jobs.ErrDeferral, settlement.CycleID(d.To), toStage)
	}
	var row, cur int64
	err = tx.QueryRowContext(ctx, `SELECT id, name, sha256, entries, file_cycle(id) FROM files WHERE sender = $1 AND file_id = $2 AND status = 'ACCEPTED'`,
		string(d.Sender), d.FileID).Scan(&row, &out.Name, &out.SHA256, &out.Entries, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return out, fmt.Errorf("%w: %s has no accepted file %s", jobs.ErrDeferral, d.Sender, d.FileID)
	}
	if err != nil {
		return out, err
	}
	if cur != from {
		var in time.Time
		tx.QueryRowContext(ctx, `SELECT business_date FROM cycles WHERE id = $1`, cur).Scan(&in)
		return out, fmt.Errorf("%w: file %s of %s is in cycle C%s, not %s", jobs.ErrDeferral, d.FileID, d.Sender, in.Format(time.DateOnly), settlement.CycleID(d.From))
	}
	var reversed, by string
	err = tx.QueryRowContext(ctx, `SELECT p.payment_id, r.payment_id FROM payments p
		JOIN payments r ON r.sender = p.sender AND r.original_payment_id = p.payment_id
		WHERE p.file_id = $1 AND p.kind = 'P' ORDER BY p.line LIMIT 1`, row).Scan(&reversed, &by)
	if err == nil {
		return out, fmt.Errorf("%w: payment %s of file %s is already reversed by %s; a reversal must follow its original's settlement", jobs.ErrDeferral, reversed, d.FileID, by)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return out, err
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO file_deferrals (file_row, from_cycle, to_cycle, reason, actor) VALUES ($1, $2, $3, $4, $5) RETURNING recorded_at`,
		row, from, to, d.Reason, d.Actor).Scan(&out.At); err != nil {
		return out, err
	}
	return out, tx.Commit()
}
