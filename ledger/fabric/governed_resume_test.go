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
	partBytes := len(f.body)/3 + 1
	parts, err := CutParts("csv", f.body, partBytes)
	if err != nil || len(parts) < 3 {
		t.Fatalf("cut: %d parts, %v", len(parts), err)
	}
	// The first part committed, then the process died.
	if _, _, err := g.op.PutFilePart(ctx, cycle, f.decl.Sender, f.decl.FileID, 0, parts[0], nil); err != nil {
		t.Fatal(err)
	}
	tx, err := g.op.PutFile(ctx, cycle, f.decl, f.body, f.sig, partBytes)
	if err != nil {
		t.Fatalf("resuming an upload: %v", err)
	}
	if tx.Existing || tx.Block == 0 {
		t.Fatalf("the verifying transaction: %+v", tx)
	}
	again, err := g.op.PutFile(ctx, cycle, f.decl, f.body, f.sig, partBytes)
	if err != nil || !again.Existing || again.ID != tx.ID || again.Block != tx.Block {
		t.Fatalf("a verified file sent again: %+v %v, want the verifying tx %s", again, err, tx.ID)
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
