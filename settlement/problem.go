package settlement

import (
	"fmt"
	"sort"
)

// Problem is one reason a file is rejected, as a bank sees it in its
// acknowledgement: where (line, or XML transaction index; 0 for the file as
// a whole), which field, a stable code for machines and a message for people.
//
// Entry is the payment_id or reversal_id of the record the problem belongs
// to, where the record's id could be read: the status report lists each bad
// entry by it (pacs.002 TxInfAndSts). It is not part of the JSON
// acknowledgement, which the contract fixes.
type Problem struct {
	Line    int    `json:"line"`
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Entry   string `json:"-"`
}

func (p Problem) String() string {
	if p.Field != "" {
		return fmt.Sprintf("%d: %s: %s: %s", p.Line, p.Code, p.Field, p.Message)
	}
	return fmt.Sprintf("%d: %s: %s", p.Line, p.Code, p.Message)
}

// Stable problem codes. Banks match on them: add, never rename.
const (
	// The file as a whole.
	CodeFileTooLarge      = "FILE_TOO_LARGE"
	CodeFileEmpty         = "FILE_EMPTY"
	CodeFileRead          = "FILE_READ"
	CodeFormat            = "UNSUPPORTED_FORMAT"
	CodeEncoding          = "ENCODING"
	CodeTooManyRecords    = "TOO_MANY_RECORDS"
	CodeTooManyErrors     = "TOO_MANY_ERRORS"
	CodeSignatureMissing  = "SIGNATURE_MISSING"
	CodeSignatureMalform  = "SIGNATURE_MALFORMED"
	CodeSignatureInvalid  = "SIGNATURE_INVALID"
	CodeSignatureNoKey    = "SIGNATURE_NO_KEY"
	CodeDuplicateFile     = "DUPLICATE_FILE"
	CodeDuplicateFileID   = "DUPLICATE_FILE_ID"
	CodeSenderNotUploader = "SENDER_NOT_UPLOADER"
	// Structure.
	CodeBlankLine      = "BLANK_LINE"
	CodeLineTooLong    = "LINE_TOO_LONG"
	CodeQuote          = "CSV_QUOTE"
	CodeFieldCount     = "FIELD_COUNT"
	CodeRecordType     = "RECORD_TYPE"
	CodeRecordOrder    = "RECORD_ORDER"
	CodeHeaderMissing  = "HEADER_MISSING"
	CodeTrailerMissing = "TRAILER_MISSING"
	CodeXMLSyntax      = "XML_SYNTAX"
	CodeXMLElement     = "XML_ELEMENT"
	CodeXMLDocument    = "XML_DOCUMENT"
	// CodeSchema: the file is not valid against the official ISO 20022
	// schema of its namespace (the message names the element's path).
	CodeSchema = "SCHEMA"
	// CodeAppHdr: the business application header envelope is not as the
	// contract describes (one AppHdr, then one Document; Fr the sender;
	// MsgDefIdr the document's message).
	CodeAppHdr         = "APP_HDR"
	CodeHeaderTooLarge = "HEADER_TOO_LARGE"
	// Fields.
	CodeFileID       = "FILE_ID"
	CodeBIC          = "BIC"
	CodeDate         = "DATE"
	CodeTimestamp    = "TIMESTAMP"
	CodePaymentID    = "PAYMENT_ID"
	CodeAmount       = "AMOUNT"
	CodeAmountZero   = "AMOUNT_ZERO"
	CodeAmountScale  = "AMOUNT_SCALE"
	CodeAmountLarge  = "AMOUNT_TOO_LARGE"
	CodeCurrency     = "CURRENCY"
	CodeReason       = "REASON_CODE"
	CodeRemittance   = "REMITTANCE_INFO"
	CodeEntryCount   = "ENTRY_COUNT"
	CodeControlSum   = "CONTROL_SUM"
	CodeDateMismatch = "DATE_MISMATCH"
	// Rules.
	CodeDebtorNotSender    = "DEBTOR_NOT_SENDER"
	CodeSelfPayment        = "SELF_PAYMENT"
	CodeUnknownBank        = "UNKNOWN_BANK"
	CodeDuplicatePaymentID = "DUPLICATE_PAYMENT_ID"
	CodeReversalOfItself   = "REVERSAL_OF_ITSELF"
	CodeOriginalUnsettled  = "ORIGINAL_NOT_SETTLED"
	CodeOriginalUnknown    = "ORIGINAL_UNKNOWN"
	CodeOriginalMismatch   = "ORIGINAL_MISMATCH"
	CodeAlreadyReversed    = "ALREADY_REVERSED"
)

// Problems collects a file's problems up to a bound. A million bad lines
// must not become a million-entry acknowledgement: past the bound it keeps
// counting and closes the list with one TOO_MANY_ERRORS problem.
type Problems struct {
	Max     int // 0 means ProblemsMaxDefault
	list    []Problem
	dropped int
}

// ProblemsMaxDefault lists every bad record of any plausible file while
// keeping an acknowledgement under a few megabytes.
const ProblemsMaxDefault = 10000

// Add records p.
func (ps *Problems) Add(p Problem) {
	max := ps.Max
	if max <= 0 {
		max = ProblemsMaxDefault
	}
	if len(ps.list) >= max {
		ps.dropped++
		return
	}
	ps.list = append(ps.list, p)
}

// Addf records a problem with a formatted message.
func (ps *Problems) Addf(line int, field, code, format string, args ...any) {
	ps.Add(Problem{Line: line, Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

// tagEntry gives the problems listed from index from on that are on line
// and belong to no entry yet the entry id; it returns the index past them
// all, where the next call starts.
func (ps *Problems) tagEntry(from, line int, id string) int {
	if id != "" {
		for i := from; i < len(ps.list); i++ {
			if ps.list[i].Line == line && ps.list[i].Entry == "" {
				ps.list[i].Entry = id
			}
		}
	}
	return len(ps.list)
}

// Len counts every problem added, listed or not.
func (ps *Problems) Len() int { return len(ps.list) + ps.dropped }

// List returns the problems sorted by line (stable, so the order of
// problems on one line is the order they were found), closed by a
// TOO_MANY_ERRORS problem when some were not listed.
func (ps *Problems) List() []Problem {
	out := make([]Problem, len(ps.list), len(ps.list)+1)
	copy(out, ps.list)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	if ps.dropped > 0 {
		out = append(out, Problem{Code: CodeTooManyErrors,
			Message: fmt.Sprintf("%d more problems not listed; fix the ones above and send the file again", ps.dropped)})
	}
	return out
}
