package sftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"settle/adapters/journal"
	"settle/failpoint"
	"settle/jobs"
	"settle/settlement"
)

// ackBytesMax bounds an acknowledgement or report written to an outbox.
const ackBytesMax = 16 << 20

// Storage is the intake job's view of the built-in server's folder tree:
// it implements jobs.Inbox over <root>/banks/<BIC>/. It may run in another
// process than the server; the file system is all they share.
type Storage struct {
	lay layout
	log *slog.Logger
}

// NewStorage opens the tree under root that a Server with the same root
// writes.
func NewStorage(root string, log *slog.Logger) (*Storage, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Storage{lay: layout{root: abs}, log: log.With("component", "inbox", "inbox", "local")}, nil
}

var _ jobs.Inbox = (*Storage)(nil)

// banks lists the banks that have a tree.
func (s *Storage) banks() ([]settlement.BIC, error) {
	d, err := os.Open(filepath.Join(s.lay.root, "banks"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(listEntriesMax)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var out []settlement.BIC
	for _, n := range names {
		if b, err := settlement.ParseBIC(n); err == nil && string(b) == n {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// List returns the complete pairs in every bank's inbox, oldest signature
// first. Only regular files with valid names count; everything in an
// inbox is whole, because the server renames uploads in only once closed.
func (s *Storage) List(ctx context.Context, limit int) ([]jobs.InboxFile, error) {
	if limit <= 0 || limit > listEntriesMax {
		limit = listEntriesMax
	}
	banks, err := s.banks()
	if err != nil {
		return nil, err
	}
	var out []jobs.InboxFile
	for _, b := range banks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		files, err := completePairs(s.lay.inbox(b), b)
		if err != nil {
			return nil, fmt.Errorf("inbox of %s: %w", b, err)
		}
		out = append(out, files...)
	}
	sortFiles(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// completePairs reads one inbox folder and pairs payment files with their
// signatures.
func completePairs(dir string, b settlement.BIC) ([]jobs.InboxFile, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(listEntriesMax)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	infos := make(map[string]fs.FileInfo, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() || !validName(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			infos[e.Name()] = fi
		}
	}
	var out []jobs.InboxFile
	for name, fi := range infos {
		if strings.HasSuffix(name, jobs.SigSuffix) {
			continue // a signature, or a pair whose notice would take a signature away
		}
		sig, ok := infos[name+jobs.SigSuffix]
		if !ok {
			continue
		}
		// A complete pair that will never be read is listed too, so that
		// the intake tells the bank why (issue 12, item 9).
		out = append(out, jobs.InboxFile{Bank: b, Name: name, Size: fi.Size(), ModTime: fi.ModTime(),
			SigSize: sig.Size(), SigModTime: sig.ModTime(), Ignored: jobs.IgnoredReason(name)})
	}
	return out, nil
}

// sortFiles orders by completion (the later of the two modification times),
// then bank and name, so that the order is stable.
func sortFiles(fs []jobs.InboxFile) {
	done := func(f jobs.InboxFile) time.Time {
		if f.SigModTime.After(f.ModTime) {
			return f.SigModTime
		}
		return f.ModTime
	}
	sort.Slice(fs, func(i, j int) bool {
		a, b := done(fs[i]), done(fs[j])
		if !a.Equal(b) {
			return a.Before(b)
		}
		if fs[i].Bank != fs[j].Bank {
			return fs[i].Bank < fs[j].Bank
		}
		return fs[i].Name < fs[j].Name
	})
}

func (s *Storage) checkFile(f jobs.InboxFile) error {
	if _, err := settlement.ParseBIC(string(f.Bank)); err != nil {
		return err
	}
	if !validName(f.Name) || strings.HasSuffix(f.Name, jobs.SigSuffix) {
		return fmt.Errorf("%q: %w", f.Name, ErrBadName)
	}
	return nil
}

// Open returns the payment file, or ErrChanged when it is not the file
// that was listed.
func (s *Storage) Open(ctx context.Context, f jobs.InboxFile) (io.ReadCloser, error) {
	if err := s.checkFile(f); err != nil {
		return nil, err
	}
	return openSame(filepath.Join(s.lay.inbox(f.Bank), f.Name), f.Size, f.ModTime)
}

// OpenSig returns the file's signature.
func (s *Storage) OpenSig(ctx context.Context, f jobs.InboxFile) (io.ReadCloser, error) {
	if err := s.checkFile(f); err != nil {
		return nil, err
	}
	return openSame(filepath.Join(s.lay.inbox(f.Bank), f.SigName()), f.SigSize, f.SigModTime)
}

func openSame(p string, size int64, mod time.Time) (*os.File, error) {
	fh, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", filepath.Base(p), jobs.ErrNotListed)
	}
	if err != nil {
		return nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() != size || !fi.ModTime().Equal(mod) {
		fh.Close()
		return nil, fmt.Errorf("%s: %w", filepath.Base(p), jobs.ErrChanged)
	}
	return fh, nil
}

// Ack writes body into the bank's outbox under name, atomically and never
// over an existing file: the bytes go to a temporary file that is then
// hard-linked to its name, and a link fails where the name exists. An
// existing file of the same bytes (written before a crash) counts as
// written; other bytes are jobs.ErrAckExists, and stay as they are.
func (s *Storage) Ack(ctx context.Context, f jobs.InboxFile, name string, body []byte) error {
	if err := s.checkFile(f); err != nil {
		return err
	}
	if !validName(name) {
		return fmt.Errorf("ack %q: %w", name, ErrBadName)
	}
	if len(body) > ackBytesMax {
		return fmt.Errorf("ack %q: %d bytes, more than %d", name, len(body), ackBytesMax)
	}
	if err := s.lay.ensure(f.Bank); err != nil { // a bank that never logged in has no tree yet
		return err
	}
	dst := filepath.Join(s.lay.outbox(f.Bank), name)
	err := linkFileNew(s.lay.partial(f.Bank), dst, body)
	if errors.Is(err, fs.ErrExist) {
		if same, rerr := sameBytes(dst, body); rerr != nil {
			return rerr
		} else if !same {
			return fmt.Errorf("/outbox/%s: %w", name, jobs.ErrAckExists)
		}
		s.log.Info("ack already written", "bank", string(f.Bank), "file", f.Name, "path", "/outbox/"+name)
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("ack written", "bank", string(f.Bank), "file", f.Name, "path", "/outbox/"+name, "size", len(body))
	return nil
}

// linkFileNew writes body to a temporary file in tmpDir (same file system
// as dst), syncs it and hard-links it to dst, which must not exist.
func linkFileNew(tmpDir, dst string, body []byte) error {
	tmp, err := writeTemp(tmpDir, body)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, dst); err != nil {
		return err
	}
	return journal.SyncDir(filepath.Dir(dst))
}

// sameBytes tells whether the regular file p holds exactly body.
func sameBytes(p string, body []byte) (bool, error) {
	fh, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() || fi.Size() != int64(len(body)) {
		return false, nil
	}
	b, err := io.ReadAll(io.LimitReader(fh, ackBytesMax+1))
	if err != nil {
		return false, err
	}
	return bytes.Equal(b, body), nil
}

// Put writes a report into a bank's outbox, atomically (the jobs.Outbox
// port): the cycle's position report goes where the bank reads its
// acknowledgements.
func (s *Storage) Put(ctx context.Context, bank settlement.BIC, name string, body []byte) error {
	if _, err := settlement.ParseBIC(string(bank)); err != nil {
		return err
	}
	if !validName(name) {
		return fmt.Errorf("report %q: %w", name, ErrBadName)
	}
	if len(body) > ackBytesMax {
		return fmt.Errorf("report %q: %d bytes, more than %d", name, len(body), ackBytesMax)
	}
	if err := s.lay.ensure(bank); err != nil {
		return err
	}
	if err := writeFileAtomic(s.lay.partial(bank), filepath.Join(s.lay.outbox(bank), name), body); err != nil {
		return err
	}
	s.log.Info("report written", "bank", string(bank), "path", "/outbox/"+name, "size", len(body))
	return nil
}

// writeFileAtomic writes body to a temporary file in tmpDir (same file
// system as dst), syncs it and renames it to dst.
func writeFileAtomic(tmpDir, dst string, body []byte) error {
	tmp, err := writeTemp(tmpDir, body)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return journal.SyncDir(filepath.Dir(dst))
}

// writeTemp writes body, durably, to a new temporary file in dir and
// returns its path.
func writeTemp(dir string, body []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, "ack-*.part")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	ok = true
	return tmp.Name(), nil
}

// Done moves the pair out of the inbox into taken/<BIC>/, signature first:
// the pair stops being complete with the first rename, so a crash half-way
// leaves a lone payment file that is never listed. A file in the inbox that
// is not the one listed (the bank uploaded a new one after an earlier Done)
// is left alone.
func (s *Storage) Done(ctx context.Context, f jobs.InboxFile) error {
	if err := s.checkFile(f); err != nil {
		return err
	}
	if err := os.MkdirAll(s.lay.taken(f.Bank), 0o750); err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("20060102T150405.000000000Z")
	moved := 0
	for _, m := range []struct {
		name string
		size int64
		mod  time.Time
	}{{f.SigName(), f.SigSize, f.SigModTime}, {f.Name, f.Size, f.ModTime}} {
		src := filepath.Join(s.lay.inbox(f.Bank), m.name)
		fi, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() || fi.Size() != m.size || !fi.ModTime().Equal(m.mod) {
			continue
		}
		if err := os.Rename(src, filepath.Join(s.lay.taken(f.Bank), stamp+"-"+m.name)); err != nil {
			return err
		}
		moved++
		if m.name == f.SigName() {
			failpoint.Here("sftp.done.sig") // the pair no longer lists; the intake's journal names the file
		}
	}
	if moved > 0 {
		if err := journal.SyncDir(s.lay.inbox(f.Bank)); err != nil {
			return err
		}
		if err := journal.SyncDir(s.lay.taken(f.Bank)); err != nil {
			return err
		}
		s.log.Info("file taken", "bank", string(f.Bank), "file", f.Name, "size", f.Size, "sha256", f.SHA256)
	}
	return nil
}
