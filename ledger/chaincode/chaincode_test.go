package chaincode

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const (
	bankA = "SHBKKRSE"
	bankB = "CZNBKRSE"
	bankC = "HVBKKRSE"
	sum1  = "1111111111111111111111111111111111111111111111111111111111111111"
)

func pay(sender, id, debtor, creditor, amount, currency string) PaymentIn {
	return PaymentIn{Sender: sender, ID: id, Kind: KindPayment, Debtor: debtor, Creditor: creditor, Amount: amount, Currency: currency, FileSHA256: sum1}
}

func rev(sender, id, orig, debtor, creditor, amount, currency string) PaymentIn {
	return PaymentIn{Sender: sender, ID: id, Kind: KindReversal, OriginalID: orig, Debtor: debtor, Creditor: creditor, Amount: amount, Currency: currency, FileSHA256: sum1}
}

func js(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newNet returns a ledger with three registered banks and generous KRW and USD caps.
func newNet(t *testing.T) *memLedger {
	t.Helper()
	l := newLedger()
	for i, b := range []string{bankA, bankB, bankC} {
		l.must(t, "RegisterBank", b, fmt.Sprintf("Bank%dMSP", i+1))
		l.must(t, "SetCap", b, "KRW", "100000000")
		l.must(t, "SetCap", b, "USD", "1000000.00")
	}
	return l
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func positionsOf(t *testing.T, list []Position) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range list {
		m[p.Bank+" "+p.Currency] = p.Net
	}
	return m
}

func TestRecordChunkComputesTotalsAndPositions(t *testing.T) {
	l := newNet(t)
	chunk := []PaymentIn{
		pay(bankA, "SH-000001", bankA, bankB, "1500000", "KRW"),
		pay(bankA, "SH-000002", bankA, bankC, "250000", "KRW"),
		pay(bankB, "CZ-1", bankB, bankA, "100000", "KRW"),
		pay(bankB, "CZ-2", bankB, bankC, "10.5", "USD"),
	}
	res := decode[ChunkResult](t, l.must(t, "RecordChunk", "C1", "K1", js(t, chunk)))
	if res.Status != "recorded" || res.Count != 4 || res.ControlSum != "1850010.5" {
		t.Fatalf("result %+v", res)
	}
	got := positionsOf(t, res.Positions)
	want := map[string]string{
		bankA + " KRW": "-1650000", bankB + " KRW": "1400000", bankC + " KRW": "250000",
		bankB + " USD": "-10.50", bankC + " USD": "10.50",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("positions %v, want %v", got, want)
	}
	p := decode[PaymentView](t, l.must(t, "GetPayment", bankA, "SH-000001"))
	if p.TxID != res.TxID || p.Amount != "1500000" || p.CycleID != "C1" || p.ChunkID != "K1" || p.FileSHA256 != sum1 {
		t.Fatalf("payment %+v", p)
	}
	usd := decode[PaymentView](t, l.must(t, "GetPayment", bankB, "CZ-2"))
	if usd.Amount != "10.50" {
		t.Fatalf("USD amount stored as %q, want the canonical 10.50", usd.Amount)
	}
	cy := decode[CycleView](t, l.must(t, "GetCycle", "C1"))
	if cy.Status != StatusOpen || len(cy.Chunks) != 1 || cy.Payments != 4 || positionsOf(t, cy.Positions)[bankA+" KRW"] != "-1650000" {
		t.Fatalf("cycle %+v", cy)
	}
}

func TestRecordChunkIsIdempotentForIdenticalContent(t *testing.T) {
	l := newNet(t)
	chunk := js(t, []PaymentIn{pay(bankA, "P1", bankA, bankB, "5", "KRW")})
	first := decode[ChunkResult](t, l.must(t, "RecordChunk", "C1", "K1", chunk))
	states := len(l.state)
	again := decode[ChunkResult](t, l.must(t, "RecordChunk", "C1", "K1", chunk))
	if again.Status != "already_recorded" || again.TxID != first.TxID || len(l.state) != states {
		t.Fatalf("re-record: %+v (state %d -> %d)", again, states, len(l.state))
	}
	hist := decode[[]HistoryEntry](t, l.must(t, "GetHistory", "chunk/C1/K1"))
	if len(hist) != 1 {
		t.Fatalf("chunk written %d times", len(hist))
	}
	other := js(t, []PaymentIn{pay(bankA, "P1", bankA, bankB, "6", "KRW")})
	l.refused(t, CodeChunkConflict, "RecordChunk", "C1", "K1", other)
}

func TestDuplicatePaymentRefusesWholeChunk(t *testing.T) {
	l := newNet(t)
	l.must(t, "RecordChunk", "C1", "K1", js(t, []PaymentIn{pay(bankA, "P1", bankA, bankB, "5", "KRW")}))
	e := l.refused(t, CodeDuplicatePayment, "RecordChunk", "C1", "K2", js(t, []PaymentIn{
		pay(bankA, "P2", bankA, bankB, "7", "KRW"),
		pay(bankA, "P1", bankA, bankC, "9", "KRW"),
	}))
	if !strings.Contains(e.Msg, "P1") {
		t.Fatalf("message does not name the payment: %s", e.Msg)
	}
	l.refused(t, CodeNotFound, "GetPayment", bankA, "P2") // no partial write
	// The same id in another cycle is still a duplicate: ids are unique for all time.
	l.refused(t, CodeDuplicatePayment, "RecordChunk", "C2", "K1", js(t, []PaymentIn{pay(bankA, "P1", bankA, bankB, "5", "KRW")}))
	// Twice in one chunk.
	l.refused(t, CodeDuplicatePayment, "RecordChunk", "C1", "K3", js(t, []PaymentIn{
		pay(bankA, "P3", bankA, bankB, "5", "KRW"), pay(bankA, "P3", bankA, bankB, "5", "KRW"),
	}))
	// The same id from another sender is another payment.
	l.must(t, "RecordChunk", "C1", "K4", js(t, []PaymentIn{pay(bankB, "P1", bankB, bankA, "5", "KRW")}))
}

func TestElevenCharacterBICWithBranchXXXIsTheSameBank(t *testing.T) {
	l := newNet(t)
	l.must(t, "RecordChunk", "C1", "K1", js(t, []PaymentIn{pay(bankA+"XXX", "P1", bankA+"XXX", bankB, "5", "KRW")}))
	p := decode[PaymentView](t, l.must(t, "GetPayment", bankA, "P1"))
	if p.Sender != bankA || p.Debtor != bankA {
		t.Fatalf("payment %+v not keyed by the 8-character BIC", p)
	}
	l.refused(t, CodeDuplicatePayment, "RecordChunk", "C1", "K2", js(t, []PaymentIn{pay(bankA, "P1", bankA, bankB, "5", "KRW")}))
}

func TestRecordChunkValidatesEveryField(t *testing.T) {
	ok := pay(bankA, "P1", bankA, bankB, "100", "USD")
	cases := []struct {
		name string
		edit func(p *PaymentIn)
		code Code
	}{
		{"bad sender BIC", func(p *PaymentIn) { p.Sender, p.Debtor = "shbkkrse", "shbkkrse" }, CodeInvalid},
		{"BIC too short", func(p *PaymentIn) { p.Creditor = "CZNBKR" }, CodeInvalid},
		{"BIC 9 chars", func(p *PaymentIn) { p.Creditor = "CZNBKRSE1" }, CodeInvalid},
		{"unknown currency", func(p *PaymentIn) { p.Currency = "ABC" }, CodeInvalid},
		{"lower-case currency", func(p *PaymentIn) { p.Currency = "usd" }, CodeInvalid},
		{"too many decimals USD", func(p *PaymentIn) { p.Amount = "1.001" }, CodeInvalid},
		{"decimals on KRW", func(p *PaymentIn) { p.Amount, p.Currency = "1.5", "KRW" }, CodeInvalid},
		{"trailing zero beyond minor unit", func(p *PaymentIn) { p.Amount = "1.000" }, CodeInvalid},
		{"zero", func(p *PaymentIn) { p.Amount = "0.00" }, CodeInvalid},
		{"negative", func(p *PaymentIn) { p.Amount = "-5" }, CodeInvalid},
		{"exponent", func(p *PaymentIn) { p.Amount = "1e3" }, CodeInvalid},
		{"thousands separator", func(p *PaymentIn) { p.Amount = "1,000" }, CodeInvalid},
		{"19 integer digits", func(p *PaymentIn) { p.Amount = "1000000000000000000" }, CodeInvalid},
		{"empty amount", func(p *PaymentIn) { p.Amount = "" }, CodeInvalid},
		{"kind", func(p *PaymentIn) { p.Kind = "X" }, CodeInvalid},
		{"payment with originalId", func(p *PaymentIn) { p.OriginalID = "P0" }, CodeInvalid},
		{"reversal without originalId", func(p *PaymentIn) { p.Kind = KindReversal }, CodeInvalid},
		{"bad payment id", func(p *PaymentIn) { p.ID = "has space" }, CodeInvalid},
		{"payment id too long", func(p *PaymentIn) { p.ID = strings.Repeat("x", 36) }, CodeInvalid},
		{"bad sha256", func(p *PaymentIn) { p.FileSHA256 = "abc" }, CodeInvalid},
		{"debtor is not the sender", func(p *PaymentIn) { p.Debtor = bankC }, CodeInvalid},
		{"creditor is the debtor", func(p *PaymentIn) { p.Creditor = bankA }, CodeInvalid},
		{"unregistered creditor", func(p *PaymentIn) { p.Creditor = "DEUTDEFF" }, CodeUnknownBank},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newNet(t)
			p := ok
			c.edit(&p)
			l.refused(t, c.code, "RecordChunk", "C1", "K1", js(t, []PaymentIn{p}))
		})
	}
	t.Run("the valid payment passes", func(t *testing.T) {
		newNet(t).must(t, "RecordChunk", "C1", "K1", js(t, []PaymentIn{ok}))
	})
}

func TestRecordChunkListsEveryBadPayment(t *testing.T) {
	l := newNet(t)
	bad1 := pay(bankA, "P1", bankA, bankB, "1.5", "KRW")
	bad2 := pay(bankA, "P2", bankA, bankB, "abc", "KRW")
	e := l.refused(t, CodeInvalid, "RecordChunk", "C1", "K1", js(t, []PaymentIn{bad1, pay(bankA, "P3", bankA, bankB, "1", "KRW"), bad2}))
	if !strings.Contains(e.Msg, "payments[0]") || !strings.Contains(e.Msg, "payments[2]") {
		t.Fatalf("message should list both bad payments: %s", e.Msg)
	}
}

func TestMalformedArgumentsGetClearErrors(t *testing.T) {
	l := newNet(t)
	cases := []struct {
		name string
		fn   string
		args []string
		code Code
	}{
		{"unknown function", "Steal", nil, CodeBadArgs},
		{"missing args", "RecordChunk", []string{"C1"}, CodeBadArgs},
		{"extra args", "Ping", []string{"x"}, CodeBadArgs},
		{"not JSON", "RecordChunk", []string{"C1", "K1", "{{"}, CodeBadArgs},
		{"object instead of list", "RecordChunk", []string{"C1", "K1", `{"a":1}`}, CodeBadArgs},
		{"unknown field", "RecordChunk", []string{"C1", "K1", `[{"sender":"SHBKKRSE","amount2":"1"}]`}, CodeBadArgs},
		{"number amount", "RecordChunk", []string{"C1", "K1", `[{"amount":5}]`}, CodeBadArgs},
		{"trailing data", "RecordChunk", []string{"C1", "K1", `[] []`}, CodeBadArgs},
		{"empty chunk", "RecordChunk", []string{"C1", "K1", `[]`}, CodeBadArgs},
		{"null chunk", "RecordChunk", []string{"C1", "K1", `null`}, CodeBadArgs},
		{"bad cycle id", "RecordChunk", []string{"C 1", "K1", `[]`}, CodeInvalid},
		{"NUL in chunk id", "RecordChunk", []string{"C1", "K\x001", `[]`}, CodeInvalid},
		{"bad positions", "SettleCycle", []string{"C1", `[{"bank":"SHBKKRSE","currency":"KRW","net":"1.5"}]`}, CodeInvalid},
		{"positions listed twice", "SettleCycle", []string{"C1", `[{"bank":"SHBKKRSE","currency":"KRW","net":"1"},{"bank":"SHBKKRSE","currency":"KRW","net":"-1"}]`}, CodeInvalid},
		{"bad history key", "GetHistory", []string{"nope/x"}, CodeBadArgs},
		{"history key missing attribute", "GetHistory", []string{"pay/SHBKKRSE"}, CodeBadArgs},
		{"bad msp", "RegisterBank", []string{"DEUTDEFF", "a b"}, CodeInvalid},
		{"cap of unknown bank", "SetCap", []string{"DEUTDEFF", "EUR", "5"}, CodeUnknownBank},
		{"negative cap", "SetCap", []string{bankA, "EUR", "-5"}, CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { l.refused(t, c.code, c.fn, c.args...) })
	}
}

func TestLimits(t *testing.T) {
	l := newNet(t)
	many := make([]PaymentIn, paymentsPerChunkMax+1)
	for i := range many {
		many[i] = pay(bankA, fmt.Sprintf("P%d", i), bankA, bankB, "1", "KRW")
	}
	l.refused(t, CodeLimit, "RecordChunk", "C1", "K1", js(t, many))
	l.refused(t, CodeLimit, "RecordChunk", "C1", "K1", "["+strings.Repeat(" ", argBytesMax)+"]")
	l.refused(t, CodeLimit, "Ping", "1", "2", "3", "4", "5", "6", "7", "8")
	full := many[:paymentsPerChunkMax]
	res := decode[ChunkResult](t, l.must(t, "RecordChunk", "C1", "K1", js(t, full)))
	if res.Count != paymentsPerChunkMax {
		t.Fatalf("count %d", res.Count)
	}
}

// panicStub makes every read panic, standing in for a bug deep in the contract.
type panicStub struct{ memStub }

func (panicStub) GetState(string) ([]byte, error) { panic("boom") }

func TestPanicBecomesInternalError(t *testing.T) {
	l := newLedger()
	s := &panicStub{memStub{l: l, txID: "tx", writes: map[string][]byte{}, args: [][]byte{[]byte("GetBank"), []byte(bankA)}}}
	_, err := Contract{}.Call(s)
	if err == nil || !strings.HasPrefix(err.Error(), "INTERNAL: panic") {
		t.Fatalf("err %v", err)
	}
}

func TestRegisterBank(t *testing.T) {
	l := newNet(t)
	out := decode[map[string]string](t, l.must(t, "RegisterBank", bankA, "Bank1MSP"))
	if out["status"] != "already_registered" {
		t.Fatalf("re-register: %v", out)
	}
	l.refused(t, CodeBankConflict, "RegisterBank", bankA, "Bank9MSP")
	b := decode[Bank](t, l.must(t, "GetBank", bankA+"XXX"))
	if b.MSPID != "Bank1MSP" {
		t.Fatalf("bank %+v", b)
	}
}

func TestCapHistory(t *testing.T) {
	l := newNet(t)
	l.must(t, "SetCap", bankA, "KRW", "5")
	c := decode[Cap](t, l.must(t, "GetCap", bankA, "KRW"))
	if c.Cap != "5" {
		t.Fatalf("cap %+v", c)
	}
	hist := decode[[]HistoryEntry](t, l.must(t, "GetHistory", "cap/"+bankA+"/KRW"))
	if len(hist) != 2 || !strings.Contains(string(hist[1].Value), `"cap":"5"`) {
		t.Fatalf("history %+v", hist)
	}
	l.refused(t, CodeInvalid, "SetCap", bankA, "USD", "1.234")
}

// settleable records a small cycle C1 and returns its positions.
func settleable(t *testing.T, l *memLedger) []Position {
	t.Helper()
	l.must(t, "RecordChunk", "C1", "K1", js(t, []PaymentIn{
		pay(bankA, "SH-1", bankA, bankB, "1500000", "KRW"),
		pay(bankA, "SH-2", bankA, bankC, "250000", "KRW"),
	}))
	l.must(t, "RecordChunk", "C1", "K2", js(t, []PaymentIn{
		pay(bankB, "CZ-1", bankB, bankA, "100000", "KRW"),
	}))
	return []Position{
		{bankA, "KRW", "-1650000"}, {bankB, "KRW", "1400000"}, {bankC, "KRW", "250000"},
	}
}

func TestSettleCycle(t *testing.T) {
	l := newNet(t)
	pos := settleable(t, l)
	res := decode[SettleResult](t, l.must(t, "SettleCycle", "C1", js(t, pos)))
	if res.Outcome != "settled" || res.Chunks != 2 || res.Payments != 3 || res.Status != StatusSettled {
		t.Fatalf("settle %+v", res)
	}
	if len(l.events) != 1 || l.events[0].name != EventCycleSettled {
		t.Fatalf("events %+v", l.events)
	}
	ev := decode[Cycle](t, l.events[0].payload)
	if ev.CycleID != "C1" || len(ev.Positions) != 3 {
		t.Fatalf("event %+v", ev)
	}
	cy := decode[CycleView](t, l.must(t, "GetCycle", "C1"))
	if cy.Status != StatusSettled || cy.SettledTxID != res.TxID || len(cy.Chunks) != 2 || cy.Chunks[0].ChunkID != "K1" {
		t.Fatalf("cycle %+v", cy)
	}

	// Identical repeat: idempotent, no second event. Zero entries and order do not matter.
	again := append([]Position{{bankC, "USD", "0.00"}}, pos[2], pos[0], pos[1])
	rep := decode[SettleResult](t, l.must(t, "SettleCycle", "C1", js(t, again)))
	if rep.Outcome != "already_settled" || rep.TxID != res.TxID || len(l.events) != 1 {
		t.Fatalf("repeat %+v, events %d", rep, len(l.events))
	}
	other := []Position{{bankA, "KRW", "-1650001"}, {bankB, "KRW", "1400001"}, {bankC, "KRW", "250000"}}
	l.refused(t, CodeSettleConflict, "SettleCycle", "C1", js(t, other))
	l.refused(t, CodeCycleSettled, "RecordChunk", "C1", "K3", js(t, []PaymentIn{pay(bankA, "SH-3", bankA, bankB, "1", "KRW")}))
}

func TestSettleRefusesPositionsThatDoNotMatchTheChunks(t *testing.T) {
	l := newNet(t)
	pos := settleable(t, l)
	wrong := []Position{{bankA, "KRW", "-1650000"}, {bankB, "KRW", "1300000"}, {bankC, "KRW", "350000"}}
	e := l.refused(t, CodePositionsMismatch, "SettleCycle", "C1", js(t, wrong))
	if !strings.Contains(e.Msg, bankB+" KRW ledger 1400000 submitted 1300000") {
		t.Fatalf("message: %s", e.Msg)
	}
	l.refused(t, CodePositionsMismatch, "SettleCycle", "C1", js(t, pos[:2]))
	l.refused(t, CodeCycleEmpty, "SettleCycle", "C9", "[]")
	if len(l.events) != 0 {
		t.Fatal("a refused settle emitted an event")
	}
	l.must(t, "SettleCycle", "C1", js(t, pos))
}

func TestSettleRespectsCaps(t *testing.T) {
	l := newNet(t)
	pos := settleable(t, l)
	l.must(t, "SetCap", bankA, "KRW", "1649999")
	e := l.refused(t, CodeCapExceeded, "SettleCycle", "C1", js(t, pos))
	if !strings.Contains(e.Msg, "1650000") || !strings.Contains(e.Msg, "1649999") {
		t.Fatalf("message: %s", e.Msg)
	}
	l.must(t, "SetCap", bankA, "KRW", "1650000") // exactly at the cap is allowed
	l.must(t, "SettleCycle", "C1", js(t, pos))
}

func TestNetDebtorWithoutCapIsRefused(t *testing.T) {
	l := newLedger()
	l.must(t, "RegisterBank", bankA, "Bank1MSP")
	l.must(t, "RegisterBank", bankB, "Bank2MSP")
	l.must(t, "RecordChunk", "C1", "K1", js(t, []PaymentIn{pay(bankA, "P1", bankA, bankB, "1.00", "EUR")}))
	pos := []Position{{bankA, "EUR", "-1.00"}, {bankB, "EUR", "1.00"}}
	l.refused(t, CodeCapExceeded, "SettleCycle", "C1", js(t, pos))
	l.must(t, "SetCap", bankA, "EUR", "1")
	l.must(t, "SettleCycle", "C1", js(t, pos))
}

func TestUnbalancedPositionsAreDetected(t *testing.T) {
	p := positions{}
	p.add(bankA, "KRW", dec("-5"))
	p.add(bankB, "KRW", dec("4"))
	p.add(bankA, "USD", dec("1.00"))
	p.add(bankB, "USD", dec("-1.00"))
	if got := p.unbalanced(); len(got) != 1 || got[0] != "KRW -1" {
		t.Fatalf("unbalanced %v", got)
	}
}

// settledCycle1 records and settles cycle C1 with SH-1 (A->B 1500000 KRW) in it.
func settledCycle1(t *testing.T) *memLedger {
	t.Helper()
	l := newNet(t)
	l.must(t, "SettleCycle", "C1", js(t, settleable(t, l)))
	return l
}

func TestReversal(t *testing.T) {
	l := settledCycle1(t)
	r := rev(bankA, "SH-R-1", "SH-1", bankA, bankB, "1500000", "KRW")
	res := decode[ChunkResult](t, l.must(t, "RecordChunk", "C2", "K1", js(t, []PaymentIn{r})))
	got := positionsOf(t, res.Positions)
	if got[bankA+" KRW"] != "1500000" || got[bankB+" KRW"] != "-1500000" {
		t.Fatalf("a reversal must move money from the original creditor to the debtor: %v", got)
	}
	for _, id := range []string{"SH-1", "SH-R-1"} {
		chain := decode[ReversalChain](t, l.must(t, "GetReversalChain", bankA, id))
		if chain.Original == nil || chain.Original.ID != "SH-1" || chain.Reversal == nil || chain.Reversal.ID != "SH-R-1" {
			t.Fatalf("chain from %s: %+v", id, chain)
		}
		if chain.Original.ReversedBy == nil || chain.Original.ReversedBy.TxID != res.TxID {
			t.Fatalf("original not marked reversed: %+v", chain.Original)
		}
	}
	plain := decode[ReversalChain](t, l.must(t, "GetReversalChain", bankA, "SH-2"))
	if plain.Original == nil || plain.Reversal != nil {
		t.Fatalf("chain of an unreversed payment: %+v", plain)
	}
	again := rev(bankA, "SH-R-2", "SH-1", bankA, bankB, "1500000", "KRW")
	e := l.refused(t, CodeReversalInvalid, "RecordChunk", "C2", "K2", js(t, []PaymentIn{again}))
	if !strings.Contains(e.Msg, "already reversed by SH-R-1") {
		t.Fatalf("message: %s", e.Msg)
	}
}

func TestInvalidReversals(t *testing.T) {
	cases := []struct {
		name string
		r    PaymentIn
		want string
	}{
		{"original does not exist", rev(bankA, "R1", "SH-404", bankA, bankB, "1500000", "KRW"), "does not exist"},
		{"different amount", rev(bankA, "R1", "SH-1", bankA, bankB, "1500001", "KRW"), "amount 1500001 != original 1500000"},
		{"different creditor", rev(bankA, "R1", "SH-1", bankA, bankC, "1500000", "KRW"), "creditor"},
		{"different currency", rev(bankA, "R1", "SH-1", bankA, bankB, "1500000", "JPY"), "currency"},
		{"another sender's payment", rev(bankB, "R1", "CZ-1", bankA, bankB, "100000", "KRW"), "only the original's sender"},
		{"another sender's id, debtor claimed", rev(bankB, "R1", "SH-1", bankB, bankA, "1500000", "KRW"), "belongs to sender " + bankA},
		{"reversal of a reversal", rev(bankA, "R2", "SH-R-1", bankA, bankC, "250000", "KRW"), "itself a reversal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := settledCycle1(t)
			l.must(t, "RecordChunk", "C2", "K0", js(t, []PaymentIn{rev(bankA, "SH-R-1", "SH-2", bankA, bankC, "250000", "KRW")}))
			e := l.refused(t, CodeReversalInvalid, "RecordChunk", "C2", "K1", js(t, []PaymentIn{
				pay(bankA, "OK-1", bankA, bankB, "1", "KRW"), c.r,
			}))
			if !strings.Contains(e.Msg, c.want) {
				t.Fatalf("message %q does not say %q", e.Msg, c.want)
			}
			l.refused(t, CodeNotFound, "GetPayment", bankA, "OK-1")
		})
	}
	t.Run("original not settled yet", func(t *testing.T) {
		l := newNet(t)
		settleable(t, l)
		e := l.refused(t, CodeReversalInvalid, "RecordChunk", "C1", "K9", js(t, []PaymentIn{rev(bankA, "R1", "SH-1", bankA, bankB, "1500000", "KRW")}))
		if !strings.Contains(e.Msg, "has not settled") {
			t.Fatalf("message: %s", e.Msg)
		}
	})
	t.Run("reversed twice in one chunk", func(t *testing.T) {
		l := settledCycle1(t)
		e := l.refused(t, CodeReversalInvalid, "RecordChunk", "C2", "K1", js(t, []PaymentIn{
			rev(bankA, "R1", "SH-1", bankA, bankB, "1500000", "KRW"),
			rev(bankA, "R2", "SH-1", bankA, bankB, "1500000", "KRW"),
		}))
		if !strings.Contains(e.Msg, "in this chunk") {
			t.Fatalf("message: %s", e.Msg)
		}
	})
}

func TestQueries(t *testing.T) {
	l := settledCycle1(t)
	l.refused(t, CodeNotFound, "GetCycle", "C404")
	l.refused(t, CodeNotFound, "GetPayment", bankA, "nope")
	l.refused(t, CodeNotFound, "GetCap", bankA, "EUR")
	hist := decode[[]HistoryEntry](t, l.must(t, "GetHistory", "pay/"+bankA+"/SH-1"))
	if len(hist) != 1 || hist[0].TxID == "" || !strings.Contains(string(hist[0].Value), `"id":"SH-1"`) {
		t.Fatalf("history %+v", hist)
	}
	// Payment ids may contain '/': the last attribute takes the rest of the key.
	l.must(t, "RecordChunk", "C2", "K1", js(t, []PaymentIn{pay(bankA, "2026/11/24-1", bankA, bankB, "1", "KRW")}))
	hist = decode[[]HistoryEntry](t, l.must(t, "GetHistory", "pay/"+bankA+"/2026/11/24-1"))
	if len(hist) != 1 {
		t.Fatalf("history of a payment id with slashes: %+v", hist)
	}
	for _, k := range []string{"cycle/C1", "chunk/C1/K1", "bank/" + bankA, "cap/" + bankA + "/KRW"} {
		if h := decode[[]HistoryEntry](t, l.must(t, "GetHistory", k)); len(h) == 0 {
			t.Fatalf("no history for %s", k)
		}
	}
}

func TestPingWritesOneKey(t *testing.T) {
	l := newLedger()
	l.must(t, "Ping")
	l.must(t, "Ping")
	if len(l.state) != 2 {
		t.Fatalf("state has %d keys after two pings", len(l.state))
	}
}
