package settlement

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func hpos(bank, cur, net string) Position {
	c, err := ParseCurrency(cur)
	if err != nil {
		panic(err)
	}
	return Position{Bank: BIC(bank), Currency: c, Net: decimal.RequireFromString(net)}
}

// TestPositionsSHA256 checks the canonical text byte for byte and its
// SHA-256 against crypto/sha256 over that text written out here.
func TestPositionsSHA256(t *testing.T) {
	ps := []Position{
		hpos("SHBKKRSE", "USD", "-12.5"),
		hpos("HANAKRSE", "KRW", "1000"),
		hpos("SHBKKRSE", "KRW", "-1000"),
		hpos("HANAKRSE", "USD", "12.50"),
		hpos("KOEXKRSE", "KRW", "0"), // nets to zero: left out
	}
	want := "HANAKRSE KRW 1000\nHANAKRSE USD 12.50\nSHBKKRSE KRW -1000\nSHBKKRSE USD -12.50\n"
	text, err := PositionsText(ps)
	if err != nil || string(text) != want {
		t.Fatalf("text %q, %v; want %q", text, err, want)
	}
	sum := sha256.Sum256([]byte(want))
	got, err := PositionsSHA256(ps)
	if err != nil || got != hex.EncodeToString(sum[:]) {
		t.Fatalf("hash %s, %v; want %x", got, err, sum)
	}

	// Independent of order, of how a net is written, of the 11-character
	// form of a BIC, and of zero positions either side may omit.
	same := []Position{hpos("SHBKKRSEXXX", "KRW", "-1000.0"), hpos("HANAKRSE", "USD", "12.5"), hpos("SHBKKRSE", "USD", "-12.50"), hpos("HANAKRSE", "KRW", "1000")}
	if h, err := PositionsSHA256(same); err != nil || h != got {
		t.Errorf("same positions hash to %s (%v), want %s", h, err, got)
	}
	// Two lines of one bank and currency are summed.
	split := append([]Position{hpos("HANAKRSE", "KRW", "400"), hpos("HANAKRSE", "KRW", "600")}, ps[0], ps[2], ps[3])
	if h, err := PositionsSHA256(split); err != nil || h != got {
		t.Errorf("split positions hash to %s (%v), want %s", h, err, got)
	}
	// Any difference of one unit, one bank or one currency changes it.
	for name, other := range map[string][]Position{
		"one unit":      {hpos("HANAKRSE", "KRW", "1001"), hpos("SHBKKRSE", "KRW", "-1001"), ps[0], ps[3]},
		"other bank":    {hpos("KOEXKRSE", "KRW", "1000"), ps[2], ps[0], ps[3]},
		"one missing":   {ps[1], ps[2], ps[0]},
		"swapped signs": {hpos("HANAKRSE", "KRW", "-1000"), hpos("SHBKKRSE", "KRW", "1000"), ps[0], ps[3]},
	} {
		if h, err := PositionsSHA256(other); err != nil || h == got {
			t.Errorf("%s: hash %s (%v), want another than %s", name, h, err, got)
		}
	}
	// No positions: the hash of no bytes.
	empty := sha256.Sum256(nil)
	if h, err := PositionsSHA256(nil); err != nil || h != hex.EncodeToString(empty[:]) {
		t.Errorf("no positions: %s %v", h, err)
	}
}

func TestPositionsSHA256Refusals(t *testing.T) {
	if _, err := PositionsSHA256([]Position{hpos("HANAKRSE", "KRW", "0.5")}); !errors.Is(err, ErrAmountScale) {
		t.Errorf("KRW with decimals: %v, want ErrAmountScale", err)
	}
	if _, err := PositionsSHA256([]Position{{Bank: "HANAKRSE", Net: decimal.NewFromInt(1)}}); !errors.Is(err, ErrCurrency) {
		t.Errorf("no currency: %v, want ErrCurrency", err)
	}
	if _, err := PositionsSHA256([]Position{hpos("nobank", "KRW", "1")}); !errors.Is(err, ErrBIC) {
		t.Errorf("bad BIC: %v, want ErrBIC", err)
	}
}
