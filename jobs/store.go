package jobs

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/shopspring/decimal"

	"settle/reconciliation"
	"settle/settlement"
	"settle/signature"
)

// The operational record as each of its users needs it: small ports,
// declared here by the jobs that use them. The Postgres adapter implements
// all of them (one JobStore); memstore implements all of them in memory,
// and one contract suite a port (storetest) runs on both.

// CycleStore keeps the cycles and their stage machine's record: what the
// pipeline, the resume pass and the scheduler's freeze move. Every change
// goes through UpdateCycle, where the domain decides.
type CycleStore interface {
	// Cycle returns the cycle of a business date; ok false if none.
	Cycle(ctx context.Context, date settlement.Date) (c settlement.Cycle, ok bool, err error)
	// EnsureCycle returns the cycle of a business date, opening it if
	// there is none yet.
	EnsureCycle(ctx context.Context, date settlement.Date) (settlement.Cycle, error)
	// UpdateCycle changes a cycle in one transaction: it locks the
	// cycle, loads it, and hands it to update, which decides (the domain:
	// settlement.Cycle.Advance and its rules) and may write with tx. Then
	// it saves the cycle's stage if update moved it, logging the move with
	// the first event's id, and writes the events to the outbox; an error
	// from update rolls everything back. The store decides nothing.
	UpdateCycle(ctx context.Context, date settlement.Date, update func(c *settlement.Cycle, tx CycleTx) ([]Event, error)) error
	// StepFailed records why an attempt at a stage failed; held says
	// only an operator can unblock it (NeedsOperator), and is announced
	// on TopicCycleHeld in the same transaction.
	StepFailed(ctx context.Context, date settlement.Date, to settlement.Stage, cause error, held bool) error
	// LastFailure is the cycle's latest failed attempt; ok false if none.
	LastFailure(ctx context.Context, date settlement.Date) (f Failure, ok bool, err error)
}

// IntakeStore is what the intake records: the members and their keys it
// checks a file against, and the file with its verdict.
type IntakeStore interface {
	// Members are the active member banks.
	Members(ctx context.Context) (map[settlement.BIC]bool, error)
	// SigningKeys are the keys of a bank valid at t (rotation: several).
	SigningKeys(ctx context.Context, bank settlement.BIC, at time.Time) ([]signature.Key, error)
	// EnsureCycle returns the cycle of a business date, opening it if
	// there is none yet.
	EnsureCycle(ctx context.Context, date settlement.Date) (settlement.Cycle, error)
	// IngestFile records an accepted file and all its entries at once, or
	// rejects it whole with problems found by the database (an id used in
	// an earlier cycle, a reversal of an unknown payment, ...).
	IngestFile(ctx context.Context, f FileRecord, entries func(yield func(*settlement.Entry) bool) error) (IngestResult, error)
	// RecordRejected records a file rejected before ingest.
	RecordRejected(ctx context.Context, f FileRecord, problems []settlement.Problem) (IngestResult, error)
	// Acknowledged stamps the time a file's acknowledgement was written.
	Acknowledged(ctx context.Context, fileRow int64, at time.Time) error
}

// ReconcileStore is the store's side of a reconciliation: the cycle's
// entries, positions and ledger transactions as recorded, and which breaks
// are still active.
type ReconcileStore interface {
	// Cycle returns the cycle of a business date; ok false if none.
	Cycle(ctx context.Context, date settlement.Date) (c settlement.Cycle, ok bool, err error)
	// CycleEntries streams a cycle's payments and reversals in (sender,
	// payment id) byte order.
	CycleEntries(ctx context.Context, date settlement.Date) iter.Seq2[StoredEntry, error]
	// Positions are the net positions stored for a cycle.
	Positions(ctx context.Context, date settlement.Date) ([]settlement.Position, error)
	// LedgerTxs are the ledger transactions recorded for a cycle, by
	// chunk id ("settle" for the settling one).
	LedgerTxs(ctx context.Context, date settlement.Date) (map[string]LedgerTx, error)
	// ActiveBreaks are the keys of a cycle's breaks that are open or under
	// investigation.
	ActiveBreaks(ctx context.Context, date settlement.Date) (map[string]bool, error)
}

// PipelineStore is what the pipeline's steps read and write besides the
// stage machine and reconciliation's side.
type PipelineStore interface {
	CycleStore
	ReconcileStore
	// FileLister: the governed path declares a cycle's files and its
	// statements find the transactions that indexed each.
	FileLister
	// Members are the active member banks (each gets its report).
	Members(ctx context.Context) (map[settlement.BIC]bool, error)
	// Caps are the current net debit caps.
	Caps(ctx context.Context) ([]settlement.Cap, error)
	// PendingReversals lists, at most max, the reversals of a cycle whose
	// original's cycle has not settled yet (the ledger would refuse them).
	PendingReversals(ctx context.Context, date settlement.Date, max int) ([]PendingReversal, error)
	// SaveLedgerTx records that a chunk (or the settle) committed.
	SaveLedgerTx(ctx context.Context, date settlement.Date, chunkID string, entries int, tx LedgerTx) error
	// OpenBreaks are a cycle's active breaks with their evidence, for
	// reports.
	OpenBreaks(ctx context.Context, date settlement.Date) ([]reconciliation.Break, error)
	// CarriedEntries streams the entries that earlier cycles' gridlock
	// resolution on the ledger deferred into this cycle (the latest move
	// of each is to it), in the order of the ledger's deferral record
	// (CycleTx.SaveResolution's).
	CarriedEntries(ctx context.Context, date settlement.Date) iter.Seq2[CarriedEntry, error]
	// DeferFile moves an accepted file from a cycle that has not been
	// netted to another one, if the domain allows it
	// (settlement.CheckDeferral), appending the deferral (see Deferral).
	DeferFile(ctx context.Context, d Deferral) (DeferredFile, error)
}

// Store is every port above at once: what one adapter (Postgres's
// JobStore) serves to the intake and the pipeline of one process, and what
// the crash test wraps, method by method.
type Store interface {
	IntakeStore
	PipelineStore
}

// Failure is a failed attempt at a stage, as recorded.
type Failure struct {
	ID    int64 // increasing: a later attempt has a greater ID
	To    settlement.Stage
	Err   string
	Actor string
	At    time.Time
	Held  bool
}

// HoldsAt tells whether the failure holds a cycle now at stage: it is a
// hold, it is the cycle's latest failure, and the cycle has not moved
// since (a later stage, reached by the operator's run, ends the hold).
func (f Failure) HoldsAt(stage settlement.Stage) bool {
	return f.Held && stage.Next() == f.To
}

// PendingReversal is a reversal waiting for its original's cycle to
// settle.
type PendingReversal = settlement.PendingReversal

// CycleTx is what a stage may write inside its transaction.
type CycleTx interface {
	SaveNetting(res *settlement.Result, breaches []settlement.CapBreach) error
	// SaveResolution records the ledger's gridlock resolution of the
	// cycle: each deferred entry (one of the cycle's files' or one carried
	// into it) moves to cycle r.To, opened if need be, which must not be
	// netted yet. Saved again with the same moves it writes nothing; other
	// moves for an entry already moved out of this cycle are refused.
	SaveResolution(r Resolution) error
	ApplyBreaks(plan reconciliation.Plan, summary reconciliation.Summary) error
}

// StoredEntry is an entry with where it came from.
type StoredEntry struct {
	Sender     settlement.BIC
	Entry      settlement.Entry
	FileSHA256 string
	FileName   string
}

// FileRecord is what the store records about a received file.
type FileRecord struct {
	Sender       settlement.BIC
	FileID       string
	Name         string
	SHA256       string
	Size         int64
	SignatureKey string
	BusinessDate settlement.Date
	Cycle        settlement.Date // the business date of the cycle it goes to
	Entries      int64
	ControlSum   decimal.Decimal
	ReceivedAt   time.Time
	// Ack is recorded by IngestFile and RecordedRejected in the same
	// transaction as the file, whatever the outcome.
	Ack *AckRecord
}

// AckRecord is a file's acknowledgement as the store records it with the
// file: its outbox name, and Body, which renders the verdict for the
// outcome the store reached (IngestAccepted; IngestRejected with every
// problem found; IngestDuplicate with its one problem) twice from the same
// status and problems: as the JSON acknowledgement, and as the status
// report (pacs.002) written beside it.
type AckRecord struct {
	Name string
	Body func(status string, problems []settlement.Problem) (ack, report []byte, err error)
}

// RecordedAck is a verdict as the store recorded it.
type RecordedAck struct {
	Name string // in the bank's outbox
	Body []byte // nil for one written before the store kept the bytes
	// Report is the status report, written as intake.ReportName(Name)
	// before Body; nil for a verdict recorded before the store kept
	// reports (migration 0012), which has none.
	Report  []byte
	FileRow int64 // the file it acknowledges; 0 for a duplicate
}

// Ingest outcomes.
const (
	IngestAccepted  = "ACCEPTED"
	IngestRejected  = "REJECTED"
	IngestDuplicate = "DUPLICATE"
)

// IngestResult reports an ingest.
type IngestResult struct {
	Status   string
	FileRow  int64
	Problems []settlement.Problem
}

// ErrCycleNotOpen: the cycle no longer takes files (cut-off passed).
var ErrCycleNotOpen = errors.New("cycle is not open")
