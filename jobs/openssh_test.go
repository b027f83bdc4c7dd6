package jobs_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"settle/adapters/sftp"
	"settle/formats/gen"
	"settle/jobs"
	"settle/settlement"
)

// bankClient is a bank with nothing but OpenSSH and OpenSSL.
type bankClient struct {
	t          *testing.T
	login      string
	sshKey     string // private key file for sftp -i
	signingKey string // PKCS#8 PEM for openssl
	ed25519    bool
	port       string
	knownHosts string
	dir        string
}

// startSFTP runs the built-in server over the world's storage tree, with
// one login per bank, and returns each bank's client side.
func (w *world) startSFTP(t *testing.T) []*bankClient {
	t.Helper()
	if _, err := os.Stat("/usr/bin/sftp"); err != nil {
		t.Fatalf("/usr/bin/sftp not found: install the Debian package openssh-client: %v", err)
	}
	dir := t.TempDir()
	var users []sftp.User
	var clients []*bankClient
	for i, b := range w.banks {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, _ := ssh.MarshalPrivateKey(priv, string(b.BIC))
		keyFile := filepath.Join(dir, string(b.BIC)+".ssh")
		os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
		signer, _ := ssh.NewSignerFromKey(priv)
		users = append(users, sftp.User{Bank: b.BIC, AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
		pk, _ := gen.PrivatePEM(b.Private)
		sk := filepath.Join(dir, string(b.BIC)+".pem")
		os.WriteFile(sk, pk, 0o600)
		clients = append(clients, &bankClient{t: t, login: string(b.BIC), sshKey: keyFile, signingKey: sk, ed25519: i%2 == 0, dir: dir})
	}
	srv, err := sftp.NewServer(sftp.Config{Root: filepath.Join(w.root, "sftp"), Users: users, Logger: w.quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	kh := filepath.Join(dir, "known_hosts")
	os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(ln.Addr().String())}, srv.HostKey())+"\n"), 0o600)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, c := range clients {
		c.port, c.knownHosts = port, kh
	}
	return clients
}

func (c *bankClient) run(batch string) (string, error) {
	bf := filepath.Join(c.dir, c.login+".batch")
	os.WriteFile(bf, []byte(batch), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/sftp", "-F", "/dev/null", "-b", bf, "-i", c.sshKey, "-P", c.port,
		"-o", "UserKnownHostsFile="+c.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", c.login+"@127.0.0.1").CombinedOutput()
	return string(out), err
}

// sign makes <file>.sig with the openssl command line, as the spec says.
func (c *bankClient) sign(file string) {
	c.t.Helper()
	var cmd string
	if c.ed25519 {
		cmd = fmt.Sprintf("openssl pkeyutl -sign -rawin -inkey %s -in %s | base64 -w0 > %s.sig", c.signingKey, file, file)
	} else {
		cmd = fmt.Sprintf("openssl dgst -sha256 -sign %s %s | openssl base64 > %s.sig", c.signingKey, file, file)
	}
	if out, err := exec.Command("bash", "-c", "set -o pipefail; "+cmd).CombinedOutput(); err != nil {
		c.t.Fatalf("openssl: %v\n%s", err, out)
	}
}

// upload puts the payment file first and its signature last.
func (c *bankClient) upload(local, name string) {
	c.t.Helper()
	if out, err := c.run(fmt.Sprintf("put %s inbox/%s\nput %s.sig inbox/%s.sig\n", local, name, local, name)); err != nil {
		c.t.Fatalf("upload %s: %v\n%s", name, err, out)
	}
}

func (c *bankClient) ack(name string) (jobs.AckBody, bool) {
	local := filepath.Join(c.dir, c.login+"-"+name+".ack.json")
	os.Remove(local)
	if _, err := c.run(fmt.Sprintf("get outbox/%s.ack.json %s\n", name, local)); err != nil {
		return jobs.AckBody{}, false
	}
	b, err := os.ReadFile(local)
	if err != nil {
		return jobs.AckBody{}, false
	}
	var a jobs.AckBody
	if err := json.Unmarshal(b, &a); err != nil {
		c.t.Fatalf("ack %s: %v: %s", name, err, b)
	}
	return a, true
}

// TestBankWithOpenSSHAndOpenSSL: a day submitted the way a bank would,
// with nothing but OpenSSH's sftp and the openssl command line: uploads,
// the intake takes what is complete, and each bank reads its
// acknowledgements from its outbox; a bad file, a resent file and a file
// without its signature are handled as the contract says.
func TestBankWithOpenSSHAndOpenSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and OpenSSH")
	}
	w := newPostgresWorld(t)
	banks := w.startSFTP(t)
	const date = "2026-11-24"
	bics := []string{string(w.banks[0].BIC), string(w.banks[1].BIC), string(w.banks[2].BIC)}
	for i, c := range banks {
		ps := gen.DayPayments(gen.Config{Banks: 3, Payments: 60, Date: date, Seed: 3}, []settlement.BIC{w.banks[0].BIC, w.banks[1].BIC, w.banks[2].BIC}, i)
		local := filepath.Join(c.dir, fmt.Sprintf("day-%d.csv", i))
		os.WriteFile(local, w.csv(i, date, fmt.Sprintf("F-DAY-%d", i), ps), 0o600)
		c.sign(local)
		c.upload(local, fmt.Sprintf("F-DAY-%d.csv", i))
	}
	// A bad file: wrong scale and a self-payment, signed properly.
	bad := filepath.Join(banks[1].dir, "bad.csv")
	os.WriteFile(bad, []byte(fmt.Sprintf("H,F-BAD,%s,%s,%sT10:00:00+09:00\nP,X1,%s,%s,1.5,KRW\nP,X2,%s,%s,10,USD\nT,2,11.5\n",
		bics[1], date, date, bics[1], bics[0], bics[1], bics[1])), 0o600)
	banks[1].sign(bad)
	banks[1].upload(bad, "bad.csv")
	// A payment file whose signature never arrives is never taken.
	if out, err := banks[2].run(fmt.Sprintf("put %s inbox/nosig.csv\n", bad)); err != nil {
		t.Fatalf("%v %s", err, out)
	}

	counts, err := w.intake.Collect(w.ctx) // what settle serve does every few seconds
	if err != nil {
		t.Fatal(err)
	}
	if counts.Accepted != 3 || counts.Rejected != 1 || counts.Taken != 4 {
		t.Fatalf("intake: %+v", counts)
	}
	for i, c := range banks {
		a, ok := c.ack(fmt.Sprintf("F-DAY-%d.csv", i))
		if !ok || a.Status != "ACCEPTED" || a.Entries != 20 || a.Cycle != "C"+date {
			t.Fatalf("bank %d ack: %v %+v", i, ok, a)
		}
	}
	a, _ := banks[1].ack("bad.csv")
	if a.Status != "REJECTED" || len(a.Errors) != 2 || a.Errors[0].Code != "AMOUNT_SCALE" || a.Errors[1].Code != "SELF_PAYMENT" {
		t.Fatalf("bad ack: %+v", a)
	}
	if _, ok := banks[2].ack("nosig.csv"); ok {
		t.Fatal("a file without its .sig was acknowledged")
	}
	// The same bytes again under another name: rejected as a duplicate.
	banks[0].upload(filepath.Join(banks[0].dir, "day-0.csv"), "again.csv")
	if c, _ := w.intake.Collect(w.ctx); c.Duplicates != 1 {
		t.Fatalf("resend: %+v", c)
	}
	if a, _ := banks[0].ack("again.csv"); a.Status != "REJECTED" || a.Errors[0].Code != "DUPLICATE_FILE" {
		t.Fatalf("resend ack: %+v", a)
	}
	// Bank A cannot read bank B's acknowledgements.
	if out, err := banks[0].run(fmt.Sprintf("get /../%s/outbox/F-DAY-1.csv.ack.json %s/x\n", bics[1], banks[0].dir)); err == nil && !strings.Contains(out, "not found") {
		t.Fatalf("bank A read bank B's outbox: %s", out)
	}
	if _, err := os.Stat(filepath.Join(banks[0].dir, "x")); err == nil {
		t.Fatal("bank A downloaded bank B's acknowledgement")
	}
}
