package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"settle/approval"
	"settle/reconciliation"
	"settle/settlement"
)

// The console's accounts, sessions, action log and four-eyes requests
// (migration 0030). Times come from the caller's clock.

// ConsoleUser is a console account.
type ConsoleUser struct {
	ID           int64
	Name         string
	Role         string // operator, auditor or viewer
	PasswordHash string // argon2id, PHC string
	Disabled     bool
}

// ConsoleSession is a live or ended server-side session.
type ConsoleSession struct {
	User     ConsoleUser
	CSRF     string
	Source   string
	Created  time.Time
	LastSeen time.Time
	Ended    bool
}

// ConsoleAction is one line of the console's action log.
type ConsoleAction struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Role    string    `json:"role"`
	Source  string    `json:"source"`
	Action  string    `json:"action"`
	Subject string    `json:"subject"`
	Outcome string    `json:"outcome"`
	Detail  string    `json:"detail"`
}

// Errors of the console's records.
var (
	ErrUserExists     = errors.New("a console user of that name exists")
	ErrNoRequest      = errors.New("no such request")
	ErrPendingAlready = errors.New("a request for this is already waiting for approval")
	// ErrFourEyes: a write-off is never one operator's act (the
	// lifecycle's rule, reconciliation.CheckMove).
	ErrFourEyes = reconciliation.ErrFourEyes
)

// AddConsoleUser creates an account.
func (s *Store) AddConsoleUser(ctx context.Context, name, role, hash string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO console_users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4)`,
		name, role, hash, at)
	if sqlState(err) == "23505" {
		return fmt.Errorf("%s: %w", name, ErrUserExists)
	}
	return err
}

// ConsoleUser finds an account by name; ok false if there is none.
func (s *Store) ConsoleUser(ctx context.Context, name string) (ConsoleUser, bool, error) {
	var u ConsoleUser
	var disabled sql.NullTime
	err := s.db.QueryRowContext(ctx, `SELECT id, name, role, password_hash, disabled_at FROM console_users WHERE name = $1`, name).
		Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return u, false, nil
	}
	u.Disabled = disabled.Valid
	return u, err == nil, err
}

// CreateConsoleSession stores a session under the SHA-256 of its token.
func (s *Store) CreateConsoleSession(ctx context.Context, tokenSHA256 []byte, userID int64, csrf, source string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO console_sessions (token_sha256, user_id, csrf_token, source, created_at, last_seen)
		VALUES ($1, $2, $3, $4, $5, $5)`, tokenSHA256, userID, csrf, source, at)
	return err
}

// ConsoleSession finds a session by its token's hash; ok false if none.
func (s *Store) ConsoleSession(ctx context.Context, tokenSHA256 []byte) (ConsoleSession, bool, error) {
	var cs ConsoleSession
	var ended, disabled sql.NullTime
	err := s.db.QueryRowContext(ctx, `SELECT u.id, u.name, u.role, u.disabled_at, s.csrf_token, s.source, s.created_at, s.last_seen, s.ended_at
		FROM console_sessions s JOIN console_users u ON u.id = s.user_id WHERE s.token_sha256 = $1`, tokenSHA256).
		Scan(&cs.User.ID, &cs.User.Name, &cs.User.Role, &disabled, &cs.CSRF, &cs.Source, &cs.Created, &cs.LastSeen, &ended)
	if errors.Is(err, sql.ErrNoRows) {
		return cs, false, nil
	}
	cs.Ended, cs.User.Disabled = ended.Valid, disabled.Valid
	return cs, err == nil, err
}

// TouchConsoleSession records activity on a live session.
func (s *Store) TouchConsoleSession(ctx context.Context, tokenSHA256 []byte, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE console_sessions SET last_seen = $2 WHERE token_sha256 = $1 AND ended_at IS NULL`, tokenSHA256, at)
	return err
}

// EndConsoleSession ends a session (logout, timeout): its cookie opens
// nothing afterwards, even if it was copied.
func (s *Store) EndConsoleSession(ctx context.Context, tokenSHA256 []byte, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE console_sessions SET ended_at = $2 WHERE token_sha256 = $1 AND ended_at IS NULL`, tokenSHA256, at)
	return err
}

// LogConsoleAction appends to the action log.
func (s *Store) LogConsoleAction(ctx context.Context, a ConsoleAction) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO console_actions (at, actor, role, source, action, subject, outcome, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, a.At, cut(a.Actor, 64), cut(a.Role, 16), cut(a.Source, 64), cut(a.Action, 64),
		cut(a.Subject, 256), cut(a.Outcome, 16), cut(a.Detail, 2000))
	return err
}

// cut shortens s to at most n runes (a log line never fails for length).
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// consoleActionsMax bounds a page of the action log.
const consoleActionsMax = 1000

// ConsoleActions are the latest actions, newest first, before id (0: the
// newest).
func (s *Store) ConsoleActions(ctx context.Context, before int64, limit int) ([]ConsoleAction, error) {
	if limit <= 0 || limit > consoleActionsMax {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, actor, role, source, action, subject, outcome, detail FROM console_actions
		WHERE ($1 = 0 OR id < $1) ORDER BY id DESC LIMIT $2`, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ConsoleAction
	for rows.Next() {
		var a ConsoleAction
		if err := rows.Scan(&a.ID, &a.At, &a.Actor, &a.Role, &a.Source, &a.Action, &a.Subject, &a.Outcome, &a.Detail); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RequestWriteOff records an operator's request to write a break off. The
// break must be open or under investigation, with no request pending.
func (j *JobStore) RequestWriteOff(ctx context.Context, key, note, by string, at time.Time) (approval.Request, error) {
	r, err := approval.New(approval.WriteOff, key, note, by, at)
	if err != nil {
		return r, err
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	// The move the approval would make must be possible now.
	cur, err := lockBreak(ctx, tx, key)
	if err != nil {
		return r, err
	}
	if err := reconciliation.CheckMove(reconciliation.Move{Key: key, From: cur, To: reconciliation.StateWrittenOff,
		By: reconciliation.ByFourEyes, Note: note, Actor: by}); err != nil {
		return r, err
	}
	var pending int64
	err = tx.QueryRowContext(ctx, `SELECT r.id FROM approval_requests r LEFT JOIN approval_decisions d ON d.request_id = r.id
		WHERE r.action = $1 AND r.subject = $2 AND d.request_id IS NULL LIMIT 1`, r.Action, key).Scan(&pending)
	if err == nil {
		return r, fmt.Errorf("%w (request %d)", ErrPendingAlready, pending)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return r, err
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO approval_requests (action, subject, note, requested_by, requested_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, r.Action, r.Subject, r.Note, r.RequestedBy, r.RequestedAt).Scan(&r.ID); err != nil {
		return r, err
	}
	return r, tx.Commit()
}

// ErrNotRaise: a request to "raise" a cap to no more than it is.
var ErrNotRaise = errors.New("not a raise: the new cap must be above the cap in force (lowering a cap needs no second operator: settle bank cap set)")

// RequestCapRaise records an operator's request to raise a bank's net debit
// cap; it takes effect when another operator approves it (DecideRequest).
func (j *JobStore) RequestCapRaise(ctx context.Context, c settlement.Cap, note, by string, at time.Time) (approval.Request, error) {
	if !c.Currency.Valid() {
		return approval.Request{}, settlement.ErrCurrency
	}
	if !c.Amount.IsPositive() || !c.Amount.Equal(c.Amount.Truncate(int32(c.Currency.MinorUnit()))) {
		return approval.Request{}, fmt.Errorf("cap %s %s: %w", c.Amount, c.Currency, settlement.ErrAmountScale)
	}
	subject := string(c.Bank) + "/" + c.Currency.Code()
	r, err := approval.New(approval.CapRaise, subject, note, by, at)
	if err != nil {
		return r, err
	}
	r.Amount = settlement.FormatAmount(c.Amount, c.Currency)
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "cap:"+subject); err != nil {
		return r, err
	}
	var known bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM banks WHERE bic = $1)`, string(c.Bank)).Scan(&known); err != nil {
		return r, err
	}
	if !known {
		return r, fmt.Errorf("%s: %w", c.Bank, ErrNoBank)
	}
	var cur sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT max(amount)::text FROM current_net_debit_caps WHERE bank = $1 AND currency = $2`,
		string(c.Bank), c.Currency.Code()).Scan(&cur); err != nil {
		return r, err
	}
	if cur.Valid {
		if d, err := decimal.NewFromString(cur.String); err == nil && !c.Amount.GreaterThan(d) {
			return r, fmt.Errorf("%w (%s %s in force)", ErrNotRaise, cur.String, c.Currency.Code())
		}
	}
	var pending int64
	err = tx.QueryRowContext(ctx, `SELECT r.id FROM approval_requests r LEFT JOIN approval_decisions d ON d.request_id = r.id
		WHERE r.action = $1 AND r.subject = $2 AND d.request_id IS NULL LIMIT 1`, r.Action, subject).Scan(&pending)
	if err == nil {
		return r, fmt.Errorf("%w (request %d)", ErrPendingAlready, pending)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return r, err
	}
	if err := tx.QueryRowContext(ctx, `INSERT INTO approval_requests (action, subject, amount, note, requested_by, requested_at)
		VALUES ($1, $2, $3::numeric, $4, $5, $6) RETURNING id`, r.Action, r.Subject, r.Amount, r.Note, r.RequestedBy, r.RequestedAt).Scan(&r.ID); err != nil {
		return r, err
	}
	return r, tx.Commit()
}

// DecideRequest records a second operator's decision on a request and, if
// approved, carries it out in the same transaction: the write-off is
// appended to the break's history with the request's note, naming both
// operators. The four-eyes rule is approval.Request.Decide's.
func (j *JobStore) DecideRequest(ctx context.Context, id int64, decision, by string, at time.Time) (approval.Request, error) {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return approval.Request{}, err
	}
	defer tx.Rollback()
	r, err := request(ctx, tx, id, true)
	if err != nil {
		return r, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, r.Subject); err != nil {
		return r, err
	}
	if r, err = r.Decide(decision, by, at); err != nil {
		return r, err
	}
	if r.Decision == approval.Approved {
		switch r.Action {
		case approval.WriteOff:
			actor := cut(r.RequestedBy+", approved by "+r.DecidedBy, 200)
			if err := appendBreakState(ctx, tx, reconciliation.Move{Key: r.Subject, To: reconciliation.StateWrittenOff,
				By: reconciliation.ByFourEyes, Note: r.Note, Actor: actor}); err != nil {
				return r, err
			}
		case approval.CapRaise:
			// In force from the approval's commit, as `bank cap set` without
			// --from: appended, the latest effective cap wins.
			bank, cur, _ := strings.Cut(r.Subject, "/")
			if _, err := tx.ExecContext(ctx, `INSERT INTO net_debit_caps (bank, currency, amount, effective_from) VALUES ($1, $2, $3::numeric, now())`,
				bank, cur, r.Amount); err != nil {
				return r, err
			}
		case approval.Defer, approval.Replay:
			// Carried out by the pipeline or the bus, outside this
			// transaction: DecideRequestWith.
			return r, fmt.Errorf("%w: request %d (%s)", ErrCarryOut, r.ID, r.Action)
		default:
			return r, fmt.Errorf("%w: %q", approval.ErrUnknown, r.Action)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO approval_decisions (request_id, requested_by, decision, decided_by, decided_at)
		VALUES ($1, $2, $3, $4, $5)`, r.ID, r.RequestedBy, r.Decision, r.DecidedBy, r.DecidedAt); err != nil {
		return r, err
	}
	return r, tx.Commit()
}

// requestCols are a request's columns with its decision's (LEFT JOIN d).
const requestCols = `r.id, r.action, r.subject, coalesce(r.amount::text, ''), coalesce(to_char(r.from_date, 'YYYY-MM-DD'), ''),
	coalesce(to_char(r.to_date, 'YYYY-MM-DD'), ''), r.note, r.requested_by, r.requested_at, d.decision, d.decided_by, d.decided_at`

func request(ctx context.Context, q queryRower, id int64, lock bool) (approval.Request, error) {
	var r approval.Request
	var decision, decidedBy sql.NullString
	var decidedAt sql.NullTime
	query := `SELECT ` + requestCols + ` FROM approval_requests r LEFT JOIN approval_decisions d ON d.request_id = r.id WHERE r.id = $1`
	if lock {
		query += ` FOR NO KEY UPDATE OF r` // not KEY SHARE: a replay record refers to the request in the same decision
	}
	err := q.QueryRowContext(ctx, query, id).Scan(&r.ID, &r.Action, &r.Subject, &r.Amount, &r.From, &r.To, &r.Note, &r.RequestedBy, &r.RequestedAt, &decision, &decidedBy, &decidedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%d: %w", id, ErrNoRequest)
	}
	r.Decision, r.DecidedBy, r.DecidedAt = decision.String, decidedBy.String, decidedAt.Time
	return r, err
}

// Request is one four-eyes request with its decision, if made.
func (j *JobStore) Request(ctx context.Context, id int64) (approval.Request, error) {
	return request(ctx, j.db, id, false)
}

// requestsMax bounds a listing.
const requestsMax = 1000

// Requests lists four-eyes requests, newest first; subject filters when
// not empty, pendingOnly leaves out decided ones.
func (j *JobStore) Requests(ctx context.Context, subject string, pendingOnly bool) ([]approval.Request, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT `+requestCols+` FROM approval_requests r LEFT JOIN approval_decisions d ON d.request_id = r.id
		WHERE ($1 = '' OR r.subject = $1) AND (NOT $2 OR d.request_id IS NULL) ORDER BY r.id DESC LIMIT $3`, subject, pendingOnly, requestsMax)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approval.Request
	for rows.Next() {
		var r approval.Request
		var decision, decidedBy sql.NullString
		var decidedAt sql.NullTime
		if err := rows.Scan(&r.ID, &r.Action, &r.Subject, &r.Amount, &r.From, &r.To, &r.Note, &r.RequestedBy, &r.RequestedAt, &decision, &decidedBy, &decidedAt); err != nil {
			return nil, err
		}
		r.Decision, r.DecidedBy, r.DecidedAt = decision.String, decidedBy.String, decidedAt.Time
		out = append(out, r)
	}
	return out, rows.Err()
}
