package camt053_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/formats/camt053"
	"settle/formats/formatstest"
	"settle/settlement"
)

const scheme = settlement.BIC("SETLKRSE")

var created = time.Date(2026, 11, 24, 18, 30, 0, 0, time.FixedZone("KST", 9*3600))

// statement is what the tests read back of a written document.
type statement struct {
	MsgID string `xml:"BkToCstmrStmt>GrpHdr>MsgId"`
	Stmts []struct {
		ID   string `xml:"Id"`
		Acct string `xml:"Acct>Id>Othr>Id"`
		Ccy  string `xml:"Acct>Ccy"`
		Svcr string `xml:"Acct>Svcr>FinInstnId>BICFI"`
		Bal  []struct {
			Cd  string `xml:"Tp>CdOrPrtry>Cd"`
			Amt struct {
				Ccy   string `xml:"Ccy,attr"`
				Value string `xml:",chardata"`
			} `xml:"Amt"`
			Ind string `xml:"CdtDbtInd"`
			Dt  string `xml:"Dt>Dt"`
		} `xml:"Bal"`
		Cdt struct {
			N   int64  `xml:"NbOfNtries"`
			Sum string `xml:"Sum"`
		} `xml:"TxsSummry>TtlCdtNtries"`
		Dbt struct {
			N   int64  `xml:"NbOfNtries"`
			Sum string `xml:"Sum"`
		} `xml:"TxsSummry>TtlDbtNtries"`
		Ntry []struct {
			Amt   string `xml:"Amt"`
			Ind   string `xml:"CdtDbtInd"`
			Rvsl  string `xml:"RvslInd"`
			Ref   string `xml:"AcctSvcrRef"`
			Fmly  string `xml:"BkTxCd>Domn>Fmly>Cd"`
			Sub   string `xml:"BkTxCd>Domn>Fmly>SubFmlyCd"`
			E2E   string `xml:"NtryDtls>TxDtls>Refs>EndToEndId"`
			Dbtr  string `xml:"NtryDtls>TxDtls>RltdAgts>DbtrAgt>FinInstnId>BICFI"`
			Cdtr  string `xml:"NtryDtls>TxDtls>RltdAgts>CdtrAgt>FinInstnId>BICFI"`
			Info  string `xml:"AddtlNtryInf"`
			ValDt string `xml:"ValDt>Dt"`
		} `xml:"Ntry"`
	} `xml:"BkToCstmrStmt>Stmt"`
}

func ledgerTx(i int) string { return fmt.Sprintf("%064x", i/1000+1) } // a Fabric-like id per chunk of 1000

// spool writes every bank's statement of a cycle into dir and returns
// the files by bank.
func spool(t testing.TB, dir string, entries []settlement.Entry, res *settlement.Result) map[settlement.BIC]string {
	t.Helper()
	sp, err := camt053.NewSpool(t.TempDir(), "C2026-11-24", "2026-11-24", scheme)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for i := range entries {
		d, c := camt053.Sides(&entries[i], ledgerTx(i))
		if err := sp.Add(d); err != nil {
			t.Fatal(err)
		}
		if err := sp.Add(c); err != nil {
			t.Fatal(err)
		}
	}
	nets := map[settlement.BIC]map[settlement.Currency]decimal.Decimal{}
	for _, p := range res.Positions {
		if nets[p.Bank] == nil {
			nets[p.Bank] = map[settlement.Currency]decimal.Decimal{}
		}
		nets[p.Bank][p.Currency] = p.Net
	}
	files := map[settlement.BIC]string{}
	for _, bank := range sp.Banks() {
		file := filepath.Join(dir, string(bank)+"."+camt053.Name("C2026-11-24"))
		var b bytes.Buffer
		if err := sp.Write(&b, bank, created, nets[bank]); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		files[bank] = file
	}
	return files
}

func read(t testing.TB, file string) statement {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var s statement
	if err := xml.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStatementsValidAndExact: each bank's statement of a random cycle
// with reversals is valid against camt.053.001.08 (xmllint and our
// checker), carries every entry once with the contract's codes and
// exactly the currency's digits, and closes at the bank's net position.
func TestStatementsValidAndExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	entries, res := formatstest.RandomCycle(r, 5, 600)
	files := spool(t, t.TempDir(), entries, res)
	if len(files) != 5 {
		t.Fatalf("%d statements, want 5", len(files))
	}
	lines := 0
	for bank, file := range files {
		formatstest.WrittenValid(t, "camt.053.001.08", file)
		s := read(t, file)
		if s.MsgID != "C2026-11-24-"+string(bank) {
			t.Errorf("MsgId %q", s.MsgID)
		}
		for _, st := range s.Stmts {
			c, _ := settlement.ParseCurrency(st.Ccy)
			if st.ID != "C2026-11-24-"+string(bank)+"-"+st.Ccy || st.Acct != string(bank) || st.Svcr != string(scheme) {
				t.Errorf("%s: Stmt %q Acct %q Svcr %q", bank, st.ID, st.Acct, st.Svcr)
			}
			if len(st.Bal) != 2 || st.Bal[0].Cd != "OPBD" || st.Bal[1].Cd != "CLBD" || st.Bal[0].Dt != "2026-11-24" || st.Bal[1].Dt != "2026-11-24" {
				t.Fatalf("%s: balances %+v", st.ID, st.Bal)
			}
			if st.Bal[0].Amt.Value != settlement.FormatAmount(decimal.Zero, c) || st.Bal[0].Ind != "CRDT" {
				t.Errorf("%s: opening %+v", st.ID, st.Bal[0])
			}
			for _, n := range st.Ntry {
				lines++
				if !decimalsExact(n.Amt, c) {
					t.Errorf("%s: amount %q has not %d decimals", st.ID, n.Amt, c.MinorUnit())
				}
				wantFmly := map[string]string{"CRDT": "RCDT", "DBIT": "ICDT"}[n.Ind]
				wantSub := map[string]string{"": "DMCT", "true": "RRTN"}[n.Rvsl]
				if n.Fmly != wantFmly || n.Sub != wantSub || n.ValDt != "2026-11-24" || len(n.Ref) != 35 ||
					!strings.HasPrefix(n.Info, "ledger tx "+n.Ref) || (n.Ind == "CRDT") != (n.Dbtr != "") || (n.Dbtr == "") == (n.Cdtr == "") {
					t.Errorf("%s: entry %+v", st.ID, n)
				}
				if strings.HasPrefix(n.E2E, "R-") != (n.Rvsl == "true") {
					t.Errorf("%s: %s RvslInd %q", st.ID, n.E2E, n.Rvsl)
				}
			}
		}
	}
	if lines != 2*len(entries) {
		t.Errorf("%d statement lines for %d entries, want two each", lines, len(entries))
	}
}

func decimalsExact(s string, c settlement.Currency) bool {
	_, frac, ok := strings.Cut(s, ".")
	if c.MinorUnit() == 0 {
		return !ok
	}
	return ok && len(frac) == c.MinorUnit()
}

// TestClosingIsNetPosition is the property: across random cycles with
// reversals, every statement's closing balance (signed by CdtDbtInd) is
// the bank's net position, and the summary's credits minus debits too.
func TestClosingIsNetPosition(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		entries, res := formatstest.RandomCycle(r, 2+r.IntN(6), 1+r.IntN(300))
		files := spool(t, t.TempDir(), entries, res)
		want := map[string]decimal.Decimal{}
		for _, p := range res.Positions {
			want[string(p.Bank)+"/"+p.Currency.Code()] = p.Net
		}
		got := 0
		for bank, file := range files {
			for _, st := range read(t, file).Stmts {
				got++
				closing := signed(t, st.Bal[1].Amt.Value, st.Bal[1].Ind)
				summary := decimal.RequireFromString(st.Cdt.Sum).Sub(decimal.RequireFromString(st.Dbt.Sum))
				if n := want[string(bank)+"/"+st.Ccy]; !closing.Equal(n) || !summary.Equal(n) {
					t.Errorf("seed %d %s %s: closing %s, summary %s, net position %s", seed, bank, st.Ccy, closing, summary, n)
				}
				if int(st.Cdt.N+st.Dbt.N) != len(st.Ntry) {
					t.Errorf("seed %d %s: summary counts %d+%d, %d entries", seed, st.ID, st.Cdt.N, st.Dbt.N, len(st.Ntry))
				}
			}
		}
		if got != len(res.Positions) {
			t.Errorf("seed %d: %d statements, %d positions", seed, got, len(res.Positions))
		}
	}
}

func signed(t *testing.T, v, ind string) decimal.Decimal {
	d := decimal.RequireFromString(v)
	if ind == "DBIT" {
		return d.Neg()
	}
	return d
}

// TestClosingMismatchWritesNothing: a net position the entries do not add
// up to is a broken invariant, refused before a byte is written.
func TestClosingMismatchWritesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	entries, res := formatstest.RandomCycle(r, 3, 50)
	sp, err := camt053.NewSpool(t.TempDir(), "C2026-11-24", "2026-11-24", scheme)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for i := range entries {
		d, c := camt053.Sides(&entries[i], ledgerTx(i))
		sp.Add(d)
		sp.Add(c)
	}
	p := res.Positions[0]
	var b bytes.Buffer
	err = sp.Write(&b, p.Bank, created, map[settlement.Currency]decimal.Decimal{p.Currency: p.Net.Add(decimal.New(1, 0))})
	if !errors.Is(err, camt053.ErrClosing) || b.Len() != 0 {
		t.Fatalf("err %v, %d bytes written", err, b.Len())
	}
}

// TestAmountNeverRounded: an amount with more decimals than its currency
// is refused, not rounded.
func TestAmountNeverRounded(t *testing.T) {
	sp, err := camt053.NewSpool(t.TempDir(), "C2026-11-24", "2026-11-24", scheme)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	krw, _ := settlement.ParseCurrency("KRW")
	e := camt053.Entry{Bank: "BANKAAKR", Credit: true, ID: "P1", Amount: decimal.RequireFromString("10.5"), Currency: krw, Counterparty: "BANKABKR", LedgerTx: "tx1"}
	if err := sp.Add(e); err == nil {
		t.Fatal("10.5 KRW accepted")
	}
}
