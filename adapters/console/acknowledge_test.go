package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestBreakAcknowledged: an operator acknowledges an open break from the
// register (a form with the session's CSRF token) and returns to it; the
// break is ACKNOWLEDGED with her name in its history, is offered no second
// acknowledgement but still investigation and resolution; a second
// acknowledgement is refused with the lifecycle's words; an auditor sees no
// such form and is refused; a forged token is refused; every attempt is in
// the action log.
func TestBreakAcknowledged(t *testing.T) {
	w := newWorld(t)
	payment, key := w.settledWithBreak()
	w.user("alice", "operator")
	w.user("audrey", "auditor")
	alice, audrey := w.client(), w.client()
	alice.login("alice", password("alice"))
	audrey.login("audrey", password("audrey"))

	register := "/breaks?state=OPEN"
	r := alice.get(register)
	if r.status != http.StatusOK {
		t.Fatalf("register: %d", r.status)
	}
	form, keyField := findAckForm(r, key)
	if form == nil || keyField == "" {
		t.Fatalf("no acknowledge form for %s in the register: %s", key, text(find(r.doc, "table#breaks")))
	}
	if attrOf(find(form, "input[name=csrf]"), "value") == "" || text(find(form, "button")) != "Acknowledge" {
		t.Fatalf("form: csrf %q, button %q", attrOf(find(form, "input[name=csrf]"), "value"), text(find(form, "button")))
	}
	next := attrOf(find(form, "input[name=next]"), "value")
	// A forged token first.
	if r := alice.post("/break/acknowledge", url.Values{"key": {key}, "next": {next}, "csrf": {"forged"}}); r.status != http.StatusForbidden {
		t.Fatalf("forged CSRF: %d", r.status)
	}
	r = alice.post("/break/acknowledge", url.Values{"key": {key}, "next": {next}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != register {
		t.Fatalf("acknowledge: %d to %q, want 303 to %s (%s)", r.status, r.header.Get("Location"), register, r.body)
	}
	page := "/break?key=" + url.QueryEscape(key)
	r = alice.get(page)
	if text(find(r.doc, "strong#state")) != "ACKNOWLEDGED" || !strings.Contains(text(find(r.doc, "h1")), payment) {
		t.Fatalf("after: %s", text(find(r.doc, "main")))
	}
	if find(r.doc, "button#acknowledge") != nil || find(r.doc, "button#investigate") == nil || find(r.doc, "button#resolve") == nil || find(r.doc, "button#write-off") == nil {
		t.Fatalf("actions offered on an acknowledged break: %s", text(find(r.doc, "main")))
	}
	hist := findAll(find(find(r.doc, "table#history"), "tbody"), "tr")
	if len(hist) != 2 || !strings.Contains(text(hist[1]), "ACKNOWLEDGED alice") {
		t.Fatalf("history: %s", text(find(r.doc, "table#history")))
	}
	// No longer open: not in the OPEN register, in the ACKNOWLEDGED one,
	// and with no acknowledge form there.
	if f, _ := findAckForm(alice.get(register), key); f != nil {
		t.Fatal("still offered for acknowledgement")
	}
	r = alice.get("/breaks?state=ACKNOWLEDGED")
	if !strings.Contains(text(find(r.doc, "table#breaks")), payment) {
		t.Fatalf("ACKNOWLEDGED filter: %s", text(find(r.doc, "table#breaks")))
	}
	if f, _ := findAckForm(r, key); f != nil {
		t.Fatal("an acknowledged break offered for acknowledgement")
	}
	// Twice: the lifecycle's refusal, as the CLI says it.
	r = alice.post("/break/acknowledge", url.Values{"key": {key}})
	if r.status != http.StatusConflict || !strings.Contains(text(find(r.doc, "p#problem")), "only an OPEN break is acknowledged") {
		t.Fatalf("acknowledged twice: %d %s", r.status, text(find(r.doc, "p#problem")))
	}
	// Investigated from there.
	if r := alice.post("/break/investigate", url.Values{"key": {key}, "note": {"asked the peer"}}); r.status != http.StatusSeeOther {
		t.Fatalf("acknowledged -> investigating: %d %s", r.status, r.body)
	}
	// An auditor reads the register with no form, and is refused.
	r = audrey.get("/breaks")
	if find(find(r.doc, "table#breaks"), "form") != nil {
		t.Fatal("an auditor is offered a form")
	}
	if r := audrey.post("/break/acknowledge", url.Values{"key": {key}}); r.status != http.StatusForbidden {
		t.Fatalf("auditor's acknowledgement: %d", r.status)
	}
	acts, err := w.pg.ConsoleActions(w.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	for _, a := range acts {
		log = append(log, a.Actor+" "+a.Action+" "+a.Outcome)
	}
	got := strings.Join(log, "\n")
	for _, want := range []string{"alice /break/acknowledge refused", "alice break.acknowledge ok", "alice break.acknowledge refused", "audrey /break/acknowledge refused"} {
		if !strings.Contains(got, want) {
			t.Errorf("action log lacks %q:\n%s", want, got)
		}
	}
}

// findAckForm is the register's acknowledge form for a break, and the key
// it posts.
func findAckForm(r response, key string) (form *html.Node, k string) {
	for _, f := range findAll(find(r.doc, "table#breaks"), "form") {
		if attrOf(f, "action") == "/break/acknowledge" && attrOf(find(f, "input[name=key]"), "value") == key {
			return f, key
		}
	}
	return nil, ""
}
