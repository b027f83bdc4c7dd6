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

// TestSchemeKeyInitDefaultLabel: `settle scheme key init` without --label
// makes the key k1, as its flag's default says. Before each subcommand had
// a builder of its own, init and rotate shared one label variable, and
// rotate's default ("") overwrote init's, so init without --label refused
// the empty label.
func TestSchemeKeyInitDefaultLabel(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "settle.yaml")
	// No database answers: the key is made before it is published.
	os.WriteFile(cfg, []byte("state_dir: "+dir+"\ndatabase: postgres://127.0.0.1:1/none?sslmode=disable&connect_timeout=1\n"), 0o600)
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"scheme", "key", "init", "--config", cfg})
	root.Execute() // fails at publishing: no database
	if !strings.HasPrefix(out.String(), "scheme key k1 made\n") {
		t.Fatalf("%q", out.String())
	}
	set, err := schemekey.Dir{Path: filepath.Join(dir, "scheme-keys")}.Load()
	if err != nil || set.Active.Label != "k1" {
		t.Fatalf("%+v %v", set, err)
	}
}
