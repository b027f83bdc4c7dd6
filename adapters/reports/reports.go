// Package reports keeps the operators' per-cycle reports as files:
// <root>/<cycle>/<name>, each written atomically (temp file, fsync,
// rename), so a reader never sees half a report.
package reports

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"settle/adapters/journal"
)

// Dir is a report folder.
type Dir struct{ Root string }

var safe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Write stores body as name in the cycle's folder.
func (d Dir) Write(_ context.Context, cycle, name string, body []byte) error {
	if !safe.MatchString(cycle) || !safe.MatchString(name) {
		return fmt.Errorf("report %q/%q: not a plain name", cycle, name)
	}
	dir := filepath.Join(d.Root, cycle)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	return journal.WriteFile(filepath.Join(dir, name), body, 0o600)
}
