package console_test

import (
	"bufio"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"settle/formats/gen"
	"settle/jobs"
	"settle/signature"
)

// TestLoginRolesAndLog: a wrong password is refused; an operator signs in
// and sees tonight's cycle; an auditor reads but every POST of his is
// refused and logged; a viewer does not see the action log.
func TestLoginRolesAndLog(t *testing.T) {
	w := newWorld(t)
	_, key := w.settledWithBreak()
	w.user("alice", "operator")
	w.user("audrey", "auditor")
	w.user("vic", "viewer")

	c := w.client()
	if r := c.login("alice", "wrong-password-123"); r.status != http.StatusUnauthorized || !strings.Contains(text(find(r.doc, "p#error")), "Wrong name or password") {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	if r := c.login("nobody", "wrong-password-123"); r.status != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", r.status)
	}
	r := c.login("alice", password("alice"))
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	setCookie := r.header.Get("Set-Cookie")
	for _, want := range []string{"settle_session=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(strings.Join(r.header.Values("Set-Cookie"), "\n"), want) {
			t.Errorf("session cookie lacks %s: %s", want, setCookie)
		}
	}
	r = c.get("/")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("tonight: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if got := text(find(r.doc, "article#cycle-"+string(day))); !strings.Contains(got, "C2026-11-24") || !strings.Contains(got, "REPORTED") {
		t.Fatalf("tonight shows: %q", got)
	}
	if li := findAll(find(r.doc, "article#cycle-"+string(day)), "li"); len(li) != 7 || attrOf(li[6], "class") != "current" || attrOf(li[0], "class") != "done" {
		t.Fatalf("timeline: %d stages", len(li))
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"} {
		if r.header.Get(h) != want {
			t.Errorf("%s: %q", h, r.header.Get(h))
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP: %q", csp)
	}

	a := w.client()
	if r := a.login("audrey", password("audrey")); r.status != http.StatusSeeOther {
		t.Fatalf("auditor login: %d", r.status)
	}
	if r := a.get("/break?key=" + url.QueryEscape(key)); r.status != http.StatusOK || find(r.doc, "button#resolve") != nil {
		t.Fatalf("auditor sees the break without its actions: %d", r.status)
	}
	if r := a.post("/break/resolve", url.Values{"key": {key}, "note": {"auditors do not resolve"}}); r.status != http.StatusForbidden ||
		!strings.Contains(text(find(r.doc, "p#problem")), "your role (auditor) may not do this") {
		t.Fatalf("auditor POST: %d %s", r.status, r.body)
	}
	if r := a.get("/actions"); r.status != http.StatusOK ||
		!strings.Contains(text(find(r.doc, "table#actions")), "audrey auditor 127.0.0.1 /break/resolve "+key+" refused role auditor may not act") {
		t.Fatalf("action log: %s", text(find(r.doc, "table#actions")))
	}
	v := w.client()
	v.login("vic", password("vic"))
	if r := v.get("/actions"); r.status != http.StatusForbidden {
		t.Fatalf("viewer reads the action log: %d", r.status)
	}
	r = v.get("/breaks")
	if r.status != http.StatusOK || !strings.Contains(text(find(r.doc, "table#breaks")), "OPEN") {
		t.Fatalf("viewer reads breaks: %d", r.status)
	}
	// The register's link opens the break (a key with | and /, escaped once).
	if r := v.get(attrOf(find(find(r.doc, "table#breaks"), "a"), "href")); r.status != http.StatusOK || text(find(r.doc, "strong#state")) != "OPEN" {
		t.Fatalf("link from the register: %d %s", r.status, text(find(r.doc, "main")))
	}
	// Not signed in: pages send to the login, POSTs are refused.
	anon := w.client()
	if r := anon.get("/breaks"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fbreaks" {
		t.Fatalf("anonymous GET: %d %s", r.status, r.header.Get("Location"))
	}
	if r := anon.post("/break/resolve", url.Values{"key": {key}, "note": {"x"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("anonymous POST: %d", r.status)
	}
}

// TestBreakWorkedToTheEnd: investigated, a write-off requested by one
// operator, refused when she approves it herself, approved by another;
// the register keeps every step and names both.
func TestBreakWorkedToTheEnd(t *testing.T) {
	w := newWorld(t)
	payment, key := w.settledWithBreak()
	w.user("alice", "operator")
	w.user("bob", "operator")
	alice, bob := w.client(), w.client()
	alice.login("alice", password("alice"))
	bob.login("bob", password("bob"))

	page := "/break?key=" + url.QueryEscape(key)
	r := alice.get(page)
	if r.status != http.StatusOK || text(find(r.doc, "strong#state")) != "OPEN" || !strings.Contains(text(find(r.doc, "h1")), payment) {
		t.Fatalf("break page: %d %s", r.status, text(find(r.doc, "h1")))
	}
	if r := alice.post("/break/investigate", url.Values{"key": {key}}); r.status != http.StatusSeeOther {
		t.Fatalf("investigate: %d %s", r.status, r.body)
	}
	if r := alice.post("/break/resolve", url.Values{"key": {key}, "note": {"  "}}); r.status != http.StatusBadRequest ||
		!strings.Contains(text(find(r.doc, "p#problem")), "note: required") {
		t.Fatalf("resolve without note: %d %s", r.status, r.body)
	}
	alice.get(page)
	if r := alice.post("/break/write-off", url.Values{"key": {key}, "note": {"fee below threshold, agreed with the bank, ref OPS-17"}}); r.status != http.StatusSeeOther {
		t.Fatalf("write-off request: %d %s", r.status, r.body)
	}
	r = alice.get(page)
	if text(find(r.doc, "strong#state")) != "INVESTIGATING" {
		t.Fatalf("a request wrote the break off by itself: %s", text(find(r.doc, "strong#state")))
	}
	btn := find(r.doc, "button[value=APPROVED]")
	id := attrOf(find(btn.Parent, "input[name=id]"), "value")
	if r := alice.post("/requests/decide", url.Values{"id": {id}, "decision": {"APPROVED"}}); r.status != http.StatusConflict ||
		!strings.Contains(text(find(r.doc, "p#problem")), "four eyes") {
		t.Fatalf("self-approval: %d %s", r.status, r.body)
	}
	bob.get("/requests")
	if r := bob.post("/requests/decide", url.Values{"id": {id}, "decision": {"APPROVED"}}); r.status != http.StatusSeeOther {
		t.Fatalf("approval: %d %s", r.status, r.body)
	}
	r = bob.get(page)
	if text(find(r.doc, "strong#state")) != "WRITTEN_OFF" || find(r.doc, "button#resolve") != nil {
		t.Fatalf("after approval: %s", text(find(r.doc, "strong#state")))
	}
	hist := findAll(find(r.doc, "table#history"), "tr")
	if len(hist) != 4 || !strings.Contains(text(hist[3]), "WRITTEN_OFF alice, approved by bob fee below threshold") {
		t.Fatalf("history: %s", text(find(r.doc, "table#history")))
	}
	if r := bob.post("/requests/decide", url.Values{"id": {id}, "decision": {"REJECTED"}}); r.status != http.StatusConflict {
		t.Fatalf("decided twice: %d", r.status)
	}
	bob.get("/")
	if r := bob.post("/break/resolve", url.Values{"key": {key}, "note": {"too late"}}); r.status != http.StatusConflict ||
		!strings.Contains(text(find(r.doc, "p#problem")), "is WRITTEN_OFF") {
		t.Fatalf("resolving a written-off break: %d %s", r.status, r.body)
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
	for _, want := range []string{"alice break.investigate ok", "alice break.write_off.request ok", "alice request.decide refused",
		"bob request.decide ok", "bob request.decide refused", "alice break.resolve refused", "bob login ok"} {
		if !strings.Contains(got, want) {
			t.Errorf("action log lacks %q:\n%s", want, got)
		}
	}
}

// TestHostileInput: a script in a note is shown as text; a form without
// the session's CSRF token, from another origin, too large, or with bad
// parameters is refused with a precise message.
func TestHostileInput(t *testing.T) {
	w := newWorld(t)
	_, key := w.settledWithBreak()
	w.user("alice", "operator")
	c := w.client()
	c.login("alice", password("alice"))
	page := "/break?key=" + url.QueryEscape(key)
	c.get(page)
	xss := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	if r := c.post("/break/investigate", url.Values{"key": {key}, "note": {xss}}); r.status != http.StatusSeeOther {
		t.Fatalf("investigate: %d", r.status)
	}
	r := c.get(page)
	if strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<img src=x") || !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("note not escaped:\n%s", r.body)
	}
	if n := findAll(r.doc, "img"); len(n) != 0 {
		t.Fatalf("the note made an element")
	}
	if got := text(findAll(find(r.doc, "table#history"), "tr")[2]); !strings.Contains(got, xss) {
		t.Fatalf("note shown as %q", got)
	}

	if r := c.do(http.MethodPost, "/break/resolve", url.Values{"key": {key}, "note": {"no token"}}); r.status != http.StatusForbidden ||
		!strings.Contains(text(find(r.doc, "p#problem")), "CSRF token is missing or wrong") {
		t.Fatalf("no CSRF token: %d %s", r.status, r.body)
	}
	if r := c.post("/break/resolve", url.Values{"key": {key}, "note": {"forged"}, "csrf": {"forged-token-forged-token-forged-token"}}); r.status != http.StatusForbidden {
		t.Fatalf("forged CSRF token: %d", r.status)
	}
	// Another site's form: the Origin header names it.
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/break/resolve", strings.NewReader(url.Values{"key": {key}, "note": {"x"}, "csrf": {c.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.AddCookie(&http.Cookie{Name: "settle_session", Value: c.cookies["settle_session"]})
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if r := c.post("/break/resolve", url.Values{"key": {key}, "note": {strings.Repeat("x", 20<<10)}}); r.status != http.StatusRequestEntityTooLarge ||
		!strings.Contains(text(find(r.doc, "p#problem")), "larger than 16384 bytes") {
		t.Fatalf("large body: %d %s", r.status, text(find(r.doc, "p#problem")))
	}
	if r := c.post("/break/resolve", url.Values{"key": {key}, "note": {strings.Repeat("é", 2001)}}); r.status != http.StatusBadRequest ||
		!strings.Contains(text(find(r.doc, "p#problem")), "note: at most 2000 characters (got 2001)") {
		t.Fatalf("long note: %d %s", r.status, text(find(r.doc, "p#problem")))
	}
	if r := c.post("/break/resolve", url.Values{"key": {"no-such-break"}, "note": {"n"}}); r.status != http.StatusNotFound ||
		!strings.Contains(text(find(r.doc, "p#problem")), "no such break") {
		t.Fatalf("unknown break: %d", r.status)
	}
	for path, want := range map[string]string{
		"/cycles/2026-13-01":                     "date",
		"/cycles/yesterday":                      `date "yesterday": want YYYY-MM-DD`,
		"/cycles/2026-11-23":                     "no cycle for 2026-11-23",
		"/breaks?state=BOGUS":                    `state "BOGUS": want OPEN`,
		"/break?key=":                            "key is required",
		"/trace?q=not-a-trace":                   "want BIC/PAYMENT-ID",
		"/break?key=" + strings.Repeat("k", 201): "key: at most 200 bytes (got 201)",
	} {
		r := c.get(path)
		if r.status < 400 || r.status >= 500 || !strings.Contains(r.body, strings.ReplaceAll(want, `"`, "&#34;")) {
			t.Errorf("%s: %d, want a 4xx saying %q: %s", path, r.status, want, text(find(r.doc, "main")))
		}
	}
	if r := c.get("/breaks?date=" + strings.Repeat("x", 3000)); r.status != http.StatusRequestURITooLong {
		t.Errorf("long query: %d", r.status)
	}
	if r := c.get("/static/console.js"); !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") {
		t.Errorf("script served as %q", r.header.Get("Content-Type"))
	}
	if r := c.get("/breaks.csv"); r.header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(r.body, "'<script>") && !strings.Contains(r.body, "<script>") {
		t.Errorf("CSV: %q %q", r.header.Get("Content-Type"), r.body)
	}
}

// TestLoginRateLimitAndSessions: failed sign-ins from one address are
// limited (the right password too, for a while), then allowed again; a
// session ends at logout, and its copied cookie opens nothing; an idle
// session times out.
func TestLoginRateLimitAndSessions(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "operator")
	c := w.client()
	for i := 0; i < 5; i++ {
		if r := c.login("alice", "not-her-password"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	r := c.login("alice", password("alice"))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("sixth try: %d", r.status)
	}
	c.login("alice", password("alice")) // refused again: not logged again
	acts, _ := w.pg.ConsoleActions(w.ctx, 0, 100)
	limited := 0
	for _, a := range acts {
		if strings.HasPrefix(a.Detail, "rate limited") {
			limited++
		}
	}
	if limited != 1 {
		t.Fatalf("%d rate-limit refusals logged, want 1", limited)
	}
	// The stranger's failures limit his address, not alice's account:
	// alice at her own desk (another address) signs in.
	desk := w.client()
	desk.from = "127.0.0.2"
	if r := desk.login("alice", password("alice")); r.status != http.StatusSeeOther {
		t.Fatalf("alice from another address: %d", r.status)
	}
	w.advance(61 * time.Second)
	if r := c.login("alice", password("alice")); r.status != http.StatusSeeOther {
		t.Fatalf("after the window: %d", r.status)
	}
	stolen := c.cookies["settle_session"]
	c.get("/")
	if r := c.post("/logout", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	thief := w.client()
	thief.cookies["settle_session"] = stolen
	if r := thief.get("/breaks"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Fatalf("stolen cookie after logout: %d", r.status)
	}
	c.login("alice", password("alice"))
	if r := c.get("/breaks"); r.status != http.StatusOK {
		t.Fatalf("signed in again: %d", r.status)
	}
	w.advance(16 * time.Minute)
	if r := c.get("/breaks"); r.status != http.StatusSeeOther {
		t.Fatalf("idle session: %d", r.status)
	}
	// The login form's own token: a forged sign-in (no cookie) is refused.
	f := w.client()
	if r := f.do(http.MethodPost, "/login", url.Values{"name": {"alice"}, "password": {password("alice")}, "csrf": {"x"}}); r.status != http.StatusForbidden {
		t.Fatalf("login CSRF: %d", r.status)
	}
	// An open redirect through next is refused.
	g := w.client()
	g.get("/login")
	if r := g.post("/login", url.Values{"name": {"alice"}, "password": {password("alice")}, "next": {"//evil.example/x"}}); r.header.Get("Location") != "/" {
		t.Fatalf("next: %q", r.header.Get("Location"))
	}
}

// TestPositionsAndTrace: the cycle page shows each bank's position in each
// currency, the zero sum, the CSV; the trace shows the payment's lineage.
func TestPositionsAndTrace(t *testing.T) {
	w := newWorld(t)
	payment, _ := w.settledWithBreak()
	w.user("audrey", "auditor")
	c := w.client()
	c.login("audrey", password("audrey"))
	r := c.get("/cycles/" + string(day))
	if r.status != http.StatusOK {
		t.Fatalf("cycle: %d", r.status)
	}
	sections := findAll(r.doc, "section[class=positions]")
	if len(sections) == 0 {
		t.Fatalf("no positions: %s", text(find(r.doc, "main")))
	}
	ps, _ := w.store.Positions(w.ctx, day)
	rows := 0
	for _, s := range sections {
		cur := strings.TrimPrefix(attrOf(s, "id"), "positions-")
		if z := text(find(s, "p#zero-"+cur)); !strings.Contains(z, "exactly zero") {
			t.Errorf("%s: %s", cur, z)
		}
		rows += len(findAll(find(s, "tbody"), "tr"))
	}
	if rows != len(ps) {
		t.Fatalf("%d rows, %d positions", rows, len(ps))
	}
	// The day's files, each downloadable as the bank sent it.
	files := findAll(find(r.doc, "table#files"), "code")
	if len(files) != 3 {
		t.Fatalf("%d files listed", len(files))
	}
	dl := c.get(attrOf(find(files[0], "a"), "href"))
	if dl.status != http.StatusOK || dl.header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(dl.body, "H,") {
		t.Fatalf("download: %d %q %.40q", dl.status, dl.header.Get("Content-Type"), dl.body)
	}
	// Its .sig, as the bank sent it: it verifies over the file's bytes
	// under the bank's key; its acknowledgement, byte for byte what the
	// bank found in its outbox.
	row := findAll(find(find(r.doc, "table#files"), "tbody"), "tr")[0]
	sender := text(find(row, "td"))
	var bank gen.Bank
	for _, b := range w.banks {
		if string(b.BIC) == sender {
			bank = b
		}
	}
	sig := c.get(attrOf(find(row, "a[class=sig]"), "href"))
	raw, err := signature.DecodeSig([]byte(sig.body))
	if sig.status != http.StatusOK || err != nil {
		t.Fatalf("sig download: %d %v", sig.status, err)
	}
	v := signature.NewVerifier()
	v.Write([]byte(dl.body))
	v.Begin([]signature.Key{{Bank: bank.BIC, Label: "k1", Public: bank.Private.Public()}}, raw)
	if _, err := v.Verify(); err != nil {
		t.Fatalf("the downloaded .sig does not verify the downloaded file: %v", err)
	}
	ack := c.get(attrOf(find(row, "a[class=ack]"), "href"))
	name := text(find(row, "td[class=name]"))
	sent, err := os.ReadFile(filepath.Join(w.root, "sftp", "banks", sender, "outbox", name+".ack.json"))
	if err != nil || ack.status != http.StatusOK || ack.body != string(sent) {
		t.Fatalf("acknowledgement: %d %v\n%s\nthe bank's:\n%s", ack.status, err, ack.body, sent)
	}
	if r := c.get("/files/" + strings.Repeat("0", 64) + "/ack?bank=" + sender + "&name=x.csv"); r.status != http.StatusNotFound {
		t.Fatalf("unknown acknowledgement: %d", r.status)
	}
	if r := c.get("/files/" + strings.Repeat("0", 64) + "/sig?bank=nope&name=x.csv"); r.status != http.StatusBadRequest {
		t.Fatalf("bad bank: %d", r.status)
	}
	if r := c.get("/files/..%2F..%2Fetc%2Fpasswd"); r.status != http.StatusBadRequest {
		t.Fatalf("path in a download: %d", r.status)
	}
	if r := c.get("/files/" + strings.Repeat("0", 64)); r.status != http.StatusNotFound {
		t.Fatalf("unknown file: %d", r.status)
	}
	csv := c.get("/cycles/" + string(day) + "/positions.csv")
	if csv.header.Get("Content-Type") != "text/csv; charset=utf-8" || strings.Count(csv.body, "\n") != len(ps)+1 {
		t.Fatalf("positions CSV: %q", csv.body)
	}
	r = c.get("/trace?q=" + url.QueryEscape(payment))
	if r.status != http.StatusOK {
		t.Fatalf("trace: %d %s", r.status, r.body)
	}
	got := text(find(r.doc, "section[class=trace]"))
	for _, want := range []string{payment, "file", "cycle", "C2026-11-24", "ledger", "transaction", "Bank1MSP"} {
		if !strings.Contains(got, want) {
			t.Errorf("trace lacks %q: %s", want, got)
		}
	}
	// audit verify, re-run by the auditor from the page, and logged: the
	// archive re-netted agrees with the positions in Postgres and on the
	// ledger.
	r = c.get("/verify?date=" + string(day))
	if r.status != http.StatusOK || text(find(r.doc, "span#verdict")) != "archive, Postgres and the ledger agree" ||
		!strings.Contains(text(find(r.doc, "section[class=verify]")), "3 files re-verified") {
		t.Fatalf("verify: %d %s", r.status, text(find(r.doc, "main")))
	}
	if r := c.get("/verify?date=2026-02-30"); r.status != http.StatusBadRequest {
		t.Fatalf("verify of a bad date: %d", r.status)
	}
	r = c.get("/actions")
	if !strings.Contains(text(find(r.doc, "table#actions")), "audit.verify 2026-11-24 ok 3 files, 6 entries, 0 problems") {
		t.Fatalf("verify not logged: %s", text(find(r.doc, "table#actions")))
	}
}

// TestCapRaiseFourEyes: an operator requests a raise on the caps page; it
// is not in force until a second operator approves it there; a bad amount
// is refused with the reason.
func TestCapRaiseFourEyes(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "operator")
	w.user("bob", "operator")
	alice, bob := w.client(), w.client()
	alice.login("alice", password("alice"))
	bob.login("bob", password("bob"))
	bank := string(w.banks[0].BIC)
	alice.get("/caps")
	if r := alice.post("/caps/raise", url.Values{"bank": {bank}, "currency": {"KRW"}, "amount": {"12.5"}, "note": {"n"}}); r.status != http.StatusBadRequest ||
		!strings.Contains(text(find(r.doc, "p#problem")), "amount:") {
		t.Fatalf("KRW with decimals: %d %s", r.status, text(find(r.doc, "p#problem")))
	}
	if r := alice.post("/caps/raise", url.Values{"bank": {bank}, "currency": {"KRW"}, "amount": {"1000"}, "note": {"n"}}); r.status != http.StatusConflict ||
		!strings.Contains(text(find(r.doc, "p#problem")), "not a raise") {
		t.Fatalf("a lower cap: %d %s", r.status, text(find(r.doc, "p#problem")))
	}
	if r := alice.post("/caps/raise", url.Values{"bank": {bank}, "currency": {"KRW"}, "amount": {"2000000000000000"}, "note": {"a large payment tonight, ref TR-9"}}); r.status != http.StatusSeeOther {
		t.Fatalf("raise: %d %s", r.status, r.body)
	}
	r := alice.get("/caps")
	id := attrOf(find(find(find(r.doc, "table#cap-requests"), "button[value=APPROVED]").Parent, "input[name=id]"), "value")
	if r := alice.post("/requests/decide", url.Values{"id": {id}, "decision": {"APPROVED"}}); r.status != http.StatusConflict {
		t.Fatalf("self-approval: %d", r.status)
	}
	if !strings.Contains(text(find(r.doc, "table#caps")), bank+" KRW 1000000000000000") {
		t.Fatalf("the cap moved before approval: %s", text(find(r.doc, "table#caps")))
	}
	bob.get("/caps")
	if r := bob.post("/requests/decide", url.Values{"id": {id}, "decision": {"APPROVED"}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/caps" {
		t.Fatalf("approval: %d", r.status)
	}
	r = bob.get("/caps")
	if !strings.Contains(text(find(r.doc, "table#caps")), bank+" KRW 2000000000000000") ||
		!strings.Contains(text(find(r.doc, "table#cap-requests")), "APPROVED by bob") {
		t.Fatalf("after approval: %s", text(find(r.doc, "main")))
	}
}

// TestEventStreamEndsWithSession: the live stream sends the cycles, and
// ends when its session is signed out.
func TestEventStreamEndsWithSession(t *testing.T) {
	w := newWorld(t)
	w.files(day, 2)
	w.user("alice", "operator")
	c := w.client()
	c.login("alice", password("alice"))
	req, _ := http.NewRequest(http.MethodGet, w.srv.URL+"/events", nil)
	req.AddCookie(&http.Cookie{Name: "settle_session", Value: c.cookies["settle_session"]})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(20 * time.Second)
	for got := false; !got; {
		select {
		case l := <-lines:
			got = strings.HasPrefix(l, "data: ") && strings.Contains(l, `"id":"C2026-11-24","stage":"OPEN"`)
		case <-deadline:
			t.Fatal("no cycle event")
		}
	}
	c.get("/")
	if r := c.post("/logout", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	for {
		select {
		case _, open := <-lines:
			if !open {
				return // the server ended the stream
			}
		case <-deadline:
			t.Fatal("the stream outlived its session")
		}
	}
}

// TestHeldCycleSaysWhy: a cycle over its caps is held before NETTED; the
// pages say so with the reason and what unblocks it, and the positions of
// the attempt show the banks over their caps.
func TestHeldCycleSaysWhy(t *testing.T) {
	w := newWorld(t)
	w.files(day, 6)
	w.capsOfOne() // every net debtor is over its cap: the cycle stays FROZEN
	w.advance(9 * time.Hour)
	if _, err := w.pipeline().Run(w.ctx, day); !errors.Is(err, jobs.ErrCapBreach) {
		t.Fatalf("want a cap breach: %v", err)
	}
	w.user("vic", "viewer")
	c := w.client()
	c.login("vic", password("vic"))
	r := c.get("/")
	holdDiv := find(find(r.doc, "article#cycle-"+string(day)), "div[class=hold]")
	hold := text(holdDiv)
	if !strings.Contains(hold, "Held before NETTED") || !strings.Contains(hold, "net debit cap exceeded") || !strings.Contains(hold, "Either defer a file of a bank over its cap") {
		t.Fatalf("hold: %q", hold)
	}
	// A cap breach's hold offers what unblocks it: a deferral, a raise.
	var links []string
	for _, a := range findAll(holdDiv, "a") {
		links = append(links, attrOf(a, "href"))
	}
	if strings.Join(links, " ") != "/cycles/"+string(day)+"#files /caps" {
		t.Fatalf("the hold's actions: %v", links)
	}
	r = c.get("/cycles/" + string(day))
	if !strings.Contains(text(find(r.doc, "div[class=hold]")), "settle cycle run --date 2026-11-24") {
		t.Fatalf("cycle page hold: %s", text(find(r.doc, "main")))
	}
	over := 0
	for _, tr := range findAll(r.doc, "tr") {
		if rect := findAll(tr, "rect"); len(rect) == 2 && attrOf(rect[1], "fill") == "#b91c1c" && attrOf(rect[1], "width") == "200" {
			over++
		}
	}
	if over == 0 {
		t.Fatalf("no bank shown over its cap: %s", text(find(r.doc, "main")))
	}
}
