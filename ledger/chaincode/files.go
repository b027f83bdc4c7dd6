package chaincode

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"settle/formats"
	"settle/intake"
	"settle/settlement"
	"settle/signature"
)

// The governed cycle (issue 11 item 4): the operator declares a cycle's files,
// the files' exact bytes come to the ledger in parts with the bank's detached
// signature, the chaincode verifies and parses them with the service's own
// intake.Check, and only then are the files' payments part of the cycle.
//
// How the parts are read, and why parts cannot change what a file means:
// the chaincode never parses a part on its own. Each PutFilePart stores its
// bytes under part/CYCLE/SENDER/FILE/NNNNNN and advances a running SHA-256
// kept in state (encoding.BinaryMarshaler). The final part (the one carrying
// the signature) first checks that running digest against the declared
// sha256, so a wrong file is refused before anything else is read; then it
// reads the stored parts back in index order, followed by its own bytes, as
// one io.Reader, and runs intake.Check over that stream. The parser therefore
// sees exactly the bytes the digest and the signature cover, in one pass, with
// one parser state: parsing "part by part" is parsing the whole file, whatever
// comments, CDATA or quoted fields the bank wrote, because no parser ever
// starts or stops at a part boundary.
//
// An ISO 20022 file may therefore be cut anywhere, even inside a comment, a
// CDATA section or a tag: its parts are opaque bytes until the final part
// reads them all back as one stream (contracttest cuts one inside a comment
// that holds a whole transaction's markup, and mid-tag). A CSV part is still
// cut at a record boundary, so that a later path could check each part as it
// arrives: a CSV part other than the last ends with '\n' outside any quoted
// field (RFC 4180 lets a quoted field hold line breaks, so a '\n' alone is not
// a record's end; the chaincode counts the file's '"' so far, a doubled ""
// inside a field counting twice and so keeping the parity, and refuses a cut
// while the count is odd).
//
// IndexFile (a transaction of its own for each range whose id pages fit in
// indexWriteBytesMax, idindex.go) reads the stored parts back the same way
// and runs the same check before it indexes a payment, so no transaction's
// writes grow with the file.
//
// Signatures: ECDSA P-256 signs the SHA-256 and so could be checked from the
// running digest alone; Ed25519 hashes R || A || M, and R is in the signature,
// which only arrives with the last part. Keeping an Ed25519 hash running from
// the first part would need the signature first, which the bank contract does
// not promise. So both schemes are verified over the stored parts in the final
// transaction, by the service's signature.Verifier (begun before the first
// byte, since the declared sender fixes the keys), which bounds a governed file
// to fileBytesMax.

// Limits of the governed path.
const (
	partBytesMax      = 1 << 20 // one part
	fileBytesMax      = 8 << 20 // one file, all parts: what the final transaction reads back
	partsPerFileMax   = fileBytesMax / 4096
	entriesPerFileMax = paymentsPerChunkMax
	filesPerCycleMax  = 1000
	sigArgBytesMax    = signature.SigBytesMax
)

// Object types of the governed cycle.
const (
	keyDeclared = "declared" // [cycle] -> Declared
	keyFile     = "file"     // [cycle, sender, file id] -> FileState
	keyPart     = "part"     // [cycle, sender, file id, NNNNNN] -> the part's bytes
	keyFileID   = "fileid"   // [sender, file id] -> cycle id: a file id is used once, for all time
)

// File formats a declared file may have. An ISO 20022 file is declared by
// the message it holds (pacs.008 payments, pacs.007 reversals), checked
// against the message its namespace picks when the ledger parses it, or as
// "xml" when the declarer does not know which: the declared sha256 fixes the
// bytes, and so the message, either way, and the file's state on the ledger
// names the message the parser found (FileState.Message).
const (
	FormatCSV     = "csv"
	FormatPacs008 = "pacs.008"
	FormatPacs007 = "pacs.007"
	FormatXML     = "xml"
)

// lateDaysMax bounds how long before its cycle a file may be dated: a late
// file (received after its day's cut-off or freeze) or one the treasury
// deferred settles in a later cycle than its business date, never in an
// earlier one, and not more than this many days later.
const lateDaysMax = 92

func validFormat(f string) bool {
	return f == FormatCSV || f == FormatPacs008 || f == FormatPacs007 || f == FormatXML
}

// File statuses.
const (
	FileDeclared  = "declared"
	FileVerified  = "verified"
	FileDropped   = "dropped"
	CycleDeclared = "declared"
)

// cycleIDRe is the governed cycle id: the service's settlement.CycleID of a
// business date.
var cycleIDRe = regexp.MustCompile(`^C[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// DeclaredFile is one file of a cycle as the operator declares it.
type DeclaredFile struct {
	Sender     string `json:"sender"`
	FileID     string `json:"fileId"`
	Format     string `json:"format"`
	SHA256     string `json:"sha256"`
	Entries    int64  `json:"entries"`
	ControlSum string `json:"controlSum"`
	// BusinessDate is the file's own business date when it is not the
	// cycle's: a late or deferred file, settled in a later cycle than the
	// one it is dated for. Empty: the cycle's date. The ledger checks it
	// against the file's header, so a deferral is visible in the freeze.
	BusinessDate string `json:"businessDate,omitempty"`
}

// Declared is a declared cycle: its files, fixed once declared.
type Declared struct {
	CycleID string         `json:"cycleId"`
	Date    string         `json:"date"`
	Files   []DeclaredFile `json:"files"`
	TxID    string         `json:"txId"`
}

// FilePosition is one file's contribution, netted by settlement.Netting.
type FilePosition struct {
	Bank     string `json:"bank"`
	Currency string `json:"currency"`
	Sent     string `json:"sent"`
	Received string `json:"received"`
}

// FileState is what the ledger knows of one declared file.
type FileState struct {
	DeclaredFile
	CycleID   string         `json:"cycleId"`
	Status    string         `json:"status"`
	Parts     int            `json:"parts"`
	Bytes     int64          `json:"bytes"`
	HashState []byte         `json:"hashState"`                // the running SHA-256 (MarshalBinary)
	LastPart  string         `json:"lastPartSha256,omitempty"` // the last stored part's sha256, to answer its retry
	QuoteOdd  bool           `json:"quoteOdd"`                 // an odd number of '"' so far: inside a quoted field
	KeyLabel  string         `json:"keyLabel,omitempty"`
	Message   string         `json:"message,omitempty"` // what the parser read: pacs.008.001.08, pacs.007.001.09, csv
	Positions []FilePosition `json:"positions,omitempty"`
	Signature string         `json:"signature,omitempty"` // the verified file's signature, for IndexFile's re-check
	Indexed   int            `json:"indexed"`             // entries indexed so far (IndexFile), of Entries
	Encoding  string         `json:"encoding,omitempty"`  // "deflate": the parts are stored as they came, compressed (partBytes)
	IndexTxs  []IndexTx      `json:"indexTxs,omitempty"`  // the IndexFile transactions, in entry order
	TxID      string         `json:"txId"`                // the last change of its parts or status: the verifying tx once verified
	Reason    string         `json:"reason,omitempty"`
}

func checkCycleID(v string) (settlement.Date, error) {
	if !cycleIDRe.MatchString(v) {
		return "", refuse(CodeInvalid, "cycleId %q must be C followed by the business date YYYY-MM-DD", clip(v))
	}
	d, err := settlement.DateOfCycle(v)
	if err != nil {
		return "", refuse(CodeInvalid, "cycleId %q: %v", clip(v), err)
	}
	return d, nil
}

// checkFileDate checks a declared file's own business date: a date, not
// after the cycle's, at most lateDaysMax days before it.
func checkFileDate(at string, f *DeclaredFile, cycle settlement.Date) error {
	if f.BusinessDate == "" {
		return nil
	}
	d, err := time.Parse(time.DateOnly, f.BusinessDate)
	if err != nil || d.Format(time.DateOnly) != f.BusinessDate {
		return refuse(CodeInvalid, "%s.businessDate %q must be a date YYYY-MM-DD", at, clip(f.BusinessDate))
	}
	c, err := time.Parse(time.DateOnly, string(cycle))
	if err != nil {
		return internal("cycle date %s: %v", cycle, err)
	}
	if d.After(c) {
		return refuse(CodeInvalid, "%s.businessDate %s is after the cycle's %s: a file settles on or after its business date", at, f.BusinessDate, cycle)
	}
	if c.Sub(d) > lateDaysMax*24*time.Hour {
		return refuse(CodeLimit, "%s.businessDate %s is more than %d days before the cycle's %s", at, f.BusinessDate, lateDaysMax, cycle)
	}
	return nil
}

func settlementBIC(b string) settlement.BIC { return settlement.BIC(b) }

func loadDeclared(s Stub, cycleID string) (*Declared, error) {
	k, err := key(s, keyDeclared, cycleID)
	if err != nil {
		return nil, err
	}
	var d Declared
	found, err := getJSON(s, k, &d)
	if err != nil || !found {
		return nil, err
	}
	return &d, nil
}

// declareCycle is the operator's freeze: the cycle's files, each with sender,
// file id, format, sha256, entry count and control sum. Nothing else can join
// the cycle, and the set never changes (an identical repeat is answered
// already_declared).
func declareCycle(s Stub, cycleID, filesJSON string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	if err := requireOperator(g, c, "DeclareCycle"); err != nil {
		return nil, err
	}
	date, err := checkCycleID(cycleID)
	if err != nil {
		return nil, err
	}
	var files []DeclaredFile
	if err := decodeStrict("files", filesJSON, &files, jsonLimit{bytesMax: argBytesMax, itemsMax: filesPerCycleMax, depthMax: 2}); err != nil {
		return nil, err
	}
	if err := checkDeclaredFiles(g, files, date); err != nil {
		return nil, err
	}
	if out, done, err := declaredAgain(s, cycleID, files); err != nil || done {
		return out, err
	}
	if err := checkFileIDsUnused(s, files); err != nil {
		return nil, err
	}
	return writeDeclared(s, cycleID, date, files)
}

// checkDeclaredFiles checks every declared file and writes each in its one
// canonical form (upper-case sender, empty business date for the cycle's own,
// control sum as decimal.String) so that an identical repeat compares equal.
// Every problem of every file is reported in one refusal.
func checkDeclaredFiles(g *Governance, files []DeclaredFile, date settlement.Date) error {
	var p problems
	seen := map[[2]string]bool{}
	for i := range files {
		f := &files[i]
		at := fmt.Sprintf("files[%d]", i)
		bic, err := normBIC(at+".sender", f.Sender)
		if err != nil {
			p.add(err)
			continue
		}
		f.Sender = bic
		if g.member(bic) == nil {
			p.add(refuse(CodeUnknownBank, "%s: sender %s is not a member", at, bic))
		}
		if !settlement.ValidFileID([]byte(f.FileID)) {
			p.add(refuse(CodeInvalid, "%s.fileId %q must be 1-35 characters [A-Za-z0-9._-]", at, clip(f.FileID)))
		}
		if !validFormat(f.Format) {
			p.add(refuse(CodeInvalid, "%s.format %q must be %s, %s, %s or %s", at, clip(f.Format), FormatCSV, FormatPacs008, FormatPacs007, FormatXML))
		}
		if err := checkFileDate(at, f, date); err != nil {
			p.add(err)
		} else if f.BusinessDate == string(date) {
			f.BusinessDate = "" // the cycle's own date: one way to say it
		}
		if !sha256Re.MatchString(f.SHA256) {
			p.add(refuse(CodeInvalid, "%s.sha256 %q must be 64 lower-case hex digits", at, clip(f.SHA256)))
		}
		if f.Entries < 0 || f.Entries > entriesPerFileMax {
			p.add(refuse(CodeLimit, "%s.entries %d must be 0..%d on the ledger", at, f.Entries, entriesPerFileMax))
		}
		if d, err := settlement.ParseControlSum([]byte(f.ControlSum)); err != nil {
			p.add(refuse(CodeInvalid, "%s.controlSum %q: %v", at, clip(f.ControlSum), err))
		} else {
			f.ControlSum = d.String()
		}
		id := [2]string{bic, f.FileID}
		if seen[id] {
			p.add(refuse(CodeDuplicateFile, "%s: %s/%s is declared twice", at, bic, clip(f.FileID)))
		}
		seen[id] = true
	}
	return p.err()
}

// declaredAgain answers a DeclareCycle of a cycle that already has files
// (done true): the same files again are already_declared; other files, a
// settled cycle or chunks of the legacy path are refused, because a declared
// cycle never changes.
func declaredAgain(s Stub, cycleID string, files []DeclaredFile) (out []byte, done bool, err error) {
	if old, err := loadDeclared(s, cycleID); err != nil {
		return nil, true, err
	} else if old != nil {
		if sameFiles(old.Files, files) {
			out, err := marshal(struct {
				Status string `json:"status"`
				Declared
			}{"already_declared", *old})
			return out, true, err
		}
		return nil, true, refuse(CodeCycleDeclared, "cycle %s was declared by tx %s with other files; a declared cycle never changes", cycleID, old.TxID)
	}
	if settled, err := (&cycleCache{s: s, seen: map[string]*Cycle{}}).get(cycleID); err != nil {
		return nil, true, err
	} else if settled != nil {
		return nil, true, refuse(CodeCycleSettled, "cycle %s was settled by tx %s", cycleID, settled.TxID)
	}
	if refs, _, _, err := cycleChunks(s, cycleID); err != nil {
		return nil, true, err
	} else if len(refs) > 0 {
		return nil, true, refuse(CodeCycleDeclared, "cycle %s already holds %d chunks of the legacy path", cycleID, len(refs))
	}
	return nil, false, nil
}

// checkFileIDsUnused refuses, all at once, the files whose (sender, file id)
// an earlier cycle declared: a file id is used once, across cycles.
func checkFileIDsUnused(s Stub, files []DeclaredFile) error {
	var p problems
	for _, f := range files {
		k, err := key(s, keyFileID, f.Sender, f.FileID)
		if err != nil {
			return err
		}
		var prev string
		if found, err := getJSON(s, k, &prev); err != nil {
			return err
		} else if found {
			p.add(refuse(CodeDuplicateFile, "file %s/%s was declared in cycle %s; a file id is used once", f.Sender, f.FileID, prev))
		}
	}
	return p.err()
}

// writeDeclared writes, file by file, the file id's cycle and the file's
// first state (an empty sha256 state to which PutFilePart appends), then the
// cycle's declaration: the order every endorsing peer writes them in.
func writeDeclared(s Stub, cycleID string, date settlement.Date, files []DeclaredFile) ([]byte, error) {
	h, _ := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	for _, f := range files {
		k, err := key(s, keyFileID, f.Sender, f.FileID)
		if err != nil {
			return nil, err
		}
		if err := putJSON(s, k, cycleID); err != nil {
			return nil, err
		}
		fk, err := key(s, keyFile, cycleID, f.Sender, f.FileID)
		if err != nil {
			return nil, err
		}
		st := FileState{DeclaredFile: f, CycleID: cycleID, Status: FileDeclared, HashState: h, TxID: s.GetTxID()}
		if err := putJSON(s, fk, st); err != nil {
			return nil, err
		}
	}
	d := Declared{CycleID: cycleID, Date: string(date), Files: files, TxID: s.GetTxID()}
	if d.Files == nil {
		d.Files = []DeclaredFile{}
	}
	dk, err := key(s, keyDeclared, cycleID)
	if err != nil {
		return nil, err
	}
	if err := putJSON(s, dk, d); err != nil {
		return nil, err
	}
	return marshal(struct {
		Status string `json:"status"`
		Declared
	}{"declared", d})
}

func sameFiles(a, b []DeclaredFile) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fileFor loads a declared file of an open declared cycle.
func fileFor(s Stub, cycleID, senderArg, fileID string) (*Declared, *FileState, string, error) {
	sender, err := fileAddress(cycleID, senderArg, fileID)
	if err != nil {
		return nil, nil, "", err
	}
	d, err := loadDeclared(s, cycleID)
	if err != nil {
		return nil, nil, "", err
	}
	if d == nil {
		return nil, nil, "", refuse(CodeNotDeclared, "cycle %s was not declared", cycleID)
	}
	fk, err := key(s, keyFile, cycleID, sender, fileID)
	if err != nil {
		return nil, nil, "", err
	}
	var st FileState
	if found, err := getJSON(s, fk, &st); err != nil {
		return nil, nil, "", err
	} else if !found {
		return nil, nil, "", refuse(CodeNotDeclared, "file %s/%s is not declared in cycle %s", sender, clip(fileID), cycleID)
	}
	if settled, err := (&cycleCache{s: s, seen: map[string]*Cycle{}}).get(cycleID); err != nil {
		return nil, nil, "", err
	} else if settled != nil {
		return nil, nil, "", refuse(CodeCycleSettled, "cycle %s was settled by tx %s", cycleID, settled.TxID)
	}
	return d, &st, fk, nil
}

// fileAddress checks a declared file's address, cycle, sender and file id,
// and answers the sender's stored BIC.
func fileAddress(cycleID, senderArg, fileID string) (string, error) {
	if _, err := checkCycleID(cycleID); err != nil {
		return "", err
	}
	sender, err := normBIC("sender", senderArg)
	if err != nil {
		return "", err
	}
	if !settlement.ValidFileID([]byte(fileID)) {
		return "", refuse(CodeInvalid, "fileId %q must be 1-35 characters [A-Za-z0-9._-]", clip(fileID))
	}
	return sender, nil
}

// requireUploader lets the operator or the file's own bank send its parts;
// a third bank cannot touch another bank's file.
func requireUploader(g *Governance, c Caller, sender string) error {
	if c.Role != RoleClient && c.Role != RoleAdmin {
		return refuse(CodeNotAuthorized, "file parts are sent by a client or admin identity; the caller is %s", c)
	}
	if c.MSPID == g.OperatorMSP {
		return nil
	}
	if m := g.member(sender); m != nil && m.MSPID == c.MSPID {
		return nil
	}
	return refuse(CodeNotAuthorized, "parts of %s's files are sent by the operator or by %s itself; the caller is %s", sender, sender, c)
}

// putFilePart stores the next part of a declared file. The part carrying the
// signature (sigB64 not empty) is the last: it verifies and parses the file
// and, if the file is what was declared, marks it verified; IndexFile then
// indexes its payments, a bounded range a transaction.
func putFilePart(s Stub, cycleID, senderArg, fileID, indexArg, arg, sigB64, enc string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	d, st, fk, err := fileFor(s, cycleID, senderArg, fileID)
	if err != nil {
		return nil, err
	}
	if err := requireUploader(g, c, st.Sender); err != nil {
		return nil, err
	}
	index, err := checkPartArgs(indexArg, arg, sigB64)
	if err != nil {
		return nil, err
	}
	part, err := partBytes(st, index, arg, enc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(part))
	partSum := hex.EncodeToString(sum[:])
	if out, done, err := partAgain(cycleID, st, index, partSum, sigB64); err != nil || done {
		return out, err
	}
	final := sigB64 != ""
	if index == 0 {
		st.Encoding = enc
	}
	h, err := appendPart(s, cycleID, st, index, part, arg, partSum, final)
	if err != nil {
		return nil, err
	}
	if final {
		if got := hex.EncodeToString(h.Sum(nil)); got != st.SHA256 {
			return nil, refuse(CodeDigestMismatch, "file %s/%s: its %d parts (%d bytes) hash to %s, the operator declared %s", st.Sender, st.FileID, st.Parts, st.Bytes, got, st.SHA256)
		}
		pays, err := verifyFile(s, g, d, st, part, sigB64)
		if err != nil {
			return nil, err
		}
		// The part's bytes are in this transaction twice (the argument
		// and the write): what is left of the index's budget may take the
		// whole file's ids, and then no IndexFile is needed.
		if err := indexWhole(s, st, pays, indexWriteBytesMax-2*len(arg)); err != nil {
			return nil, err
		}
	}
	if err := putJSON(s, fk, st); err != nil {
		return nil, err
	}
	return marshal(struct {
		Status string `json:"status"`
		FileState
	}{map[bool]string{true: "verified", false: "stored"}[final], *st})
}

// checkPartArgs checks a part's arguments against the ledger's limits before
// any state is read for it, and returns the part's index. The index has one
// spelling only (no sign, no leading zero), so that one part has one key.
func checkPartArgs(indexArg, part, sigB64 string) (int, error) {
	index, err := strconv.Atoi(indexArg)
	if err != nil || index < 0 || index >= partsPerFileMax || strconv.Itoa(index) != indexArg {
		return 0, refuse(CodeInvalid, "part index %q must be a decimal 0..%d", clip(indexArg), partsPerFileMax-1)
	}
	if len(part) == 0 || len(part) > partBytesMax {
		return 0, refuse(CodeLimit, "a part is 1..%d bytes, got %d", partBytesMax, len(part))
	}
	if len(sigB64) > sigArgBytesMax {
		return 0, refuse(CodeLimit, "signature is %d bytes, at most %d", len(sigB64), sigArgBytesMax)
	}
	return index, nil
}

// partAgain answers a part that is not the file's next one (done true). A
// client that lost the answer of its last transaction sends the same part
// again: it is answered already_stored (or already_verified, for the signed
// last part) and nothing is written. Any other part out of order, or a part
// of a verified or dropped file, is refused: a stored part is never replaced.
func partAgain(cycleID string, st *FileState, index int, partSum, sigB64 string) (out []byte, done bool, err error) {
	switch st.Status {
	case FileVerified:
		if index == st.Parts-1 && st.LastPart == partSum && sigB64 != "" {
			// The client lost the answer of the transaction that verified
			// the file (a crash, a commit it did not see): the same last
			// part again is answered with that transaction, and writes
			// nothing.
			out, err := marshal(struct {
				Status string `json:"status"`
				FileState
			}{"already_verified", *st})
			return out, true, err
		}
		return nil, true, refuse(CodeFileVerified, "file %s/%s was verified by tx %s; it takes no more parts", st.Sender, st.FileID, st.TxID)
	case FileDropped:
		return nil, true, refuse(CodeFileVerified, "file %s/%s was dropped by the operator (tx %s): %s", st.Sender, st.FileID, st.TxID, st.Reason)
	}
	if index < st.Parts {
		// A client that lost the answer sends its last part again.
		if index == st.Parts-1 && st.LastPart == partSum && sigB64 == "" {
			out, err := marshal(map[string]any{"status": "already_stored", "cycleId": cycleID, "sender": st.Sender, "fileId": st.FileID, "index": index})
			return out, true, err
		}
		return nil, true, refuse(CodePartOrder, "file %s/%s has %d parts stored; the next is %d (a stored part is never replaced: ResetFile starts again)", st.Sender, st.FileID, st.Parts, st.Parts)
	}
	if index != st.Parts {
		return nil, true, refuse(CodePartOrder, "file %s/%s expects part %d, got %d", st.Sender, st.FileID, st.Parts, index)
	}
	return nil, false, nil
}

// appendPart writes the file's next part and advances its state in st (parts,
// bytes, running sha256, last part's digest), returning the running hash for
// the final part's check. A CSV part other than the last must end at a record
// boundary, so that the parser never sees a record split between parts.
func appendPart(s Stub, cycleID string, st *FileState, index int, part, stored, partSum string, final bool) (hash.Hash, error) {
	quoteOdd := st.QuoteOdd != (strings.Count(part, `"`)%2 == 1)
	if st.Format == FormatCSV && !final && (!strings.HasSuffix(part, "\n") || quoteOdd) {
		return nil, refuse(CodePartBoundary, "a CSV part other than the last ends with a line break outside quotes, so that no record spans two parts")
	}
	st.QuoteOdd = quoteOdd
	if st.Bytes+int64(len(part)) > fileBytesMax {
		return nil, refuse(CodeLimit, "file %s/%s would be more than %d bytes on the ledger", st.Sender, st.FileID, fileBytesMax)
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.HashState); err != nil {
		return nil, internal("hash state of %s/%s: %v", st.Sender, st.FileID, err)
	}
	h.Write([]byte(part))
	var err error
	if st.HashState, err = h.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return nil, internal("hash state: %v", err)
	}
	pk, err := key(s, keyPart, cycleID, st.Sender, st.FileID, fmt.Sprintf("%06d", index))
	if err != nil {
		return nil, err
	}
	if err := s.PutState(pk, []byte(stored)); err != nil {
		return nil, internal("write state: %v", err)
	}
	st.Parts++
	st.Bytes += int64(len(part))
	st.LastPart = partSum
	st.TxID = s.GetTxID()
	return h, nil
}

// partsReader reads the stored parts 0..n-2 of a file, then last, lazily: one
// part in memory at a time besides the parser's buffer.
type partsReader struct {
	s                     Stub
	cycle, sender, fileID string
	enc                   string // the file's parts' encoding (FileState.Encoding)
	next, stored          int
	cur                   *bytes.Reader
	last                  string
	lastDone              bool
	err                   error
}

func (r *partsReader) Read(p []byte) (int, error) {
	for {
		if r.cur != nil && r.cur.Len() > 0 {
			return r.cur.Read(p)
		}
		if r.err != nil {
			return 0, r.err
		}
		switch {
		case r.next < r.stored:
			k, err := key(r.s, keyPart, r.cycle, r.sender, r.fileID, fmt.Sprintf("%06d", r.next))
			if err != nil {
				r.err = err
				continue
			}
			b, err := r.s.GetState(k)
			if err != nil || b == nil {
				r.err = internal("part %d of %s/%s is missing from state: %v", r.next, r.sender, r.fileID, err)
				continue
			}
			if b, err = storedPart(r.enc, b); err != nil {
				r.err = internal("part %d of %s/%s: %v", r.next, r.sender, r.fileID, err)
				continue
			}
			r.cur = bytes.NewReader(b)
			r.next++
		case !r.lastDone:
			r.cur = bytes.NewReader([]byte(r.last))
			r.lastDone = true
		default:
			return 0, io.EOF
		}
	}
}

// verifyFile checks the whole file (checkFile) and marks it verified with
// its positions; its payments are indexed by IndexFile.
func verifyFile(s Stub, g *Governance, d *Declared, st *FileState, last, sigB64 string) ([]*Payment, error) {
	r := &partsReader{s: s, cycle: st.CycleID, sender: st.Sender, fileID: st.FileID, enc: st.Encoding, stored: st.Parts - 1, last: last}
	res, pays, err := checkFile(s, g, d, st, r, sigB64)
	if err != nil {
		return nil, err
	}
	net, err := res.Netting().Result()
	if err != nil {
		return nil, internal("netting of %s/%s: %v", st.Sender, st.FileID, err)
	}
	if err := settlement.AssertBalanced(net.Positions); err != nil {
		return nil, internal("file %s/%s: %v", st.Sender, st.FileID, err)
	}
	st.Positions = make([]FilePosition, 0, len(net.Positions))
	for _, p := range net.Positions {
		st.Positions = append(st.Positions, FilePosition{Bank: string(p.Bank), Currency: p.Currency.Code(),
			Sent: settlement.FormatAmount(p.Sent, p.Currency), Received: settlement.FormatAmount(p.Received, p.Currency)})
	}
	st.Status, st.KeyLabel, st.Message, st.Signature, st.Indexed = FileVerified, res.KeyLabel, res.Message, sigB64, 0
	return pays, nil
}

// checkFile runs the service's intake check over the whole file read from r,
// with the sender's keys as registered on the ledger and the members as the
// ledger knows them, and checks it against the declaration: the one copy of
// the rules, for verifyFile and IndexFile. It answers the file's payments.
func checkFile(s Stub, g *Governance, d *Declared, st *FileState, r *partsReader, sigB64 string) (*intake.Result, []*Payment, error) {
	keys, err := activeKeys(s, st.Sender)
	if err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		return nil, nil, refuse(CodeSignature, "SIGNATURE_NO_KEY: bank %s has no active key on the ledger", st.Sender)
	}
	name := fileName(st)
	var pays []*Payment
	tooMany := false
	opts := intake.Options{
		Keys:     ledgerRing{settlementBIC(st.Sender): keys},
		Member:   func(b settlement.BIC) bool { return g.member(string(b)) != nil },
		Uploader: settlementBIC(st.Sender),
		Limits:   formats.Limits{FileBytesMax: fileBytesMax, RecordsMax: entriesPerFileMax + 2, ProblemsMax: problemsMax},
		Entry: func(e *settlement.Entry, ok bool) {
			if !ok {
				return
			}
			if len(pays) >= entriesPerFileMax {
				tooMany = true
				return
			}
			pays = append(pays, entryPayment(e, st))
		},
	}
	res, err := intake.Check(name, r, intake.Sig{Present: true, Bytes: []byte(sigB64)}, opts)
	if r.err != nil {
		return nil, nil, r.err
	}
	if err != nil {
		return nil, nil, internal("read %s/%s: %v", st.Sender, st.FileID, err)
	}
	if hex.EncodeToString(res.SHA256[:]) != st.SHA256 {
		// The running digest matched; the bytes read back must too.
		return nil, nil, internal("file %s/%s read back hashes to %s, the running digest to %s", st.Sender, st.FileID, res.Hash(), st.SHA256)
	}
	if !res.Accepted() {
		return nil, nil, fileRejected(st, res.Problems)
	}
	if tooMany {
		return nil, nil, refuse(CodeLimit, "file %s/%s has more than %d entries", st.Sender, st.FileID, entriesPerFileMax)
	}
	var diffs []string
	if res.FileID != st.FileID {
		diffs = append(diffs, fmt.Sprintf("file id %s, declared %s", res.FileID, st.FileID))
	}
	if string(res.Sender) != st.Sender {
		diffs = append(diffs, fmt.Sprintf("sender %s, declared %s", res.Sender, st.Sender))
	}
	if want := cmp.Or(st.BusinessDate, d.Date); string(res.BusinessDate) != want {
		if st.BusinessDate == "" {
			diffs = append(diffs, fmt.Sprintf("business date %s, the cycle's is %s (a late or deferred file is declared with its own date)", res.BusinessDate, d.Date))
		} else {
			diffs = append(diffs, fmt.Sprintf("business date %s, declared %s", res.BusinessDate, want))
		}
	}
	if (st.Format == FormatPacs008 || st.Format == FormatPacs007) && !strings.HasPrefix(res.Message, st.Format+".") {
		diffs = append(diffs, fmt.Sprintf("message %s, declared %s", res.Message, st.Format))
	}
	if res.Entries != st.Entries {
		diffs = append(diffs, fmt.Sprintf("%d entries, declared %d", res.Entries, st.Entries))
	}
	if got, _ := settlement.ParseControlSum([]byte(res.ControlSum)); got.String() != st.ControlSum {
		diffs = append(diffs, fmt.Sprintf("control sum %s, declared %s", res.ControlSum, st.ControlSum))
	}
	if len(diffs) > 0 {
		return nil, nil, refuse(CodeDeclaredMismatch, "file %s/%s is not the file the operator declared: %s", st.Sender, st.FileID, strings.Join(diffs, "; "))
	}
	return res, pays, nil
}

// indexFile indexes the next payments of a verified
// file: it reads the stored parts back, runs the same check as the
// verification (checkFile), records entries [Indexed, Indexed+K) as one chunk
// (fileChunkID + "." + start), so a duplicate or a bad reversal is refused
// as for any chunk, and advances Indexed. A fully indexed file is answered
// already_indexed and writes nothing.
func indexFile(s Stub, cycleID, senderArg, fileID string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	d, st, fk, err := fileFor(s, cycleID, senderArg, fileID)
	if err != nil {
		return nil, err
	}
	if err := requireUploader(g, c, st.Sender); err != nil {
		return nil, err
	}
	switch st.Status {
	case FileVerified:
	case FileDropped:
		return nil, refuse(CodeFileVerified, "file %s/%s was dropped by the operator (tx %s): %s", st.Sender, st.FileID, st.TxID, st.Reason)
	default:
		return nil, refuse(CodePartOrder, "file %s/%s is not verified (%d parts stored): its last part, with the signature, comes first", st.Sender, st.FileID, st.Parts)
	}
	answer := func(status string, n int) ([]byte, error) {
		// txId: the transaction that indexed the file's last range (this
		// one, or for already_indexed the one before, which a client
		// takes as done without sending anything to the orderers). The
		// answer is in the transaction, so it names the count of index
		// transactions, not each (GetFile does).
		last := ""
		if len(st.IndexTxs) > 0 {
			last = st.IndexTxs[len(st.IndexTxs)-1].TxID
		}
		return marshal(map[string]any{"status": status, "cycleId": cycleID, "sender": st.Sender, "fileId": st.FileID,
			"indexed": st.Indexed, "entries": st.Entries, "indexedNow": n, "indexTxCount": len(st.IndexTxs), "verifiedTxId": st.TxID, "txId": last})
	}
	if int64(st.Indexed) >= st.Entries {
		return answer("already_indexed", 0)
	}
	r := &partsReader{s: s, cycle: st.CycleID, sender: st.Sender, fileID: st.FileID, enc: st.Encoding, stored: st.Parts, lastDone: true}
	_, pays, err := checkFile(s, g, d, st, r, st.Signature)
	if err != nil {
		return nil, err
	}
	if int64(len(pays)) != st.Entries || st.Indexed < 0 || st.Indexed > len(pays) {
		return nil, internal("file %s/%s reads back %d entries, declared %d, indexed %d", st.Sender, st.FileID, len(pays), st.Entries, st.Indexed)
	}
	start := st.Indexed
	end, err := indexPayments(s, st, pays, start)
	if err != nil {
		return nil, err
	}
	st.Indexed = end
	st.IndexTxs = append(st.IndexTxs, IndexTx{Start: start, Entries: end - start, TxID: s.GetTxID()})
	if err := putJSON(s, fk, st); err != nil {
		return nil, err
	}
	return answer("indexed", end-start)
}

// fileChunkID names a governed file's chunk: a chunk id the legacy path could
// never have taken, since the legacy path is closed once the ledger is founded
// and a declared cycle holds no legacy chunk.
func fileChunkID(sender, fileID string) string { return "F." + sender + "." + fileID }

// entryPayment is the ledger's digest of a verified file's entry.
func entryPayment(e *settlement.Entry, st *FileState) *Payment {
	p := &Payment{Sender: st.Sender, ID: e.ID, Kind: e.Kind.String(), Debtor: string(e.Debtor),
		Creditor: string(e.Creditor), Amount: settlement.FormatAmount(e.Amount, e.Currency),
		Currency: e.Currency.Code(), FileSHA256: st.SHA256, CycleID: st.CycleID,
		ChunkID: fileChunkID(st.Sender, st.FileID), OriginalID: e.Original, amount: e.Amount}
	return p
}

// fileRejected lists the service's problems with the file, as the bank's
// acknowledgement would.
func fileRejected(st *FileState, list []settlement.Problem) error {
	var msgs []string
	for i, p := range list {
		if i == problemsMax {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(list)-i))
			break
		}
		msgs = append(msgs, fmt.Sprintf("%s line %d %s: %s", p.Code, p.Line, p.Field, p.Message))
	}
	code := CodeFileRejected
	for _, p := range list {
		if strings.HasPrefix(p.Code, "SIGNATURE") {
			code = CodeSignature
			break
		}
	}
	return refuse(code, "file %s/%s: %s", st.Sender, st.FileID, strings.Join(msgs, "; "))
}

// ledgerRing is the sender's keys as the ledger holds them.
type ledgerRing map[settlement.BIC][]signature.Key

func (r ledgerRing) Keys(b settlement.BIC) []signature.Key { return r[b] }

// resetFile lets the operator start a file's upload again (a client that sent
// a wrong part); a verified file cannot be reset.
func resetFile(s Stub, cycleID, senderArg, fileID string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	if err := requireOperator(g, c, "ResetFile"); err != nil {
		return nil, err
	}
	_, st, fk, err := fileFor(s, cycleID, senderArg, fileID)
	if err != nil {
		return nil, err
	}
	if st.Status != FileDeclared {
		return nil, refuse(CodeFileVerified, "file %s/%s is %s; only a file still being uploaded is reset", st.Sender, st.FileID, st.Status)
	}
	h, _ := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	st.Parts, st.Bytes, st.HashState, st.LastPart, st.QuoteOdd, st.TxID = 0, 0, h, "", false, s.GetTxID()
	if err := putJSON(s, fk, st); err != nil {
		return nil, err
	}
	return marshal(struct {
		Status string `json:"status"`
		FileState
	}{"reset", *st})
}

// dropFile is the operator excluding a declared file that cannot be verified
// (its signature or content is refused): the cycle can then settle without it.
// It is on the ledger with its reason; a verified file can never be dropped,
// so no payment that the ledger accepted can leave a cycle.
func dropFile(s Stub, cycleID, senderArg, fileID, reason string) ([]byte, error) {
	g, c, err := requireGov(s)
	if err != nil {
		return nil, err
	}
	if err := requireOperator(g, c, "DropFile"); err != nil {
		return nil, err
	}
	_, st, fk, err := fileFor(s, cycleID, senderArg, fileID)
	if err != nil {
		return nil, err
	}
	if len(reason) == 0 || len(reason) > 256 {
		return nil, refuse(CodeInvalid, "a drop gives its reason, 1-256 bytes")
	}
	// A verified file none of whose payments is indexed yet (IndexFile
	// refused a duplicate, say) may be dropped too: nothing of it is in the
	// cycle's payments.
	if st.Status != FileDeclared && (st.Status != FileVerified || st.Indexed > 0) {
		return nil, refuse(CodeFileVerified, "file %s/%s is %s (%d of %d entries indexed); only an unverified or unindexed file is dropped", st.Sender, st.FileID, st.Status, st.Indexed, st.Entries)
	}
	st.Status, st.Reason, st.TxID = FileDropped, reason, s.GetTxID()
	if err := putJSON(s, fk, st); err != nil {
		return nil, err
	}
	return marshal(struct {
		Status string `json:"status"`
		FileState
	}{"dropped", *st})
}

func getFile(s Stub, cycleID, sender, fileID string) ([]byte, error) {
	_, st, _, err := fileFor(s, cycleID, sender, fileID)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == CodeCycleSettled {
			// A settled cycle's files are still readable.
			b, _ := normBIC("sender", sender)
			fk, kerr := key(s, keyFile, cycleID, b, fileID)
			if kerr != nil {
				return nil, kerr
			}
			var st FileState
			if found, gerr := getJSON(s, fk, &st); gerr == nil && found {
				return marshal(st)
			}
		}
		return nil, err
	}
	return marshal(st)
}

// IndexTx is one IndexFile transaction of a file: it indexed the file's
// entries [Start, Start+Entries), in the file's order. A file's state keeps
// them all (at most one an entry), so the service
// learns from the ledger which transaction recorded each payment, also after
// a crash that lost the commit answers.
type IndexTx struct {
	Start   int    `json:"start"`
	Entries int    `json:"entries"`
	TxID    string `json:"txId"`
}

// DeclaredView is a declared cycle with where each of its files stands.
type DeclaredView struct {
	Declared
	Status []FileStatus `json:"status"`
}

// FileStatus is one declared file's progress.
type FileStatus struct {
	Sender   string `json:"sender"`
	FileID   string `json:"fileId"`
	Status   string `json:"status"`
	Parts    int    `json:"parts"`
	Bytes    int64  `json:"bytes"`
	KeyLabel string `json:"keyLabel,omitempty"`
	Entries  int64  `json:"entries"`
	Indexed  int    `json:"indexed"`
	TxID     string `json:"txId"`
}

// getDeclared answers which files of a declared cycle are verified, so the
// client knows what is left to send, and an auditor what the freeze named.
func getDeclared(s Stub, cycleID string) ([]byte, error) {
	if _, err := checkCycleID(cycleID); err != nil {
		return nil, err
	}
	d, err := loadDeclared(s, cycleID)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, refuse(CodeNotFound, "cycle %s was not declared", cycleID)
	}
	v := DeclaredView{Declared: *d, Status: make([]FileStatus, 0, len(d.Files))}
	for _, f := range d.Files {
		k, err := key(s, keyFile, cycleID, f.Sender, f.FileID)
		if err != nil {
			return nil, err
		}
		var st FileState
		if found, err := getJSON(s, k, &st); err != nil {
			return nil, err
		} else if !found {
			return nil, internal("declared file %s/%s of %s has no state", f.Sender, f.FileID, cycleID)
		}
		v.Status = append(v.Status, FileStatus{Sender: st.Sender, FileID: st.FileID, Status: st.Status,
			Parts: st.Parts, Bytes: st.Bytes, KeyLabel: st.KeyLabel, Entries: st.Entries, Indexed: st.Indexed, TxID: st.TxID})
	}
	return marshal(v)
}

// getFilePart returns a stored part's exact bytes, so that an auditor can
// re-verify a file's signature from the ledger alone.
func getFilePart(s Stub, cycleID, senderArg, fileID, indexArg string) ([]byte, error) {
	sender, err := fileAddress(cycleID, senderArg, fileID)
	if err != nil {
		return nil, err
	}
	index, err := strconv.Atoi(indexArg)
	if err != nil || index < 0 || index >= partsPerFileMax || strconv.Itoa(index) != indexArg {
		return nil, refuse(CodeInvalid, "part index %q must be a decimal 0..%d", clip(indexArg), partsPerFileMax-1)
	}
	fk, err := key(s, keyFile, cycleID, sender, fileID)
	if err != nil {
		return nil, err
	}
	var st FileState
	if found, err := getJSON(s, fk, &st); err != nil {
		return nil, err
	} else if !found {
		return nil, refuse(CodeNotFound, "file %s/%s is not declared in cycle %s", sender, clip(fileID), cycleID)
	}
	if index >= st.Parts {
		return nil, refuse(CodeNotFound, "file %s/%s has %d parts stored", sender, fileID, st.Parts)
	}
	pk, err := key(s, keyPart, cycleID, sender, fileID, fmt.Sprintf("%06d", index))
	if err != nil {
		return nil, err
	}
	b, err := s.GetState(pk)
	if err != nil {
		return nil, internal("read state: %v", err)
	}
	if b == nil {
		return nil, internal("part %d of %s/%s is missing from state", index, sender, fileID)
	}
	if b, err = storedPart(st.Encoding, b); err != nil {
		return nil, internal("part %d of %s/%s: %v", index, sender, fileID, err)
	}
	return marshal(struct {
		Index int    `json:"index"`
		Parts int    `json:"parts"`
		Bytes []byte `json:"bytes"` // base64 in JSON
	}{index, st.Parts, b})
}
