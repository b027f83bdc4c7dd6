package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func sumOf(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func open(t *testing.T, max int64) (*Archive, string) {
	t.Helper()
	root := t.TempDir()
	a, err := Open(root, max)
	if err != nil {
		t.Fatal(err)
	}
	return a, root
}

func TestPutStoresReadOnlyByHash(t *testing.T) {
	a, root := open(t, 0)
	body := []byte("H,F1,AAAABBCC\nT,0,0\n")
	at := time.Date(2026, 11, 24, 17, 45, 0, 123, time.FixedZone("KST", 9*3600))
	e, err := a.Put(context.Background(), "AAAABBCC", "F1.csv", at, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sumOf(body)
	if e.SHA256 != sum || e.Size != int64(len(body)) || e.Bank != "AAAABBCC" || e.Name != "F1.csv" || !e.ReceivedAt.Equal(at) {
		t.Fatalf("Entry = %+v", e)
	}
	p := filepath.Join(root, "sha256", sum[:2], sum[2:])
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Errorf("mode %v, want 0444", fi.Mode().Perm())
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, body) {
		t.Errorf("stored %q", got)
	}
	if err := a.Verify(sum); err != nil {
		t.Error(err)
	}
	if names, _ := os.ReadDir(filepath.Join(root, "tmp")); len(names) != 0 {
		t.Errorf("temp files left: %v", names)
	}
}

// The same bytes again are the same blob; each receipt is indexed once.
func TestPutIsIdempotent(t *testing.T) {
	a, root := open(t, 0)
	ctx := context.Background()
	body := []byte("same bytes")
	at := time.Now()
	e1, err := a.Put(ctx, "AAAABBCC", "F1.csv", at, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	e2, err := a.Put(ctx, "AAAABBCC", "F1.csv", at, bytes.NewReader(body)) // a retry
	if err != nil {
		t.Fatal(err)
	}
	e3, err := a.Put(ctx, "AAAABBCC", "F1-again.csv", at.Add(time.Minute), bytes.NewReader(body)) // a resend
	if err != nil {
		t.Fatal(err)
	}
	if e1.SHA256 != e2.SHA256 || e2.SHA256 != e3.SHA256 {
		t.Fatal("same bytes, different hashes")
	}
	es, err := a.Entries(e1.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Name != "F1.csv" || es[1].Name != "F1-again.csv" {
		t.Fatalf("Entries = %+v", es)
	}
	blobs := 0
	filepath.Walk(filepath.Join(root, "sha256"), func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && fi.Mode().IsRegular() {
			blobs++
		}
		return nil
	})
	if blobs != 1 {
		t.Fatalf("%d blobs, want 1", blobs)
	}
}

func TestConcurrentPutsOfSameBytes(t *testing.T) {
	a, _ := open(t, 0)
	body := bytes.Repeat([]byte("x"), 1<<20)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Put(context.Background(), "AAAABBCC", "F.csv", time.Unix(int64(i), 0), bytes.NewReader(body))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if es, _ := a.Entries(sumOf(body)); len(es) != 8 {
		t.Fatalf("%d entries, want 8", len(es))
	}
	if err := a.Verify(sumOf(body)); err != nil {
		t.Fatal(err)
	}
}

func TestPutSizeLimit(t *testing.T) {
	a, root := open(t, 10)
	_, err := a.Put(context.Background(), "AAAABBCC", "BIG.csv", time.Now(), strings.NewReader("0123456789A"))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if _, err := os.Stat(filepath.Join(root, "index.jsonl")); err == nil {
		t.Error("refused file indexed")
	}
	if _, err := a.Put(context.Background(), "AAAABBCC", "OK.csv", time.Now(), strings.NewReader("0123456789")); err != nil {
		t.Fatal(err)
	}
}

// A reader that fails leaves nothing in the archive.
func TestPutReadErrorLeavesNothing(t *testing.T) {
	a, root := open(t, 0)
	r := io.MultiReader(strings.NewReader("partial"), errReader{})
	if _, err := a.Put(context.Background(), "AAAABBCC", "F.csv", time.Now(), r); err == nil {
		t.Fatal("Put succeeded on a failing reader")
	}
	if names, _ := os.ReadDir(filepath.Join(root, "sha256")); len(names) != 0 {
		t.Fatalf("blob kept: %v", names)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection lost") }

func TestPathRejectsNonHash(t *testing.T) {
	a, _ := open(t, 0)
	for _, s := range []string{"", "../x", strings.Repeat("A", 64), strings.Repeat("a", 63) + "/"} {
		if _, err := a.Path(s); err == nil {
			t.Errorf("Path(%q) accepted", s)
		}
	}
}
