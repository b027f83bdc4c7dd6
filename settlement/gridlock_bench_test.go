package settlement

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

const (
	benchPayments = 1_000_000
	benchBanks    = 20
	benchFiles    = 100 // five a bank, as a night of several uploads
)

// benchCycle is a 1,000,000-payment KRW cycle from 20 banks in 100 files,
// one in ten payments HIGH. With sink set, the last bank only receives:
// with every other bank's cap at zero, no payment can then settle (their
// nets would all have to be zero, and the sink receive nothing), and the
// removal cascades through every queue: the worst case.
func benchCycle(sink bool) ([][]Entry, []BIC) {
	r := rand.New(rand.NewPCG(19, 1))
	krw, _ := ParseCurrency("KRW")
	banks := make([]BIC, benchBanks)
	for i := range banks {
		// Not in BIC order of their index, so the renumbering is exercised.
		banks[i] = MustBIC(fmt.Sprintf("B%c%cDKRSE", 'A'+(i*7)%benchBanks, 'A'+i))
	}
	payers := benchBanks
	if sink {
		payers--
	}
	files := make([][]Entry, benchFiles)
	for f := range files {
		from := f % payers
		n := benchPayments / benchFiles
		file := make([]Entry, n)
		for i := range file {
			to := (from + 1 + r.IntN(benchBanks-1)) % benchBanks
			file[i] = Entry{Kind: KindPayment, ID: fmt.Sprintf("%d-%d", f, i), Debtor: banks[from], Creditor: banks[to],
				Amount: decimal.New(1+r.Int64N(1<<40), 0), Currency: krw}
			if r.IntN(10) == 0 {
				file[i].Priority = PriorityHigh
			}
		}
		files[f] = file
	}
	return files, banks
}

func BenchmarkOrderQueues1M(b *testing.B) {
	files, _ := benchCycle(false)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := OrderQueues(files); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchPayments)/b.Elapsed().Seconds(), "payments/s")
}

// BenchmarkResolve1M: caps at a third of each bank's net debit with
// everything in, so that most banks defer and removals cascade. A bank
// that is a net creditor with everything in has a cap above any position,
// so that only the debtors' caps bind: with no cap at all it would have a
// cap of zero (CapLimit) and the first removal would cascade into removing
// every payment, the worst case BenchmarkResolve1MAllRemoved measures.
func BenchmarkResolve1M(b *testing.B) {
	files, banks := benchCycle(false)
	q, err := OrderQueues(files)
	if err != nil {
		b.Fatal(err)
	}
	krw := files[0][0].Currency
	open := decimal.New(1, 17)
	var loose []Cap
	for _, bank := range banks {
		loose = append(loose, Cap{Bank: bank, Currency: krw, Amount: open})
	}
	all, err := q.Resolve(loose)
	if err != nil {
		b.Fatal(err)
	}
	if all.Settled != benchPayments {
		b.Fatalf("with loose caps %d of %d payments settle", all.Settled, benchPayments)
	}
	var caps []Cap
	for _, p := range all.Positions {
		amount := open
		if p.Net.IsNegative() {
			amount = p.Net.Neg().Div(decimal.New(3, 0)).Floor()
		}
		caps = append(caps, Cap{Bank: p.Bank, Currency: p.Currency, Amount: amount})
	}
	res := benchResolve(b, q, caps)
	if res.Settled == 0 || res.Settled == benchPayments {
		b.Fatalf("%d of %d payments settle: the caps do not make a partial cascade", res.Settled, benchPayments)
	}
}

// BenchmarkResolve1MAllRemoved: the worst case, every payment removed.
func BenchmarkResolve1MAllRemoved(b *testing.B) {
	files, banks := benchCycle(true)
	q, err := OrderQueues(files)
	if err != nil {
		b.Fatal(err)
	}
	var caps []Cap
	for _, bank := range banks {
		caps = append(caps, Cap{Bank: bank, Currency: files[0][0].Currency, Amount: decimal.Zero})
	}
	res := benchResolve(b, q, caps)
	if res.Settled != 0 {
		b.Fatalf("%d payments settle; the worst case wants none", res.Settled)
	}
}

func benchResolve(b *testing.B, q *Queues, caps []Cap) *Resolution {
	b.Helper()
	var res *Resolution
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if res, err = q.Resolve(caps); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(q.Entries()-res.Settled), "removed")
	b.ReportMetric(float64(b.N)*float64(q.Entries())/b.Elapsed().Seconds(), "payments/s")
	return res
}
