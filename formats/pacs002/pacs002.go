// Package pacs002 writes the status report of the bank contract: the
// verdict on one payment file as an ISO 20022 pacs.002.001.10
// FIToFIPmtStsRpt (payment-files.md, "Status report"), beside the JSON
// acknowledgement and saying the same thing. It writes text only: the
// caller decides where the bytes go.
//
// Every report it writes is valid against the official pacs.002.001.10
// schema (its tests check each one with xmllint): texts are cut to the
// schema's lengths on character boundaries, identifiers the schema would
// refuse (longer than 35 characters) are left out where the element is
// optional, and a declared control sum the schema's DecimalNumber cannot
// hold (more than 18 digits, or more than 17 decimals) is left out too.
package pacs002

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Namespace is the status report's.
const Namespace = "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"

// Names of the original message (OrgnlMsgNmId).
const (
	MsgPacs008 = "pacs.008.001.08"
	MsgPacs007 = "pacs.007.001.09"
	MsgCSV     = "settle.csv"
)

// ProblemsMax is the most problems one report lists, as in the JSON ack;
// past it the caller reports TOO_MANY_ERRORS as a problem of its own, which
// closes the list (so a report says what the JSON ack says, problem for
// problem: at most ProblemsMax, then that one).
const ProblemsMax = 10000

// CodeTooMany is the problem that closes a list cut at ProblemsMax.
const CodeTooMany = "TOO_MANY_ERRORS"

// Report is the verdict on one file.
type Report struct {
	MsgID   string    // unique per report, 1-35 characters
	Created time.Time // GrpHdr/CreDtTm
	Scheme  string    // the scheme's BIC: InstgAgt
	Sender  string    // the file's sender: InstdAgt

	// The original, as the file declared it, where it could be read that
	// far: OrgnlMsgID is the file id, else the file name (cut to 35).
	OrgnlMsgID   string
	OrgnlMsgName string // MsgPacs008, MsgPacs007 or MsgCSV
	OrgnlCreated *time.Time
	OrgnlEntries *int64
	OrgnlCtrlSum *decimal.Decimal

	Accepted bool
	// Problems of a rejected file: those with an Entry belong to that
	// payment or reversal (TxInfAndSts), the others to the file.
	Problems []Problem
}

// Problem is one bad thing found, as the JSON ack lists it.
type Problem struct {
	Entry   string // payment_id or reversal_id where readable, else ""
	Line    int
	Code    string // our code (settlement.Code...)
	Message string
}

// ISOReason maps our codes to ISO 20022 ExternalStatusReason1Code
// (the contract's table); a code of ours not listed travels as Rsn/Prtry.
var ISOReason = map[string]string{
	"SIGNATURE_MISSING": "DS0A", "SIGNATURE_INVALID": "DS0B", "SIGNATURE_MALFORMED": "DS0B",
	"SIGNATURE_NO_KEY": "DS0E", "SENDER_NOT_UPLOADER": "DS0H", "XML_SYNTAX": "FF02",
	"SCHEMA": "FF01", "APP_HDR": "FF01", "XML_DOCUMENT": "FF01", "XML_ELEMENT": "FF01", "CSV_QUOTE": "FF01",
	"FIELD_COUNT": "FF01", "RECORD_TYPE": "FF01", "RECORD_ORDER": "FF01", "BLANK_LINE": "FF01",
	"LINE_TOO_LONG": "FF01", "HEADER_MISSING": "FF01", "TRAILER_MISSING": "FF01", "ENCODING": "FF01",
	"FILE_TOO_LARGE": "FF01", "HEADER_TOO_LARGE": "FF01", "TOO_MANY_RECORDS": "FF01",
	"UNSUPPORTED_FORMAT": "TD02", "FILE_EMPTY": "TD02", "FILE_READ": "TD02",
	"DUPLICATE_FILE": "DU01", "DUPLICATE_FILE_ID": "DU01", "DUPLICATE_PAYMENT_ID": "DU04",
	"FILE_ID": "CH16", "PAYMENT_ID": "CH16", "REASON_CODE": "CH16",
	"TIMESTAMP": "DT02", "DATE": "DT01", "DATE_MISMATCH": "DT01", "ENTRY_COUNT": "AM19",
	"AMOUNT": "AM12", "AMOUNT_SCALE": "AM12", "AMOUNT_ZERO": "AM01", "AMOUNT_TOO_LARGE": "AM02",
	"CURRENCY": "AM11", "BIC": "RC01", "UNKNOWN_BANK": "CNOR", "SELF_PAYMENT": "AG12",
	"REMITTANCE_INFO": "RR07", "ORIGINAL_UNKNOWN": "AG09", "ORIGINAL_NOT_SETTLED": "FF12",
	"ALREADY_REVERSED": "AM05", "TOO_MANY_ERRORS": "NARR", "CONTROL_SUM": "AM10",
}

// Errors of a report that cannot be written as asked.
var (
	ErrMsgID      = errors.New("status report: MsgId must be 1-35 characters")
	ErrBIC        = errors.New("status report: not a BIC")
	ErrMsgName    = errors.New("status report: unknown original message name")
	ErrOriginal   = errors.New("status report: the original needs an id")
	ErrAccepted   = errors.New("status report: an accepted file has no problems")
	ErrTooMany    = fmt.Errorf("status report: more than %d problems", ProblemsMax)
	ErrProblemRef = errors.New("status report: a problem needs a code")
)

var bicRe = regexp.MustCompile(`^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$`)

// Write writes r as one pacs.002.001.10 document.
func Write(w io.Writer, r Report) error {
	if err := r.check(); err != nil {
		return err
	}
	var b bytes.Buffer
	head(&b, r.MsgID, r.Created, r.Scheme, r.Sender, original{r.OrgnlMsgID, r.OrgnlMsgName, r.OrgnlCreated, r.OrgnlEntries, r.OrgnlCtrlSum})
	if r.Accepted {
		elem(&b, 6, "GrpSts", "ACTC")
	} else {
		elem(&b, 6, "GrpSts", "RJCT")
	}
	// Problems of the file itself, then one TxInfAndSts per bad entry, in
	// the order the file had them.
	var entries []string
	byEntry := map[string][]Problem{}
	for _, p := range r.Problems {
		if !validEntryID(p.Entry) {
			reason(&b, 6, p)
			continue
		}
		if _, seen := byEntry[p.Entry]; !seen {
			entries = append(entries, p.Entry)
		}
		byEntry[p.Entry] = append(byEntry[p.Entry], p)
	}
	b.WriteString("    </OrgnlGrpInfAndSts>\n")
	for _, e := range entries {
		b.WriteString("    <TxInfAndSts>\n")
		elem(&b, 6, "OrgnlEndToEndId", e)
		elem(&b, 6, "TxSts", "RJCT")
		for _, p := range byEntry[e] {
			reason(&b, 6, p)
		}
		b.WriteString("    </TxInfAndSts>\n")
	}
	b.WriteString("  </FIToFIPmtStsRpt>\n</Document>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// original is what a report gives back of the file, as it declared it.
type original struct {
	msgID, msgName string
	created        *time.Time
	entries        *int64
	ctrlSum        *decimal.Decimal
}

// head writes a status report's start, up to its group status: the group
// header and what the file declared (each where readable and within the
// schema's limits).
func head(b *bytes.Buffer, msgID string, created time.Time, scheme, sender string, o original) {
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<Document xmlns="` + Namespace + `">` + "\n  <FIToFIPmtStsRpt>\n")
	b.WriteString("    <GrpHdr>\n")
	elem(b, 6, "MsgId", msgID)
	elem(b, 6, "CreDtTm", created.Format(time.RFC3339))
	agent(b, "InstgAgt", scheme)
	agent(b, "InstdAgt", sender)
	b.WriteString("    </GrpHdr>\n    <OrgnlGrpInfAndSts>\n")
	elem(b, 6, "OrgnlMsgId", cut(o.msgID, 35))
	elem(b, 6, "OrgnlMsgNmId", o.msgName)
	if o.created != nil {
		elem(b, 6, "OrgnlCreDtTm", o.created.Format(time.RFC3339))
	}
	if o.entries != nil && *o.entries >= 0 && *o.entries <= 999_999_999_999_999 {
		elem(b, 6, "OrgnlNbOfTxs", strconv.FormatInt(*o.entries, 10))
	}
	if o.ctrlSum != nil && fitsDecimalNumber(*o.ctrlSum) {
		elem(b, 6, "OrgnlCtrlSum", o.ctrlSum.String())
	}
}

func (r Report) check() error {
	if n := utf8.RuneCountInString(r.MsgID); n < 1 || n > 35 || !utf8.ValidString(r.MsgID) {
		return ErrMsgID
	}
	if !bicRe.MatchString(r.Scheme) || !bicRe.MatchString(r.Sender) {
		return fmt.Errorf("%w: scheme %q, sender %q", ErrBIC, r.Scheme, r.Sender)
	}
	switch r.OrgnlMsgName {
	case MsgPacs008, MsgPacs007, MsgCSV:
	default:
		return fmt.Errorf("%w: %q", ErrMsgName, r.OrgnlMsgName)
	}
	if r.OrgnlMsgID == "" || !utf8.ValidString(r.OrgnlMsgID) {
		return ErrOriginal
	}
	if r.Accepted && len(r.Problems) > 0 {
		return ErrAccepted
	}
	if n := len(r.Problems); n > ProblemsMax+1 || n == ProblemsMax+1 && r.Problems[n-1].Code != CodeTooMany {
		return ErrTooMany
	}
	for _, p := range r.Problems {
		if p.Code == "" {
			return ErrProblemRef
		}
	}
	return nil
}

// validEntryID: an entry id the schema's Max35Text takes (the contract's
// ids are at most 35 characters; one that is not readable is reported as
// a problem of the file).
func validEntryID(s string) bool {
	n := utf8.RuneCountInString(s)
	return n >= 1 && n <= 35 && utf8.ValidString(s) && s == cleanText(s)
}

// fitsDecimalNumber: the schema's DecimalNumber, at most 18 digits of
// which at most 17 decimals, not negative here.
func fitsDecimalNumber(d decimal.Decimal) bool {
	if d.IsNegative() {
		return false
	}
	digits := len(d.Coefficient().String())
	frac := 0
	if e := d.Exponent(); e < 0 {
		frac = int(-e)
	}
	if frac > digits {
		digits = frac
	}
	return digits <= 18 && frac <= 17
}

func reason(b *bytes.Buffer, indent int, p Problem) {
	pad := spaces(indent)
	b.WriteString(pad + "<StsRsnInf>\n" + pad + "  <Rsn>")
	if cd, ok := ISOReason[p.Code]; ok {
		b.WriteString("<Cd>" + cd + "</Cd>")
	} else {
		b.WriteString("<Prtry>")
		escape(b, cut(p.Code, 35))
		b.WriteString("</Prtry>")
	}
	b.WriteString("</Rsn>\n")
	info := p.Code
	if p.Line > 0 {
		info += " line " + strconv.Itoa(p.Line)
	}
	info += ": " + p.Message
	elem(b, indent+2, "AddtlInf", cut(info, 105))
	b.WriteString(pad + "</StsRsnInf>\n")
}

func agent(b *bytes.Buffer, name, bic string) {
	b.WriteString("      <" + name + "><FinInstnId><BICFI>" + bic + "</BICFI></FinInstnId></" + name + ">\n")
}

func elem(b *bytes.Buffer, indent int, name, text string) {
	b.WriteString(spaces(indent) + "<" + name + ">")
	escape(b, text)
	b.WriteString("</" + name + ">\n")
}

func spaces(n int) string { return "                "[:n] }

// escape writes text as XML character data.
func escape(b *bytes.Buffer, s string) {
	xml.EscapeText(b, []byte(cleanText(s)))
}

// cleanText drops what XML 1.0 cannot carry (control characters other
// than tab, newline and carriage return; invalid UTF-8).
func cleanText(s string) string {
	ok := true
	for _, r := range s {
		if !xmlChar(r) {
			ok = false
			break
		}
	}
	if ok && utf8.ValidString(s) {
		return s
	}
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r != utf8.RuneError && xmlChar(r) {
			out = append(out, r)
		}
	}
	return string(out)
}

func xmlChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// cut shortens s to at most n characters, on a character boundary, after
// cleaning it; an empty result stays empty.
func cut(s string, n int) string {
	s = cleanText(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}
