package pacs007_test

import (
	"errors"
	"strings"
	"testing"

	"settle/formats"
	"settle/formats/formatstest"
	"settle/formats/pacs007"
	"settle/formats/xmlfile"
	"settle/settlement"
)

// format is Format 3, pacs.007 reversals, for the shared tests of
// formatstest.
var format = formatstest.Format{Ext: ".xml", Parse: pacs007.Parse}

// TestGolden runs every file of testdata/accepted and testdata/rejected
// through the parser and the rules, and compares with its .golden.json
// (go test -update rewrites them).
func TestGolden(t *testing.T) { format.RunGolden(t) }

// TestOneByteReads: the parser gives the same verdict however the reader
// splits the bytes.
func TestOneByteReads(t *testing.T) { format.OneByteReads(t) }

// The test corpus meets two independent readers: ours, and xmllint with
// the official schemas.
func TestCorpusAgreesWithXmllint(t *testing.T) { format.AgreesWithXmllint(t, "pacs.007.001.09", 25) }

// FuzzParse checks the parser's invariants on any input, seeded with every
// testdata file.
func FuzzParse(f *testing.F) { format.Fuzz(f) }

// A reversal reads as the CSV R record of the same reversal: the same
// entry, for the same rules.
func TestReversalRecord(t *testing.T) {
	rec := &formatstest.Recorder{}
	data := readFile(t, "testdata/accepted/whole_payment.xml")
	if err := pacs007.Parse(strings.NewReader(data), formats.Limits{}, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Problems) != 0 || len(rec.Headers) != 1 || len(rec.Entries) != 1 || len(rec.Trailers) != 1 {
		t.Fatalf("%+v", rec)
	}
	h, e, tr := rec.Headers[0], rec.Entries[0], rec.Trailers[0]
	if h.FileID != "R20261124-001" || h.Sender != "SHBKKRSE" || h.BusinessDate != "2026-11-24" {
		t.Errorf("header %+v", h)
	}
	if e.Kind != settlement.KindReversal || e.ID != "SH-R-1" || e.Original != "SH-1" || e.Debtor != "SHBKKRSE" ||
		e.Creditor != "CZNBKRSE" || e.Amount.String() != "90000" || e.Currency.Code() != "KRW" || e.Reason != "AM05" || e.Line != 1 {
		t.Errorf("entry %+v", e)
	}
	if e.Payer() != "CZNBKRSE" || e.Payee() != "SHBKKRSE" {
		t.Errorf("a reversal moves the money back: payer %s, payee %s", e.Payer(), e.Payee())
	}
	if tr.Count != 1 || tr.ControlSum.String() != "90000" || tr.NoControlSum {
		t.Errorf("trailer %+v", tr)
	}
}

// An *.xml file is read as whichever message its namespace names; the
// problems of the shared rules name the elements of that message.
func TestXMLFileByNamespace(t *testing.T) {
	member := formatstest.LoadMembers(t)
	any := formatstest.Format{Ext: ".xml", Parse: xmlfile.Parse}
	s, problems := any.Check(t, []byte(readFile(t, "testdata/rejected/debtor_not_sender.xml")), formats.Limits{}, member)
	if len(problems) != 1 || problems[0].Code != settlement.CodeDebtorNotSender || problems[0].Field != "OrgnlTxRef/DbtrAgt/FinInstnId/BICFI" {
		t.Errorf("pacs.007 through xmlfile: %v", problems)
	}
	if s.Count() != 1 {
		t.Errorf("%d entries", s.Count())
	}
	s, problems = any.Check(t, []byte(readFile(t, "../pacs008/testdata/accepted/two_payments.xml")), formats.Limits{}, member)
	if len(problems) != 0 || s.Count() != 2 {
		t.Errorf("pacs.008 through xmlfile: %d entries, %v", s.Count(), problems)
	}
	_, problems = any.Check(t, []byte(strings.Replace(readFile(t, "testdata/accepted/two_reversals.xml"), "pacs.007.001.09", "pacs.004.001.09", 1)), formats.Limits{}, member)
	if len(problems) != 1 || problems[0].Code != settlement.CodeFormat {
		t.Errorf("pacs.004: %v, want UNSUPPORTED_FORMAT", problems)
	}
}

// Parse returns an error only when the reader fails, and then it does.
func TestReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := formatstest.FailingReader(`<?xml version="1.0"?><Document xmlns="`+pacs007.Namespace+`"><FIToFIPmtRvsl><GrpHdr><MsgId>R1`, boom)
	if err := pacs007.Parse(r, formats.Limits{}, &formatstest.Recorder{}); !errors.Is(err, boom) {
		t.Fatalf("err %v, want %v", err, boom)
	}
}

// Every element of a pacs.007, repeated: refused with SCHEMA where the
// schema allows it once, as xmllint refuses it.
func TestEveryElementTwice(t *testing.T) {
	tried, once := format.EveryElementTwice(t, "testdata/accepted/whole_payment.xml", "pacs.007.001.09")
	t.Logf("%d elements repeated, %d of them allowed once", tried, once)
	if once < 15 {
		t.Fatalf("only %d elements the schema allows once were tried", once)
	}
}
