// Package console is the web console for treasury operations and
// auditors (issue 17): the night's cycles live, positions against caps,
// the break register worked to the end with four eyes on write-offs, and
// the lineage of any payment.
//
// Pages are rendered on the server with html/template (contextual
// escaping: no text from a bank file, a break or a note reaches the page
// unescaped) and work without JavaScript; one small script, served from
// here, refreshes the live part of a page when the server-sent event
// stream /events says a cycle moved. There is no front-end build.
//
// The console implements no rule of its own: it calls the same store and
// jobs functions as the CLI (SetBreakState, RequestWriteOff,
// DecideRequest, Auditor.Trace) and shows their errors as the CLI would.
//
// Security: accounts in Postgres with argon2id hashes; server-side
// sessions whose cookie (Secure, HttpOnly, SameSite=Strict) carries a
// random token stored only as its SHA-256; a CSRF token per session on
// every form, and a double-submit token on the login form; failed logins
// limited per source address; idle and absolute session timeouts; roles
// (operator acts, auditor and viewer read); every POST logged with its
// outcome in the append-only action log; bodies, fields and parameters
// bounded; a strict Content-Security-Policy and the usual headers.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"settle/adapters/postgres"
	"settle/approval"
	"settle/jobs"
	"settle/settlement"
)

// Store is what the console reads and does in the operational record. The
// Postgres job store implements it; the same functions serve the CLI. It is
// the union of the small ports below, one for each part of the console, so
// that a reader sees which page needs what.
type Store interface {
	CycleViews
	MoneyViews
	BreakDesk
	Approvals
	FileViews
}

// CycleViews are the cycle and its steps (tonight's page and /cycles/DATE
// with its timeline): the stage machine's record, each step's errors and
// the scheduler's runs.
type CycleViews interface {
	Cycles(ctx context.Context, limit int) ([]settlement.Cycle, error)
	Cycle(ctx context.Context, date settlement.Date) (settlement.Cycle, bool, error)
	CycleStages(ctx context.Context, date settlement.Date) ([]postgres.StageRecord, error)
	StepErrors(ctx context.Context, date settlement.Date, limit int) ([]postgres.StepError, error)
	LastFailure(ctx context.Context, date settlement.Date) (jobs.Failure, bool, error)
	CycleCounts(ctx context.Context, date settlement.Date) (postgres.CycleCounts, error)
	JobRuns(ctx context.Context, limit int) ([]postgres.JobRun, error)
}

// MoneyViews are the money of a cycle (its positions and their CSV, /caps):
// the net positions, the caps and the settlement agent's obligations.
type MoneyViews interface {
	Positions(ctx context.Context, date settlement.Date) ([]settlement.Position, error)
	Caps(ctx context.Context) ([]settlement.Cap, error)
	CycleObligations(ctx context.Context, date settlement.Date) ([]postgres.Obligation, string, int64, error)
}

// BreakDesk is the reconciliation breaks and their lifecycle (/breaks,
// /break and its moves); a move is checked by the domain's break lifecycle
// inside the store's transaction.
type BreakDesk interface {
	Breaks(ctx context.Context, date settlement.Date, state string) ([]postgres.BreakRow, error)
	BreaksPage(ctx context.Context, date settlement.Date, state string, after postgres.BreakCursor, limit int) ([]postgres.BreakRow, bool, error)
	BreakHistory(ctx context.Context, key string) ([]postgres.BreakRow, error)
	SetBreakState(ctx context.Context, key, state, note, actor string) error
}

// Approvals are the four-eyes requests (write-offs, cap raises) and their
// decisions (/requests); the approval package owns the rule.
type Approvals interface {
	RequestWriteOff(ctx context.Context, key, note, by string, at time.Time) (approval.Request, error)
	RequestCapRaise(ctx context.Context, c settlement.Cap, note, by string, at time.Time) (approval.Request, error)
	DecideRequest(ctx context.Context, id int64, decision, by string, at time.Time) (approval.Request, error)
	Requests(ctx context.Context, subject string, pendingOnly bool) ([]approval.Request, error)
}

// FileViews are a cycle's files and ledger transactions (the cycle's files,
// files.csv and /cycles/DATE/ledger), the foreign ledger events and the
// poison-queue replays (/ops/poison).
type FileViews interface {
	CycleFiles(ctx context.Context, date settlement.Date) ([]jobs.CycleFile, error)
	CycleFilePage(ctx context.Context, date settlement.Date, after int64, limit int) ([]postgres.CycleFileRow, int64, error)
	CycleLedgerTxs(ctx context.Context, date settlement.Date, after int64, limit int) ([]postgres.LedgerTxRecord, int64, error)
	ForeignLedgerEvents(ctx context.Context, cycle string) ([]postgres.ForeignEvent, error)
	PoisonReplays(ctx context.Context) (map[string]postgres.PoisonReplay, error)
}

// SFTPControl lists and lifts the running SFTP server's login lockouts
// (settle sftp lockouts, settle sftp unlock).
type SFTPControl interface {
	Lockouts(ctx context.Context) ([]jobs.Lockout, error)
	Lift(ctx context.Context, source, user, by string) (int, error)
}

// LedgerReader reads a committed transaction back from the ledger: its
// block, its endorsers and who submitted it (jobs.Ledger.Tx); and a cycle
// as the ledger holds it (jobs.Ledger.Cycle, the chaincode's GetCycle):
// the positions it settled and the settling transaction, whose hash the
// Positions page compares with Postgres's.
type LedgerReader interface {
	Tx(ctx context.Context, txID string) (jobs.LedgerTx, error)
	Cycle(ctx context.Context, cycle string) (jobs.LedgerCycle, bool, error)
}

// Chain is the channel as its peers hold it, for the Ledger page: each
// peer's height as the peer answers, and the last blocks with their
// transactions read from the blocks' bytes (the Fabric client).
type Chain interface {
	PeerHeights(ctx context.Context) []jobs.PeerHeight
	RecentBlocks(ctx context.Context, n int) ([]jobs.LedgerBlock, error)
}

// Archive opens a received file's original bytes by their SHA-256, and
// finds what a bank sent under a name (a file's .sig).
type Archive interface {
	Open(sum string) (io.ReadCloser, error)
	Find(bank, name string) (sum string, ok bool, err error)
}

// Acks are the acknowledgements as the banks received them, byte for byte.
type Acks interface {
	Acknowledgement(ctx context.Context, bank settlement.BIC, file, sum string) (postgres.RecordedAck, bool, error)
}

// Accounts are the console's users, sessions and action log.
type Accounts interface {
	ConsoleUser(ctx context.Context, name string) (postgres.ConsoleUser, bool, error)
	CreateConsoleSession(ctx context.Context, tokenSHA256 []byte, userID int64, csrf, source string, at time.Time) error
	ConsoleSession(ctx context.Context, tokenSHA256 []byte) (postgres.ConsoleSession, bool, error)
	TouchConsoleSession(ctx context.Context, tokenSHA256 []byte, at time.Time) error
	EndConsoleSession(ctx context.Context, tokenSHA256 []byte, at time.Time) error
	LogConsoleAction(ctx context.Context, a postgres.ConsoleAction) error
	ConsoleActions(ctx context.Context, before int64, limit int) ([]postgres.ConsoleAction, error)
}

// Tracer is the auditor's read-only checks (jobs.Auditor): a payment's
// lineage, and a cycle re-verified from the archive against Postgres and
// the ledger.
type Tracer interface {
	Trace(ctx context.Context, sender settlement.BIC, id string) (jobs.Trace, error)
	// TraceTx goes from a ledger transaction back to the banks' files.
	TraceTx(ctx context.Context, txID string) (jobs.TxTrace, error)
	// TraceFile goes from a bank's file to its payments and the ledger
	// transactions that recorded them.
	TraceFile(ctx context.Context, sender settlement.BIC, fileID string) (jobs.FileTrace, error)
	Verify(ctx context.Context, date settlement.Date) (*jobs.VerifyReport, error)
}

// Roles.
const (
	RoleOperator = "operator"
	RoleAuditor  = "auditor"
	RoleViewer   = "viewer"
)

// ValidRole tells whether r is a console role.
func ValidRole(r string) bool { return r == RoleOperator || r == RoleAuditor || r == RoleViewer }

// Limits.
const (
	bodyBytesMax     = 16 << 10 // a form
	noteRunesMax     = 2000
	keyBytesMax      = 200
	queryBytesMax    = 2048
	nameBytesMax     = 32
	sessionIdle      = 15 * time.Minute
	sessionMax       = 12 * time.Hour
	loginFailuresMax = 5
	loginWindow      = time.Minute
	streamsMax       = 64 // live event streams at once
	pollEvery        = time.Second
	requestTimeout   = 30 * time.Second
	pageRows         = 50 // rows of a long table per page
	runTimeout       = 6 * time.Hour
	runAnswerWait    = 2 * time.Second // a run that fails at once is answered on the page
	pageOffsetMax    = 100_000
)

// Cookie names.
const (
	sessionCookie = "settle_session"
	loginCookie   = "settle_login"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Config is what a console needs; Now is the one clock.
type Config struct {
	Store    Store
	Accounts Accounts
	Tracer   Tracer  // nil: the trace page says tracing needs the ledger
	Archive  Archive // nil: no downloads of the banks' files
	Acks     Acks    // nil: no downloads of the acknowledgements
	// Approver carries out four-eyes decisions and asks for deferrals and
	// replays; nil: write-offs and cap raises only (Store.DecideRequest).
	Approver *Approver
	// RunCycle runs (or resumes) a cycle to its end: the pipeline's Run,
	// as `settle cycle run` calls it. Nil: the console runs no cycle.
	RunCycle func(ctx context.Context, date settlement.Date) (settlement.Cycle, error)
	// ResolveCycle is the operator's one-step gridlock resolution of a
	// cycle held on its caps: the pipeline's Resolve, as `settle cycle
	// resolve` calls it. Nil: the console offers none.
	ResolveCycle func(ctx context.Context, date settlement.Date) (settlement.Cycle, error)
	// Gridlock shows the ledger's gridlock resolution on a cycle's page:
	// what it deferred, what it would. Nil (no governed ledger): not shown.
	Gridlock GridlockDesk
	// Schedule says when the service runs the cycle, for the Operations
	// page ("" if not given).
	Schedule string
	// SFTP is the running SFTP server's lockouts; nil: not shown.
	SFTP SFTPControl
	// Ledger reads transactions back from the ledger for the Ledger page
	// (the submitter, the endorsers it holds); nil: Postgres's record only.
	Ledger LedgerReader
	// Chain is the channel read from its peers for the Ledger page; nil:
	// the page says the console was started without the ledger.
	Chain Chain
	// LagBlocks is how many blocks a peer may be behind the highest before
	// the Ledger page warns (console.lag_blocks).
	LagBlocks int
	Now       func() time.Time
	Log       *slog.Logger
	// TLS says the console is served over TLS (Strict-Transport-Security).
	// Cookies are Secure either way: browsers keep them on http://localhost.
	TLS bool
}

// Server is the console's HTTP handler.
type Server struct {
	cfg     Config
	pages   map[string]*template.Template
	limiter *loginLimiter
	mux     *http.ServeMux
	streams chan struct{}
	running sync.Map // business date -> struct{}: a run started here
}

// New builds the console.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Accounts == nil || cfg.Now == nil {
		return nil, errors.New("console: Store, Accounts and Now are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Server{cfg: cfg, pages: map[string]*template.Template{}, limiter: newLoginLimiter(loginFailuresMax, loginWindow),
		mux: http.NewServeMux(), streams: make(chan struct{}, streamsMax)}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		s.pages[base] = t
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	static, _ := fs.Sub(staticFiles, "static")
	files := http.FileServer(http.FS(static))
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.authed(RoleViewer, s.logout))
	s.mux.HandleFunc("GET /{$}", s.authed(RoleViewer, s.tonight))
	s.mux.HandleFunc("GET /cycles/{date}", s.authed(RoleViewer, s.cyclePage))
	s.mux.HandleFunc("GET /cycles/{date}/positions.csv", s.authed(RoleViewer, s.positionsCSV))
	s.mux.HandleFunc("GET /breaks", s.authed(RoleViewer, s.breaksPage))
	s.mux.HandleFunc("GET /breaks.csv", s.authed(RoleViewer, s.breaksCSV))
	s.mux.HandleFunc("GET /break", s.authed(RoleViewer, s.breakPage))
	s.mux.HandleFunc("POST /break/acknowledge", s.authed(RoleOperator, s.breakAcknowledge))
	s.mux.HandleFunc("POST /break/investigate", s.authed(RoleOperator, s.breakInvestigate))
	s.mux.HandleFunc("POST /break/resolve", s.authed(RoleOperator, s.breakResolve))
	s.mux.HandleFunc("POST /break/write-off", s.authed(RoleOperator, s.breakWriteOff))
	s.mux.HandleFunc("POST /requests/decide", s.authed(RoleOperator, s.decide))
	s.mux.HandleFunc("GET /requests", s.authed(RoleViewer, s.requestsPage))
	s.mux.HandleFunc("GET /caps", s.authed(RoleViewer, s.capsPage))
	s.mux.HandleFunc("POST /caps/raise", s.authed(RoleOperator, s.capRaise))
	s.mux.HandleFunc("GET /trace", s.authed(RoleAuditor, s.tracePage))
	s.mux.HandleFunc("GET /verify", s.authed(RoleAuditor, s.verifyPage))
	s.mux.HandleFunc("GET /files/{sha256}", s.authed(RoleAuditor, s.fileDownload))
	s.mux.HandleFunc("GET /files/{sha256}/sig", s.authed(RoleAuditor, s.sigDownload))
	s.mux.HandleFunc("GET /files/{sha256}/ack", s.authed(RoleAuditor, s.ackDownload))
	s.mux.HandleFunc("GET /actions", s.authed(RoleAuditor, s.actionsPage))
	s.mux.HandleFunc("GET /events", s.authed(RoleViewer, s.events))
	s.mux.HandleFunc("POST /files/defer", s.authed(RoleOperator, s.fileDefer))
	s.mux.HandleFunc("POST /cycles/{date}/run", s.authed(RoleOperator, s.cycleRun))
	s.mux.HandleFunc("POST /cycles/{date}/resolve", s.authed(RoleOperator, s.cycleResolve))
	s.mux.HandleFunc("GET /cycles/{date}/files.csv", s.authed(RoleViewer, s.filesCSV))
	s.mux.HandleFunc("GET /ops/sftp", s.authed(RoleAuditor, s.lockoutsPage))
	s.mux.HandleFunc("POST /ops/sftp/lift", s.authed(RoleOperator, s.liftLockout))
	s.mux.HandleFunc("GET /cycles/{date}/ledger", s.authed(RoleAuditor, s.ledgerPage))
	s.mux.HandleFunc("GET /ledger", s.authed(RoleAuditor, s.chainPage))
	s.mux.HandleFunc("GET /ops/poison", s.authed(RoleAuditor, s.poisonPage))
	s.mux.HandleFunc("POST /ops/poison/replay", s.authed(RoleOperator, s.poisonReplay))
}

// ServeHTTP sets the security headers, bounds the request and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // no URL (a break key, a payment) leaves the site
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	h.Set("Cache-Control", "no-store")
	if s.cfg.TLS {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if len(r.URL.RawQuery) > queryBytesMax {
		s.fail(w, r, nil, http.StatusRequestURITooLong, "the query string is longer than %d bytes", queryBytesMax)
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, bodyBytesMax)
	}
	s.mux.ServeHTTP(w, r)
}

// session is the signed-in user of a request.
type session struct {
	token [32]byte // SHA-256 of the cookie's token
	user  postgres.ConsoleUser
	csrf  string
}

type ctxKey struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(ctxKey{}).(*session)
	return s
}

// source is who the request came from: the connection's address, never a
// header a client may set.
func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// rank orders roles by what they may see: a viewer reads the cycle, the
// positions and the breaks; an auditor also the trace and the action log;
// an operator also acts. Only operators may POST (but logout).
func rank(role string) int {
	switch role {
	case RoleOperator:
		return 3
	case RoleAuditor:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// authed wraps a handler: a live session, the role, and on a POST the
// CSRF token and the origin. Refusals of a POST are logged.
func (s *Server) authed(need string, next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		if r.URL.Path == "/events" {
			ctx, cancel = context.WithCancel(r.Context()) // a stream lasts
			defer cancel()
		}
		r = r.WithContext(ctx)
		sess, err := s.session(r)
		if err != nil {
			s.fail(w, r, nil, http.StatusInternalServerError, "sessions: %v", err)
			return
		}
		if sess == nil {
			if r.Method == http.MethodGet && r.URL.Path != "/events" {
				http.Redirect(w, r, "/login?next="+urlEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			// Not logged: no one acted, and a stranger must not be able to
			// fill the action log (sign-ins are logged, and limited).
			s.fail(w, r, nil, http.StatusUnauthorized, "sign in first")
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) {
				s.record(r, sess, r.URL.Path, "", "refused", "cross-origin request")
				s.fail(w, r, sess, http.StatusForbidden, "cross-origin request refused")
				return
			}
			if err := r.ParseForm(); err != nil {
				s.record(r, sess, r.URL.Path, "", "refused", err.Error())
				s.fail(w, r, sess, formStatus(err), "form: %v", formError(err))
				return
			}
			if got := r.PostForm.Get("csrf"); subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
				s.record(r, sess, r.URL.Path, r.PostForm.Get("key"), "refused", "missing or wrong CSRF token")
				s.fail(w, r, sess, http.StatusForbidden, "the form's CSRF token is missing or wrong: reload the page and try again")
				return
			}
		}
		if rank(sess.user.Role) < rank(need) {
			if r.Method == http.MethodPost {
				s.record(r, sess, r.URL.Path, r.PostForm.Get("key"), "refused", "role "+sess.user.Role+" may not act")
			}
			s.fail(w, r, sess, http.StatusForbidden, "your role (%s) may not do this: it needs %s", sess.user.Role, need)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)), sess)
	}
}

// session finds the request's live session, ending it on timeout.
func (s *Server) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) == 0 || len(c.Value) > 64 {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(c.Value))
	cs, ok, err := s.cfg.Accounts.ConsoleSession(r.Context(), sum[:])
	if err != nil || !ok || cs.Ended || cs.User.Disabled {
		return nil, err
	}
	now := s.cfg.Now()
	if now.Sub(cs.LastSeen) > sessionIdle || now.Sub(cs.Created) > sessionMax {
		return nil, s.cfg.Accounts.EndConsoleSession(r.Context(), sum[:], now)
	}
	if now.Sub(cs.LastSeen) > 10*time.Second { // not a write on every request
		if err := s.cfg.Accounts.TouchConsoleSession(r.Context(), sum[:], now); err != nil {
			return nil, err
		}
	}
	return &session{token: sum, user: cs.User, csrf: cs.CSRF}, nil
}

// sameOrigin refuses a POST from another site: by the browser's
// Sec-Fetch-Site when it sends one, else by Origin (or Referer). SameSite=
// Strict and the CSRF token are the other walls.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		ref := r.Header.Get("Referer")
		if ref == "" {
			return o == "" // no Origin and no Referer: an old client; the CSRF token decides
		}
		o = ref
	}
	o = strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://")
	host, _, _ := strings.Cut(o, "/")
	return host == r.Host
}

func formStatus(err error) int {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func formError(err error) string {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return "the form is larger than " + itoa(bodyBytesMax) + " bytes"
	}
	return err.Error()
}

// record appends to the action log; a failure to log is logged loudly
// (the action itself has happened or been refused already).
func (s *Server) record(r *http.Request, sess *session, action, subject, outcome, detail string) {
	a := postgres.ConsoleAction{At: s.cfg.Now(), Actor: "-", Role: "-", Source: source(r), Action: action, Subject: subject, Outcome: outcome, Detail: detail}
	if sess != nil {
		a.Actor, a.Role = sess.user.Name, sess.user.Role
	}
	s.log(a)
}

func (s *Server) log(a postgres.ConsoleAction) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.cfg.Accounts.LogConsoleAction(ctx, a); err != nil {
		s.cfg.Log.Error("console action not logged", "action", a.Action, "actor", a.Actor, "err", err)
	}
}
