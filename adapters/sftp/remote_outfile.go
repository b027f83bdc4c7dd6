package sftp

import (
	"context"
	"fmt"
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
	var n int64
	err := r.with(ctx, func(c *pkgsftp.Client) error {
		src, err := os.Open(file)
		if err != nil {
			return err
		}
		defer src.Close()
		n, err = writeRemote(c, dst, ctxReader{ctx, src})
		return err
	})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	r.log.Info("report written", "name", name, "size", n)
	return nil
}
