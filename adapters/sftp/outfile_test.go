package sftp

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"settle/jobs"
)

var (
	_ jobs.FileOutbox    = (*Storage)(nil)
	_ jobs.FileOutbox    = (*Remote)(nil)
	_ jobs.OutboxRemover = (*Storage)(nil)
)

// TestPutFileAndRemove: a file from disk lands whole in the outbox under
// its name; Remove deletes it, and a second Remove is no error.
func TestPutFileAndRemove(t *testing.T) {
	root := t.TempDir()
	s, err := NewStorage(root, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "stmt")
	body := bytes.Repeat([]byte("<Ntry/>\n"), 100_000)
	os.WriteFile(src, body, 0o600)
	ctx := context.Background()
	if err := s.PutFile(ctx, "SHBKKRSE", "C2026-11-24.camt053.xml", src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(root, "banks", "SHBKKRSE", "outbox", "C2026-11-24.camt053.xml")
	if b, err := os.ReadFile(dst); err != nil || !bytes.Equal(b, body) {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	if err := s.PutFile(ctx, "SHBKKRSE", "../x", src); err == nil {
		t.Fatal("a path as a name")
	}
	for i := 0; i < 2; i++ {
		if err := s.Remove(ctx, "SHBKKRSE", "C2026-11-24.camt053.xml"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatalf("still there: %v", err)
	}
}

// TestRemotePutFile: a statement from disk reaches the bank's own server.
func TestRemotePutFile(t *testing.T) {
	needOpenSSH(t)
	b := startBankServer(t)
	r := b.remote(t)
	src := filepath.Join(t.TempDir(), "stmt")
	body := bytes.Repeat([]byte("<Ntry/>\n"), 50_000)
	os.WriteFile(src, body, 0o600)
	if err := r.PutFile(context.Background(), bankA, "C2026-11-24.camt053.xml", src); err != nil {
		t.Fatal(err)
	}
	if got := b.ts.download(t, bankA, b.bankKey, "outbox/C2026-11-24.camt053.xml"); !bytes.Equal(got, body) {
		t.Fatalf("%d bytes on the bank's server", len(got))
	}
	if err := r.PutFile(context.Background(), bankB, "x.xml", src); err == nil {
		t.Fatal("another bank's file through this bank's pull")
	}
}
