package jobs

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// DeferredEntry is a payment or reversal of a file that a cycle deferred
// to a later one, as the store lists it.
type DeferredEntry struct {
	Sender           settlement.BIC
	File, FileID     string
	Line             int
	ID               string
	Kind             settlement.Kind
	Debtor, Creditor settlement.BIC
	Amount           decimal.Decimal
	Currency         settlement.Currency
	To               settlement.Date // the cycle it moved to
}

// DeferredPayment is one line of a bank's JSON report's deferred list
// (payment-files.md, "After settlement": "the deferred payments listed
// under deferred"): one of the bank's own payments or reversals that did
// not settle in the cycle, with the cycle it moved to. Amounts are
// strings with the currency's minor-unit digits, as everywhere in JSON.
type DeferredPayment struct {
	PaymentID string `json:"payment_id"`
	Kind      string `json:"kind"` // "payment" or "reversal"
	File      string `json:"file"`
	FileID    string `json:"file_id"`
	Line      int    `json:"line"`
	Debtor    string `json:"debtor"`
	Creditor  string `json:"creditor"`
	Amount    string `json:"amount"`
	Currency  string `json:"currency"`
	ToCycle   string `json:"to_cycle"`
}

// deferredListedMax bounds the deferred list of one bank's report, which
// the outbox takes whole (a file of 500,000 payments may be deferred);
// deferred_count always gives the whole number, and the bank's pacs.002
// confirmation of each deferred file says PDNG for all of it.
const deferredListedMax = 50_000

// deferredByBank reads the entries a cycle deferred and keeps, for each
// sender, at most deferredListedMax of them (in file and line order) and
// the count of all. A bank sees only its own: the payee of a deferred
// payment is not told of another bank's file.
func (p *Pipeline) deferredByBank(ctx context.Context, date settlement.Date) (map[settlement.BIC][]DeferredPayment, map[settlement.BIC]int, error) {
	lists, counts := map[settlement.BIC][]DeferredPayment{}, map[settlement.BIC]int{}
	if p.After == nil || p.After.Files == nil {
		return lists, counts, nil
	}
	for e, err := range p.After.Files.DeferredEntries(ctx, date) {
		if err != nil {
			return nil, nil, fmt.Errorf("deferred entries: %w", err)
		}
		if e.To <= date { // the store's query promises a later cycle; relied upon here
			return nil, nil, fmt.Errorf("entry %s/%s listed as deferred from %s to %s, not a later cycle", e.Sender, e.ID, date, e.To)
		}
		counts[e.Sender]++
		if len(lists[e.Sender]) >= deferredListedMax {
			continue
		}
		kind := "payment"
		if e.Kind == settlement.KindReversal {
			kind = "reversal"
		}
		amount, err := settlement.FormatAmountExact(e.Amount, e.Currency)
		if err != nil {
			return nil, nil, fmt.Errorf("deferred entry %s/%s: %w", e.Sender, e.ID, err)
		}
		lists[e.Sender] = append(lists[e.Sender], DeferredPayment{PaymentID: e.ID, Kind: kind, File: e.File, FileID: e.FileID, Line: e.Line,
			Debtor: string(e.Debtor), Creditor: string(e.Creditor), Amount: amount, Currency: e.Currency.Code(), ToCycle: settlement.CycleID(e.To)})
	}
	return lists, counts, nil
}
