package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"settle/settlement"
)

// Chunk ids under which the governed path's ledger transactions are kept:
// the declaration, and one per file (the transaction that verified it).
const declareChunk = "declare"

func fileChunk(f LedgerFile) string { return "file/" + string(f.Sender) + "/" + f.FileID }

// governedFileBytesMax bounds one file read from the archive for the ledger
// (the ledger takes it in parts of a bounded size, then indexes its payments
// IndexFile by IndexFile, so no transaction grows with the file),
// GovernedEntriesMax its entries (the chaincode's entriesPerFileMax).
// cmd/settle sets the intake's limits to these when the governed path is on,
// so a bank hears of a larger file in its acknowledgement; this check is for
// files accepted before that.
const (
	governedFileBytesMax = 8 << 20 // ledger/fabric.FileBytesMax, CSV and ISO 20022 alike
	GovernedEntriesMax   = 5000    // ledger/fabric.EntriesMax
)

// recordGoverned is the record step on the governed path: the cycle's
// accepted files are declared on the ledger (sender, file id, sha256, entries,
// control sum: the operator's freeze as the ledger keeps it), then each file's
// archived bytes and .sig are relayed, Workers files at a time. The ledger
// parses and verifies each file itself; a file it refuses stops the cycle
// (an operator decides: DropFile on the ledger, and the same on this side).
func (p *Pipeline) recordGoverned(ctx context.Context, date settlement.Date) error {
	if p.Files == nil {
		return fmt.Errorf("the governed ledger path needs a store that lists a cycle's files and the archive (Pipeline.Files)")
	}
	if err := p.governedPositions(ctx, date); err != nil {
		return err
	}
	files, err := p.governedFiles(ctx, date)
	if err != nil {
		return err
	}
	done, err := p.Store.LedgerTxs(ctx, date)
	if err != nil {
		return err
	}
	cycle := settlement.CycleID(date)
	if _, ok := done[declareChunk]; !ok {
		tx, err := p.Governed.DeclareFiles(ctx, cycle, files)
		if err != nil {
			return fmt.Errorf("declare %s: %w", cycle, err)
		}
		if err := p.Store.SaveLedgerTx(ctx, date, declareChunk, len(files), tx); err != nil {
			return err
		}
		p.log().Info("cycle declared on the ledger", "cycle", cycle, "files", len(files), "tx", tx.ID, "existing", tx.Existing)
	}
	sent, err := p.putPending(ctx, date, cycle, files, done)
	if err != nil {
		return err
	}
	p.log().Info("files verified on the ledger", "cycle", cycle, "files", len(files), "sent", sent)
	return p.advance(ctx, date, settlement.StageNetted, settlement.StageRecorded, nil)
}

// governedPositions checks the cycle's stored positions before anything is
// declared: they balance and keep within the caps, and a cap raised here
// (the bank funded) goes to the ledger first, which checks the caps it
// holds when it settles. On the governed path only the operator may set
// one, and the service signs as the operator.
func (p *Pipeline) governedPositions(ctx context.Context, date settlement.Date) error {
	positions, err := p.Store.Positions(ctx, date)
	if err != nil {
		return err
	}
	if err := settlement.AssertBalanced(positions); err != nil {
		return err
	}
	caps, err := p.Store.Caps(ctx)
	if err != nil {
		return err
	}
	if err := checkCaps(positions, caps); err != nil {
		// Over its caps: declared only when the ledger resolves it, with
		// every bank's cap on the ledger as here, for a removal may turn a
		// net creditor into a debtor.
		resolves, _, rerr := p.ledgerResolves(ctx, date)
		if rerr != nil {
			return rerr
		}
		if !resolves {
			return p.heldOverCaps(date, settlement.CapBreaches(positions, caps))
		}
		return p.syncCaps(ctx, positions, caps, true)
	}
	return p.syncCaps(ctx, positions, caps, false)
}

// governedFiles are the cycle's files as the ledger will be told of them:
// each within what the governed ledger takes, and all of them together
// exactly the cycle's payments.
func (p *Pipeline) governedFiles(ctx context.Context, date settlement.Date) ([]LedgerFile, error) {
	files, err := p.Store.LedgerFiles(ctx, date)
	if err != nil {
		return nil, err
	}
	var entries int64
	var tooBig []string
	for _, f := range files {
		entries += f.Entries
		if f.Entries > GovernedEntriesMax || f.Size > governedFileBytesMax {
			tooBig = append(tooBig, fmt.Sprintf("%s/%s (%d entries, %d bytes)", f.Sender, f.FileID, f.Entries, f.Size))
		}
	}
	if len(tooBig) > 0 {
		// Nothing is declared: the cycle can still settle once these are
		// deferred, or be settled without them by the operator's decision.
		return nil, fmt.Errorf("cycle %s: %d file(s) are larger than the governed ledger takes (%d entries, %d bytes a file), and only their bank can split a signed file: %s",
			date, len(tooBig), GovernedEntriesMax, governedFileBytesMax, strings.Join(tooBig, ", "))
	}
	c, _, err := p.Store.Cycle(ctx, date)
	if err != nil {
		return nil, err
	}
	if entries != c.Entries {
		// The files declared must be exactly the cycle's payments.
		return nil, fmt.Errorf("cycle %s: its files hold %d entries, the cycle %d", date, entries, c.Entries)
	}
	return files, nil
}

// putPending relays the files not verified yet (done has no chunk for
// them: a rerun goes on where the last one stopped), Workers at a time,
// and returns how many it sent.
func (p *Pipeline) putPending(ctx context.Context, date settlement.Date, cycle string, files []LedgerFile, done map[string]LedgerTx) (int, error) {
	pending := func(yield func(LedgerFile, error) bool) {
		for _, f := range files {
			if _, ok := done[fileChunk(f)]; ok {
				continue
			}
			if !yield(f, nil) {
				return
			}
		}
	}
	sent := 0 // under inParallel's lock
	err := inParallel(ctx, p.Workers, pending, func(ctx context.Context, f LedgerFile) error {
		if err := p.putGoverned(ctx, date, cycle, f); err != nil {
			return fmt.Errorf("file %s/%s: %w", f.Sender, f.FileID, err)
		}
		return nil
	}, func() {
		sent++
		if p.Progress != nil {
			p.Progress("record", sent, len(files))
		}
	})
	return sent, err
}

// putGoverned relays one file's archived bytes and signature.
func (p *Pipeline) putGoverned(ctx context.Context, date settlement.Date, cycle string, f LedgerFile) error {
	body, err := p.archived(string(f.Sender), f.Name, f.SHA256)
	if err != nil {
		return err
	}
	sig, err := p.archived(string(f.Sender), f.Name+SigSuffix, "")
	if err != nil {
		return err
	}
	txs, err := p.Governed.PutFile(ctx, cycle, f, body, sig)
	if err != nil {
		return err
	}
	// Each IndexFile transaction recorded a range of the file's payments:
	// Postgres records each (reconciliation finds every transaction that
	// recorded a payment among them), then the verifying one, last, which
	// marks the file done for a rerun.
	// The verifying part indexes the whole file itself when its ids fit
	// beside it: then it is the file's one index transaction, recorded
	// once, as the file's (governedTxs reads it so).
	n := 0
	for _, x := range txs.Index {
		n += x.Entries
		if x.Tx.ID == txs.Verified.ID {
			if len(txs.Index) != 1 {
				return fmt.Errorf("the ledger names the verifying transaction %s as one of %d index transactions", x.Tx.ID, len(txs.Index))
			}
			continue
		}
		if err := p.Store.SaveLedgerTx(ctx, date, indexChunk(f, x.Start), x.Entries, x.Tx); err != nil {
			return err
		}
	}
	if int64(n) != f.Entries {
		return fmt.Errorf("the ledger indexed %d of the file's %d entries", n, f.Entries)
	}
	return p.Store.SaveLedgerTx(ctx, date, fileChunk(f), int(f.Entries), txs.Verified)
}

// indexChunk names the IndexFile transaction of a file that recorded its
// entries from start (in the file's order) in Postgres's ledger_txs.
func indexChunk(f LedgerFile, start int) string {
	return "index/" + string(f.Sender) + "/" + f.FileID + "/" + strconv.Itoa(start)
}

// archived reads a bank's file from the archive by its latest receipt; with
// want, its SHA-256 must be that (the bytes the store accepted).
func (p *Pipeline) archived(bank, name, want string) ([]byte, error) {
	sum, ok, err := p.Files.Find(bank, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s of %s is not in the archive", name, bank)
	}
	if want != "" && sum != want {
		return nil, fmt.Errorf("%s of %s: the archive's latest receipt is %s, the accepted file %s", name, bank, sum, want)
	}
	rc, err := p.Files.Open(sum)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(rc, governedFileBytesMax+1)); err != nil {
		return nil, err
	}
	if b.Len() > governedFileBytesMax {
		return nil, fmt.Errorf("%s of %s is larger than the ledger's %d bytes a file", name, bank, governedFileBytesMax)
	}
	got := sha256.Sum256(b.Bytes())
	if hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("%s of %s: archived bytes do not hash to their receipt %s", name, bank, sum)
	}
	return b.Bytes(), nil
}
