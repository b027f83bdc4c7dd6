package sftp

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"settle/jobs"
)

// TestAckNeverOverwrites: an acknowledgement is linked into the outbox, so
// that writing it again with the same bytes (after a crash) is a no-op and
// writing other bytes under its name fails with ErrAckExists and leaves the
// first one as it was; no temporary file is left behind.
func TestAckNeverOverwrites(t *testing.T) {
	root := t.TempDir()
	s, err := NewStorage(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := jobs.InboxFile{Bank: "SHBKKRSE", Name: "F1.csv"}
	first := []byte(`{"status": "ACCEPTED"}` + "\n")
	if err := s.Ack(ctx, f, "F1.csv.ack.json", first); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, f, "F1.csv.ack.json", first); err != nil {
		t.Fatalf("the same bytes again: %v", err)
	}
	err = s.Ack(ctx, f, "F1.csv.ack.json", []byte(`{"status": "REJECTED"}`+"\n"))
	if !errors.Is(err, jobs.ErrAckExists) {
		t.Fatalf("other bytes: %v, want ErrAckExists", err)
	}
	got, err := os.ReadFile(filepath.Join(root, "banks", "SHBKKRSE", "outbox", "F1.csv.ack.json"))
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("ack is %q (%v), want %q", got, err, first)
	}
	left, _ := os.ReadDir(filepath.Join(root, "partial", "SHBKKRSE"))
	if len(left) != 0 {
		t.Fatalf("%d temporary files left", len(left))
	}
}
