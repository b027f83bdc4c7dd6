package reports

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	d := Dir{Root: t.TempDir()}
	if err := d.Write(context.Background(), "C2026-11-24", "summary.json", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(d.Root, "C2026-11-24", "summary.json"))
	if err != nil || string(b) != "{}\n" {
		t.Fatalf("%q %v", b, err)
	}
	for _, bad := range [][2]string{{"../x", "a"}, {"C1", "../../etc/passwd"}, {"C1", ""}, {"", "a"}} {
		if err := d.Write(context.Background(), bad[0], bad[1], nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
