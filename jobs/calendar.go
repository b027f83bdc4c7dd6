package jobs

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"settle/settlement"
)

// Calendar knows which days settle: every day but weekends and the
// holidays of the scheme, in the scheme's time zone.
type Calendar struct {
	loc      *time.Location
	holidays map[settlement.Date]string
}

// DefaultZone is the scheme's time zone when none is configured.
const DefaultZone = "Asia/Seoul"

// holidaysMax bounds a holiday file.
const holidaysMax = 10_000

// NewCalendar makes a calendar; holidays may be nil.
func NewCalendar(loc *time.Location, holidays map[settlement.Date]string) *Calendar {
	if loc == nil {
		loc = time.UTC
	}
	if holidays == nil {
		holidays = map[settlement.Date]string{}
	}
	return &Calendar{loc: loc, holidays: holidays}
}

// ParseHolidays reads "YYYY-MM-DD name" lines; blank lines and # comments
// are skipped. A bad line is an error naming it.
func ParseHolidays(r io.Reader) (map[settlement.Date]string, error) {
	out := map[settlement.Date]string{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if len(out) >= holidaysMax {
			return nil, fmt.Errorf("holidays: more than %d", holidaysMax)
		}
		day, name, _ := strings.Cut(t, " ")
		d, err := settlement.ParseDate(day)
		if err != nil {
			return nil, fmt.Errorf("holidays line %d: %w", n, err)
		}
		out[d] = strings.TrimSpace(name)
	}
	return out, sc.Err()
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// IsBusinessDay tells whether d settles.
func (c *Calendar) IsBusinessDay(d settlement.Date) bool {
	t := d.Time()
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	_, holiday := c.holidays[d]
	return !holiday
}

// Holiday names the holiday on d, if any.
func (c *Calendar) Holiday(d settlement.Date) (string, bool) {
	n, ok := c.holidays[d]
	return n, ok
}

// Next is the first business day after d.
func (c *Calendar) Next(d settlement.Date) settlement.Date {
	t := d.Time()
	for i := 0; i < 366; i++ {
		t = t.AddDate(0, 0, 1)
		nd := settlement.Date(t.Format(time.DateOnly))
		if c.IsBusinessDay(nd) {
			return nd
		}
	}
	panic("calendar: no business day within a year") // a holiday file of a whole year is a configuration bug
}

// OnOrAfter is d if it is a business day, else the next one.
func (c *Calendar) OnOrAfter(d settlement.Date) settlement.Date {
	if c.IsBusinessDay(d) {
		return d
	}
	return c.Next(d)
}

// Today is the calendar date of t in the scheme's zone.
func (c *Calendar) Today(t time.Time) settlement.Date {
	return settlement.Date(t.In(c.loc).Format(time.DateOnly))
}
