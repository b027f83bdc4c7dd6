package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"settle/adapters/postgres/pgtest"
)

// TestConsoleServesTLS: with a certificate and key the console listens
// over TLS (the address may then be any, not only loopback), answers its
// sign-in page with Strict-Transport-Security and a Secure session-less
// login cookie, and a plain-HTTP request to the same port gets no page.
func TestConsoleServesTLS(t *testing.T) {
	_, dsn := pgtest.NewStore(t)
	t.Setenv("DATABASE_URL", dsn)
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "console.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "console.crt"), filepath.Join(dir, "console.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "console", "--listen", "0.0.0.0:0", "--tls-cert", certFile, "--tls-key", keyFile, "--config", consoleConfig(t))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "console: https://") {
		t.Fatalf("console said %q: %v", line, err)
	}
	u := strings.TrimSpace(strings.TrimPrefix(line, "console: "))
	_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(u, "https://"), "/"))
	pool := x509.NewCertPool()
	c, _ := x509.ParseCertificate(der)
	pool.AddCert(c)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get("https://127.0.0.1:" + port + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="password"`) || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("login page over TLS: %d %v", resp.StatusCode, resp.Header)
	}
	secure := false
	for _, ck := range resp.Cookies() {
		secure = secure || ck.Name == "settle_login" && ck.Secure && ck.HttpOnly && ck.SameSite == http.SameSiteStrictMode
	}
	if !secure {
		t.Fatalf("no Secure, HttpOnly, SameSite=Strict login cookie: %v", resp.Header["Set-Cookie"])
	}
	if r, err := http.Get("http://127.0.0.1:" + port + "/login"); err == nil && r.StatusCode == http.StatusOK {
		t.Fatal("the TLS listener served a page over plain HTTP")
	}
}
