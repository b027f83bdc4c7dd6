package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"settle/settlement"
)

// diagnose lists, with set-based queries over the rows of file row just
// copied, every line the deferred checks refuse: ids used before (in an
// earlier file or earlier in this one), and reversals whose original is
// unknown, not settled, different, or already reversed. It mirrors
// payments_check_reversal and the unique constraints of 0001_schema.sql.
func diagnose(ctx context.Context, conn *sql.Conn, row int64, ps *settlement.Problems) error {
	if err := diagnoseDuplicates(ctx, conn, row, ps); err != nil {
		return err
	}
	return diagnoseReversals(ctx, conn, row, ps)
}

// diagnoseDuplicates lists the lines of file row whose id the same sender
// used before, naming the earlier use (the first one in another file, or
// else the earlier line of this one).
func diagnoseDuplicates(ctx context.Context, conn *sql.Conn, row int64, ps *settlement.Problems) error {
	rows, err := conn.QueryContext(ctx, `
SELECT p.line, p.kind, p.payment_id, q.line, q.file_id = p.file_id, coalesce(f.name, ''), coalesce(f.file_id, '')
FROM payments p
JOIN LATERAL (
  SELECT q.file_id, q.line FROM payments q
  WHERE q.sender = p.sender AND q.payment_id = p.payment_id
    AND (q.file_id <> p.file_id OR q.line < p.line)
  ORDER BY q.file_id <> p.file_id DESC, q.file_id, q.line LIMIT 1) q ON true
LEFT JOIN files f ON f.id = q.file_id AND f.id <> p.file_id
WHERE p.file_id = $1
ORDER BY p.line
LIMIT $2`, row, problemsListMax+1)
	if err != nil {
		return fmt.Errorf("diagnose duplicates: %w", err)
	}
	for rows.Next() {
		var line, prevLine int
		var kind, id, name, fileID string
		var sameFile bool
		if err := rows.Scan(&line, &kind, &id, &prevLine, &sameFile, &name, &fileID); err != nil {
			rows.Close()
			return err
		}
		field := "payment_id"
		if kind == "R" {
			field = "reversal_id"
		}
		if sameFile {
			addEntry(ps, id, line, field, settlement.CodeDuplicatePaymentID, "id %s is already used at line %d of this file", id, prevLine)
		} else {
			addEntry(ps, id, line, field, settlement.CodeDuplicatePaymentID, "id %s is already used by the same sender in file %s (%s) line %d", id, fileID, name, prevLine)
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("diagnose duplicates: %w", err)
	}
	return nil
}

// diagnoseReversals lists the reversals of file row the checks refuse:
// an original unknown or itself a reversal, not settled yet, different
// from the reversal, or reversed already.
func diagnoseReversals(ctx context.Context, conn *sql.Conn, row int64, ps *settlement.Problems) error {
	rows, err := conn.QueryContext(ctx, `
SELECT r.line, r.payment_id, r.original_payment_id, r.debtor, r.creditor, r.currency, r.amount::text,
       o.file_id IS NOT NULL, coalesce(o.kind, ''), coalesce(o.file_id = r.file_id, false),
       coalesce(reversal_too_early(o.file_id, o.line, r.file_id, r.cycle_id), false), coalesce(o.debtor, ''), coalesce(o.creditor, ''),
       coalesce(o.currency, ''), coalesce(o.amount::text, ''), coalesce(o.amount = r.amount, false),
       prev.line, coalesce(prev.file_id = r.file_id, false), coalesce(pf.file_id, '')
FROM payments r
LEFT JOIN LATERAL (
  SELECT o.* FROM payments o
  WHERE o.sender = r.sender AND o.payment_id = r.original_payment_id
  ORDER BY o.kind = 'P' DESC, o.file_id, o.line LIMIT 1) o ON true
LEFT JOIN LATERAL (
  SELECT x.file_id, x.line FROM payments x
  WHERE x.sender = r.sender AND x.original_payment_id = r.original_payment_id
    AND (x.file_id <> r.file_id OR x.line < r.line)
  ORDER BY x.file_id <> r.file_id DESC, x.file_id, x.line LIMIT 1) prev ON true
LEFT JOIN files pf ON pf.id = prev.file_id
WHERE r.file_id = $1 AND r.kind = 'R'
ORDER BY r.line
LIMIT $2`, row, problemsListMax+1)
	if err != nil {
		return fmt.Errorf("diagnose reversals: %w", err)
	}
	for rows.Next() {
		var r reversalRow
		if err := rows.Scan(&r.line, &r.id, &r.orig, &r.debtor, &r.creditor, &r.cur, &r.amt, &r.found, &r.okind, &r.sameFile, &r.notEarlier,
			&r.odebtor, &r.ocreditor, &r.ocur, &r.oamt, &r.amountEqual, &r.prevLine, &r.prevSameFile, &r.prevFileID); err != nil {
			rows.Close()
			return err
		}
		r.problems(ps)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("diagnose reversals: %w", err)
	}
	return nil
}

// reversalRow is one reversal of a file with its original (found false
// if none) and the earlier reversal of that original, if any (prevLine).
type reversalRow struct {
	line                                 int
	id, orig, debtor, creditor, cur, amt string
	found                                bool
	okind                                string
	sameFile, notEarlier                 bool
	odebtor, ocreditor, ocur, oamt       string
	amountEqual                          bool
	prevLine                             sql.NullInt64
	prevSameFile                         bool
	prevFileID                           string
}

// problems adds what is wrong with the reversal to ps, as
// payments_check_reversal would refuse it.
func (r *reversalRow) problems(ps *settlement.Problems) {
	id, line, orig := r.id, r.line, r.orig
	const field = "original_payment_id"
	switch {
	case !r.found:
		addEntry(ps, id, line, field, settlement.CodeOriginalUnknown, "no payment %s of this sender is known", orig)
	case r.okind != "P":
		addEntry(ps, id, line, field, settlement.CodeOriginalUnknown, "%s is a reversal, not a payment", orig)
	case r.sameFile || r.notEarlier:
		addEntry(ps, id, line, field, settlement.CodeOriginalUnsettled, "payment %s is in this same cycle and not settled yet; a reversal must follow its settlement", orig)
	default:
		if r.debtor != r.odebtor {
			addEntry(ps, id, line, "original_debtor_bic", settlement.CodeOriginalMismatch, "payment %s has debtor %s, not %s", orig, r.odebtor, r.debtor)
		}
		if r.creditor != r.ocreditor {
			addEntry(ps, id, line, "original_creditor_bic", settlement.CodeOriginalMismatch, "payment %s has creditor %s, not %s", orig, r.ocreditor, r.creditor)
		}
		if r.cur != r.ocur {
			addEntry(ps, id, line, "currency", settlement.CodeOriginalMismatch, "payment %s is in %s, not %s", orig, r.ocur, r.cur)
		} else if !r.amountEqual {
			addEntry(ps, id, line, "amount", settlement.CodeOriginalMismatch, "payment %s is of %s, not %s", orig, r.oamt, r.amt)
		}
	}
	if r.prevLine.Valid {
		if r.prevSameFile {
			addEntry(ps, id, line, field, settlement.CodeAlreadyReversed, "payment %s is already reversed at line %d of this file", orig, r.prevLine.Int64)
		} else {
			addEntry(ps, id, line, field, settlement.CodeAlreadyReversed, "payment %s is already reversed in file %s line %d", orig, r.prevFileID, r.prevLine.Int64)
		}
	}
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	return errors.Join(err, rows.Close())
}

// duplicate reports the earlier file of the same sender that f repeats.
// Another bank's files are never looked at: a bank is never told anything
// about them (files are unique per sender, so no other bank's file can be
// the one f collided with).
func (s *Store) duplicate(ctx context.Context, q queryRower, f FileRecord) (IngestResult, error) {
	var (
		id                int64
		sha, status, name string
		fileID            sql.NullString
		received          time.Time
	)
	err := q.QueryRowContext(ctx, `SELECT id, sha256, status, name, file_id, received_at FROM files
		WHERE sender = $2 AND (sha256 = $1 OR file_id = $3)
		ORDER BY sha256 = $1 DESC LIMIT 1`, f.SHA256, string(f.Sender), nullString(f.FileID)).
		Scan(&id, &sha, &status, &name, &fileID, &received)
	if err != nil {
		return IngestResult{}, fmt.Errorf("duplicate of what: %w", err)
	}
	p := settlement.Problem{Code: settlement.CodeDuplicateFile,
		Message: fmt.Sprintf("the same file (sha256 %s) was received as %s at %s and %s", sha, name,
			received.UTC().Format(time.RFC3339), status)}
	if sha != f.SHA256 {
		p = settlement.Problem{Field: "file_id", Code: settlement.CodeDuplicateFileID,
			Message: fmt.Sprintf("file id %s was already used by %s for %s received at %s (%s)", f.FileID, f.Sender, name,
				received.UTC().Format(time.RFC3339), status)}
	}
	slog.Info("duplicate file", "bank", f.Sender, "file_id", f.FileID, "code", p.Code, "earlier", id)
	return IngestResult{Status: Duplicate, FileRow: id, Problems: []settlement.Problem{p}}, nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// RecordRejected records a file rejected whole, by the parser or by the
// store, with its problems; none of its payments. A file received before
// from the same sender (same bytes, or same file id) is not recorded again
// and comes back as Duplicate. The acknowledgement (f.Ack) is recorded in
// the same transaction.
func (s *Store) RecordRejected(ctx context.Context, f FileRecord, problems []settlement.Problem) (IngestResult, error) {
	if err := f.check(false); err != nil {
		return IngestResult{}, err
	}
	if len(problems) == 0 {
		return IngestResult{}, fmt.Errorf("%w: a rejected file needs its problems", ErrFileRecord)
	}
	if len(problems) > problemsListMax+1 {
		problems = problems[:problemsListMax+1]
	}
	js, err := json.Marshal(problems)
	if err != nil {
		return IngestResult{}, err
	}
	var (
		date  sql.NullString
		cycle sql.NullInt64
	)
	if f.BusinessDate != "" {
		date = sql.NullString{String: string(f.BusinessDate), Valid: true}
	}
	if f.Cycle > 0 {
		cycle = sql.NullInt64{Int64: f.Cycle, Valid: true}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return IngestResult{}, err
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO files (sender, file_id, name, sha256, size_bytes, signature_key,
			status, problems, business_date, cycle_id, received_at, entries, control_sum)
		VALUES ($1, $2, $3, $4, $5, $6, 'REJECTED', $7::jsonb, $8::date, $9, $10, $11, $12::numeric)
		ON CONFLICT DO NOTHING RETURNING id`,
		string(f.Sender), nullString(f.FileID), f.Name, f.SHA256, f.Size, nullString(f.SignatureKey),
		string(js), date, cycle, f.ReceivedAt, f.Entries, f.ControlSum.String()).Scan(&id)
	res := IngestResult{Status: Rejected, FileRow: id, Problems: problems}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if res, err = s.duplicate(ctx, tx, f); err != nil {
			return IngestResult{}, err
		}
		err = insertAck(ctx, tx, f, Duplicate, res.Problems, 0)
	case err == nil:
		err = insertAck(ctx, tx, f, Rejected, problems, id)
	}
	if err != nil {
		return IngestResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return IngestResult{}, err
	}
	return res, nil
}

// Acknowledge records when a file's acknowledgement was written (once).
func (s *Store) Acknowledge(ctx context.Context, fileRow int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE files SET acknowledged_at = $2 WHERE id = $1 AND acknowledged_at IS NULL`, fileRow, at)
	return err
}

// addEntry records a problem of the entry whose id is id (the status
// report lists it under that entry).
func addEntry(ps *settlement.Problems, id string, line int, field, code, format string, args ...any) {
	ps.Add(settlement.Problem{Line: line, Field: field, Code: code, Message: fmt.Sprintf(format, args...), Entry: id})
}
