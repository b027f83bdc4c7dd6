package fabric

import (
	"context"
	"encoding/json"
	"fmt"

	"settle/jobs"
	"settle/settlement"
)

// ResolveCycle is the operator settling a held cycle with the ledger's
// gridlock resolution in one step (ResolveCycle): the ledger computes what
// settles and what is deferred; the answer is the chaincode's SettleResult.
func (c *Client) ResolveCycle(ctx context.Context, cycle string) ([]byte, jobs.LedgerTx, error) {
	payload, tx, err := c.Submit(ctx, alreadyDone("outcome", "already_settled"), "ResolveCycle", cycle)
	if err != nil {
		return nil, jobs.LedgerTx{}, fmt.Errorf("resolve cycle %s: %w", cycle, err)
	}
	return payload, tx, nil
}

// ResolveDryRun is what the ledger's resolution of cycle would settle and
// defer, bank by bank, without writing anything (an evaluation).
func (c *Client) ResolveDryRun(ctx context.Context, cycle string) ([]byte, error) {
	out, err := c.Evaluate(ctx, "ResolveCycle", cycle, "dry-run")
	if err != nil {
		return nil, fmt.Errorf("resolve cycle %s (dry run): %w", cycle, err)
	}
	return out, nil
}

// ProposeSetting proposes a scheme setting (the operator's or a bank's
// admin); it applies once the operator and a majority of banks approve.
func (c *Client) ProposeSetting(ctx context.Context, name, value string) ([]byte, jobs.LedgerTx, error) {
	return c.Submit(ctx, nil, "ProposeSetting", name, value)
}

// ApproveSetting approves a scheme setting proposal.
func (c *Client) ApproveSetting(ctx context.Context, id string) ([]byte, jobs.LedgerTx, error) {
	return c.Submit(ctx, nil, "ApproveSetting", id)
}

// Scheme is the ledger's gridlock setting (auto or hold).
func (c *Client) Scheme(ctx context.Context) ([]byte, error) { return c.Evaluate(ctx, "GetScheme") }

// The pipeline's side of the resolution (jobs.GridlockLedger).
var _ jobs.GridlockLedger = (*Client)(nil)

// Gridlock is the scheme's gridlock setting on the ledger: jobs.GridlockAuto
// or jobs.GridlockHold.
func (c *Client) Gridlock(ctx context.Context) (string, error) {
	raw, err := c.Scheme(ctx)
	if err != nil {
		return "", fmt.Errorf("gridlock setting: %w", err)
	}
	return parseGridlock(raw)
}

func parseGridlock(raw []byte) (string, error) {
	var s struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("gridlock setting: %w", err)
	}
	if s.Value != jobs.GridlockAuto && s.Value != jobs.GridlockHold {
		return "", fmt.Errorf("gridlock setting: the ledger answers %q, neither %s nor %s", s.Value, jobs.GridlockAuto, jobs.GridlockHold)
	}
	return s.Value, nil
}

// ResolveDeclared is ResolveCycle for the pipeline: the settling
// transaction only.
func (c *Client) ResolveDeclared(ctx context.Context, cycle string) (jobs.LedgerTx, error) {
	_, tx, err := c.ResolveCycle(ctx, cycle)
	return tx, err
}

// Deferral is the ledger's resolution record of a cycle (GetDeferral); ok
// false when it holds none (the cycle deferred nothing, carried nothing in).
func (c *Client) Deferral(ctx context.Context, cycle string) (jobs.LedgerDeferral, bool, error) {
	raw, err := c.Evaluate(ctx, "GetDeferral", cycle)
	if IsNotFound(err) {
		return jobs.LedgerDeferral{}, false, nil
	}
	if err != nil {
		return jobs.LedgerDeferral{}, false, fmt.Errorf("deferral record of %s: %w", cycle, err)
	}
	d, err := parseDeferral(raw)
	if err != nil {
		return d, false, fmt.Errorf("deferral record of %s: %w", cycle, err)
	}
	if d.Cycle != cycle {
		return d, false, fmt.Errorf("deferral record of %s names cycle %q", cycle, d.Cycle)
	}
	return d, true, nil
}

// deferralRecord is the chaincode's DeferralRecord as JSON.
type deferralRecord struct {
	CycleID     string `json:"cycleId"`
	CarriedFrom string `json:"carriedFrom"`
	CarriedIn   int    `json:"carriedIn"`
	Entries     int64  `json:"entries"`
	Settled     int64  `json:"settled"`
	Banks       []struct {
		Bank     string `json:"bank"`
		Currency string `json:"currency"`
		Cap      string `json:"cap"`
		Net      string `json:"net"`
		Settled  string `json:"settledNet"`
		Amount   string `json:"amount"`
		Count    int    `json:"count"`
	} `json:"banks"`
	Deferred []struct {
		Sender     string `json:"sender"`
		ID         string `json:"id"`
		Kind       string `json:"kind"`
		Debtor     string `json:"debtor"`
		Creditor   string `json:"creditor"`
		Amount     string `json:"amount"`
		Currency   string `json:"currency"`
		OriginalID string `json:"originalId"`
		FirstCycle string `json:"firstCycle"`
		Times      int    `json:"times"`
		Waiting    bool   `json:"waiting"`
	} `json:"deferred"`
	TxID string `json:"txId"`
}

// deferredMax bounds the entries one record may name: a cycle holds at most
// filesPerCycle files of EntriesMax, and what is carried in.
const deferredMax = 4 << 20

// parseDeferral reads a deferral record, refusing one that does not hold
// together: a kind other than payment or reversal, times under one.
func parseDeferral(raw []byte) (jobs.LedgerDeferral, error) {
	var r deferralRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return jobs.LedgerDeferral{}, err
	}
	if len(r.Deferred) > deferredMax {
		return jobs.LedgerDeferral{}, fmt.Errorf("%d deferred entries, more than %d", len(r.Deferred), deferredMax)
	}
	d := jobs.LedgerDeferral{Cycle: r.CycleID, CarriedFrom: r.CarriedFrom, CarriedIn: r.CarriedIn, Entries: r.Entries, Settled: r.Settled, TxID: r.TxID}
	for _, b := range r.Banks {
		d.Banks = append(d.Banks, jobs.BankDeferral{Bank: settlement.BIC(b.Bank), Currency: b.Currency, Cap: b.Cap, Net: b.Net,
			Settled: b.Settled, Amount: b.Amount, Count: b.Count})
	}
	for _, e := range r.Deferred {
		if len(e.Kind) != 1 || (settlement.Kind(e.Kind[0]) != settlement.KindPayment && settlement.Kind(e.Kind[0]) != settlement.KindReversal) {
			return d, fmt.Errorf("deferred %s/%s: kind %q", e.Sender, e.ID, e.Kind)
		}
		if e.Times < 1 || e.Sender == "" || e.ID == "" {
			return d, fmt.Errorf("deferred %q/%q: times %d", e.Sender, e.ID, e.Times)
		}
		d.Deferred = append(d.Deferred, jobs.LedgerDeferred{Sender: settlement.BIC(e.Sender), ID: e.ID, Kind: settlement.Kind(e.Kind[0]),
			Debtor: settlement.BIC(e.Debtor), Creditor: settlement.BIC(e.Creditor), Amount: e.Amount, Currency: e.Currency,
			OriginalID: e.OriginalID, FirstCycle: e.FirstCycle, Times: e.Times, Waiting: e.Waiting})
	}
	return d, nil
}

// DryRun is what the ledger's resolution of a declared cycle would settle
// and defer (ResolveCycle's dry run, an evaluation); declared false when
// the cycle is not declared on the ledger yet.
func (c *Client) DryRun(ctx context.Context, cycle string) (jobs.LedgerDeferral, bool, error) {
	raw, err := c.ResolveDryRun(ctx, cycle)
	if RefusalCode(err) == "NOT_DECLARED" {
		return jobs.LedgerDeferral{}, false, nil
	}
	if err != nil {
		return jobs.LedgerDeferral{}, false, err
	}
	d, err := ParseDryRun(cycle, raw)
	return d, true, err
}

// ParseDryRun reads ResolveCycle's dry-run answer for cycle: the
// resolution it would write (a record with nothing deferred when every
// entry fits).
func ParseDryRun(cycle string, raw []byte) (jobs.LedgerDeferral, error) {
	var r struct {
		CycleID    string          `json:"cycleId"`
		Resolution json.RawMessage `json:"resolution"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return jobs.LedgerDeferral{}, fmt.Errorf("dry run of %s: %w", cycle, err)
	}
	if len(r.Resolution) == 0 || string(r.Resolution) == "null" {
		return jobs.LedgerDeferral{Cycle: cycle}, nil
	}
	d, err := parseDeferral(r.Resolution)
	if err != nil {
		return d, fmt.Errorf("dry run of %s: %w", cycle, err)
	}
	return d, nil
}
