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

func TestReadSkipsNothingAndReportsTornLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "j.jsonl")
	Append(file, map[string]int{"n": 1})
	f, _ := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"n": 2, "tor` + "\n")
	f.Close()
	Append(file, map[string]int{"n": 3})
	var got []int
	var bad []int
	err := Read(file, 4096, func(line int, v map[string]int, err error) bool {
		if err != nil {
			bad = append(bad, line)
			return true
		}
		got = append(got, v["n"])
		return true
	})
	if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 3 || len(bad) != 1 || bad[0] != 2 {
		t.Fatalf("got %v, bad lines %v, err %v", got, bad, err)
	}
	n := 0
	Read(file, 4096, func(int, map[string]int, error) bool { n++; return false })
	if n != 1 {
		t.Fatalf("stopping early read %d lines", n)
	}
	if err := Read(filepath.Join(t.TempDir(), "none"), 4096, func(int, map[string]int, error) bool { return true }); err != nil {
		t.Fatalf("a missing journal is empty: %v", err)
	}
	long := filepath.Join(t.TempDir(), "long.jsonl")
	Append(long, map[string]string{"x": string(make([]byte, 100))})
	if err := Read(long, 50, func(int, map[string]string, error) bool { return true }); err == nil {
		t.Fatal("a line over lineMax must be an error")
	}
}
