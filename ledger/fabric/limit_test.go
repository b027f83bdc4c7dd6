package fabric

import (
	"errors"
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
// completes a file (with its signature) makes the ledger verify the file and
// write every one of its payments, so that transaction grows with the file's
// entries, not with the part size: under the orderers' RequestBytesMax a
// governed file holds at most some hundreds of payments (logged). A file over
// it is refused at once and for good (TooLargeError), not retried as an
// unknown outcome, and nothing of it is verified.
func TestGovernedFileAtTheOrderersLimit(t *testing.T) {
	g := governed(t)
	ctx := testCtx(t, 10*time.Minute)
	put := func(id string, n int) (int, error) {
		date := newDate()
		cycle := settlement.CycleID(date)
		f := g.file(t, date, 0, id+g.run, n)
		if _, err := g.op.DeclareCycle(ctx, cycle, []DeclaredFile{f.decl}); err != nil {
			t.Fatal(err)
		}
		largest := 0
		g.op.beforeSend = func(n int) error { largest = max(largest, n); return nil }
		defer func() { g.op.beforeSend = nil }()
		_, err := g.op.PutFile(ctx, cycle, f.decl, f.body, f.sig, PartBytesMax)
		return largest, err
	}
	small, err := put("S", 400)
	if err != nil {
		t.Fatalf("a governed file of 400 payments: %v", err)
	}
	perEntry := small / 400
	t.Logf("a governed file of 400 payments: its verifying transaction is %d bytes (about %d a payment): at most about %d payments a file under %d bytes",
		small, perEntry, RequestBytesMax/perEntry, RequestBytesMax)
	start := time.Now()
	_, err = put("B", 5000)
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, jobs.ErrLedgerRefused) || errors.Is(err, jobs.ErrLedgerUnavailable) {
		t.Fatalf("a governed file of 5000 payments: %v; want a final TooLargeError", err)
	}
	t.Logf("a governed file of 5000 payments: refused in %s: %v", time.Since(start).Round(time.Millisecond), err)
}
