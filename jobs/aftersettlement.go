package jobs

import (
	"context"
	"fmt"
	"iter"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"settle/formats/camt053"
	"settle/formats/pacs002"
	"settle/formats/pacs009"
	"settle/reconciliation"
	"settle/settlement"
)

// AfterSettlement says what the report step writes besides the JSON
// reports once a cycle has settled (payment-files.md, "After
// settlement"): each bank's camt.053 statement and a pacs.002 settlement
// confirmation per file, and the settlement agent's pacs.009
// instructions per currency.
type AfterSettlement struct {
	Scheme  settlement.BIC
	Agent   pacs009.Agent // BIC "" : no instructions are written
	Files   SettlementFiles
	TempDir string // where statements are spooled ("" : the system's)
}

// SettlementFiles lists the files a cycle settled or deferred, and the
// entries of those it deferred.
type SettlementFiles interface {
	SettlementFiles(ctx context.Context, date settlement.Date) ([]SettlementFile, error)
	// DeferredEntries streams the payments and reversals the cycle
	// deferred, by sender, file and line: those of the files deferred
	// out of it, and those the ledger's gridlock resolution deferred
	// (CycleTx.SaveResolution), each with the cycle it moved to.
	DeferredEntries(ctx context.Context, date settlement.Date) iter.Seq2[DeferredEntry, error]
}

// SettlementFile is an accepted file a cycle's confirmations speak of:
// one that settled in it, or one deferred out of it to a later cycle.
type SettlementFile struct {
	Sender      settlement.BIC
	Name        string
	FileID      string
	Entries     int64
	ControlSum  decimal.Decimal
	HasPayments bool // else only reversals
	// Cycle is the cycle the file settled in (the one reporting), or the
	// later one it was deferred to out of the reporting cycle.
	Cycle settlement.Date
	// Own is the cycle the file was accepted into.
	Own settlement.Date
	// Carried: the file is spoken of because entries of it that an earlier
	// cycle's gridlock resolution deferred were carried into this cycle
	// (Cycle is this one); its own cycle's confirmation spoke of the rest.
	Carried bool
	// OutboxBase is what the file's outbox names start with: its
	// acknowledgement's name without .ack.json (the file's name, or
	// <name>.<16 hex> where the bank reused a name).
	OutboxBase string
}

// afterSettlement writes the statements, confirmations and instructions
// of a settled cycle. Each file is written whole, then signed (the
// outbox decorator), so a rerun after a crash writes the same names again.
func (p *Pipeline) afterSettlement(ctx context.Context, date settlement.Date, positions []settlement.Position, txs map[string]LedgerTx) error {
	a := p.After
	if a == nil {
		return nil
	}
	cycle := settlement.CycleID(date)
	created := p.now()
	if err := settlement.AssertBalanced(positions); err != nil { // relied upon by statements and instructions
		return err
	}
	// What the ledger's gridlock resolution deferred and carried in, read
	// once for the statements and the confirmations.
	split, err := p.splitOf(ctx, date)
	if err != nil {
		return err
	}
	start := time.Now()
	n, err := p.statements(ctx, date, positions, txs, split, created)
	if err != nil {
		return fmt.Errorf("statements: %w", err)
	}
	p.log().Info("statements written", "cycle", cycle, "banks", n, "elapsed", time.Since(start).String())
	if err := p.confirmations(ctx, date, txs, split, created); err != nil {
		return fmt.Errorf("settlement confirmations: %w", err)
	}
	if a.Agent.BIC != "" {
		if err := p.instructions(ctx, date, positions, created); err != nil {
			return fmt.Errorf("settlement instructions: %w", err)
		}
	}
	return nil
}

// statements spools every entry of the cycle in one pass (each to its
// payer's and its payee's statement) and writes each bank's document.
func (p *Pipeline) statements(ctx context.Context, date settlement.Date, positions []settlement.Position, txs map[string]LedgerTx, split cycleSplit, created time.Time) (int, error) {
	cycle := settlement.CycleID(date)
	sp, err := camt053.NewSpool(p.After.TempDir, cycle, date, p.After.Scheme)
	if err != nil {
		return 0, err
	}
	defer sp.Close()
	size := p.ChunkSize
	if size <= 0 {
		size = ChunkSizeDefault
	}
	// On the legacy path the entries come in the order the record step cut
	// its chunks from: entry i was recorded by chunk i/size. On the governed
	// path (the cycle was declared) an entry was recorded by the IndexFile
	// transaction whose range holds its ordinal in its file (governedTxs).
	_, governed := txs[declareChunk]
	var byFile map[string]governedFile
	if governed {
		if byFile, err = p.governedTxs(ctx, date, txs); err != nil {
			return 0, err
		}
	}
	// What the ledger's gridlock resolution deferred is not in the
	// statement; what it carried in from an earlier cycle and settled is.
	i := 0
	// The cursor is read ahead while the entries are spooled: each costs a
	// core about as much as the other.
	for se, err := range reconciliation.Prefetch(p.Store.CycleEntries(ctx, date)) {
		if err != nil {
			return 0, err
		}
		if split.isDeferred(se.Sender, se.Entry.ID) {
			i++ // still an entry of the record step's chunks
			continue
		}
		tx, ok := txs[chunkID(i/size)]
		where := "chunk " + chunkID(i/size)
		if governed {
			tx, ok = byFile[se.FileSHA256].txOf(se.Entry.Line)
			where = "its file " + se.FileName
		}
		if !ok || tx.ID == "" {
			return 0, fmt.Errorf("entry %s/%s: no ledger transaction recorded for %s", se.Sender, se.Entry.ID, where)
		}
		d, c := camt053.Sides(&se.Entry, tx.ID)
		if err := sp.Add(d); err != nil {
			return 0, err
		}
		if err := sp.Add(c); err != nil {
			return 0, err
		}
		i++
	}
	if err := spoolCarried(sp, split, txs[settleChunk]); err != nil {
		return 0, err
	}
	// The mapping holds only if the chunks were cut with this size: their
	// number must be the one this size gives (a chunk_size changed between
	// the record step and now would name wrong transactions).
	if chunks := len(txs) - btoi(txs[settleChunk].ID != ""); !governed && i > 0 && chunks != (i+size-1)/size {
		return 0, fmt.Errorf("%d entries in %d recorded chunks, but chunks of %d make %d: was ledger.chunk_size changed since the cycle was recorded?", i, chunks, size, (i+size-1)/size)
	}
	// Each bank's statement is copied from its spool and signed on its own
	// (Spool.Write reads only that bank's spool files), a core each: for a
	// 1,000,000-payment day this is gigabytes of XML.
	nets := netsByBank(positions)
	banks := sp.Banks()
	err = inParallel(ctx, runtime.GOMAXPROCS(0), slicePairs(banks), func(ctx context.Context, bank settlement.BIC) error {
		if err := p.putWritten(ctx, bank, camt053.Name(cycle), func(f *os.File) error {
			return sp.Write(f, bank, created, nets[bank])
		}); err != nil {
			return fmt.Errorf("%s: %w", bank, err)
		}
		return nil
	}, nil)
	return len(banks), err
}

// slicePairs yields a slice's items with no error (inParallel's items).
func slicePairs[T any](list []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, v := range list {
			if !yield(v, nil) {
				return
			}
		}
	}
}

// netsByBank are the positions by bank and currency.
func netsByBank(positions []settlement.Position) map[settlement.BIC]map[settlement.Currency]decimal.Decimal {
	nets := map[settlement.BIC]map[settlement.Currency]decimal.Decimal{}
	for _, x := range positions {
		if nets[x.Bank] == nil {
			nets[x.Bank] = map[settlement.Currency]decimal.Decimal{}
		}
		nets[x.Bank][x.Currency] = x.Net
	}
	return nets
}

// spoolCarried adds to the statements the entries carried into the cycle
// that settled in it. A carried entry was recorded by its own cycle's
// transactions; here it is booked by the transaction that settled it.
func spoolCarried(sp *camt053.Spool, split cycleSplit, settled LedgerTx) error {
	for _, ce := range split.carried {
		if split.isDeferred(ce.Sender, ce.Entry.ID) {
			continue
		}
		if settled.ID == "" {
			return fmt.Errorf("entry %s/%s carried from %s: no settling transaction recorded", ce.Sender, ce.Entry.ID, settlement.CycleID(ce.From))
		}
		d, c := camt053.Sides(&ce.Entry, settled.ID)
		if err := sp.Add(d); err != nil {
			return err
		}
		if err := sp.Add(c); err != nil {
			return err
		}
	}
	return nil
}

// governedFile is what the statements need of a governed file: its
// entries' lines in the file's order and the transactions that indexed them.
type governedFile struct {
	lines []int // sorted: an entry's ordinal in the file is its line's rank
	txs   FileTxs
}

func (g governedFile) txOf(line int) (LedgerTx, bool) {
	i := sort.SearchInts(g.lines, line)
	if i == len(g.lines) || g.lines[i] != line {
		return LedgerTx{}, false
	}
	return g.txs.TxOf(i)
}

// governedTxs maps each of a governed cycle's files (by sha256) to the
// IndexFile transactions Postgres recorded for it (indexChunk) and the
// lines of its entries, read in one pass over the cycle's entries.
func (p *Pipeline) governedTxs(ctx context.Context, date settlement.Date, txs map[string]LedgerTx) (map[string]governedFile, error) {
	files, err := p.Store.LedgerFiles(ctx, date)
	if err != nil {
		return nil, err
	}
	// The ranges are in the chunk ids: a file's IndexFile transactions
	// start at 0 and each ends where the next starts, the last at the
	// file's entries.
	starts := map[string][]int{} // "sender/file id/" -> starts
	for chunk := range txs {
		rest, ok := strings.CutPrefix(chunk, "index/")
		if !ok {
			continue
		}
		at := strings.LastIndexByte(rest, '/')
		n, err := strconv.Atoi(rest[at+1:])
		if at < 0 || err != nil {
			return nil, fmt.Errorf("ledger transaction chunk %q is not an IndexFile's", chunk)
		}
		starts[rest[:at+1]] = append(starts[rest[:at+1]], n)
	}
	out := make(map[string]governedFile, len(files))
	for _, f := range files {
		ss := starts[string(f.Sender)+"/"+f.FileID+"/"]
		sort.Ints(ss)
		var ft FileTxs
		if len(ss) == 0 {
			// No IndexFile: the verifying part indexed the whole file
			// (putGoverned records it once, as the file's).
			tx, ok := txs[fileChunk(f)]
			if !ok {
				return nil, fmt.Errorf("file %s/%s: no ledger transaction recorded its entries", f.Sender, f.FileID)
			}
			ft.Index = []IndexTx{{Start: 0, Entries: int(f.Entries), Tx: tx}}
			out[f.SHA256] = governedFile{txs: ft}
			continue
		}
		for k, start := range ss {
			end := int(f.Entries)
			if k+1 < len(ss) {
				end = ss[k+1]
			}
			if start != ft.end() || end <= start {
				return nil, fmt.Errorf("file %s/%s: the IndexFile transactions recorded start at %v, not one range after another over its %d entries", f.Sender, f.FileID, ss, f.Entries)
			}
			ft.Index = append(ft.Index, IndexTx{Start: start, Entries: end - start, Tx: txs[indexChunk(f, start)]})
		}
		if ft.end() != int(f.Entries) {
			return nil, fmt.Errorf("file %s/%s: IndexFile transactions recorded for %d of its %d entries", f.Sender, f.FileID, ft.end(), f.Entries)
		}
		out[f.SHA256] = governedFile{txs: ft}
	}
	for se, err := range p.Store.CycleEntries(ctx, date) {
		if err != nil {
			return nil, err
		}
		g := out[se.FileSHA256]
		g.lines = append(g.lines, se.Entry.Line)
		out[se.FileSHA256] = g
	}
	for k, g := range out {
		sort.Ints(g.lines)
		out[k] = g
	}
	return out, nil
}

// putWritten writes a file to a temporary place with write, then hands
// it to the outbox from disk.
func (p *Pipeline) putWritten(ctx context.Context, bank settlement.BIC, name string, write func(*os.File) error) error {
	f, err := os.CreateTemp(p.After.TempDir, "out-*.xml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return p.Outbox.PutFile(ctx, bank, name, f.Name())
}

func (p *Pipeline) confirmations(ctx context.Context, date settlement.Date, txs map[string]LedgerTx, split cycleSplit, created time.Time) error {
	files, err := p.After.Files.SettlementFiles(ctx, date)
	if err != nil {
		return err
	}
	cycle := settlement.CycleID(date)
	for _, f := range files {
		s := pacs002.Settled{MsgID: settledMsgID(f.Sender, f.FileID, date), Created: created, Scheme: string(p.After.Scheme), Sender: string(f.Sender),
			OrgnlMsgID: f.FileID, OrgnlMsgName: msgName(f), OrgnlEntries: &f.Entries, OrgnlCtrlSum: &f.ControlSum,
			Status: pacs002.StatusSettled, Cycle: cycle, LedgerTx: txs[settleChunk].ID}
		fs := split.ofFile(f.Sender, f.FileID)
		switch {
		case f.Cycle != date: // the whole file deferred (an operator's deferral)
			s.Status, s.Cycle, s.LedgerTx = pacs002.StatusPending, settlement.CycleID(f.Cycle), ""
		case f.Carried: // payments of an earlier cycle's file, settled here or deferred again
			s.Carried, s.Deferred = fs.settled, fs.deferred
		default: // the file's own cycle: what the ledger's resolution deferred
			s.Deferred = fs.deferred
		}
		if s.Status == pacs002.StatusSettled && len(s.Deferred) > 0 {
			s.Status = pacs002.StatusPartial
		}
		var b strings.Builder
		if err := pacs002.WriteSettled(&b, s); err != nil {
			return fmt.Errorf("%s/%s: %w", f.Sender, f.Name, err)
		}
		if err := p.Outbox.Put(ctx, f.Sender, ConfirmationName(f, date), []byte(b.String())); err != nil {
			return err
		}
	}
	return nil
}

// ConfirmationName is the outbox name of the settlement confirmation that
// the cycle of date writes for f. The cycle the file was accepted into
// writes <file>.settled.xml (as payment-files.md names it), whether the
// file settled in it (ACSC) or was deferred (PDNG); every later cycle that
// speaks of the file (it settled there after a deferral, or was deferred
// again) writes <file>.<cycle id>.settled.xml, so that no confirmation
// replaces another. <file> is the base of the file's acknowledgement
// (SettlementFile.OutboxBase), so a reused file name gets confirmations
// of its own too.
func ConfirmationName(f SettlementFile, date settlement.Date) string {
	base := f.OutboxBase
	if base == "" {
		base = f.Name
	}
	if date == f.Own {
		return pacs002.SettledName(base)
	}
	return pacs002.SettledName(base + "." + settlement.CycleID(date))
}

// settledMsgID is unique per confirmation: the cycle, the sender and a
// digest of the file id (file ids are up to 35 characters themselves).
func settledMsgID(sender settlement.BIC, fileID string, date settlement.Date) string {
	return "S" + strings.ReplaceAll(string(date), "-", "") + string(sender) + "-" + settlement.UETR(string(sender) + "/" + fileID)[:8]
}

func msgName(f SettlementFile) string {
	switch {
	case strings.HasSuffix(f.Name, ".csv"):
		return pacs002.MsgCSV
	case f.HasPayments:
		return pacs002.MsgPacs008
	}
	return pacs002.MsgPacs007
}

func (p *Pipeline) instructions(ctx context.Context, date settlement.Date, positions []settlement.Position, created time.Time) error {
	cycle := settlement.CycleID(date)
	byCur, err := settlement.CycleInstructions(cycle, positions)
	if err != nil {
		return err
	}
	for _, c := range sortedCurrencies(byCur) {
		m := pacs009.Message{MsgID: pacs009.MsgID(cycle, c), Created: created, BusinessDate: date, Scheme: p.After.Scheme,
			Agent: p.After.Agent, Currency: c, Instructions: byCur[c]}
		if err := p.putWritten(ctx, p.After.Agent.BIC, pacs009.Name(cycle, c), func(f *os.File) error { return pacs009.Write(f, m) }); err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
