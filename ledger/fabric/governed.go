package fabric

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"settle/jobs"
	"settle/settlement"
)

// The governed path (ledger/chaincode/README.md, "Two paths"): once founded,
// the ledger takes a bank's payments only from bytes that bank signed, checked
// by every endorsing peer, and every role comes from the signing certificate.
// These calls are the client's side of it; which identity calls which is the
// caller's choice (Config.Operator, Config.Org with Config.Admin).

// FoundingBank is a bank the ledger is founded with: its BIC under its MSP.
type FoundingBank struct {
	BIC   settlement.BIC `json:"bic"`
	MSPID string         `json:"mspId"`
}

// DeclaredFile is one file of a cycle as the operator declares it at freeze.
type DeclaredFile struct {
	Sender     settlement.BIC `json:"sender"`
	FileID     string         `json:"fileId"`
	Format     string         `json:"format"` // "csv", "pacs.008", "pacs.007" or "xml" (either)
	SHA256     string         `json:"sha256"`
	Entries    int64          `json:"entries"`
	ControlSum string         `json:"controlSum"`
	// BusinessDate: the file's own date when it is not the cycle's (a late
	// or deferred file); empty for the cycle's.
	BusinessDate string `json:"businessDate,omitempty"`
}

// Governance is the ledger's governance state (GetGovernance).
type Governance struct {
	OperatorMSP string `json:"operatorMsp"`
	Members     []struct {
		BIC    string `json:"bic"`
		MSPID  string `json:"mspId"`
		Active bool   `json:"active"`
	} `json:"members"`
}

// FileStatus is a declared file's state on the ledger (GetDeclared, GetFile).
type FileStatus struct {
	Sender   string `json:"sender"`
	FileID   string `json:"fileId"`
	Status   string `json:"status"` // "declared", "receiving", "verified", "dropped"
	Parts    int    `json:"parts"`
	Bytes    int64  `json:"bytes"`
	KeyLabel string `json:"keyLabel,omitempty"`
	Entries  int64  `json:"entries"`
	Indexed  int64  `json:"indexed"` // entries indexed so far (IndexFile)
	TxID     string `json:"txId"`    // the last part's, the verifying one once verified
	// IndexTxs are the IndexFile transactions so far (GetFile only).
	IndexTxs []IndexTx `json:"indexTxs,omitempty"`
}

// Declaration is GetDeclared's answer: the declared files and each one's status.
type Declaration struct {
	CycleID string         `json:"cycleId"`
	Files   []DeclaredFile `json:"files"`
	Status  []FileStatus   `json:"status"`
	TxID    string         `json:"txId"`
}

// Limits of a file part. The chaincode takes 1 MiB a part, but a part's
// bytes are in its transaction twice (the argument and the write), and the
// BFT orderers take at most RequestBytesMax (512,000 bytes) a transaction:
// 192 KiB a part keeps a PutFilePart under 400 KB, with room for the
// endorsements and the file's state.
const (
	PartBytesMax     = 192 << 10
	PartBytesDefault = 160 << 10
)

// Limits of one file on the governed path. The last part only verifies the
// file (it writes the file's state, not its payments); IndexFile then adds
// the payment ids to the sender's id pages, at most 300,000 bytes of pages a
// transaction (the chaincode's indexWriteBytesMax; a file whose ids follow
// the sender's last ones is one IndexFile of about 50 bytes a payment), so
// no transaction grows with the file: a file's entries are
// bounded by the chaincode's entriesPerFileMax (5000), its bytes by the
// chaincode's fileBytesMax (8 MiB, 52 parts of PartBytesDefault: a pacs.008
// of 5000 transactions is about 2.1 MB), CSV and ISO 20022 alike.
// The service's intake refuses a larger file to its bank (FILE_TOO_LARGE,
// TOO_MANY_RECORDS) on the governed path: the bank splits it into files of
// its own, each signed, since nobody else can.
const (
	FileBytesMax = 8 << 20
	EntriesMax   = 5000
)

func statusOf(payload []byte) string {
	var m struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(payload, &m)
	return m.Status
}

// Found proposes the founding (the operator org's admin): operatorMSP runs the
// scheme over banks. It returns the founding's id, which each founding bank's
// admin approves (ApproveFounding). A repeat of the same proposal is answered
// with the same id.
func (c *Client) Found(ctx context.Context, operatorMSP string, banks []FoundingBank) (string, jobs.LedgerTx, error) {
	raw, err := json.Marshal(banks)
	if err != nil {
		return "", jobs.LedgerTx{}, err
	}
	payload, tx, err := c.Submit(ctx, nil, "Found", operatorMSP, string(raw))
	if err != nil {
		return "", jobs.LedgerTx{}, fmt.Errorf("found the ledger: %w", err)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(payload, &out); err != nil || out.ID == "" {
		return "", tx, fmt.Errorf("found the ledger: no founding id in %q", clipBytes(payload))
	}
	return out.ID, tx, nil
}

// ApproveFounding is a founding bank's admin approving founding id. The status
// is "approved", or "founded" for the last approval.
func (c *Client) ApproveFounding(ctx context.Context, id string) (string, jobs.LedgerTx, error) {
	payload, tx, err := c.Submit(ctx, nil, "ApproveFounding", id)
	if err != nil {
		return "", jobs.LedgerTx{}, fmt.Errorf("approve founding %s: %w", id, err)
	}
	return statusOf(payload), tx, nil
}

// Governance is the ledger's governance state; a NOT_FOUNDED refusal when the
// ledger is not founded (RefusalCode(err) == CodeNotFounded).
func (c *Client) Governance(ctx context.Context) (Governance, error) {
	var g Governance
	raw, err := c.Evaluate(ctx, "GetGovernance")
	if err != nil {
		return g, err
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		return g, fmt.Errorf("GetGovernance: %w", err)
	}
	return g, nil
}

// RegisterKey registers a file-signing public key (PEM) of bic under label:
// the bank's own admin only. The same key under the same label again is
// answered "already_registered".
func (c *Client) RegisterKey(ctx context.Context, bic settlement.BIC, label, pemText string) (jobs.LedgerTx, error) {
	_, tx, err := c.Submit(ctx, alreadyDone("status", "already_registered"), "RegisterKey", string(bic), label, pemText)
	if err != nil {
		return jobs.LedgerTx{}, fmt.Errorf("register key %s/%s: %w", bic, label, err)
	}
	return tx, nil
}

// RevokeKey revokes bic's key label (the bank's own admin).
func (c *Client) RevokeKey(ctx context.Context, bic settlement.BIC, label string) (jobs.LedgerTx, error) {
	_, tx, err := c.Submit(ctx, nil, "RevokeKey", string(bic), label)
	if err != nil {
		return jobs.LedgerTx{}, fmt.Errorf("revoke key %s/%s: %w", bic, label, err)
	}
	return tx, nil
}

// DeclareCycle is the operator's freeze on the ledger: the cycle's files, fixed
// from now on. The identical declaration again is answered with its first
// transaction.
func (c *Client) DeclareCycle(ctx context.Context, cycle string, files []DeclaredFile) (jobs.LedgerTx, error) {
	if files == nil {
		files = []DeclaredFile{}
	}
	raw, err := json.Marshal(files)
	if err != nil {
		return jobs.LedgerTx{}, err
	}
	_, tx, err := c.Submit(ctx, alreadyDone("status", "already_declared"), "DeclareCycle", cycle, string(raw))
	if err != nil {
		return jobs.LedgerTx{}, fmt.Errorf("declare cycle %s: %w", cycle, err)
	}
	return tx, nil
}

// PutFilePart sends part index of a declared file; sig, the .sig file's
// content exactly as the bank sent it (base64 text), goes with the last part
// only (nil before). The status is "stored", "already_stored" or, for the
// last part, "verified".
func (c *Client) PutFilePart(ctx context.Context, cycle string, sender settlement.BIC, fileID string, index int, part []byte, sig []byte) (string, jobs.LedgerTx, error) {
	st, tx, err := c.putPart(ctx, cycle, sender, fileID, index, compressPart(part), sig)
	if st == "verified_indexed" {
		st = "verified"
	}
	return st, tx, err
}

// putPart sends one part as p says: compressed or as it is. A verifying
// part that indexed its whole file is answered "verified_indexed".
func (c *Client) putPart(ctx context.Context, cycle string, sender settlement.BIC, fileID string, index int, p Part, sig []byte) (string, jobs.LedgerTx, error) {
	var done func([]byte) (string, bool)
	if len(sig) > 0 {
		// The last part again, after its commit was lost: the ledger names
		// the transaction that verified the file.
		done = alreadyDone("status", "already_verified")
	}
	args := []string{cycle, string(sender), fileID, strconv.Itoa(index), string(p.Sent), string(sig)}
	if p.Encoding != "" {
		args = append(args, p.Encoding)
	}
	payload, tx, err := c.Submit(ctx, done, "PutFilePart", args...)
	if err != nil {
		return "", jobs.LedgerTx{}, fmt.Errorf("file %s/%s part %d: %w", sender, fileID, index, err)
	}
	if tx.Existing {
		return "verified", tx, nil
	}
	st := statusOf(payload)
	if st == "verified" && indexedAll(payload) {
		st = "verified_indexed"
	}
	return st, tx, nil
}

// indexedAll says whether a verifying part's answer has its file indexed
// whole (the part's ids fit beside it).
func indexedAll(payload []byte) bool {
	var m struct {
		Indexed int   `json:"indexed"`
		Entries int64 `json:"entries"`
	}
	return json.Unmarshal(payload, &m) == nil && m.Entries > 0 && int64(m.Indexed) >= m.Entries
}

// IndexFile indexes the next range of a verified file's payments (the
// chaincode picks it from what is indexed); one transaction. It answers the
// entries indexed so far and the file's entries; a fully indexed file is
// answered already_indexed and writes nothing.
func (c *Client) IndexFile(ctx context.Context, cycle string, sender settlement.BIC, fileID string) (status string, indexed, entries int64, err error) {
	payload, _, err := c.Submit(ctx, alreadyDone("status", "already_indexed"), "IndexFile", cycle, string(sender), fileID)
	if err != nil {
		return "", 0, 0, fmt.Errorf("index file %s/%s: %w", sender, fileID, err)
	}
	var m struct {
		Status  string `json:"status"`
		Indexed int64  `json:"indexed"`
		Entries int64  `json:"entries"`
	}
	if err := json.Unmarshal(payload, &m); err != nil {
		return "", 0, 0, fmt.Errorf("index file %s/%s: %w", sender, fileID, err)
	}
	return m.Status, m.Indexed, m.Entries, nil
}

// indexAll calls IndexFile until the file is indexed: each call one
// transaction that must advance, so at most entries+1 of them (none when
// the verifying part indexed the file: already_indexed is answered by the
// endorsers, and nothing is sent to the orderers). One sender's files are
// indexed one at a time (Client.indexing).
func (c *Client) indexAll(ctx context.Context, cycle string, sender settlement.BIC, fileID string, entries int64) error {
	defer c.indexLock(sender)()
	return c.indexLocked(ctx, cycle, sender, fileID, entries)
}

// indexLock takes the sender's index lock and answers its release: one
// sender's transactions that write its id pages (a verifying last part,
// IndexFile) go one at a time.
func (c *Client) indexLock(sender settlement.BIC) (unlock func()) {
	mu, _ := c.indexing.LoadOrStore(sender, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock
}

func (c *Client) indexLocked(ctx context.Context, cycle string, sender settlement.BIC, fileID string, entries int64) error {
	prev := int64(-1)
	for calls := int64(0); calls <= entries+1; calls++ {
		status, n, all, err := c.IndexFile(ctx, cycle, sender, fileID)
		if err != nil {
			return err
		}
		if status == "already_indexed" || n >= all {
			return nil
		}
		if n <= prev {
			return fmt.Errorf("index file %s/%s: %d of %d entries indexed, no progress", sender, fileID, n, all)
		}
		prev = n
	}
	return fmt.Errorf("index file %s/%s: not indexed after %d calls", sender, fileID, entries+2)
}

// IndexTx is one IndexFile transaction as a file's ledger state names it.
type IndexTx struct {
	Start   int    `json:"start"`
	Entries int    `json:"entries"`
	TxID    string `json:"txId"`
}

// fileTxs reads a verified and indexed file's transactions from the ledger:
// the verifying one and each IndexFile, as the file's state names them, each
// with its block and endorsers. The index transactions must cover the
// file's entries, contiguous from 0.
func (c *Client) fileTxs(ctx context.Context, cycle string, sender settlement.BIC, fileID string, existing bool) (jobs.FileTxs, error) {
	var out jobs.FileTxs
	st, ok, err := c.fileState(ctx, cycle, sender, fileID)
	if err != nil {
		return out, fmt.Errorf("file %s/%s: %w", sender, fileID, err)
	}
	if !ok || st.Status != "verified" {
		return out, fmt.Errorf("file %s/%s: the ledger does not hold it verified", sender, fileID)
	}
	if out.Verified, err = c.Tx(ctx, st.TxID); err != nil {
		return out, fmt.Errorf("file %s/%s: verified by tx %s: %w", sender, fileID, st.TxID, err)
	}
	out.Verified.Existing = existing
	next := 0
	for _, x := range st.IndexTxs {
		if x.Start != next || x.Entries < 1 || x.TxID == "" {
			return out, fmt.Errorf("file %s/%s: the ledger's index transactions do not cover its entries in order at %d", sender, fileID, next)
		}
		t, err := c.Tx(ctx, x.TxID)
		if err != nil {
			return out, fmt.Errorf("file %s/%s: indexed by tx %s: %w", sender, fileID, x.TxID, err)
		}
		t.Existing = existing
		out.Index = append(out.Index, jobs.IndexTx{Start: x.Start, Entries: x.Entries, Tx: t})
		next += x.Entries
	}
	if int64(next) != st.Entries {
		return out, fmt.Errorf("file %s/%s: the ledger indexed %d of its %d entries", sender, fileID, next, st.Entries)
	}
	return out, nil
}

// fileState is a declared file's state on the ledger (GetFile); ok is false
// when the ledger has no such declared file.
func (c *Client) fileState(ctx context.Context, cycle string, sender settlement.BIC, fileID string) (st struct {
	FileStatus
	SHA256         string `json:"sha256"`
	LastPartSHA256 string `json:"lastPartSha256"`
}, ok bool, err error) {
	raw, err := c.Evaluate(ctx, "GetFile", cycle, string(sender), fileID)
	if IsNotFound(err) || RefusalCode(err) == "NOT_DECLARED" {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, false, fmt.Errorf("GetFile %s/%s: %w", sender, fileID, err)
	}
	return st, true, nil
}

// CutParts cuts a file into parts of at most partBytes for PutFilePart: a CSV
// file after a line break outside quotes (the chaincode refuses any other
// cut), an ISO 20022 file every partBytes bytes, wherever that falls (the
// chaincode parses the parts only as one stream, so a cut inside a comment,
// a CDATA section or a tag means nothing).
func CutParts(format string, body []byte, partBytes int) ([][]byte, error) {
	if partBytes <= 0 || partBytes > PartBytesMax {
		partBytes = PartBytesDefault
	}
	return cutParts(format, body, partBytes)
}

func cutParts(format string, body []byte, partBytes int) ([][]byte, error) {
	if len(body) > FileBytesMax {
		return nil, fmt.Errorf("a file of %d bytes: the ledger takes at most %d", len(body), FileBytesMax)
	}
	if format != "csv" {
		var parts [][]byte
		for len(body) > partBytes {
			parts = append(parts, body[:partBytes])
			body = body[partBytes:]
		}
		return append(parts, body), nil
	}
	var parts [][]byte
	for len(body) > partBytes {
		cut, quotes := -1, 0
		for i := 0; i < partBytes; i++ {
			switch body[i] {
			case '"':
				quotes++
			case '\n':
				if quotes%2 == 0 {
					cut = i + 1
				}
			}
		}
		if cut <= 0 {
			return nil, fmt.Errorf("a CSV record longer than %d bytes", partBytes)
		}
		parts = append(parts, body[:cut])
		body = body[cut:]
	}
	return append(parts, body), nil
}

// PutFile sends a whole declared file in parts (PartsOf), the signature with
// the last. It resumes where the ledger stands (a crash between a commit and
// the service's record of it): the parts the ledger holds are not sent again,
// and a file the ledger verified already is answered with the transaction
// that verified it (Existing). Once verified, it indexes the file's payments
// (IndexFile until indexed, unless the verifying part indexed them),
// resuming where the ledger stands. It returns the file's transactions.
func (c *Client) PutFile(ctx context.Context, cycle string, f DeclaredFile, body, sig []byte, partBytes int) (jobs.FileTxs, error) {
	cut, err := PartsOf(f.Format, body, partBytes)
	if err != nil {
		return jobs.FileTxs{}, fmt.Errorf("file %s/%s: %w", f.Sender, f.FileID, err)
	}
	start, done, err := c.resumeAt(ctx, cycle, f, cut)
	if err != nil || done != nil {
		return ptrOr(done), err
	}
	existing, indexed := false, false
	var last jobs.LedgerTx
	for i := start; i < len(cut); i++ {
		var s []byte
		if i == len(cut)-1 {
			s = sig
			if len(s) == 0 {
				return jobs.FileTxs{}, fmt.Errorf("file %s/%s: no signature", f.Sender, f.FileID)
			}
			// The last part may index the file: the sender's index
			// lock, through its IndexFile calls.
			defer c.indexLock(f.Sender)()
		}
		status, t, err := c.putPart(ctx, cycle, f.Sender, f.FileID, i, cut[i], s)
		if err != nil {
			return jobs.FileTxs{}, err
		}
		if i == len(cut)-1 && status != "verified" && status != "verified_indexed" {
			return jobs.FileTxs{}, fmt.Errorf("file %s/%s: last part answered %q, not verified", f.Sender, f.FileID, status)
		}
		existing, indexed, last = t.Existing, status == "verified_indexed", t
	}
	switch {
	case indexed && !existing:
		// The endorsers agreed the verifying part indexed the whole file,
		// and it committed: it is the file's one index transaction, as
		// its committed answer says (no block to read back).
		return jobs.FileTxs{Verified: last, Index: []jobs.IndexTx{{Start: 0, Entries: int(f.Entries), Tx: last}}}, nil
	case !indexed:
		// Its payments are indexed a bounded range a transaction (also
		// after an already_verified answer, a lost commit).
		if err := c.indexLocked(ctx, cycle, f.Sender, f.FileID, f.Entries); err != nil {
			return jobs.FileTxs{}, err
		}
	}
	return c.fileTxs(ctx, cycle, f.Sender, f.FileID, existing)
}

// resumeAt reads where the ledger stands with a file: the first part to
// send, or (done) the transactions of a file it verified already, indexed
// now if it was not yet.
func (c *Client) resumeAt(ctx context.Context, cycle string, f DeclaredFile, cut []Part) (start int, done *jobs.FileTxs, err error) {
	st, ok, err := c.fileState(ctx, cycle, f.Sender, f.FileID)
	if err != nil {
		return 0, nil, fmt.Errorf("file %s/%s: %w", f.Sender, f.FileID, err)
	}
	if ok {
		if st.SHA256 != f.SHA256 {
			return 0, nil, fmt.Errorf("file %s/%s: the ledger declared sha256 %s, this file is %s", f.Sender, f.FileID, st.SHA256, f.SHA256)
		}
		switch st.Status {
		case "verified":
			if st.Indexed < st.Entries {
				if err := c.indexAll(ctx, cycle, f.Sender, f.FileID, st.Entries); err != nil {
					return 0, nil, err
				}
			}
			txs, err := c.fileTxs(ctx, cycle, f.Sender, f.FileID, true)
			return 0, &txs, err
		case "declared":
			// Parts the ledger holds are the ones this client sent (its
			// running digest is checked against the declaration at the
			// end); the last of them must be the part of this cut.
			if st.Parts > len(cut) || (st.Parts > 0 && st.LastPartSHA256 != sha256Hex(cut[st.Parts-1].Raw)) {
				return 0, nil, fmt.Errorf("file %s/%s: the ledger holds %d parts that are not this file's cut (ResetFile starts it again)", f.Sender, f.FileID, st.Parts)
			}
			start = st.Parts
		}
	}
	if start >= len(cut) {
		return 0, nil, fmt.Errorf("file %s/%s: the ledger holds all %d parts unverified", f.Sender, f.FileID, start)
	}
	return start, nil, nil
}

func ptrOr(t *jobs.FileTxs) jobs.FileTxs {
	if t == nil {
		return jobs.FileTxs{}
	}
	return *t
}

// SettleDeclared settles a declared cycle on the ledger's own positions (the
// operator): refused with CYCLE_INCOMPLETE until every declared file is
// verified or dropped.
func (c *Client) SettleDeclared(ctx context.Context, cycle string) (jobs.LedgerTx, error) {
	_, tx, err := c.Submit(ctx, alreadyDone("outcome", "already_settled"), "SettleCycle", cycle)
	if err != nil {
		return jobs.LedgerTx{}, fmt.Errorf("settle cycle %s: %w", cycle, err)
	}
	return tx, nil
}

// Declared is the ledger's declaration of a cycle with each file's status.
func (c *Client) Declared(ctx context.Context, cycle string) (Declaration, bool, error) {
	var d Declaration
	raw, err := c.Evaluate(ctx, "GetDeclared", cycle)
	if IsNotFound(err) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, false, fmt.Errorf("GetDeclared %s: %w", cycle, err)
	}
	return d, true, nil
}

// FileBytes reads a file's exact bytes back from the ledger, part by part
// (GetFilePart), for re-verifying its signature without the archive.
func (c *Client) FileBytes(ctx context.Context, cycle string, sender settlement.BIC, fileID string, parts int) ([]byte, error) {
	var out bytes.Buffer
	for i := 0; i < parts; i++ {
		raw, err := c.Evaluate(ctx, "GetFilePart", cycle, string(sender), fileID, strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		var p struct {
			Bytes []byte `json:"bytes"` // base64 in JSON
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("GetFilePart %s/%s/%d: %w", sender, fileID, i, err)
		}
		out.Write(p.Bytes)
	}
	return out.Bytes(), nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func clipBytes(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// GovernedPath is the client as the pipeline's jobs.GovernedLedger: the client
// must sign as the operator (Config.Operator). PartBytes is the part size
// (0: PartBytesDefault).
type GovernedPath struct {
	C         *Client
	PartBytes int
}

var _ jobs.GovernedLedger = GovernedPath{}

func declaredOf(cycle string, f jobs.LedgerFile) DeclaredFile {
	d := DeclaredFile{Sender: f.Sender, FileID: f.FileID, Format: f.Format, SHA256: f.SHA256, Entries: f.Entries, ControlSum: f.ControlSum.String()}
	if f.BusinessDate != "" && settlement.CycleID(f.BusinessDate) != cycle {
		d.BusinessDate = string(f.BusinessDate)
	}
	return d
}

// DeclareFiles declares the cycle's files.
func (g GovernedPath) DeclareFiles(ctx context.Context, cycle string, files []jobs.LedgerFile) (jobs.LedgerTx, error) {
	out := make([]DeclaredFile, 0, len(files))
	for _, f := range files {
		out = append(out, declaredOf(cycle, f))
	}
	return g.C.DeclareCycle(ctx, cycle, out)
}

// PutFile relays one file in parts with its signature.
func (g GovernedPath) PutFile(ctx context.Context, cycle string, f jobs.LedgerFile, body, sig []byte) (jobs.FileTxs, error) {
	return g.C.PutFile(ctx, cycle, declaredOf(cycle, f), body, sig, g.PartBytes)
}

// SettleDeclared settles the declared cycle on the ledger's positions.
func (g GovernedPath) SettleDeclared(ctx context.Context, cycle string) (jobs.LedgerTx, error) {
	return g.C.SettleDeclared(ctx, cycle)
}

// Gridlock is the ledger's gridlock setting.
func (g GovernedPath) Gridlock(ctx context.Context) (string, error) { return g.C.Gridlock(ctx) }

// ResolveDeclared settles the declared cycle with the ledger's resolution.
func (g GovernedPath) ResolveDeclared(ctx context.Context, cycle string) (jobs.LedgerTx, error) {
	return g.C.ResolveDeclared(ctx, cycle)
}

// Deferral is the ledger's resolution record of a settled cycle.
func (g GovernedPath) Deferral(ctx context.Context, cycle string) (jobs.LedgerDeferral, bool, error) {
	return g.C.Deferral(ctx, cycle)
}

// SigningKey is a bank's file-signing key as the ledger holds it now (the last
// value of signkey/BIC/LABEL); ok is false when the ledger never had it.
func (c *Client) SigningKey(ctx context.Context, bic settlement.BIC, label string) (pemText string, active, ok bool, err error) {
	raw, err := c.Evaluate(ctx, "GetHistory", "signkey/"+string(bic)+"/"+label)
	if IsNotFound(err) {
		return "", false, false, nil
	}
	if err != nil {
		return "", false, false, err
	}
	var hist []struct {
		Timestamp string          `json:"timestamp"`
		IsDelete  bool            `json:"isDelete"`
		Value     json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &hist); err != nil {
		return "", false, false, fmt.Errorf("history of key %s/%s: %w", bic, label, err)
	}
	// The peer's order of a key's history is not the contract's: take the
	// latest modification by its timestamp.
	last, lastAt := -1, time.Time{}
	for i, h := range hist {
		at, err := time.Parse(time.RFC3339Nano, h.Timestamp)
		if err != nil {
			return "", false, false, fmt.Errorf("history of key %s/%s: timestamp %q: %w", bic, label, h.Timestamp, err)
		}
		if last < 0 || at.After(lastAt) {
			last, lastAt = i, at
		}
	}
	if last < 0 || hist[last].IsDelete {
		return "", false, false, nil
	}
	var k struct {
		PEM    string `json:"pem"`
		Status string `json:"status"`
	}
	v := hist[last].Value
	// The value is the stored JSON, as a JSON string or inline.
	var s string
	if json.Unmarshal(v, &s) == nil {
		v = []byte(s)
	}
	if err := json.Unmarshal(v, &k); err != nil {
		return "", false, false, fmt.Errorf("key %s/%s: %w", bic, label, err)
	}
	return k.PEM, k.Status == "active", true, nil
}

// LedgerAudit is the client as jobs.LedgerArchive: what `audit verify
// --ledger-only` reads, from the ledger alone.
type LedgerAudit struct{ C *Client }

var _ jobs.LedgerArchive = LedgerAudit{}

// Deferral is the ledger's resolution record of a cycle.
func (a LedgerAudit) Deferral(ctx context.Context, cycle string) (jobs.LedgerDeferral, bool, error) {
	return a.C.Deferral(ctx, cycle)
}

// DeclaredFiles merges the declaration with each file's status.
func (a LedgerAudit) DeclaredFiles(ctx context.Context, cycle string) ([]jobs.LedgerFileRecord, bool, error) {
	d, ok, err := a.C.Declared(ctx, cycle)
	if err != nil || !ok {
		return nil, ok, err
	}
	st := map[string]FileStatus{}
	for _, s := range d.Status {
		st[s.Sender+"/"+s.FileID] = s
	}
	var out []jobs.LedgerFileRecord
	for _, f := range d.Files {
		s := st[string(f.Sender)+"/"+f.FileID]
		out = append(out, jobs.LedgerFileRecord{Sender: f.Sender, FileID: f.FileID, Format: f.Format, SHA256: f.SHA256,
			Entries: f.Entries, ControlSum: f.ControlSum, Status: s.Status, Parts: s.Parts, KeyLabel: s.KeyLabel, TxID: s.TxID})
	}
	return out, true, nil
}

// FileBytes reads a file's parts back.
func (a LedgerAudit) FileBytes(ctx context.Context, cycle string, sender settlement.BIC, fileID string, parts int) ([]byte, error) {
	return a.C.FileBytes(ctx, cycle, sender, fileID, parts)
}

// FileSignature is the .sig a file was verified with: the last argument of
// the PutFilePart transaction that verified it, read from its block.
func (a LedgerAudit) FileSignature(ctx context.Context, txID string) ([]byte, error) {
	tc, err := a.C.TxContent(ctx, txID)
	if err != nil {
		return nil, err
	}
	// Six arguments, or seven with the part's encoding (PartsOf).
	if tc.Function != "PutFilePart" || len(tc.Args) != 6 && len(tc.Args) != 7 || tc.Args[5] == "" {
		return nil, fmt.Errorf("tx %s is %s with %d arguments, not the PutFilePart that verified a file", txID, tc.Function, len(tc.Args))
	}
	return []byte(tc.Args[5]), nil
}

// KeyPEM is a bank's key under label as registered on the ledger (revoked
// since or not: it verified the file when it was active).
func (a LedgerAudit) KeyPEM(ctx context.Context, bank settlement.BIC, label string) (string, bool, error) {
	p, _, ok, err := a.C.SigningKey(ctx, bank, label)
	return p, ok, err
}

// Members are the governance's members.
func (a LedgerAudit) Members(ctx context.Context) (map[settlement.BIC]bool, error) {
	g, err := a.C.Governance(ctx)
	if err != nil {
		return nil, err
	}
	out := map[settlement.BIC]bool{}
	for _, m := range g.Members {
		out[settlement.BIC(m.BIC)] = true
	}
	return out, nil
}

// Cycle is the ledger's cycle record.
func (a LedgerAudit) Cycle(ctx context.Context, cycle string) (jobs.LedgerCycle, bool, error) {
	return a.C.Cycle(ctx, cycle)
}
