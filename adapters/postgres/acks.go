package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"settle/settlement"
)

// Ack is the acknowledgement recorded with a file, in the transaction that
// records the file: its outbox name, and Body, which renders the verdict
// for the outcome the store reached (Accepted, Rejected with the problems
// the parser or the database found, or Duplicate with its one problem):
// the acknowledgement's bytes, and the status report's written beside it
// (nil for none), both from that one status and list of problems.
type Ack struct {
	Name string
	Body func(status Status, problems []settlement.Problem) (ack, report []byte, err error)
}

// RecordedAck is a verdict as recorded.
type RecordedAck struct {
	Bank    settlement.BIC
	File    string // the payment file's name in the inbox
	SHA256  string
	Name    string // the acknowledgement's name in the outbox
	Body    []byte // nil for an acknowledgement written before migration 0011
	Report  []byte // the status report beside it; nil for none (recorded before migration 0012)
	FileRow int64  // files.id of the file it acknowledges; 0 for a duplicate
}

// ackBytesMax bounds a recorded acknowledgement (the column's check).
const ackBytesMax = 16 << 20

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertAck records f's acknowledgement for the outcome, with q (the
// transaction that records the file, or the one statement of a duplicate).
func insertAck(ctx context.Context, q execer, f FileRecord, status Status, problems []settlement.Problem, fileRow int64) error {
	if f.Ack == nil {
		return nil
	}
	if f.Ack.Name == "" || len(f.Ack.Name) > 255 {
		return fmt.Errorf("%w: ack name %q", ErrFileRecord, f.Ack.Name)
	}
	body, report, err := f.Ack.Body(status, problems)
	if err != nil {
		return fmt.Errorf("acknowledgement of %s: %w", f.Name, err)
	}
	if len(body) == 0 || len(body) > ackBytesMax {
		return fmt.Errorf("%w: acknowledgement of %s is %d bytes", ErrFileRecord, f.Name, len(body))
	}
	if report != nil && (len(report) == 0 || len(report) > ackBytesMax) {
		return fmt.Errorf("%w: status report of %s is %d bytes", ErrFileRecord, f.Name, len(report))
	}
	row := sql.NullInt64{Int64: fileRow, Valid: fileRow > 0}
	_, err = q.ExecContext(ctx, `INSERT INTO acknowledgements (bank, file_name, sha256, ack_name, verdict, report, file_row)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, string(f.Sender), f.Name, f.SHA256, f.Ack.Name, body, report, row)
	if err != nil {
		return fmt.Errorf("record acknowledgement %s of %s: %w", f.Ack.Name, f.Sender, err)
	}
	return nil
}

// Acknowledgement is the verdict recorded for bank's file name with the
// bytes sum; ok false if there is none.
func (s *Store) Acknowledgement(ctx context.Context, bank settlement.BIC, file, sum string) (RecordedAck, bool, error) {
	a := RecordedAck{Bank: bank, File: file, SHA256: sum}
	var row sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT ack_name, verdict, report, file_row FROM acknowledgements
		WHERE bank = $1 AND file_name = $2 AND sha256 = $3`, string(bank), file, sum).Scan(&a.Name, &a.Body, &a.Report, &row)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, err
	}
	a.FileRow = row.Int64
	return a, true, nil
}

// AckNameTaken tells whether bank already has an acknowledgement named
// name.
func (s *Store) AckNameTaken(ctx context.Context, bank settlement.BIC, name string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM acknowledgements WHERE bank = $1 AND ack_name = $2`, string(bank), name).Scan(&n)
	return n > 0, err
}
