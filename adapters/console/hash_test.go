package console_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/jobs"
	"settle/reconciliation"
	"settle/settlement"
)

// TestPositionsHash: the Positions page shows the SHA-256 of the positions
// the ledger settled, with its settling transaction and block, beside the
// same hash of Postgres's positions; the same when they agree, and a
// mismatch warning (an alert) when the ledger holds other positions, even
// ones that still sum to zero.
func TestPositionsHash(t *testing.T) {
	w := newWorld(t)
	w.files(day, 6)
	w.advance(9 * time.Hour)
	if _, err := w.pipeline().Run(w.ctx, day); err != nil {
		t.Fatal(err)
	}
	w.user("vera", "viewer")
	c := w.client()
	c.login("vera", password("vera"))

	ps, err := w.store.Positions(w.ctx, day)
	if err != nil || len(ps) < 2 {
		t.Fatalf("positions: %v %v", ps, err)
	}
	// The oracle: the canonical text written out here, hashed with
	// crypto/sha256 (settlement's own test checks the text itself).
	text0, err := settlement.PositionsText(ps)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(text0)
	want := hex.EncodeToString(sum[:])
	lc, ok, _ := w.ledger.Cycle(w.ctx, settlement.CycleID(day))
	if !ok || lc.TxID == "" {
		t.Fatalf("the ledger did not settle the cycle: %+v", lc)
	}
	lt, err := w.ledger.Tx(w.ctx, lc.TxID)
	if err != nil {
		t.Fatal(err)
	}

	r := c.get("/cycles/" + string(day))
	if r.status != http.StatusOK {
		t.Fatalf("cycle page: %d", r.status)
	}
	sec := find(r.doc, "section#ledger-hash")
	if sec == nil {
		t.Fatalf("no ledger hash: %s", text(find(r.doc, "main")))
	}
	if got := text(find(sec, "code#hash-ledger")); got != want {
		t.Errorf("ledger's hash %q, want %s", got, want)
	}
	if got := text(find(sec, "code#hash-postgres")); got != want {
		t.Errorf("Postgres's hash %q, want %s", got, want)
	}
	if got := text(find(sec, "code#hash-tx")); got != lc.TxID {
		t.Errorf("settling tx %q, want %s", got, lc.TxID)
	}
	if got := text(find(sec, "span#hash-block")); got != strconv.FormatUint(lt.Block, 10) {
		t.Errorf("block %q, want %d", got, lt.Block)
	}
	if find(sec, "p#hash-mismatch") != nil || !strings.Contains(text(find(sec, "p#hash-match")), "the hashes match") {
		t.Errorf("agreeing positions: %s", text(sec))
	}

	// The ledger settled other positions: one unit moved between two
	// banks, so the sum is still zero and only the hash tells.
	var tampered []settlement.Position
	w.view.setTamper(func(c *jobs.LedgerCycle) {
		one := decimal.New(1, -int32(c.Positions[0].Currency.MinorUnit())) // one minor unit: 1 KRW, 0.01 USD
		c.Positions[0].Net = c.Positions[0].Net.Add(one)
		for i := 1; i < len(c.Positions); i++ {
			if c.Positions[i].Currency == c.Positions[0].Currency {
				c.Positions[i].Net = c.Positions[i].Net.Sub(one)
				break
			}
		}
		tampered = tampered[:0]
		for _, p := range c.Positions {
			tampered = append(tampered, settlement.Position{Bank: p.Bank, Currency: p.Currency, Net: p.Net})
		}
		// A ledger that settled other positions wrote their hash.
		c.PositionsSHA256, _ = settlement.PositionsSHA256(tampered)
	})
	r = c.get("/cycles/" + string(day))
	sec = find(r.doc, "section#ledger-hash")
	other, err := settlement.PositionsSHA256(tampered)
	if err != nil || other == want {
		t.Fatalf("tampered positions hash to %s (%v)", other, err)
	}
	if got := text(find(sec, "code#hash-ledger")); got != other {
		t.Errorf("ledger's hash %q, want the tampered positions' %s", got, other)
	}
	if got := text(find(sec, "code#hash-postgres")); got != want {
		t.Errorf("Postgres's hash %q, want %s", got, want)
	}
	m := find(sec, "p#hash-mismatch")
	if m == nil || attrOf(m, "role") != "alert" || !strings.Contains(text(m), "MISMATCH") || find(sec, "p#hash-match") != nil {
		t.Errorf("differing positions: %s", text(sec))
	}
	// The sum is still zero: only the hash caught it.
	for _, z := range findAll(r.doc, "p[class=zero ok]") {
		if !strings.Contains(text(z), "exactly zero") {
			t.Errorf("zero check: %s", text(z))
		}
	}

	// The ledger's record is not self-consistent: the hash it wrote is not
	// the hash of the positions it holds. An alert, naming both.
	w.view.setTamper(func(c *jobs.LedgerCycle) {
		c.Positions = append([]reconciliation.NetPosition{}, c.Positions...)
		one := decimal.New(1, -int32(c.Positions[0].Currency.MinorUnit()))
		c.Positions[0].Net = c.Positions[0].Net.Add(one)
		c.Positions[1].Net = c.Positions[1].Net.Sub(one)
	})
	r = c.get("/cycles/" + string(day))
	sec = find(r.doc, "section#ledger-hash")
	if text(find(sec, "code#hash-ledger")) != want || find(sec, "p#hash-mismatch") == nil ||
		!strings.Contains(text(find(sec, "p#hash-problem")), "is not the hash of the positions it holds") {
		t.Errorf("a written hash that is not its positions': %s", text(sec))
	}
	// A cycle settled before the chaincode wrote a hash: recomputed from
	// the ledger's positions, and said so.
	w.view.setTamper(func(c *jobs.LedgerCycle) { c.PositionsSHA256 = "" })
	r = c.get("/cycles/" + string(day))
	sec = find(r.doc, "section#ledger-hash")
	if text(find(sec, "code#hash-ledger")) != want || find(sec, "p#hash-mismatch") != nil || find(sec, "p#hash-match") == nil ||
		!strings.Contains(text(find(sec, "p#hash-problem")), "recomputed from the positions") {
		t.Errorf("a ledger record without a hash: %s", text(sec))
	}

	// A ledger that has not settled the cycle: Postgres's hash alone, and
	// the reason.
	w.view.setTamper(func(c *jobs.LedgerCycle) { c.Status, c.Positions, c.TxID = "open", nil, "" })
	r = c.get("/cycles/" + string(day))
	sec = find(r.doc, "section#ledger-hash")
	if text(find(sec, "code#hash-ledger")) != "-" || text(find(sec, "code#hash-postgres")) != want ||
		find(sec, "p#hash-mismatch") != nil || find(sec, "p#hash-match") != nil ||
		!strings.Contains(text(find(sec, "p#hash-problem")), "has not settled this cycle") {
		t.Errorf("unsettled on the ledger: %s", text(sec))
	}
}
