package jobs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"settle/reconciliation"
	"settle/settlement"
)

// TxTrace is a ledger transaction traced back to the banks' files.
type TxTrace struct {
	TxID     string      `json:"tx_id"`
	OK       bool        `json:"ok"`
	Steps    []Step      `json:"steps"`
	Payments []TxPayment `json:"payments,omitempty"`
}

// TxPayment is one payment a transaction carried, with where it came from.
type TxPayment struct {
	Payment  string `json:"payment"` // SENDER/ID
	Kind     string `json:"kind"`
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
	Debtor   string `json:"debtor"`
	Creditor string `json:"creditor"`
	Reverses string `json:"reverses,omitempty"` // a reversal's original payment id
	File     string `json:"file,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Line     int    `json:"line,omitempty"`
	SHA256   string `json:"sha256"`
	Check    string `json:"check"`
}

// argShownMax is how much of one transaction argument a trace shows.
const argShownMax = 120

// TraceTx goes the other way from Trace: from a ledger transaction, read
// from its block, back to the banks' files. For a chunk it lists every
// payment it carried with the file, file id and line it came from, and
// checks each against Postgres, against the ledger's current record of
// the payment, and each file against the archive; for a settlement it
// compares the positions it carried with Postgres's.
func (a *Auditor) TraceTx(ctx context.Context, txID string) (TxTrace, error) {
	t := TxTrace{TxID: txID, OK: true}
	if a.Txs == nil {
		return t, errors.New("audit: no transaction reader")
	}
	c, err := a.Txs.TxContent(ctx, txID)
	if err != nil {
		return t, fmt.Errorf("ledger: %w", err)
	}
	members, err := a.Store.Members(ctx)
	if err != nil {
		return t, err
	}
	t.add(txStep(c, len(members)))

	switch c.Function {
	case "RecordChunk", "SettleCycle":
	case "DeclareCycle", "PutFilePart", "IndexFile":
		return a.traceGoverned(ctx, t, c)
	default:
		// Registry and cap changes, pings: nothing of a cycle to trace.
		t.add(argsStep(c.Args))
		return t, nil
	}
	if c.Function == "SettleCycle" && c.Positions == nil {
		// The governed path's settle names only the cycle: the positions are
		// the ledger's own, as its cycle record holds them.
		lc, ok, err := a.Ledger.Cycle(ctx, c.Cycle)
		if err != nil {
			return t, err
		}
		if ok {
			c.Positions = lc.Positions
		}
	}
	date, err := settlement.DateOfCycle(c.Cycle)
	if err != nil {
		t.add(Step{Step: "postgres", Source: "postgres", Check: fmt.Sprintf("cycle %q is not one of this system's: %v", c.Cycle, err)})
		return t, nil
	}
	row, ok, err := a.Store.LedgerTxRow(ctx, txID)
	if err != nil {
		return t, err
	}
	readAfter(a.Ledger, c.Tx.Block) // the payments' current records, from a peer holding the transaction
	t.add(Step{Step: "postgres", Source: "postgres", Check: chunkRowCheck(c, date, row, ok), Facts: rowFacts(row)})

	if c.Function == "SettleCycle" {
		stored, err := a.Store.Positions(ctx, date)
		if err != nil {
			return t, err
		}
		check := "ok"
		if bs := reconciliation.Positions(c.Cycle, toNet(stored), c.Positions); len(bs) > 0 {
			check = bs[0].String()
			for _, b := range bs[1:] {
				check += "; " + b.String()
			}
		}
		t.add(Step{Step: "positions", Source: "ledger+postgres", Check: check, Facts: map[string]string{"positions": fmt.Sprint(len(c.Positions))}})
		return t, nil
	}

	return a.tracePayments(ctx, t, c.Cycle, c.Payments)
}

// add records a step; one that is not "ok" makes the whole trace fail.
func (t *TxTrace) add(s Step) {
	if s.Check != "ok" {
		t.OK = false
	}
	t.Steps = append(t.Steps, s)
}

// txStep is the transaction as its block holds it: who endorsed and
// submitted it, its endorsements checked against a scheme of members
// banks, and what it was.
func txStep(c TxContent, members int) Step {
	facts := map[string]string{"block": fmt.Sprint(c.Tx.Block), "endorsers": fmt.Sprint(c.Tx.Endorsers), "submitter": c.Tx.Submitter, "function": c.Function,
		"endorser_signatures": signaturesFact(c.Tx)}
	if c.Cycle != "" {
		facts["cycle"] = c.Cycle
	}
	if c.Chunk != "" {
		facts["chunk"] = c.Chunk
		facts["payments"] = fmt.Sprint(len(c.Payments))
	}
	return Step{Step: "transaction", Source: "ledger", Check: endorsementCheck(c.Tx, members), Facts: facts}
}

// argsStep shows the arguments of a transaction with nothing of a cycle
// to trace. A file part's argument is the file's bytes: each argument is
// shown clipped, with its length.
func argsStep(all []string) Step {
	args := make([]string, len(all))
	for i, a := range all {
		args[i] = a
		if len(a) > argShownMax {
			args[i] = fmt.Sprintf("%s... (%d bytes)", a[:argShownMax], len(a))
		}
	}
	return Step{Step: "content", Source: "ledger", Check: "ok", Facts: map[string]string{"args": fmt.Sprint(args)}}
}

// rowFacts are what Postgres recorded of a transaction, for its step.
func rowFacts(row LedgerTxRow) map[string]string {
	return map[string]string{"cycle": settlement.CycleID(row.Cycle), "chunk": row.Chunk, "entries": fmt.Sprint(row.Entries)}
}

// chunkRowCheck compares Postgres's record of a chunk or settlement
// transaction (ok false if it has none) with what the transaction carried.
func chunkRowCheck(c TxContent, date settlement.Date, row LedgerTxRow, ok bool) string {
	wantChunk := c.Chunk
	if c.Function == "SettleCycle" {
		wantChunk = settleChunk
	}
	switch {
	case !ok:
		return "Postgres has no record of this transaction"
	case row.Cycle != date || row.Function != c.Function || row.Chunk != wantChunk:
		return fmt.Sprintf("Postgres recorded it as %s %s/%s", row.Function, settlement.CycleID(row.Cycle), row.Chunk)
	case c.Function == "RecordChunk" && row.Entries != len(c.Payments):
		return fmt.Sprintf("Postgres recorded %d payments, the transaction carried %d", row.Entries, len(c.Payments))
	case row.Block != 0 && row.Block != c.Tx.Block:
		return fmt.Sprintf("Postgres recorded block %d", row.Block)
	}
	return "ok"
}

// traceGoverned follows a governed transaction back to the files: the
// declaration (the operator's freeze) or a file's part, whose last one
// carries the bank's signature and is the transaction that verified the
// file on every endorsing peer. Postgres records the declaration and the
// verifying part of each file; the part's bytes must hash, with the file's
// other parts, to the file the bank sent (audit verify checks the whole file).
func (a *Auditor) traceGoverned(ctx context.Context, t TxTrace, c TxContent) (TxTrace, error) {
	if len(c.Args) == 0 {
		t.add(Step{Step: "content", Source: "ledger", Check: "no arguments"})
		return t, nil
	}
	cycle := c.Args[0]
	date, err := settlement.DateOfCycle(cycle)
	if err != nil {
		t.add(Step{Step: "postgres", Source: "postgres", Check: fmt.Sprintf("cycle %q is not one of this system's: %v", cycle, err)})
		return t, nil
	}
	g, bad := governedContent(c)
	if bad != "" {
		t.add(Step{Step: "content", Source: "ledger", Check: bad})
		return t, nil
	}
	t.add(Step{Step: "content", Source: "ledger", Check: "ok", Facts: g.facts})
	row, ok, err := a.Store.LedgerTxRow(ctx, t.TxID)
	if err != nil {
		return t, err
	}
	t.add(Step{Step: "postgres", Source: "postgres", Check: g.rowCheck(c, date, row, ok), Facts: rowFacts(row)})
	if (c.Function != "PutFilePart" || !g.final) && c.Function != "IndexFile" {
		return t, nil
	}
	// An IndexFile, or a verifying part that indexed its whole file (its
	// ids fit beside it): the payments the ledger indexed under this
	// transaction, as every endorsing peer parsed them from the bank's
	// signed bytes. A verifying part that indexed none: the file is traced.
	var traced bool
	if t, traced, err = a.traceIndexed(ctx, t, cycle, row, ok, c.Function == "IndexFile"); err != nil || traced {
		return t, err
	}
	return a.traceGovernedFile(ctx, t, c, date, row, ok)
}

// governed is what a governed transaction's arguments say.
type governed struct {
	facts map[string]string
	// wantChunk is the chunk id Postgres records the transaction under;
	// for an IndexFile, only its prefix (the range's start follows).
	wantChunk string
	// final is whether Postgres records the transaction at all: a
	// declaration, an index, or a file's verifying (last) part.
	final bool
}

// governedContent reads a governed transaction's arguments (the cycle
// first, already checked); bad says what is wrong with them, if anything.
func governedContent(c TxContent) (g governed, bad string) {
	g = governed{facts: map[string]string{"cycle": c.Args[0]}, wantChunk: declareChunk, final: true}
	switch {
	case c.Function == "PutFilePart":
		// Six arguments, or seven: the part's encoding ("deflate": the
		// part went compressed; the ledger stores the bytes it inflates to).
		if len(c.Args) != 6 && (len(c.Args) != 7 || c.Args[6] != "deflate") {
			return g, fmt.Sprintf("PutFilePart with %d arguments", len(c.Args))
		}
		g.facts["sender"], g.facts["file_id"], g.facts["part"] = c.Args[1], c.Args[2], c.Args[3]
		g.facts["part_bytes"] = fmt.Sprint(len(c.Args[4]))
		if len(c.Args) == 7 {
			g.facts["part_encoding"] = c.Args[6]
		}
		g.final = c.Args[5] != ""
		g.facts["signature"] = map[bool]string{true: "carried (this part verified the file)", false: "none (a part before the last)"}[g.final]
		g.wantChunk = fileChunk(LedgerFile{Sender: settlement.BIC(c.Args[1]), FileID: c.Args[2]})
	case c.Function == "IndexFile":
		if len(c.Args) != 3 {
			return g, fmt.Sprintf("IndexFile with %d arguments", len(c.Args))
		}
		// It recorded a range of a verified file's payments: which range,
		// Postgres's chunk id says (indexChunk), and the ledger's payments
		// under this transaction must be as many.
		g.facts["sender"], g.facts["file_id"] = c.Args[1], c.Args[2]
		g.wantChunk = indexChunk(LedgerFile{Sender: settlement.BIC(c.Args[1]), FileID: c.Args[2]}, 0)
		g.wantChunk = g.wantChunk[:len(g.wantChunk)-1] // a prefix: the range's start follows
	case len(c.Args) == 2:
		g.facts["declaration_bytes"] = fmt.Sprint(len(c.Args[1]))
	}
	return g, ""
}

// rowCheck compares Postgres's record of a governed transaction (ok
// false if it has none) with what the transaction carried.
func (g governed) rowCheck(c TxContent, date settlement.Date, row LedgerTxRow, ok bool) string {
	switch {
	case !ok && g.final:
		return "Postgres has no record of this transaction"
	case !ok:
		return "ok" // only a file's verifying part is recorded
	case row.Cycle != date || row.Function != c.Function || (row.Chunk != g.wantChunk && (c.Function != "IndexFile" || !strings.HasPrefix(row.Chunk, g.wantChunk))):
		return fmt.Sprintf("Postgres recorded it as %s %s/%s", row.Function, settlement.CycleID(row.Cycle), row.Chunk)
	case row.Block != 0 && row.Block != c.Tx.Block:
		return fmt.Sprintf("Postgres recorded block %d", row.Block)
	}
	return "ok"
}

// traceIndexed traces the payments the ledger indexed under an IndexFile
// transaction (index), or a verifying part that indexed its file, and
// checks they are as many as Postgres recorded (when it recorded the
// transaction, ok). traced is true when there were any: each
// one's file was then checked against the archive, and the file need not
// be traced again.
func (a *Auditor) traceIndexed(ctx context.Context, t TxTrace, cycle string, row LedgerTxRow, ok, index bool) (_ TxTrace, traced bool, err error) {
	var pays []reconciliation.Record
	for p, err := range a.Ledger.CyclePayments(ctx, cycle) {
		if err != nil {
			return t, false, fmt.Errorf("ledger: %w", err)
		}
		if p.TxID == t.TxID {
			pays = append(pays, p)
		}
	}
	if len(pays) == 0 && !index {
		return t, false, nil // a verifying part that left its payments to IndexFile
	}
	if t, err = a.tracePayments(ctx, t, cycle, pays); err != nil {
		return t, false, err
	}
	if ok && row.Entries != len(pays) {
		t.add(Step{Step: "entries", Source: "ledger+postgres", Check: fmt.Sprintf("Postgres recorded %d entries for the transaction, the ledger indexed %d under it", row.Entries, len(pays))})
	}
	return t, len(pays) > 0, nil
}

// traceGovernedFile checks the file a governed transaction names against
// the archive and, for its verifying part, the entries Postgres recorded
// for the transaction against the file's.
func (a *Auditor) traceGovernedFile(ctx context.Context, t TxTrace, c TxContent, date settlement.Date, row LedgerTxRow, ok bool) (TxTrace, error) {
	files, err := a.Store.CycleFiles(ctx, date)
	if err != nil {
		return t, err
	}
	for _, f := range files {
		if string(f.Sender) != c.Args[1] || f.FileID != c.Args[2] {
			continue
		}
		l := Lineage{Sender: f.Sender, File: FileState{Name: f.Name, FileID: f.FileID, ReceivedAt: f.ReceivedAt}, FileSHA256: f.SHA256, SignatureKey: f.SignatureKey}
		check := a.checkFile(ctx, l)
		if check == "ok" && ok && c.Function == "PutFilePart" && row.Entries != int(f.Entries) {
			check = fmt.Sprintf("Postgres recorded %d entries for the transaction, the file holds %d", row.Entries, f.Entries)
		}
		t.add(Step{Step: "file", Source: "postgres+archive", Check: check, Facts: map[string]string{
			"sender": string(f.Sender), "name": f.Name, "file_id": f.FileID, "sha256": f.SHA256, "signed_with": f.SignatureKey, "entries": fmt.Sprint(f.Entries)}})
		return t, nil
	}
	t.add(Step{Step: "file", Source: "postgres", Check: fmt.Sprintf("Postgres holds no accepted file %s/%s in %s", c.Args[1], c.Args[2], c.Args[0])})
	return t, nil
}

// tracePayments checks each payment a transaction recorded against
// Postgres and the ledger's current record, and each of their files
// against the archive.
func (a *Auditor) tracePayments(ctx context.Context, t TxTrace, cycle string, payments []reconciliation.Record) (TxTrace, error) {
	txID := t.TxID
	c := struct {
		Cycle    string
		Payments []reconciliation.Record
	}{cycle, payments}
	var check string
	files := map[string]Lineage{} // by file sha256: one archive check per file
	bad := 0
	for _, p := range c.Payments {
		tp := TxPayment{Payment: string(p.Sender) + "/" + p.ID, Kind: p.Kind.String(), Amount: settlement.FormatAmount(p.Amount, p.Currency),
			Currency: p.Currency.Code(), Debtor: string(p.Debtor), Creditor: string(p.Creditor), Reverses: p.Original, SHA256: p.FileSHA256, Check: "ok"}
		l, found, err := a.Store.Lineage(ctx, p.Sender, p.ID)
		if err != nil {
			return t, err
		}
		var problems []string
		if !found {
			problems = append(problems, "not in Postgres")
		} else {
			tp.File, tp.FileID, tp.Line = l.File.Name, l.File.FileID, l.Entry.Line
			if _, seen := files[l.FileSHA256]; !seen {
				files[l.FileSHA256] = l
			}
			problems = append(problems, paymentDiffs(c.Cycle, lineageRecord(p.Sender, p.ID, l), p)...)
		}
		lp, onLedger, err := a.Ledger.Payment(ctx, p.Sender, p.ID)
		switch {
		case err != nil:
			problems = append(problems, "ledger: "+err.Error())
		case !onLedger:
			problems = append(problems, "the ledger holds no record of it")
		case lp.TxID != txID:
			problems = append(problems, "the ledger records it in transaction "+lp.TxID)
		}
		if len(problems) > 0 {
			tp.Check = problems[0]
			for _, s := range problems[1:] {
				tp.Check += "; " + s
			}
			bad++
		}
		t.Payments = append(t.Payments, tp)
	}
	check = "ok"
	if bad > 0 {
		check = fmt.Sprintf("%d of %d payments differ", bad, len(c.Payments))
	}
	t.add(Step{Step: "payments", Source: "ledger+postgres", Check: check, Facts: map[string]string{"payments": fmt.Sprint(len(c.Payments)), "files": fmt.Sprint(len(files))}})
	for _, sum := range slices.Sorted(maps.Keys(files)) {
		l := files[sum]
		t.add(Step{Step: "file", Source: "postgres+archive", Check: a.checkFile(ctx, l), Facts: map[string]string{
			"sender": string(l.Sender), "name": l.File.Name, "file_id": l.File.FileID, "sha256": sum, "signed_with": l.SignatureKey}})
	}
	return t, nil
}
