package settlement

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckCarry(t *testing.T) {
	const from = Date("2026-11-24")
	for _, c := range []struct {
		to    Date
		stage Stage
		want  string // "" : allowed
	}{
		{"2026-11-25", StageOpen, ""},
		{"2026-11-25", StageFrozen, ""},
		{"2026-11-30", StageOpen, ""},
		{"2026-11-25", StageNetted, "cycle C2026-11-25 is NETTED: deferred entries move only to a cycle not netted yet"},
		{"2026-11-25", StageSettled, "is SETTLED"},
		{"2026-11-25", StageReported, "is REPORTED"},
		{from, StageOpen, "cycle C2026-11-24 is not after cycle C2026-11-24"},
		{"2026-11-23", StageOpen, "cycle C2026-11-23 is not after cycle C2026-11-24"},
	} {
		err := CheckCarry(from, Cycle{ID: CycleID(c.to), BusinessDate: c.to, Stage: c.stage})
		if c.want == "" && err != nil || c.want != "" && (!errors.Is(err, ErrDeferral) || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("to %s %s: %v, want %q", c.to, c.stage, err, c.want)
		}
	}
	err := CarryNotInError("SHBKKRSE", "P1", from, "not in it")
	if !errors.Is(err, ErrDeferral) || err.Error() != "cannot defer: entry SHBKKRSE/P1 deferred by cycle C2026-11-24 is not in it" {
		t.Fatalf("%v", err)
	}
}
