package main

import (
	"bytes"
	"strings"
	"testing"
)

// ledgerDryRun is the chaincode's answer to ResolveCycle(C2026-11-24,
// dry-run) in ledger/chaincode's TestGridlockCascade: A's cap defers A2,
// which puts B over its cap and defers B1.
const ledgerDryRun = `{"cycleId":"C2026-11-24","outcome":"dry_run","positions":[{"bank":"AAAAKRSE","currency":"KRW","net":"-50"},{"bank":"CCCCKRSE","currency":"KRW","net":"50"},{"bank":"DDDDKRSE","currency":"KRW","net":"-10"},{"bank":"EEEEKRSE","currency":"KRW","net":"10"}],"resolution":{"cycleId":"C2026-11-24","carriedIn":0,"entries":4,"settled":2,"banks":[{"bank":"AAAAKRSE","currency":"KRW","cap":"70","net":"-110","settledNet":"-50","amount":"60","count":1},{"bank":"BBBBKRSE","currency":"KRW","cap":"30","net":"-20","settledNet":"0","amount":"80","count":1}],"deferred":[{"sender":"AAAAKRSE","id":"A2","kind":"P","debtor":"AAAAKRSE","creditor":"BBBBKRSE","amount":"60","currency":"KRW","priority":"NORM","firstCycle":"C2026-11-24","times":1},{"sender":"BBBBKRSE","id":"B1","kind":"P","debtor":"BBBBKRSE","creditor":"DDDDKRSE","amount":"80","currency":"KRW","priority":"NORM","firstCycle":"C2026-11-24","times":1}],"txId":"tx0020"}}`

func TestPrintLedgerResolution(t *testing.T) {
	var b bytes.Buffer
	if err := printLedgerResolution(&b, "C2026-11-24", []byte(ledgerDryRun), "text"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"cycle C2026-11-24: 2 of 4 entries would settle, 2 deferred to the next cycle",
		"AAAAKRSE  KRW       70   -110  -50          60        1",
		"BBBBKRSE  KRW       30   -20   0            80        1",
		"AAAAKRSE/A2", "BBBBKRSE/B1  P",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	b.Reset()
	if err := printLedgerResolution(&b, "C2026-11-25", []byte(`{"cycleId":"C2026-11-25","positions":[]}`), "text"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "nothing would be deferred") {
		t.Errorf("no deferral: %s", b.String())
	}
	b.Reset()
	if err := printLedgerResolution(&b, "C2026-11-24", []byte(ledgerDryRun), "json"); err != nil || strings.TrimSpace(b.String()) != ledgerDryRun {
		t.Errorf("json is the ledger's answer as it is: %v", err)
	}
}
