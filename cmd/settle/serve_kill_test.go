package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"settle/adapters/postgres"
	"settle/adapters/postgres/pgtest"
	"settle/formats/gen"
	"settle/settlement"
)

// killClock is the clock of every process of the kill tests: a Tuesday
// morning in Seoul, before the cut-off, whatever the machine's date.
const killClock = "2026-03-03T01:00:00Z"

// killDay is killClock's business day; killSaturday is a day that does
// not settle, within the days a file may be dated ahead: a file dated then
// is deferred to the next business day's cycle.
const (
	killDay      = "2026-03-03"
	killSaturday = "2026-03-07"
)

// The failpoints between the intake's steps (jobs.Intake; intake.report
// between writing the status report and the JSON ack) and inside the
// built-in inbox's Done, between moving the .sig and the file out.
var (
	localPoints  = []string{"intake.read", "intake.journal", "intake.record", "intake.report", "intake.ack", "sftp.done.sig", "intake.done"}
	remotePoints = []string{"intake.read", "intake.journal", "intake.record", "intake.report", "intake.ack", "intake.done"}
)

// killSys is one installation for the kill tests: a database of its own on
// the real Postgres, a state folder, two banks with signing keys, the
// first with an SSH login to the built-in server.
type killSys struct {
	t       *testing.T
	dir     string
	config  string
	dsn     string
	db      *sql.DB
	banks   []gen.Bank
	sshKeys []string // each bank's OpenSSH key file, for the built-in server
	env     []string
}

func newKillSys(t *testing.T, remote string) *killSys {
	if testing.Short() {
		t.Skip("needs Postgres, OpenSSH and the built binary")
	}
	if _, err := exec.LookPath("sftp"); err != nil {
		t.Fatalf("OpenSSH sftp client: %v", err)
	}
	k := &killSys{t: t, dir: t.TempDir(), dsn: pgtest.NewDB(t)}
	k.env = []string{"DATABASE_URL=" + k.dsn, "SETTLE_CLOCK=" + killClock + "@" + time.Now().UTC().Format(time.RFC3339Nano)}
	db, err := postgres.OpenDB(k.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	k.db = db
	bics, _ := gen.Banks(2)
	if k.banks, err = gen.Keys(bics); err != nil {
		t.Fatal(err)
	}
	// A ledger network that is never reached: intake does not use the
	// ledger, and serve connects to it lazily.
	network := filepath.Join(k.dir, "network.json")
	os.WriteFile(network, []byte(`{"channel": "settle", "chaincode": "netting", "orderer": {"mspId": "OrdererMSP", "address": "127.0.0.1:9"},
  "banks": [{"index": 1, "org": "bank1", "mspId": "Bank1MSP", "peer": {"address": "127.0.0.1:9"}}]}`), 0o600)

	var logins []map[string]any
	for _, b := range k.banks {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		block, _ := ssh.MarshalPrivateKey(priv, string(b.BIC))
		kf := filepath.Join(k.dir, string(b.BIC)+".ssh")
		os.WriteFile(kf, pem.EncodeToMemory(block), 0o600)
		k.sshKeys = append(k.sshKeys, kf)
		signer, _ := ssh.NewSignerFromKey(priv)
		logins = append(logins, map[string]any{"bic": string(b.BIC),
			"authorized_keys": []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))}})
	}
	users, _ := json.Marshal(logins)
	usersFile := filepath.Join(k.dir, "sftp-banks.json")
	os.WriteFile(usersFile, users, 0o600)

	k.config = filepath.Join(k.dir, "settle.yaml")
	os.WriteFile(k.config, []byte(fmt.Sprintf(`zone: Asia/Seoul
database: %q
state_dir: %q
instance: kill
intake: {poll: 200ms, cutoff: "23:59"}
schedule: {cycle: "0 3 1 1 *", resume: 10m}
ledger: {network: %q, org: 1, chunk_size: 50, workers: 1}
sftp: {listen: "127.0.0.1:0", banks: %q}
http: {listen: "127.0.0.1:0"}
%s`, k.dsn, filepath.Join(k.dir, "state"), network, usersFile, remote)), 0o600)
	k.must("migrate", "up")
	for i, b := range k.banks {
		pemFile := filepath.Join(k.dir, string(b.BIC)+".pem")
		p, _ := gen.PublicPEM(b.Private)
		os.WriteFile(pemFile, p, 0o600)
		k.must("bank", "add", string(b.BIC), "--name", fmt.Sprint("Bank ", i+1))
		k.must("bank", "key", "add", string(b.BIC), "--label", "k1", "--pem", pemFile)
	}
	return k
}

func (k *killSys) must(args ...string) {
	k.t.Helper()
	cmd := exec.Command(bin, args...) // migrate and bank take the database from DATABASE_URL
	cmd.Env = append(os.Environ(), k.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		k.t.Fatalf("settle %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// serving is one `settle serve` process.
type serving struct {
	cmd      *exec.Cmd
	sftpPort string
	exited   chan struct{}
	mu       sync.Mutex
	stderr   bytes.Buffer
}

func (s *serving) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// serve starts `settle serve` with extra environment and waits for its
// listeners; the test's cleanup stops it if the test does not.
func (k *killSys) serve(extra ...string) *serving {
	t := k.t
	t.Helper()
	s := &serving{cmd: exec.Command(bin, "serve", "--config", k.config), exited: make(chan struct{})}
	s.cmd.Env = append(append(os.Environ(), k.env...), extra...)
	armed := false
	for _, e := range extra {
		armed = armed || strings.HasPrefix(e, "SETTLE_CRASH_AT=")
	}
	pipe, _ := s.cmd.StderrPipe()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })
	sftpAddr, httpUp := make(chan string, 1), make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.Write(sc.Bytes())
			s.stderr.WriteByte('\n')
			s.mu.Unlock()
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch line["msg"] {
			case "sftp listening":
				sftpAddr <- fmt.Sprint(line["addr"])
			case "http listening":
				httpUp <- struct{}{}
			}
		}
		io.Copy(io.Discard, pipe)
		s.cmd.Wait()
		close(s.exited)
	}()
	for _, want := range []string{"sftp", "http"} {
		select {
		case addr := <-sftpAddr:
			_, s.sftpPort, _ = strings.Cut(addr, ":")
		case <-httpUp:
		case <-s.exited:
			if armed {
				// Killed at its failpoint before every listener was up
				// (the first intake pass may come first): killedAt checks.
				return s
			}
			t.Fatalf("settle serve exited before listening (%s):\n%s", want, lastLog(s.log(), 30))
		case <-time.After(60 * time.Second):
			t.Fatalf("settle serve did not start its listeners:\n%s", lastLog(s.log(), 30))
		}
	}
	return s
}

// stop ends the process: SIGTERM, then SIGKILL after a bound.
func (s *serving) stop(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		t.Errorf("settle serve did not stop on SIGTERM within 20 s")
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// killedAt waits for the process to die of SIGKILL at the failpoint.
func (s *serving) killedAt(t *testing.T, point string) {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("settle serve did not reach failpoint %s within 60 s:\n%s", point, lastLog(s.log(), 30))
	}
	ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("settle serve ended with %v, not SIGKILL at %s:\n%s", s.cmd.ProcessState, point, lastLog(s.log(), 30))
	}
	if !strings.Contains(s.log(), "failpoint: killed at "+point+"\n") {
		t.Fatalf("killed, but not at %s:\n%s", point, lastLog(s.log(), 30))
	}
}

func lastLog(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// sftp runs an OpenSSH sftp batch as bank 0 against the built-in server.
func (k *killSys) sftp(s *serving, batch string) error { return k.sftpAs(0, s, batch) }

// sftpAs runs an OpenSSH sftp batch as bank i against the built-in server.
func (k *killSys) sftpAs(i int, s *serving, batch string) error {
	hostKey := filepath.Join(k.dir, "state", "sftp", "state", "ssh_host_ed25519_key")
	pub, err := exec.Command("ssh-keygen", "-y", "-f", hostKey).Output()
	if err != nil {
		return err
	}
	kh := filepath.Join(k.dir, "known_hosts")
	os.WriteFile(kh, []byte(fmt.Sprintf("[127.0.0.1]:%s %s", s.sftpPort, pub)), 0o600)
	bf := filepath.Join(k.dir, "batch")
	os.WriteFile(bf, []byte(batch), 0o600)
	out, err := exec.Command("sftp", "-F", "/dev/null", "-b", bf, "-i", k.sshKeys[i], "-P", s.sftpPort,
		"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		string(k.banks[i].BIC)+"@127.0.0.1").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// killCase is one file of a kind, to be taken with a kill at point.
type killCase struct {
	kind, point, name string
	body              []byte
	entries           int
}

// killFile makes bank 0's file of kind (accepted, rejected, deferred),
// unique to case n.
func (k *killSys) killFile(kind, point string, n int) killCase {
	from, to := k.banks[0].BIC, k.banks[1].BIC
	id := fmt.Sprintf("K%02d", n)
	c := killCase{kind: kind, point: point, name: fmt.Sprintf("%s-%s.csv", kind, strings.ReplaceAll(point, ".", "-"))}
	switch kind {
	case "accepted":
		c.body = []byte(fmt.Sprintf("H,F-%s,%s,%s,%sT09:00:00+09:00\nP,%s-1,%s,%s,1000,KRW\nP,%s-2,%s,%s,250,KRW\nT,2,1250\n",
			id, from, killDay, killDay, id, from, to, id, from, to))
		c.entries = 2
	case "rejected": // KRW has no minor unit
		c.body = []byte(fmt.Sprintf("H,F-%s,%s,%s,%sT09:00:00+09:00\nP,%s-1,%s,%s,10.5,KRW\nT,1,10.5\n",
			id, from, killDay, killDay, id, from, to))
	case "deferred":
		c.body = []byte(fmt.Sprintf("H,F-%s,%s,%s,%sT09:00:00+09:00\nP,%s-1,%s,%s,700,KRW\nT,1,700\n",
			id, from, killSaturday, killDay, id, from, to))
		c.entries = 1
	}
	return c
}

// acks is what a bank's outbox holds of a file's verdict at one moment:
// the JSON acknowledgement and the status report (nil where not there).
type acks struct{ json, xml []byte }

func readAcks(outbox, name string) acks {
	var a acks
	a.json, _ = os.ReadFile(filepath.Join(outbox, name+".ack.json"))
	a.xml, _ = os.ReadFile(filepath.Join(outbox, name+".ack.xml"))
	return a
}

// check is what must hold once the take is finished: the bank reads the
// first verdict byte for byte, as the JSON ack and as the status report
// (first: what the outbox held right after the kill, if anything; the
// report is there whenever the JSON ack is), the one the store recorded;
// no second verdict; the file recorded once and its payments in the cycle
// the ack names, exactly once; no journal note left.
func (k *killSys) check(c killCase, bank settlement.BIC, outbox string, first, fetched acks) {
	t := k.t
	t.Helper()
	what := c.kind + " killed at " + c.point
	got := fetched.json
	if first.json != nil && first.xml == nil {
		t.Fatalf("%s: the JSON ack was written before the status report", what)
	}
	if first.json != nil && !bytes.Equal(first.json, got) {
		t.Fatalf("%s: the ack changed after the restart:\n%s\nwas:\n%s", what, got, first.json)
	}
	if first.xml != nil && !bytes.Equal(first.xml, fetched.xml) {
		t.Fatalf("%s: the status report changed after the restart:\n%s\nwas:\n%s", what, fetched.xml, first.xml)
	}
	var recorded, report []byte
	var ackName string
	if err := k.db.QueryRow(`SELECT verdict, report, ack_name FROM acknowledgements WHERE bank = $1 AND file_name = $2`,
		string(bank), c.name).Scan(&recorded, &report, &ackName); err != nil {
		t.Fatalf("%s: recorded verdict: %v", what, err)
	}
	if ackName != c.name+".ack.json" || !bytes.Equal(recorded, got) {
		t.Fatalf("%s: the outbox holds\n%s\nthe store recorded %s:\n%s", what, got, ackName, recorded)
	}
	if !bytes.Equal(report, fetched.xml) {
		t.Fatalf("%s: the outbox holds the report\n%s\nthe store recorded:\n%s", what, fetched.xml, report)
	}
	for _, pattern := range []string{c.name + ".*.ack.json", c.name + ".*.ack.xml"} {
		if more, _ := filepath.Glob(filepath.Join(outbox, pattern)); len(more) != 0 {
			t.Fatalf("%s: a second verdict: %v", what, more)
		}
	}
	status := "<GrpSts>ACTC</GrpSts>"
	if c.kind == "rejected" {
		status = "<GrpSts>RJCT</GrpSts>"
	}
	if !bytes.Contains(fetched.xml, []byte(status)) || (c.kind == "rejected") != bytes.Contains(fetched.xml, []byte("<Cd>AM12</Cd>")) {
		t.Fatalf("%s: status report:\n%s", what, fetched.xml)
	}
	var ack struct {
		Status string `json:"status"`
		Cycle  string `json:"cycle"`
		Note   string `json:"note"`
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(got, &ack); err != nil {
		t.Fatalf("%s: ack: %v", what, err)
	}
	switch c.kind {
	case "accepted":
		if ack.Status != "ACCEPTED" || ack.Cycle != "C"+killDay || ack.Note != "" || len(ack.Errors) != 0 {
			t.Fatalf("%s: ack %s", what, got)
		}
	case "rejected":
		if ack.Status != "REJECTED" || len(ack.Errors) != 1 || ack.Errors[0].Code != settlement.CodeAmountScale {
			t.Fatalf("%s: ack %s", what, got)
		}
	case "deferred":
		if ack.Status != "ACCEPTED" || ack.Cycle == "" || ack.Cycle == "C"+killSaturday || ack.Cycle <= "C"+killSaturday || ack.Note == "" {
			t.Fatalf("%s: ack %s", what, got)
		}
	}
	var files, inCycle, all int
	k.db.QueryRow(`SELECT count(*) FROM files WHERE sender = $1 AND name = $2`, string(bank), c.name).Scan(&files)
	k.db.QueryRow(`SELECT count(*) FROM payments p JOIN files f ON f.id = p.file_id WHERE f.sender = $1 AND f.name = $2`,
		string(bank), c.name).Scan(&all)
	k.db.QueryRow(`SELECT count(*) FROM payments p JOIN files f ON f.id = p.file_id JOIN cycles cy ON cy.id = p.cycle_id
		WHERE f.sender = $1 AND f.name = $2 AND 'C' || to_char(cy.business_date, 'YYYY-MM-DD') = $3`,
		string(bank), c.name, ack.Cycle).Scan(&inCycle)
	if files != 1 || all != c.entries || (c.entries > 0 && inCycle != c.entries) {
		t.Fatalf("%s: %d file rows, %d payments, %d in cycle %s; want 1, %d, %d", what, files, all, inCycle, ack.Cycle, c.entries, c.entries)
	}
	if notes, _ := filepath.Glob(filepath.Join(k.dir, "state", "taking", "*.json")); len(notes) != 0 {
		t.Fatalf("%s: journal notes left: %v", what, notes)
	}
}

// waitFor polls cond until it holds, within a bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestServeKilledDuringIntake is issue 21: `settle serve` is killed with
// SIGKILL between each pair of the intake's steps while it takes a file
// uploaded with OpenSSH to the built-in server, for an accepted, a rejected
// and a deferred file, then started again. After the restart the bank reads
// the first verdict byte for byte (the one in its outbox right after the
// kill, if it was written, and the one the store recorded), under the
// file's own name and no other; the inbox is clean; the payments are in the
// cycle the ack names exactly once.
func TestServeKilledDuringIntake(t *testing.T) {
	k := newKillSys(t, "")
	bank := k.banks[0]
	inbox := filepath.Join(k.dir, "state", "sftp", "banks", string(bank.BIC), "inbox")
	outbox := filepath.Join(k.dir, "state", "sftp", "banks", string(bank.BIC), "outbox")
	n := 0
	for _, kind := range []string{"accepted", "rejected", "deferred"} {
		for _, point := range localPoints {
			n++
			c := k.killFile(kind, point, n)
			local := filepath.Join(k.dir, c.name)
			sig, err := gen.Sign(bank.Private, c.body)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(local, c.body, 0o600)
			os.WriteFile(local+".sig", sig, 0o600)

			s := k.serve("SETTLE_CRASH_AT=" + point)
			// The kill may come before OpenSSH has read the reply to its
			// last close: killedAt shows that the pair arrived whole.
			uploadErr := k.sftp(s, fmt.Sprintf("put %s inbox/%s\nput %s.sig inbox/%s.sig\n", local, c.name, local, c.name))
			s.killedAt(t, point)
			if uploadErr != nil {
				t.Logf("%s at %s: the upload ended with: %v", kind, point, uploadErr)
			}
			ackPath := filepath.Join(outbox, c.name+".ack.json")
			first := readAcks(outbox, c.name) // nil if not written yet

			s = k.serve()
			waitFor(t, kind+" at "+point+": ack and a clean inbox", func() bool {
				notes, _ := filepath.Glob(filepath.Join(k.dir, "state", "taking", "*.json"))
				return exists(ackPath) && !exists(filepath.Join(inbox, c.name)) && !exists(filepath.Join(inbox, c.name+".sig")) && len(notes) == 0
			})
			// The bank reads both with OpenSSH.
			fetched := filepath.Join(k.dir, c.name+".ack.fetched")
			if err := k.sftp(s, fmt.Sprintf("get outbox/%s.ack.json %s\nget outbox/%s.ack.xml %s.xml\n", c.name, fetched, c.name, fetched)); err != nil {
				t.Fatalf("%s at %s: get ack and status report: %v", kind, point, err)
			}
			s.stop(t)
			var got acks
			got.json, _ = os.ReadFile(fetched)
			got.xml, _ = os.ReadFile(fetched + ".xml")
			k.check(c, bank.BIC, outbox, first, got)
			if left, _ := os.ReadDir(inbox); len(left) != 0 {
				t.Fatalf("%s at %s: inbox holds %d files", kind, point, len(left))
			}
		}
	}
	var cycleFiles int
	k.db.QueryRow(`SELECT count(*) FROM files`).Scan(&cycleFiles)
	if cycleFiles != n {
		t.Fatalf("%d files recorded, want %d", cycleFiles, n)
	}
	reports, _ := filepath.Glob(filepath.Join(outbox, "*.ack.xml"))
	if len(reports) != n {
		t.Fatalf("%d status reports, want %d", len(reports), n)
	}
	reportsValid(t, reports)
}

// reportsValid checks status reports against the official pacs.002.001.10
// schema with xmllint.
func reportsValid(t *testing.T, files []string) {
	t.Helper()
	xsd := filepath.Join("..", "..", "..", "shared", "iso20022", "xsd", "pacs.002.001.10.xsd")
	out, err := exec.Command("xmllint", append([]string{"--noout", "--schema", xsd}, files...)...).CombinedOutput()
	if err != nil || strings.Count(string(out), " validates") != len(files) {
		t.Fatalf("status reports not valid against %s: %v\n%s", xsd, err, out)
	}
}

// TestServeKilledDuringRemoteIntake is issue 21 for a bank that keeps its
// files on its own SFTP server (`settle sftpd` here, with a collector
// login): serve is killed between each pair of intake steps while it pulls
// a file from there; after the restart the acknowledgement written back to
// the bank's server is the first verdict, byte for byte, the file is not
// taken again and its payments are in the cycle exactly once.
func TestServeKilledDuringRemoteIntake(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, OpenSSH and the built binary")
	}
	dir := t.TempDir()
	bankRoot := filepath.Join(dir, "bank-server")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, _ := ssh.NewPublicKey(pub)
	block, _ := ssh.MarshalPrivateKey(priv, "collector")
	keyFile := filepath.Join(dir, "collector_key")
	os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
	bics, _ := gen.Banks(2)
	remoteBank := bics[1]
	users, _ := json.Marshal([]map[string]any{{"bic": string(remoteBank), "login": "collector", "role": "collector",
		"authorized_keys": []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))}}})
	usersFile := filepath.Join(dir, "bank-users.json")
	os.WriteFile(usersFile, users, 0o600)
	srv := exec.Command(bin, "sftpd", "--root", bankRoot, "--banks", usersFile, "--listen", "127.0.0.1:0")
	stdout, _ := srv.StdoutPipe()
	var srvLog bytes.Buffer
	srv.Stderr = &srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			srv.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, _, ok := strings.Cut(strings.TrimPrefix(line, "listening on "), ",")
	if err != nil || !ok {
		t.Fatalf("bank server: %q %v\n%s", line, err, srvLog.String())
	}
	go io.Copy(io.Discard, stdout)
	hk, err := os.ReadFile(filepath.Join(bankRoot, "state", "ssh_host_ed25519_key"))
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.ParsePrivateKey(hk)
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(dir, "bank_known_hosts")
	os.WriteFile(knownHosts, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostSigner.PublicKey())+"\n"), 0o600)

	k := newKillSys(t, fmt.Sprintf("remote_banks:\n  - {bank: %s, addr: %q, user: collector, key: %q, known_hosts: %q}\n",
		remoteBank, addr, keyFile, knownHosts))
	if k.banks[1].BIC != remoteBank {
		t.Fatalf("banks %v, remote %s", k.banks, remoteBank)
	}
	// The remote bank's files: its own, from bank 1 to bank 0.
	k.banks[0], k.banks[1] = k.banks[1], k.banks[0]
	bank := k.banks[0]
	inbox := filepath.Join(bankRoot, "banks", string(bank.BIC), "inbox")
	outbox := filepath.Join(bankRoot, "banks", string(bank.BIC), "outbox")
	staging := filepath.Join(k.dir, "state", "remote", string(bank.BIC), "staging")
	os.MkdirAll(inbox, 0o750)
	n := 0
	for _, kind := range []string{"accepted", "rejected", "deferred"} {
		for _, point := range remotePoints {
			n++
			c := k.killFile(kind, point, n)
			sig, err := gen.Sign(bank.Private, c.body)
			if err != nil {
				t.Fatal(err)
			}
			// The bank puts the file on its own server, signature last.
			os.WriteFile(filepath.Join(inbox, c.name), c.body, 0o640)
			os.WriteFile(filepath.Join(inbox, c.name+".sig"), sig, 0o640)

			s := k.serve("SETTLE_CRASH_AT=" + point)
			s.killedAt(t, point)
			ackPath := filepath.Join(outbox, c.name+".ack.json")
			first := readAcks(outbox, c.name)

			s = k.serve()
			takenOnce := func() int { // records of the file in the pull's taken record
				b, _ := os.ReadFile(filepath.Join(k.dir, "state", "remote", string(bank.BIC), "taken.jsonl"))
				return strings.Count(string(b), `"name":"`+c.name+`"`)
			}
			waitFor(t, kind+" at "+point+": ack written back and the take finished", func() bool {
				notes, _ := filepath.Glob(filepath.Join(k.dir, "state", "taking", "*.json"))
				var acked int
				k.db.QueryRow(`SELECT count(*) FROM files WHERE sender = $1 AND name = $2 AND acknowledged_at IS NOT NULL`, string(bank.BIC), c.name).Scan(&acked)
				return exists(ackPath) && len(notes) == 0 && acked == 1 && takenOnce() == 1
			})
			time.Sleep(600 * time.Millisecond) // three more polls: nothing is taken again
			s.stop(t)
			if n := takenOnce(); n != 1 {
				t.Fatalf("%s at %s: recorded taken %d times", kind, point, n)
			}
			k.check(c, bank.BIC, outbox, first, readAcks(outbox, c.name))
			if left, _ := os.ReadDir(staging); len(left) != 0 {
				t.Fatalf("%s at %s: %d staged files left", kind, point, len(left))
			}
			if leftovers, _ := filepath.Glob(filepath.Join(outbox, "*.part")); len(leftovers) != 0 {
				t.Fatalf("%s at %s: temporary files in the bank's outbox: %v", kind, point, leftovers)
			}
		}
	}
	reports, _ := filepath.Glob(filepath.Join(outbox, "*.ack.xml"))
	if len(reports) != n {
		t.Fatalf("%d status reports on the bank's server, want %d", len(reports), n)
	}
	reportsValid(t, reports)
}

// TestServeNeverReplacesAnAck is issue 12 items 5 and 8 on the built-in
// server with OpenSSH: a bank sends slow.csv, then other content under the
// same name; its ACCEPTED ack stays byte for byte and the new verdict is
// slow.csv.<16 hex of its sha256>.ack.json. Another bank that uploads the
// first bank's file is told only its own upload's problems, nothing of the
// first bank's file.
func TestServeNeverReplacesAnAck(t *testing.T) {
	k := newKillSys(t, "")
	s := k.serve()
	from, to := k.banks[0].BIC, k.banks[1].BIC
	send := func(i int, name string, body []byte, signer int) []byte {
		t.Helper()
		local := filepath.Join(k.dir, fmt.Sprintf("up-%d-%s", i, name))
		sig, err := gen.Sign(k.banks[signer].Private, body)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(local, body, 0o600)
		os.WriteFile(local+".sig", sig, 0o600)
		if err := k.sftpAs(i, s, fmt.Sprintf("put %s inbox/%s\nput %s.sig inbox/%s.sig\n", local, name, local, name)); err != nil {
			t.Fatal(err)
		}
		return body
	}
	get := func(i int, ackName string) []byte {
		t.Helper()
		local := filepath.Join(k.dir, fmt.Sprintf("got-%d-%s", i, ackName))
		os.Remove(local)
		waitFor(t, "ack "+ackName, func() bool {
			return k.sftpAs(i, s, fmt.Sprintf("get outbox/%s %s\n", ackName, local)) == nil
		})
		b, _ := os.ReadFile(local)
		return b
	}
	first := send(0, "slow.csv", []byte(fmt.Sprintf("H,F-SLOW,%s,%s,%sT09:00:00+09:00\nP,SLOW-1,%s,%s,1000,KRW\nT,1,1000\n",
		from, killDay, killDay, from, to)), 0)
	accepted := get(0, "slow.csv.ack.json")
	if !bytes.Contains(accepted, []byte(`"status": "ACCEPTED"`)) {
		t.Fatalf("first ack: %s", accepted)
	}
	second := send(0, "slow.csv", []byte(fmt.Sprintf("H,F-SLOW-2,%s,%s,%sT09:00:00+09:00\nP,SLOW-2,%s,%s,2000,KRW\nT,1,2000\n",
		from, killDay, killDay, from, to)), 0)
	sum := sha256.Sum256(second)
	newName := "slow.csv." + hex.EncodeToString(sum[:])[:16] + ".ack.json"
	later := get(0, newName)
	if !bytes.Contains(later, []byte(`"status": "ACCEPTED"`)) || !bytes.Contains(later, []byte(`"file_id": "F-SLOW-2"`)) {
		t.Fatalf("second ack %s: %s", newName, later)
	}
	if again := get(0, "slow.csv.ack.json"); !bytes.Equal(again, accepted) {
		t.Fatalf("the ACCEPTED ack was replaced:\n%s\nwas:\n%s", again, accepted)
	}
	// Each verdict has its status report beside it, under the same name.
	firstReport := get(0, "slow.csv.ack.xml")
	laterReport := get(0, strings.TrimSuffix(newName, ".ack.json")+".ack.xml")
	if !bytes.Contains(firstReport, []byte("<OrgnlMsgId>F-SLOW</OrgnlMsgId>")) || !bytes.Contains(firstReport, []byte("<GrpSts>ACTC</GrpSts>")) ||
		!bytes.Contains(laterReport, []byte("<OrgnlMsgId>F-SLOW-2</OrgnlMsgId>")) || !bytes.Contains(laterReport, []byte("<GrpSts>ACTC</GrpSts>")) {
		t.Fatalf("status reports:\n%s\n%s", firstReport, laterReport)
	}

	// Bank 1 uploads bank 0's file (with its own signature).
	send(1, "copy.csv", first, 1)
	copyAck := get(1, "copy.csv.ack.json")
	var ack struct {
		Status string `json:"status"`
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(copyAck, &ack); err != nil || ack.Status != "REJECTED" {
		t.Fatalf("copy's ack: %s %v", copyAck, err)
	}
	codes := map[string]bool{}
	for _, e := range ack.Errors {
		codes[e.Code] = true
	}
	if !codes[settlement.CodeSenderNotUploader] || codes[settlement.CodeDuplicateFile] || codes[settlement.CodeDuplicateFileID] ||
		bytes.Contains(copyAck, []byte("slow.csv")) || bytes.Contains(copyAck, []byte("ACCEPTED")) {
		t.Fatalf("bank 1 is told about bank 0's file: %s", copyAck)
	}
	s.stop(t)
	var payments int
	k.db.QueryRow(`SELECT count(*) FROM payments`).Scan(&payments)
	if payments != 2 {
		t.Fatalf("%d payments, want 2", payments)
	}
}
