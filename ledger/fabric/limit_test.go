package fabric

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"settle/jobs"
	"settle/settlement"
)

var errMeasured = errors.New("measured, not sent")

// envelopeBytes is the size of the envelope RecordChunk(k) would send: it
// endorses k and stops before the orderers.
func envelopeBytes(t *testing.T, c *Client, k jobs.Chunk) int {
	t.Helper()
	size := 0
	c.beforeSend = func(n int) error { size = n; return errMeasured }
	defer func() { c.beforeSend = nil }()
	if _, err := c.RecordChunk(testCtx(t, 2*time.Minute), k); !errors.Is(err, errMeasured) {
		t.Fatalf("measuring a chunk of %d: %v", len(k.Entries), err)
	}
	return size
}

// TestTransactionAtTheOrderersLimit: SmartBFT takes a transaction of at most
// 500 KiB (RequestBytesMax, fixed in this Fabric). The largest chunk under it
// commits; one payment more is refused by the client before sending, at
// once and for good (ErrTooLarge, ErrLedgerRefused: not an unknown outcome
// to retry); and sent anyway, the orderers refuse it themselves, which the
// client reports the same way. Nothing of the refused chunk is on the
// ledger. The service's default chunk (jobs.ChunkSizeDefault) is well
// under the limit.
func TestTransactionAtTheOrderersLimit(t *testing.T) {
	c := newClient(t, 1)
	w := newWorld(t, c, "100000000000")
	ctx := testCtx(t, 10*time.Minute)
	cycle := "L" + w.run
	prefix := "L" + w.run[8:]
	// Size grows by about the same number of bytes a payment.
	s600 := envelopeBytes(t, c, w.chunk(cycle, "K1", prefix, 600))
	s601 := envelopeBytes(t, c, w.chunk(cycle, "K1", prefix, 601))
	per := s601 - s600
	if per <= 0 {
		t.Fatalf("600 payments %d bytes, 601 %d", s600, s601)
	}
	n := 600 + (RequestBytesMax-s600)/per
	for envelopeBytes(t, c, w.chunk(cycle, "K1", prefix, n)) > RequestBytesMax {
		n--
	}
	for envelopeBytes(t, c, w.chunk(cycle, "K1", prefix, n+1)) <= RequestBytesMax {
		n++
	}
	at := envelopeBytes(t, c, w.chunk(cycle, "K1", prefix, n))
	over := envelopeBytes(t, c, w.chunk(cycle, "K1", prefix, n+1))
	t.Logf("limit %d bytes: %d payments make %d bytes, %d make %d (%d bytes a payment)", RequestBytesMax, n, at, n+1, over, per)
	if def := envelopeBytes(t, c, w.chunk(cycle, "K1", prefix, jobs.ChunkSizeDefault)); def > RequestBytesMax*9/10 {
		t.Errorf("the default chunk of %d payments makes %d bytes: too close to the orderers' %d", jobs.ChunkSizeDefault, def, RequestBytesMax)
	}

	// One payment over: refused before sending, at once, for good.
	// (Same lengths as the measured chunk: another chunk id and payment ids.)
	big := w.chunk(cycle, "K2", "M"+prefix[1:], n+1)
	start := time.Now()
	_, err := c.RecordChunk(ctx, big)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || !errors.Is(err, jobs.ErrLedgerRefused) || errors.Is(err, jobs.ErrLedgerUnavailable) || tl.Bytes <= RequestBytesMax {
		t.Fatalf("a chunk of about %d bytes: %v; want a final TooLargeError", over, err)
	}
	t.Logf("refused by the client in %s: %v", time.Since(start).Round(time.Millisecond), err)
	// Sent anyway: the orderers say no themselves, and that is final too.
	c.noSizeCheck = true
	start = time.Now()
	_, err = c.RecordChunk(ctx, big)
	c.noSizeCheck = false
	if !errors.As(err, &tl) || !errors.Is(err, jobs.ErrLedgerRefused) || tl.Info == "" {
		t.Fatalf("a chunk of %d bytes sent to the orderers: %v; want their size refusal, final", over, err)
	}
	t.Logf("refused by the orderers in %s: %v", time.Since(start).Round(time.Millisecond), err)
	if _, ok, err := c.Payment(ctx, big.Entries[0].Sender, big.Entries[0].Entry.ID); ok || err != nil {
		t.Fatalf("a payment of the refused chunk: found=%v %v; want none", ok, err)
	}

	// The largest that fits commits, with the check left to the orderers
	// as well: the client's limit is theirs.
	c.noSizeCheck = true
	tx, err := c.RecordChunk(ctx, w.chunk(cycle, "K1", prefix, n))
	c.noSizeCheck = false
	if err != nil || tx.Existing || tx.Block == 0 {
		t.Fatalf("a chunk of %d bytes (%d payments): %+v %v; want it committed", at, n, tx, err)
	}
	lc, ok, err := c.Cycle(ctx, cycle)
	if err != nil || !ok || lc.Chunks != 1 || lc.Payments != n {
		t.Fatalf("cycle %+v found=%v %v; want 1 chunk of %d", lc, ok, err, n)
	}
}

// TestGovernedFileAtTheOrderersLimit: on the governed path the part that
// completes a file only verifies it, and IndexFile adds its payment ids to
// the sender's id pages, at most 300,000 bytes of pages a transaction (one
// IndexFile for a file of ids in sequence), so no transaction grows with the file:
// a file of EntriesMax payments goes through, every PutFilePart and every
// IndexFile under 400 KB (the orderers take RequestBytesMax), and the ledger
// holds all its payments. Both formats: a CSV cut at record boundaries, a
// pacs.008 (about 2.1 MB) cut every PartBytesMax bytes wherever that falls.
// The sizes are logged.
func TestGovernedFileAtTheOrderersLimit(t *testing.T) {
	g := governed(t)
	ctx := testCtx(t, 25*time.Minute)
	date := newDate()
	cycle := settlement.CycleID(date)
	files := []govFile{g.file(t, date, 0, "B"+g.run, EntriesMax), g.xmlFile(t, date, 1, "X"+g.run, EntriesMax)}
	if _, err := g.op.DeclareCycle(ctx, cycle, []DeclaredFile{files[0].decl, files[1].decl}); err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		parts, err := PartsOf(f.decl.Format, f.body, PartBytesMax)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.body) > FileBytesMax || len(parts) < 1 || f.decl.Format != "csv" && len(parts) < 2 {
			t.Fatalf("%s file of %d bytes in %d parts", f.decl.Format, len(f.body), len(parts))
		}
		var sizes []int
		g.op.beforeSend = func(n int) error { sizes = append(sizes, n); return nil }
		start := time.Now()
		txs, err := g.op.PutFile(ctx, cycle, f.decl, f.body, f.sig, PartBytesMax)
		g.op.beforeSend = nil
		if err != nil {
			t.Fatalf("a governed %s file of %d payments (%d bytes): %v", f.decl.Format, EntriesMax, len(f.body), err)
		}
		took := time.Since(start).Round(time.Millisecond)
		// The file's ids are in sequence: one transaction indexes them
		// all, the verifying part itself when they fit beside it (no
		// IndexFile is sent then), else one IndexFile.
		byVerify := len(txs.Index) == 1 && txs.Index[0].Tx.ID == txs.Verified.ID
		if len(txs.Index) != 1 || byVerify && len(sizes) != len(parts) || !byVerify && len(sizes) != len(parts)+1 {
			t.Fatalf("%d transactions sent for %d parts and %d entries, %d index transactions (by the verifying part: %v)", len(sizes), len(parts), EntriesMax, len(txs.Index), byVerify)
		}
		partMax, indexMax := 0, 0
		for i, n := range sizes {
			if i < len(parts) {
				partMax = max(partMax, n)
			} else {
				indexMax = max(indexMax, n)
			}
			if n > 400_000 {
				t.Errorf("transaction %d of %d is %d bytes, over 400 KB", i, len(sizes), n)
			}
		}
		t.Logf("a governed %s file of %d payments, %d bytes: %d PutFilePart (largest %d bytes, parts of at most %d sent), indexed by the verifying part: %v, %d IndexFile (largest %d bytes); %s",
			f.decl.Format, EntriesMax, len(f.body), len(parts), partMax, PartBytesMax, byVerify, len(sizes)-len(parts), indexMax, took)
		d, ok, err := g.op.Declared(ctx, cycle)
		if err != nil || !ok || len(d.Status) != 2 {
			t.Fatalf("declared %+v %v %v", d, ok, err)
		}
		for _, st := range d.Status {
			if st.FileID != f.decl.FileID {
				continue
			}
			if st.Status != "verified" || st.Indexed != EntriesMax || st.Entries != EntriesMax || st.Parts != len(parts) {
				t.Fatalf("file %d state %+v; want verified in %d parts, %d of %d indexed", i, st, len(parts), EntriesMax, EntriesMax)
			}
		}
		// The last payment of the file, recorded by the last IndexFile.
		last := fmt.Sprintf("%s-%06d", f.decl.FileID, EntriesMax-1)
		if p, ok, err := g.op.Payment(ctx, f.decl.Sender, last); err != nil || !ok || p.TxID != txs.Index[len(txs.Index)-1].Tx.ID {
			t.Fatalf("payment %s: %+v found=%v %v; want it recorded by %s", last, p, ok, err, txs.Index[len(txs.Index)-1].Tx.ID)
		}
	}
}
