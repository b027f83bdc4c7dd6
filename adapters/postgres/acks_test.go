package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"settle/adapters/postgres"
	"settle/settlement"
)

// entries is where problems belong, for a stand-in status report.
func entries(ps []settlement.Problem) string {
	var b []string
	for _, p := range ps {
		b = append(b, fmt.Sprintf("%d:%s:%s", p.Line, p.Entry, p.Code))
	}
	return strings.Join(b, " ")
}

// ackOf renders a stand-in acknowledgement: the outcome and its codes.
func ackOf(name string) *postgres.Ack {
	return &postgres.Ack{Name: name, Body: func(st postgres.Status, ps []settlement.Problem) ([]byte, []byte, error) {
		return []byte(fmt.Sprintf("%s %s\n", st, codes(ps))), []byte(fmt.Sprintf("<report>%s %s</report>\n", st, entries(ps))), nil
	}}
}

// TestAcknowledgementRecordedWithTheFile: the verdict's bytes are recorded
// in the transaction of the file, whatever the outcome (accepted, rejected
// by the database, duplicate), and found again by bank, name and bytes; a
// verdict that cannot be rendered records nothing at all; the same bytes
// from another bank are that bank's own file and tell it nothing about the
// first; recorded verdicts cannot be changed.
func TestAcknowledgementRecordedWithTheFile(t *testing.T) {
	f := newFixture(t)
	c1 := f.cycle("2026-11-24")
	fr, es := file(bankA, "A1", c1, pay(2, "P1", bankA, bankB, "100"))
	fr.Ack = ackOf("A1.csv.ack.json")
	res := f.ingest(fr, es)
	got, ok, err := f.s.Acknowledgement(f.ctx, bankA, "A1.csv", fr.SHA256)
	if err != nil || !ok || string(got.Body) != "ACCEPTED \n" || string(got.Report) != "<report>ACCEPTED </report>\n" || got.Name != "A1.csv.ack.json" || got.FileRow != res.FileRow {
		t.Fatalf("accepted: %+v %v %v (file row %d)", got, ok, err, res.FileRow)
	}
	if taken, err := f.s.AckNameTaken(f.ctx, bankA, "A1.csv.ack.json"); err != nil || !taken {
		t.Fatalf("name taken: %v %v", taken, err)
	}
	if taken, _ := f.s.AckNameTaken(f.ctx, bankB, "A1.csv.ack.json"); taken {
		t.Fatal("another bank's name is taken")
	}
	if _, ok, _ := f.s.Acknowledgement(f.ctx, bankA, "other.csv", fr.SHA256); ok {
		t.Fatal("found under another name")
	}

	// Rejected by the database: recorded with the rejection, no payment.
	fr2, es2 := file(bankA, "A2", c1, pay(2, "Q1", bankA, bankB, "5"), pay(3, "Q1", bankA, bankB, "6"))
	fr2.Ack = ackOf("A2.csv.ack.json")
	if res := f.ingest(fr2, es2); res.Status != postgres.Rejected {
		t.Fatalf("A2: %+v", res)
	}
	got, ok, _ = f.s.Acknowledgement(f.ctx, bankA, "A2.csv", fr2.SHA256)
	if !ok || string(got.Body) != "REJECTED 3:DUPLICATE_PAYMENT_ID\n" || got.FileRow == 0 ||
		string(got.Report) != "<report>REJECTED 3:Q1:DUPLICATE_PAYMENT_ID</report>\n" { // the database's problem names its entry
		t.Fatalf("rejected: %+v %q", got, got.Body)
	}

	// The same bytes under another name: a duplicate, recorded as such.
	dup := fr
	dup.Name, dup.Ack = "again.csv", ackOf("again.csv.ack.json")
	if res := f.ingest(dup, es); res.Status != postgres.Duplicate {
		t.Fatalf("duplicate: %+v", res)
	}
	got, ok, _ = f.s.Acknowledgement(f.ctx, bankA, "again.csv", fr.SHA256)
	if !ok || string(got.Body) != "DUPLICATE 0:DUPLICATE_FILE\n" || string(got.Report) != "<report>DUPLICATE 0::DUPLICATE_FILE</report>\n" || got.FileRow != 0 {
		t.Fatalf("duplicate: %+v %q", got, got.Body)
	}

	// A verdict that cannot be rendered: the file is not recorded either.
	files, payments := f.count(`SELECT count(*) FROM files`), f.count(`SELECT count(*) FROM payments`)
	fr3, es3 := file(bankA, "A3", c1, pay(2, "R1", bankA, bankB, "7"))
	fr3.Ack = &postgres.Ack{Name: "A3.csv.ack.json", Body: func(postgres.Status, []settlement.Problem) ([]byte, []byte, error) {
		return nil, nil, errors.New("cannot render")
	}}
	if _, err := f.s.IngestFile(f.ctx, fr3, es3); err == nil {
		t.Fatal("ingested without its acknowledgement")
	}
	if f.count(`SELECT count(*) FROM files`) != files || f.count(`SELECT count(*) FROM payments`) != payments {
		t.Fatal("a file was recorded without its acknowledgement")
	}

	// Bank B sends bank A's bytes: its own rejected file, its own problems.
	copyB := fr
	copyB.Sender, copyB.Name, copyB.Ack = bankB, "copy.csv", ackOf("copy.csv.ack.json")
	mine := []settlement.Problem{{Line: 1, Field: "sender", Code: settlement.CodeSenderNotUploader, Message: "not the uploader"}}
	res, err = f.s.RecordRejected(f.ctx, copyB, mine)
	if err != nil || res.Status != postgres.Rejected || len(res.Problems) != 1 || res.Problems[0].Code != settlement.CodeSenderNotUploader {
		t.Fatalf("bank B's copy: %+v %v", res, err)
	}
	got, _, _ = f.s.Acknowledgement(f.ctx, bankB, "copy.csv", fr.SHA256)
	if string(got.Body) != "REJECTED 1:SENDER_NOT_UPLOADER\n" {
		t.Fatalf("bank B's ack: %q", got.Body)
	}

	for _, stmt := range []string{`UPDATE acknowledgements SET verdict = 'x'`, `UPDATE acknowledgements SET report = 'x'`, `DELETE FROM acknowledgements`, `TRUNCATE acknowledgements`} {
		if _, err := f.s.DB().ExecContext(f.ctx, stmt); err == nil {
			t.Errorf("%s: allowed", stmt)
		}
	}
}
