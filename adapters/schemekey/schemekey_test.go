package schemekey_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"settle/adapters/schemekey"
	"settle/signature"
)

// TestSignFileMatchesSign: the two-pass signature from disk is the one
// crypto/ed25519 makes over the bytes in memory (Ed25519 is deterministic),
// for sizes around the copy buffer's.
func TestSignFileMatchesSign(t *testing.T) {
	d := schemekey.Dir{Path: filepath.Join(t.TempDir(), "keys")}
	k, err := d.Init("k1")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{0, 1, 63, 64, 32 << 10, 32<<10 + 1, 1 << 20} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(r.IntN(256))
		}
		file := filepath.Join(t.TempDir(), "f")
		os.WriteFile(file, body, 0o600)
		got, err := k.SignFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if want := k.Sign(body); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: SignFile %q, Sign %q", n, got, want)
		}
	}
}

// TestSigIsWhatBanksSend: the scheme's .sig is read by the same verifier
// that checks banks' files (same encoding, same key format).
func TestSigIsWhatBanksSend(t *testing.T) {
	d := schemekey.Dir{Path: filepath.Join(t.TempDir(), "keys")}
	k, _ := d.Init("k1")
	pub, err := signature.ParsePublicKey(k.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"file": "F1.csv", "status": "ACCEPTED"}` + "\n")
	sig, err := signature.DecodeSig(k.Sign(body))
	if err != nil {
		t.Fatal(err)
	}
	v := signature.NewVerifier()
	v.Begin([]signature.Key{{Bank: "SETLKRSE", Label: "k1", Public: pub}}, sig)
	v.Write(body)
	if _, err := v.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestRotation: rotate, and both keys are published while the new one
// signs; a running Signer picks the new key up; the old key cannot be
// retired while active, and once retired is no longer published; files
// signed before the rotation still verify during it.
func TestRotation(t *testing.T) {
	d := schemekey.Dir{Path: filepath.Join(t.TempDir(), "keys")}
	if _, err := d.Load(); !errors.Is(err, schemekey.ErrNoKey) {
		t.Fatalf("empty folder: %v", err)
	}
	if _, err := d.Init("k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Init("k9"); !errors.Is(err, schemekey.ErrExists) {
		t.Fatalf("second init: %v", err)
	}
	s := &schemekey.Signer{Dir: d}
	old, _ := s.Sign([]byte("before"))
	if _, err := d.Rotate("k1"); !errors.Is(err, schemekey.ErrExists) {
		t.Fatalf("rotate to the same label: %v", err)
	}
	if _, err := d.Rotate("BAD"); !errors.Is(err, schemekey.ErrLabel) {
		t.Fatalf("bad label: %v", err)
	}
	if _, err := d.Rotate("k2"); err != nil {
		t.Fatal(err)
	}
	set, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if set.Active.Label != "k2" || len(set.Published) != 2 {
		t.Fatalf("active %s, %d published", set.Active.Label, len(set.Published))
	}
	now, _ := s.Sign([]byte("after"))
	if l, ok := set.Verify([]byte("after"), now); !ok || l != "k2" {
		t.Fatalf("after rotation signed by %q %v", l, ok)
	}
	if l, ok := set.Verify([]byte("before"), old); !ok || l != "k1" {
		t.Fatalf("before rotation: %q %v", l, ok)
	}
	if err := d.Retire("k2"); !errors.Is(err, schemekey.ErrActive) {
		t.Fatalf("retire active: %v", err)
	}
	if err := d.Retire("k1"); err != nil {
		t.Fatal(err)
	}
	set, _ = s.Keys()
	if len(set.Published) != 1 || set.Published[0].Label != "k2" {
		t.Fatalf("after retire: %d published", len(set.Published))
	}
	if _, err := d.Rotate("k1"); !errors.Is(err, schemekey.ErrExists) {
		t.Fatalf("a retired label reused: %v", err)
	}
	os.Chmod(filepath.Join(d.Path, "k2.key"), 0o644)
	if _, err := d.Load(); !errors.Is(err, schemekey.ErrKeyFile) {
		t.Fatalf("a key readable by others: %v", err)
	}
}

// TestOpenSSLVerifies does what the README tells a bank to do, with the
// openssl CLI and nothing else: base64 -d the .sig, then
// openssl pkeyutl -verify -pubin -inkey scheme.k1.pem -rawin.
func TestOpenSSLVerifies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs openssl")
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not found")
	}
	d := schemekey.Dir{Path: filepath.Join(t.TempDir(), "keys")}
	k, _ := d.Init("k1")
	out := t.TempDir()
	ack := []byte(`{"file": "F20261124-001.csv", "status": "ACCEPTED", "entries": 3}` + "\n")
	big := bytes.Repeat([]byte("<Ntry>...</Ntry>\n"), 200_000) // signed from disk
	os.WriteFile(filepath.Join(out, "F.ack.json"), ack, 0o600)
	os.WriteFile(filepath.Join(out, "C1.camt053.xml"), big, 0o600)
	os.WriteFile(filepath.Join(out, schemekey.PEMName("k1")), k.PublicPEM(), 0o600)
	os.WriteFile(filepath.Join(out, "F.ack.json.sig"), k.Sign(ack), 0o600)
	bigSig, err := k.SignFile(filepath.Join(out, "C1.camt053.xml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, "C1.camt053.xml.sig"), bigSig, 0o600)
	verify := func(name string) error {
		sh := `base64 -d "$1.sig" > s.bin && ` + openssl + ` pkeyutl -verify -pubin -inkey scheme.k1.pem -rawin -in "$1" -sigfile s.bin`
		c := exec.Command("sh", "-c", sh, "sh", name)
		c.Dir = out
		b, err := c.CombinedOutput()
		if err == nil && !bytes.Contains(b, []byte("Signature Verified Successfully")) {
			err = errors.New(string(b))
		}
		return err
	}
	for _, f := range []string{"F.ack.json", "C1.camt053.xml"} {
		if err := verify(f); err != nil {
			t.Errorf("%s: openssl: %v", f, err)
		}
	}
	os.WriteFile(filepath.Join(out, "F.ack.json"), append(ack, ' '), 0o600)
	if err := verify("F.ack.json"); err == nil {
		t.Error("openssl verified a changed file")
	}
}
