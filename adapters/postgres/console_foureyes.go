package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"settle/approval"
	"settle/jobs"
	"settle/settlement"
)

// Four eyes on a file's deferral and on the replay of a poisoned event
// that moves a cycle towards settlement (migration 0060), and the console's
// paged readings (a cycle's ledger transactions, the break register).

// Errors of the four-eyes requests carried out outside the store.
var (
	// ErrCarryOut: an approved deferral or replay is carried out by the
	// pipeline or the bus (DecideRequestWith), not by the store alone.
	ErrCarryOut = errors.New("this request is carried out by the pipeline or the event bus: decide it with settle approve or the console")
	// ErrReplayed: a poisoned message is replayed at most once; a replay
	// that fails again is poisoned again under a new message.
	ErrReplayed = errors.New("this poisoned message has been replayed already")
)

// RequestDeferral records an operator's request to defer a file; it is
// carried out (jobs.Pipeline.Defer) when another operator approves it.
// The request is checked at once, so that one that cannot be carried out is
// refused now: its fields by jobs.Deferral.Check, the file and its cycle by
// the domain's settlement.CheckDeferralRequest on the facts read here under
// the file's lock. The deferral's own checks run again, under the cycles'
// locks, at the approval.
func (j *JobStore) RequestDeferral(ctx context.Context, d jobs.Deferral, by string, at time.Time) (approval.Request, error) {
	if err := d.Check(); err != nil {
		return approval.Request{}, err
	}
	r, err := approval.New(approval.Defer, string(d.Sender)+"/"+d.FileID, d.Reason, by, at)
	if err != nil {
		return r, err
	}
	r.From, r.To = string(d.From), string(d.To)
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, r.Subject); err != nil {
		return r, err
	}
	facts := settlement.DeferralFacts{Sender: d.Sender, FileID: d.FileID,
		From: settlement.Cycle{BusinessDate: d.From}}
	var in, fromState sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT (SELECT c.business_date::text FROM cycles c WHERE c.id = file_cycle(f.id)),
		(SELECT c.state FROM cycles c WHERE c.business_date = $3 AND c.seq = 1)
		FROM files f WHERE f.sender = $1 AND f.file_id = $2 AND f.status = 'ACCEPTED'`,
		string(d.Sender), d.FileID, string(d.From)).Scan(&in, &fromState)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return r, err
	default:
		facts.Found, facts.In = true, settlement.Date(in.String)
		if fromState.Valid {
			facts.From.ID, facts.From.Stage = settlement.CycleID(d.From), stageOf(fromState.String)
		}
	}
	if err := settlement.CheckDeferralRequest(facts); err != nil {
		return r, err
	}
	if err := insertRequest(ctx, tx, &r); err != nil {
		return r, err
	}
	return r, tx.Commit()
}

// RequestReplay records an operator's request to replay a poisoned event
// that moves money; DecideRequestWith carries it out once approved.
func (j *JobStore) RequestReplay(ctx context.Context, uuid, note, by string, at time.Time) (approval.Request, error) {
	if uuid == "" || len(uuid) > 64 {
		return approval.Request{}, fmt.Errorf("poisoned message %q: want its UUID", cut(uuid, 64))
	}
	r, err := approval.New(approval.Replay, uuid, note, by, at)
	if err != nil {
		return r, err
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "replay:"+uuid); err != nil {
		return r, err
	}
	if err := notReplayed(ctx, tx, uuid); err != nil {
		return r, err
	}
	if err := insertRequest(ctx, tx, &r); err != nil {
		return r, err
	}
	return r, tx.Commit()
}

// insertRequest records r unless a request for the same action and
// subject waits already; the caller holds the subject's lock.
func insertRequest(ctx context.Context, tx *sql.Tx, r *approval.Request) error {
	var pending int64
	err := tx.QueryRowContext(ctx, `SELECT r.id FROM approval_requests r LEFT JOIN approval_decisions d ON d.request_id = r.id
		WHERE r.action = $1 AND r.subject = $2 AND d.request_id IS NULL LIMIT 1`, r.Action, r.Subject).Scan(&pending)
	if err == nil {
		return fmt.Errorf("%w (request %d)", ErrPendingAlready, pending)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return tx.QueryRowContext(ctx, `INSERT INTO approval_requests (action, subject, note, requested_by, requested_at, from_date, to_date)
		VALUES ($1, $2, $3, $4, $5, $6::date, $7::date) RETURNING id`, r.Action, r.Subject, r.Note, r.RequestedBy, r.RequestedAt,
		sql.NullString{String: r.From, Valid: r.From != ""}, sql.NullString{String: r.To, Valid: r.To != ""}).Scan(&r.ID)
}

func notReplayed(ctx context.Context, q queryRower, uuid string) error {
	var by string
	var at time.Time
	err := q.QueryRowContext(ctx, `SELECT replayed_by, replayed_at FROM poison_replays WHERE uuid = $1`, uuid).Scan(&by, &at)
	if err == nil {
		return fmt.Errorf("%w (by %s at %s)", ErrReplayed, by, at.UTC().Format(time.RFC3339))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}

// DecideRequestWith records a second operator's decision on any request.
// A write-off or a cap raise is carried out in the decision's transaction
// (DecideRequest). An approved deferral or replay is carried out by
// carryOut (the pipeline's Defer, the bus's replay) while the request's
// row is locked, and the decision is recorded only once it succeeded: a
// refused carry-out leaves the request waiting, with nothing recorded,
// and the error says why. Should the process die between the carry-out's
// commit and the decision's, the request still waits and a second
// approval fails on the carry-out's own checks (the file is no longer in
// the cycle; the message was replayed): it is then rejected, and the
// deferral's actor or the replay's record names the request.
func (j *JobStore) DecideRequestWith(ctx context.Context, id int64, decision, by string, at time.Time,
	carryOut func(context.Context, approval.Request) error) (approval.Request, error) {
	r, err := j.Request(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Action == approval.WriteOff || r.Action == approval.CapRaise {
		return j.DecideRequest(ctx, id, decision, by, at)
	}
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return r, err
	}
	defer tx.Rollback()
	if r, err = request(ctx, tx, id, true); err != nil {
		return r, err
	}
	if r, err = r.Decide(decision, by, at); err != nil {
		return r, err
	}
	if r.Decision == approval.Approved {
		if carryOut == nil {
			return r, fmt.Errorf("%w: request %d (%s)", ErrCarryOut, r.ID, r.Action)
		}
		if err := carryOut(ctx, r); err != nil {
			return r, fmt.Errorf("request %d approved by %s but not carried out; it still waits (reject it if it cannot be): %w", r.ID, by, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO approval_decisions (request_id, requested_by, decision, decided_by, decided_at)
		VALUES ($1, $2, $3, $4, $5)`, r.ID, r.RequestedBy, r.Decision, r.DecidedBy, r.DecidedAt); err != nil {
		return r, err
	}
	return r, tx.Commit()
}

// PoisonReplay is the record of one poisoned message's replay.
type PoisonReplay struct {
	UUID, Topic, Cycle, By string
	RequestID              int64
	At                     time.Time
}

// RecordReplay records the replay of a poisoned message, once per
// message, and publishes it (publish, into the bus's outbox) inside that
// transaction, so the record and the event commit together: a second
// replay of the same message, or a replayed form, is refused with
// ErrReplayed and publishes nothing.
func (j *JobStore) RecordReplay(ctx context.Context, p PoisonReplay, publish func(context.Context, *sql.Tx) error) error {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "replay:"+p.UUID); err != nil {
		return err
	}
	if err := notReplayed(ctx, tx, p.UUID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO poison_replays (uuid, topic, cycle, replayed_by, request_id, replayed_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		p.UUID, cut(p.Topic, 128), cut(p.Cycle, 32), cut(p.By, 64), sql.NullInt64{Int64: p.RequestID, Valid: p.RequestID != 0}, p.At); err != nil {
		return err
	}
	if err := publish(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

// poisonReplaysMax bounds one reading of the replay records.
const poisonReplaysMax = 1000

// PoisonReplays are the latest replays, newest first.
func (j *JobStore) PoisonReplays(ctx context.Context) (map[string]PoisonReplay, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT uuid, topic, cycle, replayed_by, coalesce(request_id, 0), replayed_at FROM poison_replays
		ORDER BY replayed_at DESC LIMIT $1`, poisonReplaysMax)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]PoisonReplay{}
	for rows.Next() {
		var p PoisonReplay
		if err := rows.Scan(&p.UUID, &p.Topic, &p.Cycle, &p.By, &p.RequestID, &p.At); err != nil {
			return nil, err
		}
		out[p.UUID] = p
	}
	return out, rows.Err()
}

// LedgerTxRecord is what Postgres recorded of one ledger transaction of a
// cycle: the chunk it carried, its block and the endorsers it returned.
type LedgerTxRecord struct {
	ID          int64 // the row, the page's cursor
	TxID        string
	Block       int64
	Function    string
	Chunk       string
	Entries     int64
	Endorsers   []string
	CommittedAt time.Time
}

// ledgerTxsPageMax bounds a page of a cycle's ledger transactions.
const ledgerTxsPageMax = 500

// CycleLedgerTxs is a page of a cycle's ledger transactions in the order
// they were recorded, after the row after (0: from the first), and the
// number the cycle has in all.
func (j *JobStore) CycleLedgerTxs(ctx context.Context, date settlement.Date, after int64, limit int) ([]LedgerTxRecord, int64, error) {
	if limit <= 0 || limit > ledgerTxsPageMax {
		limit = ledgerTxsPageMax
	}
	var total int64
	if err := j.db.QueryRowContext(ctx, `SELECT count(*) FROM ledger_txs l JOIN cycles c ON c.id = l.cycle_id
		WHERE c.business_date = $1 AND c.seq = 1`, string(date)).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := j.db.QueryContext(ctx, `SELECT l.id, l.tx_id, coalesce(l.block_number, -1), l.function, coalesce(l.chunk_id, ''), l.entries, l.endorsers,
		coalesce(l.committed_at, l.recorded_at)
		FROM ledger_txs l JOIN cycles c ON c.id = l.cycle_id WHERE c.business_date = $1 AND c.seq = 1 AND l.id > $2 ORDER BY l.id LIMIT $3`,
		string(date), after, limit)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []LedgerTxRecord
	for rows.Next() {
		var t LedgerTxRecord
		var endorsers pq.StringArray
		if err := rows.Scan(&t.ID, &t.TxID, &t.Block, &t.Function, &t.Chunk, &t.Entries, &endorsers, &t.CommittedAt); err != nil {
			return nil, 0, err
		}
		t.Endorsers = endorsers
		out = append(out, t)
	}
	return out, total, rows.Err()
}

// breaksPageMax bounds a page of the break register.
const breaksPageMax = 500

// BreakCursor is where a page of the register starts: after this break in
// the register's order (business date, kind, key). Zero: the first page.
type BreakCursor struct {
	Date settlement.Date
	Kind string
	Key  string
}

// BreaksPage is a page of the break register (current state of each
// break), filtered by cycle and state when not empty, in the order of
// Breaks, after the cursor; more says whether a further page exists.
func (j *JobStore) BreaksPage(ctx context.Context, date settlement.Date, state string, after BreakCursor, limit int) (rows []BreakRow, more bool, err error) {
	if limit <= 0 || limit > breaksPageMax {
		limit = breaksPageMax
	}
	q, err := j.db.QueryContext(ctx, `SELECT `+breakCols+` FROM current_recon_breaks b LEFT JOIN cycles c ON c.id = b.cycle_id
		WHERE ($1 = '' OR c.business_date = $1::date) AND ($2 = '' OR b.state = $2)
		AND ($3 = '' OR (coalesce(c.business_date, '0001-01-01'), b.kind, b.break_key) > ($3::date, $4, $5))
		ORDER BY coalesce(c.business_date, '0001-01-01'), b.kind, b.break_key LIMIT $6`,
		string(date), state, string(after.Date), after.Kind, after.Key, limit+1)
	if err != nil {
		return nil, false, err
	}
	if rows, err = scanBreaks(q); err != nil {
		return nil, false, err
	}
	if len(rows) > limit {
		return rows[:limit], true, nil
	}
	return rows, false, nil
}

// CycleFileRow is one accepted file of a cycle as the Files page shows it.
type CycleFileRow struct {
	ID             int64 // the row, the page's cursor
	Sender         settlement.BIC
	FileID         string
	Name           string
	SHA256         string
	SignatureKey   string
	Entries        int64
	ControlSum     string
	ReceivedAt     time.Time
	AcknowledgedAt time.Time
	// Deferrals are the file's moves between cycles, oldest first:
	// "C2026-11-24 → C2026-11-25 by WHO: REASON".
	Deferrals []string
}

// filesPageMax bounds a page of a cycle's files.
const filesPageMax = 500

// CycleFilePage is a page of the accepted files that settle in a cycle
// (deferred ones included), after the row after, and the count in all.
func (j *JobStore) CycleFilePage(ctx context.Context, date settlement.Date, after int64, limit int) ([]CycleFileRow, int64, error) {
	if limit <= 0 || limit > filesPageMax {
		limit = filesPageMax
	}
	var total int64
	if err := j.db.QueryRowContext(ctx, `SELECT count(*) FROM cycles c JOIN files f ON `+filesOfCycle+`
		WHERE c.business_date = $1 AND c.seq = 1`, string(date)).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := j.db.QueryContext(ctx, `SELECT f.id, f.sender, f.file_id, f.name, f.sha256, coalesce(f.signature_key, ''), f.entries,
		coalesce(f.control_sum::text, ''), f.received_at, f.acknowledged_at,
		coalesce((SELECT array_agg('C' || to_char(fc.business_date, 'YYYY-MM-DD') || ' → C' || to_char(tc.business_date, 'YYYY-MM-DD') || ' by ' || d.actor || ': ' || d.reason ORDER BY d.id)
			FROM file_deferrals d JOIN cycles fc ON fc.id = d.from_cycle JOIN cycles tc ON tc.id = d.to_cycle WHERE d.file_row = f.id), '{}')
		FROM cycles c JOIN files f ON `+filesOfCycle+`
		WHERE c.business_date = $1 AND c.seq = 1 AND f.id > $2 ORDER BY f.id LIMIT $3`, string(date), after, limit)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []CycleFileRow
	for rows.Next() {
		var f CycleFileRow
		var sender string
		var ack sql.NullTime
		var defs pq.StringArray
		if err := rows.Scan(&f.ID, &sender, &f.FileID, &f.Name, &f.SHA256, &f.SignatureKey, &f.Entries, &f.ControlSum, &f.ReceivedAt, &ack, &defs); err != nil {
			return nil, 0, err
		}
		f.Sender, f.AcknowledgedAt, f.Deferrals = settlement.BIC(sender), ack.Time, defs
		out = append(out, f)
	}
	return out, total, rows.Err()
}

// ErrCapSet: `bank cap set` only lowers a cap (or keeps it): a cap above
// the one in force lets a bank owe more, and needs a second operator.
var ErrCapSet = errors.New("four eyes: a cap above the one in force needs a second operator: settle bank cap raise BIC CUR AMOUNT --note WHY, then another operator runs settle approve ID")

// LowerCap records a cap that is not above the one in force (a bank with
// no cap in a currency has a cap of zero there), effective from the given
// time (zero: now); a raise is refused with ErrCapSet and goes through
// RequestCapRaise and DecideRequest. The check and the insert are one
// transaction under the same lock as a raise's approval.
func (s *Store) LowerCap(ctx context.Context, c settlement.Cap, effective time.Time) error {
	if !c.Currency.Valid() {
		return settlement.ErrCurrency
	}
	subject := string(c.Bank) + "/" + c.Currency.Code()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "cap:"+subject); err != nil {
		return err
	}
	var raise bool
	var cur string
	if err := tx.QueryRowContext(ctx, `SELECT $3::numeric > coalesce(max(amount), 0), coalesce(max(amount)::text, 'none (zero)')
		FROM current_net_debit_caps WHERE bank = $1 AND currency = $2`, string(c.Bank), c.Currency.Code(), c.Amount.String()).Scan(&raise, &cur); err != nil {
		return err
	}
	if raise {
		return fmt.Errorf("%w (%s %s in force, %s asked)", ErrCapSet, cur, c.Currency.Code(), settlement.FormatAmount(c.Amount, c.Currency))
	}
	if c.Amount.IsNegative() || !c.Amount.Equal(c.Amount.Truncate(int32(c.Currency.MinorUnit()))) {
		return fmt.Errorf("cap %s %s: %w", c.Amount, c.Currency, settlement.ErrAmountScale)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO net_debit_caps (bank, currency, amount, effective_from) VALUES ($1, $2, $3::numeric, coalesce($4, now()))`,
		string(c.Bank), c.Currency.Code(), settlement.FormatAmount(c.Amount, c.Currency), sql.NullTime{Time: effective, Valid: !effective.IsZero()})
	if sqlState(err) == codeForeignKeyViolation {
		return fmt.Errorf("%s: %w", c.Bank, ErrNoBank)
	}
	if err != nil {
		return err
	}
	return tx.Commit()
}

// CycleCounts are a cycle's figures for the Tonight page beside its files
// and entries: the ledger stage's progress and what was set aside.
type CycleCounts struct {
	Reversals   int64 // reversals among the cycle's entries
	Rejected    int64 // files for its business date refused at intake
	DeferredIn  int64 // files moved into it
	DeferredOut int64 // files moved out of it
	// CarriedIn and CarriedOut are the payments the ledger's gridlock
	// resolution moved into the cycle (from earlier ones) and out of it.
	CarriedIn, CarriedOut int64
	LedgerTxs             int64 // chunk (and file part) transactions committed
	LedgerEntries         int64 // entries those carried
	FirstCommit           time.Time
	LastCommit            time.Time
}

// CycleCounts reads a cycle's counts; the cycle's files and entries are
// on the cycle itself.
func (j *JobStore) CycleCounts(ctx context.Context, date settlement.Date) (CycleCounts, error) {
	var c CycleCounts
	var first, last sql.NullTime
	err := j.db.QueryRowContext(ctx, `WITH cy AS (SELECT id FROM cycles WHERE business_date = $1 AND seq = 1)
		SELECT
		  (SELECT count(*) FROM payments p JOIN files f ON f.id = p.file_id JOIN cycles c ON c.id = (SELECT id FROM cy)
		     WHERE p.kind = 'R' AND `+filesOfCycle+`),
		  (SELECT count(*) FROM files WHERE status = 'REJECTED' AND business_date = $1),
		  (SELECT count(*) FROM file_deferrals WHERE to_cycle = (SELECT id FROM cy)),
		  (SELECT count(*) FROM file_deferrals WHERE from_cycle = (SELECT id FROM cy)),
		  (SELECT count(*) FROM payment_deferrals WHERE to_cycle = (SELECT id FROM cy)),
		  (SELECT count(*) FROM payment_deferrals WHERE from_cycle = (SELECT id FROM cy)),
		  count(l.id), coalesce(sum(l.entries), 0), min(l.committed_at), max(l.committed_at)
		FROM ledger_txs l WHERE l.cycle_id = (SELECT id FROM cy) AND l.function <> 'SettleCycle'`, string(date)).
		Scan(&c.Reversals, &c.Rejected, &c.DeferredIn, &c.DeferredOut, &c.CarriedIn, &c.CarriedOut, &c.LedgerTxs, &c.LedgerEntries, &first, &last)
	c.FirstCommit, c.LastCommit = first.Time, last.Time
	return c, err
}

// Obligation is one bilateral obligation of a cycle's netting: what the
// debtor owes the creditor in a currency, before netting multilaterally.
type Obligation struct {
	Debtor, Creditor settlement.BIC
	Currency         string
	Amount           string // as the currency writes it
}

// obligationsMax bounds one cycle's bilateral matrix (banks² × currencies).
const obligationsMax = 20_000

// CycleObligations are the bilateral obligations of a cycle's latest
// netting, and the ledger transaction that settled it ("" before).
func (j *JobStore) CycleObligations(ctx context.Context, date settlement.Date) ([]Obligation, string, int64, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT o.debtor, o.creditor, o.currency, o.amount::text FROM obligations o JOIN cycles c ON c.id = o.cycle_id
		WHERE c.business_date = $1 AND c.seq = 1 AND o.revision = (SELECT max(revision) FROM obligations WHERE cycle_id = c.id)
		ORDER BY o.currency, o.debtor, o.creditor LIMIT $2`, string(date), obligationsMax)
	if err != nil {
		return nil, "", 0, err
	}
	defer rows.Close()
	var out []Obligation
	for rows.Next() {
		var o Obligation
		var d, c string
		if err := rows.Scan(&d, &c, &o.Currency, &o.Amount); err != nil {
			return nil, "", 0, err
		}
		o.Debtor, o.Creditor = settlement.BIC(d), settlement.BIC(c)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, "", 0, err
	}
	var tx string
	var block int64
	err = j.db.QueryRowContext(ctx, `SELECT l.tx_id, coalesce(l.block_number, -1) FROM ledger_txs l JOIN cycles c ON c.id = l.cycle_id
		WHERE c.business_date = $1 AND c.seq = 1 AND l.function = 'SettleCycle' ORDER BY l.id DESC LIMIT 1`, string(date)).Scan(&tx, &block)
	if errors.Is(err, sql.ErrNoRows) {
		return out, "", 0, nil
	}
	return out, tx, block, err
}

// ForeignEvent is an event of our chaincode, read from the ledger's blocks,
// whose transaction the service never recorded as its own: somebody else
// submitted it.
type ForeignEvent struct {
	TxID       string
	Block      int64
	Name       string
	ReceivedAt time.Time
}

// foreignEventsMax bounds one reading.
const foreignEventsMax = 200

// ForeignLedgerEvents are a cycle's ledger events (by cycle id, "C2026-…")
// whose transaction is not in ledger_txs, newest first.
func (j *JobStore) ForeignLedgerEvents(ctx context.Context, cycle string) ([]ForeignEvent, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT e.tx_id, e.block_number, e.name, e.received_at FROM ledger_events e
		WHERE e.cycle = $1 AND NOT EXISTS (SELECT 1 FROM ledger_txs l WHERE l.tx_id = e.tx_id) ORDER BY e.block_number DESC LIMIT $2`, cycle, foreignEventsMax)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ForeignEvent
	for rows.Next() {
		var e ForeignEvent
		if err := rows.Scan(&e.TxID, &e.Block, &e.Name, &e.ReceivedAt); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
