package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"settle/adapters/schemekey"
	"settle/signature"
)

// TestSchemeKeyPrintsThePublicKeys: `settle scheme key` prints the active
// public key first as a PEM a bank can register or give OpenSSL, then,
// during a rotation, the previous one.
func TestSchemeKeyPrintsThePublicKeys(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "settle.yaml")
	os.WriteFile(cfg, []byte("state_dir: "+dir+"\n"), 0o600)
	keys := schemekey.Dir{Path: filepath.Join(dir, "scheme-keys")}
	k1, err := keys.Init("k1")
	if err != nil {
		t.Fatal(err)
	}
	run := func() string {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs([]string{"scheme", "key", "--config", cfg})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	got := run()
	if !strings.HasPrefix(got, "# scheme.k1.pem (active)\n") || !strings.Contains(got, string(k1.PublicPEM())) {
		t.Fatalf("%s", got)
	}
	pemStart := strings.Index(got, "-----BEGIN")
	if _, err := signature.ParsePublicKey([]byte(got[pemStart:])); err != nil {
		t.Fatalf("not a PEM public key: %v", err)
	}
	k2, _ := keys.Rotate("k2")
	got = run()
	if !strings.HasPrefix(got, "# scheme.k2.pem (active)\n"+string(k2.PublicPEM())) || !strings.Contains(got, "# scheme.k1.pem (previous, still published)\n"+string(k1.PublicPEM())) {
		t.Fatalf("during the rotation: %s", got)
	}
}
