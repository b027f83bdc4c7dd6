package csvfile

import (
	"strconv"

	"settle/settlement"
)

// Field counts of each record kind (P may omit remittance_info).
const (
	headerFields   = 5
	paymentMin     = 6
	paymentMax     = 7
	reversalFields = 8
	trailerFields  = 3
)

func (p *parser) record(line int) {
	f := p.fields
	if len(f[0]) != 1 {
		p.problem(line, "record_type", settlement.CodeRecordType, "record type %q is not H, P, R or T", clip(f[0]))
		return
	}
	switch f[0][0] {
	case 'H':
		p.headerRecord(line)
	case 'P', 'R':
		p.entryRecord(line)
	case 'T':
		p.trailerRecord(line)
	default:
		p.problem(line, "record_type", settlement.CodeRecordType, "record type %q is not H, P, R or T", clip(f[0]))
	}
}

func (p *parser) headerRecord(line int) {
	if p.sawH {
		p.problem(line, "", settlement.CodeRecordOrder, "second H record; a file has exactly one, on its first line")
		return
	}
	if p.records != 1 {
		p.problem(line, "", settlement.CodeRecordOrder, "H record is not the first record")
	}
	p.sawH = true
	f := p.fields
	if len(f) != headerFields {
		p.problem(line, "", settlement.CodeFieldCount, "H record has %d fields, wants %d: H,<file_id>,<sender_bic>,<business_date>,<created_at>", len(f), headerFields)
		p.sink.Header(&settlement.Header{Line: line}, false)
		return
	}
	h := settlement.Header{Line: line}
	ok := true
	if settlement.ValidFileID(f[1]) {
		h.FileID = string(f[1])
	} else {
		p.problem(line, "file_id", settlement.CodeFileID, "%q: %v", clip(f[1]), settlement.ErrFileID)
		ok = false
	}
	if b, err := p.bics.Parse(f[2]); err == nil {
		h.Sender = b
	} else {
		p.problem(line, "sender_bic", settlement.CodeBIC, "%v", err)
		ok = false
	}
	if d, err := settlement.ParseDate(string(f[3])); err == nil {
		h.BusinessDate = d
	} else {
		p.problem(line, "business_date", settlement.CodeDate, "%v", err)
		ok = false
	}
	if t, err := settlement.ParseTimestamp(string(f[4])); err == nil {
		h.CreatedAt = t
	} else {
		p.problem(line, "created_at", settlement.CodeTimestamp, "%v", err)
		ok = false
	}
	p.header = h
	p.sink.Header(&h, ok)
}

func (p *parser) entryRecord(line int) {
	f := p.fields
	kind := settlement.Kind(f[0][0])
	if !p.sawH {
		p.problem(line, "", settlement.CodeRecordOrder, "%c record before the H record", kind)
	} else if p.sawT {
		p.problem(line, "", settlement.CodeRecordOrder, "%c record after the T record", kind)
	}
	e := &p.entry
	*e = settlement.Entry{Line: line, Kind: kind}
	ok := true
	if kind == settlement.KindPayment {
		if len(f) < paymentMin || len(f) > paymentMax {
			p.problem(line, "", settlement.CodeFieldCount, "P record has %d fields, wants 6 or 7: P,<payment_id>,<debtor_bic>,<creditor_bic>,<amount>,<currency>[,<remittance_info>]", len(f))
			p.sink.Entry(e, false)
			return
		}
		ok = p.id(line, "payment_id", f[1], &e.ID) && ok
		ok = p.bic(line, "debtor_bic", f[2], &e.Debtor) && ok
		ok = p.bic(line, "creditor_bic", f[3], &e.Creditor) && ok
		ok = p.money(line, f[4], f[5], e) && ok
		if len(f) == paymentMax && len(f[6]) > 0 {
			if settlement.ValidRemittance(f[6]) {
				e.Remittance = string(f[6])
			} else {
				p.problem(line, "remittance_info", settlement.CodeRemittance, "%v", settlement.ErrRemittance)
				ok = false
			}
		}
	} else {
		if len(f) != reversalFields {
			p.problem(line, "", settlement.CodeFieldCount, "R record has %d fields, wants 8: R,<reversal_id>,<original_payment_id>,<original_debtor_bic>,<original_creditor_bic>,<amount>,<currency>,<reason_code>", len(f))
			p.sink.Entry(e, false)
			return
		}
		ok = p.id(line, "reversal_id", f[1], &e.ID) && ok
		ok = p.id(line, "original_payment_id", f[2], &e.Original) && ok
		ok = p.bic(line, "original_debtor_bic", f[3], &e.Debtor) && ok
		ok = p.bic(line, "original_creditor_bic", f[4], &e.Creditor) && ok
		ok = p.money(line, f[5], f[6], e) && ok
		if r, err := settlement.ParseReason(f[7]); err == nil {
			e.Reason = r
		} else {
			p.problem(line, "reason_code", settlement.CodeReason, "%v", err)
			ok = false
		}
	}
	p.sink.Entry(e, ok && p.sawH && !p.sawT)
}

func (p *parser) id(line int, field string, b []byte, dst *string) bool {
	if !settlement.ValidPaymentID(b) {
		p.problem(line, field, settlement.CodePaymentID, "%q: %v", clip(b), settlement.ErrPaymentID)
		return false
	}
	*dst = string(b)
	return true
}

func (p *parser) bic(line int, field string, b []byte, dst *settlement.BIC) bool {
	v, err := p.bics.Parse(b)
	if err != nil {
		p.problem(line, field, settlement.CodeBIC, "%v", err)
		return false
	}
	*dst = v
	return true
}

// money reads amount and currency together: the currency decides the scale.
func (p *parser) money(line int, amount, currency []byte, e *settlement.Entry) bool {
	ok := true
	c, known := settlement.LookupCurrency(currency)
	if !known {
		p.problem(line, "currency", settlement.CodeCurrency, "%q: %v", clip(currency), settlement.ErrCurrency)
		ok = false
	}
	e.Currency = c
	d, err := settlement.ParseAmount(amount, c)
	if err != nil {
		p.problem(line, "amount", settlement.AmountCode(err), "%q: %v", clip(amount), err)
		return false
	}
	e.Amount = d
	return ok
}

func (p *parser) trailerRecord(line int) {
	if p.sawT {
		p.problem(line, "", settlement.CodeRecordOrder, "second T record; a file has exactly one, on its last line")
		return
	}
	p.sawT = true
	f := p.fields
	if len(f) != trailerFields {
		p.problem(line, "", settlement.CodeFieldCount, "T record has %d fields, wants 3: T,<entry_count>,<control_sum>", len(f))
		return
	}
	t := settlement.Trailer{Line: line}
	ok := true
	n, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil || n < 0 || len(f[1]) == 0 || f[1][0] == '+' || f[1][0] == '-' {
		p.problem(line, "entry_count", settlement.CodeEntryCount, "%q is not a count", clip(f[1]))
		ok = false
	}
	t.Count = n
	s, err := settlement.ParseControlSum(f[2])
	if err != nil {
		p.problem(line, "control_sum", settlement.CodeControlSum, "%q: %v", clip(f[2]), err)
		ok = false
	}
	t.ControlSum = s
	p.trailer = t
	p.sink.Trailer(&t, ok)
}

// clip keeps hostile field values out of messages beyond a readable size.
func clip(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
