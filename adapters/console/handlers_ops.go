package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"settle/adapters/postgres"
	"settle/approval"
	"settle/jobs"
	"settle/settlement"
)

// --- paging ---

// offsetOf reads a page's offset (?page=N, from 0) for a table read whole
// from a bounded store query.
func offsetOf(r *http.Request) (int, error) {
	v := r.URL.Query().Get("page")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n*pageRows > pageOffsetMax {
		return 0, fmt.Errorf("page: want a page number from 0 to %d", pageOffsetMax/pageRows)
	}
	return n, nil
}

// pager is the links of a paged table.
type pager struct {
	Prev, Next string
	From, To   int
	Total      int64
}

func pageOf[T any](rows []T, page int, link func(page int) string) ([]T, pager) {
	p := pager{Total: int64(len(rows))}
	start := min(page*pageRows, len(rows))
	end := min(start+pageRows, len(rows))
	if page > 0 {
		p.Prev = link(page - 1)
	}
	if end < len(rows) {
		p.Next = link(page + 1)
	}
	p.From, p.To = start+1, end
	return rows[start:end], p
}

// --- approvals ---

type requestsData struct {
	Requests []approval.Request
	All      bool
	Pager    pager
}

func (s *Server) requestsPage(w http.ResponseWriter, r *http.Request, sess *session) {
	page, err := offsetOf(r)
	if err != nil {
		s.fail(w, r, sess, http.StatusBadRequest, "%v", err)
		return
	}
	all := r.URL.Query().Get("all") != ""
	reqs, err := s.cfg.Store.Requests(r.Context(), "", !all)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	if r.URL.Query().Get("format") == "csv" {
		var rows [][]string
		for _, q := range reqs {
			decided := ""
			if !q.DecidedAt.IsZero() {
				decided = q.DecidedAt.UTC().Format(time.RFC3339)
			}
			rows = append(rows, []string{strconv.FormatInt(q.ID, 10), q.Action, q.Subject, q.Amount, q.From, q.To, q.Note, q.RequestedBy,
				q.RequestedAt.UTC().Format(time.RFC3339), q.Decision, q.DecidedBy, decided})
		}
		csvResponse(w, "requests.csv", []string{"id", "action", "subject", "amount", "from", "to", "note", "requested_by", "requested_at",
			"decision", "decided_by", "decided_at"}, rows)
		return
	}
	d := requestsData{All: all}
	d.Requests, d.Pager = pageOf(reqs, page, func(n int) string {
		q := url.Values{"page": {strconv.Itoa(n)}}
		if all {
			q.Set("all", "1")
		}
		return "/requests?" + q.Encode()
	})
	s.render(w, sess, http.StatusOK, "requests", "Waiting for a second operator", d, false)
}

// fileDefer asks for a file's deferral to another cycle: a request that a
// second operator approves (Approver.Decide carries it out).
func (s *Server) fileDefer(w http.ResponseWriter, r *http.Request, sess *session) {
	const action = "file.defer.request"
	f := r.PostForm
	ref := cutName(f.Get("bank")) + "/" + cutName(f.Get("file"))
	refuse := func(status int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		s.record(r, sess, action, ref, "refused", msg)
		s.fail(w, r, sess, status, "%s", msg)
	}
	if s.cfg.Approver == nil {
		refuse(http.StatusServiceUnavailable, "deferrals need the pipeline, which this console was started without")
		return
	}
	bic, err := settlement.ParseBIC(f.Get("bank"))
	if err != nil {
		refuse(http.StatusBadRequest, "bank: %v", err)
		return
	}
	fileID := f.Get("file")
	if !settlement.ValidPaymentID([]byte(fileID)) {
		refuse(http.StatusBadRequest, "file: %q is not a file id", cutName(fileID))
		return
	}
	from, err := parseDate(f.Get("from"))
	if err != nil {
		refuse(http.StatusBadRequest, "from: %v", err)
		return
	}
	var to settlement.Date
	if v := strings.TrimSpace(f.Get("to")); v != "" {
		if to, err = parseDate(v); err != nil {
			refuse(http.StatusBadRequest, "to: %v", err)
			return
		}
	}
	reason, err := note(r, true)
	if err != nil {
		refuse(http.StatusBadRequest, "%v", err)
		return
	}
	q, err := s.cfg.Approver.RequestDeferral(r.Context(), jobs.Deferral{Sender: bic, FileID: fileID, From: from, To: to, Reason: reason}, sess.user.Name, s.cfg.Now())
	if err != nil {
		s.record(r, sess, action, ref, "refused", err.Error())
		s.storeError(w, r, sess, err)
		return
	}
	s.record(r, sess, action, q.Subject, "ok", fmt.Sprintf("request %d: %s to %s: %s", q.ID, settlement.CycleID(from), settlement.CycleID(settlement.Date(q.To)), reason))
	http.Redirect(w, r, "/requests", http.StatusSeeOther)
}

// --- the ledger ---

type ledgerRow struct {
	postgres.LedgerTxRecord
	// What the ledger itself says of the transaction, when it was read.
	Read      bool
	Submitter string
	Held      []string // endorsers the ledger holds
	Differs   bool     // the ledger's endorsers or block are not Postgres's
	Problem   string
}

type ledgerData struct {
	Cycle    settlement.Cycle
	Rows     []ledgerRow
	Total    int64
	Next     int64
	Later    bool
	FromLedg bool
	// Foreign are the cycle's ledger events whose transaction the service
	// did not submit.
	Foreign []postgres.ForeignEvent
}

// ledgerPage is a cycle's ledger transactions: what Postgres recorded of
// each (the chunk, the block, the endorsers returned at commit) beside what
// the ledger says when it is read back (its block, its endorsers, the
// identity that submitted it). Paged on the server.
func (s *Server) ledgerPage(w http.ResponseWriter, r *http.Request, sess *session) {
	c, ok := s.cycleOf(w, r, sess)
	if !ok {
		return
	}
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		var err error
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			s.fail(w, r, sess, http.StatusBadRequest, "after: want a transaction row number")
			return
		}
	}
	csv := r.URL.Query().Get("format") == "csv"
	limit := pageRows
	if csv {
		limit = 0 // the store's bound: one download of at most 500 rows
	}
	txs, total, err := s.cfg.Store.CycleLedgerTxs(r.Context(), c.BusinessDate, after, limit)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	if csv {
		var rows [][]string
		for _, t := range txs {
			rows = append(rows, []string{strconv.FormatInt(t.ID, 10), t.TxID, strconv.FormatInt(t.Block, 10), t.Function, t.Chunk,
				strconv.FormatInt(t.Entries, 10), strings.Join(t.Endorsers, " "), t.CommittedAt.UTC().Format(time.RFC3339)})
		}
		csvResponse(w, c.ID+"-ledger.csv", []string{"row", "tx_id", "block", "function", "chunk", "entries", "endorsers", "committed_at"}, rows)
		return
	}
	d := ledgerData{Cycle: c, Total: total, Later: after > 0, FromLedg: s.cfg.Ledger != nil}
	if d.Foreign, err = s.cfg.Store.ForeignLedgerEvents(r.Context(), c.ID); err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	for _, t := range txs {
		row := ledgerRow{LedgerTxRecord: t}
		if s.cfg.Ledger != nil {
			lt, err := s.cfg.Ledger.Tx(r.Context(), t.TxID)
			if err != nil {
				row.Problem = "not read from the ledger: " + err.Error()
			} else {
				row.Read, row.Submitter, row.Held = true, lt.Submitter, lt.Endorsers
				row.Differs = int64(lt.Block) != t.Block || !sameSet(lt.Endorsers, t.Endorsers)
			}
		}
		d.Rows = append(d.Rows, row)
	}
	if len(txs) == pageRows {
		d.Next = txs[len(txs)-1].ID
	}
	s.render(w, sess, http.StatusOK, "ledger", "Ledger of "+c.ID, d, false)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x]--; seen[x] < 0 {
			return false
		}
	}
	return true
}

// --- the poison queue ---

type poisonRow struct {
	jobs.Poisoned
	MovesMoney bool
	Replayed   *postgres.PoisonReplay
	Pending    *approval.Request
}

type poisonData struct {
	Rows      []poisonRow
	Pager     pager
	Available bool
}

// poisonPage lists the events whose handler kept failing, each with its
// replay (done, or waiting for a second operator) and, for an operator,
// the button that replays it.
func (s *Server) poisonPage(w http.ResponseWriter, r *http.Request, sess *session) {
	page, err := offsetOf(r)
	if err != nil {
		s.fail(w, r, sess, http.StatusBadRequest, "%v", err)
		return
	}
	d := poisonData{Available: s.cfg.Approver != nil && s.cfg.Approver.Poison != nil}
	if !d.Available {
		s.render(w, sess, http.StatusOK, "poison", "Poison queue", d, false)
		return
	}
	ps, err := s.cfg.Approver.Poison.ListPoisoned(r.Context())
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	done, err := s.cfg.Store.PoisonReplays(r.Context())
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	reqs, err := s.cfg.Store.Requests(r.Context(), "", true)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	pending := map[string]approval.Request{}
	for _, q := range reqs {
		if q.Action == approval.Replay {
			pending[q.Subject] = q
		}
	}
	if r.URL.Query().Get("format") == "csv" {
		var rows [][]string
		for _, p := range ps {
			rp := done[p.UUID]
			at := ""
			if !rp.At.IsZero() {
				at = rp.At.UTC().Format(time.RFC3339)
			}
			rows = append(rows, []string{p.UUID, p.At.UTC().Format(time.RFC3339), p.Topic, p.Event.Cycle, p.Reason, rp.By, at})
		}
		csvResponse(w, "poison.csv", []string{"uuid", "poisoned_at", "topic", "cycle", "reason", "replayed_by", "replayed_at"}, rows)
		return
	}
	shown, pg := pageOf(ps, page, func(n int) string { return "/ops/poison?page=" + strconv.Itoa(n) })
	d.Pager = pg
	for _, p := range shown {
		row := poisonRow{Poisoned: p, MovesMoney: MovesMoney(p.Event.Topic)}
		if rp, ok := done[p.UUID]; ok {
			row.Replayed = &rp
		}
		if q, ok := pending[p.UUID]; ok {
			row.Pending = &q
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, sess, http.StatusOK, "poison", "Poison queue", d, false)
}

// poisonReplay replays a poisoned event, or asks a second operator when
// its handler moves money.
func (s *Server) poisonReplay(w http.ResponseWriter, r *http.Request, sess *session) {
	const action = "poison.replay"
	uuid := r.PostForm.Get("uuid")
	if uuid == "" || len(uuid) > 64 || !utf8Printable(uuid) {
		s.record(r, sess, action, cutName(uuid), "refused", "bad message id")
		s.fail(w, r, sess, http.StatusBadRequest, "uuid: want a poisoned message's id")
		return
	}
	if s.cfg.Approver == nil || s.cfg.Approver.Poison == nil {
		s.record(r, sess, action, uuid, "refused", "no event bus")
		s.fail(w, r, sess, http.StatusServiceUnavailable, "replays need the event bus, which this console was started without")
		return
	}
	n, err := note(r, false)
	if err != nil {
		s.record(r, sess, action, uuid, "refused", err.Error())
		s.fail(w, r, sess, http.StatusBadRequest, "%v", err)
		return
	}
	res, err := s.cfg.Approver.Replay(r.Context(), uuid, n, sess.user.Name, s.cfg.Now())
	if err != nil {
		s.record(r, sess, action, uuid, "refused", err.Error())
		s.storeError(w, r, sess, err)
		return
	}
	if res.Request != nil {
		s.record(r, sess, action+".request", uuid, "ok", fmt.Sprintf("request %d: %s of %s waits for a second operator: %s", res.Request.ID, res.Event.Topic, res.Event.Cycle, n))
	} else {
		s.record(r, sess, action, uuid, "ok", res.Event.Topic+" of "+res.Event.Cycle)
	}
	http.Redirect(w, r, "/ops/poison", http.StatusSeeOther)
}

func utf8Printable(s string) bool {
	for _, c := range s {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// replayError says which of the Approver's refusals are the caller's.
func replayStatus(err error) (int, bool) {
	switch {
	case errors.Is(err, ErrNoPoison):
		return http.StatusNotFound, true
	case errors.Is(err, ErrStaleReplay), errors.Is(err, postgres.ErrReplayed), errors.Is(err, jobs.ErrDeferral):
		return http.StatusConflict, true
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}

// --- running a cycle ---

// cycleRun runs or resumes a cycle with the pipeline's Run, the function
// `settle cycle run` calls. A run that fails at once (a cap breach, the
// ledger down) is answered with the pipeline's error, as the CLI prints
// it; a longer one goes on after the answer and the live cycle page shows
// its progress; its end is logged.
func (s *Server) cycleRun(w http.ResponseWriter, r *http.Request, sess *session) {
	s.startRun(w, r, sess, "cycle.run", s.cfg.RunCycle)
}

// startRun runs a cycle with run (the pipeline's Run or Resolve) as
// cycleRun says, logging it under action.
func (s *Server) startRun(w http.ResponseWriter, r *http.Request, sess *session, action string, run func(context.Context, settlement.Date) (settlement.Cycle, error)) {
	c, ok := s.cycleOf(w, r, sess)
	if !ok {
		return
	}
	if run == nil {
		s.record(r, sess, action, c.ID, "refused", "no pipeline")
		s.fail(w, r, sess, http.StatusServiceUnavailable, "running a cycle needs the pipeline, which this console was started without")
		return
	}
	if c.Stage.Next() == "" {
		s.record(r, sess, action, c.ID, "refused", "already "+string(c.Stage))
		s.fail(w, r, sess, http.StatusConflict, "cycle %s is %s: nothing to run", c.ID, c.Stage)
		return
	}
	if _, busy := s.running.LoadOrStore(c.BusinessDate, struct{}{}); busy {
		s.record(r, sess, action, c.ID, "refused", "a run is under way")
		s.fail(w, r, sess, http.StatusConflict, "cycle %s: a run started from this console is under way; its page shows its progress", c.ID)
		return
	}
	src := source(r)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), runTimeout)
	done := make(chan error, 1)
	go func() {
		defer cancel()
		defer s.running.Delete(c.BusinessDate) // also if run panics
		cy, err := run(ctx, c.BusinessDate)
		// Before the answer: a run that failed at once may be retried at
		// once, and must not find itself still under way.
		s.running.Delete(c.BusinessDate)
		if err != nil {
			err = fmt.Errorf("cycle %s stopped at %s: %w (fix the cause, then run it again: it resumes)", c.ID, cy.Stage, err)
		}
		done <- err
		outcome, detail := "ok", "ran to "+string(cy.Stage)
		if err != nil {
			outcome, detail = "failed", err.Error()
		}
		s.log(postgres.ConsoleAction{At: s.cfg.Now(), Actor: sess.user.Name, Role: sess.user.Role, Source: src, Action: action + ".end",
			Subject: c.ID, Outcome: outcome, Detail: detail})
	}()
	select {
	case err := <-done:
		if err != nil {
			s.record(r, sess, action, c.ID, "failed", err.Error())
			s.fail(w, r, sess, http.StatusConflict, "%v", err)
			return
		}
		s.record(r, sess, action, c.ID, "ok", "")
	case <-time.After(runAnswerWait):
		s.record(r, sess, action, c.ID, "started", "")
	}
	http.Redirect(w, r, "/cycles/"+url.PathEscape(string(c.BusinessDate)), http.StatusSeeOther)
}

// filesCSV downloads a cycle's files, every page of them (the store's
// bound: 500 rows a read, read to the end).
func (s *Server) filesCSV(w http.ResponseWriter, r *http.Request, sess *session) {
	c, ok := s.cycleOf(w, r, sess)
	if !ok {
		return
	}
	var rows [][]string
	var after int64
	for len(rows) < pageOffsetMax {
		fs, _, err := s.cfg.Store.CycleFilePage(r.Context(), c.BusinessDate, after, 0)
		if err != nil {
			s.storeError(w, r, sess, err)
			return
		}
		for _, f := range fs {
			ack := ""
			if !f.AcknowledgedAt.IsZero() {
				ack = f.AcknowledgedAt.UTC().Format(time.RFC3339)
			}
			rows = append(rows, []string{string(f.Sender), f.FileID, f.Name, f.SHA256, f.SignatureKey, f.ReceivedAt.UTC().Format(time.RFC3339),
				strconv.FormatInt(f.Entries, 10), f.ControlSum, ack, strings.Join(f.Deferrals, "; ")})
			after = f.ID
		}
		if len(fs) == 0 {
			break
		}
	}
	csvResponse(w, c.ID+"-files.csv", []string{"sender", "file_id", "name", "sha256", "signed_with", "received_at", "entries", "control_sum",
		"acknowledged_at", "deferrals"}, rows)
}

// --- SFTP lockouts ---

type lockoutsData struct {
	Available bool
	Lockouts  []jobs.Lockout
	Problem   string
}

// lockoutsPage lists the SFTP server's lockouts: a bank's login locked
// from one source after failed logins, or a source backing off.
func (s *Server) lockoutsPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d := lockoutsData{Available: s.cfg.SFTP != nil}
	if d.Available {
		ls, err := s.cfg.SFTP.Lockouts(r.Context())
		if err != nil {
			d.Problem = "the SFTP server did not answer: " + err.Error()
		}
		d.Lockouts = ls
	}
	if r.URL.Query().Get("format") == "csv" {
		var rows [][]string
		for _, l := range d.Lockouts {
			rows = append(rows, []string{l.Source, l.User, strconv.Itoa(l.Failures), l.Until.UTC().Format(time.RFC3339)})
		}
		csvResponse(w, "sftp-lockouts.csv", []string{"source", "user", "failures", "until"}, rows)
		return
	}
	s.render(w, sess, http.StatusOK, "sftp", "SFTP lockouts", d, false)
}

// loginBytesMax bounds an SFTP login in a form.
const loginBytesMax = 64

// liftLockout lifts a lockout (settle sftp unlock); logged.
func (s *Server) liftLockout(w http.ResponseWriter, r *http.Request, sess *session) {
	const action = "sftp.unlock"
	src, user := strings.TrimSpace(r.PostForm.Get("source")), strings.TrimSpace(r.PostForm.Get("user"))
	subject := cutName(src) + " " + cutName(user)
	if net.ParseIP(src) == nil {
		s.record(r, sess, action, subject, "refused", "bad source address")
		s.fail(w, r, sess, http.StatusBadRequest, "source: want an IP address, as the lockout lists it")
		return
	}
	if len(user) > loginBytesMax || !utf8Printable(user) && user != "" {
		s.record(r, sess, action, subject, "refused", "bad login")
		s.fail(w, r, sess, http.StatusBadRequest, "user: an SFTP login of at most %d printable characters, or empty for every user", loginBytesMax)
		return
	}
	if s.cfg.SFTP == nil {
		s.record(r, sess, action, subject, "refused", "no SFTP server")
		s.fail(w, r, sess, http.StatusServiceUnavailable, "this console was started without the SFTP server")
		return
	}
	n, err := s.cfg.SFTP.Lift(r.Context(), src, user, sess.user.Name)
	if err != nil {
		s.record(r, sess, action, subject, "failed", err.Error())
		s.fail(w, r, sess, http.StatusBadGateway, "the SFTP server did not lift it: %v", err)
		return
	}
	s.record(r, sess, action, subject, "ok", fmt.Sprintf("lifted %d lockout(s)", n))
	http.Redirect(w, r, "/ops/sftp", http.StatusSeeOther)
}

// --- a file's signature and acknowledgement ---

// fileOf reads the file a download names: its SHA-256 in the path, its
// sender and name in the query (as the Files table links them).
func (s *Server) fileOf(w http.ResponseWriter, r *http.Request, sess *session) (sum string, bank settlement.BIC, name string, ok bool) {
	sum = r.PathValue("sha256")
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		s.fail(w, r, sess, http.StatusBadRequest, "want a file's SHA-256: 64 lowercase hex digits")
		return
	}
	bank, err := settlement.ParseBIC(r.URL.Query().Get("bank"))
	if err != nil {
		s.fail(w, r, sess, http.StatusBadRequest, "bank: %v", err)
		return
	}
	name = r.URL.Query().Get("name")
	if name == "" || len(name) > 255 || !utf8Printable(name) {
		s.fail(w, r, sess, http.StatusBadRequest, "name: the file's name as the bank sent it")
		return
	}
	return sum, bank, name, true
}

// sigDownload sends the detached signature that came with a file, from
// the archive, as the bank sent it; logged.
func (s *Server) sigDownload(w http.ResponseWriter, r *http.Request, sess *session) {
	sum, bank, name, ok := s.fileOf(w, r, sess)
	if !ok {
		return
	}
	if s.cfg.Archive == nil {
		s.fail(w, r, sess, http.StatusServiceUnavailable, "this console was started without the archive")
		return
	}
	sigSum, found, err := s.cfg.Archive.Find(string(bank), name+".sig")
	if err != nil || !found {
		s.record(r, sess, "file.sig.download", sum, "refused", fmt.Sprintf("no archived %s.sig of %s: %v", name, bank, err))
		s.fail(w, r, sess, http.StatusNotFound, "no archived %s.sig of %s", name, bank)
		return
	}
	rc, err := s.cfg.Archive.Open(sigSum)
	if err != nil {
		s.fail(w, r, sess, http.StatusNotFound, "the archive cannot open %s.sig: %v", name, err)
		return
	}
	defer rc.Close()
	s.record(r, sess, "file.sig.download", sum, "ok", string(bank)+" "+name+".sig")
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+sum+`.sig"`)
	io.Copy(w, rc)
}

// ackDownload sends a file's acknowledgement byte for byte as the intake
// wrote it to the bank's outbox (recorded in the same transaction).
func (s *Server) ackDownload(w http.ResponseWriter, r *http.Request, sess *session) {
	sum, bank, name, ok := s.fileOf(w, r, sess)
	if !ok {
		return
	}
	if s.cfg.Acks == nil {
		s.fail(w, r, sess, http.StatusServiceUnavailable, "this console was started without the acknowledgements")
		return
	}
	a, found, err := s.cfg.Acks.Acknowledgement(r.Context(), bank, name, sum)
	if err != nil {
		s.storeError(w, r, sess, err)
		return
	}
	if !found || a.Body == nil {
		s.fail(w, r, sess, http.StatusNotFound, "no recorded acknowledgement of %s from %s with that SHA-256", name, bank)
		return
	}
	s.record(r, sess, "file.ack.download", sum, "ok", string(bank)+" "+a.Name)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+sum+`.ack.json"`)
	w.Write(a.Body)
}
