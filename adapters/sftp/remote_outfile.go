package sftp

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"

	pkgsftp "github.com/pkg/sftp"

	"settle/settlement"
)

// PutFile copies a file from disk to the bank's own server (upload to a
// .part name, then rename), for statements too large for memory: the
// jobs.FileOutbox port.
func (r *Remote) PutFile(ctx context.Context, bank settlement.BIC, name, file string) error {
	if bank != r.cfg.Bank {
		return fmt.Errorf("sftp remote: report for %s asked from the pull of %s", bank, r.cfg.Bank)
	}
	if !validName(name) {
		return fmt.Errorf("%q: %w", name, ErrBadName)
	}
	dst := path.Join(r.cfg.OutboxDir, name)
	tmp := dst + ".part"
	var n int64
	err := r.with(ctx, func(c *pkgsftp.Client) error {
		src, err := os.Open(file)
		if err != nil {
			return err
		}
		defer src.Close()
		w, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			return fmt.Errorf("sftp remote %s: %w", dst, err)
		}
		if n, err = io.Copy(w, ctxReader{ctx, src}); err != nil {
			w.Close()
			c.Remove(tmp)
			return fmt.Errorf("sftp remote %s: %w", dst, err)
		}
		if err := w.Close(); err != nil {
			c.Remove(tmp)
			return fmt.Errorf("sftp remote %s: %w", dst, err)
		}
		if err := c.PosixRename(tmp, dst); err != nil {
			c.Remove(tmp)
			return fmt.Errorf("sftp remote %s: rename: %w", dst, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	r.log.Info("report written", "name", name, "size", n)
	return nil
}
