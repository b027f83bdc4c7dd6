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
// is not netted (nothing of it on the ledger), and where it goes: forward,
// into an open cycle, and only while no payment of the file is reversed;
// back (correcting a deferral), into a cycle not netted yet and not before
// the one the file was accepted into, and only after its reversals'
// originals.
func (j *JobStore) DeferFile(ctx context.Context, d jobs.Deferral) (jobs.DeferredFile, error) {
	var out jobs.DeferredFile
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return out, err
	}
	defer tx.Rollback()
	// The target may not exist yet; lock in date order.
	if _, err := tx.ExecContext(ctx, `INSERT INTO cycles (business_date, seq) VALUES ($1, 1) ON CONFLICT (business_date, seq) DO NOTHING`, string(d.To)); err != nil {
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
	if fromStage != settlement.StageOpen && fromStage != settlement.StageFrozen {
		return out, fmt.Errorf("%w: cycle %s is %s: a file can be deferred only before its cycle is netted", jobs.ErrDeferral, settlement.CycleID(d.From), fromStage)
	}
	switch {
	case !back && toStage != settlement.StageOpen:
		return out, fmt.Errorf("%w: cycle %s is %s: a file can be deferred only into an open cycle", jobs.ErrDeferral, settlement.CycleID(d.To), toStage)
	case back && toStage != settlement.StageOpen && toStage != settlement.StageFrozen:
		return out, fmt.Errorf("%w: cycle %s is %s: a file can move back only into a cycle not netted yet", jobs.ErrDeferral, settlement.CycleID(d.To), toStage)
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
	if back {
		if err := checkMoveBack(ctx, tx, row, to, d); err != nil {
			return out, err
		}
	} else {
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
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO file_deferrals (file_row, from_cycle, to_cycle, reason, actor) VALUES ($1, $2, $3, $4, $5) RETURNING recorded_at`,
		row, from, to, d.Reason, d.Actor).Scan(&out.At); err != nil {
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

// checkMoveBack: a file moves back no earlier than the cycle it was
// accepted into (the first it could settle in), and not to a cycle where
// one of its reversals would come before its original's settlement.
func checkMoveBack(ctx context.Context, tx *sql.Tx, row, to int64, d jobs.Deferral) error {
	var accepted time.Time
	var before bool
	if err := tx.QueryRowContext(ctx, `SELECT c.business_date, cycle_before($2, c.id) FROM files f JOIN cycles c ON c.id = f.cycle_id WHERE f.id = $1`,
		row, to).Scan(&accepted, &before); err != nil {
		return err
	}
	if before {
		return fmt.Errorf("%w: file %s of %s was accepted into cycle C%s; it cannot move back before it", jobs.ErrDeferral, d.FileID, d.Sender, accepted.Format(time.DateOnly))
	}
	var rev, orig string
	err := tx.QueryRowContext(ctx, `SELECT r.payment_id, r.original_payment_id FROM payments r
		JOIN payments o ON o.sender = r.sender AND o.payment_id = r.original_payment_id AND o.kind = 'P'
		WHERE r.file_id = $1 AND r.kind = 'R' AND reversal_too_early(o.file_id, r.file_id, $2)
		ORDER BY r.line LIMIT 1`, row, to).Scan(&rev, &orig)
	if err == nil {
		return fmt.Errorf("%w: reversal %s of file %s would come before its original %s settles", jobs.ErrDeferral, rev, d.FileID, orig)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return nil
}
