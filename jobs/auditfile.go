package jobs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

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
	add := func(s Step) {
		if s.Check != "ok" {
			t.OK = false
		}
		t.Steps = append(t.Steps, s)
	}
	if a.Files == nil {
		return t, errors.New("audit: no file store")
	}
	l, found, err := a.Files.FileLineage(ctx, sender, fileID)
	if err != nil {
		return t, err
	}
	if !found {
		add(Step{Step: "file", Source: "postgres", Check: "no accepted file " + fileID + " from " + string(sender) + " in Postgres"})
		return t, nil
	}
	add(Step{Step: "file", Source: "postgres+archive", Facts: map[string]string{
		"name": l.File.Name, "file_id": fileID, "sha256": l.FileSHA256, "signed_with": l.SignatureKey, "sender": string(sender),
		"entries": fmt.Sprint(l.File.Entries), "control_sum": l.File.ControlSum},
		Check: a.checkFile(ctx, l)})
	ack := "not acknowledged"
	if l.File.Acknowledged {
		ack = l.AcknowledgedAt.UTC().Format(time.RFC3339)
	}
	add(Step{Step: "received", Source: "postgres", Check: "ok", Facts: map[string]string{
		"received_at": l.File.ReceivedAt.UTC().Format(time.RFC3339), "acknowledged_at": ack, "status": l.File.Status}})
	cf := map[string]string{"cycle": settlement.CycleID(l.Cycle), "business_date": string(l.Cycle), "stage": string(l.Stage)}
	if l.DeferredFrom != "" {
		cf["deferred_from"] = settlement.CycleID(l.DeferredFrom)
	}
	add(Step{Step: "cycle", Source: "postgres", Check: "ok", Facts: cf})
	for _, m := range l.Moves {
		add(Step{Step: "deferred", Source: "postgres", Check: "ok", Facts: map[string]string{
			"from": settlement.CycleID(m.From), "to": settlement.CycleID(m.To), "reason": m.Reason,
			"by": m.Actor, "at": m.At.UTC().Format(time.RFC3339)}})
	}

	ps, err := a.Files.FilePayments(ctx, l.File.FileRow, filePaymentsTraced)
	if err != nil {
		return t, err
	}
	if n := l.File.Entries - int64(len(ps)); n > 0 {
		t.More = n
	}
	onLedger := !l.Stage.Before(settlement.StageRecorded)
	txs := map[string]bool{}
	missing := 0
	for i := range ps {
		p := &ps[i]
		p.Check = "ok"
		lp, ok, err := a.Ledger.Payment(ctx, sender, p.ID)
		if err != nil {
			return t, fmt.Errorf("ledger: %w", err)
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
	add(Step{Step: "ledger", Source: "ledger", Check: check, Facts: map[string]string{
		"payments_traced": fmt.Sprint(len(ps)), "transactions": fmt.Sprint(len(txs))}})
	ids := make([]string, 0, len(txs))
	for id := range txs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	members, err := a.Store.Members(ctx)
	if err != nil {
		return t, err
	}
	for _, id := range ids {
		tx, err := a.Ledger.Tx(ctx, id)
		if err != nil {
			add(Step{Step: "transaction", Source: "ledger", Check: "cannot read transaction: " + err.Error(), Facts: map[string]string{"tx_id": id}})
			continue
		}
		if c := endorsementCheck(tx, len(members)); c != "ok" {
			add(Step{Step: "transaction", Source: "ledger", Check: c, Facts: map[string]string{"tx_id": id, "endorsers": fmt.Sprint(tx.Endorsers)}})
		}
		t.Txs = append(t.Txs, tx)
	}
	sort.Slice(t.Txs, func(i, j int) bool {
		return t.Txs[i].Block < t.Txs[j].Block || t.Txs[i].Block == t.Txs[j].Block && t.Txs[i].ID < t.Txs[j].ID
	})
	return t, nil
}
