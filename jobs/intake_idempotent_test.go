package jobs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"settle/formats/gen"
	"settle/intake"
	"settle/settlement"
)

func (w *world) outbox(bank int) string {
	return filepath.Join(w.root, "sftp", "banks", string(w.banks[bank].BIC), "outbox")
}

func (w *world) inboxDir(bank int) string {
	return filepath.Join(w.root, "sftp", "banks", string(w.banks[bank].BIC), "inbox")
}

func (w *world) read(p string) []byte {
	w.t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (w *world) inboxEmpty(bank int) {
	w.t.Helper()
	es, err := os.ReadDir(w.inboxDir(bank))
	if err != nil {
		w.t.Fatal(err)
	}
	if len(es) != 0 {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		w.t.Fatalf("inbox of bank %d holds %v", bank, names)
	}
}

// TestSameFileAgainFinishesTheEarlierTake is issue 21's case: the pair of
// an accepted file is found in the inbox again (a crash before it was moved
// out, or the bank sending the same bytes under the same name). The intake
// finishes the earlier take: the pair leaves the inbox, the ACCEPTED ack
// stays byte for byte, nothing is rejected and the cycle is unchanged.
func TestSameFileAgainFinishesTheEarlierTake(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	ps := []gen.Payment{{ID: "P-1", Debtor: w.banks[0].BIC, Creditor: w.banks[1].BIC, Amount: "1000", Currency: "KRW"}}
	body := w.csv(0, date, "F-AGAIN", ps)
	w.upload(0, "again.csv", body)
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("first take: %+v %v", c, err)
	}
	ackPath := filepath.Join(w.outbox(0), "again.csv.ack.json")
	first := w.read(ackPath)
	if !bytes.Contains(first, []byte(`"status": "ACCEPTED"`)) {
		t.Fatalf("first ack: %s", first)
	}
	w.upload(0, "again.csv", body)
	c, err := w.intake.Collect(w.ctx)
	if err != nil || c.Taken != 1 || c.Accepted != 1 || c.Rejected != 0 || c.Duplicates != 0 {
		t.Fatalf("second take: %+v %v", c, err)
	}
	if again := w.read(ackPath); !bytes.Equal(again, first) {
		t.Fatalf("the ack changed:\n%s\nwas:\n%s", again, first)
	}
	es, _ := os.ReadDir(w.outbox(0))
	if len(es) != 2 {
		t.Fatalf("outbox holds %d files, want the one ack and its status report", len(es))
	}
	w.inboxEmpty(0)
	if cy, _, _ := w.store.Cycle(w.ctx, date); cy.Files != 1 || cy.Entries != 1 {
		t.Fatalf("cycle: %+v", cy)
	}
}

// TestReusedNameGetsAnAckOfItsOwn is issue 12 item 5: a later, different
// file under the name of an accepted one gets its verdict under
// <name>.<16 hex of its sha256>.ack.json; the ACCEPTED ack is not touched.
func TestReusedNameGetsAnAckOfItsOwn(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	ps := []gen.Payment{{ID: "S-1", Debtor: w.banks[0].BIC, Creditor: w.banks[1].BIC, Amount: "1000", Currency: "KRW"}}
	w.upload(0, "slow.csv", w.csv(0, date, "F-SLOW", ps))
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("first take: %+v %v", c, err)
	}
	first := w.read(filepath.Join(w.outbox(0), "slow.csv.ack.json"))

	// The same file id again, other content: rejected, under its own name.
	ps[0].Amount = "2000"
	second := w.csv(0, date, "F-SLOW", ps)
	w.upload(0, "slow.csv", second)
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Taken != 1 || c.Duplicates != 1 {
		t.Fatalf("second take: %+v %v", c, err)
	}
	if b := w.read(filepath.Join(w.outbox(0), "slow.csv.ack.json")); !bytes.Equal(b, first) {
		t.Fatalf("the ACCEPTED ack was replaced by:\n%s", b)
	}
	name := intake.AckNameOf("slow.csv", sha256Hex(second))
	if !strings.HasPrefix(name, "slow.csv.") || len(name) != len("slow.csv.")+16+len(".ack.json") {
		t.Fatalf("ack name %q", name)
	}
	a := w.ack(0, strings.TrimSuffix(name, ".ack.json"))
	if a.Status != intake.Rejected || len(a.Errors) != 1 || a.Errors[0].Code != settlement.CodeDuplicateFileID || a.SHA256 != sha256Hex(second) {
		t.Fatalf("second ack: %+v", a)
	}

	// A third, good file under the same name: accepted, under its name.
	ps[0].ID = "S-3"
	third := w.csv(0, date, "F-SLOW-3", ps)
	w.upload(0, "slow.csv", third)
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("third take: %+v %v", c, err)
	}
	a = w.ack(0, strings.TrimSuffix(intake.AckNameOf("slow.csv", sha256Hex(third)), ".ack.json"))
	if a.Status != intake.Accepted || a.Cycle != "C2026-11-24" {
		t.Fatalf("third ack: %+v", a)
	}
	if b := w.read(filepath.Join(w.outbox(0), "slow.csv.ack.json")); !bytes.Equal(b, first) {
		t.Fatalf("the first ack was replaced by:\n%s", b)
	}
	es, _ := os.ReadDir(w.outbox(0))
	if len(es) != 6 {
		t.Fatalf("outbox holds %d files, want 3 acks and their status reports", len(es))
	}
	w.inboxEmpty(0)
	if cy, _, _ := w.store.Cycle(w.ctx, date); cy.Files != 2 || cy.Entries != 2 {
		t.Fatalf("cycle: %+v", cy)
	}
}

// TestAnotherBanksFileTellsNothingAboutIt is issue 12 item 8: a bank that
// uploads another bank's accepted file is told its own file's problems (the
// sender is not the uploader, the signature is not its own), never that
// file's name, time, status, count or sum as a duplicate.
func TestAnotherBanksFileTellsNothingAboutIt(t *testing.T) {
	w := newWorld(t)
	const date = settlement.Date("2026-11-24")
	ps := []gen.Payment{{ID: "C-1", Debtor: w.banks[0].BIC, Creditor: w.banks[1].BIC, Amount: "1234", Currency: "KRW"}}
	body := w.csv(0, date, "F-SECRET", ps)
	w.upload(0, "secret-name.csv", body)
	if c, err := w.intake.Collect(w.ctx); err != nil || c.Accepted != 1 {
		t.Fatalf("owner's take: %+v %v", c, err)
	}
	owner := w.read(filepath.Join(w.outbox(0), "secret-name.csv.ack.json"))
	w.upload(1, "copy.csv", body) // signed with bank 1's own key
	c, err := w.intake.Collect(w.ctx)
	if err != nil || c.Rejected != 1 || c.Duplicates != 0 {
		t.Fatalf("copy's take: %+v %v", c, err)
	}
	raw := w.read(filepath.Join(w.outbox(1), "copy.csv.ack.json"))
	a := w.ack(1, "copy.csv")
	codes := map[string]bool{}
	for _, p := range a.Errors {
		codes[p.Code] = true
	}
	if a.Status != intake.Rejected || !codes[settlement.CodeSenderNotUploader] || codes[settlement.CodeDuplicateFile] || codes[settlement.CodeDuplicateFileID] {
		t.Fatalf("copy's ack: %s", raw)
	}
	if bytes.Contains(raw, []byte("secret-name")) || bytes.Contains(raw, []byte(`"status": "ACCEPTED"`)) {
		t.Fatalf("the ack tells bank 1 about bank 0's file: %s", raw)
	}
	if b := w.read(filepath.Join(w.outbox(0), "secret-name.csv.ack.json")); !bytes.Equal(b, owner) {
		t.Fatalf("the owner's ack changed: %s", b)
	}
	w.inboxEmpty(1)
	if cy, _, _ := w.store.Cycle(w.ctx, date); cy.Files != 1 || cy.Entries != 1 {
		t.Fatalf("cycle: %+v", cy)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestTakeAcknowledgedBeforeTheBytesWereKept: a file acknowledged before
// migration 0011 has its ack's name recorded but not its bytes. Found in
// the inbox again, its take is finished: the pair leaves, the outbox and
// the store are not touched, nothing is judged again.
func TestTakeAcknowledgedBeforeTheBytesWereKept(t *testing.T) {
	w := newPostgresWorld(t)
	const date = settlement.Date("2026-11-24")
	ps := []gen.Payment{{ID: "O-1", Debtor: w.banks[0].BIC, Creditor: w.banks[1].BIC, Amount: "1000", Currency: "KRW"}}
	body := w.csv(0, date, "F-OLD", ps)
	if _, err := w.pg.DB().ExecContext(w.ctx, `INSERT INTO acknowledgements (bank, file_name, sha256, ack_name) VALUES ($1, 'old.csv', $2, 'old.csv.ack.json')`,
		string(w.banks[0].BIC), sha256Hex(body)); err != nil {
		t.Fatal(err)
	}
	w.upload(0, "old.csv", body)
	c, err := w.intake.Collect(w.ctx)
	if err != nil || c.Taken != 1 || c.Accepted+c.Rejected+c.Duplicates != 0 {
		t.Fatalf("%+v %v", c, err)
	}
	w.inboxEmpty(0)
	if es, _ := os.ReadDir(w.outbox(0)); len(es) != 0 {
		t.Fatalf("outbox holds %d files", len(es))
	}
	var files int
	w.pg.DB().QueryRowContext(w.ctx, `SELECT count(*) FROM files`).Scan(&files)
	if files != 0 {
		t.Fatalf("%d files recorded", files)
	}
}
