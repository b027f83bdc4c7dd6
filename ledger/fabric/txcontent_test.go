package fabric

import (
	"strings"
	"testing"

	"settle/jobs"
)

func argsOf(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}

// txContent reads the settlement's own functions and refuses malformed
// arguments with an error naming the transaction, never a panic.
func TestTxContentArguments(t *testing.T) {
	tx := jobs.LedgerTx{ID: "t1", Block: 4}
	pay := `[{"sender":"SHBKKRSE","id":"P-1","kind":"R","debtor":"SHBKKRSE","creditor":"HVBKKRSE","amount":"10.50","currency":"USD","fileSha256":"ab","originalId":"P-0"}]`
	c, err := txContent(tx, argsOf("RecordChunk", "C2026-11-24", "000001", pay))
	if err != nil || c.Function != "RecordChunk" || c.Cycle != "C2026-11-24" || c.Chunk != "000001" || len(c.Payments) != 1 {
		t.Fatalf("chunk: %+v %v", c, err)
	}
	p := c.Payments[0]
	if p.ID != "P-1" || p.Original != "P-0" || p.Amount.String() != "10.5" || p.TxID != "t1" || p.Cycle != "C2026-11-24" {
		t.Fatalf("payment %+v", p)
	}
	c, err = txContent(tx, argsOf("SettleCycle", "C2026-11-24", `[{"bank":"SHBKKRSE","currency":"KRW","net":"-5"}]`))
	if err != nil || len(c.Positions) != 1 || c.Positions[0].Net.String() != "-5" {
		t.Fatalf("settle: %+v %v", c, err)
	}
	c, err = txContent(tx, argsOf("SetCap", "SHBKKRSE", "KRW", "100"))
	if err != nil || c.Function != "SetCap" || strings.Join(c.Args, ",") != "SHBKKRSE,KRW,100" {
		t.Fatalf("other: %+v %v", c, err)
	}
	// The governed SettleCycle with the caller's deferral list names only the cycle.
	c, err = txContent(tx, argsOf("SettleCycle", "C2026-11-24", "", `["SHBKKRSE/P1"]`))
	if err != nil || c.Cycle != "C2026-11-24" || len(c.Positions) != 0 {
		t.Fatalf("settle with a deferral list: %+v %v", c, err)
	}
	for name, args := range map[string][][]byte{
		"no function":       nil,
		"chunk short":       argsOf("RecordChunk", "C2026-11-24", "000001"),
		"chunk not json":    argsOf("RecordChunk", "C2026-11-24", "000001", "[{"),
		"chunk bad bic":     argsOf("RecordChunk", "C", "1", `[{"sender":"nope","id":"P","kind":"P","debtor":"SHBKKRSE","creditor":"HVBKKRSE","amount":"1","currency":"USD"}]`),
		"chunk bad kind":    argsOf("RecordChunk", "C", "1", `[{"sender":"SHBKKRSE","id":"P","kind":"X","debtor":"SHBKKRSE","creditor":"HVBKKRSE","amount":"1","currency":"USD"}]`),
		"chunk bad amount":  argsOf("RecordChunk", "C", "1", `[{"sender":"SHBKKRSE","id":"P","kind":"P","debtor":"SHBKKRSE","creditor":"HVBKKRSE","amount":"1e","currency":"USD"}]`),
		"settle long":       argsOf("SettleCycle", "C", "[]", "[]", "x"),
		"settle bad net":    argsOf("SettleCycle", "C", `[{"bank":"SHBKKRSE","currency":"KRW","net":"x"}]`),
		"settle bad curr":   argsOf("SettleCycle", "C", `[{"bank":"SHBKKRSE","currency":"ZZZ","net":"1"}]`),
		"settle not a list": argsOf("SettleCycle", "C", `{}`),
	} {
		if c, err := txContent(tx, args); err == nil {
			t.Errorf("%s: %+v, want an error", name, c)
		} else if !strings.Contains(err.Error(), "t1") {
			t.Errorf("%s: %v does not name the transaction", name, err)
		}
	}
}
