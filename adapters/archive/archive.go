// Package archive keeps every file the system takes, unchanged, read-only
// and addressed by content: <root>/sha256/ab/cdef... holds the bytes whose
// SHA-256 is abcdef..., and <root>/index.jsonl records which bank sent
// them under which name and when. Accepted and rejected files both stay:
// the archive is written before anything else happens to a file, so it
// is the evidence of what a bank sent, whatever became of it. The bytes
// of rejected files are kept within a quota per bank (rejected.go says
// how long); their receipts stay for ever.
package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"settle/adapters/journal"
)

// FileBytesMaxDefault bounds one archived file unless Options say otherwise.
const FileBytesMaxDefault = 256 << 20

// indexLineBytesMax bounds one line of the index.
const indexLineBytesMax = 4096

// ErrTooLarge reports a file over the archive's size limit; nothing is kept.
var ErrTooLarge = errors.New("file larger than the archive accepts")

// ErrCorrupt reports archived bytes that no longer hash to their name.
var ErrCorrupt = errors.New("archived file does not match its hash")

// Entry is one receipt of a file: who sent which bytes under which name.
type Entry struct {
	Bank       string    `json:"bank"`
	Name       string    `json:"name"`
	ReceivedAt time.Time `json:"received_at"`
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
}

// Archive is a content-addressed store of taken files. It is safe for
// concurrent use, and for use by several processes over one root: blobs
// are created by rename, index lines by single O_APPEND writes.
type Archive struct {
	root         string
	fileBytesMax int64
	mu           sync.Mutex // serialises index and rejected/ appends within this process
	rejectedMax  int64
}

// Open prepares an archive under root, creating its folders.
func Open(root string, fileBytesMax int64) (*Archive, error) {
	if fileBytesMax <= 0 {
		fileBytesMax = FileBytesMaxDefault
	}
	for _, d := range []string{filepath.Join(root, "sha256"), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
	}
	return &Archive{root: root, fileBytesMax: fileBytesMax}, nil
}

// Keep is Put for the intake job (the jobs.Archive port): it stores the
// bytes and returns their hex SHA-256.
func (a *Archive) Keep(ctx context.Context, bank, name string, receivedAt time.Time, r io.Reader) (string, error) {
	e, err := a.Put(ctx, bank, name, receivedAt, r)
	return e.SHA256, err
}

// Path is where the bytes with hex SHA-256 sum live (or would live).
func (a *Archive) Path(sum string) (string, error) {
	if !validSum(sum) {
		return "", fmt.Errorf("archive: %q is not a lowercase hex SHA-256", sum)
	}
	return filepath.Join(a.root, "sha256", sum[:2], sum[2:]), nil
}

func validSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// Put reads r to its end, stores the bytes under their hash and records
// the receipt. Storing the same bytes again is not an error: the blob is
// kept once and every receipt gets its own index line (an identical
// receipt, as a retry after a crash writes, is recorded once). The blob
// is durable before Put returns: temp file, fsync, rename, fsync folder.
func (a *Archive) Put(ctx context.Context, bank, name string, receivedAt time.Time, r io.Reader) (Entry, error) {
	tmp, err := os.CreateTemp(filepath.Join(a.root, "tmp"), "put-*")
	if err != nil {
		return Entry{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, a.fileBytesMax+1))
	if err == nil && n > a.fileBytesMax {
		err = fmt.Errorf("archive: %s from %s: %w (%d bytes)", name, bank, ErrTooLarge, a.fileBytesMax)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = tmp.Chmod(0o444)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Bank: bank, Name: name, ReceivedAt: receivedAt.UTC(), SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	dst, _ := a.Path(e.SHA256)
	if err := a.place(tmp.Name(), dst, n); err != nil {
		return Entry{}, err
	}
	if err := a.record(e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// place renames tmp to dst unless dst already holds the same bytes.
func (a *Archive) place(tmp, dst string, size int64) error {
	if fi, err := os.Lstat(dst); err == nil {
		if fi.Mode().IsRegular() && fi.Size() == size {
			return nil // same hash, same size: the same bytes
		}
		return fmt.Errorf("archive: %s: %w", dst, ErrCorrupt)
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := journal.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	// Link, not rename: link fails if another writer placed the same
	// bytes first, where rename would silently replace them.
	if err := os.Link(tmp, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return journal.SyncDir(dir)
}

func (a *Archive) indexFile() string { return filepath.Join(a.root, "index.jsonl") }

// record appends e to the index unless the same receipt is there already.
func (a *Archive) record(e Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := false
	err := a.scan(func(x Entry) bool {
		if x.Bank == e.Bank && x.Name == e.Name && x.ReceivedAt.Equal(e.ReceivedAt) && x.Size == e.Size {
			seen = true
			return false
		}
		return true
	}, e.SHA256)
	if err != nil || seen {
		return err
	}
	return journal.Append(a.indexFile(), e)
}

// Entries returns every receipt of the bytes with hash sum, oldest first.
func (a *Archive) Entries(sum string) ([]Entry, error) {
	if !validSum(sum) {
		return nil, fmt.Errorf("archive: %q is not a lowercase hex SHA-256", sum)
	}
	var out []Entry
	err := a.scan(func(e Entry) bool { out = append(out, e); return true }, sum)
	return out, err
}

// scan calls fn for index entries with hash sum until fn returns false.
// Find returns the hash of the latest receipt of a bank's file name (an
// auditor finding a payment file's signature, say). It reads the whole
// index: an audit tool's look-up, not a hot path.
func (a *Archive) Find(bank, name string) (string, bool, error) {
	var sum string
	err := a.scan(func(e Entry) bool {
		if e.Bank == bank && e.Name == name {
			sum = e.SHA256
		}
		return true
	}, "")
	return sum, sum != "", err
}

// scan calls fn for each index entry of sum ("" for every entry).
func (a *Archive) scan(fn func(Entry) bool, sum string) error {
	return journal.Read(a.indexFile(), indexLineBytesMax, func(_ int, e Entry, err error) bool {
		if err != nil || (sum != "" && e.SHA256 != sum) {
			return true // a torn line after a crash is skipped, not fatal
		}
		return fn(e)
	})
}

// Open returns the archived bytes with hash sum, checked against it.
func (a *Archive) Open(sum string) (io.ReadCloser, error) {
	p, err := a.Path(sum)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// Verify re-hashes the archived bytes with hash sum.
func (a *Archive) Verify(sum string) error {
	rc, err := a.Open(sum)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		return fmt.Errorf("archive: %s: %w", sum, ErrCorrupt)
	}
	return nil
}
