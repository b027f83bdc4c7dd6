package sftp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"settle/adapters/journal"
	"settle/jobs"
	"settle/settlement"
)

// RemoteConfig says how to collect from one bank's own SFTP server.
type RemoteConfig struct {
	Bank settlement.BIC
	Addr string // host:port of the bank's server
	User string
	// Signer is the key the settlement system logs in with.
	Signer ssh.Signer
	// KnownHostsFile holds the bank server's host key; a server whose key
	// is not there is refused.
	KnownHostsFile string
	// InboxDir and OutboxDir are folders on the bank's server; they
	// default to "inbox" and "outbox".
	InboxDir, OutboxDir string
	// StateDir is a local folder of this bank's pull: staging/ holds
	// downloads, taken.jsonl records every file taken.
	StateDir string

	FileBytesMax int64         // larger remote files are refused
	Attempts     int           // downloads of a file whose bytes change while read
	DialTimeout  time.Duration // connect and log in
	Logger       *slog.Logger
}

// Defaults of RemoteConfig.
const (
	RemoteAttemptsDefault    = 3
	RemoteDialTimeoutDefault = 30 * time.Second
)

// takenLineBytesMax bounds one line of the taken record.
const takenLineBytesMax = 4096

// Remote implements jobs.Inbox by pulling from a bank's own SFTP server.
//
// Files are left where the bank put them; what was taken is recorded
// locally (taken.jsonl, appended and fsynced in Done). A bank's server is
// the bank's record: collectors usually get read-only access to it, and a
// rename or delete over the network cannot be atomic with our own state
// anyway, so a local record is needed in any case. A file is identified by
// name, size and modification time: the same name uploaded again with
// other content is a new file (and the intake's duplicate check by sha256
// catches the same bytes sent twice).
//
// Open downloads into staging, then checks that the remote file still has
// the listed size and time and reads it a second time to compare SHA-256:
// SFTP has no standard checksum and times have one-second resolution, so
// a same-size rewrite within a second would otherwise pass unseen.
type Remote struct {
	cfg  RemoteConfig
	hkcb ssh.HostKeyCallback
	log  *slog.Logger

	sessMu    sync.Mutex    // sess, idle, session.users
	sess      *session      // the kept login, nil when none
	idle      *time.Timer   // closes sess when unused
	idleAfter time.Duration // remoteIdleClose; tests shorten it
	logins    atomic.Int64  // logins made, for tests and the log

	mu     sync.Mutex
	taken  map[string]bool   // takenKey -> taken
	staged map[string]string // remote name -> sha256 of the staged copy
	hook   func(name string) // tests: called between download and check
}

var _ jobs.BankInbox = (*Remote)(nil)

// NewRemote checks cfg and loads the taken record.
func NewRemote(cfg RemoteConfig) (*Remote, error) {
	if _, err := settlement.ParseBIC(string(cfg.Bank)); err != nil {
		return nil, err
	}
	if cfg.Addr == "" || cfg.User == "" || cfg.Signer == nil || cfg.StateDir == "" {
		return nil, errors.New("sftp remote: Addr, User, Signer and StateDir are required")
	}
	hkcb, err := knownhosts.New(cfg.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("sftp remote: known hosts: %w", err)
	}
	if cfg.InboxDir == "" {
		cfg.InboxDir = inboxDir
	}
	if cfg.OutboxDir == "" {
		cfg.OutboxDir = outboxDir
	}
	setDefault(&cfg.FileBytesMax, FileBytesMaxDefault)
	setDefault(&cfg.Attempts, RemoteAttemptsDefault)
	setDefault(&cfg.DialTimeout, RemoteDialTimeoutDefault)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "staging"), 0o750); err != nil {
		return nil, err
	}
	r := &Remote{cfg: cfg, hkcb: hkcb, taken: make(map[string]bool), staged: make(map[string]string), idleAfter: remoteIdleClose,
		log: cfg.Logger.With("component", "inbox", "inbox", "remote", "bank", string(cfg.Bank), "addr", cfg.Addr)}
	if err := r.loadTaken(); err != nil {
		return nil, err
	}
	return r, nil
}

type takenRecord struct {
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	ModTime   time.Time `json:"mod_time"`
	SHA256    string    `json:"sha256,omitempty"`
	SigSHA256 string    `json:"sig_sha256,omitempty"`
	TakenAt   time.Time `json:"taken_at"`
}

func takenKey(name string, size int64, mod time.Time) string {
	return name + "\x00" + strconv.FormatInt(size, 10) + "\x00" + strconv.FormatInt(mod.Unix(), 10)
}

func (r *Remote) takenFile() string { return filepath.Join(r.cfg.StateDir, "taken.jsonl") }

func (r *Remote) loadTaken() error {
	return journal.Read(r.takenFile(), takenLineBytesMax, func(line int, rec takenRecord, err error) bool {
		if err != nil {
			// A torn last line after a crash: the file was not marked
			// taken and will be taken again, which intake tolerates.
			r.log.Warn("taken record: bad line skipped", "line", line, "err", err.Error())
			return true
		}
		r.taken[takenKey(rec.Name, rec.Size, rec.ModTime)] = true
		return true
	})
}

// session is one login to the bank's server, shared by the calls that
// run while it is open.
type session struct {
	c     *pkgsftp.Client
	conn  net.Conn
	users int // calls using it now; r.sessMu
}

func (s *session) Close() {
	s.c.Close()
	s.conn.Close()
}

// remoteIdleClose is how long an unused login to a bank's server stays open.
const remoteIdleClose = 30 * time.Second

// dial logs in; ctx bounds the login only, not the session's life.
func (r *Remote) dial(ctx context.Context) (*session, error) {
	d := net.Dialer{Timeout: r.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", r.cfg.Addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(r.cfg.DialTimeout))
	cc, chans, reqs, err := ssh.NewClientConn(conn, r.cfg.Addr, &ssh.ClientConfig{
		User:            r.cfg.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(r.cfg.Signer)},
		HostKeyCallback: r.hkcb,
		Timeout:         r.cfg.DialTimeout,
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sftp remote %s: login: %w", r.cfg.Addr, err)
	}
	conn.SetDeadline(time.Time{})
	c, err := pkgsftp.NewClient(ssh.NewClient(cc, chans, reqs))
	if err != nil {
		cc.Close()
		return nil, fmt.Errorf("sftp remote %s: %w", r.cfg.Addr, err)
	}
	if !stop() { // ctx ended during the login: the connection is closed
		c.Close()
		return nil, fmt.Errorf("sftp remote %s: %w", r.cfg.Addr, ctx.Err())
	}
	r.logins.Add(1)
	return &session{c: c, conn: conn}, nil
}

// with runs fn over the open login to the bank's server, logging in when
// there is none. The login is kept for the next call (a collection makes
// a few per file) and closed after remoteIdleClose unused, or by Close.
// When fn fails because a kept login turned out to be gone (the server
// restarted, a firewall dropped it), fn runs once more on a new login:
// every fn here reads, or writes under a temporary name and renames, so
// running it again is safe.
func (r *Remote) with(ctx context.Context, fn func(*pkgsftp.Client) error) error {
	for attempt := 1; ; attempt++ {
		s, fresh, err := r.acquire(ctx)
		if err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, func() { r.drop(s) }) // a cancelled call must not hang on the network
		err = fn(s.c)
		stop()
		lost := err != nil && connectionLost(err)
		r.release(s, lost)
		if lost && !fresh && attempt == 1 && ctx.Err() == nil {
			r.log.Info("kept login to the bank's server was lost; logging in again", "err", err.Error())
			continue
		}
		return err
	}
}

func (r *Remote) acquire(ctx context.Context) (*session, bool, error) {
	r.sessMu.Lock()
	defer r.sessMu.Unlock()
	if r.sess != nil {
		r.sess.users++
		return r.sess, false, nil
	}
	s, err := r.dial(ctx) // under the lock: concurrent callers share one login
	if err != nil {
		return nil, false, err
	}
	s.users = 1
	r.sess = s
	return s, true, nil
}

func (r *Remote) release(s *session, lost bool) {
	r.sessMu.Lock()
	defer r.sessMu.Unlock()
	s.users--
	if lost {
		r.closeLocked(s)
	}
	if s.users > 0 || r.sess != s {
		return
	}
	if r.idle != nil {
		r.idle.Stop()
	}
	r.idle = time.AfterFunc(r.idleAfter, func() {
		r.sessMu.Lock()
		defer r.sessMu.Unlock()
		if r.sess == s && s.users == 0 {
			r.closeLocked(s)
		}
	})
}

func (r *Remote) drop(s *session) {
	r.sessMu.Lock()
	defer r.sessMu.Unlock()
	r.closeLocked(s)
}

// closeLocked closes s and forgets it; r.sessMu is held.
func (r *Remote) closeLocked(s *session) {
	if r.sess == s {
		r.sess = nil
	}
	s.Close()
}

// Close closes the kept login, if any. The Remote stays usable: the next
// call logs in again.
func (r *Remote) Close() error {
	r.sessMu.Lock()
	defer r.sessMu.Unlock()
	if r.idle != nil {
		r.idle.Stop()
	}
	if r.sess != nil {
		r.closeLocked(r.sess)
	}
	return nil
}

// connectionLost tells an error of a login that is gone from an answer of
// the server (no such file, permission denied, ...).
func connectionLost(err error) bool {
	return errors.Is(err, pkgsftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// List returns the complete pairs in the bank's inbox not taken before.
func (r *Remote) List(ctx context.Context, limit int) ([]jobs.InboxFile, error) {
	if limit <= 0 || limit > listEntriesMax {
		limit = listEntriesMax
	}
	var entries []os.FileInfo
	err := r.with(ctx, func(c *pkgsftp.Client) error {
		var err error
		entries, err = c.ReadDir(r.cfg.InboxDir)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sftp remote: list %s: %w", r.cfg.InboxDir, err)
	}
	if len(entries) > listEntriesMax {
		r.log.Warn("remote inbox holds more entries than one listing takes", "entries", len(entries), "max", listEntriesMax)
		entries = entries[:listEntriesMax]
	}
	infos := make(map[string]fs.FileInfo, len(entries))
	for _, fi := range entries {
		if fi.Mode().IsRegular() && validName(fi.Name()) {
			infos[fi.Name()] = fi
		}
	}
	var out []jobs.InboxFile
	r.mu.Lock()
	for name, fi := range infos {
		sig, ok := infos[name+jobs.SigSuffix]
		if !ok || !jobs.IsPaymentFileName(name) || r.taken[takenKey(name, fi.Size(), fi.ModTime())] {
			continue
		}
		out = append(out, jobs.InboxFile{Bank: r.cfg.Bank, Name: name, Size: fi.Size(), ModTime: fi.ModTime(),
			SigSize: sig.Size(), SigModTime: sig.ModTime()})
	}
	r.mu.Unlock()
	sortFiles(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (r *Remote) check(f jobs.InboxFile) error {
	if f.Bank != r.cfg.Bank {
		return fmt.Errorf("sftp remote: file of %s asked from the pull of %s", f.Bank, r.cfg.Bank)
	}
	if !validName(f.Name) || !jobs.IsPaymentFileName(f.Name) {
		return fmt.Errorf("%q: %w", f.Name, ErrBadName)
	}
	return nil
}

// Open downloads the payment file into staging and returns the staged copy.
func (r *Remote) Open(ctx context.Context, f jobs.InboxFile) (io.ReadCloser, error) {
	if err := r.check(f); err != nil {
		return nil, err
	}
	return r.fetch(ctx, f.Name, f.Size, f.ModTime)
}

// OpenSig downloads the signature likewise.
func (r *Remote) OpenSig(ctx context.Context, f jobs.InboxFile) (io.ReadCloser, error) {
	if err := r.check(f); err != nil {
		return nil, err
	}
	return r.fetch(ctx, f.SigName(), f.SigSize, f.SigModTime)
}

func (r *Remote) stagedPath(name string) string {
	return filepath.Join(r.cfg.StateDir, "staging", name)
}

// fetch downloads one remote file and verifies it; see Remote.
func (r *Remote) fetch(ctx context.Context, name string, size int64, mod time.Time) (*os.File, error) {
	if size > r.cfg.FileBytesMax {
		return nil, fmt.Errorf("sftp remote: %s: %d bytes, more than %d", name, size, r.cfg.FileBytesMax)
	}
	remote := path.Join(r.cfg.InboxDir, name)
	var staged *os.File
	err := r.with(ctx, func(c *pkgsftp.Client) error {
		for attempt := 1; attempt <= r.cfg.Attempts; attempt++ {
			sum, tmp, err := r.download(c, remote, name, size, mod)
			if err != nil {
				return err
			}
			if r.hook != nil {
				r.hook(name)
			}
			again, err := r.verify(c, remote, size, mod)
			if err != nil {
				os.Remove(tmp)
				return err
			}
			if again != sum {
				os.Remove(tmp)
				r.log.Warn("remote file changed while downloaded; retrying", "file", name, "attempt", attempt)
				continue
			}
			dst := r.stagedPath(name)
			if err := os.Rename(tmp, dst); err != nil {
				os.Remove(tmp)
				return err
			}
			r.mu.Lock()
			r.staged[name] = sum
			r.mu.Unlock()
			r.log.Info("downloaded", "file", name, "size", size, "sha256", sum)
			staged, err = os.Open(dst)
			return err
		}
		return fmt.Errorf("sftp remote: %s: bytes differ on every one of %d attempts: %w", name, r.cfg.Attempts, jobs.ErrChanged)
	})
	if err != nil {
		return nil, err
	}
	return staged, nil
}

// download copies the remote file into a staging temp file, hashing it.
func (r *Remote) download(c *pkgsftp.Client, remote, name string, size int64, mod time.Time) (string, string, error) {
	rf, err := c.Open(remote)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("%s: %w", name, jobs.ErrNotListed)
		}
		return "", "", err
	}
	defer rf.Close()
	if err := sameAsListed(rf.Stat, name, size, mod); err != nil {
		return "", "", err
	}
	tmp, err := os.CreateTemp(filepath.Join(r.cfg.StateDir, "staging"), "dl-*.part")
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), io.LimitReader(rf, size+1), make([]byte, 1<<20))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("sftp remote: %s: read %d bytes, listed %d: %w", name, n, size, jobs.ErrChanged)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", "", err
	}
	return hex.EncodeToString(h.Sum(nil)), tmp.Name(), nil
}

// verify re-stats the remote file by name and hashes it once more.
func (r *Remote) verify(c *pkgsftp.Client, remote string, size int64, mod time.Time) (string, error) {
	name := path.Base(remote)
	if err := sameAsListed(func() (os.FileInfo, error) { return c.Stat(remote) }, name, size, mod); err != nil {
		return "", err
	}
	rf, err := c.Open(remote)
	if err != nil {
		return "", err
	}
	defer rf.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, io.LimitReader(rf, size+1), make([]byte, 1<<20))
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("sftp remote: %s: %w", name, jobs.ErrChanged)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sameAsListed(stat func() (os.FileInfo, error), name string, size int64, mod time.Time) error {
	fi, err := stat()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", name, jobs.ErrNotListed)
		}
		return err
	}
	if !fi.Mode().IsRegular() || fi.Size() != size || fi.ModTime().Unix() != mod.Unix() {
		return fmt.Errorf("sftp remote: %s: now %d bytes at %s, listed %d at %s: %w", name,
			fi.Size(), fi.ModTime().UTC().Format(time.RFC3339), size, mod.UTC().Format(time.RFC3339), jobs.ErrChanged)
	}
	return nil
}

// Ack uploads body into the bank's outbox under a temporary name and
// renames it into place, so the bank never reads half an acknowledgement,
// and never over an existing one: an acknowledgement already there with
// the same bytes (written before a crash) counts as written, one with
// other bytes is jobs.ErrAckExists and stays as it is. The rename is
// SSH_FXP_RENAME, which SFTP servers refuse onto an existing name (the
// check before it covers a server that does not); only the settlement
// system writes into a bank's outbox.
func (r *Remote) Ack(ctx context.Context, f jobs.InboxFile, name string, body []byte) error {
	if err := r.check(f); err != nil {
		return err
	}
	if !validName(name) {
		return fmt.Errorf("ack %q: %w", name, ErrBadName)
	}
	if len(body) > ackBytesMax {
		return fmt.Errorf("ack %q: %d bytes, more than %d", name, len(body), ackBytesMax)
	}
	dst := path.Join(r.cfg.OutboxDir, name)
	written := false
	err := r.with(ctx, func(c *pkgsftp.Client) error {
		same := func() (bool, bool, error) { // exists, same bytes
			fh, err := c.Open(dst)
			if errors.Is(err, fs.ErrNotExist) {
				return false, false, nil
			}
			if err != nil {
				return false, false, err
			}
			defer fh.Close()
			b, err := io.ReadAll(io.LimitReader(fh, ackBytesMax+1))
			if err != nil {
				return true, false, err
			}
			return true, bytes.Equal(b, body), nil
		}
		check := func() error {
			exists, eq, err := same()
			switch {
			case err != nil:
				return fmt.Errorf("sftp remote %s: %w", dst, err)
			case exists && !eq:
				return fmt.Errorf("sftp remote %s: %w", dst, jobs.ErrAckExists)
			case exists:
				return nil
			}
			return fs.ErrNotExist
		}
		if err := check(); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		tmp := dst + ".part"
		if err := uploadRemote(c, tmp, body); err != nil {
			return err
		}
		if err := c.Rename(tmp, dst); err != nil {
			c.Remove(tmp)
			if cerr := check(); !errors.Is(cerr, fs.ErrNotExist) {
				return cerr // it appeared meanwhile
			}
			return fmt.Errorf("sftp remote %s: rename: %w", dst, err)
		}
		written = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	if written {
		r.log.Info("ack written", "file", f.Name, "name", name, "size", len(body))
	} else {
		r.log.Info("ack already written", "file", f.Name, "name", name)
	}
	return nil
}

// uploadRemote writes body to the remote file p, whole, or removes it.
func uploadRemote(c *pkgsftp.Client, p string, body []byte) error {
	w, err := c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("sftp remote %s: %w", p, err)
	}
	if _, err := io.Copy(w, bytes.NewReader(body)); err != nil {
		w.Close()
		c.Remove(p)
		return fmt.Errorf("sftp remote %s: %w", p, err)
	}
	if err := w.Close(); err != nil {
		c.Remove(p)
		return fmt.Errorf("sftp remote %s: %w", p, err)
	}
	return nil
}

// Put writes a report (positions, a deferral notice) into the bank's
// outbox on its own server, whole or not at all, like Ack.
func (r *Remote) Put(ctx context.Context, bank settlement.BIC, name string, body []byte) error {
	if bank != r.cfg.Bank {
		return fmt.Errorf("sftp remote: report for %s asked from the pull of %s", bank, r.cfg.Bank)
	}
	if err := r.put(ctx, name, body); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	r.log.Info("report written", "name", name, "size", len(body))
	return nil
}

// ErrRemoteKeeps: the scheme does not delete files on a bank's own server;
// what it was given stays until the bank's operator removes it
// (jobs.Inboxes.Remove leaves a remote bank's outbox alone).
var ErrRemoteKeeps = errors.New("sftp remote: a bank's own server keeps what it was given; its operator removes it")

// Remove refuses: see ErrRemoteKeeps. It is part of jobs.BankInbox so that
// no wiring finds the capability missing by surprise.
func (r *Remote) Remove(_ context.Context, bank settlement.BIC, name string) error {
	return fmt.Errorf("%s of %s: %w", name, bank, ErrRemoteKeeps)
}

func (r *Remote) put(ctx context.Context, name string, body []byte) error {
	if !validName(name) {
		return fmt.Errorf("%q: %w", name, ErrBadName)
	}
	if len(body) > ackBytesMax {
		return fmt.Errorf("%q: %d bytes, more than %d", name, len(body), ackBytesMax)
	}
	dst := path.Join(r.cfg.OutboxDir, name)
	return r.with(ctx, func(c *pkgsftp.Client) error {
		_, err := writeRemote(c, dst, bytes.NewReader(body))
		return err
	})
}

// Done appends f to the taken record (fsynced) and drops its staged copies.
func (r *Remote) Done(ctx context.Context, f jobs.InboxFile) error {
	if err := r.check(f); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := takenKey(f.Name, f.Size, f.ModTime)
	if r.taken[key] {
		return nil
	}
	rec := takenRecord{Name: f.Name, Size: f.Size, ModTime: f.ModTime.UTC(), SHA256: r.staged[f.Name],
		SigSHA256: r.staged[f.SigName()], TakenAt: time.Now().UTC()}
	if rec.SHA256 == "" {
		rec.SHA256 = f.SHA256
	}
	if err := journal.Append(r.takenFile(), rec); err != nil {
		return fmt.Errorf("sftp remote: taken record: %w", err)
	}
	r.taken[key] = true
	for _, n := range []string{f.Name, f.SigName()} {
		os.Remove(r.stagedPath(n))
		delete(r.staged, n)
	}
	r.log.Info("file taken", "file", f.Name, "size", f.Size, "sha256", rec.SHA256)
	return nil
}

// writeRemote writes src to dst on the bank's server the way a file appears
// whole there: into dst.part, then renamed (the .part removed on any failure).
func writeRemote(c *pkgsftp.Client, dst string, src io.Reader) (int64, error) {
	tmp := dst + ".part"
	w, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return 0, fmt.Errorf("sftp remote %s: %w", dst, err)
	}
	n, err := io.Copy(w, src)
	if err != nil {
		w.Close()
		c.Remove(tmp)
		return n, fmt.Errorf("sftp remote %s: %w", dst, err)
	}
	if err := w.Close(); err != nil {
		c.Remove(tmp)
		return n, fmt.Errorf("sftp remote %s: %w", dst, err)
	}
	if err := c.PosixRename(tmp, dst); err != nil {
		c.Remove(tmp)
		return n, fmt.Errorf("sftp remote %s: rename: %w", dst, err)
	}
	return n, nil
}
