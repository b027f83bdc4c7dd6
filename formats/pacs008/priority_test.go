package pacs008_test

import (
	"os"
	"strings"
	"testing"

	"settle/formats"
	"settle/formats/formatstest"
	"settle/formats/pacs008"
	"settle/settlement"
)

// TestInstrPrty: PmtTpInf/InstrPrty HIGH makes a payment HIGH in its bank's
// queue; a transaction's own InstrPrty wins over the group's; without one
// a payment is normal.
func TestInstrPrty(t *testing.T) {
	b, err := os.ReadFile("testdata/accepted/instr_prty.xml")
	if err != nil {
		t.Fatal(err)
	}
	group := string(b)
	onlyTx := strings.Replace(strings.Replace(group, "<PmtTpInf><InstrPrty>HIGH</InstrPrty></PmtTpInf>\n", "", 1),
		"<InstrPrty>NORM</InstrPrty>", "<InstrPrty>HIGH</InstrPrty>", 1)
	none, err := os.ReadFile("testdata/accepted/two_payments.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, doc string
		want      []settlement.Priority
	}{
		{"group HIGH, second NORM", group, []settlement.Priority{settlement.PriorityHigh, settlement.PriorityNormal}},
		{"second HIGH", onlyTx, []settlement.Priority{settlement.PriorityNormal, settlement.PriorityHigh}},
		{"none", string(none), []settlement.Priority{settlement.PriorityNormal, settlement.PriorityNormal}},
	} {
		var r formatstest.Recorder
		lim := formats.DefaultLimits
		lim.Zone = formatstest.SchemeZone
		if err := pacs008.Parse(strings.NewReader(c.doc), lim, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Problems) != 0 || len(r.Entries) != len(c.want) {
			t.Fatalf("%s: %d entries, problems %v", c.name, len(r.Entries), r.Problems)
		}
		for i, e := range r.Entries {
			if e.Priority != c.want[i] {
				t.Errorf("%s: entry %s priority %s, want %s", c.name, e.ID, e.Priority, c.want[i])
			}
		}
	}
}
