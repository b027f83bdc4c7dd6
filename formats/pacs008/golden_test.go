package pacs008_test

import (
	"errors"
	"testing"

	"settle/formats"
	"settle/formats/formatstest"
	"settle/formats/pacs008"
)

// format is Format 2, pacs.008, for the shared tests of formatstest. The
// reader names the fields of the shared rules' problems as pacs.008 does.
var format = formatstest.Format{Ext: ".xml", Parse: pacs008.Parse}

// check parses data as a pacs.008 payment file and runs the spec's rules.
var check = format.Check

// TestGolden runs every file of testdata/accepted and testdata/rejected
// through the parser and the rules, and compares with its .golden.json
// (go test -update rewrites them).
func TestGolden(t *testing.T) { format.RunGolden(t) }

// TestOneByteReads: the parser gives the same verdict however the reader
// splits the bytes.
func TestOneByteReads(t *testing.T) { format.OneByteReads(t) }

// TestReaderError: Parse returns an error only when the reader fails, and
// then it does.
func TestReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := formatstest.FailingReader("<?xml version=\"1.0\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08\"><FIToFICstmrCdtTrf><GrpHdr><MsgId>F1", boom)
	err := pacs008.Parse(r, formats.Limits{}, &formatstest.Recorder{})
	if !errors.Is(err, boom) {
		t.Errorf("Parse on a failing reader = %v, want %v", err, boom)
	}
}
