// Command ccconn prepares mutual TLS between a bank's peer and that bank's chaincode
// server (chaincode as a service). It issues the server a certificate from the org's
// TLS CA (cryptogen keeps that CA's key in tlsca/priv_sk) and writes the
// connection.json the ccaas builder hands to the peer: the address to dial, the CA
// to verify the server with, and the peer's own TLS key pair as its client identity.
//
// Usage: ccconn -tlsca DIR -peer-tls DIR -address HOST:PORT -out DIR
//
// Writes OUT/server.crt, OUT/server.key (for the chaincode server),
// OUT/client-ca.crt (to verify the peer) and OUT/connection.json (for the package).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

func main() {
	tlsca := flag.String("tlsca", "", "the org's cryptogen tlsca directory (*-cert.pem and priv_sk)")
	peerTLS := flag.String("peer-tls", "", "the peer's tls directory (server.crt, server.key)")
	address := flag.String("address", "", "host:port the chaincode server listens on")
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if err := run(*tlsca, *peerTLS, *address, *out); err != nil {
		fmt.Fprintln(os.Stderr, "ccconn:", err)
		os.Exit(1)
	}
}

// run issues the chaincode server's key pair and writes it with the
// connection.json. Nothing is written until every input was read and the
// certificate issued, so a bad input leaves out as it was.
func run(tlsca, peerTLS, address, out string) error {
	if tlsca == "" || peerTLS == "" || address == "" || out == "" {
		return errors.New("-tlsca, -peer-tls, -address and -out are all required")
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("-address: %w", err)
	}
	caPEM, caCert, caKey, err := loadCA(tlsca)
	if err != nil {
		return err
	}
	der, keyDER, err := issueServerCert(caCert, caKey, host)
	if err != nil {
		return err
	}
	conn, err := connectionJSON(address, peerTLS, caPEM)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"server.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644},
		{"server.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600},
		{"client-ca.crt", caPEM, 0o644},
		{"connection.json", append(conn, '\n'), 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(out, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// loadCA reads the org's TLS CA as cryptogen lays it out: exactly one
// *-cert.pem (more would leave it unclear which CA the peer trusts) and its
// key in priv_sk.
func loadCA(tlsca string) (caPEM []byte, caCert *x509.Certificate, caKey *ecdsa.PrivateKey, err error) {
	certs, err := filepath.Glob(filepath.Join(tlsca, "*-cert.pem"))
	if err != nil || len(certs) != 1 {
		return nil, nil, nil, fmt.Errorf("want exactly one *-cert.pem in %s, found %d", tlsca, len(certs))
	}
	caPEM, err = os.ReadFile(certs[0])
	if err != nil {
		return nil, nil, nil, err
	}
	caCert, err = parseCert(caPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", certs[0], err)
	}
	caKey, err = parseKey(filepath.Join(tlsca, "priv_sk"))
	if err != nil {
		return nil, nil, nil, err
	}
	return caPEM, caCert, caKey, nil
}

// issueServerCert issues the chaincode server a fresh P-256 key and a
// one-year server certificate for host (an IP or a DNS name, as the peer
// dials it), signed by the org's TLS CA; it returns both DER-encoded.
func issueServerCert(caCert *x509.Certificate, caKey *ecdsa.PrivateKey, host string) (der, keyDER []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "chaincode." + caCert.Subject.CommonName, Organization: caCert.Subject.Organization},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return der, keyDER, nil
}

// connectionJSON is the ccaas builder's connection.json: where the peer
// dials, the CA it verifies the server with, and the peer's own TLS key
// pair as its client identity (mutual TLS).
func connectionJSON(address, peerTLS string, caPEM []byte) ([]byte, error) {
	peerCert, err := os.ReadFile(filepath.Join(peerTLS, "server.crt"))
	if err != nil {
		return nil, err
	}
	peerKey, err := os.ReadFile(filepath.Join(peerTLS, "server.key"))
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(map[string]any{
		"address":              address,
		"dial_timeout":         "10s",
		"tls_required":         true,
		"client_auth_required": true,
		"client_cert":          string(peerCert),
		"client_key":           string(peerKey),
		"root_cert":            string(caPEM),
	}, "", "  ")
}

func parseCert(raw []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKey(path string) (*ecdsa.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if ec, err2 := x509.ParseECPrivateKey(block.Bytes); err2 == nil {
			return ec, nil
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T, want an ECDSA key", path, k)
	}
	return ec, nil
}
