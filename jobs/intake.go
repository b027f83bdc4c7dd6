package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/shopspring/decimal"

	"settle/failpoint"
	"settle/formats"
	"settle/formats/csvfile"
	"settle/formats/xmlfile"
	"settle/intake"
	"settle/settlement"
	"settle/signature"
)

// Archive keeps every taken file, unchanged and content-addressed, before
// anything else happens to it, and the bytes of rejected files within a
// quota per bank (RejectedRetention).
type Archive interface {
	// Keep stores the bytes of r and returns their hex SHA-256.
	Keep(ctx context.Context, bank, name string, receivedAt time.Time, r io.Reader) (sum string, err error)
	// Open returns the bytes stored under sum.
	Open(sum string) (io.ReadCloser, error)
	RejectedRetention
}

// RejectedRetention is the Archive's quota on rejected bytes: told of each
// rejected file, it removes the bank's oldest rejected bytes while the bank
// is over its quota, and says which.
type RejectedRetention interface {
	Rejected(ctx context.Context, bank settlement.BIC, sum string, size int64, at time.Time) (removed []string, err error)
}

// FileState is what the store already knows about a file's bytes.
type FileState struct {
	FileRow      int64
	Sender       settlement.BIC
	Name         string
	Status       string
	Problems     []settlement.Problem
	Acknowledged bool
	Cycle        settlement.Date
	Entries      int64
	ControlSum   string
	FileID       string
	ReceivedAt   time.Time
}

// FileLookup finds what the store recorded of earlier takes (part of the
// Store adapter).
type FileLookup interface {
	// Acknowledgement is the verdict recorded for bank's file name with
	// the bytes sum; ok false if there is none.
	Acknowledgement(ctx context.Context, bank settlement.BIC, name, sum string) (RecordedAck, bool, error)
	// AckNameTaken tells whether bank already has an acknowledgement
	// named ackName.
	AckNameTaken(ctx context.Context, bank settlement.BIC, ackName string) (bool, error)
}

// Taking is the intake's journal of takes under way (a state folder): a
// take is noted before its verdict is recorded, and the note is removed
// once the pair has left the inbox. It is how a take that a crash stopped
// half-way through moving the pair out (a lone payment file, no longer
// listed) is finished.
type Taking interface {
	Begin(ctx context.Context, t TakeNote) error
	End(ctx context.Context, t TakeNote) error
	// Pending lists the notes left, oldest first.
	Pending(ctx context.Context) ([]TakeNote, error)
}

// TakeNote is one take under way: the file as listed and its bytes' hash.
type TakeNote struct {
	File   InboxFile `json:"file"`
	SHA256 string    `json:"sha256"`
}

// ErrAckExists reports an acknowledgement that already exists in the
// outbox with other bytes: an acknowledgement is never replaced.
var ErrAckExists = errors.New("acknowledgement already exists with other content")

// Intake takes complete files from the inbox. Taking one file is a fixed
// sequence of steps, and a crash (SIGKILL, a power cut) between any two
// of them is harmless: the next pass, in this process or the next one,
// ends where an uninterrupted take ends, and the bank reads one verdict,
// the first, byte for byte.
//
//  1. read: the file and its .sig are copied into the archive, which is
//     content-addressed, so copying the same bytes again changes nothing.
//     A crash after it leaves the pair whole in the inbox: taken afresh.
//  2. resume: if the store holds a verdict for this bank's file of this
//     name with these bytes, an earlier take got past step 5: it is
//     finished (steps 6 to 8) with the recorded bytes, and the file is
//     not judged again (not rejected as a duplicate of itself). The same
//     bytes sent again under the same name after a take that ended are
//     the same take too: a file is judged once.
//  3. check: signature, sender, format and rules, and the cycle the file
//     goes to; nothing of the file is written (the cycle may be opened,
//     which is idempotent). The sender is checked before anything about
//     earlier files is looked up, and only the bank's own files are ever
//     compared with it.
//  4. journal: the take is noted (Taking). A crash after it: no verdict is
//     recorded, so the next pass drops the note and takes the pair afresh.
//  5. record: the verdict, its outbox name and its exact bytes, as the
//     JSON acknowledgement and as the status report (pacs.002) rendered
//     from the same status and problems, are recorded with the file and
//     its payments in one transaction. The name is <file>.ack.json, or
//     <file>.<16 hex of its sha256>.ack.json when the bank already has an
//     acknowledgement of that name (a reused file name); the report's is
//     the same with .ack.xml. A crash before the commit recorded nothing
//     (as 4); a crash after it is finished by step 2, or from the journal.
//  6. ack: the recorded bytes are linked into the outbox under the
//     recorded names, the status report first (a bank that sees the JSON
//     acknowledgement finds the report too), then the JSON one. An
//     existing file there is never replaced: the same bytes (written
//     before a crash) count as written, other bytes are ErrAckExists. The
//     file's acknowledgement time is then stamped, once.
//  7. done: the pair leaves the inbox, .sig first. A crash between the two
//     moves leaves a lone payment file that no longer lists; the journal
//     note names it, and the next pass moves it.
//  8. clear: the note is removed. A crash before it: the next pass finds
//     the verdict, the acknowledgement already there and the pair gone,
//     and removes the note.
//
// Each step boundary is a failpoint (intake.read, intake.journal,
// intake.record, intake.report between the two links of step 6,
// intake.ack, intake.done; the built-in inbox has
// sftp.done.sig between its two moves), so that a test kills the process
// there (package failpoint, SETTLE_CRASH_AT).
type Intake struct {
	Inbox    Inbox
	Archive  Archive
	Store    IntakeStore
	Files    FileLookup
	Taking   Taking
	Calendar *Calendar
	// CutOff is the local time of day after which a file goes to the next
	// business day's cycle (e.g. 18h).
	CutOff time.Duration
	// AheadMax bounds how far ahead of today a file may be dated.
	AheadMax int
	Limits   formats.Limits
	// Scheme is the scheme's BIC, the instructing agent of every status
	// report; "" means DefaultScheme.
	Scheme settlement.BIC
	Now    func() time.Time
	Log    *slog.Logger
	// OnTake, if set, is told of every file taken, with its outcome and
	// how long the take lasted (a metric).
	OnTake func(f InboxFile, status string, d time.Duration)
}

// DefaultScheme is the scheme's BIC when none is configured.
const DefaultScheme settlement.BIC = "KSCHKRSE" // as gen.SchemeBIC, the addressee of the AppHdr banks send

func (in *Intake) scheme() settlement.BIC {
	if in.Scheme != "" {
		return in.Scheme
	}
	return DefaultScheme
}

// IntakeCounts says what one Collect did.
type IntakeCounts struct {
	Taken, Accepted, Rejected, Duplicates, Late, Ignored int64
}

// Map is the counts for a job run record.
func (c IntakeCounts) Map() map[string]int64 {
	return map[string]int64{"taken": c.Taken, "accepted": c.Accepted, "rejected": c.Rejected, "duplicates": c.Duplicates, "late": c.Late, "ignored": c.Ignored}
}

// filesPerCollectMax bounds one pass over the inbox.
const filesPerCollectMax = 1000

func (in *Intake) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

func (in *Intake) log() *slog.Logger {
	if in.Log != nil {
		return in.Log
	}
	return slog.Default()
}

// Collect takes every complete file waiting in the inbox.
func (in *Intake) Collect(ctx context.Context) (IntakeCounts, error) {
	var c IntakeCounts
	var errs []error
	if err := in.recover(ctx, &c); err != nil {
		errs = append(errs, err)
	}
	files, err := in.Inbox.List(ctx, filesPerCollectMax)
	if err != nil {
		return c, errors.Join(append(errs, err)...)
	}
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		out, err := in.Take(ctx, f)
		if in.OnTake != nil && err == nil {
			in.OnTake(f, out.Status, time.Since(start))
		}
		if err != nil {
			if errors.Is(err, ErrChanged) {
				continue // listed again in its new form
			}
			errs = append(errs, fmt.Errorf("%s/%s: %w", f.Bank, f.Name, err))
			continue
		}
		c.add(out)
	}
	return c, errors.Join(errs...)
}

func (c *IntakeCounts) add(out TakeResult) {
	c.Taken++
	switch out.Status {
	case "": // finished a take acknowledged before its bytes were kept
	case intake.Accepted:
		c.Accepted++
	case IngestDuplicate:
		c.Duplicates++
	case StatusIgnored:
		c.Ignored++
	default:
		c.Rejected++
	}
	if out.Late {
		c.Late++
	}
}

// recover finishes the takes a crash left in the journal: those whose
// verdict was recorded get their acknowledgement and leave the inbox;
// the others recorded nothing, and their pair is still whole in the inbox.
func (in *Intake) recover(ctx context.Context, c *IntakeCounts) error {
	if in.Taking == nil {
		return ErrNoJournal
	}
	notes, err := in.Taking.Pending(ctx)
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("intake journal: %w", err)) // and the notes that read are finished
	}
	for _, n := range notes {
		rec, ok, err := in.Files.Acknowledgement(ctx, n.File.Bank, n.File.Name, n.SHA256)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			if err := in.Taking.End(ctx, n); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		out, err := in.finish(ctx, n.File, n.SHA256, rec)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", n.File.Bank, n.File.Name, err))
			continue
		}
		in.log().Info("interrupted take finished", "bank", n.File.Bank, "file", n.File.Name, "sha256", n.SHA256, "ack", rec.Name)
		c.add(out)
	}
	return errors.Join(errs...)
}

// AckBody is the acknowledgement as the contract defines it, plus the
// fields the contract allows to be added: the cycle the file went to, and
// a note when it was late.
type AckBody struct {
	intake.Ack
	Cycle string `json:"cycle,omitempty"`
	Note  string `json:"note,omitempty"`
}

// TakeResult is the verdict on one taken file.
type TakeResult struct {
	Status string
	Late   bool
	Ack    AckBody
}

// ErrNoJournal reports an Intake without its Taking journal.
var ErrNoJournal = errors.New("intake has no journal of takes (Taking)")

// Take processes one complete file, in the steps Intake lists.
func (in *Intake) Take(ctx context.Context, f InboxFile) (TakeResult, error) {
	if in.Taking == nil {
		return TakeResult{}, ErrNoJournal
	}
	received := in.now()
	// A pair that can never be read or acknowledged is never ingested:
	// the bank gets a notice instead (issue 12, items 4 and 9).
	if f.Ignored == "" {
		f.Ignored = IgnoredReason(f.Name)
	}
	if f.Ignored != "" {
		return in.ignore(ctx, f, received)
	}
	// 1. read
	sum, sigBytes, err := in.archive(ctx, f, received)
	if err != nil {
		return TakeResult{}, err
	}
	failpoint.Here("intake.read")

	// 2. resume
	if rec, ok, err := in.Files.Acknowledgement(ctx, f.Bank, f.Name, sum); err != nil {
		return TakeResult{}, err
	} else if ok {
		in.log().Info("file taken before; finishing that take", "bank", f.Bank, "file", f.Name, "sha256", sum, "ack", rec.Name)
		return in.finish(ctx, f, sum, rec)
	}

	// 3. check
	c, err := in.check(ctx, f, sum, sigBytes, received)
	if err != nil {
		return TakeResult{}, err
	}

	// 4. journal
	note := TakeNote{File: f, SHA256: sum}
	if err := in.Taking.Begin(ctx, note); err != nil {
		return TakeResult{}, fmt.Errorf("intake journal: %w", err)
	}
	failpoint.Here("intake.journal")

	// 5. record
	res, recorded, err := in.record(ctx, f, sum, received, &c)
	if err != nil {
		return TakeResult{}, err
	}
	failpoint.Here("intake.record")

	// 6 to 8
	out, err := in.finish(ctx, f, sum, recorded)
	if err != nil {
		return out, err
	}
	if res.Status == IngestDuplicate {
		out.Status = IngestDuplicate
	}
	out.Late = c.late && res.Status == IngestAccepted
	in.log().Info("file taken", "bank", f.Bank, "file", f.Name, "sha256", sum, "status", out.Status,
		"entries", c.verdict.Entries, "problems", len(out.Ack.Errors), "cycle", out.Ack.Cycle, "ack", recorded.Name)
	return out, nil
}

// checked is step 3's outcome for one file: the check's verdict, the
// record to make of the file, the name of its acknowledgement, and, for a
// file the check passed, the problems its cycle has (a cut-off passed)
// and whether it is late.
type checked struct {
	verdict  *intake.Result
	rec      FileRecord
	ackName  string
	problems []settlement.Problem
	late     bool
}

// check is step 3: the archived bytes checked against the bank's keys at
// received and the members, the acknowledgement named (a reused file name
// gets its hash in it), and the cycle the file goes to chosen. Nothing of
// the file is written; the cycle may be opened.
func (in *Intake) check(ctx context.Context, f InboxFile, sum string, sigBytes []byte, received time.Time) (checked, error) {
	ring, err := in.keys(ctx, f.Bank, received)
	if err != nil {
		return checked{}, err
	}
	members, err := in.Store.Members(ctx)
	if err != nil {
		return checked{}, err
	}
	opts := intake.Options{Keys: ring, Member: func(b settlement.BIC) bool { return members[b] }, Uploader: f.Bank, Limits: in.Limits}
	rc, err := in.Archive.Open(sum)
	if err != nil {
		return checked{}, err
	}
	verdict, err := intake.Check(f.Name, rc, intake.Sig{Present: true, Bytes: sigBytes}, opts)
	rc.Close()
	if err != nil {
		return checked{}, err
	}
	c := checked{verdict: verdict, problems: verdict.Problems}
	c.rec = FileRecord{Sender: f.Bank, FileID: verdict.FileID, Name: f.Name, SHA256: sum, Size: verdict.Size,
		SignatureKey: verdict.KeyLabel, BusinessDate: verdict.BusinessDate, Entries: verdict.Entries, ReceivedAt: received}
	// The control sum is the check's own decimal: one that does not parse
	// is a bug, and recording it as zero would hide it (issue 12).
	cs, err := decimal.NewFromString(verdict.ControlSum)
	if err != nil {
		return checked{}, fmt.Errorf("%s/%s: control sum %q of the check does not parse: %w", f.Bank, f.Name, verdict.ControlSum, err)
	}
	c.rec.ControlSum = cs
	c.ackName = intake.AckName(f.Name)
	if taken, err := in.Files.AckNameTaken(ctx, f.Bank, c.ackName); err != nil {
		return checked{}, err
	} else if taken {
		c.ackName = intake.AckNameOf(f.Name, sum)
	}
	if len(c.problems) == 0 {
		if c.rec.Cycle, c.late, c.problems, err = in.cycleFor(ctx, verdict.BusinessDate, received); err != nil {
			return checked{}, err
		}
	}
	return c, nil
}

// record is step 5: the verdict recorded with the file (accepted, with its
// entries; or rejected, after the archive's quota of rejected bytes is
// applied), then read back as the store keeps it. An ingest may find the
// file late after all (c.late).
func (in *Intake) record(ctx context.Context, f InboxFile, sum string, received time.Time, c *checked) (IngestResult, RecordedAck, error) {
	var res IngestResult
	var err error
	if len(c.problems) == 0 {
		if res, c.late, err = in.ingest(ctx, c.rec, c.ackName, c.verdict, c.late); err != nil {
			return IngestResult{}, RecordedAck{}, err
		}
	} else {
		// Before the record, so that a failure here is retried with the
		// whole take (Rejected is idempotent).
		removed, err := in.Archive.Rejected(ctx, f.Bank, sum, c.verdict.Size, received)
		if err != nil {
			return IngestResult{}, RecordedAck{}, err
		}
		for _, r := range removed {
			in.log().Warn("rejected bytes removed from the archive: bank over its quota of rejected bytes", "bank", f.Bank, "sha256", r)
		}
		c.rec.Ack = &AckRecord{Name: c.ackName, Body: in.ackBody(f.Bank, c.ackName, c.verdict, received, "", false)}
		if res, err = in.Store.RecordRejected(ctx, c.rec, c.problems); err != nil {
			return IngestResult{}, RecordedAck{}, err
		}
	}
	recorded, ok, err := in.Files.Acknowledgement(ctx, f.Bank, f.Name, sum)
	if err != nil {
		return IngestResult{}, RecordedAck{}, err
	}
	if !ok {
		return IngestResult{}, RecordedAck{}, fmt.Errorf("the store recorded %s of %s (%s) without its acknowledgement", f.Name, f.Bank, res.Status)
	}
	return res, recorded, nil
}

// ackBody renders the acknowledgement of verdict for the outcome the store
// reaches, and the status report beside it from the same status and
// problems; cycle and late are those of an accepted file.
func (in *Intake) ackBody(bank settlement.BIC, ackName string, verdict *intake.Result, received time.Time, cycle settlement.Date, late bool) func(string, []settlement.Problem) ([]byte, []byte, error) {
	return func(status string, problems []settlement.Problem) ([]byte, []byte, error) {
		body, err := in.ackJSON(verdict, received, cycle, late, status, problems)
		if err != nil {
			return nil, nil, err
		}
		report, err := statusReport(in.scheme(), bank, intake.ReportName(ackName), verdict, received, status, problems)
		if err != nil {
			return nil, nil, fmt.Errorf("status report %s: %w", intake.ReportName(ackName), err)
		}
		return body, report, nil
	}
}

// ackJSON renders the JSON acknowledgement, exactly as the contract
// writes it.
func (in *Intake) ackJSON(verdict *intake.Result, received time.Time, cycle settlement.Date, late bool, status string, problems []settlement.Problem) ([]byte, error) {
	ack := AckBody{Ack: verdict.Ack(received)}
	switch status {
	case IngestAccepted:
		if len(problems) > 0 || cycle == "" {
			return nil, fmt.Errorf("accepted with %d problems, cycle %q", len(problems), cycle)
		}
		ack.Status = intake.Accepted
		ack.Cycle = settlement.CycleID(cycle)
		if late {
			ack.Note = fmt.Sprintf("dated %s but received after that cycle's cut-off, or for a day that does not settle: settles in the cycle of %s", verdict.BusinessDate, cycle)
		}
	case IngestRejected, IngestDuplicate:
		if len(problems) == 0 {
			return nil, fmt.Errorf("%s without a problem", status)
		}
		ack.Status, ack.Errors = intake.Rejected, problems
	default:
		return nil, fmt.Errorf("outcome %q", status)
	}
	body, err := json.MarshalIndent(ack, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(body, '\n'), nil
}

// archive keeps the file and its signature before anything else.
func (in *Intake) archive(ctx context.Context, f InboxFile, received time.Time) (string, []byte, error) {
	rc, err := in.Inbox.Open(ctx, f)
	if err != nil {
		return "", nil, err
	}
	sum, err := in.Archive.Keep(ctx, string(f.Bank), f.Name, received, rc)
	rc.Close()
	if err != nil {
		return "", nil, err
	}
	sc, err := in.Inbox.OpenSig(ctx, f)
	if err != nil {
		return "", nil, err
	}
	// The .sig is archived exactly as received, whatever its size (the
	// archive has its own bound); the check reads only its first
	// SigBytesMax+1 bytes, enough to tell one too large (issue 12, item 6).
	head := &headBuffer{max: signature.SigBytesMax + 1}
	_, err = in.Archive.Keep(ctx, string(f.Bank), f.SigName(), received, io.TeeReader(sc, head))
	sc.Close()
	if err != nil {
		return "", nil, err
	}
	return sum, head.b, nil
}

// headBuffer keeps the first max bytes written to it and drops the rest.
type headBuffer struct {
	b   []byte
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// finish ends a take whose verdict rec is recorded (steps 6 to 8): the
// acknowledgement, unless one of those bytes is there already; the
// acknowledgement time; the pair out of the inbox; the journal note.
func (in *Intake) finish(ctx context.Context, f InboxFile, sum string, rec RecordedAck) (TakeResult, error) {
	var out TakeResult
	if rec.Body == nil {
		// Acknowledged before the store kept the bytes: it is in the
		// outbox as it was written then, and its status is not known
		// here (counted as taken only).
	} else {
		if err := json.Unmarshal(rec.Body, &out.Ack); err != nil {
			return out, fmt.Errorf("recorded acknowledgement %s: %w", rec.Name, err)
		}
		out.Status = out.Ack.Status
		if rec.Report != nil {
			name := intake.ReportName(rec.Name)
			if err := in.Inbox.Ack(ctx, f, name, rec.Report); err != nil {
				return out, fmt.Errorf("status report %s: %w", name, err)
			}
		}
		failpoint.Here("intake.report")
		if err := in.Inbox.Ack(ctx, f, rec.Name, rec.Body); err != nil {
			return out, fmt.Errorf("acknowledgement %s: %w", rec.Name, err)
		}
	}
	failpoint.Here("intake.ack")
	if rec.FileRow > 0 {
		if err := in.Store.Acknowledged(ctx, rec.FileRow, in.now()); err != nil {
			return out, err
		}
	}
	if err := in.Inbox.Done(ctx, f); err != nil {
		return out, err
	}
	failpoint.Here("intake.done")
	if err := in.Taking.End(ctx, TakeNote{File: f, SHA256: sum}); err != nil {
		return out, fmt.Errorf("intake journal: %w", err)
	}
	return out, nil
}

func (in *Intake) keys(ctx context.Context, bank settlement.BIC, at time.Time) (signature.Ring, error) {
	ks, err := in.Store.SigningKeys(ctx, bank, at)
	if err != nil {
		return nil, err
	}
	ring := signature.Ring{}
	for _, k := range ks {
		ring.Add(k)
	}
	return ring, nil
}

// cycleFor chooses the cycle a file settles in: its business date if that
// cycle still takes files, else the next business day whose cycle does
// (the file is late, and the acknowledgement says so). A file dated before
// today goes to today's cycle; one dated further ahead than AheadMax days
// is rejected.
func (in *Intake) cycleFor(ctx context.Context, wanted settlement.Date, received time.Time) (settlement.Date, bool, []settlement.Problem, error) {
	cal := in.Calendar
	today := cal.Today(received)
	ahead := in.AheadMax
	if ahead <= 0 {
		ahead = 7
	}
	if limit := settlement.Date(today.Time().AddDate(0, 0, ahead).Format(time.DateOnly)); wanted > limit {
		return "", false, []settlement.Problem{{Line: 1, Field: "business_date", Code: settlement.CodeDate,
			Message: fmt.Sprintf("business date %s is more than %d days ahead", wanted, ahead)}}, nil
	}
	d, late := wanted, false
	if d < today {
		d, late = today, true
	}
	local := received.In(cal.Location())
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, cal.Location())
	if d == today && in.CutOff > 0 && local.Sub(midnight) >= in.CutOff {
		d, late = cal.Next(today), true
	}
	if !cal.IsBusinessDay(d) {
		d = cal.Next(d)
	}
	for i := 0; i < 31; i++ {
		c, err := in.Store.EnsureCycle(ctx, d)
		if err != nil {
			return "", false, nil, err
		}
		if c.Accepting() {
			return d, late || d != wanted, nil, nil
		}
		d, late = cal.Next(d), true
	}
	return "", false, nil, fmt.Errorf("no open cycle within 31 business days of %s", wanted)
}

// ingest streams the archived file's entries into the store with the
// acknowledgement named ackName, moving to the next cycle if this one froze
// in the meantime (the file is then late, and its acknowledgement says so).
func (in *Intake) ingest(ctx context.Context, rec FileRecord, ackName string, verdict *intake.Result, late bool) (IngestResult, bool, error) {
	sum, name := rec.SHA256, rec.Name
	entries := func(yield func(*settlement.Entry) bool) error {
		rc, err := in.Archive.Open(sum)
		if err != nil {
			return err
		}
		defer rc.Close()
		s := &entrySink{yield: yield}
		switch intake.Format(name) {
		case "csv":
			err = csvfile.Parse(rc, in.Limits, s)
		case "xml":
			err = xmlfile.Parse(rc, in.Limits, s)
		default:
			err = fmt.Errorf("format of %s", name)
		}
		if err == nil && s.problem != nil {
			err = fmt.Errorf("archived file %s no longer parses as it did: %s", sum, s.problem)
		}
		return err
	}
	for i := 0; i < 3; i++ {
		rec.Ack = &AckRecord{Name: ackName, Body: in.ackBody(rec.Sender, ackName, verdict, rec.ReceivedAt, rec.Cycle, late)}
		res, err := in.Store.IngestFile(ctx, rec, entries)
		if errors.Is(err, ErrCycleNotOpen) {
			rec.Cycle, late = in.Calendar.Next(rec.Cycle), true
			if _, err := in.Store.EnsureCycle(ctx, rec.Cycle); err != nil {
				return IngestResult{}, late, err
			}
			continue
		}
		return res, late, err
	}
	return IngestResult{}, late, fmt.Errorf("cycles kept closing while ingesting %s", name)
}

// entrySink replays an accepted file's entries to the store.
type entrySink struct {
	yield   func(*settlement.Entry) bool
	stopped bool
	problem *settlement.Problem
}

func (s *entrySink) Header(*settlement.Header, bool)   {}
func (s *entrySink) Trailer(*settlement.Trailer, bool) {}
func (s *entrySink) Problem(p settlement.Problem) {
	if s.problem == nil {
		s.problem = &p
	}
}
func (s *entrySink) Entry(e *settlement.Entry, ok bool) {
	if s.stopped {
		return
	}
	if !s.yield(e) {
		s.stopped = true
	}
}
