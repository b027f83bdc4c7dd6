package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/settlement"
)

// IntakeSubject is one implementation of jobs.IntakeStore under test, with
// what the suite needs around the port: an operator's set-up (members and
// their keys), the cycles (to close one), and a look at what was recorded.
type IntakeSubject struct {
	Store  jobs.IntakeStore
	Cycles jobs.CycleStore
	Files  jobs.FileLookup
	// AddBank registers an active member; AddKey a public key of one.
	AddBank func(settlement.BIC) error
	AddKey  func(Key) error
	// AcknowledgedAt is the stamp Acknowledged left on a file row; ok
	// false if none.
	AcknowledgedAt func(fileRow int64) (at time.Time, ok bool, err error)
}

// Key is a bank's public key as an operator registers it.
type Key struct {
	Bank      settlement.BIC
	Label     string
	PEM       string
	ValidFrom time.Time
	ValidTo   *time.Time // nil: open-ended
}

// The members of the suite's consortium, and a bank that is none.
const (
	bankA, bankB, bankC = settlement.BIC("SHBKKRSE"), settlement.BIC("CZNBKRSE"), settlement.BIC("HVBKKRSE")
	outsider            = settlement.BIC("KOEXKRSE")
	dayBefore           = settlement.Date("2026-11-23")
)

// RunIntakeStore runs jobs.IntakeStore's contract on fresh subjects from
// open, each with the members bankA, bankB and bankC and the cycles of
// dayBefore and day open.
func RunIntakeStore(t *testing.T, open func(t *testing.T) IntakeSubject) {
	for _, c := range []struct {
		name string
		test func(*testing.T, IntakeSubject)
	}{
		{"Members", testMembers},
		{"SigningKeysValidAt", testSigningKeysValidAt},
		{"Accepted", testAccepted},
		{"ReplayedFile", testReplayedFile},
		{"BadRecordOrStream", testBadRecordOrStream},
		{"BadEntries", testBadEntries},
		{"DuplicateIDs", testDuplicateIDs},
		{"Reversals", testReversals},
		{"ReversalRefusals", testReversalRefusals},
		{"CycleNotAccepting", testCycleNotAccepting},
		{"RecordRejected", testRecordRejected},
		{"Acknowledged", testAcknowledged},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			prepare(t, s.AddBank, s.Store.EnsureCycle)
			c.test(t, s)
		})
	}
}

// received is when the suite's files arrive (whole seconds: every store
// keeps them exactly).
var received = time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)

// record is a file of sender for the cycle of date, its bytes named by
// body, acknowledged under its name.
func record(sender settlement.BIC, fileID, name, body string, date settlement.Date) jobs.FileRecord {
	sum := sha256.Sum256([]byte(string(sender) + "\n" + body))
	return jobs.FileRecord{Sender: sender, FileID: fileID, Name: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)),
		BusinessDate: date, Cycle: date, ControlSum: decimal.Zero, ReceivedAt: received,
		Ack: &jobs.AckRecord{Name: name + ".ack.json", Body: ackBody}}
}

// ackBody renders a verdict so that the suite can read it back.
func ackBody(status string, ps []settlement.Problem) ([]byte, []byte, error) {
	codes := make([]string, len(ps))
	for i, p := range ps {
		codes[i] = p.Code
	}
	return []byte(status + " " + strings.Join(codes, ",")), []byte("report " + status), nil
}

// pay is a payment of amount (in cur) from debtor to creditor at line.
func pay(line int, id string, debtor, creditor settlement.BIC, amount, cur string) settlement.Entry {
	c, err := settlement.ParseCurrency(cur)
	if err != nil {
		panic(err)
	}
	return settlement.Entry{Line: line, Kind: settlement.KindPayment, ID: id, Debtor: debtor, Creditor: creditor,
		Amount: decimal.RequireFromString(amount), Currency: c}
}

// rev is a reversal of original, with the fields it repeats.
func rev(line int, id, original string, debtor, creditor settlement.BIC, amount, cur string) settlement.Entry {
	e := pay(line, id, debtor, creditor, amount, cur)
	e.Kind, e.Original, e.Reason = settlement.KindReversal, original, "AC03"
	return e
}

// stream is entries as IngestFile takes them.
func stream(es []settlement.Entry) func(yield func(*settlement.Entry) bool) error {
	return func(yield func(*settlement.Entry) bool) error {
		for i := range es {
			if !yield(&es[i]) {
				return nil
			}
		}
		return nil
	}
}

func ingest(s IntakeSubject, f jobs.FileRecord, es ...settlement.Entry) (jobs.IngestResult, error) {
	f.Entries = int64(len(es))
	return s.Store.IngestFile(context.Background(), f, stream(es))
}

func mustIngest(t *testing.T, s IntakeSubject, status string, f jobs.FileRecord, es ...settlement.Entry) jobs.IngestResult {
	t.Helper()
	res, err := ingest(s, f, es...)
	if err != nil || res.Status != status {
		t.Fatalf("ingest %s: %+v %v, want %s", f.Name, res, err, status)
	}
	return res
}

// wantAck checks the verdict recorded for f: its status and codes, and
// the file row it names.
func wantAck(t *testing.T, s IntakeSubject, f jobs.FileRecord, body string, row int64) {
	t.Helper()
	a, ok, err := s.Files.Acknowledgement(context.Background(), f.Sender, f.Name, f.SHA256)
	if err != nil || !ok {
		t.Fatalf("ack of %s: %v %v", f.Name, ok, err)
	}
	if a.Name != f.Ack.Name || string(a.Body) != body || !strings.HasPrefix(string(a.Report), "report ") || a.FileRow != row {
		t.Fatalf("ack of %s: %s %q %q row %d, want %q row %d", f.Name, a.Name, a.Body, a.Report, a.FileRow, body, row)
	}
}

// wantCycle checks the files and entries a cycle holds.
func wantCycle(t *testing.T, s IntakeSubject, d settlement.Date, files, entries int64) {
	t.Helper()
	c, ok, err := s.Cycles.Cycle(context.Background(), d)
	if err != nil || !ok || c.Files != files || c.Entries != entries {
		t.Fatalf("cycle %s: %d files %d entries (%v %v), want %d and %d", d, c.Files, c.Entries, ok, err, files, entries)
	}
}

// wantProblems compares problems whole: line, field, code, message, entry.
func wantProblems(t *testing.T, res jobs.IngestResult, want ...settlement.Problem) {
	t.Helper()
	if res.Status != jobs.IngestRejected || !reflect.DeepEqual(res.Problems, want) {
		t.Fatalf("%s with problems\n%s\nwant\n%s", res.Status, problemsText(res.Problems), problemsText(want))
	}
}

func problemsText(ps []settlement.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %s [%s]\n", p, p.Entry)
	}
	return b.String()
}

func problem(line int, field, code, entry, format string, args ...any) settlement.Problem {
	return settlement.Problem{Line: line, Field: field, Code: code, Message: fmt.Sprintf(format, args...), Entry: entry}
}

func testMembers(t *testing.T, s IntakeSubject) {
	m, err := s.Store.Members(context.Background())
	want := map[settlement.BIC]bool{bankA: true, bankB: true, bankC: true}
	if err != nil || !reflect.DeepEqual(m, want) {
		t.Fatalf("members %v %v, want %v", m, err, want)
	}
}

func publicPEM(t *testing.T, seed byte) string {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytesOf(seed, ed25519.SeedSize))
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func testSigningKeysValidAt(t *testing.T, s IntakeSubject) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(24*time.Hour), t0.Add(48*time.Hour)
	// k1 until t2, k2 from t1 on: a rotation with a day of overlap.
	for _, k := range []Key{{Bank: bankA, Label: "k1", PEM: publicPEM(t, 1), ValidFrom: t0, ValidTo: &t2},
		{Bank: bankA, Label: "k2", PEM: publicPEM(t, 2), ValidFrom: t1}, {Bank: bankB, Label: "b1", PEM: publicPEM(t, 3), ValidFrom: t0}} {
		if err := s.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		bank settlement.BIC
		at   time.Time
		want string
	}{
		{bankA, t0.Add(-time.Second), ""},
		{bankA, t0, "k1"},
		{bankA, t1.Add(time.Hour), "k2 k1"}, // newest first
		{bankA, t2, "k2"},
		{bankB, t2, "b1"},
		{bankC, t2, ""},
	} {
		ks, err := s.Store.SigningKeys(ctx, c.bank, c.at)
		if err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, k := range ks {
			if k.Bank != c.bank || k.Public == nil {
				t.Fatalf("key %+v of %s", k, c.bank)
			}
			labels = append(labels, k.Label)
		}
		if got := strings.Join(labels, " "); got != c.want {
			t.Errorf("keys of %s at %s: %q, want %q", c.bank, c.at, got, c.want)
		}
	}
}

func testAccepted(t *testing.T, s IntakeSubject) {
	f := record(bankA, "F1", "f1.csv", "f1", day)
	res := mustIngest(t, s, jobs.IngestAccepted, f,
		pay(2, "P1", bankA, bankB, "100.50", "USD"), pay(3, "P2", bankA, bankC, "7", "KRW"), pay(5, "P3", bankA, bankB, "1", "USD"))
	if res.FileRow <= 0 || len(res.Problems) != 0 {
		t.Fatalf("accepted: %+v", res)
	}
	wantAck(t, s, f, "ACCEPTED ", res.FileRow)
	wantCycle(t, s, day, 1, 3)
	wantCycle(t, s, dayBefore, 0, 0)
	// Another sender's ids are its own.
	g := record(bankB, "F1", "f1.csv", "f1", day)
	other := mustIngest(t, s, jobs.IngestAccepted, g, pay(1, "P1", bankB, bankA, "100.50", "USD"))
	if other.FileRow == res.FileRow {
		t.Fatalf("two files on row %d", res.FileRow)
	}
	wantCycle(t, s, day, 2, 4)
}

func testReplayedFile(t *testing.T, s IntakeSubject) {
	f := record(bankA, "F1", "f1.csv", "f1", day)
	first := mustIngest(t, s, jobs.IngestAccepted, f, pay(1, "P1", bankA, bankB, "100", "USD"))
	at := received.UTC().Format(time.RFC3339)
	// The same bytes again under another name: nothing is recorded but
	// the verdict, which names the earlier file.
	again := f
	again.Name, again.Ack = "again.csv", &jobs.AckRecord{Name: "again.csv.ack.json", Body: ackBody}
	res := mustIngest(t, s, jobs.IngestDuplicate, again, pay(1, "P1", bankA, bankB, "100", "USD"))
	want := []settlement.Problem{{Code: settlement.CodeDuplicateFile,
		Message: fmt.Sprintf("the same file (sha256 %s) was received as f1.csv at %s and ACCEPTED", f.SHA256, at)}}
	if res.FileRow != first.FileRow || !reflect.DeepEqual(res.Problems, want) {
		t.Fatalf("replay: %+v, want row %d and %+v", res, first.FileRow, want)
	}
	wantAck(t, s, again, "DUPLICATE DUPLICATE_FILE", 0)
	// Other bytes under a file id used before.
	reused := record(bankA, "F1", "f1b.csv", "other bytes", day)
	res = mustIngest(t, s, jobs.IngestDuplicate, reused, pay(1, "P9", bankA, bankB, "100", "USD"))
	want = []settlement.Problem{{Field: "file_id", Code: settlement.CodeDuplicateFileID,
		Message: fmt.Sprintf("file id F1 was already used by %s for f1.csv received at %s (ACCEPTED)", bankA, at)}}
	if res.FileRow != first.FileRow || !reflect.DeepEqual(res.Problems, want) {
		t.Fatalf("file id reused: %+v, want %+v", res, want)
	}
	wantCycle(t, s, day, 1, 1)
	// The same take twice (same bank, name and bytes) is the caller's to
	// finish from its verdict: recording a second verdict is refused.
	if res, err := ingest(s, again, pay(1, "P1", bankA, bankB, "100", "USD")); err == nil {
		t.Fatalf("a second verdict for one take: %+v", res)
	}
}

func testBadRecordOrStream(t *testing.T, s IntakeSubject) {
	ctx := context.Background()
	bad := record(bankA, "F1", "f1.csv", "f1", day)
	bad.SHA256 = "not hex"
	if res, err := ingest(s, bad, pay(1, "P1", bankA, bankB, "1", "USD")); err == nil {
		t.Fatalf("a bad record: %+v", res)
	}
	f := record(bankA, "F1", "f1.csv", "f1", day)
	f.Entries = 2 // the trailer says two; one comes
	if res, err := s.Store.IngestFile(ctx, f, stream([]settlement.Entry{pay(1, "P1", bankA, bankB, "1", "USD")})); err == nil {
		t.Fatalf("a short stream: %+v", res)
	}
	if res, err := ingest(s, f, pay(2, "P1", bankA, bankB, "1", "USD"), pay(2, "P2", bankA, bankB, "1", "USD")); !errors.Is(err, settlement.ErrEntryOrder) {
		t.Fatalf("lines out of order: %+v %v, want %v", res, err, settlement.ErrEntryOrder)
	}
	broken := errors.New("read failed")
	f.Entries = 1
	res, err := s.Store.IngestFile(ctx, f, func(yield func(*settlement.Entry) bool) error {
		e := pay(1, "P1", bankA, bankB, "1", "USD")
		yield(&e)
		return broken
	})
	if !errors.Is(err, broken) {
		t.Fatalf("a broken stream: %+v %v", res, err)
	}
	// Nothing of them is kept: the file is new.
	wantCycle(t, s, day, 0, 0)
	if _, ok, _ := s.Files.Acknowledgement(ctx, bankA, "f1.csv", f.SHA256); ok {
		t.Fatal("a failed ingest left a verdict")
	}
	mustIngest(t, s, jobs.IngestAccepted, f, pay(1, "P1", bankA, bankB, "1", "USD"))
}

func testBadEntries(t *testing.T, s IntakeSubject) {
	f := record(bankA, "F1", "f1.csv", "f1", day)
	res := mustIngest(t, s, jobs.IngestRejected, f,
		pay(1, "P1", bankA, bankB, "1", "USD"), pay(2, "P2", bankA, outsider, "1", "USD"), pay(3, "P3", bankB, bankA, "1.001", "USD"))
	wantProblems(t, res,
		problem(2, "creditor_bic", settlement.CodeUnknownBank, "P2", "%s is not a member of the consortium", outsider),
		problem(3, "debtor_bic", settlement.CodeDebtorNotSender, "P3", "%s is not the sender %s", bankB, bankA),
		problem(3, "amount", settlement.CodeAmountScale, "P3", "1.001 has more decimals than USD allows"))
	wantAck(t, s, f, "REJECTED UNKNOWN_BANK,DEBTOR_NOT_SENDER,AMOUNT_SCALE", res.FileRow)
	wantCycle(t, s, day, 0, 0)
}

func testDuplicateIDs(t *testing.T, s IntakeSubject) {
	f1 := record(bankA, "F1", "f1.csv", "f1", day)
	first := mustIngest(t, s, jobs.IngestAccepted, f1, pay(1, "P1", bankA, bankB, "1", "USD"), pay(2, "P2", bankA, bankB, "1", "USD"))
	f2 := record(bankA, "F2", "f2.csv", "f2", day)
	res := mustIngest(t, s, jobs.IngestRejected, f2,
		pay(1, "P2", bankA, bankB, "1", "USD"), pay(2, "P3", bankA, bankB, "1", "USD"), pay(3, "P3", bankA, bankC, "2", "USD"),
		rev(4, "P1", "X1", bankA, bankB, "1", "USD"))
	wantProblems(t, res,
		problem(1, "payment_id", settlement.CodeDuplicatePaymentID, "P2", "id P2 is already used by the same sender in file F1 (f1.csv) line 2"),
		problem(3, "payment_id", settlement.CodeDuplicatePaymentID, "P3", "id P3 is already used at line 2 of this file"),
		problem(4, "reversal_id", settlement.CodeDuplicatePaymentID, "P1", "id P1 is already used by the same sender in file F1 (f1.csv) line 1"),
		problem(4, "original_payment_id", settlement.CodeOriginalUnknown, "P1", "no payment X1 of this sender is known"))
	if res.FileRow <= first.FileRow {
		t.Fatalf("rejected on row %d, after %d", res.FileRow, first.FileRow)
	}
	wantAck(t, s, f2, "REJECTED DUPLICATE_PAYMENT_ID,DUPLICATE_PAYMENT_ID,DUPLICATE_PAYMENT_ID,ORIGINAL_UNKNOWN", res.FileRow)
	wantCycle(t, s, day, 1, 2)
	// The rejected file's ids were never taken; its bytes and file id
	// were: the same file again is a duplicate of the rejected one.
	again := f2
	again.Name, again.Ack = "f2-again.csv", &jobs.AckRecord{Name: "f2-again.csv.ack.json", Body: ackBody}
	if dup := mustIngest(t, s, jobs.IngestDuplicate, again, pay(1, "P3", bankA, bankB, "1", "USD")); dup.FileRow != res.FileRow ||
		!strings.HasSuffix(dup.Problems[0].Message, "and REJECTED") {
		t.Fatalf("again: %+v", dup)
	}
	mustIngest(t, s, jobs.IngestAccepted, record(bankA, "F3", "f3.csv", "f3", day), pay(1, "P3", bankA, bankB, "1", "USD"))
	wantCycle(t, s, day, 2, 3)
}

func testReversals(t *testing.T, s IntakeSubject) {
	mustIngest(t, s, jobs.IngestAccepted, record(bankA, "F1", "f1.csv", "f1", dayBefore), pay(1, "P1", bankA, bankB, "100.50", "USD"))
	res := mustIngest(t, s, jobs.IngestAccepted, record(bankA, "F2", "f2.csv", "f2", day), rev(1, "R1", "P1", bankA, bankB, "100.5", "USD"))
	if len(res.Problems) != 0 {
		t.Fatalf("reversal: %+v", res)
	}
	wantCycle(t, s, day, 1, 1)
}

func testReversalRefusals(t *testing.T, s IntakeSubject) {
	// P1 and P2 settle the day before; P3 is today's, R0 reverses P2
	// (accepted); P9 comes in a file dated the day before too late, here
	// a file of today's.
	mustIngest(t, s, jobs.IngestAccepted, record(bankA, "F1", "f1.csv", "f1", dayBefore),
		pay(1, "P1", bankA, bankB, "100.50", "USD"), pay(2, "P2", bankA, bankB, "5", "USD"), pay(3, "P4", bankA, bankC, "5", "KRW"))
	mustIngest(t, s, jobs.IngestAccepted, record(bankA, "F2", "f2.csv", "f2", day),
		pay(1, "P3", bankA, bankB, "1", "USD"), rev(2, "R0", "P2", bankA, bankB, "5", "USD"))
	f := record(bankA, "F3", "f3.csv", "f3", day)
	res := mustIngest(t, s, jobs.IngestRejected, f,
		rev(1, "R1", "NOPE", bankA, bankB, "1", "USD"),    // unknown
		rev(2, "R2", "R0", bankA, bankB, "5", "USD"),      // a reversal
		rev(3, "R3", "P3", bankA, bankB, "1", "USD"),      // same cycle, another file
		pay(4, "P5", bankA, bankB, "1", "USD"),            //
		rev(5, "R5", "P5", bankA, bankB, "1", "USD"),      // same file
		rev(6, "R6", "P1", bankA, bankC, "100.50", "USD"), // another creditor
		rev(7, "R7", "P1", bankA, bankB, "100.51", "USD"), // another amount; and P1 twice
		rev(8, "R8", "P4", bankA, bankC, "5", "USD"),      // another currency
		rev(9, "R9", "P2", bankA, bankB, "5", "USD"))      // reversed already
	const field = "original_payment_id"
	wantProblems(t, res,
		problem(1, field, settlement.CodeOriginalUnknown, "R1", "no payment NOPE of this sender is known"),
		problem(2, field, settlement.CodeOriginalUnknown, "R2", "R0 is a reversal, not a payment"),
		problem(3, field, settlement.CodeOriginalUnsettled, "R3", "payment P3 is in this same cycle and not settled yet; a reversal must follow its settlement"),
		problem(5, field, settlement.CodeOriginalUnsettled, "R5", "payment P5 is in this same cycle and not settled yet; a reversal must follow its settlement"),
		problem(6, "original_creditor_bic", settlement.CodeOriginalMismatch, "R6", "payment P1 has creditor %s, not %s", bankB, bankC),
		problem(7, "amount", settlement.CodeOriginalMismatch, "R7", "payment P1 is of 100.50, not 100.51"),
		problem(7, field, settlement.CodeAlreadyReversed, "R7", "payment P1 is already reversed at line 6 of this file"),
		problem(8, "currency", settlement.CodeOriginalMismatch, "R8", "payment P4 is in KRW, not USD"),
		problem(9, field, settlement.CodeAlreadyReversed, "R9", "payment P2 is already reversed in file F2 line 2"))
	// An original in a later cycle than its reversal's is not settled
	// before it either.
	mustIngest(t, s, jobs.IngestAccepted, record(bankB, "G1", "g1.csv", "g1", day), pay(1, "Q1", bankB, bankA, "3", "USD"))
	res = mustIngest(t, s, jobs.IngestRejected, record(bankB, "G2", "g2.csv", "g2", dayBefore), rev(1, "S1", "Q1", bankB, bankA, "3", "USD"))
	wantProblems(t, res, problem(1, field, settlement.CodeOriginalUnsettled, "S1", "payment Q1 is in this same cycle and not settled yet; a reversal must follow its settlement"))
	wantCycle(t, s, day, 2, 3)
	wantCycle(t, s, dayBefore, 1, 3)
}

func testCycleNotAccepting(t *testing.T, s IntakeSubject) {
	ctx := context.Background()
	if err := s.Cycles.UpdateCycle(ctx, day, advance(settlement.StageFrozen, settlement.Facts{})); err != nil {
		t.Fatal(err)
	}
	f := record(bankA, "F1", "f1.csv", "f1", day)
	if res, err := ingest(s, f, pay(1, "P1", bankA, bankB, "1", "USD")); !errors.Is(err, jobs.ErrCycleNotOpen) {
		t.Fatalf("into a frozen cycle: %+v %v", res, err)
	}
	g := record(bankA, "F2", "f2.csv", "f2", "2026-11-25")
	if res, err := ingest(s, g, pay(1, "P1", bankA, bankB, "1", "USD")); !errors.Is(err, jobs.ErrNoCycle) {
		t.Fatalf("into no cycle: %+v %v", res, err)
	}
	if _, ok, _ := s.Files.Acknowledgement(ctx, bankA, "f1.csv", f.SHA256); ok {
		t.Fatal("a refused ingest left a verdict")
	}
	// The same file goes to the next cycle once it is open.
	if _, err := s.Store.EnsureCycle(ctx, "2026-11-25"); err != nil {
		t.Fatal(err)
	}
	f.Cycle = "2026-11-25"
	mustIngest(t, s, jobs.IngestAccepted, f, pay(1, "P1", bankA, bankB, "1", "USD"))
	wantCycle(t, s, day, 0, 0)
	wantCycle(t, s, "2026-11-25", 1, 1)
}

func testRecordRejected(t *testing.T, s IntakeSubject) {
	ctx := context.Background()
	f := record(bankA, "", "garbage.csv", "garbage", "")
	f.Cycle = ""
	ps := []settlement.Problem{{Line: 1, Code: settlement.CodeRecordType, Message: "not a header"}}
	res, err := s.Store.RecordRejected(ctx, f, ps)
	if err != nil || res.Status != jobs.IngestRejected || res.FileRow <= 0 || !reflect.DeepEqual(res.Problems, ps) {
		t.Fatalf("rejected: %+v %v", res, err)
	}
	wantAck(t, s, f, "REJECTED RECORD_TYPE", res.FileRow)
	again := f
	again.Name, again.Ack = "garbage2.csv", &jobs.AckRecord{Name: "garbage2.csv.ack.json", Body: ackBody}
	dup, err := s.Store.RecordRejected(ctx, again, ps)
	if err != nil || dup.Status != jobs.IngestDuplicate || dup.FileRow != res.FileRow ||
		len(dup.Problems) != 1 || dup.Problems[0].Code != settlement.CodeDuplicateFile || !strings.HasSuffix(dup.Problems[0].Message, "and REJECTED") {
		t.Fatalf("again: %+v %v", dup, err)
	}
	wantAck(t, s, again, "DUPLICATE DUPLICATE_FILE", 0)
	if res, err := s.Store.RecordRejected(ctx, record(bankA, "", "x.csv", "x", ""), nil); err == nil {
		t.Fatalf("rejected without problems: %+v", res)
	}
	// A rejected file's id is taken: an accepted file may not reuse it.
	r := record(bankB, "G1", "g1.csv", "g1", day)
	if res, err := s.Store.RecordRejected(ctx, r, ps); err != nil || res.Status != jobs.IngestRejected {
		t.Fatalf("rejected with a file id: %+v %v", res, err)
	}
	reused := record(bankB, "G1", "g1b.csv", "g1b", day)
	if res := mustIngest(t, s, jobs.IngestDuplicate, reused, pay(1, "Q1", bankB, bankA, "1", "USD")); res.Problems[0].Code != settlement.CodeDuplicateFileID {
		t.Fatalf("reused: %+v", res)
	}
	wantCycle(t, s, day, 0, 0)
}

func testAcknowledged(t *testing.T, s IntakeSubject) {
	ctx := context.Background()
	res := mustIngest(t, s, jobs.IngestAccepted, record(bankA, "F1", "f1.csv", "f1", day), pay(1, "P1", bankA, bankB, "1", "USD"))
	if _, ok, err := s.AcknowledgedAt(res.FileRow); err != nil || ok {
		t.Fatalf("stamped before: %v %v", ok, err)
	}
	first, later := received.Add(time.Minute), received.Add(time.Hour)
	for _, at := range []time.Time{first, later} {
		if err := s.Store.Acknowledged(ctx, res.FileRow, at); err != nil {
			t.Fatal(err)
		}
	}
	if at, ok, err := s.AcknowledgedAt(res.FileRow); err != nil || !ok || !at.Equal(first) {
		t.Fatalf("stamp %s %v %v, want the first, %s", at, ok, err, first)
	}
	// A row that is none is no error (nothing to stamp).
	if err := s.Store.Acknowledged(ctx, res.FileRow+1000, later); err != nil {
		t.Fatal(err)
	}
}

// prepare gives a fresh store the suites' three banks and the cycles of
// dayBefore and day.
func prepare(t *testing.T, addBank func(settlement.BIC) error, ensure func(context.Context, settlement.Date) (settlement.Cycle, error)) {
	t.Helper()
	for _, b := range []settlement.BIC{bankA, bankB, bankC} {
		if err := addBank(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []settlement.Date{dayBefore, day} {
		if _, err := ensure(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
}
