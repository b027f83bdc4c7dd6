package main

import (
	"testing"
	"time"
)

func TestParseClock(t *testing.T) {
	m := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"2026-12-02T11:00:00Z":                      time.Hour,
		"2026-12-02T18:00:00+09:00":                 -time.Hour,
		"2027-01-01T00:00:00Z@2026-12-31T23:59:00Z": time.Minute, // anchored: m is not used
	} {
		got, err := parseClock(v, m)
		if err != nil || got != want {
			t.Errorf("parseClock(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "2026-12-02", "2026-12-02T11:00:00Z@", "2026-12-02T11:00:00Z@noon"} {
		if _, err := parseClock(bad, m); err == nil {
			t.Errorf("parseClock(%q) accepted", bad)
		}
	}
}
