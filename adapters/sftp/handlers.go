package sftp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	pkgsftp "github.com/pkg/sftp"

	"settle/adapters/journal"
	"settle/jobs"
	"settle/signature"
)

// handlers serve one SFTP session of one user, jailed in its bank's
// folder. Every path a client sends goes through parseVPath, so only
// "/", "/inbox", "/outbox" and plain names directly inside those two can
// be reached; every host file is opened or inspected without following
// symlinks, so a link planted on the host cannot lead out either.
type handlers struct {
	srv  *Server
	user User
	jail string
	log  *slog.Logger
}

// writable is the one folder this user may change.
func (h *handlers) writable() string {
	if h.user.Role == RoleCollector {
		return outboxDir
	}
	return inboxDir
}

func (h *handlers) host(v vpath) string { return hostPath(h.jail, v) }

// Fileread opens a file for download.
func (h *handlers) Fileread(r *pkgsftp.Request) (io.ReaderAt, error) {
	v, err := parseVPath(r.Filepath)
	if err != nil {
		return nil, err
	}
	if v.Name == "" {
		return nil, errDenied("open", v.String())
	}
	f, err := os.OpenFile(h.host(v), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, errNoEntry(v.String())
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, errNoEntry(v.String())
	}
	h.log.Info("download", "path", v.String(), "size", fi.Size())
	return f, nil
}

// Filewrite starts an upload. Bytes go to a private temporary file outside
// the jail; only a complete, closed upload is renamed into place, so
// nothing that reads the bank's folder ever sees a file being written.
func (h *handlers) Filewrite(r *pkgsftp.Request) (io.WriterAt, error) {
	v, err := parseVPath(r.Filepath)
	if err != nil {
		p := cleanVirtual(r.Filepath)
		h.log.Warn("upload refused: invalid path or file name", "path", clip(p))
		return nil, errBadName(clip(p))
	}
	if v.Dir != h.writable() || v.Name == "" {
		h.log.Warn("upload refused: read-only location", "path", v.String())
		return nil, refuse(syscall.EACCES, v.String(), "read-only: upload into /"+h.writable())
	}
	if r.Pflags().Append {
		h.log.Warn("upload refused: append is not supported", "path", v.String())
		return nil, refuse(syscall.EACCES, v.String(), "append is not supported: upload the whole file")
	}
	if v.Dir == inboxDir {
		base := strings.TrimSuffix(v.Name, jobs.SigSuffix)
		if jobs.IsPaymentFileName(base) && len(base) > jobs.PaymentFileNameBytesMax {
			// Its acknowledgements could not be named (issue 12, item 4).
			h.log.Warn("upload refused: payment file name too long for its acknowledgements", "path", v.String(),
				"name_bytes", len(base), "name_bytes_max", jobs.PaymentFileNameBytesMax)
			return nil, refuse(syscall.ENAMETOOLONG, v.String(),
				fmt.Sprintf("file name too long: a payment file name has at most %d characters, so that its acknowledgements fit", jobs.PaymentFileNameBytesMax))
		}
	}
	if v.Dir == inboxDir {
		n, err := h.countInbox()
		if err != nil {
			return nil, err
		}
		if n >= h.srv.cfg.InboxFilesMax {
			h.log.Warn("upload refused: inbox full", "path", v.String(), "files_max", h.srv.cfg.InboxFilesMax)
			return nil, errNoSpace("open", v.String())
		}
	}
	if h.submitted(v) {
		h.log.Warn("upload refused: file already submitted", "path", v.String())
		return nil, errExists("open", v.String())
	}
	var used int64
	if v.Dir == inboxDir {
		used, err = h.inboxBytes()
		if err != nil {
			return nil, err
		}
		if used >= h.srv.cfg.InboxBytesMax {
			h.log.Warn("upload refused: inbox quota exceeded", "path", v.String(), "inbox_bytes", used, "inbox_bytes_max", h.srv.cfg.InboxBytesMax)
			return nil, errNoSpace("open", v.String())
		}
	}
	tmp := filepath.Join(h.srv.lay.partial(h.user.Bank), randomName()+".part")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		h.log.Error("upload: temp file", "err", err.Error())
		return nil, &os.PathError{Op: "open", Path: v.String(), Err: syscall.EIO}
	}
	h.log.Info("upload started", "path", v.String())
	u := &upload{h: h, v: v, f: f, tmp: tmp, max: h.srv.cfg.FileBytesMax, started: time.Now(),
		tooBig: "file too large", tooBigErrno: syscall.EFBIG}
	if v.Dir == inboxDir && strings.HasSuffix(v.Name, jobs.SigSuffix) && u.max > signature.SigBytesMax {
		// A .sig larger than the intake reads is refused whole here,
		// rather than taken and found malformed (issue 12, item 6).
		u.max, u.tooBig = signature.SigBytesMax, "signature file too large"
	}
	if v.Dir == inboxDir && h.srv.cfg.InboxBytesMax-used < u.max {
		u.max, u.tooBig, u.tooBigErrno = h.srv.cfg.InboxBytesMax-used, "inbox quota exceeded", syscall.EDQUOT
	}
	return u, nil
}

// inboxBytes is the size of the files in the inbox plus the uploads in
// progress, for the inbox quota. The folders hold at most InboxFilesMax
// entries each, so this is bounded.
func (h *handlers) inboxBytes() (int64, error) {
	var n int64
	for _, d := range []string{h.host(vpath{Dir: inboxDir}), h.srv.lay.partial(h.user.Bank)} {
		es, err := os.ReadDir(d)
		if err != nil {
			return 0, &os.PathError{Op: "open", Path: "/" + inboxDir, Err: syscall.EIO}
		}
		for _, e := range es {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
				n += fi.Size()
			}
		}
	}
	return n, nil
}

// countInbox counts files in the inbox plus uploads in progress, bounded.
func (h *handlers) countInbox() (int, error) {
	n := 0
	for _, d := range []string{h.host(vpath{Dir: inboxDir}), h.srv.lay.partial(h.user.Bank)} {
		c, err := countEntries(d, h.srv.cfg.InboxFilesMax+1)
		if err != nil {
			return 0, &os.PathError{Op: "open", Path: "/" + inboxDir, Err: syscall.EIO}
		}
		n += c
	}
	return n, nil
}

func countEntries(dir string, max int) (int, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(max)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	return len(names), nil
}

// submitted reports whether v is one half of a complete pair in the inbox
// (payment file and its .sig both present). A submitted file belongs to
// the system: the bank can no longer replace, rename or delete it, so the
// collector takes exactly what was complete when it listed it.
func (h *handlers) submitted(v vpath) bool {
	if v.Dir != inboxDir || v.Name == "" {
		return false
	}
	pay, sig := v.Name, v.Name+jobs.SigSuffix
	if base, ok := strings.CutSuffix(v.Name, jobs.SigSuffix); ok {
		pay, sig = base, v.Name
	}
	if !jobs.IsPaymentFileName(pay) {
		return false
	}
	return isRegular(h.host(vpath{Dir: inboxDir, Name: pay})) && isRegular(h.host(vpath{Dir: inboxDir, Name: sig}))
}

func isRegular(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}

func randomName() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// upload is one file being written. It is committed on Close only if no
// write failed and the connection did not break meanwhile.
type upload struct {
	h       *handlers
	v       vpath
	f       *os.File
	tmp     string
	max     int64
	started time.Time
	// tooBig says why a write past max is refused, tooBigErrno as what.
	tooBig      string
	tooBigErrno syscall.Errno

	mu      sync.Mutex
	written extents // the byte ranges written so far
	failure error   // a write refused or failed: the upload is void
	aborted error   // the connection ended with the file open
	closed  bool
}

func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failure != nil {
		return 0, u.failure
	}
	if off < 0 || off > u.max || int64(len(p)) > u.max-off {
		u.failure = refuse(u.tooBigErrno, u.v.String(), fmt.Sprintf("%s: at most %d bytes", u.tooBig, u.max))
		u.h.log.Warn("upload refused: "+u.tooBig, "path", u.v.String(), "bytes_max", u.max,
			"inbox_bytes_max", u.h.srv.cfg.InboxBytesMax)
		return 0, u.failure
	}
	// Payment files are written in order. A client may have a few writes
	// in flight (pkg/sftp serves them on several workers), so a write may
	// land a little past the end; one far past it would leave a hole, a
	// sparse file that costs nothing to send and its full size to keep.
	if !u.written.add(off, int64(len(p))) {
		u.failure = refuse(syscall.EINVAL, u.v.String(), "write past the end of the file: payment files are written in order, without holes")
		u.h.log.Warn("upload refused: write past the end of the file (files are written in order, without holes)",
			"path", u.v.String(), "offset", off, "written", u.written.end)
		return 0, u.failure
	}
	n, err := u.f.WriteAt(p, off)
	if err != nil {
		u.failure = &os.PathError{Op: "write", Path: u.v.String(), Err: syscall.EIO}
		u.h.log.Error("upload write failed", "path", u.v.String(), "err", err.Error())
		return n, u.failure
	}
	return n, nil
}

// TransferError is called by pkg/sftp when the connection ends while the
// file is still open: such an upload is never committed.
func (u *upload) TransferError(err error) {
	u.mu.Lock()
	u.aborted = err
	u.mu.Unlock()
}

func (u *upload) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	if u.failure == nil && u.aborted == nil && len(u.written.ahead) > 0 {
		u.failure = refuse(syscall.EINVAL, u.v.String(), "the file has a hole: payment files are written in order, without holes")
		u.h.log.Warn("upload refused: the file has a hole (bytes never written)", "path", u.v.String(), "written", u.written.end)
	}
	if u.failure != nil || u.aborted != nil {
		u.f.Close()
		os.Remove(u.tmp)
		reason := u.failure
		if reason == nil {
			reason = u.aborted
		}
		u.h.log.Warn("upload discarded", "path", u.v.String(), "reason", reason.Error())
		return u.failure
	}
	sum, size, err := u.finish()
	if err != nil {
		os.Remove(u.tmp)
		u.h.log.Error("upload failed", "path", u.v.String(), "err", err.Error())
		return err
	}
	if err := u.h.commit(u.tmp, u.v); err != nil {
		os.Remove(u.tmp)
		u.h.log.Warn("upload refused at commit", "path", u.v.String(), "err", err.Error())
		return err
	}
	u.h.log.Info("upload complete", "path", u.v.String(), "size", size, "sha256", sum,
		"duration_ms", time.Since(u.started).Milliseconds())
	return nil
}

// finish makes the temporary file durable and hashes it.
func (u *upload) finish() (string, int64, error) {
	defer u.f.Close()
	if err := u.f.Sync(); err != nil {
		return "", 0, err
	}
	hash := sha256.New()
	size, err := io.Copy(hash, io.NewSectionReader(u.f, 0, u.max+1))
	if err != nil {
		return "", 0, err
	}
	if size > u.max {
		return "", 0, errTooBig("close", u.v.String())
	}
	return hex.EncodeToString(hash.Sum(nil)), size, u.f.Close()
}

// commit renames a finished temporary file into place, under the bank's
// lock so that the submitted and inbox-size checks cannot race another
// session of the same bank.
func (h *handlers) commit(tmp string, v vpath) error {
	mu := h.srv.bankLocks[h.user.Bank]
	mu.Lock()
	defer mu.Unlock()
	if h.submitted(v) {
		return errExists("close", v.String())
	}
	if v.Dir == inboxDir {
		used, err := h.inboxBytes() // counts this upload too, still in partial/
		if err != nil {
			return err
		}
		if used > h.srv.cfg.InboxBytesMax {
			return errNoSpace("close", v.String())
		}
	}
	dst := h.host(v)
	if fi, err := os.Lstat(dst); err == nil && !fi.Mode().IsRegular() {
		return errDenied("close", v.String())
	}
	if err := os.Rename(tmp, dst); err != nil {
		return &os.PathError{Op: "close", Path: v.String(), Err: syscall.EIO}
	}
	if err := journal.SyncDir(filepath.Dir(dst)); err != nil {
		return &os.PathError{Op: "close", Path: v.String(), Err: syscall.EIO}
	}
	return nil
}

// Filecmd handles rename and remove inside the writable folder; setstat is
// accepted and ignored (OpenSSH's put -p sends it); mkdir, rmdir, symlink
// and link are refused.
func (h *handlers) Filecmd(r *pkgsftp.Request) error {
	v, err := parseVPath(r.Filepath)
	if err != nil && r.Method != "Symlink" && r.Method != "Link" {
		p := clip(cleanVirtual(r.Filepath))
		h.log.Warn("command refused: invalid path or file name", "method", r.Method, "path", p)
		return errBadName(p)
	}
	switch r.Method {
	case "Setstat":
		if err != nil {
			return err
		}
		if v.Dir != h.writable() || v.Name == "" {
			return errDenied("setstat", v.String())
		}
		return nil
	case "Rename", "PosixRename":
		if err != nil {
			return err
		}
		to, err := parseVPath(r.Target)
		if err != nil {
			p := clip(cleanVirtual(r.Target))
			h.log.Warn("rename refused: invalid target name", "path", v.String(), "to", p)
			return errBadName(p)
		}
		return h.rename(v, to)
	case "Remove":
		if err != nil {
			return err
		}
		return h.remove(v)
	}
	// Symlink carries the link target in Filepath unparsed: never echo it.
	h.log.Warn("command refused", "method", r.Method)
	return errDenied(strings.ToLower(r.Method), "")
}

func (h *handlers) rename(from, to vpath) error {
	if from.Dir != h.writable() || to.Dir != h.writable() || from.Name == "" || to.Name == "" {
		h.log.Warn("rename refused", "path", from.String(), "to", to.String())
		return errDenied("rename", from.String())
	}
	mu := h.srv.bankLocks[h.user.Bank]
	mu.Lock()
	defer mu.Unlock()
	if !isRegular(h.host(from)) {
		return errNoEntry(from.String())
	}
	if h.submitted(from) || h.submitted(to) {
		h.log.Warn("rename refused: file already submitted", "path", from.String(), "to", to.String())
		return errDenied("rename", from.String())
	}
	if fi, err := os.Lstat(h.host(to)); err == nil && !fi.Mode().IsRegular() {
		return errDenied("rename", to.String())
	}
	if err := os.Rename(h.host(from), h.host(to)); err != nil {
		return &os.PathError{Op: "rename", Path: from.String(), Err: syscall.EIO}
	}
	if err := journal.SyncDir(h.host(vpath{Dir: to.Dir})); err != nil {
		return &os.PathError{Op: "rename", Path: from.String(), Err: syscall.EIO}
	}
	fi, _ := os.Lstat(h.host(to))
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	h.log.Info("rename", "path", from.String(), "to", to.String(), "size", size)
	return nil
}

func (h *handlers) remove(v vpath) error {
	if v.Dir != h.writable() || v.Name == "" {
		h.log.Warn("delete refused", "path", v.String())
		return errDenied("remove", v.String())
	}
	mu := h.srv.bankLocks[h.user.Bank]
	mu.Lock()
	defer mu.Unlock()
	fi, err := os.Lstat(h.host(v))
	if err != nil || !fi.Mode().IsRegular() {
		return errNoEntry(v.String())
	}
	if h.submitted(v) {
		h.log.Warn("delete refused: file already submitted", "path", v.String())
		return errDenied("remove", v.String())
	}
	if err := os.Remove(h.host(v)); err != nil {
		return &os.PathError{Op: "remove", Path: v.String(), Err: syscall.EIO}
	}
	journal.SyncDir(h.host(vpath{Dir: v.Dir}))
	h.log.Info("delete", "path", v.String(), "size", fi.Size())
	return nil
}

// Filelist lists a folder or stats one path.
func (h *handlers) Filelist(r *pkgsftp.Request) (pkgsftp.ListerAt, error) {
	v, err := parseVPath(r.Filepath)
	if err != nil {
		return nil, err
	}
	switch r.Method {
	case "List":
		return h.list(v)
	case "Stat", "Lstat":
		fi, err := h.stat(v)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	}
	return nil, errDenied(strings.ToLower(r.Method), v.String())
}

// Lstat is Stat: nothing in a jail is a link.
func (h *handlers) Lstat(r *pkgsftp.Request) (pkgsftp.ListerAt, error) {
	r.Method = "Stat"
	return h.Filelist(r)
}

// RealPath resolves nothing: it only cleans the path as if rooted at "/".
func (h *handlers) RealPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", errNoEntry("")
	}
	return cleanVirtual(p), nil
}

func (h *handlers) stat(v vpath) (os.FileInfo, error) {
	fi, err := os.Lstat(h.host(v))
	if err != nil {
		return nil, errNoEntry(v.String())
	}
	if v.Name == "" {
		if !fi.IsDir() {
			return nil, errNoEntry(v.String())
		}
		name := v.Dir
		if name == "" {
			name = "/"
		}
		return namedInfo{fi, name}, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, errNoEntry(v.String())
	}
	return fi, nil
}

func (h *handlers) list(v vpath) (pkgsftp.ListerAt, error) {
	if v.Name != "" {
		fi, err := h.stat(v)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	}
	if v.Dir == "" {
		var out listerAt
		for _, d := range []string{inboxDir, outboxDir} {
			if fi, err := h.stat(vpath{Dir: d}); err == nil {
				out = append(out, fi)
			}
		}
		return out, nil
	}
	if _, err := h.stat(v); err != nil {
		return nil, err
	}
	d, err := os.Open(h.host(v))
	if err != nil {
		return nil, errNoEntry(v.String())
	}
	defer d.Close()
	entries, err := d.ReadDir(listEntriesMax)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, errNoEntry(v.String())
	}
	var out listerAt
	for _, e := range entries {
		if !e.Type().IsRegular() || !validName(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			out = append(out, fi)
		}
	}
	return out, nil
}

type listerAt []os.FileInfo

func (l listerAt) ListAt(dst []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

// namedInfo renames a folder's FileInfo to what the client sees.
type namedInfo struct {
	fs.FileInfo
	name string
}

func (n namedInfo) Name() string { return n.name }

// extents tracks the ranges an upload wrote: end is the length written
// from offset 0 without a gap; ahead are the ranges written past it, out
// of order, not yet joined.
type extents struct {
	end   int64
	ahead [][2]int64 // [from, to), sorted, disjoint, all > end
}

// Bounds of out-of-order writes: OpenSSH keeps up to 64 writes of 32 KiB
// in flight, so 8 MiB and 256 ranges leave it room many times over.
const (
	writeAheadBytesMax  = 8 << 20
	writeAheadRangesMax = 256
)

// add records the write of n bytes at off, or reports false for one that
// starts too far past the end or leaves too many gaps.
func (x *extents) add(off, n int64) bool {
	if off > x.end+writeAheadBytesMax {
		return false
	}
	if n == 0 {
		return true
	}
	from, to := off, off+n
	if from <= x.end {
		x.end = max(x.end, to)
	} else {
		x.ahead = append(x.ahead, [2]int64{from, to})
		sort.Slice(x.ahead, func(i, j int) bool { return x.ahead[i][0] < x.ahead[j][0] })
	}
	// Join what now touches the end, and merge overlapping ranges.
	out := x.ahead[:0]
	for _, r := range x.ahead {
		switch {
		case r[0] <= x.end:
			x.end = max(x.end, r[1])
		case len(out) > 0 && r[0] <= out[len(out)-1][1]:
			out[len(out)-1][1] = max(out[len(out)-1][1], r[1])
		default:
			out = append(out, r)
		}
	}
	x.ahead = out
	return len(x.ahead) <= writeAheadRangesMax
}

// clip bounds a client's path before it is logged or sent back.
func clip(p string) string {
	const max = 256
	if len(p) > max {
		return p[:max] + "..."
	}
	return p
}
