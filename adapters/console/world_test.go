package console_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/net/html"

	"settle/adapters/archive"
	"settle/adapters/console"
	"settle/adapters/events"
	"settle/adapters/journal"
	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/adapters/reports"
	"settle/adapters/sftp"
	"settle/formats/gen"
	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// world is the real system on a real Postgres: member banks with keys
// and caps, their signed files taken by the real intake, the real
// pipeline on the ledger stand-in, and the console over it.
type world struct {
	t      *testing.T
	ctx    context.Context
	pg     *postgres.Store
	store  *postgres.JobStore
	ledger *memLedger
	root   string
	banks  []gen.Bank
	inbox  *sftp.Storage
	arc    *archive.Archive
	intake *jobs.Intake
	quiet  *slog.Logger
	srv    *httptest.Server
	con    *console.Server
	cal    *jobs.Calendar
	bus    *events.Bus
	// approver is the four-eyes rule's carrying out, as cmd/settle wires it.
	approver *console.Approver
	// chain is the Ledger page's channel, a stand-in for the peers (the
	// real ones in e2e's TestConsoleLedgerFromFabric).
	chain *chainStub
	// view is the ledger as the console reads it (Config.Ledger): the
	// memory ledger, whose answers a test may tamper with.
	view *ledgerView
	// desk is the ledger's gridlock resolution as the cycle page reads it
	// (the real one in e2e's TestGridlockResolvedOnTheLedger).
	desk *deskStub

	mu  sync.Mutex
	now time.Time
}

const day = settlement.Date("2026-11-24")

func newWorld(t *testing.T) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Postgres")
	}
	s, _ := pgtest.NewStore(t)
	loc, _ := time.LoadLocation(jobs.DefaultZone)
	w := &world{t: t, ctx: context.Background(), pg: s, root: t.TempDir(), ledger: newMemLedger(), desk: &deskStub{},
		quiet: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		now:   time.Date(2026, 11, 24, 10, 0, 0, 0, loc), chain: &chainStub{}}
	w.view = &ledgerView{memLedger: w.ledger}
	w.store = s.Jobs(func(context.Context, *sql.Tx, jobs.Event) error { return nil }, "test")
	var err error
	if w.inbox, err = sftp.NewStorage(filepath.Join(w.root, "sftp"), w.quiet); err != nil {
		t.Fatal(err)
	}
	if w.arc, err = archive.Open(filepath.Join(w.root, "archive"), 0); err != nil {
		t.Fatal(err)
	}
	bics, _ := gen.Banks(3)
	if w.banks, err = gen.Keys(bics); err != nil {
		t.Fatal(err)
	}
	for _, b := range w.banks {
		if err := s.AddBank(w.ctx, postgres.Bank{BIC: b.BIC, Name: string(b.BIC)}); err != nil {
			t.Fatal(err)
		}
		pem, _ := gen.PublicPEM(b.Private)
		if err := s.AddKey(w.ctx, postgres.BankKey{Bank: b.BIC, Label: "k1", PEM: string(pem), ValidFrom: w.now.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"KRW", "USD", "JPY", "KWD"} {
			cur, _ := settlement.ParseCurrency(c)
			if err := s.SetCap(w.ctx, settlement.Cap{Bank: b.BIC, Currency: cur, Amount: decimal.New(1, 15)}, w.now.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cal := jobs.NewCalendar(loc, nil)
	w.intake = &jobs.Intake{Inbox: w.inbox, Archive: w.arc, Store: w.store, Files: w.store, Taking: journal.Takes{Dir: t.TempDir()}, Calendar: cal,
		CutOff: 18 * time.Hour, Now: w.clock, Log: w.quiet}
	w.cal = cal
	w.bus = events.New(s.DB(), w.quiet)
	if err := w.bus.Init(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.approver = &console.Approver{Store: w.store, Poison: w.bus, Calendar: cal,
		Defer: func(ctx context.Context, d jobs.Deferral) (jobs.DeferredFile, error) {
			return w.pipeline().Defer(ctx, d)
		}}
	w.con, err = console.New(console.Config{Store: w.store, Accounts: s, Now: w.clock, Log: w.quiet, Archive: w.arc, Acks: s,
		Tracer: &jobs.Auditor{Store: w.store, Ledger: w.ledger, Archive: w.arc, Txs: w.ledger, Files: w.store}, Approver: w.approver, Ledger: w.view, Chain: w.chain, LagBlocks: 2, Schedule: `the cycle at cron "0 1 * * 1-5" in Asia/Seoul`,
		RunCycle: func(ctx context.Context, d settlement.Date) (settlement.Cycle, error) {
			return w.pipeline().Run(ctx, d)
		},
		Gridlock: w.desk, ResolveCycle: w.desk.resolve})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(w.con)
	t.Cleanup(w.srv.Close)
	return w
}

// ledgerView is the memory ledger as the console reads it, with the cycle
// it answers passed through tamper when a test sets one: a ledger that
// settled other positions than Postgres holds.
type ledgerView struct {
	*memLedger
	mu     sync.Mutex
	tamper func(*jobs.LedgerCycle)
}

func (v *ledgerView) Cycle(ctx context.Context, cycle string) (jobs.LedgerCycle, bool, error) {
	c, ok, err := v.memLedger.Cycle(ctx, cycle)
	v.mu.Lock()
	f := v.tamper
	v.mu.Unlock()
	if f != nil && err == nil {
		c.Positions = append([]reconciliation.NetPosition(nil), c.Positions...) // the ledger's own stays as it is
		f(&c)
	}
	return c, ok, err
}

func (v *ledgerView) setTamper(f func(*jobs.LedgerCycle)) {
	v.mu.Lock()
	v.tamper = f
	v.mu.Unlock()
}

// capsOfOne sets every bank's cap in every currency to one unit, from
// half an hour ago.
func (w *world) capsOfOne() {
	w.t.Helper()
	for _, b := range w.banks {
		for _, c := range []string{"KRW", "USD", "JPY", "KWD"} {
			cur, _ := settlement.ParseCurrency(c)
			if err := w.pg.SetCap(w.ctx, settlement.Cap{Bank: b.BIC, Currency: cur, Amount: decimal.NewFromInt(1)}, w.clock().Add(-30*time.Minute)); err != nil {
				w.t.Fatal(err)
			}
		}
	}
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

// upload drops a signed file into a bank's inbox as the SFTP server would.
func (w *world) upload(bank int, name string, body []byte) {
	w.t.Helper()
	b := w.banks[bank]
	sig, err := gen.Sign(b.Private, body)
	if err != nil {
		w.t.Fatal(err)
	}
	dir := filepath.Join(w.root, "sftp", "banks", string(b.BIC), "inbox")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		w.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, name), body, 0o640)
	os.WriteFile(filepath.Join(dir, name+".sig"), sig, 0o640)
}

// files uploads a day of payments from every bank and takes them in.
func (w *world) files(date settlement.Date, payments int) {
	w.t.Helper()
	bics := make([]settlement.BIC, len(w.banks))
	for i, b := range w.banks {
		bics[i] = b.BIC
	}
	created, _ := time.Parse(time.RFC3339, string(date)+"T09:00:00+09:00")
	for i := range w.banks {
		ps := gen.DayPayments(gen.Config{Banks: len(bics), Payments: payments, Date: date, Seed: 5}, bics, i)
		var buf bytes.Buffer
		if err := gen.WriteCSV(&buf, fmt.Sprintf("F%s-%d", strings.ReplaceAll(string(date), "-", ""), i), w.banks[i].BIC, date, created, ps); err != nil {
			w.t.Fatal(err)
		}
		w.upload(i, fmt.Sprintf("F-%s-%d.csv", date, i), buf.Bytes())
	}
	if c, err := w.intake.Collect(w.ctx); err != nil || int(c.Accepted) != len(w.banks) {
		w.t.Fatalf("intake: %+v %v", c, err)
	}
}

func (w *world) pipeline() *jobs.Pipeline {
	return &jobs.Pipeline{Store: w.store, Ledger: w.ledger, Outbox: w.inbox, Reports: reports.Dir{Root: filepath.Join(w.root, "reports")},
		ChunkSize: 7, Workers: 2, Now: w.clock, Log: w.quiet}
}

// settledWithBreak runs the day's cycle to the end, then re-reconciles it
// with one payment missing from the ledger's answer: one open break.
// It returns the payment ("BIC/ID") and the break's key.
func (w *world) settledWithBreak() (payment, key string) {
	w.t.Helper()
	w.files(day, 6)
	w.advance(9 * time.Hour) // after the cut-off
	if _, err := w.pipeline().Run(w.ctx, day); err != nil {
		w.t.Fatal(err)
	}
	return w.reconcileWithBreak()
}

// reconcileWithBreak re-reconciles the settled day with its first payment
// missing from the ledger's answer (a lost event).
func (w *world) reconcileWithBreak() (payment, key string) {
	w.t.Helper()
	var s, id string
	if err := w.pg.DB().QueryRowContext(w.ctx, `SELECT sender, payment_id FROM payments ORDER BY sender, payment_id LIMIT 1`).Scan(&s, &id); err != nil {
		w.t.Fatal(err)
	}
	w.ledger.Mu.Lock()
	w.ledger.Drop = s + "/" + id
	w.ledger.Mu.Unlock()
	found, plan, sum, err := w.pipeline().Reconcile(w.ctx, day)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.store.Reconciled(w.ctx, day, plan, sum); err != nil {
		w.t.Fatal(err)
	}
	for _, b := range found {
		if b.Kind == reconciliation.MissingOnLedger && b.Subject == s+"/"+id {
			return b.Subject, b.Key()
		}
	}
	w.t.Fatalf("no break for the missing payment: %v", found)
	return "", ""
}

// user creates a console account; every test password is the name twice
// and a suffix, long enough for the policy.
func (w *world) user(name, role string) {
	w.t.Helper()
	h, err := console.HashPassword(password(name))
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.pg.AddConsoleUser(w.ctx, name, role, h, w.clock()); err != nil {
		w.t.Fatal(err)
	}
}

func password(name string) string { return name + "-" + name + "-secret" }

// client is a browser's view for handler tests: it keeps the session
// cookie itself (net/http's jar never sends a Secure cookie over http).
type client struct {
	w       *world
	cookies map[string]string
	csrf    string
	from    string // source address ("" for the default, 127.0.0.1)
}

func (w *world) client() *client { return &client{w: w, cookies: map[string]string{}} }

type response struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

func (c *client) do(method, path string, form url.Values) response {
	c.w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.w.srv.URL+path, body)
	if err != nil {
		c.w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", c.w.srv.URL)
	}
	req.Header.Set("Accept", "text/html")
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if c.from != "" {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.from)}}
		hc.Transport = &http.Transport{DialContext: d.DialContext}
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if r.doc, err = html.Parse(bytes.NewReader(b)); err != nil {
			c.w.t.Fatal(err)
		}
		if tok := attrOf(find(r.doc, `input[name=csrf]`), "value"); tok != "" {
			c.csrf = tok
		}
	}
	return r
}

func (c *client) get(path string) response { return c.do(http.MethodGet, path, nil) }

// post sends a form with the page's CSRF token.
func (c *client) post(path string, form url.Values) response {
	if form.Get("csrf") == "" {
		form.Set("csrf", c.csrf)
	}
	return c.do(http.MethodPost, path, form)
}

func (c *client) login(name, pw string) response {
	c.w.t.Helper()
	c.get("/login")
	return c.post("/login", url.Values{"name": {name}, "password": {pw}, "next": {"/"}})
}

// find is a tiny selector: tag, tag#id or tag[attr=value].
var selector = regexp.MustCompile(`^([a-z0-9]*)(?:#([\w-]+))?(?:\[(\w+)=([^\]]*)\])?$`)

func findAll(n *html.Node, sel string) []*html.Node {
	m := selector.FindStringSubmatch(sel)
	if m == nil {
		panic("bad selector " + sel)
	}
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (m[1] == "" || n.Data == m[1]) && (m[2] == "" || attrOf(n, "id") == m[2]) &&
			(m[3] == "" || attrOf(n, m[3]) == m[4]) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
	return out
}

func find(n *html.Node, sel string) *html.Node {
	if all := findAll(n, sel); len(all) > 0 {
		return all[0]
	}
	return nil
}

func attrOf(n *html.Node, name string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// text is a node's text, spaces collapsed.
func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		} else if n.Type == html.ElementNode {
			b.WriteString(" ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}
