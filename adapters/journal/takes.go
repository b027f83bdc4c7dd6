package journal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"settle/jobs"
)

// Takes is the intake's journal of takes under way (jobs.Taking): one small
// JSON file per take in Dir (state/taking/), written whole and fsynced
// before the take records its verdict, removed once the pair has left the
// inbox.
type Takes struct {
	Dir string
}

var _ jobs.Taking = Takes{}

// takeNoteBytesMax bounds one note; a note is a few hundred bytes.
const takeNoteBytesMax = 64 << 10

// takesMax bounds the notes read at once; the intake leaves at most one
// behind per crash.
const takesMax = 10_000

// file names a note by its inbox, bank and file name: one take of a file
// at a time.
func (t Takes) file(n jobs.TakeNote) string {
	h := sha256.Sum256([]byte(n.File.Via + "\x00" + string(n.File.Bank) + "\x00" + n.File.Name))
	return filepath.Join(t.Dir, string(n.File.Bank)+"-"+hex.EncodeToString(h[:12])+".json")
}

// Begin writes the note, durably: a temporary file, fsynced, renamed into
// place, the folder fsynced.
func (t Takes) Begin(ctx context.Context, n jobs.TakeNote) error {
	if err := os.MkdirAll(t.Dir, 0o750); err != nil {
		return err
	}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return WriteFile(t.file(n), b, 0o600)
}

// End removes the note, durably; a note already gone is fine.
func (t Takes) End(ctx context.Context, n jobs.TakeNote) error {
	err := os.Remove(t.file(n))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return SyncDir(t.Dir)
}

// Pending lists the notes left by takes a crash stopped, oldest first. A
// note that does not read is an error: it is never silently dropped.
func (t Takes) Pending(ctx context.Context) ([]jobs.TakeNote, error) {
	d, err := os.Open(t.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(takesMax)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	type dated struct {
		n   jobs.TakeNote
		mod int64
	}
	var out []dated
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".json") {
			continue // a temporary file of a Begin a crash stopped: no note yet
		}
		p := filepath.Join(t.Dir, e.Name())
		fi, err := e.Info()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n, err := readNote(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("take note %s: %w", e.Name(), err))
			continue
		}
		out = append(out, dated{n, fi.ModTime().UnixNano()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mod < out[j].mod })
	notes := make([]jobs.TakeNote, len(out))
	for i, d := range out {
		notes[i] = d.n
	}
	return notes, errors.Join(errs...)
}

func readNote(p string) (jobs.TakeNote, error) {
	var n jobs.TakeNote
	f, err := os.Open(p)
	if err != nil {
		return n, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, takeNoteBytesMax+1))
	if err != nil {
		return n, err
	}
	if len(b) > takeNoteBytesMax {
		return n, fmt.Errorf("more than %d bytes", takeNoteBytesMax)
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return n, err
	}
	if n.File.Bank == "" || n.File.Name == "" || n.SHA256 == "" {
		return n, errors.New("incomplete")
	}
	return n, nil
}
