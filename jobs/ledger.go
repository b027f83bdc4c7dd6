package jobs

import (
	"context"
	"errors"
	"iter"

	"github.com/shopspring/decimal"

	"settle/reconciliation"
	"settle/settlement"
)

// Ledger is the shared ledger (a Fabric channel endorsed by a majority of
// the member banks) as the nightly jobs and the auditors use it. Every
// write has a deterministic identity and is idempotent: after a crash or a
// timeout the job asks again, and the ledger answers with the transaction
// that already committed instead of writing twice.
type Ledger interface {
	// RecordChunk records one chunk of a cycle's payments. The identical
	// chunk recorded again returns the transaction that first recorded it;
	// different content under the same (cycle, chunk id) is refused.
	RecordChunk(ctx context.Context, c Chunk) (LedgerTx, error)
	// SettleCycle settles a cycle with the positions the system computed.
	// The ledger refuses unless they equal the sum of the recorded chunks,
	// sum to zero per currency and respect the caps it holds. Idempotent.
	SettleCycle(ctx context.Context, cycle string, positions []settlement.Position) (LedgerTx, error)
	// Cycle is the ledger's view of a cycle; ok is false if it holds
	// nothing for it.
	Cycle(ctx context.Context, cycle string) (c LedgerCycle, ok bool, err error)
	// CyclePayments streams the payments recorded for a cycle in
	// (sender, payment id) byte order, for reconciliation.
	CyclePayments(ctx context.Context, cycle string) iter.Seq2[reconciliation.Record, error]
	// Payment is one recorded payment (TxID set); ok false if absent.
	Payment(ctx context.Context, sender settlement.BIC, id string) (p reconciliation.Record, ok bool, err error)
	// ReversalChain is the original payment and every reversal of it, in
	// order, as the ledger holds them.
	ReversalChain(ctx context.Context, sender settlement.BIC, id string) ([]reconciliation.Record, error)
	// Tx describes a committed transaction: its block and who endorsed it.
	Tx(ctx context.Context, txID string) (LedgerTx, error)
	// RegisterBank and SetCap change the bank registry and the caps on the
	// ledger, each a majority-endorsed transaction.
	RegisterBank(ctx context.Context, bic settlement.BIC, mspID string) (LedgerTx, error)
	SetCap(ctx context.Context, c settlement.Cap) (LedgerTx, error)
	// The registry and the read floor are part of the port, not found by
	// type assertion: a wrapper (the metrics' timedLedger) that hid them
	// made the record step skip the registry check and reconciliation
	// read from a peer behind, silently.
	BankRegistry
	ReadFloor
}

// Chunk is a slice of a cycle's payments written in one transaction.
type Chunk struct {
	Cycle   string
	ID      string // deterministic: the same cycle chunks the same way every run
	Entries []ChunkEntry
}

// ChunkEntry is one payment of a chunk with what the ledger keeps of its
// origin.
type ChunkEntry struct {
	Sender     settlement.BIC
	Entry      settlement.Entry
	FileSHA256 string
}

// LedgerTx is a committed ledger transaction.
type LedgerTx struct {
	ID        string
	Block     uint64
	Endorsers []string // MSP ids of the organisations that endorsed it
	// Submitter is who signed the transaction (its creator): "MSP role CN",
	// e.g. "OperatorMSP client User1@operator.settle.local"; set when the
	// transaction was read from its block.
	Submitter string
	// Existing is true when the write had already committed earlier and
	// this is that earlier transaction.
	Existing bool
	// SignaturesChecked says each endorsement's signature was verified
	// when the transaction was read from its block; BadSignatures are the
	// MSPs whose endorsement signature did not verify.
	SignaturesChecked bool
	BadSignatures     []string
}

// LedgerCycle is what the ledger holds about a cycle.
type LedgerCycle struct {
	ID        string
	Status    string // "open" (chunks recorded) or "settled"
	Positions []reconciliation.NetPosition
	Chunks    int
	Payments  int
	TxID      string // the settling transaction
	// PositionsSHA256 is the fingerprint the settling transaction wrote on
	// the ledger (settlement.PositionsSHA256 of Positions); empty while
	// open, and on a ledger settled before the chaincode wrote one.
	PositionsSHA256 string
}

// Settled tells whether the ledger settled the cycle.
func (c LedgerCycle) Settled() bool { return c.Status == "settled" }

// ReadFloor is a ledger client whose queries can be told to wait until
// their peer holds a given block: what another process wrote, known here
// from Postgres, is then never read as missing from a peer that is a block
// behind the others.
type ReadFloor interface {
	ReadAfter(block uint64)
}

// BankRegistry is a ledger client that can say whether a bank is in the
// ledger's registry, so that a cycle naming a bank the ledger does not
// know stops before its first chunk instead of at it.
type BankRegistry interface {
	Registered(ctx context.Context, bic settlement.BIC) (bool, error)
}

// readAfter tells l to read only from peers that hold block.
func readAfter(l Ledger, block uint64) {
	if block > 0 {
		l.ReadAfter(block)
	}
}

// Ledger errors the jobs act on.
var (
	// ErrEndorsementPolicy: the transaction did not gather a majority of
	// the banks' endorsements. Permanent for that attempt; the error text
	// names who endorsed.
	ErrEndorsementPolicy = errors.New("ENDORSEMENT_POLICY_FAILURE")
	// ErrLedgerRefused: the chaincode refused the content (duplicate
	// payment, invalid reversal, positions that do not match, a cap).
	// Permanent: retrying the same content cannot succeed.
	ErrLedgerRefused = errors.New("refused by the ledger")
	// ErrLedgerForbidden: the ledger refused the caller's identity for this
	// call (its MSP or role, from the signing certificate). Wrapped together
	// with ErrLedgerRefused: permanent for this identity.
	ErrLedgerForbidden = errors.New("the ledger refused the caller's role")
	// ErrLedgerUnavailable: too few peers or no orderer answered. The job
	// fails and succeeds when re-run after they return.
	ErrLedgerUnavailable = errors.New("ledger unavailable")
)

// GovernedLedger is the ledger's governed path (issue 11): the operator
// declares a cycle's files before anything of it is on the ledger, relays each
// file's exact bytes and its detached signature (the ledger parses and verifies
// them itself, with the keys the banks' admins registered there), and the
// ledger settles on the positions it computed. A Pipeline with Governed set
// writes no chunks.
type GovernedLedger interface {
	// DeclareFiles fixes the cycle's files on the ledger; the identical
	// declaration again returns its first transaction (Existing).
	DeclareFiles(ctx context.Context, cycle string, files []LedgerFile) (LedgerTx, error)
	// PutFile sends one declared file's bytes and signature and has its
	// payments indexed; it returns the transaction that verified the file
	// and those that indexed its payments, as the ledger's state names them
	// (also when an earlier attempt did the work: Existing).
	PutFile(ctx context.Context, cycle string, f LedgerFile, body, sig []byte) (FileTxs, error)
	// SettleDeclared settles a declared cycle once every file is verified.
	SettleDeclared(ctx context.Context, cycle string) (LedgerTx, error)
	// The ledger's gridlock resolution: its setting, the operator's
	// resolve, and the record of what a settled cycle deferred.
	GridlockLedger
}

// FileTxs are the ledger transactions of one governed file: the one that
// verified it (its last part, with the bank's signature), and the IndexFile
// transactions that recorded its payments, in the file's entry order.
type FileTxs struct {
	Verified LedgerTx
	Index    []IndexTx
}

// IndexTx is an IndexFile transaction: it recorded the file's entries
// [Start, Start+Entries), counted in the file's order from 0.
type IndexTx struct {
	Start, Entries int
	Tx             LedgerTx
}

// end is the first entry after the indexed ranges.
func (f FileTxs) end() int {
	if len(f.Index) == 0 {
		return 0
	}
	x := f.Index[len(f.Index)-1]
	return x.Start + x.Entries
}

// TxOf is the transaction that recorded the file's entry at ordinal i (in
// the file's order), and whether one did.
func (f FileTxs) TxOf(i int) (LedgerTx, bool) {
	for _, x := range f.Index {
		if i >= x.Start && i < x.Start+x.Entries {
			return x.Tx, true
		}
	}
	return LedgerTx{}, false
}

// LedgerFile is an accepted file of a cycle as the ledger is told of it.
type LedgerFile struct {
	Sender     settlement.BIC
	FileID     string
	Name       string // the bank's file name (the archive's receipt)
	Format     string // "csv", or "xml" (ISO 20022: pacs.008 or pacs.007, as its namespace says)
	SHA256     string
	Size       int64 // bytes
	Entries    int64
	ControlSum decimal.Decimal
	// BusinessDate is the file's own date; a late or deferred file's is
	// before its cycle's (the ledger is told so in the declaration).
	BusinessDate settlement.Date
}

// FileLister lists a cycle's accepted files (after deferrals), in (sender,
// file id) order: part of PipelineStore, for the governed path.
type FileLister interface {
	LedgerFiles(ctx context.Context, date settlement.Date) ([]LedgerFile, error)
}
