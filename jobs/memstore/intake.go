package memstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/settlement"
	"settle/signature"
)

var (
	_ jobs.IntakeStore = (*Store)(nil)
	_ jobs.FileLookup  = (*Store)(nil)
)

// Errors of a record the store refuses, as the Postgres store's texts say
// them (its sentinels are its own: the jobs match none of them).
var (
	errFileRecord = errors.New("bad file record")
)

// Limits of one ingest, the Postgres store's.
const (
	recordsMax      = settlement.RecordsMax
	problemsListMax = settlement.ProblemsMaxDefault
	ackBytesMax     = 16 << 20
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// file is one received file, as the files table keeps it, with the
// payments table's rows of it (an accepted file's entries, as stored).
type file struct {
	row      int64
	rec      jobs.FileRecord
	status   string // jobs.IngestAccepted or jobs.IngestRejected
	problems []settlement.Problem
	entries  []settlement.Entry
	ackedAt  time.Time
}

// idKey is a sender's id: one id space per sender for payments and
// reversals (payments_sender_payment_id_key), and the key of "at most one
// reversal per original" (payments_sender_original_key).
type idKey struct {
	sender settlement.BIC
	id     string
}

// rowRef is one stored payments row.
type rowRef struct {
	f *file
	i int // index in f.entries
}

func (r rowRef) entry() *settlement.Entry { return &r.f.entries[r.i] }

// ack is one recorded verdict (the acknowledgements table).
type ack struct {
	bank                   settlement.BIC
	fileName, sha256, name string
	body, report           []byte
	fileRow                int64
}

// Key is a bank's public key as an operator registers it.
type Key struct {
	Bank      settlement.BIC
	Label     string
	PEM       string
	ValidFrom time.Time // zero: the store's now
	ValidTo   *time.Time
	RevokedAt *time.Time
}

// AddBank registers an active member, as `settle bank add` does.
func (s *Store) AddBank(bic settlement.BIC) error {
	if _, err := settlement.ParseBIC(string(bic)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.banks[bic]; ok {
		return fmt.Errorf("%s: bank already exists", bic)
	}
	s.banks[bic] = true
	return nil
}

// AddKey registers a bank's public key.
func (s *Store) AddKey(k Key) error {
	if _, err := signature.ParsePublicKey([]byte(k.PEM)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.banks[k.Bank]; !ok {
		return fmt.Errorf("%s: no such bank", k.Bank)
	}
	if k.ValidFrom.IsZero() {
		k.ValidFrom = s.now()
	}
	if k.ValidTo != nil && !k.ValidTo.After(k.ValidFrom) {
		return errors.New("key validity must end after it starts")
	}
	for _, o := range s.keys {
		if o.Bank == k.Bank && o.Label == k.Label {
			return fmt.Errorf("%s %s: bank already has a key with that label", k.Bank, k.Label)
		}
	}
	s.keys = append(s.keys, k)
	return nil
}

// Members are the active member banks.
func (s *Store) Members(context.Context) (map[settlement.BIC]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.members(), nil
}

func (s *Store) members() map[settlement.BIC]bool {
	out := make(map[settlement.BIC]bool, len(s.banks))
	for b, active := range s.banks {
		if active {
			out[b] = true
		}
	}
	return out
}

// SigningKeys are a bank's keys valid at t (not revoked then, inside their
// window), newest first, as the Postgres store orders them.
func (s *Store) SigningKeys(_ context.Context, bank settlement.BIC, at time.Time) ([]signature.Key, error) {
	s.mu.Lock()
	var ks []Key
	for i := len(s.keys) - 1; i >= 0; i-- { // later registration first among equal starts
		k := s.keys[i]
		if k.Bank == bank && !k.ValidFrom.After(at) && (k.ValidTo == nil || k.ValidTo.After(at)) &&
			(k.RevokedAt == nil || k.RevokedAt.After(at)) {
			ks = append(ks, k)
		}
	}
	s.mu.Unlock()
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].ValidFrom.After(ks[j].ValidFrom) })
	out := make([]signature.Key, 0, len(ks))
	for _, k := range ks {
		pub, err := signature.ParsePublicKey([]byte(k.PEM))
		if err != nil {
			return nil, fmt.Errorf("key %s of %s: %w", k.Label, bank, err)
		}
		out = append(out, signature.Key{Bank: bank, Label: k.Label, Public: pub})
	}
	return out, nil
}

// checkRecord refuses what the files table's constraints refuse (the
// Postgres store's FileRecord.check).
func checkRecord(f jobs.FileRecord, accepted bool) error {
	switch {
	case f.Sender == "" || len(f.Sender) > 11:
		return fmt.Errorf("%w: sender %q", errFileRecord, f.Sender)
	case !sha256Hex.MatchString(f.SHA256):
		return fmt.Errorf("%w: sha256 %q", errFileRecord, f.SHA256)
	case f.Name == "" || len(f.Name) > 255:
		return fmt.Errorf("%w: name %q", errFileRecord, f.Name)
	case f.Size < 0:
		return fmt.Errorf("%w: size %d", errFileRecord, f.Size)
	case f.Entries < 0 || f.Entries > recordsMax:
		return fmt.Errorf("%w: entries %d", errFileRecord, f.Entries)
	case f.ReceivedAt.IsZero():
		return fmt.Errorf("%w: no received time", errFileRecord)
	case f.FileID != "" && !settlement.ValidFileID([]byte(f.FileID)):
		return fmt.Errorf("%w: file id %q", errFileRecord, f.FileID)
	case f.ControlSum.IsNegative():
		return fmt.Errorf("%w: control sum %s", errFileRecord, f.ControlSum)
	}
	if !accepted {
		return nil
	}
	if _, err := settlement.ParseBIC(string(f.Sender)); err != nil {
		return fmt.Errorf("%w: %v", errFileRecord, err)
	}
	if f.FileID == "" {
		return fmt.Errorf("%w: an accepted file needs a file id and a cycle", errFileRecord)
	}
	if _, err := settlement.ParseDate(string(f.BusinessDate)); err != nil {
		return fmt.Errorf("%w: %v", errFileRecord, err)
	}
	return nil
}

// IngestFile records an accepted file and its entries, all or nothing, as
// the Postgres store does: the cycle must be accepting; a file of the
// sender with the same bytes or file id is a Duplicate; a bad record, an
// id used before or a reversal the schema refuses rejects the file whole,
// recorded as REJECTED with every problem. The store's lock is held
// throughout, as the cycle's share lock and the transaction are there.
func (s *Store) IngestFile(_ context.Context, f jobs.FileRecord, entries func(yield func(*settlement.Entry) bool) error) (jobs.IngestResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cycles[f.Cycle]
	if !ok {
		return jobs.IngestResult{}, fmt.Errorf("%s: %w", f.Cycle, jobs.ErrNoCycle)
	}
	if err := checkRecord(f, true); err != nil {
		return jobs.IngestResult{}, err
	}
	if !c.Accepting() {
		return jobs.IngestResult{}, fmt.Errorf("%w: cycle %s is %s: %v", jobs.ErrCycleNotOpen, f.Cycle, c.Stage, jobs.ErrCycleNotOpen)
	}
	row := s.nextRow()
	if res, dup, err := s.duplicateOf(f); dup {
		return res, err
	}
	nf := &file{row: row, rec: f, status: jobs.IngestAccepted}
	problems, err := s.take(nf, entries)
	if err != nil {
		return jobs.IngestResult{}, err
	}
	if problems.Len() == 0 {
		s.diagnose(nf, &problems)
	}
	if problems.Len() > 0 {
		// The file is kept, as rejected; none of its entries.
		return s.recordRejected(f, problems.List())
	}
	if err := s.recordAck(f, jobs.IngestAccepted, nil, row); err != nil {
		return jobs.IngestResult{}, err
	}
	s.keep(nf)
	return jobs.IngestResult{Status: jobs.IngestAccepted, FileRow: row}, nil
}

// nextRow draws a file row id; as a sequence does, an attempt that is
// rolled back or conflicts uses one up.
func (s *Store) nextRow() int64 {
	s.fileSeq++
	return s.fileSeq
}

// take streams a file's entries into nf as the payments table would hold
// them, checking each as the table's constraints do (the Postgres store's
// checkEntry); past the first problem it keeps listing and keeps nothing.
// An error (lines out of order, too many, the stream failed) aborts.
func (s *Store) take(nf *file, entries func(yield func(*settlement.Entry) bool) error) (settlement.Problems, error) {
	var problems settlement.Problems
	member := s.members()
	var gate settlement.EntryGate
	var orderErr error
	iterErr := entries(func(e *settlement.Entry) bool {
		if orderErr = gate.Admit(e); orderErr != nil {
			return false
		}
		if !settlement.CheckRecordable(e, nf.rec.Sender, member, &problems) || problems.Len() > 0 {
			return true
		}
		nf.entries = append(nf.entries, stored(e))
		return true
	})
	if err := errors.Join(orderErr, iterErr); err != nil {
		return problems, err
	}
	if n := gate.Count(); problems.Len() == 0 && n != nf.rec.Entries {
		return problems, fmt.Errorf("ingest %s %s: %d records streamed, the file record says %d: %w",
			nf.rec.Sender, nf.rec.FileID, n, nf.rec.Entries, errFileRecord)
	}
	return problems, nil
}

// stored is an entry as the payments table gives it back: the amount at
// its currency's scale, nothing the table has no column for (Priority).
func stored(e *settlement.Entry) settlement.Entry {
	out := settlement.Entry{Line: e.Line, Kind: e.Kind, ID: e.ID, Debtor: e.Debtor, Creditor: e.Creditor,
		Amount: decimal.RequireFromString(settlement.FormatAmount(e.Amount, e.Currency)), Currency: e.Currency}
	if e.Kind == settlement.KindReversal {
		out.Original, out.Reason = e.Original, e.Reason
	} else {
		out.Remittance = e.Remittance
	}
	return out
}

// keep commits an accepted file: its row, and its entries in the id
// indexes the unique constraints stand on.
func (s *Store) keep(nf *file) {
	s.files = append(s.files, nf)
	for i := range nf.entries {
		e := &nf.entries[i]
		s.ids[idKey{nf.rec.Sender, e.ID}] = rowRef{nf, i}
		if e.Kind == settlement.KindReversal {
			s.reversals[idKey{nf.rec.Sender, e.Original}] = rowRef{nf, i}
		}
	}
}

// earlier is the sender's file that f repeats (same bytes first, else the
// same file id), or nil.
func (s *Store) earlier(f jobs.FileRecord) *file {
	var byID *file
	for _, o := range s.files {
		if o.rec.Sender != f.Sender {
			continue
		}
		if o.rec.SHA256 == f.SHA256 {
			return o
		}
		if f.FileID != "" && o.rec.FileID == f.FileID {
			byID = o
		}
	}
	return byID
}

// duplicate reports the earlier file o of the same sender that f repeats,
// in the Postgres store's words.
func duplicate(o *file, f jobs.FileRecord) jobs.IngestResult {
	received := o.rec.ReceivedAt.UTC().Format(time.RFC3339)
	p := settlement.Problem{Code: settlement.CodeDuplicateFile,
		Message: fmt.Sprintf("the same file (sha256 %s) was received as %s at %s and %s", o.rec.SHA256, o.rec.Name, received, o.status)}
	if o.rec.SHA256 != f.SHA256 {
		p = settlement.Problem{Field: "file_id", Code: settlement.CodeDuplicateFileID,
			Message: fmt.Sprintf("file id %s was already used by %s for %s received at %s (%s)", f.FileID, f.Sender, o.rec.Name, received, o.status)}
	}
	return jobs.IngestResult{Status: jobs.IngestDuplicate, FileRow: o.row, Problems: []settlement.Problem{p}}
}

// RecordRejected records a file rejected whole, with its problems and
// none of its entries; a file the sender sent before (same bytes or file
// id) is not recorded again and comes back as Duplicate.
func (s *Store) RecordRejected(_ context.Context, f jobs.FileRecord, problems []settlement.Problem) (jobs.IngestResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordRejected(f, problems)
}

func (s *Store) recordRejected(f jobs.FileRecord, problems []settlement.Problem) (jobs.IngestResult, error) {
	if err := checkRecord(f, false); err != nil {
		return jobs.IngestResult{}, err
	}
	if len(problems) == 0 {
		return jobs.IngestResult{}, fmt.Errorf("%w: a rejected file needs its problems", errFileRecord)
	}
	if len(problems) > problemsListMax+1 {
		problems = problems[:problemsListMax+1]
	}
	row := s.nextRow()
	if res, dup, err := s.duplicateOf(f); dup {
		return res, err
	}
	if err := s.recordAck(f, jobs.IngestRejected, problems, row); err != nil {
		return jobs.IngestResult{}, err
	}
	s.files = append(s.files, &file{row: row, rec: f, status: jobs.IngestRejected, problems: problems})
	return jobs.IngestResult{Status: jobs.IngestRejected, FileRow: row, Problems: problems}, nil
}

// recordAck records f's acknowledgement for the outcome, refusing what the
// acknowledgements table refuses: a take recorded before (bank, file name,
// bytes), an outbox name the bank has already.
func (s *Store) recordAck(f jobs.FileRecord, status string, problems []settlement.Problem, fileRow int64) error {
	if f.Ack == nil {
		return nil
	}
	if f.Ack.Name == "" || len(f.Ack.Name) > 255 {
		return fmt.Errorf("%w: ack name %q", errFileRecord, f.Ack.Name)
	}
	body, report, err := f.Ack.Body(status, problems)
	if err != nil {
		return fmt.Errorf("acknowledgement of %s: %w", f.Name, err)
	}
	if len(body) == 0 || len(body) > ackBytesMax {
		return fmt.Errorf("%w: acknowledgement of %s is %d bytes", errFileRecord, f.Name, len(body))
	}
	if report != nil && (len(report) == 0 || len(report) > ackBytesMax) {
		return fmt.Errorf("%w: status report of %s is %d bytes", errFileRecord, f.Name, len(report))
	}
	for _, a := range s.acks {
		if a.bank == f.Sender && (a.name == f.Ack.Name || a.fileName == f.Name && a.sha256 == f.SHA256) {
			return fmt.Errorf("record acknowledgement %s of %s: already recorded", f.Ack.Name, f.Sender)
		}
	}
	s.acks = append(s.acks, ack{bank: f.Sender, fileName: f.Name, sha256: f.SHA256, name: f.Ack.Name, body: body, report: report, fileRow: fileRow})
	return nil
}

// Acknowledged stamps the time a file's acknowledgement was written, once.
func (s *Store) Acknowledged(_ context.Context, fileRow int64, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		if f.row == fileRow && f.ackedAt.IsZero() {
			f.ackedAt = at
		}
	}
	return nil
}

// AcknowledgedAt is the stamp Acknowledged left on a file row; ok false if
// none.
func (s *Store) AcknowledgedAt(fileRow int64) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		if f.row == fileRow {
			return f.ackedAt, !f.ackedAt.IsZero()
		}
	}
	return time.Time{}, false
}

// Acknowledgement is the verdict recorded for bank's file name with the
// bytes sum.
func (s *Store) Acknowledgement(_ context.Context, bank settlement.BIC, name, sum string) (jobs.RecordedAck, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acks {
		if a.bank == bank && a.fileName == name && a.sha256 == sum {
			return jobs.RecordedAck{Name: a.name, Body: a.body, Report: a.report, FileRow: a.fileRow}, true, nil
		}
	}
	return jobs.RecordedAck{}, false, nil
}

// AckNameTaken tells whether bank already has an acknowledgement named
// name.
func (s *Store) AckNameTaken(_ context.Context, bank settlement.BIC, name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acks {
		if a.bank == bank && a.name == name {
			return true, nil
		}
	}
	return false, nil
}

// duplicateOf answers a file whose bytes or id came before: the duplicate's
// verdict, recorded as its acknowledgement; dup is false for a new file.
func (s *Store) duplicateOf(f jobs.FileRecord) (res jobs.IngestResult, dup bool, err error) {
	earlier := s.earlier(f)
	if earlier == nil {
		return res, false, nil
	}
	res = duplicate(earlier, f)
	if err := s.recordAck(f, jobs.IngestDuplicate, res.Problems, 0); err != nil {
		return jobs.IngestResult{}, true, err
	}
	return res, true, nil
}
