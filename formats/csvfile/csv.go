// Package csv parses Format 1 of the bank contract: the CSV payment file
// (H, then P and R records, then T). It reads a stream once, keeps nothing
// but the current record, and hands every record and every problem to a
// settlement.Sink, which applies the rules shared with the other formats.
package csvfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"settle/formats"
	"settle/settlement"
)

// Parse reads one CSV payment file from r and reports it to sink. It
// returns an error only when r itself fails; everything wrong with the
// content is a settlement.Problem given to sink.
func Parse(r io.Reader, lim formats.Limits, sink settlement.Sink) error {
	lim = lim.Or(formats.DefaultLimits)
	p := &parser{
		br:   bufio.NewReaderSize(io.LimitReader(r, lim.FileBytesMax+1), 64<<10),
		lim:  lim,
		sink: sink,
		max:  lim.FileBytesMax,
	}
	return p.run()
}

type parser struct {
	br      *bufio.Reader
	lim     formats.Limits
	sink    settlement.Sink
	max     int64
	read    int64 // bytes consumed
	line    int   // physical lines consumed
	records int64
	bics    settlement.BICTable

	rec    []byte   // the raw lines of a quoted record
	out    []byte   // a quoted record's unquoted field bytes
	fields [][]byte // the current record's fields
	spans  []int    // field start/end offsets into rec, for quoted records

	longStart  [2]byte
	longStartN int

	header  settlement.Header
	sawH    bool
	sawT    bool
	entry   settlement.Entry
	trailer settlement.Trailer
}

var errTooLarge = errors.New("file too large")

func (p *parser) problem(line int, field, code, format string, args ...any) {
	p.sink.Problem(settlement.Problem{Line: line, Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) run() error {
	for {
		start, ok, err := p.next()
		if err == errTooLarge {
			p.problem(0, "", settlement.CodeFileTooLarge, "file is larger than %d bytes", p.max)
			return nil
		}
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		p.records++
		if p.records > p.lim.RecordsMax {
			p.problem(start, "", settlement.CodeTooManyRecords, "file has more than %d records; split it", p.lim.RecordsMax)
			return nil
		}
		p.record(start)
	}
	if p.line == 0 {
		p.problem(0, "", settlement.CodeFileEmpty, "file is empty")
		return nil
	}
	if !p.sawH {
		p.problem(1, "", settlement.CodeHeaderMissing, "no H record: a file starts with H,<file_id>,<sender_bic>,<business_date>,<created_at>")
	}
	if !p.sawT {
		p.problem(p.line, "", settlement.CodeTrailerMissing, "no T record: a file ends with T,<entry_count>,<control_sum>")
	}
	return nil
}

// next reads one record into p.fields. It returns the record's first line,
// false at the end of input, or the reader's error. Malformed lines are
// reported and skipped.
func (p *parser) next() (int, bool, error) {
	for {
		raw, err := p.readLine()
		if err != nil {
			if err == io.EOF && raw == nil {
				return 0, false, nil
			}
			if err != io.EOF {
				return 0, false, err
			}
		}
		start := p.line
		if p.line == 1 && bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
			p.problem(1, "", settlement.CodeEncoding, "file starts with a UTF-8 byte order mark; the format has none")
			raw = raw[3:]
		}
		if len(raw) == 0 {
			p.problem(start, "", settlement.CodeBlankLine, "blank line; records follow each other with no blank lines")
			continue
		}
		if len(raw) > p.lim.LineBytesMax {
			p.problem(start, "", settlement.CodeLineTooLong, "line is longer than %d bytes", p.lim.LineBytesMax)
			p.dropped(raw, start)
			continue
		}
		if bytes.IndexByte(raw, '"') < 0 {
			p.fields = splitPlain(p.fields[:0], raw)
			if !p.checkText(start, raw) {
				p.dropped(raw, start)
				continue
			}
			return start, true, nil
		}
		kind := recordKind(raw)
		ok, err := p.splitQuoted(raw, start)
		if err != nil {
			return 0, false, err
		}
		if ok {
			return start, true, nil
		}
		p.dropped(kind, start)
	}
}

// recordKind keeps the first two bytes of a line ("P," or "R,") before
// the buffer they live in is reused.
func recordKind(raw []byte) []byte {
	if len(raw) >= 2 {
		return []byte{raw[0], raw[1]}
	}
	return nil
}

// dropped counts a payment or reversal line that could not be split into
// fields, so the trailer's entry count is still checked against every
// record the bank sent (and its control sum is not, since an amount is
// unreadable).
func (p *parser) dropped(raw []byte, line int) {
	if len(raw) < 2 || raw[1] != ',' || (raw[0] != 'P' && raw[0] != 'R') {
		return
	}
	p.records++
	p.sink.Entry(&settlement.Entry{Line: line, Kind: settlement.Kind(raw[0])}, false)
}

func (p *parser) checkText(line int, raw []byte) bool {
	if !utf8.Valid(raw) {
		p.problem(line, "", settlement.CodeEncoding, "line is not valid UTF-8")
		return false
	}
	if bytes.IndexByte(raw, '\r') >= 0 {
		p.problem(line, "", settlement.CodeQuote, "carriage return inside a line; lines end with \\n or \\r\\n")
		return false
	}
	return true
}

// readLine returns the next physical line without its line end. The slice
// is valid until the next read. A line longer than the bufio buffer is
// drained and returned truncated to LineBytesMax+1, so it is reported as
// too long without being kept.
func (p *parser) readLine() ([]byte, error) {
	b, err := p.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		p.longStartN = copy(p.longStart[:], b)
		over := int64(len(b))
		for err == bufio.ErrBufferFull {
			var more []byte
			more, err = p.br.ReadSlice('\n')
			over += int64(len(more))
		}
		p.read += over
		if p.read > p.max {
			return nil, errTooLarge
		}
		p.line++
		// Keep the record type of the first bytes so the line still counts.
		long := bytes.Repeat([]byte{'x'}, p.lim.LineBytesMax+1)
		copy(long, p.longStart[:p.longStartN])
		return long, nilIfEOF(err)
	}
	if len(b) == 0 && err != nil {
		return nil, err
	}
	p.read += int64(len(b))
	if p.read > p.max {
		return nil, errTooLarge
	}
	p.line++
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b, nilIfEOF(err)
}

func nilIfEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

func splitPlain(dst [][]byte, line []byte) [][]byte {
	for {
		i := bytes.IndexByte(line, ',')
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}

// splitQuoted splits a record that has quotes, as RFC 4180 says: a quoted
// field may hold commas, doubled quotes and line breaks, so the record may
// continue on the next physical lines.
func (p *parser) splitQuoted(first []byte, start int) (bool, error) {
	p.rec = append(p.rec[:0], first...)
	p.spans = p.spans[:0]
	out := p.out[:0]
	i, fieldStart, inQuotes, quoted := 0, 0, false, false
	data := p.rec
	for {
		for i < len(data) {
			c := data[i]
			switch {
			case inQuotes && c == '"':
				if i+1 < len(data) && data[i+1] == '"' {
					out = append(out, '"')
					i += 2
					continue
				}
				inQuotes = false
				i++
				if i < len(data) && data[i] != ',' {
					p.problem(start, "", settlement.CodeQuote, "character after a closing quote; a quoted field ends with \" then , or the line end")
					return false, nil
				}
			case inQuotes:
				out = append(out, c)
				i++
			case c == '"':
				if len(out) != fieldStart || quoted {
					p.problem(start, "", settlement.CodeQuote, "quote inside an unquoted field; quote the whole field and double inner quotes")
					return false, nil
				}
				inQuotes, quoted = true, true
				i++
			case c == ',':
				p.spans = append(p.spans, fieldStart, len(out))
				fieldStart, quoted = len(out), false
				i++
			default:
				out = append(out, c)
				i++
			}
		}
		if !inQuotes {
			break
		}
		// The quoted field goes on past the line break.
		more, err := p.readLine()
		if err != nil && err != io.EOF {
			return false, err
		}
		if more == nil && err == io.EOF {
			p.problem(start, "", settlement.CodeQuote, "quoted field is not closed before the end of the file")
			return false, nil
		}
		out = append(out, '\n')
		if len(out)+len(more) > p.lim.LineBytesMax {
			p.problem(start, "", settlement.CodeLineTooLong, "record is longer than %d bytes", p.lim.LineBytesMax)
			return false, nil
		}
		data = append(data[:0], more...)
		i = 0
	}
	p.spans = append(p.spans, fieldStart, len(out))
	p.out = out
	if !utf8.Valid(out) {
		p.problem(start, "", settlement.CodeEncoding, "record is not valid UTF-8")
		return false, nil
	}
	p.fields = p.fields[:0]
	for j := 0; j < len(p.spans); j += 2 {
		p.fields = append(p.fields, out[p.spans[j]:p.spans[j+1]])
	}
	return true, nil
}
