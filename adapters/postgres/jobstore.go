package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
	"settle/signature"
)

// TxPublisher writes an event into the outbox inside a transaction; the
// events adapter provides it (this package does not import watermill).
type TxPublisher func(ctx context.Context, tx *sql.Tx, e jobs.Event) error

// JobStore is the store as the nightly jobs see it (jobs.Store,
// jobs.FileLookup, jobs.RunLog). Cycles are named by business date: one
// cycle per date (seq 1).
type JobStore struct {
	*Store
	publish TxPublisher
	// Actor names who moves cycles in the stage log (instance or operator).
	Actor string
	// Now is the injected clock a cycle's opening is stamped with (every
	// later move carries the time the domain was given); nil leaves it to
	// the database's now().
	Now func() time.Time
}

var (
	_ jobs.Store      = (*JobStore)(nil)
	_ jobs.FileLookup = (*JobStore)(nil)
	_ jobs.RunLog     = (*JobStore)(nil)
)

// Jobs returns the jobs' view of the store; publish may be nil (no broker:
// `settle cycle run` drives the stages itself).
func (s *Store) Jobs(publish TxPublisher, actor string) *JobStore {
	if actor == "" {
		actor = "settle"
	}
	return &JobStore{Store: s, publish: publish, Actor: actor}
}

// SigningKeys are a bank's public keys valid at t.
func (j *JobStore) SigningKeys(ctx context.Context, bank settlement.BIC, at time.Time) ([]signature.Key, error) {
	ks, err := j.Keys(ctx, bank, at)
	if err != nil {
		return nil, err
	}
	out := make([]signature.Key, 0, len(ks))
	for _, k := range ks {
		pub, err := signature.ParsePublicKey([]byte(k.PEM))
		if err != nil {
			return nil, fmt.Errorf("key %s of %s: %w", k.Label, bank, err)
		}
		out = append(out, signature.Key{Bank: bank, Label: k.Label, Public: pub})
	}
	return out, nil
}

// stageOf maps the stored state to a stage (CLOSED was 0001's FROZEN).
func stageOf(state string) settlement.Stage {
	if state == "CLOSED" {
		return settlement.StageFrozen
	}
	return settlement.Stage(state)
}

type rowScanner interface{ Scan(...any) error }

func scanCycle(r rowScanner) (settlement.Cycle, int64, error) {
	var c settlement.Cycle
	var id int64
	var d time.Time
	var state string
	var at sql.NullTime
	if err := r.Scan(&id, &d, &state, &at, &c.Files, &c.Entries); err != nil {
		return c, 0, err
	}
	c.BusinessDate = settlement.Date(d.Format(time.DateOnly))
	c.ID = settlement.CycleID(c.BusinessDate)
	c.Stage = stageOf(state)
	c.StageAt = at.Time
	return c, id, nil
}

const cycleCols = `c.id, c.business_date, c.state, coalesce(c.stage_at, c.opened_at),
	(SELECT count(*) FROM files f WHERE ` + filesOfCycle + `),
	(SELECT coalesce(sum(f.entries), 0) FROM files f WHERE ` + filesOfCycle + `)`

// filesOfCycle selects the accepted files f that cycle c holds now: those
// accepted into it and not deferred away, and those deferred into it.
const filesOfCycle = `f.status = 'ACCEPTED' AND (f.cycle_id = c.id OR f.id IN (SELECT d.file_row FROM file_deferrals d WHERE d.to_cycle = c.id))
	AND file_cycle(f.id) = c.id`

// Cycle returns the cycle of a business date.
func (j *JobStore) Cycle(ctx context.Context, date settlement.Date) (settlement.Cycle, bool, error) {
	c, _, err := scanCycle(j.db.QueryRowContext(ctx, `SELECT `+cycleCols+` FROM cycles c WHERE c.business_date = $1 AND c.seq = 1`, string(date)))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

func (j *JobStore) cycleID(ctx context.Context, q queryRower, date settlement.Date) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM cycles WHERE business_date = $1 AND seq = 1`, string(date)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s: %w", date, jobs.ErrNoCycle)
	}
	return id, err
}

// EnsureCycle opens the cycle of a business date if it has none.
func (j *JobStore) EnsureCycle(ctx context.Context, date settlement.Date) (settlement.Cycle, error) {
	if _, err := settlement.ParseDate(string(date)); err != nil {
		return settlement.Cycle{}, err
	}
	if err := j.openCycle(ctx, j.db, date); err != nil {
		return settlement.Cycle{}, err
	}
	c, _, err := j.Cycle(ctx, date)
	return c, err
}

// now is the injected clock's time, or nil when none was given: the
// column's default, the database's now(), stamps the row then.
func (j *JobStore) now() any {
	if j.Now != nil {
		return j.Now().UTC()
	}
	return nil
}

// openCycle opens the cycle of date if it has none, stamped by the
// injected clock (EnsureCycle, and a deferral into a cycle not opened yet).
func (j *JobStore) openCycle(ctx context.Context, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, date settlement.Date) error {
	_, err := q.ExecContext(ctx, `INSERT INTO cycles (business_date, seq, opened_at) VALUES ($1, 1, coalesce($2::timestamptz, now())) ON CONFLICT (business_date, seq) DO NOTHING`, string(date), j.now())
	return err
}

// UpdateCycle runs update on the cycle of date under its row lock, in one
// transaction with what update writes, the stage it reached (logged with
// its first event) and its events in the outbox. The domain decides; this
// only loads and saves.
func (j *JobStore) UpdateCycle(ctx context.Context, date settlement.Date, update func(*settlement.Cycle, jobs.CycleTx) ([]jobs.Event, error)) error {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	id, c, err := lockCycleRow(ctx, tx, date)
	if err != nil {
		return err
	}
	from := c.Stage
	events, err := update(&c, &cycleTx{ctx: ctx, tx: tx, id: id, date: date, actor: j.Actor, j: j})
	if err != nil {
		return err
	}
	if c.Stage != from {
		if len(events) == 0 {
			return fmt.Errorf("cycle of %s moved to %s with no event to announce it", date, c.Stage)
		}
		// The move's time is the one the domain was given (Cycle.Advance
		// sets StageAt from the caller's injected clock), not the
		// database's now(): the timeline, the agent's deadline and a
		// rehearsal under SETTLE_CLOCK all read one clock.
		if c.StageAt.IsZero() {
			return fmt.Errorf("cycle of %s moved to %s with no time (Cycle.Advance sets it)", date, c.Stage)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE cycles SET state = $2, stage_at = $3 WHERE id = $1`, id, string(c.Stage), c.StageAt); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cycle_stages (cycle_id, from_stage, to_stage, event_id, actor, at) VALUES ($1, $2, $3, $4, $5, $6)`,
			id, string(from), string(c.Stage), events[0].ID, j.Actor, c.StageAt); err != nil {
			return err
		}
	}
	if j.publish != nil {
		for _, ev := range events {
			if err := j.publish(ctx, tx, ev); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
		}
	}
	return tx.Commit()
}

type cycleTx struct {
	ctx   context.Context
	tx    *sql.Tx
	id    int64
	date  settlement.Date
	actor string
	j     *JobStore // its clock, and opening a cycle a resolution moves entries to
}

// SaveNetting writes positions, obligations and cap breaches.
func (c *cycleTx) SaveNetting(res *settlement.Result, breaches []settlement.CapBreach) error {
	rev, err := recordNetting(c.ctx, c.tx, c.id, res.Positions, res.Bilateral)
	if err != nil {
		return err
	}
	for _, b := range breaches {
		if _, err := c.tx.ExecContext(c.ctx, `INSERT INTO cap_breaches (cycle_id, revision, bank, currency, net, cap) VALUES ($1, $2, $3, $4, $5, $6)`,
			c.id, rev, string(b.Bank), b.Currency.Code(), b.Net.String(), b.Cap.String()); err != nil {
			return err
		}
	}
	return nil
}

// ApplyBreaks opens the new breaks, closes the vanished ones and records
// the run.
func (c *cycleTx) ApplyBreaks(plan reconciliation.Plan, sum reconciliation.Summary) error {
	return applyBreaks(c.ctx, c.tx, c.id, c.actor, plan, sum)
}

func applyBreaks(ctx context.Context, tx *sql.Tx, cycle int64, actor string, plan reconciliation.Plan, sum reconciliation.Summary) error {
	for _, b := range plan.Open {
		d := map[string]string{"subject": b.Subject, "field": b.Field, "postgres": b.Store, "ledger": b.Ledger}
		if b.Agent != "" {
			d["agent"] = b.Agent
		}
		detail, _ := json.Marshal(d)
		if _, err := tx.ExecContext(ctx, `INSERT INTO recon_breaks (break_key, cycle_id, kind, state, bank, detail, actor)
			VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)`, b.Key(), cycle, string(b.Kind), reconciliation.StateOpen, bankOf(b.Subject), string(detail), actor); err != nil {
			return err
		}
	}
	for _, k := range plan.Close {
		// Under the break's lock, and only if the lifecycle still allows
		// it: an operator may have resolved it since the run read the
		// register, and the run leaves it as the operator left it.
		err := appendBreakState(ctx, tx, reconciliation.Move{Key: k, To: reconciliation.StateClosed, By: reconciliation.ByRun,
			Note: reconciliation.ClosedGone, Actor: actor})
		if errors.Is(err, reconciliation.ErrBreakState) || errors.Is(err, reconciliation.ErrNoBreak) {
			continue
		}
		if err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO recon_runs (cycle_id, store_records, ledger_records, matched, breaks, opened, closed)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, cycle, sum.StoreRecords, sum.LedgerRecords, sum.Matched, sum.Breaks, len(plan.Open), len(plan.Close)); err != nil {
		return err
	}
	return saveConfirmation(ctx, tx, cycle, sum.Agent)
}

func bankOf(subject string) any {
	if len(subject) >= 8 {
		if b, err := settlement.ParseBIC(subject[:min(len(subject), 11)]); err == nil {
			return string(b)
		}
		if b, err := settlement.ParseBIC(subject[:8]); err == nil {
			return string(b)
		}
	}
	return nil
}

// Reconciled records a reconciliation re-run of a cycle already past that
// stage (`settle recon run`), under the cycle's lock.
func (j *JobStore) Reconciled(ctx context.Context, date settlement.Date, plan reconciliation.Plan, sum reconciliation.Summary) error {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var id int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM cycles WHERE business_date = $1 AND seq = 1 FOR UPDATE`, string(date)).Scan(&id); err != nil {
		return fmt.Errorf("%s: %w", date, err)
	}
	if err := applyBreaks(ctx, tx, id, j.Actor, plan, sum); err != nil {
		return err
	}
	return tx.Commit()
}

// IngestFile records an accepted file in the cycle of its business date.
func (j *JobStore) IngestFile(ctx context.Context, f jobs.FileRecord, entries func(yield func(*settlement.Entry) bool) error) (jobs.IngestResult, error) {
	rec, err := j.fileRecord(ctx, f, true)
	if err != nil {
		return jobs.IngestResult{}, err
	}
	res, err := j.Store.IngestFile(ctx, rec, Entries(entries))
	if errors.Is(err, ErrCycleNotOpen) {
		err = fmt.Errorf("%w: %v", jobs.ErrCycleNotOpen, err)
	}
	return jobs.IngestResult{Status: string(res.Status), FileRow: res.FileRow, Problems: res.Problems}, err
}

// RecordRejected records a file rejected before ingest.
func (j *JobStore) RecordRejected(ctx context.Context, f jobs.FileRecord, problems []settlement.Problem) (jobs.IngestResult, error) {
	rec, err := j.fileRecord(ctx, f, false)
	if err != nil {
		return jobs.IngestResult{}, err
	}
	res, err := j.Store.RecordRejected(ctx, rec, problems)
	return jobs.IngestResult{Status: string(res.Status), FileRow: res.FileRow, Problems: res.Problems}, err
}

func (j *JobStore) fileRecord(ctx context.Context, f jobs.FileRecord, accepted bool) (FileRecord, error) {
	rec := FileRecord{Sender: f.Sender, FileID: f.FileID, Name: f.Name, SHA256: f.SHA256, Size: f.Size,
		SignatureKey: f.SignatureKey, BusinessDate: f.BusinessDate, Entries: f.Entries, ControlSum: f.ControlSum, ReceivedAt: f.ReceivedAt}
	if a := f.Ack; a != nil {
		rec.Ack = &Ack{Name: a.Name, Body: func(st Status, ps []settlement.Problem) ([]byte, []byte, error) { return a.Body(string(st), ps) }}
	}
	if accepted {
		id, err := j.cycleID(ctx, j.db, f.Cycle)
		if err != nil {
			return rec, err
		}
		rec.Cycle = id
	}
	return rec, nil
}

// Acknowledged stamps a file's acknowledgement time.
func (j *JobStore) Acknowledged(ctx context.Context, fileRow int64, at time.Time) error {
	return j.Acknowledge(ctx, fileRow, at)
}

// Acknowledgement is the verdict recorded for bank's file name with the
// bytes sum.
func (j *JobStore) Acknowledgement(ctx context.Context, bank settlement.BIC, file, sum string) (jobs.RecordedAck, bool, error) {
	a, ok, err := j.Store.Acknowledgement(ctx, bank, file, sum)
	return jobs.RecordedAck{Name: a.Name, Body: a.Body, Report: a.Report, FileRow: a.FileRow}, ok, err
}

// PendingReversals lists the cycle's reversals (its own files', those of
// files deferred into it and those the ledger's resolution carried into
// it, each only while it is still in the cycle: payment_cycle) whose
// original settles in another cycle that has not settled (payment_cycle
// again: its file's, or where the resolution last moved it). An original
// in this very cycle is not pending: it is there only because the ledger
// carried it in, and the ledger settles a reversal with its carried
// original, or defers it with it (waiting).
func (j *JobStore) PendingReversals(ctx context.Context, date settlement.Date, max int) ([]jobs.PendingReversal, error) {
	id, err := j.cycleID(ctx, j.db, date)
	if err != nil {
		return nil, err
	}
	settled := pq.StringArray{string(settlement.StageSettled), string(settlement.StageReconciled), string(settlement.StageReported)}
	rows, err := j.db.QueryContext(ctx, `
SELECT r.sender, r.payment_id, r.original_payment_id, oc.business_date, oc.state
FROM (SELECT x.sender, x.payment_id, x.original_payment_id, x.file_id, x.line FROM payments x
      WHERE x.kind = 'R' AND x.cycle_id = $1 -- payments_reversals_cycle
      UNION
      SELECT x.sender, x.payment_id, x.original_payment_id, x.file_id, x.line FROM payments x
      WHERE x.kind = 'R' AND x.file_id IN (SELECT d.file_row FROM file_deferrals d WHERE d.to_cycle = $1)
      UNION
      SELECT x.sender, x.payment_id, x.original_payment_id, x.file_id, x.line
      FROM payment_deferrals d JOIN payments x ON x.file_id = d.file_row AND x.line = d.line
      WHERE d.to_cycle = $1 AND x.kind = 'R') r
JOIN payments o ON o.sender = r.sender AND o.payment_id = r.original_payment_id AND o.kind = 'P'
JOIN cycles oc ON oc.id = payment_cycle(o.file_id, o.line)
WHERE payment_cycle(r.file_id, r.line) = $1
  AND oc.id <> $1
  AND oc.state <> ALL($2)
ORDER BY r.sender COLLATE "C", r.payment_id COLLATE "C"
LIMIT $3`, id, settled, max)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []jobs.PendingReversal
	for rows.Next() {
		var p jobs.PendingReversal
		var sender, state string
		var d time.Time
		if err := rows.Scan(&sender, &p.ID, &p.Original, &d, &state); err != nil {
			return nil, err
		}
		p.Sender, p.OriginalCycle, p.Stage = settlement.BIC(sender), settlement.Date(d.Format(time.DateOnly)), stageOf(state)
		out = append(out, p)
	}
	return out, rows.Err()
}

// CycleEntries streams a cycle's entries in (sender, payment id) byte
// order, using the payments_cycle_order index.
func (j *JobStore) CycleEntries(ctx context.Context, date settlement.Date) iter.Seq2[jobs.StoredEntry, error] {
	return func(yield func(jobs.StoredEntry, error) bool) {
		rows, err := j.cycleEntryRows(ctx, date)
		if err != nil {
			yield(jobs.StoredEntry{}, err)
			return
		}
		defer rows.Close()
		d := entryDecoder{j: j, files: map[string]entryFile{}, curs: map[string]settlement.Currency{}}
		for rows.Next() {
			var se jobs.StoredEntry
			var row string
			if err := rows.Scan(&row, &se.Entry.Remittance); err != nil {
				yield(se, err)
				return
			}
			if err := d.decode(ctx, row, &se); err != nil {
				yield(se, err)
				return
			}
			if !yield(se, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(jobs.StoredEntry{}, err)
		}
	}
}

// cycleEntryRows queries the entries of the cycle of date, in order,
// counting the files deferred away from it or into it, if any (rare).
//
// One text column a row for the fixed fields, joined by the unit
// separator (none of them can hold it: BICs, ids, codes and numbers are
// checked on the way in), and the free text apart: the driver allocates
// a string and an interface for every column it reads, so a million rows
// of twelve columns were most of reconciliation's time (issue 18). The
// fields are substrings of the one row string (entryDecoder).
func (j *JobStore) cycleEntryRows(ctx context.Context, date settlement.Date) (*sql.Rows, error) {
	id, err := j.cycleID(ctx, j.db, date)
	if err != nil {
		return nil, err
	}
	var away, into pq.Int64Array
	if err := j.db.QueryRowContext(ctx, `SELECT
			coalesce((SELECT array_agg(f.id) FROM files f WHERE f.cycle_id = $1 AND f.status = 'ACCEPTED' AND file_cycle(f.id) <> $1), '{}'),
			coalesce((SELECT array_agg(DISTINCT d.file_row) FROM file_deferrals d WHERE d.to_cycle = $1 AND file_cycle(d.file_row) = $1), '{}')`,
		id).Scan(&away, &into); err != nil {
		return nil, err
	}
	const cols = `SELECT ` + entryRow + ` FROM payments p`
	const order = ` ORDER BY p.sender COLLATE "C", p.payment_id COLLATE "C"`
	if len(away) == 0 && len(into) == 0 {
		return j.db.QueryContext(ctx, cols+` WHERE p.cycle_id = $1`+order, id)
	}
	return j.db.QueryContext(ctx, cols+` WHERE (p.cycle_id = $1 AND p.file_id <> ALL($2)) OR p.file_id = ANY($3)`+order, id, away, into)
}

// entryRow is the two columns of an entry p that entryDecoder reads: the
// fixed fields joined by the unit separator, and the remittance.
const entryRow = `concat_ws(E'\x1f', p.file_id, p.line, p.sender, p.payment_id, p.kind, p.debtor, p.creditor,
	p.amount, p.currency, coalesce(p.original_payment_id, ''), coalesce(p.reason, '')), coalesce(p.remittance, '')`

// entryFile is the digest and name of a cycle entry's file.
type entryFile struct{ sha256, name string }

// entryDecoder turns cycleEntryRows' rows into entries. It reads each
// file's digest and name once, and parses each currency once.
type entryDecoder struct {
	j     *JobStore
	files map[string]entryFile
	curs  map[string]settlement.Currency
	f     [11]string
}

// decode fills se from the fixed fields of one row.
func (d *entryDecoder) decode(ctx context.Context, row string, se *jobs.StoredEntry) error {
	f := d.f[:]
	e := &se.Entry
	if err := splitFields(row, f); err != nil {
		return err
	}
	fl, ok := d.files[f[0]]
	if !ok {
		if err := d.j.db.QueryRowContext(ctx, `SELECT sha256, name FROM files WHERE id = $1`, f[0]).Scan(&fl.sha256, &fl.name); err != nil {
			return fmt.Errorf("file %s of a cycle entry: %w", f[0], err)
		}
		d.files[f[0]] = fl
	}
	se.FileSHA256, se.FileName = fl.sha256, fl.name
	var err error
	if e.Line, err = atoiField(f[1]); err != nil {
		return err
	}
	c, ok := d.curs[f[8]]
	if !ok {
		if c, err = settlement.ParseCurrency(f[8]); err != nil {
			return err
		}
		d.curs[f[8]] = c
	}
	amount, err := amountOf(f[7])
	if err != nil {
		return err
	}
	se.Sender, e.ID, e.Kind, e.Debtor, e.Creditor, e.Amount, e.Currency = settlement.BIC(f[2]), f[3], settlement.Kind(f[4][0]), settlement.BIC(f[5]), settlement.BIC(f[6]), amount, c
	e.Original, e.Reason = f[9], f[10]
	return nil
}

// splitFields cuts row at the unit separator into exactly len(out) fields
// (substrings of row: nothing is copied), none of them empty except the
// last two (a payment's original id and reason).
func splitFields(row string, out []string) error {
	for i := range out {
		if i == len(out)-1 {
			out[i] = row
			row = ""
			break
		}
		var ok bool
		out[i], row, ok = strings.Cut(row, "\x1f")
		if !ok {
			return fmt.Errorf("cycle entry %q: %d fields, want %d", row, i+1, len(out))
		}
	}
	for i := range len(out) - 2 {
		if out[i] == "" {
			return fmt.Errorf("cycle entry: field %d empty", i+1)
		}
	}
	return nil
}

// atoiField is a positive decimal integer of at most 9 digits.
func atoiField(s string) (int, error) {
	if len(s) == 0 || len(s) > 9 {
		return 0, fmt.Errorf("line %q: not a line number", s)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("line %q: not a line number", s)
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, nil
}

// amountOf reads a numeric's text: digits with at most one point, 18
// digits at most, read straight into a coefficient and an exponent (the
// same decimal NewFromString makes, without its general parser); anything
// else goes to NewFromString.
func amountOf(s string) (decimal.Decimal, error) {
	var coef int64
	exp, digits, point := int32(0), 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 18 {
				return decimal.NewFromString(s)
			}
			coef = coef*10 + int64(c-'0')
			digits++
			if point {
				exp--
			}
		case c == '.' && !point && digits > 0:
			point = true
		default:
			return decimal.NewFromString(s)
		}
	}
	if digits == 0 || s[len(s)-1] == '.' {
		return decimal.NewFromString(s)
	}
	return decimal.New(coef, exp), nil
}

// Positions are the cycle's latest net positions.
func (j *JobStore) Positions(ctx context.Context, date settlement.Date) ([]settlement.Position, error) {
	id, err := j.cycleID(ctx, j.db, date)
	if err != nil {
		return nil, err
	}
	return j.Store.Positions(ctx, id)
}

// LedgerTxs are the ledger transactions of a cycle by chunk id.
func (j *JobStore) LedgerTxs(ctx context.Context, date settlement.Date) (map[string]jobs.LedgerTx, error) {
	id, err := j.cycleID(ctx, j.db, date)
	if err != nil {
		return nil, err
	}
	rows, err := j.db.QueryContext(ctx, `SELECT chunk_id, tx_id, coalesce(block_number, 0), endorsers FROM ledger_txs WHERE cycle_id = $1 AND chunk_id IS NOT NULL`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]jobs.LedgerTx{}
	for rows.Next() {
		var chunk string
		var tx jobs.LedgerTx
		var block int64
		if err := rows.Scan(&chunk, &tx.ID, &block, pq.Array(&tx.Endorsers)); err != nil {
			return nil, err
		}
		tx.Block = uint64(block)
		out[chunk] = tx
	}
	return out, rows.Err()
}

// SaveLedgerTx records a committed chunk (or the settle). Recording the
// same chunk again is a no-op: the ledger answered with the same
// transaction.
func (j *JobStore) SaveLedgerTx(ctx context.Context, date settlement.Date, chunkID string, entries int, tx jobs.LedgerTx) error {
	id, err := j.cycleID(ctx, j.db, date)
	if err != nil {
		return err
	}
	fn := "RecordChunk"
	switch {
	case chunkID == "settle":
		fn = "SettleCycle"
	case chunkID == "declare":
		fn = "DeclareCycle" // the governed path's
	case strings.HasPrefix(chunkID, "file/"):
		fn = "PutFilePart" // the part that verified the file
	case strings.HasPrefix(chunkID, "index/"):
		fn = "IndexFile" // recorded a range of a governed file's payments
	}
	if tx.Endorsers == nil {
		tx.Endorsers = []string{}
	}
	payload, _ := json.Marshal(map[string]any{"cycle": settlement.CycleID(date), "chunk": chunkID, "entries": entries, "existing": tx.Existing})
	sum := sha256.Sum256(payload)
	_, err = j.db.ExecContext(ctx, `INSERT INTO ledger_txs (cycle_id, tx_id, block_number, channel, chaincode, function, payload, payload_sha256,
		status, committed_at, chunk_id, entries, endorsers)
		VALUES ($1, $2, $3, 'settlement', 'settlement', $4, $5::jsonb, $6, 'COMMITTED', now(), $7, $8, $9)
		ON CONFLICT (cycle_id, chunk_id) DO NOTHING`,
		id, tx.ID, int64(tx.Block), fn, string(payload), hex.EncodeToString(sum[:]), chunkID, entries, pq.Array(tx.Endorsers))
	return err
}

// ActiveBreaks are the keys of a cycle's breaks still to be dealt with
// (reconciliation.ActiveStates: open, acknowledged or investigated).
func (j *JobStore) ActiveBreaks(ctx context.Context, date settlement.Date) (map[string]bool, error) {
	id, err := j.cycleID(ctx, j.db, date)
	if err != nil {
		return nil, err
	}
	rows, err := j.db.QueryContext(ctx, `SELECT break_key FROM current_recon_breaks WHERE cycle_id = $1 AND state = ANY($2)`, id, pq.StringArray(reconciliation.ActiveStates))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// Claim records the start of a scheduled run unless it is already claimed.
func (j *JobStore) Claim(ctx context.Context, job string, t time.Time, owner string) (int64, bool, error) {
	var id int64
	err := j.db.QueryRowContext(ctx, `INSERT INTO job_runs (job, scheduled_at, owner) VALUES ($1, $2, $3)
		ON CONFLICT (job, scheduled_at) WHERE scheduled_at IS NOT NULL DO NOTHING RETURNING id`, job, t.UTC(), owner).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// Finish records a run's outcome.
func (j *JobStore) Finish(ctx context.Context, id int64, o jobs.Outcome) error {
	status := map[string]string{"ok": "OK", "failed": "FAILED", "skipped": "SKIPPED"}[o.Status]
	if status == "" {
		return fmt.Errorf("run outcome %q", o.Status)
	}
	detail, _ := json.Marshal(map[string]any{"counts": o.Counts, "error": o.Err})
	_, err := j.db.ExecContext(ctx, `UPDATE job_runs SET status = $2, finished_at = now(), detail = $3::jsonb WHERE id = $1`, id, status, string(detail))
	return err
}

// Last is the scheduled time of the latest claimed run of a job.
func (j *JobStore) Last(ctx context.Context, job string) (time.Time, bool, error) {
	var t sql.NullTime
	err := j.db.QueryRowContext(ctx, `SELECT max(scheduled_at) FROM job_runs WHERE job = $1`, job).Scan(&t)
	return t.Time, t.Valid, err
}
