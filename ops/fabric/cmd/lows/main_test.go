package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// rawCert is an X.509 certificate split into its signed part and its signature.
type rawCert struct {
	TBS       asn1.RawValue
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

// selfSigned makes a CA certificate and the same certificate with S replaced by N-S:
// both signatures are valid, exactly one of them is high-S.
func selfSigned(t *testing.T) (orig, flipped []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca.test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	var rc rawCert
	if _, err := asn1.Unmarshal(der, &rc); err != nil {
		t.Fatal(err)
	}
	var sig ecdsaSignature
	if _, err := asn1.Unmarshal(rc.Signature.Bytes, &sig); err != nil {
		t.Fatal(err)
	}
	sig.S = new(big.Int).Sub(elliptic.P256().Params().N, sig.S)
	sigDER, err := asn1.Marshal(sig)
	if err != nil {
		t.Fatal(err)
	}
	rc.Signature = asn1.BitString{Bytes: sigDER, BitLength: 8 * len(sigDER)}
	flippedDER, err := asn1.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	return der, flippedDER
}

func writePEM(t *testing.T, dir, name string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHighSIsDetectedOnEitherSide(t *testing.T) {
	for i := 0; i < 20; i++ {
		orig, flipped := selfSigned(t)
		dir := t.TempDir()
		a := writePEM(t, dir, "ca/a-cert.pem", orig)
		b := writePEM(t, dir, "ca/b-cert.pem", flipped)
		for _, der := range [][]byte{orig, flipped} {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CheckSignatureFrom(c); err != nil {
				t.Fatalf("both signatures must be valid: %v", err)
			}
		}
		ha, err := highS(a)
		if err != nil {
			t.Fatal(err)
		}
		hb, err := highS(b)
		if err != nil {
			t.Fatal(err)
		}
		if ha == hb {
			t.Fatalf("S and N-S both reported high=%v", ha)
		}
	}
}

func TestCAFileSelection(t *testing.T) {
	for path, want := range map[string]bool{
		"x/ca/ca.bank1-cert.pem":       true,
		"x/tlsca/tlsca.bank1-cert.pem": true,
		"x/msp/signcerts/a-cert.pem":   false,
		"x/ca/priv_sk":                 false,
	} {
		if got := caFile(path); got != want {
			t.Errorf("caFile(%q) = %v, want %v", path, got, want)
		}
	}
}
