package sftp

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"settle/jobs"
)

var _ jobs.Outbox = (*Storage)(nil)
var _ jobs.Inbox = (*Storage)(nil)

func TestPutWritesReportIntoOutbox(t *testing.T) {
	root := t.TempDir()
	s, err := NewStorage(root, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "SHBKKRSE", "positions-2026-11-24.json", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "banks", "SHBKKRSE", "outbox", "positions-2026-11-24.json"))
	if err != nil || string(b) != "{}\n" {
		t.Fatalf("report: %q %v", b, err)
	}
	if err := s.Put(context.Background(), "SHBKKRSE", "../escape.json", []byte("x")); !errors.Is(err, ErrBadName) {
		t.Fatalf("a path in a report name must be refused, got %v", err)
	}
	if err := s.Put(context.Background(), "not a bic", "r.json", []byte("x")); err == nil {
		t.Fatal("a bad bank must be refused")
	}
}

// The pull from a bank's own server writes that bank's reports there,
// through its outbox, whole or not at all; never another bank's.
func TestRemotePutWritesReportOnTheBanksServer(t *testing.T) {
	needOpenSSH(t)
	b := startBankServer(t)
	r := b.remote(t)
	ctx := context.Background()
	if err := r.Put(ctx, bankA, "positions-2026-11-24.json", []byte("{\"ok\":1}\n")); err != nil {
		t.Fatal(err)
	}
	if got := b.ts.download(t, bankA, b.bankKey, "outbox/positions-2026-11-24.json"); string(got) != "{\"ok\":1}\n" {
		t.Fatalf("report on the bank's server: %q", got)
	}
	if err := r.Put(ctx, bankB, "positions-2026-11-24.json", []byte("x")); err == nil {
		t.Fatal("a report of another bank written through this bank's pull")
	}
	if err := r.Put(ctx, bankA, "../x.json", []byte("x")); !errors.Is(err, ErrBadName) {
		t.Fatalf("a path in a report name: %v", err)
	}
}
