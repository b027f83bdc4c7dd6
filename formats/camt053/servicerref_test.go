package camt053_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"settle/formats/camt053"
	"settle/formats/formatstest"
	"settle/settlement"
)

// TestServicerRefContract: the contract's AcctSvcrRef is the ledger
// transaction, and the schema allows it 35 characters. Our decision
// (README, "Additions to the bank contract"): AcctSvcrRef holds the
// transaction id's first 35 characters, the whole id where it is no
// longer, and AddtlNtryInf is exactly "ledger tx <whole id>". Two ids that
// share their first 35 characters are told apart by AddtlNtryInf alone.
// Every statement written is valid camt.053.001.08 (xmllint and ours).
func TestServicerRefContract(t *testing.T) {
	fabric := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	twin := fabric("a")[:40] + strings.Repeat("0", 24) // shares its first 35 with fabric("a")
	cases := []struct{ tx, ref string }{
		{fabric("a"), fabric("a")[:35]},
		{twin, fabric("a")[:35]},
		{fabric("b"), fabric("b")[:35]},
		{strings.Repeat("7", 35), strings.Repeat("7", 35)},
		{strings.Repeat("8", 36), strings.Repeat("8", 35)},
		{"tx0001", "tx0001"},
	}
	for _, c := range cases {
		if got := camt053.ServicerRef(c.tx); got != c.ref {
			t.Errorf("ServicerRef(%s) = %s, want %s", c.tx, got, c.ref)
		}
		if got := camt053.LedgerTxInfo(c.tx); got != "ledger tx "+c.tx {
			t.Errorf("LedgerTxInfo(%s) = %s", c.tx, got)
		}
	}

	const payer, payee = settlement.BIC("SHBKKRSE"), settlement.BIC("CZNBKRSE")
	krw, _ := settlement.ParseCurrency("KRW")
	sp, err := camt053.NewSpool(t.TempDir(), "C2026-11-24", "2026-11-24", scheme)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	total := decimal.Zero
	for i, c := range cases {
		e := settlement.Entry{Line: i + 1, Kind: settlement.KindPayment, ID: fmt.Sprintf("P-%d", i), Debtor: payer, Creditor: payee,
			Amount: decimal.NewFromInt(int64(100 + i)), Currency: krw}
		total = total.Add(e.Amount)
		d, cr := camt053.Sides(&e, c.tx)
		if err := sp.Add(d); err != nil {
			t.Fatal(err)
		}
		if err := sp.Add(cr); err != nil {
			t.Fatal(err)
		}
	}
	nets := map[settlement.BIC]decimal.Decimal{payer: total.Neg(), payee: total}
	for _, bank := range []settlement.BIC{payer, payee} {
		file := filepath.Join(t.TempDir(), camt053.Name("C2026-11-24"))
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.Write(f, bank, created, map[settlement.Currency]decimal.Decimal{krw: nets[bank]}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		formatstest.WrittenValid(t, "camt.053.001.08", file)
		raw, _ := os.ReadFile(file)
		var doc struct {
			Ntry []struct {
				Ref  string `xml:"AcctSvcrRef"`
				Info string `xml:"AddtlNtryInf"`
				E2E  string `xml:"NtryDtls>TxDtls>Refs>EndToEndId"`
			} `xml:"BkToCstmrStmt>Stmt>Ntry"`
		}
		if err := xml.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Ntry) != len(cases) {
			t.Fatalf("%s: %d entries, want %d", bank, len(doc.Ntry), len(cases))
		}
		infos := map[string]bool{}
		for _, n := range doc.Ntry {
			var i int
			fmt.Sscanf(n.E2E, "P-%d", &i)
			c := cases[i]
			if n.Ref != c.ref || n.Info != "ledger tx "+c.tx || len(n.Ref) > 35 || !strings.HasPrefix(c.tx, n.Ref) {
				t.Errorf("%s %s: AcctSvcrRef %q AddtlNtryInf %q, want %q and the whole %q", bank, n.E2E, n.Ref, n.Info, c.ref, c.tx)
			}
			infos[n.Info] = true
		}
		if len(infos) != len(cases) {
			t.Errorf("%s: %d distinct AddtlNtryInf for %d transactions", bank, len(infos), len(cases))
		}
	}
}
