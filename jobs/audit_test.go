package jobs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"settle/adapters/archive"
	"settle/jobs"
	"settle/settlement"
)

// auditor is an auditor of the world's store. It reads what only Postgres
// serves (jobs.AuditStore: lineage, the files of a cycle, ledger rows), so
// a test of a world on memory stops (skips) where it asks for one.
func (w *world) auditor(t *testing.T) *jobs.Auditor {
	w.needPostgres(t, "the auditor reads jobs.AuditStore, which only Postgres serves")
	arc, err := archive.Open(filepath.Join(w.root, "archive"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return &jobs.Auditor{Store: w.pgJobs, Ledger: w.ledger, Archive: arc, Txs: w.ledger}
}

func TestAuditTraceAndVerify(t *testing.T) {
	w := newPostgresWorld(t)
	day1 := w.day("2026-11-24", 30)
	w.intake.Collect(w.ctx)
	if _, err := w.pipeline().Run(w.ctx, "2026-11-24"); err != nil {
		t.Fatal(err)
	}
	orig := day1[1][0]
	w.now = w.now.AddDate(0, 0, 1)
	w.upload(1, "rev.csv", w.reversalFile(1, orig, "AM09"))
	w.intake.Collect(w.ctx)
	if _, err := w.pipeline().Run(w.ctx, "2026-11-25"); err != nil {
		t.Fatal(err)
	}
	a := w.auditor(t)

	// The original, traced from its file to the ledger, and on to its reversal.
	tr, err := a.Trace(w.ctx, w.banks[1].BIC, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.OK {
		t.Fatalf("clean trace not ok: %+v", tr)
	}
	steps := map[string]jobs.Step{}
	for _, s := range tr.Steps {
		steps[s.Step] = s
	}
	for _, want := range []string{"file", "received", "cycle", "ledger", "transaction", "settlement", "reversal chain"} {
		if _, ok := steps[want]; !ok {
			t.Errorf("trace lacks %q: %+v", want, tr.Steps)
		}
	}
	if steps["file"].Facts["line"] != "2" || steps["file"].Facts["signed_with"] != "k1" || steps["transaction"].Facts["tx_id"] == "" {
		t.Errorf("facts: %+v %+v", steps["file"], steps["transaction"])
	}
	if steps["reversal chain"].Facts["reversed by"] != "REV-1" || len(tr.Related) != 1 || !tr.Related[0].OK {
		t.Errorf("reversal: %+v related %+v", steps["reversal chain"], tr.Related)
	}

	// And back: from the transaction that recorded it to the files.
	txID := steps["transaction"].Facts["tx_id"]
	tt, err := a.TraceTx(w.ctx, txID)
	if err != nil {
		t.Fatal(err)
	}
	if !tt.OK || len(tt.Payments) == 0 {
		t.Fatalf("clean tx trace not ok: %+v", tt)
	}
	var back *jobs.TxPayment
	for i, p := range tt.Payments {
		if p.Check != "ok" || p.File == "" || p.Line == 0 || p.FileID == "" {
			t.Errorf("payment %+v: want ok with its file, file id and line", p)
		}
		if p.Payment == string(w.banks[1].BIC)+"/"+orig.ID {
			back = &tt.Payments[i]
		}
	}
	if back == nil || back.Line != 2 || back.File != steps["file"].Facts["name"] || back.Kind != "P" {
		t.Fatalf("the traced payment, back from its tx: %+v (want line 2 of %s)", back, steps["file"].Facts["name"])
	}
	txSteps := map[string]jobs.Step{}
	for _, s := range tt.Steps {
		txSteps[s.Step] = s
	}
	if txSteps["transaction"].Facts["function"] != "RecordChunk" || txSteps["postgres"].Check != "ok" || txSteps["file"].Check != "ok" {
		t.Fatalf("tx steps: %+v", tt.Steps)
	}
	// The settling transaction: its positions against Postgres's.
	st, err := a.TraceTx(w.ctx, w.ledger.Settled["C2026-11-24"])
	if err != nil || !st.OK || len(st.Steps) != 3 || st.Steps[2].Step != "positions" {
		t.Fatalf("settle tx trace: %+v %v", st, err)
	}
	if _, err := a.TraceTx(w.ctx, "no-such-tx"); err == nil {
		t.Fatal("an unknown transaction traced")
	}

	// Verify re-nets each cycle from the archive and finds nothing.
	for _, d := range []settlement.Date{"2026-11-24", "2026-11-25"} {
		rep, err := a.Verify(w.ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Files == 0 {
			t.Fatalf("verify %s: %+v", d, rep)
		}
	}

	// Tampering with an archived file (as root, behind its 0444) is found.
	p, _ := filepath.Glob(filepath.Join(w.root, "archive", "sha256", "*", "*"))
	var victim string
	for _, f := range p {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "P,"+orig.ID+",") {
			victim = f
		}
	}
	if victim == "" {
		t.Fatal("archived file not found")
	}
	os.Chmod(victim, 0o644)
	b, _ := os.ReadFile(victim)
	os.WriteFile(victim, []byte(strings.Replace(string(b), orig.Amount+",", orig.Amount+"1,", 1)), 0o444)
	tr, _ = a.Trace(w.ctx, w.banks[1].BIC, orig.ID)
	if tr.OK || !strings.Contains(tr.Steps[0].Check, "hash") {
		t.Fatalf("a tampered archive must fail the file step: %+v", tr.Steps[0])
	}
	if tt, err := a.TraceTx(w.ctx, txID); err != nil || tt.OK {
		t.Fatalf("a tampered archive must fail the tx trace's file step: %+v %v", tt, err)
	}
	rep, _ := a.Verify(w.ctx, "2026-11-24")
	if rep.OK() || len(rep.Problems) == 0 {
		t.Fatalf("verify must report the tampered file: %+v", rep)
	}
	// An unknown payment.
	if tr, _ := a.Trace(w.ctx, "SHBKKRSE", "NO-SUCH"); tr.OK {
		t.Fatal("an unknown payment traced ok")
	}
}
