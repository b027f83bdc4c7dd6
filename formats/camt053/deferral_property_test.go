package camt053_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/formats/formatstest"
	"settle/formats/pacs009"
	"settle/settlement"
)

// TestStatementsOfWhatSettlesAfterDeferral is the property across random
// cycles with reversals and deferrals: the settlement domain's gridlock
// resolution (settlement.Queues.Resolve, under random zero, tight and
// loose caps) defers some payments; the statements of what settles hold
// every settled entry twice (payer and payee) and no deferred one, each
// closes at the bank's net position over what settles, and the settlement
// agent's instructions of those positions are valid pacs.009 whose
// pay-ins equal their pay-outs in every currency. The first cycle with a
// deferral is given to xmllint too.
func TestStatementsOfWhatSettlesAfterDeferral(t *testing.T) {
	withDeferrals, held, linted := 0, 0, false
	for seed := uint64(0); seed < 60; seed++ {
		r := rand.New(rand.NewPCG(seed, 19))
		entries, all := formatstest.RandomCycle(r, 2+r.IntN(5), 1+r.IntN(300))
		// One file per sender, in entry order (the queue order's file part).
		bySender := map[settlement.BIC][]settlement.Entry{}
		var senders []settlement.BIC
		for _, e := range entries {
			if bySender[e.Debtor] == nil {
				senders = append(senders, e.Debtor)
			}
			bySender[e.Debtor] = append(bySender[e.Debtor], e)
		}
		files := make([][]settlement.Entry, len(senders))
		for i, s := range senders {
			files[i] = bySender[s]
		}
		q, err := settlement.OrderQueues(files)
		if err != nil {
			t.Fatal(err)
		}
		var caps []settlement.Cap
		for _, p := range all.Positions {
			debit := decimal.Zero
			if p.Net.IsNegative() {
				debit = p.Net.Neg()
			}
			var limit decimal.Decimal
			switch r.IntN(4) {
			case 0:
				limit = decimal.Zero
			case 1: // tight: a random part of its net debit, in its scale
				units := debit.Shift(int32(p.Currency.MinorUnit())).IntPart()
				if units > 0 {
					units = r.Int64N(units)
				}
				limit = decimal.New(units, -int32(p.Currency.MinorUnit()))
			default:
				limit = debit
			}
			caps = append(caps, settlement.Cap{Bank: p.Bank, Currency: p.Currency, Amount: limit})
		}
		res, err := q.Resolve(caps)
		if errors.Is(err, settlement.ErrReversalsOverCap) {
			held++
			continue // held for the operator: nothing settles, nothing is written
		}
		if err != nil {
			t.Fatal(err)
		}
		deferred := map[string]bool{}
		for _, d := range res.Deferrals {
			for _, p := range d.Payments {
				deferred[p.ID] = true
			}
		}
		var settled []settlement.Entry
		for _, f := range files {
			for _, e := range f {
				if !deferred[e.ID] {
					settled = append(settled, e)
				}
			}
		}
		if len(deferred) > 0 {
			withDeferrals++
		}
		if int64(len(settled)) != res.Settled || len(settled)+len(deferred) != len(entries) {
			t.Fatalf("seed %d: %d settled and %d deferred of %d, the resolution says %d settle", seed, len(settled), len(deferred), len(entries), res.Settled)
		}
		out := spool(t, t.TempDir(), settled, &settlement.Result{Positions: res.Positions})
		want := map[string]decimal.Decimal{}
		for _, p := range res.Positions {
			want[string(p.Bank)+"/"+p.Currency.Code()] = p.Net
		}
		lines := map[string]int{}
		lint := len(deferred) > 0 && !linted
		for bank, file := range out {
			if lint {
				formatstest.WrittenValid(t, "camt.053.001.08", file)
			} else if raw, _ := os.ReadFile(file); len(formatstest.SchemaViolations(t, "camt.053.001.08", bytes.NewReader(raw))) > 0 {
				t.Fatalf("seed %d %s: %v", seed, bank, formatstest.SchemaViolations(t, "camt.053.001.08", bytes.NewReader(raw)))
			}
			for _, st := range read(t, file).Stmts {
				closing := signed(t, st.Bal[1].Amt.Value, st.Bal[1].Ind)
				if n := want[string(bank)+"/"+st.Ccy]; !closing.Equal(n) {
					t.Errorf("seed %d %s %s: closing %s, net position over what settles %s", seed, bank, st.Ccy, closing, n)
				}
				for _, n := range st.Ntry {
					lines[n.E2E]++
				}
			}
		}
		for id := range deferred {
			if lines[id] != 0 {
				t.Errorf("seed %d: deferred %s is in %d statements", seed, id, lines[id])
			}
		}
		for _, e := range settled {
			if lines[e.ID] != 2 {
				t.Errorf("seed %d: settled %s is in %d statements, want 2", seed, e.ID, lines[e.ID])
			}
		}
		// The agent's instructions of what settles.
		byCur, err := settlement.CycleInstructions("C2026-11-24", res.Positions)
		if err != nil {
			t.Fatal(err)
		}
		ag := pacs009.Agent{BIC: "BOKRKRSE", SchemeAccount: "SETTLE-01", Accounts: map[settlement.BIC]string{}}
		for _, p := range res.Positions {
			ag.Accounts[p.Bank] = "RTGS-" + string(p.Bank)
		}
		for c, ins := range byCur {
			in, outSum := decimal.Zero, decimal.Zero
			for _, i := range ins {
				if i.PayIn {
					in = in.Add(i.Amount)
				} else {
					outSum = outSum.Add(i.Amount)
				}
			}
			if !in.Equal(outSum) {
				t.Errorf("seed %d %s: pay-ins %s, pay-outs %s", seed, c, in, outSum)
			}
			var b bytes.Buffer
			m := pacs009.Message{MsgID: pacs009.MsgID("C2026-11-24", c), Created: time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC),
				BusinessDate: "2026-11-24", Scheme: scheme, Agent: ag, Currency: c, Instructions: ins}
			if err := pacs009.Write(&b, m); err != nil {
				t.Fatalf("seed %d %s: %v", seed, c, err)
			}
			if lint {
				formatstest.WrittenValidBytes(t, "pacs.009.001.08", b.Bytes())
			} else if v := formatstest.SchemaViolations(t, "pacs.009.001.08", bytes.NewReader(b.Bytes())); len(v) > 0 {
				t.Fatalf("seed %d %s: %v", seed, c, v)
			}
			if strings.Count(b.String(), "<CdtTrfTxInf>") != len(ins) {
				t.Errorf("seed %d %s: %d transfers written for %d instructions", seed, c, strings.Count(b.String(), "<CdtTrfTxInf>"), len(ins))
			}
		}
		linted = linted || lint
	}
	t.Logf("%d of 60 random cycles deferred payments, %d were held (reversals over a cap)", withDeferrals, held)
	if withDeferrals < 10 {
		t.Fatalf("only %d of the random cycles deferred anything: the property was hardly tested", withDeferrals)
	}
}
