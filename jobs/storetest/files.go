package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/settlement"
)

// FileStore is what the file lister's contract needs of a store: the
// intake's side, which records the files, and jobs.FileLister (part of
// jobs.PipelineStore), which lists them for the governed ledger path.
type FileStore interface {
	jobs.IntakeStore
	jobs.FileLister
}

// Members are the banks the file lister's contract sends files between;
// the subject's store must know them as members.
var Members = []settlement.BIC{"CZNBKRSE", "SHBKKRSE"}

// RunFileLister runs the contract of jobs.FileLister on fresh stores from
// open.
func RunFileLister(t *testing.T, open func(t *testing.T) FileStore) {
	for _, c := range []struct {
		name string
		test func(*testing.T, FileStore)
	}{
		{"LedgerFilesOfACycleWithoutFiles", testLedgerFilesEmpty},
		{"LedgerFilesListsTheAcceptedInOrder", testLedgerFilesInOrder},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open(t)) })
	}
}

func testLedgerFilesEmpty(t *testing.T, s FileStore) {
	ctx := context.Background()
	if _, err := s.EnsureCycle(ctx, day); err != nil {
		t.Fatal(err)
	}
	fs, err := s.LedgerFiles(ctx, day)
	if err != nil || len(fs) != 0 {
		t.Fatalf("LedgerFiles of a cycle without files: %v, %v", fs, err)
	}
}

// testLedgerFilesInOrder: a cycle's accepted files, and only they (not a
// rejected one, not another cycle's), in (sender, file id) byte order,
// each as it was recorded, with the format its name says.
func testLedgerFilesInOrder(t *testing.T, s FileStore) {
	ctx := context.Background()
	next := settlement.Date("2026-11-25")
	for _, d := range []settlement.Date{day, next} {
		if _, err := s.EnsureCycle(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	a, b := Members[0], Members[1]
	want := []jobs.LedgerFile{
		listerIngest(t, s, a, "F10", "F10.csv", day, 2),
		listerIngest(t, s, a, "F9", "F9.xml", day, 1),
		listerIngest(t, s, b, "F1", "F1.csv", day, 3),
	}
	listerIngest(t, s, b, "F0", "F0.csv", next, 1) // another cycle's
	rejected := listerRecord(b, "R1", "R1.csv", day, 1)
	if _, err := s.RecordRejected(ctx, rejected, []settlement.Problem{{Line: 1, Code: "FIELD_INVALID", Message: "refused by the test"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LedgerFiles(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("LedgerFiles: %d files %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Sender != w.Sender || g.FileID != w.FileID || g.Name != w.Name || g.Format != w.Format || g.SHA256 != w.SHA256 ||
			g.Size != w.Size || g.Entries != w.Entries || !g.ControlSum.Equal(w.ControlSum) || g.BusinessDate != w.BusinessDate {
			t.Errorf("file %d: %+v, want %+v", i, g, w)
		}
	}
}

// listerRecord is a file of n payments from sender to the other member, for the
// cycle of date.
func listerRecord(sender settlement.BIC, fileID, name string, date settlement.Date, n int) jobs.FileRecord {
	sum := decimal.Zero
	for i := range n {
		sum = sum.Add(decimal.NewFromInt(int64(1000 * (i + 1))))
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s %s %s %d", sender, fileID, name, n)))
	return jobs.FileRecord{Sender: sender, FileID: fileID, Name: name, SHA256: hex.EncodeToString(h[:]), Size: int64(100 + n),
		SignatureKey: "k1", BusinessDate: date, Cycle: date, Entries: int64(n), ControlSum: sum, ReceivedAt: now}
}

// listerIngest records an accepted file (listerRecord's) and returns it as LedgerFiles
// should list it.
func listerIngest(t *testing.T, s FileStore, sender settlement.BIC, fileID, name string, date settlement.Date, n int) jobs.LedgerFile {
	t.Helper()
	f := listerRecord(sender, fileID, name, date, n)
	to := Members[0]
	if sender == to {
		to = Members[1]
	}
	krw, err := settlement.ParseCurrency("KRW")
	if err != nil {
		t.Fatal(err)
	}
	entries := func(yield func(*settlement.Entry) bool) error {
		for i := range n {
			e := &settlement.Entry{Line: i + 2, Kind: settlement.KindPayment, ID: fmt.Sprintf("%s-%d", fileID, i), Debtor: sender, Creditor: to,
				Amount: decimal.NewFromInt(int64(1000 * (i + 1))), Currency: krw}
			if !yield(e) {
				return nil
			}
		}
		return nil
	}
	res, err := s.IngestFile(context.Background(), f, entries)
	if err != nil || res.Status != jobs.IngestAccepted {
		t.Fatalf("ingest %s/%s: %+v %v", sender, fileID, res, err)
	}
	format := "csv"
	if strings.HasSuffix(name, ".xml") {
		format = "xml"
	}
	return jobs.LedgerFile{Sender: sender, FileID: fileID, Name: name, Format: format, SHA256: f.SHA256, Size: f.Size,
		Entries: f.Entries, ControlSum: f.ControlSum, BusinessDate: date}
}
