package jobs

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"settle/intake"
	"settle/reconciliation"
	"settle/settlement"
	"settle/signature"
)

// AuditStore is what an auditor reads from Postgres (with a read-only
// role: nothing here writes).
type AuditStore interface {
	Lineage(ctx context.Context, sender settlement.BIC, id string) (Lineage, bool, error)
	CycleFiles(ctx context.Context, date settlement.Date) ([]CycleFile, error)
	SigningKeys(ctx context.Context, bank settlement.BIC, at time.Time) ([]signature.Key, error)
	Members(ctx context.Context) (map[settlement.BIC]bool, error)
	Positions(ctx context.Context, date settlement.Date) ([]settlement.Position, error)
	// LedgerTxRow is what Postgres recorded of a ledger transaction it
	// wrote; ok false if it recorded none with that id.
	LedgerTxRow(ctx context.Context, txID string) (row LedgerTxRow, ok bool, err error)
}

// LedgerTxRow is Postgres's record of a transaction the system wrote.
type LedgerTxRow struct {
	Cycle     settlement.Date
	Function  string
	Chunk     string
	Entries   int
	Block     uint64
	Endorsers []string
}

// TxReader reads a committed ledger transaction's content from the block
// that holds it, as its endorsers signed it.
type TxReader interface {
	TxContent(ctx context.Context, txID string) (TxContent, error)
}

// TxContent is what one ledger transaction carried.
type TxContent struct {
	Tx        LedgerTx
	Function  string
	Cycle     string                       // RecordChunk and SettleCycle
	Chunk     string                       // RecordChunk
	Payments  []reconciliation.Record      // RecordChunk: TxID, Cycle set
	Positions []reconciliation.NetPosition // SettleCycle
	Args      []string                     // any other function
}

// ArchiveReader finds archived files by their receipt.
type ArchiveReader interface {
	Open(sum string) (io.ReadCloser, error)
	// Find is the hash of the latest receipt of a bank's file name.
	Find(bank, name string) (sum string, ok bool, err error)
}

// Lineage is a payment as Postgres recorded it, with its file and cycle.
type Lineage struct {
	Sender         settlement.BIC
	Entry          settlement.Entry
	Cycle          settlement.Date
	Stage          settlement.Stage
	File           FileState
	FileSHA256     string
	FileSize       int64
	SignatureKey   string
	AcknowledgedAt time.Time
	ReversedBy     string // id of the reversal of this payment, if any
	// DeferredFrom is the cycle the file was accepted into, when an
	// operator deferred it to Cycle.
	DeferredFrom settlement.Date
	// Moves are the file's deferrals, oldest first (a move back to
	// correct one included).
	Moves []FileMove
	// Carried are the payment's own moves by the ledger's gridlock
	// resolution, oldest first; the last one's To is the cycle it settles
	// in (SettledIn).
	Carried []PaymentMove
}

// PaymentMove is one deferral of a payment by the ledger's gridlock
// resolution, as the store recorded it.
type PaymentMove struct {
	From, To settlement.Date
	ToStage  settlement.Stage // of cycle To now
	Times    int
	Waiting  bool
	LedgerTx string // the settling transaction of From, which decided it
}

// SettledIn is the cycle the payment settles in: its file's cycle, or
// where the ledger's resolution last moved it.
func (l Lineage) SettledIn() settlement.Date {
	if n := len(l.Carried); n > 0 {
		return l.Carried[n-1].To
	}
	return l.Cycle
}

// FileMove is one deferral of a file, as recorded.
type FileMove struct {
	From, To settlement.Date
	Reason   string
	Actor    string
	At       time.Time
}

// CycleFile is an accepted file of a cycle.
type CycleFile struct {
	Sender       settlement.BIC
	Name         string
	SHA256       string
	SignatureKey string
	ReceivedAt   time.Time
	Entries      int64
	FileID       string
}

// Auditor traces payments and re-verifies cycles from the archived files,
// checking each step against the ledger rather than trusting Postgres.
type Auditor struct {
	Store   AuditStore
	Ledger  Ledger
	Archive ArchiveReader
	Txs     TxReader   // for TraceTx
	Files   AuditFiles // for TraceFile
	// Deferrals, on the governed path, are the ledger's gridlock
	// resolution records: Verify applies a cycle's to what it re-netted.
	Deferrals DeferralReader
}

// Step is one link of a payment's lineage and what checking it found.
type Step struct {
	Step   string            `json:"step"`
	Facts  map[string]string `json:"facts"`
	Check  string            `json:"check"` // "ok", or what is wrong
	Source string            `json:"source"`
}

// Trace is a payment's whole lineage.
type Trace struct {
	Payment string  `json:"payment"`
	OK      bool    `json:"ok"`
	Steps   []Step  `json:"steps"`
	Related []Trace `json:"related,omitempty"` // its reversal, or the original it reverses
}

// Trace follows a payment from the bank's file to the ledger transaction
// and its endorsers, and through its reversal chain.
func (a *Auditor) Trace(ctx context.Context, sender settlement.BIC, id string) (Trace, error) {
	return a.trace(ctx, sender, id, true)
}

func (a *Auditor) trace(ctx context.Context, sender settlement.BIC, id string, follow bool) (Trace, error) {
	t := Trace{Payment: string(sender) + "/" + id, OK: true}
	l, found, err := a.Store.Lineage(ctx, sender, id)
	if err != nil {
		return t, err
	}
	lp, onLedger, err := a.Ledger.Payment(ctx, sender, id)
	if err != nil {
		return t, fmt.Errorf("ledger: %w", err)
	}
	if !found {
		check := "not in Postgres"
		if onLedger {
			check = "on the ledger but not in Postgres"
		}
		t.add(Step{Step: "payment", Check: check, Source: "postgres"})
		return t, nil
	}
	e := l.Entry
	t.add(Step{Step: "file", Source: "postgres+archive", Facts: map[string]string{
		"name": l.File.Name, "file_id": l.File.FileID, "sha256": l.FileSHA256, "line": fmt.Sprint(e.Line),
		"signed_with": l.SignatureKey, "sender": string(sender)},
		Check: a.checkFile(ctx, l)})
	t.add(receivedStep(l))
	t.add(paymentCycleStep(l))
	for _, s := range deferralSteps(l.Moves) {
		t.add(s)
	}
	steps, err := a.carriedSteps(ctx, sender, id, l.Carried)
	if err != nil {
		return t, err
	}
	for _, s := range steps {
		t.add(s)
	}

	// The ledger, the authority.
	if !onLedger {
		check := "not on the ledger"
		if l.Stage.Before(settlement.StageRecorded) {
			check = "ok" // not written yet: the cycle has not reached the ledger
		}
		t.add(Step{Step: "ledger", Source: "ledger", Check: check, Facts: map[string]string{"stage": string(l.Stage)}})
	} else if err := a.traceOnLedger(ctx, &t, sender, id, l, lp); err != nil {
		return t, err
	}
	if err := a.traceReversals(ctx, &t, sender, id, l, onLedger, follow); err != nil {
		return t, err
	}
	return t, nil
}

// add records a step; one that is not "ok" makes the whole trace fail.
func (t *Trace) add(s Step) {
	if s.Check != "ok" {
		t.OK = false
	}
	t.Steps = append(t.Steps, s)
}

// receivedStep is when the file of a lineage arrived and was
// acknowledged: the same facts whether a payment or its file is traced.
func receivedStep(l Lineage) Step {
	ack := "not acknowledged"
	if l.File.Acknowledged {
		ack = l.AcknowledgedAt.UTC().Format(time.RFC3339)
	}
	return Step{Step: "received", Source: "postgres", Check: "ok", Facts: map[string]string{
		"received_at": l.File.ReceivedAt.UTC().Format(time.RFC3339), "acknowledged_at": ack, "status": l.File.Status}}
}

// deferralSteps are a file's recorded moves between cycles, one step
// each, oldest first, so an auditor sees why it settled where it did.
func deferralSteps(moves []FileMove) []Step {
	var steps []Step
	for _, m := range moves {
		steps = append(steps, Step{Step: "deferred", Source: "postgres", Check: "ok", Facts: map[string]string{
			"from": settlement.CycleID(m.From), "to": settlement.CycleID(m.To), "reason": m.Reason,
			"by": m.Actor, "at": m.At.UTC().Format(time.RFC3339)}})
	}
	return steps
}

// carriedSteps are the payment's moves by the ledger's gridlock resolution,
// oldest first, each checked against the ledger's own record of the cycle
// it left (when the auditor reads them: Deferrals).
func (a *Auditor) carriedSteps(ctx context.Context, sender settlement.BIC, id string, moves []PaymentMove) ([]Step, error) {
	var steps []Step
	for _, m := range moves {
		st := Step{Step: "deferred", Source: "postgres", Check: "ok", Facts: map[string]string{
			"from": settlement.CycleID(m.From), "to": settlement.CycleID(m.To), "by": "the ledger's gridlock resolution",
			"times": fmt.Sprint(m.Times), "tx_id": m.LedgerTx}}
		if m.Waiting {
			st.Facts["waiting"] = "with its original"
		}
		if a.Deferrals != nil {
			st.Source = "postgres+ledger"
			d, ok, err := a.Deferrals.Deferral(ctx, settlement.CycleID(m.From))
			if err != nil {
				return nil, fmt.Errorf("ledger: %w", err)
			}
			st.Check = carriedCheck(d, ok, sender, id, m)
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// carriedCheck compares one move with the ledger's record of the cycle it
// left.
func carriedCheck(d LedgerDeferral, ok bool, sender settlement.BIC, id string, m PaymentMove) string {
	if !ok {
		return "the ledger holds no deferral record of " + settlement.CycleID(m.From)
	}
	if d.TxID != m.LedgerTx {
		return fmt.Sprintf("the ledger's record was written by tx %s, Postgres says %s", d.TxID, m.LedgerTx)
	}
	for _, e := range d.Deferred {
		if e.Sender == sender && e.ID == id {
			if e.Times != m.Times || e.Waiting != m.Waiting {
				return fmt.Sprintf("the ledger counts %d deferrals (waiting %v), Postgres %d (waiting %v)", e.Times, e.Waiting, m.Times, m.Waiting)
			}
			return "ok"
		}
	}
	return "not in the ledger's deferral record of " + settlement.CycleID(m.From)
}

// paymentCycleStep is the payment as Postgres holds it in its cycle:
// what it moves and where it was settled.
func paymentCycleStep(l Lineage) Step {
	e := l.Entry
	cf := map[string]string{
		"cycle": settlement.CycleID(l.Cycle), "business_date": string(l.Cycle), "stage": string(l.Stage),
		"kind": e.Kind.String(), "debtor": string(e.Debtor), "creditor": string(e.Creditor),
		"amount": settlement.FormatAmount(e.Amount, e.Currency), "currency": e.Currency.Code()}
	if l.DeferredFrom != "" {
		cf["deferred_from"] = settlement.CycleID(l.DeferredFrom)
	}
	// The cycle that finally settled it, once it has (after every
	// deferral of its file, the file's cycle is its last one; after the
	// ledger's resolution deferred it, the cycle of its last move); the
	// ledger step checks the ledger agrees.
	if n := len(l.Carried); n > 0 {
		last := l.Carried[n-1]
		if !last.ToStage.Before(settlement.StageSettled) {
			cf["settled_in"] = settlement.CycleID(last.To)
		} else {
			cf["deferred_to"] = settlement.CycleID(last.To)
		}
	} else if !l.Stage.Before(settlement.StageSettled) {
		cf["settled_in"] = settlement.CycleID(l.Cycle)
	}
	return Step{Step: "cycle", Source: "postgres", Check: "ok", Facts: cf}
}

// traceOnLedger checks a payment the ledger holds: its record against
// Postgres's, the transaction that wrote it and its endorsements, and
// whether the ledger settled its cycle as Postgres says.
func (a *Auditor) traceOnLedger(ctx context.Context, t *Trace, sender settlement.BIC, id string, l Lineage, lp reconciliation.Record) error {
	check := "ok"
	rec := lineageRecord(sender, id, l)
	if diffs := paymentDiffs(rec.Cycle, rec, lp); len(diffs) > 0 {
		check = strings.Join(diffs, "; ")
	}
	t.add(Step{Step: "ledger", Source: "ledger", Check: check, Facts: map[string]string{"tx_id": lp.TxID, "cycle": lp.Cycle}})
	tx, err := a.Ledger.Tx(ctx, lp.TxID)
	if err != nil {
		t.add(Step{Step: "transaction", Source: "ledger", Check: "cannot read transaction: " + err.Error(), Facts: map[string]string{"tx_id": lp.TxID}})
	} else {
		members, err := a.Store.Members(ctx)
		if err != nil {
			return err
		}
		t.add(Step{Step: "transaction", Source: "ledger", Check: endorsementCheck(tx, len(members)), Facts: map[string]string{
			"tx_id": tx.ID, "block": fmt.Sprint(tx.Block), "endorsers": fmt.Sprint(tx.Endorsers), "submitter": tx.Submitter,
			"endorser_signatures": signaturesFact(tx)}})
	}
	lc, ok, err := a.Ledger.Cycle(ctx, lp.Cycle)
	if err != nil {
		return err
	}
	check = "ok"
	if !ok || !lc.Settled() {
		check = "ok (cycle not settled on the ledger yet)"
		if !l.Stage.Before(settlement.StageSettled) {
			check = "Postgres says " + string(l.Stage) + ", the ledger has not settled the cycle"
		}
	}
	t.add(Step{Step: "settlement", Source: "ledger", Check: check, Facts: map[string]string{"cycle": lp.Cycle, "status": lc.Status, "settled_tx": lc.TxID}})
	return nil
}

// lineageRecord is Postgres's payment in the ledger's record shape, so
// the two compare with reconciliation's own rules.
func lineageRecord(sender settlement.BIC, id string, l Lineage) reconciliation.Record {
	e := l.Entry
	return reconciliation.Record{Sender: sender, ID: id, Kind: e.Kind, Debtor: e.Debtor, Creditor: e.Creditor, Amount: e.Amount,
		Currency: e.Currency, FileSHA256: l.FileSHA256, Cycle: settlement.CycleID(l.Cycle), Original: e.Original}
}

// paymentDiffs are the differences reconciliation finds, reconciling
// cycle, between Postgres's record of one payment and the ledger's;
// totals are left out, as one payment's totals differ whenever it does.
func paymentDiffs(cycle string, want, got reconciliation.Record) []string {
	var diffs []string
	reconciliation.Payments(cycle, seqOf(want), seqOf(got), func(b reconciliation.Break) error {
		if b.Kind != reconciliation.TotalsMismatch {
			diffs = append(diffs, b.String())
		}
		return nil
	})
	return diffs
}

// traceReversals compares a payment's reversal link in Postgres with the
// ledger's chain and, when follow is set, traces the linked payment too
// (one level deep: a reversal's original is not followed back again).
func (a *Auditor) traceReversals(ctx context.Context, t *Trace, sender settlement.BIC, id string, l Lineage, onLedger, follow bool) error {
	e := l.Entry
	chain, err := a.Ledger.ReversalChain(ctx, sender, id)
	if err != nil {
		return fmt.Errorf("ledger reversal chain: %w", err)
	}
	var ledgerOther string
	for _, r := range chain {
		if r.ID != id {
			ledgerOther = r.ID
		}
	}
	storeOther := l.ReversedBy
	if e.Kind == settlement.KindReversal {
		storeOther = e.Original
	}
	if storeOther == "" && ledgerOther == "" {
		return nil
	}
	check := "ok"
	if onLedger && storeOther != ledgerOther {
		check = fmt.Sprintf("Postgres links %q, the ledger links %q", storeOther, ledgerOther)
	}
	role := "reversed by"
	if e.Kind == settlement.KindReversal {
		role = "reverses"
	}
	t.add(Step{Step: "reversal chain", Source: "postgres+ledger", Check: check, Facts: map[string]string{role: storeOther, "reason": e.Reason}})
	if !follow || storeOther == "" {
		return nil
	}
	rt, err := a.trace(ctx, sender, storeOther, false)
	if err != nil {
		return err
	}
	t.Related = append(t.Related, rt)
	if !rt.OK {
		t.OK = false
	}
	return nil
}

func seqOf(r reconciliation.Record) func(func(reconciliation.Record, error) bool) {
	return func(yield func(reconciliation.Record, error) bool) { yield(r, nil) }
}

// checkFile re-reads the archived file: its bytes must hash to the
// recorded sha256 and its signature must verify with the key recorded.
func (a *Auditor) checkFile(ctx context.Context, l Lineage) string {
	res, err := a.recheck(ctx, l.Sender, l.File.Name, l.FileSHA256, l.File.ReceivedAt)
	if err != nil {
		return err.Error()
	}
	if !res.Accepted() {
		return fmt.Sprintf("the archived file no longer passes: %s %s", res.Problems[0].Code, res.Problems[0].Message)
	}
	if res.KeyLabel != l.SignatureKey {
		return fmt.Sprintf("signature verifies with key %q, Postgres recorded %q", res.KeyLabel, l.SignatureKey)
	}
	return "ok"
}

// recheck runs the intake's checks again on the archived bytes.
func (a *Auditor) recheck(ctx context.Context, bank settlement.BIC, name, sum string, received time.Time) (*intake.Result, error) {
	sigSum, ok, err := a.Archive.Find(string(bank), name+".sig")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("the signature of %s is not in the archive", name)
	}
	sr, err := a.Archive.Open(sigSum)
	if err != nil {
		return nil, err
	}
	sig, err := io.ReadAll(io.LimitReader(sr, signature.SigBytesMax+1))
	sr.Close()
	if err != nil {
		return nil, err
	}
	keys, err := a.Store.SigningKeys(ctx, bank, received)
	if err != nil {
		return nil, err
	}
	ring := signature.Ring{}
	for _, k := range keys {
		ring.Add(k)
	}
	fr, err := a.Archive.Open(sum)
	if err != nil {
		return nil, fmt.Errorf("archived file %s: %w", sum, err)
	}
	defer fr.Close()
	res, err := intake.Check(name, fr, intake.Sig{Present: true, Bytes: sig}, intake.Options{Keys: ring, Uploader: bank})
	if err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(res.SHA256[:]); got != sum {
		return nil, fmt.Errorf("archived bytes hash to %s, recorded %s", got, sum)
	}
	return res, nil
}

// VerifyReport is what re-verifying a cycle from its archived files found.
type VerifyReport struct {
	Cycle   string `json:"cycle"`
	Files   int    `json:"files"`
	Entries int64  `json:"entries"`
	// Deferred and CarriedIn are the entries the ledger's gridlock
	// resolution took out of the re-netted files and brought in from the
	// cycle before; the positions compared are of what settled.
	Deferred  int                    `json:"deferred"`
	CarriedIn int                    `json:"carried_in"`
	Problems  []string               `json:"problems"`
	Breaks    []reconciliation.Break `json:"breaks"`
	Positions []settlement.Position  `json:"positions"`
}

// OK tells whether nothing differs.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 && len(r.Breaks) == 0 }

// Verify re-verifies every accepted file of a cycle from the archive
// (signature, format, rules), re-nets the cycle from those bytes, and
// compares the positions with Postgres and with the ledger.
func (a *Auditor) Verify(ctx context.Context, date settlement.Date) (*VerifyReport, error) {
	rep := &VerifyReport{Cycle: settlement.CycleID(date), Problems: []string{}, Breaks: []reconciliation.Break{}}
	files, err := a.Store.CycleFiles(ctx, date)
	if err != nil {
		return nil, err
	}
	var n settlement.Netting
	for _, f := range files {
		res, err := a.recheck(ctx, f.Sender, f.Name, f.SHA256, f.ReceivedAt)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s/%s: %v", f.Sender, f.Name, err))
			continue
		}
		rep.Files++
		rep.Entries += res.Entries
		if !res.Accepted() {
			p := res.Problems[0]
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s/%s: no longer accepted: line %d %s %s", f.Sender, f.Name, p.Line, p.Code, p.Message))
			continue
		}
		if res.Entries != f.Entries {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s/%s: %d entries in the archive, %d recorded", f.Sender, f.Name, res.Entries, f.Entries))
		}
		if res.KeyLabel != f.SignatureKey {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s/%s: verified with key %q, recorded %q", f.Sender, f.Name, res.KeyLabel, f.SignatureKey))
		}
		if err := n.Merge(res.Netting()); err != nil {
			return nil, err
		}
	}
	net, err := n.Result()
	if err != nil {
		return nil, err
	}
	rep.Positions = net.Positions
	stored, err := a.Store.Positions(ctx, date)
	if err != nil {
		return nil, err
	}
	lc, _, err := a.Ledger.Cycle(ctx, rep.Cycle)
	if err != nil {
		return nil, err
	}
	re, deferred, carried, problems, err := ledgerSplit(ctx, a.Deferrals, rep.Cycle, net.Positions)
	if err != nil {
		return nil, err
	}
	rep.Deferred, rep.CarriedIn = deferred, carried
	rep.Problems = append(rep.Problems, problems...)
	for _, b := range reconciliation.Positions(rep.Cycle, re, toNet(stored)) {
		b.Field = "net (archive vs postgres)"
		b.Store, b.Ledger = "archive "+b.Store, "postgres "+b.Ledger
		rep.Breaks = append(rep.Breaks, b)
	}
	for _, b := range reconciliation.Positions(rep.Cycle, re, lc.Positions) {
		b.Field = "net (archive vs ledger)"
		b.Store, b.Ledger = "archive "+b.Store, "ledger "+b.Ledger
		rep.Breaks = append(rep.Breaks, b)
	}
	return rep, nil
}

func toNet(ps []settlement.Position) []reconciliation.NetPosition {
	out := make([]reconciliation.NetPosition, len(ps))
	for i, p := range ps {
		out[i] = reconciliation.NetPosition{Bank: p.Bank, Currency: p.Currency, Net: p.Net}
	}
	return out
}

// endorsementCheck is a ledger transaction's endorsement as an auditor
// checks it: endorsed by a majority of the members, and (when the ledger
// read the signatures) every endorser's signature verified.
func endorsementCheck(tx LedgerTx, members int) string {
	if need := members/2 + 1; len(tx.Endorsers) < need {
		return fmt.Sprintf("endorsed by %d organisations, a majority of %d members is %d", len(tx.Endorsers), members, need)
	}
	if len(tx.BadSignatures) > 0 {
		return fmt.Sprintf("the endorsement signature of %v does not verify", tx.BadSignatures)
	}
	return "ok"
}

// signaturesFact says what was checked of the endorsers' signatures.
func signaturesFact(tx LedgerTx) string {
	switch {
	case !tx.SignaturesChecked:
		return "not checked (this ledger keeps no signatures)"
	case len(tx.BadSignatures) > 0:
		return fmt.Sprintf("%v do not verify", tx.BadSignatures)
	}
	return fmt.Sprintf("each of %d verified with its certificate", len(tx.Endorsers))
}
