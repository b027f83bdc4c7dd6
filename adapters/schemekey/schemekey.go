// Package schemekey keeps the scheme's own Ed25519 signing keys and signs
// every file the scheme writes into an outbox (payment-files.md, "Files
// the scheme writes"): the detached <file>.sig holds the standard base64
// of the 64-byte Ed25519 signature over the file's exact bytes, the same
// encoding banks use, so `openssl pkeyutl -verify -rawin` checks it.
//
// A key folder holds one PKCS#8 PEM private key per label
// (<label>.key, mode 0600) and a file "active" naming the key that signs.
// Rotation is two steps, each a command of the binary:
//
//  1. Rotate makes a new key and makes it the one that signs; the old one
//     stays published, so every outbox holds scheme.<old>.pem and
//     scheme.<new>.pem, and the new key's PEM is signed by the old key a
//     bank already trusts.
//  2. Retire, once every bank has the new key, moves the old private key
//     to retired/ and stops publishing it.
//
// Files larger than memory are signed from disk in two passes (Ed25519
// hashes the message twice), with the same result as crypto/ed25519.
package schemekey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"filippo.io/edwards25519"

	"settle/adapters/journal"
)

// Errors.
var (
	ErrLabel    = errors.New("key label must be 1-16 characters [a-z0-9-], starting with a letter or digit")
	ErrNoKey    = errors.New("no scheme signing key: run `settle scheme key init`")
	ErrExists   = errors.New("a scheme key with that label exists")
	ErrActive   = errors.New("the active key cannot be retired: rotate first")
	ErrKeyFile  = errors.New("scheme key file")
	ErrUnknown  = errors.New("no scheme key with that label")
	labelRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,15}$`)
	keyBytesMax = int64(16 << 10)
)

const activeFile = "active"

// PEMName is the outbox name of a published public key.
func PEMName(label string) string { return "scheme." + label + ".pem" }

// SigName is the name of a file's detached signature.
func SigName(name string) string { return name + ".sig" }

// Key is one of the scheme's signing keys.
type Key struct {
	Label   string
	private ed25519.PrivateKey
}

// Public is the public key.
func (k *Key) Public() ed25519.PublicKey { return k.private.Public().(ed25519.PublicKey) }

// PublicPEM is the public key as a PEM PUBLIC KEY (PKIX), as members
// register theirs and as OpenSSL reads it.
func (k *Key) PublicPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		panic(err) // an Ed25519 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// Sign is the .sig file of body: base64 of the signature and a newline.
func (k *Key) Sign(body []byte) []byte { return encode(ed25519.Sign(k.private, body)) }

func encode(sig []byte) []byte {
	return append([]byte(base64.StdEncoding.EncodeToString(sig)), '\n')
}

// SignFile is the .sig file of the file at path, read twice and never
// held in memory (RFC 8032: r = SHA-512(prefix || M), R = [r]B,
// k = SHA-512(R || A || M), S = r + k*s).
func (k *Key) SignFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return k.SignReaderAt(f)
}

// SignReaderAt signs the content of r (see SignFile), reading it twice.
func (k *Key) SignReaderAt(r io.ReaderAt) ([]byte, error) {
	seed := k.private.Seed()
	h := sha512.Sum512(seed)
	s, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		return nil, err
	}
	pass := func(prefix ...[]byte) ([]byte, error) {
		d := sha512.New()
		for _, p := range prefix {
			d.Write(p)
		}
		if _, err := io.Copy(d, io.NewSectionReader(r, 0, 1<<62)); err != nil {
			return nil, err
		}
		return d.Sum(nil), nil
	}
	rd, err := pass(h[32:])
	if err != nil {
		return nil, err
	}
	rs, err := edwards25519.NewScalar().SetUniformBytes(rd)
	if err != nil {
		return nil, err
	}
	R := new(edwards25519.Point).ScalarBaseMult(rs).Bytes()
	kd, err := pass(R, k.Public())
	if err != nil {
		return nil, err
	}
	ks, err := edwards25519.NewScalar().SetUniformBytes(kd)
	if err != nil {
		return nil, err
	}
	S := edwards25519.NewScalar().MultiplyAdd(ks, s, rs)
	return encode(append(R, S.Bytes()...)), nil
}

// Dir is a folder of the scheme's keys.
type Dir struct{ Path string }

// Set is what a key folder holds: the key that signs and every key
// published (the active one included), in label order.
type Set struct {
	Active    *Key
	Published []*Key
}

func (d Dir) keyPath(label string) string { return filepath.Join(d.Path, label+".key") }

// Init makes the first key, labelled label; a folder with keys is left
// as it is (ErrExists).
func (d Dir) Init(label string) (*Key, error) {
	if s, err := d.Load(); err == nil && s.Active != nil {
		return nil, fmt.Errorf("%w: %s is active", ErrExists, s.Active.Label)
	}
	return d.add(label)
}

// Rotate makes a new key labelled label the one that signs; the one that
// signed so far stays published until Retire.
func (d Dir) Rotate(label string) (*Key, error) {
	if _, err := d.Load(); err != nil {
		return nil, err
	}
	return d.add(label)
}

func (d Dir) add(label string) (*Key, error) {
	if !labelRe.MatchString(label) {
		return nil, fmt.Errorf("%q: %w", label, ErrLabel)
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return nil, err
	}
	for _, p := range []string{d.keyPath(label), filepath.Join(d.Path, "retired", label+".key")} {
		if _, err := os.Stat(p); err == nil {
			return nil, fmt.Errorf("%w: %s", ErrExists, label)
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	body := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := journal.WriteFile(d.keyPath(label), body, 0o600); err != nil {
		return nil, err
	}
	if err := journal.WriteFile(filepath.Join(d.Path, activeFile), []byte(label+"\n"), 0o600); err != nil {
		return nil, err
	}
	return &Key{Label: label, private: priv}, nil
}

// Retire stops publishing a key that no longer signs.
func (d Dir) Retire(label string) error {
	s, err := d.Load()
	if err != nil {
		return err
	}
	if s.Active.Label == label {
		return fmt.Errorf("%w: %s", ErrActive, label)
	}
	if _, err := os.Stat(d.keyPath(label)); err != nil {
		return fmt.Errorf("%w: %s", ErrUnknown, label)
	}
	if err := os.MkdirAll(filepath.Join(d.Path, "retired"), 0o700); err != nil {
		return err
	}
	return os.Rename(d.keyPath(label), filepath.Join(d.Path, "retired", label+".key"))
}

// Load reads the folder.
func (d Dir) Load() (*Set, error) {
	b, err := os.ReadFile(filepath.Join(d.Path, activeFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, err
	}
	active := strings.TrimSpace(string(b))
	ents, err := os.ReadDir(d.Path)
	if err != nil {
		return nil, err
	}
	s := &Set{}
	for _, e := range ents {
		label, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok || e.IsDir() {
			continue
		}
		if !labelRe.MatchString(label) {
			return nil, fmt.Errorf("%w %s: %w", ErrKeyFile, e.Name(), ErrLabel)
		}
		k, err := readKey(d.keyPath(label), label)
		if err != nil {
			return nil, err
		}
		s.Published = append(s.Published, k)
		if label == active {
			s.Active = k
		}
	}
	if s.Active == nil {
		return nil, fmt.Errorf("%w: active key %q has no file", ErrNoKey, active)
	}
	sort.Slice(s.Published, func(i, j int) bool { return s.Published[i].Label < s.Published[j].Label })
	return s, nil
}

func readKey(path, label string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w %s: readable by others (mode %04o); chmod 600 it", ErrKeyFile, path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, keyBytesMax))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w %s: not a PEM PRIVATE KEY", ErrKeyFile, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrKeyFile, path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w %s: not an Ed25519 key", ErrKeyFile, path)
	}
	return &Key{Label: label, private: priv}, nil
}

// Signer signs with a folder's active key, reading the folder again when
// its "active" file changes: a key rotated by `settle scheme key rotate`
// signs in a running service from its next file on.
type Signer struct {
	Dir Dir

	mu    sync.Mutex
	stamp string
	set   *Set
}

// Keys are the folder's keys as they stand now.
func (s *Signer) Keys() (*Set, error) {
	fi, err := os.Stat(filepath.Join(s.Dir.Path, activeFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoKey
		}
		return nil, err
	}
	ents, _ := os.ReadDir(s.Dir.Path)
	stamp := fmt.Sprint(fi.ModTime().UnixNano(), fi.Size())
	for _, e := range ents {
		stamp += "/" + e.Name()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set != nil && stamp == s.stamp {
		return s.set, nil
	}
	set, err := s.Dir.Load()
	if err != nil {
		return nil, err
	}
	s.set, s.stamp = set, stamp
	return set, nil
}

// Sign is the .sig file of body under the active key.
func (s *Signer) Sign(body []byte) ([]byte, error) {
	set, err := s.Keys()
	if err != nil {
		return nil, err
	}
	return set.Active.Sign(body), nil
}

// SignFile is the .sig file of the file at path under the active key.
func (s *Signer) SignFile(path string) ([]byte, error) {
	set, err := s.Keys()
	if err != nil {
		return nil, err
	}
	return set.Active.SignFile(path)
}

// Verify tells whether sig (a .sig file's bytes) is the signature of body
// under one of the published keys; for tests and `settle scheme verify`.
func (s *Set) Verify(body, sigFile []byte) (string, bool) {
	sig, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(sigFile)))
	if err != nil {
		return "", false
	}
	for _, k := range s.Published {
		if ed25519.Verify(k.Public(), body, sig) {
			return k.Label, true
		}
	}
	return "", false
}

// Retired are the labels of the keys retired, in label order.
func (d Dir) Retired() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(d.Path, "retired"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if l, ok := strings.CutSuffix(e.Name(), ".key"); ok && labelRe.MatchString(l) {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out, nil
}
