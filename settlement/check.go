package settlement

import (
	"fmt"
	"hash/maphash"
	"sort"
)

// IDKey identifies a sender's payment id in an index without keeping the
// string: two independent 64-bit hashes of (sender, id). A false match
// needs a 128-bit collision (about 10^-26 for a billion ids), while the
// index of a million-payment cycle stays near 40 MB instead of 100.
type IDKey [2]uint64

var idSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// KeyOf is the index key of a sender's payment or reversal id.
func KeyOf(sender BIC, id string) IDKey {
	var k IDKey
	for i := range k {
		var h maphash.Hash
		h.SetSeed(idSeeds[i])
		h.WriteString(string(sender))
		h.WriteByte(0)
		h.WriteString(id)
		k[i] = h.Sum64()
	}
	return k
}

// Sink receives a parsed file record by record. ok is false when the parser
// found something wrong with the record (and said so through Problem); the
// record is then passed with the fields it could read, so that counts and
// the rules on its good fields still apply.
type Sink interface {
	Header(h *Header, ok bool)
	Entry(e *Entry, ok bool)
	Trailer(t *Trailer, ok bool)
	Problem(p Problem)
}

// Rules are what a check knows beyond the file itself.
type Rules struct {
	// Member tells whether a bank belongs to the consortium; nil accepts any
	// well-formed BIC.
	Member func(BIC) bool
	// Fields names the file's fields in problems; nil means CSVFields.
	Fields *Fields
}

// Fields names the fields of one format, so that a problem found by the
// shared rules points at the field as the bank's own format calls it.
type Fields struct {
	FileID, Sender, Debtor, Creditor, PaymentID, ReversalID string
	OriginalDebtor, OriginalCreditor, Original, Amount      string
	EntryCount, ControlSum                                  string
}

// CSVFields are Format 1's column names.
var CSVFields = Fields{FileID: "file_id", Sender: "sender_bic", Debtor: "debtor_bic", Creditor: "creditor_bic",
	PaymentID: "payment_id", ReversalID: "reversal_id", OriginalDebtor: "original_debtor_bic",
	OriginalCreditor: "original_creditor_bic", Original: "original_payment_id", Amount: "amount",
	EntryCount: "entry_count", ControlSum: "control_sum"}

// XMLFields are Format 2's element paths (pacs.008 carries no reversals).
var XMLFields = Fields{FileID: "MsgId", Sender: "InstgAgt/FinInstnId/BICFI", Debtor: "DbtrAgt/FinInstnId/BICFI",
	Creditor: "CdtrAgt/FinInstnId/BICFI", PaymentID: "PmtId/EndToEndId", ReversalID: "PmtId/EndToEndId",
	OriginalDebtor: "DbtrAgt/FinInstnId/BICFI", OriginalCreditor: "CdtrAgt/FinInstnId/BICFI",
	Original: "PmtId/EndToEndId", Amount: "IntrBkSttlmAmt", EntryCount: "NbOfTxs", ControlSum: "CtrlSum"}

// PACS007Fields are Format 3's element paths (pacs.007 reversals).
var PACS007Fields = Fields{FileID: "MsgId", Sender: "InstgAgt/FinInstnId/BICFI",
	Debtor: "OrgnlTxRef/DbtrAgt/FinInstnId/BICFI", Creditor: "OrgnlTxRef/CdtrAgt/FinInstnId/BICFI",
	PaymentID: "RvslId", ReversalID: "RvslId", OriginalDebtor: "OrgnlTxRef/DbtrAgt/FinInstnId/BICFI",
	OriginalCreditor: "OrgnlTxRef/CdtrAgt/FinInstnId/BICFI", Original: "OrgnlEndToEndId", Amount: "RvsdIntrBkSttlmAmt",
	EntryCount: "NbOfTxs", ControlSum: "CtrlSum"}

// Fields names the file's fields as its format does.
func (c *FileCheck) Fields() *Fields { return c.fields() }

// SetFields names the fields as the file's format does, once the reader
// knows it (an XML file tells its message by its namespace). Call it
// before the file's first problem.
func (c *FileCheck) SetFields(f *Fields) { c.Rules.Fields = f }

func (c *FileCheck) fields() *Fields {
	if c.Rules.Fields != nil {
		return c.Rules.Fields
	}
	return &CSVFields
}

// idSeen is where an id was first used in a file, and by which kind.
type idSeen struct {
	line int32
	rev  bool
}

// FileCheck applies the spec's rules to one file while it streams past, and
// nets its entries on the side. A file is accepted only if no problem at
// all was found; then Netting holds its contribution to the cycle.
type FileCheck struct {
	Rules    Rules
	Problems Problems

	header    Header
	headerOK  bool
	trailer   Trailer
	trailerOK bool
	count     int64
	sum       units // at minorUnitMax
	sumOK     bool
	ids       map[IDKey]idSeen
	reversed  map[IDKey]int32
	originals map[IDKey]reversalIDs // ids of the reversals here, for messages and status reports
	net       Netting
	finished  bool
	// tagged is how many listed problems were looked at for their entry:
	// those the parser reports for a record come just before its Entry.
	tagged int
}

// reversalIDs are a reversal's own id and the original's.
type reversalIDs struct{ original, id string }

// NewFileCheck starts the check of one file.
func NewFileCheck(r Rules) *FileCheck {
	return &FileCheck{Rules: r, sumOK: true, ids: make(map[IDKey]idSeen), reversed: make(map[IDKey]int32)}
}

// Problem records a problem the parser found.
func (c *FileCheck) Problem(p Problem) { c.Problems.Add(p) }

// Header checks the sender.
func (c *FileCheck) Header(h *Header, ok bool) {
	c.header, c.headerOK = *h, ok
	if h.Sender != "" && !c.member(h.Sender) {
		c.Problems.Addf(h.Line, c.fields().Sender, CodeUnknownBank, "sender %s is not a member of the consortium", h.Sender)
		c.headerOK = false
	}
	c.tagged = c.Problems.tagEntry(c.tagged, -1, "")
}

func (c *FileCheck) member(b BIC) bool { return c.Rules.Member == nil || c.Rules.Member(b) }

// Entry checks one payment or reversal against the header and the file's
// other entries, and nets it.
func (c *FileCheck) Entry(e *Entry, ok bool) {
	c.count++
	if e.Amount.IsZero() {
		c.sumOK = false // unreadable: the control sum cannot be checked
	} else if u, fits := unitsOf(e.Amount, minorUnitMax); !fits {
		c.sumOK = false
	} else if c.sum, fits = c.sum.add(u); !fits {
		c.sumOK = false
	}
	f := c.fields()
	debtorField, creditorField, idField := f.Debtor, f.Creditor, f.PaymentID
	if e.Kind == KindReversal {
		debtorField, creditorField, idField = f.OriginalDebtor, f.OriginalCreditor, f.ReversalID
	}
	sender := c.header.Sender
	if e.Debtor != "" && sender != "" && e.Debtor != sender {
		what := "debtor"
		if e.Kind == KindReversal {
			what = "original debtor"
		}
		c.Problems.Addf(e.Line, debtorField, CodeDebtorNotSender, "%s %s is not the sender %s", what, e.Debtor, sender)
		ok = false
	}
	if e.Debtor != "" && e.Debtor == e.Creditor {
		c.Problems.Addf(e.Line, creditorField, CodeSelfPayment, "debtor and creditor are both %s", e.Debtor)
		ok = false
	}
	if e.Debtor != "" && e.Debtor != sender && !c.member(e.Debtor) {
		c.Problems.Addf(e.Line, debtorField, CodeUnknownBank, "%s is not a member of the consortium", e.Debtor)
		ok = false
	}
	if e.Creditor != "" && !c.member(e.Creditor) {
		c.Problems.Addf(e.Line, creditorField, CodeUnknownBank, "%s is not a member of the consortium", e.Creditor)
		ok = false
	}
	if e.ID != "" && sender != "" {
		k := KeyOf(sender, e.ID)
		if first, dup := c.ids[k]; dup {
			c.Problems.Addf(e.Line, idField, CodeDuplicatePaymentID, "id %s is already used at line %d of this file", e.ID, first.line)
			ok = false
		} else {
			c.ids[k] = idSeen{int32(e.Line), e.Kind == KindReversal}
		}
	}
	if e.Kind == KindReversal && e.Original != "" && sender != "" {
		if e.Original == e.ID {
			c.Problems.Addf(e.Line, f.Original, CodeReversalOfItself, "reversal %s names itself as the original", e.ID)
			ok = false
		}
		k := KeyOf(sender, e.Original)
		if first, dup := c.reversed[k]; dup {
			c.Problems.Addf(e.Line, f.Original, CodeAlreadyReversed, "payment %s is already reversed at line %d of this file", e.Original, first)
			ok = false
		} else {
			c.reversed[k] = int32(e.Line)
			if c.originals == nil {
				c.originals = make(map[IDKey]reversalIDs)
			}
			c.originals[k] = reversalIDs{original: e.Original, id: e.ID}
		}
	}
	if ok && c.headerOK && c.Problems.Len() == 0 {
		if err := c.net.Add(e); err != nil {
			c.Problems.Addf(e.Line, f.Amount, CodeAmount, "cannot net: %v", err)
		}
	}
	// The entry's problems: those the parser reported for its line just
	// before this call, and those the rules above added.
	c.tagged = c.Problems.tagEntry(c.tagged, e.Line, e.ID)
}

// Trailer checks the control count and sum.
func (c *FileCheck) Trailer(t *Trailer, ok bool) {
	c.trailer, c.trailerOK = *t, ok
	c.tagged = c.Problems.tagEntry(c.tagged, -1, "")
}

// FileTrailer returns the file's trailer as read (valid only if ok): the
// count and control sum the file declares.
func (c *FileCheck) FileTrailer() (t Trailer, ok bool) { return c.trailer, c.trailerOK }

// Finish runs the checks that need the whole file, and tells whether the
// file is accepted.
func (c *FileCheck) Finish() bool {
	if c.finished {
		return c.Problems.Len() == 0
	}
	c.finished = true
	if c.trailerOK {
		t := c.trailer
		if t.Count != c.count {
			c.Problems.Addf(t.Line, c.fields().EntryCount, CodeEntryCount, "entry_count is %d, the file has %d payment and reversal records", t.Count, c.count)
		}
		if c.sumOK && !t.NoControlSum {
			want := c.sum.decimal(minorUnitMax)
			if !t.ControlSum.Equal(want) {
				c.Problems.Addf(t.Line, c.fields().ControlSum, CodeControlSum, "control_sum is %s, the amounts add up to %s", t.ControlSum, want.String())
			}
		}
	}
	// A reversal of a payment in this same file reverses something that
	// has not been settled yet.
	for k, line := range c.reversed {
		p, ok := c.ids[k]
		if !ok || p.line == line {
			continue // absent, or the reversal itself (REVERSAL_OF_ITSELF)
		}
		ids := c.originals[k]
		c.Problems.Add(Problem{Line: int(line), Field: c.fields().Original, Code: CodeOriginalUnsettled, Entry: ids.id,
			Message: fmt.Sprintf("payment %s at line %d is in this same file and not settled yet; a reversal must follow its settlement", ids.original, p.line)})
	}
	if c.Problems.Len() > 0 {
		c.net = Netting{} // a rejected file nets nothing
	}
	return c.Problems.Len() == 0
}

// ReleaseIDs drops the file's own id index once a cycle index holds it
// (IDIndex.Add): the per-file map is the largest thing a check keeps.
func (c *FileCheck) ReleaseIDs() { c.ids = nil }

// Header returns the file's header as read (valid only if HeaderOK).
func (c *FileCheck) FileHeader() (Header, bool) { return c.header, c.headerOK }

// Count and ControlSum are what the file actually holds.
func (c *FileCheck) Count() int64 { return c.count }

// ControlSum is the sum of every readable amount.
func (c *FileCheck) ControlSum() (sum string, ok bool) {
	return c.sum.decimal(minorUnitMax).String(), c.sumOK
}

// Netting is the file's contribution; empty unless Finish accepted it.
func (c *FileCheck) Netting() *Netting { return &c.net }

// IDIndex finds duplicate and reversed ids across the files of one cycle,
// in the order the files are given, so the same files give the same report.
type IDIndex struct {
	names    []string
	ids      map[IDKey]idLoc
	reversed map[IDKey]idLoc
}

type idLoc struct{ file, line int32 }

// NewIDIndex sizes an index for about n ids.
func NewIDIndex(n int) *IDIndex {
	return &IDIndex{ids: make(map[IDKey]idLoc, n), reversed: make(map[IDKey]idLoc)}
}

// Add registers file number len(names) and reports into its check the ids
// already used, and the originals already reversed, by an earlier file.
func (x *IDIndex) Add(name string, c *FileCheck) {
	f := int32(len(x.names))
	x.names = append(x.names, name)
	type hit struct {
		line  int32
		rev   bool
		prior idLoc
	}
	var dups, revs []hit
	for k, seen := range c.ids {
		if p, ok := x.ids[k]; ok {
			dups = append(dups, hit{seen.line, seen.rev, p})
			continue
		}
		x.ids[k] = idLoc{f, seen.line}
	}
	for k, line := range c.reversed {
		if p, ok := x.reversed[k]; ok {
			revs = append(revs, hit{line, true, p})
			continue
		}
		x.reversed[k] = idLoc{f, line}
	}
	// Map order is random; problems are listed by line anyway, and each
	// line has at most one id, so sorting here only fixes message order.
	sort.Slice(dups, func(i, j int) bool { return dups[i].line < dups[j].line })
	sort.Slice(revs, func(i, j int) bool { return revs[i].line < revs[j].line })
	fields := c.fields()
	for _, d := range dups {
		field := fields.PaymentID
		if d.rev {
			field = fields.ReversalID
		}
		c.Problems.Addf(int(d.line), field, CodeDuplicatePaymentID, "id already used by the same sender in %s line %d", x.names[d.prior.file], d.prior.line)
	}
	for _, r := range revs {
		c.Problems.Addf(int(r.line), fields.Original, CodeAlreadyReversed, "payment already reversed in %s line %d", x.names[r.prior.file], r.prior.line)
	}
	if len(dups)+len(revs) > 0 {
		c.net = Netting{}
	}
}

// Unsettled reports, once every file is added, each reversal whose
// original is a payment of another file of the same cycle: it has not been
// settled yet. check(i) returns the check of file i.
func (x *IDIndex) Unsettled(check func(file int) *FileCheck) {
	for k, r := range x.reversed {
		p, ok := x.ids[k]
		if !ok || p.file == r.file {
			continue // same-file case is FileCheck's
		}
		c := check(int(r.file))
		c.Problems.Addf(int(r.line), c.fields().Original, CodeOriginalUnsettled,
			"the original is a payment of this same cycle (%s line %d), not settled yet", x.names[p.file], p.line)
		c.net = Netting{}
	}
}
