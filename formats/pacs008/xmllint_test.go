package pacs008_test

import "testing"

// The test corpus meets two independent readers: ours, and xmllint with
// the official schemas (see formatstest.Format.AgreesWithXmllint).
func TestCorpusAgreesWithXmllint(t *testing.T) { format.AgreesWithXmllint(t, "pacs.008.001.08", 40) }

// Every element of a pacs.008, repeated: refused with SCHEMA where the
// schema allows it once, as xmllint refuses it.
func TestEveryElementTwice(t *testing.T) {
	tried, once := format.EveryElementTwice(t, "testdata/accepted/cbpr_mixed.xml", "pacs.008.001.08")
	t.Logf("%d elements repeated, %d of them allowed once", tried, once)
	if once < 20 {
		t.Fatalf("only %d elements the schema allows once were tried", once)
	}
}
