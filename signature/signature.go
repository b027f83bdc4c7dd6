// Package signature verifies the detached signatures banks send with their
// payment files (shared/spec/payment-files.md): Ed25519 over the file's
// bytes, or ECDSA P-256 (ASN.1 DER) over the file's SHA-256, base64 in a
// "<file>.sig" beside it. Verification streams: the file is read once,
// whatever its size, by the same pass that parses it.
package signature

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"

	"filippo.io/edwards25519"

	"settle/settlement"
)

// Errors of keys and signatures.
var (
	ErrKeyType   = errors.New("public key must be Ed25519 or ECDSA P-256")
	ErrKeyPEM    = errors.New("not a PEM PUBLIC KEY (PKIX)")
	ErrMalformed = errors.New("signature file is not the standard base64 of a signature")
	ErrInvalid   = errors.New("signature does not match the file under any key of the sender")
	ErrNoKey     = errors.New("sender has no registered public key")
	ErrTooEarly  = errors.New("sender not known within the first bytes of the file")
)

// SigBytesMax bounds a .sig file: a DER ECDSA P-256 signature is at most
// 72 bytes (96 in base64); room is left for line breaks.
const SigBytesMax = 1024

// Key is one registered public key of a bank.
type Key struct {
	Bank   settlement.BIC
	Label  string
	Public any // ed25519.PublicKey or *ecdsa.PublicKey (P-256)
}

// ParsePublicKey reads a PEM PUBLIC KEY and accepts only the two key types
// of the contract.
func ParsePublicKey(pemBytes []byte) (any, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, ErrKeyPEM
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrKeyPEM)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyPEM, err)
	}
	switch k := k.(type) {
	case ed25519.PublicKey:
		return k, nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return k, nil
		}
	}
	return nil, ErrKeyType
}

// DecodeSig reads a .sig file: standard base64, possibly wrapped into lines
// (as `openssl base64` writes it) and ending with a line break.
func DecodeSig(b []byte) ([]byte, error) {
	if len(b) > SigBytesMax {
		// b may be cut at SigBytesMax+1 by its reader: say "larger
		// than", never a size that is not the file's.
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, SigBytesMax)
	}
	compact := make([]byte, 0, len(b))
	for _, c := range b {
		switch c {
		case '\n', '\r', ' ', '\t':
		default:
			compact = append(compact, c)
		}
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(string(compact))
	if err != nil || len(sig) == 0 {
		return nil, ErrMalformed
	}
	return sig, nil
}

// prefixBytesMax is how much of a file the verifier keeps while it waits to
// learn the sender (an Ed25519 hash starts with the key, before the file).
// A header that the parsers have not finished by then is itself an error.
const prefixBytesMax = 1 << 20

// Verifier hashes a file as it streams by (it is an io.Writer, fed by a
// TeeReader under the parser) and checks the signature at the end.
type Verifier struct {
	sha      hash.Hash // SHA-256 of the file: its identity, and the ECDSA digest
	n        int64
	prefix   []byte // bytes seen before Begin
	overflow bool
	begun    bool
	sig      []byte
	cands    []candidate
}

type candidate struct {
	key Key
	h   hash.Hash // SHA-512(R || A || M) for Ed25519; nil for ECDSA
}

// NewVerifier starts hashing a file.
func NewVerifier() *Verifier { return &Verifier{sha: sha256.New()} }

// Write feeds the next bytes of the file.
func (v *Verifier) Write(p []byte) (int, error) {
	v.sha.Write(p)
	v.n += int64(len(p))
	if !v.begun {
		if len(v.prefix)+len(p) <= prefixBytesMax {
			v.prefix = append(v.prefix, p...)
		} else {
			v.overflow = true
		}
		return len(p), nil
	}
	for _, c := range v.cands {
		if c.h != nil {
			c.h.Write(p)
		}
	}
	return len(p), nil
}

// Begin is called once the sender is known, with its keys and the decoded
// signature. It may be called at most once.
func (v *Verifier) Begin(keys []Key, sig []byte) {
	if v.begun {
		return
	}
	v.begun = true
	v.sig = sig
	for _, k := range keys {
		c := candidate{key: k}
		if pub, ok := k.Public.(ed25519.PublicKey); ok && len(sig) == ed25519.SignatureSize && !v.overflow {
			c.h = sha512.New()
			c.h.Write(sig[:32])
			c.h.Write(pub)
			c.h.Write(v.prefix)
		}
		v.cands = append(v.cands, c)
	}
	v.prefix = nil
}

// Sum is the SHA-256 of every byte written so far.
func (v *Verifier) Sum() [32]byte {
	var s [32]byte
	v.sha.Sum(s[:0])
	return s
}

// Size counts the bytes written.
func (v *Verifier) Size() int64 { return v.n }

// Verify checks the signature against every candidate key, once the whole
// file has been written, and returns the key that signed it.
func (v *Verifier) Verify() (Key, error) {
	if !v.begun {
		return Key{}, ErrTooEarly
	}
	if len(v.cands) == 0 {
		return Key{}, ErrNoKey
	}
	digest := v.Sum()
	for _, c := range v.cands {
		switch pub := c.key.Public.(type) {
		case ed25519.PublicKey:
			if c.h != nil && verifyEd25519(pub, c.h, v.sig) {
				return c.key, nil
			}
		case *ecdsa.PublicKey:
			if ecdsa.VerifyASN1(pub, digest[:], v.sig) {
				return c.key, nil
			}
		}
	}
	if v.overflow {
		return Key{}, ErrTooEarly
	}
	return Key{}, ErrInvalid
}

// verifyEd25519 finishes RFC 8032 verification from the running hash
// SHA-512(R || A || M): it checks [S]B = R + [k]A with S canonical, as
// crypto/ed25519.Verify does over a message in memory.
func verifyEd25519(pub ed25519.PublicKey, h hash.Hash, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return false
	}
	S, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	var digest [64]byte
	h.Sum(digest[:0])
	k, err := edwards25519.NewScalar().SetUniformBytes(digest[:])
	if err != nil {
		return false
	}
	minusA := new(edwards25519.Point).Negate(A)
	R := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, minusA, S)
	return bytes.Equal(sig[:32], R.Bytes())
}
