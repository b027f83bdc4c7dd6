package console_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"settle/jobs"
	"settle/settlement"
)

// deskStub answers for the ledger's gridlock resolution what a test sets:
// the records of settled cycles, a held cycle's dry run, and it records the
// operator's resolves.
type deskStub struct {
	mu       sync.Mutex
	records  map[string]jobs.LedgerDeferral
	dry      map[string]jobs.LedgerDeferral // declared cycles
	fail     error
	resolved []settlement.Date
}

func (d *deskStub) Deferral(_ context.Context, cycle string) (jobs.LedgerDeferral, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.records[cycle]
	return r, ok, d.fail
}

func (d *deskStub) DryRun(_ context.Context, cycle string) (jobs.LedgerDeferral, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.dry[cycle]
	return r, ok, d.fail
}

// resolve stands for the pipeline's Resolve (run for real by the e2e test
// and `settle cycle resolve`): it records the call and answers the cycle.
func (d *deskStub) resolve(_ context.Context, date settlement.Date) (settlement.Cycle, error) {
	d.mu.Lock()
	d.resolved = append(d.resolved, date)
	d.mu.Unlock()
	return settlement.Cycle{ID: settlement.CycleID(date), BusinessDate: date, Stage: settlement.StageReported}, nil
}

func (d *deskStub) set(f func(*deskStub)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

// TestGridlockOnTheCyclePage: a cycle held on its caps shows the ledger's
// gridlock section: before its files are on the ledger, what resolving
// does; once declared, the ledger's dry run bank by bank and payment by
// payment; an operator has the button that resolves it (the pipeline's
// Resolve, logged), an auditor neither the button nor the right. A settled
// cycle shows what the ledger deferred; a settled one that deferred
// nothing shows no section; a ledger that does not answer is said so.
func TestGridlockOnTheCyclePage(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "operator")
	w.user("audrey", "auditor")
	w.files(day, 6)
	w.capsOfOne() // every net debtor is over its cap: the cycle stays FROZEN
	w.advance(9 * time.Hour)
	alice := w.client()
	alice.login("alice", password("alice"))
	page := "/cycles/" + string(day)
	if r := alice.get(page); find(r.doc, "section#gridlock") != nil {
		t.Fatal("a gridlock section before any hold")
	}
	if r := alice.post(page+"/run", url.Values{}); r.status != http.StatusConflict || !strings.Contains(problem(r), "net debit cap exceeded") {
		t.Fatalf("run over the caps: %d %s", r.status, problem(r))
	}
	r := alice.get(page)
	if got := text(find(r.doc, "p#gridlock-summary")); !strings.Contains(got, "not on the ledger yet") {
		t.Fatalf("held, not declared: %q", got)
	}
	if find(r.doc, "button#resolve-"+string(day)) == nil {
		t.Fatal("no resolve button for an operator")
	}
	// Declared: the ledger's dry run.
	b0, b1 := w.banks[0].BIC, w.banks[1].BIC
	cycle := settlement.CycleID(day)
	dry := jobs.LedgerDeferral{Cycle: cycle, Entries: 18, Settled: 16,
		Banks: []jobs.BankDeferral{{Bank: b0, Currency: "KRW", Cap: "1", Net: "-9000", Settled: "0", Amount: "9000", Count: 2}},
		Deferred: []jobs.LedgerDeferred{{Sender: b0, ID: "P-1", Kind: settlement.KindPayment, Debtor: b0, Creditor: b1, Amount: "5000", Currency: "KRW", FirstCycle: cycle, Times: 1},
			{Sender: b0, ID: "R-1", Kind: settlement.KindReversal, Debtor: b1, Creditor: b0, Amount: "4000", Currency: "KRW", FirstCycle: cycle, Times: 1, Waiting: true}}}
	w.desk.set(func(d *deskStub) { d.dry = map[string]jobs.LedgerDeferral{cycle: dry} })
	r = alice.get(page)
	if got := text(find(r.doc, "p#gridlock-summary")); !strings.Contains(got, "16 of 18 entries settle, 2 are deferred") {
		t.Fatalf("dry run summary: %q", got)
	}
	rows := findAll(find(r.doc, "table#gridlock-deferred"), "tr")
	if len(rows) != 3 || !strings.Contains(text(rows[1]), string(b0)+"/P-1") || !strings.Contains(text(rows[2]), "reversal (waits with its original)") {
		t.Fatalf("deferred rows: %d %q", len(rows), text(find(r.doc, "table#gridlock-deferred")))
	}
	if got := text(find(r.doc, "table#gridlock-banks")); !strings.Contains(got, "-9000") || !strings.Contains(got, string(b0)) {
		t.Fatalf("banks table: %q", got)
	}
	// An auditor sees it, without the button or the right.
	audrey := w.client()
	audrey.login("audrey", password("audrey"))
	if r := audrey.get(page); find(r.doc, "section#gridlock") == nil || find(r.doc, "button#resolve-"+string(day)) != nil {
		t.Fatal("auditor: no section, or a resolve button")
	}
	if r := audrey.post(page+"/resolve", url.Values{}); r.status != http.StatusForbidden {
		t.Fatalf("auditor's resolve: %d", r.status)
	}
	// The operator resolves: the pipeline's Resolve, logged.
	if r := alice.post(page+"/resolve", url.Values{}); r.status != http.StatusSeeOther || r.header.Get("Location") != page {
		t.Fatalf("resolve: %d %s", r.status, problem(r))
	}
	w.desk.mu.Lock()
	resolved := append([]settlement.Date(nil), w.desk.resolved...)
	w.desk.mu.Unlock()
	if len(resolved) != 1 || resolved[0] != day {
		t.Fatalf("resolved %v", resolved)
	}
	if n := w.count(`SELECT count(*) FROM console_actions WHERE actor = 'alice' AND action = 'cycle.resolve' AND outcome = 'ok'`); n != 1 {
		t.Fatalf("%d resolves logged", n)
	}
	// A ledger that does not answer.
	w.desk.set(func(d *deskStub) { d.fail = errors.New("peer unreachable") })
	if got := text(find(alice.get(page).doc, "p#gridlock-problem")); !strings.Contains(got, "peer unreachable") {
		t.Fatalf("ledger down: %q", got)
	}
}

// TestGridlockSettledCycle: a settled cycle's page shows what the ledger's
// resolution deferred, and the carried payments it settled first.
func TestGridlockSettledCycle(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "operator")
	w.files(day, 6)
	w.advance(9 * time.Hour)
	if _, err := w.pipeline().Run(w.ctx, day); err != nil {
		t.Fatal(err)
	}
	alice := w.client()
	alice.login("alice", password("alice"))
	page := "/cycles/" + string(day)
	if find(alice.get(page).doc, "section#gridlock") != nil {
		t.Fatal("a section for a cycle that deferred nothing")
	}
	cycle := settlement.CycleID(day)
	b0, b1 := w.banks[0].BIC, w.banks[1].BIC
	w.desk.set(func(d *deskStub) {
		d.records = map[string]jobs.LedgerDeferral{cycle: {Cycle: cycle, CarriedFrom: "C2026-11-23", CarriedIn: 3, Entries: 21, Settled: 20, TxID: "abc123",
			Deferred: []jobs.LedgerDeferred{{Sender: b0, ID: "P-9", Kind: settlement.KindPayment, Debtor: b0, Creditor: b1, Amount: "7", Currency: "KRW", FirstCycle: "C2026-11-23", Times: 2}}}}
	})
	r := alice.get(page)
	got := text(find(r.doc, "p#gridlock-summary"))
	if !strings.Contains(got, "settled 20 of 21 entries and deferred 1") || !strings.Contains(got, "3 carried in from C2026-11-23") || !strings.Contains(got, "abc123") {
		t.Fatalf("settled summary: %q", got)
	}
	if find(r.doc, "button#resolve-"+string(day)) != nil {
		t.Fatal("a resolve button on a settled cycle")
	}
	if rows := findAll(find(r.doc, "table#gridlock-deferred"), "tr"); len(rows) != 2 || !strings.Contains(text(rows[1]), "C2026-11-23") {
		t.Fatalf("deferred rows: %q", text(find(r.doc, "table#gridlock-deferred")))
	}
	// The cycle's counts say what the resolution moved, as Postgres
	// recorded it (two payments out to the next day).
	var refs []jobs.DeferredRef
	for se, err := range w.store.CycleEntries(w.ctx, day) {
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) < 2 {
			refs = append(refs, jobs.DeferredRef{Sender: se.Sender, ID: se.Entry.ID, Times: 1})
		}
	}
	if err := w.store.UpdateCycle(w.ctx, day, func(_ *settlement.Cycle, tx jobs.CycleTx) ([]jobs.Event, error) {
		return nil, tx.SaveResolution(jobs.Resolution{To: "2026-11-25", TxID: "abc123", Deferred: refs})
	}); err != nil {
		t.Fatal(err)
	}
	if got := text(find(alice.get(page).doc, "p[class=counts]")); !strings.Contains(got, "the ledger's gridlock resolution carried 0 payments in and deferred 2 out") {
		t.Fatalf("counts: %q", got)
	}
	if got := text(find(alice.get("/cycles/2026-11-25").doc, "p[class=counts]")); !strings.Contains(got, "carried 2 payments in and deferred 0 out") {
		t.Fatalf("the next day's counts: %q", got)
	}
}
