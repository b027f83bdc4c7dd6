package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// FileRecord is what the store records about a received file, whatever
// became of it.
type FileRecord struct {
	Sender       settlement.BIC
	FileID       string // "" only for a rejected file whose header was unreadable
	Name         string
	SHA256       string // lower-case hex of the file's bytes
	Size         int64
	SignatureKey string // label of the key the signature verified with; "" if none
	BusinessDate settlement.Date
	Cycle        int64           // cycles.id; 0 only for a rejected file
	Entries      int64           // records in the file, as its trailer counts them
	ControlSum   decimal.Decimal // as its trailer states it
	ReceivedAt   time.Time
	// Ack, when set, is recorded in the same transaction as the file: a
	// file is never recorded without the verdict its bank is to read.
	Ack *Ack
}

// Entries streams a file's records to the store: it calls yield for each
// and stops when yield returns false. A non-nil error (the file could not
// be read to its end) aborts the ingest. It is called once.
type Entries func(yield func(*settlement.Entry) bool) error

// Status is what became of a file.
type Status string

const (
	Accepted  Status = "ACCEPTED"
	Rejected  Status = "REJECTED"
	Duplicate Status = "DUPLICATE" // already received: nothing was written
)

// IngestResult reports an ingest. Problems is the acknowledgement's
// error list: for Rejected every bad record found, for Duplicate one
// DUPLICATE_FILE or DUPLICATE_FILE_ID problem.
type IngestResult struct {
	Status   Status
	FileRow  int64 // files.id of the new row, or of the earlier one for Duplicate
	Entries  int64 // records streamed
	Problems []settlement.Problem
}

// Errors of an ingest that are not a bank's fault.
var (
	ErrCycleNotOpen = errors.New("cycle is not open")
	// ErrNoCycle reports an unknown cycle id.
	ErrNoCycle    = errors.New("no such cycle")
	ErrFileRecord = errors.New("bad file record")
	ErrLineOrder  = settlement.ErrEntryOrder
	ErrTooMany    = settlement.ErrTooManyEntries
)

// Limits of one ingest.
const (
	recordsMax      = settlement.RecordsMax // rows per file, well above any bank's day
	ingestTimeout   = 30 * time.Minute
	copyChunkBytes  = 48 << 10 // lines handed to the driver at once; it sends at 63 KiB
	problemsListMax = settlement.ProblemsMaxDefault
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (f *FileRecord) check(accepted bool) error {
	switch {
	case f.Sender == "" || len(f.Sender) > 11:
		return fmt.Errorf("%w: sender %q", ErrFileRecord, f.Sender)
	case !sha256Hex.MatchString(f.SHA256):
		return fmt.Errorf("%w: sha256 %q", ErrFileRecord, f.SHA256)
	case f.Name == "" || len(f.Name) > 255:
		return fmt.Errorf("%w: name %q", ErrFileRecord, f.Name)
	case f.Size < 0:
		return fmt.Errorf("%w: size %d", ErrFileRecord, f.Size)
	case f.Entries < 0 || f.Entries > recordsMax:
		return fmt.Errorf("%w: entries %d", ErrFileRecord, f.Entries)
	case f.ReceivedAt.IsZero():
		return fmt.Errorf("%w: no received time", ErrFileRecord)
	case f.FileID != "" && !settlement.ValidFileID([]byte(f.FileID)):
		return fmt.Errorf("%w: file id %q", ErrFileRecord, f.FileID)
	}
	if !accepted {
		return nil
	}
	if _, err := settlement.ParseBIC(string(f.Sender)); err != nil {
		return fmt.Errorf("%w: %v", ErrFileRecord, err)
	}
	if f.FileID == "" || f.Cycle <= 0 {
		return fmt.Errorf("%w: an accepted file needs a file id and a cycle", ErrFileRecord)
	}
	if _, err := settlement.ParseDate(string(f.BusinessDate)); err != nil {
		return fmt.Errorf("%w: %v", ErrFileRecord, err)
	}
	return nil
}

// IngestFile records one file the parser accepted, and all its payments
// and reversals, in one transaction: all or nothing.
//
// The entries go to the payments table by COPY with the table's unique and
// reversal checks deferred; they are then checked at once. Only if a check
// fails are the bad lines looked up, with set-based queries over the rows
// just copied; the file is then rolled back whole and recorded as REJECTED
// with every problem (the same report shape as the parser's). A file
// received before from the same sender (same bytes, or same file id)
// changes nothing and comes back as Duplicate. The file's acknowledgement
// (f.Ack) is recorded in the same transaction, whatever the outcome.
func (s *Store) IngestFile(ctx context.Context, f FileRecord, entries Entries) (IngestResult, error) {
	if err := f.check(true); err != nil {
		return IngestResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, ingestTimeout)
	defer cancel()
	start := time.Now()

	conn, err := s.db.Conn(ctx)
	if err != nil {
		return IngestResult{}, err
	}
	defer conn.Close()

	res, problems, err := s.ingest(ctx, conn, f, entries)
	if err != nil {
		if rerr := rollback(conn); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return IngestResult{}, err
	}
	if res.Status == Duplicate {
		// Nothing else is written: the one statement is its transaction.
		if err := insertAck(ctx, conn, f, Duplicate, res.Problems, 0); err != nil {
			return IngestResult{}, err
		}
		return res, nil
	}
	if problems != nil {
		// The transaction is rolled back; the file is kept, as rejected.
		if err := rollback(conn); err != nil {
			return IngestResult{}, err
		}
		n := res.Entries
		res, err = s.RecordRejected(ctx, f, problems.List())
		res.Entries = n
		if err == nil && res.Status == Rejected {
			slog.Info("file rejected by the store", "bank", f.Sender, "file_id", f.FileID, "problems", problems.Len())
		}
		return res, err
	}
	if err := insertAck(ctx, conn, f, Accepted, nil, res.FileRow); err != nil {
		if rerr := rollback(conn); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return IngestResult{}, err
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		discard(conn)
		return IngestResult{}, fmt.Errorf("ingest %s %s: commit: %w", f.Sender, f.FileID, err)
	}
	slog.Info("file ingested", "bank", f.Sender, "file_id", f.FileID, "entries", res.Entries,
		"elapsed", time.Since(start))
	return res, nil
}

// rollback ends the session's transaction, or makes sure the session dies.
func rollback(conn *sql.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		discard(conn)
	}
	return nil
}

// ingest runs the transaction up to, not including, its end. It leaves the
// transaction open: the caller commits when problems is nil and the status
// is Accepted, and rolls back otherwise.
func (s *Store) ingest(ctx context.Context, conn *sql.Conn, f FileRecord, entries Entries) (IngestResult, *settlement.Problems, error) {
	if _, err := conn.ExecContext(ctx, `BEGIN; SET CONSTRAINTS ALL DEFERRED`); err != nil {
		return IngestResult{}, nil, err
	}
	var state string
	err := conn.QueryRowContext(ctx, `SELECT state FROM cycles WHERE id = $1 FOR SHARE`, f.Cycle).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return IngestResult{}, nil, fmt.Errorf("cycle %d: %w", f.Cycle, ErrNoCycle)
	}
	if err != nil {
		return IngestResult{}, nil, err
	}
	if c := (settlement.Cycle{Stage: stageOf(state)}); !c.Accepting() {
		return IngestResult{}, nil, fmt.Errorf("cycle %d is %s: %w", f.Cycle, state, ErrCycleNotOpen)
	}
	member, err := members(ctx, conn, true)
	if err != nil {
		return IngestResult{}, nil, err
	}

	var row int64
	err = conn.QueryRowContext(ctx, `INSERT INTO files (sender, file_id, name, sha256, size_bytes, signature_key,
			status, business_date, cycle_id, received_at, control_sum, entries)
		VALUES ($1, $2, $3, $4, $5, $6, 'ACCEPTED', $7, $8, $9, $10::numeric, $11) RETURNING id`,
		string(f.Sender), f.FileID, f.Name, f.SHA256, f.Size, nullString(f.SignatureKey),
		string(f.BusinessDate), f.Cycle, f.ReceivedAt, f.ControlSum.String(), f.Entries).Scan(&row)
	if sqlState(err) == codeUniqueViolation {
		if err := rollback(conn); err != nil {
			return IngestResult{}, nil, err
		}
		res, err := s.duplicate(ctx, conn, f)
		return res, nil, err
	}
	if err != nil {
		return IngestResult{}, nil, err
	}

	n, problems, err := copyEntries(ctx, conn, row, f, member, entries)
	res := IngestResult{Status: Accepted, FileRow: row, Entries: n}
	if err != nil || problems.Len() > 0 {
		return res, &problems, err
	}
	if n != f.Entries {
		return res, nil, fmt.Errorf("ingest %s %s: %d records streamed, the file record says %d: %w",
			f.Sender, f.FileID, n, f.Entries, ErrFileRecord)
	}
	// Fire the deferred checks now, inside a savepoint, so that a failure
	// leaves the copied rows in place to be diagnosed.
	if _, err := conn.ExecContext(ctx, `SAVEPOINT checks`); err != nil {
		return res, nil, err
	}
	_, cerr := conn.ExecContext(ctx, `SET CONSTRAINTS ALL IMMEDIATE`)
	if cerr == nil {
		return res, nil, nil
	}
	if st := sqlState(cerr); len(st) != 5 || st[:2] != "23" {
		return res, nil, cerr
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK TO SAVEPOINT checks`); err != nil {
		return res, nil, err
	}
	problems = settlement.Problems{}
	if err := diagnose(ctx, conn, row, &problems); err != nil {
		return res, nil, err
	}
	if problems.Len() == 0 {
		// The schema refused what the diagnosis cannot explain: a bug here.
		return res, nil, fmt.Errorf("ingest %s %s: deferred check failed but no bad line found: %w", f.Sender, f.FileID, cerr)
	}
	return res, &problems, nil
}
