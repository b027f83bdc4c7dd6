package journal

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestAppend(t *testing.T) {
	file := filepath.Join(t.TempDir(), "j.jsonl")
	for i := 0; i < 3; i++ {
		if err := Append(file, map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var v map[string]int
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil || v["n"] != n {
			t.Fatalf("line %d: %s %v", n, sc.Bytes(), err)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d lines", n)
	}
	if err := Append(filepath.Join(t.TempDir(), "missing", "j"), 1); err == nil {
		t.Fatal("a missing folder must be an error")
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("a missing folder must be an error")
	}
}
