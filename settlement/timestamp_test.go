package settlement

import (
	"errors"
	"testing"
	"time"
)

func TestParseLocalTimestamp(t *testing.T) {
	seoul := time.FixedZone("KST", 9*3600)
	for _, c := range []struct {
		in   string
		loc  *time.Location
		want time.Time
		err  bool
	}{
		{"2026-11-24T17:45:00+09:00", nil, time.Date(2026, 11, 24, 8, 45, 0, 0, time.UTC), false},
		{"2026-11-24T08:45:00Z", seoul, time.Date(2026, 11, 24, 8, 45, 0, 0, time.UTC), false},
		{"2026-11-24T17:45:00", seoul, time.Date(2026, 11, 24, 8, 45, 0, 0, time.UTC), false},
		{"2026-11-24T17:45:00.250", seoul, time.Date(2026, 11, 24, 8, 45, 0, 250e6, time.UTC), false},
		{"2026-11-24T17:45:00", nil, time.Time{}, true}, // no zone to read it in
		{"2026-11-24T24:45:00", seoul, time.Time{}, true},
		{"2026-11-24 17:45:00", seoul, time.Time{}, true},
		{"2026-11-24", seoul, time.Time{}, true},
		{"", seoul, time.Time{}, true},
	} {
		got, err := ParseLocalTimestamp(c.in, c.loc)
		if c.err {
			if !errors.Is(err, ErrTimestamp) {
				t.Errorf("%q: err %v, want ErrTimestamp", c.in, err)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%q in %v: %v, %v; want %v", c.in, c.loc, got, err, c.want)
		}
	}
}
