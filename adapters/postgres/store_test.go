package postgres_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/settlement"
)

const (
	bankA = settlement.BIC("SHBKKRSE")
	bankB = settlement.BIC("CZNBKRSE")
	bankC = settlement.BIC("HVBKKRSE")
)

var krw = mustCur("KRW")

func mustCur(code string) settlement.Currency {
	c, err := settlement.ParseCurrency(code)
	if err != nil {
		panic(err)
	}
	return c
}

// fixture is a migrated database with three member banks.
type fixture struct {
	t   *testing.T
	s   *postgres.Store
	dsn string
	ctx context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s, dsn := pgtest.NewStore(t)
	f := &fixture{t: t, s: s, dsn: dsn, ctx: context.Background()}
	for _, b := range []settlement.BIC{bankA, bankB, bankC} {
		if err := s.AddBank(f.ctx, postgres.Bank{BIC: b, Name: "Bank " + string(b)}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) cycle(date string) int64 {
	f.t.Helper()
	c, err := f.s.OpenCycle(f.ctx, settlement.Date(date))
	if err != nil {
		f.t.Fatal(err)
	}
	return c.ID
}

func pay(line int, id string, from, to settlement.BIC, amount string) *settlement.Entry {
	return &settlement.Entry{Line: line, Kind: settlement.KindPayment, ID: id, Debtor: from, Creditor: to,
		Amount: decimal.RequireFromString(amount), Currency: krw}
}

func rev(line int, id, orig string, from, to settlement.BIC, amount string) *settlement.Entry {
	return &settlement.Entry{Line: line, Kind: settlement.KindReversal, ID: id, Original: orig, Debtor: from, Creditor: to,
		Amount: decimal.RequireFromString(amount), Currency: krw, Reason: "AM05"}
}

// file makes a file record whose bytes are the entries' description, so
// that the same entries under the same file id have the same sha256.
func file(sender settlement.BIC, fileID string, cycle int64, es ...*settlement.Entry) (postgres.FileRecord, postgres.Entries) {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", sender, fileID)
	sum := decimal.Zero
	for _, e := range es {
		fmt.Fprintf(h, "%+v\n", *e)
		sum = sum.Add(e.Amount)
	}
	fr := postgres.FileRecord{Sender: sender, FileID: fileID, Name: fileID + ".csv", SHA256: hex.EncodeToString(h.Sum(nil)),
		Size: int64(100 * len(es)), SignatureKey: "k1", BusinessDate: "2026-11-24", Cycle: cycle,
		Entries: int64(len(es)), ControlSum: sum, ReceivedAt: time.Now()}
	return fr, func(yield func(*settlement.Entry) bool) error {
		for _, e := range es {
			if !yield(e) {
				return nil
			}
		}
		return nil
	}
}

func (f *fixture) ingest(fr postgres.FileRecord, es postgres.Entries) postgres.IngestResult {
	f.t.Helper()
	res, err := f.s.IngestFile(f.ctx, fr, es)
	if err != nil {
		f.t.Fatalf("ingest %s: %v", fr.FileID, err)
	}
	return res
}

func (f *fixture) count(q string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.s.DB().QueryRowContext(f.ctx, q, args...).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// codes renders problems as "line:CODE" for comparison.
func codes(ps []settlement.Problem) string {
	var b []string
	for _, p := range ps {
		b = append(b, fmt.Sprintf("%d:%s", p.Line, p.Code))
	}
	return strings.Join(b, " ")
}

func TestIngestAccepted(t *testing.T) {
	f := newFixture(t)
	c := f.cycle("2026-11-24")
	fr, es := file(bankA, "F1", c,
		pay(2, "SH-1", bankA, bankB, "1500000"),
		pay(3, "SH-2", bankA, bankC, "250000"),
		&settlement.Entry{Line: 4, Kind: settlement.KindPayment, ID: "SH-3", Debtor: bankA, Creditor: bankB,
			Amount: decimal.RequireFromString("12.5"), Currency: mustCur("USD"), Remittance: `back\slash "q" ünï`})
	res := f.ingest(fr, es)
	if res.Status != postgres.Accepted || res.Entries != 3 || len(res.Problems) != 0 {
		t.Fatalf("%+v", res)
	}
	if n := f.count(`SELECT count(*) FROM payments WHERE file_id = $1`, res.FileRow); n != 3 {
		t.Fatalf("%d payments", n)
	}
	var amt, rem string
	if err := f.s.DB().QueryRow(`SELECT amount::text, remittance FROM payments WHERE payment_id = 'SH-3'`).Scan(&amt, &rem); err != nil {
		t.Fatal(err)
	}
	if amt != "12.50" || rem != `back\slash "q" ünï` {
		t.Fatalf("amount %q remittance %q", amt, rem)
	}
}

func TestDuplicateFile(t *testing.T) {
	f := newFixture(t)
	c := f.cycle("2026-11-24")
	fr, es := file(bankA, "F1", c, pay(2, "SH-1", bankA, bankB, "100"))
	first := f.ingest(fr, es)
	if first.Status != postgres.Accepted {
		t.Fatalf("%+v", first)
	}
	// The same bytes again.
	again := f.ingest(fr, es)
	if again.Status != postgres.Duplicate || codes(again.Problems) != "0:DUPLICATE_FILE" || again.FileRow != first.FileRow {
		t.Fatalf("same bytes: %+v", again)
	}
	// Other bytes, same sender and file id.
	fr2, es2 := file(bankA, "F1", c, pay(2, "SH-2", bankA, bankB, "100"))
	dup := f.ingest(fr2, es2)
	if dup.Status != postgres.Duplicate || codes(dup.Problems) != "0:DUPLICATE_FILE_ID" {
		t.Fatalf("same file id: %+v", dup)
	}
	// The same file id from another sender is another file.
	fr3, es3 := file(bankB, "F1", c, pay(2, "CZ-1", bankB, bankA, "100"))
	if r := f.ingest(fr3, es3); r.Status != postgres.Accepted {
		t.Fatalf("other sender: %+v", r)
	}
	if n := f.count(`SELECT count(*) FROM payments`); n != 2 {
		t.Fatalf("%d payments, want 2", n)
	}
	if n := f.count(`SELECT count(*) FROM files`); n != 2 {
		t.Fatalf("%d files, want 2", n)
	}
}

func TestDuplicatePaymentIDAcrossCycles(t *testing.T) {
	f := newFixture(t)
	c1 := f.cycle("2026-11-24")
	fr, es := file(bankA, "F1", c1, pay(2, "SH-1", bankA, bankB, "100"), pay(3, "SH-2", bankA, bankB, "100"))
	if r := f.ingest(fr, es); r.Status != postgres.Accepted {
		t.Fatalf("%+v", r)
	}
	c2 := f.cycle("2026-11-25")
	fr2, es2 := file(bankA, "F2", c2,
		pay(2, "SH-3", bankA, bankB, "100"),
		pay(3, "SH-1", bankA, bankC, "200"), // used in cycle 1
		pay(4, "SH-4", bankA, bankB, "100"),
		pay(5, "SH-2", bankA, bankB, "100"), // used in cycle 1
		pay(6, "SH-4", bankA, bankC, "100")) // used at line 4
	r := f.ingest(fr2, es2)
	if r.Status != postgres.Rejected || codes(r.Problems) != "3:DUPLICATE_PAYMENT_ID 5:DUPLICATE_PAYMENT_ID 6:DUPLICATE_PAYMENT_ID" {
		t.Fatalf("%+v", r)
	}
	if !strings.Contains(r.Problems[0].Message, "F1") || !strings.Contains(r.Problems[2].Message, "line 4") {
		t.Errorf("messages: %v", r.Problems)
	}
	if n := f.count(`SELECT count(*) FROM payments WHERE cycle_id = $1`, c2); n != 0 {
		t.Fatalf("%d payments of a rejected file", n)
	}
	var status, problems string
	if err := f.s.DB().QueryRow(`SELECT status, problems::text FROM files WHERE id = $1`, r.FileRow).Scan(&status, &problems); err != nil {
		t.Fatal(err)
	}
	if status != "REJECTED" || !strings.Contains(problems, `"code": "DUPLICATE_PAYMENT_ID"`) {
		t.Fatalf("file row: %s %s", status, problems)
	}
	// The rejected bytes again: a duplicate, not a second rejected row.
	if again := f.ingest(fr2, es2); again.Status != postgres.Duplicate || again.FileRow != r.FileRow {
		t.Fatalf("%+v", again)
	}
	// A payment id is also taken by a reversal: one id space per sender.
	c3 := f.cycle("2026-11-26")
	fr3, es3 := file(bankA, "F3", c3, rev(2, "SH-R1", "SH-1", bankA, bankB, "100"))
	if r := f.ingest(fr3, es3); r.Status != postgres.Accepted {
		t.Fatalf("%+v", r)
	}
	fr4, es4 := file(bankA, "F4", f.cycle("2026-11-27"), pay(2, "SH-R1", bankA, bankB, "5"))
	if r := f.ingest(fr4, es4); codes(r.Problems) != "2:DUPLICATE_PAYMENT_ID" {
		t.Fatalf("%+v", r)
	}
}

func TestReversals(t *testing.T) {
	f := newFixture(t)
	c1 := f.cycle("2026-11-24")
	for _, x := range []struct {
		sender settlement.BIC
		id     string
		es     []*settlement.Entry
	}{
		{bankA, "A1", []*settlement.Entry{pay(2, "P1", bankA, bankB, "100"), pay(3, "P2", bankA, bankB, "200"), pay(4, "P3", bankA, bankC, "300")}},
		{bankB, "B1", []*settlement.Entry{pay(2, "P9", bankB, bankA, "900")}},
	} {
		fr, es := file(x.sender, x.id, c1, x.es...)
		if r := f.ingest(fr, es); r.Status != postgres.Accepted {
			t.Fatalf("%+v", r)
		}
	}
	c2 := f.cycle("2026-11-25")
	fr, es := file(bankA, "A2", c2,
		rev(2, "R1", "P1", bankA, bankB, "100"),   // fine
		rev(3, "R2", "NOPE", bankA, bankB, "100"), // unknown
		rev(4, "R3", "P9", bankA, bankB, "900"),   // another sender's payment
		rev(5, "R4", "P2", bankA, bankB, "250"),   // wrong amount
		rev(6, "R5", "P3", bankA, bankB, "300"),   // wrong creditor
		rev(7, "R6", "P1", bankA, bankB, "100"),   // P1 again, in this file
		pay(8, "P4", bankA, bankB, "10"),
		rev(9, "R7", "P4", bankA, bankB, "10"),   // not settled: same file
		rev(10, "R8", "R1", bankA, bankB, "100")) // a reversal is no payment
	r := f.ingest(fr, es)
	want := "3:ORIGINAL_UNKNOWN 4:ORIGINAL_UNKNOWN 5:ORIGINAL_MISMATCH 6:ORIGINAL_MISMATCH 7:ALREADY_REVERSED 9:ORIGINAL_NOT_SETTLED 10:ORIGINAL_UNKNOWN"
	if r.Status != postgres.Rejected || codes(r.Problems) != want {
		t.Fatalf("got  %s\nwant %s\n%v", codes(r.Problems), want, r.Problems)
	}
	if r.Problems[3].Field != "original_creditor_bic" || r.Problems[2].Field != "amount" {
		t.Errorf("fields: %v", r.Problems)
	}
	if n := f.count(`SELECT count(*) FROM payments WHERE cycle_id = $1`, c2); n != 0 {
		t.Fatalf("%d rows of a rejected file", n)
	}

	// A good reversal is accepted, and a second one of the same payment,
	// in a later file, is ALREADY_REVERSED.
	fr, es = file(bankA, "A3", c2, rev(2, "R1", "P1", bankA, bankB, "100"))
	if r := f.ingest(fr, es); r.Status != postgres.Accepted {
		t.Fatalf("%+v", r)
	}
	fr, es = file(bankA, "A4", f.cycle("2026-11-26"), rev(2, "R9", "P1", bankA, bankB, "100"))
	if r := f.ingest(fr, es); codes(r.Problems) != "2:ALREADY_REVERSED" || !strings.Contains(r.Problems[0].Message, "A3") {
		t.Fatalf("%+v", r)
	}
	// A reversal in the same cycle as its original: not settled yet.
	fr, es = file(bankB, "B2", c1, rev(2, "R1", "P9", bankB, bankA, "900"))
	if r := f.ingest(fr, es); codes(r.Problems) != "2:ORIGINAL_NOT_SETTLED" {
		t.Fatalf("%+v", r)
	}
}

// TestReversalOrderIsByBusinessDate: cycles are not created in date order
// (a file dated ahead opens its later cycle first). A reversal in an
// earlier business day than its original's is not after its settlement,
// whatever order the cycles' rows were made in; one in a later day is.
func TestReversalOrderIsByBusinessDate(t *testing.T) {
	f := newFixture(t)
	later := f.cycle("2026-11-27") // a file dated ahead opened it first
	fr, es := file(bankA, "A1", later, pay(2, "P1", bankA, bankB, "100"))
	if r := f.ingest(fr, es); r.Status != postgres.Accepted {
		t.Fatalf("%+v", r)
	}
	earlier := f.cycle("2026-11-25")
	if earlier < later {
		t.Fatalf("fixture: cycle rows %d, %d; want the earlier date's made second", earlier, later)
	}
	fr, es = file(bankA, "A2", earlier, rev(2, "R1", "P1", bankA, bankB, "100"))
	if r := f.ingest(fr, es); r.Status != postgres.Rejected || codes(r.Problems) != "2:ORIGINAL_NOT_SETTLED" {
		t.Fatalf("a reversal two days before its original: %+v", r)
	}
	// The schema refuses it too, past the store.
	var row int64
	if err := f.s.DB().QueryRow(`INSERT INTO files (sender, file_id, name, sha256, size_bytes, status, business_date, cycle_id, received_at, entries)
		VALUES ($1, 'A9', 'A9.csv', repeat('c', 64), 1, 'ACCEPTED', '2026-11-25', $2, now(), 1) RETURNING id`, string(bankA), earlier).Scan(&row); err != nil {
		t.Fatal(err)
	}
	_, err := f.s.DB().Exec(`INSERT INTO payments (file_id, line, cycle_id, sender, payment_id, kind, debtor, creditor, amount, currency, original_payment_id, reason)
		VALUES ($1, 2, $2, 'SHBKKRSE', 'R1', 'R', 'SHBKKRSE', 'CZNBKRSE', 100, 'KRW', 'P1', 'AM05')`, row, earlier)
	if pe := (*pq.Error)(nil); !errors.As(err, &pe) || string(pe.Code) != "23514" || !strings.Contains(pe.Message, "ORIGINAL_NOT_SETTLED") {
		t.Fatalf("schema: %v, want ORIGINAL_NOT_SETTLED", err)
	}
	fr, es = file(bankA, "A3", f.cycle("2026-11-30"), rev(2, "R1", "P1", bankA, bankB, "100"))
	if r := f.ingest(fr, es); r.Status != postgres.Accepted {
		t.Fatalf("a reversal after its original's day: %+v", r)
	}
}

// TestSchemaGuardsReversals writes reversals with plain SQL, past the
// store: the database itself refuses them.
func TestSchemaGuardsReversals(t *testing.T) {
	f := newFixture(t)
	c1 := f.cycle("2026-11-24")
	fr, es := file(bankA, "A1", c1, pay(2, "P1", bankA, bankB, "100"))
	r1 := f.ingest(fr, es)
	c2 := f.cycle("2026-11-25")
	var file2 int64
	if err := f.s.DB().QueryRow(`INSERT INTO files (sender, file_id, name, sha256, size_bytes, status, business_date, cycle_id, received_at, entries)
		VALUES ($1, 'A2', 'A2.csv', repeat('b', 64), 1, 'ACCEPTED', '2026-11-25', $2, now(), 1) RETURNING id`, string(bankA), c2).Scan(&file2); err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO payments (file_id, line, cycle_id, sender, payment_id, kind, debtor, creditor, amount, currency, original_payment_id, reason)
		VALUES ($1, $2, $3, 'SHBKKRSE', $4, 'R', 'SHBKKRSE', 'CZNBKRSE', $5, 'KRW', $6, 'AM05')`
	for _, c := range []struct {
		name, id, amount, orig, state string
	}{
		{"mismatch", "R1", "101", "P1", "23514"},
		{"unknown", "R2", "100", "P7", "23503"},
		{"scale", "R3", "100.5", "P1", "23514"},
	} {
		_, err := f.s.DB().Exec(insert, file2, 2, c2, c.id, c.amount, c.orig)
		if pe := (*pq.Error)(nil); !errors.As(err, &pe) || string(pe.Code) != c.state {
			t.Errorf("%s: %v, want SQLSTATE %s", c.name, err, c.state)
		}
	}
	if _, err := f.s.DB().Exec(insert, file2, 2, c2, "R4", "100", "P1"); err != nil {
		t.Fatalf("a good reversal: %v", err)
	}
	_, err := f.s.DB().Exec(insert, file2, 3, c2, "R5", "100", "P1")
	if pe := (*pq.Error)(nil); !errors.As(err, &pe) || string(pe.Code) != "23505" {
		t.Errorf("second reversal of P1: %v", err)
	}
	// A payment row of a file that is not there.
	_, err = f.s.DB().Exec(`INSERT INTO payments (file_id, line, cycle_id, sender, payment_id, kind, debtor, creditor, amount, currency)
		VALUES ($1, 9, $2, 'SHBKKRSE', 'X1', 'P', 'SHBKKRSE', 'CZNBKRSE', 1, 'KRW')`, r1.FileRow+1000, c1)
	if pe := (*pq.Error)(nil); !errors.As(err, &pe) || string(pe.Code) != "23503" {
		t.Errorf("orphan payment: %v", err)
	}
}

func TestAppendOnly(t *testing.T) {
	f := newFixture(t)
	c1 := f.cycle("2026-11-24")
	fr, es := file(bankA, "A1", c1, pay(2, "P1", bankA, bankB, "100"))
	f.ingest(fr, es)
	db := f.s.DB()
	ctx := f.ctx
	if _, err := db.Exec(`INSERT INTO net_positions (cycle_id, bank, currency, sent, received, net) VALUES ($1, $2, 'KRW', 100, 0, -100), ($1, $3, 'KRW', 0, 100, 100)`,
		c1, string(bankA), string(bankB)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO obligations (cycle_id, debtor, creditor, currency, amount) VALUES ($1, $2, $3, 'KRW', 100)`,
		c1, string(bankA), string(bankB)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO ledger_txs (cycle_id, tx_id, block_number, channel, chaincode, function, payload, payload_sha256, status)
		VALUES ($1, 'tx1', 7, 'settle', 'netting', 'Settle', '{}', repeat('c', 64), 'COMMITTED')`, c1); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetCap(ctx, settlement.Cap{Bank: bankA, Currency: krw, Amount: decimal.RequireFromString("1000")}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO recon_breaks (break_key, kind, state, actor) VALUES ('b1', 'missing', 'OPEN', 'test')`); err != nil {
		t.Fatal(err)
	}
	// A key, so that the bank_keys statements below have a row to refuse
	// (issue 12: without one the case could not fail).
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.AddKey(ctx, postgres.BankKey{Bank: bankA, Label: "k1", PEM: pubPEM(t, edPub)}); err != nil {
		t.Fatal(err)
	}
	// As the owner (a superuser here): the triggers refuse.
	for _, stmt := range []string{
		`UPDATE payments SET amount = amount * 2`,
		`DELETE FROM payments`,
		// payment_deferrals references payments (migration 0080): a plain
		// TRUNCATE is refused for that before any trigger runs; CASCADE
		// reaches the triggers of both.
		`TRUNCATE payments CASCADE`,
		`UPDATE net_positions SET net = net`,
		`DELETE FROM net_positions`,
		`TRUNCATE net_positions CASCADE`,
		`UPDATE obligations SET amount = 1`,
		`DELETE FROM obligations`,
		`UPDATE ledger_txs SET block_number = 8`,
		`DELETE FROM ledger_txs`,
		`TRUNCATE ledger_txs`,
		`UPDATE net_debit_caps SET amount = 0`,
		`DELETE FROM recon_breaks`,
		`DELETE FROM files`,
		`UPDATE files SET status = 'REJECTED', problems = '[{}]'`,
		// A same-value update changes nothing and is let through (the
		// guard compares values): these change a key or remove it.
		`UPDATE bank_keys SET pem = pem || ' '`,
		`UPDATE bank_keys SET valid_from = valid_from - interval '1 day'`,
		`DELETE FROM bank_keys`,
		`TRUNCATE bank_keys CASCADE`,
	} {
		_, err := db.ExecContext(ctx, stmt)
		if !postgres.IsAppendOnly(err) {
			t.Errorf("owner: %s: %v, want the append-only refusal", stmt, err)
		}
	}
	if _, err := db.ExecContext(ctx, `TRUNCATE payments`); err == nil {
		t.Error("owner: TRUNCATE payments was allowed")
	}
	// As the service role: no privilege to begin with.
	for _, stmt := range []string{`UPDATE payments SET amount = amount * 2`, `DELETE FROM payments`, `TRUNCATE payments`,
		`UPDATE files SET status = 'REJECTED'`, `DELETE FROM ledger_txs`} {
		err := asRole(ctx, db, "settle_service", stmt)
		if err == nil {
			t.Errorf("service: %s was allowed", stmt)
		}
	}
	if err := asRole(ctx, db, "settle_service", `UPDATE files SET acknowledged_at = now()`); err != nil {
		t.Errorf("service may acknowledge a file: %v", err)
	}
	if err := asRole(ctx, db, "settle_service", `INSERT INTO job_runs (job) VALUES ('t')`); err != nil {
		t.Errorf("service may insert: %v", err)
	}
	if err := asRole(ctx, db, "settle_auditor", `SELECT count(*) FROM payments`); err != nil {
		t.Errorf("auditor may read: %v", err)
	}
	if err := asRole(ctx, db, "settle_auditor", `INSERT INTO job_runs (job) VALUES ('t')`); err == nil {
		t.Errorf("auditor inserted")
	}
	if n := f.count(`SELECT count(*) FROM payments`); n != 1 {
		t.Fatalf("%d payments", n)
	}
	// Acknowledged once; never again.
	if _, err := db.Exec(`UPDATE files SET acknowledged_at = now()`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE files SET acknowledged_at = now()`); !postgres.IsAppendOnly(err) {
		t.Errorf("second acknowledgement: %v", err)
	}
}

// asRole runs stmt as role in a transaction that is rolled back.
func asRole(ctx context.Context, db *sql.DB, role, stmt string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL ROLE `+role); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, stmt)
	return err
}

func TestStoreChecksBeforeCopy(t *testing.T) {
	f := newFixture(t)
	c := f.cycle("2026-11-24")
	bad := pay(4, "P3", bankA, bankB, "1.5") // KRW has no decimals
	fr, es := file(bankA, "A1", c,
		pay(2, "P1", bankA, "ZZZZKRSE", "1"),
		pay(3, "P2", bankB, bankC, "1"),
		bad)
	r := f.ingest(fr, es)
	if r.Status != postgres.Rejected || codes(r.Problems) != "2:UNKNOWN_BANK 3:DEBTOR_NOT_SENDER 4:AMOUNT_SCALE" {
		t.Fatalf("%+v", r)
	}
}

func TestCycleMustBeOpen(t *testing.T) {
	f := newFixture(t)
	c := f.cycle("2026-11-24")
	if err := f.s.SetCycleState(f.ctx, c, postgres.CycleClosed); err != nil {
		t.Fatal(err)
	}
	fr, es := file(bankA, "A1", c, pay(2, "P1", bankA, bankB, "1"))
	if _, err := f.s.IngestFile(f.ctx, fr, es); !errors.Is(err, postgres.ErrCycleNotOpen) {
		t.Fatalf("%v", err)
	}
	if n := f.count(`SELECT count(*) FROM files`); n != 0 {
		t.Fatalf("%d files", n)
	}
}
