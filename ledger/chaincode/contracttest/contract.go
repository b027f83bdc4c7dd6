// Package contracttest is the settlement chaincode's contract test: one set of
// checks that runs against every implementation of "a ledger running the chaincode",
// the in-memory stub of the unit tests and a real Fabric network alike.
// It speaks only JSON strings and "CODE: message" errors, as a client would.
package contracttest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

// Backend runs chaincode functions. Submit is a transaction endorsed by a majority
// and waited for until committed; its error is the chaincode's refusal (or the
// commit's failure). Evaluate is a query that sees every committed Submit.
type Backend interface {
	Submit(t *testing.T, fn string, args ...string) ([]byte, error)
	Evaluate(t *testing.T, fn string, args ...string) ([]byte, error)
}

const fileSum = "3333333333333333333333333333333333333333333333333333333333333333"

type payment struct {
	Sender     string `json:"sender"`
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Debtor     string `json:"debtor"`
	Creditor   string `json:"creditor"`
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	FileSHA256 string `json:"fileSha256"`
	OriginalID string `json:"originalId,omitempty"`
}

type position struct {
	Bank     string `json:"bank"`
	Currency string `json:"currency"`
	Net      string `json:"net"`
}

func pay(sender, id, creditor, amount, ccy string) payment {
	return payment{sender, id, "P", sender, creditor, amount, ccy, fileSum, ""}
}

func rev(sender, id, orig, creditor, amount, ccy string) payment {
	return payment{sender, id, "R", sender, creditor, amount, ccy, fileSum, orig}
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// c wraps a backend with assertions.
type c struct {
	t *testing.T
	b Backend
}

func (x c) ok(fn string, args ...string) map[string]any {
	x.t.Helper()
	out, err := x.b.Submit(x.t, fn, args...)
	if err != nil {
		x.t.Fatalf("%s: %v", fn, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		x.t.Fatalf("%s answered %q: %v", fn, out, err)
	}
	return m
}

func (x c) refused(code, fn string, args ...string) string {
	x.t.Helper()
	out, err := x.b.Submit(x.t, fn, args...)
	if err == nil {
		x.t.Fatalf("%s succeeded (%s), want %s", fn, out, code)
	}
	if !strings.Contains(err.Error(), code+": ") {
		x.t.Fatalf("%s: want %s, got %v", fn, code, err)
	}
	return err.Error()
}

func (x c) query(fn string, args ...string) map[string]any {
	x.t.Helper()
	out, err := x.b.Evaluate(x.t, fn, args...)
	if err != nil {
		x.t.Fatalf("%s: %v", fn, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		x.t.Fatalf("%s answered %q: %v", fn, out, err)
	}
	return m
}

func (x c) notFound(fn string, args ...string) {
	x.t.Helper()
	if out, err := x.b.Evaluate(x.t, fn, args...); err == nil || !strings.Contains(err.Error(), "NOT_FOUND: ") {
		x.t.Fatalf("%s%v: want NOT_FOUND, got %s %v", fn, args, out, err)
	}
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// netOf returns the positions of a result as "BANK CCY" -> net.
func netOf(t *testing.T, m map[string]any) map[string]string {
	t.Helper()
	list, _ := m["positions"].([]any)
	out := map[string]string{}
	var ps []settlement.Position
	for _, p := range list {
		pm := p.(map[string]any)
		out[pm["bank"].(string)+" "+pm["currency"].(string)] = pm["net"].(string)
		c, err := settlement.ParseCurrency(pm["currency"].(string))
		net, err2 := decimal.NewFromString(pm["net"].(string))
		if err != nil || err2 != nil {
			t.Fatalf("position %v: %v %v", pm, err, err2)
		}
		ps = append(ps, settlement.Position{Bank: settlement.BIC(pm["bank"].(string)), Currency: c, Net: net})
	}
	// A settled cycle carries the fingerprint of its positions, the
	// domain's settlement.PositionsSHA256.
	if m["status"] == "settled" {
		want, err := settlement.PositionsSHA256(ps)
		if err != nil || m["positionsSha256"] != want {
			t.Fatalf("settled cycle's positionsSha256 %v, want %s (%v)", m["positionsSha256"], want, err)
		}
	}
	return out
}

// fresh makes a BIC and ids no earlier run used, so Run can repeat on one ledger.
func fresh() (string, func(string) string) {
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	return run, func(prefix string) string {
		const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		b := []byte(prefix)
		for len(b) < 8 {
			b = append(b, letters[rand.IntN(len(letters))])
		}
		return string(b)
	}
}

// Run runs the contract against b.
func Run(t *testing.T, b Backend) {
	lc := newLegacyRun(t, b)
	// The steps, in order: each one's ledger state is the next one's start.
	for _, step := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"record", lc.record},
		{"duplicates", lc.duplicates},
		{"fields", lc.fields},
		{"settle", lc.settleCycle},
		{"reversals", lc.reversals},
		{"history", lc.history},
	} {
		t.Run(step.name, step.run)
	}
}

// legacyRun is the state Run's steps share: the backend, the three banks it
// registers (with caps), its two cycles, and the first cycle's positions.
type legacyRun struct {
	b         Backend
	run       string
	bic       func(string) string
	a, bb, cc string
	cy1, cy2  string
	settle    []position // the first cycle's positions once its two chunks are recorded
}

// newLegacyRun registers the banks of a fresh run, each with caps in KRW and
// USD.
func newLegacyRun(t *testing.T, b Backend) *legacyRun {
	x := c{t, b}
	run, bic := fresh()
	a, bb, cc := bic("CTA"), bic("CTB"), bic("CTC")
	for i, k := range []string{a, bb, cc} {
		eq(t, "register", x.ok("RegisterBank", k, fmt.Sprintf("Bank%dMSP", i+1))["status"], "registered")
		x.ok("SetCap", k, "KRW", "1000000")
		x.ok("SetCap", k, "USD", "1000.00")
	}
	cy1, cy2 := "CT1-"+run, "CT2-"+run
	settle := []position{{a, "KRW", "-550000"}, {bb, "KRW", "600000"}, {cc, "KRW", "-50000"},
		{a, "USD", "-100.00"}, {bb, "USD", "-0.50"}, {cc, "USD", "100.50"}}
	return &legacyRun{b: b, run: run, bic: bic, a: a, bb: bb, cc: cc, cy1: cy1, cy2: cy2, settle: settle}
}

// record records two chunks of the first cycle and reads a payment back with
// every field.
func (lc *legacyRun) record(t *testing.T) {
	b, a, bb, cc, cy1 := lc.b, lc.a, lc.bb, lc.cc, lc.cy1
	x := c{t, b}
	r := x.ok("RecordChunk", cy1, "K1", js([]payment{
		pay(a, "P-1", bb, "600000", "KRW"), pay(a, "P-2", cc, "100", "USD"), pay(bb, "P-1", cc, "0.5", "USD"),
	}))
	eq(t, "status", r["status"], "recorded")
	eq(t, "count", r["count"], 3)
	eq(t, "control sum", r["controlSum"], "600100.5")
	eq(t, "positions", netOf(t, r), map[string]string{
		a + " KRW": "-600000", bb + " KRW": "600000",
		a + " USD": "-100.00", bb + " USD": "-0.50", cc + " USD": "100.50",
	})
	p := x.query("GetPayment", a, "P-1")
	eq(t, "payment", []any{p["debtor"], p["creditor"], p["amount"], p["currency"], p["kind"], p["cycleId"], p["fileSha256"], p["txId"]},
		[]any{a, bb, "600000", "KRW", "P", cy1, fileSum, r["txId"]})
	x.ok("RecordChunk", cy1, "K2", js([]payment{pay(cc, "P-3", a, "50000", "KRW")}))
}

// duplicates checks that a payment id is recorded once, within a chunk and
// across chunks, and that a chunk id is too: the same content again is
// already_recorded, other content a conflict.
func (lc *legacyRun) duplicates(t *testing.T) {
	b, a, bb, cc, cy1 := lc.b, lc.a, lc.bb, lc.cc, lc.cy1
	x := c{t, b}
	x.refused("DUPLICATE_PAYMENT", "RecordChunk", cy1, "K3", js([]payment{pay(a, "P-9", bb, "1", "KRW"), pay(a, "P-1", bb, "1", "KRW")}))
	x.notFound("GetPayment", a, "P-9")
	x.refused("DUPLICATE_PAYMENT", "RecordChunk", cy1, "K3", js([]payment{pay(a, "P-8", bb, "1", "KRW"), pay(a, "P-8", bb, "1", "KRW")}))
	again := x.ok("RecordChunk", cy1, "K2", js([]payment{pay(cc, "P-3", a, "50000", "KRW")}))
	eq(t, "re-record", again["status"], "already_recorded")
	x.refused("CHUNK_CONFLICT", "RecordChunk", cy1, "K2", js([]payment{pay(cc, "P-3", a, "50001", "KRW")}))
}

// fields refuses every malformed payment field, an unknown bank and arguments
// that are not a list of payments.
func (lc *legacyRun) fields(t *testing.T) {
	b, a, bb, cc, bic, cy1 := lc.b, lc.a, lc.bb, lc.cc, lc.bic, lc.cy1
	x := c{t, b}
	for _, p := range []payment{
		pay(a, "F-1", bb, "1.5", "KRW"), pay(a, "F-2", bb, "1.001", "USD"), pay(a, "F-3", bb, "0", "USD"),
		pay(a, "F-4", bb, "-1", "USD"), pay(a, "F-5", bb, "1e3", "USD"), pay(a, "F-6", bb, "1", "XYZ"),
		pay(a, "F-7", "bad", "1", "USD"), pay(a, "F-8", a, "1", "USD"),
		{a, "F-9", "P", bb, cc, "1", "USD", fileSum, ""}, // debtor is not the sender
	} {
		x.refused("INVALID_FIELD", "RecordChunk", cy1, "KF", js([]payment{p}))
	}
	x.refused("UNKNOWN_BANK", "RecordChunk", cy1, "KF", js([]payment{pay(a, "F-10", bic("NONE"), "1", "USD")}))
	x.refused("BAD_ARGS", "RecordChunk", cy1, "KF", "not json")
	x.refused("BAD_ARGS", "RecordChunk", cy1, "KF", "[]")
	x.refused("BAD_ARGS", "NoSuchFunction")
}

// settleCycle settles the first cycle: other positions and a broken cap are
// refused, the right positions settle once, and the settled cycle takes no
// more chunks.
func (lc *legacyRun) settleCycle(t *testing.T) {
	b, a, bb, cc, cy1, run, settle := lc.b, lc.a, lc.bb, lc.cc, lc.cy1, lc.run, lc.settle
	x := c{t, b}
	eq(t, "open", x.query("GetCycle", cy1)["status"], "open")
	bad := append([]position(nil), settle...)
	bad[0], bad[1] = position{a, "KRW", "-550001"}, position{bb, "KRW", "600001"}
	x.refused("POSITIONS_MISMATCH", "SettleCycle", cy1, js(bad))
	x.refused("POSITIONS_MISMATCH", "SettleCycle", cy1, js(settle[:5]))
	x.ok("SetCap", cc, "KRW", "49999")
	x.refused("CAP_EXCEEDED", "SettleCycle", cy1, js(settle))
	x.ok("SetCap", cc, "KRW", "50000")
	s := x.ok("SettleCycle", cy1, js(settle))
	eq(t, "outcome", s["outcome"], "settled")
	eq(t, "payments", s["payments"], 4)
	g := x.query("GetCycle", cy1)
	eq(t, "cycle", []any{g["status"], g["settledTxId"], len(g["chunks"].([]any))}, []any{"settled", s["txId"], 2})
	eq(t, "repeat", x.ok("SettleCycle", cy1, js(settle))["outcome"], "already_settled")
	x.refused("SETTLE_CONFLICT", "SettleCycle", cy1, js(bad))
	x.refused("CYCLE_SETTLED", "RecordChunk", cy1, "K9", js([]payment{pay(a, "P-7", bb, "1", "KRW")}))
	x.refused("CYCLE_EMPTY", "SettleCycle", "CT-empty-"+run, "[]")
}

// reversals checks that a reversal must repeat a settled original of its
// sender exactly, once, and that the chain is readable from both ends.
func (lc *legacyRun) reversals(t *testing.T) {
	b, a, bb, cc, cy2 := lc.b, lc.a, lc.bb, lc.cc, lc.cy2
	x := c{t, b}
	for _, r := range []payment{
		rev(a, "R-0", "P-404", bb, "600000", "KRW"), // no such original
		rev(a, "R-0", "P-1", bb, "600001", "KRW"),   // amount differs
		rev(a, "R-0", "P-1", cc, "600000", "KRW"),   // creditor differs
		rev(a, "R-0", "P-1", bb, "600000", "USD"),   // currency differs
		rev(cc, "R-0", "P-1", bb, "0.5", "USD"),     // B's payment, reversed by C
	} {
		x.refused("REVERSAL_INVALID", "RecordChunk", cy2, "K1", js([]payment{pay(a, "OK-1", bb, "1", "KRW"), r}))
	}
	x.notFound("GetPayment", a, "OK-1")
	r := x.ok("RecordChunk", cy2, "K1", js([]payment{rev(a, "R-1", "P-1", bb, "600000", "KRW")}))
	eq(t, "reversal moves money back", netOf(t, r), map[string]string{a + " KRW": "600000", bb + " KRW": "-600000"})
	x.refused("REVERSAL_INVALID", "RecordChunk", cy2, "K2", js([]payment{rev(a, "R-2", "P-1", bb, "600000", "KRW")}))
	x.refused("REVERSAL_INVALID", "RecordChunk", cy2, "K2", js([]payment{rev(a, "R-2", "R-1", bb, "600000", "KRW")}))
	// Not settled yet: a reversal of a payment of cycle 2.
	x.ok("RecordChunk", cy2, "K3", js([]payment{pay(a, "P-20", bb, "5", "KRW")}))
	x.refused("REVERSAL_INVALID", "RecordChunk", cy2, "K4", js([]payment{rev(a, "R-3", "P-20", bb, "5", "KRW")}))
	for _, from := range []string{"P-1", "R-1"} {
		ch := x.query("GetReversalChain", a, from)
		o, _ := ch["original"].(map[string]any)
		rv, _ := ch["reversal"].(map[string]any)
		if o == nil || rv == nil {
			t.Fatalf("chain from %s: %v", from, ch)
		}
		eq(t, "chain from "+from, []any{o["id"], rv["id"], rv["txId"]}, []any{"P-1", "R-1", r["txId"]})
	}
	p := x.query("GetPayment", a, "P-1")
	by, _ := p["reversedBy"].(map[string]any)
	if by == nil || by["reversalId"] != "R-1" {
		t.Fatalf("P-1 not marked reversed: %v", p)
	}
}

// history reads the history of a cap the test changed three times.
func (lc *legacyRun) history(t *testing.T) {
	b, cc := lc.b, lc.cc
	out, err := b.Evaluate(t, "GetHistory", "cap/"+cc+"/KRW")
	if err != nil {
		t.Fatal(err)
	}
	var h []map[string]any
	if err := json.Unmarshal(out, &h); err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 {
		t.Fatalf("cap of %s changed 3 times, history has %d entries: %s", cc, len(h), out)
	}
	for _, e := range h {
		if e["txId"] == "" || e["timestamp"] == "" {
			t.Fatalf("history entry without tx id or time: %v", e)
		}
	}
}
