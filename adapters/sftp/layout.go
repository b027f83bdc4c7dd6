// Package sftp is the settlement system's SFTP transport: a built-in SFTP
// server in which each bank is jailed in its own tree (inbox/ to upload
// into, outbox/ to read acknowledgements from), the storage adapter that
// lets the intake job collect from that tree, and a pull adapter that
// collects from a bank's own SFTP server. Both adapters implement
// jobs.Inbox.
//
// Folder tree under the root (the same for the server and the adapter):
//
//	banks/<BIC>/inbox/        bank uploads land here, whole files only
//	banks/<BIC>/outbox/       acknowledgements and reports for the bank
//	partial/<BIC>/            uploads in progress (never visible to a bank)
//	taken/<BIC>/              files the intake took, moved out of inbox/
//	state/ssh_host_ed25519_key
//	users/<login>/authorized_keys
package sftp

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	pkgsftp "github.com/pkg/sftp"

	"settle/settlement"
)

// Names of the two folders a bank sees.
const (
	inboxDir  = "inbox"
	outboxDir = "outbox"
)

// nameBytesMax bounds a file name in a bank's tree.
const nameBytesMax = 128

// layout names the folders of one storage root.
type layout struct{ root string }

func (l layout) bankDir(b settlement.BIC) string { return filepath.Join(l.root, "banks", string(b)) }
func (l layout) inbox(b settlement.BIC) string   { return filepath.Join(l.bankDir(b), inboxDir) }
func (l layout) outbox(b settlement.BIC) string  { return filepath.Join(l.bankDir(b), outboxDir) }
func (l layout) partial(b settlement.BIC) string { return filepath.Join(l.root, "partial", string(b)) }
func (l layout) taken(b settlement.BIC) string   { return filepath.Join(l.root, "taken", string(b)) }
func (l layout) hostKeyFile() string             { return filepath.Join(l.root, "state", "ssh_host_ed25519_key") }
func (l layout) usersDir() string                { return filepath.Join(l.root, "users") }

// ensure creates the folders of bank b.
func (l layout) ensure(b settlement.BIC) error {
	for _, d := range []string{l.inbox(b), l.outbox(b), l.partial(b), l.taken(b)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return err
		}
		fi, err := os.Lstat(d)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory (a symlink is refused)", d)
		}
	}
	return nil
}

// ErrBadName reports a file name a bank may not use.
var ErrBadName = errors.New("file name must be 1-128 characters [A-Za-z0-9._-], not starting with '.' or '-'")

// validName reports whether name may be a file in a bank's tree. The set
// is narrow on purpose: it covers every name the spec produces
// (<file_id>.csv, .xml, .sig, .ack.json) and leaves no room for hidden
// files, control characters or anything a shell or a path would read.
func validName(name string) bool {
	if name == "" || len(name) > nameBytesMax || name[0] == '.' || name[0] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// vpath is a path inside a bank's jail after cleaning: Dir is "" for the
// jail root, or inboxDir/outboxDir; Name is "" for a folder itself.
type vpath struct {
	Dir  string
	Name string
}

func (v vpath) String() string {
	switch {
	case v.Dir == "":
		return "/"
	case v.Name == "":
		return "/" + v.Dir
	}
	return "/" + v.Dir + "/" + v.Name
}

// parseVPath maps any path a client sends to a place in the jail, or
// fails. The path is cleaned as if rooted at "/", so ".." can never climb
// above the jail root; what remains must be "/", "/inbox", "/outbox" or
// a valid name directly inside one of those. Nothing else exists.
func parseVPath(p string) (vpath, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return vpath{}, errNoEntry(p)
	}
	clean := path.Clean("/" + p)
	rel := strings.TrimPrefix(clean, "/")
	if rel == "" {
		return vpath{}, nil
	}
	dir, name, _ := strings.Cut(rel, "/")
	if dir != inboxDir && dir != outboxDir {
		return vpath{}, errNoEntry(clean)
	}
	if name == "" {
		return vpath{Dir: dir}, nil
	}
	if strings.Contains(name, "/") || !validName(name) {
		return vpath{}, errNoEntry(clean)
	}
	return vpath{Dir: dir, Name: name}, nil
}

// hostPath joins a parsed path to the jail folder. It asserts what
// parseVPath promised: the result lies inside jail.
func hostPath(jail string, v vpath) string {
	p := filepath.Join(jail, v.Dir, v.Name)
	if p != jail && !strings.HasPrefix(p, jail+string(filepath.Separator)) {
		panic(fmt.Sprintf("sftp: path %q escapes jail %q", p, jail))
	}
	return p
}

// Errors sent to clients carry only the path the client sees, never a
// host path.
//
// A refusal goes out as SSH_FX_PERMISSION_DENIED with a message saying
// why (issue 12, item 9). SFTP version 3, the one OpenSSH speaks, has no
// FILE_ALREADY_EXISTS or QUOTA_EXCEEDED (those are version 5 and 6), and
// OpenSSH's sftp prints only the code's own text: "Permission denied"
// tells a bank it was refused, where "Failure" read as a fault of ours,
// and clients that show the message (WinSCP, FileZilla, pkg/sftp) show
// the reason. The errno stays in the chain for Go callers.
type refusal struct {
	msg   string
	errno syscall.Errno
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() []error {
	return []error{pkgsftp.ErrSSHFxPermissionDenied, r.errno}
}

func refuse(errno syscall.Errno, p, why string) error {
	return &refusal{msg: p + ": " + why, errno: errno}
}

func errNoEntry(p string) error    { return &os.PathError{Op: "open", Path: p, Err: syscall.ENOENT} }
func errDenied(op, p string) error { return &os.PathError{Op: op, Path: p, Err: syscall.EACCES} }
func errExists(op, p string) error {
	return refuse(syscall.EEXIST, p, "file already submitted: a complete pair (file and .sig) cannot be replaced, renamed or removed")
}
func errTooBig(op, p string) error { return refuse(syscall.EFBIG, p, "file too large") }
func errNoSpace(op, p string) error {
	return refuse(syscall.EDQUOT, p, "quota exceeded: this bank's inbox is full")
}
func errBadName(p string) error {
	return refuse(syscall.EINVAL, p, "invalid file name: "+ErrBadName.Error())
}

// cleanVirtual cleans p as a path rooted at "/".
func cleanVirtual(p string) string { return path.Clean("/" + p) }
