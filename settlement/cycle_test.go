package settlement

import (
	"errors"
	"testing"
	"time"
)

func TestCycleAdvancesOneStepAtATime(t *testing.T) {
	now := time.Date(2026, 11, 24, 23, 0, 0, 0, time.UTC)
	c := NewCycle("2026-11-24", now)
	if c.ID != "C2026-11-24" || !c.Accepting() {
		t.Fatalf("new cycle: %+v", c)
	}
	if _, err := c.Advance(StageNetted, now); !errors.Is(err, ErrStage) {
		t.Fatalf("skipping FROZEN must fail, got %v", err)
	}
	for _, s := range Stages[1:] {
		moved, err := c.Advance(s, now)
		if err != nil || !moved {
			t.Fatalf("advance to %s: %v %v", s, moved, err)
		}
		moved, err = c.Advance(s, now)
		if err != nil || moved {
			t.Fatalf("re-advance to %s must be a no-op: %v %v", s, moved, err)
		}
	}
	if _, err := c.Advance(StageOpen, now); !errors.Is(err, ErrStage) {
		t.Fatalf("going back must fail, got %v", err)
	}
	if _, err := c.Advance("BOGUS", now); !errors.Is(err, ErrStage) {
		t.Fatalf("unknown stage must fail, got %v", err)
	}
	if c.Accepting() || StageReported.Next() != "" || !StageOpen.Before(StageSettled) {
		t.Fatal("stage order")
	}
}

func TestDateOfCycle(t *testing.T) {
	d, err := DateOfCycle(CycleID("2026-11-24"))
	if err != nil || d != "2026-11-24" {
		t.Fatalf("round trip: %q %v", d, err)
	}
	for _, bad := range []string{"", "C", "2026-11-24", "X2026-11-24", "C2026-13-01", "C2026-11-24x", "Tabc"} {
		if d, err := DateOfCycle(bad); err == nil {
			t.Errorf("DateOfCycle(%q) = %q, want an error", bad, d)
		}
	}
}
