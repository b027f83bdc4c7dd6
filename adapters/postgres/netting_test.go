package postgres_test

import (
	"testing"

	"github.com/shopspring/decimal"

	"settle/settlement"
)

func TestRecordNetting(t *testing.T) {
	f := newFixture(t)
	c := f.cycle("2026-11-24")
	d := decimal.RequireFromString
	ps := []settlement.Position{
		{Bank: bankA, Currency: krw, Sent: d("100"), Received: d("0"), Net: d("-100")},
		{Bank: bankB, Currency: krw, Sent: d("0"), Received: d("100"), Net: d("100")},
	}
	obs := []settlement.Obligation{{From: bankA, To: bankB, Currency: krw, Amount: d("100")}}
	rev, err := f.s.RecordNetting(f.ctx, c, ps, obs)
	if err != nil || rev != 1 {
		t.Fatalf("%d %v", rev, err)
	}
	ps[0].Sent, ps[0].Net, ps[1].Received, ps[1].Net = d("90"), d("-90"), d("90"), d("90")
	if rev, err = f.s.RecordNetting(f.ctx, c, ps, obs); err != nil || rev != 2 {
		t.Fatalf("%d %v", rev, err)
	}
	got, err := f.s.Positions(f.ctx, c)
	if err != nil || len(got) != 2 || got[1].Bank != bankA || !got[1].Net.Equal(d("-90")) {
		t.Fatalf("%+v %v", got, err)
	}
	// Unbalanced: refused before anything is written.
	ps[0].Net = d("-80")
	ps[0].Sent = d("80")
	if _, err := f.s.RecordNetting(f.ctx, c, ps, obs); err == nil {
		t.Fatal("unbalanced positions written")
	}
	if n := f.count(`SELECT count(*) FROM net_positions`); n != 4 {
		t.Fatalf("%d position rows", n)
	}
	if n := f.count(`SELECT count(DISTINCT revision) FROM net_positions`); n != 2 {
		t.Fatalf("%d revisions", n)
	}
}
