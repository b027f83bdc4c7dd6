package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"settle/settlement"
)

// PutFile copies a file from disk into a bank's outbox, atomically, for
// what is too large to hold in memory (a statement of a bank with
// hundreds of thousands of entries): the jobs.FileOutbox port.
func (s *Storage) PutFile(ctx context.Context, bank settlement.BIC, name, path string) error {
	if _, err := settlement.ParseBIC(string(bank)); err != nil {
		return err
	}
	if !validName(name) {
		return fmt.Errorf("report %q: %w", name, ErrBadName)
	}
	if err := s.lay.ensure(bank); err != nil {
		return err
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(s.lay.partial(bank), "out-*.part")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, ctxReader{ctx, src})
	if err == nil {
		err = tmp.Chmod(0o640)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.lay.outbox(bank), name)); err != nil {
		return err
	}
	s.log.Info("report written", "bank", string(bank), "path", "/outbox/"+name, "size", n)
	return nil
}

// Remove deletes a file the scheme wrote into a bank's outbox (a retired
// key's public key); a file already gone is not an error.
func (s *Storage) Remove(_ context.Context, bank settlement.BIC, name string) error {
	if _, err := settlement.ParseBIC(string(bank)); err != nil {
		return err
	}
	if !validName(name) {
		return fmt.Errorf("report %q: %w", name, ErrBadName)
	}
	err := os.Remove(filepath.Join(s.lay.outbox(bank), name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
