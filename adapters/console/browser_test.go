package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"settle/jobs"
	"settle/settlement"
)

// chromiumPath is Debian's chromium, installed by ops/deps.sh.
const chromiumPath = "/usr/bin/chromium"

// stepTimeout bounds one step of a browser test (a failed wait ends there,
// with the browser still up for the screenshot).
const stepTimeout = 30 * time.Second

// browser is one headless Chromium with a fresh profile of its own (so
// two users do not share cookies), its background networking off.
type browser struct {
	t       *testing.T
	ctx     context.Context
	name    string
	dialogs atomic.Int32
}

func newBrowser(t *testing.T, name string) *browser {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("SETTLE_NO_BROWSER") != "" {
			t.Skip("SETTLE_NO_BROWSER set and no chromium")
		}
		t.Fatalf("browser test: %s is missing: run ops/deps.sh (installs Debian's chromium)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	b := &browser{t: t, ctx: ctx, name: name}
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc() // stops the browser process
	})
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			b.dialogs.Add(1)
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// fail saves a screenshot and the page's HTML, then stops the test.
func (b *browser) fail(step string, err error) {
	b.t.Helper()
	dir := os.Getenv("SETTLE_BROWSER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "settle-browser-failures")
	}
	dir = filepath.Join(dir, strings.ReplaceAll(b.t.Name(), "/", "_"))
	os.MkdirAll(dir, 0o755)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, e := chromedp.Run(ctx, chromedp.FullScreenshot(100)); e == nil {
		os.WriteFile(filepath.Join(dir, b.name+".png"), png, 0o644)
	}
	if h, e := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); e == nil {
		os.WriteFile(filepath.Join(dir, b.name+".html"), []byte(h), 0o644)
	}
	b.t.Fatalf("%s, %s: %v (screenshot and HTML in %s)", b.name, step, err, dir)
}

func (b *browser) do(step string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(step, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	var err error
	for range 5 { // the live script may replace the node between query and read
		ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
		var s string
		s, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			return strings.Join(strings.Fields(s), " ")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.fail("read "+sel, err)
	return ""
}

func (b *browser) eval(step, js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(step, err)
	}
	return s
}

// waitFor polls a JavaScript predicate until it holds. It asks again
// when the page navigates under it (a form's answer arriving), which the
// browser reports as an error of that evaluation.
func (b *browser) waitFor(step, js string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`Boolean(`+js+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	b.fail(step, fmt.Errorf("still false after %s (last error: %v)", timeout, last))
}

func (b *browser) login(base, name string) {
	b.t.Helper()
	b.do("log in as "+name,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password(name)),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#whoami")),
	)
	if got := b.text("#whoami"); got != name+" (operator)" && !strings.HasPrefix(got, name) {
		b.fail("whoami", fmt.Errorf("signed in as %q", got))
	}
}

// TestBrowserNight drives Debian's Chromium through the console on the
// real store: an operator signs in and watches tonight's cycle move from
// OPEN to REPORTED without reloading (server-sent events); a break found
// by reconciliation is investigated with a hostile note (shown as text,
// no script runs), a write-off requested by her is refused when she
// approves it herself and approved by a second operator in his own
// browser; she traces a payment; a POST without the CSRF token is refused
// in the browser too.
func TestBrowserNight(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "operator")
	w.user("bob", "operator")
	w.files(day, 6)          // the cycle is OPEN with the banks' files
	w.advance(9 * time.Hour) // past the cut-off; the cycle waits for its run
	alice := newBrowser(t, "alice")
	alice.login(w.srv.URL, "alice")

	// Tonight, live.
	card := "#cycle-" + string(day)
	alice.waitFor("tonight shows the open cycle", `(document.querySelector("`+card+` .stage") || {}).textContent === "OPEN"`, stepTimeout)
	alice.waitFor("event stream connected", `document.body.getAttribute("data-live") === "connected"`, 20*time.Second)
	done := make(chan error, 1)
	go func() { _, err := w.pipeline().Run(w.ctx, day); done <- err }()
	if err := <-done; err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	alice.waitFor("the page shows REPORTED by itself",
		`(document.querySelector("`+card+` .stage") || {}).textContent === "REPORTED"`, 30*time.Second)
	if got := alice.eval("timeline", `Array.from(document.querySelectorAll("`+card+` .timeline li.done")).length.toString()`); got != "6" {
		alice.fail("timeline", fmt.Errorf("%s stages done, want 6", got))
	}
	alice.shot("tonight")
	// The cycle's link (read in one script: the live page swaps its nodes).
	href := alice.eval("the cycle's link", `document.querySelector("`+card+` h2 a").getAttribute("href")`)
	alice.do("positions", chromedp.Navigate(w.srv.URL+href), chromedp.WaitVisible(chromedp.CSS(".positions")))
	alice.shot("cycle")
	// A live page: its nodes are swapped on each event, so one script reads it.
	alice.waitFor("every currency sums to exactly zero", `(() => { const z = Array.from(document.querySelectorAll(".positions .zero"));
		return z.length > 0 && z.every(p => p.textContent.includes("exactly zero")); })()`, stepTimeout)

	// Reconciliation finds a break (a payment the ledger did not report).
	payment, key := w.reconcileWithBreak()

	alice.do("open the break",
		chromedp.Navigate(w.srv.URL+"/breaks?state=OPEN"),
		chromedp.WaitVisible(chromedp.CSS("#breaks a")),
		chromedp.Click(chromedp.CSS("#breaks a")),
		chromedp.WaitVisible(chromedp.CSS("#investigate")),
	)
	xss := `<script>alert("x")</script><img src=x onerror="alert(1)">`
	alice.do("investigate with a hostile note",
		chromedp.SendKeys(chromedp.CSS("#inv-note"), xss),
		chromedp.Click(chromedp.CSS("#investigate")),
	)
	// The old page has the same forms: wait for the new one's history.
	alice.waitFor("investigated", `document.querySelectorAll("#history tbody tr").length === 2`, stepTimeout)
	if got := alice.text("#state"); got != "INVESTIGATING" {
		alice.fail("investigate", fmt.Errorf("state %q", got))
	}
	if got := alice.eval("note as text", `document.querySelectorAll("#history td.note")[1].textContent`); got != xss {
		alice.fail("note", fmt.Errorf("shown as %q", got))
	}
	if n := alice.eval("no element from the note", `String(document.querySelectorAll("#history img, #history script").length)`); n != "0" {
		alice.fail("note", fmt.Errorf("%s elements made from the note", n))
	}
	if alice.dialogs.Load() != 0 {
		alice.fail("note", fmt.Errorf("a script from the note ran"))
	}
	// A POST without the CSRF token, from the page itself: refused.
	status := alice.eval("POST without CSRF token", `fetch("/break/resolve", {method: "POST", body: new URLSearchParams({key: `+jsString(key)+`, note: "no token"})}).then(r => String(r.status))`)
	if status != "403" {
		alice.fail("CSRF", fmt.Errorf("status %s, want 403", status))
	}

	alice.do("request a write-off",
		chromedp.SendKeys(chromedp.CSS("#wo-note"), "below the threshold agreed with the bank, ref OPS-17"),
		chromedp.Click(chromedp.CSS("#write-off")),
		chromedp.WaitVisible(chromedp.CSS("#requests")),
	)
	alice.do("approve her own request", chromedp.Click(chromedp.CSS("#requests button[value=APPROVED]")), chromedp.WaitVisible(chromedp.CSS("#problem")))
	if p := alice.text("#problem"); !strings.Contains(p, "four eyes") {
		alice.fail("self-approval", fmt.Errorf("page says %q", p))
	}
	alice.shot("four-eyes")

	bob := newBrowser(t, "bob")
	bob.login(w.srv.URL, "bob")
	bob.do("find the request",
		chromedp.Navigate(w.srv.URL+"/requests"),
		chromedp.WaitVisible(chromedp.CSS("#pending a")),
		chromedp.Click(chromedp.CSS("#pending a")),
		chromedp.WaitVisible(chromedp.CSS("#requests button[value=APPROVED]")),
		chromedp.Click(chromedp.CSS("#requests button[value=APPROVED]")),
	)
	bob.waitFor("written off", `(document.querySelector("#state") || {}).textContent === "WRITTEN_OFF"`, stepTimeout)
	bob.shot("break")
	if h := bob.text("#history"); !strings.Contains(h, "alice, approved by bob") {
		bob.fail("history", fmt.Errorf("%q", h))
	}
	// The remaining pages, for the README's screenshots.
	for _, pg := range []struct{ path, sel, name string }{
		{"/breaks", "#breaks", "breaks"}, {"/requests?all=1", "main h1", "requests"}, {"/caps", "main h1", "caps"},
		{"/actions", "main h1", "operations"}, {"/verify?date=" + string(day), "main h1", "verify"}, {"/ops/sftp", "main h1", "sftp"},
	} {
		if os.Getenv("SETTLE_CONSOLE_SHOTS") == "" {
			break
		}
		bob.do("open "+pg.path, chromedp.Navigate(w.srv.URL+pg.path), chromedp.WaitVisible(chromedp.CSS(pg.sel)))
		bob.shot(pg.name)
	}

	alice.do("trace the payment",
		chromedp.Navigate(w.srv.URL+"/trace"),
		chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), payment),
		chromedp.Click(chromedp.CSS("#trace")),
		chromedp.WaitVisible(chromedp.CSS("#verdict")),
	)
	tr := alice.text(".trace")
	for _, want := range []string{payment, "file", "C2026-11-24", "transaction", "Bank1MSP"} {
		if !strings.Contains(tr, want) {
			alice.fail("trace", fmt.Errorf("lacks %q: %s", want, tr))
		}
	}
	alice.shot("trace")

	// A session cookie copied before sign-out opens nothing afterwards.
	cookies, err := chromedp.Call(alice.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{w.srv.URL + "/"}})
	if err != nil {
		alice.fail("cookies", err)
	}
	stolen := ""
	for _, c := range cookies.Cookies {
		if c.Name == "settle_session" {
			stolen = c.Value
			if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict {
				alice.fail("cookie", fmt.Errorf("session cookie flags: HttpOnly %v Secure %v SameSite %v", c.HTTPOnly, c.Secure, c.SameSite))
			}
		}
	}
	if stolen == "" || alice.eval("cookie from script", `document.cookie`) != "" {
		alice.fail("cookie", fmt.Errorf("no session cookie, or one a script can read"))
	}
	alice.do("sign out", chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.CSS("#signin")))
	thief := w.client()
	thief.cookies["settle_session"] = stolen
	if r := thief.get("/breaks"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Fatalf("the cookie still opens the console after sign-out: %d", r.status)
	}

	// An auditor sees everything and can change nothing.
	w.user("audrey", "auditor")
	audrey := newBrowser(t, "audrey")
	audrey.login(w.srv.URL, "audrey")
	audrey.do("the auditor opens the break", chromedp.Navigate(w.srv.URL+"/break?key="+url.QueryEscape(key)), chromedp.WaitVisible(chromedp.CSS("#history")))
	if n := audrey.eval("forms", `String(document.querySelectorAll("main form").length)`); n != "0" {
		audrey.fail("auditor", fmt.Errorf("%s action forms shown to an auditor", n))
	}
	for _, path := range []string{"/break/investigate", "/break/resolve", "/break/write-off", "/requests/decide"} {
		// With the session's own CSRF token (from the sign-out form): the role refuses.
		js := `fetch("` + path + `", {method: "POST", body: new URLSearchParams({key: ` + jsString(key) + `, note: "n", id: "1", decision: "APPROVED",
			csrf: document.querySelector("input[name=csrf]").value})}).then(r => String(r.status))`
		if st := audrey.eval("auditor POST "+path, js); st != "403" {
			audrey.fail("auditor POST "+path, fmt.Errorf("status %s, want 403", st))
		}
	}
	acts, err := w.pg.ConsoleActions(w.ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, a := range acts {
		if a.Actor == "audrey" && a.Outcome == "refused" {
			refused++
		}
	}
	if refused != 4 {
		t.Fatalf("%d refusals of the auditor logged, want 4", refused)
	}
}

// shot saves a screenshot of the page for the README when
// SETTLE_CONSOLE_SHOTS names a folder (docs/console).
func (b *browser) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("SETTLE_CONSOLE_SHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "<", `\u003c`)
	return `"` + r.Replace(s) + `"`
}

// TestBrowserFourEyes drives Chromium through the four-eyes actions added
// to the console: an operator requests a file's deferral from the cycle
// page's form and cannot approve it herself; a second operator approves
// it in his own browser and finds the file in the next cycle; she pages
// through the cycle's ledger transactions, each with its endorsers; she
// asks for the replay of a poisoned event that nets a cycle, which waits
// for him, and he approves it; a replay sent again is refused.
func TestBrowserFourEyes(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "operator")
	w.user("bob", "operator")
	w.files(day, 400) // 400 payments in chunks of 7: two pages of ledger transactions
	next := w.cal.Next(day)
	f0 := fmt.Sprintf("F%s-0", strings.ReplaceAll(string(day), "-", ""))
	row := "#file-" + string(w.banks[0].BIC) + "-" + f0

	alice := newBrowser(t, "alice")
	alice.login(w.srv.URL, "alice")
	alice.do("open the cycle's files",
		chromedp.Navigate(w.srv.URL+"/cycles/"+string(day)),
		chromedp.WaitVisible(chromedp.CSS(row+" summary")),
		chromedp.Click(chromedp.CSS(row+" summary")),
		chromedp.WaitVisible(chromedp.CSS(row+" textarea")),
		chromedp.SendKeys(chromedp.CSS(row+" textarea"), "over its KRW cap; cannot fund tonight"),
		chromedp.Click(chromedp.CSS(row+" .defer-button")),
		chromedp.WaitVisible(chromedp.CSS("#pending")),
	)
	id := w.lastRequest()
	if got := alice.text("#request-" + id); !strings.Contains(got, "from C"+string(day)+" to C"+string(next)) || !strings.Contains(got, "pending") {
		alice.fail("the request", fmt.Errorf("row %q", got))
	}
	alice.do("approve her own deferral", chromedp.Click(chromedp.CSS("#approve-"+id)), chromedp.WaitVisible(chromedp.CSS("#problem")))
	if p := alice.text("#problem"); !strings.Contains(p, "four eyes") {
		alice.fail("self-approval", fmt.Errorf("page says %q", p))
	}
	alice.shot("deferral-four-eyes")

	bob := newBrowser(t, "bob")
	bob.login(w.srv.URL, "bob")
	bob.do("approve the deferral",
		chromedp.Navigate(w.srv.URL+"/requests"),
		chromedp.WaitVisible(chromedp.CSS("#approve-"+id)),
		chromedp.Click(chromedp.CSS("#approve-"+id)),
		chromedp.WaitVisible(chromedp.CSS(row+" .deferrals")),
	)
	if got := bob.text(row + " .deferrals"); !strings.Contains(got, "by alice, approved by bob (request "+id+")") {
		bob.fail("deferred", fmt.Errorf("deferrals %q", got))
	}
	if got := bob.eval("the cycle shown", `document.querySelector("h1").textContent`); got != "Cycle C"+string(next) {
		bob.fail("deferred", fmt.Errorf("landed on %q", got))
	}

	// Past the cut-off she runs the night from Tonight (without the
	// deferred file) and watches it end; the ledger page pages.
	w.advance(9 * time.Hour)
	alice = newBrowser(t, "alice-later") // her session timed out in those hours
	alice.login(w.srv.URL, "alice")
	// The ledger goes down after 20 chunks: the run stops part way, and the
	// ledger stage's progress bar shows how far it got.
	w.ledger.Mu.Lock()
	w.ledger.FailAfter = 20
	w.ledger.Mu.Unlock()
	press := func(step string) {
		// The live script swaps the nodes on its first event: find and
		// press the button in one script, so it is the one on the page.
		if got := alice.eval(step, `(() => { const b = document.querySelector("#run-`+string(day)+`"); if (!b) { return "no button" }; b.click(); return "pressed" })()`); got != "pressed" {
			alice.fail(step, fmt.Errorf("%s", got))
		}
	}
	alice.do("open Tonight", chromedp.Navigate(w.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#run-"+string(day))))
	press("run the cycle")
	alice.do("the run stops", chromedp.WaitVisible(chromedp.CSS("#problem")))
	if p := alice.text("#problem"); !strings.Contains(p, "peers down") || !strings.Contains(p, "run it again") {
		alice.fail("the run's answer", fmt.Errorf("%q", p))
	}
	alice.do("the cycle part way", chromedp.Navigate(w.srv.URL+"/cycles/"+string(day)), chromedp.WaitVisible(chromedp.CSS(".ledger-progress progress")))
	bar := alice.eval("the progress bar", `(() => { const p = document.querySelector(".ledger-progress progress"); return p.value + "/" + p.max + " " + document.querySelector(".ledger-progress").textContent.trim() })()`)
	var done, of int
	if _, err := fmt.Sscanf(bar, "%d/%d", &done, &of); err != nil || done <= 0 || of <= done || !strings.Contains(bar, fmt.Sprintf("Ledger: %d of %d payments committed (%d%%)", done, of, done*100/of)) {
		alice.fail("the progress bar", fmt.Errorf("%q: want part of the cycle's payments", bar))
	}
	alice.shot("ledger-progress")
	w.ledger.Mu.Lock()
	w.ledger.FailAfter = 0 // the peers are back
	w.ledger.Mu.Unlock()
	press("resume the cycle")
	alice.do("the cycle's page", chromedp.WaitVisible(chromedp.CSS(".positions")))
	alice.waitFor("the cycle page shows REPORTED by itself", `(document.querySelector("#stage") || {}).textContent === "REPORTED"`, 2*time.Minute)
	if n := alice.eval("no run button once reported", `String(document.querySelectorAll("form.run").length)`); n != "0" {
		alice.fail("run button", fmt.Errorf("%s run forms on a reported cycle", n))
	}
	total := w.count(`SELECT count(*) FROM ledger_txs`)
	alice.do("the cycle's ledger", chromedp.WaitVisible(chromedp.CSS("#ledger-link")),
		chromedp.Click(chromedp.CSS("#ledger-link")), chromedp.WaitVisible(chromedp.CSS("#ledger")))
	alice.shot("ledger")
	rows := 0
	for page := 0; ; page++ {
		n, _ := strconv.Atoi(alice.eval("rows", `String(document.querySelectorAll("#ledger tbody tr").length)`))
		rows += n
		if e := alice.eval("endorsers", `document.querySelector("#ledger tbody td.endorsers").textContent`); e != "Bank1MSP, Bank2MSP" {
			alice.fail("endorsers", fmt.Errorf("%q", e))
		}
		if alice.eval("a next page", `String(document.querySelector("#next") !== null)`) != "true" {
			break
		}
		first := alice.eval("first row", `document.querySelector("#ledger tbody td").textContent`)
		alice.do("next page", chromedp.Click(chromedp.CSS("#next")))
		alice.waitFor("the next page", `(document.querySelector("#ledger tbody td") || {}).textContent !== `+jsString(first), stepTimeout)
		if page > 10 {
			alice.fail("paging", fmt.Errorf("more than 10 pages"))
		}
	}
	if rows != total {
		alice.fail("paging", fmt.Errorf("%d rows over the pages, %d transactions", rows, total))
	}

	// A poisoned event of a cycle that waits to be netted (the next one,
	// frozen by hand here) moves money: its replay needs bob.
	w.advance(24 * time.Hour) // past the next cycle's cut-off
	if err := w.pipeline().Step(w.ctx, next, settlement.StageFrozen); err != nil {
		t.Fatalf("freeze %s: %v", next, err)
	}
	w.poison(jobs.NewEvent(jobs.TopicCycleFrozen, next, w.clock()))
	ps, err := w.bus.ListPoisoned(w.ctx)
	if err != nil || len(ps) != 1 {
		t.Fatalf("poisoned: %v %v", ps, err)
	}
	msg := "#msg-" + ps[0].UUID
	alice = newBrowser(t, "alice-next-day")
	alice.login(w.srv.URL, "alice")
	alice.do("request the replay",
		chromedp.Navigate(w.srv.URL+"/ops/poison"),
		chromedp.WaitVisible(chromedp.CSS(msg+" input[name=note]")),
		chromedp.SendKeys(chromedp.CSS(msg+" input[name=note]"), "the ledger is back; net it"),
		chromedp.Click(chromedp.CSS(msg+" .replay-button")),
		chromedp.WaitVisible(chromedp.CSS(msg+" .replay a")),
	)
	if got := alice.text(msg + " .replay"); !strings.Contains(got, "waits for a second operator") {
		alice.fail("replay request", fmt.Errorf("%q", got))
	}
	alice.shot("poison")
	rid := w.lastRequest()
	bob = newBrowser(t, "bob-next-day")
	bob.login(w.srv.URL, "bob")
	bob.do("approve the replay",
		chromedp.Navigate(w.srv.URL+"/requests"),
		chromedp.WaitVisible(chromedp.CSS("#approve-"+rid)),
		chromedp.Click(chromedp.CSS("#approve-"+rid)),
		chromedp.WaitVisible(chromedp.CSS("#poison")),
	)
	if got := bob.text(msg + " .replay"); !strings.Contains(got, "replayed by bob") {
		bob.fail("replayed", fmt.Errorf("%q", got))
	}
	// The same form sent again from the page (a double submit): refused.
	status := bob.eval("replay again", `fetch("/ops/poison/replay", {method: "POST", body: new URLSearchParams({uuid: `+jsString(ps[0].UUID)+`, note: "again",
		csrf: document.querySelector("input[name=csrf]").value})}).then(r => String(r.status))`)
	if status != "409" {
		bob.fail("replay again", fmt.Errorf("status %s, want 409", status))
	}
	if n := w.count(`SELECT count(*) FROM poison_replays`); n != 1 {
		t.Fatalf("%d replays", n)
	}
}

// TestBrowserTraceReversal: an auditor in Chromium traces a reversed
// payment from the trace form and reads both directions: the payment with
// its reversal, and from the reversal's link, the reversal with its
// original.
func TestBrowserTraceReversal(t *testing.T) {
	w := newWorld(t)
	w.user("audrey", "auditor")
	next := w.reversedNextDay()
	b0 := string(w.banks[0].BIC)
	audrey := newBrowser(t, "audrey")
	audrey.do("the sign-in page", chromedp.Navigate(w.srv.URL+"/login"), chromedp.WaitVisible(chromedp.CSS("#signin")))
	audrey.shot("login")
	audrey.login(w.srv.URL, "audrey")
	audrey.do("trace the reversed payment",
		chromedp.Navigate(w.srv.URL+"/trace"),
		chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), b0+"/PX-1"),
		chromedp.Click(chromedp.CSS("#trace")),
		chromedp.WaitVisible(chromedp.CSS(".trace .trace")),
	)
	outer, inner := audrey.text(".trace h2"), audrey.text(".trace .trace h2")
	if !strings.HasPrefix(outer, b0+"/PX-1: every step checks") || !strings.HasPrefix(inner, b0+"/RX-1: every step checks") {
		audrey.fail("trace", fmt.Errorf("traces %q and %q", outer, inner))
	}
	if tr := audrey.text(".trace .trace"); !strings.Contains(tr, "C"+string(next)) || !strings.Contains(tr, "FR-1") {
		audrey.fail("the reversal's trace", fmt.Errorf("%s", tr))
	}
	audrey.shot("trace-reversal")
	audrey.do("from the reversal", chromedp.Navigate(w.srv.URL+"/trace?q="+url.QueryEscape(b0+"/RX-1")), chromedp.WaitVisible(chromedp.CSS(".trace .trace")))
	if inner := audrey.text(".trace .trace h2"); !strings.HasPrefix(inner, b0+"/PX-1: every step checks") {
		audrey.fail("trace of the reversal", fmt.Errorf("its original's trace %q", inner))
	}

	// The original's file, traced forward from the trace form: its
	// payment, reversed by RX-1, and the transaction that recorded it.
	audrey.do("trace the file",
		chromedp.Navigate(w.srv.URL+"/trace"),
		chromedp.WaitVisible(chromedp.CSS("#by")),
		chromedp.SetValue(chromedp.CSS("#by"), "file"),
		chromedp.SendKeys(chromedp.CSS("#q"), b0+"/FP-1"),
		chromedp.Click(chromedp.CSS("#trace")),
		chromedp.WaitVisible(chromedp.CSS("#file-trace")),
	)
	if got := audrey.text("#pay-PX-1"); !strings.Contains(got, "reversed by RX-1") || !strings.HasSuffix(got, " ok") {
		audrey.fail("file trace", fmt.Errorf("the payment's row %q", got))
	}
	if v := audrey.text("#file-trace #verdict"); v != "every step checks" {
		audrey.fail("file trace", fmt.Errorf("verdict %q", v))
	}
	audrey.shot("trace-file")
	audrey.do("from the file to its transaction", chromedp.Click(chromedp.CSS("#pay-PX-1 td.tx a")), chromedp.WaitVisible(chromedp.CSS("#tx-trace")))
	if n := audrey.eval("back to the file", `String(document.querySelectorAll("#tx-payments a.file-trace[href$='/FP-1']").length)`); n == "0" {
		audrey.fail("back to the file", fmt.Errorf("no link back to FP-1 from the transaction's trace"))
	}
}
