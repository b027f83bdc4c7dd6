package journal

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"settle/jobs"
)

// TestTakes: a note survives until End (as it would a crash), End of a
// note already gone is fine, notes of one file name in two inboxes are
// apart, a temporary file of a Begin stopped half-way is no note, and a
// note that does not read is reported, not dropped.
func TestTakes(t *testing.T) {
	ctx := context.Background()
	tk := Takes{Dir: filepath.Join(t.TempDir(), "taking")}
	if ns, err := tk.Pending(ctx); err != nil || len(ns) != 0 {
		t.Fatalf("no folder yet: %v %v", ns, err)
	}
	local := jobs.TakeNote{File: jobs.InboxFile{Bank: "SHBKKRSE", Name: "F1.csv", Size: 10, ModTime: time.Unix(1, 0).UTC()}, SHA256: "ab"}
	remote := local
	remote.File.Via = "remote:SHBKKRSE"
	for _, n := range []jobs.TakeNote{local, remote} {
		if err := tk.Begin(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(tk.Dir, ".note-123"), []byte("{"), 0o640)
	ns, err := tk.Pending(ctx)
	if err != nil || len(ns) != 2 || ns[0].File.Name != "F1.csv" || ns[0].SHA256 != "ab" || !ns[0].File.ModTime.Equal(local.File.ModTime) {
		t.Fatalf("pending: %+v %v", ns, err)
	}
	if err := tk.End(ctx, local); err != nil {
		t.Fatal(err)
	}
	if err := tk.End(ctx, local); err != nil {
		t.Fatalf("second End: %v", err)
	}
	ns, err = tk.Pending(ctx)
	if err != nil || len(ns) != 1 || ns[0].File.Via != remote.File.Via {
		t.Fatalf("after End: %+v %v", ns, err)
	}
	os.WriteFile(filepath.Join(tk.Dir, "SHBKKRSE-torn.json"), []byte(`{"file":`), 0o640)
	if ns, err := tk.Pending(ctx); err == nil || len(ns) != 1 {
		t.Fatalf("a torn note: %+v %v", ns, err)
	}
}
