// Package isowrite is what the scheme's ISO 20022 writers (camt053,
// pacs009, the settlement confirmations of pacs002) share: a buffered
// writer that keeps its first error, escapes every text it is given and
// indents elements, and the amount rules of the contract: exactly the
// currency's minor-unit digits, never rounded, and within the schemas'
// totalDigits (18).
package isowrite

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// Errors of a value the schemas cannot carry; the writers refuse them
// rather than write an invalid document.
var (
	ErrAmountScale  = errors.New("amount has more decimals than its currency allows")
	ErrAmountDigits = errors.New("amount has more than the schema's 18 digits")
	ErrAmountSign   = errors.New("amount must not be negative")
	ErrText         = errors.New("text the schema cannot carry")
)

// Amount writes d with exactly c's minor-unit digits. It never rounds:
// an amount with more decimals than the currency has is an error, and so
// is one the schemas' ActiveOrHistoricCurrencyAndAmount (totalDigits 18)
// cannot hold, or a negative one (amounts in ISO 20022 carry no sign).
func Amount(d decimal.Decimal, c settlement.Currency) (string, error) {
	if d.IsNegative() {
		return "", fmt.Errorf("%s %s: %w", d, c, ErrAmountSign)
	}
	if !c.Valid() {
		return "", fmt.Errorf("currency %d: %w", c, settlement.ErrCurrency)
	}
	if !d.Round(int32(c.MinorUnit())).Equal(d) {
		return "", fmt.Errorf("%s %s: %w", d, c, ErrAmountScale)
	}
	s := settlement.FormatAmount(d, c)
	if Digits(s) > 18 {
		return "", fmt.Errorf("%s %s: %w", s, c, ErrAmountDigits)
	}
	return s, nil
}

// Digits counts the digits of a decimal's value as XSD's totalDigits
// does: leading zeros of the integer part and trailing zeros of the
// fraction do not count.
func Digits(s string) int {
	s = strings.TrimLeft(s, "+-")
	i, f, _ := strings.Cut(s, ".")
	return len(strings.TrimLeft(i, "0")) + len(strings.TrimRight(f, "0"))
}

// Writer writes indented XML elements; after the first error it writes
// nothing more and Err reports that error.
type Writer struct {
	w   *bufio.Writer
	err error
}

// New writes to w through a buffer; Flush ends it.
func New(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 32<<10)} }

// Over writes into a buffer the caller keeps (one per spooled statement,
// reused for every entry: no buffer per element).
func Over(b *bufio.Writer) *Writer { return &Writer{w: b} }

// Err is the first error met.
func (w *Writer) Err() error { return w.err }

// Fail records err as the writer's error unless one is recorded already.
func (w *Writer) Fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Raw writes s as it stands (markup the caller built).
func (w *Writer) Raw(s string) {
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

// RawBytes writes b as it stands.
func (w *Writer) RawBytes(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

// Copy copies r as it stands (entries spooled earlier).
func (w *Writer) Copy(r io.Reader) {
	if w.err == nil {
		_, w.err = io.Copy(w.w, r)
	}
}

const pad = "                                                                "

// Open writes <name> on a line of its own, indented by depth.
func (w *Writer) Open(depth int, name string) { w.Raw(pad[:2*depth] + "<" + name + ">\n") }

// Close writes </name> on a line of its own.
func (w *Writer) Close(depth int, name string) { w.Raw(pad[:2*depth] + "</" + name + ">\n") }

// Elem writes <name>text</name>, the text escaped. Text XML cannot carry
// (control characters, invalid UTF-8) or longer than max characters (0:
// no limit) is an error: the writers write identifiers the scheme made,
// and one that does not fit is a bug to stop on, not to cut.
func (w *Writer) Elem(depth int, name, text string, max int) {
	if w.err != nil {
		return
	}
	if !Clean(text) || (max > 0 && utf8.RuneCountInString(text) > max) || text == "" {
		w.Fail(fmt.Errorf("%s %q: %w", name, text, ErrText))
		return
	}
	w.Raw(pad[:2*depth])
	w.Raw("<")
	w.Raw(name)
	w.Raw(">")
	if strings.ContainsAny(text, "&<>\"'\r\n\t") {
		var b strings.Builder
		xml.EscapeText(&b, []byte(text))
		w.Raw(b.String())
	} else {
		w.Raw(text)
	}
	w.Raw("</")
	w.Raw(name)
	w.Raw(">\n")
}

// Amt writes <name Ccy="CUR">amount</name> with Amount's rules.
func (w *Writer) Amt(depth int, name string, d decimal.Decimal, c settlement.Currency) {
	s, err := Amount(d, c)
	if err != nil {
		w.Fail(fmt.Errorf("%s: %w", name, err))
		return
	}
	w.Raw(pad[:2*depth])
	w.Raw("<")
	w.Raw(name)
	w.Raw(` Ccy="`)
	w.Raw(c.Code())
	w.Raw(`">`)
	w.Raw(s)
	w.Raw("</")
	w.Raw(name)
	w.Raw(">\n")
}

// Agent writes <name><FinInstnId><BICFI>bic</BICFI></FinInstnId></name>.
func (w *Writer) Agent(depth int, name string, bic settlement.BIC) {
	if _, err := settlement.ParseBIC(string(bic)); err != nil {
		w.Fail(fmt.Errorf("%s: %w", name, err))
		return
	}
	w.Raw(pad[:2*depth])
	w.Raw("<")
	w.Raw(name)
	w.Raw("><FinInstnId><BICFI>")
	w.Raw(string(bic))
	w.Raw("</BICFI></FinInstnId></")
	w.Raw(name)
	w.Raw(">\n")
}

// Flush writes out what is buffered and reports the first error.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// Clean tells whether XML 1.0 can carry s as it stands.
func Clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !(r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)) {
			return false
		}
	}
	return true
}

// Declaration is the XML declaration every writer starts with.
const Declaration = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
