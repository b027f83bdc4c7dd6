package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

var settlementOne = decimal.NewFromInt(1)

// lastRequest is the id of the newest four-eyes request.
func (w *world) lastRequest() string {
	w.t.Helper()
	var id int64
	if err := w.pg.DB().QueryRowContext(w.ctx, `SELECT max(id) FROM approval_requests`).Scan(&id); err != nil {
		w.t.Fatal(err)
	}
	return strconv.FormatInt(id, 10)
}

func (w *world) count(query string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.pg.DB().QueryRowContext(w.ctx, query, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

func problem(r response) string { return text(find(r.doc, "p#problem")) }

// TestDeferralFourEyes: a file's deferral from the console is a request
// that only a second operator's approval carries out, through the
// pipeline (the bank's notice, the file in the next cycle); the requester
// cannot approve it; a replayed approval is refused and defers nothing
// twice; a request whose cycle has been netted since is not carried out
// and still waits; a deferral to a weekend is refused; an auditor sees no
// form and is refused. The bank's file name, with HTML in it, is shown
// as text.
func TestDeferralFourEyes(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "operator")
	w.user("bob", "operator")
	w.user("audrey", "auditor")
	w.files(day, 6)
	b0, b1 := w.banks[0].BIC, w.banks[1].BIC
	// A bank's only free text is a payment's remittance information (its
	// names and ids are [A-Za-z0-9._-]): HTML there reaches no page as
	// markup.
	const name = "FX-1.csv"
	body := fmt.Sprintf("H,FX-1,%s,%s,%sT09:00:00+09:00\nP,PX-1,%s,%s,1000,KRW,<script>alert(2)</script>\nT,1,1000\n", b0, day, day, b0, b1)
	w.upload(0, name, []byte(body))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("intake of the file with HTML in its remittance information: %+v %v", c, err)
	}

	alice := w.client()
	alice.login("alice", password("alice"))
	r := alice.get("/cycles/" + string(day))
	row := find(r.doc, "tr#file-"+string(b0)+"-FX-1")
	if row == nil {
		t.Fatalf("no row for FX-1: %s", text(find(r.doc, "table#files")))
	}
	if got := text(find(row, "td[class=name]")); got != name {
		t.Fatalf("file name shown as %q", got)
	}
	if find(row, "form[action=/files/defer]") == nil {
		t.Fatal("no deferral form for an operator on an open cycle")
	}
	next := w.cal.Next(day)

	// The request: nothing moves yet.
	reason := `over its KRW cap <b>tonight</b>`
	if r := alice.post("/files/defer", url.Values{"bank": {string(b0)}, "file": {"FX-1"}, "from": {string(day)}, "note": {reason}}); r.status != http.StatusSeeOther {
		t.Fatalf("defer request: %d %s", r.status, problem(r))
	}
	id := w.lastRequest()
	if n := w.count(`SELECT count(*) FROM file_deferrals`); n != 0 {
		t.Fatalf("%d deferrals recorded on a request alone", n)
	}
	r = alice.get("/requests")
	req := find(r.doc, "tr#request-"+id)
	if got := text(req); !strings.Contains(got, "file "+string(b0)+"/FX-1 from C"+string(day)+" to C"+string(next)) || !strings.Contains(got, reason) {
		t.Fatalf("request row: %q", got)
	}
	if len(findAll(req, "b")) != 0 {
		t.Fatal("the reason made an element")
	}
	if r := alice.post("/files/defer", url.Values{"bank": {string(b0)}, "file": {"FX-1"}, "from": {string(day)}, "note": {"again"}}); r.status != http.StatusConflict ||
		!strings.Contains(problem(r), "already waiting") {
		t.Fatalf("second request: %d %s", r.status, problem(r))
	}

	// The requester cannot approve it.
	if r := alice.post("/requests/decide", url.Values{"id": {id}, "decision": {"APPROVED"}}); r.status != http.StatusConflict || !strings.Contains(problem(r), "four eyes") {
		t.Fatalf("self-approval: %d %s", r.status, problem(r))
	}
	// The auditor sees no form and is refused.
	audrey := w.client()
	audrey.login("audrey", password("audrey"))
	if r := audrey.get("/cycles/" + string(day)); len(findAll(r.doc, "form")) != 1 { // sign-out only
		t.Fatalf("%d forms for an auditor", len(findAll(r.doc, "form")))
	}
	if r := audrey.post("/requests/decide", url.Values{"id": {id}, "decision": {"APPROVED"}}); r.status != http.StatusForbidden {
		t.Fatalf("auditor's approval: %d", r.status)
	}

	bob := w.client()
	bob.login("bob", password("bob"))
	bob.get("/requests")
	decide := url.Values{"id": {id}, "decision": {"APPROVED"}}
	r = bob.post("/requests/decide", decide)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/cycles/"+string(next)+"#files" {
		t.Fatalf("approval: %d %q %s", r.status, r.header.Get("Location"), problem(r))
	}
	r = bob.get("/cycles/" + string(next))
	moved := find(r.doc, "tr#file-"+string(b0)+"-FX-1")
	if got := text(find(moved, "td[class=deferrals]")); !strings.Contains(got, "C"+string(day)+" → C"+string(next)+" by alice, approved by bob (request "+id+"): "+reason) {
		t.Fatalf("deferral shown as %q", got)
	}
	if got := text(find(r.doc, "p[class=counts]")); !strings.Contains(got, "1 files, 1 entries (0 reversals); 0 files rejected at intake; 1 deferred in, 0 deferred out") {
		t.Fatalf("next cycle's counts: %q", got)
	}
	if r := bob.get("/cycles/" + string(day)); find(r.doc, "tr#file-"+string(b0)+"-FX-1") != nil ||
		!strings.Contains(text(find(r.doc, "p[class=counts]")), "0 deferred in, 1 deferred out") {
		t.Fatalf("the deferred file is still in its first cycle: %s", text(find(r.doc, "p[class=counts]")))
	}
	notice := filepath.Join(w.root, "sftp", "banks", string(b0), "outbox", jobs.DeferralNoticeName(name))
	if b, err := os.ReadFile(notice); err != nil || !strings.Contains(string(b), `"to_cycle": "C`+string(next)+`"`) {
		t.Fatalf("the bank's notice: %s %v", b, err)
	}
	// The trace of the deferred payment: the deferral's reason and the
	// remittance information are text, never markup.
	r = bob.get("/trace?q=" + url.QueryEscape(string(b0)+"/PX-1"))
	if tr := find(r.doc, "main"); len(findAll(tr, "b")) != 0 || len(findAll(r.doc, "script")) != 0 || strings.Contains(r.body, "<script>alert") ||
		!strings.Contains(text(tr), "alice, approved by bob (request "+id+")") {
		t.Fatalf("trace of the deferred payment: %s", text(tr))
	}
	// The same approval again (a resent form): refused, nothing twice.
	if r := bob.post("/requests/decide", decide); r.status != http.StatusConflict || !strings.Contains(problem(r), "already been decided") {
		t.Fatalf("replayed approval: %d %s", r.status, problem(r))
	}
	if n := w.count(`SELECT count(*) FROM file_deferrals`); n != 1 {
		t.Fatalf("%d deferrals", n)
	}

	// To a Saturday: refused with the calendar's reason.
	sat := next
	for sat.Time().Weekday() != time.Saturday {
		sat = settlement.Date(sat.Time().AddDate(0, 0, 1).Format(time.DateOnly))
	}
	if r := alice.post("/files/defer", url.Values{"bank": {string(b0)}, "file": {"FX-1"}, "from": {string(next)}, "to": {string(sat)}, "note": {"x"}}); r.status != http.StatusConflict ||
		!strings.Contains(problem(r), "not a business day (a weekend)") {
		t.Fatalf("to a Saturday: %d %s", r.status, problem(r))
	}

	// A request made while the cycle was open, approved after it was
	// netted: not carried out, and it still waits.
	f2 := fmt.Sprintf("F%s-2", strings.ReplaceAll(string(day), "-", ""))
	if r := alice.post("/files/defer", url.Values{"bank": {string(w.banks[2].BIC)}, "file": {f2}, "from": {string(day)}, "note": {"cannot fund"}}); r.status != http.StatusSeeOther {
		t.Fatalf("second deferral request: %d %s", r.status, problem(r))
	}
	late := w.lastRequest()
	w.advance(9 * time.Hour)
	if _, err := w.pipeline().Run(w.ctx, day); err != nil {
		t.Fatal(err)
	}
	// Hours later: both sign in again (their sessions timed out).
	alice.login("alice", password("alice"))
	alice.get("/requests")
	bob.login("bob", password("bob"))
	bob.get("/requests")
	r = bob.post("/requests/decide", url.Values{"id": {late}, "decision": {"APPROVED"}})
	if r.status != http.StatusConflict || !strings.Contains(problem(r), "not carried out") || !strings.Contains(problem(r), "before its cycle is netted") {
		t.Fatalf("approval after netting: %d %s", r.status, problem(r))
	}
	if r := bob.get("/requests"); !strings.Contains(text(find(r.doc, "tr#request-"+late)), "pending") {
		t.Fatalf("the request no longer waits: %s", text(find(r.doc, "tr#request-"+late)))
	}
	if r := bob.post("/requests/decide", url.Values{"id": {late}, "decision": {"REJECTED"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reject: %d %s", r.status, problem(r))
	}
	// A netted cycle offers no deferral, and refuses one.
	if r := alice.get("/cycles/" + string(day)); find(r.doc, "form[action=/files/defer]") != nil {
		t.Fatal("a deferral form on a reported cycle")
	}
	if r := alice.post("/files/defer", url.Values{"bank": {string(w.banks[1].BIC)}, "file": {fmt.Sprintf("F%s-1", strings.ReplaceAll(string(day), "-", ""))},
		"from": {string(day)}, "note": {"late"}}); r.status != http.StatusConflict || !strings.Contains(problem(r), "before its cycle is netted") {
		t.Fatalf("deferral from a reported cycle: %d %s", r.status, problem(r))
	}

	// Every step is in the action log, refusals too.
	acts, err := w.pg.ConsoleActions(w.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, a := range acts {
		seen[a.Actor+" "+a.Action+" "+a.Outcome]++
	}
	for k, want := range map[string]int{"alice file.defer.request ok": 2, "alice request.decide refused": 1, "bob request.decide ok": 2,
		"bob request.decide refused": 2, "audrey /requests/decide refused": 1, "alice file.defer.request refused": 3} {
		if seen[k] != want {
			t.Errorf("%q logged %d times, want %d (%v)", k, seen[k], want, seen)
		}
	}
}

// poison publishes events whose handler fails at once, and waits until
// the bus has put them in its poison queue.
func (w *world) poison(es ...jobs.Event) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(w.ctx)
	w.bus.Retry = &middleware.Retry{MaxRetries: 0, InitialInterval: time.Millisecond}
	done := make(chan error, 1)
	go func() {
		done <- w.bus.Run(ctx, func(context.Context, jobs.Event) error { return fmt.Errorf("handler down") })
	}()
	for _, e := range es {
		if err := w.bus.Publish(w.ctx, e); err != nil {
			w.t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ps, err := w.bus.ListPoisoned(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if len(ps) >= len(es) {
			break
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%d of %d events poisoned", len(ps), len(es))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
}

// TestPoisonReplay: an event that moves money (a frozen cycle's, whose
// handler nets it) is replayed only when a second operator approves; it
// is published once, and a second replay is refused; an event whose
// cycle has moved past it is refused as stale; an event that moves no
// money is replayed by one operator. The auditor sees the queue and
// cannot replay.
func TestPoisonReplay(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "operator")
	w.user("bob", "operator")
	w.user("audrey", "auditor")
	w.files(day, 6)
	w.capsOfOne() // every net debtor is over its cap: the cycle stays FROZEN
	w.advance(9 * time.Hour)
	if _, err := w.pipeline().Run(w.ctx, day); err == nil {
		t.Fatal("want a cap breach")
	}
	frozen := jobs.NewEvent(jobs.TopicCycleFrozen, day, w.clock())
	stale := jobs.NewEvent(jobs.TopicCycleReconciled, day, w.clock())
	held := jobs.HeldEvent(day, settlement.StageNetted, 1, "net debit cap exceeded <script>x</script>", "test", w.clock())
	w.poison(frozen, stale, held)
	ps, err := w.bus.ListPoisoned(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	uuid := map[string]string{}
	for _, p := range ps {
		uuid[p.Event.Topic] = p.UUID
	}
	published := func(topic string) int {
		return w.count(`SELECT count(*) FROM "watermill_` + topic + `"`) // watermill's default Postgres schema
	}
	before := published(jobs.TopicCycleFrozen)

	audrey := w.client()
	audrey.login("audrey", password("audrey"))
	r := audrey.get("/ops/poison")
	if n := len(findAll(find(r.doc, "table#poison"), "tr")); n != 4 {
		t.Fatalf("%d rows in the poison queue, want 3 and the header", n-1)
	}
	if len(findAll(find(r.doc, "table#poison"), "form")) != 0 || len(findAll(r.doc, "script")) != 0 {
		t.Fatal("a replay form for an auditor, or a script from a poisoned event's reason")
	}
	if r := audrey.post("/ops/poison/replay", url.Values{"uuid": {uuid[jobs.TopicCycleHeld]}}); r.status != http.StatusForbidden {
		t.Fatalf("auditor's replay: %d", r.status)
	}

	alice := w.client()
	alice.login("alice", password("alice"))
	r = alice.get("/ops/poison")
	if got := text(find(r.doc, "tr#msg-"+uuid[jobs.TopicCycleFrozen])); !strings.Contains(got, "moves money: four eyes") || !strings.Contains(got, "Request the replay") {
		t.Fatalf("frozen event's row: %q", got)
	}
	// Money: a request, nothing published.
	if r := alice.post("/ops/poison/replay", url.Values{"uuid": {uuid[jobs.TopicCycleFrozen]}, "note": {"caps raised; net again"}}); r.status != http.StatusSeeOther {
		t.Fatalf("replay request: %d %s", r.status, problem(r))
	}
	id := w.lastRequest()
	if got := published(jobs.TopicCycleFrozen); got != before {
		t.Fatalf("a money-moving event was published on one operator's word (%d, was %d)", got, before)
	}
	if r := alice.post("/requests/decide", url.Values{"id": {id}, "decision": {"APPROVED"}}); r.status != http.StatusConflict || !strings.Contains(problem(r), "four eyes") {
		t.Fatalf("self-approval of a replay: %d %s", r.status, problem(r))
	}
	bob := w.client()
	bob.login("bob", password("bob"))
	bob.get("/requests")
	if r := bob.post("/requests/decide", url.Values{"id": {id}, "decision": {"APPROVED"}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/ops/poison" {
		t.Fatalf("approval of the replay: %d %s", r.status, problem(r))
	}
	if got := published(jobs.TopicCycleFrozen); got != before+1 {
		t.Fatalf("published %d times after the approval, want once", got-before)
	}
	r = bob.get("/ops/poison")
	if got := text(find(r.doc, "tr#msg-"+uuid[jobs.TopicCycleFrozen])); !strings.Contains(got, "replayed by bob") || !strings.Contains(got, "(request "+id+")") {
		t.Fatalf("after the replay: %q", got)
	}
	// Again: refused, published still once.
	if r := bob.post("/ops/poison/replay", url.Values{"uuid": {uuid[jobs.TopicCycleFrozen]}, "note": {"again"}}); r.status != http.StatusConflict || !strings.Contains(problem(r), "replayed already") {
		t.Fatalf("second replay: %d %s", r.status, problem(r))
	}
	if got := published(jobs.TopicCycleFrozen); got != before+1 {
		t.Fatalf("published %d times", got-before)
	}
	// The cycle is FROZEN, not RECONCILED: replaying its reconciled event
	// would do nothing it needs.
	if r := alice.post("/ops/poison/replay", url.Values{"uuid": {uuid[jobs.TopicCycleReconciled]}}); r.status != http.StatusConflict || !strings.Contains(problem(r), "it is FROZEN now") {
		t.Fatalf("stale replay: %d %s", r.status, problem(r))
	}
	// No money: one operator replays it.
	heldBefore := published(jobs.TopicCycleHeld)
	if r := alice.post("/ops/poison/replay", url.Values{"uuid": {uuid[jobs.TopicCycleHeld]}}); r.status != http.StatusSeeOther {
		t.Fatalf("held replay: %d %s", r.status, problem(r))
	}
	if got := published(jobs.TopicCycleHeld); got != heldBefore+1 {
		t.Fatalf("held event published %d times", got-heldBefore)
	}
	for _, bad := range []string{"", strings.Repeat("u", 65), "a b", "no-such-message"} {
		if r := alice.post("/ops/poison/replay", url.Values{"uuid": {bad}}); r.status < 400 || r.status >= 500 {
			t.Errorf("replay of %q: %d", bad, r.status)
		}
	}
	if n := w.count(`SELECT count(*) FROM poison_replays`); n != 2 {
		t.Fatalf("%d replays recorded, want 2", n)
	}
	if r := audrey.get("/ops/poison?format=csv"); strings.Count(r.body, "\n") != 4 || !strings.Contains(r.body, ",bob,") || !strings.Contains(r.body, ",alice,") {
		t.Fatalf("poison CSV: %q", r.body)
	}
}

// TestLedgerPageAndPaging: a cycle's ledger transactions page on the
// server, each with its recorded endorsers beside the ledger's; the break
// register and the approvals page on the server too, every row once.
func TestLedgerPageAndPaging(t *testing.T) {
	w := newWorld(t)
	w.user("audrey", "auditor")
	w.files(day, 420) // 420 payments in chunks of 7: 60 chunks
	w.advance(9 * time.Hour)
	if _, err := w.pipeline().Run(w.ctx, day); err != nil {
		t.Fatal(err)
	}
	total := w.count(`SELECT count(*) FROM ledger_txs`)
	if total <= 50 {
		t.Fatalf("%d ledger transactions: too few to page", total)
	}
	c := w.client()
	c.login("audrey", password("audrey"))
	cy, _, err := w.store.Cycle(w.ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	r := c.get("/cycles/" + string(day))
	want := fmt.Sprintf("Ledger: %d of %d payments committed (100%%)", cy.Entries, cy.Entries)
	if got := text(find(r.doc, "p[class=ledger-progress]")); !strings.Contains(got, want) || attrOf(find(r.doc, "progress"), "value") != strconv.FormatInt(cy.Entries, 10) {
		t.Fatalf("ledger progress %q, want %q", got, want)
	}
	if got := text(find(r.doc, "p[class=counts]")); !strings.Contains(got, fmt.Sprintf("3 files, %d entries (0 reversals); 0 files rejected at intake; 0 deferred in, 0 deferred out", cy.Entries)) {
		t.Fatalf("counts %q", got)
	}
	// The bilateral matrix agrees with the net positions: what a bank is
	// owed less what it owes is its net.
	for _, m := range findAll(r.doc, "table[class=matrix]") {
		cur := strings.TrimPrefix(attrOf(m, "id"), "matrix-")
		var banks []string
		for _, th := range findAll(find(m, "thead"), "th")[1:] {
			banks = append(banks, text(th))
		}
		net := map[string]decimal.Decimal{}
		for i, tr := range findAll(find(m, "tbody"), "tr") {
			for j, td := range findAll(tr, "td") {
				if v := text(td); v != "·" {
					a := decimal.RequireFromString(v)
					net[banks[i]], net[banks[j]] = net[banks[i]].Sub(a), net[banks[j]].Add(a)
				}
			}
		}
		for _, tr := range findAll(find(find(r.doc, "section#positions-"+cur), "tbody"), "tr") {
			bank, cells := text(find(tr, "th")), findAll(tr, "td")
			if want := decimal.RequireFromString(text(cells[2])); !net[bank].Equal(want) {
				t.Fatalf("%s %s: the matrix nets to %s, the position is %s", cur, bank, net[bank], want)
			}
		}
	}
	if len(findAll(r.doc, "table[class=matrix]")) == 0 {
		t.Fatal("no bilateral matrix")
	}
	var settleTx string
	if err := w.pg.DB().QueryRowContext(w.ctx, `SELECT tx_id FROM ledger_txs WHERE function = 'SettleCycle'`).Scan(&settleTx); err != nil {
		t.Fatal(err)
	}
	if got := text(find(r.doc, "p#settled-by")); !strings.Contains(got, "Settled on the ledger by transaction "+settleTx) {
		t.Fatalf("settled by: %q", got)
	}
	seen := map[string]bool{}
	path := "/cycles/" + string(day) + "/ledger"
	pages, unread := 0, 0
	for path != "" {
		r := c.get(path)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d", path, r.status)
		}
		pages++
		for _, tr := range findAll(find(find(r.doc, "table#ledger"), "tbody"), "tr") {
			tx := text(find(tr, "td[class=tx]"))
			if seen[tx] {
				t.Fatalf("%s twice", tx)
			}
			seen[tx] = true
			rec, held := text(find(tr, "td[class=endorsers]")), text(find(tr, "td[class=held]"))
			if rec != "Bank1MSP, Bank2MSP" {
				t.Fatalf("%s: endorsers recorded %q", tx, rec)
			}
			if sub := text(find(tr, "td[class=submitter]")); strings.Contains(sub, "not read from the ledger") {
				unread++ // the ledger stand-in keeps no settling transaction to read back
			} else if held != rec {
				t.Fatalf("%s: endorsers recorded %q, on the ledger %q", tx, rec, held)
			}
		}
		path = attrOf(find(r.doc, "a#next"), "href")
	}
	if len(seen) != total || pages != (total+49)/50 || unread > 1 {
		t.Fatalf("%d transactions on %d pages (%d not read back), want %d", len(seen), pages, unread, total)
	}
	// A CycleSettled event read from the ledger for a transaction the
	// service recorded is its own; one for a transaction it never wrote is
	// flagged.
	cid := settlement.CycleID(day)
	for _, e := range []jobs.LedgerEvent{{Block: 9000, TxID: settleTx, Name: "CycleSettled", Cycle: cid}, {Block: 9001, TxID: "f0reign", Name: "CycleSettled", Cycle: cid}} {
		if err := w.store.SaveLedgerEvent(w.ctx, "test", e); err != nil {
			t.Fatal(err)
		}
	}
	r = c.get("/cycles/" + string(day) + "/ledger")
	if got := findAll(find(find(r.doc, "div#foreign"), "tbody"), "tr"); len(got) != 1 || !strings.Contains(text(got[0]), "f0reign 9001 CycleSettled") {
		t.Fatalf("foreign transactions: %s", text(find(r.doc, "div#foreign")))
	}
	r = c.get("/cycles/" + string(day) + "/ledger?format=csv")
	if r.header.Get("Content-Type") != "text/csv; charset=utf-8" || strings.Count(r.body, "\n") != total+1 {
		t.Fatalf("CSV: %q, %d lines", r.header.Get("Content-Type"), strings.Count(r.body, "\n"))
	}
	// A chunk's transaction traced back to the banks' files.
	var txID string
	if err := w.pg.DB().QueryRowContext(w.ctx, `SELECT tx_id FROM ledger_txs WHERE function = 'RecordChunk' ORDER BY id LIMIT 1`).Scan(&txID); err != nil {
		t.Fatal(err)
	}
	r = c.get("/trace?q=" + txID)
	if r.status != http.StatusOK || text(find(r.doc, "span#verdict")) != "every step checks" {
		t.Fatalf("trace of %s: %d %s", txID, r.status, text(find(r.doc, "main")))
	}
	pays := findAll(find(find(r.doc, "table#tx-payments"), "tbody"), "tr")
	if len(pays) != 7 {
		t.Fatalf("%d payments in a chunk of 7", len(pays))
	}
	for _, tr := range pays {
		if !strings.HasPrefix(attrOf(find(tr, "a"), "href"), "/trace?q=") || !strings.Contains(text(tr), "F2026") {
			t.Fatalf("payment row %q", text(tr))
		}
	}
	if r := c.get("/trace?q=" + url.QueryEscape("no/such tx")); r.status != http.StatusBadRequest {
		t.Fatalf("bad trace query: %d", r.status)
	}
	if r := c.get("/cycles/" + string(day) + "/ledger?after=-1"); r.status != http.StatusBadRequest {
		t.Fatalf("bad cursor: %d", r.status)
	}

	// 130 breaks in another cycle: three pages of the register.
	other := settlement.Date("2026-11-25")
	if _, err := w.store.EnsureCycle(w.ctx, other); err != nil {
		t.Fatal(err)
	}
	var plan reconciliation.Plan
	for i := range 130 {
		plan.Open = append(plan.Open, reconciliation.Break{Kind: reconciliation.MissingOnLedger, Cycle: settlement.CycleID(other),
			Subject: fmt.Sprintf("%s/P-%03d", w.banks[0].BIC, i), Store: "1 KRW"})
	}
	if err := w.store.Reconciled(w.ctx, other, plan, reconciliation.Summary{}); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	path, pages = "/breaks?date="+string(other), 0
	for path != "" {
		r := c.get(path)
		pages++
		for _, a := range findAll(find(r.doc, "table#breaks"), "a") {
			k := attrOf(a, "href")
			if keys[k] {
				t.Fatalf("%s twice", k)
			}
			keys[k] = true
		}
		path = attrOf(find(r.doc, "a#next"), "href")
	}
	if len(keys) != 130 || pages != 3 {
		t.Fatalf("%d breaks on %d pages", len(keys), pages)
	}
	for _, bad := range []string{"after_key=k&after_date=yesterday", "after_key=" + strings.Repeat("k", 201) + "&after_date=2026-11-25"} {
		if r := c.get("/breaks?" + bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, r.status)
		}
	}

	// 60 write-off requests: two pages of approvals.
	for i := range 60 {
		b := plan.Open[i]
		if _, err := w.store.RequestWriteOff(w.ctx, b.Key(), "below the threshold", "alice", w.clock()); err != nil {
			t.Fatal(err)
		}
	}
	r = c.get("/requests")
	if n := len(findAll(find(find(r.doc, "table#pending"), "tbody"), "tr")); n != 50 {
		t.Fatalf("%d requests on the first page", n)
	}
	r = c.get(attrOf(find(r.doc, "a#next"), "href"))
	if n := len(findAll(find(find(r.doc, "table#pending"), "tbody"), "tr")); n != 10 || find(r.doc, "a#next") != nil {
		t.Fatalf("%d requests on the second page", n)
	}
	if r := c.get("/requests?format=csv"); strings.Count(r.body, "\n") != 61 || !strings.HasPrefix(r.body, "id,action,subject") {
		t.Fatalf("requests CSV: %d lines", strings.Count(r.body, "\n"))
	}
	if r := c.get("/cycles/" + string(day) + "/files.csv"); strings.Count(r.body, "\n") != 4 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("files CSV: %q", r.body)
	}
	if r := c.get("/caps?format=csv"); strings.Count(r.body, "\n") != 13 {
		t.Fatalf("caps CSV: %q", r.body)
	}
	if r := c.get("/actions"); !strings.Contains(text(find(r.doc, "p#schedule")), `Schedule: the cycle at cron "0 1 * * 1-5" in Asia/Seoul`) {
		t.Fatalf("operations page: %s", text(find(r.doc, "main")))
	}
	if r := c.get("/requests?page=-1"); r.status != http.StatusBadRequest {
		t.Fatalf("bad page: %d", r.status)
	}
}

// TestRunCycleFromConsole: an operator runs a cycle from its page with
// the pipeline's Run; over its caps it stops, and the page says what the
// CLI would say and offers to run it again; once a second operator has
// approved the raises, the run resumes it to the end; a reported cycle
// has nothing to run; an auditor's run is refused. Each is logged.
func TestRunCycleFromConsole(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "operator")
	w.user("bob", "operator")
	w.user("audrey", "auditor")
	w.files(day, 6)
	w.capsOfOne() // every net debtor is over its cap: the cycle stays FROZEN
	w.advance(9 * time.Hour)
	alice := w.client()
	alice.login("alice", password("alice"))
	r := alice.get("/")
	if find(r.doc, "button#run-"+string(day)) == nil {
		t.Fatal("no run button for an operator")
	}
	r = alice.post("/cycles/"+string(day)+"/run", url.Values{})
	if r.status != http.StatusConflict || !strings.Contains(problem(r), "net debit cap exceeded") || !strings.Contains(problem(r), "stopped at FROZEN") {
		t.Fatalf("run over the caps: %d %s", r.status, problem(r))
	}
	r = alice.get("/cycles/" + string(day))
	if got := text(find(r.doc, "button#run-"+string(day))); got != "Run it again (resume)" {
		t.Fatalf("held cycle's button: %q", got)
	}
	// The banks fund: raises, approved by another operator.
	for _, b := range w.banks {
		for _, c := range []string{"KRW", "USD", "JPY", "KWD"} {
			cur, _ := settlement.ParseCurrency(c)
			q, err := w.store.RequestCapRaise(w.ctx, settlement.Cap{Bank: b.BIC, Currency: cur, Amount: decimal.New(1, 15)}, "funded", "alice", w.clock())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.store.DecideRequest(w.ctx, q.ID, "APPROVED", "bob", w.clock()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r := alice.post("/cycles/"+string(day)+"/run", url.Values{}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/cycles/"+string(day) {
		t.Fatalf("run: %d %s", r.status, problem(r))
	}
	deadline := time.Now().Add(time.Minute)
	for {
		c, _, err := w.store.Cycle(w.ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		if c.Stage == settlement.StageReported {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cycle at %s", c.Stage)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The run's end is logged once its goroutine is done.
	for w.count(`SELECT count(*) FROM console_actions WHERE action = 'cycle.run.end' AND outcome = 'ok'`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the run's end was not logged")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := alice.post("/cycles/"+string(day)+"/run", url.Values{}); r.status != http.StatusConflict || !strings.Contains(problem(r), "is REPORTED: nothing to run") {
		t.Fatalf("run of a reported cycle: %d %s", r.status, problem(r))
	}
	audrey := w.client()
	audrey.login("audrey", password("audrey"))
	if r := audrey.get("/cycles/" + string(day)); find(r.doc, "form[action=/cycles/"+string(day)+"/run]") != nil {
		t.Fatal("a run form for an auditor")
	}
	if r := audrey.post("/cycles/"+string(day)+"/run", url.Values{}); r.status != http.StatusForbidden {
		t.Fatalf("auditor's run: %d", r.status)
	}
	if n := w.count(`SELECT count(*) FROM console_actions WHERE actor = 'alice' AND action = 'cycle.run' AND outcome = 'failed' AND detail LIKE '%net debit cap exceeded%'`); n != 1 {
		t.Fatalf("%d failed runs logged", n)
	}
}

// TestTraceReversedPayment: a payment settled one day and reversed the
// next is traced both ways: the payment's trace shows its reversal, the
// reversal's its original, each with its file, cycle and ledger step.
func TestTraceReversedPayment(t *testing.T) {
	w := newWorld(t)
	w.user("audrey", "auditor")
	b0 := w.banks[0].BIC
	next := w.reversedNextDay()
	c := w.client()
	c.login("audrey", password("audrey"))
	for q, want := range map[string][]string{
		string(b0) + "/PX-1": {string(b0) + "/PX-1", "FP-1", "C" + string(day), string(b0) + "/RX-1", "FR-1", "C" + string(next)},
		string(b0) + "/RX-1": {string(b0) + "/RX-1", "FR-1", "C" + string(next), string(b0) + "/PX-1", "FP-1", "C" + string(day)},
	} {
		r := c.get("/trace?q=" + url.QueryEscape(q))
		sections := findAll(r.doc, "section[class=trace]")
		if r.status != http.StatusOK || len(sections) != 2 {
			t.Fatalf("trace %s: %d, %d traces: %s", q, r.status, len(sections), text(find(r.doc, "main")))
		}
		got := text(find(r.doc, "main"))
		for _, s := range want {
			if !strings.Contains(got, s) {
				t.Fatalf("trace %s lacks %q: %s", q, s, got)
			}
		}
		for _, v := range findAll(r.doc, "span#verdict") {
			if text(v) != "every step checks" {
				t.Fatalf("trace %s: %q: %s", q, text(v), got)
			}
		}
	}
}

// reversedNextDay settles bank 0's payment PX-1 (file FP-1) in the day's
// cycle, and its reversal RX-1 (file FR-1) in the next business day's;
// it returns that day.
func (w *world) reversedNextDay() settlement.Date {
	w.t.Helper()
	t := w.t
	b0, b1 := w.banks[0].BIC, w.banks[1].BIC
	w.files(day, 6)
	w.upload(0, "FP-1.csv", []byte(fmt.Sprintf("H,FP-1,%s,%s,%sT09:00:00+09:00\nP,PX-1,%s,%s,1000,KRW,invoice 17\nT,1,1000\n", b0, day, day, b0, b1)))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("intake: %+v %v", c, err)
	}
	w.advance(9 * time.Hour)
	if _, err := w.pipeline().Run(w.ctx, day); err != nil {
		t.Fatal(err)
	}
	next := w.cal.Next(day)
	w.advance(15 * time.Hour) // the next morning
	w.upload(0, "FR-1.csv", []byte(fmt.Sprintf("H,FR-1,%s,%s,%sT09:00:00+09:00\nR,RX-1,PX-1,%s,%s,1000,KRW,AM05\nT,1,1000\n", b0, next, next, b0, b1)))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("intake of the reversal: %+v %v", c, err)
	}
	w.advance(9 * time.Hour)
	if _, err := w.pipeline().Run(w.ctx, next); err != nil {
		t.Fatal(err)
	}
	return next
}
