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
