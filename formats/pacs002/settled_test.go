package pacs002_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"settle/formats/formatstest"
	"settle/formats/pacs002"
)

const ledgerTx = "9f2c4a7b1e0d3c6f8a5b2e9d4c7f1a3b6e8d0c2f5a7b9e1d3c6f8a0b2e4d6c8f" // 64 hex, as Fabric's

func settledCases() map[string]pacs002.Settled {
	n := int64(3)
	base := pacs002.Settled{MsgID: "S-C2026-11-24-F1", Created: time.Date(2026, 11, 24, 19, 0, 0, 0, time.UTC), Scheme: "SETLKRSE", Sender: "SHBKKRSE",
		OrgnlMsgID: "F20261124-001", OrgnlMsgName: pacs002.MsgCSV, OrgnlEntries: &n}
	acsc := base
	acsc.Status, acsc.Cycle, acsc.LedgerTx = pacs002.StatusSettled, "C2026-11-24", ledgerTx
	pdng := base
	pdng.OrgnlMsgName, pdng.Status, pdng.Cycle = pacs002.MsgPacs008, pacs002.StatusPending, "C2026-11-25"
	part := acsc
	part.OrgnlMsgName, part.Status = pacs002.MsgPacs007, pacs002.StatusPartial
	part.Deferred = []pacs002.DeferredPayment{{ID: "SH-000002", Cycle: "C2026-11-25"}, {ID: "SH/000009", Cycle: "C2026-11-26"}}
	// A later cycle's confirmation of carried payments: settled now, and
	// some deferred again.
	later := acsc
	later.Carried = []string{"SH-000004", "SH-000005"}
	laterPart := part
	laterPart.Carried = []string{"SH-000004"}
	return map[string]pacs002.Settled{"ACSC": acsc, "PDNG": pdng, "PART": part, "ACSC carried": later, "PART carried": laterPart}
}

// TestSettledConfirmations: ACSC names the ledger transaction, PDNG the
// cycle the file moved to, PART each deferred payment; each is valid
// pacs.002.001.10 (xmllint and isoschema).
func TestSettledConfirmations(t *testing.T) {
	for name, s := range settledCases() {
		var b bytes.Buffer
		if err := pacs002.WriteSettled(&b, s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		formatstest.WrittenValidBytes(t, "pacs.002.001.10", b.Bytes())
		var d struct {
			GrpSts string `xml:"FIToFIPmtStsRpt>OrgnlGrpInfAndSts>GrpSts"`
			Info   string `xml:"FIToFIPmtStsRpt>OrgnlGrpInfAndSts>StsRsnInf>AddtlInf"`
			TxRaw  []struct {
				ID   string `xml:"OrgnlEndToEndId"`
				Sts  string `xml:"TxSts"`
				Info string `xml:"StsRsnInf>AddtlInf"`
			} `xml:"FIToFIPmtStsRpt>TxInfAndSts"`
		}
		if err := xml.Unmarshal(b.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		if d.GrpSts != s.Status {
			t.Errorf("%s: GrpSts %q", name, d.GrpSts)
		}
		switch s.Status {
		case "ACSC", "PART":
			if d.Info != "settled in C2026-11-24 ledger tx "+ledgerTx {
				t.Errorf("%s: AddtlInf %q", name, d.Info)
			}
		case "PDNG":
			if d.Info != "deferred to C2026-11-25" {
				t.Errorf("%s: AddtlInf %q", name, d.Info)
			}
		}
		// The carried payments settled now (ACSC), then the deferred (PDNG).
		if len(d.TxRaw) != len(s.Carried)+len(s.Deferred) {
			t.Fatalf("%s: %d TxInfAndSts", name, len(d.TxRaw))
		}
		for i, tx := range d.TxRaw {
			if i < len(s.Carried) {
				if tx.ID != s.Carried[i] || tx.Sts != "ACSC" || tx.Info != "settled in C2026-11-24 ledger tx "+ledgerTx {
					t.Errorf("%s: %+v", name, tx)
				}
				continue
			}
			k := i - len(s.Carried)
			if tx.ID != s.Deferred[k].ID || tx.Sts != "PDNG" || !strings.HasSuffix(tx.Info, s.Deferred[k].Cycle) {
				t.Errorf("%s: %+v", name, tx)
			}
		}
	}
}

// TestSettledRefusesWhatDoesNotHoldTogether: a status without what it
// names is refused, not written.
func TestSettledRefusesWhatDoesNotHoldTogether(t *testing.T) {
	c := settledCases()
	bad := []pacs002.Settled{c["ACSC"], c["PDNG"], c["PART"], c["ACSC"], c["PDNG"], c["ACSC carried"], c["ACSC carried"]}
	bad[0].LedgerTx = ""
	bad[1].LedgerTx = ledgerTx
	bad[2].Deferred = nil
	bad[3].Status = "ACCP"
	bad[4].Carried = []string{"SH-000004"}                                               // a deferred file settled nothing
	bad[5].Carried = []string{strings.Repeat("S", 36)}                                   // longer than Max35Text
	bad[6].Deferred = []pacs002.DeferredPayment{{ID: "SH-000005", Cycle: "C2026-11-25"}} // ACSC with a deferral is PART
	for i, s := range bad {
		var b bytes.Buffer
		if err := pacs002.WriteSettled(&b, s); !errors.Is(err, pacs002.ErrStatus) || b.Len() > 0 {
			t.Errorf("case %d: %v, %d bytes", i, err, b.Len())
		}
	}
}
