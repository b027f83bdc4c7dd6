package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"

	"github.com/lib/pq"

	"settle/settlement"
)

// copyColumns are the payments columns an ingest writes, in COPY order.
var copyColumns = []string{"file_id", "line", "cycle_id", "sender", "payment_id", "kind", "debtor", "creditor",
	"amount", "currency", "original_payment_id", "reason", "remittance"}

// copyDataer is lib/pq's COPY statement: CopyData adds raw text-format
// lines to the stream. Encoding rows here, many lines per call, avoids
// database/sql's per-row argument conversion (about a third of the client's
// time on a million rows).
type copyDataer interface {
	CopyData(ctx context.Context, line string) (driver.Result, error)
}

// copyEntries streams entries into payments with COPY and checks on the way
// what the table's CHECK constraints would otherwise refuse with one error
// for the first bad row. After the first problem it keeps reading, to list
// every bad record, but sends nothing more.
func copyEntries(ctx context.Context, conn *sql.Conn, row int64, f FileRecord, member map[settlement.BIC]bool,
	entries Entries) (n int64, problems settlement.Problems, err error) {
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("postgres: driver connection %T cannot prepare", dc)
		}
		stmt, err := pc.PrepareContext(ctx, pq.CopyIn("payments", copyColumns...))
		if err != nil {
			return err
		}
		defer stmt.Close()
		cd, ok := stmt.(copyDataer)
		if !ok {
			return fmt.Errorf("postgres: lib/pq COPY statement %T has no CopyData", stmt)
		}
		prefix := strconv.AppendInt(nil, row, 10)
		prefix = append(prefix, '\t')
		cycle := strconv.AppendInt(nil, f.Cycle, 10)
		sender := string(f.Sender)

		buf := make([]byte, 0, copyChunkBytes+4096)
		var sendErr error
		flush := func() {
			if len(buf) == 0 || sendErr != nil {
				return
			}
			// CopyData adds the final newline itself.
			_, sendErr = cd.CopyData(ctx, string(buf[:len(buf)-1]))
			buf = buf[:0]
		}
		var gate settlement.EntryGate
		var orderErr error
		iterErr := entries(func(e *settlement.Entry) bool {
			if orderErr = gate.Admit(e); orderErr != nil {
				return false
			}
			if !settlement.CheckRecordable(e, f.Sender, member, &problems) || problems.Len() > 0 {
				return true // keep listing; send nothing more
			}
			buf = appendRow(buf, prefix, cycle, sender, e)
			if len(buf) >= copyChunkBytes {
				flush()
				if sendErr != nil {
					return false
				}
			}
			return true
		})
		n = gate.Count()
		flush()
		// Exec with no values ends the COPY and reports the server's
		// verdict on everything sent.
		_, doneErr := stmt.Exec(nil) //nolint:staticcheck // lib/pq's documented way to end a COPY
		return errors.Join(orderErr, iterErr, sendErr, doneErr)
	})
	return n, problems, err
}

// appendRow writes one payments row in COPY text format, columns in
// copyColumns order; prefix is the file row and a tab, cycle the cycle id.
func appendRow(buf, prefix, cycle []byte, sender string, e *settlement.Entry) []byte {
	buf = append(buf, prefix...)
	buf = strconv.AppendInt(buf, int64(e.Line), 10)
	buf = append(buf, '\t')
	buf = append(buf, cycle...)
	buf = append(buf, '\t')
	buf = append(buf, sender...)
	buf = append(buf, '\t')
	buf = appendText(buf, e.ID)
	buf = append(buf, '\t', byte(e.Kind), '\t')
	buf = append(buf, e.Debtor...)
	buf = append(buf, '\t')
	buf = append(buf, e.Creditor...)
	buf = append(buf, '\t')
	buf = append(buf, settlement.FormatAmount(e.Amount, e.Currency)...)
	buf = append(buf, '\t')
	buf = append(buf, e.Currency.Code()...)
	buf = append(buf, '\t')
	if e.Kind == settlement.KindReversal {
		buf = appendText(buf, e.Original)
		buf = append(buf, '\t')
		buf = appendText(buf, e.Reason)
		return append(buf, '\t', '\\', 'N', '\n')
	}
	buf = append(buf, '\\', 'N', '\t', '\\', 'N', '\t')
	if e.Remittance == "" {
		buf = append(buf, '\\', 'N')
	} else {
		buf = appendText(buf, e.Remittance)
	}
	return append(buf, '\n')
}

// appendText escapes s for COPY's text format.
func appendText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}
