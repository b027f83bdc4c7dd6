package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"time"

	"settle/formats/pacs002"
	"settle/intake"
	"settle/settlement"
)

// statusReport renders the status report (pacs.002.001.10) of verdict for
// the outcome the store reached, from the same status and problems as the
// JSON acknowledgement beside it (payment-files.md, "Status report"). It
// depends on nothing but its arguments, so that the report of a verdict is
// the same bytes however often it is rendered.
func statusReport(scheme, bank settlement.BIC, name string, verdict *intake.Result, received time.Time, status string, problems []settlement.Problem) ([]byte, error) {
	r := pacs002.Report{MsgID: reportMsgID(bank, name), Created: received, Scheme: string(scheme), Sender: string(bank),
		OrgnlMsgID: verdict.FileID, OrgnlMsgName: verdict.Message}
	if r.OrgnlMsgID == "" {
		r.OrgnlMsgID = path.Base(verdict.Name) // the file could not be read that far
	}
	if !verdict.CreatedAt.IsZero() {
		t := verdict.CreatedAt
		r.OrgnlCreated = &t
	}
	if t := verdict.Trailer; t != nil {
		n := t.Count
		r.OrgnlEntries = &n
		if !t.NoControlSum {
			cs := t.ControlSum
			r.OrgnlCtrlSum = &cs
		}
	}
	switch status {
	case IngestAccepted:
		if len(problems) > 0 {
			return nil, fmt.Errorf("accepted with %d problems", len(problems))
		}
		r.Accepted = true
	case IngestRejected, IngestDuplicate:
		if len(problems) == 0 {
			return nil, fmt.Errorf("%s without a problem", status)
		}
		r.Problems = reportProblems(problems)
	default:
		return nil, fmt.Errorf("outcome %q", status)
	}
	var b bytes.Buffer
	if err := pacs002.Write(&b, r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// reportMsgID is the report's GrpHdr/MsgId: unique per report, since a
// bank's outbox names are (the store keeps them unique per bank), and the
// same for the same report, so that a take finished after a crash writes
// the same bytes. At most 35 characters: the bank's BIC and the start of
// the digest of the bank and the report's name.
func reportMsgID(bank settlement.BIC, name string) string {
	sum := sha256.Sum256([]byte(string(bank) + "\x00" + name))
	id := string(bank) + "-" + hex.EncodeToString(sum[:])
	return id[:35]
}

// reportProblems are the JSON acknowledgement's problems as the report
// lists them: the same ones in the same order, TOO_MANY_ERRORS included
// where the JSON list closes with it. A list longer than a report holds
// (a limit allowing more than pacs002.ProblemsMax) is cut there and closed
// by TOO_MANY_ERRORS.
func reportProblems(ps []settlement.Problem) []pacs002.Problem {
	out := make([]pacs002.Problem, 0, min(len(ps), pacs002.ProblemsMax+1))
	for i, p := range ps {
		if len(out) == pacs002.ProblemsMax && p.Code != settlement.CodeTooManyErrors {
			return append(out, pacs002.Problem{Code: settlement.CodeTooManyErrors,
				Message: fmt.Sprintf("%d more problems not listed; fix the ones above and send the file again", len(ps)-i)})
		}
		out = append(out, pacs002.Problem{Entry: p.Entry, Line: p.Line, Code: p.Code, Message: p.Message})
	}
	return out
}
