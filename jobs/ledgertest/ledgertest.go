// Package ledgertest is the contract of jobs.Ledger: one suite that runs on
// every implementation (jobs/memledger, and the Fabric client on a real
// network in ledger/fabric), so the in-memory ledger the jobs' tests use
// refuses and answers as the real one does. Where they differed, the
// in-memory ledger was made to match Fabric.
//
// A Fabric network is expensive to start, so the subtests share one ledger:
// each works under cycle ids, payment ids and BICs of its own, fresh on
// every run.
package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// Harness is one implementation under test.
type Harness struct {
	// Ledger is a client of a ledger open to every member (the chaincode
	// before its founding: no roles), shared by the subtests.
	Ledger func(t *testing.T) jobs.Ledger
	// MSPs are three bank organisations' MSP ids; the suite registers its
	// BICs under them.
	MSPs [3]string
	// Roles are clients of a founded ledger, whose writes are the
	// operator's; nil skips the role checks.
	Roles func(t *testing.T) Roles
}

// Roles are clients of one founded ledger, each signing with an identity
// of its own (the MSP and role of its certificate).
type Roles struct {
	Operator  jobs.Ledger // a client identity of the operator's MSP
	Bank      jobs.Ledger // a client identity of BankMSP
	BankAdmin jobs.Ledger // an admin identity of BankMSP
	BankMSP   string
	// BankBIC is registered under BankMSP and OtherBIC under another bank's
	// MSP, each with a KRW cap of CapMax.
	BankBIC, OtherBIC settlement.BIC
}

// CapMax is the KRW cap the founded ledger's banks hold (Roles).
const CapMax = "999999999999999"

// timeout bounds each subtest: a few transactions on a real network.
const timeout = 5 * time.Minute

// fileSum is the file digest the suite's payments name.
const fileSum = "3333333333333333333333333333333333333333333333333333333333333333"

var krw = func() settlement.Currency {
	c, err := settlement.ParseCurrency("KRW")
	if err != nil {
		panic(err)
	}
	return c
}()

// Run runs the contract on h.
func Run(t *testing.T, h Harness) {
	l := h.Ledger(t)
	w := newWorld(t, l, h.MSPs)
	for _, c := range []struct {
		name string
		test func(*testing.T, *world)
	}{
		{"RegisterBankAndSetCap", testRegistry},
		{"RecordChunkIdempotent", testRecordIdempotent},
		{"ChunkConflictRefused", testChunkConflict},
		{"DuplicatePaymentRefused", testDuplicatePayment},
		{"UnknownBankRefused", testUnknownBank},
		{"SettleCycle", testSettle},
		{"CapBreachRefused", testCapBreach},
		{"CyclePaymentsInByteOrder", testCyclePayments},
		{"Payment", testPayment},
		{"ReversalChain", testReversalChain},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, w.sub(t)) })
	}
	t.Run("Roles", func(t *testing.T) {
		if h.Roles == nil {
			t.Skip("the harness has no founded ledger")
		}
		testRoles(t, h.Roles(t))
	})
}

// world is the suite's three registered banks, each with a large KRW cap.
type world struct {
	l     jobs.Ledger
	ctx   context.Context
	msps  [3]string
	banks [3]settlement.BIC
	run   string // unique to this run and subtest, for ids
	seq   int
}

func newWorld(t *testing.T, l jobs.Ledger, msps [3]string) *world {
	t.Helper()
	w := &world{l: l, msps: msps, run: fmt.Sprintf("%x", time.Now().UnixNano())[4:]}
	w.ctx = testCtx(t)
	for i := range w.banks {
		w.banks[i] = w.register(t, msps[i], "100000000")
	}
	return w
}

// sub is w for one subtest: its own context and ids.
func (w *world) sub(t *testing.T) *world {
	s := *w
	w.seq++
	s.run = fmt.Sprintf("%s%02d", w.run, w.seq)
	s.ctx = testCtx(t)
	return &s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// newBIC is a BIC no run used before (8 random letters).
func newBIC() settlement.BIC {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte('A' + rand.IntN(26))
	}
	return settlement.BIC(b)
}

// register registers a fresh BIC under msp with a KRW cap.
func (w *world) register(t *testing.T, msp, cap string) settlement.BIC {
	t.Helper()
	bic := newBIC()
	if _, err := w.l.RegisterBank(w.ctx, bic, msp); err != nil {
		t.Fatalf("register %s under %s: %v", bic, msp, err)
	}
	if _, err := w.l.SetCap(w.ctx, settlement.Cap{Bank: bic, Currency: krw, Amount: decimal.RequireFromString(cap)}); err != nil {
		t.Fatalf("cap of %s: %v", bic, err)
	}
	return bic
}

func (w *world) cycle(name string) string { return "T" + w.run + name }

// pay is a KRW payment of amount from debtor to creditor, sent by the debtor.
func pay(from, to settlement.BIC, id string, amount int64) jobs.ChunkEntry {
	return jobs.ChunkEntry{Sender: from, FileSHA256: fileSum, Entry: settlement.Entry{
		Kind: settlement.KindPayment, ID: id, Debtor: from, Creditor: to, Amount: decimal.NewFromInt(amount), Currency: krw,
	}}
}

// chunk is n payments around the three banks, ids prefix-000000 on.
func (w *world) chunk(cycle, id, prefix string, n int) jobs.Chunk {
	c := jobs.Chunk{Cycle: cycle, ID: id}
	for i := range n {
		c.Entries = append(c.Entries, pay(w.banks[i%3], w.banks[(i+1)%3], fmt.Sprintf("%s%s-%06d", prefix, w.run, i), int64(1000+i)))
	}
	return c
}

func (w *world) record(t *testing.T, c jobs.Chunk) jobs.LedgerTx {
	t.Helper()
	tx, err := w.l.RecordChunk(w.ctx, c)
	if err != nil {
		t.Fatalf("record %s/%s: %v", c.Cycle, c.ID, err)
	}
	return tx
}

// positions nets chunks with the domain's netting, as the system does.
func positions(t *testing.T, chunks ...jobs.Chunk) []settlement.Position {
	t.Helper()
	var n settlement.Netting
	for _, c := range chunks {
		for _, e := range c.Entries {
			en := e.Entry
			if err := n.Add(&en); err != nil {
				t.Fatal(err)
			}
		}
	}
	res, err := n.Result()
	if err != nil {
		t.Fatal(err)
	}
	return res.Positions
}

// refused checks a refusal of the content: permanent, not one of the role.
func refused(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, jobs.ErrLedgerRefused) || errors.Is(err, jobs.ErrLedgerForbidden) {
		t.Fatalf("%s: want refused by the ledger (not for the role), got %v", what, err)
	}
}

// forbidden checks a refusal of the caller's identity.
func forbidden(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, jobs.ErrLedgerForbidden) || !errors.Is(err, jobs.ErrLedgerRefused) {
		t.Fatalf("%s: want refused for the caller's role (ErrLedgerForbidden), got %v", what, err)
	}
}

// committed checks a transaction that wrote: an id, a block, endorsers.
func committed(t *testing.T, tx jobs.LedgerTx, what string) {
	t.Helper()
	if tx.ID == "" || tx.Block == 0 || len(tx.Endorsers) == 0 || tx.Existing {
		t.Fatalf("%s: tx %+v; want a new one with an id, a block and endorsers", what, tx)
	}
}

// sameTx checks that Tx reads back tx's block and endorsers.
func (w *world) sameTx(t *testing.T, tx jobs.LedgerTx, what string) {
	t.Helper()
	got, err := w.l.Tx(w.ctx, tx.ID)
	if err != nil || got.ID != tx.ID || got.Block != tx.Block || fmt.Sprint(got.Endorsers) != fmt.Sprint(tx.Endorsers) {
		t.Fatalf("%s: Tx(%s) = %+v %v; committed %+v", what, tx.ID, got, err, tx)
	}
}

func testRegistry(t *testing.T, w *world) {
	for _, b := range w.banks {
		if ok, err := w.l.Registered(w.ctx, b); err != nil || !ok {
			t.Fatalf("Registered(%s) = %v %v; it was registered", b, ok, err)
		}
	}
	never := newBIC()
	if ok, err := w.l.Registered(w.ctx, never); err != nil || ok {
		t.Fatalf("Registered(%s) = %v %v; never registered", never, ok, err)
	}
	bic := newBIC()
	tx, err := w.l.RegisterBank(w.ctx, bic, w.msps[1])
	if err != nil {
		t.Fatal(err)
	}
	committed(t, tx, "RegisterBank")
	w.sameTx(t, tx, "RegisterBank")
	again, err := w.l.RegisterBank(w.ctx, bic, w.msps[1])
	if err != nil || !again.Existing || again.ID != tx.ID {
		t.Fatalf("the same registration again: %+v %v; want the first, %s, Existing", again, err, tx.ID)
	}
	_, err = w.l.RegisterBank(w.ctx, bic, w.msps[2])
	refused(t, err, "the BIC under another MSP")

	cp := settlement.Cap{Bank: bic, Currency: krw, Amount: decimal.NewFromInt(5000)}
	ctx, err := w.l.SetCap(w.ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	committed(t, ctx, "SetCap")
	same, err := w.l.SetCap(w.ctx, cp)
	if err != nil || !same.Existing || same.ID != ctx.ID {
		t.Fatalf("the same cap again: %+v %v; want the first, %s, Existing", same, err, ctx.ID)
	}
	_, err = w.l.SetCap(w.ctx, settlement.Cap{Bank: never, Currency: krw, Amount: decimal.NewFromInt(5000)})
	refused(t, err, "a cap for an unregistered bank")
}

func testRecordIdempotent(t *testing.T, w *world) {
	k := w.chunk(w.cycle("I"), "K1", "A", 6)
	tx := w.record(t, k)
	committed(t, tx, "RecordChunk")
	w.l.ReadAfter(tx.Block)
	w.sameTx(t, tx, "RecordChunk")
	if got, err := w.l.Tx(w.ctx, "0000000000000000000000000000000000000000000000000000000000000000"); err == nil {
		t.Fatalf("Tx of an id no transaction has: %+v, no error", got)
	}
	again, err := w.l.RecordChunk(w.ctx, k)
	if err != nil || !again.Existing || again.ID != tx.ID || again.Block != tx.Block {
		t.Fatalf("the same chunk again: %+v %v; want the first transaction %+v, Existing", again, err, tx)
	}
}

func testChunkConflict(t *testing.T, w *world) {
	cycle := w.cycle("C")
	k := w.chunk(cycle, "K1", "A", 4)
	w.record(t, k)
	changed := w.chunk(cycle, "K1", "A", 4)
	changed.Entries[2].Entry.Amount = decimal.NewFromInt(7)
	_, err := w.l.RecordChunk(w.ctx, changed)
	refused(t, err, "other content under the same chunk id")
	p, _, err := w.l.Payment(w.ctx, changed.Entries[2].Sender, changed.Entries[2].Entry.ID)
	if err != nil || !p.Amount.Equal(k.Entries[2].Entry.Amount) {
		t.Fatalf("after the refusal: %+v %v; want the first amount", p, err)
	}
}

func testDuplicatePayment(t *testing.T, w *world) {
	cycle := w.cycle("D")
	k1 := w.chunk(cycle, "K1", "A", 3)
	w.record(t, k1)
	k2 := w.chunk(cycle, "K2", "B", 3)
	k2.Entries[1] = k1.Entries[0]
	_, err := w.l.RecordChunk(w.ctx, k2)
	refused(t, err, "a payment id recorded in another chunk")
	if _, ok, err := w.l.Payment(w.ctx, k2.Entries[0].Sender, k2.Entries[0].Entry.ID); ok || err != nil {
		t.Fatalf("the refused chunk's other payment is on the ledger: %v %v", ok, err)
	}
	// In another cycle too: a payment is recorded once on the ledger.
	k3 := jobs.Chunk{Cycle: w.cycle("E"), ID: "K1", Entries: []jobs.ChunkEntry{k1.Entries[1]}}
	_, err = w.l.RecordChunk(w.ctx, k3)
	refused(t, err, "a payment id recorded in another cycle")
}

func testUnknownBank(t *testing.T, w *world) {
	cycle := w.cycle("U")
	stranger := newBIC()
	k := jobs.Chunk{Cycle: cycle, ID: "K1", Entries: []jobs.ChunkEntry{
		pay(w.banks[0], w.banks[1], "A"+w.run, 100),
		pay(w.banks[0], stranger, "B"+w.run, 100),
	}}
	_, err := w.l.RecordChunk(w.ctx, k)
	refused(t, err, "a payment to an unregistered bank")
	if _, ok, err := w.l.Payment(w.ctx, w.banks[0], "A"+w.run); ok || err != nil {
		t.Fatalf("the refused chunk's other payment is on the ledger: %v %v", ok, err)
	}
	if _, ok, err := w.l.Cycle(w.ctx, cycle); ok || err != nil {
		t.Fatalf("the cycle of a refused chunk is on the ledger: %v %v", ok, err)
	}
}

func testSettle(t *testing.T, w *world) {
	cycle := w.cycle("S")
	if _, ok, err := w.l.Cycle(w.ctx, cycle); ok || err != nil {
		t.Fatalf("a cycle with nothing recorded: ok %v, %v", ok, err)
	}
	_, err := w.l.SettleCycle(w.ctx, cycle, nil)
	refused(t, err, "settling a cycle with no chunks")
	k1, k2 := w.chunk(cycle, "K1", "A", 5), w.chunk(cycle, "K2", "B", 4)
	w.record(t, k1)
	w.record(t, k2)
	lc, ok, err := w.l.Cycle(w.ctx, cycle)
	if err != nil || !ok || lc.ID != cycle || lc.Status != "open" || lc.Settled() || lc.Chunks != 2 || lc.Payments != 9 || lc.TxID != "" {
		t.Fatalf("open cycle: %+v ok %v %v; want open, 2 chunks, 9 payments", lc, ok, err)
	}
	pos := positions(t, k1, k2)
	bad := append([]settlement.Position(nil), pos...)
	bad[0].Net = bad[0].Net.Add(decimal.NewFromInt(1))
	bad[1].Net = bad[1].Net.Sub(decimal.NewFromInt(1))
	_, err = w.l.SettleCycle(w.ctx, cycle, bad)
	refused(t, err, "positions other than the recorded ones")
	var missing []settlement.Position
	for i, p := range pos {
		if !p.Net.IsZero() {
			missing = append(append(missing, pos[:i]...), pos[i+1:]...)
			break
		}
	}
	_, err = w.l.SettleCycle(w.ctx, cycle, missing)
	refused(t, err, "positions missing a bank")
	st, err := w.l.SettleCycle(w.ctx, cycle, pos)
	if err != nil {
		t.Fatal(err)
	}
	committed(t, st, "SettleCycle")
	w.sameTx(t, st, "SettleCycle")
	again, err := w.l.SettleCycle(w.ctx, cycle, pos)
	if err != nil || !again.Existing || again.ID != st.ID {
		t.Fatalf("settle again: %+v %v; want the first, %s, Existing", again, err, st.ID)
	}
	_, err = w.l.SettleCycle(w.ctx, cycle, bad)
	refused(t, err, "a settled cycle settled again on other positions")
	lc, ok, err = w.l.Cycle(w.ctx, cycle)
	fp, _ := settlement.PositionsSHA256(pos)
	if err != nil || !ok || !lc.Settled() || lc.TxID != st.ID || lc.Chunks != 2 || lc.Payments != 9 || lc.PositionsSHA256 != fp {
		t.Fatalf("settled cycle: %+v ok %v %v; want settled by %s, fingerprint %s", lc, ok, err, st.ID, fp)
	}
	if !samePositions(lc.Positions, pos) {
		t.Fatalf("settled positions %v, submitted %v", lc.Positions, pos)
	}
	_, err = w.l.RecordChunk(w.ctx, w.chunk(cycle, "K3", "C", 2))
	refused(t, err, "a chunk for a settled cycle")
}

// samePositions compares the ledger's positions with those settled, in
// any order.
func samePositions(got []reconciliation.NetPosition, want []settlement.Position) bool {
	if len(got) != len(want) {
		return false
	}
	byKey := map[string]decimal.Decimal{}
	for _, p := range got {
		byKey[string(p.Bank)+p.Currency.Code()] = p.Net
	}
	for _, p := range want {
		n, ok := byKey[string(p.Bank)+p.Currency.Code()]
		if !ok || !n.Equal(p.Net) {
			return false
		}
	}
	return true
}

func testCapBreach(t *testing.T, w *world) {
	cycle := w.cycle("K")
	small := w.register(t, w.msps[0], "1000")
	k := jobs.Chunk{Cycle: cycle, ID: "K1", Entries: []jobs.ChunkEntry{pay(small, w.banks[1], "A"+w.run, 5000)}}
	w.record(t, k)
	_, err := w.l.SettleCycle(w.ctx, cycle, positions(t, k))
	refused(t, err, "a net debit of 5000 over a cap of 1000")
	if lc, ok, err := w.l.Cycle(w.ctx, cycle); err != nil || !ok || lc.Settled() {
		t.Fatalf("after the cap breach: %+v ok %v %v; want open", lc, ok, err)
	}
	// The cap raised, the same settle goes through.
	if _, err := w.l.SetCap(w.ctx, settlement.Cap{Bank: small, Currency: krw, Amount: decimal.NewFromInt(5000)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.l.SettleCycle(w.ctx, cycle, positions(t, k)); err != nil {
		t.Fatalf("within the raised cap: %v", err)
	}
}

func testCyclePayments(t *testing.T, w *world) {
	cycle := w.cycle("P")
	// Ids and senders recorded out of their byte order, over two chunks.
	var k1, k2 jobs.Chunk
	k1 = jobs.Chunk{Cycle: cycle, ID: "K1"}
	k2 = jobs.Chunk{Cycle: cycle, ID: "K2"}
	for i, id := range []string{"Z", "b", "A", "a", "M", "0"} {
		e := pay(w.banks[2-i%3], w.banks[(3-i%3)%3], id+w.run, int64(100+i))
		if i%2 == 0 {
			k1.Entries = append(k1.Entries, e)
		} else {
			k2.Entries = append(k2.Entries, e)
		}
	}
	tx1, tx2 := w.record(t, k1), w.record(t, k2)
	want := map[string]string{}
	var order []reconciliation.Record
	for _, c := range []struct {
		k  jobs.Chunk
		tx string
	}{{k1, tx1.ID}, {k2, tx2.ID}} {
		for _, e := range c.k.Entries {
			want[string(e.Sender)+"/"+e.Entry.ID] = c.tx
			order = append(order, reconciliation.Record{Sender: e.Sender, ID: e.Entry.ID})
		}
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].Sender != order[j].Sender {
			return order[i].Sender < order[j].Sender
		}
		return order[i].ID < order[j].ID
	})
	var got []reconciliation.Record
	for r, err := range w.l.CyclePayments(w.ctx, cycle) {
		if err != nil {
			t.Fatal(err)
		}
		if tx := want[string(r.Sender)+"/"+r.ID]; tx == "" || r.TxID != tx || r.Cycle != cycle {
			t.Fatalf("payment %s/%s of cycle %s by tx %s; recorded by %q in %s", r.Sender, r.ID, r.Cycle, r.TxID, tx, cycle)
		}
		got = append(got, r)
	}
	if len(got) != len(order) {
		t.Fatalf("%d payments, recorded %d", len(got), len(order))
	}
	for i := range got {
		if got[i].Sender != order[i].Sender || got[i].ID != order[i].ID {
			t.Fatalf("payment %d is %s/%s; in (sender, id) byte order it is %s/%s", i, got[i].Sender, got[i].ID, order[i].Sender, order[i].ID)
		}
	}
	for range w.l.CyclePayments(w.ctx, w.cycle("none")) {
		t.Fatal("a cycle with nothing recorded has payments")
	}
}

func testPayment(t *testing.T, w *world) {
	k := w.chunk(w.cycle("Y"), "K1", "A", 3)
	tx := w.record(t, k)
	e := k.Entries[1]
	p, ok, err := w.l.Payment(w.ctx, e.Sender, e.Entry.ID)
	if err != nil || !ok {
		t.Fatalf("payment: ok %v %v", ok, err)
	}
	if p.Sender != e.Sender || p.ID != e.Entry.ID || p.Kind != settlement.KindPayment || p.Debtor != e.Entry.Debtor || p.Creditor != e.Entry.Creditor ||
		!p.Amount.Equal(e.Entry.Amount) || p.Currency != krw || p.FileSHA256 != fileSum || p.Cycle != k.Cycle || p.TxID != tx.ID || p.Original != "" {
		t.Fatalf("payment %+v; recorded %+v by %s", p, e, tx.ID)
	}
	if _, ok, err := w.l.Payment(w.ctx, e.Sender, "NOPE"+w.run); ok || err != nil {
		t.Fatalf("an absent payment: ok %v %v", ok, err)
	}
}

func testReversalChain(t *testing.T, w *world) {
	cycle := w.cycle("R")
	k := w.chunk(cycle, "K1", "A", 3)
	w.record(t, k)
	if _, err := w.l.SettleCycle(w.ctx, cycle, positions(t, k)); err != nil {
		t.Fatal(err)
	}
	orig := k.Entries[0]
	rev := orig
	rev.Entry.Kind, rev.Entry.ID, rev.Entry.Original = settlement.KindReversal, "R"+w.run, orig.Entry.ID
	rtx := w.record(t, jobs.Chunk{Cycle: w.cycle("R2"), ID: "K1", Entries: []jobs.ChunkEntry{rev}})
	for _, end := range []string{orig.Entry.ID, rev.Entry.ID} {
		chain, err := w.l.ReversalChain(w.ctx, orig.Sender, end)
		if err != nil || len(chain) != 2 || chain[0].ID != orig.Entry.ID || chain[0].Kind != settlement.KindPayment ||
			chain[1].ID != rev.Entry.ID || chain[1].Kind != settlement.KindReversal || chain[1].Original != orig.Entry.ID || chain[1].TxID != rtx.ID {
			t.Fatalf("chain from %s: %+v %v; want the payment then its reversal by %s", end, chain, err, rtx.ID)
		}
	}
	lone := k.Entries[1]
	if chain, err := w.l.ReversalChain(w.ctx, lone.Sender, lone.Entry.ID); err != nil || len(chain) != 1 || chain[0].ID != lone.Entry.ID {
		t.Fatalf("chain of a payment never reversed: %+v %v", chain, err)
	}
	if chain, err := w.l.ReversalChain(w.ctx, orig.Sender, "NOPE"+w.run); err != nil || len(chain) != 0 {
		t.Fatalf("chain of an absent payment: %+v %v", chain, err)
	}
}

// testRoles: on a founded ledger the operator's writes are refused to a
// bank's identity, the caller's MSP and role coming from its certificate;
// a bank's admin may only lower its own cap; reads are open to members.
func testRoles(t *testing.T, r Roles) {
	ctx := testCtx(t)
	run := fmt.Sprintf("%x", time.Now().UnixNano())[6:]
	capMax := decimal.RequireFromString(CapMax)
	lower := capMax.Sub(decimal.NewFromInt(1))
	branch := settlement.BIC(string(r.BankBIC) + string(newBIC()[:3]))

	_, err := r.Bank.RegisterBank(ctx, branch, r.BankMSP)
	forbidden(t, err, "a bank's client registering a bank")
	_, err = r.BankAdmin.RegisterBank(ctx, branch, r.BankMSP)
	forbidden(t, err, "a bank's admin registering a bank")
	_, err = r.Bank.SettleCycle(ctx, "T"+run, nil)
	forbidden(t, err, "a bank's client settling a cycle")
	_, err = r.Bank.SetCap(ctx, settlement.Cap{Bank: r.BankBIC, Currency: krw, Amount: lower})
	forbidden(t, err, "a bank's client lowering its own cap")
	_, err = r.BankAdmin.SetCap(ctx, settlement.Cap{Bank: r.BankBIC, Currency: krw, Amount: capMax.Add(decimal.NewFromInt(1))})
	forbidden(t, err, "a bank's admin raising its own cap")
	_, err = r.BankAdmin.SetCap(ctx, settlement.Cap{Bank: r.OtherBIC, Currency: krw, Amount: lower})
	forbidden(t, err, "a bank's admin lowering another bank's cap")

	if _, err := r.BankAdmin.SetCap(ctx, settlement.Cap{Bank: r.BankBIC, Currency: krw, Amount: lower}); err != nil {
		t.Fatalf("a bank's admin lowering its own cap: %v", err)
	}
	if _, err := r.Operator.SetCap(ctx, settlement.Cap{Bank: r.BankBIC, Currency: krw, Amount: capMax}); err != nil {
		t.Fatalf("the operator raising a cap: %v", err)
	}
	tx, err := r.Operator.RegisterBank(ctx, branch, r.BankMSP)
	if err != nil {
		t.Fatalf("the operator registering %s: %v", branch, err)
	}
	committed(t, tx, "the operator's RegisterBank")
	// Another client reads what the operator wrote: told its block (as
	// reconciliation is, from Postgres), it does not read a peer behind.
	r.Bank.ReadAfter(tx.Block)
	if ok, err := r.Bank.Registered(ctx, branch); err != nil || !ok {
		t.Fatalf("a bank reading the registry: %v %v", ok, err)
	}
	// Founded, the ledger takes payments only from files their banks
	// signed: RecordChunk is closed to everyone.
	k := jobs.Chunk{Cycle: "T" + run, ID: "K1", Entries: []jobs.ChunkEntry{pay(r.BankBIC, r.OtherBIC, "A"+run, 100)}}
	_, err = r.Operator.RecordChunk(ctx, k)
	refused(t, err, "RecordChunk on a founded ledger")
}
