package console

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"settle/adapters/postgres"
	"settle/approval"
	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

var funcs = template.FuncMap{
	// bicOf is the bank of a "BIC/ID" reference.
	"bicOf": func(ref string) string { b, _, _ := strings.Cut(ref, "/"); return b },
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"sortedFacts": func(m map[string]string) [][2]string {
		keys := make([]string, 0, len(m))
		for k := range m {
			if m[k] != "" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		out := make([][2]string, len(keys))
		for i, k := range keys {
			out[i] = [2]string{k, m[k]}
		}
		return out
	},
}

func urlEscape(s string) string { return url.QueryEscape(s) }
func itoa(n int) string         { return strconv.Itoa(n) }

// page is what every page's layout needs.
type page struct {
	Title string
	User  *postgres.ConsoleUser
	CSRF  string
	Data  any
	Error string
	Live  bool // the page subscribes to /events
}

func (s *Server) render(w http.ResponseWriter, sess *session, status int, name, title string, data any, live bool) {
	t := s.pages[name]
	p := page{Title: title, Data: data, Live: live}
	if sess != nil {
		p.User, p.CSRF = &sess.user, sess.csrf
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.cfg.Log.Error("console template", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail answers with a precise message: an HTML page for a browser, plain
// text for anything else (the event stream, a script).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess *session, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if status >= 500 {
		s.cfg.Log.Error("console", "path", r.URL.Path, "status", status, "err", msg)
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") || r.Method == http.MethodPost {
		s.render(w, sess, status, "error", http.StatusText(status), msg, false)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// storeError maps what the store said to a status, keeping its message:
// the page says what the CLI would say.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	status := http.StatusInternalServerError
	if st, ok := replayStatus(err); ok {
		status = st
	}
	switch {
	case status != http.StatusInternalServerError:
	case errors.Is(err, postgres.ErrNoBreak), errors.Is(err, postgres.ErrNoRequest), errors.Is(err, postgres.ErrNoBank):
		status = http.StatusNotFound
	case errors.Is(err, postgres.ErrBreakState), errors.Is(err, postgres.ErrPendingAlready), errors.Is(err, approval.ErrDecided),
		errors.Is(err, approval.ErrSameOperator), errors.Is(err, postgres.ErrFourEyes), errors.Is(err, postgres.ErrNotRaise):
		status = http.StatusConflict
	case errors.Is(err, postgres.ErrNoteRequired), errors.Is(err, approval.ErrNoteRequired), errors.Is(err, approval.ErrDecision),
		errors.Is(err, approval.ErrActor), errors.Is(err, approval.ErrUnknown), errors.Is(err, settlement.ErrAmountScale),
		errors.Is(err, settlement.ErrCurrency):
		status = http.StatusBadRequest
	}
	if status == http.StatusInternalServerError {
		if r.Context().Err() != nil {
			return // the client went away (a page left mid-refresh): nobody to answer
		}
		s.fail(w, r, sess, status, "the store failed: %v", err)
		return
	}
	s.fail(w, r, sess, status, "%v", err)
}

// --- login ---

type loginData struct {
	Next, Token, Name string
}

func safeNext(next string) string {
	// Only a path of this site: never //host or a scheme.
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || len(next) > 512 {
		return "/"
	}
	return next
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, r, http.StatusOK, "", "")
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, name, msg string) {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: 600})
	next := safeNext(r.URL.Query().Get("next"))
	if r.Method == http.MethodPost {
		next = safeNext(r.PostForm.Get("next"))
	}
	t := s.pages["login"]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", page{Title: "Sign in", Data: loginData{Next: next, Token: tok, Name: name}, Error: msg}); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	src := source(r)
	if !sameOrigin(r) {
		s.record(r, nil, "login", "", "refused", "cross-origin request")
		s.fail(w, r, nil, http.StatusForbidden, "cross-origin request refused")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, nil, formStatus(err), "form: %s", formError(err))
		return
	}
	name := r.PostForm.Get("name")
	c, err := r.Cookie(loginCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		s.record(r, nil, "login", cutName(name), "refused", "missing or wrong CSRF token")
		s.showLogin(w, r, http.StatusForbidden, "", "The sign-in form expired or was not sent by this page: try again.")
		return
	}
	if ok, wait := s.limiter.Allowed(src, now); !ok {
		if s.limiter.FirstRefusal(src) {
			s.record(r, nil, "login", cutName(name), "refused", "rate limited (further refusals in this minute are not logged)")
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.showLogin(w, r, http.StatusTooManyRequests, "", fmt.Sprintf("Too many failed sign-ins from your address: wait %d seconds.", int(wait.Seconds())+1))
		return
	}
	pw := r.PostForm.Get("password")
	if len(name) == 0 || len(name) > nameBytesMax || len(pw) > passwordBytesMax {
		s.limiter.Failed(src, now)
		s.record(r, nil, "login", cutName(name), "failed", "bad name or password length")
		s.showLogin(w, r, http.StatusUnauthorized, "", "Wrong name or password.")
		return
	}
	u, found, err := s.cfg.Accounts.ConsoleUser(r.Context(), name)
	if err != nil {
		s.fail(w, r, nil, http.StatusInternalServerError, "accounts: %v", err)
		return
	}
	hash := dummyHash
	if found {
		hash = u.PasswordHash
	}
	match, err := CheckPassword(hash, pw)
	if err != nil || !found || !match || u.Disabled {
		s.limiter.Failed(src, now)
		s.record(r, nil, "login", cutName(name), "failed", "wrong name or password")
		s.showLogin(w, r, http.StatusUnauthorized, name, "Wrong name or password.")
		return
	}
	tok := randomToken()
	sum := sha256.Sum256([]byte(tok))
	csrf := randomToken()
	if err := s.cfg.Accounts.CreateConsoleSession(r.Context(), sum[:], u.ID, csrf, src, now); err != nil {
		s.fail(w, r, nil, http.StatusInternalServerError, "sessions: %v", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	s.record(r, &session{user: u}, "login", u.Name, "ok", "")
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func cutName(n string) string {
	if len(n) > nameBytesMax {
		n = n[:nameBytesMax]
	}
	return strings.ToValidUTF8(n, "?")
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	if err := s.cfg.Accounts.EndConsoleSession(r.Context(), sess.token[:], s.cfg.Now()); err != nil {
		s.fail(w, r, sess, http.StatusInternalServerError, "sessions: %v", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	s.record(r, sess, "logout", sess.user.Name, "ok", "")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// --- tonight and a cycle ---

type stageMark struct {
	Stage settlement.Stage
	State string // done, current, todo
	At    time.Time
	By    string
	// Counts are what the step dealt with, where the record knows it
	// (stepCounts); none for a step still to come.
	Counts []stepCount
}

// stepCount is one figure of a step: "3 files", "1 reversal".
type stepCount struct {
	N    int64
	What string
}

// count names n things, one or many.
func count(n int64, one, many string) stepCount {
	if n == 1 {
		return stepCount{n, one}
	}
	return stepCount{n, many}
}

// stepCounts are the figures each step of the timeline shows: the files
// taken and refused while OPEN, and moved in or out by deferral; the files,
// payments and reversals FROZEN; the entries NETTED; the ledger
// transactions and entries RECORDED. Later steps move no new figure the
// record counts (the positions and breaks have pages of their own).
func stepCounts(st settlement.Stage, c settlement.Cycle, n postgres.CycleCounts) []stepCount {
	switch st {
	case settlement.StageOpen:
		return []stepCount{count(c.Files, "file", "files"), count(n.Rejected, "reject", "rejects"),
			count(n.DeferredIn, "deferral in", "deferrals in"), count(n.DeferredOut, "deferral out", "deferrals out")}
	case settlement.StageFrozen:
		return []stepCount{count(c.Files, "file", "files"), count(c.Entries-n.Reversals, "payment", "payments"), count(n.Reversals, "reversal", "reversals")}
	case settlement.StageNetted:
		return []stepCount{count(c.Entries, "entry netted", "entries netted")}
	case settlement.StageRecorded:
		return []stepCount{count(n.LedgerTxs, "ledger transaction", "ledger transactions"), count(n.LedgerEntries, "entry on the ledger", "entries on the ledger")}
	}
	return nil
}

type cycleView struct {
	Cycle    settlement.Cycle
	Timeline []stageMark
	Hold     *jobs.Failure
	CanRun   bool // a stage remains and this console can run the pipeline
	// Unblock is what can unblock a hold besides fixing its cause and
	// running again: "caps" (defer a file or raise a cap), "reversal"
	// (settle the original's cycle first, or defer the reversal's file).
	Unblock string
	Counts  postgres.CycleCounts
	Ledger  ledgerProgress
}

// ledgerProgress is the ledger stage's bar: entries committed of the
// cycle's, the rate, the time left at that rate.
type ledgerProgress struct {
	Show        bool
	Done, Total int64
	Pct         int
	Rate, Left  string
}

func progressOf(c settlement.Cycle, n postgres.CycleCounts) ledgerProgress {
	p := ledgerProgress{Done: min(n.LedgerEntries, c.Entries), Total: c.Entries}
	p.Show = c.Stage == settlement.StageNetted || n.LedgerTxs > 0
	if p.Total > 0 {
		p.Pct = int(p.Done * 100 / p.Total)
	}
	if secs := n.LastCommit.Sub(n.FirstCommit).Seconds(); secs > 0 && p.Done > 0 {
		rate := float64(p.Done) / secs // a display figure, not money
		p.Rate = strconv.FormatFloat(rate, 'f', 0, 64) + " payments/s"
		if p.Done < p.Total {
			p.Left = (time.Duration(float64(p.Total-p.Done)/rate) * time.Second).Round(time.Second).String()
		}
	}
	return p
}

func (s *Server) cycleView(r *http.Request, c settlement.Cycle) (cycleView, error) {
	stages, err := s.cfg.Store.CycleStages(r.Context(), c.BusinessDate)
	if err != nil {
		return cycleView{}, err
	}
	at := map[settlement.Stage]postgres.StageRecord{}
	for _, st := range stages {
		at[st.To] = st
	}
	v := cycleView{Cycle: c, CanRun: s.cfg.RunCycle != nil && c.Stage.Next() != ""}
	for _, st := range settlement.Stages {
		m := stageMark{Stage: st, State: "todo"}
		switch {
		case st == c.Stage:
			m.State = "current"
		case st.Before(c.Stage):
			m.State = "done"
		}
		if rec, ok := at[st]; ok {
			m.At, m.By = rec.At, rec.Actor
		}
		if st == settlement.StageOpen && m.At.IsZero() {
			m.By = "opened"
		}
		v.Timeline = append(v.Timeline, m)
	}
	if v.Counts, err = s.cfg.Store.CycleCounts(r.Context(), c.BusinessDate); err != nil {
		return v, err
	}
	for i := range v.Timeline {
		if m := &v.Timeline[i]; m.State != "todo" {
			m.Counts = stepCounts(m.Stage, c, v.Counts)
		}
	}
	v.Ledger = progressOf(c, v.Counts)
	f, ok, err := s.cfg.Store.LastFailure(r.Context(), c.BusinessDate)
	if err != nil {
		return v, err
	}
	if ok && f.HoldsAt(c.Stage) {
		v.Hold = &f
		// What can unblock it: the hold's message starts with the
		// pipeline's sentinel (wrapped with %w).
		switch {
		case strings.Contains(f.Err, jobs.ErrCapBreach.Error()):
			v.Unblock = "caps"
		case strings.Contains(f.Err, jobs.ErrOriginalPending.Error()):
			v.Unblock = "reversal"
		}
	}
	return v, nil
}

func (s *Server) tonight(w http.ResponseWriter, r *http.Request, sess *session) {
	cs, err := s.cfg.Store.Cycles(r.Context(), 14)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	var vs []cycleView
	for _, c := range cs {
		v, err := s.cycleView(r, c)
		if err != nil {
			s.storeError(w, r, sess, err)
			return
		}
		vs = append(vs, v)
	}
	s.render(w, sess, http.StatusOK, "tonight", "Tonight", vs, true)
}

func parseDate(s string) (settlement.Date, error) {
	if len(s) != 10 {
		return "", fmt.Errorf("date %q: want YYYY-MM-DD", cutName(s))
	}
	d, err := settlement.ParseDate(s)
	if err != nil {
		return "", fmt.Errorf("date %q: %v", s, err)
	}
	return d, nil
}

type positionRow struct {
	Bank           settlement.BIC
	Sent, Received string
	Net            string
	Cap            string
	UsedPct        string // of the cap, for a net debit
	BarWidth       int    // 0..200 px
	Over, Debit    bool
}

type currencyPositions struct {
	Currency string
	Rows     []positionRow
	Sum      string
	Zero     bool
	// The bilateral matrix: Banks in order, Cells[debtor][creditor] what
	// the debtor owes the creditor ("" for nothing).
	Banks []settlement.BIC
	Cells [][]string
}

// matrix fills each currency's bilateral matrix from the obligations.
func matrix(cps []currencyPositions, obs []postgres.Obligation) {
	for i := range cps {
		cp := &cps[i]
		idx := map[settlement.BIC]int{}
		for _, r := range cp.Rows {
			idx[r.Bank] = len(cp.Banks)
			cp.Banks = append(cp.Banks, r.Bank)
		}
		for _, o := range obs {
			if o.Currency != cp.Currency {
				continue
			}
			for _, b := range []settlement.BIC{o.Debtor, o.Creditor} {
				if _, ok := idx[b]; !ok {
					idx[b] = len(cp.Banks)
					cp.Banks = append(cp.Banks, b)
				}
			}
		}
		cp.Cells = make([][]string, len(cp.Banks))
		for j := range cp.Cells {
			cp.Cells[j] = make([]string, len(cp.Banks))
		}
		for _, o := range obs {
			if o.Currency == cp.Currency {
				cp.Cells[idx[o.Debtor]][idx[o.Creditor]] = o.Amount
			}
		}
	}
}

type cycleData struct {
	View       cycleView
	Files      []postgres.CycleFileRow
	FilesTotal int64
	FilesNext  int64 // the next page's cursor; 0 on the last
	FilesLater bool  // a later page: offer the first
	CanDefer   bool
	Download   bool
	// The ledger transaction that settled the cycle, and its block.
	SettleTx    string
	SettleBlock int64
	Stages      []postgres.StageRecord
	Errors      []postgres.StepError
	Positions   []currencyPositions
	Hash        positionsHash
	Resolution  *resolutionView // the gridlock section; nil: none
}

// positionsHash is "the hash written to the ledger": the fingerprint
// (settlement.PositionsSHA256) of the positions the ledger settled the
// cycle on, as its GetCycle answers them, beside the same fingerprint of
// Postgres's positions. One function computes both, so a difference is a
// difference of the positions, never of two ways of hashing them.
type positionsHash struct {
	Show     bool
	Postgres string
	Ledger   string // "" until the ledger settled the cycle, or when it was not read
	TxID     string // the ledger's settling transaction
	Block    uint64
	HasBlock bool
	// Problem says why a side is missing; Mismatch that both are there
	// and differ; TxDiffers that Postgres recorded another settling
	// transaction than the one the ledger names.
	Problem   string
	Mismatch  bool
	TxDiffers bool
}

func (s *Server) positionsHash(r *http.Request, c settlement.Cycle, ps []settlement.Position, settleTx string) positionsHash {
	h := positionsHash{Show: len(ps) > 0 || !c.Stage.Before(settlement.StageSettled)}
	if !h.Show {
		return h
	}
	var err error
	if h.Postgres, err = settlement.PositionsSHA256(ps); err != nil {
		h.Problem = "Postgres's positions cannot be hashed: " + err.Error()
		return h
	}
	if s.cfg.Ledger == nil {
		h.Problem = "this console was started without the ledger: only Postgres's hash is shown"
		return h
	}
	lc, ok, err := s.cfg.Ledger.Cycle(r.Context(), c.ID)
	switch {
	case err != nil:
		h.Problem = "the ledger could not be read: " + err.Error()
		return h
	case !ok || !lc.Settled():
		h.Problem = "the ledger has not settled this cycle yet"
		return h
	}
	lps := make([]settlement.Position, 0, len(lc.Positions))
	for _, p := range lc.Positions {
		lps = append(lps, settlement.Position{Bank: p.Bank, Currency: p.Currency, Net: p.Net})
	}
	recomputed, err := settlement.PositionsSHA256(lps)
	if err != nil {
		h.Problem = "the ledger's positions cannot be hashed: " + err.Error()
		h.Mismatch = true
		return h
	}
	// The hash the settling transaction wrote (every endorsing peer
	// computed it with the same function); it must be the hash of the
	// positions the ledger holds. A cycle settled before the chaincode
	// wrote one shows the recomputed hash.
	h.Ledger = lc.PositionsSHA256
	switch {
	case h.Ledger == "":
		h.Ledger = recomputed
		h.Problem = "the ledger's cycle record carries no hash (settled by an earlier chaincode): recomputed from the positions it holds"
	case h.Ledger != recomputed:
		h.Problem = "the hash the ledger wrote is not the hash of the positions it holds (" + recomputed + ")"
		h.Mismatch = true
	}
	h.Mismatch = h.Mismatch || h.Ledger != h.Postgres
	h.TxID = lc.TxID
	h.TxDiffers = settleTx != "" && lc.TxID != "" && settleTx != lc.TxID
	if lc.TxID != "" {
		if lt, err := s.cfg.Ledger.Tx(r.Context(), lc.TxID); err == nil {
			h.Block, h.HasBlock = lt.Block, true
		} else {
			h.Problem = "the settling transaction's block could not be read: " + err.Error()
		}
	}
	return h
}

// barPx is the width of a full bar (the cap).
const barPx = 200

func positionsByCurrency(ps []settlement.Position, caps []settlement.Cap) []currencyPositions {
	capOf := map[string]decimal.Decimal{}
	for _, c := range caps {
		capOf[string(c.Bank)+c.Currency.Code()] = c.Amount
	}
	by := map[string]*currencyPositions{}
	sums := map[string]decimal.Decimal{}
	var order []string
	for _, p := range ps {
		code := p.Currency.Code()
		cp := by[code]
		if cp == nil {
			cp = &currencyPositions{Currency: code}
			by[code] = cp
			order = append(order, code)
		}
		row := positionRow{Bank: p.Bank, Sent: settlement.FormatAmount(p.Sent, p.Currency), Received: settlement.FormatAmount(p.Received, p.Currency),
			Net: settlement.FormatAmount(p.Net, p.Currency), Debit: p.Net.IsNegative(), Cap: "-", UsedPct: "-"}
		if cap, ok := capOf[string(p.Bank)+code]; ok {
			row.Cap = settlement.FormatAmount(cap, p.Currency)
			if p.Net.IsNegative() && cap.IsPositive() {
				used := p.Net.Neg().Div(cap)
				row.UsedPct = used.Mul(decimal.NewFromInt(100)).StringFixed(1) + "%"
				w := used.Mul(decimal.NewFromInt(barPx)).IntPart()
				row.BarWidth = int(min(max(w, 1), barPx))
				row.Over = used.GreaterThan(decimal.NewFromInt(1))
			} else if !p.Net.IsNegative() {
				row.UsedPct = "0.0%"
			}
		}
		cp.Rows = append(cp.Rows, row)
		sums[code] = sums[code].Add(p.Net)
	}
	sort.Strings(order)
	out := make([]currencyPositions, 0, len(order))
	for _, code := range order {
		cp := by[code]
		cur, _ := settlement.ParseCurrency(code)
		cp.Sum = settlement.FormatAmount(sums[code], cur)
		cp.Zero = sums[code].IsZero()
		sort.Slice(cp.Rows, func(i, j int) bool { return cp.Rows[i].Bank < cp.Rows[j].Bank })
		out = append(out, *cp)
	}
	return out
}

func (s *Server) cycleOf(w http.ResponseWriter, r *http.Request, sess *session) (settlement.Cycle, bool) {
	d, err := parseDate(r.PathValue("date"))
	if err != nil {
		s.fail(w, r, sess, http.StatusBadRequest, "%v", err)
		return settlement.Cycle{}, false
	}
	c, ok, err := s.cfg.Store.Cycle(r.Context(), d)
	if err != nil {
		s.storeError(w, r, sess, err)
		return c, false
	}
	if !ok {
		s.fail(w, r, sess, http.StatusNotFound, "no cycle for %s", d)
		return c, false
	}
	return c, true
}

func (s *Server) cyclePage(w http.ResponseWriter, r *http.Request, sess *session) {
	c, ok := s.cycleOf(w, r, sess)
	if !ok {
		return
	}
	v, err := s.cycleView(r, c)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	d := cycleData{View: v}
	if d.Stages, err = s.cfg.Store.CycleStages(r.Context(), c.BusinessDate); err == nil {
		d.Errors, err = s.cfg.Store.StepErrors(r.Context(), c.BusinessDate, 10)
	}
	var ps []settlement.Position
	var caps []settlement.Cap
	if err == nil {
		ps, err = s.cfg.Store.Positions(r.Context(), c.BusinessDate)
	}
	if err == nil {
		caps, err = s.cfg.Store.Caps(r.Context())
	}
	var after int64
	if v := r.URL.Query().Get("files_after"); v != "" && err == nil {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			s.fail(w, r, sess, http.StatusBadRequest, "files_after: want a file row number")
			return
		}
	}
	if err == nil {
		d.Files, d.FilesTotal, err = s.cfg.Store.CycleFilePage(r.Context(), c.BusinessDate, after, pageRows)
		d.Download = s.cfg.Archive != nil && rank(sess.user.Role) >= rank(RoleAuditor)
		d.CanDefer = sess.user.Role == RoleOperator && s.cfg.Approver != nil &&
			(c.Stage == settlement.StageOpen || c.Stage == settlement.StageFrozen)
		d.FilesLater = after > 0
		if len(d.Files) == pageRows {
			d.FilesNext = d.Files[len(d.Files)-1].ID
		}
	}
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	d.Positions = positionsByCurrency(ps, caps)
	obs, tx, block, err := s.cfg.Store.CycleObligations(r.Context(), c.BusinessDate)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	matrix(d.Positions, obs)
	d.SettleTx, d.SettleBlock = tx, block
	d.Hash = s.positionsHash(r, c, ps, tx)
	d.Resolution = s.resolution(r, sess, v)
	s.render(w, sess, http.StatusOK, "cycle", "Cycle "+c.ID, d, true)
}

func csvResponse(w http.ResponseWriter, name string, header []string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(w)
	cw.Write(header)
	for _, row := range rows {
		for i, f := range row { // a spreadsheet must not run a cell as a formula
			if f != "" && strings.ContainsRune("=+-@\t\r", rune(f[0])) && !isNumber(f) {
				row[i] = "'" + f
			}
		}
		cw.Write(row)
	}
	cw.Flush()
}

func isNumber(s string) bool {
	_, err := decimal.NewFromString(s)
	return err == nil
}

func (s *Server) positionsCSV(w http.ResponseWriter, r *http.Request, sess *session) {
	c, ok := s.cycleOf(w, r, sess)
	if !ok {
		return
	}
	ps, err := s.cfg.Store.Positions(r.Context(), c.BusinessDate)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	var rows [][]string
	for _, p := range ps {
		rows = append(rows, []string{string(p.Bank), p.Currency.Code(), settlement.FormatAmount(p.Sent, p.Currency),
			settlement.FormatAmount(p.Received, p.Currency), settlement.FormatAmount(p.Net, p.Currency)})
	}
	csvResponse(w, c.ID+"-positions.csv", []string{"bank", "currency", "sent", "received", "net"}, rows)
}

// --- breaks ---

// breakStates are the states a listing filters on: the lifecycle's.
var breakStates = func() map[string]bool {
	m := map[string]bool{"": true}
	for _, st := range reconciliation.States {
		m[st] = true
	}
	return m
}()

type breaksData struct {
	Date, State string
	States      []string
	Breaks      []postgres.BreakRow
	Next        string // the next page's link, "" on the last
	First       bool   // a later page: offer the first
	Here        string // this page, where an acknowledgement from it returns
}

// breakCursor reads a page's start from the query (after_date,
// after_kind, after_key: the last break of the page before).
func breakCursor(q url.Values) (postgres.BreakCursor, error) {
	c := postgres.BreakCursor{Kind: q.Get("after_kind"), Key: q.Get("after_key")}
	if c.Key == "" {
		return postgres.BreakCursor{}, nil
	}
	if err := validKey(c.Key); err != nil {
		return c, fmt.Errorf("after_%v", err)
	}
	if len(c.Kind) > 64 {
		return c, errors.New("after_kind: at most 64 bytes")
	}
	d, err := parseDate(q.Get("after_date"))
	if err != nil {
		return c, fmt.Errorf("after_%v", err)
	}
	c.Date = d
	return c, nil
}

func (s *Server) breaksFilter(w http.ResponseWriter, r *http.Request, sess *session) (settlement.Date, string, bool) {
	q := r.URL.Query()
	var d settlement.Date
	if v := q.Get("date"); v != "" {
		var err error
		if d, err = parseDate(v); err != nil {
			s.fail(w, r, sess, http.StatusBadRequest, "%v", err)
			return "", "", false
		}
	}
	st := q.Get("state")
	if !breakStates[st] {
		s.fail(w, r, sess, http.StatusBadRequest, "state %q: want %s or \"\" (any)", cutName(st), strings.Join(reconciliation.States, ", "))
		return "", "", false
	}
	return d, st, true
}

func (s *Server) breaksPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d, st, ok := s.breaksFilter(w, r, sess)
	if !ok {
		return
	}
	after, err := breakCursor(r.URL.Query())
	if err != nil {
		s.fail(w, r, sess, http.StatusBadRequest, "%v", err)
		return
	}
	bs, more, err := s.cfg.Store.BreaksPage(r.Context(), d, st, after, pageRows)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	data := breaksData{Date: string(d), State: st, States: reconciliation.States, Breaks: bs,
		First: after.Key != "", Here: r.URL.RequestURI()}
	if more {
		last := bs[len(bs)-1]
		next := url.Values{"date": {string(d)}, "state": {st}, "after_date": {string(last.Cycle)}, "after_kind": {last.Kind}, "after_key": {last.Key}}
		if last.Cycle == "" {
			next.Set("after_date", "0001-01-01")
		}
		data.Next = "/breaks?" + next.Encode()
	}
	s.render(w, sess, http.StatusOK, "breaks", "Breaks", data, false)
}

func (s *Server) breaksCSV(w http.ResponseWriter, r *http.Request, sess *session) {
	d, st, ok := s.breaksFilter(w, r, sess)
	if !ok {
		return
	}
	bs, err := s.cfg.Store.Breaks(r.Context(), d, st)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	var rows [][]string
	for _, b := range bs {
		rows = append(rows, []string{b.Key, string(b.Cycle), b.Kind, b.State, b.Bank, b.Detail["subject"], b.Detail["field"],
			b.Detail["postgres"], b.Detail["ledger"], b.Actor, b.RecordedAt.UTC().Format(time.RFC3339), b.Note})
	}
	csvResponse(w, "breaks.csv", []string{"key", "business_date", "kind", "state", "bank", "subject", "field", "postgres", "ledger", "by", "at", "note"}, rows)
}

type breakData struct {
	Key      string
	Current  postgres.BreakRow
	History  []postgres.BreakRow
	Active   bool
	Requests []approval.Request
	Pending  bool
	// CanAcknowledge: the break is OPEN, the one state the lifecycle
	// acknowledges from (reconciliation.CheckMove).
	CanAcknowledge bool
}

func validKey(k string) error {
	if k == "" {
		return errors.New("key is required")
	}
	if len(k) > keyBytesMax {
		return fmt.Errorf("key: at most %d bytes (got %d)", keyBytesMax, len(k))
	}
	if !utf8.ValidString(k) {
		return errors.New("key: not UTF-8")
	}
	return nil
}

func (s *Server) breakPage(w http.ResponseWriter, r *http.Request, sess *session) {
	key := r.URL.Query().Get("key")
	if err := validKey(key); err != nil {
		s.fail(w, r, sess, http.StatusBadRequest, "%v", err)
		return
	}
	h, err := s.cfg.Store.BreakHistory(r.Context(), key)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	if len(h) == 0 {
		s.fail(w, r, sess, http.StatusNotFound, "no break %q", key)
		return
	}
	reqs, err := s.cfg.Store.Requests(r.Context(), key, false)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	cur := h[len(h)-1]
	d := breakData{Key: key, Current: cur, History: h, Active: reconciliation.Active(cur.State), Requests: reqs,
		CanAcknowledge: cur.State == reconciliation.StateOpen}
	for _, q := range reqs {
		if q.Pending() {
			d.Pending = true
		}
	}
	s.render(w, sess, http.StatusOK, "break", "Break", d, false)
}

// note reads a form's note: trimmed, at most noteRunesMax runes, UTF-8.
func note(r *http.Request, required bool) (string, error) {
	n := strings.TrimSpace(r.PostForm.Get("note"))
	if !utf8.ValidString(n) {
		return "", errors.New("note: not UTF-8")
	}
	if c := utf8.RuneCountInString(n); c > noteRunesMax {
		return "", fmt.Errorf("note: at most %d characters (got %d)", noteRunesMax, c)
	}
	if required && n == "" {
		return "", errors.New("note: required (what was found and done)")
	}
	return n, nil
}

// breakAction runs one of the break's actions, logs it and answers.
func (s *Server) breakAction(w http.ResponseWriter, r *http.Request, sess *session, action string, needNote bool, do func(key, note string) error) {
	key := r.PostForm.Get("key")
	if err := validKey(key); err != nil {
		s.record(r, sess, action, "", "refused", err.Error())
		s.fail(w, r, sess, http.StatusBadRequest, "%v", err)
		return
	}
	n, err := note(r, needNote)
	if err != nil {
		s.record(r, sess, action, key, "refused", err.Error())
		s.fail(w, r, sess, http.StatusBadRequest, "%v", err)
		return
	}
	if err := do(key, n); err != nil {
		s.record(r, sess, action, key, "refused", err.Error())
		s.storeError(w, r, sess, err)
		return
	}
	s.record(r, sess, action, key, "ok", n)
	dest := "/break?key=" + url.QueryEscape(key)
	if next := r.PostForm.Get("next"); strings.HasPrefix(next, "/breaks") {
		dest = safeNext(next) // back to the register it was acknowledged from
	}
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

// breakAcknowledge: an operator has seen the break and owns it (OPEN ->
// ACKNOWLEDGED), as `settle breaks acknowledge` does.
func (s *Server) breakAcknowledge(w http.ResponseWriter, r *http.Request, sess *session) {
	s.breakAction(w, r, sess, "break.acknowledge", false, func(key, n string) error {
		return s.cfg.Store.SetBreakState(r.Context(), key, reconciliation.StateAcknowledged, n, sess.user.Name)
	})
}

func (s *Server) breakInvestigate(w http.ResponseWriter, r *http.Request, sess *session) {
	s.breakAction(w, r, sess, "break.investigate", false, func(key, n string) error {
		return s.cfg.Store.SetBreakState(r.Context(), key, reconciliation.StateInvestigating, n, sess.user.Name)
	})
}

func (s *Server) breakResolve(w http.ResponseWriter, r *http.Request, sess *session) {
	s.breakAction(w, r, sess, "break.resolve", true, func(key, n string) error {
		return s.cfg.Store.SetBreakState(r.Context(), key, reconciliation.StateResolved, n, sess.user.Name)
	})
}

func (s *Server) breakWriteOff(w http.ResponseWriter, r *http.Request, sess *session) {
	s.breakAction(w, r, sess, "break.write_off.request", true, func(key, n string) error {
		_, err := s.cfg.Store.RequestWriteOff(r.Context(), key, n, sess.user.Name, s.cfg.Now())
		return err
	})
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request, sess *session) {
	id, err := strconv.ParseInt(r.PostForm.Get("id"), 10, 64)
	if err != nil || id <= 0 {
		s.record(r, sess, "request.decide", "", "refused", "bad request id")
		s.fail(w, r, sess, http.StatusBadRequest, "id: want a request number")
		return
	}
	decision := r.PostForm.Get("decision")
	subject := "request " + strconv.FormatInt(id, 10)
	var q approval.Request
	if s.cfg.Approver != nil {
		q, err = s.cfg.Approver.Decide(r.Context(), id, decision, sess.user.Name, s.cfg.Now())
	} else {
		q, err = s.cfg.Store.DecideRequest(r.Context(), id, decision, sess.user.Name, s.cfg.Now())
	}
	if err != nil {
		s.record(r, sess, "request.decide", subject, "refused", err.Error())
		s.storeError(w, r, sess, err)
		return
	}
	s.record(r, sess, "request.decide", subject, "ok", q.Decision+" "+q.Action+" "+q.Subject+" "+q.Amount+" requested by "+q.RequestedBy)
	switch q.Action {
	case approval.WriteOff:
		http.Redirect(w, r, "/break?key="+url.QueryEscape(q.Subject), http.StatusSeeOther)
	case approval.Defer:
		http.Redirect(w, r, "/cycles/"+url.PathEscape(q.To)+"#files", http.StatusSeeOther)
	case approval.Replay:
		http.Redirect(w, r, "/ops/poison", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/caps", http.StatusSeeOther)
	}
}

type capRow struct {
	Bank     settlement.BIC
	Currency string
	Amount   string
}

type capsData struct {
	Caps     []capRow
	Requests []approval.Request
}

func (s *Server) capsPage(w http.ResponseWriter, r *http.Request, sess *session) {
	caps, err := s.cfg.Store.Caps(r.Context())
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	reqs, err := s.cfg.Store.Requests(r.Context(), "", false)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	d := capsData{}
	for _, c := range caps {
		d.Caps = append(d.Caps, capRow{Bank: c.Bank, Currency: c.Currency.Code(), Amount: settlement.FormatAmount(c.Amount, c.Currency)})
	}
	if r.URL.Query().Get("format") == "csv" {
		var rows [][]string
		for _, c := range d.Caps {
			rows = append(rows, []string{string(c.Bank), c.Currency, c.Amount})
		}
		csvResponse(w, "caps.csv", []string{"bank", "currency", "cap"}, rows)
		return
	}
	for _, q := range reqs {
		if q.Action == approval.CapRaise {
			d.Requests = append(d.Requests, q)
		}
	}
	s.render(w, sess, http.StatusOK, "caps", "Net debit caps", d, false)
}

// capRaise records a request to raise a cap; another operator approves it.
func (s *Server) capRaise(w http.ResponseWriter, r *http.Request, sess *session) {
	const action = "cap.raise.request"
	f := r.PostForm
	subject := cutName(f.Get("bank")) + "/" + cutName(f.Get("currency"))
	bic, err := settlement.ParseBIC(f.Get("bank"))
	if err != nil {
		s.record(r, sess, action, subject, "refused", err.Error())
		s.fail(w, r, sess, http.StatusBadRequest, "bank: %v", err)
		return
	}
	cur, err := settlement.ParseCurrency(f.Get("currency"))
	if err != nil {
		s.record(r, sess, action, subject, "refused", err.Error())
		s.fail(w, r, sess, http.StatusBadRequest, "currency: %v", err)
		return
	}
	amt, err := settlement.ParseAmount([]byte(strings.TrimSpace(f.Get("amount"))), cur)
	if err != nil {
		s.record(r, sess, action, subject, "refused", err.Error())
		s.fail(w, r, sess, http.StatusBadRequest, "amount: %v", err)
		return
	}
	n, err := note(r, true)
	if err != nil {
		s.record(r, sess, action, subject, "refused", err.Error())
		s.fail(w, r, sess, http.StatusBadRequest, "%v", err)
		return
	}
	q, err := s.cfg.Store.RequestCapRaise(r.Context(), settlement.Cap{Bank: bic, Currency: cur, Amount: amt}, n, sess.user.Name, s.cfg.Now())
	if err != nil {
		s.record(r, sess, action, subject, "refused", err.Error())
		s.storeError(w, r, sess, err)
		return
	}
	s.record(r, sess, action, q.Subject, "ok", q.Amount+": "+n)
	http.Redirect(w, r, "/caps", http.StatusSeeOther)
}

// --- trace and the action log ---

type traceData struct {
	Query    string
	By       string // payment, file or tx; "" guesses from the query
	File     *jobs.FileTrace
	Trace    *jobs.Trace
	Tx       *jobs.TxTrace
	Payments []jobs.TxPayment // the first txPaymentsShown of Tx's
	More     int              // how many more it carried
	Problem  string
}

// txPaymentsShown bounds the payments of a traced transaction on a page.
const txPaymentsShown = 200

// validTxID: a ledger transaction id (Fabric's are 64 hex digits).
func validTxID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (s *Server) tracePage(w http.ResponseWriter, r *http.Request, sess *session) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := traceData{Query: q, By: r.URL.Query().Get("by")}
	if q == "" {
		s.render(w, sess, http.StatusOK, "trace", "Trace", d, false)
		return
	}
	switch d.By {
	case "", "payment", "file", "tx":
	default:
		d.Problem = "by: want payment, file or tx"
		s.render(w, sess, http.StatusBadRequest, "trace", "Trace", d, false)
		return
	}
	const want = "want BIC/PAYMENT-ID (a payment or a reversal), e.g. SHBKKRSE/SH-000001, BIC/FILE-ID with \"a bank's file\", or a ledger transaction id"
	if d.By == "tx" || d.By == "" && !strings.Contains(q, "/") {
		if !validTxID(q) {
			d.Problem = want
			s.render(w, sess, http.StatusBadRequest, "trace", "Trace", d, false)
			return
		}
		s.traceTx(w, r, sess, d)
		return
	}
	bicPart, id, ok := strings.Cut(q, "/")
	bic, err := settlement.ParseBIC(bicPart)
	if !ok || err != nil || !settlement.ValidPaymentID([]byte(id)) {
		d.Problem = want
		s.render(w, sess, http.StatusBadRequest, "trace", "Trace", d, false)
		return
	}
	if d.By == "file" {
		s.traceFile(w, r, sess, d, bic, id)
		return
	}
	if s.cfg.Tracer == nil {
		d.Problem = "tracing needs the ledger, which this console was started without"
		s.render(w, sess, http.StatusServiceUnavailable, "trace", "Trace", d, false)
		return
	}
	t, err := s.cfg.Tracer.Trace(r.Context(), bic, id)
	if err != nil {
		d.Problem = "trace failed: " + err.Error()
		s.render(w, sess, http.StatusBadGateway, "trace", "Trace", d, false)
		return
	}
	d.Trace = &t
	s.render(w, sess, http.StatusOK, "trace", "Trace "+q, d, false)
}

// fileDownload sends a received file's original bytes from the archive,
// as the bank sent them; logged.
func (s *Server) fileDownload(w http.ResponseWriter, r *http.Request, sess *session) {
	sum := r.PathValue("sha256")
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		s.fail(w, r, sess, http.StatusBadRequest, "want a file's SHA-256: 64 lowercase hex digits")
		return
	}
	if s.cfg.Archive == nil {
		s.fail(w, r, sess, http.StatusServiceUnavailable, "this console was started without the archive")
		return
	}
	rc, err := s.cfg.Archive.Open(sum)
	if err != nil {
		s.record(r, sess, "file.download", sum, "refused", err.Error())
		s.fail(w, r, sess, http.StatusNotFound, "no archived file with SHA-256 %s", sum)
		return
	}
	defer rc.Close()
	s.record(r, sess, "file.download", sum, "ok", "")
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+sum+`.bin"`)
	io.Copy(w, rc)
}

type verifyData struct {
	Date    string
	Report  *jobs.VerifyReport
	Problem string
}

// verifyPage re-runs `settle audit verify` for a cycle: read-only, but a
// heavy read, so it is logged like an action.
func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request, sess *session) {
	v := r.URL.Query().Get("date")
	d := verifyData{Date: v}
	if v == "" {
		s.render(w, sess, http.StatusOK, "verify", "Verify a cycle", d, false)
		return
	}
	date, err := parseDate(v)
	if err != nil {
		d.Problem = err.Error()
		s.render(w, sess, http.StatusBadRequest, "verify", "Verify a cycle", d, false)
		return
	}
	if s.cfg.Tracer == nil {
		d.Problem = "verifying needs the ledger, which this console was started without"
		s.render(w, sess, http.StatusServiceUnavailable, "verify", "Verify a cycle", d, false)
		return
	}
	rep, err := s.cfg.Tracer.Verify(r.Context(), date)
	if err != nil {
		s.record(r, sess, "audit.verify", string(date), "failed", err.Error())
		d.Problem = "verify failed: " + err.Error()
		s.render(w, sess, http.StatusBadGateway, "verify", "Verify a cycle", d, false)
		return
	}
	outcome := "ok"
	if !rep.OK() {
		outcome = "differs"
	}
	s.record(r, sess, "audit.verify", string(date), outcome, fmt.Sprintf("%d files, %d entries, %d problems, %d differences", rep.Files, rep.Entries, len(rep.Problems), len(rep.Breaks)))
	d.Report = rep
	s.render(w, sess, http.StatusOK, "verify", "Verify "+settlement.CycleID(date), d, false)
}

type actionsData struct {
	Actions  []postgres.ConsoleAction
	Older    int64
	Runs     []postgres.JobRun
	Schedule string
}

func (s *Server) actionsPage(w http.ResponseWriter, r *http.Request, sess *session) {
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		var err error
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			s.fail(w, r, sess, http.StatusBadRequest, "before: want an action number")
			return
		}
	}
	const pageRows = 100
	acts, err := s.cfg.Accounts.ConsoleActions(r.Context(), before, pageRows)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	d := actionsData{Actions: acts, Schedule: s.cfg.Schedule}
	if before == 0 {
		if d.Runs, err = s.cfg.Store.JobRuns(r.Context(), 20); err != nil {
			s.storeError(w, r, sess, err)
			return
		}
	}
	if len(acts) == pageRows {
		d.Older = acts[len(acts)-1].ID
	}
	if r.URL.Query().Get("format") == "csv" {
		var rows [][]string
		for _, a := range acts {
			rows = append(rows, []string{strconv.FormatInt(a.ID, 10), a.At.UTC().Format(time.RFC3339), a.Actor, a.Role, a.Source, a.Action, a.Subject, a.Outcome, a.Detail})
		}
		csvResponse(w, "console-actions.csv", []string{"id", "at", "actor", "role", "source", "action", "subject", "outcome", "detail"}, rows)
		return
	}
	s.render(w, sess, http.StatusOK, "actions", "Operations", d, false)
}

// --- live updates ---

// events streams a "cycle" event whenever a cycle's stage or counts
// change. It reads the stage log every second rather than the broker, so
// it sees every process's moves (the service's, an operator's cycle run)
// the moment they commit, as the record has them.
func (s *Server) events(w http.ResponseWriter, r *http.Request, sess *session) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		s.fail(w, r, sess, http.StatusServiceUnavailable, "too many live streams open: reload later")
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, r, sess, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	last := ""
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	beat, ticks := 0, 0
	for {
		cs, err := s.cfg.Store.Cycles(r.Context(), 14)
		if err != nil {
			return
		}
		type ev struct {
			ID      string `json:"id"`
			Stage   string `json:"stage"`
			Files   int64  `json:"files"`
			Entries int64  `json:"entries"`
		}
		evs := make([]ev, 0, len(cs))
		for _, c := range cs {
			evs = append(evs, ev{c.ID, string(c.Stage), c.Files, c.Entries})
		}
		b, _ := json.Marshal(evs)
		if string(b) != last {
			last = string(b)
			fmt.Fprintf(w, "event: cycle\ndata: %s\n\n", b)
			fl.Flush()
		} else if beat++; beat%15 == 0 {
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		// A stream outlives no session: it ends at sign-out or timeout,
		// like every page (checked every few seconds).
		if ticks++; ticks%sessionCheckTicks == 0 {
			if live, err := s.sessionLive(r, sess); err != nil || !live {
				return
			}
		}
	}
}

// sessionCheckTicks is how often (in poll ticks) a stream re-checks its
// session.
const sessionCheckTicks = 3

// sessionLive tells whether sess has neither ended nor timed out.
func (s *Server) sessionLive(r *http.Request, sess *session) (bool, error) {
	cs, ok, err := s.cfg.Accounts.ConsoleSession(r.Context(), sess.token[:])
	if err != nil || !ok {
		return false, err
	}
	now := s.cfg.Now()
	return !cs.Ended && !cs.User.Disabled && now.Sub(cs.LastSeen) <= sessionIdle && now.Sub(cs.Created) <= sessionMax, nil
}

// traceTx traces a ledger transaction back to the banks' files
// (`settle audit tx`).
func (s *Server) traceTx(w http.ResponseWriter, r *http.Request, sess *session, d traceData) {
	if s.cfg.Tracer == nil {
		d.Problem = "tracing needs the ledger, which this console was started without"
		s.render(w, sess, http.StatusServiceUnavailable, "trace", "Trace", d, false)
		return
	}
	t, err := s.cfg.Tracer.TraceTx(r.Context(), d.Query)
	if err != nil {
		d.Problem = "trace failed: " + err.Error()
		s.render(w, sess, http.StatusBadGateway, "trace", "Trace", d, false)
		return
	}
	d.Tx = &t
	d.Payments = t.Payments
	if len(d.Payments) > txPaymentsShown {
		d.Payments, d.More = d.Payments[:txPaymentsShown], len(t.Payments)-txPaymentsShown
	}
	s.render(w, sess, http.StatusOK, "trace", "Trace "+d.Query, d, false)
}

// traceFile traces a bank's file forward to its payments and their ledger
// transactions (`settle audit file`); each transaction links back.
func (s *Server) traceFile(w http.ResponseWriter, r *http.Request, sess *session, d traceData, bank settlement.BIC, fileID string) {
	if s.cfg.Tracer == nil {
		d.Problem = "tracing needs the ledger, which this console was started without"
		s.render(w, sess, http.StatusServiceUnavailable, "trace", "Trace", d, false)
		return
	}
	t, err := s.cfg.Tracer.TraceFile(r.Context(), bank, fileID)
	if err != nil {
		d.Problem = "trace failed: " + err.Error()
		s.render(w, sess, http.StatusBadGateway, "trace", "Trace", d, false)
		return
	}
	d.File = &t
	s.render(w, sess, http.StatusOK, "trace", "Trace "+d.Query, d, false)
}
