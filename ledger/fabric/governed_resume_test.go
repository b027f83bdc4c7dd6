package fabric

import (
	"fmt"
	"testing"
	"time"

	"settle/settlement"
)

// TestGovernedPutFileResumes is the crash the e2e kill test found: the service
// dies after the ledger committed a file's part (or the part that verified the
// file) but before Postgres recorded it. PutFile run again resumes where the
// ledger stands, and a verified file is answered with the transaction that
// verified it, not refused; the last part sent again directly is answered so
// too (a commit the client did not see).
func TestGovernedPutFileResumes(t *testing.T) {
	g := governed(t)
	ctx := testCtx(t, 5*time.Minute)
	date := newDate()
	cycle := settlement.CycleID(date)
	f := g.file(t, date, 0, fmt.Sprintf("R%s-0", g.run), 60)
	if _, err := g.op.DeclareCycle(ctx, cycle, []DeclaredFile{f.decl}); err != nil {
		t.Fatal(err)
	}
	partBytes := len(compressPart(f.body).Sent)/3 + 1 // what PutFile sends: parts compressed
	cut, err := PartsOf("csv", f.body, partBytes)
	if err != nil || len(cut) < 3 {
		t.Fatalf("cut: %d parts, %v", len(cut), err)
	}
	parts := make([][]byte, len(cut))
	for i, p := range cut {
		parts[i] = p.Raw
	}
	// The first part committed, then the process died.
	if _, _, err := g.op.PutFilePart(ctx, cycle, f.decl.Sender, f.decl.FileID, 0, parts[0], nil); err != nil {
		t.Fatal(err)
	}
	txs, err := g.op.PutFile(ctx, cycle, f.decl, f.body, f.sig, partBytes)
	if err != nil {
		t.Fatalf("resuming an upload: %v", err)
	}
	tx := txs.Verified
	if tx.Existing || tx.Block == 0 {
		t.Fatalf("the verifying transaction: %+v", tx)
	}
	if len(txs.Index) == 0 || txs.Index[0].Start != 0 || txs.Index[len(txs.Index)-1].Start+txs.Index[len(txs.Index)-1].Entries != int(f.decl.Entries) {
		t.Fatalf("the index transactions %+v do not cover the file's %d entries", txs.Index, f.decl.Entries)
	}
	for _, x := range txs.Index {
		if x.Tx.ID == "" || x.Tx.Block < tx.Block || x.Tx.Existing {
			t.Fatalf("index transaction %+v (verified in block %d)", x, tx.Block)
		}
	}
	// Sent again (a crash after the commits, before Postgres recorded
	// them): the same transactions, read from the ledger's state.
	againTxs, err := g.op.PutFile(ctx, cycle, f.decl, f.body, f.sig, partBytes)
	again := againTxs.Verified
	if err != nil || !again.Existing || again.ID != tx.ID || again.Block != tx.Block {
		t.Fatalf("a verified file sent again: %+v %v, want the verifying tx %s", again, err, tx.ID)
	}
	if len(againTxs.Index) != len(txs.Index) {
		t.Fatalf("sent again: %d index transactions, first %d", len(againTxs.Index), len(txs.Index))
	}
	for i, x := range againTxs.Index {
		if x.Tx.ID != txs.Index[i].Tx.ID || x.Start != txs.Index[i].Start || !x.Tx.Existing {
			t.Fatalf("sent again: index transaction %d is %+v, first %+v", i, x, txs.Index[i])
		}
	}
	n := len(parts) - 1
	status, last, err := g.op.PutFilePart(ctx, cycle, f.decl.Sender, f.decl.FileID, n, parts[n], f.sig)
	if err != nil || status != "verified" || !last.Existing || last.ID != tx.ID {
		t.Fatalf("the last part again: %s %+v %v, want the verifying tx %s", status, last, err, tx.ID)
	}
	// Other bytes under the verified file's last index are still refused.
	_, _, err = g.op.PutFilePart(ctx, cycle, f.decl.Sender, f.decl.FileID, n, append(append([]byte{}, parts[n]...), "P\n"...), f.sig)
	wantCode(t, err, CodeFileVerified)
}
