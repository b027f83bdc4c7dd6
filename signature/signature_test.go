package signature

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"settle/settlement"
)

// feed writes data in random chunks, calling Begin after `at` bytes.
func feed(v *Verifier, data []byte, at int, keys []Key, sig []byte, r *mrand.Rand) {
	begun := false
	for len(data) > 0 || !begun {
		if !begun && at <= 0 {
			v.Begin(keys, sig)
			begun = true
		}
		if len(data) == 0 {
			continue
		}
		n := 1 + r.IntN(min(len(data), 5000))
		if !begun && n > at {
			n = at
		}
		v.Write(data[:n])
		data, at = data[n:], at-n
	}
}

// TestStreamingEd25519MatchesStdlib: the streaming verifier agrees with
// crypto/ed25519 on good and bad signatures, however the bytes arrive and
// whenever the sender becomes known.
func TestStreamingEd25519MatchesStdlib(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	r := mrand.New(mrand.NewPCG(1, 1))
	for i := 0; i < 200; i++ {
		msg := make([]byte, r.IntN(20000))
		for j := range msg {
			msg[j] = byte(r.IntN(256))
		}
		sig := ed25519.Sign(priv, msg)
		if r.IntN(3) == 0 && len(msg) > 0 { // tamper
			msg[r.IntN(len(msg))] ^= 1 << r.IntN(8)
		}
		if r.IntN(5) == 0 {
			sig[r.IntN(64)] ^= 1
		}
		want := ed25519.Verify(pub, msg, sig)
		v := NewVerifier()
		feed(v, msg, r.IntN(len(msg)+1), []Key{{Label: "k", Public: pub}}, sig, r)
		_, err := v.Verify()
		if (err == nil) != want {
			t.Fatalf("case %d: stdlib says %v, streaming says %v", i, want, err)
		}
		if v.Sum() != sha256.Sum256(msg) || v.Size() != int64(len(msg)) {
			t.Fatalf("case %d: file hash or size wrong", i)
		}
	}
}

// TestEd25519RejectsNonCanonicalS: S + L verifies the same equation but
// is a malleated signature; RFC 8032 (and crypto/ed25519) reject it.
func TestEd25519RejectsNonCanonicalS(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("H,F1,SHBKKRSE,2026-11-24,2026-11-24T17:45:00+09:00\n")
	sig := ed25519.Sign(priv, msg)
	// L = 2^252 + 27742317777372353535851937790883648493, little-endian.
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 31: 0x10}
	carry := 0
	for i := 0; i < 32; i++ {
		s := int(sig[32+i]) + int(l[i]) + carry
		sig[32+i], carry = byte(s), s>>8
	}
	v := NewVerifier()
	v.Begin([]Key{{Public: pub}}, sig)
	v.Write(msg)
	if _, err := v.Verify(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("non-canonical S accepted: %v", err)
	}
	if ed25519.Verify(pub, msg, sig) {
		t.Fatal("stdlib accepts it too?")
	}
}

func TestECDSAAndRotation(t *testing.T) {
	old, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cur, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("some payment file bytes\n")
	d := sha256.Sum256(msg)
	sig, _ := ecdsa.SignASN1(rand.Reader, cur, d[:])
	keys := []Key{{Label: "2025", Public: &old.PublicKey}, {Label: "ed", Public: edPub}, {Label: "2026", Public: &cur.PublicKey}}
	v := NewVerifier()
	v.Write(msg[:5])
	v.Begin(keys, sig)
	v.Write(msg[5:])
	k, err := v.Verify()
	if err != nil || k.Label != "2026" {
		t.Fatalf("want key 2026, got %q %v", k.Label, err)
	}
	v = NewVerifier()
	v.Begin(keys[:2], sig)
	v.Write(msg)
	if _, err := v.Verify(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("revoked/absent key must not verify: %v", err)
	}
	v = NewVerifier()
	v.Begin(nil, sig)
	v.Write(msg)
	if _, err := v.Verify(); !errors.Is(err, ErrNoKey) {
		t.Fatalf("want ErrNoKey, got %v", err)
	}
}

func TestDecodeSig(t *testing.T) {
	raw := make([]byte, 72)
	rand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	for _, in := range []string{enc, enc + "\n", enc[:64] + "\n" + enc[64:] + "\n", enc[:64] + "\r\n" + enc[64:] + "\r\n"} {
		got, err := DecodeSig([]byte(in))
		if err != nil || string(got) != string(raw) {
			t.Errorf("DecodeSig(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "\n", "not base64!", enc[:len(enc)-1], base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff}), string(make([]byte, SigBytesMax+1))} {
		if _, err := DecodeSig([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeSig(%q): want ErrMalformed, got %v", in, err)
		}
	}
}

func TestParsePublicKeyAndLoadDir(t *testing.T) {
	dir := t.TempDir()
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	write := func(name string, pub any) {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	}
	write("SHBKKRSE.pem", edPub)
	write("SHBKKRSE.2026-rotation.pem", &ec.PublicKey)
	write("CZNBKRSEXXX.pem", &ec.PublicKey)
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("ignored"), 0o644)
	ring, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ring.Keys("SHBKKRSE")); n != 2 {
		t.Errorf("SHBKKRSE has %d keys, want 2", n)
	}
	if n := len(ring.Keys(settlement.MustBIC("CZNBKRSE"))); n != 1 {
		t.Errorf("CZNBKRSEXXX.pem must register CZNBKRSE, got %d keys", n)
	}
	write("SHBKKRSE.p384.pem", &p384.PublicKey)
	if _, err := LoadDir(dir); !errors.Is(err, ErrKeyType) {
		t.Errorf("P-384 key: want ErrKeyType, got %v", err)
	}
	os.Remove(filepath.Join(dir, "SHBKKRSE.p384.pem"))
	write("not-a-bic.pem", edPub)
	if _, err := LoadDir(dir); !errors.Is(err, settlement.ErrBIC) {
		t.Errorf("bad file name: want ErrBIC, got %v", err)
	}
	if _, err := ParsePublicKey([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); !errors.Is(err, ErrKeyPEM) {
		t.Errorf("private key PEM: want ErrKeyPEM, got %v", err)
	}
}

func BenchmarkVerifyStream(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	msg := make([]byte, 8<<20)
	rand.Read(msg)
	edSig := ed25519.Sign(priv, msg)
	d := sha256.Sum256(msg)
	ecSig, _ := ecdsa.SignASN1(rand.Reader, ec, d[:])
	for _, c := range []struct {
		name string
		key  any
		sig  []byte
	}{{"ed25519", pub, edSig}, {"ecdsa-p256", &ec.PublicKey, ecSig}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for i := 0; i < b.N; i++ {
				v := NewVerifier()
				v.Begin([]Key{{Public: c.key}}, c.sig)
				for off := 0; off < len(msg); off += 64 << 10 {
					v.Write(msg[off:min(off+64<<10, len(msg))])
				}
				if _, err := v.Verify(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
