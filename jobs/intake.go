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

	"settle/adapters/formats"
	"settle/adapters/formats/csv"
	"settle/adapters/formats/pacs008"
	"settle/adapters/signature"
	"settle/intake"
	"settle/settlement"
)

// Archive keeps every taken file, unchanged and content-addressed, before
// anything else happens to it.
type Archive interface {
	// Keep stores the bytes of r and returns their hex SHA-256.
	Keep(ctx context.Context, bank, name string, receivedAt time.Time, r io.Reader) (sum string, err error)
	// Open returns the bytes stored under sum.
	Open(sum string) (io.ReadCloser, error)
}

// RejectedRetention is implemented by an Archive that keeps the bytes of
// rejected files within a quota per bank: told of each rejected file, it
// removes the bank's oldest rejected bytes while the bank is over it, and
// says which.
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

// FileLookup finds a file by its bytes' hash (part of the Store adapter).
type FileLookup interface {
	FileBySHA256(ctx context.Context, sum string) (FileState, bool, error)
}

// Intake takes complete files from the inbox: archive, check, ingest,
// acknowledge, mark done, in that order. A crash between two steps is
// harmless: archiving is idempotent, the store recognises the bytes it
// already recorded, and the acknowledgement is written again from what it
// recorded.
type Intake struct {
	Inbox    Inbox
	Archive  Archive
	Store    Store
	Files    FileLookup
	Calendar *Calendar
	// CutOff is the local time of day after which a file goes to the next
	// business day's cycle (e.g. 18h).
	CutOff time.Duration
	// AheadMax bounds how far ahead of today a file may be dated.
	AheadMax int
	Limits   formats.Limits
	Now      func() time.Time
	Log      *slog.Logger
	// OnTake, if set, is told of every file taken, with its outcome and
	// how long the take lasted (a metric).
	OnTake func(f InboxFile, status string, d time.Duration)
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
	files, err := in.Inbox.List(ctx, filesPerCollectMax)
	if err != nil {
		return c, err
	}
	var errs []error
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
		c.Taken++
		switch out.Status {
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
	return c, errors.Join(errs...)
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

// Take processes one complete file.
func (in *Intake) Take(ctx context.Context, f InboxFile) (TakeResult, error) {
	received := in.now()
	// A pair that can never be read or acknowledged is never ingested:
	// the bank gets a notice instead (issue 12, items 4 and 9).
	if f.Ignored == "" {
		f.Ignored = IgnoredReason(f.Name)
	}
	if f.Ignored != "" {
		return in.ignore(ctx, f, received)
	}
	sum, sigBytes, err := in.archive(ctx, f, received)
	if err != nil {
		return TakeResult{}, err
	}
	// Bytes seen before: a resumed take (not acknowledged yet), or a bank
	// sending the same bytes again.
	if st, ok, err := in.Files.FileBySHA256(ctx, sum); err != nil {
		return TakeResult{}, err
	} else if ok {
		return in.again(ctx, f, st, sum, received)
	}

	ring, err := in.keys(ctx, f.Bank, received)
	if err != nil {
		return TakeResult{}, err
	}
	members, err := in.Store.Members(ctx)
	if err != nil {
		return TakeResult{}, err
	}
	opts := intake.Options{Keys: ring, Member: func(b settlement.BIC) bool { return members[b] }, Uploader: f.Bank, Limits: in.Limits}
	rc, err := in.Archive.Open(sum)
	if err != nil {
		return TakeResult{}, err
	}
	verdict, err := intake.Check(f.Name, rc, intake.Sig{Present: true, Bytes: sigBytes}, opts)
	rc.Close()
	if err != nil {
		return TakeResult{}, err
	}

	rec := FileRecord{Sender: f.Bank, FileID: verdict.FileID, Name: f.Name, SHA256: sum, Size: verdict.Size,
		SignatureKey: verdict.KeyLabel, BusinessDate: verdict.BusinessDate, Entries: verdict.Entries, ReceivedAt: received}
	// The control sum is the check's own decimal: one that does not parse
	// is a bug, and recording it as zero would hide it (issue 12).
	cs, err := decimal.NewFromString(verdict.ControlSum)
	if err != nil {
		return TakeResult{}, fmt.Errorf("%s/%s: control sum %q of the check does not parse: %w", f.Bank, f.Name, verdict.ControlSum, err)
	}
	rec.ControlSum = cs
	problems := verdict.Problems
	late := false
	var res IngestResult
	if len(problems) == 0 {
		var cycle settlement.Date
		cycle, late, problems, err = in.cycleFor(ctx, verdict.BusinessDate, received)
		if err != nil {
			return TakeResult{}, err
		}
		rec.Cycle = cycle
		if len(problems) == 0 {
			res, err = in.ingest(ctx, rec, sum, f.Name)
			if err != nil {
				return TakeResult{}, err
			}
			problems = res.Problems
		}
	}
	if len(problems) > 0 && res.Status == "" {
		// Before the record, so that a failure here is retried with the
		// whole take (Rejected is idempotent).
		if rr, ok := in.Archive.(RejectedRetention); ok {
			removed, err := rr.Rejected(ctx, f.Bank, sum, verdict.Size, received)
			if err != nil {
				return TakeResult{}, err
			}
			for _, r := range removed {
				in.log().Warn("rejected bytes removed from the archive: bank over its quota of rejected bytes", "bank", f.Bank, "sha256", r)
			}
		}
		if res, err = in.Store.RecordRejected(ctx, rec, problems); err != nil {
			return TakeResult{}, err
		}
	}
	verdict.Problems = problems
	ack := AckBody{Ack: verdict.Ack(received)}
	if res.Status == IngestAccepted {
		ack.Cycle = settlement.CycleID(rec.Cycle)
		if late {
			ack.Note = fmt.Sprintf("dated %s but received after that cycle's cut-off, or for a day that does not settle: settles in the cycle of %s", verdict.BusinessDate, rec.Cycle)
		}
	}
	out := TakeResult{Status: ack.Status, Late: late && res.Status == IngestAccepted, Ack: ack}
	if res.Status == IngestDuplicate {
		out.Status = IngestDuplicate
	}
	if err := in.finish(ctx, f, res.FileRow, ack, received); err != nil {
		return out, err
	}
	in.log().Info("file taken", "bank", f.Bank, "file", f.Name, "sha256", sum, "status", out.Status,
		"entries", verdict.Entries, "problems", len(problems), "cycle", ack.Cycle)
	return out, nil
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

// again handles bytes the store already recorded.
func (in *Intake) again(ctx context.Context, f InboxFile, st FileState, sum string, received time.Time) (TakeResult, error) {
	if !st.Acknowledged && st.Sender == f.Bank && st.Name == f.Name {
		// The same take, interrupted before its acknowledgement: write it
		// from what was recorded.
		ack := AckBody{Ack: intake.Ack{File: f.Name, FileID: st.FileID, SHA256: sum, Status: st.Status,
			ReceivedAt: st.ReceivedAt.Format(time.RFC3339), Entries: st.Entries, ControlSum: st.ControlSum, Errors: st.Problems}}
		if ack.Errors == nil {
			ack.Errors = []settlement.Problem{}
		}
		if st.Status == intake.Accepted {
			ack.Cycle = settlement.CycleID(st.Cycle)
		}
		return TakeResult{Status: st.Status, Ack: ack}, in.finish(ctx, f, st.FileRow, ack, received)
	}
	p := settlement.Problem{Code: settlement.CodeDuplicateFile,
		Message: fmt.Sprintf("the same bytes were received on %s as %s (%s)", st.ReceivedAt.UTC().Format(time.RFC3339), st.Name, st.Status)}
	ack := AckBody{Ack: intake.Ack{File: f.Name, FileID: st.FileID, SHA256: sum, Status: intake.Rejected,
		ReceivedAt: received.Format(time.RFC3339), Entries: st.Entries, ControlSum: st.ControlSum, Errors: []settlement.Problem{p}}}
	in.log().Warn("duplicate file", "bank", f.Bank, "file", f.Name, "sha256", sum, "first", st.Name)
	return TakeResult{Status: IngestDuplicate, Ack: ack}, in.finish(ctx, f, 0, ack, received)
}

// finish writes the acknowledgement and marks the file taken.
func (in *Intake) finish(ctx context.Context, f InboxFile, fileRow int64, ack AckBody, at time.Time) error {
	body, err := json.MarshalIndent(ack, "", "  ")
	if err != nil {
		return err
	}
	if err := in.Inbox.Ack(ctx, f, intake.AckName(f.Name), append(body, '\n')); err != nil {
		return err
	}
	if fileRow > 0 {
		if err := in.Store.Acknowledged(ctx, fileRow, in.now()); err != nil {
			return err
		}
	}
	return in.Inbox.Done(ctx, f)
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

// ingest streams the archived file's entries into the store, moving to the
// next cycle if this one froze in the meantime.
func (in *Intake) ingest(ctx context.Context, rec FileRecord, sum, name string) (IngestResult, error) {
	entries := func(yield func(*settlement.Entry) bool) error {
		rc, err := in.Archive.Open(sum)
		if err != nil {
			return err
		}
		defer rc.Close()
		s := &entrySink{yield: yield}
		switch intake.Format(name) {
		case "csv":
			err = csv.Parse(rc, in.Limits, s)
		case "xml":
			err = pacs008.Parse(rc, in.Limits, s)
		default:
			err = fmt.Errorf("format of %s", name)
		}
		if err == nil && s.problem != nil {
			err = fmt.Errorf("archived file %s no longer parses as it did: %s", sum, s.problem)
		}
		return err
	}
	for i := 0; i < 3; i++ {
		res, err := in.Store.IngestFile(ctx, rec, entries)
		if errors.Is(err, ErrCycleNotOpen) {
			rec.Cycle = in.Calendar.Next(rec.Cycle)
			if _, err := in.Store.EnsureCycle(ctx, rec.Cycle); err != nil {
				return IngestResult{}, err
			}
			continue
		}
		return res, err
	}
	return IngestResult{}, fmt.Errorf("cycles kept closing while ingesting %s", name)
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
