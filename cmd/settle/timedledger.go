package main

import (
	"context"
	"iter"
	"time"

	"settle/adapters/httpapi"
	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// timedLedger observes the latency of every ledger call of jobs.Ledger in
// the settle_ledger_call_seconds histogram, by method and outcome; the
// audit's reads of a transaction's content (TxContent) go through untimed.
type timedLedger struct {
	ledgerClient
	m *httpapi.Metrics
}

func (l timedLedger) done(method string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	l.m.Since("settle_ledger_call_seconds", start, "method", method, "outcome", outcome)
}

func (l timedLedger) RecordChunk(ctx context.Context, c jobs.Chunk) (tx jobs.LedgerTx, err error) {
	defer func(t time.Time) { l.done("RecordChunk", t, err) }(time.Now())
	return l.ledgerClient.RecordChunk(ctx, c)
}

func (l timedLedger) SettleCycle(ctx context.Context, cycle string, ps []settlement.Position) (tx jobs.LedgerTx, err error) {
	defer func(t time.Time) { l.done("SettleCycle", t, err) }(time.Now())
	return l.ledgerClient.SettleCycle(ctx, cycle, ps)
}

func (l timedLedger) Cycle(ctx context.Context, cycle string) (c jobs.LedgerCycle, ok bool, err error) {
	defer func(t time.Time) { l.done("Cycle", t, err) }(time.Now())
	return l.ledgerClient.Cycle(ctx, cycle)
}

// CyclePayments is timed to its first answer: the stream's length is the
// cycle's, not the ledger's latency.
func (l timedLedger) CyclePayments(ctx context.Context, cycle string) iter.Seq2[reconciliation.Record, error] {
	return func(yield func(reconciliation.Record, error) bool) {
		start, first := time.Now(), true
		for r, err := range l.ledgerClient.CyclePayments(ctx, cycle) {
			if first {
				l.done("CyclePayments", start, err)
				first = false
			}
			if !yield(r, err) {
				return
			}
		}
	}
}

func (l timedLedger) Payment(ctx context.Context, sender settlement.BIC, id string) (p reconciliation.Record, ok bool, err error) {
	defer func(t time.Time) { l.done("Payment", t, err) }(time.Now())
	return l.ledgerClient.Payment(ctx, sender, id)
}

func (l timedLedger) ReversalChain(ctx context.Context, sender settlement.BIC, id string) (rs []reconciliation.Record, err error) {
	defer func(t time.Time) { l.done("ReversalChain", t, err) }(time.Now())
	return l.ledgerClient.ReversalChain(ctx, sender, id)
}

func (l timedLedger) Tx(ctx context.Context, txID string) (tx jobs.LedgerTx, err error) {
	defer func(t time.Time) { l.done("Tx", t, err) }(time.Now())
	return l.ledgerClient.Tx(ctx, txID)
}

func (l timedLedger) RegisterBank(ctx context.Context, bic settlement.BIC, mspID string) (tx jobs.LedgerTx, err error) {
	defer func(t time.Time) { l.done("RegisterBank", t, err) }(time.Now())
	return l.ledgerClient.RegisterBank(ctx, bic, mspID)
}

func (l timedLedger) SetCap(ctx context.Context, c settlement.Cap) (tx jobs.LedgerTx, err error) {
	defer func(t time.Time) { l.done("SetCap", t, err) }(time.Now())
	return l.ledgerClient.SetCap(ctx, c)
}
