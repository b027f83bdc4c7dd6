package jobs

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"settle/settlement"
)

// AuditFiles is what tracing a bank's file reads from Postgres: the file
// with its cycle and deferrals, and its payments in line order.
type AuditFiles interface {
	// FileLineage is a file as recorded (Entry unset); ok false if the
	// bank sent no accepted file with that id.
	FileLineage(ctx context.Context, sender settlement.BIC, fileID string) (l Lineage, ok bool, err error)
	// FilePayments are the file's first limit payments by line, each with
	// the id of its reversal, if any.
	FilePayments(ctx context.Context, fileRow int64, limit int) ([]FilePayment, error)
}

// FilePayment is one payment of a file as Postgres recorded it, with the
// ledger's word on it once traced.
type FilePayment struct {
	Line       int    `json:"line"`
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Creditor   string `json:"creditor"`
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	Reverses   string `json:"reverses,omitempty"`    // a reversal's original
	ReversedBy string `json:"reversed_by,omitempty"` // the reversal of a payment
	TxID       string `json:"tx_id,omitempty"`       // the ledger transaction that recorded it
	Check      string `json:"check"`
}

// FileTrace is a bank's file traced forward: the file and its checks,
// its payments with the ledger transactions that recorded them, and those
// transactions as the ledger holds them.
type FileTrace struct {
	File     string        `json:"file"` // SENDER/FILE-ID
	OK       bool          `json:"ok"`
	Steps    []Step        `json:"steps"`
	Payments []FilePayment `json:"payments"`
	More     int64         `json:"more,omitempty"` // payments not traced (beyond filePaymentsTraced)
	Txs      []LedgerTx    `json:"txs"`
}

// filePaymentsTraced bounds the payments of one file traced on the
// ledger (one ledger query each).
const filePaymentsTraced = 200

// TraceFile follows a bank's file forward: the archived bytes checked
// against the recorded hash and signing key, its cycle and deferrals, each
// payment (the first filePaymentsTraced) found on the ledger and compared
// with Postgres's, its reversal link, and every ledger transaction that
// carries them with its block, submitter and endorsers read from the
// ledger. TraceTx goes back from any of those transactions.
func (a *Auditor) TraceFile(ctx context.Context, sender settlement.BIC, fileID string) (FileTrace, error) {
	t := FileTrace{File: string(sender) + "/" + fileID, OK: true}
	if a.Files == nil {
		return t, errors.New("audit: no file store")
	}
	l, found, err := a.Files.FileLineage(ctx, sender, fileID)
	if err != nil {
		return t, err
	}
	if !found {
		t.add(Step{Step: "file", Source: "postgres", Check: "no accepted file " + fileID + " from " + string(sender) + " in Postgres"})
		return t, nil
	}
	t.add(Step{Step: "file", Source: "postgres+archive", Facts: map[string]string{
		"name": l.File.Name, "file_id": fileID, "sha256": l.FileSHA256, "signed_with": l.SignatureKey, "sender": string(sender),
		"entries": fmt.Sprint(l.File.Entries), "control_sum": l.File.ControlSum},
		Check: a.checkFile(ctx, l)})
	t.add(receivedStep(l))
	cf := map[string]string{"cycle": settlement.CycleID(l.Cycle), "business_date": string(l.Cycle), "stage": string(l.Stage)}
	if l.DeferredFrom != "" {
		cf["deferred_from"] = settlement.CycleID(l.DeferredFrom)
	}
	t.add(Step{Step: "cycle", Source: "postgres", Check: "ok", Facts: cf})
	for _, s := range deferralSteps(l.Moves) {
		t.add(s)
	}

	ps, err := a.Files.FilePayments(ctx, l.File.FileRow, filePaymentsTraced)
	if err != nil {
		return t, err
	}
	if n := l.File.Entries - int64(len(ps)); n > 0 {
		t.More = n
	}
	txs, err := a.traceFilePayments(ctx, &t, sender, l, ps)
	if err != nil {
		return t, err
	}
	if err := a.traceFileTxs(ctx, &t, txs); err != nil {
		return t, err
	}
	return t, nil
}

// add records a step; one that is not "ok" makes the whole trace fail.
func (t *FileTrace) add(s Step) {
	if s.Check != "ok" {
		t.OK = false
	}
	t.Steps = append(t.Steps, s)
}

// traceFilePayments finds each of the file's payments ps on the ledger
// and compares it with Postgres's, setting each one's check and the
// trace's payments; txs are the ledger transactions that carry them.
func (a *Auditor) traceFilePayments(ctx context.Context, t *FileTrace, sender settlement.BIC, l Lineage, ps []FilePayment) (txs map[string]bool, err error) {
	onLedger := !l.Stage.Before(settlement.StageRecorded)
	txs = map[string]bool{}
	missing := 0
	for i := range ps {
		p := &ps[i]
		p.Check = "ok"
		lp, ok, err := a.Ledger.Payment(ctx, sender, p.ID)
		if err != nil {
			return txs, fmt.Errorf("ledger: %w", err)
		}
		switch {
		case !ok && onLedger:
			p.Check, t.OK = "not on the ledger", false
			missing++
		case !ok:
			p.Check = "ok (not on the ledger yet: the cycle is " + string(l.Stage) + ")"
		default:
			p.TxID = lp.TxID
			txs[lp.TxID] = true
			if got := settlement.FormatAmount(lp.Amount, lp.Currency); got != p.Amount || lp.Currency.Code() != p.Currency ||
				string(lp.Creditor) != p.Creditor || lp.Original != p.Reverses || lp.FileSHA256 != "" && lp.FileSHA256 != l.FileSHA256 {
				p.Check = fmt.Sprintf("the ledger has %s %s to %s (file %s), Postgres %s %s to %s", got, lp.Currency.Code(), lp.Creditor,
					lp.FileSHA256, p.Amount, p.Currency, p.Creditor)
				t.OK = false
			}
		}
	}
	t.Payments = ps
	check := "ok"
	if missing > 0 {
		check = fmt.Sprintf("%d of %d payments traced are not on the ledger", missing, len(ps))
	}
	t.add(Step{Step: "ledger", Source: "ledger", Check: check, Facts: map[string]string{
		"payments_traced": fmt.Sprint(len(ps)), "transactions": fmt.Sprint(len(txs))}})
	return txs, nil
}

// traceFileTxs reads each transaction that carries the file's payments
// from the ledger, in id order, adding a step for any that cannot be read
// or whose endorsements fall short, and lists them by block.
func (a *Auditor) traceFileTxs(ctx context.Context, t *FileTrace, txs map[string]bool) error {
	ids := make([]string, 0, len(txs))
	for id := range txs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	members, err := a.Store.Members(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		tx, err := a.Ledger.Tx(ctx, id)
		if err != nil {
			t.add(Step{Step: "transaction", Source: "ledger", Check: "cannot read transaction: " + err.Error(), Facts: map[string]string{"tx_id": id}})
			continue
		}
		if c := endorsementCheck(tx, len(members)); c != "ok" {
			t.add(Step{Step: "transaction", Source: "ledger", Check: c, Facts: map[string]string{"tx_id": id, "endorsers": fmt.Sprint(tx.Endorsers)}})
		}
		t.Txs = append(t.Txs, tx)
	}
	sort.Slice(t.Txs, func(i, j int) bool {
		return t.Txs[i].Block < t.Txs[j].Block || t.Txs[i].Block == t.Txs[j].Block && t.Txs[i].ID < t.Txs[j].ID
	})
	return nil
}
