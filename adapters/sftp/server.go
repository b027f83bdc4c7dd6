package sftp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"settle/settlement"
)

// Role is what a login may do in its bank's tree.
type Role int

const (
	// RoleBank is a member bank: it writes into inbox/ and reads outbox/.
	RoleBank Role = iota
	// RoleCollector is the other side of a pull: it reads inbox/ and writes
	// outbox/. It exists so that this server can stand in for a bank's own
	// SFTP server (the pull adapter's tests run against it).
	RoleCollector
)

func (r Role) String() string {
	if r == RoleCollector {
		return "collector"
	}
	return "bank"
}

// User is one SFTP login. Every user is bound to exactly one bank's tree.
type User struct {
	// Login is the SSH user name; it defaults to the bank's BIC.
	Login string
	Bank  settlement.BIC
	Role  Role
	// AuthorizedKeys are accepted in addition to the keys in
	// <root>/users/<login>/authorized_keys, which is read at every login so
	// that a key rotation needs no restart.
	AuthorizedKeys []ssh.PublicKey
}

// Config is the server's configuration. Zero limits take the defaults below.
type Config struct {
	Root  string
	Users []User

	FileBytesMax       int64         // largest file a bank may upload
	InboxBytesMax      int64         // bytes in one inbox, uploads in progress included (quota)
	InboxFilesMax      int           // files in one inbox, uploads in progress included
	SessionsPerBankMax int           // concurrent SFTP sessions of one bank
	ConnectionsMax     int           // concurrent connections, authenticated or not
	IdleTimeout        time.Duration // a connection silent this long is closed
	HandshakeTimeout   time.Duration // time to finish key exchange and login (pre-auth deadline)
	LoginFailuresMax   int           // failed logins of one user from one source address ...
	LoginFailureWindow time.Duration // ... within this window lock that user out from that source for it

	// ConnectionsPerSourceMax bounds the connections of one source
	// address, logged in or not, so that one address cannot take the
	// slots every bank needs.
	ConnectionsPerSourceMax int
	// A source with LoginBackoffAfter failed logins in the window (any
	// user) waits LoginBackoffBase after its latest failure before its
	// next connection is served, doubling with each further failure up to
	// LoginBackoffMax.
	LoginBackoffAfter int
	LoginBackoffBase  time.Duration
	LoginBackoffMax   time.Duration

	// Now is the clock of lockouts and backoff; nil is time.Now. Socket
	// deadlines always use the machine's clock.
	Now func() time.Time
	// OnPreAuthDrop, if set, is told of every connection dropped before
	// login, with the reason (a metric).
	OnPreAuthDrop func(reason string)

	Logger *slog.Logger
}

// Defaults for the limits in Config.
const (
	FileBytesMaxDefault       = 64 << 20
	InboxBytesMaxDefault      = 1 << 30
	InboxFilesMaxDefault      = 1000
	SessionsPerBankMaxDefault = 4
	ConnectionsMaxDefault     = 256
	IdleTimeoutDefault        = 5 * time.Minute
	HandshakeTimeoutDefault   = 10 * time.Second
	LoginFailuresMaxDefault   = 10
	LoginFailureWindowDefault = 15 * time.Minute

	ConnectionsPerSourceMaxDefault = 16
	LoginBackoffAfterDefault       = 3
	LoginBackoffBaseDefault        = time.Second
	LoginBackoffMaxDefault         = time.Minute
)

// Reasons a connection is dropped before login (OnPreAuthDrop, logs).
const (
	DropTooManyConnections = "too_many_connections"
	DropSourceCap          = "source_connections_max"
	DropBackoff            = "source_backoff"
	DropHandshakeTimeout   = "handshake_timeout"
	DropHandshakeFailed    = "handshake_failed"
	DropLoginFailed        = "login_failed"
)

// authorizedKeysBytesMax bounds an authorized_keys file.
const authorizedKeysBytesMax = 64 << 10

// acceptRetryDelay is the pause after a failed accept.
const acceptRetryDelay = 100 * time.Millisecond

// listEntriesMax bounds one directory listing sent to a client.
const listEntriesMax = 10000

// Server is the built-in SFTP server.
type Server struct {
	cfg     Config
	lay     layout
	hostKey ssh.Signer
	log     *slog.Logger
	users   map[string]User

	bankLocks map[settlement.BIC]*sync.Mutex

	mu       sync.Mutex
	sessions map[settlement.BIC]int
	conns    map[net.Conn]struct{}

	guard   *guard
	connSem chan struct{}
}

// NewServer checks cfg, creates the folder tree of every bank and loads or
// creates the persistent host key.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Root == "" {
		return nil, errors.New("sftp: Config.Root is empty")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, err
	}
	cfg.Root = root
	setDefault(&cfg.FileBytesMax, FileBytesMaxDefault)
	setDefault(&cfg.InboxBytesMax, InboxBytesMaxDefault)
	setDefault(&cfg.InboxFilesMax, InboxFilesMaxDefault)
	setDefault(&cfg.SessionsPerBankMax, SessionsPerBankMaxDefault)
	setDefault(&cfg.ConnectionsMax, ConnectionsMaxDefault)
	setDefault(&cfg.IdleTimeout, IdleTimeoutDefault)
	setDefault(&cfg.HandshakeTimeout, HandshakeTimeoutDefault)
	setDefault(&cfg.LoginFailuresMax, LoginFailuresMaxDefault)
	setDefault(&cfg.LoginFailureWindow, LoginFailureWindowDefault)
	setDefault(&cfg.ConnectionsPerSourceMax, ConnectionsPerSourceMaxDefault)
	setDefault(&cfg.LoginBackoffAfter, LoginBackoffAfterDefault)
	setDefault(&cfg.LoginBackoffBase, LoginBackoffBaseDefault)
	setDefault(&cfg.LoginBackoffMax, LoginBackoffMaxDefault)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		cfg:       cfg,
		lay:       layout{root: root},
		log:       cfg.Logger.With("component", "sftpd"),
		users:     make(map[string]User),
		bankLocks: make(map[settlement.BIC]*sync.Mutex),
		sessions:  make(map[settlement.BIC]int),
		conns:     make(map[net.Conn]struct{}),
		guard:     newGuard(cfg),
		connSem:   make(chan struct{}, cfg.ConnectionsMax),
	}
	for _, u := range cfg.Users {
		if _, err := settlement.ParseBIC(string(u.Bank)); err != nil {
			return nil, fmt.Errorf("sftp: user %q: %w", u.Login, err)
		}
		if u.Login == "" {
			u.Login = string(u.Bank)
		}
		if !validName(u.Login) {
			return nil, fmt.Errorf("sftp: login %q: %w", u.Login, ErrBadName)
		}
		if _, dup := s.users[u.Login]; dup {
			return nil, fmt.Errorf("sftp: login %q configured twice", u.Login)
		}
		s.users[u.Login] = u
		if s.bankLocks[u.Bank] == nil {
			s.bankLocks[u.Bank] = new(sync.Mutex)
			if err := s.lay.ensure(u.Bank); err != nil {
				return nil, fmt.Errorf("sftp: bank %s: %w", u.Bank, err)
			}
		}
	}
	s.hostKey, err = loadOrCreateHostKey(s.lay.hostKeyFile())
	if err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	return s, nil
}

func setDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// HostKey is the server's public host key, for a known_hosts line.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection and returns once all of them are finished.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	s.log.Info("sftp server listening", "addr", ln.Addr().String(), "host_key", ssh.FingerprintSHA256(s.HostKey()))
	s.serveAdmin(ctx, &wg)
	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				err = nil
				break
			}
			if errors.Is(err, net.ErrClosed) {
				break
			}
			// Out of file descriptors and the like: wait and go on
			// rather than take the server down for every bank.
			s.log.Error("accept failed", "err", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(acceptRetryDelay):
			}
			continue
		}
		source := sourceOf(c.RemoteAddr())
		select {
		case s.connSem <- struct{}{}:
		default:
			s.preAuthDrop(source, DropTooManyConnections, "max", s.cfg.ConnectionsMax)
			c.Close()
			continue
		}
		if !s.guard.connect(source) {
			<-s.connSem
			s.preAuthDrop(source, DropSourceCap, "max", s.cfg.ConnectionsPerSourceMax)
			c.Close()
			continue
		}
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			s.guard.disconnect(source)
			<-s.connSem
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-s.connSem }()
			defer s.guard.disconnect(source)
			s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
	wg.Wait()
	s.log.Info("sftp server stopped")
	return err
}

// serveConn runs one SSH connection from handshake to close.
func (s *Server) serveConn(raw net.Conn) {
	defer raw.Close()
	source := sourceOf(raw.RemoteAddr())
	if wait := s.guard.backoff(source); wait > 0 {
		s.preAuthDrop(source, DropBackoff, "wait", wait.String())
		return
	}
	conn := &idleConn{Conn: raw, idle: s.cfg.IdleTimeout}
	conn.hard.Store(time.Now().Add(s.cfg.HandshakeTimeout).UnixNano())
	login := &loginAttempt{s: s, source: source}
	sc, chans, reqs, err := ssh.NewServerConn(conn, login.config())
	if err != nil {
		login.failed(err)
		return
	}
	conn.hard.Store(0)
	defer sc.Close()
	u := s.users[sc.User()]
	log := s.log.With("bank", string(u.Bank), "login", u.Login, "role", u.Role.String(), "source", source)
	log.Info("login ok", "key", sc.Permissions.Extensions["key"])
	go ssh.DiscardRequests(reqs) // no tcpip-forward, no keepalive games
	s.serveChannels(chans, u, log)
	log.Info("logout")
}

// loginAttempt is one connection's authentication, with what it counts
// against its source and user.
//
// A connection that fails to log in counts once against its source and
// its user. It is counted at its first refused attempt, and taken back
// when it then offers an authorized key (a client that tries a wrong
// key first), each time before the client hears the answer, so the
// client's next connection always meets the count.
type loginAttempt struct {
	s      *Server
	source string
	tried  string // the last user name this connection tried to log in as

	counted     time.Time
	countedUser string
	// A login refused only because its user is locked out from this
	// source is not counted again: otherwise the bank's own retries would
	// keep it locked for ever.
	lockedOut bool
}

// count counts the connection's failure, once, against its source and
// (if the user exists) its user, and warns when that locks the user out.
func (l *loginAttempt) count(user string) {
	s := l.s
	if !l.counted.IsZero() || l.lockedOut {
		return
	}
	l.counted = s.cfg.Now()
	if _, known := s.users[user]; known {
		l.countedUser = user
	}
	s.guard.fail(l.source, l.countedUser, l.counted)
	if l.countedUser != "" && s.guard.lockedPair(l.source, l.countedUser) {
		s.log.Warn("user locked out from source after failed logins", "user", l.countedUser, "source", l.source,
			"failures_max", s.cfg.LoginFailuresMax, "window", s.cfg.LoginFailureWindow.String())
	}
}

// uncount takes the connection's counted failure back.
func (l *loginAttempt) uncount() {
	if l.counted.IsZero() {
		return
	}
	l.s.guard.unfail(l.source, l.countedUser, l.counted)
	l.counted, l.countedUser = time.Time{}, ""
}

// config is the connection's SSH server configuration: public keys only,
// each attempt counted as above.
func (l *loginAttempt) config() *ssh.ServerConfig {
	s := l.s
	cfg := &ssh.ServerConfig{
		ServerVersion: "SSH-2.0-settle",
		MaxAuthTries:  6,
		PublicKeyCallback: func(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			l.tried = md.User()
			perms, err := s.authorize(l.source, md.User(), key)
			if err == nil {
				l.uncount() // a failed signature with this key counts again
			}
			if errors.Is(err, errLockedOut) {
				l.lockedOut = true
			}
			return perms, err
		},
		AuthLogCallback: func(md ssh.ConnMetadata, method string, err error) {
			l.tried = md.User()
			if err != nil && method != "none" { // "none" is every client's opening probe
				l.count(l.tried)
			}
		},
	}
	cfg.AddHostKey(s.hostKey)
	return cfg
}

// failed records a handshake that did not end in a login: a timeout, a
// refused login, or a broken handshake, each its own drop reason.
func (l *loginAttempt) failed(err error) {
	s := l.s
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		if l.tried != "" {
			l.count(l.tried)
		}
		s.preAuthDrop(l.source, DropHandshakeTimeout, "user", l.tried, "timeout", s.cfg.HandshakeTimeout.String())
	case l.tried != "":
		l.count(l.tried)
		s.log.Warn("login failed", "user", l.tried, "source", l.source, "err", err.Error())
		s.countDrop(DropLoginFailed)
	default:
		s.preAuthDrop(l.source, DropHandshakeFailed, "err", err.Error())
	}
}

// serveChannels serves the sftp sessions a logged-in user opens, up to
// the bank's sessions maximum, until the connection closes, and returns
// when every session has ended.
func (s *Server) serveChannels(chans <-chan ssh.NewChannel, u User, log *slog.Logger) {
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			log.Warn("channel refused", "type", nc.ChannelType())
			nc.Reject(ssh.Prohibited, "only sftp sessions are served")
			continue
		}
		if !s.acquireSession(u.Bank) {
			log.Warn("session refused: too many sessions", "max", s.cfg.SessionsPerBankMax)
			nc.Reject(ssh.ResourceShortage, "too many sessions for this bank")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			s.releaseSession(u.Bank)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.releaseSession(u.Bank)
			s.serveSession(ch, creqs, u, log)
		}()
	}
	wg.Wait()
}

// errLockedOut refuses a login of a user locked out from its source.
var errLockedOut = errors.New("user locked out from this source after failed logins")

// authorize is the public-key check. Passwords and keyboard-interactive
// are not configured at all, so the SSH library refuses them.
func (s *Server) authorize(source, login string, key ssh.PublicKey) (*ssh.Permissions, error) {
	u, ok := s.users[login]
	if !ok {
		return nil, errors.New("unknown user")
	}
	if s.guard.lockedPair(source, login) {
		s.log.Warn("login refused: user locked out from this source after failed logins", "user", login, "source", source)
		return nil, errLockedOut
	}
	want := key.Marshal()
	keys := append([]ssh.PublicKey(nil), u.AuthorizedKeys...)
	fileKeys, err := readAuthorizedKeys(filepath.Join(s.lay.usersDir(), login, "authorized_keys"))
	if err != nil {
		s.log.Error("authorized_keys unreadable", "login", login, "err", err.Error())
	}
	keys = append(keys, fileKeys...)
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), want) {
			return &ssh.Permissions{Extensions: map[string]string{"key": ssh.FingerprintSHA256(key)}}, nil
		}
	}
	return nil, errors.New("key not authorized")
}

// readAuthorizedKeys parses an OpenSSH authorized_keys file; a missing
// file is no keys. Options in the file are ignored: every key of a bank
// gets the same jail.
func readAuthorizedKeys(file string) ([]ssh.PublicKey, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, authorizedKeysBytesMax+1))
	if err != nil {
		return nil, err
	}
	if len(b) > authorizedKeysBytesMax {
		return nil, fmt.Errorf("%s: larger than %d bytes", file, authorizedKeysBytesMax)
	}
	var keys []ssh.PublicKey
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), authorizedKeysBytesMax)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey(line)
		if err != nil {
			return keys, fmt.Errorf("%s: %w", file, err)
		}
		keys = append(keys, k)
	}
	return keys, sc.Err()
}

func (s *Server) acquireSession(b settlement.BIC) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[b] >= s.cfg.SessionsPerBankMax {
		return false
	}
	s.sessions[b]++
	return true
}

func (s *Server) releaseSession(b settlement.BIC) {
	s.mu.Lock()
	s.sessions[b]--
	s.mu.Unlock()
}

// serveSession answers the requests of one session channel: the sftp
// subsystem is started once; shell, exec, pty, env, x11 and agent
// forwarding are all refused.
func (s *Server) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, u User, log *slog.Logger) {
	defer ch.Close()
	done := make(chan struct{})
	started := false
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				if started {
					<-done
				}
				return
			}
			if req.Type == "subsystem" && !started && isSFTPSubsystem(req.Payload) {
				started = true
				req.Reply(true, nil)
				go func() {
					defer close(done)
					s.runSFTP(ch, u, log)
					ch.Close()
				}()
				continue
			}
			// OpenSSH clients send env (LANG, LC_*) on every login: not
			// worth a warning. Anything else is someone trying something.
			level := slog.LevelWarn
			if req.Type == "env" {
				level = slog.LevelDebug
			}
			log.Log(context.Background(), level, "session request refused", "type", req.Type)
			req.Reply(false, nil)
		case <-done:
			// The sftp server ended (client closed it); drain what is
			// left of the requests so the SSH library is not blocked.
			go ssh.DiscardRequests(reqs)
			return
		}
	}
}

func isSFTPSubsystem(payload []byte) bool {
	var p struct{ Name string }
	return ssh.Unmarshal(payload, &p) == nil && p.Name == "sftp"
}

func (s *Server) runSFTP(ch ssh.Channel, u User, log *slog.Logger) {
	h := &handlers{srv: s, user: u, jail: s.lay.bankDir(u.Bank), log: log}
	rs := pkgsftp.NewRequestServer(ch, pkgsftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h},
		pkgsftp.WithStartDirectory("/"))
	if err := rs.Serve(); err != nil && !errors.Is(err, io.EOF) {
		log.Info("sftp session ended", "err", err.Error())
	}
	rs.Close()
}

// idleConn closes a connection that has been silent for idle: every read
// and write pushes its deadline forward, but never past hard (unix nanos,
// 0 for none), which bounds the handshake however slowly a client talks.
type idleConn struct {
	net.Conn
	idle time.Duration
	hard atomic.Int64
}

func (c *idleConn) deadline() time.Time {
	d := time.Now().Add(c.idle)
	if h := c.hard.Load(); h != 0 && h < d.UnixNano() {
		return time.Unix(0, h)
	}
	return d
}

func (c *idleConn) Read(b []byte) (int, error) {
	c.Conn.SetReadDeadline(c.deadline())
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	c.Conn.SetWriteDeadline(c.deadline())
	return c.Conn.Write(b)
}

func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return a.String()
}

// failureTracker counts failed logins per key (a source address or a
// user) in a sliding window. A key with max failures in the window is
// locked until the oldest of them ages out. The map is bounded: when it
// is full, expired keys are dropped, then new keys are not tracked, which
// only weakens the lockout for an attacker that already spreads over
// trackedKeysMax addresses.
type failureTracker struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	m      map[string][]time.Time
}

const trackedKeysMax = 10000

func newFailureTracker(max int, window time.Duration) *failureTracker {
	return &failureTracker{max: max, window: window, m: make(map[string][]time.Time)}
}

func (f *failureTracker) add(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := f.recent(key, now)
	if ts == nil && len(f.m) >= trackedKeysMax {
		for k := range f.m {
			if len(f.recent(k, now)) == 0 {
				delete(f.m, k)
			}
		}
		if len(f.m) >= trackedKeysMax {
			return
		}
	}
	if len(ts) >= f.max {
		ts = ts[1:]
	}
	f.m[key] = append(ts, now)
}

// remove takes back the failure of key counted at t.
func (f *failureTracker) remove(key string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := f.m[key]
	for i, x := range ts {
		if x.Equal(t) {
			ts = append(ts[:i:i], ts[i+1:]...)
			break
		}
	}
	if len(ts) == 0 {
		delete(f.m, key)
		return
	}
	f.m[key] = ts
}

func (f *failureTracker) locked(key string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recent(key, now)) >= f.max
}

// recent drops the failures of key older than the window; f.mu is held.
func (f *failureTracker) recent(key string, now time.Time) []time.Time {
	ts := f.m[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= f.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(f.m, key)
		return nil
	}
	f.m[key] = ts
	return ts
}

// last returns how many failures key has in the window and the latest.
func (f *failureTracker) last(key string, now time.Time) (int, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := f.recent(key, now)
	if len(ts) == 0 {
		return 0, time.Time{}
	}
	return len(ts), ts[len(ts)-1]
}

// first returns how many failures key has in the window and the oldest.
func (f *failureTracker) first(key string, now time.Time) (int, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := f.recent(key, now)
	if len(ts) == 0 {
		return 0, time.Time{}
	}
	return len(ts), ts[0]
}

// keys lists the keys with failures in the window.
func (f *failureTracker) keys(now time.Time) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.m {
		if len(f.recent(k, now)) > 0 {
			out = append(out, k)
		}
	}
	return out
}

// forget drops every failure of key.
func (f *failureTracker) forget(key string) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
}

// forgetPrefix drops every failure of the keys starting with prefix.
func (f *failureTracker) forgetPrefix(prefix string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.m {
		if strings.HasPrefix(k, prefix) {
			delete(f.m, k)
		}
	}
}

// preAuthDrop logs and counts a connection dropped before login.
func (s *Server) preAuthDrop(source, reason string, args ...any) {
	s.log.Warn("connection dropped before login", append([]any{"source", source, "reason", reason}, args...)...)
	s.countDrop(reason)
}

func (s *Server) countDrop(reason string) {
	s.guard.drop(reason)
	if s.cfg.OnPreAuthDrop != nil {
		s.cfg.OnPreAuthDrop(reason)
	}
}

// PreAuthDrops counts the connections dropped before login, by reason.
func (s *Server) PreAuthDrops() map[string]int64 { return s.guard.dropCounts() }

// Lockouts lists the lockouts in force: users locked out from a source,
// and sources backing off.
func (s *Server) Lockouts() []Lockout { return s.guard.lockouts() }

// Unlock lifts the lockout of user from source (user "": every user from
// source) and the source's backoff, logs it with who asked, and returns
// how many locks it lifted.
func (s *Server) Unlock(source, user, by string) int {
	n := s.guard.unlock(source, user)
	s.log.Warn("lockout lifted by operator", "source", source, "user", user, "by", by, "lifted", n)
	return n
}
