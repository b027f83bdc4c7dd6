package fabric

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// paymentJSON is a payment as the chaincode takes and returns it.
type paymentJSON struct {
	Sender     string `json:"sender"`
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Debtor     string `json:"debtor"`
	Creditor   string `json:"creditor"`
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	FileSHA256 string `json:"fileSha256"`
	CycleID    string `json:"cycleId,omitempty"`
	ChunkID    string `json:"chunkId,omitempty"`
	OriginalID string `json:"originalId,omitempty"`
	TxID       string `json:"txId,omitempty"`
}

type positionJSON struct {
	Bank     string `json:"bank"`
	Currency string `json:"currency"`
	Net      string `json:"net"`
}

// RecordChunk records one chunk. An identical chunk already on the ledger
// is answered with the transaction that recorded it (Existing); other
// content under the same id is refused (CHUNK_CONFLICT).
func (c *Client) RecordChunk(ctx context.Context, ch jobs.Chunk) (jobs.LedgerTx, error) {
	if len(ch.Entries) == 0 {
		return jobs.LedgerTx{}, fmt.Errorf("chunk %s/%s is empty", ch.Cycle, ch.ID)
	}
	pays := make([]paymentJSON, len(ch.Entries))
	for i, e := range ch.Entries {
		pays[i] = paymentJSON{
			Sender: string(e.Sender), ID: e.Entry.ID, Kind: string(rune(e.Entry.Kind)),
			Debtor: string(e.Entry.Debtor), Creditor: string(e.Entry.Creditor),
			Amount:   settlement.FormatAmount(e.Entry.Amount, e.Entry.Currency),
			Currency: e.Entry.Currency.Code(), FileSHA256: e.FileSHA256,
		}
		if e.Entry.Kind == settlement.KindReversal {
			pays[i].OriginalID = e.Entry.Original
		}
	}
	raw, err := json.Marshal(pays)
	if err != nil {
		return jobs.LedgerTx{}, err
	}
	_, tx, err := c.Submit(ctx, alreadyDone("status", "already_recorded"), "RecordChunk", ch.Cycle, ch.ID, string(raw))
	if err != nil {
		return jobs.LedgerTx{}, fmt.Errorf("record chunk %s/%s: %w", ch.Cycle, ch.ID, err)
	}
	return tx, nil
}

// alreadyDone recognises the chaincode's "nothing written, here is the
// transaction that wrote it" answer: field == value, and its txId.
func alreadyDone(field, value string) func([]byte) (string, bool) {
	return func(payload []byte) (string, bool) {
		var m map[string]any
		if json.Unmarshal(payload, &m) != nil {
			return "", false
		}
		if m[field] != value {
			return "", false
		}
		id, _ := m["txId"].(string)
		return id, id != ""
	}
}

// SettleCycle settles a cycle on the positions the system computed.
func (c *Client) SettleCycle(ctx context.Context, cycle string, positions []settlement.Position) (jobs.LedgerTx, error) {
	list := make([]positionJSON, 0, len(positions))
	for _, p := range positions {
		list = append(list, positionJSON{Bank: string(p.Bank), Currency: p.Currency.Code(), Net: settlement.FormatAmount(p.Net, p.Currency)})
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return jobs.LedgerTx{}, err
	}
	_, tx, err := c.Submit(ctx, alreadyDone("outcome", "already_settled"), "SettleCycle", cycle, string(raw))
	if err != nil {
		return jobs.LedgerTx{}, fmt.Errorf("settle cycle %s: %w", cycle, err)
	}
	return tx, nil
}

type cycleJSON struct {
	CycleID   string         `json:"cycleId"`
	Status    string         `json:"status"`
	Positions []positionJSON `json:"positions"`
	Chunks    []struct {
		ChunkID string `json:"chunkId"`
		Count   int    `json:"count"`
		TxID    string `json:"txId"`
	} `json:"chunks"`
	Payments        int    `json:"payments"`
	SettledTxID     string `json:"settledTxId"`
	PositionsSHA256 string `json:"positionsSha256"`
}

// Cycle is the ledger's view of a cycle.
// Registered tells whether bic is in the ledger's bank registry. It
// implements jobs.BankRegistry.
func (c *Client) Registered(ctx context.Context, bic settlement.BIC) (bool, error) {
	_, err := c.Evaluate(ctx, "GetBank", string(bic))
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("bank %s: %w", bic, err)
	}
	return true, nil
}

func (c *Client) Cycle(ctx context.Context, cycle string) (jobs.LedgerCycle, bool, error) {
	raw, err := c.Evaluate(ctx, "GetCycle", cycle)
	if IsNotFound(err) {
		return jobs.LedgerCycle{}, false, nil
	}
	if err != nil {
		return jobs.LedgerCycle{}, false, fmt.Errorf("cycle %s: %w", cycle, err)
	}
	var v cycleJSON
	if err := json.Unmarshal(raw, &v); err != nil {
		return jobs.LedgerCycle{}, false, fmt.Errorf("cycle %s: ledger answered %w", cycle, err)
	}
	out := jobs.LedgerCycle{ID: v.CycleID, Status: v.Status, Chunks: len(v.Chunks), Payments: v.Payments, TxID: v.SettledTxID, PositionsSHA256: v.PositionsSHA256}
	for _, p := range v.Positions {
		np, err := netPosition(p)
		if err != nil {
			return jobs.LedgerCycle{}, false, fmt.Errorf("cycle %s: %w", cycle, err)
		}
		out.Positions = append(out.Positions, np)
	}
	return out, true, nil
}

func netPosition(p positionJSON) (reconciliation.NetPosition, error) {
	bic, err := settlement.ParseBIC(p.Bank)
	if err != nil {
		return reconciliation.NetPosition{}, err
	}
	cur, err := settlement.ParseCurrency(p.Currency)
	if err != nil {
		return reconciliation.NetPosition{}, err
	}
	net, err := decimal.NewFromString(p.Net)
	if err != nil {
		return reconciliation.NetPosition{}, fmt.Errorf("position %s %s net %q: %w", p.Bank, p.Currency, p.Net, err)
	}
	return reconciliation.NetPosition{Bank: bic, Currency: cur, Net: net}, nil
}

// record converts the chaincode's payment to the reconciliation's record.
func (p *paymentJSON) record() (reconciliation.Record, error) {
	var r reconciliation.Record
	var err error
	bad := func(field string, err error) (reconciliation.Record, error) {
		return reconciliation.Record{}, fmt.Errorf("ledger payment %s/%s: %s: %w", p.Sender, p.ID, field, err)
	}
	if r.Sender, err = settlement.ParseBIC(p.Sender); err != nil {
		return bad("sender", err)
	}
	if r.Debtor, err = settlement.ParseBIC(p.Debtor); err != nil {
		return bad("debtor", err)
	}
	if r.Creditor, err = settlement.ParseBIC(p.Creditor); err != nil {
		return bad("creditor", err)
	}
	if r.Currency, err = settlement.ParseCurrency(p.Currency); err != nil {
		return bad("currency", err)
	}
	if r.Amount, err = decimal.NewFromString(p.Amount); err != nil {
		return bad("amount", err)
	}
	switch p.Kind {
	case "P":
		r.Kind = settlement.KindPayment
	case "R":
		r.Kind = settlement.KindReversal
	default:
		return bad("kind", fmt.Errorf("%q", p.Kind))
	}
	r.ID, r.FileSHA256, r.Cycle, r.Original, r.TxID = p.ID, p.FileSHA256, p.CycleID, p.OriginalID, p.TxID
	return r, nil
}

// Payment is one recorded payment with the transaction that recorded it.
func (c *Client) Payment(ctx context.Context, sender settlement.BIC, id string) (reconciliation.Record, bool, error) {
	raw, err := c.Evaluate(ctx, "GetPayment", string(sender), id)
	if IsNotFound(err) {
		return reconciliation.Record{}, false, nil
	}
	if err != nil {
		return reconciliation.Record{}, false, fmt.Errorf("payment %s/%s: %w", sender, id, err)
	}
	var p paymentJSON
	if err := json.Unmarshal(raw, &p); err != nil {
		return reconciliation.Record{}, false, fmt.Errorf("payment %s/%s: %w", sender, id, err)
	}
	r, err := p.record()
	return r, err == nil, err
}

// ReversalChain is the original payment and, if it was reversed, the
// reversal, starting from either end.
func (c *Client) ReversalChain(ctx context.Context, sender settlement.BIC, id string) ([]reconciliation.Record, error) {
	raw, err := c.Evaluate(ctx, "GetReversalChain", string(sender), id)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reversal chain %s/%s: %w", sender, id, err)
	}
	var v struct {
		Original *paymentJSON `json:"original"`
		Reversal *paymentJSON `json:"reversal"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("reversal chain %s/%s: %w", sender, id, err)
	}
	var out []reconciliation.Record
	for _, p := range []*paymentJSON{v.Original, v.Reversal} {
		if p == nil {
			continue
		}
		r, err := p.record()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// CyclePayments streams a cycle's payments in (sender, payment id) byte
// order. A declared cycle's are read a file at a time (GetFilePayments: the
// ledger parses each verified file's stored bytes) and sorted here; a
// legacy cycle's a page of pageSize at a time (GetCyclePayments, whose
// index keys sort that way). It stops at the first error, which it yields.
func (c *Client) CyclePayments(ctx context.Context, cycle string) iter.Seq2[reconciliation.Record, error] {
	return func(yield func(reconciliation.Record, error) bool) {
		var d Declaration
		declared := false
		var err error
		if governedCycleRe.MatchString(cycle) {
			d, declared, err = c.Declared(ctx, cycle)
		}
		if err != nil {
			yield(reconciliation.Record{}, fmt.Errorf("payments of cycle %s: %w", cycle, err))
			return
		}
		if !declared {
			c.legacyCyclePayments(ctx, cycle, yield)
			return
		}
		recs, err := c.declaredPayments(ctx, d)
		if err != nil {
			yield(reconciliation.Record{}, fmt.Errorf("payments of cycle %s: %w", cycle, err))
			return
		}
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// governedCycleRe is the chaincode's governed cycle id: only such a cycle can
// be declared.
var governedCycleRe = regexp.MustCompile(`^C[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// declaredPayments reads the indexed payments of a declared cycle's verified
// files, sorted by (sender, id). The files are read filesReadAtOnce at a
// time: each read makes a peer parse a file, which is most of what a
// cycle's ledger side costs.
func (c *Client) declaredPayments(ctx context.Context, d Declaration) ([]reconciliation.Record, error) {
	var files []FileStatus
	for _, f := range d.Status {
		if f.Status == "verified" {
			files = append(files, f)
		}
	}
	byFile := make([][]reconciliation.Record, len(files))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(filesReadAtOnce, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				recs, err := c.filePayments(ctx, d.CycleID, files[i])
				if err != nil {
					cancel(err)
					continue
				}
				byFile[i] = recs
			}
		}()
	}
	for i := range files {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		return nil, err
	}
	var recs []reconciliation.Record
	for _, r := range byFile {
		recs = append(recs, r...)
	}
	slices.SortFunc(recs, func(a, b reconciliation.Record) int {
		return cmp.Or(cmp.Compare(a.Sender, b.Sender), cmp.Compare(a.ID, b.ID))
	})
	for i := 1; i < len(recs); i++ {
		if recs[i].Sender == recs[i-1].Sender && recs[i].ID == recs[i-1].ID {
			return nil, fmt.Errorf("the ledger holds payment %s/%s twice", recs[i].Sender, recs[i].ID)
		}
	}
	return recs, nil
}

// filesReadAtOnce bounds the files declaredPayments reads at once.
const filesReadAtOnce = 4

// filePayments is one verified file's indexed payments (GetFilePayments).
func (c *Client) filePayments(ctx context.Context, cycle string, f FileStatus) ([]reconciliation.Record, error) {
	raw, err := c.Evaluate(ctx, "GetFilePayments", cycle, string(f.Sender), f.FileID)
	if err != nil {
		return nil, fmt.Errorf("file %s/%s: %w", f.Sender, f.FileID, err)
	}
	var page struct {
		Payments []paymentJSON `json:"payments"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, fmt.Errorf("file %s/%s: %w", f.Sender, f.FileID, err)
	}
	recs := make([]reconciliation.Record, 0, len(page.Payments))
	for i := range page.Payments {
		r, err := page.Payments[i].record()
		if err != nil {
			return nil, fmt.Errorf("file %s/%s: %w", f.Sender, f.FileID, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// legacyCyclePayments pages through a legacy cycle's payments.
func (c *Client) legacyCyclePayments(ctx context.Context, cycle string, yield func(reconciliation.Record, error) bool) {
	bookmark := ""
	var last *reconciliation.Record
	for {
		raw, err := c.Evaluate(ctx, "GetCyclePayments", cycle, bookmark, strconv.Itoa(pageSize))
		if err != nil {
			yield(reconciliation.Record{}, fmt.Errorf("payments of cycle %s: %w", cycle, err))
			return
		}
		var page struct {
			Payments []paymentJSON `json:"payments"`
			Bookmark string        `json:"bookmark"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			yield(reconciliation.Record{}, fmt.Errorf("payments of cycle %s: %w", cycle, err))
			return
		}
		for i := range page.Payments {
			r, err := page.Payments[i].record()
			if err == nil && last != nil && !(last.Sender < r.Sender || last.Sender == r.Sender && last.ID < r.ID) {
				err = fmt.Errorf("ledger answered %s/%s after %s/%s: not in (sender, id) order", r.Sender, r.ID, last.Sender, last.ID)
			}
			if !yield(r, err) || err != nil {
				return
			}
			last = &r
		}
		if len(page.Payments) < pageSize || page.Bookmark == "" || page.Bookmark == bookmark {
			return
		}
		bookmark = page.Bookmark
	}
}

// RegisterBank registers a BIC under an organisation's MSP. Registering
// the same pair again answers the first registration (Existing).
func (c *Client) RegisterBank(ctx context.Context, bic settlement.BIC, mspID string) (jobs.LedgerTx, error) {
	_, tx, err := c.Submit(ctx, alreadyDone("status", "already_registered"), "RegisterBank", string(bic), mspID)
	if err != nil {
		return jobs.LedgerTx{}, fmt.Errorf("register bank %s: %w", bic, err)
	}
	return tx, nil
}

// SetCap sets a bank's net debit cap in a currency. The same cap already
// on the ledger is answered with the transaction that set it (Existing).
func (c *Client) SetCap(ctx context.Context, cp settlement.Cap) (jobs.LedgerTx, error) {
	amount := settlement.FormatAmount(cp.Amount, cp.Currency)
	raw, err := c.Evaluate(ctx, "GetCap", string(cp.Bank), cp.Currency.Code())
	switch {
	case err == nil:
		var cur struct {
			Cap  string `json:"cap"`
			TxID string `json:"txId"`
		}
		if json.Unmarshal(raw, &cur) == nil && cur.Cap == amount && cur.TxID != "" {
			if t, err := c.Tx(ctx, cur.TxID); err == nil {
				return t, nil
			}
			return jobs.LedgerTx{ID: cur.TxID, Existing: true}, nil
		}
	case IsNotFound(err):
	default:
		return jobs.LedgerTx{}, fmt.Errorf("cap of %s in %s: %w", cp.Bank, cp.Currency, err)
	}
	_, tx, err := c.Submit(ctx, nil, "SetCap", string(cp.Bank), cp.Currency.Code(), amount)
	if err != nil {
		return jobs.LedgerTx{}, fmt.Errorf("set cap of %s in %s: %w", cp.Bank, cp.Currency, err)
	}
	return tx, nil
}

// Ping commits the chaincode's no-op transaction (one key), endorsed by a
// majority: a health check and the benchmark's baseline.
func (c *Client) Ping(ctx context.Context) (jobs.LedgerTx, error) {
	_, tx, err := c.Submit(ctx, nil, "Ping")
	if err != nil {
		return jobs.LedgerTx{}, fmt.Errorf("ping: %w", err)
	}
	return tx, nil
}
