// Package formats holds what the payment file formats share: their limits,
// and the choice of parser by file name.
package formats

import "time"

// Limits bound what one payment file may make the system read and keep.
// The defaults fit a real nightly volume (a bank may send a million
// payments in one file) with room to spare, and turn anything beyond them
// into a file-level problem instead of a crash.
type Limits struct {
	FileBytesMax int64 // whole file
	RecordsMax   int64 // records of any kind in one file
	LineBytesMax int   // one CSV record, or one XML element's text
	ProblemsMax  int   // problems listed in one acknowledgement
	// Zone reads an ISO 20022 date-time written without an offset: the
	// scheme's zone (nil: such a time is refused).
	Zone *time.Location
}

// DefaultLimits: 1 GiB and 5 million records is five times the largest
// file a member bank has been sized for (a million payments of about 200
// bytes); a record of 4 KiB is eight times the longest valid one.
var DefaultLimits = Limits{
	FileBytesMax: 1 << 30,
	RecordsMax:   5_000_000,
	LineBytesMax: 4096,
	ProblemsMax:  10_000,
}

// Or fills the zero fields of l from d.
func (l Limits) Or(d Limits) Limits {
	if l.FileBytesMax <= 0 {
		l.FileBytesMax = d.FileBytesMax
	}
	if l.RecordsMax <= 0 {
		l.RecordsMax = d.RecordsMax
	}
	if l.LineBytesMax <= 0 {
		l.LineBytesMax = d.LineBytesMax
	}
	if l.ProblemsMax <= 0 {
		l.ProblemsMax = d.ProblemsMax
	}
	if l.Zone == nil {
		l.Zone = d.Zone
	}
	return l
}
