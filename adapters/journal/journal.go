// Package journal keeps the durable, append-only JSON-lines records of the
// file adapters (the archive's receipts, the files taken from a bank's own
// server): one record a line, written in one O_APPEND write and fsynced
// before the caller goes on, so a crash leaves at most a torn last line
// that readers skip.
package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Append writes v as one JSON line at the end of file (created 0640 if
// missing) and makes it durable, the file's creation included.
func Append(file string, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(file)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && statErr != nil {
		err = SyncDir(filepath.Dir(file)) // the first line created the file
	}
	return err
}

// WriteFile puts body at path whole or not at all, durably: a temporary
// file in the same folder with mode, fsynced, renamed into place, the
// folder fsynced. A reader never sees a part of it.
func WriteFile(path string, body []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone once renamed; left over only on failure
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes a create or rename in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Read calls fn for each line of file in order, decoded into a T, with its
// 1-based line number; a line that does not decode (a torn last line after
// a crash) comes with its error and the caller decides. fn returns false to
// stop. A missing file is an empty journal. lineMax bounds one line.
func Read[T any](file string, lineMax int, fn func(line int, v T, err error) bool) error {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, min(lineMax, 64<<10)), lineMax)
	for line := 1; sc.Scan(); line++ {
		var v T
		err := json.Unmarshal(sc.Bytes(), &v)
		if !fn(line, v, err) {
			return nil
		}
	}
	return sc.Err()
}
