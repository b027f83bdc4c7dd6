package intake

import (
	"bytes"
	"testing"
	"time"

	"settle/formats/gen"
	"settle/settlement"
)

func benchFormat(b *testing.B, xml bool) {
	bics, _ := gen.Banks(5)
	cfg := gen.Config{Banks: 5, Payments: 25000, Date: "2026-11-24", Seed: 1}
	ps := gen.DayPayments(cfg, bics, 0)
	var buf bytes.Buffer
	created := time.Date(2026, 11, 24, 17, 0, 0, 0, time.UTC)
	name := "F.csv"
	if xml {
		name = "F.xml"
		_ = gen.WriteXML(&buf, "F", bics[0], "2026-11-24", created, ps)
	} else {
		_ = gen.WriteCSV(&buf, "F", bics[0], "2026-11-24", created, ps)
	}
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for b.Loop() {
		n := 0
		res, err := Check(name, bytes.NewReader(buf.Bytes()), Sig{}, Options{Uploader: bics[0], Entry: func(e *settlement.Entry, ok bool) { n++ }})
		if err != nil || !res.Accepted() || n != len(ps) {
			b.Fatal(err, n, len(res.Problems))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ps))/1000, "us/payment")
}

func BenchmarkCheckCSV(b *testing.B) { benchFormat(b, false) }
func BenchmarkCheckXML(b *testing.B) { benchFormat(b, true) }
