package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// StageRecord is one transition of a cycle.
type StageRecord struct {
	From, To settlement.Stage
	EventID  string
	Actor    string
	At       time.Time
}

// Cycles lists the latest cycles, newest first.
func (j *JobStore) Cycles(ctx context.Context, limit int) ([]settlement.Cycle, error) {
	if limit <= 0 || limit > 1000 {
		limit = 30
	}
	rows, err := j.db.QueryContext(ctx, `SELECT `+cycleCols+` FROM cycles c WHERE c.seq = 1 ORDER BY c.business_date DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []settlement.Cycle
	for rows.Next() {
		c, _, err := scanCycle(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CycleStages is the stage log of a cycle, oldest first.
func (j *JobStore) CycleStages(ctx context.Context, date settlement.Date) ([]StageRecord, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT s.from_stage, s.to_stage, s.event_id, s.actor, s.at FROM cycle_stages s
		JOIN cycles c ON c.id = s.cycle_id WHERE c.business_date = $1 AND c.seq = 1 ORDER BY s.id`, string(date))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StageRecord
	for rows.Next() {
		var r StageRecord
		var from, to string
		if err := rows.Scan(&from, &to, &r.EventID, &r.Actor, &r.At); err != nil {
			return nil, err
		}
		r.From, r.To = stageOf(from), stageOf(to)
		out = append(out, r)
	}
	return out, rows.Err()
}

// JobRun is one run of a scheduled job.
type JobRun struct {
	Job         string
	ScheduledAt *time.Time
	Owner       string
	Status      string
	StartedAt   time.Time
	FinishedAt  *time.Time
	Detail      json.RawMessage
}

// JobRuns lists the latest runs, newest first.
func (j *JobStore) JobRuns(ctx context.Context, limit int) ([]JobRun, error) {
	if limit <= 0 || limit > 1000 {
		limit = 20
	}
	rows, err := j.db.QueryContext(ctx, `SELECT job, scheduled_at, coalesce(owner, ''), status, started_at, finished_at, detail
		FROM job_runs ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobRun
	for rows.Next() {
		var r JobRun
		var sched, fin sql.NullTime
		var detail []byte
		if err := rows.Scan(&r.Job, &sched, &r.Owner, &r.Status, &r.StartedAt, &fin, &detail); err != nil {
			return nil, err
		}
		if sched.Valid {
			r.ScheduledAt = &sched.Time
		}
		if fin.Valid {
			r.FinishedAt = &fin.Time
		}
		r.Detail = detail
		out = append(out, r)
	}
	return out, rows.Err()
}

// BreakRow is one step in a break's life.
type BreakRow struct {
	Key        string            `json:"key"`
	Cycle      settlement.Date   `json:"business_date"`
	Kind       string            `json:"kind"`
	State      string            `json:"state"`
	Bank       string            `json:"bank,omitempty"`
	Detail     map[string]string `json:"evidence"`
	Actor      string            `json:"by"`
	Note       string            `json:"note,omitempty"`
	RecordedAt time.Time         `json:"at"`
}

// breaksMax bounds a listing.
const breaksMax = 10_000

func scanBreaks(rows *sql.Rows) ([]BreakRow, error) {
	defer rows.Close()
	var out []BreakRow
	for rows.Next() {
		var b BreakRow
		var d sql.NullTime
		var bank, note sql.NullString
		var detail []byte
		if err := rows.Scan(&b.Key, &d, &b.Kind, &b.State, &bank, &detail, &b.Actor, &note, &b.RecordedAt); err != nil {
			return nil, err
		}
		if d.Valid {
			b.Cycle = settlement.Date(d.Time.Format(time.DateOnly))
		}
		b.Bank, b.Note = bank.String, note.String
		_ = json.Unmarshal(detail, &b.Detail)
		out = append(out, b)
	}
	return out, rows.Err()
}

const breakCols = `b.break_key, c.business_date, b.kind, b.state, b.bank, b.detail, b.actor, b.note, b.recorded_at`

// Breaks lists breaks in their current state; date and state filter when
// not empty.
func (j *JobStore) Breaks(ctx context.Context, date settlement.Date, state string) ([]BreakRow, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT `+breakCols+` FROM current_recon_breaks b LEFT JOIN cycles c ON c.id = b.cycle_id
		WHERE ($1 = '' OR c.business_date = $1::date) AND ($2 = '' OR b.state = $2)
		ORDER BY c.business_date, b.kind, b.break_key LIMIT $3`, string(date), state, breaksMax)
	if err != nil {
		return nil, err
	}
	return scanBreaks(rows)
}

// BreakHistory is every step of one break, oldest first.
func (j *JobStore) BreakHistory(ctx context.Context, key string) ([]BreakRow, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT `+breakCols+` FROM recon_breaks b LEFT JOIN cycles c ON c.id = b.cycle_id
		WHERE b.break_key = $1 ORDER BY b.id`, key)
	if err != nil {
		return nil, err
	}
	return scanBreaks(rows)
}

// Errors of the break register: the lifecycle's (package reconciliation).
var (
	ErrNoBreak      = reconciliation.ErrNoBreak
	ErrBreakState   = reconciliation.ErrBreakState
	ErrNoteRequired = reconciliation.ErrNoteRequired
)

// SetBreakState appends an operator's step to a break's life (under
// investigation, or resolved with a note) if the lifecycle allows it
// (reconciliation.CheckMove). A write-off is never one operator's act: the
// lifecycle refuses it with ErrFourEyes; it goes through RequestWriteOff
// and DecideRequest.
func (j *JobStore) SetBreakState(ctx context.Context, key, state, note, actor string) error {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := appendBreakState(ctx, tx, reconciliation.Move{Key: key, To: state, By: reconciliation.ByOperator, Note: note, Actor: actor}); err != nil {
		return err
	}
	return tx.Commit()
}

// lockBreak takes a break's lock, which serialises two operators (and a
// reconciliation run) acting on one break, and returns its current state
// ("" if the register has none of that key).
func lockBreak(ctx context.Context, tx *sql.Tx, key string) (string, error) {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, key); err != nil {
		return "", err
	}
	var cur string
	err := tx.QueryRowContext(ctx, `SELECT state FROM current_recon_breaks WHERE break_key = $1`, key).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return cur, err
}

// appendBreakState appends move m to its break's history under the
// break's lock, if the lifecycle allows it from the state found there.
func appendBreakState(ctx context.Context, tx *sql.Tx, m reconciliation.Move) error {
	cur, err := lockBreak(ctx, tx, m.Key)
	if err != nil {
		return err
	}
	m.From = cur
	if err := reconciliation.CheckMove(m); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO recon_breaks (break_key, cycle_id, kind, state, bank, currency, expected, actual, detail, actor, note)
		SELECT break_key, cycle_id, kind, $2, bank, currency, expected, actual, detail, $3, $4 FROM current_recon_breaks WHERE break_key = $1`,
		m.Key, m.To, m.Actor, m.Note)
	return err
}

// TryLock takes a session advisory lock named name on a connection of its
// own, so that only one instance does the named work at a time (the
// intake, which must not take one file twice). unlock releases it; a
// crashed holder's lock goes with its connection.
func (j *JobStore) TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error) {
	conn, err := j.db.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext('settle:' || $1))`, name).Scan(&ok); err != nil || !ok {
		conn.Close()
		return nil, false, err
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn.ExecContext(uctx, `SELECT pg_advisory_unlock(hashtext('settle:' || $1))`, name)
		conn.Close()
	}, true, nil
}

// OpenBreaks are a cycle's open or investigated breaks with their evidence.
func (j *JobStore) OpenBreaks(ctx context.Context, date settlement.Date) ([]reconciliation.Break, error) {
	rows, err := j.Breaks(ctx, date, "")
	if err != nil {
		return nil, err
	}
	var out []reconciliation.Break
	for _, r := range rows {
		if !reconciliation.Active(r.State) {
			continue
		}
		out = append(out, reconciliation.Break{Kind: reconciliation.Kind(r.Kind), Cycle: settlement.CycleID(date),
			Subject: r.Detail["subject"], Field: r.Detail["field"], Store: r.Detail["postgres"], Ledger: r.Detail["ledger"], Agent: r.Detail["agent"]})
	}
	return out, nil
}

var _ jobs.EventLog = (*JobStore)(nil)

// LedgerCheckpoint is the block a follower resumes from.
func (j *JobStore) LedgerCheckpoint(ctx context.Context, name string) (uint64, bool, error) {
	var b int64
	err := j.db.QueryRowContext(ctx, `SELECT block_number FROM ledger_checkpoints WHERE name = $1`, name).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return uint64(b), err == nil, err
}

// SaveLedgerEvent records an event (once, by its transaction id) and moves
// the checkpoint to its block, in one transaction.
func (j *JobStore) SaveLedgerEvent(ctx context.Context, name string, e jobs.LedgerEvent) error {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	payload := any(nil)
	if json.Valid(e.Payload) {
		payload = string(e.Payload)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_events (tx_id, block_number, name, cycle, payload) VALUES ($1, $2, $3, $4, $5::jsonb)
		ON CONFLICT (tx_id) DO NOTHING`, e.TxID, int64(e.Block), e.Name, e.Cycle, payload); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_checkpoints (name, block_number) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET block_number = greatest(ledger_checkpoints.block_number, excluded.block_number), updated_at = now()`,
		name, int64(e.Block)); err != nil {
		return err
	}
	return tx.Commit()
}

// StepFailed records a failed attempt at a stage. A held one (only an
// operator can unblock it) is announced on TopicCycleHeld in the same
// transaction, so the hold is reported once, by whichever instance
// consumes the event, whoever made the attempt.
func (j *JobStore) StepFailed(ctx context.Context, date settlement.Date, to settlement.Stage, cause error, held bool) error {
	msg := cause.Error()
	if len(msg) > 4000 {
		msg = strings.ToValidUTF8(msg[:4000], "")
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var row int64
	var at time.Time
	err = tx.QueryRowContext(ctx, `INSERT INTO cycle_step_errors (cycle_id, stage, error, actor, held)
		SELECT id, $2, $3, $4, $5 FROM cycles WHERE business_date = $1 AND seq = 1 RETURNING id, at`,
		string(date), string(to), msg, j.Actor, held).Scan(&row, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	if err != nil {
		return err
	}
	if held && j.publish != nil {
		if err := j.publish(ctx, tx, jobs.HeldEvent(date, to, row, msg, j.Actor, at)); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return tx.Commit()
}

// LastFailure is the cycle's latest failed attempt at any stage.
func (j *JobStore) LastFailure(ctx context.Context, date settlement.Date) (jobs.Failure, bool, error) {
	var f jobs.Failure
	var st string
	err := j.db.QueryRowContext(ctx, `SELECT e.id, e.stage, e.error, e.actor, e.at, e.held
		FROM cycle_step_errors e JOIN cycles c ON c.id = e.cycle_id
		WHERE c.business_date = $1 AND c.seq = 1 ORDER BY e.id DESC LIMIT 1`, string(date)).Scan(&f.ID, &st, &f.Err, &f.Actor, &f.At, &f.Held)
	if errors.Is(err, sql.ErrNoRows) {
		return f, false, nil
	}
	f.To = settlement.Stage(st)
	return f, err == nil, err
}

// StepError is a failed attempt at a stage.
type StepError struct {
	Stage settlement.Stage `json:"stage"`
	Error string           `json:"error"`
	Actor string           `json:"by"`
	At    time.Time        `json:"at"`
}

// StepErrors are a cycle's latest failed attempts, newest last.
func (j *JobStore) StepErrors(ctx context.Context, date settlement.Date, limit int) ([]StepError, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT stage, error, actor, at FROM (
		SELECT e.id, e.stage, e.error, e.actor, e.at FROM cycle_step_errors e JOIN cycles c ON c.id = e.cycle_id
		WHERE c.business_date = $1 AND c.seq = 1 ORDER BY e.id DESC LIMIT $2) x ORDER BY id`, string(date), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StepError
	for rows.Next() {
		var e StepError
		var st string
		if err := rows.Scan(&st, &e.Error, &e.Actor, &e.At); err != nil {
			return nil, err
		}
		e.Stage = settlement.Stage(st)
		out = append(out, e)
	}
	return out, rows.Err()
}
