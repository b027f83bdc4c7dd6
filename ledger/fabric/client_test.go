package fabric

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/settlement"
)

const fileSum = "2222222222222222222222222222222222222222222222222222222222222222"

var krw = func() settlement.Currency {
	c, err := settlement.ParseCurrency("KRW")
	if err != nil {
		panic(err)
	}
	return c
}()

// world is a fresh bank (a BIC no earlier run used) for every bank org of
// the network, registered on the ledger under Bank1..nMSP with KRW caps.
// The tests use the first three.
type world struct {
	c     *Client
	banks []settlement.BIC
	run   string
}

func newWorld(t testing.TB, c *Client, cap string) *world {
	t.Helper()
	w := &world{c: c, run: fmt.Sprintf("%x", time.Now().UnixNano()), banks: make([]settlement.BIC, len(c.Network().Banks))}
	ctx := testCtx(t, 2*time.Minute)
	for i := range w.banks {
		b := make([]byte, 8)
		for j := range b {
			b[j] = byte('A' + rand.IntN(26))
		}
		w.banks[i] = settlement.BIC(b)
		if _, err := c.RegisterBank(ctx, w.banks[i], fmt.Sprintf("Bank%dMSP", i+1)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SetCap(ctx, settlement.Cap{Bank: w.banks[i], Currency: krw, Amount: decimal.RequireFromString(cap)}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *world) entry(from, to int, id string, amount int64) jobs.ChunkEntry {
	return jobs.ChunkEntry{Sender: w.banks[from], FileSHA256: fileSum, Entry: settlement.Entry{
		Kind: settlement.KindPayment, ID: id, Debtor: w.banks[from], Creditor: w.banks[to],
		Amount: decimal.NewFromInt(amount), Currency: krw,
	}}
}

// chunk makes n payments around the first three banks, ids prefix-0..n-1.
func (w *world) chunk(cycle, id, prefix string, n int) jobs.Chunk {
	c := jobs.Chunk{Cycle: cycle, ID: id}
	for i := range n {
		c.Entries = append(c.Entries, w.entry(i%3, (i+1)%3, fmt.Sprintf("%s-%06d", prefix, i), int64(1000+i)))
	}
	return c
}

// positions nets chunks the way the system does.
func positions(chunks ...jobs.Chunk) []settlement.Position {
	net := map[settlement.BIC]decimal.Decimal{}
	var order []settlement.BIC
	for _, c := range chunks {
		for _, e := range c.Entries {
			for _, b := range []settlement.BIC{e.Entry.Debtor, e.Entry.Creditor} {
				if _, ok := net[b]; !ok {
					order = append(order, b)
					net[b] = decimal.Zero
				}
			}
			d, cr := e.Entry.Debtor, e.Entry.Creditor
			if e.Entry.Kind == settlement.KindReversal {
				d, cr = cr, d
			}
			net[d] = net[d].Sub(e.Entry.Amount)
			net[cr] = net[cr].Add(e.Entry.Amount)
		}
	}
	var out []settlement.Position
	for _, b := range order {
		out = append(out, settlement.Position{Bank: b, Currency: krw, Net: net[b]})
	}
	return out
}

func wantRefused(t *testing.T, err error, code string) {
	t.Helper()
	var r *RefusalError
	if !errors.Is(err, jobs.ErrLedgerRefused) || !errors.As(err, &r) || r.Code != code {
		t.Fatalf("want %s refusal, got %v", code, err)
	}
}

func majorityTx(t *testing.T, tx jobs.LedgerTx) {
	t.Helper()
	if tx.ID == "" || tx.Block == 0 || len(tx.Endorsers) < testNet.Majority() {
		t.Fatalf("tx %+v: want an id, a block and a majority of endorsers", tx)
	}
}

func TestRecordSettleReadBack(t *testing.T) {
	c := newClient(t, 1)
	w := newWorld(t, c, "100000000")
	ctx := testCtx(t, 5*time.Minute)
	cycle := "T" + w.run
	k1, k2 := w.chunk(cycle, "K1", "A"+w.run[8:], 30), w.chunk(cycle, "K2", "B"+w.run[8:], 20)

	tx1, err := c.RecordChunk(ctx, k1)
	if err != nil {
		t.Fatal(err)
	}
	majorityTx(t, tx1)
	if tx1.Existing {
		t.Fatalf("first record is Existing: %+v", tx1)
	}
	tx2, err := c.RecordChunk(ctx, k2)
	if err != nil {
		t.Fatal(err)
	}

	// Read back: a payment with its tx, the tx's block and endorsers.
	e := k1.Entries[4]
	p, ok, err := c.Payment(ctx, e.Sender, e.Entry.ID)
	if err != nil || !ok {
		t.Fatalf("payment: %v %v", ok, err)
	}
	if p.TxID != tx1.ID || !p.Amount.Equal(e.Entry.Amount) || p.Creditor != e.Entry.Creditor || p.Cycle != cycle || p.FileSHA256 != fileSum {
		t.Fatalf("payment %+v, recorded %+v by %s", p, e, tx1.ID)
	}
	got, err := c.Tx(ctx, tx1.ID)
	if err != nil || got.Block != tx1.Block || fmt.Sprint(got.Endorsers) != fmt.Sprint(tx1.Endorsers) {
		t.Fatalf("Tx %+v %v, committed %+v", got, err, tx1)
	}
	if _, ok, err := c.Payment(ctx, e.Sender, "NOPE"+w.run); ok || err != nil {
		t.Fatalf("absent payment: %v %v", ok, err)
	}

	// Identical chunk again: the first transaction, nothing written.
	again, err := c.RecordChunk(ctx, k1)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Existing || again.ID != tx1.ID || again.Block != tx1.Block || len(again.Endorsers) < 2 {
		t.Fatalf("re-record %+v, first %+v", again, tx1)
	}
	// Other content under the same chunk id; a payment id already recorded.
	changed := w.chunk(cycle, "K1", "A"+w.run[8:], 30)
	changed.Entries[3].Entry.Amount = decimal.NewFromInt(7)
	_, err = c.RecordChunk(ctx, changed)
	wantRefused(t, err, "CHUNK_CONFLICT")
	dup := w.chunk(cycle, "K3", "C"+w.run[8:], 5)
	dup.Entries[2] = k2.Entries[0]
	_, err = c.RecordChunk(ctx, dup)
	wantRefused(t, err, "DUPLICATE_PAYMENT")

	lc, ok, err := c.Cycle(ctx, cycle)
	if err != nil || !ok || lc.Status != "open" || lc.Chunks != 2 || lc.Payments != 50 {
		t.Fatalf("cycle %+v %v %v", lc, ok, err)
	}
	var n int
	var last string
	for r, err := range c.CyclePayments(ctx, cycle) {
		if err != nil {
			t.Fatal(err)
		}
		k := string(r.Sender) + "\x00" + r.ID
		if k <= last {
			t.Fatalf("CyclePayments out of order at %s", k)
		}
		last = k
		if r.TxID != tx1.ID && r.TxID != tx2.ID {
			t.Fatalf("payment %s/%s tx %s", r.Sender, r.ID, r.TxID)
		}
		n++
	}
	if n != 50 {
		t.Fatalf("CyclePayments: %d payments, want 50", n)
	}

	// Listen from before the settle.
	events := make(chan Event, 16)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	listenErr := make(chan error, 1)
	go func() {
		listenErr <- c.Listen(lctx, tx1.Block, func(ev Event) error {
			if ev.Cycle == cycle {
				events <- ev
			}
			return nil
		})
	}()

	// Settle: wrong positions refused, right ones settle once.
	pos := positions(k1, k2)
	bad := append([]settlement.Position(nil), pos...)
	bad[0].Net = bad[0].Net.Add(decimal.NewFromInt(1))
	bad[1].Net = bad[1].Net.Sub(decimal.NewFromInt(1))
	_, err = c.SettleCycle(ctx, cycle, bad)
	wantRefused(t, err, "POSITIONS_MISMATCH")
	st, err := c.SettleCycle(ctx, cycle, pos)
	if err != nil {
		t.Fatal(err)
	}
	majorityTx(t, st)
	st2, err := c.SettleCycle(ctx, cycle, pos)
	if err != nil || !st2.Existing || st2.ID != st.ID {
		t.Fatalf("settle again: %+v %v, first %+v", st2, err, st)
	}
	lc, _, err = c.Cycle(ctx, cycle)
	if err != nil || !lc.Settled() || lc.TxID != st.ID || len(lc.Positions) != 3 {
		t.Fatalf("settled cycle %+v %v", lc, err)
	}
	// What the transactions carried, read back from their blocks.
	sc, err := c.TxContent(ctx, st.ID)
	if err != nil || sc.Function != "SettleCycle" || sc.Cycle != cycle || len(sc.Positions) != len(pos) || sc.Tx.Block != st.Block {
		t.Fatalf("settle tx content %+v %v", sc, err)
	}
	for i, p := range pos {
		if got := sc.Positions[i]; got.Bank != p.Bank || got.Currency != p.Currency || !got.Net.Equal(p.Net) {
			t.Fatalf("settle tx position %d: %+v, submitted %+v", i, got, p)
		}
	}
	kc, err := c.TxContent(ctx, tx1.ID)
	if err != nil || kc.Function != "RecordChunk" || kc.Cycle != cycle || kc.Chunk != k1.ID || len(kc.Payments) != len(k1.Entries) {
		t.Fatalf("chunk tx content %+v %v", kc, err)
	}
	for i, e := range k1.Entries {
		p := kc.Payments[i]
		if p.Sender != e.Sender || p.ID != e.Entry.ID || !p.Amount.Equal(e.Entry.Amount) || p.TxID != tx1.ID || p.FileSHA256 != e.FileSHA256 {
			t.Fatalf("chunk tx payment %d: %+v, submitted %+v", i, p, e)
		}
	}
	select {
	case ev := <-events:
		if ev.TxID != st.ID || ev.Block != st.Block || ev.Name != EventCycleSettled {
			t.Fatalf("event %+v, settle %+v", ev, st)
		}
	case err := <-listenErr:
		t.Fatalf("Listen: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no CycleSettled event within a minute")
	}
	_, err = c.RecordChunk(ctx, w.chunk(cycle, "K9", "D"+w.run[8:], 2))
	wantRefused(t, err, "CYCLE_SETTLED")

	// A reversal in a later cycle, and the chain from either end.
	orig := k1.Entries[0]
	r := orig
	r.Entry.Kind, r.Entry.ID, r.Entry.Original = settlement.KindReversal, "R"+w.run[8:], orig.Entry.ID
	later := jobs.Chunk{Cycle: cycle + "n", ID: "K1", Entries: []jobs.ChunkEntry{r}}
	rtx, err := c.RecordChunk(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	for _, end := range []string{orig.Entry.ID, r.Entry.ID} {
		chain, err := c.ReversalChain(ctx, orig.Sender, end)
		if err != nil || len(chain) != 2 || chain[0].ID != orig.Entry.ID || chain[1].ID != r.Entry.ID ||
			chain[1].TxID != rtx.ID || chain[1].Kind != settlement.KindReversal || chain[1].Original != orig.Entry.ID {
			t.Fatalf("chain from %s: %+v %v", end, chain, err)
		}
	}
	r2 := r
	r2.Entry.ID = "S" + w.run[8:]
	_, err = c.RecordChunk(ctx, jobs.Chunk{Cycle: cycle + "n", ID: "K2", Entries: []jobs.ChunkEntry{r2}})
	wantRefused(t, err, "REVERSAL_INVALID")
	if _, err := c.SettleCycle(ctx, cycle+"n", positions(later)); err != nil {
		t.Fatal(err)
	}
}

func TestSettleOverCapRefused(t *testing.T) {
	c := newClient(t, 2)
	w := newWorld(t, c, "1000")
	ctx := testCtx(t, 3*time.Minute)
	cycle := "T" + w.run
	k := jobs.Chunk{Cycle: cycle, ID: "K1", Entries: []jobs.ChunkEntry{w.entry(0, 1, "CAP"+w.run[8:], 5000)}}
	if _, err := c.RecordChunk(ctx, k); err != nil {
		t.Fatal(err)
	}
	_, err := c.SettleCycle(ctx, cycle, positions(k))
	wantRefused(t, err, "CAP_EXCEEDED")
	lc, _, err := c.Cycle(ctx, cycle)
	if err != nil || lc.Settled() {
		t.Fatalf("cycle %+v %v", lc, err)
	}
}

// TestOneEndorserRejected: a client that collects one bank's endorsement
// only gets its transaction rejected by the committing peers.
func TestOneEndorserRejected(t *testing.T) {
	c := newClient(t, 1)
	w := newWorld(t, c, "100000000")
	one := newClient(t, 2, 2)
	ctx := testCtx(t, 3*time.Minute)
	cycle := "T" + w.run
	k := w.chunk(cycle, "K1", "M"+w.run[8:], 3)
	_, err := one.RecordChunk(ctx, k)
	var pe *PolicyError
	if !errors.Is(err, jobs.ErrEndorsementPolicy) || !errors.As(err, &pe) || fmt.Sprint(pe.Endorsers) != "[Bank2MSP]" {
		t.Fatalf("want an endorsement policy failure naming Bank2MSP, got %v", err)
	}
	if !strings.Contains(err.Error(), "Bank2MSP") || !strings.Contains(err.Error(), "committing peers") {
		t.Fatalf("error text %q", err)
	}
	if _, ok, err := c.Cycle(ctx, cycle); ok || err != nil {
		t.Fatalf("the rejected chunk is on the ledger: %v %v", ok, err)
	}
	// The same chunk through a majority commits.
	tx, err := c.RecordChunk(ctx, k)
	if err != nil || tx.Existing {
		t.Fatalf("%+v %v", tx, err)
	}
}

func TestConcurrentChunks(t *testing.T) {
	c := newClient(t, 3)
	w := newWorld(t, c, "100000000")
	ctx := testCtx(t, 5*time.Minute)
	cycle := "T" + w.run
	const n = 8
	var wg sync.WaitGroup
	txs := make([]jobs.LedgerTx, n)
	errs := make([]error, n)
	var chunks []jobs.Chunk
	for i := range n {
		chunks = append(chunks, w.chunk(cycle, fmt.Sprintf("K%d", i), fmt.Sprintf("P%d%s", i, w.run[8:]), 100))
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			txs[i], errs[i] = c.RecordChunk(ctx, chunks[i])
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("chunk %d: %v", i, errs[i])
		}
		majorityTx(t, txs[i])
	}
	lc, ok, err := c.Cycle(ctx, cycle)
	if err != nil || !ok || lc.Chunks != n || lc.Payments != n*100 {
		t.Fatalf("cycle %+v %v %v", lc, ok, err)
	}
	if _, err := c.SettleCycle(ctx, cycle, positions(chunks...)); err != nil {
		t.Fatal(err)
	}
}

// TestReadOwnWriteFromPeerBehind: bank 3's client writes while its own
// peer is down, then reads at once from that peer, restarted and catching
// up on the missed blocks. The read asks the peer its height first and
// waits for it to hold the write instead of answering "not found". (On
// this machine the restarted peer has usually caught up by the time its
// port opens; the test logs whether it was behind. The waiting itself is
// pinned by TestWaitHeight*.)
func TestReadOwnWriteFromPeerBehind(t *testing.T) {
	c := newClient(t, 3)
	w := newWorld(t, c, "100000000")
	ctx := testCtx(t, 4*time.Minute)
	t.Cleanup(func() { script(time.Minute, "peer-start.sh", "3") })
	if err := script(time.Minute, "peer-stop.sh", "3"); err != nil {
		t.Fatal(err)
	}
	k := w.chunk("T"+w.run, "K1", "W"+w.run[8:], 3)
	tx, err := c.RecordChunk(ctx, k)
	if err != nil {
		t.Fatalf("write with the own peer down: %v", err)
	}
	if err := script(time.Minute, "peer-start.sh", "3"); err != nil {
		t.Fatal(err)
	}
	// Ask the own peer first again, as a client would once it is back.
	var own *endorser
	for _, e := range c.peers {
		if e.bank.MSPID == "Bank3MSP" {
			own = e
		}
	}
	c.mu.Lock()
	delete(c.downUntil, own.bank.MSPID)
	c.mu.Unlock()
	if h, err := c.height(ctx, own); err == nil {
		t.Logf("peer 3 at height %d right after its restart; the write is in block %d (behind: %v)", h, tx.Block, h <= tx.Block)
	}
	e := k.Entries[1]
	rec, ok, err := c.Payment(ctx, e.Sender, e.Entry.ID)
	if err != nil || !ok || rec.TxID != tx.ID {
		t.Fatalf("read right after the write: %+v found=%v %v; want it recorded by %s", rec, ok, err, tx.ID)
	}
	// The read waited up to catchUpWait for the own peer; on a loaded
	// machine a peer still catching up after that leaves the answer to
	// another, which is as right (checked above). Either way the restarted
	// peer catches up: polled here, not timed.
	h, err := waitHeight(ctx, tx.Block+1, func(ctx context.Context) (uint64, error) { return c.height(ctx, own) }, 2*time.Minute, 100*time.Millisecond)
	if err != nil || h <= tx.Block {
		t.Fatalf("peer 3 at height %d (%v); want past block %d", h, err, tx.Block)
	}
	// Another process (a reconciliation) knows the write's block from
	// Postgres only: told it, its client waits for it the same way, and a
	// block no peer holds yet is not read as an answer.
	other := newClient(t, 3)
	other.ReadAfter(tx.Block)
	if rec, ok, err := other.Payment(ctx, e.Sender, e.Entry.ID); err != nil || !ok || rec.TxID != tx.ID {
		t.Fatalf("another client told the block: %+v found=%v %v; want it recorded by %s", rec, ok, err, tx.ID)
	}
	ahead := newClient(t, 3)
	ahead.ReadAfter(tx.Block + 1000)
	short, cancel := context.WithTimeout(ctx, 2*catchUpWait*time.Duration(len(ahead.peers))+30*time.Second)
	defer cancel()
	if _, _, err := ahead.Payment(short, e.Sender, e.Entry.ID); !errors.Is(err, jobs.ErrLedgerUnavailable) || !strings.Contains(err.Error(), "behind") {
		t.Fatalf("told a block no peer holds: %v; want unavailable, every peer behind", err)
	}
}

// TestPeersDown runs last: it stops peers. One bank's peer down: a cycle
// still records and settles. Two of three: the write fails as unavailable,
// and the same call succeeds once they are back, written once.
func TestPeersDown(t *testing.T) {
	c := newClient(t, 1)
	w := newWorld(t, c, "100000000")
	ctx := testCtx(t, 8*time.Minute)
	cycle := "T" + w.run
	t.Cleanup(func() {
		script(time.Minute, "peer-start.sh", "2")
		script(time.Minute, "peer-start.sh", "3")
	})
	if err := script(time.Minute, "peer-stop.sh", "3"); err != nil {
		t.Fatal(err)
	}
	k1 := w.chunk(cycle, "K1", "X"+w.run[8:], 10)
	tx, err := c.RecordChunk(ctx, k1)
	if err != nil {
		t.Fatalf("one peer down: %v", err)
	}
	if fmt.Sprint(tx.Endorsers) != "[Bank1MSP Bank2MSP]" {
		t.Fatalf("endorsers %v", tx.Endorsers)
	}
	if err := script(time.Minute, "peer-stop.sh", "2"); err != nil {
		t.Fatal(err)
	}
	k2 := w.chunk(cycle, "K2", "Y"+w.run[8:], 10)
	_, err = c.RecordChunk(ctx, k2)
	if !errors.Is(err, jobs.ErrLedgerUnavailable) || !strings.Contains(err.Error(), "Bank1MSP") {
		t.Fatalf("two peers down: want ErrLedgerUnavailable naming who endorsed, got %v", err)
	}
	t.Logf("two peers down: %v", err)
	for _, p := range []string{"2", "3"} {
		if err := script(time.Minute, "peer-start.sh", p); err != nil {
			t.Fatal(err)
		}
	}
	// The re-run: the peers may still be catching up; retry like a job would.
	var tx2 jobs.LedgerTx
	for attempt := 0; ; attempt++ {
		tx2, err = c.RecordChunk(ctx, k2)
		if err == nil || attempt == 20 {
			break
		}
		t.Logf("re-run %d: %v", attempt, err)
		time.Sleep(3 * time.Second)
	}
	if err != nil || tx2.Existing {
		t.Fatalf("re-run after the peers returned: %+v %v", tx2, err)
	}
	again, err := c.RecordChunk(ctx, k2)
	if err != nil || !again.Existing || again.ID != tx2.ID {
		t.Fatalf("again: %+v %v", again, err)
	}
	st, err := c.SettleCycle(ctx, cycle, positions(k1, k2))
	if err != nil {
		t.Fatal(err)
	}
	majorityTx(t, st)
	lc, _, err := c.Cycle(ctx, cycle)
	if err != nil || lc.Chunks != 2 || lc.Payments != 20 || !lc.Settled() {
		t.Fatalf("cycle %+v %v", lc, err)
	}
}

// TestRegistered: the registry answers for a bank registered a moment ago
// and for one never registered.
func TestRegistered(t *testing.T) {
	c := newClient(t, 1)
	w := newWorld(t, c, "1000")
	ctx := testCtx(t, time.Minute)
	if ok, err := c.Registered(ctx, w.banks[0]); err != nil || !ok {
		t.Fatalf("registered bank: %v %v", ok, err)
	}
	const never = settlement.BIC("QQQQQQQQ") // no test registers it
	if ok, err := c.Registered(ctx, never); err != nil || ok {
		t.Fatalf("a bank never registered (%s): %v %v", never, ok, err)
	}
}
