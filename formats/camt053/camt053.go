// Package camt053 writes the statement every member bank gets once a
// cycle has settled: an ISO 20022 camt.053.001.08 BankToCustomerStatement
// of its position in the scheme for the business date, one Stmt per
// currency (payment-files.md, "After settlement").
//
// The schema puts the balances and the transactions summary before the
// entries, and a bank may have hundreds of thousands of entries, so the
// statement is written in two steps without holding entries in memory: a
// Spool takes every entry of a cycle in one pass, in any order, writing
// each (bank, currency)'s entries, already rendered, to a file of its own
// and adding up the totals; then Write puts each bank's document together
// from its totals and those files. Memory grows with the number of
// statements (banks times currencies), never with the number of entries.
package camt053

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"settle/formats/isowrite"
	"settle/settlement"
)

// Namespace is the statement's.
const Namespace = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"

// Name is the outbox name of a bank's statement of a cycle.
func Name(cycle string) string { return cycle + ".camt053.xml" }

// StatementsMax bounds the statements (banks times currencies) one spool
// keeps open: each holds a file and a buffer.
const StatementsMax = 4096

// refMax is Max35Text, the length of AcctSvcrRef and of every id here.
const refMax = 35

// Errors.
var (
	// ErrClosing: a statement's entries do not add up to the bank's net
	// position. A broken invariant: nothing is written.
	ErrClosing = errors.New("statement entries do not add up to the net position")
	ErrTooMany = fmt.Errorf("more than %d statements in one cycle", StatementsMax)
	ErrEntry   = errors.New("statement entry")
)

// Entry is one line of a bank's statement: a payment or a reversal it
// sent or received, as the money moved for that bank.
type Entry struct {
	Bank         settlement.BIC // whose statement
	Credit       bool           // money received (CRDT), else paid (DBIT)
	ID           string         // payment or reversal id: EndToEndId
	Reversal     bool           // RvslInd
	Amount       decimal.Decimal
	Currency     settlement.Currency
	Counterparty settlement.BIC // the bank on the other side of the money
	LedgerTx     string         // the ledger transaction that recorded it
}

// Sides are the two statement lines of one settled entry: the payer's
// debit and the payee's credit (a reversal moves money back from the
// original creditor to the original debtor).
func Sides(e *settlement.Entry, ledgerTx string) (debit, credit Entry) {
	rev := e.Kind == settlement.KindReversal
	payer, payee := e.Payer(), e.Payee()
	debit = Entry{Bank: payer, Credit: false, ID: e.ID, Reversal: rev, Amount: e.Amount, Currency: e.Currency, Counterparty: payee, LedgerTx: ledgerTx}
	credit = Entry{Bank: payee, Credit: true, ID: e.ID, Reversal: rev, Amount: e.Amount, Currency: e.Currency, Counterparty: payer, LedgerTx: ledgerTx}
	return debit, credit
}

type key struct {
	bank settlement.BIC
	cur  settlement.Currency
}

// Totals are the number and sum of a statement's credit and debit entries.
type Totals struct {
	Credits, Debits     int64
	CreditSum, DebitSum decimal.Decimal
}

// Net is credits minus debits: the closing balance of an opening of 0.
func (t Totals) Net() decimal.Decimal { return t.CreditSum.Sub(t.DebitSum) }

type spooled struct {
	file *os.File
	w    *bufio.Writer
	x    *isowrite.Writer // over w, for every entry
	tot  Totals
}

// Spool collects a cycle's statement entries (see the package comment).
type Spool struct {
	dir    string
	Cycle  string
	Date   settlement.Date
	Scheme settlement.BIC // Acct/Svcr
	stmts  map[key]*spooled
	dates  string // BookgDt and ValDt, the same for every entry
	err    error
}

// NewSpool spools under dir (a temporary folder the caller owns).
func NewSpool(dir, cycle string, date settlement.Date, scheme settlement.BIC) (*Spool, error) {
	if _, err := settlement.ParseBIC(string(scheme)); err != nil {
		return nil, fmt.Errorf("scheme BIC: %w", err)
	}
	d, err := os.MkdirTemp(dir, "camt053-*")
	if err != nil {
		return nil, err
	}
	return &Spool{dir: d, Cycle: cycle, Date: date, Scheme: scheme, stmts: map[key]*spooled{},
		dates: "        <BookgDt><Dt>" + string(date) + "</Dt></BookgDt>\n        <ValDt><Dt>" + string(date) + "</Dt></ValDt>\n"}, nil
}

// Add spools one entry; after an error every call returns it.
func (s *Spool) Add(e Entry) error {
	if s.err != nil {
		return s.err
	}
	if err := s.add(e); err != nil {
		s.err = err
	}
	return s.err
}

func (s *Spool) add(e Entry) error {
	if e.ID == "" || len(e.ID) > refMax || !isowrite.Clean(e.ID) {
		return fmt.Errorf("%w: id %q", ErrEntry, e.ID)
	}
	if e.LedgerTx == "" || !isowrite.Clean(e.LedgerTx) || strings.ContainsAny(e.LedgerTx, "&<>") || len(e.LedgerTx) > 500-len(ledgerTxInfo) {
		return fmt.Errorf("%w %s: ledger transaction %q", ErrEntry, e.ID, e.LedgerTx)
	}
	if e.Amount.Sign() <= 0 {
		return fmt.Errorf("%w %s: amount %s", ErrEntry, e.ID, e.Amount)
	}
	k := key{e.Bank, e.Currency}
	st := s.stmts[k]
	if st == nil {
		if len(s.stmts) >= StatementsMax {
			return ErrTooMany
		}
		if _, err := settlement.ParseBIC(string(e.Bank)); err != nil {
			return fmt.Errorf("%w %s: %w", ErrEntry, e.ID, err)
		}
		f, err := os.Create(filepath.Join(s.dir, string(e.Bank)+"-"+e.Currency.Code()))
		if err != nil {
			return err
		}
		st = &spooled{file: f, w: bufio.NewWriterSize(f, 8<<10)}
		st.x = isowrite.Over(st.w)
		s.stmts[k] = st
	}
	if e.Credit {
		st.tot.Credits++
		st.tot.CreditSum = st.tot.CreditSum.Add(e.Amount)
	} else {
		st.tot.Debits++
		st.tot.DebitSum = st.tot.DebitSum.Add(e.Amount)
	}
	s.entry(st.x, &e)
	return st.x.Err()
}

// ledgerTxInfo begins AddtlNtryInf, which holds the ledger transaction
// whole: AcctSvcrRef is a Max35Text, and a Fabric transaction id has 64
// hex digits (see ServicerRef).
const ledgerTxInfo = "ledger tx "

// ServicerRef is an entry's AcctSvcrRef for the ledger transaction that
// recorded it. The contract says AcctSvcrRef is the ledger transaction,
// and the schema allows it 35 characters (Max35Text); a Fabric
// transaction id has 64 hex digits. Our decision, written in the README's
// additions to the bank contract: AcctSvcrRef holds the id's first 35
// characters (the whole id where it is no longer), 140 bits of a
// SHA-256, which no two transactions share in practice; the whole id is
// AddtlNtryInf, exactly LedgerTxInfo(tx), and that is the reference that
// counts. A bank matches AcctSvcrRef to a ledger transaction as a prefix
// of its id.
func ServicerRef(tx string) string {
	if len(tx) > refMax {
		return tx[:refMax]
	}
	return tx
}

// LedgerTxInfo is an entry's AddtlNtryInf: "ledger tx " and the whole id
// of the ledger transaction that recorded it.
func LedgerTxInfo(tx string) string { return ledgerTxInfo + tx }

func (s *Spool) entry(w *isowrite.Writer, e *Entry) {
	w.Open(3, "Ntry")
	w.Amt(4, "Amt", e.Amount, e.Currency)
	fam, agent := "ICDT", "CdtrAgt"
	if e.Credit {
		w.Raw("        <CdtDbtInd>CRDT</CdtDbtInd>\n")
		fam, agent = "RCDT", "DbtrAgt"
	} else {
		w.Raw("        <CdtDbtInd>DBIT</CdtDbtInd>\n")
	}
	sub := "DMCT"
	if e.Reversal {
		w.Raw("        <RvslInd>true</RvslInd>\n")
		sub = "RRTN"
	}
	w.Raw("        <Sts><Cd>BOOK</Cd></Sts>\n")
	w.Raw(s.dates)
	// The contract's AcctSvcrRef is the ledger transaction, cut to the
	// schema's 35 characters; whole in AddtlNtryInf (ServicerRef).
	w.Elem(4, "AcctSvcrRef", ServicerRef(e.LedgerTx), refMax)
	w.Raw("        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>")
	w.Raw(fam)
	w.Raw("</Cd><SubFmlyCd>")
	w.Raw(sub)
	w.Raw("</SubFmlyCd></Fmly></Domn></BkTxCd>\n")
	w.Open(4, "NtryDtls")
	w.Open(5, "TxDtls")
	w.Raw("            <Refs>")
	w.Raw("<EndToEndId>")
	w.Raw(escape(e.ID))
	w.Raw("</EndToEndId></Refs>\n")
	// The counterparty: the agent that paid this bank (DbtrAgt) or the one
	// this bank paid (CdtrAgt).
	w.Raw("            <RltdAgts>")
	w.Agent(0, agent, e.Counterparty)
	w.Raw("            </RltdAgts>\n")
	w.Close(5, "TxDtls")
	w.Close(4, "NtryDtls")
	// LedgerTxInfo(e.LedgerTx), written in two parts (no string per entry).
	w.Raw("        <AddtlNtryInf>" + ledgerTxInfo)
	w.Raw(e.LedgerTx) // checked by add: clean, short enough
	w.Raw("</AddtlNtryInf>\n")
	w.Close(3, "Ntry")
}

func escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Banks are the banks with at least one entry, in BIC order.
func (s *Spool) Banks() []settlement.BIC {
	seen := map[settlement.BIC]bool{}
	var out []settlement.BIC
	for k := range s.stmts {
		if !seen[k.bank] {
			seen[k.bank] = true
			out = append(out, k.bank)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Totals are the totals of a bank's statement in a currency.
func (s *Spool) Totals(bank settlement.BIC, cur settlement.Currency) (Totals, bool) {
	st := s.stmts[key{bank, cur}]
	if st == nil {
		return Totals{}, false
	}
	return st.tot, true
}

func (s *Spool) currencies(bank settlement.BIC) []settlement.Currency {
	var out []settlement.Currency
	for k := range s.stmts {
		if k.bank == bank {
			out = append(out, k.cur)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code() < out[j].Code() })
	return out
}

// Write writes bank's statement. net holds the bank's net position per
// currency as netting stored it; every statement's closing balance must
// equal it exactly, and a currency with a position but no entries (or the
// reverse) is a broken invariant too (ErrClosing): nothing is then
// written that a bank could take for its statement, and the caller must
// discard what w received.
func (s *Spool) Write(w io.Writer, bank settlement.BIC, created time.Time, net map[settlement.Currency]decimal.Decimal) error {
	if s.err != nil {
		return s.err
	}
	curs := s.currencies(bank)
	if len(curs) == 0 {
		return fmt.Errorf("%s: no entries, no statement", bank)
	}
	for c, n := range net {
		if _, ok := s.stmts[key{bank, c}]; !ok && !n.IsZero() {
			return fmt.Errorf("%w: %s %s has a position of %s and no entries", ErrClosing, bank, c, n)
		}
	}
	for _, c := range curs {
		st := s.stmts[key{bank, c}]
		n, ok := net[c]
		if !ok || !st.tot.Net().Equal(n) {
			return fmt.Errorf("%w: %s %s entries net %s, position %s", ErrClosing, bank, c, st.tot.Net(), n)
		}
		if err := st.w.Flush(); err != nil {
			return err
		}
	}
	x := isowrite.New(w)
	x.Raw(isowrite.Declaration)
	x.Raw(`<Document xmlns="` + Namespace + `">` + "\n")
	x.Open(1, "BkToCstmrStmt")
	x.Open(2, "GrpHdr")
	x.Elem(3, "MsgId", s.Cycle+"-"+string(bank), refMax)
	x.Elem(3, "CreDtTm", created.Format(time.RFC3339), 0)
	x.Close(2, "GrpHdr")
	for _, c := range curs {
		st := s.stmts[key{bank, c}]
		s.header(x, bank, c, st.tot, created)
		if x.Err() == nil {
			if _, err := st.file.Seek(0, io.SeekStart); err != nil {
				x.Fail(err)
			}
			x.Copy(st.file)
			if _, err := st.file.Seek(0, io.SeekEnd); err != nil {
				x.Fail(err)
			}
		}
		x.Close(2, "Stmt")
	}
	x.Close(1, "BkToCstmrStmt")
	x.Raw("</Document>\n")
	return x.Flush()
}

// header writes a Stmt up to its entries: id, account, the two balances
// and the transactions summary.
func (s *Spool) header(x *isowrite.Writer, bank settlement.BIC, c settlement.Currency, t Totals, created time.Time) {
	x.Open(2, "Stmt")
	x.Elem(3, "Id", s.Cycle+"-"+string(bank)+"-"+c.Code(), refMax)
	x.Elem(3, "CreDtTm", created.Format(time.RFC3339), 0)
	x.Open(3, "Acct")
	x.Raw("        <Id><Othr><Id>" + string(bank) + "</Id></Othr></Id>\n")
	x.Raw("        <Ccy>" + c.Code() + "</Ccy>\n")
	x.Agent(4, "Svcr", s.Scheme)
	x.Close(3, "Acct")
	s.balance(x, "OPBD", decimal.Zero, c)
	s.balance(x, "CLBD", t.Net(), c)
	x.Open(3, "TxsSummry")
	x.Open(4, "TtlNtries")
	x.Elem(5, "NbOfNtries", strconv.FormatInt(t.Credits+t.Debits, 10), 15)
	sum(x, 5, "Sum", t.CreditSum.Add(t.DebitSum), c)
	x.Open(5, "TtlNetNtry")
	sum(x, 6, "Amt", t.Net().Abs(), c)
	x.Raw("            <CdtDbtInd>" + cdtDbt(t.Net()) + "</CdtDbtInd>\n")
	x.Close(5, "TtlNetNtry")
	x.Close(4, "TtlNtries")
	x.Open(4, "TtlCdtNtries")
	x.Elem(5, "NbOfNtries", strconv.FormatInt(t.Credits, 10), 15)
	sum(x, 5, "Sum", t.CreditSum, c)
	x.Close(4, "TtlCdtNtries")
	x.Open(4, "TtlDbtNtries")
	x.Elem(5, "NbOfNtries", strconv.FormatInt(t.Debits, 10), 15)
	sum(x, 5, "Sum", t.DebitSum, c)
	x.Close(4, "TtlDbtNtries")
	x.Close(3, "TxsSummry")
}

// sum writes a DecimalNumber with the currency's digits (the schema's
// 18 digits hold; a sum past them is refused, never cut).
func sum(x *isowrite.Writer, depth int, name string, d decimal.Decimal, c settlement.Currency) {
	v, err := isowrite.Amount(d, c)
	if err != nil {
		x.Fail(fmt.Errorf("%s: %w", name, err))
		return
	}
	x.Elem(depth, name, v, 0)
}

func cdtDbt(d decimal.Decimal) string {
	if d.IsNegative() {
		return "DBIT"
	}
	return "CRDT"
}

func (s *Spool) balance(x *isowrite.Writer, code string, amt decimal.Decimal, c settlement.Currency) {
	x.Open(3, "Bal")
	x.Raw("        <Tp><CdOrPrtry><Cd>" + code + "</Cd></CdOrPrtry></Tp>\n")
	x.Amt(4, "Amt", amt.Abs(), c)
	x.Raw("        <CdtDbtInd>" + cdtDbt(amt) + "</CdtDbtInd>\n")
	x.Raw("        <Dt><Dt>" + string(s.Date) + "</Dt></Dt>\n")
	x.Close(3, "Bal")
}

// Close removes the spooled files.
func (s *Spool) Close() error {
	var first error
	for _, st := range s.stmts {
		if err := st.file.Close(); err != nil && first == nil {
			first = err
		}
	}
	if err := os.RemoveAll(s.dir); err != nil && first == nil {
		first = err
	}
	return first
}
