// Package intake decides whether one payment file is accepted: it checks
// the detached signature, parses the format, applies the spec's rules and
// nets the entries, all in one pass over the bytes, and gives the verdict
// a bank reads in its acknowledgement. Every caller (the CLI, the SFTP
// intake job, an audit re-run) decides the same way through it.
package intake

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"settle/formats"
	"settle/formats/csvfile"
	"settle/formats/pacs002"
	"settle/formats/xmlfile"
	"settle/settlement"
	"settle/signature"
)

// Keyring gives the public keys a bank may sign with.
type Keyring interface {
	Keys(bank settlement.BIC) []signature.Key
}

// Options are what a check knows beyond the file.
type Options struct {
	// Keys checks signatures; nil skips them (the caller warns about it).
	Keys Keyring
	// Member tells consortium members; nil accepts any well-formed BIC.
	Member func(settlement.BIC) bool
	// Uploader, when set, is the bank whose inbox the file came from: the
	// file's sender must be that bank.
	Uploader settlement.BIC
	Limits   formats.Limits
	// Entry, when set, sees every entry the parser reads, with ok as the
	// parser reported it, after the shared rules have checked it. The ledger
	// uses it to index the payments of a file it accepts; the entry is only
	// valid during the call.
	Entry func(e *settlement.Entry, ok bool)
}

// Status of a file.
const (
	Accepted = "ACCEPTED"
	Rejected = "REJECTED"
)

// Result is the verdict on one file.
type Result struct {
	Name         string
	FileID       string
	Sender       settlement.BIC
	BusinessDate settlement.Date
	SHA256       [32]byte
	Size         int64
	Entries      int64
	ControlSum   string // what the amounts add up to, as read
	KeyLabel     string // the key that verified the signature
	Problems     []settlement.Problem
	// What the file declares of itself, where it could be read that far
	// (the status report gives them back as OrgnlCreDtTm, OrgnlNbOfTxs and
	// OrgnlCtrlSum): its header's creation time (zero where unreadable)
	// and its trailer (nil where unreadable; NoControlSum where it has
	// none).
	CreatedAt time.Time
	Trailer   *settlement.Trailer
	// Message is the file's message as the status report names it
	// (OrgnlMsgNmId): pacs002.MsgCSV for a *.csv file; for a *.xml file the
	// one its namespace picked, pacs002.MsgPacs008 where none did.
	Message    string
	check      *settlement.FileCheck
	headerLine int
}

// Accepted tells whether the file has no problem at all.
func (r *Result) Accepted() bool { return len(r.Problems) == 0 }

// Status is ACCEPTED or REJECTED.
func (r *Result) Status() string {
	if r.Accepted() {
		return Accepted
	}
	return Rejected
}

// Netting is the file's contribution to its cycle; empty when rejected.
func (r *Result) Netting() *settlement.Netting { return r.check.Netting() }

// Hash is the hex SHA-256 of the file.
func (r *Result) Hash() string { return hex.EncodeToString(r.SHA256[:]) }

// Format names the parser for a file name: "csv", "xml", or "".
func Format(name string) string {
	switch path.Ext(name) {
	case ".csv":
		return "csv"
	case ".xml":
		return "xml"
	}
	return ""
}

// Sig is a file's detached signature as found beside it.
type Sig struct {
	Present bool
	Bytes   []byte // raw .sig content
}

// Check reads the file from r to its end and returns the verdict. The
// error is only for r failing: everything wrong with the file is a Problem.
func Check(name string, r io.Reader, sig Sig, opts Options) (*Result, error) {
	lim := opts.Limits.Or(formats.DefaultLimits)
	res := &Result{Name: name}
	fc := newFileCheck(name, opts, lim)
	res.check = fc

	v := signature.NewVerifier()
	var sigBytes []byte
	var sigErr error
	if opts.Keys != nil && sig.Present {
		sigBytes, sigErr = signature.DecodeSig(sig.Bytes)
	}
	// The signature is checked against the keys of who signed: the
	// uploader when known (the ring is the uploader's), else the sender
	// the header names. A header naming another bank is SENDER_NOT_UPLOADER,
	// never "that bank has no key" (issue 12, item 7).
	signer := func(h *settlement.Header) settlement.BIC {
		if opts.Uploader != "" {
			return opts.Uploader
		}
		return h.Sender
	}
	s := &sink{FileCheck: fc, entry: opts.Entry, begin: func(h *settlement.Header) {
		if opts.Keys != nil && sigErr == nil && sig.Present {
			v.Begin(opts.Keys.Keys(signer(h)), sigBytes)
		}
	}}
	if err := parseAll(name, io.TeeReader(io.LimitReader(r, lim.FileBytesMax+1), v), lim, s); err != nil {
		return nil, err
	}
	res.SHA256, res.Size = v.Sum(), v.Size()
	if res.Size > lim.FileBytesMax && !hasCode(fc, settlement.CodeFileTooLarge) {
		fc.Problem(settlement.Problem{Code: settlement.CodeFileTooLarge, Message: fmt.Sprintf("file is larger than %d bytes", lim.FileBytesMax)})
	}

	h := res.fromHeader(fc, s)
	if opts.Uploader != "" && h.Sender != "" && h.Sender != opts.Uploader {
		fc.Problem(settlement.Problem{Line: h.Line, Field: fc.Fields().Sender, Code: settlement.CodeSenderNotUploader,
			Message: fmt.Sprintf("file names sender %s but was uploaded by %s", h.Sender, opts.Uploader)})
	}
	if opts.Keys != nil && h.Sender != "" {
		res.KeyLabel = checkSignature(fc, v, sig, sigErr, signer(&h))
	}
	fc.Finish()
	res.Entries = fc.Count()
	res.ControlSum, _ = fc.ControlSum()
	res.Problems = fc.Problems.List()
	return res, nil
}

// newFileCheck is the domain's check of one file, with the field names of
// its format (an ISO 20022 file's problems name XML paths) and the bound on
// how many problems it keeps.
func newFileCheck(name string, opts Options, lim formats.Limits) *settlement.FileCheck {
	rules := settlement.Rules{Member: opts.Member}
	if Format(name) == "xml" {
		rules.Fields = &settlement.XMLFields
	}
	fc := settlement.NewFileCheck(rules)
	fc.Problems.Max = lim.ProblemsMax
	return fc
}

// parseAll runs the parser of the file's format over r into s, then reads
// whatever the parser left: a parser may stop early (too many records,
// broken XML), and the file's identity and signature are still over all of
// its bytes. A name of no known format is a problem of the file, not an
// error.
func parseAll(name string, r io.Reader, lim formats.Limits, s *sink) error {
	var err error
	switch Format(name) {
	case "csv":
		err = csvfile.Parse(r, lim, s)
	case "xml":
		err = xmlfile.Parse(r, lim, s)
	default:
		s.FileCheck.Problem(settlement.Problem{Code: settlement.CodeFormat, Message: fmt.Sprintf("%q: a payment file is named *.csv (Format 1) or *.xml (pacs.008.001.08, pacs.007.001.09)", path.Base(name))})
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// fromHeader fills what the verdict says of the file from its header and
// trailer, and which message its status report answers (by the format and,
// for ISO 20022, by the fields the parser chose: pacs.007 or pacs.008). It
// returns the header.
func (res *Result) fromHeader(fc *settlement.FileCheck, s *sink) settlement.Header {
	h, _ := fc.FileHeader()
	res.FileID, res.Sender, res.BusinessDate, res.headerLine = h.FileID, h.Sender, h.BusinessDate, h.Line
	res.CreatedAt = h.CreatedAt
	if t, ok := fc.FileTrailer(); ok {
		res.Trailer = &t
	}
	switch {
	case Format(res.Name) == "csv":
		res.Message = pacs002.MsgCSV
	case s.fields == &settlement.PACS007Fields:
		res.Message = pacs002.MsgPacs007
	default:
		res.Message = pacs002.MsgPacs008
	}
	return h
}

func checkSignature(fc *settlement.FileCheck, v *signature.Verifier, sig Sig, sigErr error, sender settlement.BIC) string {
	add := func(code, msg string) { fc.Problem(settlement.Problem{Field: "signature", Code: code, Message: msg}) }
	switch {
	case !sig.Present:
		add(settlement.CodeSignatureMissing, "no detached signature (<file>.sig) beside the file")
		return ""
	case sigErr != nil:
		add(settlement.CodeSignatureMalform, sigErr.Error())
		return ""
	}
	k, err := v.Verify()
	switch {
	case err == nil:
		return k.Label
	case errors.Is(err, signature.ErrNoKey):
		add(settlement.CodeSignatureNoKey, fmt.Sprintf("%s has no registered public key", sender))
	default:
		add(settlement.CodeSignatureInvalid, fmt.Sprintf("signature does not verify with any key of %s", sender))
	}
	return ""
}

func hasCode(fc *settlement.FileCheck, code string) bool {
	for _, p := range fc.Problems.List() {
		if p.Code == code {
			return true
		}
	}
	return false
}

// sink starts signature checking as soon as the header names the sender.
type sink struct {
	*settlement.FileCheck
	begin  func(*settlement.Header)
	entry  func(*settlement.Entry, bool)
	fields *settlement.Fields // as the XML reader set them: which message the file holds
}

// SetFields notes the message an XML file's namespace picked.
func (s *sink) SetFields(f *settlement.Fields) {
	s.fields = f
	s.FileCheck.SetFields(f)
}

func (s *sink) Entry(e *settlement.Entry, ok bool) {
	s.FileCheck.Entry(e, ok)
	if s.entry != nil {
		s.entry(e, ok)
	}
}

func (s *sink) Header(h *settlement.Header, ok bool) {
	if h.Sender != "" {
		s.begin(h)
	}
	s.FileCheck.Header(h, ok)
}

// Ack is the acknowledgement a bank reads in its outbox, exactly as the
// contract writes it.
type Ack struct {
	File       string               `json:"file"`
	FileID     string               `json:"file_id"`
	SHA256     string               `json:"sha256"`
	Status     string               `json:"status"`
	ReceivedAt string               `json:"received_at"`
	Entries    int64                `json:"entries"`
	ControlSum string               `json:"control_sum"`
	Errors     []settlement.Problem `json:"errors"`
}

// Ack builds the acknowledgement of the verdict.
func (r *Result) Ack(receivedAt time.Time) Ack {
	errs := r.Problems
	if errs == nil {
		errs = []settlement.Problem{}
	}
	return Ack{File: path.Base(r.Name), FileID: r.FileID, SHA256: r.Hash(), Status: r.Status(),
		ReceivedAt: receivedAt.Format(time.RFC3339), Entries: r.Entries, ControlSum: r.ControlSum, Errors: errs}
}

// AckName is the outbox name of a file's acknowledgement.
func AckName(file string) string { return path.Base(file) + ".ack.json" }

// AckNameOf is the outbox name of the acknowledgement of a file whose name
// already has one (a reused name): the first 16 hex digits of the new
// content's sha256 set it apart, and the earlier acknowledgement stays.
func AckNameOf(file, sha256Hex string) string {
	return path.Base(file) + "." + sha256Hex[:min(16, len(sha256Hex))] + ".ack.json"
}

// ReportName is the outbox name of the status report (pacs.002) written
// beside the acknowledgement named ackName: <file>.ack.xml, or
// <file>.<16 hex>.ack.xml beside a reused name's acknowledgement.
func ReportName(ackName string) string {
	return strings.TrimSuffix(ackName, ".ack.json") + ".ack.xml"
}

// SigName is the name of a file's detached signature.
func SigName(file string) string { return file + ".sig" }
