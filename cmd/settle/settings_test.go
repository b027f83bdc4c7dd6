package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"settle/jobs"
)

func TestRemoteBanksConfigChecked(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	ok := `remote_banks:
  - {bank: SHBKKRSE, addr: "sftp.shbk.example:22", user: settle, key: /k, known_hosts: /kh}
`
	c, err := loadConfig(write(ok))
	if err != nil || len(c.RemoteBanks) != 1 || c.RemoteBanks[0].User != "settle" {
		t.Fatalf("valid remote bank: %+v %v", c.RemoteBanks, err)
	}
	for name, body := range map[string]string{
		"bad bic":      "remote_banks:\n  - {bank: nope, addr: a, user: u, key: k, known_hosts: kh}\n",
		"no addr":      "remote_banks:\n  - {bank: SHBKKRSE, user: u, key: k, known_hosts: kh}\n",
		"no key":       "remote_banks:\n  - {bank: SHBKKRSE, addr: a, user: u, known_hosts: kh}\n",
		"no hosts":     "remote_banks:\n  - {bank: SHBKKRSE, addr: a, user: u, key: k}\n",
		"twice":        strings.Repeat("  - {bank: SHBKKRSE, addr: a, user: u, key: k, known_hosts: kh}\n", 2),
		"unknown key":  "remote_banks:\n  - {bank: SHBKKRSE, addr: a, user: u, key: k, known_hosts: kh, password: x}\n",
		"branch alias": "remote_banks:\n  - {bank: SHBKKRSE, addr: a, user: u, key: k, known_hosts: kh}\n  - {bank: SHBKKRSEXXX, addr: a, user: u, key: k, known_hosts: kh}\n",
	} {
		if name == "twice" {
			body = "remote_banks:\n" + body
		}
		if _, err := loadConfig(write(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReadPrivateKeyOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	p := filepath.Join(dir, "key")
	os.WriteFile(p, pem.EncodeToMemory(block), 0o600)
	if _, err := readPrivateKey(p); err != nil {
		t.Fatalf("0600 key: %v", err)
	}
	os.Chmod(p, 0o644)
	if _, err := readPrivateKey(p); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Fatalf("0644 key: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "junk"), []byte("not a key"), 0o600)
	if _, err := readPrivateKey(filepath.Join(dir, "junk")); err == nil {
		t.Fatal("junk parsed as a key")
	}
	if _, err := readPrivateKey(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing key file")
	}
}

// schedule.resume defaults to a minute, keeps the other schedule keys'
// defaults when given alone, and is bounded.
func TestResumeIntervalConfig(t *testing.T) {
	dir := t.TempDir()
	load := func(body string) (Config, error) {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		return loadConfig(p)
	}
	c, err := load("zone: Asia/Seoul\n")
	if err != nil || c.Schedule.Resume != time.Minute {
		t.Fatalf("default: %s %v", c.Schedule.Resume, err)
	}
	c, err = load("schedule: {resume: 30s}\n")
	if err != nil || c.Schedule.Resume != 30*time.Second || c.Schedule.Cycle != "0 18 * * 1-5" {
		t.Fatalf("resume alone: %+v %v", c.Schedule, err)
	}
	for _, bad := range []string{"0s", "500ms", "25h", "-1m"} {
		if _, err := load("schedule: {resume: " + bad + "}\n"); err == nil || !strings.Contains(err.Error(), "schedule.resume") {
			t.Errorf("resume %s: %v; want refused", bad, err)
		}
	}
}

// An empty configuration file is the defaults; the end of input is told by
// errors.Is, not by the error's text (issue 12, also-fix list).
func TestEmptyConfigFileIsDefaults(t *testing.T) {
	f := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(f); err != nil {
		t.Fatalf("empty config: %v", err)
	}
	if err := os.WriteFile(f, []byte("nosuchkey: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(f); err == nil {
		t.Fatal("unknown key accepted")
	}
}

// scheme.bic, the instructing agent of every status report, defaults to
// jobs.DefaultScheme and must be a BIC.
func TestSchemeBICConfig(t *testing.T) {
	dir := t.TempDir()
	load := func(body string) (Config, error) {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		return loadConfig(p)
	}
	if c, err := load("zone: Asia/Seoul\n"); err != nil || c.Scheme.BIC != string(jobs.DefaultScheme) {
		t.Fatalf("default: %q %v", c.Scheme.BIC, err)
	}
	if c, err := load("scheme: {bic: BOKRKRSE}\n"); err != nil || c.Scheme.BIC != "BOKRKRSE" {
		t.Fatalf("set: %q %v", c.Scheme.BIC, err)
	}
	if _, err := load("scheme: {bic: not-a-bic}\n"); err == nil {
		t.Fatal("a scheme BIC that is not one: accepted")
	}
}
