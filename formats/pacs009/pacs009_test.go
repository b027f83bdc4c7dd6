package pacs009_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/formats/formatstest"
	"settle/formats/pacs009"
	"settle/settlement"
)

const scheme = settlement.BIC("SETLKRSE")

type doc struct {
	MsgID   string `xml:"FICdtTrf>GrpHdr>MsgId"`
	NbOfTxs int    `xml:"FICdtTrf>GrpHdr>NbOfTxs"`
	CtrlSum string `xml:"FICdtTrf>GrpHdr>CtrlSum"`
	Date    string `xml:"FICdtTrf>GrpHdr>IntrBkSttlmDt"`
	Instd   string `xml:"FICdtTrf>GrpHdr>InstdAgt>FinInstnId>BICFI"`
	Tx      []struct {
		E2E  string `xml:"PmtId>EndToEndId"`
		UETR string `xml:"PmtId>UETR"`
		Amt  struct {
			Ccy   string `xml:"Ccy,attr"`
			Value string `xml:",chardata"`
		} `xml:"IntrBkSttlmAmt"`
		Dbtr     string `xml:"Dbtr>FinInstnId>BICFI"`
		DbtrAcct string `xml:"DbtrAcct>Id>Othr>Id"`
		Cdtr     string `xml:"Cdtr>FinInstnId>BICFI"`
		CdtrAcct string `xml:"CdtrAcct>Id>Othr>Id"`
	} `xml:"FICdtTrf>CdtTrfTxInf"`
}

func agent(positions []settlement.Position) pacs009.Agent {
	a := pacs009.Agent{BIC: "BOKRKRSE", SchemeAccount: "SETTLE-SETTLEMENT-01", Accounts: map[settlement.BIC]string{}}
	for _, p := range positions {
		a.Accounts[p.Bank] = "RTGS-" + string(p.Bank)
	}
	return a
}

func byCurrency(ps []settlement.Position) map[settlement.Currency][]settlement.Position {
	out := map[settlement.Currency][]settlement.Position{}
	for _, p := range ps {
		out[p.Currency] = append(out[p.Currency], p)
	}
	return out
}

var uetrRe = regexp.MustCompile(`^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}$`)

// TestInstructionsBalance is the property: across random cycles with
// reversals, each currency's instructions are valid pacs.009.001.08 (our
// checker on every one, xmllint on the first cycle's), pay exactly each
// bank's net position between its account and the scheme's, and sum to
// zero: the debits of the settlement account equal its credits.
func TestInstructionsBalance(t *testing.T) {
	seen := map[string]bool{}
	for seed := uint64(0); seed < 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		_, res := formatstest.RandomCycle(r, 2+r.IntN(8), 1+r.IntN(400))
		ag := agent(res.Positions)
		for c, ps := range byCurrency(res.Positions) {
			ins, err := pacs009.Instructions("C2026-11-24", c, ps)
			if errors.Is(err, pacs009.ErrNothing) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			m := pacs009.Message{MsgID: pacs009.MsgID("C2026-11-24", c), Created: time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC),
				BusinessDate: "2026-11-24", Scheme: scheme, Agent: ag, Currency: c, Instructions: ins}
			if err := pacs009.Write(&b, m); err != nil {
				t.Fatal(err)
			}
			if seed == 0 {
				formatstest.WrittenValidBytes(t, "pacs.009.001.08", b.Bytes())
			} else if v := formatstest.SchemaViolations(t, "pacs.009.001.08", bytes.NewReader(b.Bytes())); len(v) > 0 {
				t.Fatalf("seed %d %s: %v", seed, c, v)
			}
			var d doc
			if err := xml.Unmarshal(b.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			net := map[settlement.BIC]decimal.Decimal{}
			for _, p := range ps {
				net[p.Bank] = p.Net
			}
			var schemeIn, schemeOut, total decimal.Decimal
			for _, tx := range d.Tx {
				amt := decimal.RequireFromString(tx.Amt.Value)
				total = total.Add(amt)
				if _, frac, _ := strings.Cut(tx.Amt.Value, "."); len(frac) != c.MinorUnit() || tx.Amt.Ccy != c.Code() {
					t.Errorf("amount %+v", tx.Amt)
				}
				if !uetrRe.MatchString(tx.UETR) || seen[tx.UETR+string(rune(seed))] {
					t.Errorf("UETR %q", tx.UETR)
				}
				seen[tx.UETR+string(rune(seed))] = true
				var bank settlement.BIC
				switch {
				case tx.Cdtr == string(scheme) && tx.CdtrAcct == ag.SchemeAccount:
					bank = settlement.BIC(tx.Dbtr)
					schemeIn = schemeIn.Add(amt)
					if n := net[bank]; !n.Neg().Equal(amt) || tx.DbtrAcct != ag.Accounts[bank] {
						t.Errorf("%s pays in %s, net %s", bank, amt, n)
					}
				case tx.Dbtr == string(scheme) && tx.DbtrAcct == ag.SchemeAccount:
					bank = settlement.BIC(tx.Cdtr)
					schemeOut = schemeOut.Add(amt)
					if n := net[bank]; !n.Equal(amt) || tx.CdtrAcct != ag.Accounts[bank] {
						t.Errorf("%s paid out %s, net %s", bank, amt, n)
					}
				default:
					t.Fatalf("a transfer not to or from the settlement account: %+v", tx)
				}
				if tx.E2E != "C2026-11-24:"+string(bank)+":"+c.Code() || tx.UETR != pacs009.UETR(tx.E2E) {
					t.Errorf("EndToEndId %q UETR %q", tx.E2E, tx.UETR)
				}
				delete(net, bank)
			}
			for bank, n := range net {
				if !n.IsZero() {
					t.Errorf("%s %s: net %s and no transfer", bank, c, n)
				}
			}
			if !schemeIn.Equal(schemeOut) || !decimal.RequireFromString(d.CtrlSum).Equal(total) || d.NbOfTxs != len(d.Tx) {
				t.Errorf("seed %d %s: in %s out %s, CtrlSum %s of %s", seed, c, schemeIn, schemeOut, d.CtrlSum, total)
			}
		}
	}
}

// TestUnbalancedRefused: positions that do not sum to zero give no
// instructions, and a hand-made unbalanced message is not written.
func TestUnbalancedRefused(t *testing.T) {
	krw, _ := settlement.ParseCurrency("KRW")
	ps := []settlement.Position{{Bank: "BANKAAKR", Currency: krw, Net: decimal.New(-100, 0)}, {Bank: "BANKABKR", Currency: krw, Net: decimal.New(99, 0)}}
	if _, err := pacs009.Instructions("C1", krw, ps); !errors.Is(err, pacs009.ErrUnbalanced) {
		t.Fatalf("Instructions: %v", err)
	}
	ins := []pacs009.Instruction{{Cycle: "C1", Bank: "BANKAAKR", Currency: krw, Amount: decimal.New(100, 0), PayIn: true},
		{Cycle: "C1", Bank: "BANKABKR", Currency: krw, Amount: decimal.New(99, 0)}}
	var b bytes.Buffer
	err := pacs009.Write(&b, pacs009.Message{MsgID: "C1-KRW", Created: time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC), BusinessDate: "2026-11-24", Scheme: scheme, Agent: agent(ps), Currency: krw, Instructions: ins})
	if !errors.Is(err, pacs009.ErrUnbalanced) || b.Len() != 0 {
		t.Fatalf("Write: %v, %d bytes", err, b.Len())
	}
	if _, err := pacs009.Instructions("C1", krw, []settlement.Position{{Bank: "BANKAAKR", Currency: krw}}); !errors.Is(err, pacs009.ErrNothing) {
		t.Fatalf("all zero: %v", err)
	}
}
