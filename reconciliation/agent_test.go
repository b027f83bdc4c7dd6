package reconciliation_test

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/reconciliation"
	"settle/settlement"
)

func krw() settlement.Currency { c, _ := settlement.ParseCurrency("KRW"); return c }

func instructions(t *testing.T) []settlement.Instruction {
	ps := []settlement.Position{
		{Bank: "SHBKKRSE", Currency: krw(), Net: decimal.New(-1500, 0)},
		{Bank: "CZNBKRSE", Currency: krw(), Net: decimal.New(1000, 0)},
		{Bank: "HVBKKRSE", Currency: krw(), Net: decimal.New(500, 0)},
	}
	ins, err := settlement.Instructions("C2026-11-24", krw(), ps)
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

func booked(i settlement.Instruction) reconciliation.Booking {
	return reconciliation.Booking{Source: "N1.xml:1", EndToEndID: i.EndToEndID(), UETR: i.UETR(), Amount: i.Amount, Currency: i.Currency,
		Credit: i.PayIn, ValueDate: "2026-11-24", Status: "BOOK"}
}

func kinds(r reconciliation.AgentResult) []string {
	var out []string
	for _, b := range r.Breaks {
		out = append(out, string(b.Kind)+" "+b.Subject+" "+b.Field)
	}
	sort.Strings(out)
	return out
}

// TestAgentMatching: each difference the issue names becomes its own
// break, and the cycle's confirmation follows what was booked.
func TestAgentMatching(t *testing.T) {
	ins := instructions(t)
	all := func() []reconciliation.Booking {
		var bs []reconciliation.Booking
		for _, i := range ins {
			bs = append(bs, booked(i))
		}
		return bs
	}
	cases := []struct {
		name   string
		edit   func([]reconciliation.Booking) []reconciliation.Booking
		over   bool
		status reconciliation.Confirmation
		want   []string
	}{
		{"all booked", func(b []reconciliation.Booking) []reconciliation.Booking { return b }, false, reconciliation.Confirmed, nil},
		{"nothing yet", func([]reconciliation.Booking) []reconciliation.Booking { return nil }, false, reconciliation.NotYet, nil},
		{"nothing, overdue", func([]reconciliation.Booking) []reconciliation.Booking { return nil }, true, reconciliation.NotYet,
			[]string{"AGENT_MISSING CZNBKRSE/KRW C2026-11-24:CZNBKRSE:KRW", "AGENT_MISSING HVBKKRSE/KRW C2026-11-24:HVBKKRSE:KRW", "AGENT_MISSING SHBKKRSE/KRW C2026-11-24:SHBKKRSE:KRW"}},
		{"one unanswered, one wrong amount", func(b []reconciliation.Booking) []reconciliation.Booking {
			b[1].Amount = decimal.New(999, 0)
			return b[:2]
		}, false, reconciliation.Partly, []string{"AGENT_AMOUNT_MISMATCH CZNBKRSE/KRW amount", "AGENT_MISSING HVBKKRSE/KRW C2026-11-24:HVBKKRSE:KRW"}},
		{"by UETR only", func(b []reconciliation.Booking) []reconciliation.Booking {
			for k := range b {
				b[k].EndToEndID = ""
			}
			return b
		}, false, reconciliation.Confirmed, nil},
		{"rejected", func(b []reconciliation.Booking) []reconciliation.Booking {
			b[0].Rejected, b[0].Status = "AM04", "INFO"
			return b
		}, false, reconciliation.Partly, []string{"AGENT_REJECTED SHBKKRSE/KRW status"}},
		{"unexpected and twice", func(b []reconciliation.Booking) []reconciliation.Booking {
			x := b[0]
			x.Source = "N2.xml:7"
			y := b[0]
			y.EndToEndID, y.UETR, y.Source = "C2026-11-24:XXXXKRSE:KRW", "", "N2.xml:8"
			return append(b, x, y)
		}, false, reconciliation.Partly, []string{"AGENT_UNEXPECTED C2026-11-24:XXXXKRSE:KRW N2.xml:8", "AGENT_UNEXPECTED SHBKKRSE/KRW booked again N2.xml:7"}},
		{"direction, date and currency", func(b []reconciliation.Booking) []reconciliation.Booking {
			b[0].Credit = false
			b[1].ValueDate = "2026-11-25"
			b[2].Currency, _ = settlement.ParseCurrency("JPY")
			return b
		}, false, reconciliation.NotYet, []string{"AGENT_FIELD_MISMATCH CZNBKRSE/KRW value_date", "AGENT_FIELD_MISMATCH HVBKKRSE/KRW currency", "AGENT_FIELD_MISMATCH SHBKKRSE/KRW direction"}},
		{"pending is not booked", func(b []reconciliation.Booking) []reconciliation.Booking {
			b[2].Status = "PDNG"
			return b
		}, false, reconciliation.Partly, nil},
	}
	for _, c := range cases {
		r := reconciliation.Agent("C2026-11-24", "2026-11-24", ins, c.edit(all()), c.over)
		if got := kinds(r); r.Status != c.status || len(got) != len(c.want) {
			t.Errorf("%s: %s, breaks %v; want %s, %v", c.name, r.Status, got, c.status, c.want)
			continue
		} else {
			for k := range got {
				if got[k] != c.want[k] {
					t.Errorf("%s: break %q, want %q", c.name, got[k], c.want[k])
				}
			}
		}
		for _, b := range r.Breaks {
			if b.Key() == "" || b.Cycle != "C2026-11-24" {
				t.Errorf("%s: %+v", c.name, b)
			}
		}
	}
}

// TestAgentBreakKeysStable: the same answers give the same breaks in the
// same order whatever order they come in, so a re-run finds them again.
func TestAgentBreakKeysStable(t *testing.T) {
	ins := instructions(t)
	var bs []reconciliation.Booking
	for _, i := range ins[:2] {
		b := booked(i)
		b.Amount = b.Amount.Add(decimal.New(1, 0))
		bs = append(bs, b)
	}
	first := reconciliation.Agent("C1", "2026-11-24", ins, bs, false)
	r := rand.New(rand.NewPCG(1, 1))
	for n := 0; n < 20; n++ {
		r.Shuffle(len(bs), func(i, j int) { bs[i], bs[j] = bs[j], bs[i] })
		again := reconciliation.Agent("C1", "2026-11-24", ins, bs, false)
		for k := range first.Breaks {
			if first.Breaks[k].Key() != again.Breaks[k].Key() {
				t.Fatalf("order changed the breaks")
			}
		}
	}
}

func TestUnfunded(t *testing.T) {
	at := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		c     reconciliation.Confirmation
		after time.Duration
		now   time.Time
		want  bool
	}{
		{reconciliation.NotYet, time.Hour, at.Add(59 * time.Minute), false},
		{reconciliation.NotYet, time.Hour, at.Add(time.Hour), true},
		{reconciliation.Partly, time.Hour, at.Add(2 * time.Hour), true},
		{reconciliation.Confirmed, time.Hour, at.Add(2 * time.Hour), false},
		{reconciliation.NotYet, 0, at.Add(48 * time.Hour), false},
	} {
		if got := reconciliation.Unfunded(c.c, at, c.now, c.after); got != c.want {
			t.Errorf("%+v: %v", c, got)
		}
	}
}
