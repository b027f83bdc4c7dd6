package sftp

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"settle/adapters/journal"
)

// hostKeyBytesMax bounds the host key file read at start.
const hostKeyBytesMax = 16 << 10

// loadOrCreateHostKey returns the server's ed25519 host key, creating it
// once (0600, fsynced) so that banks' known_hosts entries stay valid across
// restarts. A key file readable by group or others is refused, as sshd does.
func loadOrCreateHostKey(file string) (ssh.Signer, error) {
	s, err := readHostKey(file)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "settle sftpd host key")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readHostKey(file) // another process won the race
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(pem.EncodeToMemory(block)); err != nil {
		f.Close()
		os.Remove(file)
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := journal.SyncDir(filepath.Dir(file)); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

func readHostKey(file string) (ssh.Signer, error) {
	fi, err := os.Lstat(file)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("host key %s: not a regular file", file)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("host key %s: mode %v is open to others; want 0600", file, fi.Mode().Perm())
	}
	if fi.Size() > hostKeyBytesMax {
		return nil, fmt.Errorf("host key %s: larger than %d bytes", file, hostKeyBytesMax)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w", file, err)
	}
	return s, nil
}
