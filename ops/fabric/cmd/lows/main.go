// Command lows reports CA certificates whose ECDSA signature has a high S value.
//
// cryptogen signs with S drawn at random, so about half of its CA certificates
// carry S > N/2. Fabric itself tolerates that, but fabric-sdk-go v1.0.0 does not
// (it "sanitizes" the CA certificate into a different one and then fails to
// verify the org's MSP; fabric-samples issue 1078). up.sh regenerates an org's
// crypto until this command accepts every CA certificate in it.
//
// Usage: lows FILE_OR_DIR...  (directories are walked for ca/ and tlsca/ *.pem)
// Exit status 0: all low-S; 1: at least one high-S (listed on stdout); 2: error.
package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

type ecdsaSignature struct{ R, S *big.Int }

// caFile reports whether path is a CA certificate as cryptogen lays them out.
func caFile(path string) bool {
	dir := filepath.Base(filepath.Dir(path))
	return (dir == "ca" || dir == "tlsca") && strings.HasSuffix(path, "-cert.pem")
}

// highS reports whether the certificate at path is signed with a high S value.
func highS(path string) (bool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		return false, fmt.Errorf("%s: no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	switch cert.SignatureAlgorithm {
	case x509.ECDSAWithSHA1, x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
	default:
		return false, nil // not ECDSA: no S to speak of
	}
	// A CA certificate is self-signed, so the signing curve is its own key's curve.
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return false, fmt.Errorf("%s: ECDSA signature but %T key", path, cert.PublicKey)
	}
	var sig ecdsaSignature
	if rest, err := asn1.Unmarshal(cert.Signature, &sig); err != nil || len(rest) != 0 {
		return false, fmt.Errorf("%s: malformed ECDSA signature", path)
	}
	halfOrder := new(big.Int).Rsh(pub.Curve.Params().N, 1)
	return sig.S.Cmp(halfOrder) > 0, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lows FILE_OR_DIR...")
		os.Exit(2)
	}
	var files []string
	for _, arg := range os.Args[1:] {
		info, err := os.Stat(arg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if !info.IsDir() {
			files = append(files, arg)
			continue
		}
		err = filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && caFile(p) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, errors.New("lows: no CA certificate found"))
		os.Exit(2)
	}
	bad := 0
	for _, f := range files {
		high, err := highS(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if high {
			fmt.Println(f)
			bad++
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
}
