package archive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"settle/adapters/journal"
	"settle/settlement"
)

// Retention of rejected files (issue 12, item 3).
//
// Accepted files are kept for ever: they are what a cycle settled. A
// rejected file is evidence of what a bank sent too, but anyone with a
// bank's login can send 64 MiB of junk as often as it likes, so its bytes
// are kept within a quota per bank: RejectedBytesMax (default 256 MiB,
// four of the largest files a bank may send). When a new rejected file
// takes a bank over it, the bytes of that bank's oldest rejected files are
// removed until it is back within it (the newest first among equals is
// kept). What was received is never forgotten: every receipt (bank, name,
// time, SHA-256, size) stays in index.jsonl, and rejected/<BIC>.jsonl
// records when which bytes were kept and when they were removed.

// RejectedBytesMaxDefault is the default quota of rejected bytes per bank.
const RejectedBytesMaxDefault = 256 << 20

// rejectedLineBytesMax bounds one line of rejected/<BIC>.jsonl.
const rejectedLineBytesMax = 1024

type rejectedLine struct {
	SHA256  string    `json:"sha256"`
	Size    int64     `json:"size"`
	At      time.Time `json:"at"`
	Removed bool      `json:"removed,omitempty"`
}

// SetRejectedBytesMax sets the quota of rejected bytes per bank (0: the
// default).
func (a *Archive) SetRejectedBytesMax(n int64) {
	a.mu.Lock()
	a.rejectedMax = n
	a.mu.Unlock()
}

// Rejected records that the archived bytes sum, sent by bank, were
// rejected, and removes the bytes of the bank's oldest rejected files
// while the bank is over its quota. It returns the hashes whose bytes it
// removed. Recording the same bytes again changes nothing.
func (a *Archive) Rejected(ctx context.Context, bank settlement.BIC, sum string, size int64, at time.Time) ([]string, error) {
	if !validSum(sum) {
		return nil, fmt.Errorf("archive: %q is not a lowercase hex SHA-256", sum)
	}
	if _, err := settlement.ParseBIC(string(bank)); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	quota := a.rejectedMax
	if quota <= 0 {
		quota = RejectedBytesMaxDefault
	}
	dir := filepath.Join(a.root, "rejected")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	file := filepath.Join(dir, string(bank)+".jsonl")
	var kept []rejectedLine // oldest first, bytes still here
	removed := map[string]bool{}
	seen := false
	err := journal.Read(file, rejectedLineBytesMax, func(_ int, l rejectedLine, err error) bool {
		if err != nil {
			return true // a torn line after a crash
		}
		if l.SHA256 == sum {
			seen = true
		}
		if l.Removed {
			removed[l.SHA256] = true
		} else {
			kept = append(kept, l)
		}
		return true
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if !seen {
		l := rejectedLine{SHA256: sum, Size: size, At: at.UTC()}
		if err := journal.Append(file, l); err != nil {
			return nil, err
		}
		kept = append(kept, l)
	}
	var total int64
	live := kept[:0]
	for _, l := range kept {
		if !removed[l.SHA256] {
			live = append(live, l)
			total += l.Size
		}
	}
	var out []string
	for i := 0; total > quota && i < len(live); i++ {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		l := live[i]
		p, _ := a.Path(l.SHA256)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return out, err
		}
		if err := journal.Append(file, rejectedLine{SHA256: l.SHA256, Size: l.Size, At: at.UTC(), Removed: true}); err != nil {
			return out, err
		}
		total -= l.Size
		out = append(out, l.SHA256)
	}
	if len(out) > 0 {
		if err := journal.SyncDir(filepath.Join(a.root, "sha256")); err != nil {
			return out, err
		}
	}
	return out, nil
}
