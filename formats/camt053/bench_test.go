package camt053_test

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/shopspring/decimal"

	"settle/adapters/schemekey"
	"settle/formats/camt053"
	"settle/formats/formatstest"
	"settle/formats/pacs009"
	"settle/settlement"
)

// BenchmarkAfterSettlement1M is the after-settlement work of the
// 1M-payment, 20-bank day (make bench): netting the day (for comparison),
// then spooling its 2M statement lines, writing and signing the 20
// statements from disk, and writing the instructions. Run with
// -benchtime=1x; it reports each part in seconds.
func BenchmarkAfterSettlement1M(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	entries, res := formatstest.RandomCycle(r, 20, 1_000_000)
	dir := b.TempDir()
	keys := schemekey.Dir{Path: filepath.Join(dir, "keys")}
	k, err := keys.Init("k1")
	if err != nil {
		b.Fatal(err)
	}
	nets := map[settlement.BIC]map[settlement.Currency]decimal.Decimal{}
	for _, p := range res.Positions {
		if nets[p.Bank] == nil {
			nets[p.Bank] = map[settlement.Currency]decimal.Decimal{}
		}
		nets[p.Bank][p.Currency] = p.Net
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		t0 := nowSeconds()
		var net settlement.Netting
		for i := range entries {
			net.Add(&entries[i])
		}
		if _, err := net.Result(); err != nil {
			b.Fatal(err)
		}
		t1 := nowSeconds()
		sp, err := camt053.NewSpool(dir, "C2026-11-24", "2026-11-24", scheme)
		if err != nil {
			b.Fatal(err)
		}
		for i := range entries {
			d, c := camt053.Sides(&entries[i], ledgerTx(i))
			sp.Add(d)
			if err := sp.Add(c); err != nil {
				b.Fatal(err)
			}
		}
		t2 := nowSeconds()
		var bytes int64
		for _, bank := range sp.Banks() {
			file := filepath.Join(dir, string(bank)+".xml")
			f, err := os.Create(file)
			if err != nil {
				b.Fatal(err)
			}
			if err := sp.Write(f, bank, created, nets[bank]); err != nil {
				b.Fatal(err)
			}
			n, _ := f.Seek(0, io.SeekCurrent)
			bytes += n
			f.Close()
			if _, err := k.SignFile(file); err != nil {
				b.Fatal(err)
			}
			os.Remove(file)
		}
		sp.Close()
		t3 := nowSeconds()
		all, err := settlement.CycleInstructions("C2026-11-24", res.Positions)
		if err != nil {
			b.Fatal(err)
		}
		ag := pacs009.Agent{BIC: "BOKRKRSE", SchemeAccount: "SETTLE-01", Accounts: map[settlement.BIC]string{}}
		for _, p := range res.Positions {
			ag.Accounts[p.Bank] = "RTGS-" + string(p.Bank)
		}
		for c, ins := range all {
			if err := pacs009.Write(io.Discard, pacs009.Message{MsgID: "M", Created: created, BusinessDate: "2026-11-24", Scheme: scheme, Agent: ag, Currency: c, Instructions: ins}); err != nil {
				b.Fatal(err)
			}
		}
		t4 := nowSeconds()
		b.ReportMetric(t1-t0, "netting-s")
		b.ReportMetric(t2-t1, "spool-s")
		b.ReportMetric(t3-t2, "write+sign-s")
		b.ReportMetric(t4-t3, "instructions-s")
		b.ReportMetric(t4-t1, "after-settlement-s")
		b.ReportMetric(float64(bytes)/(1<<20), "statement-MiB")
	}
}

func nowSeconds() float64 { return float64(timeNow().UnixNano()) / 1e9 }
