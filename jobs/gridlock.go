package jobs

import (
	"context"

	"settle/settlement"
)

// The service's side of the ledger's gridlock resolution (issue 19). On
// the governed path the ledger decides what of a cycle over its caps
// settles: every endorsing peer recomputes the resolution from the cycle's
// verified files and the caps on the ledger, and writes the payments it
// deferred in one record per cycle (GetDeferral). The pipeline follows that
// answer: it reads the record after the cycle settles, keeps each deferred
// payment's move in the store (CycleTx.SaveResolution), nets the next cycle
// with the carried payments first (PipelineStore.CarriedEntries), and tells
// the banks payment by payment. Nothing here decides a split.

// LedgerDeferral is the ledger's resolution of one cycle (the chaincode's
// DeferralRecord), as the pipeline reads it back.
type LedgerDeferral struct {
	Cycle       string
	CarriedFrom string // the cycle whose deferred payments this one took first; "" if none
	CarriedIn   int
	Entries     int64 // entries resolved: the cycle's and the carried
	Settled     int64
	Banks       []BankDeferral
	Deferred    []LedgerDeferred // in the record's order
	TxID        string           // the settling transaction that wrote it
}

// BankDeferral is what one bank deferred in one currency, amounts as the
// ledger wrote them (the currency's minor-unit digits).
type BankDeferral struct {
	Bank     settlement.BIC
	Currency string
	Cap      string
	Net      string // with every entry
	Settled  string // over what settles
	Amount   string // deferred
	Count    int
}

// LedgerDeferred is one entry the ledger deferred.
type LedgerDeferred struct {
	Sender     settlement.BIC
	ID         string
	Kind       settlement.Kind
	Debtor     settlement.BIC
	Creditor   settlement.BIC
	Amount     string
	Currency   string
	OriginalID string
	FirstCycle string // the cycle of its file
	Times      int    // the cycles that deferred it so far, this one included
	Waiting    bool   // a reversal that waits with its deferred original
}

// Gridlock settings on the ledger (the scheme setting "gridlock").
const (
	GridlockAuto = "auto" // a cycle over its caps resolves by itself
	GridlockHold = "hold" // it waits for the operator (cycle resolve)
)

// GridlockLedger is the ledger's gridlock resolution as the pipeline uses
// it on the governed path.
type GridlockLedger interface {
	// Gridlock is the scheme's setting: GridlockAuto or GridlockHold.
	Gridlock(ctx context.Context) (string, error)
	// ResolveDeclared is the operator settling a declared cycle with the
	// ledger's resolution although the setting is hold. Idempotent.
	ResolveDeclared(ctx context.Context, cycle string) (LedgerTx, error)
	// Deferral is the ledger's resolution record of a settled cycle; ok
	// false when the cycle deferred nothing and carried nothing in.
	Deferral(ctx context.Context, cycle string) (d LedgerDeferral, ok bool, err error)
}

// Resolution is the ledger's resolution of a cycle as the store records
// it, in the transaction that marks the cycle settled.
type Resolution struct {
	// To is the cycle the deferred entries move to: the first business
	// day after the cycle's that is not netted yet (nextOpenCycle).
	To   settlement.Date
	TxID string // the settling transaction, which wrote the record
	// Deferred are the entries deferred, in the record's order: each is
	// an entry of the cycle's own files or one carried into it.
	Deferred []DeferredRef
}

// DeferredRef names one deferred entry.
type DeferredRef struct {
	Sender  settlement.BIC
	ID      string
	Times   int  // as the ledger counts them
	Waiting bool // a reversal waiting with its original
}

// CarriedEntry is an entry an earlier cycle's resolution deferred into
// this one.
type CarriedEntry struct {
	StoredEntry
	From  settlement.Date // the cycle that deferred it last
	Own   settlement.Date // the cycle of its file
	Times int
}
